//! Request fields into domain values: ids, enum words, times. Each error names the
//! field and says what would be accepted.

use axum::http::HeaderMap;
use jiff::Timestamp;

use super::error::{ApiError, ErrorCode};
use super::signature::WEBHOOK_ID_HEADER;
use crate::core::engine::{EventId, parse_department_name};

/// One of a fixed set of words, case-insensitive; `None` when the field is absent.
pub fn choice<T: Copy>(
    value: Option<&str>,
    field: &'static str,
    choices: &[(&str, T)],
) -> Result<Option<T>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(value))
        .map(|&(_, choice)| Some(choice))
        .ok_or_else(|| {
            let words: Vec<String> = choices
                .iter()
                .map(|(word, _)| format!("`{word}`"))
                .collect();
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("{field} `{value}` is not one of {}", words.join(", ")),
            )
            .with_field(field)
        })
}

/// The event id from the body, else the `webhook-id` header.
pub fn event_id(from_body: Option<String>, headers: &HeaderMap) -> Result<EventId, ApiError> {
    let from_header = headers
        .get(WEBHOOK_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match from_body.or(from_header) {
        Some(id) => EventId::parse(&id).map_err(ApiError::invalid),
        None => Err(ApiError::missing(
            "event_id",
            " (or the `webhook-id` header): the platform's redelivery key for this event",
        )),
    }
}

/// A required platform name (department, identity).
pub fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    let value = value.ok_or_else(|| ApiError::missing(field, ""))?;
    parse_department_name(&value, field).map_err(ApiError::invalid)
}

/// An optional platform name (intent, agent id).
pub fn optional_id(value: Option<String>, field: &'static str) -> Result<Option<String>, ApiError> {
    value
        .map(|value| parse_department_name(&value, field).map_err(ApiError::invalid))
        .transpose()
}

/// An optional RFC 3339 time with an offset.
pub fn timestamp(
    value: Option<String>,
    field: &'static str,
) -> Result<Option<Timestamp>, ApiError> {
    value.map(|text| parse_timestamp(&text, field)).transpose()
}

/// An RFC 3339 time with an offset.
pub fn parse_timestamp(text: &str, field: &str) -> Result<Timestamp, ApiError> {
    text.parse::<Timestamp>().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("`{text}` is not an RFC 3339 time with an offset, e.g. 2026-11-22T08:00:00Z"),
        )
        .with_field(field)
    })
}

/// A free-text field of at most `limit` characters.
pub fn bounded_text(
    value: Option<String>,
    field: &'static str,
    limit: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.chars().count() > limit => Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("{field} is longer than {limit} characters"),
        )
        .with_field(field)),
        other => Ok(other),
    }
}
