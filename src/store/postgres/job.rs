//! A request waiting for a writer, the engine's decision on it, and its reply.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::core::engine::{
    CallId, CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, EventId,
    Outcome, Promise, PromiseEvent, RecordedEvent, TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;
use crate::store::StoreError;

type Reply<T> = oneshot::Sender<Result<Outcome<T>, StoreError>>;
type Decision<T> = Option<Result<Outcome<T>, EngineError>>;

/// One event on its way to the database. The decision is taken by the engine inside
/// the batch's transaction and sent only after that transaction committed.
pub(super) struct Job {
    /// After this the requester has had its 503; the job is not worth running.
    pub deadline: Instant,
    pub kind: JobKind,
}

pub(super) enum JobKind {
    Transfer {
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
        reply: Reply<TransferAnswer>,
        decision: Decision<TransferAnswer>,
    },
    End {
        request: EndRequest,
        received_at: Timestamp,
        reply: Reply<EndAnswer>,
        decision: Decision<EndAnswer>,
    },
    Callback {
        request: CallbackRequest,
        received_at: Timestamp,
        reply: Reply<CallRecord>,
        decision: Decision<CallRecord>,
    },
    /// A promise made or closed: `rules` resolve the department a new one names.
    Promise {
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
        reply: Reply<Promise>,
        decision: Decision<Promise>,
    },
}

impl Job {
    pub fn call_id(&self) -> &CallId {
        match &self.kind {
            JobKind::Transfer { request, .. } => &request.call_id,
            JobKind::End { request, .. } => &request.call_id,
            JobKind::Callback { request, .. } => &request.call_id,
            JobKind::Promise { event, .. } => event.call_id(),
        }
    }

    pub fn event_id(&self) -> &EventId {
        match &self.kind {
            JobKind::Transfer { request, .. } => &request.event_id,
            JobKind::End { request, .. } => &request.event_id,
            JobKind::Callback { request, .. } => &request.event_id,
            JobKind::Promise { event, .. } => event.event_id(),
        }
    }

    /// The requester went away or was already answered 503 at its deadline.
    pub fn abandoned(&self, now: Instant) -> bool {
        let closed = match &self.kind {
            JobKind::Transfer { reply, .. } => reply.is_closed(),
            JobKind::End { reply, .. } => reply.is_closed(),
            JobKind::Callback { reply, .. } => reply.is_closed(),
            JobKind::Promise { reply, .. } => reply.is_closed(),
        };
        closed || now >= self.deadline
    }

    /// Runs the engine on this event (replacing an earlier attempt's decision);
    /// returns whether the engine recorded a new event, which must then be written.
    pub fn decide(&mut self, engine: &mut Engine) -> bool {
        fn fresh<T>(decision: &Decision<T>) -> bool {
            matches!(decision, Some(Ok(outcome)) if !outcome.replayed)
        }
        match &mut self.kind {
            JobKind::Transfer {
                rules,
                request,
                received_at,
                decision,
                ..
            } => {
                *decision = Some(engine.transfer(rules, request.clone(), *received_at));
                fresh(decision)
            }
            JobKind::End {
                request,
                received_at,
                decision,
                ..
            } => {
                *decision = Some(engine.end_call(request.clone(), *received_at));
                fresh(decision)
            }
            JobKind::Callback {
                request,
                received_at,
                decision,
                ..
            } => {
                *decision = Some(engine.mark_callback(request.clone(), *received_at));
                fresh(decision)
            }
            JobKind::Promise {
                rules,
                event,
                received_at,
                decision,
                ..
            } => {
                *decision = Some(engine.promise(rules, event.clone(), *received_at));
                fresh(decision)
            }
        }
    }

    /// Decides from the event stored under this event id, which the engine does not
    /// hold (a hop the cap dropped, an id of another call): the stored answer for
    /// the same request, a conflict for anything else.
    pub fn answer_from_stored(&mut self, stored: &RecordedEvent) {
        fn replayed<T>(same: Option<T>, event_id: EventId) -> Decision<T> {
            Some(match same {
                Some(answer) => Ok(Outcome {
                    answer,
                    replayed: true,
                }),
                None => Err(EngineError::Conflict { event_id }),
            })
        }
        let event_id = self.event_id().clone();
        match &mut self.kind {
            JobKind::Transfer {
                request, decision, ..
            } => {
                let same = match stored {
                    RecordedEvent::Transfer {
                        request: original,
                        answer,
                        ..
                    } if original == request => Some((**answer).clone()),
                    _ => None,
                };
                *decision = replayed(same, event_id);
            }
            JobKind::End {
                request, decision, ..
            } => {
                let same = match stored {
                    RecordedEvent::End {
                        request: original,
                        answer,
                    } if original == request => Some(answer.clone()),
                    _ => None,
                };
                *decision = replayed(same, event_id);
            }
            JobKind::Callback {
                request, decision, ..
            } => {
                let same = match stored {
                    RecordedEvent::Callback {
                        request: original,
                        answer,
                    } if original == request => Some(answer.clone()),
                    _ => None,
                };
                *decision = replayed(same, event_id);
            }
            JobKind::Promise {
                event, decision, ..
            } => {
                let same = match (stored, &*event) {
                    (
                        RecordedEvent::Promise {
                            request: original,
                            answer,
                        },
                        PromiseEvent::Make(request),
                    ) if original == request => Some(answer.clone()),
                    (
                        RecordedEvent::PromiseClosed {
                            request: original,
                            answer,
                        },
                        PromiseEvent::Close(request),
                    ) if original == request => Some(answer.clone()),
                    _ => None,
                };
                *decision = replayed(same, event_id);
            }
        }
    }

    /// Sends the decision; call only after the transaction that holds it committed.
    pub fn answer(self) {
        // A requester that went away needs no answer.
        let undecided = || StoreError::Unavailable("the event was not decided".to_owned());
        match self.kind {
            JobKind::Transfer {
                reply, decision, ..
            } => {
                let _ = reply.send(decision.map_or_else(|| Err(undecided()), to_store));
            }
            JobKind::End {
                reply, decision, ..
            } => {
                let _ = reply.send(decision.map_or_else(|| Err(undecided()), to_store));
            }
            JobKind::Callback {
                reply, decision, ..
            } => {
                let _ = reply.send(decision.map_or_else(|| Err(undecided()), to_store));
            }
            JobKind::Promise {
                reply, decision, ..
            } => {
                let _ = reply.send(decision.map_or_else(|| Err(undecided()), to_store));
            }
        }
    }

    /// Answers 503: the event was not committed, or it is unknown whether it was.
    pub fn fail(self, message: &str) {
        // A requester that went away needs no answer.
        match self.kind {
            JobKind::Transfer { reply, .. } => {
                let _ = reply.send(unavailable(message));
            }
            JobKind::End { reply, .. } => {
                let _ = reply.send(unavailable(message));
            }
            JobKind::Callback { reply, .. } => {
                let _ = reply.send(unavailable(message));
            }
            JobKind::Promise { reply, .. } => {
                let _ = reply.send(unavailable(message));
            }
        }
    }
}

fn unavailable<T>(message: &str) -> Result<T, StoreError> {
    Err(StoreError::Unavailable(message.to_owned()))
}

fn to_store<T>(result: Result<Outcome<T>, EngineError>) -> Result<Outcome<T>, StoreError> {
    result.map_err(StoreError::from)
}
