//! Snapshot tests of the rendered output (human without colour, JSON, SARIF) for the
//! hot-potato scenario and for a multi-file fixture whose label is in another file.
//! Snapshots live in `tests/it/snapshots/`; CI (CI=true) never writes new ones, so
//! accept changes locally with `INSTA_UPDATE=always` and review them by eye.

use loopguard::render::{render_human, render_json, render_sarif};
use serde_json::Value;

use crate::support::lint_fixture;

const HOT_POTATO: &str = "tests/fixtures/lint/hot-potato";
/// `activations` declared in departments.toml and again in transfers.toml.
const DUPLICATE_ACROSS_FILES: &str = "tests/fixtures/lint/duplicate-id/fail";

fn human(fixture: &str) -> String {
    let (sources, report) = lint_fixture(fixture);
    render_human(&sources, &report.diagnostics, &report.omitted, false)
}

/// The JSON report with the crate version replaced, so a release does not churn it.
fn json(fixture: &str) -> Value {
    let (sources, report) = lint_fixture(fixture);
    let mut report: Value =
        serde_json::from_str(&render_json(&sources, &report.diagnostics, &report.omitted))
            .expect("JSON report");
    assert_eq!(report["tool_version"], env!("CARGO_PKG_VERSION"));
    report["tool_version"] = "[version]".into();
    report
}

/// The SARIF log with the crate version replaced.
fn sarif(fixture: &str) -> Value {
    let (sources, report) = lint_fixture(fixture);
    let mut log: Value = serde_json::from_str(&render_sarif(
        &sources,
        &report.diagnostics,
        &report.omitted,
    ))
    .expect("SARIF log");
    let driver = &mut log["runs"][0]["tool"]["driver"];
    for key in ["version", "semanticVersion"] {
        assert_eq!(driver[key], env!("CARGO_PKG_VERSION"), "driver.{key}");
        driver[key] = "[version]".into();
    }
    log
}

#[test]
fn hot_potato_renders_for_humans_without_colour() {
    let output = human(HOT_POTATO);
    assert!(!output.contains('\u{1b}'), "plain output has ANSI escapes");
    insta::assert_snapshot!("hot_potato_human", output);
}

#[test]
fn hot_potato_renders_as_json() {
    insta::assert_json_snapshot!("hot_potato_json", json(HOT_POTATO));
}

#[test]
fn hot_potato_renders_as_sarif() {
    insta::assert_json_snapshot!("hot_potato_sarif", sarif(HOT_POTATO));
}

#[test]
fn duplicate_across_files_renders_for_humans_with_the_first_declaration_in_its_own_file() {
    let output = human(DUPLICATE_ACROSS_FILES);
    assert!(
        output.contains("tests/fixtures/lint/duplicate-id/fail/departments.toml"),
        "the label in the other file is not shown:\n{output}"
    );
    insta::assert_snapshot!("duplicate_across_files_human", output);
}

#[test]
fn duplicate_across_files_renders_as_json() {
    let report = json(DUPLICATE_ACROSS_FILES);
    assert_eq!(
        report["findings"][0]["labels"][0]["file"],
        "tests/fixtures/lint/duplicate-id/fail/departments.toml"
    );
    insta::assert_json_snapshot!("duplicate_across_files_json", report);
}

#[test]
fn duplicate_across_files_renders_as_sarif() {
    let log = sarif(DUPLICATE_ACROSS_FILES);
    assert_eq!(
        log["runs"][0]["results"][0]["relatedLocations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"],
        "tests/fixtures/lint/duplicate-id/fail/departments.toml"
    );
    insta::assert_json_snapshot!("duplicate_across_files_sarif", log);
}
