//! Webhook latency with and without dashboards open (issue #8): does what the dashboard
//! does move the webhook's p50 and p99?
//!
//! For each call count in `DASHBOARD_LOAD_CALLS` (default 10,000 and 200,000) the bench
//! fills a fresh durable store (SQLite, WAL, `synchronous=FULL`) with the scripted call
//! mix of `benches/support/calls.rs`, spread over the last 23 hours so the default
//! one-day window holds them all, and serves the real router from one single-thread
//! runtime pinned to CPU 0 (tokio's blocking pool, where the dashboard computes, is
//! started from it and inherits the pin, and so does the store's writer thread: the
//! dashboard competes with the webhook for that one core). The open-loop generator of `webhook_load` (pinned to CPU 1, latency
//! from each request's intended send time, so stalls are charged) then sends transfer
//! events at `LOAD_RATE` per second (default 1,000) in `LOAD_ROUNDS` rounds (default 3)
//! of two runs, `LOAD_SECONDS` each (default 5, after a 1 s warm-up):
//!
//! 1. quiet: nothing else;
//! 2. busy: two dashboard clients (on CPU 1 too) reload every view, pages and JSON,
//!    one after another, with `DASHBOARD_PAUSE_MS` (default 100) between rounds.
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

fn main() -> ExitCode {
    let settings = match Settings::from_environment() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("dashboard_load: {message}");
            return ExitCode::from(2);
        }
    };
    let load_before = loadgen::load_average();
    let generator = DedicatedRuntime::start("load-generator");
    let dashboards = DedicatedRuntime::start("dashboard-clients");
    let pinned = generator.pin_to_cpu(1) && dashboards.pin_to_cpu(1);
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
        let server = RunningServer::start("loopguard", router).expect("serve the router");
        if !(pinned && server.pin_to_cpu(0)) {
            eprintln!("dashboard_load: could not pin the server to CPU 0 and the clients to CPU 1");
        }
        let events = TransferEvents::new(server.address);
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
        let served = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        for _ in 0..settings.rounds {
            runs.push((
                "quiet",
                run_open_loop(&generator, &client, &events, &config),
            ));
            let stop = Arc::new(AtomicBool::new(false));
            let readers: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    dashboards.handle().spawn(reload_views(
                        server.address,
                        settings.pause,
                        stop.clone(),
                        served.clone(),
                        refused.clone(),
                    ))
                })
                .collect();
            let busy_started = Instant::now();
            runs.push(("busy", run_open_loop(&generator, &client, &events, &config)));
            busy_seconds += busy_started.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for reader in readers {
                let _ = dashboards.handle().block_on(reader);
            }
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
            served.load(Ordering::Relaxed) as f64 / busy_seconds,
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
        if refused.load(Ordering::Relaxed) > 0 {
            eprintln!(
                "!!! dashboard_load: {} dashboard requests failed",
                refused.load(Ordering::Relaxed)
            );
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
