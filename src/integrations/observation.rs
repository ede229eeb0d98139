//! What every integration shares: the three things a platform event can be (a
//! transfer, the end of a call, or something loopguard does not judge), the
//! error a translation fails with, and the flat summary of a verdict for
//! platforms that can only branch on top-level strings.

use serde::Serialize;
use utoipa::ToSchema;

use crate::core::engine::{EndRequest, InputError, TransferAnswer, TransferRequest, Verdict};
use crate::core::rules::Rules;

/// One platform event, translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A transfer the platform reports (after the fact) or asks about (before it).
    Transfer(TransferRequest),
    /// The call (or the leg that holds it, see `leg`) ended. `leg` names the
    /// platform's leg (a task, a contact) when a chain spans several: the end of a
    /// leg that handed the call on is not the end of the call.
    End {
        request: EndRequest,
        leg: Option<String>,
    },
    /// An event loopguard does not judge (another event type, a queue or IVR
    /// segment, a failed transfer). Answered with success so the platform does not
    /// retry it; the text says why, for the logs and the answer.
    Ignored(String),
}

/// Why a platform body cannot be translated: every variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslationError {
    #[error("{field} is missing: {what}")]
    Missing {
        field: &'static str,
        what: &'static str,
    },
    #[error(transparent)]
    Invalid(#[from] InputError),
}

impl TranslationError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        TranslationError::Invalid(InputError {
            field,
            message: message.into(),
        })
    }
}

/// A required value, or `Missing` naming the field.
pub fn required<T>(
    value: Option<T>,
    field: &'static str,
    what: &'static str,
) -> Result<T, TranslationError> {
    value.ok_or(TranslationError::Missing { field, what })
}

/// What happened to an observed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObservationOutcome {
    /// Recorded now (a transfer judged and kept, or the call closed).
    Recorded,
    /// Seen before (a redelivery, or a transfer already decided through loopguard):
    /// the stored answer, nothing changed.
    Replayed,
    /// Not something loopguard judges; nothing recorded.
    Ignored,
}

/// The answer to an observation endpoint. For a transfer the verdict judges a
/// transfer the platform already carried out: it is recorded and counted, and it
/// cannot stop the transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ObservationAnswer {
    pub outcome: ObservationOutcome,
    /// `transfer` or `end` when something was recorded or replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The verdict on an observed transfer (after the fact: it cannot stop it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// For an ignored event, why; for a transfer, the finding behind the verdict.
    pub reason: String,
}

impl ObservationAnswer {
    pub fn ignored(reason: impl Into<String>) -> Self {
        ObservationAnswer {
            outcome: ObservationOutcome::Ignored,
            kind: None,
            event_id: None,
            call_id: None,
            verdict: None,
            reason: reason.into(),
        }
    }

    pub fn transfer(answer: &TransferAnswer, replayed: bool) -> Self {
        ObservationAnswer {
            outcome: if replayed {
                ObservationOutcome::Replayed
            } else {
                ObservationOutcome::Recorded
            },
            kind: Some("transfer"),
            event_id: Some(answer.event_id.as_str().to_owned()),
            call_id: Some(answer.call_id.as_str().to_owned()),
            verdict: Some(answer.verdict),
            reason: reason(answer),
        }
    }
}

/// The finding behind the verdict, as one line: the first blocking finding for a
/// block, the first warning for a warn, "" for allow.
pub fn reason(answer: &TransferAnswer) -> String {
    if answer.verdict == Verdict::Allow {
        return String::new();
    }
    answer
        .findings
        .iter()
        .find(|finding| finding.action == answer.verdict)
        .or_else(|| answer.findings.first())
        .map(|finding| format!("{}: {}", finding.code.as_str(), finding.message))
        .unwrap_or_default()
}

/// The verdict as a word: `allow`, `warn` or `block`.
pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allow",
        Verdict::Warn => "warn",
        Verdict::Block => "block",
    }
}

/// The suggested department and the first of its aliases the platform would
/// recognise (`is_platform_name`), e.g. a queue ARN; "" when there is none.
pub fn suggested(
    answer: &TransferAnswer,
    rules: &Rules,
    is_platform_name: impl Fn(&str) -> bool,
) -> (String, String) {
    let Some(suggestion) = &answer.suggestion else {
        return (String::new(), String::new());
    };
    let platform_name = rules
        .department(&suggestion.department)
        .and_then(|index| {
            rules.departments[index]
                .aliases
                .iter()
                .find(|alias| is_platform_name(alias))
        })
        .cloned()
        .unwrap_or_default();
    (suggestion.department.clone(), platform_name)
}

/// The answer to an event that can carry several transfers (a conversation
/// snapshot): one result each, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ObservationList {
    pub results: Vec<ObservationAnswer>,
}
