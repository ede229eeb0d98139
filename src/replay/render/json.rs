//! The versioned JSON report. Its shape is documented in README.md ("Replaying
//! history"); bump [`REPLAY_JSON_VERSION`] on any incompatible change.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{InputSummary, ReplayView};
use crate::core::replay::report::Summary;
use crate::core::replay::{Comparison, Report};

pub const REPLAY_JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    tool: &'static str,
    tool_version: &'static str,
    command: &'static str,
    rules: &'a str,
    inputs: &'a [InputSummary],
    #[serde(flatten)]
    report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<CompareSection<'a>>,
}

#[derive(Serialize)]
struct CompareSection<'a> {
    rules: &'a str,
    /// The other rules' headline numbers.
    summary: &'a Summary,
    /// The other rules' finding counts.
    by_code_totals: &'a BTreeMap<String, u64>,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

pub fn render_json(view: &ReplayView) -> String {
    let document = Document {
        version: REPLAY_JSON_VERSION,
        tool: "loopguard",
        tool_version: env!("CARGO_PKG_VERSION"),
        command: "replay",
        rules: view.rules,
        inputs: view.inputs,
        report: view.report,
        compare: view.compared.as_ref().map(|compared| CompareSection {
            rules: compared.rules,
            summary: &compared.report.summary,
            by_code_totals: &compared.report.by_code,
            comparison: compared.comparison,
        }),
    };
    // Serializing our own types to JSON cannot fail (no non-string map keys).
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}
