//! What every integration's handler shares: recording a translated platform
//! event (a transfer or a call end) the way the platform can live with, and the
//! check that an integration without its own secret is open only while the
//! whole server is.
//!
//! An observation is an event that already happened. A transfer is judged and
//! recorded like any other (history is fact; the verdict cannot stop it). An end
//! closes the chain unless the leg that ended had handed the call on, or the call
//! had no transfer: both are answered as ignored, never as an error, so the
//! platform does not retry them.

use axum::http::HeaderMap;

use super::transfer::record;
use crate::core::engine::{EngineError, RecordedEvent, TransferAnswer, TransferRequest};
use crate::http::signature::constant_time_eq;
use crate::http::{ApiError, AppState, ErrorCode, LiveUpdate};
use crate::integrations::observation::{
    Observation, ObservationAnswer, ObservationOutcome, TranslationError,
};
use crate::metrics::RequestOutcome;
use crate::store::StoreError;

/// Records one translated event and says what happened to it.
pub(crate) async fn apply(
    state: &AppState,
    observation: Observation,
) -> Result<ObservationAnswer, ApiError> {
    match observation {
        Observation::Ignored(reason) => {
            tracing::debug!(%reason, "platform event ignored");
            state.metrics.request(RequestOutcome::Ignored);
            Ok(ObservationAnswer::ignored(reason))
        }
        Observation::Transfer(request) => {
            let result = record_observed(state, request).await;
            super::transfer::count(state, &result);
            result.map(|(answer, replayed)| ObservationAnswer::transfer(&answer, replayed))
        }
        Observation::End { request, leg } => {
            let handed = match &leg {
                Some(leg) => handed_on(state, request.call_id.as_str(), leg).await,
                None => Ok(false),
            };
            if handed.inspect_err(|error| state.metrics.request(error.outcome()))? {
                state.metrics.request(RequestOutcome::Ignored);
                return Ok(ObservationAnswer::ignored(format!(
                    "the leg that ended handed call `{}` on; the call goes on",
                    request.call_id
                )));
            }
            let span = tracing::Span::current();
            span.record("call_id", request.call_id.as_str());
            span.record("event_id", request.event_id.as_str());
            match state.store.end_call(request, state.clock.now()).await {
                Ok(outcome) => {
                    state.metrics.request(if outcome.replayed {
                        RequestOutcome::Replayed
                    } else {
                        RequestOutcome::Ended
                    });
                    if !outcome.replayed {
                        state.publish(LiveUpdate {
                            kind: "end",
                            call_id: outcome.answer.call_id.as_str().to_owned(),
                            verdict: None,
                        });
                    }
                    Ok(ObservationAnswer {
                        outcome: if outcome.replayed {
                            ObservationOutcome::Replayed
                        } else {
                            ObservationOutcome::Recorded
                        },
                        kind: Some("end"),
                        event_id: Some(outcome.answer.event_id.as_str().to_owned()),
                        call_id: Some(outcome.answer.call_id.as_str().to_owned()),
                        verdict: None,
                        reason: String::new(),
                    })
                }
                // Most calls end without a transfer: nothing to close, nothing to retry.
                Err(StoreError::Engine(EngineError::UnknownCall { call_id })) => {
                    state.metrics.request(RequestOutcome::Ignored);
                    Ok(ObservationAnswer::ignored(format!(
                        "no transfer was recorded for call `{call_id}`: nothing to close"
                    )))
                }
                Err(error) => {
                    let error = ApiError::from(error);
                    state.metrics.request(error.outcome());
                    Err(error)
                }
            }
        }
    }
}

/// Records an observed transfer. A transfer already decided through loopguard
/// under the same event id (a Flex plugin asked before TaskRouter reported it)
/// is the same transfer: it gets the decision's answer and is not recorded twice,
/// even though the observation's body differs from the question's.
pub(crate) async fn record_observed(
    state: &AppState,
    request: TransferRequest,
) -> Result<(TransferAnswer, bool), ApiError> {
    match state.store.recorded(&request.event_id).await? {
        Some(RecordedEvent::Transfer { answer, .. }) => Ok((*answer, true)),
        _ => record(state, request).await,
    }
}

/// Whether the call's latest transfer was made from the leg whose hops' event ids
/// start with `leg`: then that leg's end is not the end of the call.
async fn handed_on(state: &AppState, call_id: &str, leg: &str) -> Result<bool, ApiError> {
    Ok(state
        .store
        .call(call_id)
        .await?
        .and_then(|record| {
            record
                .hops
                .last()
                .map(|hop| hop.event_id.as_str().starts_with(leg))
        })
        .unwrap_or(false))
}

/// Checks an integration's bearer token (`Authorization: Bearer <token>`) in
/// constant time. Without a configured token the route is open only while the
/// whole server is: with a webhook secret configured it refuses everything.
pub(crate) fn check_bearer(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
    setting: &str,
) -> Result<(), ApiError> {
    let Some(token) = token else {
        return require_open_server(state, setting);
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::BadSignature,
            "the bearer token is missing or wrong; send `Authorization: Bearer <token>`",
        )
        .with_field("authorization"))
    }
}

/// An integration without its secret: allowed only when the server checks no
/// signatures at all (loopback only, or `--insecure`).
pub(crate) fn require_open_server(state: &AppState, setting: &str) -> Result<(), ApiError> {
    if state.verifier.is_none() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::BadSignature,
        format!(
            "this integration is not configured: set {setting} so its requests can be authenticated"
        ),
    )
    .with_field("authorization"))
}

/// A translation error as the API's error: 422 naming the field.
pub(crate) fn translation_error(error: TranslationError) -> ApiError {
    match error {
        TranslationError::Missing { field, what } => ApiError::missing(field, &format!(": {what}")),
        TranslationError::Invalid(input) => ApiError::invalid(input),
    }
}
