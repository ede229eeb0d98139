//! `loopguard test`, run as CI runs it: the shipped tests of `routing-rules/` pass
//! with full coverage; failures point at the test file's line like lint findings;
//! mistakes in a test file are lint-style findings and exit 2; coverage below
//! `--coverage-min` exits 1; JSON and JUnit reports for CI.

use std::process::Command;

use serde_json::Value;

use crate::support::repo_root;

const FAILING: &str = "tests/fixtures/rule-tests/failing";
const INVALID: &str = "tests/fixtures/rule-tests/invalid";
const PARTIAL: &str = "tests/fixtures/rule-tests/partial";
const EMPTY: &str = "tests/fixtures/rule-tests/empty";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn loopguard_test(args: &[&str]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .arg("test")
        .args(args)
        .current_dir(repo_root())
        .env_remove("LOOPGUARD_RULES")
        .env_remove("NO_COLOR")
        .output()
        .expect("run loopguard test");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

#[test]
fn the_shipped_tests_of_the_example_rules_pass_and_cover_every_transfer_and_intent() {
    let outcome = loopguard_test(&["--coverage-min", "100"]);
    assert_eq!(
        outcome.code,
        Some(0),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome
            .stdout
            .contains("coverage: 20 of 20 transfers (100.0%), 18 of 18 intents (100.0%)"),
        "{}",
        outcome.stdout
    );
    let last = outcome.stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
}

#[test]
fn failures_point_at_the_expectation_in_the_test_file_and_exit_one() {
    let outcome = loopguard_test(&[FAILING]);
    assert_eq!(outcome.code, Some(1), "{}", outcome.stderr);
    assert!(
        outcome.stdout.ends_with("1 passed, 4 failed\n"),
        "{}",
        outcome.stdout
    );
    insta::assert_snapshot!("rule_tests_failing_human", outcome.stdout);
}

#[test]
fn the_json_report_lists_every_test_with_its_failure_and_location() {
    let outcome = loopguard_test(&[FAILING, "--format", "json", "--coverage"]);
    assert_eq!(outcome.code, Some(1));
    let mut report: Value = serde_json::from_str(&outcome.stdout).expect("one JSON document");
    assert_eq!(report["summary"]["failed"], 4);
    let chain = &report["tests"][3];
    assert_eq!(chain["kind"], "chain");
    assert_eq!(chain["failure"]["line"], 27);
    assert_eq!(chain["failure"]["label"], "expected `allow`");
    report["tool_version"] = "[version]".into();
    insta::assert_json_snapshot!("rule_tests_failing_json", report);
}

#[test]
fn the_junit_report_has_a_testcase_per_test_and_a_failure_per_failed_one() {
    let outcome = loopguard_test(&[
        FAILING,
        PARTIAL,
        "--format",
        "junit",
        "--coverage-min",
        "50",
    ]);
    assert_eq!(outcome.code, Some(1));
    let xml = &outcome.stdout;
    // Well-formed, and the counts add up.
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(element) | quick_xml::events::Event::Empty(element) => {
                match element.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((cases, failures), (5 + 2 + 1, 4 + 1), "{xml}");
    assert!(
        xml.contains(r#"<testsuites name="loopguard test" tests="8" failures="5" errors="0">"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"file="tests/fixtures/rule-tests/failing/tests.toml" line="4""#),
        "{xml}"
    );
    insta::assert_snapshot!("rule_tests_junit", xml);
}

#[test]
fn mistakes_in_a_test_file_are_reported_like_lint_findings_and_nothing_runs() {
    let outcome = loopguard_test(&[INVALID]);
    assert_eq!(outcome.code, Some(2));
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    assert!(
        outcome
            .stderr
            .ends_with("error: 6 problems in the test files; no test was run\n"),
        "{}",
        outcome.stderr
    );
    insta::assert_snapshot!("rule_tests_invalid_stderr", outcome.stderr);
}

#[test]
fn coverage_below_the_minimum_fails_and_names_what_no_test_exercised() {
    let outcome = loopguard_test(&[PARTIAL, "--coverage-min", "80"]);
    assert_eq!(outcome.code, Some(1), "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("coverage: 3 of 20 transfers (15.0%), 2 of 18 intents (11.1%)"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("transfers no test exercised: customer_service → billing, ")
    );
    assert!(
        outcome
            .stdout
            .contains("intents no test exercised: billing_question, cancel_service, ")
    );
    assert!(
        outcome
            .stdout
            .contains("error: coverage is below --coverage-min 80")
    );
    assert!(outcome.stdout.ends_with("2 passed, 0 failed\n"));
    // The same tests pass without a minimum, and with a low one.
    assert_eq!(loopguard_test(&[PARTIAL, "--coverage"]).code, Some(0));
    assert_eq!(
        loopguard_test(&[PARTIAL, "--coverage-min", "10"]).code,
        Some(0)
    );
}

#[test]
fn unusable_rules_no_tests_and_bad_arguments_exit_two() {
    let broken_rules = loopguard_test(&["--rules", "tests/fixtures/lint/hot-potato"]);
    assert_eq!(broken_rules.code, Some(2));
    assert!(
        broken_rules
            .stderr
            .contains("have errors; run `loopguard lint"),
        "{}",
        broken_rules.stderr
    );
    let empty = loopguard_test(&[EMPTY]);
    assert_eq!(empty.code, Some(2));
    assert!(empty.stderr.contains("no [[test]] in"), "{}", empty.stderr);
    let missing = loopguard_test(&["no/such/tests"]);
    assert_eq!(missing.code, Some(2));
    let bad_minimum = loopguard_test(&["--coverage-min", "120"]);
    assert_eq!(bad_minimum.code, Some(2));
    assert!(
        bad_minimum.stderr.contains("not a percentage"),
        "{}",
        bad_minimum.stderr
    );
}
