//! `POST /v1/calls/{call_id}/end`: the call is over; its chain is closed.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::core::engine::{CallId, CallOutcome, EndAnswer, EndRequest};
use crate::http::body::{parse_json, read_signed_json};
use crate::http::fields::{choice, event_id, timestamp};
use crate::http::{ApiError, AppState, ErrorBody, LiveUpdate};
use crate::metrics::RequestOutcome;

/// The end of a call.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EndBody {
    /// Redelivery key; defaults to the `webhook-id` header.
    pub event_id: Option<String>,
    /// `resolved`, `abandoned` or `disconnected`.
    #[schema(example = "resolved")]
    pub outcome: Option<String>,
    /// RFC 3339; defaults to the time of receipt.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/calls/{call_id}/end",
    tag = "webhook",
    params(("call_id" = String, Path, description = "The call's chain key")),
    request_body(content = EndBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The call is closed", body = EndAnswer),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 404, description = "No transfer was recorded for this call", body = ErrorBody),
        (status = 409, description = "Same event_id with a different body", body = ErrorBody),
        (status = 422, description = "Missing field or invalid value", body = ErrorBody),
    )
)]
pub async fn post_call_end(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EndAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = end_call(&state, call_id, &headers, body).await;
    timer.observe_duration();
    match &result {
        Ok((_, true)) => state.metrics.request(RequestOutcome::Replayed),
        Ok((_, false)) => state.metrics.request(RequestOutcome::Ended),
        Err(error) => state.metrics.request(error.outcome()),
    }
    result.map(|(answer, _)| Json(answer))
}

async fn end_call(
    state: &AppState,
    call_id: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<(EndAnswer, bool), ApiError> {
    let bytes = read_signed_json(state, headers, body).await?;
    let raw: EndBody = parse_json(&bytes)?;
    let call_id = CallId::parse(&call_id).map_err(ApiError::invalid)?;
    let event_id = event_id(raw.event_id, headers)?;
    let outcome = choice(
        raw.outcome.as_deref(),
        "outcome",
        &[
            ("resolved", CallOutcome::Resolved),
            ("abandoned", CallOutcome::Abandoned),
            ("disconnected", CallOutcome::Disconnected),
        ],
    )?
    .ok_or_else(|| {
        ApiError::missing(
            "outcome",
            ": one of `resolved`, `abandoned`, `disconnected`",
        )
    })?;
    let span = tracing::Span::current();
    span.record("call_id", call_id.as_str());
    span.record("event_id", event_id.as_str());
    let request = EndRequest {
        event_id,
        call_id,
        outcome,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    };
    let outcome = state.store.end_call(request, state.clock.now()).await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "end",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: None,
        });
    }
    Ok((outcome.answer, outcome.replayed))
}
