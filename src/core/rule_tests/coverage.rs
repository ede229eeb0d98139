//! Which transfers and intents of the rules the tests exercise.
//!
//! A transfer is exercised when a route test's route takes it or a chain test's
//! hop goes from its `from` to its `to` (whatever the verdict); an intent when a
//! route test asks for it or a chain hop carries it. The intents counted are the
//! `[[intent]]` catalog, or without one every intent handled or routed.

use std::collections::BTreeSet;

use super::parse::{RuleTest, TestKind};
use crate::core::rules::{Route, Rules};

/// What the tests left unexercised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub transfers: usize,
    /// Indices into `Rules::transfers`, in declaration order.
    pub missed_transfers: Vec<usize>,
    pub intents: usize,
    /// Sorted.
    pub missed_intents: Vec<String>,
}

impl Coverage {
    /// Percentage of transfers exercised (100 when there are none).
    pub fn transfer_percent(&self) -> f64 {
        percent(self.transfers, self.missed_transfers.len())
    }

    /// Percentage of intents exercised (100 when there are none).
    pub fn intent_percent(&self) -> f64 {
        percent(self.intents, self.missed_intents.len())
    }
}

fn percent(total: usize, missed: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        (total - missed) as f64 * 100.0 / total as f64
    }
}

pub fn coverage(rules: &Rules, tests: &[RuleTest]) -> Coverage {
    let mut exercised_transfers = vec![false; rules.transfers.len()];
    let mut exercised_intents: BTreeSet<&str> = BTreeSet::new();
    let mut take = |from: usize, to: usize| {
        if let Some(index) = rules
            .outgoing(from)
            .iter()
            .copied()
            .find(|&index| rules.transfers[index].to == to)
        {
            exercised_transfers[index] = true;
        }
    };
    for test in tests {
        match &test.kind {
            TestKind::Route(route) => {
                exercised_intents.insert(route.intent.as_str());
                if let Route::Found(path) = rules.route(route.from, &route.intent) {
                    for pair in path.windows(2) {
                        take(pair[0], pair[1]);
                    }
                }
            }
            TestKind::Chain(chain) => {
                for hop in &chain.hops {
                    if let Some(intent) = &hop.intent {
                        exercised_intents.insert(intent.as_str());
                    }
                    if let (Some(from), Some(to)) =
                        (rules.department(&hop.from), rules.department(&hop.to))
                    {
                        take(from, to);
                    }
                }
            }
        }
    }
    let all_intents = rules.known_intents();
    Coverage {
        transfers: rules.transfers.len(),
        missed_transfers: (0..rules.transfers.len())
            .filter(|&index| !exercised_transfers[index])
            .collect(),
        intents: all_intents.len(),
        missed_intents: all_intents
            .difference(&exercised_intents)
            .map(|intent| (*intent).to_owned())
            .collect(),
    }
}
