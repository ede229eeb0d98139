//! Who plays hot potato: the department pairs with the most bounces and the
//! departments whose transfers caused the most loops, read off the bounce matrix and
//! the departments table (so they inherit those views' bounds and their tests), and
//! the calls that bounced between one pair (batch reference of the index's list).

use serde::Serialize;

use super::{
    BounceMatrix, Calls, DepartmentRow, FlaggedCall, Window, classified_hops, flagged_call,
    newest_first,
};
use crate::core::engine::Verdict;

/// A pair of departments passing calls back and forth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HotPair {
    /// The pair, in the views' row order.
    pub a: String,
    pub b: String,
    /// Moved returns A→B→A and B→A→B.
    pub bounces: u64,
    /// Returns the engine blocked.
    pub blocked_bounces: u64,
    /// Whether one side adds up several unknown departments (no call list then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// A department whose transfers had loop findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LoopDepartment {
    pub department: String,
    pub loops_caused: u64,
    pub transfers_out: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// The overview's "who".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Hotspots {
    pub window: Window,
    /// Most bounce attempts (taken + blocked) first, at most `limit`.
    pub pairs: Vec<HotPair>,
    /// Most loops caused first, at most `limit`.
    pub departments: Vec<LoopDepartment>,
}

/// The top `limit` pairs and loop-causing departments of a matrix and a departments
/// table of the same window (rows in the same order, as the views give them).
pub fn hotspots(matrix: &BounceMatrix, rows: &[DepartmentRow], limit: usize) -> Hotspots {
    let size = matrix.departments.len();
    let merged_row = matrix.other_unknown.as_ref().map(|_| size - 1);
    let mut pairs: Vec<HotPair> = Vec::new();
    for a in 0..size {
        for b in a + 1..size {
            let bounces = matrix.bounces[a][b] + matrix.bounces[b][a];
            let blocked_bounces = matrix.blocked_bounces[a][b] + matrix.blocked_bounces[b][a];
            if bounces + blocked_bounces > 0 {
                pairs.push(HotPair {
                    a: matrix.departments[a].clone(),
                    b: matrix.departments[b].clone(),
                    bounces,
                    blocked_bounces,
                    merged: merged_row == Some(b),
                });
            }
        }
    }
    pairs.sort_by(|x, y| {
        (y.bounces + y.blocked_bounces)
            .cmp(&(x.bounces + x.blocked_bounces))
            .then_with(|| y.bounces.cmp(&x.bounces))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });
    pairs.truncate(limit);
    let mut departments: Vec<LoopDepartment> = rows
        .iter()
        .filter(|row| row.loops_caused > 0)
        .map(|row| LoopDepartment {
            department: row.department.clone(),
            loops_caused: row.loops_caused,
            transfers_out: row.transfers_out,
            merged: row.merged,
        })
        .collect();
    departments.sort_by(|x, y| {
        y.loops_caused
            .cmp(&x.loops_caused)
            .then_with(|| x.department.cmp(&y.department))
    });
    departments.truncate(limit);
    Hotspots {
        window: matrix.window,
        pairs,
        departments,
    }
}

/// Calls with a bounce (taken or blocked) between `a` and `b`, either way, in the
/// window: newest bounce first, at most `limit`. `verdict` and `codes` are those of
/// the pair's bounces in the window.
pub fn pair_calls<'a>(
    calls: impl Calls<'a>,
    window: &Window,
    (a, b): (&str, &str),
    limit: usize,
) -> Vec<FlaggedCall> {
    let mut found: Vec<FlaggedCall> = calls
        .into_iter()
        .filter_map(|call| {
            let bounces: Vec<_> = classified_hops(call)
                .filter(|(hop, returning)| {
                    *returning
                        && window.contains(hop.occurred_at)
                        && ((hop.from == a && hop.to == b) || (hop.from == b && hop.to == a))
                })
                .map(|(hop, _)| hop)
                .collect();
            flagged_call(call, &bounces, Verdict::Allow)
        })
        .collect();
    newest_first(&mut found, limit);
    found
}
