//! Genesys Cloud: `POST /v1/integrations/genesys/data-action` (an Architect flow
//! asks before a transfer through a Call Data Action; the contract is in
//! `contrib/genesys/`) and `POST /v1/integrations/genesys/events` (conversation
//! events after the fact). Genesys data actions can send a fixed header but
//! cannot sign a body, so both routes take `Authorization: Bearer <token>`,
//! compared in constant time with `--genesys-token`. The translations are
//! `integrations::genesys`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

use super::observe::{apply, check_bearer, translation_error};
use super::transfer::{count, record};
use crate::http::body::{parse_json, read_limited, require_json};
use crate::http::{ApiError, AppState, ErrorBody};
use crate::integrations::genesys::{
    DataActionAnswer, DataActionRequest, conversation_events, data_action_answer,
    data_action_request,
};
use crate::integrations::observation::ObservationList;

const TOKEN_SETTING: &str = "--genesys-token (LOOPGUARD_GENESYS_TOKEN)";

async fn read(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, ApiError> {
    require_json(headers)?;
    let bytes = read_limited(body, state.max_body_bytes).await?;
    check_bearer(
        state,
        headers,
        state.integrations.genesys_token.as_deref(),
        TOKEN_SETTING,
    )?;
    Ok(bytes)
}

#[utoipa::path(
    post,
    path = "/v1/integrations/genesys/data-action",
    tag = "integrations",
    request_body(content = DataActionRequest, content_type = "application/json"),
    params(
        ("Authorization" = Option<String>, Header, description = "`Bearer <token>`: the --genesys-token; required when it is set"),
    ),
    responses(
        (status = 200, description = "Flat strings for the data action's output contract", body = DataActionAnswer),
        (status = 400, description = "Malformed JSON, naming the field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 409, description = "Same transfer id with a different body, or a transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, named", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_data_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DataActionAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = async {
        let bytes = read(&state, &headers, body).await?;
        let raw: DataActionRequest = parse_json(&bytes)?;
        let request = data_action_request(raw).map_err(translation_error)?;
        record(&state, request).await
    }
    .await;
    timer.observe_duration();
    count(&state, &result);
    let (answer, _) = result?;
    Ok(Json(data_action_answer(&answer, &state.rules.load())))
}

#[utoipa::path(
    post,
    path = "/v1/integrations/genesys/events",
    tag = "integrations",
    request_body(content = Object, content_type = "application/json",
        description = "A conversation (`id`, `participants` with `purpose`, `queue.id`/`queueId`, `user.id`/`userId`, `connectedTime`, `endTime`, `disconnectType`), bare, in a notification (`topicName`, `eventBody`) or in an EventBridge envelope (`detail`). Agent-to-agent transfers are recorded; queue and IVR segments that end in `transfer` are not agent transfers; the end of the customer ends the call."),
    params(
        ("Authorization" = Option<String>, Header, description = "`Bearer <token>`: the --genesys-token; required when it is set"),
    ),
    responses(
        (status = 200, description = "One result per transfer or end the conversation shows (recorded, replayed or ignored)", body = ObservationList),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 409, description = "A transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, named", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ObservationList>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = events(&state, &headers, body).await;
    timer.observe_duration();
    result.map(Json)
}

async fn events(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<ObservationList, ApiError> {
    let counted = |error: ApiError| {
        state.metrics.request(error.outcome());
        error
    };
    let bytes = read(state, headers, body).await.map_err(counted)?;
    let event: Value = parse_json(&bytes).map_err(counted)?;
    let observations = conversation_events(&event)
        .map_err(translation_error)
        .map_err(counted)?;
    let mut results = Vec::with_capacity(observations.len());
    for observation in observations {
        results.push(apply(state, observation).await?);
    }
    Ok(ObservationList { results })
}
