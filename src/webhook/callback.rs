//! `POST /v1/calls/{call_id}/callback`: someone called the customer back (or tried).
//! [`record_callback`] is shared with the dashboard's buttons, which authenticate
//! with the dashboard credential instead of a webhook signature.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::core::engine::{CallId, CallRecord, CallbackRequest, CallbackStatus};
use crate::http::body::{parse_json, read_signed_json};
use crate::http::fields::{bounded_text, choice, event_id, timestamp};
use crate::http::{ApiError, AppState, ErrorBody, LiveUpdate};

/// A callback mark.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CallbackBody {
    /// Redelivery key; defaults to the `webhook-id` header.
    pub event_id: Option<String>,
    /// `done` (the customer was called back) or `failed` (tried, not reached).
    #[schema(example = "done")]
    pub status: Option<String>,
    /// Free text for the record, at most 1000 characters.
    pub note: Option<String>,
    /// RFC 3339; defaults to the time of receipt.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/calls/{call_id}/callback",
    tag = "calls",
    params(("call_id" = String, Path, description = "The call's chain key")),
    request_body(content = CallbackBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The call after the mark", body = CallRecord),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "Same event_id with a different body", body = ErrorBody),
        (status = 422, description = "Missing field or invalid value", body = ErrorBody),
    )
)]
pub async fn post_callback(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CallRecord>, ApiError> {
    let bytes = read_signed_json(&state, &headers, body).await?;
    record_callback(&state, &call_id, &headers, &bytes)
        .await
        .map(Json)
}

/// Parses a callback mark (JSON body already read and authenticated by the route)
/// and records it. Shared by the webhook route and the dashboard's buttons.
pub async fn record_callback(
    state: &AppState,
    call_id: &str,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<CallRecord, ApiError> {
    let raw: CallbackBody = parse_json(bytes)?;
    let call_id = CallId::parse(call_id).map_err(ApiError::invalid)?;
    let event_id = event_id(raw.event_id, headers)?;
    let status = choice(
        raw.status.as_deref(),
        "status",
        &[
            ("done", CallbackStatus::Done),
            ("failed", CallbackStatus::Failed),
        ],
    )?
    .ok_or_else(|| ApiError::missing("status", ": `done` or `failed`"))?;
    let note = bounded_text(raw.note, "note", 1000)?;
    let request = CallbackRequest {
        event_id,
        call_id,
        status,
        note,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    };
    let outcome = state
        .store
        .mark_callback(request, state.clock.now())
        .await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "callback",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: None,
        });
    }
    Ok(outcome.answer)
}
