//! Renderers of the replay report: human text, versioned JSON and one
//! self-contained HTML page. Pure: data in, text out; the shell prints.

mod html;
mod human;
mod json;

pub use html::render_html;
pub use human::render_human;
pub use json::{REPLAY_JSON_VERSION, render_json};

use serde::Serialize;

use crate::core::replay::{Comparison, InputFormat, Report};

/// One input as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub file: String,
    pub format: InputFormat,
    pub records: u64,
    pub skipped: u64,
}

/// The other rule set of a what-if run.
pub struct Compared<'a> {
    pub rules: &'a str,
    pub report: &'a Report,
    pub comparison: &'a Comparison,
}

/// Everything a renderer needs.
pub struct ReplayView<'a> {
    pub rules: &'a str,
    pub inputs: &'a [InputSummary],
    pub report: &'a Report,
    pub compared: Option<Compared<'a>>,
}

/// `12.5%`, for shares between 0 and 1.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}
