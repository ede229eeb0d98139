//! `loopguard replay`, through the real binary on the fixtures of
//! `tests/fixtures/replay/` (see the README there for where each comes from):
//! exact counts per input format, gzip and stdin, bad and late records,
//! `--strict`, the what-if diff, the store import, and the HTML report.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use loopguard::clock::Clock;
use loopguard::metrics::Metrics;
use loopguard::store::{CallStore, SqliteStore, StoreConfig};
use serde_json::{Value, json};

use crate::support::repo_root;

const FIXTURES: &str = "tests/fixtures/replay";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `loopguard replay ARGS` in the fixtures directory.
fn replay(args: &[&str]) -> Outcome {
    replay_with_stdin(args, None)
}

fn replay_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopguard"));
    command
        .arg("replay")
        .args(args)
        .current_dir(repo_root().join(FIXTURES))
        .env_remove("LOOPGUARD_RULES")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start loopguard");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(bytes).expect("write stdin");
    }
    let output = child.wait_with_output().expect("run loopguard");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The counts a replay must report for one input.
struct Expected {
    format: &'static str,
    summary: Value,
    by_code: Value,
    pairs: Value,
    hops: Value,
    /// `file:line` of each skipped record, in the order reported.
    skipped_at: &'static [&'static str],
}

/// Replays `file` under the fixture rules and checks every count exactly.
fn check(file: &str, expected: Expected) -> Value {
    let outcome = replay(&["--rules", "rules", "--format", "json", file]);
    let report = outcome.json();
    assert_eq!(
        outcome.code,
        Some(1),
        "loops were found: {}",
        outcome.stderr
    );
    assert_eq!(report["version"], 1);
    assert_eq!(report["inputs"][0]["format"], expected.format);
    let mut summary = report["summary"].clone();
    for field in [
        "first_event",
        "last_event",
        "cold_share",
        "missing_callback_share",
    ] {
        summary.as_object_mut().expect("an object").remove(field);
    }
    assert_eq!(summary, expected.summary, "{file}: summary");
    assert_eq!(report["by_code"], expected.by_code, "{file}: by_code");
    assert_eq!(report["pairs"], expected.pairs, "{file}: pairs");
    assert_eq!(
        report["hops_histogram"], expected.hops,
        "{file}: hops_histogram"
    );
    let skipped: Vec<&str> = outcome
        .stderr
        .lines()
        .filter_map(|line| line.strip_prefix("skipped: "))
        .filter_map(|rest| rest.split(": ").next())
        .collect();
    assert_eq!(
        skipped, expected.skipped_at,
        "{file}: skipped records\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("ETA"),
        "no progress bar off a terminal"
    );
    report
}

fn hops(pairs: &[(u32, u64)]) -> Value {
    pairs
        .iter()
        .map(|(hops, calls)| json!({"hops": hops, "calls": calls}))
        .collect()
}

fn cs_activations(bounces: u64) -> Value {
    json!([{"from": "customer_service", "to": "activations", "bounces": bounces}])
}

#[allow(clippy::too_many_arguments)]
fn summary(
    calls: u64,
    transferred: u64,
    transfers: u64,
    looped: u64,
    blocked: u64,
    warned: u64,
    cold: u64,
    missing_callback: u64,
    callbacks_owed: u64,
    records: u64,
    skipped: u64,
) -> Value {
    json!({
        "calls": calls, "calls_transferred": transferred, "transfers": transfers,
        "calls_with_loop": looped, "blocked": blocked, "warned": warned,
        "cold_transfers": cold, "missing_callback": missing_callback,
        "callbacks_owed": callbacks_owed, "records": records, "skipped": skipped, "late": 0,
    })
}

#[test]
fn native_history_is_judged_transfer_by_transfer_as_it_happened() {
    check(
        "native.jsonl",
        Expected {
            format: "native",
            // call-n1 ping-pongs (3 transfers, 2 blocked), call-n2 is clean, call-n3
            // goes round to customer service (4 transfers: cold, unknown mode, no
            // callback number, circular and over max_hops), call-n4 only ends.
            summary: summary(4, 3, 8, 2, 5, 1, 1, 1, 1, 17, 3),
            by_code: json!({
                "circular-handoff": 1, "cold-transfer": 1, "max-hops-exceeded": 1,
                "missing-callback-number": 1, "ping-pong": 2, "transfer-not-allowed": 2,
                "unknown-transfer-mode": 1, "wrong-department": 1,
            }),
            pairs: cs_activations(2),
            hops: hops(&[(0, 1), (1, 1), (3, 1), (4, 1)]),
            skipped_at: &["native.jsonl:13", "native.jsonl:14", "native.jsonl:15"],
        },
    );
}

#[test]
fn connect_contact_records_are_joined_into_chains_by_their_contact_ids() {
    let expected = || Expected {
        format: "connect",
        // The public sample: a transfer out to a number the rules do not know
        // (warn); chain Y: warm to activations, then cold back (ping-pong); chain Z:
        // a flow's queue transfer after the agent left (cold); call W and the
        // orphan leg are not transferred.
        summary: summary(5, 3, 4, 1, 2, 1, 2, 0, 0, 10, 2),
        by_code: json!({
            "cold-transfer": 2, "ping-pong": 1, "transfer-not-allowed": 1,
            "unknown-department": 1, "unknown-transfer-mode": 1,
        }),
        pairs: cs_activations(1),
        hops: hops(&[(0, 2), (1, 2), (2, 1)]),
        skipped_at: &[],
    };
    let lines = check(
        "connect.jsonl",
        Expected {
            skipped_at: &["connect.jsonl:9", "connect.jsonl:10"],
            ..expected()
        },
    );
    let array = check(
        "connect-array.json",
        Expected {
            skipped_at: &["connect-array.json:815", "connect-array.json:921"],
            ..expected()
        },
    );
    assert_eq!(lines["flagged"], array["flagged"]);
    let flagged = &lines["flagged"][0];
    assert_eq!(flagged["call_id"], "a1f0c3e2-0001-4c6b-8a52-3f1e9d7b0001");
    assert_eq!(
        flagged["chain"],
        json!(["customer_service", "activations", "customer_service"])
    );
}

#[test]
fn twilio_taskrouter_transfers_count_only_when_completed() {
    check(
        "twilio-events.json",
        Expected {
            format: "twilio",
            summary: summary(3, 2, 3, 1, 1, 0, 1, 0, 0, 18, 2),
            by_code: json!({"cold-transfer": 1, "ping-pong": 1, "transfer-not-allowed": 1}),
            pairs: cs_activations(1),
            hops: hops(&[(0, 1), (1, 1), (2, 1)]),
            skipped_at: &["twilio-events.json:498", "twilio-events.json:441"],
        },
    );
}

#[test]
fn genesys_agent_transfers_are_hops_and_queue_routing_is_not() {
    check(
        "genesys-job.json",
        Expected {
            format: "genesys",
            // The first public sample has only queue routing; the second has
            // malformed dates (`2021-04-2T...`) and is skipped.
            summary: summary(3, 2, 3, 1, 2, 0, 2, 0, 0, 4, 1),
            by_code: json!({"cold-transfer": 2, "ping-pong": 1, "transfer-not-allowed": 1}),
            pairs: cs_activations(1),
            hops: hops(&[(0, 1), (1, 1), (2, 1)]),
            skipped_at: &["genesys-job.json:178"],
        },
    );
}

#[test]
fn asterisk_blind_and_attended_transfers_are_followed_by_linkedid() {
    check(
        "asterisk-cel.csv",
        Expected {
            format: "asterisk",
            summary: summary(3, 2, 3, 1, 2, 0, 2, 1, 0, 25, 1),
            by_code: json!({
                "cold-transfer": 2, "missing-callback-number": 1, "ping-pong": 1,
                "transfer-not-allowed": 1,
            }),
            pairs: cs_activations(1),
            hops: hops(&[(0, 1), (1, 1), (2, 1)]),
            skipped_at: &["asterisk-cel.csv:9"],
        },
    );
}

#[test]
fn gzip_and_stdin_give_the_same_report_as_the_plain_file() {
    let plain = replay(&["--rules", "rules", "--format", "json", "native.jsonl"]).json();
    let text = std::fs::read(repo_root().join(FIXTURES).join("native.jsonl")).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let gzipped = directory.path().join("native.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gzipped).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(&text).unwrap();
    encoder.finish().unwrap();
    let from_gzip = replay(&[
        "--rules",
        "rules",
        "--format",
        "json",
        gzipped.to_str().unwrap(),
    ])
    .json();
    let from_stdin =
        replay_with_stdin(&["--rules", "rules", "--format", "json", "-"], Some(&text)).json();
    for other in [&from_gzip, &from_stdin] {
        assert_eq!(other["summary"], plain["summary"]);
        assert_eq!(other["by_code"], plain["by_code"]);
        assert_eq!(other["flagged"], plain["flagged"]);
    }
    assert_eq!(from_stdin["inputs"][0]["file"], "<stdin>");
}

#[test]
fn strict_stops_at_the_first_bad_record_with_exit_2() {
    let outcome = replay(&["--rules", "rules", "--strict", "native.jsonl"]);
    assert_eq!(outcome.code, Some(2));
    assert!(outcome.stdout.is_empty(), "no report: {}", outcome.stdout);
    assert!(
        outcome
            .stderr
            .contains("native.jsonl:13: not a JSON object")
            && outcome.stderr.contains("--strict"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unreadable_inputs_exit_2_and_say_what_to_do() {
    let missing = replay(&["--rules", "rules", "no-such-file.jsonl"]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing.stderr.contains("cannot read `no-such-file.jsonl`"),
        "{}",
        missing.stderr
    );
    let unknown = replay(&["--rules", "rules", "README.md"]);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.stderr.contains("--input-format"),
        "{}",
        unknown.stderr
    );
    let bad_rules = replay(&["--rules", "no-such-rules", "native.jsonl"]);
    assert_eq!(bad_rules.code, Some(2));
    // A database URL is not a data directory: refused before anything is created.
    let url = "postgres://loopguard@localhost/loopguard";
    let into_database = replay(&["--rules", "rules", "--into", url, "native.jsonl"]);
    assert_eq!(into_database.code, Some(2), "{}", into_database.stderr);
    assert!(
        into_database
            .stderr
            .contains("--into takes a data directory"),
        "{}",
        into_database.stderr
    );
    assert!(!repo_root().join(FIXTURES).join("postgres:").exists());
}

#[test]
fn a_history_without_loops_exits_0() {
    let line = br#"{"event_id":"ok-1","call_id":"ok","from":"customer_service","to":"billing","mode":"warm","callback_number":"+14155550124","occurred_at":"2026-03-02T10:00:00Z"}"#;
    let outcome = replay_with_stdin(&["--rules", "rules", "--format", "json", "-"], Some(line));
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(outcome.json()["summary"]["calls_with_loop"], 0);
}

/// Two transfers of a ping-pong, the first written after the second, with
/// another call's transfer between them.
const OUT_OF_ORDER: &[u8] = br#"{"event_id":"l-2","call_id":"late","from":"activations","to":"customer_service","mode":"warm","callback_number":"+14155550123","occurred_at":"2026-03-02T09:05:00Z"}
{"event_id":"o-1","call_id":"other","from":"customer_service","to":"billing","mode":"warm","callback_number":"+14155550124","occurred_at":"2026-03-02T09:10:00Z"}
{"event_id":"l-1","call_id":"late","from":"customer_service","to":"activations","mode":"warm","callback_number":"+14155550123","occurred_at":"2026-03-02T09:00:00Z"}
"#;

#[test]
fn records_out_of_order_within_the_reorder_window_are_judged_in_event_time() {
    let outcome = replay_with_stdin(
        &["--rules", "rules", "--format", "json", "-"],
        Some(OUT_OF_ORDER),
    );
    let report = outcome.json();
    assert_eq!(report["summary"]["late"], 0);
    assert_eq!(
        report["by_code"]["ping-pong"], 1,
        "the return is a ping-pong"
    );
    assert_eq!(outcome.code, Some(1));
}

#[test]
fn records_later_than_the_reorder_window_are_counted_late_and_reported() {
    let outcome = replay_with_stdin(
        &[
            "--rules",
            "rules",
            "--format",
            "json",
            "--reorder-window",
            "1m",
            "-",
        ],
        Some(OUT_OF_ORDER),
    );
    let report = outcome.json();
    assert_eq!(report["summary"]["late"], 1);
    assert!(
        outcome
            .stderr
            .contains("warning: <stdin>:3: late: this event happened 5 min before"),
        "{}",
        outcome.stderr
    );
    // Judged against the hops before it (none): the return was judged first and
    // is not judged again, so no ping-pong is found.
    assert_eq!(report["by_code"].get("ping-pong"), None);
}

#[test]
fn the_what_if_reports_exactly_the_transfers_whose_verdict_changes() {
    let outcome = replay(&[
        "--rules",
        "rules",
        "--compare",
        "rules-relaxed",
        "--format",
        "json",
        "native.jsonl",
    ]);
    let report = outcome.json();
    let compare = &report["compare"];
    // Relaxed: ping-pong and cold transfers only warn, no callback number needed.
    // call-n1's two ping-pongs and call-n3's cold transfer go from block to warn;
    // call-n3's transfer without a callback number goes from block to allow.
    assert_eq!(compare["rules"], "rules-relaxed");
    assert_eq!(compare["changed"], 4);
    assert_eq!(
        compare["verdicts"],
        json!([
            {"before": "block", "after": "warn", "transfers": 3},
            {"before": "block", "after": "allow", "transfers": 1},
        ])
    );
    assert_eq!(
        compare["by_code"],
        json!([{"code": "missing-callback-number", "added": 0, "removed": 1}])
    );
    assert_eq!(
        compare["by_pair"],
        json!([
            {"from": "customer_service", "to": "activations", "changed": 2},
            {"from": "activations", "to": "customer_service", "changed": 1},
            {"from": "billing", "to": "supervisor_desk", "changed": 1},
        ])
    );
    let examples: Vec<&str> = compare["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|example| example["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(examples, ["n3-3", "n1-2", "n1-3", "n3-1"]);
    assert_eq!(compare["summary"]["blocked"], 1);
    assert_eq!(compare["summary"]["warned"], 4);
    assert_eq!(report["summary"]["blocked"], 5);
    let human = replay(&[
        "--rules",
        "rules",
        "--compare",
        "rules-relaxed",
        "native.jsonl",
    ]);
    assert!(
        human
            .stdout
            .contains("4 transfers would get another verdict"),
        "{}",
        human.stdout
    );
}

#[test]
fn into_imports_each_event_once_and_serve_loads_the_history_as_it_happened() {
    let directory = tempfile::tempdir().unwrap();
    let data = directory.path().join("data");
    let data_arg = data.to_str().unwrap();
    let first = replay(&["--rules", "rules", "--into", data_arg, "native.jsonl"]);
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    // 8 transfers, the ends of the 3 transferred calls and 1 callback mark.
    assert!(
        first.stderr.contains("imported 12 new events"),
        "{}",
        first.stderr
    );
    let second = replay(&["--rules", "rules", "--into", data_arg, "native.jsonl"]);
    assert!(
        second.stderr.contains("imported 0 new events"),
        "{}",
        second.stderr
    );
    assert_eq!(event_rows(&data), 12);

    let (store, report) =
        SqliteStore::open(StoreConfig::new(&data), Metrics::new(), Clock::system()).unwrap();
    assert_eq!(report.events_loaded, 12);
    let mut hops = Vec::new();
    store.read(&mut |engine| {
        let call = engine.call("call-n1").expect("the imported call");
        hops = call
            .hops
            .iter()
            .map(|hop| (hop.verdict.as_str(), hop.moved))
            .collect();
    });
    // History is fact: the blocked returns happened and moved the call.
    assert_eq!(hops, [("allow", true), ("block", true), ("block", true)]);

    // While a server holds the directory, an import is refused.
    let refused = replay(&["--rules", "rules", "--into", data_arg, "native.jsonl"]);
    assert_eq!(refused.code, Some(2));
    assert!(
        refused
            .stderr
            .contains("in use by another running loopguard"),
        "{}",
        refused.stderr
    );
    drop(store);
}

fn event_rows(data: &Path) -> i64 {
    let connection = rusqlite::Connection::open(data.join("loopguard.db")).unwrap();
    connection
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn the_html_report_is_one_self_contained_page_with_everything_escaped() {
    let line = br#"{"event_id":"x-1","call_id":"<script>alert(1)</script>","from":"customer_service","to":"<img src=x onerror=alert(1)>","mode":"warm","callback_number":"+14155550124","occurred_at":"2026-03-02T10:00:00Z"}
{"event_id":"x-2","call_id":"<script>alert(1)</script>","from":"<img src=x onerror=alert(1)>","to":"customer_service","mode":"warm","callback_number":"+14155550124","occurred_at":"2026-03-02T10:01:00Z"}
"#;
    let outcome = replay_with_stdin(&["--rules", "rules", "--format", "html", "-"], Some(line));
    let page = &outcome.stdout;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("Bounce matrix"));
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    for forbidden in ["<script", "<img", "http://", "https://", "<link", "@import"] {
        assert!(!page.contains(forbidden), "`{forbidden}` in the page");
    }
}

#[test]
fn every_fixture_is_detected_as_its_format() {
    for (file, format) in [
        ("native.jsonl", "native"),
        ("connect.jsonl", "connect"),
        ("connect-array.json", "connect"),
        ("twilio-events.json", "twilio"),
        ("genesys-job.json", "genesys"),
        ("asterisk-cel.csv", "asterisk"),
    ] {
        let report = replay(&["--rules", "rules", "--format", "json", file]).json();
        assert_eq!(report["inputs"][0]["format"], format, "{file}");
    }
}

#[test]
fn the_human_report_reads_as_expected() {
    let outcome = replay(&["--rules", "rules", "native.jsonl"]);
    insta::assert_snapshot!(outcome.stdout);
}
