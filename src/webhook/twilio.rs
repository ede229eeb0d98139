//! Twilio Flex + TaskRouter: `POST /v1/integrations/twilio/taskrouter` (the
//! Workspace's Event Callback URL: form-encoded events after the fact, answered
//! 204 as TaskRouter expects) and `POST /v1/integrations/twilio/flex/transfer`
//! (the Flex plugin's question before a transfer, through the Twilio Function in
//! `contrib/twilio/`). Both are authenticated with `X-Twilio-Signature`; the
//! translations are `integrations::twilio`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::observe::{apply, require_open_server, translation_error};
use super::transfer::{count, record};
use crate::core::engine::TransferAnswer;
use crate::http::body::{parse_form, parse_json, read_limited, require_form, require_json};
use crate::http::signature::constant_time_eq;
use crate::http::{ApiError, AppState, ErrorBody, ErrorCode};
use crate::integrations::observation::{ObservationAnswer, reason, suggested, verdict_word};
use crate::integrations::twilio::{
    BODY_HASH_PARAMETER, FlexTransferBody, SIGNATURE_HEADER, TaskRouterEvent,
    acceptable_signatures, body_hash, flex_transfer_request, is_taskrouter_sid, observation,
    query_parameter,
};

const TOKEN_SETTING: &str = "--twilio-auth-token (LOOPGUARD_TWILIO_AUTH_TOKEN)";

#[utoipa::path(
    post,
    path = "/v1/integrations/twilio/taskrouter",
    tag = "integrations",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "A TaskRouter Event Callback: `EventType`, `TaskSid`, `TaskAttributes`, `TaskQueueSid`, `TransferTo`, `TransferMode`, `TransferInitiatingReservationSid`, `Timestamp`, ... `task.transfer-completed` is recorded as a transfer; `task.completed` (resolved) and `task.canceled` (abandoned) end the call; every other event is ignored."),
    params(
        ("X-Twilio-Signature" = Option<String>, Header, description = "HMAC-SHA1 of the URL and the sorted form parameters, keyed with the auth token; required when --twilio-auth-token is set"),
    ),
    responses(
        (status = 204, description = "Recorded, replayed or ignored (headers `loopguard-outcome` and, for a transfer, `loopguard-verdict`: the verdict on a transfer that already happened)"),
        (status = 400, description = "The form cannot be decoded", body = ErrorBody),
        (status = 401, description = "Missing or bad X-Twilio-Signature", body = ErrorBody),
        (status = 409, description = "A transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not a form", body = ErrorBody),
        (status = 422, description = "A missing or invalid parameter, named", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_taskrouter_event(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = taskrouter_event(&state, &uri, &headers, body).await;
    timer.observe_duration();
    let answer = result?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let outcome = serde_json::to_value(answer.outcome)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&outcome) {
        response_headers.insert("loopguard-outcome", value);
    }
    if let Some(verdict) = answer.verdict {
        response_headers.insert(
            "loopguard-verdict",
            HeaderValue::from_static(verdict_word(verdict)),
        );
    }
    Ok(response)
}

async fn taskrouter_event(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<ObservationAnswer, ApiError> {
    let counted = |error: ApiError| {
        state.metrics.request(error.outcome());
        error
    };
    require_form(headers).map_err(counted)?;
    let bytes = read_limited(body, state.max_body_bytes)
        .await
        .map_err(counted)?;
    let parameters = parse_form(&bytes).map_err(counted)?;
    verify(state, uri, headers, &parameters).map_err(counted)?;
    let translated = observation(&TaskRouterEvent::new(&parameters))
        .map_err(translation_error)
        .map_err(counted)?;
    apply(state, translated).await
}

/// What the Flex plugin gets back: the verdict JSON of `/v1/transfers` plus flat
/// fields the plugin acts on.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlexAnswer {
    #[serde(flatten)]
    pub answer: TransferAnswer,
    /// True for `block`: the plugin cancels the transfer.
    pub cancel: bool,
    /// The finding behind a block or warn ("" for allow), to show the agent.
    pub reason: String,
    /// The department to send the call to instead ("" when none).
    pub suggested_department: String,
    /// A TaskQueue or Worker SID among that department's aliases ("" when none).
    pub suggested_target: String,
}

#[utoipa::path(
    post,
    path = "/v1/integrations/twilio/flex/transfer",
    tag = "integrations",
    request_body(content = FlexTransferBody, content_type = "application/json"),
    params(
        ("X-Twilio-Signature" = Option<String>, Header, description = "HMAC-SHA1 of the full URL, which carries `bodySHA256` (the hex SHA-256 of the body); required when --twilio-auth-token is set"),
        ("bodySHA256" = Option<String>, Query, description = "Hex SHA-256 of the body, covered by the signature"),
    ),
    responses(
        (status = 200, description = "The verdict, and `cancel`, `reason`, `suggested_department`, `suggested_target` for the plugin", body = FlexAnswer),
        (status = 400, description = "Malformed JSON, naming the field", body = ErrorBody),
        (status = 401, description = "Missing or bad X-Twilio-Signature, or a bodySHA256 that does not match the body", body = ErrorBody),
        (status = 409, description = "A transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, named", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_flex_transfer(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FlexAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = flex_transfer(&state, &uri, &headers, body).await;
    timer.observe_duration();
    count(&state, &result);
    let (answer, _) = result?;
    let rules = state.rules.load();
    let (suggested_department, suggested_target) = suggested(&answer, &rules, is_taskrouter_sid);
    Ok(Json(FlexAnswer {
        cancel: answer.verdict == crate::core::engine::Verdict::Block,
        reason: reason(&answer),
        suggested_department,
        suggested_target,
        answer,
    }))
}

async fn flex_transfer(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TransferAnswer, bool), ApiError> {
    require_json(headers)?;
    let bytes = read_limited(body, state.max_body_bytes).await?;
    if state.integrations.twilio_auth_token.is_some() {
        let presented = uri
            .query()
            .and_then(|query| query_parameter(query, BODY_HASH_PARAMETER))
            .unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), body_hash(&bytes).as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                "the URL's bodySHA256 is missing or is not the SHA-256 of the body; sign the body as Twilio does (see contrib/twilio/)",
            )
            .with_field(BODY_HASH_PARAMETER));
        }
    }
    verify(state, uri, headers, &[])?;
    let raw: FlexTransferBody = parse_json(&bytes)?;
    let request = flex_transfer_request(raw).map_err(translation_error)?;
    record(state, request).await
}

/// Checks `X-Twilio-Signature` against the URL Twilio called: `--public-url` plus
/// the path and query when set (a proxy in between), else `http://` + the Host
/// header + the path and query.
fn verify(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    parameters: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(token) = &state.integrations.twilio_auth_token else {
        return require_open_server(state, TOKEN_SETTING);
    };
    let bad = |message: String| {
        ApiError::new(ErrorCode::BadSignature, message).with_field(SIGNATURE_HEADER)
    };
    let presented = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| bad("the X-Twilio-Signature header is missing".to_owned()))?;
    let path_and_query = uri
        .path_and_query()
        .map(|value| value.as_str())
        .unwrap_or("/");
    let url = match &state.integrations.public_url {
        Some(public) => format!("{}{path_and_query}", public.trim_end_matches('/')),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("");
            format!("http://{host}{path_and_query}")
        }
    };
    let matched = acceptable_signatures(token, &url, parameters)
        .iter()
        .any(|expected| constant_time_eq(presented.as_bytes(), expected.as_bytes()));
    if matched {
        Ok(())
    } else {
        Err(bad(format!(
            "X-Twilio-Signature does not match {url} and the auth token; behind a proxy, set --public-url to the URL Twilio calls"
        )))
    }
}
