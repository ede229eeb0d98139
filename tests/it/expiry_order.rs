//! Property tests of the engine's expiry orders (idle open calls by when they were
//! last seen, ended calls by their end) against a simple model.
//!
//! Random transfers, ends and callback marks of a few calls, with event times and
//! times of receipt drawn independently (late and early events included), are fed
//! to the engine, with idle expiries and retention evictions in between. The model
//! keeps, per call, when it was last seen and when it ended, and finds the calls to
//! forget by looking at every call. After every step `Engine::idle_open_calls` and
//! `Engine::evict_ended_before` must name the model's calls, the longest idle first;
//! at the end an engine rebuilt by replaying the recorded events (last seen by event
//! time) must agree with a model built the same way.

use std::collections::BTreeMap;

use jiff::Timestamp;
use loopguard::core::engine::{
    CallId, CallOutcome, CallbackRequest, CallbackStatus, EndRequest, Engine, EventId,
    RecordedEvent, TransferRequest,
};
use loopguard::core::rules::Rules;
use proptest::prelude::*;

const CALLS: usize = 5;
const EPOCH: i64 = 1_800_000_000;
/// Event times and times of receipt are whole seconds below this after the epoch, so
/// that calls often share a time.
const SECONDS: i64 = 60;

#[derive(Debug, Clone)]
enum Step {
    Transfer {
        call: usize,
        at: i64,
        received: i64,
    },
    End {
        call: usize,
        at: i64,
        received: i64,
    },
    Callback {
        call: usize,
        at: i64,
        received: i64,
    },
    /// Forget the open calls idle since before this second.
    Expire(i64),
    /// Forget the calls that ended before this second.
    Evict(i64),
}

fn step() -> impl Strategy<Value = Step> {
    let call = 0..CALLS;
    let second = || 0..SECONDS;
    prop_oneof![
        6 => (call.clone(), second(), second())
            .prop_map(|(call, at, received)| Step::Transfer { call, at, received }),
        2 => (call.clone(), second(), second())
            .prop_map(|(call, at, received)| Step::End { call, at, received }),
        1 => (call, second(), second())
            .prop_map(|(call, at, received)| Step::Callback { call, at, received }),
        1 => (0..SECONDS + 2).prop_map(Step::Expire),
        1 => (0..SECONDS + 2).prop_map(Step::Evict),
    ]
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(EPOCH + second).expect("valid time")
}

fn call_id(call: usize) -> CallId {
    CallId::parse(&format!("call-{call}")).expect("valid call id")
}

/// What the model knows of a call the engine holds.
#[derive(Debug, Clone, Copy)]
struct ModelCall {
    last_seen: Timestamp,
    ended_at: Option<Timestamp>,
}

#[derive(Debug, Default, Clone)]
struct Model {
    calls: BTreeMap<CallId, ModelCall>,
}

impl Model {
    fn seen(&mut self, call_id: &CallId, at: Timestamp) {
        let call = self.calls.entry(call_id.clone()).or_insert(ModelCall {
            last_seen: at,
            ended_at: None,
        });
        call.last_seen = call.last_seen.max(at);
    }

    /// Open calls last seen before `cutoff`, the longest idle first (ties by id).
    fn idle(&self, cutoff: Timestamp) -> Vec<CallId> {
        let mut idle: Vec<(Timestamp, CallId)> = self
            .calls
            .iter()
            .filter(|(_, call)| call.ended_at.is_none() && call.last_seen < cutoff)
            .map(|(call_id, call)| (call.last_seen, call_id.clone()))
            .collect();
        idle.sort();
        idle.into_iter().map(|(_, call_id)| call_id).collect()
    }

    /// Calls that ended before `cutoff`, in any order.
    fn ended_before(&self, cutoff: Timestamp) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, call)| call.ended_at.is_some_and(|ended_at| ended_at < cutoff))
            .map(|(call_id, _)| call_id.clone())
            .collect()
    }

    fn forget(&mut self, call_ids: &[CallId]) {
        for call_id in call_ids {
            self.calls.remove(call_id);
        }
    }
}

fn sorted(mut call_ids: Vec<CallId>) -> Vec<CallId> {
    call_ids.sort();
    call_ids
}

/// Every idle cutoff and limit, and every eviction cutoff (on a copy), agree.
fn check(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for cutoff in (0..SECONDS + 2).map(at) {
        let idle = model.idle(cutoff);
        prop_assert_eq!(&engine.idle_open_calls(cutoff, usize::MAX), &idle);
        for limit in 0..3 {
            let first = &idle[..limit.min(idle.len())];
            prop_assert_eq!(engine.idle_open_calls(cutoff, limit), first);
        }
        let evicted = engine.clone().evict_ended_before(cutoff);
        prop_assert_eq!(sorted(evicted), sorted(model.ended_before(cutoff)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn idle_and_ended_calls_are_found_as_a_scan_of_every_call_finds_them(
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let rules = Rules::default();
        let mut engine = Engine::new();
        let mut model = Model::default();
        let mut sent: Vec<EventId> = Vec::new();
        for (number, step) in steps.iter().enumerate() {
            let event_id = EventId::parse(&format!("e{number}")).expect("valid event id");
            sent.push(event_id.clone());
            match *step {
                Step::Transfer { call, at: time, received } => {
                    let request = TransferRequest {
                        event_id,
                        call_id: call_id(call),
                        from: "front".to_owned(),
                        to: "sales".to_owned(),
                        mode: None,
                        intent: None,
                        callback_number: None,
                        agent_id: None,
                        occurred_at: Some(at(time)),
                    };
                    if engine.transfer(&rules, request, at(received)).is_ok() {
                        model.seen(&call_id(call), at(received));
                    }
                }
                Step::End { call, at: time, received } => {
                    let request = EndRequest {
                        event_id,
                        call_id: call_id(call),
                        outcome: CallOutcome::Resolved,
                        occurred_at: Some(at(time)),
                    };
                    if engine.end_call(request, at(received)).is_ok() {
                        model.seen(&call_id(call), at(received));
                        if let Some(model_call) = model.calls.get_mut(&call_id(call)) {
                            model_call.ended_at = Some(at(time));
                        }
                    }
                }
                Step::Callback { call, at: time, received } => {
                    let request = CallbackRequest {
                        event_id,
                        call_id: call_id(call),
                        status: CallbackStatus::Done,
                        note: None,
                        occurred_at: Some(at(time)),
                    };
                    if engine.mark_callback(request, at(received)).is_ok() {
                        model.seen(&call_id(call), at(received));
                    }
                }
                Step::Expire(second) => {
                    let idle = engine.idle_open_calls(at(second), usize::MAX);
                    prop_assert_eq!(&idle, &model.idle(at(second)));
                    engine.forget_calls(&idle);
                    model.forget(&idle);
                }
                Step::Evict(second) => {
                    let evicted = engine.evict_ended_before(at(second));
                    prop_assert_eq!(sorted(evicted.clone()), sorted(model.ended_before(at(second))));
                    model.forget(&evicted);
                }
            }
            prop_assert_eq!(engine.active_calls(), model.idle(at(SECONDS + 1)).len());
            check(&engine, &model)?;
        }

        // A durable store rebuilds the engine from the recorded events at start; then
        // a call was last seen at the newest event time it had.
        let mut replayed = Engine::new();
        let mut replayed_model = Model::default();
        for event_id in &sent {
            let Some(event) = engine.recorded(event_id).cloned() else {
                continue;
            };
            let call_id = event.call_id().clone();
            let known = replayed_model.calls.contains_key(&call_id);
            match &event {
                RecordedEvent::Transfer { answer, .. } => {
                    replayed_model.seen(&call_id, answer.occurred_at);
                }
                RecordedEvent::End { answer, .. } if known => {
                    replayed_model.seen(&call_id, answer.occurred_at);
                    if let Some(model_call) = replayed_model.calls.get_mut(&call_id) {
                        model_call.ended_at = Some(answer.occurred_at);
                    }
                }
                RecordedEvent::Callback { answer, .. } if known => {
                    if let Some(mark) = &answer.callback {
                        replayed_model.seen(&call_id, mark.occurred_at);
                    }
                }
                RecordedEvent::End { .. } | RecordedEvent::Callback { .. } => {}
                RecordedEvent::Promise { .. } | RecordedEvent::PromiseClosed { .. } => {
                    unreachable!("the steps make no promises")
                }
            }
            replayed.replay(event);
        }
        check(&replayed, &replayed_model)?;
    }
}
