//! Amazon Connect: `POST /v1/integrations/amazon-connect/flow` (a contact flow
//! asks before a transfer; the answer is the flat map of strings a flow can
//! branch on) and `POST /v1/integrations/amazon-connect/events` (EventBridge
//! contact events after the fact). Both arrive through the forwarding Lambda in
//! `contrib/amazon-connect/`, signed with Standard Webhooks like `/v1/transfers`.
//! The translations are `integrations::amazon_connect`.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::Value;

use super::observe::{apply, translation_error};
use super::transfer::{count, record};
use crate::core::engine::CallId;
use crate::http::body::{parse_json, read_signed_json};
use crate::http::{ApiError, AppState, ErrorBody};
use crate::integrations::amazon_connect::{
    ContactQueues, FlowAnswer, FlowEvent, contact_event, flow_answer, flow_transfer_request,
};
use crate::integrations::observation::ObservationAnswer;

/// How many contacts' queues are remembered for the transfers their successors
/// report (a few hundred bytes each).
pub const REMEMBERED_CONTACTS: usize = 100_000;

/// The queues of recent contacts, shared by the events route.
pub type SharedContactQueues = Arc<Mutex<ContactQueues>>;

#[utoipa::path(
    post,
    path = "/v1/integrations/amazon-connect/flow",
    tag = "integrations",
    request_body(content = FlowEvent, content_type = "application/json",
        description = "The contact flow event of an Invoke AWS Lambda function block, as is: `Details.ContactData` (ContactId, InitialContactId, Queue, CustomerEndpoint) and `Details.Parameters` (`to` required; `from`, `intent`, `mode`, `callback_number`, `event_id`)."),
    params(
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id; required when a secret is configured"),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds; required when a secret is configured"),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64>` signatures; required when a secret is configured"),
    ),
    responses(
        (status = 200, description = "A flat map of strings: `verdict`, `reason`, `suggested_department`, `suggested_queue`", body = FlowAnswer),
        (status = 400, description = "Malformed JSON, naming the field", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 409, description = "Same event id with a different body, or a transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, named (`Details.Parameters.to`, ...)", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_flow(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FlowAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = async {
        let bytes = read_signed_json(&state, &headers, body).await?;
        let event: FlowEvent = parse_json(&bytes)?;
        let request = flow_transfer_request(event).map_err(translation_error)?;
        record(&state, request).await
    }
    .await;
    timer.observe_duration();
    count(&state, &result);
    let (answer, _) = result?;
    Ok(Json(flow_answer(&answer, &state.rules.load())))
}

#[utoipa::path(
    post,
    path = "/v1/integrations/amazon-connect/events",
    tag = "integrations",
    request_body(content = Object, content_type = "application/json",
        description = "An EventBridge event with detail-type `Amazon Connect Contact Event`, as is (keys in any case). `QUEUED` of a contact initiated by TRANSFER or QUEUE_TRANSFER is recorded as a transfer; `DISCONNECTED` ends the call unless the contact handed it on; everything else is ignored."),
    params(
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id; required when a secret is configured"),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds; required when a secret is configured"),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64>` signatures; required when a secret is configured"),
    ),
    responses(
        (status = 200, description = "Recorded, replayed or ignored; for a transfer, the verdict on a transfer that already happened", body = ObservationAnswer),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 409, description = "A transfer after the call ended", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, named (`detail.contactId`, ...)", body = ErrorBody),
        (status = 503, description = "The store cannot accept events; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn post_events(
    State(state): State<Arc<AppState>>,
    Extension(queues): Extension<SharedContactQueues>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ObservationAnswer>, ApiError> {
    let timer = state.metrics.webhook_duration.start_timer();
    let result = events(&state, &queues, &headers, body).await;
    timer.observe_duration();
    result.map(Json)
}

async fn events(
    state: &AppState,
    queues: &SharedContactQueues,
    headers: &HeaderMap,
    body: Body,
) -> Result<ObservationAnswer, ApiError> {
    let counted = |error: ApiError| {
        state.metrics.request(error.outcome());
        error
    };
    let bytes = read_signed_json(state, headers, body)
        .await
        .map_err(counted)?;
    let envelope: Value = parse_json(&bytes).map_err(counted)?;
    let translated = contact_event(&envelope, |previous, call_id| {
        previous_queue(state, queues, previous, call_id)
    })
    .map_err(translation_error)
    .map_err(counted)?;
    if let Some((contact, queue)) = translated.queue {
        queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remember(contact, queue);
    }
    apply(state, translated.observation).await
}

/// Where the call was when `previous` transferred it: that contact's queue as
/// its own events said, else (after a restart) where the call's last recorded
/// transfer took it, as the store's engine (with several instances, this
/// instance's read model) holds it.
fn previous_queue(
    state: &AppState,
    queues: &SharedContactQueues,
    previous: &str,
    call_id: &CallId,
) -> Option<String> {
    let remembered = queues
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .queue(previous);
    remembered.or_else(|| {
        let mut queue = None;
        state.store.read(&mut |engine| {
            queue = engine
                .call(call_id.as_str())
                .and_then(|record| record.hops.iter().rev().find(|hop| hop.moved))
                .map(|hop| hop.to_identity.clone().unwrap_or_else(|| hop.to.clone()));
        });
        queue
    })
}
