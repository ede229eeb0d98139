//! HTTP handlers: turn requests into domain types first thing, call the store, and
//! turn every failure into one JSON error shape `{error: {code, message, field}}`.
//! Internals never leak to the client; logging happens once, in the trace layer.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::metrics::RequestOutcome;
use super::signature::{
    SignatureHeaders, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
use super::store::StoreError;
use super::{AppState, LiveUpdate};
use crate::core::engine::{
    CallId, CallOutcome, CallRecord, CallbackRequest, CallbackStatus, EndAnswer, EndRequest,
    EngineError, EventId, InputError, TransferAnswer, TransferRequest, parse_department_name,
};
use crate::core::rules::{RuntimeCode, TransferMode};

/// The one error shape of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable kebab-case code, e.g. `invalid-json`, `missing-field`, `bad-signature`.
    pub code: &'static str,
    /// What was wrong and what to do.
    pub message: String,
    /// The JSON field, query parameter or header at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer; converted into the JSON error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_seconds: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn invalid(error: InputError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            error.to_string(),
        )
        .with_field(error.field)
    }

    fn missing(field: &'static str, hint: &str) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-field",
            format!("`{field}` is required{hint}"),
        )
        .with_field(field)
    }

    fn outcome(&self) -> RequestOutcome {
        match self.status {
            StatusCode::UNAUTHORIZED => RequestOutcome::BadSignature,
            StatusCode::CONFLICT => RequestOutcome::Conflict,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
                RequestOutcome::Unavailable
            }
            _ => RequestOutcome::InvalidRequest,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Engine(engine_error) => {
                let (code, field) = match &engine_error {
                    EngineError::Conflict { .. } => ("conflicting-redelivery", "event_id"),
                    EngineError::CallEnded { .. } => ("call-ended", "occurred_at"),
                    EngineError::UnknownCall { .. } => ("unknown-call", "call_id"),
                };
                let status = match engine_error {
                    EngineError::UnknownCall { .. } => StatusCode::NOT_FOUND,
                    _ => StatusCode::CONFLICT,
                };
                ApiError::new(status, code, engine_error.to_string()).with_field(field)
            }
            StoreError::Unavailable(message) => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    format!("{message}; the event was not recorded, retry it later"),
                );
                error.retry_after_seconds = Some(1);
                error
            }
        }
    }
}

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

/// One call in the loops list.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoopSummary {
    pub call_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub last_loop_at: Option<Timestamp>,
    /// Loop finding codes seen in the call.
    pub loop_codes: Vec<String>,
    pub transfers_taken: u32,
    /// Departments the call went through, in order.
    pub chain: Vec<String>,
    pub ended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoopsResponse {
    pub calls: Vec<LoopSummary>,
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
) -> Result<Json<TransferAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = transfer(&state, &headers, body).await;
    timer.observe_duration();
    match &result {
        Ok((answer, replayed)) => {
            if *replayed {
                state.metrics.request(RequestOutcome::Replayed);
            } else {
                state.metrics.request(match answer.verdict {
                    crate::core::engine::Verdict::Allow => RequestOutcome::Allow,
                    crate::core::engine::Verdict::Warn => RequestOutcome::Warn,
                    crate::core::engine::Verdict::Block => RequestOutcome::Block,
                });
                state.metrics.verdict(answer.verdict);
                for finding in &answer.findings {
                    state.metrics.finding(finding.code);
                }
            }
        }
        Err(error) => state.metrics.request(error.outcome()),
    }
    result.map(|(answer, _)| Json(answer))
}

async fn transfer(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TransferAnswer, bool), ApiError> {
    let bytes = read_verified_body(state, headers, body).await?;
    let raw: TransferBody = parse_json(&bytes)?;
    let request = transfer_request(raw, headers)?;
    let span = tracing::Span::current();
    span.record("call_id", request.call_id.as_str());
    span.record("event_id", request.event_id.as_str());
    let rules = state.rules.load_full();
    let outcome = state
        .store
        .record_transfer(rules, request, (state.clock)())
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
    let bytes = read_verified_body(state, headers, body).await?;
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
    let outcome = state.store.end_call(request, (state.clock)()).await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "end",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: None,
        });
    }
    Ok((outcome.answer, outcome.replayed))
}

#[utoipa::path(
    get,
    path = "/v1/calls/{call_id}",
    tag = "calls",
    params(("call_id" = String, Path, description = "The call's chain key")),
    responses(
        (status = 200, description = "The whole chain with every hop's verdict and findings", body = CallRecord),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
pub async fn get_call(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
) -> Result<Json<CallRecord>, ApiError> {
    state.store.call(&call_id).map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-call",
            format!("no transfer was recorded for call `{call_id}`"),
        )
        .with_field("call_id")
    })
}

#[utoipa::path(
    get,
    path = "/v1/loops",
    tag = "calls",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration back from now such as `1h` or `15m`"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
    ),
    responses(
        (status = 200, description = "Calls with loop findings, newest first", body = LoopsResponse),
        (status = 422, description = "Invalid query parameter", body = ErrorBody),
    )
)]
pub async fn get_loops(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<LoopsResponse>, ApiError> {
    let parameters: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                format!("the query string cannot be decoded: {error}"),
            )
        })?;
    let mut since = None;
    let mut limit = 100;
    for (name, value) in parameters {
        match name.as_str() {
            "since" => since = Some(parse_since(&value, (state.clock)())?),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=1000).contains(limit))
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "invalid-value",
                            format!("limit `{value}` must be a whole number from 1 to 1000"),
                        )
                        .with_field("limit")
                    })?;
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-parameter",
                    format!("unknown query parameter `{other}`; use `since` and `limit`"),
                )
                .with_field(other));
            }
        }
    }
    let calls = state
        .store
        .loops(since, limit)
        .into_iter()
        .map(|record| LoopSummary {
            loop_codes: record
                .loop_codes()
                .into_iter()
                .map(|code: RuntimeCode| code.as_str().to_owned())
                .collect(),
            transfers_taken: record.transfers_taken(),
            chain: record
                .chain()
                .into_iter()
                .map(|step| step.department)
                .collect(),
            ended: record.ended.is_some(),
            last_loop_at: record.last_loop_at,
            call_id: record.call_id.as_str().to_owned(),
        })
        .collect();
    Ok(Json(LoopsResponse { calls }))
}

fn parse_since(value: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    if let Ok(at) = value.parse::<Timestamp>() {
        return Ok(at);
    }
    value
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|duration| now.checked_sub(duration.abs()).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-value",
                format!("since `{value}` is neither an RFC 3339 time (2026-11-22T08:00:00Z) nor a duration (15m, 1h)"),
            )
            .with_field("since")
        })
}

/// Content type, size limit and signature, in that order, before any parsing.
async fn read_verified_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!(
                "content type `{content_type}` is not JSON; send `Content-Type: application/json`"
            ),
        )
        .with_field("content-type"));
    }
    let limit = state.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = error
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!(
                    "the body is larger than {limit} bytes; a transfer event is a few hundred bytes"
                ),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "the request body could not be read completely",
            )
        }
    })?;
    if let Some(verifier) = &state.verifier {
        let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let signature_headers = SignatureHeaders {
            webhook_id: header_text(WEBHOOK_ID_HEADER),
            webhook_timestamp: header_text(WEBHOOK_TIMESTAMP_HEADER),
            webhook_signature: header_text(WEBHOOK_SIGNATURE_HEADER),
        };
        let now = (state.clock)().as_second();
        verifier
            .verify(&signature_headers, &bytes, now)
            .map_err(|error| {
                ApiError::new(StatusCode::UNAUTHORIZED, "bad-signature", error.to_string())
                    .with_field(error.header())
            })?;
    }
    Ok(bytes)
}

/// Parses JSON, naming the field at fault: syntax errors and wrong types are 400.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let field = (path != "." && path != "?").then_some(path);
        let message = match inner.classify() {
            serde_json::error::Category::Data => match &field {
                Some(field) => format!("field `{field}`: {inner}"),
                None => format!("the body must be a JSON object: {inner}"),
            },
            _ => format!("malformed JSON: {inner}"),
        };
        let mut api_error = ApiError::new(StatusCode::BAD_REQUEST, "invalid-json", message);
        api_error.field = field;
        api_error
    })?;
    deserializer.end().map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("malformed JSON: unexpected data after the object: {error}"),
        )
    })?;
    Ok(value)
}

/// One of a fixed set of words, case-insensitive; `None` when the field is absent.
fn choice<T: Copy>(
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
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-value",
                format!("{field} `{value}` is not one of {}", words.join(", ")),
            )
            .with_field(field)
        })
}

fn event_id(from_body: Option<String>, headers: &HeaderMap) -> Result<EventId, ApiError> {
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

fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    let value = value.ok_or_else(|| ApiError::missing(field, ""))?;
    parse_department_name(&value, field).map_err(ApiError::invalid)
}

fn optional_id(value: Option<String>, field: &'static str) -> Result<Option<String>, ApiError> {
    value
        .map(|value| parse_department_name(&value, field).map_err(ApiError::invalid))
        .transpose()
}

fn timestamp(value: Option<String>, field: &'static str) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|text| {
            text.parse::<Timestamp>().map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-value",
                    format!(
                        "`{text}` is not an RFC 3339 time with an offset, e.g. 2026-11-22T08:00:00Z"
                    ),
                )
                .with_field(field)
            })
        })
        .transpose()
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
    let mode = choice(
        raw.mode.as_deref(),
        "mode",
        &[
            ("warm", TransferMode::Warm),
            ("cold", TransferMode::Cold),
            ("attended", TransferMode::Warm),
            ("consult", TransferMode::Warm),
            ("blind", TransferMode::Cold),
        ],
    )?;
    let callback_number = match raw.callback_number {
        Some(number) if number.chars().count() > 64 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-value",
                "callback_number is longer than 64 characters; send an E.164 number such as +14155550123",
            )
            .with_field("callback_number"));
        }
        other => other,
    };
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
    let bytes = read_verified_body(&state, &headers, body).await?;
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
    if raw
        .note
        .as_ref()
        .is_some_and(|note| note.chars().count() > 1000)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            "note is longer than 1000 characters",
        )
        .with_field("note"));
    }
    let request = CallbackRequest {
        event_id,
        call_id,
        status,
        note: raw.note,
        occurred_at: timestamp(raw.occurred_at, "occurred_at")?,
    };
    let outcome = state.store.mark_callback(request, (state.clock)()).await?;
    if !outcome.replayed {
        state.publish(LiveUpdate {
            kind: "callback",
            call_id: outcome.answer.call_id.as_str().to_owned(),
            verdict: None,
        });
    }
    Ok(outcome.answer)
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ready`, or `degraded` when the last rules reload was refused (the last good rules still serve).
    pub status: &'static str,
    pub rules: super::RulesStatus,
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = ReadyBody)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Json<ReadyBody> {
    let rules = state.rules_status();
    Json(ReadyBody {
        status: if rules.last_reload_ok {
            "ready"
        } else {
            "degraded"
        },
        rules,
    })
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    state
        .metrics
        .active_calls
        .set(state.store.active_calls() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint; see /openapi.json for the API",
    )
}
