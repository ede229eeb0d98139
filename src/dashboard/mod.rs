//! Shell: the operations managers' dashboard, served by `loopguard serve` itself.
//!
//! Owns the HTML pages, the `/v1/stats/*` JSON endpoints, the live event stream
//! (`/v1/events`, server-sent events from [`AppState::live`]), the embedded assets and
//! the login form. The numbers come from the store's statistics index
//! ([`crate::core::stats::StatsIndex`], read through `CallStore::read_stats`), computed
//! by [`compute::ViewComputer`] off the webhook's async workers. Every list is paged
//! and every view has a bounded number of rows. Nothing here decides verdicts.

pub mod compute;
pub mod layout;
pub mod login;
pub mod pages;
pub mod visible;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::core::duration::parse_duration;
use crate::core::engine::CallRecord;
use crate::core::stats::{
    self, CallbackCursor, FlaggedCursor, MAX_UNKNOWN_DEPARTMENTS_SHOWN, StatsIndex, Window, views,
};
use crate::http::body::{require_json, verify_signature};
use crate::http::query::Query;
use crate::http::{ApiError, AppState, ErrorBody, ErrorCode};
use crate::webhook::callback::record_callback;
use compute::{Computed, ViewComputer};

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
        stats::FlaggedPage,
        stats::BounceMatrix,
        stats::OtherUnknown,
        stats::DepartmentRow,
        stats::DepartmentPage,
        stats::CallbackOwed,
        stats::CallbackPage,
        stats::FailedMark,
        stats::GraphTraffic,
        stats::GraphNode,
        stats::GraphEdge
    ))
)]
pub struct StatsApi;

/// Page sizes of the lists: the default and the most one page may hold.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;

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
        .layer(Extension(Arc::new(ViewComputer::default())))
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

/// The query of a view: `window` (default `1d`) and, where the view takes them,
/// `sort`, `limit` and `after` (the `next` of the previous page).
#[derive(Debug, Clone)]
pub struct ViewQuery {
    pub window: WindowChoice,
    pub sort: Option<String>,
    pub limit: Option<usize>,
    pub after: Option<String>,
}

impl ViewQuery {
    /// The page size asked for, or the default.
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE)
    }

    /// The query as text, for keys of computed responses.
    fn key(&self, view: &str) -> String {
        format!(
            "{view}|{}|{}|{}|{}",
            self.window.as_str(),
            self.sort.as_deref().unwrap_or(""),
            self.page_size(),
            self.after.as_deref().unwrap_or("")
        )
    }
}

/// Parses a view's query; `allowed` are the parameters the view takes.
pub fn parse_query(query: Option<&str>, allowed: &[&str]) -> Result<ViewQuery, ApiError> {
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
        limit: query.number("limit", 1..=MAX_PAGE)?,
        after: query.get("after").map(str::to_owned),
    })
}

const WINDOW_ONLY: &[&str] = &["window"];
const PAGED: &[&str] = &["window", "limit", "after"];
const SORTED_AND_PAGED: &[&str] = &["window", "sort", "limit", "after"];

fn bad_cursor(value: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidValue,
        format!(
            "after `{value}` is not a cursor this list gave; pass the `next` value of the previous page unchanged, or leave `after` out for the first page"
        ),
    )
    .with_field("after")
}

fn window_of(state: &AppState, query: &ViewQuery) -> Window {
    query.window.window(state.clock.now())
}

fn json_body<T: Serialize>(value: &T) -> Computed {
    Computed {
        content_type: "application/json",
        // Serializing our own stats types to JSON cannot fail.
        body: serde_json::to_string(value).unwrap_or_default().into(),
    }
}

fn html_body(markup: maud::Markup) -> Computed {
    Computed {
        content_type: "text/html; charset=utf-8",
        body: markup.into_string().into(),
    }
}

impl IntoResponse for Computed {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, self.content_type)],
            self.body.to_string(),
        )
            .into_response()
    }
}

/// Which representation a handler answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// Computes one view: `key` names it (with the format, the query and the rules in
/// force), `compute` reads the index.
async fn view(
    state: &Arc<AppState>,
    computer: &ViewComputer,
    key: String,
    compute: impl FnOnce(&StatsIndex) -> Computed + Send + 'static,
) -> Response {
    let rules = Arc::as_ptr(&state.rules.load()) as usize;
    computer
        .compute(state, format!("{key}|rules@{rules:x}"), compute)
        .await
        .into_response()
}

/// The overview; callbacks owed count every call, not only the window's.
async fn overview(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), WINDOW_ONLY)?;
    let window = window_of(&state, &query);
    let key = query.key(&format!("overview.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let overview = index.overview(&window);
        match format {
            Format::Json => json_body(&overview),
            Format::Html => html_body(pages::overview(&overview, &query)),
        }
    })
    .await)
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
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    overview(state, computer, query, Format::Json).await
}

async fn overview_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    overview(state, computer, query, Format::Html).await
}

async fn flagged(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), PAGED)?;
    let after = query
        .after
        .as_deref()
        .map(|after| FlaggedCursor::decode(after).ok_or_else(|| bad_cursor(after)))
        .transpose()?;
    let window = window_of(&state, &query);
    let key = query.key(&format!("flagged.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let page = index.flagged(&window, after.as_ref(), query.page_size());
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::flagged(&page, &query)),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/flagged",
    tag = "dashboard",
    params(
        ("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now"),
        ("limit" = Option<usize>, Query, description = "Calls per page, 1 to 500 (default 100)"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page")
    ),
    responses(
        (status = 200, description = "Calls with a warned or blocked transfer, newest first, one page", body = stats::FlaggedPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, `limit`, `after` or query parameter", body = ErrorBody),
    )
)]
pub async fn flagged_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    flagged(state, computer, query, Format::Json).await
}

async fn flagged_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    flagged(state, computer, query, Format::Html).await
}

async fn matrix(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), WINDOW_ONLY)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    let key = query.key(&format!("matrix.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let matrix = views::bounce_matrix(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN);
        match format {
            Format::Json => json_body(&matrix),
            Format::Html => html_body(pages::matrix(&matrix, &query)),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/matrix",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "From × to matrices of transfers, blocked transfers, bounces and blocked bounces; the rules' departments, at most 20 unknown ones, and one row and column adding up the other unknown ones", body = stats::BounceMatrix),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn matrix_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    matrix(state, computer, query, Format::Json).await
}

async fn matrix_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    matrix(state, computer, query, Format::Html).await
}

async fn departments(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), SORTED_AND_PAGED)?;
    if let Some(column) = &query.sort {
        // Sorting no rows checks the column name before any computation.
        pages::sort_departments(&mut [], column).map_err(|message| {
            ApiError::new(ErrorCode::InvalidValue, message).with_field("sort")
        })?;
    }
    let offset = query
        .after
        .as_deref()
        .map(|after| after.parse::<usize>().map_err(|_| bad_cursor(after)))
        .transpose()?
        .unwrap_or(0);
    let window = window_of(&state, &query);
    let now = state.clock.now();
    let rules = state.rules.load_full();
    let key = query.key(&format!("departments.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let (mut rows, other_unknown) =
            views::departments_table(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN, now);
        if let Some(column) = &query.sort {
            // The column was checked above.
            let _ = pages::sort_departments(&mut rows, column);
        }
        let total = rows.len();
        let end = offset.saturating_add(query.page_size()).min(total);
        let items: Vec<stats::DepartmentRow> = rows
            .into_iter()
            .skip(offset)
            .take(end.saturating_sub(offset))
            .collect();
        let page = stats::DepartmentPage {
            window,
            total: total as u64,
            items,
            next: (end < total).then(|| end.to_string()),
            other_unknown,
        };
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::departments(&page, &query)),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/departments",
    tag = "dashboard",
    params(
        ("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now"),
        ("sort" = Option<String>, Query, description = "A column: `department`, `transfers_in`, `transfers_out`, `loops_caused`, `cold_share`, `missing_callback_share`, `callbacks_owed`, `known`"),
        ("limit" = Option<usize>, Query, description = "Rows per page, 1 to 500 (default 100)"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page")
    ),
    responses(
        (status = 200, description = "One row per department (the rules' departments, at most 20 unknown ones, one row adding up the other unknown ones), one page", body = stats::DepartmentPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, `sort`, `limit`, `after` or query parameter", body = ErrorBody),
    )
)]
pub async fn departments_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    departments(state, computer, query, Format::Json).await
}

async fn departments_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    departments(state, computer, query, Format::Html).await
}

async fn callbacks(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    // `window` is accepted and ignored: callbacks owed are not limited to a window.
    let query = parse_query(query.as_deref(), PAGED)?;
    let after = query
        .after
        .as_deref()
        .map(|after| CallbackCursor::decode(after).ok_or_else(|| bad_cursor(after)))
        .transpose()?;
    let now = state.clock.now();
    let key = query.key(&format!("callbacks.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let page = index.callbacks_owed(now, after.as_ref(), query.page_size());
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::callbacks(&page, &query)),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/callbacks",
    tag = "dashboard",
    params(
        ("limit" = Option<usize>, Query, description = "Callbacks per page, 1 to 500 (default 100)"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page")
    ),
    responses(
        (status = 200, description = "Callbacks owed, oldest first (not limited to a window), one page", body = stats::CallbackPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `limit`, `after` or query parameter", body = ErrorBody),
    )
)]
pub async fn callbacks_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    callbacks(state, computer, query, Format::Json).await
}

async fn callbacks_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    callbacks(state, computer, query, Format::Html).await
}

async fn graph(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), WINDOW_ONLY)?;
    let window = window_of(&state, &query);
    let rules = state.rules.load_full();
    let key = query.key(&format!("graph.{}", format.as_str()));
    Ok(view(&state, &computer, key, move |index| {
        let graph = views::graph_traffic(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN);
        match format {
            Format::Json => json_body(&graph),
            Format::Html => html_body(pages::graph(&graph, &query)),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/graph",
    tag = "dashboard",
    params(("window" = Option<String>, Query, description = "`1h`, `1d` (default) or `7d`, ending now")),
    responses(
        (status = 200, description = "Departments and edges with traffic; pairs seen that the rules do not allow are marked; at most 20 unknown departments, the others added up in one node", body = stats::GraphTraffic),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window` or query parameter", body = ErrorBody),
    )
)]
pub async fn graph_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    graph(state, computer, query, Format::Json).await
}

async fn graph_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    graph(state, computer, query, Format::Html).await
}

async fn call_page(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let call = state
        .store
        .call(&call_id)
        .ok_or_else(|| ApiError::unknown_call(&call_id))?;
    Ok(Html(pages::call(&call, state.clock.now()).into_string()))
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
