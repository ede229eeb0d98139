//! loopguard's own history format: JSON Lines, one event per line, with the fields
//! of the corresponding API body plus `type` (`transfer`, the default, `end` or
//! `callback`); `occurred_at` is required, since history has no time of receipt.

use std::borrow::Cow;

use serde::Deserialize;

use super::event::{EventKind, HistoryEvent, Origin, RecordError, parse_time};
use crate::core::engine::{
    CallId, CallOutcome, CallbackRequest, CallbackStatus, EndRequest, EventId, TransferRequest,
    parse_callback_number, parse_department_name,
};
use crate::core::rules::TransferMode;

/// Longest accepted callback note, as on the API.
const MAX_NOTE_LENGTH: usize = 1000;

/// One native record as written: every field optional, so a missing one is named.
#[derive(Debug, Default, Deserialize)]
pub struct RawNative<'a> {
    #[serde(default, rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub from: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub to: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mode: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub intent: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub callback_number: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub agent_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub occurred_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub outcome: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub note: Option<Cow<'a, str>>,
}

/// Parses one line of native JSON Lines into an event.
pub fn parse_native_line(line: &[u8], origin: Origin) -> Result<HistoryEvent, RecordError> {
    let raw: RawNative = serde_json::from_slice(line)
        .map_err(|error| RecordError::new(format!("not a JSON object: {error}")))?;
    native_event(raw, origin)
}

/// Turns a native record into an event, naming the first field that is missing or
/// not acceptable.
pub fn native_event(raw: RawNative, origin: Origin) -> Result<HistoryEvent, RecordError> {
    let invalid = |error: crate::core::engine::InputError| RecordError::new(error.to_string());
    let required = |value: &Option<Cow<str>>, field: &'static str| {
        value
            .as_deref()
            .map(str::to_owned)
            .ok_or_else(|| RecordError::new(format!("{field} is missing")))
    };
    let event_id = EventId::parse(&required(&raw.event_id, "event_id")?).map_err(invalid)?;
    let call_id = CallId::parse(&required(&raw.call_id, "call_id")?).map_err(invalid)?;
    let at = parse_time(&required(&raw.occurred_at, "occurred_at")?, "occurred_at")?;
    let optional_name = |value: &Option<Cow<str>>, field: &'static str| {
        value
            .as_deref()
            .map(|value| parse_department_name(value, field).map_err(invalid))
            .transpose()
    };
    let kind = match raw.kind.as_deref().unwrap_or("transfer") {
        "transfer" => {
            let from =
                parse_department_name(&required(&raw.from, "from")?, "from").map_err(invalid)?;
            let to = parse_department_name(&required(&raw.to, "to")?, "to").map_err(invalid)?;
            let mode = raw
                .mode
                .as_deref()
                .map(|mode| word(mode, "mode", TransferMode::WORDS))
                .transpose()?;
            EventKind::Transfer(TransferRequest {
                event_id,
                call_id,
                from,
                to,
                mode,
                intent: optional_name(&raw.intent, "intent")?,
                callback_number: raw
                    .callback_number
                    .as_deref()
                    .map(parse_callback_number)
                    .transpose()
                    .map_err(invalid)?,
                agent_id: optional_name(&raw.agent_id, "agent_id")?,
                occurred_at: Some(at),
            })
        }
        "end" => EventKind::End(EndRequest {
            event_id,
            call_id,
            outcome: word(
                &required(&raw.outcome, "outcome")?,
                "outcome",
                &[
                    ("resolved", CallOutcome::Resolved),
                    ("abandoned", CallOutcome::Abandoned),
                    ("disconnected", CallOutcome::Disconnected),
                ],
            )?,
            occurred_at: Some(at),
        }),
        "callback" => {
            let note = raw.note.as_deref().map(str::to_owned);
            if let Some(note) = &note
                && note.chars().count() > MAX_NOTE_LENGTH
            {
                return Err(RecordError::new(format!(
                    "note is longer than {MAX_NOTE_LENGTH} characters"
                )));
            }
            EventKind::Callback(CallbackRequest {
                event_id,
                call_id,
                status: word(
                    &required(&raw.status, "status")?,
                    "status",
                    &[
                        ("done", CallbackStatus::Done),
                        ("failed", CallbackStatus::Failed),
                    ],
                )?,
                note,
                occurred_at: Some(at),
            })
        }
        other => {
            return Err(RecordError::new(format!(
                "type `{other}` is not one of `transfer`, `end`, `callback`"
            )));
        }
    };
    Ok(HistoryEvent { at, origin, kind })
}

/// One of a fixed set of words, case-insensitive.
fn word<T: Copy>(value: &str, field: &str, choices: &[(&str, T)]) -> Result<T, RecordError> {
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(value))
        .map(|&(_, choice)| choice)
        .ok_or_else(|| {
            let words: Vec<String> = choices
                .iter()
                .map(|(word, _)| format!("`{word}`"))
                .collect();
            RecordError::new(format!(
                "{field} `{value}` is not one of {}",
                words.join(", ")
            ))
        })
}
