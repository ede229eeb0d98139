//! What the engine keeps: a call's hops, its end and callback mark, and the
//! recorded events a durable store persists and replays.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::answer::{ChainStep, EndAnswer, Finding, TransferAnswer, Verdict};
use super::request::{
    CallId, CallOutcome, CallbackRequest, CallbackStatus, EndRequest, EventId, TransferRequest,
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
        [newest_hop, end, mark].into_iter().flatten().max()
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
