//! Load benchmark for the transfer webhook: latency under a fixed arrival rate, CPU per
//! request and throughput, each target measured against a bare-axum baseline in the same run.
//!
//! What it measures. Three targets answer `POST /v1/transfers`, each a process of its own
//! started with its CPU affinity set to CPU 0 (so every thread it starts shares that core):
//!
//! - `baseline`: this binary re-run as a bare axum handler of the same JSON shape (parse,
//!   mutex-protected map append, JSON answer; `benches/support/baseline.rs`);
//! - `loopguard-memory`: the real `loopguard serve --in-memory`;
//! - `loopguard-sqlite`: the real `loopguard serve` with its durable store (WAL,
//!   `synchronous=FULL`, group commit, answers only after commit) in a fresh directory.
//!
//! Both loopguard targets run with a webhook secret and every request is signed (Standard
//! Webhooks), as a platform talks to a server reachable beyond loopback; logging is at its
//! default level. The load generator runs in this process on a single-thread runtime pinned to
//! CPU 1.
//!
//! Alternating slices. The machine is shared and its speed drifts, so no target is measured
//! in one block: every measurement is cut into slices of `LOAD_SLICE_SECONDS` (default 0.5 s)
//! and the targets take turns, slice by slice (baseline, memory, sqlite, baseline, ...); each
//! target's slices are merged. Ratios between targets are then taken over the same minutes.
//!
//! Open loop with coordinated-omission correction. Telephony platforms send events when calls
//! transfer, not when our previous answer arrived. Request `i` of a slice is intended to start
//! at `t0 + i / rate` however earlier requests fared, each runs as its own task, and its latency
//! is measured from its *intended* send time, so a request that waited behind a stall is charged
//! for the wait. The schedule is kept to a few microseconds (`lag p99` shows how late the
//! generator itself was). In-flight requests are bounded (`LOAD_MAX_IN_FLIGHT`, default 2000);
//! requests that find no free slot are counted as `dropped`: the target was saturated.
//!
//! CPU per request. Around every open-loop slice the bench reads the target process's CPU time
//! (all its threads, from `/proc/PID/task/*/schedstat`) and divides by the requests sent; the
//! figure at 1,000/s is what a server pays per request under light load (wake-ups, a commit per
//! request) rather than at saturation.
//!
//! Throughput. Then `LOAD_CONNECTIONS` (default 32) keep-alive connections send back to back
//! (closed loop), again in alternating slices (each slice opens its connections during a
//! 0.1 s warm-up that is not counted).
//!
//! How to run it:
//!
//! ```text
//! cargo bench --bench webhook_load
//! LOAD_SECONDS=1 cargo bench --bench webhook_load          # quick smoke run
//! LOAD_RATES=1000,5000,20000 LOAD_SECONDS=10 cargo bench --bench webhook_load
//! ```
//!
//! Environment: `LOAD_RATES` (comma list of requests/s, default `1000,5000`; CPU per request is
//! reported at 1,000/s when the list has it), `LOAD_SECONDS` (measured seconds per target and
//! rate, default 5), `LOAD_SLICE_SECONDS` (default 0.5), `LOAD_WARMUP_SECONDS` (discarded warm-up
//! of each target before the first slice, default 1), `LOAD_CONNECTIONS` (closed-loop
//! connections, default 32), `LOAD_THROUGHPUT_SECONDS` (default `LOAD_SECONDS`),
//! `LOAD_MAX_IN_FLIGHT` (default 2000), `LOAD_TARGETS` (comma list of target names to run,
//! default all; the first one run is the reference of the summary) and `LOAD_SERVER_WRAPPER`
//! (a command put in front of every target's server, for profiling: `perf record -g -o FILE --`,
//! `valgrind --tool=callgrind`). `LOAD_SECONDS=1` is the quick mode: the numbers are a smoke
//! test, not a measurement. Under `cargo test --all-targets` (no `--bench` argument) the binary
//! runs a sub-second smoke check instead. The process exits with status 1 if any request failed.
//!
//! Results are printed as Markdown tables on stdout, with the load average before and after;
//! progress and warnings go to stderr.

mod support;

use std::process::{Command, ExitCode};
use std::time::Duration;

use hdrhistogram::Histogram;
use support::loadgen::{
    ClosedLoopConfig, DedicatedRuntime, OpenLoopConfig, OpenLoopReport, ServerProcess,
    TransferEvents, load_average, pooled_client, run_closed_loop, run_open_loop,
};
use support::settings::{count, seconds};

/// Set in the environment of this binary re-run as the baseline server.
const SERVE_BASELINE: &str = "WEBHOOK_LOAD_SERVE_BASELINE";

/// The webhook secret of the loopguard targets (32 fixed bytes; a benchmark has no secrets).
const SECRET: &str = "whsec_bG9vcGd1YXJkLXdlYmhvb2stbG9hZC1iZW5jaC1zZWNyZXQ=";

/// The rate at which CPU per request is reported.
const CPU_RATE: u64 = 1000;

/// What each target must reach against the baseline (issue 14): closed-loop throughput at
/// least, p99 at 5,000/s at most, CPU per request at 1,000/s at most.
const GOALS: &[(&str, f64, f64, Option<f64>)] = &[
    ("loopguard-memory", 0.8, 1.5, None),
    ("loopguard-sqlite", 0.5, 2.0, Some(2.0)),
];

fn main() -> ExitCode {
    if std::env::var_os(SERVE_BASELINE).is_some() {
        return match support::baseline::serve_until_killed() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("webhook_load baseline server: {error}");
                ExitCode::FAILURE
            }
        };
    }
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
    let load_before = load_average();
    let generator = DedicatedRuntime::start("load-generator");
    let mut pinned = generator.pin_to_cpu(1);
    let data = std::env::temp_dir().join(format!("loopguard-webhook-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);

    let mut targets = Vec::new();
    for name in &settings.targets {
        let command = match target_command(name, &settings, &data) {
            Ok(command) => command,
            Err(message) => {
                eprintln!("webhook_load: {message}");
                return ExitCode::from(2);
            }
        };
        match ServerProcess::spawn(name, command, 0) {
            Ok((server, server_pinned)) => {
                eprintln!(
                    "webhook_load: {name} is pid {} on {}",
                    server.pid(),
                    server.address
                );
                pinned &= server_pinned;
                targets.push(TargetRun::new(server));
            }
            Err(error) => {
                eprintln!("webhook_load: cannot start {name}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    if !pinned {
        eprintln!("webhook_load: could not pin the servers to CPU 0 and the generator to CPU 1");
    }

    // Warm-up: every target at the highest rate, discarded.
    let highest_rate = settings.rates.iter().copied().max().unwrap_or(CPU_RATE);
    for target in &targets {
        eprintln!("webhook_load: warming up {}", target.server.name);
        let _ = run_open_loop(
            &generator,
            &target.client,
            &target.events,
            &open_loop(highest_rate, settings.warmup, &settings),
        );
    }

    for &rate in &settings.rates {
        eprintln!("webhook_load: open loop at {rate}/s");
        for _ in 0..settings.slices(settings.duration) {
            for target in &mut targets {
                let cpu_before = target.server.cpu_time();
                let report = run_open_loop(
                    &generator,
                    &target.client,
                    &target.events,
                    &open_loop(rate, settings.slice, &settings),
                );
                let cpu = cpu_before
                    .zip(target.server.cpu_time())
                    .map(|(before, after)| after.saturating_sub(before));
                target.add_open_loop(rate, &report, cpu);
            }
        }
    }

    eprintln!("webhook_load: closed loop");
    for _ in 0..settings.slices(settings.throughput_duration) {
        for target in &mut targets {
            let cpu_before = target.server.cpu_time();
            let report = run_closed_loop(
                &generator,
                &[target.server.address],
                &target.events,
                &ClosedLoopConfig {
                    connections: settings.connections,
                    warmup: Duration::from_millis(100),
                    duration: settings.slice,
                },
            );
            let cpu = cpu_before
                .zip(target.server.cpu_time())
                .map(|(before, after)| after.saturating_sub(before));
            target.closed_ok += report.ok;
            target.closed_errors += report.non_2xx + report.transport_errors;
            target.closed_seconds += settings.slice.as_secs_f64();
            if let Some(cpu) = cpu {
                target.closed_cpu += cpu;
            }
        }
    }
    let load_after = load_average();

    println!(
        "\nLoad average (1, 5, 15 min) before: {load_before}; after: {load_after}. {} slices of \
         {:.2} s per target and rate, targets alternating.",
        settings.slices(settings.duration),
        settings.slice.as_secs_f64()
    );
    let mut any_errors = false;
    for target in &targets {
        any_errors |= target.print(&settings);
    }
    print_summary(&settings, &targets);
    drop(targets);
    let _ = std::fs::remove_dir_all(&data);
    if any_errors {
        eprintln!("!!! webhook_load: some requests FAILED; the numbers above are not trustworthy");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The command that serves target `name`.
fn target_command(
    name: &str,
    settings: &Settings,
    data: &std::path::Path,
) -> Result<Command, String> {
    let mut words: Vec<String> = settings.wrapper.clone();
    if name == "baseline" {
        let program = std::env::current_exe()
            .map_err(|error| format!("cannot find this bench's executable: {error}"))?;
        words.push(program.display().to_string());
        let mut command = Command::new(&words[0]);
        command.args(&words[1..]).env(SERVE_BASELINE, "1");
        return Ok(command);
    }
    let store = match name {
        "loopguard-memory" => vec!["--in-memory".to_owned()],
        "loopguard-sqlite" => vec![
            "--data-dir".to_owned(),
            data.join("sqlite").display().to_string(),
        ],
        _ => {
            return Err(format!(
                "unknown target `{name}` (baseline, loopguard-memory, loopguard-sqlite)"
            ));
        }
    };
    let loopguard = env!("CARGO_BIN_EXE_loopguard");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    words.push(loopguard.to_owned());
    words.extend(
        [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            &rules.display().to_string(),
            "--webhook-secret",
            SECRET,
        ]
        .map(str::to_owned),
    );
    words.extend(store);
    let mut command = Command::new(&words[0]);
    command.args(&words[1..]);
    Ok(command)
}

fn open_loop(rate: u64, duration: Duration, settings: &Settings) -> OpenLoopConfig {
    OpenLoopConfig {
        rate_per_second: rate,
        warmup: Duration::ZERO,
        duration,
        max_in_flight: settings.max_in_flight,
        request_timeout: Duration::from_secs(10),
    }
}

/// One target's server, its client, and what its slices measured.
struct TargetRun {
    server: ServerProcess,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<hyper::body::Bytes>,
    >,
    events: TransferEvents,
    /// Per rate: merged open-loop results and the server's CPU time over those slices.
    open: Vec<(u64, RateResult)>,
    closed_ok: u64,
    closed_errors: u64,
    closed_seconds: f64,
    closed_cpu: Duration,
}

struct RateResult {
    latency_us: Histogram<u64>,
    send_lag_us: Histogram<u64>,
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    dropped: u64,
    cpu: Option<Duration>,
}

impl TargetRun {
    fn new(server: ServerProcess) -> Self {
        Self {
            client: pooled_client(),
            events: TransferEvents::signed(&[server.address], SECRET),
            server,
            open: Vec::new(),
            closed_ok: 0,
            closed_errors: 0,
            closed_seconds: 0.0,
            closed_cpu: Duration::ZERO,
        }
    }

    fn add_open_loop(&mut self, rate: u64, report: &OpenLoopReport, cpu: Option<Duration>) {
        let index = match self.open.iter().position(|(known, _)| *known == rate) {
            Some(index) => index,
            None => {
                self.open.push((
                    rate,
                    RateResult {
                        latency_us: microsecond_histogram(),
                        send_lag_us: microsecond_histogram(),
                        sent: 0,
                        errors: 0,
                        first_error: None,
                        dropped: 0,
                        cpu: Some(Duration::ZERO),
                    },
                ));
                self.open.len() - 1
            }
        };
        let result = &mut self.open[index].1;
        // Histograms with the same bounds always add.
        let _ = result.latency_us.add(&report.latency_us);
        let _ = result.send_lag_us.add(&report.send_lag_us);
        result.sent += report.sent;
        result.errors += report.errors();
        if result.first_error.is_none() {
            result.first_error.clone_from(&report.first_error);
        }
        result.dropped += report.dropped;
        result.cpu = result.cpu.zip(cpu).map(|(total, slice)| total + slice);
    }

    fn at_rate(&self, rate: u64) -> Option<&RateResult> {
        self.open
            .iter()
            .find(|(known, _)| *known == rate)
            .map(|(_, result)| result)
    }

    fn p99_ms(&self, rate: u64) -> Option<f64> {
        self.at_rate(rate)
            .filter(|result| !result.latency_us.is_empty())
            .map(|result| result.latency_us.value_at_quantile(0.99) as f64 / 1000.0)
    }

    /// Server CPU time per request sent at `rate`, in microseconds.
    fn cpu_per_request_us(&self, rate: u64) -> Option<f64> {
        let result = self.at_rate(rate)?;
        let cpu = result.cpu?;
        (result.sent > 0).then(|| cpu.as_secs_f64() * 1e6 / result.sent as f64)
    }

    fn throughput(&self) -> f64 {
        if self.closed_seconds > 0.0 {
            self.closed_ok as f64 / self.closed_seconds
        } else {
            0.0
        }
    }

    /// Prints the target's tables; returns whether any request failed.
    fn print(&self, settings: &Settings) -> bool {
        let name = &self.server.name;
        println!("\n### {name}\n");
        println!(
            "| rate (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | sent | errors | dropped | lag p99 (ms) | server CPU per request (µs) |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut failed = false;
        for (rate, result) in &self.open {
            let histogram = &result.latency_us;
            let at = |quantile: f64| {
                if histogram.is_empty() {
                    "-".to_owned()
                } else {
                    format!(
                        "{:.3}",
                        histogram.value_at_quantile(quantile) as f64 / 1000.0
                    )
                }
            };
            let lag = if result.send_lag_us.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "{:.3}",
                    result.send_lag_us.value_at_quantile(0.99) as f64 / 1000.0
                )
            };
            let cpu = self
                .cpu_per_request_us(*rate)
                .map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}"));
            println!(
                "| {rate} | {} | {} | {} | {} | {} | {} | {} | {} | {lag} | {cpu} |",
                at(0.5),
                at(0.9),
                at(0.99),
                at(0.999),
                if histogram.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.3}", histogram.max() as f64 / 1000.0)
                },
                result.sent,
                result.errors,
                result.dropped,
            );
            if result.errors > 0 {
                failed = true;
                eprintln!(
                    "!!! webhook_load: {name} at {rate}/s: {} of {} requests failed (the first: {})",
                    result.errors,
                    result.sent,
                    result.first_error.as_deref().unwrap_or("unknown")
                );
            }
            if result.dropped > 0 {
                eprintln!(
                    "!!! webhook_load: {name} at {rate}/s: {} requests dropped at the in-flight \
                     bound: the target is saturated at this rate",
                    result.dropped
                );
            }
        }
        let busy = if self.closed_seconds > 0.0 {
            format!(
                "{:.0}%",
                100.0 * self.closed_cpu.as_secs_f64() / self.closed_seconds
            )
        } else {
            "n/a".to_owned()
        };
        println!(
            "\nThroughput (closed loop, {} keep-alive connections, {:.1} s in slices): **{:.0} req/s** \
             ({} responses); errors {}; server CPU busy {busy} of one core.",
            settings.connections,
            self.closed_seconds,
            self.throughput(),
            self.closed_ok,
            self.closed_errors,
        );
        if self.closed_errors > 0 {
            failed = true;
            eprintln!(
                "!!! webhook_load: {name} closed loop had {} failed requests",
                self.closed_errors
            );
        }
        failed
    }
}

fn print_summary(settings: &Settings, targets: &[TargetRun]) {
    let Some(reference) = targets.first() else {
        return;
    };
    let reference_name = &reference.server.name;
    let highest_rate = settings.rates.iter().max().copied().unwrap_or_default();
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => Some(value / base),
        _ => None,
    };
    let shown = |value: Option<f64>, digits: usize| {
        value.map_or_else(|| "-".to_owned(), |value| format!("{value:.digits$}"))
    };
    println!("\n### Summary (relative to {reference_name}, same run, alternating slices)\n");
    println!(
        "| target | throughput (req/s) | vs {reference_name} | p99 at {highest_rate}/s (ms) | vs {reference_name} | CPU per request at {CPU_RATE}/s (µs) | vs {reference_name} | goals |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for target in targets {
        let throughput = ratio(Some(target.throughput()), Some(reference.throughput()));
        let p99 = ratio(target.p99_ms(highest_rate), reference.p99_ms(highest_rate));
        let cpu = ratio(
            target.cpu_per_request_us(CPU_RATE),
            reference.cpu_per_request_us(CPU_RATE),
        );
        let goals = GOALS
            .iter()
            .find(|(name, ..)| *name == target.server.name)
            .map_or_else(String::new, |(_, min_throughput, max_p99, max_cpu)| {
                let verdict = |ok: Option<bool>| match ok {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "not measured",
                };
                let mut text = format!(
                    "throughput ≥ {min_throughput}×: {}; p99 ≤ {max_p99}×: {}",
                    verdict(throughput.map(|ratio| ratio >= *min_throughput)),
                    verdict(p99.map(|ratio| ratio <= *max_p99)),
                );
                if let Some(max_cpu) = max_cpu {
                    text += &format!(
                        "; CPU ≤ {max_cpu}×: {}",
                        verdict(cpu.map(|ratio| ratio <= *max_cpu))
                    );
                }
                text
            });
        println!(
            "| {} | {:.0} | {}× | {} | {}× | {} | {}× | {goals} |",
            target.server.name,
            target.throughput(),
            shown(throughput, 2),
            shown(target.p99_ms(highest_rate), 3),
            shown(p99, 2),
            shown(target.cpu_per_request_us(CPU_RATE), 1),
            shown(cpu, 2),
        );
    }
}

struct Settings {
    targets: Vec<String>,
    rates: Vec<u64>,
    duration: Duration,
    slice: Duration,
    warmup: Duration,
    connections: usize,
    throughput_duration: Duration,
    max_in_flight: usize,
    wrapper: Vec<String>,
    quick: bool,
}

impl Settings {
    /// Reads the `LOAD_*` variables. Without a `--bench` argument (that is, under `cargo test`)
    /// it ignores them and returns a sub-second smoke configuration.
    fn from_environment() -> Result<Self, String> {
        let all_targets = ["baseline", "loopguard-memory", "loopguard-sqlite"].map(str::to_owned);
        if !std::env::args().any(|argument| argument == "--bench") {
            return Ok(Self {
                targets: all_targets.to_vec(),
                rates: vec![200],
                duration: Duration::from_millis(200),
                slice: Duration::from_millis(100),
                warmup: Duration::from_millis(100),
                connections: 4,
                throughput_duration: Duration::from_millis(200),
                max_in_flight: 2000,
                wrapper: Vec::new(),
                quick: true,
            });
        }
        let list = |variable: &str| {
            std::env::var(variable).ok().map(|list| {
                list.split(',')
                    .map(|item| item.trim().to_owned())
                    .filter(|item| !item.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        let rates = match list("LOAD_RATES") {
            Some(rates) => rates
                .iter()
                .map(|rate| match rate.parse::<u64>() {
                    Ok(rate) if rate > 0 => Ok(rate),
                    _ => Err(format!("LOAD_RATES: `{rate}` is not a positive integer")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![CPU_RATE, 5000],
        };
        let duration = seconds("LOAD_SECONDS")?.unwrap_or(Duration::from_secs(5));
        let quick = duration <= Duration::from_secs(1);
        let default_warmup = if quick {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let slice = seconds("LOAD_SLICE_SECONDS")?
            .unwrap_or(Duration::from_millis(500))
            .max(Duration::from_millis(50));
        let wrapper = std::env::var("LOAD_SERVER_WRAPPER")
            .map(|words| words.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Self {
            targets: list("LOAD_TARGETS").unwrap_or_else(|| all_targets.to_vec()),
            rates,
            duration,
            slice,
            warmup: seconds("LOAD_WARMUP_SECONDS")?.unwrap_or(default_warmup),
            connections: count("LOAD_CONNECTIONS")?.unwrap_or(32),
            throughput_duration: seconds("LOAD_THROUGHPUT_SECONDS")?.unwrap_or(duration),
            max_in_flight: count("LOAD_MAX_IN_FLIGHT")?.unwrap_or(2000),
            wrapper,
            quick,
        })
    }

    /// Slices per target that make up `total` (at least one).
    fn slices(&self, total: Duration) -> u32 {
        ((total.as_secs_f64() / self.slice.as_secs_f64()).round() as u32).max(1)
    }
}

fn microsecond_histogram() -> Histogram<u64> {
    // One microsecond to one minute at three significant digits: constant, valid bounds.
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}
