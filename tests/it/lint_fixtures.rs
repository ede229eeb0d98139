//! Every lint code has a fixture that triggers it (`fail`) and a near-identical one
//! that does not (`pass`), in `tests/fixtures/lint/<code>/`. A fixture is a `.toml`
//! file, or a directory when the check needs several files. Next to each fixture,
//! the insta snapshots `fail.snap` / `pass.snap` hold its exact `--format concise`
//! output.
//!
//! `INSTA_UPDATE=always cargo test --test it lint_fixtures` (or `cargo insta review`)
//! rewrites them; review every changed one by eye before committing it.

use std::collections::BTreeSet;

use loopguard::core::codes::LintCode;
use loopguard::render::render_concise;

use crate::support::{lint_fixture, repo_root};

const FIXTURES: &str = "tests/fixtures/lint";

/// Fixture directories that are scenarios rather than one code's fail/pass pair.
const SCENARIOS: &[&str] = &["hot-potato"];

/// Codes a fail fixture may report besides its own, because they follow from it.
const CASCADES: &[(LintCode, LintCode)] = &[
    // The misspelt transfer is dropped, so its target really is unreachable.
    (LintCode::UnknownDepartment, LintCode::UnreachableDepartment),
];

/// Lints `fixture` and compares its concise output with the snapshot `<kind>.snap`
/// in the code's fixture directory.
fn check(code: &str, kind: &str) {
    let fixture = fixture_path(code, kind);
    let actual = concise_output(&fixture);
    insta::with_settings!({
        snapshot_path => repo_root().join(FIXTURES).join(code),
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("loopguard lint --format concise {fixture}"),
    }, {
        insta::assert_snapshot!(kind, actual);
    });
}

fn concise_output(fixture: &str) -> String {
    let (sources, report) = lint_fixture(fixture);
    render_concise(&sources, &report.diagnostics, &report.omitted)
}

/// `tests/fixtures/lint/<code>/<kind>.toml`, or the directory `<kind>/` when the
/// fixture spans several files.
fn fixture_path(code: &str, kind: &str) -> String {
    let file = format!("{FIXTURES}/{code}/{kind}.toml");
    if repo_root().join(&file).is_file() {
        file
    } else {
        format!("{FIXTURES}/{code}/{kind}")
    }
}

fn check_code_fixture(code: &str, kind: &str) {
    check(code, kind);
}

fn reported_codes(fixture: &str) -> BTreeSet<LintCode> {
    let (_, report) = lint_fixture(fixture);
    report
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code)
        .collect()
}

macro_rules! fixture_tests {
    ($($module:ident => $code:literal,)*) => {$(
        mod $module {
            #[test]
            fn fail_fixture_output_matches_its_snapshot() {
                super::check_code_fixture($code, "fail");
            }

            #[test]
            fn pass_fixture_output_matches_its_snapshot() {
                super::check_code_fixture($code, "pass");
            }
        }
    )*};
}

fixture_tests! {
    toml_syntax => "toml-syntax",
    unknown_key => "unknown-key",
    invalid_value => "invalid-value",
    duplicate_id => "duplicate-id",
    unknown_department => "unknown-department",
    unknown_intent => "unknown-intent",
    self_transfer => "self-transfer",
    no_entry_point => "no-entry-point",
    unreachable_department => "unreachable-department",
    intent_without_owner => "intent-without-owner",
    ambiguous_intent_owner => "ambiguous-intent-owner",
    dead_end_department => "dead-end-department",
    transfer_cycle => "transfer-cycle",
    ping_pong_pair => "ping-pong-pair",
    inescapable_cycle => "inescapable-cycle",
    max_hops_exceeded => "max-hops-exceeded",
    cold_transfer_allowed => "cold-transfer-allowed",
    unknown_escalation => "unknown-escalation",
    duplicate_alias => "duplicate-alias",
    alias_shadows_department => "alias-shadows-department",
    malformed_sip_alias => "malformed-sip-alias",
    unused_suppression => "unused-suppression",
    invalid_suppression => "invalid-suppression",
}

#[test]
fn every_lint_code_has_a_fail_fixture_that_reports_it_and_a_pass_fixture_that_does_not() {
    let mut problems = Vec::new();
    for code in LintCode::ALL {
        let code = code.as_str();
        let tag = format!("[{code}]");
        for kind in ["fail", "pass"] {
            let fixture = fixture_path(code, kind);
            if !repo_root().join(&fixture).exists() {
                problems.push(format!("{code}: no {kind} fixture ({fixture}[.toml])"));
                continue;
            }
            let actual = concise_output(&fixture);
            let should_report = kind == "fail";
            if actual.contains(&tag) != should_report {
                problems.push(format!(
                    "{code}: lint output of the {kind} fixture {} `{tag}`",
                    if should_report { "lacks" } else { "contains" }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fail_fixtures_report_only_their_own_code_and_its_known_consequences() {
    for &code in LintCode::ALL {
        let fixture = fixture_path(code.as_str(), "fail");
        let unexpected: Vec<LintCode> = reported_codes(&fixture)
            .into_iter()
            .filter(|&reported| reported != code && !CASCADES.contains(&(code, reported)))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{fixture} should report only `{code}`, but also reports {unexpected:?}"
        );
    }
}

#[test]
fn pass_fixtures_are_lint_clean() {
    for code in LintCode::ALL {
        let fixture = fixture_path(code.as_str(), "pass");
        let output = concise_output(&fixture);
        assert!(output.is_empty(), "{fixture} is not clean:\n{output}");
    }
}

#[test]
fn every_fixture_directory_is_a_lint_code_or_a_named_scenario() {
    let entries = std::fs::read_dir(repo_root().join(FIXTURES)).expect("fixture directory");
    for entry in entries {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            LintCode::parse(&name).is_some() || SCENARIOS.contains(&name.as_ref()),
            "{FIXTURES}/{name} is neither a lint code nor a known scenario (misspelt?)"
        );
    }
}

#[test]
fn the_example_configuration_is_lint_clean() {
    let (_, report) = lint_fixture("routing-rules");
    assert!(
        report.diagnostics.is_empty(),
        "routing-rules should be clean: {:#?}",
        report.diagnostics
    );
    assert!(
        report.rules.departments.len() >= 5,
        "routing-rules was not read"
    );
}
