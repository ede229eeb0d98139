//! Server-rendered HTML for each view, written as maud templates: every value put
//! into a page is escaped by the template engine unless it is wrapped in
//! `PreEscaped`, which this module never does, so platform strings (call ids,
//! departments, notes, numbers) cannot inject markup. Identifiers also go through
//! [`visible`], so invisible or reordering characters show. Elements the browser
//! tests read carry stable `data-testid` attributes.
//!
//! Pure functions from stats to markup; the handlers in `super` fetch the data. The
//! call page and the follow-ups are in `pages_follow_ups.rs`.

use std::fmt::Write as _;

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, html};

use super::ViewQuery;
use super::range::{Range, WindowChoice};
use crate::core::engine::Verdict;
use crate::core::stats::{
    AgentPage, BounceMatrix, DepartmentPage, DepartmentRow, FlaggedPage, GraphTraffic, Hotspots,
    Overview,
};
use crate::render::graph_svg;
use crate::render::visible::visible;

pub use super::pages_follow_ups::{call, callbacks, follow_ups};

/// Escapes a path segment (call ids may hold `/`, `?`, `#`, spaces).
pub fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Where a page is and what its navigation shows.
#[derive(Debug, Clone, Copy)]
pub struct Chrome {
    /// The current view's path.
    pub path: &'static str,
    /// The range the view covers (kept by the navigation's links).
    pub range: Range,
    /// Whether the rules' policy shows per-agent statistics.
    pub show_agents: bool,
}

impl Chrome {
    /// `path` with this page's range as its query.
    pub fn link(&self, path: &str) -> String {
        with_query(path, &self.range.query_pairs())
    }
}

/// `path?name=value&…`, encoded.
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    // Encoding pairs of strings as a query string cannot fail.
    let encoded = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if encoded.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{encoded}")
    }
}

/// The views, for the navigation bar: (path, title).
const VIEWS: [(&str, &str); 9] = [
    ("/", "Overview"),
    ("/calls", "Flagged calls"),
    ("/matrix", "Bounce matrix"),
    ("/graph", "Routing graph"),
    ("/departments", "Departments"),
    ("/agents", "Agents"),
    ("/follow-ups", "Follow-ups"),
    ("/callbacks", "Callbacks owed"),
    ("", ""),
];

/// The page around a view's content; `ranged` views show the range selector.
pub(super) fn page(title: &str, chrome: &Chrome, ranged: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · loopguard" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                header {
                    span.brand { "loopguard" }
                    nav.views {
                        @for (target, label) in VIEWS {
                            @if !target.is_empty() && (chrome.show_agents || target != "/agents") {
                                a href=(chrome.link(target)) aria-current=[(target == chrome.path).then_some("page")] data-testid={ "nav" (target.replace('/', "-")) } { (label) }
                            }
                        }
                    }
                    span.live data-testid="live-status" title="Live updates" { "●" }
                }
                main #content data-view=(chrome.path) {
                    div.heading {
                        h1 { (title) }
                        @if ranged {
                            (range_selector(chrome))
                        }
                    }
                    (content)
                }
                script src="/assets/dashboard.js" {}
            }
        }
    }
}

/// The presets, and a form for any range (RFC 3339 times).
fn range_selector(chrome: &Chrome) -> Markup {
    let (from, to) = match chrome.range {
        Range::Between { from, to } => (
            from.to_string(),
            to.map(|to| to.to_string()).unwrap_or_default(),
        ),
        Range::Preset(_) => (String::new(), String::new()),
    };
    html! {
        nav.windows aria-label="Window" {
            @for choice in WindowChoice::ALL {
                a href=(with_query(chrome.path, &[("window", choice.as_str().to_owned())]))
                    aria-current=[(chrome.range.preset() == Some(choice)).then_some("true")]
                    data-testid={ "window-" (choice.as_str()) } { (choice.label()) }
            }
        }
        form.range method="get" action=(chrome.path) data-testid="range-form" {
            label { "from " input name="from" value=(from) placeholder="2026-11-22T08:00:00Z" size="21" data-testid="range-from"; }
            label { " to " input name="to" value=(to) placeholder="now" size="21" data-testid="range-to"; }
            " " button type="submit" { "Show" }
        }
    }
}

/// The window a page covers, in words.
pub(super) fn window_words(range: &Range) -> String {
    match range {
        Range::Preset(choice) => choice.label().to_owned(),
        Range::Between { from, to } => match to {
            Some(to) => format!("{} – {}", time(*from), time(*to)),
            None => format!("since {}", time(*from)),
        },
    }
}

pub(super) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

pub(super) fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(super) fn age(seconds: i64) -> String {
    match seconds {
        ..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

pub(super) fn verdict_badge(verdict: Verdict) -> Markup {
    html! { span class={ "badge " (verdict.as_str()) } data-testid="verdict" { (verdict.as_str()) } }
}

/// A finding message: the ids it quotes in backticks shown as code.
pub(super) fn message(text: &str) -> Markup {
    html! {
        @for (index, part) in text.split('`').enumerate() {
            @if index % 2 == 1 {
                code data-testid="message-code" { (visible(part)) }
            } @else {
                (visible(part))
            }
        }
    }
}

/// "Showing 100 of 2,345" and the links to the first and the next page.
pub(super) fn pager(
    path: &str,
    query: &ViewQuery,
    shown: usize,
    total: u64,
    next: Option<&str>,
) -> Markup {
    html! {
        p.pager data-testid="pager" data-total=(total) {
            "Showing " (shown) " of " (total) "."
            @if query.after.is_some() {
                " " a href=(query.link(path, None)) data-testid="first-page" { "First page" }
            }
            @if let Some(next) = next {
                " " a href=(query.link(path, Some(next))) data-testid="next-page" { "Next page →" }
            }
        }
    }
}

/// A link to the CSV export of a list (the JSON endpoint with `format=csv`).
pub(super) fn csv_link(endpoint: &str, query: &ViewQuery) -> Markup {
    let mut pairs = query.range.query_pairs();
    if let Some((a, b)) = &query.pair {
        pairs.push(("between", a.clone()));
        pairs.push(("and", b.clone()));
    }
    if let Some(sort) = &query.sort {
        pairs.push(("sort", sort.clone()));
    }
    pairs.push(("format", "csv".to_owned()));
    html! {
        p.export { a href=(with_query(endpoint, &pairs)) data-testid="csv-link" download { "Download CSV" } }
    }
}

pub fn overview(
    chrome: &Chrome,
    overview: &Overview,
    hotspots: &Hotspots,
    follow_ups_overdue: u64,
) -> Markup {
    let cards = [
        ("transfers", "Transfers", overview.transfers.to_string()),
        ("calls", "Calls", overview.calls.to_string()),
        (
            "calls-with-loop",
            "Calls with a loop",
            overview.calls_with_loop.to_string(),
        ),
        ("blocked", "Blocked transfers", overview.blocked.to_string()),
        ("warned", "Warned transfers", overview.warned.to_string()),
        ("cold-share", "Cold transfers", percent(overview.cold_share)),
        (
            "missing-callback-share",
            "Without callback number",
            percent(overview.missing_callback_share),
        ),
        (
            "callbacks-owed",
            "Callbacks owed",
            overview.callbacks_owed.to_string(),
        ),
        (
            "follow-ups-overdue",
            "Follow-ups overdue",
            follow_ups_overdue.to_string(),
        ),
    ];
    let content = html! {
        section.cards {
            @for (id, label, value) in &cards {
                div.card.overdue[*id == "follow-ups-overdue" && follow_ups_overdue > 0] {
                    div.value data-testid={ "overview-" (id) } { (value) }
                    div.label { (label) }
                }
            }
        }
        (who(chrome, hotspots))
        (loops_chart(overview))
    };
    page("Overview", chrome, true, content)
}

/// Who plays hot potato: the top pairs with links to their calls, and the
/// departments whose transfers caused the most loops.
fn who(chrome: &Chrome, hotspots: &Hotspots) -> Markup {
    html! {
        section.who {
            div {
                h2 { "Hot-potato pairs" }
                @if hotspots.pairs.is_empty() {
                    p.empty data-testid="hot-pairs-empty" { "No department passed a call back in this window." }
                } @else {
                    table data-testid="hot-pairs" {
                        thead { tr { th { "Pair" } th { "Bounces" } th { "Blocked bounces" } th {} } }
                        tbody {
                            @for pair in &hotspots.pairs {
                                tr data-testid={ "hot-pair-" (pair.a) "-" (pair.b) } {
                                    th scope="row" { (visible(&pair.a)) " ⇄ " (visible(&pair.b)) }
                                    td data-testid="bounces" { (pair.bounces) }
                                    td data-testid="blocked-bounces" { (pair.blocked_bounces) }
                                    td {
                                        @if !pair.merged {
                                            a href=(pair_link(chrome, &pair.a, &pair.b)) data-testid="pair-calls" { "their calls" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div {
                h2 { "Departments causing the most loops" }
                @if hotspots.departments.is_empty() {
                    p.empty data-testid="loop-departments-empty" { "No transfer had a loop finding in this window." }
                } @else {
                    table data-testid="loop-departments" {
                        thead { tr { th { "Department" } th { "Loops caused" } th { "Transfers out" } } }
                        tbody {
                            @for department in &hotspots.departments {
                                tr data-testid={ "loop-department-" (department.department) } {
                                    th scope="row" { (visible(&department.department)) }
                                    td data-testid="loops-caused" { (department.loops_caused) }
                                    td { (department.transfers_out) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The calls that bounced between `a` and `b`, in the page's range.
fn pair_link(chrome: &Chrome, a: &str, b: &str) -> String {
    let mut pairs = chrome.range.query_pairs();
    pairs.push(("between", a.to_owned()));
    pairs.push(("and", b.to_owned()));
    with_query("/calls", &pairs)
}

/// The departments table sorted by `column`, in the page's range.
fn sorted_link(chrome: &Chrome, column: &str) -> String {
    let mut pairs = chrome.range.query_pairs();
    pairs.push(("sort", column.to_owned()));
    with_query("/departments", &pairs)
}

/// A bar chart of loops per interval, as inline SVG.
fn loops_chart(overview: &Overview) -> Markup {
    let points = &overview.loops_series;
    let (width, height, left, bottom) = (900.0, 220.0, 40.0, 30.0);
    let max = points
        .iter()
        .map(|point| point.loops)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (width - left) / points.len().max(1) as f64;
    let plot = height - bottom - 10.0;
    let base = height - bottom;
    let every = (points.len() / 6).max(1);
    html! {
        section {
            h2 { "Loops per " (age(overview.window.interval_seconds)) }
            svg.chart data-testid="loops-chart" viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Loops per interval" {
                line x1=(left) y1=(base) x2=(width) y2=(base) class="axis" {}
                text x=(left - 8.0) y="18" class="tick" { (max) }
                text x=(left - 8.0) y=(base) class="tick" { "0" }
                @for (index, point) in points.iter().enumerate() {
                    @let bar = plot * point.loops as f64 / max as f64;
                    @let x = left + slot * index as f64 + slot * 0.15;
                    rect.bar x=(format!("{x:.1}")) y=(format!("{:.1}", base - bar))
                        width=(format!("{:.1}", slot * 0.7)) height=(format!("{bar:.1}"))
                        data-loops=(point.loops) {
                        title { (time(point.start)) ": " (point.loops) " loops" }
                    }
                    @if index % every == 0 {
                        text x=(format!("{x:.1}")) y=(height - 8.0) class="tick" { (point.start.strftime("%d %H:%M")) }
                    }
                }
            }
        }
    }
}

/// Flagged calls, or the calls that bounced between one pair.
pub fn flagged(chrome: &Chrome, flagged: &FlaggedPage, query: &ViewQuery) -> Markup {
    let title = match &query.pair {
        Some((a, b)) => format!("Calls bouncing between {} and {}", visible(a), visible(b)),
        None => "Flagged calls".to_owned(),
    };
    let content = html! {
        @if flagged.items.is_empty() {
            p.empty data-testid="flagged-empty" {
                @if query.pair.is_some() { "No call bounced between these departments in this window." }
                @else { "No warned or blocked transfers in this window." }
            }
        }
        ol.flagged {
            @for call in &flagged.items {
                li data-testid="flagged-call" data-call-id=(call.call_id) {
                    div {
                        a href={ "/calls/" (path_segment(&call.call_id)) } data-testid="call-link" { (visible(&call.call_id)) }
                        " " (verdict_badge(call.verdict)) " "
                        @for code in &call.codes {
                            span.code { (code) }
                        }
                        " " time { (time(call.flagged_at)) }
                        @if let Some(outcome) = call.ended {
                            " " span.ended { (outcome) }
                        }
                    }
                    div.chain {
                        @for (position, department) in call.chain.iter().enumerate() {
                            @if position > 0 {
                                span.arrow { "→" }
                            }
                            span.step { (visible(department)) }
                        }
                    }
                }
            }
        }
        (pager("/calls", query, flagged.items.len(), flagged.total, flagged.next.as_deref()))
        (csv_link("/v1/stats/flagged", query))
    };
    page(&title, chrome, true, content)
}

/// A note under views that merged unknown departments into one row.
fn merged_note(other: Option<&crate::core::stats::OtherUnknown>) -> Markup {
    html! {
        @if let Some(other) = other {
            p.hint data-testid="other-unknown" data-departments=(other.departments) {
                "The last row, “" (other.label()) "”, adds up the departments the rules do not know beyond the busiest "
                (crate::core::stats::MAX_UNKNOWN_DEPARTMENTS_SHOWN) "."
                @if other.untracked {
                    " More unknown departments were seen than the statistics keep apart; their traffic is counted there too."
                }
            }
        }
    }
}

/// Above this many departments the graph page suggests focusing on one.
const LARGE_GRAPH: usize = 40;

/// The graph narrowed to `focus` and its neighbours, with the edges that touch
/// it; nothing when the graph has no such department.
pub fn focused(graph: &GraphTraffic, focus: &str) -> GraphTraffic {
    let touches = |edge: &&crate::core::stats::GraphEdge| edge.from == focus || edge.to == focus;
    let edges: Vec<_> = graph.edges.iter().filter(touches).cloned().collect();
    let known = graph.nodes.iter().any(|node| node.department == focus);
    let nodes = graph
        .nodes
        .iter()
        .filter(|node| {
            known
                && (node.department == focus
                    || edges
                        .iter()
                        .any(|edge| edge.from == node.department || edge.to == node.department))
        })
        .cloned()
        .collect();
    GraphTraffic {
        window: graph.window,
        nodes,
        edges: if known { edges } else { Vec::new() },
        other_unknown: None,
    }
}

/// The routing graph: departments laid out in layers (`render::graph_layout`),
/// allowed transfers as grey edges whose width follows traffic, bounces in red,
/// transfers the rules do not allow dashed orange. Each box focuses the graph on its
/// department; the drawing pans and zooms.
pub fn graph(chrome: &Chrome, graph: &GraphTraffic, query: &ViewQuery) -> Markup {
    let link = |department: &str| {
        let mut pairs = chrome.range.query_pairs();
        pairs.push(("focus", department.to_owned()));
        with_query("/graph", &pairs)
    };
    let content = html! {
        p.hint {
            "Edge width: transfers taken in the window. "
            span.swatch.bounce {} " had bounces · "
            span.swatch.unallowed {} " seen live, not in the rules · "
            span.swatch.idle {} " allowed, no traffic. "
            "Click a department to see it with its neighbours; scroll to zoom, drag to pan."
        }
        @if let Some(focus) = &query.focus {
            p.focus data-testid="graph-focus" data-focus=(focus) {
                @if graph.nodes.is_empty() {
                    "No department “" (visible(focus)) "” in this window's graph. "
                } @else {
                    "Showing " b { (visible(focus)) } " and its " (graph.nodes.len() - 1) " neighbours. "
                }
                a href=(chrome.link("/graph")) data-testid="graph-all" { "Show every department" }
            }
        } @else if graph.nodes.len() > LARGE_GRAPH {
            p.hint data-testid="graph-large" { (graph.nodes.len()) " departments: click one to focus on it and its neighbours." }
        }
        (merged_note(graph.other_unknown.as_ref()))
        div.graph-controls {
            button type="button" data-zoom="in" title="Zoom in" { "+" }
            button type="button" data-zoom="out" title="Zoom out" { "−" }
            button type="button" data-zoom="reset" title="Fit" { "Fit" }
        }
        div.scroll.pan-zoom data-testid="graph-viewport" {
            (graph_svg::traffic_svg(graph, &graph_svg::SvgOptions {
                node_link: Some(&link),
                focus: query.focus.as_deref(),
                standalone: false,
            }))
        }
    };
    page("Routing graph", chrome, true, content)
}
pub fn matrix(chrome: &Chrome, matrix: &BounceMatrix) -> Markup {
    let size = matrix.departments.len();
    let pairs = || (0..size).flat_map(move |from| (0..size).map(move |to| (from, to)));
    let max_transfers = pairs()
        .map(|(from, to)| matrix.transfers[from][to])
        .max()
        .unwrap_or(0)
        .max(1);
    let max_bounces = pairs()
        .map(|(from, to)| matrix.bounces[from][to] + matrix.blocked_bounces[from][to])
        .max()
        .unwrap_or(0)
        .max(1);
    let merged_row = matrix.other_unknown.as_ref().map(|_| size - 1);
    let test_id = |row: usize| -> String {
        if Some(row) == merged_row {
            "other-unknown".to_owned()
        } else {
            matrix.departments[row].clone()
        }
    };
    let content = html! {
        p.hint { "Rows: from; columns: to. Each cell: transfers taken / bounces (a return B→A after A→B; blocked returns in brackets). Red marks the hot-potato pairs." }
        (merged_note(matrix.other_unknown.as_ref()))
        div.scroll {
            table.matrix data-testid="matrix" {
                thead {
                    tr {
                        th { "from \\ to" }
                        @for department in &matrix.departments {
                            th scope="col" { (visible(department)) }
                        }
                    }
                }
                tbody {
                    @for from in 0..size {
                        tr {
                            th scope="row" { (visible(&matrix.departments[from])) }
                            @for to in 0..size {
                                @let transfers = matrix.transfers[from][to];
                                @let bounces = matrix.bounces[from][to];
                                @let blocked_bounces = matrix.blocked_bounces[from][to];
                                @let blocked = matrix.blocked[from][to];
                                @let style = if bounces + blocked_bounces > 0 {
                                    let alpha = 0.25 + 0.75 * (bounces + blocked_bounces) as f64 / max_bounces as f64;
                                    format!("background: rgba(200, 40, 40, {alpha:.2})")
                                } else if transfers > 0 {
                                    let alpha = 0.1 + 0.5 * transfers as f64 / max_transfers as f64;
                                    format!("background: rgba(40, 100, 200, {alpha:.2})")
                                } else {
                                    String::new()
                                };
                                @let text = if from == to && Some(from) != merged_row {
                                    String::new()
                                } else if transfers + blocked == 0 {
                                    "·".to_owned()
                                } else {
                                    format!("{transfers} / {bounces} [{blocked_bounces}]")
                                };
                                td style=(style) data-testid={ "cell-" (test_id(from)) "-" (test_id(to)) }
                                    data-transfers=(transfers) data-blocked=(blocked) data-bounces=(bounces) data-blocked-bounces=(blocked_bounces)
                                    title={ (visible(&matrix.departments[from])) " → " (visible(&matrix.departments[to])) ": " (transfers) " taken, " (blocked) " blocked, " (bounces) " bounces, " (blocked_bounces) " blocked bounces" } {
                                    (text)
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Bounce matrix", chrome, true, content)
}

/// Columns of the departments table: (sort key, heading).
const DEPARTMENT_COLUMNS: [(&str, &str); 11] = [
    ("department", "Department"),
    ("transfers_in", "Transfers in"),
    ("transfers_out", "Transfers out"),
    ("loops_caused", "Loops caused"),
    ("cold_share", "Cold share"),
    ("missing_callback_share", "Missing callback share"),
    ("callbacks_owed", "Callbacks owed"),
    ("follow_ups_owed", "Follow-ups owed"),
    ("follow_ups_overdue", "Overdue"),
    ("kept_on_time", "Kept on time"),
    ("known", "In the rules"),
];

/// Sorts rows by a column: names ascending, numbers descending (ties by name).
pub fn sort_departments(rows: &mut [DepartmentRow], column: &str) -> Result<(), String> {
    let key = |row: &DepartmentRow| -> f64 {
        match column {
            "transfers_in" => row.transfers_in as f64,
            "transfers_out" => row.transfers_out as f64,
            "loops_caused" => row.loops_caused as f64,
            "cold_share" => row.cold_share,
            "missing_callback_share" => row.missing_callback_share,
            "callbacks_owed" => row.callbacks_owed as f64,
            "follow_ups_owed" => row.follow_ups_owed as f64,
            "follow_ups_overdue" => row.follow_ups_overdue as f64,
            "kept_on_time" => row.kept_on_time as f64,
            _ => f64::from(u8::from(row.known)),
        }
    };
    match column {
        "department" => rows.sort_by(|a, b| a.department.cmp(&b.department)),
        _ if DEPARTMENT_COLUMNS.iter().any(|(name, _)| *name == column) => rows.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then_with(|| a.department.cmp(&b.department))
        }),
        _ => {
            let names: Vec<&str> = DEPARTMENT_COLUMNS.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "sort `{column}` is not one of `{}`",
                names.join("`, `")
            ));
        }
    }
    Ok(())
}

pub fn departments(chrome: &Chrome, table: &DepartmentPage, query: &ViewQuery) -> Markup {
    let content = html! {
        p.hint { "\"Out\" counts the transfers a department made; follow-ups owed and overdue are as of now, kept on time counts those closed in the window. Click a heading to sort." }
        (merged_note(table.other_unknown.as_ref()))
        table.departments data-testid="departments" {
            thead {
                tr {
                    @for (key, heading) in DEPARTMENT_COLUMNS {
                        th aria-sort=[(query.sort.as_deref() == Some(key)).then_some("descending")] {
                            a href=(sorted_link(chrome, key)) data-testid={ "sort-" (key) } { (heading) }
                        }
                    }
                }
            }
            tbody {
                @for row in &table.items {
                    @let test_id = if row.merged {
                        "other-unknown".to_owned()
                    } else {
                        row.department.clone()
                    };
                    tr data-testid={ "department-" (test_id) } {
                        th scope="row" title=(visible(&row.name)) { (visible(&row.department)) }
                        td data-testid="transfers-in" { (row.transfers_in) }
                        td data-testid="transfers-out" { (row.transfers_out) }
                        td data-testid="loops-caused" { (row.loops_caused) }
                        td { (percent(row.cold_share)) }
                        td { (percent(row.missing_callback_share)) }
                        td data-testid="callbacks-owed" { (row.callbacks_owed) }
                        td data-testid="follow-ups-owed" { (row.follow_ups_owed) }
                        td.overdue[row.follow_ups_overdue > 0] data-testid="follow-ups-overdue" { (row.follow_ups_overdue) }
                        td data-testid="kept-on-time" title={ (row.kept_on_time) " of " (row.follow_ups_closed) " closed in the window" } {
                            (row.kept_on_time) " / " (row.follow_ups_closed)
                        }
                        td { (if row.known { "yes" } else { "no" }) }
                    }
                }
            }
        }
        (pager("/departments", query, table.items.len(), table.total, table.next.as_deref()))
        (csv_link("/v1/stats/departments", query))
    };
    page("Departments", chrome, true, content)
}

/// Per-agent coaching numbers: the transfers each agent made, by department.
pub fn agents(chrome: &Chrome, table: &AgentPage, query: &ViewQuery) -> Markup {
    let content = html! {
        p.hint {
            "Transfers agents made in " (window_words(&chrome.range)) ", by the department they transferred from (transfers that name an agent only). "
            "Coaching data: share it with care."
        }
        @if table.items.is_empty() {
            p.empty data-testid="agents-empty" { "No transfer named an agent in this window." }
        } @else {
            table.agents data-testid="agents" {
                thead {
                    tr { th { "Agent" } th { "Department" } th { "Transfers out" } th { "Loops caused" } th { "Cold" } th { "Without callback number" } }
                }
                tbody {
                    @for row in &table.items {
                        tr data-testid={ "agent-" (row.agent_id) } data-department=(row.department) {
                            th scope="row" { (visible(&row.agent_id)) }
                            td { (visible(&row.department)) }
                            td data-testid="transfers-out" { (row.transfers_out) }
                            td data-testid="loops-caused" { (row.loops_caused) }
                            td data-testid="cold-out" { (row.cold_out) }
                            td data-testid="missing-callback-out" { (row.missing_callback_out) }
                        }
                    }
                }
            }
        }
        (pager("/agents", query, table.items.len(), table.total, table.next.as_deref()))
        (csv_link("/v1/stats/agents", query))
    };
    page("Agents", chrome, true, content)
}

/// The agents page when the rules' policy hides agents.
pub fn agents_off(chrome: &Chrome) -> Markup {
    let content = html! {
        p.empty data-testid="agents-off" {
            "Per-agent statistics are turned off by the rules' policy (" code { "show_agents = false" } ")."
        }
    };
    page("Agents", chrome, false, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("call 1/a?b#c"), "call%201%2Fa%3Fb%23c");
        assert_eq!(path_segment("call-1_x.y~z"), "call-1_x.y~z");
    }

    #[test]
    fn ages_read_as_seconds_minutes_hours_days() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(3_700), "1h 1m");
        assert_eq!(age(90_000), "1d 1h");
    }

    #[test]
    fn backticked_ids_in_messages_become_code_and_stay_escaped() {
        let shown = message("call `a<b>` went back to `billing`").into_string();
        assert_eq!(
            shown,
            "call <code data-testid=\"message-code\">a&lt;b&gt;</code> went back to <code data-testid=\"message-code\">billing</code>"
        );
        assert_eq!(message("no ids").into_string(), "no ids");
    }
}
