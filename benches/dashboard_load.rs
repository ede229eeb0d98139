//! Webhook latency with and without dashboards open (issue #8): does what the dashboard
//! does move the webhook's p50 and p99?
//!
//! For each call count in `DASHBOARD_LOAD_CALLS` (default 10,000 and 200,000) the bench
//! fills a fresh durable store (SQLite, WAL, `synchronous=FULL`) with the scripted call
//! mix of `benches/support/calls.rs`, spread over the last 23 hours so the default
//! one-day window holds them all, and serves the real router from one single-thread
//! runtime pinned to CPU 0 (the dashboard's thread, where views are computed, is
//! started from it and inherits the pin, and so does the store's writer thread: the
//! dashboard competes with the webhook for that one core). The open-loop generator of `webhook_load` (pinned to CPU 1, latency
//! from each request's intended send time, so stalls are charged) then sends transfer
//! events at `LOAD_RATE` per second (default 1,000) in `LOAD_ROUNDS` rounds (default 3)
//! of two runs, `LOAD_SECONDS` each (default 5, after a 1 s warm-up):
//!
//! 1. quiet: nothing else;
//! 2. busy: two dashboard clients reload every view, pages and JSON, one after another,
//!    with `DASHBOARD_PAUSE_MS` (default 100) between rounds; they run in a process of
//!    their own on CPU 1 at the lowest priority (`nice -n 19`), so that they never make
//!    the generator late (its lateness would be charged to the webhook).
//!
//! Quiet and busy runs alternate so that the machine's own drift (other builds on a
//! shared machine) falls on both alike; the quiet runs are merged into one histogram,
//! the busy ones into another.
//!
//! It prints p50/p99 of each, the busy/quiet ratios (the target is below 1.5) and how
//! many dashboard responses the clients got; it exits with status 1 if a ratio is at
//! or above 1.5 or a request failed.
//!
//! ```text
//! cargo bench --bench dashboard_load
//! DASHBOARD_LOAD_CALLS=200000 LOAD_SECONDS=10 cargo bench --bench dashboard_load
//! ```
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a sub-second smoke
//! check with 300 calls and does not judge the ratios.

#[path = "support/calls.rs"]
mod calls;
#[path = "support/loadgen.rs"]
#[allow(
    dead_code,
    reason = "shared with webhook_load; this bench uses the open-loop part only"
)]
mod loadgen;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use jiff::SignedDuration;
use loadgen::{
    DedicatedRuntime, OpenLoopConfig, OpenLoopReport, RunningServer, TransferEvents, pooled_client,
    run_open_loop,
};

/// Every view with its default window (one day), as a browser and a script load them.
const VIEWS: &[&str] = &[
    "/",
    "/calls",
    "/matrix",
    "/graph",
    "/departments",
    "/callbacks",
    "/v1/stats/overview",
    "/v1/stats/flagged",
    "/v1/stats/matrix",
    "/v1/stats/departments",
    "/v1/stats/callbacks",
    "/v1/stats/graph",
];
const CLIENTS: usize = 2;
const TARGET_RATIO: f64 = 1.5;

struct Settings {
    call_counts: Vec<usize>,
    rounds: usize,
    rate: u64,
    duration: Duration,
    warmup: Duration,
    pause: Duration,
    measuring: bool,
}

impl Settings {
    fn from_environment() -> Result<Self, String> {
        let measuring = std::env::args().any(|argument| argument == "--bench");
        if !measuring {
            return Ok(Self {
                call_counts: vec![300],
                rounds: 1,
                rate: 200,
                duration: Duration::from_millis(300),
                warmup: Duration::ZERO,
                pause: Duration::from_millis(50),
                measuring,
            });
        }
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match std::env::var(name) {
                Ok(value) => value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}: `{value}` is not a whole number")),
                Err(_) => Ok(default),
            }
        };
        let call_counts = match std::env::var("DASHBOARD_LOAD_CALLS") {
            Ok(list) => list
                .split(',')
                .map(|count| {
                    count.trim().parse::<usize>().map_err(|_| {
                        format!("DASHBOARD_LOAD_CALLS: `{count}` is not a whole number")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Err(_) => vec![10_000, 200_000],
        };
        Ok(Self {
            call_counts,
            rounds: number("LOAD_ROUNDS", 3)?.max(1) as usize,
            rate: number("LOAD_RATE", 1_000)?.max(1),
            duration: Duration::from_secs(number("LOAD_SECONDS", 5)?.max(1)),
            warmup: Duration::from_secs(1),
            pause: Duration::from_millis(number("DASHBOARD_PAUSE_MS", 100)?),
            measuring,
        })
    }
}

/// Set in the environment of this binary re-run as the dashboard clients: the server's
/// address.
const CLIENTS_OF: &str = "DASHBOARD_LOAD_CLIENTS_OF";
/// The clients' pause between rounds, in milliseconds, passed to that process.
const CLIENT_PAUSE_MS: &str = "DASHBOARD_LOAD_CLIENT_PAUSE_MS";

fn main() -> ExitCode {
    if let Ok(address) = std::env::var(CLIENTS_OF) {
        return run_clients(&address);
    }
    let settings = match Settings::from_environment() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("dashboard_load: {message}");
            return ExitCode::from(2);
        }
    };
    let load_before = loadgen::load_average();
    let generator = DedicatedRuntime::start("load-generator");
    let pinned = generator.pin_to_cpu(1);
    let rules = Arc::new(calls::carrier_rules());
    println!(
        "\nWebhook at {}/s open loop, {:.0} s per run; busy = {CLIENTS} dashboard clients reloading {} views, {} ms between rounds.\n",
        settings.rate,
        settings.duration.as_secs_f64(),
        VIEWS.len(),
        settings.pause.as_millis()
    );
    println!(
        "| calls | quiet p50 (ms) | busy p50 (ms) | p50 ratio | quiet p99 (ms) | busy p99 (ms) | p99 ratio | dashboard responses/s | generator lag p99 (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for &count in &settings.call_counts {
        let data = std::env::temp_dir().join(format!(
            "loopguard-dashboard-load-{}-{count}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data);
        let metrics = loopguard::metrics::Metrics::new();
        // The store's writer thread inherits the affinity of the thread that opens the
        // store: open it from a thread pinned to CPU 0, so the writer shares the
        // server's core instead of running beside the generator and the dashboards.
        let (store, _) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    loadgen::pin_current_thread(0);
                    loopguard::store::SqliteStore::open(
                        loopguard::store::StoreConfig::new(&data),
                        metrics.clone(),
                        loopguard::clock::Clock::system(),
                    )
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .expect("the durable store opens");
        let store: Arc<dyn loopguard::store::CallStore> = Arc::new(store);
        let filling = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let started = Instant::now();
        filling.block_on(calls::fill(
            store.clone(),
            rules.clone(),
            count,
            SignedDuration::from_hours(23),
            2_000,
        ));
        // A promise on every tenth call: the follow-ups the dashboards list too.
        filling.block_on(calls::promise_each(
            store.clone(),
            rules.clone(),
            count / 10,
        ));
        drop(filling);
        eprintln!(
            "dashboard_load: {count} calls recorded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let state = loopguard::http::AppState::new(
            (*rules).clone(),
            "routing-rules",
            store,
            metrics,
            loopguard::clock::Clock::system(),
        );
        let router = loopguard::server::app(Arc::new(state));
        let server = RunningServer::start(
            "loopguard",
            Box::new(move || Box::pin(async move { router })),
        )
        .expect("serve the router");
        if !(pinned && server.pin_to_cpu(0)) {
            eprintln!("dashboard_load: could not pin the server to CPU 0 and the clients to CPU 1");
        }
        let events = TransferEvents::new(&[server.address]);
        let config = OpenLoopConfig {
            rate_per_second: settings.rate,
            warmup: settings.warmup,
            duration: settings.duration,
            max_in_flight: 2_000,
            request_timeout: Duration::from_secs(10),
        };
        let client = pooled_client();
        let mut runs: Vec<(&str, OpenLoopReport)> = Vec::new();
        let mut busy_seconds = 0.0;
        let mut served = 0;
        let mut refused = 0;
        for _ in 0..settings.rounds {
            runs.push((
                "quiet",
                run_open_loop(&generator, &client, &events, &config),
            ));
            let clients = match Clients::start(server.address, settings.pause) {
                Ok(clients) => clients,
                Err(error) => {
                    eprintln!("dashboard_load: cannot start the dashboard clients: {error}");
                    return ExitCode::from(2);
                }
            };
            let busy_started = Instant::now();
            runs.push(("busy", run_open_loop(&generator, &client, &events, &config)));
            busy_seconds += busy_started.elapsed().as_secs_f64();
            let (round_served, round_refused) = clients.stop();
            served += round_served;
            refused += round_refused;
        }
        drop(client);

        let merged = |kind: &str| {
            let mut merged = microsecond_histogram();
            for (_, report) in runs.iter().filter(|(name, _)| *name == kind) {
                // Histograms of the same bounds always add.
                let _ = merged.add(&report.latency_us);
            }
            merged
        };
        let (quiet, busy) = (merged("quiet"), merged("busy"));
        let p = |histogram: &Histogram<u64>, quantile: f64| {
            histogram.value_at_quantile(quantile) as f64 / 1000.0
        };
        let (quiet_p50, busy_p50) = (p(&quiet, 0.5), p(&busy, 0.5));
        let (quiet_p99, busy_p99) = (p(&quiet, 0.99), p(&busy, 0.99));
        let lag = runs
            .iter()
            .map(|(_, report)| p(&report.send_lag_us, 0.99))
            .fold(0.0, f64::max);
        println!(
            "| {count} | {quiet_p50:.3} | {busy_p50:.3} | {:.2} | {quiet_p99:.3} | {busy_p99:.3} | {:.2} | {:.0} | {lag:.3} |",
            busy_p50 / quiet_p50,
            busy_p99 / quiet_p99,
            served as f64 / busy_seconds,
        );
        for (name, report) in &runs {
            eprintln!(
                "dashboard_load: {count} calls, {name}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, generator lag p99 {:.3} ms",
                p(&report.latency_us, 0.5),
                p(&report.latency_us, 0.99),
                report.latency_us.max() as f64 / 1000.0,
                p(&report.send_lag_us, 0.99),
            );
            failed |= problems(count, name, report);
        }
        if refused > 0 {
            eprintln!("!!! dashboard_load: {refused} dashboard requests failed");
            failed = true;
        }
        if settings.measuring
            && (busy_p50 / quiet_p50 >= TARGET_RATIO || busy_p99 / quiet_p99 >= TARGET_RATIO)
        {
            eprintln!(
                "!!! dashboard_load: with {count} calls the dashboards moved the webhook's latency by {TARGET_RATIO}x or more"
            );
            failed = true;
        }
        if let Err(message) = server.shut_down(Duration::from_secs(5)) {
            eprintln!("!!! dashboard_load: {message}");
            failed = true;
        }
        let _ = std::fs::remove_dir_all(&data);
    }
    println!(
        "\nLoad average (1, 5, 15 min) before: {load_before}; after: {}.",
        loadgen::load_average()
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The dashboard clients of one busy run: this binary re-run (see [`run_clients`]) on the
/// generator's CPU at the lowest priority (`nice -n 19`). On CPU 1 at normal priority they
/// delayed the generator itself, and the coordinated-omission correction charged that
/// delay to the webhook as latency: a busy round whose generator was 76 ms late at p99
/// showed a webhook p99 of 103 ms. At the lowest priority they run whenever the generator
/// does not need the CPU, which at 1,000 requests/s is most of the time, and load the server
/// as much as before (the responses/s column says how much).
struct Clients {
    child: std::process::Child,
}

impl Clients {
    fn start(server: std::net::SocketAddr, pause: Duration) -> std::io::Result<Self> {
        let program = std::env::current_exe()?;
        let mut command = std::process::Command::new("nice");
        command
            .args(["-n", "19"])
            .arg(program)
            .env(CLIENTS_OF, server.to_string())
            .env(CLIENT_PAUSE_MS, pause.as_millis().to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        // A child inherits the affinity of the thread that starts it.
        let child = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    loadgen::pin_current_thread(1);
                    command.spawn()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok(Self { child })
    }

    /// Stops the clients (closes their stdin) and returns the dashboard responses they
    /// got and the requests that failed; a client process that says nothing counts as one
    /// failure.
    fn stop(mut self) -> (u64, u64) {
        use std::io::Read as _;
        drop(self.child.stdin.take());
        let mut report = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut report);
        }
        let _ = self.child.wait();
        let mut words = report.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("served"), Some(served), Some("refused"), Some(refused)) => {
                (served.parse().unwrap_or(0), refused.parse().unwrap_or(1))
            }
            _ => (0, 1),
        }
    }
}

/// This binary as the dashboard clients: `CLIENTS` clients reload every view until
/// stdin closes, then it prints `served N refused M`.
fn run_clients(address: &str) -> ExitCode {
    let Ok(server) = address.parse::<std::net::SocketAddr>() else {
        eprintln!("dashboard_load clients: `{address}` is not a socket address");
        return ExitCode::from(2);
    };
    let pause = std::env::var(CLIENT_PAUSE_MS)
        .ok()
        .and_then(|millis| millis.parse().ok())
        .map_or(Duration::from_millis(100), Duration::from_millis);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let watcher = stop.clone();
    std::thread::spawn(move || {
        // The bench closes our stdin when the busy run is over.
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        watcher.store(true, Ordering::Relaxed);
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dashboard_load clients: no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let readers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(reload_views(
                    server,
                    pause,
                    stop.clone(),
                    served.clone(),
                    refused.clone(),
                ))
            })
            .collect();
        for reader in readers {
            let _ = reader.await;
        }
    });
    println!(
        "served {} refused {}",
        served.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    ExitCode::SUCCESS
}

/// One dashboard client: every view in turn, then a pause, until `stop`.
async fn reload_views(
    server: std::net::SocketAddr,
    pause: Duration,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
) {
    let client = pooled_client();
    while !stop.load(Ordering::Relaxed) {
        for view in VIEWS {
            let uri: hyper::Uri = format!("http://{server}{view}")
                .parse()
                .expect("a socket address and a path form a URI");
            let request = hyper::Request::get(uri)
                .body(Full::new(Bytes::new()))
                .expect("a GET with an empty body is a valid request");
            let ok = match client.request(request).await {
                Ok(response) => {
                    let status = response.status();
                    response.into_body().collect().await.is_ok() && status.is_success()
                }
                Err(_) => false,
            };
            let counter = if ok { &served } else { &refused };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(pause).await;
    }
}

fn problems(count: usize, name: &str, report: &OpenLoopReport) -> bool {
    if report.errors() > 0 || report.dropped > 0 {
        eprintln!(
            "!!! dashboard_load: {count} calls, {name}: {} failed and {} dropped of {} sent",
            report.errors(),
            report.dropped,
            report.sent
        );
        return true;
    }
    false
}

/// Latencies in microseconds, 1 µs to 60 s, three significant digits (as the load
/// generator's own histograms).
fn microsecond_histogram() -> Histogram<u64> {
    // Fixed, valid bounds: creating the histogram cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}
