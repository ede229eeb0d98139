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

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::rules::model::Route;
use super::rules::{Action, PolicyMode, Rules, RuntimeCode, TransferMode};

/// Longest accepted id or department name from a platform, in characters.
pub const MAX_EXTERNAL_ID_LENGTH: usize = 200;

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// 1 to 200 characters, no control characters.
            pub fn parse(value: &str) -> Result<Self, InputError> {
                validate_external(value, $field).map(|()| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InputError;

            fn try_from(value: String) -> Result<Self, InputError> {
                Self::parse(&value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// The platform's redelivery key for one event.
    EventId,
    "event_id"
);
external_id!(
    /// The chain key that stays the same across a call's legs (Amazon Connect's
    /// InitialContactId, Twilio's TaskSid, Asterisk's Linkedid).
    CallId,
    "call_id"
);

/// A request field that is present but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: &'static str,
    pub message: String,
}

fn validate_external(value: &str, field: &'static str) -> Result<(), InputError> {
    let error = |message: String| Err(InputError { field, message });
    if value.trim().is_empty() {
        return error("must not be empty".to_owned());
    }
    let length = value.chars().count();
    if length > MAX_EXTERNAL_ID_LENGTH {
        return error(format!(
            "is {length} characters long; the limit is {MAX_EXTERNAL_ID_LENGTH}"
        ));
    }
    if value.chars().any(char::is_control) {
        return error("must not contain control characters".to_owned());
    }
    Ok(())
}

/// A department as the platform named it: it may be unknown to the rules.
pub fn parse_department_name(value: &str, field: &'static str) -> Result<String, InputError> {
    validate_external(value, field).map(|()| value.to_owned())
}

/// One transfer as the platform reported it, already validated field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    pub from: String,
    pub to: String,
    /// `None` when the platform does not say (then no cold-transfer check).
    pub mode: Option<TransferMode>,
    pub intent: Option<String>,
    pub callback_number: Option<String>,
    pub agent_id: Option<String>,
    /// `None`: the shell's time of receipt is used, and redeliveries still match.
    pub occurred_at: Option<Timestamp>,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    Resolved,
    Abandoned,
    Disconnected,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Resolved => "resolved",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    pub outcome: CallOutcome,
    pub occurred_at: Option<Timestamp>,
}

/// The answer for one transfer. It is the strongest [`Action`] among the findings,
/// so it is the same type: one set of words (`allow`, `warn`, `block`), one ordering.
pub type Verdict = Action;

/// How serious a runtime finding is, from the action the policy gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    Error,
    Warning,
    Info,
}

/// One runtime finding about a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    #[schema(value_type = String, example = "ping-pong")]
    pub code: RuntimeCode,
    /// "error" when the policy blocks on it, "warning" when it warns, "info" otherwise.
    pub severity: FindingSeverity,
    /// What `[policy.actions]` says this finding does (in enforce mode).
    pub action: Action,
    pub message: String,
}

/// What the agent should do instead of the transfer that was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The department the call should go to.
    pub department: String,
    /// Allowed transfer path from the current department, starting with it.
    pub path: Vec<String>,
    pub message: String,
}

/// A department the call was in, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainStep {
    pub department: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

/// The answer to one transfer event, exactly as it is stored for redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransferAnswer {
    #[schema(value_type = String)]
    pub event_id: EventId,
    #[schema(value_type = String)]
    pub call_id: CallId,
    pub verdict: Verdict,
    /// In observe mode: what enforce mode would have answered. Absent in enforce mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_verdict: Option<Verdict>,
    pub policy_mode: PolicyMode,
    pub findings: Vec<Finding>,
    /// 1-based position of this transfer in the call's history (blocked ones included).
    pub hop: u32,
    /// Transfers the call has actually taken after this answer.
    pub transfers_taken: u32,
    /// The departments the call went through, in order, after this answer.
    pub chain: Vec<ChainStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
}

/// A transfer as recorded in a call's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hop {
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub from: String,
    pub to: String,
    pub intent: Option<String>,
    pub mode: Option<TransferMode>,
    pub agent_id: Option<String>,
    pub callback_number: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Whether the call moved (every verdict but block).
    pub moved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallEnd {
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub outcome: CallOutcome,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
}

/// Everything we know about one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallRecord {
    #[schema(value_type = String)]
    pub call_id: CallId,
    /// In event-time order.
    pub hops: Vec<Hop>,
    pub ended: Option<CallEnd>,
    /// Event time of the newest hop with a loop finding.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_loop_at: Option<Timestamp>,
    /// The newest callback mark, if anyone marked one.
    pub callback: Option<CallbackMark>,
}

impl CallRecord {
    /// Transfers the call actually took (blocked ones excluded).
    pub fn transfers_taken(&self) -> u32 {
        self.hops.iter().filter(|hop| hop.moved).count() as u32
    }

    /// The customer's callback number, from the newest hop that carried one.
    pub fn callback_number(&self) -> Option<&str> {
        self.hops.iter().rev().find_map(|hop| {
            hop.callback_number
                .as_deref()
                .filter(|number| !number.is_empty())
        })
    }

    /// A callback is owed when the call was disconnected after a transfer, we have a
    /// number to call, and nobody has marked the callback done.
    pub fn callback_owed(&self) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|end| end.outcome == CallOutcome::Disconnected)
            && self.transfers_taken() > 0
            && self.callback_number().is_some()
            && self
                .callback
                .as_ref()
                .is_none_or(|mark| mark.status != CallbackStatus::Done)
    }

    /// The departments the call went through (moved hops only), in order.
    pub fn chain(&self) -> Vec<ChainStep> {
        chain_of(self.hops.iter())
    }

    /// Codes of loop findings (ping-pong, circular-handoff, max-hops-exceeded) seen in the call.
    pub fn loop_codes(&self) -> Vec<RuntimeCode> {
        let mut codes: Vec<RuntimeCode> = self
            .hops
            .iter()
            .flat_map(|hop| hop.findings.iter().map(|finding| finding.code))
            .filter(|code| is_loop_code(*code))
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

fn is_loop_code(code: RuntimeCode) -> bool {
    matches!(
        code,
        RuntimeCode::PingPong | RuntimeCode::CircularHandoff | RuntimeCode::MaxHopsExceeded
    )
}

fn chain_of<'a>(hops: impl Iterator<Item = &'a Hop>) -> Vec<ChainStep> {
    let mut chain: Vec<ChainStep> = Vec::new();
    for hop in hops.filter(|hop| hop.moved) {
        if chain.last().is_none_or(|last| last.department != hop.from) {
            chain.push(ChainStep {
                department: hop.from.clone(),
                since: hop.occurred_at,
            });
        }
        chain.push(ChainStep {
            department: hop.to.clone(),
            since: hop.occurred_at,
        });
    }
    chain
}

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
}

/// What the engine did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    pub answer: T,
    /// True when this was a redelivery answered from the stored answer.
    pub replayed: bool,
}

/// The answer to a call-end event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndAnswer {
    #[schema(value_type = String)]
    pub event_id: EventId,
    #[schema(value_type = String)]
    pub call_id: CallId,
    pub outcome: CallOutcome,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    pub transfers_taken: u32,
    pub chain: Vec<ChainStep>,
}

/// A callback mark: someone called the customer back (`done`) or tried (`failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallbackStatus {
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    pub status: CallbackStatus,
    pub note: Option<String>,
    pub occurred_at: Option<Timestamp>,
}

/// The newest callback mark of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallbackMark {
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub status: CallbackStatus,
    pub note: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
}

/// A recorded event with the answer it got, as kept by a durable store and
/// replayed into a fresh engine at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RecordedEvent {
    Transfer {
        request: TransferRequest,
        answer: Box<TransferAnswer>,
    },
    End {
        request: EndRequest,
        answer: EndAnswer,
    },
    Callback {
        request: CallbackRequest,
        answer: CallRecord,
    },
}

impl RecordedEvent {
    pub fn event_id(&self) -> &EventId {
        match self {
            RecordedEvent::Transfer { request, .. } => &request.event_id,
            RecordedEvent::End { request, .. } => &request.event_id,
            RecordedEvent::Callback { request, .. } => &request.event_id,
        }
    }

    pub fn call_id(&self) -> &CallId {
        match self {
            RecordedEvent::Transfer { request, .. } => &request.call_id,
            RecordedEvent::End { request, .. } => &request.call_id,
            RecordedEvent::Callback { request, .. } => &request.call_id,
        }
    }
}

/// All live state: calls and the answers already given.
#[derive(Debug, Default, Clone)]
pub struct Engine {
    calls: HashMap<CallId, CallRecord>,
    /// Every recorded event by id, for redelivery.
    answers: HashMap<EventId, RecordedEvent>,
    /// (last loop time, call) for listing looping calls newest first.
    loops_index: BTreeSet<(Timestamp, CallId)>,
    open_calls: usize,
}

/// The verdict and findings for a transfer, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub enforce_verdict: Verdict,
    pub findings: Vec<Finding>,
    pub suggestion: Option<Suggestion>,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges and records a transfer. `received_at` is used when the event has no time.
    /// A durable store persists [`Engine::recorded`] for the event afterwards.
    pub fn transfer(
        &mut self,
        rules: &Rules,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> Result<Outcome<TransferAnswer>, EngineError> {
        if let Some(result) = self.redelivery(&request.event_id, |stored| match stored {
            RecordedEvent::Transfer {
                request: original,
                answer,
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
        let judgement = judge(rules, hops, &request, occurred_at);
        let position = self.insert_hop(
            &request,
            occurred_at,
            judgement.verdict,
            &judgement.findings,
        );
        let record = &self.calls[&request.call_id];
        let answer = TransferAnswer {
            event_id: request.event_id.clone(),
            call_id: request.call_id.clone(),
            verdict: judgement.verdict,
            enforce_verdict: (rules.policy.mode == PolicyMode::Observe)
                .then_some(judgement.enforce_verdict),
            policy_mode: rules.policy.mode,
            findings: judgement.findings,
            hop: position as u32 + 1,
            transfers_taken: record.transfers_taken(),
            chain: record.chain(),
            suggestion: judgement.suggestion,
            occurred_at,
        };
        self.answers.insert(
            request.event_id.clone(),
            RecordedEvent::Transfer {
                request,
                answer: Box::new(answer.clone()),
            },
        );
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    /// Inserts a hop in event-time order and returns its position.
    fn insert_hop(
        &mut self,
        request: &TransferRequest,
        occurred_at: Timestamp,
        verdict: Verdict,
        findings: &[Finding],
    ) -> usize {
        if !self.calls.contains_key(&request.call_id) {
            self.open_calls += 1;
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
            });
        let position = record
            .hops
            .partition_point(|hop| hop.occurred_at <= occurred_at);
        record.hops.insert(
            position,
            Hop {
                event_id: request.event_id.clone(),
                from: request.from.clone(),
                to: request.to.clone(),
                intent: request.intent.clone(),
                mode: request.mode,
                agent_id: request.agent_id.clone(),
                callback_number: request.callback_number.clone(),
                occurred_at,
                verdict,
                findings: findings.to_vec(),
                moved: verdict != Verdict::Block,
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
        position
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
        let hops = self
            .calls
            .get(&request.call_id)
            .map(|record| record.hops.as_slice())
            .unwrap_or(&[]);
        judge(rules, hops, request, request.occurred_at.unwrap_or(at))
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
        self.answers.insert(
            request.event_id.clone(),
            RecordedEvent::End {
                request,
                answer: answer.clone(),
            },
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
        if record.ended.is_none() {
            self.open_calls -= 1;
        }
        // A second, different end event replaces the first: the newest word wins.
        record.ended = Some(CallEnd {
            event_id: request.event_id.clone(),
            outcome: request.outcome,
            occurred_at: answer.occurred_at,
        });
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
        record.callback = Some(CallbackMark {
            event_id: request.event_id.clone(),
            status: request.status,
            note: request.note.clone(),
            occurred_at: request.occurred_at.unwrap_or(received_at),
        });
        let answer = record.clone();
        self.answers.insert(
            request.event_id.clone(),
            RecordedEvent::Callback {
                request,
                answer: answer.clone(),
            },
        );
        Ok(Outcome {
            answer,
            replayed: false,
        })
    }

    /// The event most recently recorded under an id (what a durable store persists).
    pub fn recorded(&self, event_id: &EventId) -> Option<&RecordedEvent> {
        self.answers.get(event_id)
    }

    /// Rebuilds state from a recorded event without judging it again: the answer
    /// stays the one that was given, whatever the rules are now.
    pub fn replay(&mut self, event: RecordedEvent) {
        if self.answers.contains_key(event.event_id()) {
            return;
        }
        match &event {
            RecordedEvent::Transfer { request, answer } => {
                self.insert_hop(
                    request,
                    answer.occurred_at,
                    answer.verdict,
                    &answer.findings,
                );
            }
            RecordedEvent::End { request, answer } => self.apply_end(request, answer),
            RecordedEvent::Callback { request, answer } => {
                if let Some(record) = self.calls.get_mut(&request.call_id) {
                    record.callback = answer.callback.clone();
                }
            }
        }
        self.answers.insert(event.event_id().clone(), event);
    }

    /// Forgets calls that ended before `cutoff` (and their events); returns their ids.
    pub fn evict_ended_before(&mut self, cutoff: Timestamp) -> Vec<CallId> {
        let evicted: Vec<CallId> = self
            .calls
            .values()
            .filter(|record| {
                record
                    .ended
                    .as_ref()
                    .is_some_and(|end| end.occurred_at < cutoff)
            })
            .map(|record| record.call_id.clone())
            .collect();
        for call_id in &evicted {
            if let Some(record) = self.calls.remove(call_id) {
                if let Some(at) = record.last_loop_at {
                    self.loops_index.remove(&(at, call_id.clone()));
                }
                for hop in &record.hops {
                    self.answers.remove(&hop.event_id);
                }
                if let Some(end) = &record.ended {
                    self.answers.remove(&end.event_id);
                }
                if let Some(mark) = &record.callback {
                    self.answers.remove(&mark.event_id);
                }
            }
        }
        // Callback marks replaced by newer ones are still in `answers`.
        self.answers
            .retain(|_, event| self.calls.contains_key(event.call_id()));
        evicted
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
}

impl std::borrow::Borrow<str> for CallId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Judges one transfer against the call's hops that happened before it.
fn judge(
    rules: &Rules,
    hops: &[Hop],
    request: &TransferRequest,
    occurred_at: Timestamp,
) -> Judgement {
    let policy = &rules.policy;
    let mut findings: Vec<Finding> = Vec::new();
    let mut push = |code: RuntimeCode, message: String| {
        let action = policy.actions.get(code);
        findings.push(Finding {
            code,
            severity: match action {
                Action::Block => FindingSeverity::Error,
                Action::Warn => FindingSeverity::Warning,
                Action::Allow => FindingSeverity::Info,
            },
            action,
            message,
        });
    };

    // Where the call has been before this event, in event time.
    let earlier = &hops[..hops.partition_point(|hop| hop.occurred_at <= occurred_at)];
    let mut path: Vec<(&str, Timestamp)> = Vec::with_capacity(earlier.len() + 2);
    let mut taken: u32 = 0;
    for hop in earlier.iter().filter(|hop| hop.moved) {
        if path
            .last()
            .is_none_or(|(department, _)| *department != hop.from)
        {
            path.push((hop.from.as_str(), hop.occurred_at));
        }
        path.push((hop.to.as_str(), hop.occurred_at));
        taken += 1;
    }
    // The platform may report a transfer from somewhere we did not see the call go
    // (a move it made without asking, or a blocked transfer it carried out anyway).
    // We then know where the call is, but not when it left the department before.
    let moved_unseen = path
        .last()
        .is_some_and(|(department, _)| *department != request.from);
    if path
        .last()
        .is_none_or(|(department, _)| *department != request.from)
    {
        path.push((request.from.as_str(), occurred_at));
    }

    // A return to a department the call left within the bounce window. A return to
    // the department it left unseen is not judged: its departure time is unknown.
    let window = jiff::SignedDuration::from_millis(policy.bounce_window_ms);
    let last = path.len() - 1;
    if let Some(position) = path[..last]
        .iter()
        .rposition(|(department, _)| *department == request.to)
        .filter(|&position| !(moved_unseen && position + 1 == last))
    {
        let left_at = path[position + 1].1;
        let since_left = occurred_at.duration_since(left_at);
        if since_left <= window {
            let minutes = since_left.as_secs() / 60;
            if position + 1 == last {
                push(
                    RuntimeCode::PingPong,
                    format!(
                        "ping-pong: the call came from `{}` to `{}` {} ago and would go straight back",
                        request.to,
                        request.from,
                        describe_minutes(minutes)
                    ),
                );
            } else {
                let cycle: Vec<&str> = path[position..]
                    .iter()
                    .map(|(department, _)| *department)
                    .chain(std::iter::once(request.to.as_str()))
                    .collect();
                push(
                    RuntimeCode::CircularHandoff,
                    format!(
                        "circular handoff: {} — the call would return to `{}`, which it left {} ago",
                        cycle.join(" → "),
                        request.to,
                        describe_minutes(minutes)
                    ),
                );
            }
        }
    }

    if taken + 1 > policy.max_hops {
        push(
            RuntimeCode::MaxHopsExceeded,
            format!(
                "this would be transfer {} of the call; the limit is max_hops = {}",
                taken + 1,
                policy.max_hops
            ),
        );
    }

    let from_index = rules.department(&request.from);
    let to_index = rules.department(&request.to);
    // The route from where the call is to the intent's owner: computed at most once,
    // and only when a finding needs it.
    let from_route: OnceCell<Route> = OnceCell::new();
    for (name, index) in [(&request.from, from_index), (&request.to, to_index)] {
        if index.is_none() {
            push(
                RuntimeCode::UnknownDepartment,
                format!(
                    "department `{name}` is not in the routing rules; the transfer was judged without its routes"
                ),
            );
        }
    }
    let intent = request.intent.as_deref();
    if let (Some(from), Some(to)) = (from_index, to_index) {
        match rules.transfer_between(from, to) {
            None => push(
                RuntimeCode::TransferNotAllowed,
                format!(
                    "the routing rules have no transfer from `{}` to `{}`",
                    request.from, request.to
                ),
            ),
            Some(transfer) => {
                if let Some(intent) = intent
                    && !transfer.allows(intent)
                {
                    push(
                        RuntimeCode::TransferNotAllowed,
                        format!(
                            "the transfer from `{}` to `{}` is not allowed for `{intent}`",
                            request.from, request.to
                        ),
                    );
                }
            }
        }
        if let Some(intent) = intent
            && let Some(message) = wrong_department(rules, from, to, intent, &from_route)
        {
            push(RuntimeCode::WrongDepartment, message);
        }
    }

    if request.mode == Some(TransferMode::Cold) && policy.require_warm_transfer {
        push(
            RuntimeCode::ColdTransfer,
            "cold (blind) transfer: policy requires a warm transfer, where the agent introduces the caller".to_owned(),
        );
    }
    match request.callback_number.as_deref() {
        None | Some("") if policy.require_callback_number => push(
            RuntimeCode::MissingCallbackNumber,
            "no callback number: policy requires one so the caller can be called back if the transfer drops".to_owned(),
        ),
        Some(number) if !number.is_empty() && !is_e164(number) => push(
            RuntimeCode::InvalidCallbackNumber,
            format!("callback number `{number}` is not E.164 (a `+`, country code and number, up to 15 digits, e.g. +14155550123)"),
        ),
        _ => {}
    }

    let enforce_verdict = findings
        .iter()
        .map(|finding| finding.action)
        .max()
        .unwrap_or(Verdict::Allow);
    let verdict = match policy.mode {
        PolicyMode::Observe => enforce_verdict.min(Verdict::Warn),
        PolicyMode::Enforce => enforce_verdict,
    };
    let needs_suggestion = findings
        .iter()
        .any(|finding| is_loop_code(finding.code) || finding.code == RuntimeCode::WrongDepartment);
    let suggestion = needs_suggestion
        .then(|| suggest(rules, from_index, request, &from_route))
        .flatten();
    Judgement {
        verdict,
        enforce_verdict,
        findings,
        suggestion,
    }
}

fn describe_minutes(minutes: i64) -> String {
    match minutes {
        0 => "less than a minute".to_owned(),
        1 => "1 minute".to_owned(),
        _ => format!("{minutes} minutes"),
    }
}

/// The target neither handles the intent nor brings the call closer to its owner.
fn wrong_department(
    rules: &Rules,
    from: usize,
    to: usize,
    intent: &str,
    from_route: &OnceCell<Route>,
) -> Option<String> {
    let owners = rules.owners(intent);
    if owners.is_empty() || owners.contains(&to) {
        return None;
    }
    let from_route = from_route.get_or_init(|| rules.route(from, intent));
    let to_route = rules.route(to, intent);
    let closer = match (from_route, &to_route) {
        (Route::Found(from_path), Route::Found(to_path)) => to_path.len() < from_path.len(),
        (_, Route::Found(_)) => true,
        _ => false,
    };
    if closer {
        return None;
    }
    let owner_names: Vec<&str> = owners
        .iter()
        .map(|&owner| rules.departments[owner].id.as_str())
        .collect();
    if let Route::Found(path) = from_route
        && path.len() == 1
    {
        return Some(format!(
            "`{}` does not handle `{intent}`; `{}`, where the call is now, handles it: keep the call",
            rules.departments[to].id, rules.departments[from].id,
        ));
    }
    let route = match from_route {
        Route::Found(path) => format!(
            "; the allowed path is {}",
            path.iter()
                .map(|&step| rules.departments[step].id.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        _ => String::new(),
    };
    Some(format!(
        "`{}` does not handle `{intent}` and is no closer to `{}`, which does{route}",
        rules.departments[to].id,
        owner_names.join("`, `"),
    ))
}

/// Where the call should go instead: the intent's owner, else the escalation desk.
fn suggest(
    rules: &Rules,
    from: Option<usize>,
    request: &TransferRequest,
    from_route: &OnceCell<Route>,
) -> Option<Suggestion> {
    let name = |step: usize| rules.departments[step].id.as_str().to_owned();
    if let (Some(from), Some(intent)) = (from, request.intent.as_deref())
        && let Route::Found(path) = from_route.get_or_init(|| rules.route(from, intent))
    {
        let owner = name(path[path.len() - 1]);
        let message = if path.len() == 1 {
            format!("keep the call: `{owner}` handles `{intent}` itself")
        } else {
            format!(
                "transfer to `{owner}`, which handles `{intent}` ({} transfer{})",
                path.len() - 1,
                if path.len() == 2 { "" } else { "s" }
            )
        };
        return Some(Suggestion {
            department: owner,
            path: path.iter().map(|&step| name(step)).collect(),
            message,
        });
    }
    let escalation = rules.policy.escalation.as_ref()?;
    let mut path = vec![request.from.clone()];
    if request.from != escalation.as_str() {
        path.push(escalation.as_str().to_owned());
    }
    Some(Suggestion {
        department: escalation.as_str().to_owned(),
        path,
        message: format!("escalate to `{escalation}` instead of passing the caller on"),
    })
}

/// E.164: `+`, a non-zero first digit, 2 to 15 digits in all.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_need_a_plus_and_at_most_fifteen_digits() {
        assert!(is_e164("+14155550123"));
        assert!(!is_e164("4155550123"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1 415 555"));
    }
}

#[cfg(test)]
mod callback_tests {
    use super::*;

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
