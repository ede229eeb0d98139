//! Additive facts over time that answer any window `[from, to)` exactly: each fact is
//! kept at its exact time, and every minute and every hour keeps the sum of its facts,
//! so a window is the sum of the whole hours it covers, the whole minutes at its edges
//! and the facts of the two ragged minutes at its ends.
//!
//! Pure data structure: no clock, no knowledge of what the facts mean.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// An aggregate that facts of type `F` can be added to and taken out of.
pub trait Absorb<F>: Default {
    /// Adds `fact` (`sign` 1) or takes it out again (`sign` -1).
    fn absorb(&mut self, fact: &F, sign: i64);
    /// Adds or subtracts another aggregate of the same kind.
    fn merge(&mut self, other: &Self, sign: i64);
    /// Whether nothing is left (an hour with nothing left is dropped).
    fn is_empty(&self) -> bool;
}

/// Where a fact sits, to take it out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactKey {
    pub at: Timestamp,
    sequence: u64,
}

/// The lengths of the summed units, in seconds, finest first.
const UNIT_SECONDS: [i64; 2] = [60, 3600];

/// Facts at exact times plus their sums per minute and per hour.
#[derive(Debug, Clone)]
pub struct Timeline<F, A> {
    facts: BTreeMap<FactKey, F>,
    /// Per unit of [`UNIT_SECONDS`]: unit number → sum.
    sums: [BTreeMap<i64, A>; 2],
    total: A,
    next_sequence: u64,
}

impl<F, A: Absorb<F>> Default for Timeline<F, A> {
    fn default() -> Self {
        Self {
            facts: BTreeMap::new(),
            sums: [BTreeMap::new(), BTreeMap::new()],
            total: A::default(),
            next_sequence: 0,
        }
    }
}

impl<F, A: Absorb<F>> Timeline<F, A> {
    pub fn insert(&mut self, at: Timestamp, fact: F) -> FactKey {
        let key = FactKey {
            at,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        for (level, sums) in self.sums.iter_mut().enumerate() {
            sums.entry(unit_of(at, level)).or_default().absorb(&fact, 1);
        }
        self.total.absorb(&fact, 1);
        self.facts.insert(key, fact);
        key
    }

    pub fn remove(&mut self, key: FactKey) {
        let Some(fact) = self.facts.remove(&key) else {
            return;
        };
        for (level, sums) in self.sums.iter_mut().enumerate() {
            let unit = unit_of(key.at, level);
            if let Some(sum) = sums.get_mut(&unit) {
                sum.absorb(&fact, -1);
                if sum.is_empty() {
                    sums.remove(&unit);
                }
            }
        }
        self.total.absorb(&fact, -1);
    }

    /// Visits the window `[from, to)`: `on_sum` for each whole hour and each whole
    /// minute outside those hours, `on_fact` for each fact of the ragged ends.
    pub fn visit(
        &self,
        from: Timestamp,
        to: Timestamp,
        mut on_sum: impl FnMut(&A),
        mut on_fact: impl FnMut(Timestamp, &F),
    ) {
        self.visit_level(UNIT_SECONDS.len(), from, to, &mut on_sum, &mut on_fact);
    }

    /// Covers `[from, to)` with whole units of `level - 1` and recurses for the ragged
    /// ends; level 0 is the facts themselves.
    fn visit_level(
        &self,
        level: usize,
        from: Timestamp,
        to: Timestamp,
        on_sum: &mut impl FnMut(&A),
        on_fact: &mut impl FnMut(Timestamp, &F),
    ) {
        if from >= to {
            return;
        }
        let Some(unit_level) = level.checked_sub(1) else {
            for (key, fact) in self.facts.range(lower(from)..lower(to)) {
                on_fact(key.at, fact);
            }
            return;
        };
        let first_unit = unit_of(from, unit_level);
        let first_whole = if unit_start(first_unit, unit_level) == from {
            first_unit
        } else {
            first_unit + 1
        };
        let last_unit = unit_of(to, unit_level);
        if first_whole >= last_unit {
            self.visit_level(unit_level, from, to, on_sum, on_fact);
            return;
        }
        let whole_from = unit_start(first_whole, unit_level);
        let whole_to = unit_start(last_unit, unit_level);
        self.visit_level(unit_level, from, whole_from, on_sum, on_fact);
        for (_, sum) in self.sums[unit_level].range(first_whole..last_unit) {
            on_sum(sum);
        }
        self.visit_level(unit_level, whole_to, to, on_sum, on_fact);
    }

    /// The sum of the facts in `[from, to)`.
    pub fn sum(&self, from: Timestamp, to: Timestamp) -> A {
        let mut sum = A::default();
        let mut facts = A::default();
        self.visit(
            from,
            to,
            |hour| sum.merge(hour, 1),
            |_, fact| facts.absorb(fact, 1),
        );
        sum.merge(&facts, 1);
        sum
    }

    /// The sum of the facts before `to`. Computed as the total minus what lies at or
    /// after `to`, which is short for the windows ending about now that views ask for.
    pub fn sum_before(&self, to: Timestamp) -> A {
        let mut sum = A::default();
        sum.merge(&self.total, 1);
        let after = self.sum(to, Timestamp::MAX);
        sum.merge(&after, -1);
        // `sum(to, MAX)` leaves out a fact exactly at `Timestamp::MAX`; no event can
        // carry that time (RFC 3339 parsing stops at year 9999), so nothing is lost.
        sum
    }
}

fn unit_of(at: Timestamp, level: usize) -> i64 {
    at.as_second().div_euclid(UNIT_SECONDS[level])
}

fn unit_start(unit: i64, level: usize) -> Timestamp {
    Timestamp::from_second(unit.saturating_mul(UNIT_SECONDS[level])).unwrap_or(if unit < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The smallest key at `at`, for ranges over keys.
fn lower(at: Timestamp) -> FactKey {
    FactKey { at, sequence: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone, PartialEq)]
    struct Count(i64);

    impl Absorb<i64> for Count {
        fn absorb(&mut self, fact: &i64, sign: i64) {
            self.0 += fact * sign;
        }
        fn merge(&mut self, other: &Self, sign: i64) {
            self.0 += other.0 * sign;
        }
        fn is_empty(&self) -> bool {
            self.0 == 0
        }
    }

    fn at(second: i64, nanosecond: i32) -> Timestamp {
        Timestamp::new(1_800_000_000 + second, nanosecond).unwrap()
    }

    #[test]
    fn any_window_sums_exactly_the_facts_inside_it() {
        let mut timeline: Timeline<i64, Count> = Timeline::default();
        let times: Vec<Timestamp> = (0..200)
            .map(|index| at(index * 97 - 3_000, (index as i32 * 7_919) % 1_000_000_000))
            .collect();
        let keys: Vec<FactKey> = times.iter().map(|time| timeline.insert(*time, 1)).collect();
        timeline.remove(keys[10]);
        let alive = |time: &Timestamp| *time != times[10];
        for from_index in (0..200).step_by(7) {
            for to_index in (from_index..200).step_by(11) {
                let (from, to) = (times[from_index], times[to_index]);
                let expected = times
                    .iter()
                    .filter(|time| alive(time) && from <= **time && **time < to)
                    .count() as i64;
                assert_eq!(timeline.sum(from, to).0, expected, "{from} {to}");
                let before = times.iter().filter(|time| alive(time) && **time < to);
                assert_eq!(timeline.sum_before(to).0, before.count() as i64);
            }
        }
        assert_eq!(timeline.sum(at(10, 0), at(5, 0)), Count(0), "empty window");
    }
}
