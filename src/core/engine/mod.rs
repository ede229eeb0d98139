//! The transfer-chain engine: judges each transfer of a live call against the
//! call's history and the routing rules, and keeps the history.
//!
//! Pure: no IO, no async, no clock. Time comes in as [`Timestamp`] arguments (the
//! event's own time, or the shell's time of receipt). The shell serialises access
//! (one `Engine` behind a mutex) and persists what the engine decided.
//!
//! Invariants:
//! - a call's hops are kept in event-time order; a late event is judged against the
//!   hops that happened before it, not the ones that arrived before it;
//! - a blocked transfer is recorded but does not move the call;
//! - an `event_id` is answered once: a redelivery gets the stored answer and changes
//!   nothing, the same id with a different body is a conflict.
//! - every open call is in the idle order at the time it was last seen, every ended
//!   call in the ended order at its end, and no other call is in either: the stores'
//!   sweeps read only the calls they forget, never every call under the lock.

mod answer;
mod judge;
mod promise;
mod record;
mod request;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

pub use answer::{
    ChainStep, EndAnswer, Finding, FindingSeverity, Outcome, Party, Suggestion, TransferAnswer,
    Verdict,
};
pub use judge::{Judgement, is_e164};
pub use record::{
    CallEnd, CallRecord, CallbackMark, Hop, MAX_PROMISES_PER_CALL, Omitted, Promise,
    PromiseClosure, RecordedEvent,
};
pub use request::{
    CallId, CallOutcome, CallbackRequest, CallbackStatus, EndRequest, EventId, InputError,
    MAX_CALLBACK_NUMBER_LENGTH, MAX_EXTERNAL_ID_LENGTH, MAX_PROMISE_TEXT_LENGTH,
    PromiseCloseRequest, PromiseEvent, PromiseId, PromiseOutcome, PromiseRequest, TransferRequest,
    parse_callback_number, parse_department_name,
};

use crate::core::rules::{PolicyMode, Rules};
use judge::judge;
use record::is_loop_code;

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(
        "event_id `{event_id}` was already received with a different body; a redelivery must repeat the original event exactly, a new event needs a new event_id"
    )]
    Conflict { event_id: EventId },
    #[error(
        "call `{call_id}` ended at {ended_at}, before this transfer ({occurred_at}); transfers after the end of a call are refused"
    )]
    CallEnded {
        call_id: CallId,
        ended_at: Timestamp,
        occurred_at: Timestamp,
    },
    #[error("no transfer was recorded for call `{call_id}`; send its transfers before its end")]
    UnknownCall { call_id: CallId },
    #[error(
        "call `{call_id}` already has a promise `{promise_id}` made by another event; give a new promise a new promise_id"
    )]
    PromiseExists {
        call_id: CallId,
        promise_id: PromiseId,
    },
    #[error(
        "call `{call_id}` has no promise `{promise_id}`; record it with POST /v1/calls/{call_id}/promises first"
    )]
    UnknownPromise {
        call_id: CallId,
        promise_id: PromiseId,
    },
    #[error(
        "call `{call_id}` already holds {MAX_PROMISES_PER_CALL} promises, the most one call may hold"
    )]
    TooManyPromises { call_id: CallId },
}

/// Hops kept per call by default: far more than any real call takes, few enough
/// that a runaway call costs a bounded amount of memory and judging time.
pub const DEFAULT_MAX_HOPS_KEPT: usize = 100;

/// All live state: calls and the answers already given.
///
/// Per call only the newest `max_hops_kept` hops are kept, with their recorded
/// events; older ones are counted ([`CallRecord::omitted`]). A durable store still
/// has the dropped events and must answer their redeliveries from disk (see
/// [`Engine::may_have_forgotten`]).
///
/// The maps are B-trees, not hash maps: a hash map that grows moves every entry into
/// a new table at once, under the store's lock, and the stall grows with the map (in
/// the load bench, 12 ms and then 25 ms of CPU for `answers` at 14,336 and 28,672
/// events, which set the webhook's p99); a B-tree grows a node at a time.
#[derive(Debug, Clone)]
pub struct Engine {
    calls: BTreeMap<CallId, CallRecord>,
    /// Every recorded event by id, for redelivery. Boxed: a `RecordedEvent` is a few
    /// hundred bytes, too many to shift about inside B-tree nodes.
    answers: BTreeMap<EventId, Box<RecordedEvent>>,
    /// (last loop time, call) for listing looping calls newest first.
    loops_index: BTreeSet<(Timestamp, CallId)>,
    open_calls: usize,
    max_hops_kept: usize,
    /// When each call last had an event: the time of receipt, or for replayed events
    /// their event time. Decides which open calls are idle.
    last_seen: BTreeMap<CallId, Timestamp>,
    /// (`last_seen`, call) for every open call, oldest first, so that finding the
    /// idle ones reads those and no others (the sweep runs under the store's lock).
    idle_order: BTreeSet<(Timestamp, CallId)>,
    /// (end time, call) for every ended call, oldest first, for the same reason.
    ended_order: BTreeSet<(Timestamp, CallId)>,
    /// Per call, the stored ends, callback marks and promise closes that a newer one
    /// replaced: still answered on redelivery, but no longer reachable from their
    /// call's record, so forgetting the call finds them here (not by a pass over
    /// every stored event under the store's lock).
    superseded: BTreeMap<CallId, Vec<EventId>>,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            calls: BTreeMap::new(),
            answers: BTreeMap::new(),
            loops_index: BTreeSet::new(),
            open_calls: 0,
            max_hops_kept: DEFAULT_MAX_HOPS_KEPT,
            last_seen: BTreeMap::new(),
            idle_order: BTreeSet::new(),
            ended_order: BTreeSet::new(),
            superseded: BTreeMap::new(),
        }
    }
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most `max_hops_kept` hops per call (at least one).
    pub fn with_max_hops_kept(mut self, max_hops_kept: usize) -> Self {
        self.max_hops_kept = max_hops_kept.max(1);
        self
    }

    /// Notes that `call_id` had an event at `at`, and moves an open call to its new
    /// place in the idle order.
    fn seen(&mut self, call_id: &CallId, at: Timestamp) {
        let previous = self.last_seen.get(call_id).copied();
        let last = previous.map_or(at, |previous| previous.max(at));
        if previous == Some(last) {
            return;
        }
        self.last_seen.insert(call_id.clone(), last);
        let open = match previous {
            // Only open calls are in the idle order.
            Some(previous) => self.idle_order.remove(&(previous, call_id.clone())),
            // A replayed transfer is seen before its call exists; `insert_hop` places
            // the new call then.
            None => self
                .calls
                .get(call_id)
                .is_some_and(|record| record.ended.is_none()),
        };
        if open {
            self.idle_order.insert((last, call_id.clone()));
        }
    }

    /// Whether `event_id` may be an event of `call_id` whose hop (and stored answer)
    /// this engine dropped: the call has omitted hops and the id is unknown here.
    pub fn may_have_forgotten(&self, call_id: &str, event_id: &EventId) -> bool {
        !self.answers.contains_key(event_id)
            && self
                .calls
                .get(call_id)
                .is_some_and(|record| !record.omitted.is_empty())
    }

    /// Judges and records a transfer. `received_at` is used when the event has no time.
    /// A durable store persists [`Engine::recorded`] for the event afterwards.
    pub fn transfer(
        &mut self,
        rules: &Rules,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<TransferAnswer>, EngineError> {
        self.judge_and_record(rules, request, received_at, false)
    }

    /// Judges and records a transfer the platform already carried out (a record
    /// from its history): judged exactly like [`Engine::transfer`], against the
    /// hops before it, but it moves the call whatever the verdict, because it
    /// happened. The verdict is what loopguard would have answered.
    pub fn record_history(
        &mut self,
        rules: &Rules,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<TransferAnswer>, EngineError> {
        self.judge_and_record(rules, request, received_at, true)
    }

    fn judge_and_record(
        &mut self,
        rules: &Rules,
        request: TransferRequest,
        received_at: Timestamp,
        carried_out: bool,
    ) -> Result<Outcome<TransferAnswer>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::Transfer {
                request: original,
                answer,
                ..
            } if *original == request => Some((**answer).clone()),
            _ => None,
        }) {
            return result;
        }
        let occurred_at = request.occurred_at.unwrap_or(received_at);
        let record = self.calls.get(&request.call_id);
        if let Some(ended) = record.and_then(|record| record.ended.as_ref())
            && ended.occurred_at < occurred_at
        {
            return Err(EngineError::CallEnded {
                call_id: request.call_id,
                ended_at: ended.occurred_at,
                occurred_at,
            });
        }
        let hops = record.map(|record| record.hops.as_slice()).unwrap_or(&[]);
        let from = Party::resolve(rules, &request.from);
        let to = Party::resolve(rules, &request.to);
        let transfers_omitted = record.map_or(0, |record| record.omitted.transfers_taken);
        let judgement = judge(
            rules,
            hops,
            transfers_omitted,
            &request,
            (&from, &to),
            occurred_at,
        );
        let (position, dropped) = self.insert_hop(
            &request,
            (&from, &to),
            occurred_at,
            (judgement.verdict, &judgement.findings),
            carried_out || judgement.verdict != Verdict::Block,
        );
        self.seen(&request.call_id, received_at);
        let record = &self.calls[&request.call_id];
        let answer = TransferAnswer {
            event_id: request.event_id.clone(),
            call_id: request.call_id.clone(),
            verdict: judgement.verdict,
            from: Some(from),
            to: Some(to),
            enforce_verdict: (rules.policy.mode == PolicyMode::Observe)
                .then_some(judgement.enforce_verdict),
            policy_mode: rules.policy.mode,
            findings: judgement.findings,
            hop: position as u32 + 1,
            transfers_taken: record.transfers_taken(),
            chain: record.chain(),
            hops_omitted: record.omitted.hops,
            suggestion: judgement.suggestion,
            occurred_at,
        };
        self.answers.insert(
            request.event_id.clone(),
            Box::new(RecordedEvent::Transfer {
                request,
                answer: Box::new(answer.clone()),
                carried_out,
            }),
        );
        if let Some(dropped) = dropped {
            self.answers.remove(&dropped);
        }
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    /// Inserts a hop in event-time order and returns its 0-based position in the
    /// whole call (omitted hops counted) and, when the call had already kept
    /// `max_hops_kept` hops, the event id of the oldest hop, dropped to make room.
    /// `moved`: whether the call went where the transfer sent it.
    fn insert_hop(
        &mut self,
        request: &TransferRequest,
        (from, to): (&Party, &Party),
        occurred_at: Timestamp,
        (verdict, findings): (Verdict, &[Finding]),
        moved: bool,
    ) -> (usize, Option<EventId>) {
        if !self.calls.contains_key(&request.call_id) {
            self.open_calls += 1;
            if let Some(&seen) = self.last_seen.get(&request.call_id) {
                self.idle_order.insert((seen, request.call_id.clone()));
            }
        }
        let record = self
            .calls
            .entry(request.call_id.clone())
            .or_insert_with(|| CallRecord {
                call_id: request.call_id.clone(),
                hops: Vec::new(),
                ended: None,
                last_loop_at: None,
                callback: None,
                omitted: record::Omitted::default(),
                promises: Vec::new(),
            });
        let position = record
            .hops
            .partition_point(|hop| hop.occurred_at <= occurred_at);
        record.hops.insert(
            position,
            Hop {
                event_id: request.event_id.clone(),
                from: from.department.clone(),
                to: to.department.clone(),
                from_identity: Some(from.identity.clone()),
                to_identity: Some(to.identity.clone()),
                intent: request.intent.clone(),
                mode: request.mode,
                agent_id: request.agent_id.clone(),
                callback_number: request.callback_number.clone(),
                occurred_at,
                verdict,
                findings: findings.to_vec(),
                moved,
            },
        );
        let has_loop = findings.iter().any(|finding| is_loop_code(finding.code));
        if has_loop && record.last_loop_at.is_none_or(|last| last < occurred_at) {
            if let Some(previous) = record.last_loop_at {
                self.loops_index
                    .remove(&(previous, request.call_id.clone()));
            }
            record.last_loop_at = Some(occurred_at);
            self.loops_index
                .insert((occurred_at, request.call_id.clone()));
        }
        let mut dropped = None;
        if record.hops.len() > self.max_hops_kept {
            let oldest = record.hops.remove(0);
            record.omitted.hops += 1;
            record.omitted.transfers_taken += u32::from(oldest.moved);
            dropped = Some(oldest.event_id);
        }
        (
            position + record.omitted.hops as usize - usize::from(dropped.is_some()),
            dropped,
        )
    }

    /// The stored answer when `event_id` was already recorded: `same` returns it when
    /// the stored event is this very request, otherwise the redelivery is a conflict.
    fn redelivery<T>(
        &self,
        event_id: &EventId,
        same: impl FnOnce(&RecordedEvent) -> Option<T>,
    ) -> Option<Result<Outcome<T>, EngineError>> {
        let stored = self.answers.get(event_id)?;
        Some(match same(stored) {
            Some(answer) => Ok(Outcome {
                answer,
                replayed: true,
            }),
            None => Err(EngineError::Conflict {
                event_id: event_id.clone(),
            }),
        })
    }

    /// Judges a transfer without recording it.
    pub fn evaluate(&self, rules: &Rules, request: &TransferRequest, at: Timestamp) -> Judgement {
        let record = self.calls.get(&request.call_id);
        let hops = record.map(|record| record.hops.as_slice()).unwrap_or(&[]);
        let transfers_omitted = record.map_or(0, |record| record.omitted.transfers_taken);
        let from = Party::resolve(rules, &request.from);
        let to = Party::resolve(rules, &request.to);
        judge(
            rules,
            hops,
            transfers_omitted,
            request,
            (&from, &to),
            request.occurred_at.unwrap_or(at),
        )
    }

    /// Closes a call's chain.
    pub fn end_call(
        &mut self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<EndAnswer>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::End {
                request: original,
                answer,
            } if *original == request => Some(answer.clone()),
            _ => None,
        }) {
            return result;
        }
        let Some(record) = self.calls.get(&request.call_id) else {
            return Err(EngineError::UnknownCall {
                call_id: request.call_id,
            });
        };
        let occurred_at = request.occurred_at.unwrap_or(received_at);
        let answer = EndAnswer {
            event_id: request.event_id.clone(),
            call_id: request.call_id.clone(),
            outcome: request.outcome,
            occurred_at,
            transfers_taken: record.transfers_taken(),
            chain: record.chain(),
        };
        self.apply_end(&request, &answer);
        self.seen(&request.call_id, received_at);
        self.answers.insert(
            request.event_id.clone(),
            Box::new(RecordedEvent::End {
                request,
                answer: answer.clone(),
            }),
        );
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    fn apply_end(&mut self, request: &EndRequest, answer: &EndAnswer) {
        let Some(record) = self.calls.get_mut(&request.call_id) else {
            return;
        };
        match &record.ended {
            None => {
                self.open_calls -= 1;
                if let Some(&seen) = self.last_seen.get(&request.call_id) {
                    self.idle_order.remove(&(seen, request.call_id.clone()));
                }
            }
            Some(previous) => {
                if previous.event_id != request.event_id {
                    self.superseded
                        .entry(request.call_id.clone())
                        .or_default()
                        .push(previous.event_id.clone());
                }
                self.ended_order
                    .remove(&(previous.occurred_at, request.call_id.clone()));
            }
        }
        // A second, different end event replaces the first: the newest word wins.
        record.ended = Some(CallEnd {
            event_id: request.event_id.clone(),
            outcome: request.outcome,
            occurred_at: answer.occurred_at,
        });
        self.ended_order
            .insert((answer.occurred_at, request.call_id.clone()));
    }

    /// Marks a callback as done or failed; the answer is the call record after the mark.
    pub fn mark_callback(
        &mut self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<CallRecord>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::Callback {
                request: original,
                answer,
            } if *original == request => Some(answer.clone()),
            _ => None,
        }) {
            return result;
        }
        let Some(record) = self.calls.get_mut(&request.call_id) else {
            return Err(EngineError::UnknownCall {
                call_id: request.call_id,
            });
        };
        if let Some(previous) = &record.callback {
            self.superseded
                .entry(request.call_id.clone())
                .or_default()
                .push(previous.event_id.clone());
        }
        record.callback = Some(CallbackMark {
            event_id: request.event_id.clone(),
            status: request.status,
            note: request.note.clone(),
            occurred_at: request.occurred_at.unwrap_or(received_at),
        });
        let answer = record.clone();
        self.seen(&request.call_id, received_at);
        self.answers.insert(
            request.event_id.clone(),
            Box::new(RecordedEvent::Callback {
                request,
                answer: answer.clone(),
            }),
        );
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    /// The event most recently recorded under an id (what a durable store persists).
    pub fn recorded(&self, event_id: &EventId) -> Option<&RecordedEvent> {
        self.answers.get(event_id).map(Box::as_ref)
    }

    /// Rebuilds state from a recorded event without judging it again: the answer
    /// stays the one that was given, whatever the rules are now.
    pub fn replay(&mut self, event: RecordedEvent) {
        if self.answers.contains_key(event.event_id()) {
            return;
        }
        let event_time = match &event {
            RecordedEvent::Transfer { answer, .. } => Some(answer.occurred_at),
            RecordedEvent::End { answer, .. } => Some(answer.occurred_at),
            RecordedEvent::Callback { answer, .. } => {
                answer.callback.as_ref().map(|mark| mark.occurred_at)
            }
            RecordedEvent::Promise { .. } | RecordedEvent::PromiseClosed { .. } => {
                Some(event.occurred_at())
            }
        };
        if let Some(at) = event_time
            && (self.calls.contains_key(event.call_id())
                || matches!(event, RecordedEvent::Transfer { .. }))
        {
            self.seen(&event.call_id().clone(), at);
        }
        match &event {
            RecordedEvent::Transfer {
                request,
                answer,
                carried_out,
            } => {
                // The departments the identities resolved to when the event was
                // judged, not what the aliases say now.
                let from = answer
                    .from
                    .clone()
                    .unwrap_or_else(|| Party::named(&request.from));
                let to = answer
                    .to
                    .clone()
                    .unwrap_or_else(|| Party::named(&request.to));
                let (_, dropped) = self.insert_hop(
                    request,
                    (&from, &to),
                    answer.occurred_at,
                    (answer.verdict, &answer.findings),
                    *carried_out || answer.verdict != Verdict::Block,
                );
                self.answers
                    .insert(event.event_id().clone(), Box::new(event));
                if let Some(dropped) = dropped {
                    self.answers.remove(&dropped);
                }
                return;
            }
            RecordedEvent::End { request, answer } => self.apply_end(request, answer),
            RecordedEvent::Callback { request, answer } => {
                if let Some(record) = self.calls.get_mut(&request.call_id) {
                    let replaced = std::mem::replace(&mut record.callback, answer.callback.clone());
                    if let Some(previous) = replaced
                        && previous.event_id != request.event_id
                    {
                        self.superseded
                            .entry(request.call_id.clone())
                            .or_default()
                            .push(previous.event_id);
                    }
                }
            }
            RecordedEvent::Promise { answer, .. } | RecordedEvent::PromiseClosed { answer, .. } => {
                self.replay_promise(answer)
            }
        }
        self.answers
            .insert(event.event_id().clone(), Box::new(event));
    }

    /// Forgets calls that ended before `cutoff` (and their events); returns their ids.
    pub fn evict_ended_before(&mut self, cutoff: Timestamp) -> Vec<CallId> {
        let evicted: Vec<CallId> = self
            .ended_order
            .iter()
            .take_while(|(ended_at, _)| *ended_at < cutoff)
            .map(|(_, call_id)| call_id.clone())
            .collect();
        self.forget_calls(&evicted);
        evicted
    }

    /// Open calls with no event since `cutoff` (at most `limit` of them, the longest
    /// idle first): calls whose end never came. Live events count by time of receipt,
    /// replayed ones by event time.
    pub fn idle_open_calls(&self, cutoff: Timestamp, limit: usize) -> Vec<CallId> {
        self.idle_order
            .iter()
            .take_while(|(last_seen, _)| *last_seen < cutoff)
            .map(|(_, call_id)| call_id.clone())
            .take(limit)
            .collect()
    }

    /// Forgets calls and every event recorded for them.
    pub fn forget_calls(&mut self, call_ids: &[CallId]) {
        self.take_calls(call_ids);
    }

    /// Removes calls, and every event recorded for them, and returns their records:
    /// for a caller that is done with them (a replay closing idle calls) and keeps
    /// memory bounded by the calls still open. Unknown ids are skipped.
    pub fn take_calls(&mut self, call_ids: &[CallId]) -> Vec<CallRecord> {
        let mut taken = Vec::with_capacity(call_ids.len());
        for call_id in call_ids {
            if let Some(seen) = self.last_seen.remove(call_id) {
                self.idle_order.remove(&(seen, call_id.clone()));
            }
            let Some(record) = self.calls.remove(call_id) else {
                continue;
            };
            if record.ended.is_none() {
                self.open_calls -= 1;
            }
            if let Some(at) = record.last_loop_at {
                self.loops_index.remove(&(at, call_id.clone()));
            }
            for hop in &record.hops {
                self.answers.remove(&hop.event_id);
            }
            if let Some(end) = &record.ended {
                self.answers.remove(&end.event_id);
                self.ended_order.remove(&(end.occurred_at, call_id.clone()));
            }
            if let Some(mark) = &record.callback {
                self.answers.remove(&mark.event_id);
            }
            for promise in &record.promises {
                self.answers.remove(&promise.event_id);
                if let Some(closed) = &promise.closed {
                    self.answers.remove(&closed.event_id);
                }
            }
            // Ends, callback marks and promise closes newer ones replaced.
            for event_id in self.superseded.remove(call_id).unwrap_or_default() {
                self.answers.remove(&event_id);
            }
            taken.push(record);
        }
        taken
    }

    pub fn call(&self, call_id: &str) -> Option<&CallRecord> {
        self.calls.get(call_id)
    }

    /// Calls with loop findings, newest loop first, optionally only since a time.
    pub fn loops(&self, since: Option<Timestamp>, limit: usize) -> Vec<&CallRecord> {
        self.loops_index
            .iter()
            .rev()
            .take_while(|(at, _)| since.is_none_or(|since| *at >= since))
            .filter_map(|(_, call_id)| self.calls.get(call_id))
            .take(limit)
            .collect()
    }

    /// Calls that have not ended.
    pub fn active_calls(&self) -> usize {
        self.open_calls
    }

    /// All calls, in no particular order.
    pub fn calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.values()
    }

    /// A new engine with the same hop cap holding copies of these calls (unknown ids
    /// are skipped): their records and when each was last seen, and of the recorded
    /// events only those named in `event_ids` (the ones it will be asked about).
    /// It judges the calls' next events as this engine would and answers the named
    /// redeliveries as this engine would; an event it was not given is not known
    /// to it (a durable store answers such redeliveries from disk, as it does for a
    /// hop the cap dropped).
    pub fn copy_calls<'a>(
        &self,
        call_ids: impl IntoIterator<Item = &'a str>,
        event_ids: impl IntoIterator<Item = &'a EventId>,
    ) -> Engine {
        let mut copy = Engine::new().with_max_hops_kept(self.max_hops_kept);
        for event_id in event_ids {
            if let Some(event) = self.answers.get(event_id) {
                copy.answers.insert(event_id.clone(), event.clone());
            }
        }
        for call_id in call_ids {
            let Some(record) = self.calls.get(call_id) else {
                continue;
            };
            if copy.calls.contains_key(call_id) {
                continue;
            }
            if let Some(at) = record.last_loop_at {
                copy.loops_index.insert((at, record.call_id.clone()));
            }
            let id = &record.call_id;
            let seen = self.last_seen.get(call_id).copied();
            if let Some(at) = seen {
                copy.last_seen.insert(id.clone(), at);
            }
            match &record.ended {
                None => {
                    copy.open_calls += 1;
                    if let Some(at) = seen {
                        copy.idle_order.insert((at, id.clone()));
                    }
                }
                Some(end) => {
                    copy.ended_order.insert((end.occurred_at, id.clone()));
                }
            }
            if let Some(replaced) = self.superseded.get(call_id) {
                copy.superseded.insert(id.clone(), replaced.clone());
            }
            copy.calls.insert(id.clone(), record.clone());
        }
        copy
    }
}

#[cfg(test)]
mod callback_tests {
    use super::*;
    use crate::core::rules::TransferMode;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + second).expect("valid time")
    }

    fn request(event: &str, from: &str, to: &str, number: Option<&str>) -> TransferRequest {
        TransferRequest {
            event_id: EventId::parse(event).unwrap(),
            call_id: CallId::parse("call").unwrap(),
            from: from.to_owned(),
            to: to.to_owned(),
            mode: Some(TransferMode::Warm),
            intent: None,
            callback_number: number.map(str::to_owned),
            agent_id: None,
            occurred_at: None,
        }
    }

    fn end(engine: &mut Engine, outcome: CallOutcome) {
        let request = EndRequest {
            event_id: EventId::parse("end").unwrap(),
            call_id: CallId::parse("call").unwrap(),
            outcome,
            occurred_at: None,
        };
        engine.end_call(request, at(10)).unwrap();
    }

    #[test]
    fn only_a_disconnected_call_with_a_transfer_and_a_number_owes_a_callback() {
        let rules = Rules::default();
        let cases = [
            (CallOutcome::Disconnected, Some("+14155550123"), true),
            (CallOutcome::Disconnected, None, false),
            (CallOutcome::Resolved, Some("+14155550123"), false),
            (CallOutcome::Abandoned, Some("+14155550123"), false),
        ];
        for (outcome, number, owed) in cases {
            let mut engine = Engine::new();
            engine
                .transfer(&rules, request("t", "a", "b", number), at(0))
                .unwrap();
            end(&mut engine, outcome);
            assert_eq!(
                engine.call("call").unwrap().callback_owed(),
                owed,
                "{outcome:?} {number:?}"
            );
        }
    }

    #[test]
    fn replaying_recorded_events_rebuilds_the_same_state() {
        let rules = Rules::default();
        let mut live = Engine::new();
        let mut events = Vec::new();
        for (index, (from, to)) in [("a", "b"), ("b", "a"), ("a", "c")].into_iter().enumerate() {
            let transfer = request(&format!("t{index}"), from, to, Some("+14155550123"));
            let event_id = transfer.event_id.clone();
            live.transfer(&rules, transfer, at(index as i64)).unwrap();
            events.push(live.recorded(&event_id).unwrap().clone());
        }
        end(&mut live, CallOutcome::Disconnected);
        events.push(
            live.recorded(&EventId::parse("end").unwrap())
                .unwrap()
                .clone(),
        );
        let mut rebuilt = Engine::new();
        for event in events {
            rebuilt.replay(event);
        }
        assert_eq!(rebuilt.call("call"), live.call("call"));
        assert_eq!(rebuilt.active_calls(), live.active_calls());
        assert_eq!(rebuilt.loops(None, 10).len(), live.loops(None, 10).len());
        assert_eq!(
            rebuilt.evict_ended_before(at(11)),
            vec![CallId::parse("call").unwrap()]
        );
        assert!(rebuilt.call("call").is_none());
        assert!(rebuilt.recorded(&EventId::parse("t0").unwrap()).is_none());
    }
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + second).expect("valid time")
    }

    fn hop(call: &str, event: &str, from: &str, to: &str, second: i64) -> TransferRequest {
        TransferRequest {
            event_id: EventId::parse(event).unwrap(),
            call_id: CallId::parse(call).unwrap(),
            from: from.to_owned(),
            to: to.to_owned(),
            mode: None,
            intent: None,
            callback_number: None,
            agent_id: None,
            occurred_at: Some(at(second)),
        }
    }

    #[test]
    fn a_copy_of_a_capped_call_judges_and_answers_as_the_original() {
        let rules = Rules::default();
        let mut engine = Engine::new().with_max_hops_kept(3);
        let departments = ["a", "b", "c", "d", "e", "f"];
        for index in 0..5 {
            let (from, to) = (departments[index], departments[index + 1]);
            engine
                .transfer(
                    &rules,
                    hop("kept", &format!("k{index}"), from, to, index as i64),
                    at(0),
                )
                .unwrap();
            engine
                .transfer(
                    &rules,
                    hop("other", &format!("o{index}"), from, to, index as i64),
                    at(0),
                )
                .unwrap();
        }
        let asked = [EventId::parse("k4").unwrap(), EventId::parse("o4").unwrap()];
        let mut copy = engine.copy_calls(["kept", "missing"], &asked);
        assert_eq!(copy.call("kept"), engine.call("kept"));
        assert!(copy.call("other").is_none());
        assert_eq!(copy.active_calls(), 1);
        // The expiry orders hold the copied call as the original's do.
        let kept = CallId::parse("kept").unwrap();
        assert_eq!(
            copy.idle_open_calls(at(10), usize::MAX),
            std::slice::from_ref(&kept)
        );
        assert!(engine.idle_open_calls(at(10), usize::MAX).contains(&kept));
        // A kept hop's redelivery is answered from the copy; a dropped one is not known.
        let kept = copy
            .transfer(&rules, hop("kept", "k4", "e", "f", 4), at(0))
            .unwrap();
        assert!(kept.replayed);
        assert!(copy.may_have_forgotten("kept", &EventId::parse("k0").unwrap()));
        // The next hop is judged the same way (omitted transfers counted).
        let next = hop("kept", "k5", "f", "a", 5);
        let from_copy = copy.transfer(&rules, next.clone(), at(0)).unwrap();
        let from_original = engine.transfer(&rules, next, at(0)).unwrap();
        assert_eq!(from_copy.answer, from_original.answer);
        assert_eq!(copy.call("kept"), engine.call("kept"));
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use crate::core::rules::TransferMode;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + second).expect("valid time")
    }

    fn hop(event: &str, from: &str, to: &str, second: i64) -> TransferRequest {
        TransferRequest {
            event_id: EventId::parse(event).unwrap(),
            call_id: CallId::parse("call").unwrap(),
            from: from.to_owned(),
            to: to.to_owned(),
            mode: Some(TransferMode::Warm),
            intent: None,
            callback_number: Some("+14155550123".to_owned()),
            agent_id: None,
            occurred_at: Some(at(second)),
        }
    }

    #[test]
    fn a_blocked_transfer_from_history_still_moves_the_call_and_the_next_bounce_is_caught() {
        let rules = Rules::default();
        let mut engine = Engine::new();
        engine
            .record_history(&rules, hop("1", "a", "b", 0), at(0))
            .unwrap();
        let back = engine
            .record_history(&rules, hop("2", "b", "a", 60), at(60))
            .unwrap();
        assert_eq!(back.answer.verdict, Verdict::Block);
        assert_eq!(back.answer.transfers_taken, 2, "the blocked hop happened");
        let again = engine
            .record_history(&rules, hop("3", "a", "b", 120), at(120))
            .unwrap();
        let codes: Vec<&str> = again
            .answer
            .findings
            .iter()
            .map(|finding| finding.code.as_str())
            .collect();
        assert!(codes.contains(&"ping-pong"), "{codes:?}");
        // A live engine given the same requests does not move the call on block,
        // so the third transfer comes from where it never went.
        let mut live = Engine::new();
        live.transfer(&rules, hop("1", "a", "b", 0), at(0)).unwrap();
        live.transfer(&rules, hop("2", "b", "a", 60), at(60))
            .unwrap();
        assert_eq!(live.call("call").unwrap().transfers_taken(), 1);
    }

    #[test]
    fn replaying_a_carried_out_transfer_keeps_it_moved() {
        let rules = Rules::default();
        let mut engine = Engine::new();
        engine
            .record_history(&rules, hop("1", "a", "b", 0), at(0))
            .unwrap();
        engine
            .record_history(&rules, hop("2", "b", "a", 60), at(60))
            .unwrap();
        let recorded: Vec<RecordedEvent> = ["1", "2"]
            .iter()
            .map(|id| {
                engine
                    .recorded(&EventId::parse(id).unwrap())
                    .unwrap()
                    .clone()
            })
            .collect();
        let text = serde_json::to_string(&recorded[1]).unwrap();
        assert!(text.contains("\"carried_out\":true"), "{text}");
        let mut rebuilt = Engine::new();
        for event in recorded {
            rebuilt.replay(event);
        }
        assert_eq!(rebuilt.call("call"), engine.call("call"));
    }

    #[test]
    fn taking_calls_forgets_them_and_their_events() {
        let rules = Rules::default();
        let mut engine = Engine::new();
        engine
            .record_history(&rules, hop("1", "a", "b", 0), at(0))
            .unwrap();
        let taken = engine.take_calls(&[
            CallId::parse("call").unwrap(),
            CallId::parse("other").unwrap(),
        ]);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].hops.len(), 1);
        assert!(engine.call("call").is_none());
        assert!(engine.recorded(&EventId::parse("1").unwrap()).is_none());
        assert_eq!(engine.active_calls(), 0);
    }

    #[test]
    fn taking_a_call_also_forgets_the_ends_a_newer_end_replaced() {
        let rules = Rules::default();
        let mut engine = Engine::new();
        engine
            .record_history(&rules, hop("1", "a", "b", 0), at(0))
            .unwrap();
        for (id, second) in [("end-1", 10), ("end-2", 20)] {
            let end = EndRequest {
                event_id: EventId::parse(id).unwrap(),
                call_id: CallId::parse("call").unwrap(),
                outcome: CallOutcome::Resolved,
                occurred_at: Some(at(second)),
            };
            engine.end_call(end, at(second)).unwrap();
        }
        engine.take_calls(&[CallId::parse("call").unwrap()]);
        for id in ["1", "end-1", "end-2"] {
            assert!(
                engine.recorded(&EventId::parse(id).unwrap()).is_none(),
                "{id}"
            );
        }
    }

    #[test]
    fn taking_a_call_forgets_replaced_marks_and_closes_also_after_a_replay() {
        let rules = Rules::default();
        let mut engine = Engine::new();
        let call = |id: &str| CallId::parse(id).unwrap();
        let event = |id: &str| EventId::parse(id).unwrap();
        for (id, call_id) in [("1", "call"), ("other-1", "other")] {
            let mut request = hop(id, "a", "b", 0);
            request.call_id = call(call_id);
            engine.record_history(&rules, request, at(0)).unwrap();
        }
        for (id, status, second) in [
            ("mark-1", CallbackStatus::Failed, 10),
            ("mark-2", CallbackStatus::Done, 20),
        ] {
            let mark = CallbackRequest {
                event_id: event(id),
                call_id: call("call"),
                status,
                note: None,
                occurred_at: Some(at(second)),
            };
            engine.mark_callback(mark, at(second)).unwrap();
        }
        let make = PromiseRequest {
            event_id: event("promise"),
            call_id: call("call"),
            promise_id: PromiseId::parse("p").unwrap(),
            text: "call back".to_owned(),
            due_at: at(3600),
            department: None,
            occurred_at: Some(at(30)),
        };
        engine
            .promise(&rules, PromiseEvent::Make(make), at(30))
            .unwrap();
        for (id, status, second) in [
            ("close-1", PromiseOutcome::Broken, 40),
            ("close-2", PromiseOutcome::Kept, 50),
        ] {
            let close = PromiseCloseRequest {
                event_id: event(id),
                call_id: call("call"),
                promise_id: PromiseId::parse("p").unwrap(),
                status,
                note: None,
                occurred_at: Some(at(second)),
            };
            engine
                .promise(&rules, PromiseEvent::Close(close), at(second))
                .unwrap();
        }
        let ids = ["1", "mark-1", "mark-2", "promise", "close-1", "close-2"];
        let mut rebuilt = Engine::new();
        for id in ["1", "other-1"].iter().chain(&ids[1..]) {
            rebuilt.replay(engine.recorded(&event(id)).unwrap().clone());
        }
        for engine in [&mut engine, &mut rebuilt] {
            // Replaced ones are still answered on redelivery until the call goes.
            assert!(engine.recorded(&event("mark-1")).is_some());
            assert!(engine.recorded(&event("close-1")).is_some());
            engine.take_calls(&[call("call")]);
            for id in ids {
                assert!(engine.recorded(&event(id)).is_none(), "{id}");
            }
            assert!(engine.recorded(&event("other-1")).is_some());
            assert!(engine.superseded.is_empty());
        }
    }
}
