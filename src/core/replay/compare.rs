//! What-if: the same history judged under two rule sets, transfer by transfer.
//!
//! Both engines see every recorded transfer (history is fact, so the chains are
//! the same); only what loopguard would have answered can differ. A transfer
//! counts as changed when its verdict differs; the finding codes that appear or
//! disappear are counted too, per code and per department pair (as the current
//! rules name the departments).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::core::engine::{TransferAnswer, Verdict};

/// Examples kept per kind of verdict change.
pub const EXAMPLES_PER_CHANGE: usize = 5;

/// One kind of change (`allow` → `block`, ...) and how often it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictChange {
    pub before: Verdict,
    pub after: Verdict,
    pub transfers: u64,
}

/// How one finding code's count changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeChange {
    pub code: String,
    /// Transfers that have the finding under the other rules only.
    pub added: u64,
    /// Transfers that have it under the current rules only.
    pub removed: u64,
}

/// Changed transfers between two departments (in the direction of the transfer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairChange {
    pub from: String,
    pub to: String,
    pub changed: u64,
}

/// One side of an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub verdict: Verdict,
    pub codes: Vec<String>,
}

/// A transfer whose verdict changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub call_id: String,
    pub event_id: String,
    pub from: String,
    pub to: String,
    pub occurred_at: Timestamp,
    pub before: Judged,
    pub after: Judged,
}

/// The what-if section of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Transfers whose verdict differs between the rule sets.
    pub changed: u64,
    /// Most frequent first.
    pub verdicts: Vec<VerdictChange>,
    /// Codes whose count changed, sorted by code.
    pub by_code: Vec<CodeChange>,
    /// Most changes first.
    pub by_pair: Vec<PairChange>,
    /// The first transfers (in event time) of each kind of change.
    pub examples: Vec<Example>,
}

/// Collects the differences as the replay judges each transfer twice.
#[derive(Debug, Default)]
pub struct CompareBuilder {
    changed: u64,
    verdicts: BTreeMap<(Verdict, Verdict), u64>,
    codes: BTreeMap<String, (u64, u64)>,
    pairs: BTreeMap<(String, String), u64>,
    examples: BTreeMap<(Verdict, Verdict), Vec<Example>>,
}

impl CompareBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// One transfer as the current rules (`before`) and the other rules (`after`)
    /// answered it.
    pub fn add(&mut self, before: &TransferAnswer, after: &TransferAnswer) {
        let codes = |answer: &TransferAnswer| {
            let mut codes: Vec<String> = answer
                .findings
                .iter()
                .map(|finding| finding.code.as_str().to_owned())
                .collect();
            codes.sort();
            codes.dedup();
            codes
        };
        let (before_codes, after_codes) = (codes(before), codes(after));
        for code in &after_codes {
            if !before_codes.contains(code) {
                self.codes.entry(code.clone()).or_default().0 += 1;
            }
        }
        for code in &before_codes {
            if !after_codes.contains(code) {
                self.codes.entry(code.clone()).or_default().1 += 1;
            }
        }
        if before.verdict == after.verdict {
            return;
        }
        self.changed += 1;
        let change = (before.verdict, after.verdict);
        *self.verdicts.entry(change).or_default() += 1;
        let department = |answer: &TransferAnswer, from: bool| {
            let party = if from { &answer.from } else { &answer.to };
            party
                .as_ref()
                .map(|party| party.department.clone())
                .unwrap_or_default()
        };
        let (from, to) = (department(before, true), department(before, false));
        *self.pairs.entry((from.clone(), to.clone())).or_default() += 1;
        let examples = self.examples.entry(change).or_default();
        let example = Example {
            call_id: before.call_id.as_str().to_owned(),
            event_id: before.event_id.as_str().to_owned(),
            from,
            to,
            occurred_at: before.occurred_at,
            before: Judged {
                verdict: before.verdict,
                codes: before_codes,
            },
            after: Judged {
                verdict: after.verdict,
                codes: after_codes,
            },
        };
        // Keep the earliest in event time, whatever order late records came in.
        let position = examples.partition_point(|kept| {
            (kept.occurred_at, &kept.event_id) <= (example.occurred_at, &example.event_id)
        });
        if position < EXAMPLES_PER_CHANGE {
            examples.insert(position, example);
            examples.truncate(EXAMPLES_PER_CHANGE);
        }
    }

    pub fn finish(self) -> Comparison {
        let mut verdicts: Vec<VerdictChange> = self
            .verdicts
            .into_iter()
            .map(|((before, after), transfers)| VerdictChange {
                before,
                after,
                transfers,
            })
            .collect();
        verdicts.sort_by_key(|change| std::cmp::Reverse(change.transfers));
        let mut by_pair: Vec<PairChange> = self
            .pairs
            .into_iter()
            .map(|((from, to), changed)| PairChange { from, to, changed })
            .collect();
        by_pair.sort_by_key(|pair| std::cmp::Reverse(pair.changed));
        Comparison {
            changed: self.changed,
            verdicts,
            by_code: self
                .codes
                .into_iter()
                .map(|(code, (added, removed))| CodeChange {
                    code,
                    added,
                    removed,
                })
                .collect(),
            by_pair,
            examples: self.examples.into_values().flatten().collect(),
        }
    }
}
