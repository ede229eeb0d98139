//! Dashboard statistics over call records: the overview, the bounce matrix, the
//! departments table, the callbacks owed, the flagged calls and the traffic on the
//! routing graph.
//!
//! The functions here compute each view from the call records in one pass: they are
//! the reference model, simple enough to trust. The dashboard reads the incremental
//! [`StatsIndex`] instead (kept up to date as events commit, see `index.rs`), whose
//! answers the property tests compare with these.
//!
//! Pure: every function takes the calls, the rules and a [`Window`] (and `now` where an
//! age is computed) and returns plain serde structs.
//!
//! Definitions used throughout:
//! - a *transfer in the window* is a hop whose event time is in `[from, to)`, whatever
//!   its verdict; *moved* transfers are the ones the call actually took (not blocked);
//! - a *bounce* is a moved hop B→A of a call that earlier took a moved hop A→B; it is
//!   counted in the cell B→A, when the returning hop is in the window. A *blocked
//!   bounce* is the same return attempted and blocked (the engine caught it);
//! - a *loop* is a hop with a ping-pong, circular-handoff or max-hops-exceeded finding.

pub mod agents;
pub mod follow_ups;
pub mod hotspots;
mod index;
mod names;
mod timeline;
pub mod views;

pub use agents::{AgentPage, AgentRow, agents_table};
pub use follow_ups::{
    FollowUp, FollowUpCounts, FollowUpCursor, FollowUpKind, FollowUpPage, follow_up_counts,
    follow_ups,
};
pub use hotspots::{HotPair, Hotspots, LoopDepartment, hotspots, pair_calls};
pub use index::{
    CallbackCursor, FlaggedCursor, HopSums, MAX_AGENTS_KEPT, MAX_UNKNOWN_DEPARTMENTS_KEPT,
    PairCounts, StatsIndex,
};
pub use names::{NameId, Names, UNTRACKED};
pub use views::MAX_UNKNOWN_DEPARTMENTS_SHOWN;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::engine::{CallRecord, CallbackStatus, Hop, Verdict};
use super::rules::{Rules, RuntimeCode, TransferMode};

/// The time range `[from, to)` a view covers, cut into intervals for time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Window {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Length of one time-series interval, in seconds (at least 1).
    pub interval_seconds: i64,
}

impl Window {
    /// The `length` before `now`, cut into intervals of `interval`.
    pub fn ending_at(now: Timestamp, length: SignedDuration, interval: SignedDuration) -> Self {
        Self {
            from: now.checked_sub(length).unwrap_or(Timestamp::MIN),
            to: now,
            interval_seconds: interval.as_secs().max(1),
        }
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }
}

/// The headline numbers of the overview.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub window: Window,
    /// Transfers in the window, every verdict.
    pub transfers: u64,
    /// Calls with at least one transfer in the window.
    pub calls: u64,
    /// Calls with a loop finding on a transfer in the window.
    pub calls_with_loop: u64,
    pub blocked: u64,
    pub warned: u64,
    /// Transfers the platform reported as cold (blind).
    pub cold_transfers: u64,
    /// `cold_transfers / transfers`, 0 when there are none.
    pub cold_share: f64,
    /// Transfers without a callback number.
    pub missing_callback: u64,
    /// `missing_callback / transfers`, 0 when there are none.
    pub missing_callback_share: f64,
    /// Callbacks owed now, whatever the window.
    pub callbacks_owed: u64,
    /// Loops (transfers with a loop finding) per interval, oldest first.
    pub loops_series: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    pub loops: u64,
}

/// Department × department counts. `transfers[i][j]` is from `departments[i]` to
/// `departments[j]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BounceMatrix {
    pub window: Window,
    /// The rules' departments in declaration order, then unknown ones seen, sorted.
    pub departments: Vec<String>,
    /// Moved transfers.
    pub transfers: Vec<Vec<u64>>,
    /// Blocked transfers.
    pub blocked: Vec<Vec<u64>>,
    /// Moved returns B→A after a moved A→B, in cell B→A.
    pub bounces: Vec<Vec<u64>>,
    /// Blocked returns B→A after a moved A→B, in cell B→A.
    pub blocked_bounces: Vec<Vec<u64>>,
    /// Present when the last department stands for several unknown ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_unknown: Option<OtherUnknown>,
}

/// The unknown departments merged into the last row (and column, and graph node) of a
/// view, so that a view stays small whatever names the platform sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OtherUnknown {
    /// Unknown departments kept apart by the statistics but not listed one by one.
    pub departments: u64,
    /// Whether traffic of more unknown departments than the statistics keep apart is in
    /// it too (their number is not known).
    pub untracked: bool,
}

impl OtherUnknown {
    /// The name the views show for the merged row.
    pub fn label(&self) -> String {
        let plural = if self.departments == 1 { "" } else { "s" };
        match (self.departments, self.untracked) {
            (0, _) => "other unknown departments".to_owned(),
            (count, false) => format!("other unknown ({count} department{plural})"),
            (count, true) => format!("other unknown ({count}+ departments)"),
        }
    }
}

/// One page of flagged calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlaggedPage {
    pub window: Window,
    /// Flagged calls in the window, on every page.
    pub total: u64,
    pub items: Vec<FlaggedCall>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One page of callbacks owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallbackPage {
    /// Callbacks owed now, on every page.
    pub total: u64,
    pub items: Vec<CallbackOwed>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One page of the departments table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DepartmentPage {
    pub window: Window,
    /// Rows in the table, on every page.
    pub total: u64,
    pub items: Vec<DepartmentRow>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Present when one row stands for several unknown departments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_unknown: Option<OtherUnknown>,
}

/// One row of the departments table. "Out" counts transfers the department made.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DepartmentRow {
    pub department: String,
    /// The rules' display name; the id for departments the rules do not know.
    pub name: String,
    pub known: bool,
    /// Moved transfers into the department.
    pub transfers_in: u64,
    /// Transfers the department made (every verdict).
    pub transfers_out: u64,
    /// Transfers the department made that had a loop finding.
    pub loops_caused: u64,
    pub cold_out: u64,
    pub cold_share: f64,
    pub missing_callback_out: u64,
    pub missing_callback_share: f64,
    /// Callbacks owed for calls whose last moved transfer this department made.
    pub callbacks_owed: u64,
    /// Follow-ups (callbacks and promises) the department owes now.
    pub follow_ups_owed: u64,
    /// Of those, past their due time now.
    pub follow_ups_overdue: u64,
    /// Follow-ups of the department closed in the window (done, kept or broken).
    pub follow_ups_closed: u64,
    /// Of those, kept at or before their due time.
    pub kept_on_time: u64,
    /// Whether this row adds up several unknown departments (see `other_unknown`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// A customer owed a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallbackOwed {
    pub call_id: String,
    pub callback_number: String,
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: Timestamp,
    /// Seconds from the end of the call to `now`.
    pub age_seconds: i64,
    /// The department that made the call's last moved transfer.
    pub last_from: String,
    /// Where that transfer went.
    pub last_to: String,
    /// The newest mark, when someone tried and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failed: Option<FailedMark>,
    /// When the callback is due (`callback_within` after the end); absent without
    /// that policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// Past its due time now.
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FailedMark {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A call with a warned or blocked transfer in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlaggedCall {
    pub call_id: String,
    /// Event time of the newest flagged transfer.
    #[schema(value_type = String, format = DateTime)]
    pub flagged_at: Timestamp,
    /// The worst verdict in the window.
    pub verdict: Verdict,
    /// Finding codes of the flagged transfers, sorted, without duplicates.
    pub codes: Vec<String>,
    /// Departments the call went through (moved hops); only the first department when
    /// every transfer was blocked.
    pub chain: Vec<String>,
    pub transfers_taken: u32,
    /// `resolved`, `abandoned`, `disconnected`, or absent while the call is live.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ended: Option<&'static str>,
}

/// Traffic on the routing graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GraphTraffic {
    pub window: Window,
    pub nodes: Vec<GraphNode>,
    /// Every transfer the rules allow, then every pair seen that they do not.
    pub edges: Vec<GraphEdge>,
    /// Present when the last node stands for several unknown departments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_unknown: Option<OtherUnknown>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    pub department: String,
    pub entry: bool,
    /// False for departments seen in transfers but missing from the rules.
    pub known: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// Whether the rules have this transfer.
    pub allowed: bool,
    /// `warm` or `cold` as the rules allow it; absent for pairs the rules do not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mode: Option<&'static str>,
    pub transfers: u64,
    pub blocked: u64,
    pub bounces: u64,
}

/// The calls a statistic reads: any cheap-to-clone iterable of call records (a slice,
/// or references collected under the store's lock), since some statistics pass twice.
pub trait Calls<'a>: IntoIterator<Item = &'a CallRecord> + Clone {}

impl<'a, T: IntoIterator<Item = &'a CallRecord> + Clone> Calls<'a> for T {}

pub fn overview<'a>(calls: impl Calls<'a>, window: &Window) -> Overview {
    let buckets = bucket_count(window);
    let mut series = vec![0u64; buckets];
    let mut overview = Overview {
        window: *window,
        transfers: 0,
        calls: 0,
        calls_with_loop: 0,
        blocked: 0,
        warned: 0,
        cold_transfers: 0,
        cold_share: 0.0,
        missing_callback: 0,
        missing_callback_share: 0.0,
        callbacks_owed: calls
            .clone()
            .into_iter()
            .filter(|call| call.callback_owed())
            .count() as u64,
        loops_series: Vec::new(),
    };
    for call in calls.clone() {
        let mut counted = false;
        let mut looped = false;
        for hop in call
            .hops
            .iter()
            .filter(|hop| window.contains(hop.occurred_at))
        {
            counted = true;
            overview.transfers += 1;
            match hop.verdict {
                Verdict::Block => overview.blocked += 1,
                Verdict::Warn => overview.warned += 1,
                Verdict::Allow => {}
            }
            if is_cold(hop) {
                overview.cold_transfers += 1;
            }
            if lacks_callback_number(hop) {
                overview.missing_callback += 1;
            }
            if is_loop(hop) {
                looped = true;
                let bucket =
                    hop.occurred_at.duration_since(window.from).as_secs() / window.interval_seconds;
                if let Some(count) = usize::try_from(bucket)
                    .ok()
                    .and_then(|bucket| series.get_mut(bucket))
                {
                    *count += 1;
                }
            }
        }
        overview.calls += u64::from(counted);
        overview.calls_with_loop += u64::from(looped);
    }
    overview.cold_share = share(overview.cold_transfers, overview.transfers);
    overview.missing_callback_share = share(overview.missing_callback, overview.transfers);
    overview.loops_series = series
        .into_iter()
        .enumerate()
        .map(|(index, loops)| SeriesPoint {
            start: bucket_start(window, index),
            loops,
        })
        .collect();
    overview
}

pub fn bounce_matrix<'a>(calls: impl Calls<'a>, rules: &Rules, window: &Window) -> BounceMatrix {
    let departments = department_names(calls.clone(), rules, window);
    let index = DepartmentIndex(&departments);
    let size = departments.len();
    let square = || vec![vec![0u64; size]; size];
    let (mut transfers, mut blocked, mut bounces, mut blocked_bounces) =
        (square(), square(), square(), square());
    for call in calls.clone() {
        for (hop, returning) in classified_hops(call) {
            if !window.contains(hop.occurred_at) {
                continue;
            }
            let (Some(from), Some(to)) = (index.get(&hop.from), index.get(&hop.to)) else {
                continue;
            };
            match (hop.moved, returning) {
                (true, false) => transfers[from][to] += 1,
                (true, true) => {
                    transfers[from][to] += 1;
                    bounces[from][to] += 1;
                }
                (false, false) => blocked[from][to] += 1,
                (false, true) => {
                    blocked[from][to] += 1;
                    blocked_bounces[from][to] += 1;
                }
            }
        }
    }
    BounceMatrix {
        window: *window,
        departments,
        transfers,
        blocked,
        bounces,
        blocked_bounces,
        other_unknown: None,
    }
}

/// The departments table; follow-ups owed and overdue are counted at `now`.
pub fn departments_table<'a>(
    calls: impl Calls<'a>,
    rules: &Rules,
    window: &Window,
    now: Timestamp,
) -> Vec<DepartmentRow> {
    let names = department_names(calls.clone(), rules, window);
    let follow_ups = follow_up_counts(calls.clone(), rules.policy.callback_within, window, now);
    let mut rows: Vec<DepartmentRow> = names
        .iter()
        .map(|department| {
            let known = rules.department(department);
            DepartmentRow {
                department: department.clone(),
                name: known
                    .map(|index| rules.departments[index].name.clone())
                    .unwrap_or_else(|| department.clone()),
                known: known.is_some(),
                transfers_in: 0,
                transfers_out: 0,
                loops_caused: 0,
                cold_out: 0,
                cold_share: 0.0,
                missing_callback_out: 0,
                missing_callback_share: 0.0,
                callbacks_owed: 0,
                follow_ups_owed: 0,
                follow_ups_overdue: 0,
                follow_ups_closed: 0,
                kept_on_time: 0,
                merged: false,
            }
        })
        .collect();
    for row in &mut rows {
        let counts = follow_ups.get(&row.department).copied().unwrap_or_default();
        row.follow_ups_owed = counts.owed;
        row.follow_ups_overdue = counts.overdue;
        row.follow_ups_closed = counts.closed;
        row.kept_on_time = counts.kept_on_time;
    }
    let index = DepartmentIndex(&names);
    for call in calls.clone() {
        for hop in call
            .hops
            .iter()
            .filter(|hop| window.contains(hop.occurred_at))
        {
            if let Some(to) = index.get(&hop.to)
                && hop.moved
            {
                rows[to].transfers_in += 1;
            }
            if let Some(from) = index.get(&hop.from) {
                let row = &mut rows[from];
                row.transfers_out += 1;
                row.loops_caused += u64::from(is_loop(hop));
                row.cold_out += u64::from(is_cold(hop));
                row.missing_callback_out += u64::from(lacks_callback_number(hop));
            }
        }
        if call.callback_owed()
            && let Some(last) = call.hops.iter().rev().find(|hop| hop.moved)
            && let Some(from) = index.get(&last.from)
        {
            rows[from].callbacks_owed += 1;
        }
    }
    for row in &mut rows {
        row.cold_share = share(row.cold_out, row.transfers_out);
        row.missing_callback_share = share(row.missing_callback_out, row.transfers_out);
    }
    rows
}

/// Every callback owed, oldest first (ties by call id), due `within` after the end.
pub fn callbacks_owed<'a>(
    calls: impl Calls<'a>,
    within: Option<SignedDuration>,
    now: Timestamp,
) -> Vec<CallbackOwed> {
    let mut owed: Vec<CallbackOwed> = calls
        .into_iter()
        .filter(|call| call.callback_owed())
        .filter_map(|call| {
            let ended = call.ended.as_ref()?;
            let last = call.hops.iter().rev().find(|hop| hop.moved)?;
            Some(CallbackOwed {
                call_id: call.call_id.as_str().to_owned(),
                callback_number: call.callback_number()?.to_owned(),
                ended_at: ended.occurred_at,
                age_seconds: now.duration_since(ended.occurred_at).as_secs().max(0),
                last_from: last.from.clone(),
                last_to: last.to.clone(),
                last_failed: call
                    .callback
                    .as_ref()
                    .filter(|mark| mark.status == CallbackStatus::Failed)
                    .map(|mark| FailedMark {
                        at: mark.occurred_at,
                        note: mark.note.clone(),
                    }),
                due_at: follow_ups::callback_due(ended.occurred_at, within),
                overdue: follow_ups::overdue_by(
                    follow_ups::callback_due(ended.occurred_at, within),
                    now,
                )
                .is_some(),
            })
        })
        .collect();
    owed.sort_by(|a, b| {
        a.ended_at
            .cmp(&b.ended_at)
            .then_with(|| a.call_id.cmp(&b.call_id))
    });
    owed
}

/// Calls with a warned or blocked transfer in the window, newest flag first, at most `limit`.
pub fn flagged_calls<'a>(calls: impl Calls<'a>, window: &Window, limit: usize) -> Vec<FlaggedCall> {
    let mut flagged: Vec<FlaggedCall> = calls
        .into_iter()
        .filter_map(|call| {
            let hops: Vec<&Hop> = call
                .hops
                .iter()
                .filter(|hop| window.contains(hop.occurred_at) && hop.verdict != Verdict::Allow)
                .collect();
            flagged_call(call, &hops, Verdict::Warn)
        })
        .collect();
    newest_first(&mut flagged, limit);
    flagged
}

/// `call` flagged by `hops` (the transfers that flag it): dated by the newest, with
/// their worst verdict (`no_verdict` if they had none) and their finding codes;
/// `None` without any hop.
pub(super) fn flagged_call(
    call: &CallRecord,
    hops: &[&Hop],
    no_verdict: Verdict,
) -> Option<FlaggedCall> {
    let newest = hops.iter().map(|hop| hop.occurred_at).max()?;
    let mut codes: Vec<String> = hops
        .iter()
        .flat_map(|hop| hop.findings.iter().map(|finding| finding.code.as_str()))
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    Some(FlaggedCall {
        call_id: call.call_id.as_str().to_owned(),
        flagged_at: newest,
        verdict: hops
            .iter()
            .map(|hop| hop.verdict)
            .max()
            .unwrap_or(no_verdict),
        codes,
        chain: chain_or_start(call),
        transfers_taken: call.transfers_taken(),
        ended: call.ended.as_ref().map(|end| end.outcome.as_str()),
    })
}

/// Newest flag first (ties by call id), at most `limit`.
pub(super) fn newest_first(flagged: &mut Vec<FlaggedCall>, limit: usize) {
    flagged.sort_by(|a, b| {
        b.flagged_at
            .cmp(&a.flagged_at)
            .then_with(|| a.call_id.cmp(&b.call_id))
    });
    flagged.truncate(limit);
}

pub fn graph_traffic<'a>(calls: impl Calls<'a>, rules: &Rules, window: &Window) -> GraphTraffic {
    let names = department_names(calls.clone(), rules, window);
    let nodes = names
        .iter()
        .map(|department| {
            let index = rules.department(department);
            GraphNode {
                department: department.clone(),
                entry: index.is_some_and(|index| rules.departments[index].entry),
                known: index.is_some(),
            }
        })
        .collect();
    let index = DepartmentIndex(&names);
    // (transfers, blocked, bounces) per ordered pair of positions in `names`.
    let size = names.len();
    let mut traffic = vec![(0u64, 0u64, 0u64); size * size];
    let mut seen = vec![false; size * size];
    for call in calls.clone() {
        for (hop, returning) in classified_hops(call) {
            if !window.contains(hop.occurred_at) {
                continue;
            }
            let (Some(from), Some(to)) = (index.get(&hop.from), index.get(&hop.to)) else {
                continue;
            };
            let cell = from * size + to;
            seen[cell] = true;
            let counts = &mut traffic[cell];
            if hop.moved {
                counts.0 += 1;
                counts.2 += u64::from(returning);
            } else {
                counts.1 += 1;
            }
        }
    }
    let mut edges: Vec<GraphEdge> = rules
        .transfers
        .iter()
        .map(|transfer| {
            let from = rules.departments[transfer.from].id.as_str();
            let to = rules.departments[transfer.to].id.as_str();
            // The rules' departments come first in `names`, in declaration order.
            let cell = transfer.from * size + transfer.to;
            seen[cell] = false;
            let (transfers, blocked, bounces) = traffic[cell];
            GraphEdge {
                from: from.to_owned(),
                to: to.to_owned(),
                allowed: true,
                mode: Some(transfer.mode.as_str()),
                transfers,
                blocked,
                bounces,
            }
        })
        .collect();
    for (cell, _) in seen.iter().enumerate().filter(|(_, seen)| **seen) {
        let (transfers, blocked, bounces) = traffic[cell];
        edges.push(GraphEdge {
            from: names[cell / size].clone(),
            to: names[cell % size].clone(),
            allowed: false,
            mode: None,
            transfers,
            blocked,
            bounces,
        });
    }
    GraphTraffic {
        window: *window,
        nodes,
        edges,
        other_unknown: None,
    }
}

/// The departments a call went through; a call that never moved is still where its
/// first transfer was attempted from.
pub(super) fn chain_or_start(call: &CallRecord) -> Vec<String> {
    let chain: Vec<String> = call
        .chain()
        .into_iter()
        .map(|step| step.department)
        .collect();
    match call.hops.first() {
        Some(first) if chain.is_empty() => vec![first.from.clone()],
        _ => chain,
    }
}

/// Each hop of a call with whether it returns B→A after a moved A→B earlier in the call.
pub(super) fn classified_hops(call: &CallRecord) -> impl Iterator<Item = (&Hop, bool)> {
    // Chains are short: a vector beats a hash set here (this runs for every call).
    let mut taken: Vec<(&str, &str)> = Vec::new();
    call.hops.iter().map(move |hop| {
        let returning = taken.contains(&(hop.to.as_str(), hop.from.as_str()));
        if hop.moved {
            taken.push((hop.from.as_str(), hop.to.as_str()));
        }
        (hop, returning)
    })
}

/// The rules' departments in declaration order, then departments seen in the window's
/// transfers that the rules do not know, sorted.
fn department_names<'a>(calls: impl Calls<'a>, rules: &Rules, window: &Window) -> Vec<String> {
    let mut names: Vec<String> = rules
        .departments
        .iter()
        .map(|department| department.id.as_str().to_owned())
        .collect();
    let mut unknown: Vec<&str> = calls
        .into_iter()
        .flat_map(|call| call.hops.iter())
        .filter(|hop| window.contains(hop.occurred_at))
        .flat_map(|hop| [hop.from.as_str(), hop.to.as_str()])
        .filter(|name| !names.iter().any(|known| known == name))
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    names.extend(unknown.into_iter().map(str::to_owned));
    names
}

/// Department name → position. A linear scan: a contact center has tens of
/// departments, and comparing short strings beats hashing them on every hop.
struct DepartmentIndex<'a>(&'a [String]);

impl DepartmentIndex<'_> {
    fn get(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|known| known == name)
    }
}

pub(super) fn is_loop(hop: &Hop) -> bool {
    hop.findings.iter().any(|finding| {
        matches!(
            finding.code,
            RuntimeCode::PingPong | RuntimeCode::CircularHandoff | RuntimeCode::MaxHopsExceeded
        )
    })
}

pub(super) fn is_cold(hop: &Hop) -> bool {
    hop.mode == Some(TransferMode::Cold)
}

pub(super) fn lacks_callback_number(hop: &Hop) -> bool {
    hop.callback_number.as_deref().is_none_or(str::is_empty)
}

pub(super) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub(super) fn bucket_count(window: &Window) -> usize {
    let length = window.to.duration_since(window.from).as_secs().max(0);
    let count = (length + window.interval_seconds - 1) / window.interval_seconds;
    // A window of thousands of intervals would be a caller's mistake; cap the series.
    usize::try_from(count).unwrap_or(0).min(10_000)
}

pub(super) fn bucket_start(window: &Window, index: usize) -> Timestamp {
    let offset = SignedDuration::from_secs(window.interval_seconds * index as i64);
    window.from.checked_add(offset).unwrap_or(window.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::{
        CallId, CallOutcome, CallbackRequest, EndRequest, Engine, EventId, TransferRequest,
    };
    use crate::core::lint::lint;
    use crate::core::source::SourceFile;

    const RULES: &str = r#"
[policy]
max_hops = 5
bounce_window = "30m"
require_warm_transfer = true
require_callback_number = true
mode = "enforce"

[policy.actions]
ping-pong = "block"
cold-transfer = "warn"
missing-callback-number = "warn"

[[department]]
id = "front"
name = "Front Desk"
entry = true
handles = ["general"]

[[department]]
id = "sales"
name = "Sales"
handles = ["buy"]

[[department]]
id = "billing"
name = "Billing"
handles = ["pay"]

[[transfer]]
from = "front"
to = "sales"

[[transfer]]
from = "sales"
to = "front"

[[transfer]]
from = "front"
to = "billing"
"#;

    fn rules() -> Rules {
        let report = lint(&[SourceFile::new("rules.toml", RULES)]);
        // The lint findings (a ping-pong pair, on purpose) do not matter here.
        assert_eq!(
            report.rules.departments.len(),
            3,
            "{:?}",
            report.diagnostics
        );
        assert_eq!(report.rules.transfers.len(), 3, "{:?}", report.diagnostics);
        report.rules
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    struct Call<'a> {
        id: &'a str,
        /// (minute, from, to, cold, callback number)
        hops: Vec<(i64, &'a str, &'a str, bool, Option<&'a str>)>,
        end: Option<(i64, CallOutcome)>,
    }

    fn record(engine: &mut Engine, rules: &Rules, call: &Call) {
        for (index, (minute, from, to, cold, number)) in call.hops.iter().enumerate() {
            let request = TransferRequest {
                event_id: EventId::parse(&format!("{}-{index}", call.id)).unwrap(),
                call_id: CallId::parse(call.id).unwrap(),
                from: (*from).to_owned(),
                to: (*to).to_owned(),
                mode: Some(if *cold {
                    TransferMode::Cold
                } else {
                    TransferMode::Warm
                }),
                intent: None,
                callback_number: number.map(str::to_owned),
                agent_id: None,
                occurred_at: Some(at(*minute)),
            };
            engine.transfer(rules, request, at(*minute)).unwrap();
        }
        if let Some((minute, outcome)) = call.end {
            let request = EndRequest {
                event_id: EventId::parse(&format!("{}-end", call.id)).unwrap(),
                call_id: CallId::parse(call.id).unwrap(),
                outcome,
                occurred_at: Some(at(minute)),
            };
            engine.end_call(request, at(minute)).unwrap();
        }
    }

    const NUMBER: Option<&str> = Some("+14155550123");

    /// Four calls:
    /// - `bounce`: front→sales, sales→front (a moved bounce: ping-pong would block, but
    ///   the return is 40 minutes later, outside the bounce window), then front→sales
    ///   again within the window (blocked ping-pong);
    /// - `cold`: front→billing cold without a number, resolved;
    /// - `dropped`: front→sales with a number, disconnected (a callback is owed);
    /// - `old`: front→sales long before the window.
    fn engine_calls(rules: &Rules) -> Vec<CallRecord> {
        let mut engine = Engine::new();
        let calls = [
            Call {
                id: "bounce",
                hops: vec![
                    (0, "front", "sales", false, NUMBER),
                    (40, "sales", "front", false, NUMBER),
                    (45, "front", "sales", false, NUMBER),
                ],
                end: None,
            },
            Call {
                id: "cold",
                hops: vec![(10, "front", "billing", true, None)],
                end: Some((12, CallOutcome::Resolved)),
            },
            Call {
                id: "dropped",
                hops: vec![(20, "front", "sales", false, NUMBER)],
                end: Some((25, CallOutcome::Disconnected)),
            },
            Call {
                id: "old",
                hops: vec![(-600, "front", "sales", false, NUMBER)],
                end: Some((-590, CallOutcome::Resolved)),
            },
        ];
        for call in &calls {
            record(&mut engine, rules, call);
        }
        let mut records: Vec<CallRecord> = engine.calls().cloned().collect();
        records.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        records
    }

    fn window() -> Window {
        Window {
            from: at(0),
            to: at(60),
            interval_seconds: 15 * 60,
        }
    }

    #[test]
    fn overview_counts_transfers_loops_verdicts_and_shares_in_the_window() {
        let rules = rules();
        let overview = overview(&engine_calls(&rules), &window());
        assert_eq!(overview.transfers, 5);
        assert_eq!(overview.calls, 3);
        assert_eq!(overview.calls_with_loop, 1);
        assert_eq!(overview.blocked, 1, "the second front→sales of `bounce`");
        assert_eq!(overview.warned, 1, "the cold transfer without a number");
        assert_eq!(overview.cold_transfers, 1);
        assert_eq!(overview.cold_share, 0.2);
        assert_eq!(overview.missing_callback, 1);
        assert_eq!(overview.missing_callback_share, 0.2);
        assert_eq!(overview.callbacks_owed, 1);
        let series: Vec<(Timestamp, u64)> = overview
            .loops_series
            .iter()
            .map(|point| (point.start, point.loops))
            .collect();
        assert_eq!(series, [(at(0), 0), (at(15), 0), (at(30), 0), (at(45), 1)]);
    }

    #[test]
    fn bounce_matrix_counts_moved_returns_and_blocked_returns_in_the_returning_cell() {
        let rules = rules();
        let matrix = bounce_matrix(&engine_calls(&rules), &rules, &window());
        assert_eq!(matrix.departments, ["front", "sales", "billing"]);
        // front→sales: `bounce` at 0, `dropped`; the third hop of `bounce` was blocked.
        assert_eq!(matrix.transfers, [[0, 2, 1], [1, 0, 0], [0, 0, 0]]);
        assert_eq!(matrix.blocked, [[0, 1, 0], [0, 0, 0], [0, 0, 0]]);
        assert_eq!(matrix.bounces, [[0, 0, 0], [1, 0, 0], [0, 0, 0]]);
        assert_eq!(matrix.blocked_bounces, [[0, 1, 0], [0, 0, 0], [0, 0, 0]]);
    }

    #[test]
    fn a_return_without_an_earlier_moved_transfer_is_not_a_bounce() {
        let rules = rules();
        let mut engine = Engine::new();
        record(
            &mut engine,
            &rules,
            &Call {
                id: "one-way",
                hops: vec![(0, "sales", "front", false, NUMBER)],
                end: None,
            },
        );
        let calls: Vec<CallRecord> = engine.calls().cloned().collect();
        let matrix = bounce_matrix(&calls, &rules, &window());
        assert_eq!(matrix.bounces, [[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
        assert_eq!(matrix.transfers[1][0], 1);
    }

    #[test]
    fn departments_table_counts_each_department_in_and_out() {
        let rules = rules();
        let rows = departments_table(&engine_calls(&rules), &rules, &window(), at(60));
        let front = &rows[0];
        assert_eq!(front.department, "front");
        assert_eq!(front.name, "Front Desk");
        assert_eq!(front.transfers_out, 4);
        assert_eq!(front.transfers_in, 1);
        assert_eq!(front.loops_caused, 1);
        assert_eq!(front.cold_out, 1);
        assert_eq!(front.cold_share, 0.25);
        assert_eq!(front.missing_callback_share, 0.25);
        assert_eq!(front.callbacks_owed, 1);
        let sales = &rows[1];
        assert_eq!(
            (sales.transfers_in, sales.transfers_out, sales.loops_caused),
            (2, 1, 0)
        );
        assert_eq!(rows[2].transfers_in, 1);
    }

    #[test]
    fn callbacks_owed_lists_dropped_calls_with_age_until_marked_done() {
        let rules = rules();
        let mut engine = Engine::new();
        for call in [
            Call {
                id: "dropped",
                hops: vec![(20, "front", "sales", false, NUMBER)],
                end: Some((25, CallOutcome::Disconnected)),
            },
            Call {
                id: "no-number",
                hops: vec![(20, "front", "sales", false, None)],
                end: Some((25, CallOutcome::Disconnected)),
            },
        ] {
            record(&mut engine, &rules, &call);
        }
        let mark = |engine: &mut Engine, id: &str, status: CallbackStatus| {
            let request = CallbackRequest {
                event_id: EventId::parse(id).unwrap(),
                call_id: CallId::parse("dropped").unwrap(),
                status,
                note: Some("voicemail".to_owned()),
                occurred_at: Some(at(30)),
            };
            engine.mark_callback(request, at(30)).unwrap();
        };
        let now = at(35);
        let calls = |engine: &Engine| engine.calls().cloned().collect::<Vec<_>>();
        let owed = callbacks_owed(&calls(&engine), None, now);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].call_id, "dropped");
        assert_eq!(owed[0].callback_number, "+14155550123");
        assert_eq!(owed[0].age_seconds, 600);
        assert_eq!(
            (owed[0].last_from.as_str(), owed[0].last_to.as_str()),
            ("front", "sales")
        );
        assert_eq!(owed[0].last_failed, None);

        mark(&mut engine, "m1", CallbackStatus::Failed);
        let owed = callbacks_owed(&calls(&engine), None, now);
        assert_eq!(
            owed[0].last_failed,
            Some(FailedMark {
                at: at(30),
                note: Some("voicemail".to_owned())
            })
        );
        mark(&mut engine, "m2", CallbackStatus::Done);
        assert_eq!(callbacks_owed(&calls(&engine), None, now), []);
    }

    #[test]
    fn flagged_calls_are_newest_first_with_worst_verdict_and_codes() {
        let rules = rules();
        let flagged = flagged_calls(&engine_calls(&rules), &window(), 10);
        let summary: Vec<(&str, Verdict, Vec<String>)> = flagged
            .iter()
            .map(|call| (call.call_id.as_str(), call.verdict, call.codes.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("bounce", Verdict::Block, vec!["ping-pong".to_owned()]),
                (
                    "cold",
                    Verdict::Warn,
                    vec![
                        "cold-transfer".to_owned(),
                        "missing-callback-number".to_owned()
                    ]
                ),
            ]
        );
        assert_eq!(flagged[0].chain, ["front", "sales", "front"]);
        assert_eq!(flagged[1].ended, Some("resolved"));
        assert_eq!(flagged_calls(&engine_calls(&rules), &window(), 1).len(), 1);
    }

    #[test]
    fn graph_traffic_puts_counts_on_allowed_edges_and_adds_unallowed_pairs() {
        let rules = rules();
        let mut calls = engine_calls(&rules);
        let mut engine = Engine::new();
        record(
            &mut engine,
            &rules,
            &Call {
                id: "stray",
                hops: vec![(5, "billing", "porting", false, NUMBER)],
                end: None,
            },
        );
        calls.extend(engine.calls().cloned());
        let graph = graph_traffic(&calls, &rules, &window());
        let nodes: Vec<(&str, bool, bool)> = graph
            .nodes
            .iter()
            .map(|node| (node.department.as_str(), node.entry, node.known))
            .collect();
        assert_eq!(
            nodes,
            [
                ("front", true, true),
                ("sales", false, true),
                ("billing", false, true),
                ("porting", false, false)
            ]
        );
        let edges: Vec<(&str, &str, bool, u64, u64, u64)> = graph
            .edges
            .iter()
            .map(|edge| {
                (
                    edge.from.as_str(),
                    edge.to.as_str(),
                    edge.allowed,
                    edge.transfers,
                    edge.blocked,
                    edge.bounces,
                )
            })
            .collect();
        assert_eq!(
            edges,
            [
                ("front", "sales", true, 2, 1, 0),
                ("sales", "front", true, 1, 0, 1),
                ("front", "billing", true, 1, 0, 0),
                ("billing", "porting", false, 1, 0, 0),
            ]
        );
    }
}
