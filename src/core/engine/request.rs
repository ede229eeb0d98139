//! What platforms send: validated event requests and the ids they carry.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::rules::TransferMode;

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
external_id!(
    /// The platform's name for one promise made on a call, unique within the call.
    PromiseId,
    "promise_id"
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

/// Longest accepted callback number, in characters (E.164 needs 16).
pub const MAX_CALLBACK_NUMBER_LENGTH: usize = 64;

/// A callback number as the platform sent it: bounded in length, otherwise kept as
/// is, because a number that is not E.164 is a finding (`invalid-callback-number`),
/// not a refused request.
pub fn parse_callback_number(value: &str) -> Result<String, InputError> {
    if value.chars().count() > MAX_CALLBACK_NUMBER_LENGTH {
        return Err(InputError {
            field: "callback_number",
            message: format!(
                "is longer than {MAX_CALLBACK_NUMBER_LENGTH} characters; send an E.164 number such as +14155550123"
            ),
        });
    }
    Ok(value.to_owned())
}

/// One transfer as the platform reported it, already validated field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    /// Where the call is, as the platform names it: a department id or an alias
    /// (an extension, a SIP URI, a queue name). Kept as sent, so a redelivery is
    /// compared with what was sent even after the aliases change; the engine
    /// resolves it with `Rules::resolve`.
    pub from: String,
    /// Where the transfer goes, as the platform names it.
    pub to: String,
    /// `None` when the platform does not say: never taken for warm (an
    /// `unknown-transfer-mode` finding when warm transfers are required).
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

/// Longest accepted promise text or closing note, in characters.
pub const MAX_PROMISE_TEXT_LENGTH: usize = 1000;

/// A promise made to the customer on a call ("we will call you back", "this will be
/// fixed by Friday"), to be kept by `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    pub promise_id: PromiseId,
    /// What was promised, at most [`MAX_PROMISE_TEXT_LENGTH`] characters.
    pub text: String,
    pub due_at: Timestamp,
    /// The department that owes it, as the platform names it; `None`: the department
    /// the call is in when the promise is made.
    pub department: Option<String>,
    /// `None`: the shell's time of receipt.
    pub occurred_at: Option<Timestamp>,
}

/// How a promise ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromiseOutcome {
    Kept,
    Broken,
}

impl PromiseOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PromiseOutcome::Kept => "kept",
            PromiseOutcome::Broken => "broken",
        }
    }
}

/// A promise closed: kept or broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseCloseRequest {
    pub event_id: EventId,
    pub call_id: CallId,
    pub promise_id: PromiseId,
    pub status: PromiseOutcome,
    pub note: Option<String>,
    /// `None`: the shell's time of receipt.
    pub occurred_at: Option<Timestamp>,
}

/// Either promise event, as a store hands it to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromiseEvent {
    Make(PromiseRequest),
    Close(PromiseCloseRequest),
}

impl PromiseEvent {
    pub fn event_id(&self) -> &EventId {
        match self {
            PromiseEvent::Make(request) => &request.event_id,
            PromiseEvent::Close(request) => &request.event_id,
        }
    }

    pub fn call_id(&self) -> &CallId {
        match self {
            PromiseEvent::Make(request) => &request.call_id,
            PromiseEvent::Close(request) => &request.call_id,
        }
    }
}

impl std::borrow::Borrow<str> for CallId {
    fn borrow(&self) -> &str {
        &self.0
    }
}
