//! Ping-pong pairs and transfer cycles, each reported with a shortest witness.

use foldhash::{HashSet, HashSetExt};

use super::Context;
use crate::core::codes::LintCode;
use crate::core::diagnostic::Diagnostic;
use crate::core::graph::{CycleFinder, cyclic_components};

impl Context<'_> {
    /// Reports A→B and B→A allowed for a common intent; returns the pairs found.
    pub(super) fn ping_pong_pairs(
        &self,
        findings: &mut Vec<Diagnostic>,
    ) -> HashSet<(usize, usize)> {
        let mut pairs = HashSet::new();
        for forward in &self.rules.transfers {
            if self.rank[forward.from] > self.rank[forward.to] {
                continue;
            }
            let Some(backward) = self.rules.transfer_between(forward.to, forward.from) else {
                continue;
            };
            let common: Option<Vec<&str>> = match (&forward.intents, &backward.intents) {
                (None, None) => None,
                (Some(only), None) | (None, Some(only)) => {
                    Some(only.iter().map(|intent| intent.as_str()).collect())
                }
                (Some(left), Some(right)) => {
                    let right: HashSet<&str> = right.iter().map(|intent| intent.as_str()).collect();
                    Some(
                        left.iter()
                            .map(|intent| intent.as_str())
                            .filter(|intent| right.contains(intent))
                            .collect(),
                    )
                }
            };
            if common.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            pairs.insert((forward.from.min(forward.to), forward.from.max(forward.to)));
            let (first, second) = if forward.header_span <= backward.header_span {
                (forward, backward)
            } else {
                (backward, forward)
            };
            let shared = match &common {
                None => "any intent (neither transfer lists `intents`)".to_owned(),
                Some(intents) => intents
                    .iter()
                    .map(|intent| format!("`{intent}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let (a, b) = (self.id(first.from), self.id(first.to));
            findings.push(
                Diagnostic::new(
                    LintCode::PingPongPair,
                    first.header_span,
                    format!("`{a}` and `{b}` may transfer the same calls to each other"),
                )
                .with_primary_label(format!("`{a}` → `{b}`"))
                .with_label(second.header_span, format!("`{b}` → `{a}`"))
                .with_note(format!("both directions allow {shared}"))
                .with_help(format!(
                    "decide which of `{a}` and `{b}` owns these calls: add the intent to its `handles` and remove it from the transfer that sends it back"
                )),
            );
        }
        pairs
    }

    pub(super) fn transfer_cycles(
        &self,
        ping_pong_pairs: &HashSet<(usize, usize)>,
        findings: &mut Vec<Diagnostic>,
    ) {
        let mut in_component = vec![false; self.successors.len()];
        let mut finder = CycleFinder::new();
        for component in cyclic_components(&self.successors) {
            if component.len() == 2 && ping_pong_pairs.contains(&(component[0], component[1])) {
                continue;
            }
            for &department in &component {
                in_component[department] = true;
            }
            let cycle = witness_cycle(
                &mut finder,
                &component,
                &self.successors,
                &in_component,
                |department| self.rank[department],
            );
            for &department in &component {
                in_component[department] = false;
            }
            let Some(cycle) = cycle else { continue };
            findings.push(self.cycle_finding(
                LintCode::TransferCycle,
                &cycle,
                format!("transfers form a cycle: {}", self.describe_cycle(&cycle)),
                component.len(),
                "a call can be passed around this circle and come back where it started; remove or narrow one transfer, or suppress this with a reason if the cycle is intended",
            ));
        }
    }

    pub(super) fn cycle_finding(
        &self,
        code: LintCode,
        cycle: &[usize],
        message: String,
        component_size: usize,
        help: &str,
    ) -> Diagnostic {
        let edges: Vec<(usize, usize)> = (0..cycle.len())
            .map(|position| (cycle[position], cycle[(position + 1) % cycle.len()]))
            .collect();
        let mut finding =
            Diagnostic::new(code, self.transfer_span(edges[0].0, edges[0].1), message)
                .with_primary_label(format!(
                    "`{}` → `{}`",
                    self.id(edges[0].0),
                    self.id(edges[0].1)
                ));
        for &(from, to) in &edges[1..] {
            finding = finding.with_label(
                self.transfer_span(from, to),
                format!("then `{}` → `{}`", self.id(from), self.id(to)),
            );
        }
        if component_size > cycle.len() {
            finding = finding.with_note(if component_size <= EXACT_WITNESS_LIMIT {
                format!(
                    "{component_size} departments can all reach each other here; the cycle shown is one of the shortest among them"
                )
            } else {
                format!(
                    "{component_size} departments can all reach each other here; the cycle shown is a shortest one through `{}`",
                    self.id(cycle[0])
                )
            });
        }
        finding.with_help(help.to_owned())
    }
}

/// Largest strongly connected component for which the witness is a shortest cycle of
/// the whole component (one breadth-first search per member). Beyond it, the witness
/// is a shortest cycle through the smallest id, which keeps the check linear.
const EXACT_WITNESS_LIMIT: usize = 64;

/// The cycle shown for a strongly connected component: a shortest one, starting at
/// the smallest id on it (by `rank`); ties go to the cycle through the smaller id.
pub(super) fn witness_cycle(
    finder: &mut CycleFinder,
    component: &[usize],
    successors: &[Vec<usize>],
    in_component: &[bool],
    rank: impl Fn(usize) -> usize,
) -> Option<Vec<usize>> {
    let mut members = component.to_vec();
    members.sort_by_key(|&node| rank(node));
    let candidates = if members.len() <= EXACT_WITNESS_LIMIT {
        &members[..]
    } else {
        &members[..1]
    };
    let mut best: Option<Vec<usize>> = None;
    for &start in candidates {
        // A cycle through `start` that visits a smaller id was already found from
        // that id with the same length, so only strictly shorter cycles replace it;
        // the kept cycle therefore starts at its own smallest id.
        if let Some(cycle) =
            finder.shortest_cycle_through(start, successors, |node| in_component[node])
            && best.as_ref().is_none_or(|best| cycle.len() < best.len())
        {
            let done = cycle.len() == 2;
            best = Some(cycle);
            if done {
                break;
            }
        }
    }
    best
}
