//! The statistics index: the dashboard's numbers kept up to date call by call, so a
//! view costs about the same with 200,000 calls as with 200 and never scans them.
//!
//! Each call contributes facts (one per hop; first, last and gaps of its hops for
//! counting distinct calls; its flagged hops; the callback it is owed). When a call
//! changes, [`StatsIndex::update`] takes out everything the call contributed before
//! and puts in what it contributes now: a late event can turn a later hop of the same
//! call into a bounce, so a per-call delta is the only exact update. The facts sit on
//! [`Timeline`]s (exact times plus hourly sums), so any window `[from, to)` is
//! answered exactly, to the nanosecond, as the batch functions in `super` (the
//! reference model) answer it.
//!
//! Distinct calls with a hop of some kind in a window are counted without visiting
//! calls: a call has such a hop in `[from, to)` exactly when its first such hop is
//! before `to`, its last one is at or after `from`, and no gap between two of its
//! consecutive such hops spans the whole window. So the count is
//! `#first < to − #last < from − #gaps spanning [from, to)`; the gaps spanning a
//! window that ends now are the few that end in the future.
//!
//! Pure: the shells decide when to call [`StatsIndex::update`] (after each commit) and
//! hand in `now`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use jiff::{SignedDuration, Timestamp};

use super::follow_ups::{
    FollowUp, FollowUpCounts, FollowUpCursor, FollowUpKind, FollowUpPage, callback_closed,
    callback_due, follow_up_order, overdue_by,
};
use super::names::{NameId, Names};
use super::timeline::{Absorb, FactKey, Timeline};
use super::{
    CallbackOwed, CallbackPage, FailedMark, FlaggedCall, FlaggedPage, Overview, SeriesPoint,
    Window, bucket_count, bucket_start, chain_or_start, classified_hops, is_cold, is_loop,
    lacks_callback_number, share,
};
use crate::core::engine::{CallId, CallRecord, CallbackStatus, PromiseOutcome, Verdict};
use crate::core::rules::Rules;

/// Distinct department names outside the rules that the index keeps apart (see
/// [`Names`]); more are counted together as "other unknown departments".
pub const MAX_UNKNOWN_DEPARTMENTS_KEPT: usize = 1_000;

/// Distinct agent ids the index keeps apart; more are counted together as "other
/// agents".
pub const MAX_AGENTS_KEPT: usize = 10_000;

/// Counts of the hops between one pair of departments (or of all hops).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PairCounts {
    /// Hops the call took.
    pub moved: i64,
    pub blocked: i64,
    /// Moved returns B→A after a moved A→B.
    pub bounces: i64,
    /// Blocked returns B→A after a moved A→B.
    pub blocked_bounces: i64,
    pub warned: i64,
    pub loops: i64,
    pub cold: i64,
    pub missing_callback: i64,
}

impl PairCounts {
    /// Every hop, whatever its verdict.
    pub fn transfers(&self) -> i64 {
        self.moved + self.blocked
    }

    fn add_flags(&mut self, flags: u8, sign: i64) {
        let has = |flag: u8| i64::from(flags & flag != 0) * sign;
        let moved = flags & MOVED != 0;
        let returning = flags & RETURNING != 0;
        self.moved += has(MOVED);
        self.blocked += i64::from(!moved) * sign;
        self.bounces += i64::from(moved && returning) * sign;
        self.blocked_bounces += i64::from(!moved && returning) * sign;
        self.warned += has(WARNED);
        self.loops += has(LOOP);
        self.cold += has(COLD);
        self.missing_callback += has(MISSING_CALLBACK);
    }

    pub fn add(&mut self, other: &PairCounts, sign: i64) {
        self.moved += other.moved * sign;
        self.blocked += other.blocked * sign;
        self.bounces += other.bounces * sign;
        self.blocked_bounces += other.blocked_bounces * sign;
        self.warned += other.warned * sign;
        self.loops += other.loops * sign;
        self.cold += other.cold * sign;
        self.missing_callback += other.missing_callback * sign;
    }
}

const MOVED: u8 = 1;
const RETURNING: u8 = 1 << 1;
const WARNED: u8 = 1 << 2;
const LOOP: u8 = 1 << 3;
const COLD: u8 = 1 << 4;
const MISSING_CALLBACK: u8 = 1 << 5;

/// One hop, as the index keeps it.
#[derive(Debug, Clone, Copy)]
struct HopFact {
    from: NameId,
    to: NameId,
    flags: u8,
}

/// The hops of a window: totals and counts per (from, to) pair of name ids.
#[derive(Debug, Default, Clone)]
pub struct HopSums {
    pub totals: PairCounts,
    pub pairs: HashMap<(NameId, NameId), PairCounts>,
}

impl Absorb<HopFact> for HopSums {
    fn absorb(&mut self, fact: &HopFact, sign: i64) {
        self.totals.add_flags(fact.flags, sign);
        let pair = self.pairs.entry((fact.from, fact.to)).or_default();
        pair.add_flags(fact.flags, sign);
        if pair.transfers() == 0 {
            self.pairs.remove(&(fact.from, fact.to));
        }
    }

    fn merge(&mut self, other: &Self, sign: i64) {
        self.totals.add(&other.totals, sign);
        for (key, counts) in &other.pairs {
            let pair = self.pairs.entry(*key).or_default();
            pair.add(counts, sign);
            if pair.transfers() == 0 {
                self.pairs.remove(key);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.totals.transfers() == 0
    }
}

/// A follow-up closed (a callback done, a promise kept or broken), by department.
#[derive(Debug, Clone, Copy)]
struct CloseFact {
    department: NameId,
    on_time: bool,
}

/// Closed follow-ups per department: (closed, kept on time).
#[derive(Debug, Default, Clone)]
struct CloseSums {
    by_department: HashMap<NameId, (i64, i64)>,
}

impl Absorb<CloseFact> for CloseSums {
    fn absorb(&mut self, fact: &CloseFact, sign: i64) {
        let entry = self.by_department.entry(fact.department).or_default();
        entry.0 += sign;
        entry.1 += i64::from(fact.on_time) * sign;
        if entry.0 == 0 {
            self.by_department.remove(&fact.department);
        }
    }

    fn merge(&mut self, other: &Self, sign: i64) {
        for (department, (closed, on_time)) in &other.by_department {
            let entry = self.by_department.entry(*department).or_default();
            entry.0 += closed * sign;
            entry.1 += on_time * sign;
            if entry.0 == 0 {
                self.by_department.remove(department);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.by_department.is_empty()
    }
}

/// A plain count of facts.
#[derive(Debug, Default, Clone, Copy)]
struct Count(i64);

impl Absorb<()> for Count {
    fn absorb(&mut self, _: &(), sign: i64) {
        self.0 += sign;
    }

    fn merge(&mut self, other: &Self, sign: i64) {
        self.0 += other.0 * sign;
    }

    fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// The kinds of hop whose calls are counted distinctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any hop: "calls".
    Any = 0,
    /// A hop with a loop finding: "calls with a loop".
    Loop = 1,
    /// A warned or blocked hop: flagged calls.
    Flagged = 2,
}

const KINDS: [Kind; 3] = [Kind::Any, Kind::Loop, Kind::Flagged];

/// A call's first or last hop of a kind.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    kind: Kind,
    last: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct BoundarySums {
    first: [i64; 3],
    last: [i64; 3],
}

impl Absorb<Boundary> for BoundarySums {
    fn absorb(&mut self, fact: &Boundary, sign: i64) {
        let side = if fact.last {
            &mut self.last
        } else {
            &mut self.first
        };
        side[fact.kind as usize] += sign;
    }

    fn merge(&mut self, other: &Self, sign: i64) {
        for kind in 0..3 {
            self.first[kind] += other.first[kind] * sign;
            self.last[kind] += other.last[kind] * sign;
        }
    }

    fn is_empty(&self) -> bool {
        self.first == [0; 3] && self.last == [0; 3]
    }
}

/// Two consecutive hops of a kind in one call, at different times; ordered by the
/// later one so that the gaps spanning a window ending now are found at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Gap {
    end: Timestamp,
    start: Timestamp,
    kind: u8,
    sequence: u64,
}

#[derive(Debug, Clone)]
struct FlaggedHop {
    at: Timestamp,
    verdict: Verdict,
    codes: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct FlaggedDetail {
    chain: Vec<String>,
    transfers_taken: u32,
    ended: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct OwedEntry {
    callback_number: String,
    last_from: String,
    last_to: String,
    last_failed: Option<FailedMark>,
    department: NameId,
}

/// An open promise.
#[derive(Debug, Clone)]
struct PromiseEntry {
    text: String,
    department: String,
    department_id: NameId,
}

/// A callback owed and since done: kept to re-judge "on time" when the policy's
/// `callback_within` changes.
#[derive(Debug, Clone, Copy)]
struct CallbackClose {
    at: Timestamp,
    ended_at: Timestamp,
    department: NameId,
    key: FactKey,
}

/// What one call put into the index, to take it out again.
#[derive(Debug, Clone, Default)]
struct Contribution {
    hops: Vec<FactKey>,
    loops: Vec<FactKey>,
    boundaries: Vec<FactKey>,
    gaps: Vec<Gap>,
    /// One entry per reference taken on a name.
    names: Vec<NameId>,
    /// In event-time order.
    flagged: Vec<FlaggedHop>,
    detail: Option<FlaggedDetail>,
    /// When the call ended and who made its last moved transfer, while a callback is owed.
    owed: Option<(Timestamp, NameId)>,
    /// The call's hops with an agent, on the agents' timeline.
    agent_hops: Vec<FactKey>,
    /// One entry per reference taken on an agent id.
    agent_names: Vec<NameId>,
    /// Bounce hops (taken or blocked) by the unordered pair of departments.
    bounces: Vec<(PairKey, FlaggedHop)>,
    /// The call's open promises.
    promises: Vec<PromiseKey>,
    /// The call's closed promises on the closes' timeline.
    closes: Vec<FactKey>,
    callback_close: Option<CallbackClose>,
}

/// An unordered pair of departments, smaller id first.
type PairKey = (NameId, NameId);
/// Bounce hops by (pair, newest first, call id).
type BounceKey = (PairKey, Reverse<Timestamp>, String);
/// Open promises by (due, made, call id, promise id): the follow-ups' order.
type PromiseKey = (Timestamp, Timestamp, String, String);

/// Flagged hops by (newest first, call id): the order of the flagged list.
type FlaggedKey = (Reverse<Timestamp>, String);
/// Callbacks owed by (oldest end first, call id).
type OwedKey = (Timestamp, String);

/// The dashboard's numbers over every call the store holds, updated per call.
#[derive(Debug, Clone)]
pub struct StatsIndex {
    names: Names,
    hops: Timeline<HopFact, HopSums>,
    loops: Timeline<(), Count>,
    boundaries: Timeline<Boundary, BoundarySums>,
    gaps: BTreeSet<Gap>,
    next_gap: u64,
    flagged: BTreeMap<FlaggedKey, u32>,
    owed: BTreeMap<OwedKey, OwedEntry>,
    owed_by_department: HashMap<NameId, i64>,
    /// A B-tree, like the engine's maps: a hash map's growth would stall the webhook
    /// (this index is updated under the store's lock).
    calls: BTreeMap<CallId, Contribution>,
    version: u64,
    agents: Names,
    /// Hops with an agent, as (agent id → department the agent transferred from).
    agent_hops: Timeline<HopFact, HopSums>,
    bounce_calls: BTreeMap<BounceKey, u32>,
    /// The policy's `callback_within`, for due times and "kept on time".
    callback_within: Option<SignedDuration>,
    promises: BTreeMap<PromiseKey, PromiseEntry>,
    promises_by_department: HashMap<NameId, i64>,
    closes: Timeline<CloseFact, CloseSums>,
}

impl Default for StatsIndex {
    fn default() -> Self {
        Self::new(MAX_UNKNOWN_DEPARTMENTS_KEPT)
    }
}

impl StatsIndex {
    /// An empty index keeping at most `max_unknown_departments` names outside the rules.
    pub fn new(max_unknown_departments: usize) -> Self {
        Self {
            names: Names::new(max_unknown_departments),
            hops: Timeline::default(),
            loops: Timeline::default(),
            boundaries: Timeline::default(),
            gaps: BTreeSet::new(),
            next_gap: 0,
            flagged: BTreeMap::new(),
            owed: BTreeMap::new(),
            owed_by_department: HashMap::new(),
            calls: BTreeMap::new(),
            version: 0,
            agents: Names::new(MAX_AGENTS_KEPT),
            agent_hops: Timeline::default(),
            bounce_calls: BTreeMap::new(),
            callback_within: None,
            promises: BTreeMap::new(),
            promises_by_department: HashMap::new(),
            closes: Timeline::default(),
        }
    }

    /// The index over `calls`, with the departments of `rules` always kept apart.
    pub fn from_calls<'a>(
        calls: impl IntoIterator<Item = &'a CallRecord>,
        rules: Option<&Rules>,
    ) -> Self {
        let mut index = Self::default();
        if let Some(rules) = rules {
            index.set_rules(rules);
        }
        for call in calls {
            index.update(call);
        }
        index
    }

    /// Names of the rules' departments are never counted against the unknown-name
    /// bound from now on. Names already merged stay merged until their calls change.
    /// A new `callback_within` re-judges every done callback as on time or late.
    pub fn set_rules(&mut self, rules: &Rules) {
        self.version += 1;
        self.names.set_known(
            rules
                .departments
                .iter()
                .map(|department| department.id.as_str()),
        );
        let within = rules.policy.callback_within;
        if within != self.callback_within {
            self.callback_within = within;
            for contribution in self.calls.values_mut() {
                if let Some(close) = contribution.callback_close.as_mut() {
                    self.closes.remove(close.key);
                    let on_time =
                        callback_due(close.ended_at, within).is_none_or(|due| close.at <= due);
                    close.key = self.closes.insert(
                        close.at,
                        CloseFact {
                            department: close.department,
                            on_time,
                        },
                    );
                }
            }
        }
    }

    /// Replaces what `call` contributed with what it contributes now.
    pub fn update(&mut self, call: &CallRecord) {
        self.version += 1;
        self.remove(&call.call_id);
        let contribution = self.contribute(call);
        self.calls.insert(call.call_id.clone(), contribution);
    }

    /// Takes out everything a call contributed (it was pruned or expired).
    pub fn remove(&mut self, call_id: &CallId) {
        self.version += 1;
        let Some(contribution) = self.calls.remove(call_id) else {
            return;
        };
        for key in contribution.hops {
            self.hops.remove(key);
        }
        for key in contribution.loops {
            self.loops.remove(key);
        }
        for key in contribution.boundaries {
            self.boundaries.remove(key);
        }
        for gap in &contribution.gaps {
            self.gaps.remove(gap);
        }
        for hop in &contribution.flagged {
            let key = (Reverse(hop.at), call_id.as_str().to_owned());
            if let Some(count) = self.flagged.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.flagged.remove(&key);
                }
            }
        }
        if let Some((ended_at, department)) = contribution.owed {
            self.owed.remove(&(ended_at, call_id.as_str().to_owned()));
            decrement(&mut self.owed_by_department, department);
        }
        for key in contribution.agent_hops {
            self.agent_hops.remove(key);
        }
        for agent in contribution.agent_names {
            self.agents.release(agent);
        }
        for (pair, hop) in &contribution.bounces {
            let key = (*pair, Reverse(hop.at), call_id.as_str().to_owned());
            if let Some(count) = self.bounce_calls.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.bounce_calls.remove(&key);
                }
            }
        }
        for key in &contribution.promises {
            if let Some(entry) = self.promises.remove(key) {
                decrement(&mut self.promises_by_department, entry.department_id);
            }
        }
        for key in contribution.closes {
            self.closes.remove(key);
        }
        if let Some(close) = contribution.callback_close {
            self.closes.remove(close.key);
        }
        for name in contribution.names {
            self.names.release(name);
        }
    }

    /// Changes with every update: equal versions of one index have equal answers for
    /// equal questions.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Makes this index's versions follow `previous`, the version of the index it
    /// replaces, so that no version is ever seen twice.
    pub fn continue_versions_after(&mut self, previous: u64) {
        self.version = self.version.max(previous) + 1;
    }

    /// Calls in the index.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Callbacks owed now, counted for the department that made the call's last moved
    /// transfer.
    pub fn callbacks_owed_by(&self, department: NameId) -> u64 {
        self.owed_by_department
            .get(&department)
            .copied()
            .unwrap_or(0)
            .max(0) as u64
    }

    /// Every hop in the window, in total and per pair of departments.
    pub fn hop_sums(&self, window: &Window) -> HopSums {
        self.hops.sum(window.from, window.to)
    }

    pub fn overview(&self, window: &Window) -> Overview {
        let totals = self.hop_sums(window).totals;
        let count = |value: i64| value.max(0) as u64;
        let transfers = count(totals.transfers());
        let cold_transfers = count(totals.cold);
        let missing_callback = count(totals.missing_callback);
        let loops_series = (0..bucket_count(window))
            .map(|index| {
                let start = bucket_start(window, index);
                let end = bucket_start(window, index + 1).min(window.to);
                SeriesPoint {
                    start,
                    loops: count(self.loops.sum(start, end).0),
                }
            })
            .collect();
        let distinct = self.distinct_calls(window);
        Overview {
            window: *window,
            transfers,
            calls: distinct[Kind::Any as usize],
            calls_with_loop: distinct[Kind::Loop as usize],
            blocked: count(totals.blocked),
            warned: count(totals.warned),
            cold_transfers,
            cold_share: share(cold_transfers, transfers),
            missing_callback,
            missing_callback_share: share(missing_callback, transfers),
            callbacks_owed: self.owed.len() as u64,
            loops_series,
        }
    }

    /// Calls with a warned or blocked transfer in the window, newest flag first, at most
    /// `limit` of them after `after` (the `next` of the previous page).
    pub fn flagged(
        &self,
        window: &Window,
        after: Option<&FlaggedCursor>,
        limit: usize,
    ) -> FlaggedPage {
        let start = match after {
            Some(cursor) => Bound::Excluded((Reverse(cursor.flagged_at), cursor.call_id.clone())),
            None => Bound::Included((Reverse(window.to), String::new())),
        };
        let mut items: Vec<FlaggedCall> = Vec::new();
        let mut more = false;
        for ((Reverse(at), call_id), _) in self.flagged.range((start, Bound::Unbounded)) {
            if *at >= window.to {
                continue;
            }
            if *at < window.from {
                break;
            }
            let Some(call) = self.calls.get(call_id.as_str()) else {
                continue;
            };
            let in_window: Vec<&FlaggedHop> = call
                .flagged
                .iter()
                .filter(|hop| window.contains(hop.at))
                .collect();
            // Emit a call at its newest flagged hop in the window only.
            if in_window.iter().map(|hop| hop.at).max() != Some(*at) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            let Some(detail) = call.detail.as_ref() else {
                continue;
            };
            items.push(flagged_item(
                call_id,
                *at,
                &in_window,
                detail,
                Verdict::Warn,
            ));
        }
        let next = more.then(|| next_cursor(&items)).flatten();
        FlaggedPage {
            window: *window,
            total: self.distinct_calls(window)[Kind::Flagged as usize],
            items,
            next,
        }
    }

    /// Callbacks owed, oldest first (ties by call id), at most `limit` after `after`.
    pub fn callbacks_owed(
        &self,
        now: Timestamp,
        after: Option<&CallbackCursor>,
        limit: usize,
    ) -> CallbackPage {
        let start = match after {
            Some(cursor) => Bound::Excluded((cursor.ended_at, cursor.call_id.clone())),
            None => Bound::Unbounded,
        };
        let mut entries = self.owed.range((start, Bound::Unbounded));
        let items: Vec<CallbackOwed> = entries
            .by_ref()
            .take(limit)
            .map(|((ended_at, call_id), entry)| CallbackOwed {
                call_id: call_id.clone(),
                callback_number: entry.callback_number.clone(),
                ended_at: *ended_at,
                age_seconds: now.duration_since(*ended_at).as_secs().max(0),
                last_from: entry.last_from.clone(),
                last_to: entry.last_to.clone(),
                last_failed: entry.last_failed.clone(),
                due_at: callback_due(*ended_at, self.callback_within),
                overdue: overdue_by(callback_due(*ended_at, self.callback_within), now).is_some(),
            })
            .collect();
        let next = entries.next().and(items.last()).map(|last| {
            CallbackCursor {
                ended_at: last.ended_at,
                call_id: last.call_id.clone(),
            }
            .encode()
        });
        CallbackPage {
            total: self.owed.len() as u64,
            items,
            next,
        }
    }

    /// The policy's `callback_within` the index judges callbacks with.
    pub fn callback_within(&self) -> Option<SignedDuration> {
        self.callback_within
    }

    /// Open follow-ups (callbacks owed and open promises) in
    /// [`follow_up_order`]: overdue ones first. At most `limit` after `after`.
    pub fn follow_ups(
        &self,
        now: Timestamp,
        after: Option<&FollowUpCursor>,
        limit: usize,
    ) -> FollowUpPage {
        let within = self.callback_within;
        let callback_start = after
            .and_then(|cursor| cursor.callback.clone())
            .map_or(Bound::Unbounded, Bound::Excluded);
        let promise_start = after
            .and_then(|cursor| cursor.promise.clone())
            .map_or(Bound::Unbounded, Bound::Excluded);
        let mut callbacks = self
            .owed
            .range((callback_start, Bound::Unbounded))
            .map(|((ended_at, call_id), entry)| {
                let due_at = callback_due(*ended_at, within);
                let overdue_seconds = overdue_by(due_at, now);
                let item = FollowUp {
                    kind: FollowUpKind::Callback,
                    call_id: call_id.clone(),
                    promise_id: None,
                    department: entry.last_from.clone(),
                    text: None,
                    callback_number: Some(entry.callback_number.clone()),
                    since: *ended_at,
                    due_at,
                    overdue: overdue_seconds.is_some(),
                    overdue_seconds,
                    last_failed: entry.last_failed.clone(),
                };
                (item, (*ended_at, call_id.clone()))
            })
            .peekable();
        let mut promises = self
            .promises
            .range((promise_start, Bound::Unbounded))
            .map(|(key, entry)| {
                let (due_at, made_at, call_id, promise_id) = key;
                let overdue_seconds = overdue_by(Some(*due_at), now);
                let item = FollowUp {
                    kind: FollowUpKind::Promise,
                    call_id: call_id.clone(),
                    promise_id: Some(promise_id.clone()),
                    department: entry.department.clone(),
                    text: Some(entry.text.clone()),
                    callback_number: None,
                    since: *made_at,
                    due_at: Some(*due_at),
                    overdue: overdue_seconds.is_some(),
                    overdue_seconds,
                    last_failed: None,
                };
                (item, key.clone())
            })
            .peekable();
        let mut cursor = after.cloned().unwrap_or_default();
        let mut items: Vec<FollowUp> = Vec::new();
        let mut more = false;
        loop {
            let take_callback = match (callbacks.peek(), promises.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((callback, _)), Some((promise, _))) => {
                    follow_up_order(callback) < follow_up_order(promise)
                }
            };
            if items.len() == limit {
                more = true;
                break;
            }
            if take_callback {
                if let Some((item, position)) = callbacks.next() {
                    cursor.callback = Some(position);
                    items.push(item);
                }
            } else if let Some((item, position)) = promises.next() {
                cursor.promise = Some(position);
                items.push(item);
            }
        }
        let (callbacks_overdue, promises_overdue) = self.overdue(now);
        FollowUpPage {
            total: (self.owed.len() + self.promises.len()) as u64,
            overdue: callbacks_overdue + promises_overdue,
            items,
            next: more.then(|| cursor.encode()),
        }
    }

    /// Open callbacks (owed) and open promises now.
    pub fn open_follow_ups(&self) -> (u64, u64) {
        (self.owed.len() as u64, self.promises.len() as u64)
    }

    /// Overdue callbacks and overdue promises now.
    pub fn overdue(&self, now: Timestamp) -> (u64, u64) {
        let callbacks = self.overdue_callbacks(now).count() as u64;
        let promises = self.overdue_promises(now).count() as u64;
        (callbacks, promises)
    }

    /// Owed callbacks whose due time is before `now`: those that ended before
    /// `now - callback_within`.
    fn overdue_callbacks(&self, now: Timestamp) -> impl Iterator<Item = &OwedEntry> {
        let cutoff = self
            .callback_within
            .and_then(|within| now.checked_sub(within).ok());
        let range = match cutoff {
            Some(cutoff) => self.owed.range(..(cutoff, String::new())),
            None => self.owed.range(..(Timestamp::MIN, String::new())),
        };
        range.map(|(_, entry)| entry)
    }

    fn overdue_promises(&self, now: Timestamp) -> impl Iterator<Item = &PromiseEntry> {
        let cutoff = (now, Timestamp::MIN, String::new(), String::new());
        self.promises.range(..cutoff).map(|(_, entry)| entry)
    }

    /// Follow-up counts per department: owed and overdue now, closed and kept on
    /// time in the window.
    pub fn follow_up_counts(
        &self,
        window: &Window,
        now: Timestamp,
    ) -> HashMap<NameId, FollowUpCounts> {
        let mut counts: HashMap<NameId, FollowUpCounts> = HashMap::new();
        let count = |value: i64| value.max(0) as u64;
        for (department, owed) in self
            .owed_by_department
            .iter()
            .chain(&self.promises_by_department)
        {
            counts.entry(*department).or_default().owed += count(*owed);
        }
        for entry in self.overdue_callbacks(now) {
            counts.entry(entry.department).or_default().overdue += 1;
        }
        for entry in self.overdue_promises(now) {
            counts.entry(entry.department_id).or_default().overdue += 1;
        }
        for (department, (closed, on_time)) in self.closes.sum(window.from, window.to).by_department
        {
            let entry = counts.entry(department).or_default();
            entry.closed += count(closed);
            entry.kept_on_time += count(on_time);
        }
        counts
    }

    /// Hops with an agent in the window, per (agent id, department) pair of name ids
    /// (agents' ids in [`StatsIndex::agents`], departments' in [`StatsIndex::names`]).
    pub fn agent_sums(&self, window: &Window) -> HopSums {
        self.agent_hops.sum(window.from, window.to)
    }

    /// The agent ids kept apart.
    pub fn agents(&self) -> &Names {
        &self.agents
    }

    /// Calls with a bounce between departments `a` and `b` (either way, taken or
    /// blocked) in the window, newest bounce first, at most `limit` after `after`.
    pub fn pair_calls(
        &self,
        window: &Window,
        (a, b): (&str, &str),
        after: Option<&FlaggedCursor>,
        limit: usize,
    ) -> FlaggedPage {
        let empty = FlaggedPage {
            window: *window,
            total: 0,
            items: Vec::new(),
            next: None,
        };
        let (Some(a), Some(b)) = (self.names.id(a), self.names.id(b)) else {
            return empty;
        };
        let pair = (a.min(b), a.max(b));
        let in_window = |key: &BounceKey| key.0 == pair && window.contains(key.1.0);
        let from_start = (pair, Reverse(window.to), String::new());
        let start = match after {
            Some(cursor) => {
                Bound::Excluded((pair, Reverse(cursor.flagged_at), cursor.call_id.clone()))
            }
            None => Bound::Included(from_start.clone()),
        };
        let mut distinct: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (key, _) in self
            .bounce_calls
            .range((Bound::Included(from_start), Bound::Unbounded))
        {
            if key.0 != pair || key.1.0 < window.from {
                break;
            }
            if in_window(key) {
                distinct.insert(key.2.as_str());
            }
        }
        let mut items: Vec<FlaggedCall> = Vec::new();
        let mut more = false;
        for (key, _) in self.bounce_calls.range((start, Bound::Unbounded)) {
            if key.0 != pair || key.1.0 < window.from {
                break;
            }
            if !in_window(key) {
                continue;
            }
            let (Reverse(at), call_id) = (key.1, &key.2);
            let Some(call) = self.calls.get(call_id.as_str()) else {
                continue;
            };
            let hops: Vec<&FlaggedHop> = call
                .bounces
                .iter()
                .filter(|(hop_pair, hop)| *hop_pair == pair && window.contains(hop.at))
                .map(|(_, hop)| hop)
                .collect();
            if hops.iter().map(|hop| hop.at).max() != Some(at) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            let Some(detail) = call.detail.as_ref() else {
                continue;
            };
            items.push(flagged_item(call_id, at, &hops, detail, Verdict::Allow));
        }
        let next = more.then(|| next_cursor(&items)).flatten();
        FlaggedPage {
            window: *window,
            total: distinct.len() as u64,
            items,
            next,
        }
    }

    /// Distinct calls with a hop of each [`Kind`] in the window (see the module comment).
    fn distinct_calls(&self, window: &Window) -> [u64; 3] {
        if window.from >= window.to {
            return [0; 3];
        }
        let firsts = self.boundaries.sum_before(window.to).first;
        let lasts = self.boundaries.sum_before(window.from).last;
        let lowest = Gap {
            end: window.to,
            start: Timestamp::MIN,
            kind: 0,
            sequence: 0,
        };
        let mut spanning = [0i64; 3];
        for gap in self.gaps.range(lowest..) {
            if gap.start < window.from {
                spanning[gap.kind as usize] += 1;
            }
        }
        KINDS.map(|kind| {
            let kind = kind as usize;
            (firsts[kind] - lasts[kind] - spanning[kind]).max(0) as u64
        })
    }

    fn contribute(&mut self, call: &CallRecord) -> Contribution {
        let mut contribution = Contribution::default();
        let mut times: [Vec<Timestamp>; 3] = Default::default();
        for (hop, returning) in classified_hops(call) {
            let from = self.names.acquire(&hop.from);
            let to = self.names.acquire(&hop.to);
            contribution.names.extend([from, to]);
            let looped = is_loop(hop);
            let flags = [
                (hop.moved, MOVED),
                (returning, RETURNING),
                (hop.verdict == Verdict::Warn, WARNED),
                (looped, LOOP),
                (is_cold(hop), COLD),
                (lacks_callback_number(hop), MISSING_CALLBACK),
            ]
            .into_iter()
            .filter(|(set, _)| *set)
            .fold(0, |flags, (_, flag)| flags | flag);
            let at = hop.occurred_at;
            contribution
                .hops
                .push(self.hops.insert(at, HopFact { from, to, flags }));
            if let Some(agent) = hop.agent_id.as_deref() {
                let agent = self.agents.acquire(agent);
                contribution.agent_names.push(agent);
                contribution.agent_hops.push(self.agent_hops.insert(
                    at,
                    HopFact {
                        from: agent,
                        to: from,
                        flags,
                    },
                ));
            }
            if returning {
                let pair = (from.min(to), from.max(to));
                *self
                    .bounce_calls
                    .entry((pair, Reverse(at), call.call_id.as_str().to_owned()))
                    .or_insert(0) += 1;
                contribution.bounces.push((
                    pair,
                    FlaggedHop {
                        at,
                        verdict: hop.verdict,
                        codes: hop
                            .findings
                            .iter()
                            .map(|finding| finding.code.as_str())
                            .collect(),
                    },
                ));
            }
            times[Kind::Any as usize].push(at);
            if looped {
                contribution.loops.push(self.loops.insert(at, ()));
                times[Kind::Loop as usize].push(at);
            }
            if hop.verdict != Verdict::Allow {
                times[Kind::Flagged as usize].push(at);
                contribution.flagged.push(FlaggedHop {
                    at,
                    verdict: hop.verdict,
                    codes: hop
                        .findings
                        .iter()
                        .map(|finding| finding.code.as_str())
                        .collect(),
                });
                *self
                    .flagged
                    .entry((Reverse(at), call.call_id.as_str().to_owned()))
                    .or_insert(0) += 1;
            }
        }
        for kind in KINDS {
            let times = &times[kind as usize];
            let (Some(first), Some(last)) = (times.first(), times.last()) else {
                continue;
            };
            for (at, last) in [(*first, false), (*last, true)] {
                contribution
                    .boundaries
                    .push(self.boundaries.insert(at, Boundary { kind, last }));
            }
            for pair in times.windows(2) {
                if pair[0] < pair[1] {
                    let gap = Gap {
                        end: pair[1],
                        start: pair[0],
                        kind: kind as u8,
                        sequence: self.next_gap,
                    };
                    self.next_gap += 1;
                    self.gaps.insert(gap);
                    contribution.gaps.push(gap);
                }
            }
        }
        if !contribution.flagged.is_empty() || !contribution.bounces.is_empty() {
            contribution.detail = Some(FlaggedDetail {
                chain: chain_or_start(call),
                transfers_taken: call.transfers_taken(),
                ended: call.ended.as_ref().map(|end| end.outcome.as_str()),
            });
        }
        if call.callback_owed()
            && let Some(ended) = call.ended.as_ref()
            && let Some(last) = call.hops.iter().rev().find(|hop| hop.moved)
            && let Some(number) = call.callback_number()
        {
            let department = self.names.acquire(&last.from);
            contribution.names.push(department);
            contribution.owed = Some((ended.occurred_at, department));
            *self.owed_by_department.entry(department).or_insert(0) += 1;
            self.owed.insert(
                (ended.occurred_at, call.call_id.as_str().to_owned()),
                OwedEntry {
                    department,
                    callback_number: number.to_owned(),
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
                },
            );
        }
        if let Some((at, department, on_time)) = callback_closed(call, self.callback_within) {
            let department = self.names.acquire(department);
            contribution.names.push(department);
            let key = self.closes.insert(
                at,
                CloseFact {
                    department,
                    on_time,
                },
            );
            contribution.callback_close = Some(CallbackClose {
                at,
                ended_at: call.ended.as_ref().map_or(at, |end| end.occurred_at),
                department,
                key,
            });
        }
        for promise in &call.promises {
            let department = self.names.acquire(&promise.department);
            contribution.names.push(department);
            match &promise.closed {
                None => {
                    let key = (
                        promise.due_at,
                        promise.made_at,
                        call.call_id.as_str().to_owned(),
                        promise.promise_id.as_str().to_owned(),
                    );
                    self.promises.insert(
                        key.clone(),
                        PromiseEntry {
                            text: promise.text.clone(),
                            department: promise.department.clone(),
                            department_id: department,
                        },
                    );
                    *self.promises_by_department.entry(department).or_insert(0) += 1;
                    contribution.promises.push(key);
                }
                Some(closed) => {
                    let on_time = closed.status == PromiseOutcome::Kept
                        && closed.occurred_at <= promise.due_at;
                    contribution.closes.push(self.closes.insert(
                        closed.occurred_at,
                        CloseFact {
                            department,
                            on_time,
                        },
                    ));
                }
            }
        }
        contribution
    }
}

fn decrement(counts: &mut HashMap<NameId, i64>, key: NameId) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

/// Where a page of flagged calls ends: the last call shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedCursor {
    pub flagged_at: Timestamp,
    pub call_id: String,
}

/// Where a page of callbacks owed ends: the last call shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackCursor {
    pub ended_at: Timestamp,
    pub call_id: String,
}

/// A flagged call of a page: flagged at `at` by `hops` (their worst verdict,
/// `no_verdict` if none, and their codes), with its chain as recorded.
fn flagged_item(
    call_id: &str,
    at: Timestamp,
    hops: &[&FlaggedHop],
    detail: &FlaggedDetail,
    no_verdict: Verdict,
) -> FlaggedCall {
    let mut codes: Vec<String> = hops
        .iter()
        .flat_map(|hop| hop.codes.iter().map(|code| (*code).to_owned()))
        .collect();
    codes.sort();
    codes.dedup();
    FlaggedCall {
        call_id: call_id.to_owned(),
        flagged_at: at,
        verdict: hops
            .iter()
            .map(|hop| hop.verdict)
            .max()
            .unwrap_or(no_verdict),
        codes,
        chain: detail.chain.clone(),
        transfers_taken: detail.transfers_taken,
        ended: detail.ended,
    }
}

/// The cursor after a page of flagged calls: its last one.
fn next_cursor(items: &[FlaggedCall]) -> Option<String> {
    items.last().map(|last| {
        FlaggedCursor {
            flagged_at: last.flagged_at,
            call_id: last.call_id.clone(),
        }
        .encode()
    })
}

/// Cursors are `<RFC 3339 time>~<call id>`: readable, and a call id (which may hold
/// `~`) comes last so the first `~` always ends the time.
fn encode_cursor(at: Timestamp, call_id: &str) -> String {
    format!("{at}~{call_id}")
}

fn decode_cursor(text: &str) -> Option<(Timestamp, String)> {
    let (at, call_id) = text.split_once('~')?;
    Some((at.parse().ok()?, call_id.to_owned()))
}

impl FlaggedCursor {
    pub fn encode(&self) -> String {
        encode_cursor(self.flagged_at, &self.call_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        decode_cursor(text).map(|(flagged_at, call_id)| Self {
            flagged_at,
            call_id,
        })
    }
}

impl CallbackCursor {
    pub fn encode(&self) -> String {
        encode_cursor(self.ended_at, &self.call_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        decode_cursor(text).map(|(ended_at, call_id)| Self { ended_at, call_id })
    }
}
