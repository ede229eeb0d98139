//! Shell: the operations managers' dashboard, served by `loopguard serve` itself.
//!
//! Owns the HTML pages, the `/v1/stats/*` JSON (and CSV) endpoints, the live event
//! stream (`/v1/events`, server-sent events from [`AppState::live`]), the embedded
//! assets and the login form. The numbers come from the store's statistics index
//! ([`crate::core::stats::StatsIndex`], read through `CallStore::read_stats`), computed
//! by [`compute::ViewComputer`] off the webhook's async workers. Every list is paged
//! and every view has a bounded number of rows. Nothing here decides verdicts.

pub mod compute;
pub mod export;
pub mod login;
pub mod pages;
mod pages_follow_ups;
pub mod range;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;

use crate::core::engine::CallRecord;
use crate::core::stats::{
    self, CallbackCursor, FlaggedCursor, FollowUpCursor, MAX_UNKNOWN_DEPARTMENTS_SHOWN, StatsIndex,
    views,
};
use crate::http::body::{require_json, verify_signature};
use crate::http::query::Query;
use crate::http::{ApiError, AppState, ErrorBody, ErrorCode};
use crate::webhook::callback::record_callback;
use compute::{Computed, ViewComputer};
pub use range::{Range, WindowChoice};

/// The dashboard's part of the OpenAPI document: the `/v1/stats/*` endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        overview_json,
        hotspots_json,
        flagged_json,
        matrix_json,
        departments_json,
        callbacks_json,
        graph_json,
        agents_json,
        follow_ups_json
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
        stats::GraphEdge,
        stats::Hotspots,
        stats::HotPair,
        stats::LoopDepartment,
        stats::AgentRow,
        stats::AgentPage,
        stats::FollowUp,
        stats::FollowUpKind,
        stats::FollowUpPage
    ))
)]
pub struct StatsApi;

/// Page sizes of the lists: the default and the most one page may hold (CSV pages
/// hold up to [`export::MAX_CSV_ROWS`]).
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;

/// Pairs and departments the overview's "who" lists.
pub const HOTSPOTS_SHOWN: usize = 5;

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
        .route("/agents", get(agents_page))
        .route("/follow-ups", get(follow_ups_page))
        .route("/v1/stats/overview", get(overview_json))
        .route("/v1/stats/hotspots", get(hotspots_json))
        .route("/v1/stats/flagged", get(flagged_json))
        .route("/v1/stats/matrix", get(matrix_json))
        .route("/v1/stats/departments", get(departments_json))
        .route("/v1/stats/callbacks", get(callbacks_json))
        .route("/v1/stats/graph", get(graph_json))
        .route("/v1/stats/agents", get(agents_json))
        .route("/v1/stats/follow-ups", get(follow_ups_json))
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

/// The query string's range parameters, as the OpenAPI document lists them.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// `1h`, `1d` (default) or `7d`, ending now.
    pub window: Option<String>,
    /// Start of any range (RFC 3339), instead of `window`.
    pub from: Option<String>,
    /// End of that range (RFC 3339, exclusive); default now.
    pub to: Option<String>,
}

/// A list's paging parameters, as the OpenAPI document lists them.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: 1 to 500 (default 100); with `format=csv` 1 to 10,000 (default 10,000).
    pub limit: Option<usize>,
    /// The `next` of the previous page (CSV: the `Link` header's next page).
    pub after: Option<String>,
    /// `json` (default) or `csv` (CSV-injection safe: cells starting with `=`, `+`, `-`, `@` get a leading `'`).
    pub format: Option<String>,
}

/// How a handler answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
    Csv,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Csv => "csv",
        }
    }
}

/// The query of a view: its range and, where the view takes them, `sort`, `limit`,
/// `after`, `format`, `focus` (graph) and `between`/`and` (calls of one pair).
#[derive(Debug, Clone)]
pub struct ViewQuery {
    pub range: Range,
    pub sort: Option<String>,
    pub limit: Option<usize>,
    pub after: Option<String>,
    pub focus: Option<String>,
    pub pair: Option<(String, String)>,
    csv: bool,
}

impl ViewQuery {
    /// The page size asked for, or the default.
    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(if self.csv {
            export::MAX_CSV_ROWS
        } else {
            DEFAULT_PAGE
        })
    }

    /// The query as text, for keys of computed responses.
    fn key(&self, view: &str, format: Format) -> String {
        format!(
            "{view}.{}|{}|{}|{}|{}|{:?}|{:?}",
            format.as_str(),
            self.range.key(),
            self.sort.as_deref().unwrap_or(""),
            self.page_size(),
            self.after.as_deref().unwrap_or(""),
            self.focus,
            self.pair,
        )
    }

    /// The query string of a link to `path` that keeps this query, with `after`.
    pub fn link(&self, path: &str, after: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = self.range.query_pairs();
        if let Some(sort) = &self.sort {
            pairs.push(("sort", sort.clone()));
        }
        if let Some((a, b)) = &self.pair {
            pairs.push(("between", a.clone()));
            pairs.push(("and", b.clone()));
        }
        if let Some(focus) = &self.focus {
            pairs.push(("focus", focus.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if self.csv {
            pairs.push(("format", "csv".to_owned()));
        }
        if let Some(after) = after {
            pairs.push(("after", after.to_owned()));
        }
        // Encoding pairs of strings as a query string cannot fail.
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{path}?{encoded}")
    }
}

/// Parses a view's query; `allowed` are the parameters the view takes besides its
/// range (every view takes `window`, `from` and `to`).
pub fn parse_query(query: Option<&str>, allowed: &[&str]) -> Result<ViewQuery, ApiError> {
    let names: Vec<&str> = Range::PARAMETERS.iter().chain(allowed).copied().collect();
    let query = Query::parse(query, &names)?;
    let csv = match query.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("format `{other}` is not one of `json`, `csv`"),
            )
            .with_field("format"));
        }
    };
    let pair = match (query.get("between"), query.get("and")) {
        (None, None) => None,
        (Some(a), Some(b)) => Some((a.to_owned(), b.to_owned())),
        (None, Some(_)) => {
            return Err(ApiError::missing(
                "between",
                ": the other department of the pair",
            ));
        }
        (Some(_), None) => {
            return Err(ApiError::missing(
                "and",
                ": the other department of the pair",
            ));
        }
    };
    Ok(ViewQuery {
        range: Range::parse(&query)?,
        sort: query.get("sort").map(str::to_owned),
        limit: query.number(
            "limit",
            1..=if csv { export::MAX_CSV_ROWS } else { MAX_PAGE },
        )?,
        after: query.get("after").map(str::to_owned),
        focus: query.get("focus").map(str::to_owned),
        pair,
        csv,
    })
}

const NOTHING_MORE: &[&str] = &[];
const PAGED: &[&str] = &["limit", "after"];
const EXPORTED: &[&str] = &["limit", "after", "format"];
const FLAGGED: &[&str] = &["limit", "after", "format", "between", "and"];
const DEPARTMENTS: &[&str] = &["sort", "limit", "after", "format"];
const GRAPH: &[&str] = &["focus"];

fn bad_cursor(value: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidValue,
        format!(
            "after `{value}` is not a cursor this list gave; pass the `next` value of the previous page unchanged, or leave `after` out for the first page"
        ),
    )
    .with_field("after")
}

/// The format of a `/v1/stats/*` answer: CSV when asked for, else JSON.
fn data_format(query: &ViewQuery) -> Format {
    if query.csv { Format::Csv } else { Format::Json }
}

fn json_body<T: Serialize>(value: &T) -> Computed {
    Computed {
        content_type: "application/json",
        // Serializing our own stats types to JSON cannot fail.
        body: serde_json::to_string(value).unwrap_or_default().into(),
        next: None,
        download: None,
    }
}

fn html_body(markup: maud::Markup) -> Computed {
    Computed {
        content_type: "text/html; charset=utf-8",
        body: markup.into_string().into(),
        next: None,
        download: None,
    }
}

/// A CSV page: `next` is the link to the following page, if any.
fn csv_body(text: String, file: &'static str, next: Option<String>) -> Computed {
    Computed {
        content_type: "text/csv; charset=utf-8",
        body: text.into(),
        next,
        download: Some(file),
    }
}

impl IntoResponse for Computed {
    fn into_response(self) -> Response {
        let mut response = (
            [(header::CONTENT_TYPE, self.content_type)],
            self.body.to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(next) = self
            .next
            .and_then(|next| header::HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok())
        {
            headers.insert(header::LINK, next);
        }
        if let Some(file) = self.download {
            let value = format!("attachment; filename=\"{file}\"");
            if let Ok(value) = header::HeaderValue::from_str(&value) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
        }
        response
    }
}

/// What every page needs besides its content: where it is and what the nav shows.
fn chrome(state: &AppState, path: &'static str, query: &ViewQuery) -> pages::Chrome {
    pages::Chrome {
        path,
        range: query.range,
        show_agents: state.rules.load().policy.show_agents,
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

/// The overview with its "who" (hot pairs, loop-causing departments); callbacks and
/// follow-ups owed count every call, not only the window's.
async fn overview(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), NOTHING_MORE)?;
    let now = state.clock.now();
    let window = query.range.window(now);
    let rules = state.rules.load_full();
    let chrome = chrome(&state, "/", &query);
    let key = query.key("overview", format);
    Ok(view(&state, &computer, key, move |index| {
        let overview = index.overview(&window);
        match format {
            Format::Html => {
                let hotspots = views::hotspots(
                    index,
                    &rules,
                    &window,
                    MAX_UNKNOWN_DEPARTMENTS_SHOWN,
                    HOTSPOTS_SHOWN,
                    now,
                );
                let (callbacks, promises) = index.overdue(now);
                html_body(pages::overview(
                    &chrome,
                    &overview,
                    &hotspots,
                    callbacks + promises,
                ))
            }
            _ => json_body(&overview),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/overview",
    tag = "dashboard",
    params(RangeParams),
    responses(
        (status = 200, description = "The overview numbers and the loops series", body = stats::Overview),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, or unknown query parameter", body = ErrorBody),
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

#[utoipa::path(
    get,
    path = "/v1/stats/hotspots",
    tag = "dashboard",
    params(RangeParams),
    responses(
        (status = 200, description = "Who plays hot potato: the department pairs with the most bounces (taken and blocked) and the departments whose transfers caused the most loops, five each", body = stats::Hotspots),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn hotspots_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), NOTHING_MORE)?;
    let now = state.clock.now();
    let window = query.range.window(now);
    let rules = state.rules.load_full();
    let key = query.key("hotspots", Format::Json);
    Ok(view(&state, &computer, key, move |index| {
        json_body(&views::hotspots(
            index,
            &rules,
            &window,
            MAX_UNKNOWN_DEPARTMENTS_SHOWN,
            HOTSPOTS_SHOWN,
            now,
        ))
    })
    .await)
}

/// Flagged calls, or with `between`/`and` the calls that bounced between a pair.
async fn flagged(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Option<Format>,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), FLAGGED)?;
    let format = format.unwrap_or_else(|| data_format(&query));
    let after = query
        .after
        .as_deref()
        .map(|after| FlaggedCursor::decode(after).ok_or_else(|| bad_cursor(after)))
        .transpose()?;
    let window = query.range.window(state.clock.now());
    let chrome = chrome(&state, "/calls", &query);
    let key = query.key("flagged", format);
    Ok(view(&state, &computer, key, move |index| {
        let page = match &query.pair {
            Some((a, b)) => index.pair_calls(&window, (a, b), after.as_ref(), query.page_size()),
            None => index.flagged(&window, after.as_ref(), query.page_size()),
        };
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::flagged(&chrome, &page, &query)),
            Format::Csv => csv_body(
                export::flagged(&page.items),
                "flagged-calls.csv",
                page.next
                    .as_deref()
                    .map(|next| query.link("/v1/stats/flagged", Some(next))),
            ),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/flagged",
    tag = "dashboard",
    params(
        RangeParams,
        PageParams,
        ("between" = Option<String>, Query, description = "With `and`: the calls that bounced between these two departments (either way, taken or blocked), whatever their verdict"),
        ("and" = Option<String>, Query, description = "The other department of `between`")
    ),
    responses(
        (status = 200, description = "Calls with a warned or blocked transfer (or bouncing between a pair), newest first, one page; CSV with `format=csv`", body = stats::FlaggedPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, `limit`, `after`, `format` or query parameter", body = ErrorBody),
    )
)]
pub async fn flagged_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    flagged(state, computer, query, None).await
}

async fn flagged_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    flagged(state, computer, query, Some(Format::Html)).await
}

async fn matrix(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), NOTHING_MORE)?;
    let window = query.range.window(state.clock.now());
    let rules = state.rules.load_full();
    let chrome = chrome(&state, "/matrix", &query);
    let key = query.key("matrix", format);
    Ok(view(&state, &computer, key, move |index| {
        let matrix = views::bounce_matrix(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN);
        match format {
            Format::Html => html_body(pages::matrix(&chrome, &matrix)),
            _ => json_body(&matrix),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/matrix",
    tag = "dashboard",
    params(RangeParams),
    responses(
        (status = 200, description = "From × to matrices of transfers, blocked transfers, bounces and blocked bounces; the rules' departments, at most 20 unknown ones, and one row and column adding up the other unknown ones", body = stats::BounceMatrix),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, or unknown query parameter", body = ErrorBody),
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

/// Pages a whole table by offset (`after` is the offset of the next row).
fn page_of<T>(rows: Vec<T>, offset: usize, size: usize) -> (Vec<T>, u64, Option<String>) {
    let total = rows.len();
    let end = offset.saturating_add(size).min(total);
    let items = rows
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    (items, total as u64, (end < total).then(|| end.to_string()))
}

fn offset(query: &ViewQuery) -> Result<usize, ApiError> {
    Ok(query
        .after
        .as_deref()
        .map(|after| after.parse::<usize>().map_err(|_| bad_cursor(after)))
        .transpose()?
        .unwrap_or(0))
}

async fn departments(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Option<Format>,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), DEPARTMENTS)?;
    let format = format.unwrap_or_else(|| data_format(&query));
    if let Some(column) = &query.sort {
        // Sorting no rows checks the column name before any computation.
        pages::sort_departments(&mut [], column).map_err(|message| {
            ApiError::new(ErrorCode::InvalidValue, message).with_field("sort")
        })?;
    }
    let offset = offset(&query)?;
    let now = state.clock.now();
    let window = query.range.window(now);
    let rules = state.rules.load_full();
    let chrome = chrome(&state, "/departments", &query);
    let key = query.key("departments", format);
    Ok(view(&state, &computer, key, move |index| {
        let (mut rows, other_unknown) =
            views::departments_table(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN, now);
        if let Some(column) = &query.sort {
            // The column was checked above.
            let _ = pages::sort_departments(&mut rows, column);
        }
        let (items, total, next) = page_of(rows, offset, query.page_size());
        let page = stats::DepartmentPage {
            window,
            total,
            items,
            next,
            other_unknown,
        };
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::departments(&chrome, &page, &query)),
            Format::Csv => csv_body(
                export::departments(&page.items),
                "departments.csv",
                page.next
                    .as_deref()
                    .map(|next| query.link("/v1/stats/departments", Some(next))),
            ),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/departments",
    tag = "dashboard",
    params(
        RangeParams,
        ("sort" = Option<String>, Query, description = "A column: `department`, `transfers_in`, `transfers_out`, `loops_caused`, `cold_share`, `missing_callback_share`, `callbacks_owed`, `follow_ups_owed`, `follow_ups_overdue`, `kept_on_time`, `known`"),
        PageParams
    ),
    responses(
        (status = 200, description = "One row per department (the rules' departments, at most 20 unknown ones, one row adding up the other unknown ones), one page; CSV with `format=csv`", body = stats::DepartmentPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, `sort`, `limit`, `after`, `format` or query parameter", body = ErrorBody),
    )
)]
pub async fn departments_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    departments(state, computer, query, None).await
}

async fn departments_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    departments(state, computer, query, Some(Format::Html)).await
}

async fn callbacks(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Format,
) -> Result<Response, ApiError> {
    // The range is accepted and ignored: callbacks owed are not limited to a window.
    let query = parse_query(query.as_deref(), PAGED)?;
    let after = query
        .after
        .as_deref()
        .map(|after| CallbackCursor::decode(after).ok_or_else(|| bad_cursor(after)))
        .transpose()?;
    let now = state.clock.now();
    let chrome = chrome(&state, "/callbacks", &query);
    let key = query.key("callbacks", format);
    Ok(view(&state, &computer, key, move |index| {
        let page = index.callbacks_owed(now, after.as_ref(), query.page_size());
        match format {
            Format::Html => html_body(pages::callbacks(&chrome, &page, &query)),
            _ => json_body(&page),
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
        (status = 200, description = "Callbacks owed, oldest first (not limited to a window), with their due time and whether they are overdue, one page", body = stats::CallbackPage),
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
    let query = parse_query(query.as_deref(), GRAPH)?;
    let window = query.range.window(state.clock.now());
    let rules = state.rules.load_full();
    let chrome = chrome(&state, "/graph", &query);
    let key = query.key("graph", format);
    Ok(view(&state, &computer, key, move |index| {
        let graph = views::graph_traffic(index, &rules, &window, MAX_UNKNOWN_DEPARTMENTS_SHOWN);
        // A focus the graph does not have leaves nothing to show; the page says so.
        let graph = match &query.focus {
            Some(focus) => pages::focused(&graph, focus),
            None => graph,
        };
        match format {
            Format::Html => html_body(pages::graph(&chrome, &graph, &query)),
            _ => json_body(&graph),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/graph",
    tag = "dashboard",
    params(
        RangeParams,
        ("focus" = Option<String>, Query, description = "Only this department, its neighbours and the edges among them (nothing when the graph has no such department)")
    ),
    responses(
        (status = 200, description = "Departments and edges with traffic; pairs seen that the rules do not allow are marked; at most 20 unknown departments, the others added up in one node", body = stats::GraphTraffic),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, or unknown query parameter", body = ErrorBody),
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

fn agents_off() -> ApiError {
    ApiError::new(
        ErrorCode::FeatureOff,
        "agent statistics are turned off by the rules' policy (`show_agents = false`)",
    )
}

async fn agents(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Option<Format>,
) -> Result<Response, ApiError> {
    let query = parse_query(query.as_deref(), EXPORTED)?;
    let format = format.unwrap_or_else(|| data_format(&query));
    let chrome = chrome(&state, "/agents", &query);
    if !chrome.show_agents {
        return match format {
            Format::Html => Ok(Html(pages::agents_off(&chrome).into_string()).into_response()),
            _ => Err(agents_off()),
        };
    }
    let offset = offset(&query)?;
    let window = query.range.window(state.clock.now());
    let key = query.key("agents", format);
    Ok(view(&state, &computer, key, move |index| {
        let (items, total, next) = page_of(
            views::agents_table(index, &window),
            offset,
            query.page_size(),
        );
        let page = stats::AgentPage {
            window,
            total,
            items,
            next,
        };
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::agents(&chrome, &page, &query)),
            Format::Csv => csv_body(
                export::agents(&page.items),
                "agents.csv",
                page.next
                    .as_deref()
                    .map(|next| query.link("/v1/stats/agents", Some(next))),
            ),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/agents",
    tag = "dashboard",
    params(RangeParams, PageParams),
    responses(
        (status = 200, description = "One row per agent and department the agent transferred from (transfers with an `agent_id` only), most transfers first, one page; CSV with `format=csv`. Coaching data: behind the dashboard credential", body = stats::AgentPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 404, description = "The rules' policy turns agent statistics off (`show_agents = false`)", body = ErrorBody),
        (status = 422, description = "Unknown `window`, bad `from`/`to`, `limit`, `after`, `format` or query parameter", body = ErrorBody),
    )
)]
pub async fn agents_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    agents(state, computer, query, None).await
}

async fn agents_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    agents(state, computer, query, Some(Format::Html)).await
}

async fn follow_ups(
    state: Arc<AppState>,
    computer: Arc<ViewComputer>,
    query: Option<String>,
    format: Option<Format>,
) -> Result<Response, ApiError> {
    // The range is accepted and ignored: what is owed now is not limited to a window.
    let query = parse_query(query.as_deref(), EXPORTED)?;
    let format = format.unwrap_or_else(|| data_format(&query));
    let after = query
        .after
        .as_deref()
        .map(|after| FollowUpCursor::decode(after).ok_or_else(|| bad_cursor(after)))
        .transpose()?;
    let now = state.clock.now();
    let chrome = chrome(&state, "/follow-ups", &query);
    let key = query.key("follow-ups", format);
    Ok(view(&state, &computer, key, move |index| {
        let page = index.follow_ups(now, after.as_ref(), query.page_size());
        match format {
            Format::Json => json_body(&page),
            Format::Html => html_body(pages::follow_ups(&chrome, &page, &query)),
            Format::Csv => csv_body(
                export::follow_ups(&page.items),
                "follow-ups.csv",
                page.next
                    .as_deref()
                    .map(|next| query.link("/v1/stats/follow-ups", Some(next))),
            ),
        }
    })
    .await)
}

#[utoipa::path(
    get,
    path = "/v1/stats/follow-ups",
    tag = "dashboard",
    params(PageParams),
    responses(
        (status = 200, description = "Open follow-ups (callbacks owed after a dropped transfer and open promises), overdue ones first, then by due time, one page; CSV with `format=csv`", body = stats::FollowUpPage),
        (status = 401, description = "A dashboard token is configured and none was presented", body = ErrorBody),
        (status = 422, description = "Unknown `limit`, `after`, `format` or query parameter", body = ErrorBody),
    )
)]
pub async fn follow_ups_json(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    follow_ups(state, computer, query, None).await
}

async fn follow_ups_page(
    State(state): State<Arc<AppState>>,
    Extension(computer): Extension<Arc<ViewComputer>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    follow_ups(state, computer, query, Some(Format::Html)).await
}

async fn call_page(
    State(state): State<Arc<AppState>>,
    Path(call_id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let call = state
        .store
        .call(&call_id)
        .await?
        .ok_or_else(|| ApiError::unknown_call(&call_id))?;
    let rules = state.rules.load();
    let chrome = pages::Chrome {
        path: "/calls",
        range: Range::Preset(WindowChoice::Day),
        show_agents: rules.policy.show_agents,
    };
    let now = state.clock.now();
    Ok(Html(
        pages::call(&chrome, &call, now, rules.policy.callback_within).into_string(),
    ))
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
