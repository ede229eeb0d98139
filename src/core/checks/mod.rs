//! The graph checks over a validated [`Rules`] model.
//!
//! Each check reads the model and returns findings; none of them fails. All of them
//! together run in time linear in departments + transfers, plus, per intent, linear
//! in the transfers that allow that intent (a transfer without `intents` allows every
//! intent and so is visited once per intent). No check enumerates simple cycles.

mod cycles;
mod intent_paths;
mod ownership;
mod structure;

use super::diagnostic::{Diagnostic, Span};
use super::rules::Rules;

/// Runs every graph and model check. `fallback` is where findings about the whole
/// configuration point when there is no better place (the start of the first file).
pub fn run(rules: &Rules, fallback: Span) -> Vec<Diagnostic> {
    let context = Context::new(rules);
    let mut findings = Vec::new();
    context.entry_points(fallback, &mut findings);
    context.dead_ends(&mut findings);
    context.cold_transfers(&mut findings);
    context.intent_ownership(&mut findings);
    let ping_pong_pairs = context.ping_pong_pairs(&mut findings);
    context.transfer_cycles(&ping_pong_pairs, &mut findings);
    context.per_intent_paths(&mut findings);
    findings
}

struct Context<'a> {
    rules: &'a Rules,
    /// Position of each department when sorted by id: "smallest id" means smallest rank.
    rank: Vec<usize>,
    /// Successor departments, sorted by rank so that searches are deterministic.
    successors: Vec<Vec<usize>>,
}

impl<'a> Context<'a> {
    fn new(rules: &'a Rules) -> Self {
        let mut by_id: Vec<usize> = (0..rules.departments.len()).collect();
        by_id.sort_by(|&left, &right| rules.departments[left].id.cmp(&rules.departments[right].id));
        let mut rank = vec![0; by_id.len()];
        for (position, &department) in by_id.iter().enumerate() {
            rank[department] = position;
        }
        let successors = (0..rules.departments.len())
            .map(|department| {
                let mut targets: Vec<usize> = rules
                    .outgoing(department)
                    .iter()
                    .map(|&transfer| rules.transfers[transfer].to)
                    .collect();
                targets.sort_by_key(|&target| rank[target]);
                targets
            })
            .collect();
        Self {
            rules,
            rank,
            successors,
        }
    }

    fn id(&self, department: usize) -> &str {
        self.rules.departments[department].id.as_str()
    }

    fn describe_cycle(&self, cycle: &[usize]) -> String {
        let mut names: Vec<&str> = cycle
            .iter()
            .map(|&department| self.id(department))
            .collect();
        names.push(self.id(cycle[0]));
        names.join(" → ")
    }

    fn describe_path(&self, path: &[usize]) -> String {
        path.iter()
            .map(|&department| self.id(department))
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// The header span of the transfer between two departments (they are adjacent
    /// in a path or cycle the checks built from the rules' own transfers).
    fn transfer_span(&self, from: usize, to: usize) -> Span {
        self.rules
            .transfer_between(from, to)
            .map(|transfer| transfer.header_span)
            .unwrap_or(self.rules.departments[from].id_span)
    }
}
