//! The read APIs for calls: one call's whole chain, and the calls with loops.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::query::Query;
use super::state::AppState;
use crate::core::engine::CallRecord;

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
    get,
    path = "/v1/calls/{call_id}",
    tag = "calls",
    params(("call_id" = String, Path, description = "The call's chain key")),
    responses(
        (status = 200, description = "The whole chain with every hop's verdict and findings", body = CallRecord),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 503, description = "The store cannot be read now; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn get_call(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
) -> Result<Json<CallRecord>, ApiError> {
    state
        .store
        .call(&call_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::unknown_call(&call_id))
}

#[utoipa::path(
    get,
    path = "/v1/loops",
    tag = "calls",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration back from now such as `15m`, `1h` or `2d`"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
    ),
    responses(
        (status = 200, description = "Calls with loop findings, newest first", body = LoopsResponse),
        (status = 422, description = "Invalid query parameter", body = ErrorBody),
        (status = 503, description = "The store cannot be read now; retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn get_loops(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<LoopsResponse>, ApiError> {
    let query = Query::parse(query.as_deref(), &["since", "limit"])?;
    let since = query.time_or_ago("since", state.clock.now())?;
    let limit = query.number("limit", 1..=1000)?.unwrap_or(100);
    let calls = state
        .store
        .loops(since, limit)
        .await?
        .into_iter()
        .map(|record| LoopSummary {
            loop_codes: record
                .loop_codes()
                .into_iter()
                .map(|code| code.as_str().to_owned())
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
