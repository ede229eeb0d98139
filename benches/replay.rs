//! `loopguard replay` throughput and peak memory, on generated history of two
//! lengths per format, with in-process baselines measured in the same run.
//!
//! Run: `cargo bench --bench replay` (`REPLAY_EVENTS=200000` for a quick run; the
//! default is 1,000,000 native events and 1,000,000 contact records, and a
//! quarter of each for the second length).
//!
//! - native: JSON Lines, calls of three transfers and an end (one call in ten
//!   bounces back), two seconds apart, under `routing-rules/`;
//! - connect: gzip-compressed contact records shaped like the public sample of
//!   `tests/fixtures/replay/connect.jsonl` (about 3 KB each), calls of two legs.
//!
//! The binary runs pinned to one core (`taskset -c 0` when present) under
//! `/usr/bin/time`, which reports the peak resident set size. The baselines:
//! parsing the native lines alone, and the engine alone on the parsed events
//! (`Engine::record_history`, closing calls as the replay does), so a change in
//! the machine's speed shows in all three numbers and the ratios hold.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{CallId, Engine};
use loopguard::core::replay::native::parse_native_line;
use loopguard::core::replay::{EventKind, Origin};

const DEPARTMENTS: [&str; 4] = ["customer_service", "activations", "billing", "retention"];

fn main() {
    if !std::env::args().any(|argument| argument == "--bench") {
        // `cargo test --benches` runs bench targets without `--bench`: nothing to do.
        return;
    }
    let events: usize = std::env::var("REPLAY_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = root.join("routing-rules");
    let directory = tempfile::tempdir().expect("a temporary directory");
    let binary = env!("CARGO_BIN_EXE_loopguard");
    println!(
        "machine: {} logical cores; binary {binary}",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let lengths = [events / 4, events];
    let mut native_files = Vec::new();
    for &count in &lengths {
        let path = directory.path().join(format!("native-{count}.jsonl"));
        write_native(&path, count);
        native_files.push((count, path));
    }
    let (count, largest) = native_files.last().expect("two lengths");
    baselines(largest, *count, &rules);
    for (count, path) in &native_files {
        run_binary("native", *count, path, &rules, binary);
    }
    for &count in &lengths {
        let path = directory.path().join(format!("connect-{count}.jsonl.gz"));
        write_connect(&path, count, root);
        run_binary("connect", count, &path, &rules, binary);
    }
}

/// Calls of three transfers and an end, two seconds apart; one in ten bounces.
fn write_native(path: &Path, events: usize) {
    let file = std::fs::File::create(path).expect("create the native file");
    let mut out = BufWriter::new(file);
    let start = Timestamp::from_second(1_800_000_000).expect("a valid time");
    let calls = events / 4;
    for call in 0..calls {
        let at = |offset: i64| start + SignedDuration::from_secs(call as i64 * 2 + offset);
        let first = DEPARTMENTS[call % 2];
        let second = DEPARTMENTS[1 + call % 3];
        let third = if call % 10 == 0 { first } else { "billing" };
        for (hop, (from, to)) in [(first, second), (second, third), (third, "retention")]
            .into_iter()
            .enumerate()
        {
            writeln!(
                out,
                r#"{{"event_id":"e{call}-{hop}","call_id":"call-{call}","from":"{from}","to":"{to}","mode":"warm","callback_number":"+1415555{:04}","occurred_at":"{}"}}"#,
                call % 10_000,
                at(hop as i64 * 30)
            )
            .expect("write");
        }
        writeln!(
            out,
            r#"{{"type":"end","event_id":"e{call}-end","call_id":"call-{call}","outcome":"resolved","occurred_at":"{}"}}"#,
            at(120)
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

/// Contact records cut from the fixture's public sample: calls of two legs.
fn write_connect(path: &Path, records: usize, root: &Path) {
    let sample = std::fs::read_to_string(root.join("tests/fixtures/replay/connect.jsonl"))
        .expect("the fixture");
    let template: serde_json::Value =
        serde_json::from_str(sample.lines().next().expect("a first line")).expect("JSON");
    let file = std::fs::File::create(path).expect("create the contact records");
    let mut out = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let start = Timestamp::from_second(1_800_000_000).expect("a valid time");
    let queues = ["Customer Care", "Activations Queue", "Billing Queue"];
    for record in 0..records {
        let call = record / 2;
        let leg = record % 2;
        let at =
            |offset: i64| (start + SignedDuration::from_secs(call as i64 * 2 + offset)).to_string();
        let mut ctr = template.clone();
        let contact = format!("00000000-0000-4000-8000-{call:06}{leg:06}");
        let first = format!("00000000-0000-4000-8000-{call:06}{:06}", 0);
        ctr["ContactId"] = contact.into();
        ctr["InitialContactId"] = if leg == 0 {
            serde_json::Value::Null
        } else {
            first.clone().into()
        };
        ctr["PreviousContactId"] = if leg == 0 {
            serde_json::Value::Null
        } else {
            first.into()
        };
        ctr["NextContactId"] = if leg == 0 {
            format!("00000000-0000-4000-8000-{call:06}{:06}", 1).into()
        } else {
            serde_json::Value::Null
        };
        ctr["InitiationMethod"] = if leg == 0 { "INBOUND" } else { "TRANSFER" }.into();
        ctr["InitiationTimestamp"] = at(leg as i64 * 60).into();
        ctr["DisconnectTimestamp"] = at(leg as i64 * 60 + 90).into();
        ctr["Queue"]["Name"] = queues[(call + leg) % 3].into();
        ctr["Agent"]["ConnectedToAgentTimestamp"] = at(leg as i64 * 60 + 10).into();
        ctr["Agent"]["AfterContactWorkStartTimestamp"] = at(leg as i64 * 60 + 70).into();
        ctr["TransferredToEndpoint"] = serde_json::Value::Null;
        ctr["TransferCompletedTimestamp"] = serde_json::Value::Null;
        serde_json::to_writer(&mut out, &ctr).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.finish()
        .expect("finish the gzip stream")
        .flush()
        .expect("flush");
}

/// Parsing alone, and the engine alone, on the largest native file.
fn baselines(path: &Path, events: usize, rules_directory: &Path) {
    let text = std::fs::read(path).expect("read the native file");
    let started = Instant::now();
    let mut parsed = Vec::with_capacity(events);
    for (index, line) in text.split(|&byte| byte == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let origin = Origin {
            input: 0,
            line: index as u64 + 1,
        };
        parsed.push(parse_native_line(line, origin).expect("a valid line"));
    }
    let parsing = started.elapsed();
    let sources = loopguard::rules_files::read_rules(rules_directory).expect("the rules");
    let rules = loopguard::core::lint::lint(&sources).rules;
    let started = Instant::now();
    let mut engine = Engine::new();
    let mut open: Vec<CallId> = Vec::new();
    for event in parsed {
        match event.kind {
            EventKind::Transfer(request) => {
                engine
                    .record_history(&rules, request, event.at)
                    .expect("a new event");
            }
            EventKind::End(request) => {
                open.push(request.call_id.clone());
                engine.end_call(request, event.at).expect("a known call");
                if open.len() >= 256 {
                    engine.take_calls(&std::mem::take(&mut open));
                }
            }
            _ => {}
        }
    }
    let judging = started.elapsed();
    println!(
        "baseline  parse only        {events:>9} events  {:>7.2} s  {:>9.0} events/s",
        parsing.as_secs_f64(),
        events as f64 / parsing.as_secs_f64()
    );
    println!(
        "baseline  engine only       {events:>9} events  {:>7.2} s  {:>9.0} events/s",
        judging.as_secs_f64(),
        events as f64 / judging.as_secs_f64()
    );
}

/// Runs the replay binary on one core and prints its time, rate and peak memory.
fn run_binary(format: &str, records: usize, path: &PathBuf, rules: &Path, binary: &str) {
    let pinned = Path::new("/usr/bin/taskset").exists();
    let mut command = Command::new("/usr/bin/time");
    command.args(["-f", "%e %M"]);
    if pinned {
        command.args(["/usr/bin/taskset", "-c", "0"]);
    }
    command
        .arg(binary)
        .args(["replay", "--quiet", "--format", "json", "--rules"])
        .arg(rules)
        .arg(path);
    let output = command
        .output()
        .expect("run /usr/bin/time loopguard replay");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let measured = stderr.lines().last().unwrap_or_default();
    let mut fields = measured.split_whitespace();
    let seconds: f64 = fields
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN);
    let peak_kib: f64 = fields
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    println!(
        "replay    {format:<8} {records:>9} records  {:>7.2} s  {:>9.0} records/s  peak {:>7.1} MiB  ({} MiB on disk, {} calls, {} transfers{})",
        seconds,
        records as f64 / seconds,
        peak_kib / 1024.0,
        size / (1 << 20),
        report["summary"]["calls"],
        report["summary"]["transfers"],
        if pinned { ", one core" } else { "" }
    );
}
