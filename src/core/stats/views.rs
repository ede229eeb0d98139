//! The bounce matrix, the departments table and the routing-graph traffic from the
//! [`StatsIndex`], with a bounded number of rows: the rules' departments, then at
//! most `shown_unknown` departments the rules do not know (the busiest in the window,
//! listed by name), then one "other unknown" entry for the rest.
//!
//! With no more unknown departments than `shown_unknown` the results equal the batch
//! functions of `super` (the reference model) exactly.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::agents::{AgentRow, OTHER_AGENTS, sort_agents};
use super::hotspots::{Hotspots, hotspots as hotspots_of};
use super::index::{HopSums, PairCounts, StatsIndex};
use super::names::{NameId, UNTRACKED};
use super::{
    BounceMatrix, DepartmentRow, GraphEdge, GraphNode, GraphTraffic, OtherUnknown, Window, share,
};
use crate::core::rules::Rules;

/// Unknown departments a view lists one by one; the rest share one row.
pub const MAX_UNKNOWN_DEPARTMENTS_SHOWN: usize = 20;

/// The departments a view shows, and where each name id of the window goes.
struct Selection {
    names: Vec<String>,
    /// Row of every name id seen in the window (merged ones share the last row).
    rows: HashMap<NameId, usize>,
    /// Name ids of each row (a merged row has several).
    members: Vec<Vec<NameId>>,
    other: Option<OtherUnknown>,
}

fn select(index: &StatsIndex, rules: &Rules, sums: &HopSums, shown_unknown: usize) -> Selection {
    let mut names: Vec<String> = Vec::new();
    let mut rows: HashMap<NameId, usize> = HashMap::new();
    let mut members: Vec<Vec<NameId>> = Vec::new();
    for department in &rules.departments {
        let id = index.names().id(department.id.as_str());
        if let Some(id) = id {
            rows.insert(id, names.len());
        }
        members.push(id.into_iter().collect());
        names.push(department.id.as_str().to_owned());
    }
    // Traffic of each unknown department in the window, to choose the busiest.
    let mut unknown: HashMap<NameId, i64> = HashMap::new();
    let mut untracked = false;
    for (&(from, to), counts) in &sums.pairs {
        let ends: &[NameId] = if from == to { &[from] } else { &[from, to] };
        for &id in ends {
            if id == UNTRACKED {
                untracked = true;
            } else if !rows.contains_key(&id) {
                *unknown.entry(id).or_insert(0) += counts.transfers();
            }
        }
    }
    let name_of = |id: NameId| index.names().name(id).unwrap_or_default();
    let mut busiest: Vec<(NameId, i64)> = unknown.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name_of(a.0).cmp(name_of(b.0))));
    let merged: Vec<NameId> = busiest
        .iter()
        .skip(shown_unknown)
        .map(|(id, _)| *id)
        .collect();
    let mut shown: Vec<NameId> = busiest
        .iter()
        .take(shown_unknown)
        .map(|(id, _)| *id)
        .collect();
    shown.sort_by(|a, b| name_of(*a).cmp(name_of(*b)));
    for id in shown {
        rows.insert(id, names.len());
        members.push(vec![id]);
        names.push(name_of(id).to_owned());
    }
    let other = (untracked || !merged.is_empty()).then(|| {
        let other = OtherUnknown {
            departments: merged.len() as u64,
            untracked,
        };
        let row = names.len();
        names.push(other.label());
        let mut ids = merged.clone();
        if untracked {
            ids.push(UNTRACKED);
        }
        for id in &ids {
            rows.insert(*id, row);
        }
        members.push(ids);
        other
    });
    Selection {
        names,
        rows,
        members,
        other,
    }
}

/// Counts per (from row, to row), in row order.
fn cells(selection: &Selection, sums: &HopSums) -> BTreeMap<(usize, usize), PairCounts> {
    let mut cells: BTreeMap<(usize, usize), PairCounts> = BTreeMap::new();
    for (&(from, to), counts) in &sums.pairs {
        if let (Some(&from), Some(&to)) = (selection.rows.get(&from), selection.rows.get(&to)) {
            cells.entry((from, to)).or_default().add(counts, 1);
        }
    }
    cells
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

pub fn bounce_matrix(
    index: &StatsIndex,
    rules: &Rules,
    window: &Window,
    shown_unknown: usize,
) -> BounceMatrix {
    let sums = index.hop_sums(window);
    let selection = select(index, rules, &sums, shown_unknown);
    let size = selection.names.len();
    let square = || vec![vec![0u64; size]; size];
    let (mut transfers, mut blocked, mut bounces, mut blocked_bounces) =
        (square(), square(), square(), square());
    for ((from, to), counts) in cells(&selection, &sums) {
        transfers[from][to] = count(counts.moved);
        blocked[from][to] = count(counts.blocked);
        bounces[from][to] = count(counts.bounces);
        blocked_bounces[from][to] = count(counts.blocked_bounces);
    }
    BounceMatrix {
        window: *window,
        departments: selection.names,
        transfers,
        blocked,
        bounces,
        blocked_bounces,
        other_unknown: selection.other,
    }
}

/// The departments table (rules' order, then unknown ones, then "other unknown") and
/// what the last row stands for. Follow-ups owed and overdue are counted at `now`.
pub fn departments_table(
    index: &StatsIndex,
    rules: &Rules,
    window: &Window,
    shown_unknown: usize,
    now: Timestamp,
) -> (Vec<DepartmentRow>, Option<OtherUnknown>) {
    let sums = index.hop_sums(window);
    let follow_ups = index.follow_up_counts(window, now);
    let selection = select(index, rules, &sums, shown_unknown);
    let mut out = vec![PairCounts::default(); selection.names.len()];
    let mut moved_in = vec![0i64; selection.names.len()];
    for ((from, to), counts) in cells(&selection, &sums) {
        out[from].add(&counts, 1);
        moved_in[to] += counts.moved;
    }
    let rows = selection
        .names
        .iter()
        .enumerate()
        .map(|(row, department)| {
            let known = rules
                .department(department)
                .filter(|_| row < rules.departments.len());
            let out = &out[row];
            let transfers_out = count(out.transfers());
            let cold_out = count(out.cold);
            let missing_callback_out = count(out.missing_callback);
            let mut follow_up = super::FollowUpCounts::default();
            for id in &selection.members[row] {
                if let Some(counts) = follow_ups.get(id) {
                    follow_up.owed += counts.owed;
                    follow_up.overdue += counts.overdue;
                    follow_up.closed += counts.closed;
                    follow_up.kept_on_time += counts.kept_on_time;
                }
            }
            DepartmentRow {
                department: department.clone(),
                name: known
                    .map(|index| rules.departments[index].name.clone())
                    .unwrap_or_else(|| department.clone()),
                known: known.is_some(),
                transfers_in: count(moved_in[row]),
                transfers_out,
                loops_caused: count(out.loops),
                cold_out,
                cold_share: share(cold_out, transfers_out),
                missing_callback_out,
                missing_callback_share: share(missing_callback_out, transfers_out),
                callbacks_owed: selection.members[row]
                    .iter()
                    .map(|id| index.callbacks_owed_by(*id))
                    .sum(),
                follow_ups_owed: follow_up.owed,
                follow_ups_overdue: follow_up.overdue,
                follow_ups_closed: follow_up.closed,
                kept_on_time: follow_up.kept_on_time,
                merged: selection.other.is_some() && row == selection.names.len() - 1,
            }
        })
        .collect();
    (rows, selection.other)
}

pub fn graph_traffic(
    index: &StatsIndex,
    rules: &Rules,
    window: &Window,
    shown_unknown: usize,
) -> GraphTraffic {
    let sums = index.hop_sums(window);
    let selection = select(index, rules, &sums, shown_unknown);
    let nodes = selection
        .names
        .iter()
        .enumerate()
        .map(|(row, department)| {
            let known = (row < rules.departments.len()).then_some(row);
            GraphNode {
                department: department.clone(),
                entry: known.is_some_and(|row| rules.departments[row].entry),
                known: known.is_some(),
            }
        })
        .collect();
    let mut cells = cells(&selection, &sums);
    let mut edges: Vec<GraphEdge> = rules
        .transfers
        .iter()
        .map(|transfer| {
            // The rules' departments are the first rows, in declaration order.
            let counts = cells
                .remove(&(transfer.from, transfer.to))
                .unwrap_or_default();
            GraphEdge {
                from: selection.names[transfer.from].clone(),
                to: selection.names[transfer.to].clone(),
                allowed: true,
                mode: Some(transfer.mode.as_str()),
                transfers: count(counts.moved),
                blocked: count(counts.blocked),
                bounces: count(counts.bounces),
            }
        })
        .collect();
    edges.extend(cells.into_iter().map(|((from, to), counts)| GraphEdge {
        from: selection.names[from].clone(),
        to: selection.names[to].clone(),
        allowed: false,
        mode: None,
        transfers: count(counts.moved),
        blocked: count(counts.blocked),
        bounces: count(counts.bounces),
    }));
    GraphTraffic {
        window: *window,
        nodes,
        edges,
        other_unknown: selection.other,
    }
}

/// The overview's "who": the top `limit` bouncing pairs and loop-causing departments,
/// over the same bounded rows as the matrix and the departments table.
pub fn hotspots(
    index: &StatsIndex,
    rules: &Rules,
    window: &Window,
    shown_unknown: usize,
    limit: usize,
    now: Timestamp,
) -> Hotspots {
    let matrix = bounce_matrix(index, rules, window, shown_unknown);
    let (rows, _) = departments_table(index, rules, window, shown_unknown, now);
    hotspots_of(&matrix, &rows, limit)
}

/// One row per (agent, department) with a transfer in the window, most transfers
/// first; agents beyond those the index keeps apart add up in one merged row per
/// department.
pub fn agents_table(index: &StatsIndex, window: &Window) -> Vec<AgentRow> {
    let sums = index.agent_sums(window);
    let mut rows: Vec<AgentRow> = sums
        .pairs
        .iter()
        .map(|(&(agent, department), counts)| {
            let merged = agent == UNTRACKED;
            AgentRow {
                agent_id: if merged {
                    OTHER_AGENTS.to_owned()
                } else {
                    index.agents().name(agent).unwrap_or_default().to_owned()
                },
                department: match index.names().name(department) {
                    Some(name) if department != UNTRACKED => name.to_owned(),
                    _ => OtherUnknown {
                        departments: 0,
                        untracked: true,
                    }
                    .label(),
                },
                transfers_out: count(counts.transfers()),
                loops_caused: count(counts.loops),
                cold_out: count(counts.cold),
                missing_callback_out: count(counts.missing_callback),
                merged,
            }
        })
        .collect();
    sort_agents(&mut rows);
    rows
}
