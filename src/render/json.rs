//! The versioned JSON report. Its shape is documented in README.md ("JSON output");
//! bump [`JSON_FORMAT_VERSION`] on any incompatible change.

use serde::Serialize;

use super::{Location, count};
use crate::core::diagnostic::{Diagnostic, Severity, Span};
use crate::core::lint::OmittedFindings;
use crate::core::source::SourceFile;

pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    tool: &'static str,
    tool_version: &'static str,
    summary: Summary,
    files: Vec<&'a str>,
    findings: Vec<Finding<'a>>,
    /// Per file, the findings the per-file cap left out (absent when none were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    omitted: Vec<Omitted<'a>>,
}

/// Every finding, shown or omitted.
#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
    /// How many of them `findings` leaves out.
    omitted: usize,
}

#[derive(Serialize)]
struct Omitted<'a> {
    file: &'a str,
    findings: usize,
    errors: usize,
    warnings: usize,
    notes: usize,
}

#[derive(Serialize)]
struct Finding<'a> {
    code: &'static str,
    severity: Severity,
    message: &'a str,
    #[serde(flatten)]
    location: JsonLocation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    labels: Vec<JsonLabel<'a>>,
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonLocation<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    /// Byte offsets into the file.
    byte_start: usize,
    byte_end: usize,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    #[serde(flatten)]
    location: JsonLocation<'a>,
}

fn json_location(sources: &[SourceFile], span: Span) -> JsonLocation<'_> {
    let location = Location::of(sources, span);
    JsonLocation {
        file: location.path,
        line: location.start.line,
        column: location.start.column,
        end_line: location.end.line,
        end_column: location.end.column,
        byte_start: span.start,
        byte_end: span.end,
    }
}

pub fn render_json(
    sources: &[SourceFile],
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
) -> String {
    let count = |severity| count(diagnostics, omitted, severity);
    let report = Report {
        version: JSON_FORMAT_VERSION,
        tool: "loopguard",
        tool_version: env!("CARGO_PKG_VERSION"),
        summary: Summary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            notes: count(Severity::Note),
            omitted: omitted.iter().map(OmittedFindings::total).sum(),
        },
        files: sources.iter().map(|file| file.path.as_str()).collect(),
        findings: diagnostics
            .iter()
            .map(|diagnostic| Finding {
                code: diagnostic.code.as_str(),
                severity: diagnostic.severity,
                message: &diagnostic.message,
                location: json_location(sources, diagnostic.primary),
                label: diagnostic.primary_label.as_deref(),
                labels: diagnostic
                    .labels
                    .iter()
                    .map(|label| JsonLabel {
                        message: &label.message,
                        location: json_location(sources, label.span),
                    })
                    .collect(),
                notes: &diagnostic.notes,
                help: diagnostic.help.as_deref(),
            })
            .collect(),
        omitted: omitted
            .iter()
            .map(|file| Omitted {
                file: &sources[file.source.0].path,
                findings: file.total(),
                errors: file.errors,
                warnings: file.warnings,
                notes: file.notes,
            })
            .collect(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}
