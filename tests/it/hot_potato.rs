//! The classic hot potato: customer service and activations each transfer
//! `reconnect_line` calls to the other, and neither handles them. The linter must
//! point at the exact transfers and intents responsible.

use loopguard::core::codes::LintCode;
use loopguard::core::diagnostic::Span;
use loopguard::core::source::SourceFile;

use crate::support::lint_fixture;

const HOT_POTATO: &str = "tests/fixtures/lint/hot-potato";
const TRANSFERS: &str = "tests/fixtures/lint/hot-potato/transfers.toml";

/// `(path, line, column, text from that position to the end of the line)`.
fn position(sources: &[SourceFile], span: Span) -> (String, usize, usize, String) {
    let file = &sources[span.source.0];
    let at = file.line_column(span.start);
    let rest: String = file
        .line_text(at.line)
        .chars()
        .skip(at.column - 1)
        .collect();
    (file.path.clone(), at.line, at.column, rest)
}

#[test]
fn hot_potato_reports_exactly_a_ping_pong_pair_and_an_intent_without_owner() {
    let (_, report) = lint_fixture(HOT_POTATO);
    let codes: Vec<LintCode> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [LintCode::PingPongPair, LintCode::IntentWithoutOwner]
    );
}

#[test]
fn ping_pong_pair_is_reported_on_both_transfers() {
    let (sources, report) = lint_fixture(HOT_POTATO);
    let finding = report
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.code == LintCode::PingPongPair)
        .expect("a ping-pong-pair finding");
    // The customer_service → activations transfer starts at line 1, the one back at line 7.
    assert_eq!(
        position(&sources, finding.primary),
        (TRANSFERS.to_owned(), 1, 1, "[[transfer]]".to_owned())
    );
    assert_eq!(
        sources[finding.primary.source.0].line_text(2),
        "from = \"customer_service\""
    );
    assert_eq!(finding.labels.len(), 1, "{:#?}", finding.labels);
    assert_eq!(
        position(&sources, finding.labels[0].span),
        (TRANSFERS.to_owned(), 7, 1, "[[transfer]]".to_owned())
    );
    assert_eq!(
        sources[finding.primary.source.0].line_text(8),
        "from = \"activations\""
    );
    assert_eq!(
        finding.notes,
        ["both directions allow `reconnect_line`".to_owned()]
    );
}

#[test]
fn intent_without_owner_points_at_every_transfer_that_routes_the_intent() {
    let (sources, report) = lint_fixture(HOT_POTATO);
    let finding = report
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.code == LintCode::IntentWithoutOwner)
        .expect("an intent-without-owner finding");
    assert!(
        finding.message.contains("`reconnect_line`"),
        "{}",
        finding.message
    );
    let (path, line, column, rest) = position(&sources, finding.primary);
    assert_eq!((path.as_str(), line, column), (TRANSFERS, 4, 24));
    assert!(
        rest.starts_with("\"reconnect_line\""),
        "primary span at: {rest}"
    );
    let labels: Vec<_> = finding
        .labels
        .iter()
        .map(|label| position(&sources, label.span))
        .collect();
    assert_eq!(labels.len(), 1, "{labels:#?}");
    let (path, line, column, rest) = &labels[0];
    assert_eq!((path.as_str(), *line, *column), (TRANSFERS, 10, 12));
    assert!(rest.starts_with("\"reconnect_line\""), "label at: {rest}");
}

#[test]
fn handling_the_intent_and_dropping_the_way_back_fixes_the_hot_potato() {
    let departments = std::fs::read_to_string(
        crate::support::repo_root().join("tests/fixtures/lint/hot-potato/departments.toml"),
    )
    .expect("departments.toml");
    let fixed_departments = departments.replace(
        "handles = [\"new_line\", \"sim_swap\"]",
        "handles = [\"new_line\", \"reconnect_line\", \"sim_swap\"]",
    );
    assert_ne!(departments, fixed_departments, "the fixture changed shape");
    let transfers = "[[transfer]]\nfrom = \"customer_service\"\nto = \"activations\"\nintents = [\"new_line\", \"reconnect_line\", \"sim_swap\"]\n";
    let sources = [
        SourceFile::new("departments.toml", fixed_departments),
        SourceFile::new("transfers.toml", transfers),
    ];
    let report = loopguard::core::lint::lint(&sources);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
}
