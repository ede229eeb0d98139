//! Operations endpoints: liveness, readiness, metrics, and the JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use super::state::{AppState, RulesStatus};

pub async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ready`, or `degraded` when the last rules reload was refused (the last good rules still serve).
    pub status: &'static str,
    pub rules: RulesStatus,
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

pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see /openapi.json for the API",
    )
}
