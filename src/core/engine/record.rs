//! What the engine keeps: a call's hops, its end, callback mark and promises, and
//! the recorded events a durable store persists and replays.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::answer::{ChainStep, EndAnswer, Finding, TransferAnswer, Verdict};
use super::request::{
    CallId, CallOutcome, CallbackRequest, CallbackStatus, EndRequest, EventId, PromiseCloseRequest,
    PromiseId, PromiseOutcome, PromiseRequest, TransferRequest,
};
use crate::core::rules::{RuntimeCode, TransferMode};

/// A transfer as recorded in a call's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hop {
    #[schema(value_type = String)]
    pub event_id: EventId,
    /// The department the call left (the platform's identity resolved through the
    /// rules' ids and aliases; the identity itself when it named no department).
    pub from: String,
    /// The department the transfer went to, resolved the same way.
    pub to: String,
    /// What the platform called `from` (a department id, an extension, a SIP URI).
    /// Absent only on hops recorded before platform identities existed.
    #[serde(default)]
    pub from_identity: Option<String>,
    /// What the platform called `to`.
    #[serde(default)]
    pub to_identity: Option<String>,
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

impl Hop {
    /// `activations (sip:2001@pbx)`, or just `activations` when the platform used
    /// the department id: how a person should read where the call was.
    pub fn from_label(&self) -> String {
        label(&self.from, self.from_identity.as_deref())
    }

    /// The same for `to`.
    pub fn to_label(&self) -> String {
        label(&self.to, self.to_identity.as_deref())
    }
}

fn label(department: &str, identity: Option<&str>) -> String {
    match identity {
        Some(identity) if identity != department => format!("{department} ({identity})"),
        _ => department.to_owned(),
    }
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
    /// The oldest hops no longer kept (a call keeps its newest `--max-hops-kept`,
    /// 100 by default): how many, and how many of them the call took. Absent when
    /// nothing was dropped.
    #[serde(default, skip_serializing_if = "Omitted::is_empty")]
    pub omitted: Omitted,
    /// Promises made on the call, in the order they were made (at most
    /// [`MAX_PROMISES_PER_CALL`]). Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promises: Vec<Promise>,
}

/// Promises one call may hold: far more than any call makes, few enough that a
/// platform cannot grow a call without bound.
pub const MAX_PROMISES_PER_CALL: usize = 100;

/// A promise made to the customer, as recorded; also the answer to a promise event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Promise {
    #[schema(value_type = String)]
    pub promise_id: PromiseId,
    #[schema(value_type = String)]
    pub call_id: CallId,
    /// The event that made the promise.
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub text: String,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// The department that owes it (resolved through the rules' ids and aliases).
    pub department: String,
    /// What the platform called that department, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_identity: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub made_at: Timestamp,
    /// How it ended; absent while it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<PromiseClosure>,
}

impl Promise {
    /// `department (identity)` when the platform named the department otherwise.
    pub fn department_label(&self) -> String {
        label(&self.department, self.department_identity.as_deref())
    }

    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Kept, at or before its due time.
    pub fn kept_on_time(&self) -> bool {
        self.closed.as_ref().is_some_and(|closed| {
            closed.status == PromiseOutcome::Kept && closed.occurred_at <= self.due_at
        })
    }
}

/// The end of a promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromiseClosure {
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub status: PromiseOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
}

/// Hops dropped from a call's record, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Omitted {
    /// Hops (blocked ones included) no longer in `hops`.
    pub hops: u32,
    /// Of those, transfers the call took.
    pub transfers_taken: u32,
}

impl Omitted {
    pub fn is_empty(&self) -> bool {
        self.hops == 0
    }
}

impl CallRecord {
    /// Transfers the call actually took (blocked ones excluded), omitted hops included.
    pub fn transfers_taken(&self) -> u32 {
        self.omitted.transfers_taken + self.hops.iter().filter(|hop| hop.moved).count() as u32
    }

    /// When the call last did anything we know of (event time): its newest hop, end
    /// or callback mark.
    pub fn last_activity(&self) -> Option<Timestamp> {
        let newest_hop = self.hops.last().map(|hop| hop.occurred_at);
        let end = self.ended.as_ref().map(|end| end.occurred_at);
        let mark = self.callback.as_ref().map(|mark| mark.occurred_at);
        let promise = self
            .promises
            .iter()
            .map(|promise| {
                promise
                    .closed
                    .as_ref()
                    .map_or(promise.made_at, |closed| closed.occurred_at)
            })
            .max();
        [newest_hop, end, mark, promise].into_iter().flatten().max()
    }

    /// The customer's callback number, from the newest hop that carried one.
    pub fn callback_number(&self) -> Option<&str> {
        self.hops.iter().rev().find_map(|hop| {
            hop.callback_number
                .as_deref()
                .filter(|number| !number.is_empty())
        })
    }

    /// Whether the call was disconnected after a transfer with a number to call: a
    /// callback was owed when it ended, whether or not it has been made since.
    pub fn callback_was_owed(&self) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|end| end.outcome == CallOutcome::Disconnected)
            && self.transfers_taken() > 0
            && self.callback_number().is_some()
    }

    /// The department that owes the callback: the one that made the call's last
    /// moved transfer.
    pub fn callback_department(&self) -> Option<&Hop> {
        self.hops.iter().rev().find(|hop| hop.moved)
    }

    /// A callback is owed when the call was disconnected after a transfer, we have a
    /// number to call, and nobody has marked the callback done.
    pub fn callback_owed(&self) -> bool {
        self.callback_was_owed()
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

pub(super) fn is_loop_code(code: RuntimeCode) -> bool {
    matches!(
        code,
        RuntimeCode::PingPong | RuntimeCode::CircularHandoff | RuntimeCode::MaxHopsExceeded
    )
}

pub(super) fn chain_of<'a>(hops: impl Iterator<Item = &'a Hop>) -> Vec<ChainStep> {
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
        /// The platform reported the transfer after it happened (a record from its
        /// history): it moved the call whatever the verdict. Absent (false) for
        /// transfers asked about before they happened.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        carried_out: bool,
    },
    End {
        request: EndRequest,
        answer: EndAnswer,
    },
    Callback {
        request: CallbackRequest,
        answer: CallRecord,
    },
    /// A promise made; the answer is the promise as recorded.
    Promise {
        request: PromiseRequest,
        answer: Promise,
    },
    /// A promise kept or broken; the answer is the promise after it.
    #[serde(rename = "promise-closed")]
    PromiseClosed {
        request: PromiseCloseRequest,
        answer: Promise,
    },
}

impl RecordedEvent {
    pub fn event_id(&self) -> &EventId {
        match self {
            RecordedEvent::Transfer { request, .. } => &request.event_id,
            RecordedEvent::End { request, .. } => &request.event_id,
            RecordedEvent::Callback { request, .. } => &request.event_id,
            RecordedEvent::Promise { request, .. } => &request.event_id,
            RecordedEvent::PromiseClosed { request, .. } => &request.event_id,
        }
    }

    /// The event's kind as stored (`transfer`, `end`, `callback`, `promise`,
    /// `promise-closed`): the serde tag.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordedEvent::Transfer { .. } => "transfer",
            RecordedEvent::End { .. } => "end",
            RecordedEvent::Callback { .. } => "callback",
            RecordedEvent::Promise { .. } => "promise",
            RecordedEvent::PromiseClosed { .. } => "promise-closed",
        }
    }

    /// The event's time as the engine recorded it (the time of receipt when the
    /// platform sent none).
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            RecordedEvent::Transfer { answer, .. } => answer.occurred_at,
            RecordedEvent::End { answer, .. } => answer.occurred_at,
            RecordedEvent::Callback { answer, request } => answer
                .callback
                .as_ref()
                .map(|mark| mark.occurred_at)
                .or(request.occurred_at)
                .unwrap_or_default(),
            RecordedEvent::Promise { answer, .. } => answer.made_at,
            RecordedEvent::PromiseClosed { answer, request } => answer
                .closed
                .as_ref()
                .map(|closed| closed.occurred_at)
                .or(request.occurred_at)
                .unwrap_or_default(),
        }
    }

    pub fn call_id(&self) -> &CallId {
        match self {
            RecordedEvent::Transfer { request, .. } => &request.call_id,
            RecordedEvent::End { request, .. } => &request.call_id,
            RecordedEvent::Callback { request, .. } => &request.call_id,
            RecordedEvent::Promise { request, .. } => &request.call_id,
            RecordedEvent::PromiseClosed { request, .. } => &request.call_id,
        }
    }
}
