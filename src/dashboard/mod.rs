//! Shell: the operations managers' dashboard, served by `loopguard serve` itself.
//!
//! Owns the HTML pages, the `/v1/stats/*` JSON endpoints, the live event stream
//! (`/v1/events`, server-sent events from [`AppState::live`]), the embedded assets and
//! the login form. The numbers come from [`crate::core::stats`]. Nothing here decides
//! verdicts.

pub mod layout;
pub mod login;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};

use crate::core::duration::parse_duration;
use crate::core::engine::CallRecord;
use crate::core::stats::{self, Window};
use crate::http::body::{require_json, verify_signature};
use crate::http::query::Query;
use crate::http::{ApiError, AppState, ErrorBody, ErrorCode};
use crate::webhook::callback::record_callback;

/// The dashboard's part of the OpenAPI document: the `/v1/stats/*` endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        overview_json,
        flagged_json,
        matrix_json,
        departments_json,
        callbacks_json,
        graph_json
    ),
    components(schemas(
        stats::Window,
        stats::Overview,
        stats::SeriesPoint,
        stats::FlaggedCall,
        stats::BounceMatrix,
        stats::DepartmentRow,
        stats::CallbackOwed,
        stats::FailedMark,
        stats::GraphTraffic,
        stats::GraphNode,
        stats::GraphEdge
    ))
)]
pub struct StatsApi;

/// How many flagged calls a page or the JSON list shows.
pub const FLAGGED_LIMIT: usize = 200;

/// How long one server-sent-events response stays open. Browsers reconnect on their
/// own; a bounded stream keeps graceful shutdown from waiting on open dashboards.
const EVENT_STREAM_LIFETIME: Duration = Duration::from_secs(30);

/// The dashboard's routes: pages, stats, the live event stream and the callback
/// buttons. `server::app` puts them behind the dashboard credential check.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(overview_page))
        .route("/calls", get(flagged_page))
        .route("/calls/{call_id}", get(call_page))
        .route("/calls/{call_id}/callback", post(mark_callback))
        .route("/matrix", get(matrix_page))
        .route("/graph", get(graph_page))
        .route("/departments", get(departments_page))
        .route("/callbacks", get(callbacks_page))
        .route("/v1/stats/overview", get(overview_json))
        .route("/v1/stats/flagged", get(flagged_json))
        .route("/v1/stats/matrix", get(matrix_json))
        .route("/v1/stats/departments", get(departments_json))
        .route("/v1/stats/callbacks", get(callbacks_json))
        .route("/v1/stats/graph", get(graph_json))
        .route("/v1/events", get(events))
}

/// The routes anyone may fetch: the login form and the static assets.
pub fn public_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/login", get(login::login_page).post(login::login))
        .route("/assets/dashboard.css", get(stylesheet))
        .route("/assets/dashboard.js", get(script))
}

/// A window the views offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    Hour,
    Day,
    Week,
}

impl WindowChoice {
    pub const ALL: [WindowChoice; 3] = [WindowChoice::Hour, WindowChoice::Day, WindowChoice::Week];

    pub fn as_str(self) -> &'static str {
        match self {
            WindowChoice::Hour => "1h",
            WindowChoice::Day => "1d",
            WindowChoice::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WindowChoice::Hour => "last hour",
            WindowChoice::Day => "last day",
            WindowChoice::Week => "last week",
        }
    }

    /// How far back the window reaches.
    pub fn duration(self) -> SignedDuration {
        match self {
            WindowChoice::Hour => SignedDuration::from_hours(1),
            WindowChoice::Day => SignedDuration::from_hours(24),
            WindowChoice::Week => SignedDuration::from_hours(24 * 7),
        }
    }

    /// The window ending at `now`: 12 × 5 minutes, 24 × 1 hour, or 28 × 6 hours.
    pub fn window(self, now: Timestamp) -> Window {
        let (length, interval) = match self {
            WindowChoice::Hour => (SignedDuration::from_hours(1), SignedDuration::from_mins(5)),
            WindowChoice::Day => (
                SignedDuration::from_hours(24),
                SignedDuration::from_hours(1),
            ),
            WindowChoice::Week => (
                SignedDuration::from_hours(24 * 7),
                SignedDuration::from_hours(6),
            ),
        };
        Window::ending_at(now, length, interval)
    }
}

/// The query of a view: `window` (default `1d`) and, for the departments, `sort`.
#[derive(Debug, Clone)]
pub struct ViewQuery {
    pub window: WindowChoice,
    pub sort: Option<String>,
}

pub fn parse_query(query: Option<&str>, allow_sort: bool) -> Result<ViewQuery, ApiError> {
    let allowed: &[&str] = if allow_sort {
        &["window", "sort"]
    } else {
        &["window"]
    };
    let query = Query::parse(query, allowed)?;
    let window = match query.get("window") {
        None => WindowChoice::Day,
        Some(value) => WindowChoice::ALL
            .into_iter()
            .find(|choice| parse_duration(value).ok() == Some(choice.duration()))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    format!("window `{value}` is not one of `1h`, `1d`, `7d`"),
                )
                .with_field("window")
            })?,
    };
    Ok(ViewQuery {
        window,
        sort: query.get("sort").map(str::to_owned),
    })
}

/// Runs `compute` over every call under the store's lock and returns its result.
///
/// The statistics are computed in place rather than on a copy: with 10,000 calls,
/// copying the records out took about 15 ms of lock time (the webhook waits on that
/// lock), computing a view in place about 1 ms (see `benches/dashboard.rs`). Only
/// plain results leave the closure; rendering happens after the lock is released.
pub fn with_calls<T>(state: &AppState, compute: impl FnOnce(&[&CallRecord]) -> T) -> T {
    let mut compute = Some(compute);
    let mut result = None;
    state.store.read(&mut |engine| {
        let calls: Vec<&CallRecord> = engine.calls().collect();
        result = compute.take().map(|compute| compute(&calls));
    });
    // `read` runs its closure exactly once; a store that did not would be a bug.
    result.expect("CallStore::read runs the closure once")
}

fn window_of(state: &AppState, query: &ViewQuery) -> Window {
    query.window.window(state.clock.now())
}

#[utoipa::path(
    get,
    path = "/v1/stats/overview",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "The overview numbers and the loops series", body = stats::Overview),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn overview_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<stats::Overview>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    Ok(Json(overview_of(&state, &query)))
}

/// The overview; callbacks owed count every call, not only the window's.
pub fn overview_of(state: &AppState, query: &ViewQuery) -> stats::Overview {
    let window = window_of(state, query);
    // Over every call: transfers count only in the window, callbacks owed count whenever.
    with_calls(state, |calls| {
        stats::overview(calls.iter().copied(), &window)
    })
}

#[utoipa::path(
    get,
    path = "/v1/stats/flagged",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "Calls with a warned or blocked transfer, newest first (at most 200)", body = Vec<stats::FlaggedCall>),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn flagged_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<stats::FlaggedCall>>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    Ok(Json(with_calls(&state, |calls| {
        stats::flagged_calls(calls.iter().copied(), &window, FLAGGED_LIMIT)
    })))
}

#[utoipa::path(
    get,
    path = "/v1/stats/matrix",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "From × to matrices of transfers, blocked transfers, bounces and blocked bounces", body = stats::BounceMatrix),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn matrix_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<stats::BounceMatrix>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    Ok(Json(with_calls(&state, |calls| {
        stats::bounce_matrix(calls.iter().copied(), &rules, &window)
    })))
}

#[utoipa::path(
    get,
    path = "/v1/stats/departments",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now"), ("sort" = Option<String>, Query, description = "A column: `department`, `transfers_in`, `transfers_out`, `loops_caused`, `cold_share`, `missing_callback_share`, `callbacks_owed`, `known`")),
    responses(
        (status = 200, description = "One row per department", body = Vec<stats::DepartmentRow>),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn departments_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<stats::DepartmentRow>>, ApiError> {
    let query = parse_query(query.as_deref(), true)?;
    let rows = departments_of(&state, &query)?;
    Ok(Json(rows))
}

/// The departments table, sorted by `query.sort` (descending numbers, ascending names).
pub fn departments_of(
    state: &AppState,
    query: &ViewQuery,
) -> Result<Vec<stats::DepartmentRow>, ApiError> {
    let window = window_of(state, query);
    let rules = state.rules.load_full();
    // Over every call: transfers count only in the window, callbacks owed count whenever.
    let mut rows = with_calls(state, |calls| {
        stats::departments_table(calls.iter().copied(), &rules, &window)
    });
    if let Some(column) = &query.sort {
        pages::sort_departments(&mut rows, column).map_err(|message| {
            ApiError::new(ErrorCode::InvalidValue, message).with_field("sort")
        })?;
    }
    Ok(rows)
}

#[utoipa::path(
    get,
    path = "/v1/stats/callbacks",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "Every callback owed, oldest first (not limited to the window)", body = Vec<stats::CallbackOwed>),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn callbacks_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<stats::CallbackOwed>>, ApiError> {
    parse_query(query.as_deref(), false)?;
    let now = state.clock.now();
    Ok(Json(with_calls(&state, |calls| {
        stats::callbacks_owed(calls.iter().copied(), now)
    })))
}

#[utoipa::path(
    get,
    path = "/v1/stats/graph",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "Departments and edges with traffic; pairs seen that the rules do not allow are marked", body = stats::GraphTraffic),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn graph_json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<stats::GraphTraffic>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    Ok(Json(with_calls(&state, |calls| {
        stats::graph_traffic(calls.iter().copied(), &rules, &window)
    })))
}

async fn overview_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    Ok(Html(pages::overview(&overview_of(&state, &query), &query)))
}

async fn flagged_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    let flagged = with_calls(&state, |calls| {
        stats::flagged_calls(calls.iter().copied(), &window, FLAGGED_LIMIT)
    });
    Ok(Html(pages::flagged(&flagged, &query)))
}

async fn call_page(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let call = state
        .store
        .call(&call_id)
        .ok_or_else(|| ApiError::unknown_call(&call_id))?;
    Ok(Html(pages::call(&call, state.clock.now())))
}

async fn matrix_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    let matrix = with_calls(&state, |calls| {
        stats::bounce_matrix(calls.iter().copied(), &rules, &window)
    });
    Ok(Html(pages::matrix(&matrix, &query)))
}

async fn graph_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    let query = parse_query(query.as_deref(), false)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    let graph = with_calls(&state, |calls| {
        stats::graph_traffic(calls.iter().copied(), &rules, &window)
    });
    Ok(Html(pages::graph(&graph, &query)))
}

async fn departments_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    let query = parse_query(query.as_deref(), true)?;
    let rows = departments_of(&state, &query)?;
    Ok(Html(pages::departments(&rows, &query)))
}

async fn callbacks_page(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, ApiError> {
    parse_query(query.as_deref(), false)?;
    let now = state.clock.now();
    let owed = with_calls(&state, |calls| {
        stats::callbacks_owed(calls.iter().copied(), now)
    });
    Ok(Html(pages::callbacks(&owed)))
}

/// `POST /calls/{call_id}/callback`: the dashboard's "mark done" / "mark failed". The
/// webhook route `POST /v1/calls/{call_id}/callback` takes the webhook signature, which
/// a browser cannot make; this one takes the dashboard's credential instead (and, the
/// session cookie being `SameSite=Strict` and the body JSON only, a cross-site page
/// cannot post it). The mark
/// is stored exactly like one from the webhook.
async fn mark_callback(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<CallRecord>, ApiError> {
    // Only JSON: a cross-site page can post text/plain without a CORS preflight, but
    // not application/json, so this also keeps other sites from marking callbacks
    // when the dashboard runs without a token on loopback.
    require_json(&headers)?;
    // Without a dashboard token nobody signed in, so with a webhook secret configured
    // the mark must carry the webhook signature: one credential or the other.
    if state.dashboard_token.is_none() {
        verify_signature(&state, &headers, &body)?;
    }
    record_callback(&state, &call_id, &headers, &body)
        .await
        .map(Json)
}

/// `GET /v1/events`: one server-sent event per new transfer, call end or callback mark
/// (`event: transfer|end|callback`, data: the [`LiveUpdate`] as JSON). The stream ends
/// after [`EVENT_STREAM_LIFETIME`]; browsers reconnect after the `retry` delay.
async fn events(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let receiver = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + EVENT_STREAM_LIFETIME;
    let first = Event::default()
        .event("hello")
        .retry(Duration::from_secs(1))
        .data("{}");
    let stream = futures_util::stream::unfold(
        (receiver, Some(first)),
        move |(mut receiver, first)| async move {
            if let Some(first) = first {
                return Some((
                    Ok::<Event, std::convert::Infallible>(first),
                    (receiver, None),
                ));
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => None,
                received = receiver.recv() => match received {
                    Ok(update) => {
                        let event = Event::default()
                            .event(update.kind)
                            .json_data(&update)
                            .unwrap_or_else(|_| Event::default().event(update.kind).data("{}"));
                        Some((Ok(event), (receiver, None)))
                    }
                    // Missed updates: tell the page to refresh anyway.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let event = Event::default().event("lagged").data("{}");
                        Some((Ok(event), (receiver, None)))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
                },
            }
        },
    );
    // Frequent keep-alives also let the server notice a closed page quickly (a write
    // to a closed socket fails), so shutdown does not wait on abandoned streams.
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(2)))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/dashboard.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/dashboard.js"),
    )
        .into_response()
}
