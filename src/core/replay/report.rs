//! The replay report: what loopguard would have answered over a history, built
//! from the calls as the replay closes them.
//!
//! The numbers are the dashboard's (`core::stats`): closed calls are folded in
//! batches through `stats::overview`, `stats::bounce_matrix`,
//! `stats::departments_table` and `stats::flagged_calls`, and the batch results
//! are added up, so memory holds one batch, not the history. In a replay every
//! transfer moved the call (history is fact), so "blocked" and "warned" count
//! the transfers loopguard would have blocked or warned about.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::core::engine::{CallRecord, Verdict};
use crate::core::rules::Rules;
use crate::core::stats::{self, DepartmentRow, FlaggedCall, Window};

/// Calls folded into the statistics at a time.
const BATCH: usize = 1024;
/// Flagged calls kept as a sample.
pub const FLAGGED_SAMPLE: usize = 20;

/// The headline numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Calls in the history, transferred or not.
    pub calls: u64,
    /// Calls with at least one transfer.
    pub calls_transferred: u64,
    pub transfers: u64,
    /// Calls with a ping-pong, circular-handoff or max-hops-exceeded finding.
    pub calls_with_loop: u64,
    /// Transfers loopguard would have blocked.
    pub blocked: u64,
    /// Transfers loopguard would have warned about.
    pub warned: u64,
    pub cold_transfers: u64,
    pub cold_share: f64,
    /// Transfers without a callback number.
    pub missing_callback: u64,
    pub missing_callback_share: f64,
    /// Calls disconnected after a transfer with a number to call back.
    pub callbacks_owed: u64,
    /// Records read.
    pub records: u64,
    /// Records skipped: unreadable, invalid, or refused by the engine.
    pub skipped: u64,
    /// Records that came later than the reorder window allows.
    pub late: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event: Option<Timestamp>,
}

/// A pair of departments that bounced calls between them (either direction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub bounces: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopCount {
    /// Transfers one call took.
    pub hops: u32,
    pub calls: u64,
}

/// Department × department: `transfers[i][j]` from `departments[i]` to
/// `departments[j]`; `bounces` in the cell of the returning transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub departments: Vec<String>,
    pub transfers: Vec<Vec<u64>>,
    pub bounces: Vec<Vec<u64>>,
    pub would_block: Vec<Vec<u64>>,
}

/// Everything the renderers show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub summary: Summary,
    /// Finding code → transfers with that finding.
    pub by_code: BTreeMap<String, u64>,
    /// Most bounces first.
    pub pairs: Vec<Pair>,
    /// The rules' departments in declaration order, then unknown ones, sorted.
    pub departments: Vec<DepartmentRow>,
    pub hops_histogram: Vec<HopCount>,
    /// The worst flagged calls: blocked before warned, then most transfers.
    pub flagged: Vec<FlaggedCall>,
    pub bounce_matrix: Matrix,
}

/// Accumulates closed calls into a [`Report`].
pub struct ReportBuilder<'r> {
    rules: &'r Rules,
    batch: Vec<CallRecord>,
    summary: Summary,
    by_code: BTreeMap<String, u64>,
    departments: Vec<DepartmentRow>,
    department_index: HashMap<String, usize>,
    /// (from, to) → (transfers, bounces, would block)
    cells: HashMap<(String, String), (u64, u64, u64)>,
    hops: BTreeMap<u32, u64>,
    flagged: Vec<FlaggedCall>,
}

impl<'r> ReportBuilder<'r> {
    pub fn new(rules: &'r Rules) -> Self {
        Self {
            rules,
            batch: Vec::with_capacity(BATCH),
            summary: Summary::default(),
            by_code: BTreeMap::new(),
            departments: Vec::new(),
            department_index: HashMap::new(),
            cells: HashMap::new(),
            hops: BTreeMap::new(),
            flagged: Vec::new(),
        }
    }

    /// A call that was never transferred.
    pub fn add_untransferred(&mut self) {
        self.summary.calls += 1;
        *self.hops.entry(0).or_default() += 1;
    }

    /// A call the engine kept (it had transfers).
    pub fn add_call(&mut self, call: CallRecord) {
        self.batch.push(call);
        if self.batch.len() >= BATCH {
            self.fold();
        }
    }

    /// Counts read, skipped and late records (kept by the replayer).
    pub fn set_record_counts(&mut self, records: u64, skipped: u64, late: u64) {
        self.summary.records = records;
        self.summary.skipped = skipped;
        self.summary.late = late;
    }

    pub fn finish(mut self) -> Report {
        self.fold();
        let summary = &mut self.summary;
        summary.cold_share = share(summary.cold_transfers, summary.transfers);
        summary.missing_callback_share = share(summary.missing_callback, summary.transfers);
        for row in &mut self.departments {
            row.cold_share = share(row.cold_out, row.transfers_out);
            row.missing_callback_share = share(row.missing_callback_out, row.transfers_out);
        }
        // Departments the rules know keep their declaration order; the others
        // follow, sorted, as in the dashboard.
        let known = self.rules.departments.len();
        let mut departments = self.departments;
        departments.sort_by(|a, b| {
            let rank =
                |row: &DepartmentRow| self.rules.department(&row.department).unwrap_or(known);
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.department.cmp(&b.department))
        });
        let names: Vec<String> = departments
            .iter()
            .map(|row| row.department.clone())
            .collect();
        let position: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.as_str(), index))
            .collect();
        let size = names.len();
        let mut matrix = Matrix {
            departments: names.clone(),
            transfers: vec![vec![0; size]; size],
            bounces: vec![vec![0; size]; size],
            would_block: vec![vec![0; size]; size],
        };
        let mut pairs: HashMap<(usize, usize), u64> = HashMap::new();
        for ((from, to), (transfers, bounces, blocked)) in &self.cells {
            let (Some(&from), Some(&to)) = (position.get(from.as_str()), position.get(to.as_str()))
            else {
                continue;
            };
            matrix.transfers[from][to] += transfers;
            matrix.bounces[from][to] += bounces;
            matrix.would_block[from][to] += blocked;
            if *bounces > 0 {
                *pairs.entry((from.min(to), from.max(to))).or_default() += bounces;
            }
        }
        let mut pairs: Vec<Pair> = pairs
            .into_iter()
            .map(|((a, b), bounces)| Pair {
                from: names[a].clone(),
                to: names[b].clone(),
                bounces,
            })
            .collect();
        pairs.sort_by(|a, b| {
            b.bounces
                .cmp(&a.bounces)
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.to.cmp(&b.to))
        });
        Report {
            summary: self.summary,
            by_code: self.by_code,
            pairs,
            departments,
            hops_histogram: self
                .hops
                .into_iter()
                .map(|(hops, calls)| HopCount { hops, calls })
                .collect(),
            flagged: self.flagged,
            bounce_matrix: matrix,
        }
    }

    /// Folds the batch into the totals through the dashboard's statistics.
    fn fold(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // The batch's allocation is kept for the next one: growing and freeing a
        // large vector per batch costs more than the statistics.
        let mut batch = std::mem::take(&mut self.batch);
        self.fold_batch(&batch);
        batch.clear();
        self.batch = batch;
    }

    fn fold_batch(&mut self, batch: &[CallRecord]) {
        let times = batch
            .iter()
            .flat_map(|call| call.hops.iter().map(|hop| hop.occurred_at));
        let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
            return;
        };
        let to = last
            .checked_add(SignedDuration::from_secs(1))
            .unwrap_or(Timestamp::MAX);
        // One interval: the replay has no use for the time series.
        let window = Window {
            from: first,
            to,
            interval_seconds: to.duration_since(first).as_secs().max(1),
        };
        let summary = &mut self.summary;
        summary.first_event = Some(summary.first_event.map_or(first, |known| known.min(first)));
        summary.last_event = Some(summary.last_event.map_or(last, |known| known.max(last)));
        let overview = stats::overview(batch, &window);
        summary.calls += batch.len() as u64;
        summary.calls_transferred += overview.calls;
        summary.transfers += overview.transfers;
        summary.calls_with_loop += overview.calls_with_loop;
        summary.blocked += overview.blocked;
        summary.warned += overview.warned;
        summary.cold_transfers += overview.cold_transfers;
        summary.missing_callback += overview.missing_callback;
        summary.callbacks_owed += overview.callbacks_owed;
        for call in batch {
            *self.hops.entry(call.transfers_taken()).or_default() += 1;
            for hop in &call.hops {
                for finding in &hop.findings {
                    *self
                        .by_code
                        .entry(finding.code.as_str().to_owned())
                        .or_default() += 1;
                }
                if hop.verdict == Verdict::Block {
                    self.cells
                        .entry((hop.from.clone(), hop.to.clone()))
                        .or_default()
                        .2 += 1;
                }
            }
        }
        let matrix = stats::bounce_matrix(batch, self.rules, &window);
        for (from, row) in matrix.departments.iter().enumerate() {
            for (to, name) in matrix.departments.iter().enumerate() {
                let (transfers, bounces) = (matrix.transfers[from][to], matrix.bounces[from][to]);
                if transfers + bounces > 0 {
                    let cell = self.cells.entry((row.clone(), name.clone())).or_default();
                    cell.0 += transfers;
                    cell.1 += bounces;
                }
            }
        }
        // Follow-ups are judged at the end of the replayed history, not today.
        for row in stats::departments_table(batch, self.rules, &window, window.to) {
            match self.department_index.get(&row.department) {
                Some(&index) => {
                    let total = &mut self.departments[index];
                    total.transfers_in += row.transfers_in;
                    total.transfers_out += row.transfers_out;
                    total.loops_caused += row.loops_caused;
                    total.cold_out += row.cold_out;
                    total.missing_callback_out += row.missing_callback_out;
                    total.callbacks_owed += row.callbacks_owed;
                }
                None => {
                    self.department_index
                        .insert(row.department.clone(), self.departments.len());
                    self.departments.push(row);
                }
            }
        }
        self.flagged
            .extend(stats::flagged_calls(batch, &window, batch.len()));
        self.flagged.sort_by(|a, b| {
            b.verdict
                .cmp(&a.verdict)
                .then_with(|| b.transfers_taken.cmp(&a.transfers_taken))
                .then_with(|| a.flagged_at.cmp(&b.flagged_at))
                .then_with(|| a.call_id.cmp(&b.call_id))
        });
        self.flagged.truncate(FLAGGED_SAMPLE);
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
