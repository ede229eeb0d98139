//! CSV export of the dashboard's lists (`?format=csv`): flagged calls,
//! departments, agents and follow-ups, one page at a time like every list.
//!
//! Safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab
//! or a carriage return would be read as a formula (CSV injection, OWASP), so it
//! gets a leading `'`. Platform strings (call ids, departments, agent ids, promise
//! texts) can start with anything.

use crate::core::stats::{AgentRow, DepartmentRow, FlaggedCall, FollowUp};

/// Rows one CSV page may hold at most (and holds by default).
pub const MAX_CSV_ROWS: usize = 10_000;

/// `cell` made harmless for spreadsheets.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// A CSV document: a header and rows, every cell neutralised.
fn document(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail, and every record has the header's length.
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(row.iter().map(|cell| neutralise(cell)));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn time(at: jiff::Timestamp) -> String {
    at.to_string()
}

pub fn flagged(items: &[FlaggedCall]) -> String {
    document(
        &[
            "call_id",
            "flagged_at",
            "verdict",
            "codes",
            "chain",
            "transfers_taken",
            "ended",
        ],
        items.iter().map(|call| {
            vec![
                call.call_id.clone(),
                time(call.flagged_at),
                call.verdict.as_str().to_owned(),
                call.codes.join(" "),
                call.chain.join(" > "),
                call.transfers_taken.to_string(),
                call.ended.unwrap_or_default().to_owned(),
            ]
        }),
    )
}

pub fn departments(rows: &[DepartmentRow]) -> String {
    document(
        &[
            "department",
            "name",
            "known",
            "transfers_in",
            "transfers_out",
            "loops_caused",
            "cold_out",
            "cold_share",
            "missing_callback_out",
            "missing_callback_share",
            "callbacks_owed",
            "follow_ups_owed",
            "follow_ups_overdue",
            "follow_ups_closed",
            "kept_on_time",
        ],
        rows.iter().map(|row| {
            vec![
                row.department.clone(),
                row.name.clone(),
                row.known.to_string(),
                row.transfers_in.to_string(),
                row.transfers_out.to_string(),
                row.loops_caused.to_string(),
                row.cold_out.to_string(),
                format!("{:.4}", row.cold_share),
                row.missing_callback_out.to_string(),
                format!("{:.4}", row.missing_callback_share),
                row.callbacks_owed.to_string(),
                row.follow_ups_owed.to_string(),
                row.follow_ups_overdue.to_string(),
                row.follow_ups_closed.to_string(),
                row.kept_on_time.to_string(),
            ]
        }),
    )
}

pub fn agents(rows: &[AgentRow]) -> String {
    document(
        &[
            "agent_id",
            "department",
            "transfers_out",
            "loops_caused",
            "cold_out",
            "missing_callback_out",
        ],
        rows.iter().map(|row| {
            vec![
                row.agent_id.clone(),
                row.department.clone(),
                row.transfers_out.to_string(),
                row.loops_caused.to_string(),
                row.cold_out.to_string(),
                row.missing_callback_out.to_string(),
            ]
        }),
    )
}

pub fn follow_ups(items: &[FollowUp]) -> String {
    document(
        &[
            "kind",
            "call_id",
            "promise_id",
            "department",
            "text",
            "callback_number",
            "since",
            "due_at",
            "overdue",
            "overdue_seconds",
        ],
        items.iter().map(|item| {
            vec![
                item.kind.as_str().to_owned(),
                item.call_id.clone(),
                item.promise_id.clone().unwrap_or_default(),
                item.department.clone(),
                item.text.clone().unwrap_or_default(),
                item.callback_number.clone().unwrap_or_default(),
                time(item.since),
                item.due_at.map(time).unwrap_or_default(),
                item.overdue.to_string(),
                item.overdue_seconds
                    .map(|seconds| seconds.to_string())
                    .unwrap_or_default(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_neutralised() {
        for cell in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        for cell in ["call-1", "", "1-2", "a=b", "+"[1..].as_ref()] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    #[test]
    fn agent_rows_are_quoted_and_neutralised_as_csv() {
        let row = AgentRow {
            agent_id: "=HYPERLINK(\"http://x\")".to_owned(),
            department: "billing, east".to_owned(),
            transfers_out: 3,
            loops_caused: 1,
            cold_out: 0,
            missing_callback_out: 2,
            merged: false,
        };
        let text = agents(&[row]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&record[1], "billing, east");
        assert_eq!(&record[2], "3");
    }
}
