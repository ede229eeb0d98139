//! Promises made on a call: recorded, kept or broken, through the same recorded
//! events as transfers, ends and callback marks (redeliveries answered the same,
//! the same id with a different body a conflict).

use jiff::Timestamp;

use super::answer::{Outcome, Party};
use super::record::{MAX_PROMISES_PER_CALL, Promise, PromiseClosure, RecordedEvent};
use super::request::{PromiseCloseRequest, PromiseEvent, PromiseRequest};
use super::{Engine, EngineError};
use crate::core::rules::Rules;

impl Engine {
    /// Records a promise event; the answer is the promise after it. `rules` resolve
    /// the department the platform named; `received_at` is used when the event has
    /// no time.
    pub fn promise(
        &mut self,
        rules: &Rules,
        event: PromiseEvent,
        received_at: Timestamp,
    ) -> Result<Outcome<Promise>, EngineError> {
        match event {
            PromiseEvent::Make(request) => self.make_promise(rules, request, received_at),
            PromiseEvent::Close(request) => self.close_promise(request, received_at),
        }
    }

    fn make_promise(
        &mut self,
        rules: &Rules,
        request: PromiseRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<Promise>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::Promise {
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
        if record
            .promises
            .iter()
            .any(|promise| promise.promise_id == request.promise_id)
        {
            return Err(EngineError::PromiseExists {
                call_id: request.call_id,
                promise_id: request.promise_id,
            });
        }
        if record.promises.len() >= MAX_PROMISES_PER_CALL {
            return Err(EngineError::TooManyPromises {
                call_id: request.call_id,
            });
        }
        // Without a department the promise is owed where the call is now.
        let party = match &request.department {
            Some(identity) => Party::resolve(rules, identity),
            None => {
                let current = record
                    .hops
                    .iter()
                    .rev()
                    .find(|hop| hop.moved)
                    .map(|hop| hop.to.as_str())
                    .or_else(|| record.hops.first().map(|hop| hop.from.as_str()))
                    .unwrap_or_default();
                Party::named(current)
            }
        };
        let department_identity = (request.department.is_some()
            && party.identity != party.department)
            .then(|| party.identity.clone());
        let promise = Promise {
            promise_id: request.promise_id.clone(),
            call_id: request.call_id.clone(),
            event_id: request.event_id.clone(),
            text: request.text.clone(),
            due_at: request.due_at,
            department: party.department,
            department_identity,
            made_at: request.occurred_at.unwrap_or(received_at),
            closed: None,
        };
        record.promises.push(promise.clone());
        self.seen(&request.call_id, received_at);
        self.answers.insert(
            request.event_id.clone(),
            Box::new(RecordedEvent::Promise {
                request,
                answer: promise.clone(),
            }),
        );
        Ok(Outcome {
            answer: promise,
            replayed: false,
        })
    }

    /// Closes a promise as kept or broken. A second, different close replaces the
    /// first: the newest word wins, as for call ends and callback marks.
    fn close_promise(
        &mut self,
        request: PromiseCloseRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<Promise>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::PromiseClosed {
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
        let Some(promise) = record
            .promises
            .iter_mut()
            .find(|promise| promise.promise_id == request.promise_id)
        else {
            return Err(EngineError::UnknownPromise {
                call_id: request.call_id,
                promise_id: request.promise_id,
            });
        };
        let replaced = promise.closed.replace(PromiseClosure {
            event_id: request.event_id.clone(),
            status: request.status,
            note: request.note.clone(),
            occurred_at: request.occurred_at.unwrap_or(received_at),
        });
        let answer = promise.clone();
        if let Some(previous) = replaced {
            // The earlier close is still answered on redelivery, but no longer
            // reachable from the call: forgetting the call must find it.
            self.superseded
                .entry(request.call_id.clone())
                .or_default()
                .push(previous.event_id);
        }
        self.seen(&request.call_id, received_at);
        self.answers.insert(
            request.event_id.clone(),
            Box::new(RecordedEvent::PromiseClosed {
                request,
                answer: answer.clone(),
            }),
        );
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    /// Puts a recorded promise (as it was after its event) back on its call.
    pub(super) fn replay_promise(&mut self, answer: &Promise) {
        let Some(record) = self.calls.get_mut(&answer.call_id) else {
            return;
        };
        match record
            .promises
            .iter_mut()
            .find(|promise| promise.promise_id == answer.promise_id)
        {
            Some(promise) => {
                let replaced_close = promise.closed.as_ref().and_then(|closed| {
                    answer
                        .closed
                        .as_ref()
                        .is_none_or(|new| new.event_id != closed.event_id)
                        .then(|| closed.event_id.clone())
                });
                *promise = answer.clone();
                if let Some(event_id) = replaced_close {
                    self.superseded
                        .entry(answer.call_id.clone())
                        .or_default()
                        .push(event_id);
                }
            }
            None => record.promises.push(answer.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::{CallId, EventId, PromiseId, PromiseOutcome, TransferRequest};
    use crate::core::rules::TransferMode;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + second).expect("valid time")
    }

    fn engine_with_call() -> Engine {
        let mut engine = Engine::new();
        let request = TransferRequest {
            event_id: EventId::parse("t1").unwrap(),
            call_id: CallId::parse("call").unwrap(),
            from: "front".to_owned(),
            to: "billing".to_owned(),
            mode: Some(TransferMode::Warm),
            intent: None,
            callback_number: Some("+14155550123".to_owned()),
            agent_id: None,
            occurred_at: Some(at(0)),
        };
        engine.transfer(&Rules::default(), request, at(0)).unwrap();
        engine
    }

    fn make(event: &str, promise: &str, department: Option<&str>) -> PromiseEvent {
        PromiseEvent::Make(PromiseRequest {
            event_id: EventId::parse(event).unwrap(),
            call_id: CallId::parse("call").unwrap(),
            promise_id: PromiseId::parse(promise).unwrap(),
            text: "refund by Friday".to_owned(),
            due_at: at(3_600),
            department: department.map(str::to_owned),
            occurred_at: Some(at(10)),
        })
    }

    fn close(event: &str, promise: &str, status: PromiseOutcome, second: i64) -> PromiseEvent {
        PromiseEvent::Close(PromiseCloseRequest {
            event_id: EventId::parse(event).unwrap(),
            call_id: CallId::parse("call").unwrap(),
            promise_id: PromiseId::parse(promise).unwrap(),
            status,
            note: None,
            occurred_at: Some(at(second)),
        })
    }

    #[test]
    fn a_promise_is_owed_where_the_call_is_unless_it_names_a_department() {
        let rules = Rules::default();
        let mut engine = engine_with_call();
        let made = engine
            .promise(&rules, make("p1", "a", None), at(10))
            .unwrap();
        assert_eq!(made.answer.department, "billing");
        assert!(!made.replayed && made.answer.is_open());
        let named = engine
            .promise(&rules, make("p2", "b", Some("retention")), at(10))
            .unwrap();
        assert_eq!(named.answer.department, "retention");
        assert_eq!(engine.call("call").unwrap().promises.len(), 2);
    }

    #[test]
    fn redelivery_is_answered_the_same_and_a_changed_body_or_a_reused_promise_id_conflicts() {
        let rules = Rules::default();
        let mut engine = engine_with_call();
        let first = engine
            .promise(&rules, make("p1", "a", None), at(10))
            .unwrap();
        let again = engine
            .promise(&rules, make("p1", "a", None), at(99))
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.answer, first.answer);
        assert!(matches!(
            engine.promise(&rules, make("p1", "other", None), at(10)),
            Err(EngineError::Conflict { .. })
        ));
        assert!(matches!(
            engine.promise(&rules, make("p2", "a", None), at(10)),
            Err(EngineError::PromiseExists { .. })
        ));
    }

    #[test]
    fn closing_marks_kept_on_time_only_when_kept_by_the_due_time() {
        let rules = Rules::default();
        let mut engine = engine_with_call();
        engine
            .promise(&rules, make("p1", "a", None), at(10))
            .unwrap();
        let kept = engine
            .promise(&rules, close("c1", "a", PromiseOutcome::Kept, 3_600), at(0))
            .unwrap();
        assert!(kept.answer.kept_on_time());
        let late = engine
            .promise(&rules, close("c2", "a", PromiseOutcome::Kept, 3_601), at(0))
            .unwrap();
        assert!(!late.answer.kept_on_time(), "the newest word wins");
        assert!(matches!(
            engine.promise(
                &rules,
                close("c3", "nope", PromiseOutcome::Broken, 0),
                at(0)
            ),
            Err(EngineError::UnknownPromise { .. })
        ));
    }

    #[test]
    fn a_call_holds_a_bounded_number_of_promises_and_unknown_calls_none() {
        let rules = Rules::default();
        let mut engine = engine_with_call();
        for number in 0..MAX_PROMISES_PER_CALL {
            let event = make(&format!("p{number}"), &format!("promise-{number}"), None);
            engine.promise(&rules, event, at(10)).unwrap();
        }
        assert!(matches!(
            engine.promise(&rules, make("one-more", "one-more", None), at(10)),
            Err(EngineError::TooManyPromises { .. })
        ));
        let mut empty = Engine::new();
        assert!(matches!(
            empty.promise(&rules, make("p1", "a", None), at(10)),
            Err(EngineError::UnknownCall { .. })
        ));
    }

    #[test]
    fn replaying_promise_events_rebuilds_the_call_and_forgetting_the_call_drops_them() {
        let rules = Rules::default();
        let mut live = engine_with_call();
        live.promise(&rules, make("p1", "a", None), at(10)).unwrap();
        live.promise(&rules, close("c1", "a", PromiseOutcome::Broken, 20), at(20))
            .unwrap();
        let mut rebuilt = Engine::new();
        for id in ["t1", "p1", "c1"] {
            let event = live.recorded(&EventId::parse(id).unwrap()).unwrap().clone();
            let text = serde_json::to_string(&event).unwrap();
            rebuilt.replay(serde_json::from_str(&text).unwrap());
        }
        assert_eq!(rebuilt.call("call"), live.call("call"));
        let again = rebuilt
            .promise(&rules, close("c1", "a", PromiseOutcome::Broken, 20), at(99))
            .unwrap();
        assert!(again.replayed, "a replayed event is still answered once");
        rebuilt.forget_calls(&[CallId::parse("call").unwrap()]);
        assert!(rebuilt.recorded(&EventId::parse("p1").unwrap()).is_none());
    }
}
