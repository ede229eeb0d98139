//! Load benchmark for several instances on PostgreSQL against one SQLite instance (issue 12):
//! latency under a fixed arrival rate, and throughput, with the same load generator in the same
//! run. (`webhook_load` is the hot-path bench: the real binary as pinned processes, signed
//! requests, alternating slices; this one serves in-process routers, unsigned, so that two
//! instances can share one database without a process per instance.)
//!
//! What it measures. Each target (an `axum::Router` answering `POST /v1/transfers`) is served
//! in-process on 127.0.0.1, port 0, by a dedicated single-thread tokio runtime on its own OS
//! thread pinned to CPU 0, so the server gets one core; the load generator runs on another
//! single-thread runtime pinned to CPU 1. For every rate in `LOAD_RATES` the bench reports latency percentiles of
//! ~170-byte JSON transfer events, then the closed-loop throughput of `LOAD_CONNECTIONS`
//! keep-alive connections sending back to back, then a summary comparing each target with the
//! first one (the bare-axum baseline).
//!
//! Why open loop. Telephony platforms send events when calls transfer, not when our previous
//! answer arrived. A closed-loop client (send, wait, send) slows down exactly when the server
//! does, so it stops sending during a stall and its percentiles hide the stall. Here request `i`
//! is intended to start at `t0 + i / rate` no matter how earlier requests fared, and each request
//! runs as its own task.
//!
//! How coordinated omission is corrected. Latency is measured from the request's *intended* send
//! time, not from when it was actually sent, so a request that had to wait behind a stall is
//! charged for the wait, as a real caller would be. The schedule is kept with
//! `std::thread::sleep` on the bench's main thread (tens of microseconds of jitter, where tokio's
//! timer has a 1 ms tick); the `lag p99` column shows how late the generator itself started
//! requests, so you can tell generator trouble from server trouble. In-flight requests are
//! bounded (`LOAD_MAX_IN_FLIGHT`, default 2000); requests that find no free slot are counted as
//! `dropped`, which means the target was saturated at that rate.
//!
//! How to run it:
//!
//! ```text
//! cargo bench --bench postgres_load
//! LOAD_SECONDS=1 cargo bench --bench postgres_load          # quick smoke run
//! LOAD_CONNECTIONS=256 LOAD_SECONDS=5 LOAD_RATES=1000,2000 cargo bench --bench postgres_load
//! ```
//!
//! Environment: `LOAD_RATES` (comma list of requests/s, default `1000,5000`), `LOAD_SECONDS`
//! (measured seconds per rate, default 5), `LOAD_WARMUP_SECONDS` (discarded warm-up before each
//! measurement, default 1), `LOAD_CONNECTIONS` (closed-loop connections, default 32),
//! `LOAD_THROUGHPUT_SECONDS` (default `LOAD_SECONDS`), `LOAD_MAX_IN_FLIGHT` (default 2000),
//! `LOAD_TARGETS` (comma list of target names; the baseline always runs), `LOAD_PG_WRITERS`
//! (writer connections per PostgreSQL instance, default 2).
//!
//! The `loopguard-postgres-1` and `-2` targets run one and two instances on one database of a
//! throw-away PostgreSQL the bench starts (`tests/it/postgres/throwaway.rs`); each instance has
//! its own server runtime, and the open loop sends each call's hops to the instances in turn.
//! Without PostgreSQL's binaries those targets are left out, with the reason on stderr.
//! `LOAD_SECONDS=1` is the quick mode: the warm-up defaults to 0.25 s and the numbers are a smoke
//! test, not a measurement. Under `cargo test --all-targets` (no `--bench` argument) the binary
//! runs a sub-second smoke check instead. The process exits with status 1 if any request failed.
//!
//! Results are printed as Markdown tables on stdout; progress and warnings go to stderr.

mod support;

use std::process::ExitCode;
use std::time::Duration;

use support::loadgen::{
    BuildRouter, ClosedLoopConfig, DedicatedRuntime, OpenLoopConfig, OpenLoopReport, RunningServer,
    Target, TransferEvents, pooled_client, run_closed_loop, run_open_loop,
};
use support::settings::{count, seconds};
use support::throwaway::ThrowawayPostgres;

// ---------------------------------------------------------------------------------------------
// TARGETS: add a system under test here. The first target is the reference for the summary.
// Each call to `targets()` must build fresh state.
// ---------------------------------------------------------------------------------------------
fn targets(postgres: Option<&ThrowawayPostgres>) -> Vec<Target> {
    let mut targets = vec![
        Target::new("baseline", support::baseline::app()),
        Target::new("loopguard-memory", loopguard_memory()),
        Target::new("loopguard-sqlite", loopguard_sqlite()),
    ];
    if let Some(postgres) = postgres {
        let one = postgres.create_database("bench_one");
        let two = postgres.create_database("bench_two");
        targets.push(Target::instances(
            "loopguard-postgres-1",
            vec![loopguard_postgres(one)],
        ));
        targets.push(Target::instances(
            "loopguard-postgres-2",
            vec![loopguard_postgres(two.clone()), loopguard_postgres(two)],
        ));
    }
    // LOAD_TARGETS picks some (the baseline always runs: it is the reference).
    let wanted: Option<Vec<String>> = std::env::var("LOAD_TARGETS")
        .ok()
        .map(|list| list.split(',').map(|name| name.trim().to_owned()).collect());
    targets.retain(|target| {
        target.name == "baseline"
            || wanted
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&target.name))
    });
    targets
}

/// A throw-away PostgreSQL for the `loopguard-postgres-*` targets, or `None` (the
/// targets are left out, with the reason on stderr).
fn start_postgres() -> Option<ThrowawayPostgres> {
    match ThrowawayPostgres::start() {
        Ok(postgres) => Some(postgres),
        Err(reason) => {
            eprintln!("webhook_load: leaving out the PostgreSQL targets: {reason}");
            None
        }
    }
}

/// One instance of the real router on the shared PostgreSQL store (a fresh database per
/// target; `synchronous_commit = on`, answers only after commit).
fn loopguard_postgres(url: String) -> BuildRouter {
    Box::new(move || {
        Box::pin(async move {
            let metrics = loopguard::metrics::Metrics::new();
            let mut config = loopguard::store::PostgresConfig::new(url);
            if let Some(writers) = count("LOAD_PG_WRITERS").ok().flatten() {
                config.writers = writers;
            }
            let (store, _) = loopguard::store::PostgresStore::connect(
                config,
                metrics.clone(),
                loopguard::clock::Clock::system(),
            )
            .await
            .expect("the PostgreSQL store connects");
            let state = loopguard::http::AppState::new(
                carrier_rules(),
                "routing-rules",
                std::sync::Arc::new(store),
                metrics,
                loopguard::clock::Clock::system(),
            );
            loopguard::server::app(std::sync::Arc::new(state))
        })
    })
}

fn carrier_rules() -> loopguard::core::rules::Rules {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = loopguard::rules_files::read_rules(&root.join("routing-rules"))
        .expect("routing-rules/ is readable");
    let report = loopguard::core::lint::lint(&sources);
    assert!(!report.has_errors(), "routing-rules/ must be lint-clean");
    report.rules
}

/// The real router with the durable store (WAL, synchronous=FULL, group commit) in
/// a fresh directory under the system temp dir, removed first if a previous run left it.
fn loopguard_sqlite() -> axum::Router {
    let data = std::env::temp_dir().join("loopguard-webhook-load");
    let _ = std::fs::remove_dir_all(&data);
    let metrics = loopguard::metrics::Metrics::new();
    let (store, _) = loopguard::store::SqliteStore::open(
        loopguard::store::StoreConfig::new(&data),
        metrics.clone(),
        loopguard::clock::Clock::system(),
    )
    .expect("the durable store opens");
    let state = loopguard::http::AppState::new(
        carrier_rules(),
        "routing-rules",
        std::sync::Arc::new(store),
        metrics,
        loopguard::clock::Clock::system(),
    );
    loopguard::server::app(std::sync::Arc::new(state))
}

/// The real router with the repository's carrier rules and the in-memory store.
fn loopguard_memory() -> axum::Router {
    let state = loopguard::http::AppState::new(
        carrier_rules(),
        "routing-rules",
        std::sync::Arc::new(loopguard::store::MemoryStore::new()),
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::system(),
    );
    loopguard::server::app(std::sync::Arc::new(state))
}

fn main() -> ExitCode {
    let settings = match Settings::from_environment() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("webhook_load: {message}");
            return ExitCode::from(2);
        }
    };
    if settings.quick {
        eprintln!(
            "webhook_load: quick mode, the numbers below are a smoke test, not a measurement"
        );
    }
    let generator = DedicatedRuntime::start("load-generator");
    // The server on CPU 0, the generator on CPU 1 (where the machine has two).
    let pinned = generator.pin_to_cpu(1);
    let mut summaries = Vec::new();
    let mut any_errors = false;

    let postgres = start_postgres();
    for target in targets(postgres.as_ref()) {
        let mut servers = Vec::new();
        for (index, build) in target.instances.into_iter().enumerate() {
            match RunningServer::start(&format!("{}-{index}", target.name), build) {
                Ok(server) => servers.push(server),
                Err(error) => {
                    eprintln!("webhook_load: cannot serve target {}: {error}", target.name);
                    return ExitCode::from(2);
                }
            }
        }
        // Every instance of a target on CPU 0, the generator on CPU 1; a target's
        // PostgreSQL server is not pinned (it shares both with them).
        let pinned = servers
            .iter()
            .fold(pinned, |pinned, server| server.pin_to_cpu(0) && pinned);
        if !pinned {
            eprintln!("webhook_load: could not pin the server and the generator to CPUs 0 and 1");
        }
        let addresses: Vec<_> = servers.iter().map(|server| server.address).collect();
        let events = TransferEvents::new(&addresses);
        println!("\n### {}\n", target.name);
        println!(
            "| rate (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | sent | errors | dropped | lag p99 (ms) |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let client = pooled_client();
        let mut p99_at_highest_rate = None;
        for &rate in &settings.rates {
            eprintln!("webhook_load: {} at {rate} req/s", target.name);
            let report = run_open_loop(
                &generator,
                &client,
                &events,
                &OpenLoopConfig {
                    rate_per_second: rate,
                    warmup: settings.warmup,
                    duration: settings.duration,
                    max_in_flight: settings.max_in_flight,
                    request_timeout: Duration::from_secs(10),
                },
            );
            println!("{}", open_loop_row(rate, &report));
            any_errors |= warn_about(&target.name, rate, &report);
            if Some(&rate) == settings.rates.iter().max() {
                p99_at_highest_rate = percentile_ms(&report, 99.0);
            }
        }
        // Close the pooled keep-alive connections so the graceful shutdown has nothing to wait for.
        drop(client);

        eprintln!("webhook_load: {} closed loop", target.name);
        let server_cpu_before = servers_cpu_time(&servers);
        let generator_cpu_before = generator.cpu_time();
        let throughput = run_closed_loop(
            &generator,
            &addresses,
            &events,
            &ClosedLoopConfig {
                connections: settings.connections,
                warmup: settings.warmup,
                duration: settings.throughput_duration,
            },
        );
        let busy = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(before), Some(after)) => format!(
                "{:.0}%",
                100.0 * (after - before).as_secs_f64()
                    / (settings.warmup + settings.throughput_duration).as_secs_f64()
            ),
            _ => "n/a".to_owned(),
        };
        println!(
            "\nThroughput (closed loop, {} keep-alive connections, {:.1} s): **{:.0} req/s** \
             ({} responses); errors {}; CPU busy: server thread{} {}, load generator thread {}.",
            settings.connections,
            settings.throughput_duration.as_secs_f64(),
            throughput.requests_per_second,
            throughput.ok,
            throughput.non_2xx + throughput.transport_errors,
            if servers.len() > 1 { "s (sum)" } else { "" },
            busy(server_cpu_before, servers_cpu_time(&servers)),
            busy(generator_cpu_before, generator.cpu_time()),
        );
        if throughput.non_2xx + throughput.transport_errors > 0 {
            any_errors = true;
            eprintln!(
                "!!! webhook_load: {} closed loop had {} non-2xx responses and {} transport errors",
                target.name, throughput.non_2xx, throughput.transport_errors
            );
        }

        for server in servers {
            if let Err(message) = server.shut_down(Duration::from_secs(5)) {
                any_errors = true;
                eprintln!("!!! webhook_load: {}: {message}", target.name);
            }
        }
        summaries.push((
            target.name,
            throughput.requests_per_second,
            p99_at_highest_rate,
        ));
    }

    print_summary(&settings, &summaries);
    if any_errors {
        eprintln!("!!! webhook_load: some requests FAILED; the numbers above are not trustworthy");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The CPU time of every instance's server thread, added up.
fn servers_cpu_time(servers: &[RunningServer]) -> Option<Duration> {
    servers.iter().map(RunningServer::cpu_time).sum()
}

struct Settings {
    rates: Vec<u64>,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    throughput_duration: Duration,
    max_in_flight: usize,
    quick: bool,
}

impl Settings {
    /// Reads the `LOAD_*` variables. Without a `--bench` argument (that is, under `cargo test`)
    /// it ignores them and returns a sub-second smoke configuration.
    fn from_environment() -> Result<Self, String> {
        if !std::env::args().any(|argument| argument == "--bench") {
            return Ok(Self {
                rates: vec![200],
                duration: Duration::from_millis(300),
                warmup: Duration::ZERO,
                connections: 4,
                throughput_duration: Duration::from_millis(300),
                max_in_flight: 2000,
                quick: true,
            });
        }
        let rates = match std::env::var("LOAD_RATES") {
            Ok(list) => list
                .split(',')
                .map(|rate| match rate.trim().parse::<u64>() {
                    Ok(rate) if rate > 0 => Ok(rate),
                    _ => Err(format!("LOAD_RATES: `{rate}` is not a positive integer")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Err(_) => vec![1000, 5000],
        };
        let duration = seconds("LOAD_SECONDS")?.unwrap_or(Duration::from_secs(5));
        let quick = duration <= Duration::from_secs(1);
        let default_warmup = if quick {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        Ok(Self {
            rates,
            duration,
            warmup: seconds("LOAD_WARMUP_SECONDS")?.unwrap_or(default_warmup),
            connections: count("LOAD_CONNECTIONS")?.unwrap_or(32),
            throughput_duration: seconds("LOAD_THROUGHPUT_SECONDS")?.unwrap_or(duration),
            max_in_flight: count("LOAD_MAX_IN_FLIGHT")?.unwrap_or(2000),
            quick,
        })
    }
}

fn open_loop_row(rate: u64, report: &OpenLoopReport) -> String {
    let millis = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"));
    let max = (!report.latency_us.is_empty()).then(|| report.latency_us.max() as f64 / 1000.0);
    let lag = (!report.send_lag_us.is_empty())
        .then(|| report.send_lag_us.value_at_quantile(0.99) as f64 / 1000.0);
    format!(
        "| {rate} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        millis(percentile_ms(report, 50.0)),
        millis(percentile_ms(report, 90.0)),
        millis(percentile_ms(report, 99.0)),
        millis(percentile_ms(report, 99.9)),
        millis(max),
        report.sent,
        report.errors(),
        report.dropped,
        millis(lag),
    )
}

fn percentile_ms(report: &OpenLoopReport, percentile: f64) -> Option<f64> {
    (!report.latency_us.is_empty())
        .then(|| report.latency_us.value_at_percentile(percentile) as f64 / 1000.0)
}

/// Prints warnings for a run that failed requests or dropped them; returns whether any failed.
fn warn_about(target: &str, rate: u64, report: &OpenLoopReport) -> bool {
    if report.errors() > 0 {
        eprintln!(
            "!!! webhook_load: {target} at {rate} req/s: {} non-2xx responses and {} transport \
             errors out of {} sent",
            report.non_2xx, report.transport_errors, report.sent
        );
    }
    if report.dropped > 0 {
        eprintln!(
            "!!! webhook_load: {target} at {rate} req/s: {} requests dropped at the in-flight \
             bound: the target is saturated at this rate",
            report.dropped
        );
    }
    report.errors() > 0
}

fn print_summary(settings: &Settings, summaries: &[(String, f64, Option<f64>)]) {
    let Some((reference_name, reference_throughput, _)) = summaries.first() else {
        return;
    };
    let highest_rate = settings.rates.iter().max().copied().unwrap_or_default();
    println!("\n### Summary (relative to {reference_name})\n");
    println!(
        "| target | throughput (req/s) | vs {reference_name} | p99 at {highest_rate}/s (ms) |"
    );
    println!("|---|---:|---:|---:|");
    for (name, throughput, p99) in summaries {
        let ratio = if *reference_throughput > 0.0 {
            format!("{:.2}x", throughput / reference_throughput)
        } else {
            "-".to_owned()
        };
        let p99 = p99.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"));
        println!("| {name} | {throughput:.0} | {ratio} | {p99} |");
    }
}
