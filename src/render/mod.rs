//! Renderers: the same list of findings as human (rustc-style), concise, JSON,
//! SARIF 2.1.0 or GitHub workflow annotations; and the routing graph as SVG
//! (`graph_layout`, `graph_svg`), shared by the dashboard and the CLI. Pure
//! functions to a `String` or markup; the caller decides where it goes.

mod github;
pub mod graph_layout;
pub mod graph_svg;
mod human;
mod json;
mod sarif;
pub mod visible;

use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::source::{LineColumn, SourceFile};

pub use github::render_github;
pub use human::render_human;
pub use json::{JSON_FORMAT_VERSION, render_json};
pub use sarif::render_sarif;

/// `file:line:col: severity[code] message`, one finding per line.
pub fn render_concise(sources: &[SourceFile], diagnostics: &[Diagnostic]) -> String {
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

/// "2 errors, 1 warning" style counts.
pub(crate) fn summary_counts(diagnostics: &[Diagnostic]) -> String {
    use crate::core::diagnostic::Severity;
    let count = |severity| {
        diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == severity)
            .count()
    };
    let plural = |number: usize, word: &str| {
        format!("{number} {word}{}", if number == 1 { "" } else { "s" })
    };
    let mut parts = vec![
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
    ];
    let notes = count(Severity::Note);
    if notes > 0 {
        parts.push(plural(notes, "note"));
    }
    parts.join(", ")
}
