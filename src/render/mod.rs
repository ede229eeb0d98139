//! Renderers: the same list of findings as human (rustc-style), concise, JSON,
//! SARIF 2.1.0 or GitHub workflow annotations; rule-test reports; and the routing
//! graph as dot, Mermaid (`graph`) or SVG (`graph_layout`, `graph_svg`, shared by the
//! dashboard and the CLI). Pure functions from findings and sources to a `String`
//! or markup; the caller decides where it goes and whether to colour it.
//!
//! Every renderer also says how many findings of each file were left out by the
//! per-file cap (`crate::core::lint::OmittedFindings`), and its summary counts them.

mod github;
pub mod graph;
pub mod graph_layout;
pub mod graph_svg;
mod human;
mod json;
mod sarif;
pub mod test_report;
pub mod visible;

use crate::core::diagnostic::{Diagnostic, Severity, Span};
use crate::core::lint::OmittedFindings;
use crate::core::source::{LineColumn, SourceFile};

pub use github::render_github;
pub use human::render_human;
pub use json::{JSON_FORMAT_VERSION, render_json};
pub use sarif::render_sarif;

/// `file:line:col: severity[code] message`, one finding per line; then one
/// `file: note: … and N more findings in this file (…)` line per capped file.
pub fn render_concise(
    sources: &[SourceFile],
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
) -> String {
    let mut output = String::new();
    for diagnostic in diagnostics {
        let location = Location::of(sources, diagnostic.primary);
        output.push_str(&format!(
            "{}:{}:{}: {}[{}] {}\n",
            location.path,
            location.start.line,
            location.start.column,
            diagnostic.severity,
            diagnostic.code,
            diagnostic.message
        ));
    }
    for file in omitted {
        output.push_str(&format!(
            "{}: note: {}\n",
            sources[file.source.0].path,
            omitted_sentence(file)
        ));
    }
    output
}

/// A span resolved to a path and 1-based line/column positions.
pub(crate) struct Location<'a> {
    pub path: &'a str,
    pub start: LineColumn,
    pub end: LineColumn,
}

impl<'a> Location<'a> {
    pub fn of(sources: &'a [SourceFile], span: Span) -> Self {
        let file = &sources[span.source.0];
        Self {
            path: &file.path,
            start: file.line_column(span.start),
            end: file.line_column(span.end),
        }
    }
}

/// Findings of a severity, shown and omitted.
pub(crate) fn count(
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
    severity: Severity,
) -> usize {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == severity)
        .count()
        + omitted
            .iter()
            .map(|file| file.count(severity))
            .sum::<usize>()
}

fn plural(number: usize, word: &str) -> String {
    format!("{number} {word}{}", if number == 1 { "" } else { "s" })
}

/// "2 errors, 1 warning" style counts, omitted findings included.
pub(crate) fn summary_counts(diagnostics: &[Diagnostic], omitted: &[OmittedFindings]) -> String {
    let mut parts = vec![
        plural(count(diagnostics, omitted, Severity::Error), "error"),
        plural(count(diagnostics, omitted, Severity::Warning), "warning"),
    ];
    let notes = count(diagnostics, omitted, Severity::Note);
    if notes > 0 {
        parts.push(plural(notes, "note"));
    }
    parts.join(", ")
}

/// "… and 79900 more findings in this file (79900 errors); raise
/// --max-findings-per-file to see them".
pub(crate) fn omitted_sentence(file: &OmittedFindings) -> String {
    let mut parts = Vec::new();
    for (number, word) in [
        (file.errors, "error"),
        (file.warnings, "warning"),
        (file.notes, "note"),
    ] {
        if number > 0 {
            parts.push(plural(number, word));
        }
    }
    format!(
        "… and {} more finding{} in this file ({}); raise --max-findings-per-file to see them",
        file.total(),
        if file.total() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}
