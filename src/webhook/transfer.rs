//! `POST /v1/transfers`: a platform asks before it transfers a call; the answer is
//! the verdict, committed before it is sent.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::core::engine::{
    CallId, TransferAnswer, TransferRequest, Verdict, parse_callback_number,
};
use crate::core::rules::TransferMode;
use crate::http::body::{parse_json, read_signed_json};
use crate::http::fields::{choice, event_id, optional_id, required, timestamp};
use crate::http::{ApiError, AppState, ErrorBody, LiveUpdate};
use crate::metrics::RequestOutcome;

/// A transfer event as platforms send it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TransferBody {
    /// Redelivery key; defaults to the `webhook-id` header.
    pub event_id: Option<String>,
    /// Chain key that stays the same across the call's legs.
    pub call_id: Option<String>,
    /// Department the call is in.
    pub from: Option<String>,
    /// Department the agent wants to transfer to.
    pub to: Option<String>,
    /// `warm` (also `attended`, `consult`) or `cold` (also `blind`); case-insensitive.
    #[schema(example = "warm")]
    pub mode: Option<String>,
    /// What the caller needs, e.g. `reconnect_line`.
    pub intent: Option<String>,
    /// E.164 number to call the customer back on, e.g. `+14155550123`.
    pub callback_number: Option<String>,
    pub agent_id: Option<String>,
    /// RFC 3339 time of the transfer; defaults to the time of receipt.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/transfers",
    tag = "webhook",
    request_body(content = TransferBody, content_type = "application/json"),
    params(
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id (also the default event_id)"),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds; required when a secret is configured"),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64>` signatures; required when a secret is configured"),
    ),
    responses(
        (status = 200, description = "The verdict, with findings, the call's chain and a suggestion", body = TransferAnswer),
        (status = 400, description = "Malformed JSON, naming the field", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 409, description = "Same event_id with a different body, or a transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Missing field or invalid value", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_transfer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = transfer(&state, &headers, body).await;
    timer.observe_duration();
    count(&state, &result);
    result.map(|(answer, _)| json_response(&answer))
}

/// A 200 answer with `value` as JSON, as `axum::Json` writes it, but serialized into
/// a buffer sized for a transfer answer at once: `Json` starts from 128 bytes and
/// grows a `BytesMut` several times for an answer with a chain.
pub(crate) fn json_response<T: Serialize>(value: &T) -> Response {
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // Our answer types serialize to JSON without failing (string keys, no
        // non-finite floats); `axum::Json` would answer 500 as well.
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the answer could not be written as JSON: {error}"),
        )
            .into_response(),
    }
}

/// Bytes reserved for an answer's JSON: a transfer answer with a few chain steps,
/// findings and a suggestion is about 1 KB.
const ANSWER_CAPACITY: usize = 2048;

/// Counts a transfer request's outcome, verdict and findings (a redelivery counts
/// as replayed only).
pub(crate) fn count(state: &AppState, result: &Result<(TransferAnswer, bool), ApiError>) {
    match result {
        Ok((answer, replayed)) => {
            if *replayed {
                state.metrics.request(RequestOutcome::Replayed);
            } else {
                state.metrics.request(match answer.verdict {
                    Verdict::Allow => RequestOutcome::Allow,
                    Verdict::Warn => RequestOutcome::Warn,
                    Verdict::Block => RequestOutcome::Block,
                });
                state.metrics.verdict(answer.verdict);
                for finding in &answer.findings {
                    state.metrics.finding(finding.code);
                }
            }
        }
        Err(error) => state.metrics.request(error.outcome()),
    }
}

async fn transfer(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TransferAnswer, bool), ApiError> {
    let bytes = read_signed_json(state, headers, body).await?;
    let raw: TransferBody = parse_json(&bytes)?;
    let request = transfer_request(raw, headers)?;
    record(state, request).await
}

/// Hands a validated transfer to the store with the rules in force and the time of
/// receipt; publishes it to the dashboard unless it was a redelivery. Returns the
/// answer and whether it was replayed. Every transfer route ends here.
pub(crate) async fn record(
    state: &AppState,
    request: TransferRequest,
) -> Result<(TransferAnswer, bool), ApiError> {
    let span = tracing::Span::current();
    span.record("call_id", request.call_id.as_str());
    span.record("event_id", request.event_id.as_str());
    let rules = state.rules.load_full();
    let outcome = state
        .store
        .record_transfer(rules, request, state.clock.now())
        .await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "transfer",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: Some(outcome.answer.verdict),
        });
    }
    Ok((outcome.answer, outcome.replayed))
}

fn transfer_request(raw: TransferBody, headers: &HeaderMap) -> Result<TransferRequest, ApiError> {
    let event_id = event_id(raw.event_id, headers)?;
    let call_id = CallId::parse(&raw.call_id.ok_or_else(|| {
        ApiError::missing(
            "call_id",
            ": the chain key that stays the same across the call's legs",
        )
    })?)
    .map_err(ApiError::invalid)?;
    let from = required(raw.from, "from")?;
    let to = required(raw.to, "to")?;
    let mode = choice(raw.mode.as_deref(), "mode", TransferMode::WORDS)?;
    let callback_number = raw
        .callback_number
        .map(|number| parse_callback_number(&number))
        .transpose()
        .map_err(ApiError::invalid)?;
    Ok(TransferRequest {
        event_id,
        call_id,
        from,
        to,
        mode,
        intent: optional_id(raw.intent, "intent")?,
        callback_number,
        agent_id: optional_id(raw.agent_id, "agent_id")?,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    })
}
