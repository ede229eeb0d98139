//! `loopguard test` results as human text (failures in the style of lint findings:
//! file:line:col and the test file's line underlined), versioned JSON, or JUnit XML
//! for CI systems that show each test. Pure; the CLI decides where output goes.

use std::fmt::Write as _;

use annotate_snippets::{Group, Level, Renderer};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::Serialize;

use super::Location;
use super::human::excerpt;
use crate::core::rule_tests::{Coverage, TestKind, TestResult};
use crate::core::rules::Rules;
use crate::core::source::SourceFile;

/// Bump on any incompatible change of the JSON shape (README, "Rule tests").
pub const TEST_JSON_FORMAT_VERSION: u32 = 1;

/// Everything one `loopguard test` run has to say.
pub struct TestReport<'a> {
    /// The test files, indexed by the tests' `source`.
    pub sources: &'a [SourceFile],
    pub results: &'a [TestResult<'a>],
    pub rules: &'a Rules,
    /// With `--coverage` or `--coverage-min`.
    pub coverage: Option<&'a Coverage>,
    /// `--coverage-min`, a percentage both transfers and intents must reach.
    pub coverage_min: Option<f64>,
}

impl TestReport<'_> {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|result| result.failure.is_some())
            .count()
    }

    pub fn passed(&self) -> usize {
        self.results.len() - self.failed()
    }

    /// False when a coverage minimum was set and transfers or intents fall below it.
    pub fn coverage_met(&self) -> bool {
        match (self.coverage, self.coverage_min) {
            (Some(coverage), Some(minimum)) => {
                coverage.transfer_percent() >= minimum && coverage.intent_percent() >= minimum
            }
            _ => true,
        }
    }

    fn transfer_name(&self, index: usize) -> String {
        let transfer = &self.rules.transfers[index];
        format!(
            "{} → {}",
            self.rules.departments[transfer.from].id, self.rules.departments[transfer.to].id
        )
    }
}

fn kind(result: &TestResult<'_>) -> &'static str {
    match result.test.kind {
        TestKind::Route(_) => "route",
        TestKind::Chain(_) => "chain",
    }
}

/// `test NAME ... ok` per test, each failure rendered like a lint finding, the
/// coverage, and a closing `N passed, N failed` line.
pub fn render_test_human(report: &TestReport<'_>, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for result in report.results {
        let _ = writeln!(
            out,
            "test {} ... {}",
            result.test.name,
            if result.failure.is_some() {
                "FAILED"
            } else {
                "ok"
            }
        );
    }
    let failures: Vec<&TestResult> = report
        .results
        .iter()
        .filter(|result| result.failure.is_some())
        .collect();
    if !failures.is_empty() {
        out.push_str("\nfailures:\n\n");
    }
    for result in failures {
        let Some(failure) = &result.failure else {
            continue;
        };
        let file = &report.sources[failure.at.source.0];
        let title = format!("test `{}` failed: {}", result.test.name, failure.message);
        let mut group =
            Group::with_title(Level::ERROR.primary_title(title.as_str()).id("test-failed"))
                .element(excerpt(file, failure.at, failure.label.as_str()));
        for note in &failure.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    if let Some(coverage) = report.coverage {
        out.push_str(&coverage_text(report, coverage));
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed",
        report.passed(),
        report.failed()
    );
    out
}

fn coverage_text(report: &TestReport<'_>, coverage: &Coverage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "coverage: {} of {} transfers ({:.1}%), {} of {} intents ({:.1}%)",
        coverage.transfers - coverage.missed_transfers.len(),
        coverage.transfers,
        coverage.transfer_percent(),
        coverage.intents - coverage.missed_intents.len(),
        coverage.intents,
        coverage.intent_percent()
    );
    if !coverage.missed_transfers.is_empty() {
        let names: Vec<String> = coverage
            .missed_transfers
            .iter()
            .map(|&index| report.transfer_name(index))
            .collect();
        let _ = writeln!(out, "  transfers no test exercised: {}", names.join(", "));
    }
    if !coverage.missed_intents.is_empty() {
        let _ = writeln!(
            out,
            "  intents no test exercised: {}",
            coverage.missed_intents.join(", ")
        );
    }
    if let Some(minimum) = report.coverage_min
        && !report.coverage_met()
    {
        let _ = writeln!(
            out,
            "error: coverage is below --coverage-min {minimum}: transfers {:.1}%, intents {:.1}%",
            coverage.transfer_percent(),
            coverage.intent_percent()
        );
    }
    out.push('\n');
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    tool: &'static str,
    tool_version: &'static str,
    summary: JsonSummary,
    tests: Vec<JsonTest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<JsonCoverage>,
}

#[derive(Serialize)]
struct JsonSummary {
    passed: usize,
    failed: usize,
}

#[derive(Serialize)]
struct JsonTest<'a> {
    name: &'a str,
    kind: &'static str,
    file: &'a str,
    line: usize,
    column: usize,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<JsonFailure<'a>>,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    label: &'a str,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonCoverage {
    transfers: JsonCovered,
    intents: JsonCovered,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum: Option<f64>,
    met: bool,
}

#[derive(Serialize)]
struct JsonCovered {
    total: usize,
    exercised: usize,
    percent: f64,
    missed: Vec<String>,
}

/// One JSON object: `version`, `summary`, `tests` (with `failure` when failed) and,
/// with coverage, `coverage`.
pub fn render_test_json(report: &TestReport<'_>) -> String {
    let tests = report
        .results
        .iter()
        .map(|result| {
            let at = Location::of(report.sources, result.test.name_span);
            JsonTest {
                name: &result.test.name,
                kind: kind(result),
                file: at.path,
                line: at.start.line,
                column: at.start.column,
                outcome: if result.failure.is_some() {
                    "failed"
                } else {
                    "passed"
                },
                failure: result.failure.as_ref().map(|failure| {
                    let location = Location::of(report.sources, failure.at);
                    JsonFailure {
                        message: &failure.message,
                        file: location.path,
                        line: location.start.line,
                        column: location.start.column,
                        end_line: location.end.line,
                        end_column: location.end.column,
                        label: &failure.label,
                        notes: &failure.notes,
                    }
                }),
            }
        })
        .collect();
    let coverage = report.coverage.map(|coverage| JsonCoverage {
        transfers: JsonCovered {
            total: coverage.transfers,
            exercised: coverage.transfers - coverage.missed_transfers.len(),
            percent: round(coverage.transfer_percent()),
            missed: coverage
                .missed_transfers
                .iter()
                .map(|&index| report.transfer_name(index))
                .collect(),
        },
        intents: JsonCovered {
            total: coverage.intents,
            exercised: coverage.intents - coverage.missed_intents.len(),
            percent: round(coverage.intent_percent()),
            missed: coverage.missed_intents.clone(),
        },
        minimum: report.coverage_min,
        met: report.coverage_met(),
    });
    let json = JsonReport {
        version: TEST_JSON_FORMAT_VERSION,
        tool: "loopguard",
        tool_version: env!("CARGO_PKG_VERSION"),
        summary: JsonSummary {
            passed: report.passed(),
            failed: report.failed(),
        },
        tests,
        coverage,
    };
    // Plain structs of strings and numbers always serialize.
    let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
    text.push('\n');
    text
}

fn round(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

/// JUnit XML: one `<testsuite>` per test file, one `<testcase>` per test (with
/// `file` and `line`), a `<failure>` holding the message, location and notes; with
/// `--coverage-min`, a `coverage` suite whose test fails below the minimum.
pub fn render_test_junit(report: &TestReport<'_>) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut files: Vec<usize> = report
        .results
        .iter()
        .map(|result| result.test.source.0)
        .collect();
    files.sort_unstable();
    files.dedup();
    let coverage_case = report.coverage_min.and(report.coverage).map(|coverage| {
        (
            coverage,
            report.coverage_min.unwrap_or_default(),
            report.coverage_met(),
        )
    });
    let total = report.results.len() + usize::from(coverage_case.is_some());
    let failed = report.failed() + usize::from(coverage_case.is_some_and(|(_, _, met)| !met));
    // Writing into a Vec cannot fail; the results are ignored for that reason.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "loopguard test"));
    suites.push_attribute(("tests", total.to_string().as_str()));
    suites.push_attribute(("failures", failed.to_string().as_str()));
    suites.push_attribute(("errors", "0"));
    let _ = writer.write_event(Event::Start(suites));
    for file in files {
        let path = report.sources[file].path.as_str();
        let cases: Vec<&TestResult> = report
            .results
            .iter()
            .filter(|result| result.test.source.0 == file)
            .collect();
        let failures = cases
            .iter()
            .filter(|result| result.failure.is_some())
            .count();
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", path));
        suite.push_attribute(("tests", cases.len().to_string().as_str()));
        suite.push_attribute(("failures", failures.to_string().as_str()));
        suite.push_attribute(("errors", "0"));
        let _ = writer.write_event(Event::Start(suite));
        for result in cases {
            let at = Location::of(report.sources, result.test.name_span);
            let mut case = BytesStart::new("testcase");
            case.push_attribute(("name", result.test.name.as_str()));
            case.push_attribute(("classname", path));
            case.push_attribute(("file", path));
            case.push_attribute(("line", at.start.line.to_string().as_str()));
            match &result.failure {
                None => {
                    let _ = writer.write_event(Event::Empty(case));
                }
                Some(failure) => {
                    let _ = writer.write_event(Event::Start(case));
                    let location = Location::of(report.sources, failure.at);
                    let mut body = format!(
                        "{}:{}:{}: {}",
                        location.path, location.start.line, location.start.column, failure.label
                    );
                    for note in &failure.notes {
                        body.push('\n');
                        body.push_str(note);
                    }
                    failure_element(&mut writer, &failure.message, &body);
                    let _ = writer.write_event(Event::End(BytesEnd::new("testcase")));
                }
            }
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuite")));
    }
    if let Some((coverage, minimum, met)) = coverage_case {
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", "coverage"));
        suite.push_attribute(("tests", "1"));
        suite.push_attribute(("failures", if met { "0" } else { "1" }));
        suite.push_attribute(("errors", "0"));
        let _ = writer.write_event(Event::Start(suite));
        let name = format!("transfers and intents exercised ≥ {minimum}%");
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("name", name.as_str()));
        case.push_attribute(("classname", "coverage"));
        if met {
            let _ = writer.write_event(Event::Empty(case));
        } else {
            let _ = writer.write_event(Event::Start(case));
            let message = format!(
                "coverage below {minimum}%: transfers {:.1}%, intents {:.1}%",
                coverage.transfer_percent(),
                coverage.intent_percent()
            );
            failure_element(&mut writer, &message, &coverage_text(report, coverage));
            let _ = writer.write_event(Event::End(BytesEnd::new("testcase")));
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuite")));
    }
    let _ = writer.write_event(Event::End(BytesEnd::new("testsuites")));
    let mut text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    text.push('\n');
    text
}

fn failure_element(writer: &mut Writer<Vec<u8>>, message: &str, body: &str) {
    let mut element = BytesStart::new("failure");
    element.push_attribute(("message", message));
    element.push_attribute(("type", "test-failed"));
    let _ = writer.write_event(Event::Start(element));
    let _ = writer.write_event(Event::Text(BytesText::new(body)));
    let _ = writer.write_event(Event::End(BytesEnd::new("failure")));
}
