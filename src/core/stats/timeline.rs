//! Additive facts over time that answer any window `[from, to)` exactly: each fact is
//! kept at its exact time, and every hour keeps the sum of its facts, so a window is
//! the sum of the whole hours it covers plus the facts at its two ragged edges.
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

const SECONDS_PER_HOUR: i64 = 3600;

/// Facts at exact times plus their hourly sums.
#[derive(Debug, Clone)]
pub struct Timeline<F, A> {
    facts: BTreeMap<FactKey, F>,
    hours: BTreeMap<i64, A>,
    total: A,
    next_sequence: u64,
}

impl<F, A: Absorb<F>> Default for Timeline<F, A> {
    fn default() -> Self {
        Self {
            facts: BTreeMap::new(),
            hours: BTreeMap::new(),
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
        self.hours.entry(hour_of(at)).or_default().absorb(&fact, 1);
        self.total.absorb(&fact, 1);
        self.facts.insert(key, fact);
        key
    }

    pub fn remove(&mut self, key: FactKey) {
        let Some(fact) = self.facts.remove(&key) else {
            return;
        };
        let hour = hour_of(key.at);
        if let Some(sum) = self.hours.get_mut(&hour) {
            sum.absorb(&fact, -1);
            if sum.is_empty() {
                self.hours.remove(&hour);
            }
        }
        self.total.absorb(&fact, -1);
    }

    /// Visits the window `[from, to)`: `on_sum` for each whole hour inside it (with the
    /// hour's sum), `on_fact` for each fact at the edges.
    pub fn visit(
        &self,
        from: Timestamp,
        to: Timestamp,
        mut on_sum: impl FnMut(&A),
        mut on_fact: impl FnMut(Timestamp, &F),
    ) {
        if from >= to {
            return;
        }
        let first_hour = hour_of(from);
        let first_whole = if hour_start(first_hour) == from {
            first_hour
        } else {
            first_hour + 1
        };
        let last_hour = hour_of(to);
        if first_whole >= last_hour {
            // No whole hour inside: the facts alone.
            for (key, fact) in self.facts.range(lower(from)..lower(to)) {
                on_fact(key.at, fact);
            }
            return;
        }
        for (key, fact) in self
            .facts
            .range(lower(from)..lower(hour_start(first_whole)))
        {
            on_fact(key.at, fact);
        }
        for (_, sum) in self.hours.range(first_whole..last_hour) {
            on_sum(sum);
        }
        for (key, fact) in self.facts.range(lower(hour_start(last_hour))..lower(to)) {
            on_fact(key.at, fact);
        }
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

fn hour_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(SECONDS_PER_HOUR)
}

fn hour_start(hour: i64) -> Timestamp {
    Timestamp::from_second(hour.saturating_mul(SECONDS_PER_HOUR)).unwrap_or(if hour < 0 {
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
