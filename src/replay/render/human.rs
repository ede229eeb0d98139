//! The report as text for a person: totals, the hot-potato pairs, departments by
//! loops caused, hops per call, cold and missing-callback shares, findings, a
//! sample of flagged calls, and the what-if when there is one.

use std::fmt::Write as _;

use super::{ReplayView, percent};
use crate::core::replay::Report;

/// Rows shown per table.
const ROWS: usize = 10;

pub fn render_human(view: &ReplayView) -> String {
    let report = view.report;
    let summary = &report.summary;
    let mut out = String::new();
    let files: Vec<String> = view
        .inputs
        .iter()
        .map(|input| format!("{} ({})", input.file, input.format))
        .collect();
    let _ = writeln!(
        out,
        "Replayed {} under the rules in {}",
        files.join(", "),
        view.rules
    );
    if let (Some(first), Some(last)) = (summary.first_event, summary.last_event) {
        let _ = writeln!(out, "Transfers from {first} to {last}");
    }
    let _ = writeln!(
        out,
        "{} records: {} calls, {} transferred, {} transfers",
        summary.records, summary.calls, summary.calls_transferred, summary.transfers
    );
    let _ = writeln!(
        out,
        "Loops: {} calls looped ({} of calls); loopguard would have blocked {} transfers and warned about {}",
        summary.calls_with_loop,
        percent(share(summary.calls_with_loop, summary.calls)),
        summary.blocked,
        summary.warned
    );
    let _ = writeln!(
        out,
        "Cold transfers: {} ({}); without a callback number: {} ({}); callbacks owed: {}",
        summary.cold_transfers,
        percent(summary.cold_share),
        summary.missing_callback,
        percent(summary.missing_callback_share),
        summary.callbacks_owed
    );
    if summary.skipped > 0 || summary.late > 0 {
        let _ = writeln!(
            out,
            "Skipped records: {}; late records: {} (see the messages above)",
            summary.skipped, summary.late
        );
    }

    out.push_str("\nHot-potato pairs (bounces: returns to the department the call came from)\n");
    if report.pairs.is_empty() {
        out.push_str("  none\n");
    }
    for pair in report.pairs.iter().take(ROWS) {
        let _ = writeln!(out, "  {} ⇄ {}  {}", pair.from, pair.to, pair.bounces);
    }

    out.push_str("\nDepartments by loops caused\n");
    let mut departments: Vec<_> = report
        .departments
        .iter()
        .filter(|row| row.transfers_out + row.transfers_in > 0)
        .collect();
    departments.sort_by(|a, b| {
        b.loops_caused
            .cmp(&a.loops_caused)
            .then_with(|| a.department.cmp(&b.department))
    });
    if departments.is_empty() {
        out.push_str("  none\n");
    }
    for row in departments.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "  {}: {} loops, {} transfers out ({} cold, {} without callback number), {} in{}",
            row.department,
            row.loops_caused,
            row.transfers_out,
            percent(row.cold_share),
            percent(row.missing_callback_share),
            row.transfers_in,
            if row.known { "" } else { " (not in the rules)" }
        );
    }

    out.push_str("\nTransfers per call\n");
    let widest = report
        .hops_histogram
        .iter()
        .map(|count| count.calls)
        .max()
        .unwrap_or(1)
        .max(1);
    for count in &report.hops_histogram {
        let bar = "#".repeat(((count.calls * 40).div_ceil(widest)) as usize);
        let _ = writeln!(out, "  {:>3}  {:>8}  {bar}", count.hops, count.calls);
    }

    out.push_str("\nFindings (transfers)\n");
    if report.by_code.is_empty() {
        out.push_str("  none\n");
    }
    for (code, count) in &report.by_code {
        let _ = writeln!(out, "  {code}: {count}");
    }

    out.push_str("\nFlagged calls (sample)\n");
    if report.flagged.is_empty() {
        out.push_str("  none\n");
    }
    for call in &report.flagged {
        let _ = writeln!(
            out,
            "  {} [{}] {}: {} ({} transfers{})",
            call.call_id,
            call.verdict.as_str(),
            call.codes.join(", "),
            call.chain.join(" → "),
            call.transfers_taken,
            call.ended
                .map(|ended| format!(", {ended}"))
                .unwrap_or_default()
        );
    }

    if let Some(compared) = &view.compared {
        compare_section(&mut out, view.report, compared);
    }
    out
}

fn compare_section(out: &mut String, current: &Report, compared: &super::Compared) {
    let comparison = compared.comparison;
    let other = &compared.report.summary;
    let _ = writeln!(out, "\nWhat-if: the rules in {}", compared.rules);
    let _ = writeln!(
        out,
        "  {} transfers would get another verdict; blocked {} → {}, warned {} → {}, calls with a loop {} → {}",
        comparison.changed,
        current.summary.blocked,
        other.blocked,
        current.summary.warned,
        other.warned,
        current.summary.calls_with_loop,
        other.calls_with_loop
    );
    for change in &comparison.verdicts {
        let _ = writeln!(
            out,
            "  {} → {}: {}",
            change.before.as_str(),
            change.after.as_str(),
            change.transfers
        );
    }
    for code in &comparison.by_code {
        let _ = writeln!(out, "  {}: +{} −{}", code.code, code.added, code.removed);
    }
    for pair in comparison.by_pair.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "  {} → {}: {} changed",
            pair.from, pair.to, pair.changed
        );
    }
    if !comparison.examples.is_empty() {
        out.push_str("  examples:\n");
    }
    for example in &comparison.examples {
        let _ = writeln!(
            out,
            "    {} {} at {}: {} → {}: {} [{}] → {} [{}]",
            example.call_id,
            example.event_id,
            example.occurred_at,
            example.from,
            example.to,
            example.before.verdict.as_str(),
            example.before.codes.join(", "),
            example.after.verdict.as_str(),
            example.after.codes.join(", ")
        );
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
