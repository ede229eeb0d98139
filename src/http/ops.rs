//! Operations endpoints: liveness, readiness, metrics, and the JSON 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
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
    /// `ready`; `degraded` when the last rules reload was refused (the last good rules
    /// still serve) or the store has something to report; `unavailable` (with 503) when
    /// the store cannot take events (the database does not answer).
    pub status: &'static str,
    pub rules: RulesStatus,
    pub store: StoreReadiness,
}

/// What `/readyz` says about the store.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreReadiness {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether events can be stored right now.
    pub ready: bool,
    /// Why not, or what else to know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready, or degraded but serving", body = ReadyBody),
    (status = 503, description = "The store cannot take events", body = ReadyBody),
))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<ReadyBody>) {
    let rules = state.rules_status();
    let store = state.store.status().await;
    let (code, status) = if !store.ready {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    } else if !rules.last_reload_ok || store.detail.is_some() {
        (StatusCode::OK, "degraded")
    } else {
        (StatusCode::OK, "ready")
    };
    let body = ReadyBody {
        status,
        rules,
        store: StoreReadiness {
            backend: store.backend,
            ready: store.ready,
            detail: store.detail,
        },
    };
    (code, Json(body))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // A store that cannot count right now keeps the last count.
    if let Ok(count) = state.store.active_calls().await {
        state.metrics.active_calls.set(count as i64);
    }
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
