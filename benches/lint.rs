//! How long `lint` takes on large generated configurations, how much of that is
//! the graph checks alone and the `toml` crate's parser alone, and how much memory
//! linting a file takes at its peak.
//!
//! The configuration is built in memory from a seeded linear congruential
//! generator, so every run lints the same text: N departments, 10·N transfers,
//! N/5 intents each handled by exactly one department, most transfers listing one
//! to three intents (half of the time one their target handles), about 1% without
//! `intents`, a handful of entry departments, and about 5% of transfers pointing
//! "backwards" so that the graph has cycles.
//!
//! Targets: 10,000 departments with 100,000 transfers under one second; time and
//! memory linear from 1,000 to 100,000 transfers; peak memory under 10× the file.
//!
//! Memory is measured in a fresh process per size (this benchmark binary started
//! again with `LINT_BENCH_MEMORY_OF`): it reads the file, lints it, caps and
//! renders the findings as `loopguard lint --format concise` does, and reports its
//! peak resident memory (`VmHWM` in `/proc/self/status`, Linux only) next to what
//! it had resident before reading the file.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use loopguard::core::checks;
use loopguard::core::diagnostic::Span;
use loopguard::core::lint::lint;
use loopguard::core::rules::load_rules;
use loopguard::core::source::{SourceFile, SourceId};

/// Departments; each configuration has ten times as many transfers.
const SIZES: [usize; 3] = [100, 1_000, 10_000];

fn bench_lint(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("lint");
    configure(&mut group);
    for size in SIZES {
        let sources = [SourceFile::new("generated.toml", generate_rules(size))];
        group.throughput(Throughput::Elements(size as u64 * 10));
        group.bench_with_input(
            BenchmarkId::new("transfers", size * 10),
            &sources,
            |bencher, sources| {
                bencher.iter(|| lint(black_box(sources)));
            },
        );
    }
    group.finish();
}

fn bench_checks(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("checks");
    configure(&mut group);
    let fallback = Span::new(SourceId(0), 0..0);
    for size in SIZES {
        let sources = [SourceFile::new("generated.toml", generate_rules(size))];
        let (rules, _) = load_rules(&sources);
        group.throughput(Throughput::Elements(size as u64 * 10));
        group.bench_with_input(
            BenchmarkId::new("transfers", size * 10),
            &rules,
            |bencher, rules| {
                bencher.iter(|| checks::run(black_box(rules), fallback));
            },
        );
    }
    group.finish();
}

/// The `toml` crate's recovering parser alone: the floor under `lint`.
fn bench_toml_parse(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("toml_parse");
    configure(&mut group);
    for size in SIZES {
        let text = generate_rules(size);
        group.throughput(Throughput::Elements(size as u64 * 10));
        group.bench_with_input(
            BenchmarkId::new("transfers", size * 10),
            &text,
            |bencher, text| {
                bencher.iter(|| toml::de::DeTable::parse_recoverable(black_box(text)));
            },
        );
    }
    group.finish();
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    // Flat sampling: every sample runs the same number of iterations, so slow sizes
    // still finish in about the measurement time.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
}

/// Knuth's MMIX linear congruential generator; the high bits are the random ones.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// A realistic routing configuration with `size` departments as TOML text.
fn generate_rules(size: usize) -> String {
    let mut random = Lcg(0x5eed_0000 + size as u64);
    let intent_count = (size / 5).max(1);
    let owner_of: Vec<usize> = (0..intent_count).map(|_| random.below(size)).collect();
    let mut owned_by = vec![Vec::new(); size];
    for (intent, &owner) in owner_of.iter().enumerate() {
        owned_by[owner].push(intent);
    }
    let entry_count = (size / 1_000).clamp(3, 10);

    let mut text = String::with_capacity(size * 1_000);
    text.push_str("[policy]\nmax_hops = 4\nrequire_warm_transfer = false\n");
    for (department, owned) in owned_by.iter().enumerate() {
        let handles: Vec<String> = owned
            .iter()
            .map(|intent| format!("\"intent_{intent}\""))
            .collect();
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "\n[[department]]\nid = \"department_{department}\"\nname = \"Department {department}\"\n{}handles = [{}]\n",
            if department < entry_count {
                "entry = true\n"
            } else {
                ""
            },
            handles.join(", ")
        );
    }

    let mut seen = HashSet::new();
    let mut written = 0;
    while written < size * 10 {
        // Calls mostly flow from the front line (low numbers) toward specialists;
        // about 5% of transfers go back, which closes cycles.
        let mut from = random.below(size);
        let mut to = random.below(size);
        if from == to {
            continue;
        }
        let backwards = random.below(100) < 5;
        if (from > to) != backwards {
            std::mem::swap(&mut from, &mut to);
        }
        if !seen.insert((from, to)) {
            continue;
        }
        written += 1;
        let _ = write!(
            text,
            "\n[[transfer]]\nfrom = \"department_{from}\"\nto = \"department_{to}\"\nmode = \"warm\"\n"
        );
        if random.below(100) == 0 {
            continue;
        }
        let mut intents = Vec::new();
        for _ in 0..1 + random.below(3) {
            let intent = if random.below(2) == 0 && !owned_by[to].is_empty() {
                owned_by[to][random.below(owned_by[to].len())]
            } else {
                random.below(intent_count)
            };
            if !intents.contains(&intent) {
                intents.push(intent);
            }
        }
        let listed: Vec<String> = intents
            .iter()
            .map(|intent| format!("\"intent_{intent}\""))
            .collect();
        let _ = writeln!(text, "intents = [{}]", listed.join(", "));
    }
    text
}

/// Peak memory per size, each measured in a fresh process; printed as a table.
fn report_memory() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let directory =
        std::env::temp_dir().join(format!("loopguard-lint-bench-{}", std::process::id()));
    if std::fs::create_dir_all(&directory).is_err() {
        return;
    }
    println!("\nlint peak memory (fresh process per size: read, lint, render concise)");
    println!(
        "{:>10} {:>10} {:>12} {:>14} {:>14} {:>8}",
        "transfers", "file MB", "baseline MB", "peak RSS MB", "peak - base MB", "× file"
    );
    for size in SIZES {
        let path = directory.join(format!("generated-{size}.toml"));
        let text = generate_rules(size);
        if std::fs::write(&path, &text).is_err() {
            continue;
        }
        let output = std::process::Command::new(&exe)
            .env("LINT_BENCH_MEMORY_OF", &path)
            .output();
        let Ok(output) = output else { continue };
        let report = String::from_utf8_lossy(&output.stdout);
        let numbers: Vec<f64> = report
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        let [baseline_kb, peak_kb] = numbers[..] else {
            println!("{:>10} memory not measured: {report}", size * 10);
            continue;
        };
        let megabytes = |kb: f64| kb / 1024.0;
        let file_mb = text.len() as f64 / (1024.0 * 1024.0);
        println!(
            "{:>10} {:>10.1} {:>12.1} {:>14.1} {:>14.1} {:>8.1}",
            size * 10,
            file_mb,
            megabytes(baseline_kb),
            megabytes(peak_kb),
            megabytes(peak_kb - baseline_kb),
            megabytes(peak_kb - baseline_kb) / file_mb,
        );
    }
    let _ = std::fs::remove_dir_all(&directory);
}

/// The child side of [`report_memory`]: prints "baseline_kb peak_kb".
fn measure_memory_of(path: &std::path::Path) {
    let status_kb = |field: &str| -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let Some(baseline) = status_kb("VmRSS:") else {
        println!("no /proc/self/status");
        return;
    };
    let Ok(sources) = loopguard::rules_files::read_sources(&[path.to_path_buf()]) else {
        println!("cannot read {}", path.display());
        return;
    };
    let mut report = lint(&sources);
    report.cap_per_file(loopguard::core::lint::DEFAULT_MAX_FINDINGS_PER_FILE);
    let output = loopguard::render::render_concise(&sources, &report.diagnostics, &report.omitted);
    black_box(output);
    drop(report);
    drop(sources);
    let peak = status_kb("VmHWM:").unwrap_or(0.0);
    println!("{baseline} {peak}");
}

criterion_group!(benches, bench_lint, bench_checks, bench_toml_parse);

fn main() {
    if let Some(path) = std::env::var_os("LINT_BENCH_MEMORY_OF") {
        measure_memory_of(std::path::Path::new(&path));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_memory();
}
