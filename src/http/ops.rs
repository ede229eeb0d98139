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
    /// `ready`; `reloading` while a rules reload runs within its deadline; `degraded`
    /// when the last reload was refused or a reload ran past its deadline (the last
    /// good rules still serve), or when the store cannot take some writes (a full
    /// database) or has something else to report; `unavailable` (with 503) when the
    /// store can answer no event (the database does not answer).
    pub status: &'static str,
    /// Why the status is not `ready`, one sentence each (the store's included).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub rules: RulesStatus,
    pub store: StoreReadiness,
}

/// What `/readyz` says about the store (its problem, if any, is in `problems`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreReadiness {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the store can answer events at all; `false` answers 503.
    pub ready: bool,
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready, reloading, or degraded but serving", body = ReadyBody),
    (status = 503, description = "The store can answer no event", body = ReadyBody),
))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<ReadyBody>) {
    let rules = state.rules_status();
    let store = state.store.status().await;
    let mut problems = Vec::new();
    let mut status = "ready";
    if !rules.last_reload_ok {
        problems
            .push("the last rules reload was refused; the last good rules are in force".to_owned());
        status = "degraded";
    }
    if let Some(started) = rules.reload_started_at {
        let running = state.clock.now().duration_since(started).as_secs();
        if running > rules.reload_timeout_seconds as i64 {
            problems.push(format!(
                "a rules reload has run for {running} s, past its {} s deadline; the last good rules are in force",
                rules.reload_timeout_seconds
            ));
            status = "degraded";
        } else if status == "ready" {
            status = "reloading";
        }
    }
    if let Some(problem) = store.problem {
        problems.push(problem);
        status = "degraded";
    }
    let code = if store.ready {
        StatusCode::OK
    } else {
        status = "unavailable";
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = ReadyBody {
        status,
        problems,
        rules,
        store: StoreReadiness {
            backend: store.backend,
            ready: store.ready,
        },
    };
    (code, Json(body))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // A store that cannot count right now keeps the last count.
    if let Ok(count) = state.store.active_calls().await {
        state.metrics.active_calls.set(count as i64);
    }
    let now = state.clock.now();
    let mut follow_ups = ((0, 0), (0, 0));
    state.store.read_stats(&mut |index| {
        follow_ups = (index.open_follow_ups(), index.overdue(now));
    });
    let ((open_callbacks, open_promises), (overdue_callbacks, overdue_promises)) = follow_ups;
    for (gauge, kind, value) in [
        (&state.metrics.follow_ups_open, "callback", open_callbacks),
        (&state.metrics.follow_ups_open, "promise", open_promises),
        (
            &state.metrics.follow_ups_overdue,
            "callback",
            overdue_callbacks,
        ),
        (
            &state.metrics.follow_ups_overdue,
            "promise",
            overdue_promises,
        ),
    ] {
        gauge.with_label_values(&[kind]).set(value as i64);
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
