//! The request deadline: from the end of the request head, the body must arrive and
//! the answer be ready within `AppState::request_timeout`, or the client gets a 408.
//! This is what times out a half-sent body, whatever route reads it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use super::state::AppState;

/// Middleware over every route.
pub async fn request_deadline(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request was not received and answered within {} ms; send the whole body at once",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}
