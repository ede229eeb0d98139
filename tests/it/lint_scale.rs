//! Lint at scale: what used to be quadratic stays linear, the findings shown per
//! file are capped with a summary in every output format, and parsing a big file in
//! chunks means exactly what parsing it whole means.
//!
//! Timings here are generous ceilings for the debug build on a shared machine, far
//! above the linear cost and far below the quadratic one: each input took from half
//! a minute to several minutes (release build) before the fix. Speed itself is
//! measured by `cargo bench --bench lint`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use loopguard::core::codes::LintCode;
use loopguard::core::diagnostic::Severity;
use loopguard::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, LintReport, lint};
use loopguard::core::rules::{Parsing, load_rules_with};
use loopguard::core::source::{SourceFile, SourceId};
use loopguard::render::{render_concise, render_github, render_human, render_json, render_sarif};
use proptest::prelude::*;
use serde_json::Value;

/// Far above what any of these inputs takes in a debug build.
const CEILING: Duration = Duration::from_secs(60);

/// What linting one generated file gave: the sources, the report capped as the CLI
/// caps it by default, its human rendering, and the number of findings per code
/// before the cap.
struct Linted {
    sources: Vec<SourceFile>,
    report: LintReport,
    human: String,
    by_code: HashMap<LintCode, usize>,
}

impl Linted {
    fn count(&self, code: LintCode) -> usize {
        self.by_code.get(&code).copied().unwrap_or(0)
    }
}

fn lint_and_render(text: &str) -> Linted {
    let sources = vec![SourceFile::new("big.toml", text)];
    let mut report = lint(&sources);
    let mut by_code = HashMap::new();
    for diagnostic in &report.diagnostics {
        *by_code.entry(diagnostic.code).or_insert(0) += 1;
    }
    report.cap_per_file(DEFAULT_MAX_FINDINGS_PER_FILE);
    let human = render_human(&sources, &report.diagnostics, &report.omitted, false);
    Linted {
        sources,
        report,
        human,
        by_code,
    }
}

/// Lints and renders the input of size `size` and of size `4 * size` and fails
/// unless the larger one took less than ten times as long: linear work takes four
/// times as long, quadratic work sixteen. The two sizes are timed in alternation,
/// three rounds, and the fastest run of each counts, so that other tests running at
/// the same time (the suite is parallel, CI machines are shared) slow both sides
/// alike instead of one. Returns what the larger input gave.
fn assert_linear(size: usize, generate: impl Fn(usize) -> String) -> Linted {
    let time = |text: &str| {
        let started = Instant::now();
        let linted = lint_and_render(text);
        (started.elapsed(), linted)
    };
    let small_text = generate(size);
    let large_text = generate(4 * size);
    let mut small = Duration::MAX;
    let mut large = Duration::MAX;
    let mut linted = None;
    for _ in 0..3 {
        small = small.min(time(&small_text).0);
        let (elapsed, result) = time(&large_text);
        large = large.min(elapsed);
        linted = Some(result);
    }
    assert!(
        large < small * 10 + Duration::from_millis(250),
        "{} bytes took {large:?}, a quarter of it {small:?}: not linear",
        large_text.len()
    );
    assert!(large < CEILING, "{} bytes took {large:?}", large_text.len());
    linted.expect("three rounds ran")
}

#[test]
fn unknown_keys_in_one_table_lint_in_linear_time() {
    // Removing unknown keys one at a time from the order-preserving table was
    // quadratic: 80,000 of them (1 MB) took 33 seconds.
    let linted = assert_linear(5_000, |keys| {
        let mut text = String::from("[[department]]\nid = \"a\"\nentry = true\n");
        for index in 0..keys {
            let _ = writeln!(text, "k{index} = 1");
        }
        text
    });
    assert_eq!(linted.count(LintCode::UnknownKey), 20_000);
    assert!(
        linted
            .human
            .contains("… and 19901 more findings in this file (19900 errors, 1 warning)"),
        "{}",
        &linted.human[linted.human.len().saturating_sub(400)..]
    );
}

#[test]
fn thousands_of_findings_render_as_a_hundred_and_a_summary_in_every_format() {
    // annotate-snippets was handed the whole file for every finding: 20,000
    // findings in human output took 37 seconds.
    let linted = assert_linear(2_000, |transfers| {
        let mut text = String::from("[[department]]\nid = \"a\"\nentry = true\n");
        for index in 0..transfers {
            let _ = write!(text, "[[transfer]]\nfrom = \"a\"\nto = \"x{index}\"\n");
        }
        text
    });
    let Linted {
        sources,
        report,
        human,
        ..
    } = &linted;
    assert_eq!(linted.count(LintCode::UnknownDepartment), 8_000);
    assert_eq!(report.diagnostics.len(), DEFAULT_MAX_FINDINGS_PER_FILE);
    let omitted = report.omitted[0];
    assert_eq!(omitted.total(), 8_001 - DEFAULT_MAX_FINDINGS_PER_FILE);
    // Bounded output: a hundred rendered findings, not eight thousand.
    assert!(human.len() < 100_000, "{} bytes", human.len());
    assert!(human.contains(&format!(
        "big.toml: note: … and {} more findings in this file",
        omitted.total()
    )));
    let errors = report.count_at_least(Severity::Error);
    assert_eq!(errors, 8_000);
    assert!(
        human.ends_with("8000 errors, 1 warning in 1 file\n"),
        "{}",
        &human[human.len() - 200..]
    );

    let concise = render_concise(sources, &report.diagnostics, &report.omitted);
    assert_eq!(concise.lines().count(), DEFAULT_MAX_FINDINGS_PER_FILE + 1);

    let json: Value =
        serde_json::from_str(&render_json(sources, &report.diagnostics, &report.omitted))
            .expect("JSON report");
    assert_eq!(json["summary"]["omitted"], omitted.total());
    assert_eq!(json["summary"]["errors"], errors);
    assert_eq!(json["omitted"][0]["file"], "big.toml");
    assert_eq!(json["omitted"][0]["findings"], omitted.total());

    let sarif: Value =
        serde_json::from_str(&render_sarif(sources, &report.diagnostics, &report.omitted))
            .expect("SARIF log");
    let run = &sarif["runs"][0];
    assert_eq!(run["properties"]["omittedFindings"], omitted.total());
    let notification = &run["invocations"][0]["toolExecutionNotifications"][0];
    assert!(
        notification["message"]["text"]
            .as_str()
            .is_some_and(|text| text.contains("more findings in this file")),
        "{notification}"
    );
    let sarif_log: Result<serde_sarif::sarif::Sarif, _> = serde_json::from_value(sarif.clone());
    assert!(sarif_log.is_ok(), "not a SARIF log: {sarif_log:?}");

    let github = render_github(sources, &report.diagnostics, &report.omitted);
    assert!(github.contains("::warning file=big.toml,title=loopguard::… and"));
}

#[test]
fn suppression_comments_in_a_row_are_matched_in_linear_time() {
    // Each comment on its own line looked ahead over all the comment lines after it.
    let linted = assert_linear(2_000, |comments| {
        let mut text = String::from("[[department]]\nid = \"a\"\nentry = true\n");
        for _ in 0..comments {
            text.push_str("# loopguard: ignore[unknown-key] reason=\"generated\"\n");
        }
        text.push_str("bogus = 1\n");
        text
    });
    // The first comment suppresses the unknown key; every later one points at the
    // same line with nothing left to suppress.
    assert_eq!(linted.count(LintCode::UnknownKey), 0);
    assert_eq!(linted.count(LintCode::UnusedSuppression), 7_999);
}

#[test]
fn unknown_departments_among_many_declared_ones_are_suggested_in_linear_time() {
    // "Did you mean" compared every unknown name with every declared one.
    let linted = assert_linear(1_000, |size| {
        let mut text = String::new();
        for index in 0..size {
            let _ = write!(
                text,
                "[[department]]\nid = \"d{index}\"\nentry = true\nhandles = [\"i{index}\"]\n"
            );
        }
        for index in 0..2 * size {
            let _ = write!(
                text,
                "[[transfer]]\nfrom = \"d{}\"\nto = \"e{index}\"\n",
                index % size
            );
        }
        text
    });
    assert_eq!(linted.count(LintCode::UnknownDepartment), 8_000);
}

#[test]
fn long_handles_and_intents_lists_are_deduplicated_in_linear_time() {
    // Each entry was compared with every earlier one.
    let linted = assert_linear(1_000, |intents| {
        let list = (0..intents)
            .map(|index| format!("\"i{index}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "[[department]]\nid = \"a\"\nentry = true\nhandles = [{list}, {list}]\n\n[[department]]\nid = \"b\"\nhandles = [\"i0\"]\n\n[[transfer]]\nfrom = \"a\"\nto = \"b\"\nintents = [{list}, {list}]\n\n[[transfer]]\nfrom = \"b\"\nto = \"a\"\nintents = [{list}]\n"
        )
    });
    assert_eq!(linted.report.rules.departments[0].handles.len(), 4_000);
    assert_eq!(
        linted.report.rules.transfers[0]
            .intents
            .as_ref()
            .map(Vec::len),
        Some(4_000)
    );
    assert_eq!(linted.count(LintCode::PingPongPair), 1);
}

#[test]
fn findings_on_one_long_line_stay_linear() {
    // The line of every finding was found by counting the characters before it.
    let linted = assert_linear(1_000, |transfers| {
        let mut text = String::from("department = [{ id = \"a\", entry = true }]\ntransfer = [");
        for index in 0..transfers {
            let _ = write!(text, "{{ from = \"a\", to = \"x{index}\" }}, ");
        }
        text.push_str("]\n");
        text
    });
    assert_eq!(linted.count(LintCode::UnknownDepartment), 4_000);
    assert!(linted.human.contains("more findings in this file"));
}

#[test]
fn the_binary_caps_findings_per_file_by_default_and_on_request() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("big.toml");
    let mut text = String::from("[[department]]\nid = \"a\"\nentry = true\n");
    for index in 0..500 {
        let _ = writeln!(text, "k{index} = 1");
    }
    std::fs::write(&path, text).expect("write rules");
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .arg("lint")
            .arg(&path)
            .args(["--format", "concise"])
            .args(extra)
            .output()
            .expect("run loopguard");
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let default = run(&[]);
    assert_eq!(default.lines().count(), 101, "{default}");
    // The department is also a dead end (a warning): errors are shown first.
    assert!(
        default.ends_with("big.toml: note: … and 401 more findings in this file (400 errors, 1 warning); raise --max-findings-per-file to see them\n"),
        "{default}"
    );
    assert_eq!(run(&["--max-findings-per-file", "10"]).lines().count(), 11);
    assert_eq!(run(&["--max-findings-per-file", "0"]).lines().count(), 501);
}

// ---------------------------------------------------------------------------
// Chunked parsing against whole-file parsing
// ---------------------------------------------------------------------------

/// Pieces of rules files, valid and broken, in any order: array tables with and
/// without sub-tables, `[policy]` before and after them, unknown tables and keys,
/// inline arrays that conflict with array tables, strings and comments that look
/// like headers, syntax errors.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "[[department]]\nid = \"a\"\nentry = true\nhandles = [\"x\"]\n",
        "[[department]]\nid = \"b\"\n",
        "[[department]]\nid = \"a\"\n",
        "[[transfer]]\nfrom = \"a\"\nto = \"b\"\nintents = [\"x\"]\n",
        "[[transfer]]\nfrom = \"b\"\nto = \"a\"\n",
        "[[transfer]]\nfrom = \"a\"\nto = \"nowhere\"\n",
        "[transfer.extra]\nx = 1\n",
        "[[intent]]\nid = \"x\"\n",
        "[[intent]]\nid = \"x\"\ndescription = \"\"\"\n[[transfer]]\n\"\"\"\n",
        "[policy]\nmax_hops = 2\n",
        "[policy.actions]\nping-pong = \"warn\"\n",
        "[other]\nkey = 1\n",
        "top = 1\n",
        "transfer = [{ from = \"a\", to = \"b\" }]\n",
        "department = { id = \"c\" }\n",
        "bogus = 2\n",
        "handles = [\n\"x\",\n]\n",
        "# [[transfer]] in a comment\n",
        "from = \"unterminated\n",
        "[[transfer\n",
        "mode = \"cold\"\n",
        "# loopguard: ignore[unknown-key] reason=\"test\"\n",
        "\n",
    ])
}

/// Everything the model and the findings say, in a comparable form.
fn outcome(text: &str, parsing: Parsing) -> (String, Vec<String>) {
    let sources = [SourceFile::new("p.toml", text)];
    let (rules, mut diagnostics) = load_rules_with(&sources, parsing);
    loopguard::core::diagnostic::sort_diagnostics(&mut diagnostics);
    let model = format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        rules.policy, rules.intents, rules.departments, rules.transfers
    );
    (
        model,
        diagnostics.iter().map(|d| format!("{d:?}")).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chunked_parsing_means_exactly_what_whole_file_parsing_means(
        fragments in prop::collection::vec(fragment(), 0..24),
        chunk_bytes in prop::sample::select(vec![1_usize, 40, 200, 64 * 1024]),
    ) {
        let text = fragments.concat();
        let whole = outcome(&text, Parsing::Whole);
        let chunked = outcome(&text, Parsing::Chunked { chunk_bytes });
        prop_assert_eq!(&chunked.0, &whole.0, "model differs for\n{}", text);
        prop_assert_eq!(&chunked.1, &whole.1, "findings differ for\n{}", text);
    }
}

// ---------------------------------------------------------------------------
// Per-intent checks with wildcard transfers
// ---------------------------------------------------------------------------

/// `size` departments in a chain of explicit transfers (one intent per hop, one
/// intent owned every five departments), and for every tenth department a pair of
/// side departments that send each other wildcard transfers (cycles no owner can be
/// reached from) and one explicit transfer into the pair from the chain.
fn wildcard_rules(size: usize) -> String {
    let mut text = String::from("[policy]\nmax_hops = 2\n");
    for index in 0..size {
        let _ = write!(
            text,
            "[[department]]\nid = \"d{index}\"\nentry = {}\nhandles = [\"i{}\"]\n",
            index == 0,
            index / 5
        );
    }
    for index in 1..size {
        let _ = write!(
            text,
            "[[transfer]]\nfrom = \"d{}\"\nto = \"d{index}\"\nintents = [\"i{}\"]\n",
            index - 1,
            index / 5
        );
        if index % 10 == 0 {
            let _ = write!(
                text,
                "[[department]]\nid = \"x{index}\"\n[[department]]\nid = \"y{index}\"\n\
                 [[transfer]]\nfrom = \"x{index}\"\nto = \"y{index}\"\n\
                 [[transfer]]\nfrom = \"y{index}\"\nto = \"x{index}\"\n\
                 [[transfer]]\nfrom = \"d{index}\"\nto = \"x{index}\"\nintents = [\"i{}\"]\n",
                index / 5 + 1
            );
        }
    }
    text
}

#[test]
fn per_intent_checks_do_not_visit_every_wildcard_for_every_intent() {
    // Each intent's graph holds all wildcard transfers; walking all of them per
    // intent made the checks grow with wildcards × intents. Only the checks are
    // timed here (the rules are built once per size), the fastest of three runs.
    let time_checks = |size: usize| {
        let sources = [SourceFile::new("rules.toml", wildcard_rules(size))];
        let (rules, _) = loopguard::core::rules::load_rules(&sources);
        let fallback = loopguard::core::diagnostic::Span::new(SourceId(0), 0..0);
        (0..3)
            .map(|_| {
                let started = Instant::now();
                let findings = loopguard::core::checks::run(&rules, fallback);
                (started.elapsed(), findings)
            })
            .min_by_key(|(elapsed, _)| *elapsed)
            .expect("three runs")
    };
    let (small, _) = time_checks(1_000);
    let (large, findings) = time_checks(4_000);
    assert!(
        large < small * 8 + Duration::from_millis(100),
        "checks took {large:?} for 4,000 departments, {small:?} for 1,000: not linear"
    );
    let trapped = findings
        .iter()
        .filter(|finding| finding.code == LintCode::InescapableCycle)
        .count();
    assert_eq!(trapped, 399, "one per pair of side departments");
}

#[test]
fn a_wildcard_cycle_trapping_many_intents_names_the_first_and_ten_more() {
    let mut text = String::from(
        "[[department]]\nid = \"a\"\nentry = true\n[[department]]\nid = \"b\"\n[[department]]\nid = \"owner\"\nhandles = [",
    );
    let intents: Vec<String> = (10..40).map(|index| format!("\"i{index}\"")).collect();
    text.push_str(&intents.join(", "));
    text.push_str(
        "]\n[[transfer]]\nfrom = \"a\"\nto = \"b\"\n[[transfer]]\nfrom = \"b\"\nto = \"a\"\n",
    );
    let sources = [SourceFile::new("rules.toml", text)];
    let report = lint(&sources);
    let cycles: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == LintCode::InescapableCycle)
        .collect();
    assert_eq!(cycles.len(), 1, "{cycles:#?}");
    assert!(
        cycles[0]
            .message
            .starts_with("calls for `i10` can circle a → b → a"),
        "{}",
        cycles[0].message
    );
    let others: Vec<String> = (11..21).map(|index| format!("`i{index}`")).collect();
    assert!(
        cycles[0]
            .notes
            .contains(&format!("the same cycle traps {}", others.join(", "))),
        "{:?}",
        cycles[0].notes
    );
}
