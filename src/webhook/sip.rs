//! `POST /v1/integrations/sip/refer`: a SIP proxy asks before it lets a REFER
//! through; the answer is the verdict plus the SIP reply to send. The translation
//! is `integrations::sip`; this handler reads, authenticates and records exactly
//! like `POST /v1/transfers`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::transfer::{count, record};
use crate::core::engine::TransferAnswer;
use crate::http::body::{parse_json, read_signed_json};
use crate::http::signature::WEBHOOK_ID_HEADER;
use crate::http::{ApiError, AppState, ErrorBody};
use crate::integrations::sip::{
    ReferAnswer, ReferBody, ReferError, refer_answer, transfer_request,
};

#[utoipa::path(
    post,
    path = "/v1/integrations/sip/refer",
    tag = "integrations",
    request_body(content = ReferBody, content_type = "application/json"),
    params(
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id; the event id (default: `call_id;cseq=N`)"),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds; required when a secret is configured"),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64>` signatures; required when a secret is configured"),
    ),
    responses(
        (status = 200, description = "The verdict JSON of /v1/transfers, plus `sip` (the status and Reason header to answer the REFER with) and the Reason as a flat string", body = ReferAnswer),
        (status = 400, description = "Malformed JSON or a field of the wrong type, naming the field", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 409, description = "Same event id with a different body, or a transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing field, a malformed SIP URI, a Refer-To without a user part", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_sip_refer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReferAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = refer(&state, &headers, body).await;
    timer.observe_duration();
    count(&state, &result);
    result.map(|(answer, _)| Json(refer_answer(answer)))
}

async fn refer(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TransferAnswer, bool), ApiError> {
    let bytes = read_signed_json(state, headers, body).await?;
    let raw: ReferBody = parse_json(&bytes)?;
    let webhook_id = headers
        .get(WEBHOOK_ID_HEADER)
        .and_then(|value| value.to_str().ok());
    let request = transfer_request(raw, webhook_id).map_err(|error| match error {
        ReferError::Missing { field, what } => ApiError::missing(field, &format!(": {what}")),
        ReferError::Invalid(input) => ApiError::invalid(input),
    })?;
    record(state, request).await
}
