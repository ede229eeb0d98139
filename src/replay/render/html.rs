//! The report as one self-contained HTML page (inline style, no scripts, no
//! external assets), for mailing to a manager: the same content as the text
//! report plus the bounce matrix. Every value from the history or the rules goes
//! through maud's escaping; the only computed attributes are numbers.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{ReplayView, percent};
use crate::core::replay::report::Matrix;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d5d9e0;padding-bottom:.25rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.3rem .6rem;border:1px solid #d5d9e0;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{border:1px solid #d5d9e0;border-radius:.4rem;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.muted{color:#5b6473}.bar{background:#3b6fd8;height:.8rem;display:inline-block}
.block{color:#a21c1c;font-weight:600}.warn{color:#8a5a00;font-weight:600}
.matrix td{text-align:center;min-width:2.5rem}.matrix th.row{text-align:right}
";

pub fn render_html(view: &ReplayView) -> String {
    let report = view.report;
    let summary = &report.summary;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "loopguard replay: " (summary.calls_with_loop) " looping calls" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Hot potatoes in the call history" }
                p.muted {
                    "Rules: " code { (view.rules) } ". Inputs: "
                    @for (index, input) in view.inputs.iter().enumerate() {
                        @if index > 0 { ", " }
                        code { (input.file) } " (" (input.format.as_str()) ", " (input.records) " records)"
                    }
                    @if let (Some(first), Some(last)) = (summary.first_event, summary.last_event) {
                        ". Transfers from " (first.to_string()) " to " (last.to_string()) "."
                    }
                }
                div.cards {
                    div.card { b { (summary.calls) } "calls" }
                    div.card { b { (summary.calls_transferred) } "transferred" }
                    div.card { b { (summary.transfers) } "transfers" }
                    div.card { b { (summary.calls_with_loop) } "calls looped" }
                    div.card { b.block { (summary.blocked) } "would block" }
                    div.card { b.warn { (summary.warned) } "would warn" }
                    div.card { b { (percent(summary.cold_share)) } "cold transfers" }
                    div.card { b { (percent(summary.missing_callback_share)) } "no callback number" }
                    div.card { b { (summary.skipped) } "records skipped" }
                }
                h2 { "Hot-potato pairs" }
                @if report.pairs.is_empty() { p { "No department bounced a call back." } } @else {
                    table {
                        tr { th { "Between" } th { "and" } th { "Bounces" } }
                        @for pair in &report.pairs {
                            tr { td { (pair.from) } td { (pair.to) } td.n { (pair.bounces) } }
                        }
                    }
                }
                h2 { "Bounce matrix" }
                p.muted { "Row: where the returning transfer came from; column: where it went back to. Each cell: bounces / transfers (would block)." }
                (matrix(&report.bounce_matrix))
                h2 { "Departments" }
                table {
                    tr { th { "Department" } th { "Name" } th { "In" } th { "Out" } th { "Loops caused" } th { "Cold" } th { "No callback number" } th { "Callbacks owed" } }
                    @for row in &report.departments {
                        tr {
                            td { (row.department) @if !row.known { " (not in the rules)" } }
                            td { (row.name) }
                            td.n { (row.transfers_in) } td.n { (row.transfers_out) } td.n { (row.loops_caused) }
                            td.n { (percent(row.cold_share)) } td.n { (percent(row.missing_callback_share)) } td.n { (row.callbacks_owed) }
                        }
                    }
                }
                h2 { "Transfers per call" }
                @let widest = report.hops_histogram.iter().map(|count| count.calls).max().unwrap_or(1).max(1);
                table {
                    tr { th { "Transfers" } th { "Calls" } th {} }
                    @for count in &report.hops_histogram {
                        tr {
                            td.n { (count.hops) } td.n { (count.calls) }
                            td { span.bar style=(format!("width:{}px", (count.calls * 300).div_ceil(widest))) {} }
                        }
                    }
                }
                h2 { "Findings" }
                table {
                    tr { th { "Code" } th { "Transfers" } }
                    @for (code, count) in &report.by_code { tr { td { code { (code) } } td.n { (count) } } }
                }
                h2 { "Flagged calls (sample)" }
                table {
                    tr { th { "Call" } th { "Verdict" } th { "Findings" } th { "Chain" } th { "Transfers" } th { "Ended" } }
                    @for call in &report.flagged {
                        tr {
                            td { code { (call.call_id) } }
                            td class=(call.verdict.as_str()) { (call.verdict.as_str()) }
                            td { (call.codes.join(", ")) }
                            td { (call.chain.join(" → ")) }
                            td.n { (call.transfers_taken) }
                            td { (call.ended.unwrap_or("")) }
                        }
                    }
                }
                @if let Some(compared) = &view.compared {
                    @let comparison = compared.comparison;
                    h2 { "What-if: the rules in " code { (compared.rules) } }
                    p {
                        (comparison.changed) " transfers would get another verdict. Blocked: "
                        (summary.blocked) " → " (compared.report.summary.blocked) "; warned: "
                        (summary.warned) " → " (compared.report.summary.warned) "; calls with a loop: "
                        (summary.calls_with_loop) " → " (compared.report.summary.calls_with_loop) "."
                    }
                    table {
                        tr { th { "Verdict before" } th { "after" } th { "Transfers" } }
                        @for change in &comparison.verdicts {
                            tr { td { (change.before.as_str()) } td { (change.after.as_str()) } td.n { (change.transfers) } }
                        }
                    }
                    table {
                        tr { th { "Finding" } th { "Added" } th { "Removed" } }
                        @for code in &comparison.by_code {
                            tr { td { code { (code.code) } } td.n { (code.added) } td.n { (code.removed) } }
                        }
                    }
                    table {
                        tr { th { "From" } th { "To" } th { "Changed" } }
                        @for pair in &comparison.by_pair {
                            tr { td { (pair.from) } td { (pair.to) } td.n { (pair.changed) } }
                        }
                    }
                    table {
                        tr { th { "Call" } th { "Transfer" } th { "When" } th { "Before" } th { "After" } }
                        @for example in &comparison.examples {
                            tr {
                                td { code { (example.call_id) } }
                                td { (example.from) " → " (example.to) }
                                td { (example.occurred_at.to_string()) }
                                td { (example.before.verdict.as_str()) " " (example.before.codes.join(", ")) }
                                td { (example.after.verdict.as_str()) " " (example.after.codes.join(", ")) }
                            }
                        }
                    }
                }
                p.muted { "Made by loopguard " (env!("CARGO_PKG_VERSION")) " replay. In a replay every recorded transfer happened; the verdicts are what loopguard would have answered." }
            }
        }
    };
    page.into_string()
}

/// The department × department table; cells shaded by bounces.
fn matrix(matrix: &Matrix) -> Markup {
    let most = matrix
        .bounces
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        table.matrix {
            tr {
                th {}
                @for name in &matrix.departments { th { (name) } }
            }
            @for (row, from) in matrix.departments.iter().enumerate() {
                tr {
                    th.row { (from) }
                    @for column in 0..matrix.departments.len() {
                        @let (bounces, transfers, blocked) = (matrix.bounces[row][column], matrix.transfers[row][column], matrix.would_block[row][column]);
                        @let alpha = if bounces == 0 { 0.0 } else { 0.15 + 0.7 * bounces as f64 / most as f64 };
                        td style=(format!("background:rgba(200,40,40,{alpha:.2})")) {
                            @if transfers > 0 {
                                (bounces) " / " (transfers)
                                @if blocked > 0 { " (" (blocked) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}
