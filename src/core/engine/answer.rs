//! What the engine answers: verdicts, findings, suggestions and the chain.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::request::{CallId, CallOutcome, EventId};
use crate::core::rules::{Action, PolicyMode, Rules, RuntimeCode};

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

/// One end of a transfer: what the platform called it and the department that is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    /// The department id the identity resolved to; the identity itself when it
    /// names no department (then the transfer has an `unknown-department` finding).
    #[schema(example = "activations")]
    pub department: String,
    /// What the platform sent: a department id, or an alias such as an extension or
    /// a SIP URI (`sip:2001@pbx.example.com`).
    #[schema(example = "sip:2001@pbx.example.com")]
    pub identity: String,
}

impl Party {
    /// Resolves a platform identity through [`Rules::resolve`].
    pub fn resolve(rules: &Rules, identity: &str) -> Party {
        Party {
            department: rules
                .resolve(identity)
                .map_or(identity, |index| rules.departments[index].id.as_str())
                .to_owned(),
            identity: identity.to_owned(),
        }
    }

    /// A party recorded before aliases existed: the platform named the department.
    pub(super) fn named(department: &str) -> Party {
        Party {
            department: department.to_owned(),
            identity: department.to_owned(),
        }
    }
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
    /// Where the call is, as the platform named it and as the rules know it.
    /// Absent only in answers recorded before platform identities existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Party>,
    /// Where the transfer goes, as the platform named it and as the rules know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Party>,
    /// In observe mode: what enforce mode would have answered. Absent in enforce mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_verdict: Option<Verdict>,
    pub policy_mode: PolicyMode,
    pub findings: Vec<Finding>,
    /// 1-based position of this transfer in the call's history (blocked ones included).
    pub hop: u32,
    /// Transfers the call has actually taken after this answer.
    pub transfers_taken: u32,
    /// The departments the call went through, in order, after this answer (from the
    /// hops kept: see `hops_omitted`).
    pub chain: Vec<ChainStep>,
    /// Older hops of the call that are no longer kept, so not in `chain`; absent
    /// when none were dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops_omitted: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
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

fn is_zero(count: &u32) -> bool {
    *count == 0
}
