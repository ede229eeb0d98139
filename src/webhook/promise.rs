//! `POST /v1/calls/{call_id}/promises` (a promise made to the customer) and
//! `POST /v1/calls/{call_id}/promises/{promise_id}` (kept or broken): signed like
//! every webhook, durable like every event, a redelivery answered the same.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::core::engine::{
    CallId, MAX_PROMISE_TEXT_LENGTH, Promise, PromiseCloseRequest, PromiseEvent, PromiseId,
    PromiseOutcome, PromiseRequest,
};
use crate::http::body::{parse_json, read_signed_json};
use crate::http::fields::{
    bounded_text, choice, event_id, optional_id, parse_timestamp, timestamp,
};
use crate::http::{ApiError, AppState, ErrorBody, LiveUpdate};

/// A promise made on a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PromiseBody {
    /// Redelivery key; defaults to the `webhook-id` header.
    pub event_id: Option<String>,
    /// The platform's name for the promise, unique within the call.
    #[schema(example = "refund-1")]
    pub promise_id: Option<String>,
    /// What was promised, at most 1000 characters.
    #[schema(example = "Refund the double charge and call back to confirm")]
    pub text: Option<String>,
    /// RFC 3339: when it must be kept.
    #[schema(format = DateTime)]
    pub due_at: Option<String>,
    /// The department that owes it (an id or an alias); defaults to the department
    /// the call is in.
    pub department: Option<String>,
    /// RFC 3339; defaults to the time of receipt.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

/// A promise kept or broken.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PromiseCloseBody {
    /// Redelivery key; defaults to the `webhook-id` header.
    pub event_id: Option<String>,
    /// `kept` or `broken`.
    #[schema(example = "kept")]
    pub status: Option<String>,
    /// Free text for the record, at most 1000 characters.
    pub note: Option<String>,
    /// RFC 3339; defaults to the time of receipt.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/calls/{call_id}/promises",
    tag = "calls",
    params(("call_id" = String, Path, description = "The call's chain key")),
    request_body(content = PromiseBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The promise as recorded", body = Promise),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 404, description = "No transfer was recorded for this call", body = ErrorBody),
        (status = 409, description = "Same event_id with a different body, or the promise_id is taken", body = ErrorBody),
        (status = 422, description = "Missing field, invalid value, or the call holds too many promises", body = ErrorBody),
    )
)]
pub async fn post_promise(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Promise>, ApiError> {
    let bytes = read_signed_json(&state, &headers, body).await?;
    let raw: PromiseBody = parse_json(&bytes)?;
    let call_id = CallId::parse(&call_id).map_err(ApiError::invalid)?;
    let event_id = event_id(raw.event_id, &headers)?;
    let promise_id = raw
        .promise_id
        .ok_or_else(|| ApiError::missing("promise_id", ": the platform's name for the promise"))?;
    let promise_id = PromiseId::parse(&promise_id).map_err(ApiError::invalid)?;
    let text = bounded_text(raw.text, "text", MAX_PROMISE_TEXT_LENGTH)?
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| ApiError::missing("text", ": what was promised"))?;
    let due_at = raw
        .due_at
        .ok_or_else(|| ApiError::missing("due_at", ": when the promise must be kept (RFC 3339)"))?;
    let request = PromiseRequest {
        event_id,
        call_id,
        promise_id,
        text,
        due_at: parse_timestamp(&due_at, "due_at")?,
        department: optional_id(raw.department, "department")?,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    };
    record(&state, PromiseEvent::Make(request)).await
}

#[utoipa::path(
    post,
    path = "/v1/calls/{call_id}/promises/{promise_id}",
    tag = "calls",
    params(
        ("call_id" = String, Path, description = "The call's chain key"),
        ("promise_id" = String, Path, description = "The promise's id")
    ),
    request_body(content = PromiseCloseBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The promise after it was closed", body = Promise),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 404, description = "No such call, or no such promise on it", body = ErrorBody),
        (status = 409, description = "Same event_id with a different body", body = ErrorBody),
        (status = 422, description = "Missing field or invalid value", body = ErrorBody),
    )
)]
pub async fn post_promise_close(
    State(state): State<Arc<AppState>>,
    Path((call_id, promise_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Promise>, ApiError> {
    let bytes = read_signed_json(&state, &headers, body).await?;
    let raw: PromiseCloseBody = parse_json(&bytes)?;
    let call_id = CallId::parse(&call_id).map_err(ApiError::invalid)?;
    let promise_id = PromiseId::parse(&promise_id).map_err(ApiError::invalid)?;
    let event_id = event_id(raw.event_id, &headers)?;
    let status = choice(
        raw.status.as_deref(),
        "status",
        &[
            ("kept", PromiseOutcome::Kept),
            ("broken", PromiseOutcome::Broken),
        ],
    )?
    .ok_or_else(|| ApiError::missing("status", ": `kept` or `broken`"))?;
    let request = PromiseCloseRequest {
        event_id,
        call_id,
        promise_id,
        status,
        note: bounded_text(raw.note, "note", MAX_PROMISE_TEXT_LENGTH)?,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    };
    record(&state, PromiseEvent::Close(request)).await
}

async fn record(state: &AppState, event: PromiseEvent) -> Result<Json<Promise>, ApiError> {
    let span = tracing::Span::current();
    span.record("call_id", event.call_id().as_str());
    span.record("event_id", event.event_id().as_str());
    let rules = state.rules.load_full();
    let outcome = state
        .store
        .record_promise(rules, event, state.clock.now())
        .await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "promise",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: None,
        });
    }
    Ok(Json(outcome.answer))
}
