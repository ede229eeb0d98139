//! Server-rendered HTML for each view, written as maud templates: every value put
//! into a page is escaped by the template engine unless it is wrapped in
//! `PreEscaped`, which this module never does, so platform strings (call ids,
//! departments, notes, numbers) cannot inject markup. Identifiers also go through
//! [`visible`], so invisible or reordering characters show. Elements the browser
//! tests read carry stable `data-testid` attributes.
//!
//! Pure functions from stats to markup; the handlers in `super` fetch the data.

use std::fmt::Write as _;

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, html};

use super::layout;
use super::visible::visible;
use super::{ViewQuery, WindowChoice};
use crate::core::engine::{CallRecord, CallbackStatus, Verdict};
use crate::core::stats::{
    BounceMatrix, CallbackPage, DepartmentPage, DepartmentRow, FlaggedPage, GraphTraffic, Overview,
};

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

/// The views, for the navigation bar: (path, title).
const VIEWS: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/calls", "Flagged calls"),
    ("/matrix", "Bounce matrix"),
    ("/graph", "Routing graph"),
    ("/departments", "Departments"),
    ("/callbacks", "Callbacks owed"),
];

/// The page around a view's content. `path` is the current view (for the navigation
/// and the window links); `window` is `None` on views without a window.
fn page(title: &str, path: &str, window: Option<WindowChoice>, content: Markup) -> Markup {
    let query = window.map_or(String::new(), |window| {
        format!("?window={}", window.as_str())
    });
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
                            a href={ (target) (query) } aria-current=[(target == path).then_some("page")] { (label) }
                        }
                    }
                    span.live data-testid="live-status" title="Live updates" { "●" }
                }
                main #content data-view=(path) {
                    div.heading {
                        h1 { (title) }
                        @if let Some(selected) = window {
                            nav.windows aria-label="Window" {
                                @for choice in WindowChoice::ALL {
                                    a href={ (path) "?window=" (choice.as_str()) }
                                        aria-current=[(choice == selected).then_some("true")]
                                        data-testid={ "window-" (choice.as_str()) } { (choice.label()) }
                                }
                            }
                        }
                    }
                    (content)
                }
                script src="/assets/dashboard.js" {}
            }
        }
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn age(seconds: i64) -> String {
    match seconds {
        ..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

fn verdict_badge(verdict: Verdict) -> Markup {
    html! { span class={ "badge " (verdict.as_str()) } data-testid="verdict" { (verdict.as_str()) } }
}

/// "Showing 1–100 of 2,345" and the links to the first and the next page.
fn pager(path: &str, query: &ViewQuery, shown: usize, total: u64, next: Option<&str>) -> Markup {
    let link = |after: Option<&str>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if path != "/callbacks" {
            pairs.push(("window", query.window.as_str().to_owned()));
        }
        if let Some(sort) = &query.sort {
            pairs.push(("sort", sort.clone()));
        }
        if let Some(limit) = query.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(after) = after {
            pairs.push(("after", after.to_owned()));
        }
        // Encoding pairs of strings as a query string cannot fail.
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{path}?{encoded}")
    };
    html! {
        p.pager data-testid="pager" data-total=(total) {
            "Showing " (shown) " of " (total) "."
            @if query.after.is_some() {
                " " a href=(link(None)) data-testid="first-page" { "First page" }
            }
            @if let Some(next) = next {
                " " a href=(link(Some(next))) data-testid="next-page" { "Next page →" }
            }
        }
    }
}

pub fn overview(overview: &Overview, query: &ViewQuery) -> Markup {
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
    ];
    let content = html! {
        section.cards {
            @for (id, label, value) in &cards {
                div.card {
                    div.value data-testid={ "overview-" (id) } { (value) }
                    div.label { (label) }
                }
            }
        }
        (loops_chart(overview))
    };
    page("Overview", "/", Some(query.window), content)
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

pub fn flagged(flagged: &FlaggedPage, query: &ViewQuery) -> Markup {
    let content = html! {
        @if flagged.items.is_empty() {
            p.empty data-testid="flagged-empty" { "No warned or blocked transfers in this window." }
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
    };
    page("Flagged calls", "/calls", Some(query.window), content)
}

/// One call's chain as a timeline: every hop with time, departments, mode, verdict
/// and findings, then the end and the callback mark.
pub fn call(call: &CallRecord, now: Timestamp) -> Markup {
    let call_id = call.call_id.as_str();
    let content = html! {
        p.summary {
            span data-testid="call-id" { (visible(call_id)) }
            " · " (call.transfers_taken()) " transfer(s) taken · "
            @match &call.ended {
                Some(end) => { "ended " b data-testid="call-ended" { (end.outcome.as_str()) } " at " (time(end.occurred_at)) }
                None => { "live" }
            }
        }
        ol.timeline data-testid="timeline" {
            @for hop in &call.hops {
                li class={ "hop " (hop.verdict.as_str()) } data-testid="hop" data-from=(hop.from) data-to=(hop.to) data-verdict=(hop.verdict.as_str()) {
                    time { (time(hop.occurred_at)) }
                    div.move {
                        span.step { (visible(&hop.from)) }
                        span.arrow { "→" }
                        span.step { (visible(&hop.to)) }
                        @if !hop.moved {
                            " " span.not-moved { "(not carried out)" }
                        }
                    }
                    div.meta {
                        (verdict_badge(hop.verdict)) " "
                        span data-testid="mode" { (hop.mode.map_or("mode not reported", |mode| mode.as_str())) }
                        @if let Some(intent) = &hop.intent {
                            " · intent " (visible(intent))
                        }
                        @match &hop.callback_number {
                            Some(number) => { " · callback " (visible(number)) }
                            None => { " · no callback number" }
                        }
                    }
                    ul.findings {
                        @for finding in &hop.findings {
                            li data-testid="finding" data-code=(finding.code.as_str()) {
                                span.code { (finding.code.as_str()) } " " (visible(&finding.message))
                            }
                        }
                    }
                }
            }
        }
        @if call.callback_owed() {
            @let ended_at = call.ended.as_ref().map_or(now, |end| end.occurred_at);
            p.owed data-testid="call-callback-owed" {
                "Callback owed to " (visible(call.callback_number().unwrap_or_default()))
                " for " (age(now.duration_since(ended_at).as_secs().max(0))) ". "
                (mark_buttons(call_id))
            }
        }
        @if let Some(mark) = &call.callback {
            p data-testid="call-callback-mark" {
                "Callback marked "
                b { (match mark.status { CallbackStatus::Done => "done", CallbackStatus::Failed => "failed" }) }
                " at " (time(mark.occurred_at))
                @if let Some(note) = &mark.note {
                    ": " (visible(note))
                }
            }
        }
    };
    page(
        &format!("Call {}", visible(call_id)),
        "/calls",
        None,
        content,
    )
}

fn mark_buttons(call_id: &str) -> Markup {
    html! {
        button.mark type="button" data-mark="done" data-call=(call_id) data-testid="mark-done" { "Mark done" }
        " "
        button.mark.secondary type="button" data-mark="failed" data-call=(call_id) data-testid="mark-failed" { "Mark failed" }
    }
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

/// The bounce matrix as a heatmap table: each cell shows moved transfers and bounce
/// attempts (moved + blocked); red intensity follows bounce attempts, blue transfers.
pub fn matrix(matrix: &BounceMatrix, query: &ViewQuery) -> Markup {
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
    page("Bounce matrix", "/matrix", Some(query.window), content)
}

/// The routing graph: departments laid out in layers (see [`layout`]), allowed
/// transfers as grey edges whose width follows traffic, bounces in red, transfers the
/// rules do not allow dashed orange.
pub fn graph(graph: &GraphTraffic, query: &ViewQuery) -> Markup {
    let content = html! {
        p.hint {
            "Edge width: transfers taken in the window. "
            span.swatch.bounce {} " had bounces · "
            span.swatch.unallowed {} " seen live, not in the rules · "
            span.swatch.idle {} " allowed, no traffic."
        }
        (merged_note(graph.other_unknown.as_ref()))
        div.scroll { (graph_svg(graph)) }
    };
    page("Routing graph", "/graph", Some(query.window), content)
}

pub fn graph_svg(graph: &GraphTraffic) -> Markup {
    let index = |name: &str| graph.nodes.iter().position(|node| node.department == name);
    let edges: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .filter_map(|edge| Some((index(&edge.from)?, index(&edge.to)?)))
        .collect();
    let entries: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.entry)
        .map(|(position, _)| position)
        .collect();
    let (positions, width, height) = layout::layered(graph.nodes.len(), &entries, &edges);
    let max = graph
        .edges
        .iter()
        .map(|edge| edge.transfers + edge.blocked)
        .max()
        .unwrap_or(0)
        .max(1);
    let (half_width, half_height) = (70.0, 18.0);
    let merged_node = graph.other_unknown.as_ref().map(|_| graph.nodes.len() - 1);
    let node_id = |position: usize| -> String {
        if Some(position) == merged_node {
            "other-unknown".to_owned()
        } else {
            graph.nodes[position].department.clone()
        }
    };
    let arrow = |id: &str, fill: &str| {
        html! {
            marker id=(id) viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse" {
                path d="M0,0 L10,5 L0,10 z" fill=(fill) {}
            }
        }
    };
    html! {
        svg.graph data-testid="graph" viewBox={ "0 0 " (format!("{width:.0}")) " " (format!("{height:.0}")) }
            width=(format!("{width:.0}")) height=(format!("{height:.0}")) role="img" aria-label="Routing graph" {
            defs {
                (arrow("arrow", "#555"))
                (arrow("arrow-red", "#c62828"))
                (arrow("arrow-orange", "#ef6c00"))
            }
            @for edge in &graph.edges {
                @if let (Some(from), Some(to)) = (index(&edge.from), index(&edge.to)) {
                    @if from != to {
                        (graph_edge(edge, positions[from], positions[to], (half_width, half_height), max, &node_id(from), &node_id(to)))
                    }
                }
            }
            @for (position, (node, point)) in graph.nodes.iter().zip(&positions).enumerate() {
                @let class = match (node.known, node.entry) {
                    (false, _) => "node unknown",
                    (true, true) => "node entry",
                    (true, false) => "node",
                };
                @let shown = visible(&node.department);
                @let label: String = shown.chars().take(20).collect();
                g class=(class) data-testid={ "node-" (node_id(position)) } {
                    rect x=(format!("{:.1}", point.x - half_width)) y=(format!("{:.1}", point.y - half_height))
                        width=(half_width * 2.0) height=(half_height * 2.0) rx="6" {}
                    text x=(format!("{:.1}", point.x)) y=(format!("{:.1}", point.y + 5.0)) { (label) }
                    title { (shown) }
                }
            }
        }
    }
}

fn graph_edge(
    edge: &crate::core::stats::GraphEdge,
    a: layout::Position,
    b: layout::Position,
    (half_width, half_height): (f64, f64),
    max: u64,
    from_id: &str,
    to_id: &str,
) -> Markup {
    // Leave and enter at the node boxes' borders along the line between centres.
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let scale_x = if dx.abs() > f64::EPSILON {
        half_width / dx.abs()
    } else {
        f64::INFINITY
    };
    let scale_y = if dy.abs() > f64::EPSILON {
        half_height / dy.abs()
    } else {
        f64::INFINITY
    };
    let t = scale_x.min(scale_y).min(0.5);
    let (x1, y1) = (a.x + dx * t, a.y + dy * t);
    let (x2, y2) = (b.x - dx * t, b.y - dy * t);
    // Curve every edge a little to one side, so A→B and B→A are both visible.
    let length = (dx * dx + dy * dy).sqrt().max(1.0);
    // Edges that skip layers arc further out, around the nodes in between.
    let span = b.layer.abs_diff(a.layer) as f64;
    let bend = 18.0 + 28.0 * (span - 1.0).max(0.0) + if b.layer <= a.layer { 22.0 } else { 0.0 };
    let (cx, cy) = (
        (x1 + x2) / 2.0 - dy / length * bend,
        (y1 + y2) / 2.0 + dx / length * bend,
    );
    let traffic = edge.transfers + edge.blocked;
    let stroke_width = if traffic == 0 {
        1.0
    } else {
        1.5 + 6.5 * traffic as f64 / max as f64
    };
    let (class, marker) = if !edge.allowed {
        ("edge unallowed", "arrow-orange")
    } else if edge.bounces > 0 {
        ("edge bounce", "arrow-red")
    } else if traffic > 0 {
        ("edge busy", "arrow")
    } else {
        ("edge idle", "arrow")
    };
    html! {
        path class=(class) d=(format!("M{x1:.1},{y1:.1} Q{cx:.1},{cy:.1} {x2:.1},{y2:.1}"))
            stroke-width=(format!("{stroke_width:.1}")) marker-end={ "url(#" (marker) ")" }
            data-testid={ "edge-" (from_id) "-" (to_id) } data-allowed=(edge.allowed)
            data-transfers=(edge.transfers) data-blocked=(edge.blocked) data-bounces=(edge.bounces) {
            title {
                (visible(&edge.from)) " → " (visible(&edge.to)) ": " (edge.transfers) " taken, " (edge.blocked) " blocked, " (edge.bounces) " bounces"
                @if !edge.allowed { " (not in the rules)" }
            }
        }
        @if traffic > 0 {
            text.edge-label x=(format!("{cx:.1}")) y=(format!("{cy:.1}")) { (traffic) }
        }
    }
}

/// Columns of the departments table: (sort key, heading).
const DEPARTMENT_COLUMNS: [(&str, &str); 8] = [
    ("department", "Department"),
    ("transfers_in", "Transfers in"),
    ("transfers_out", "Transfers out"),
    ("loops_caused", "Loops caused"),
    ("cold_share", "Cold share"),
    ("missing_callback_share", "Missing callback share"),
    ("callbacks_owed", "Callbacks owed"),
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

pub fn departments(table: &DepartmentPage, query: &ViewQuery) -> Markup {
    let content = html! {
        p.hint { "\"Out\" counts the transfers a department made; click a heading to sort." }
        (merged_note(table.other_unknown.as_ref()))
        table.departments data-testid="departments" {
            thead {
                tr {
                    @for (key, heading) in DEPARTMENT_COLUMNS {
                        th aria-sort=[(query.sort.as_deref() == Some(key)).then_some("descending")] {
                            a href={ "/departments?window=" (query.window.as_str()) "&sort=" (key) } data-testid={ "sort-" (key) } { (heading) }
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
                        td { (if row.known { "yes" } else { "no" }) }
                    }
                }
            }
        }
        (pager("/departments", query, table.items.len(), table.total, table.next.as_deref()))
    };
    page("Departments", "/departments", Some(query.window), content)
}

/// Callbacks owed are not limited to a window, so this page has no window selector.
pub fn callbacks(owed: &CallbackPage, query: &ViewQuery) -> Markup {
    let content = html! {
        @if owed.items.is_empty() {
            p.empty data-testid="callbacks-empty" { "Nobody is owed a callback." }
        } @else {
            table.callbacks data-testid="callbacks" {
                thead {
                    tr {
                        th { "Call" } th { "Callback number" } th { "Dropped after" } th { "Ended" }
                        th { "Waiting" } th { "Last attempt" } th {}
                    }
                }
                tbody {
                    @for entry in &owed.items {
                        tr data-testid={ "callback-" (entry.call_id) } data-call-id=(entry.call_id) {
                            td { a href={ "/calls/" (path_segment(&entry.call_id)) } { (visible(&entry.call_id)) } }
                            td data-testid="callback-number" { (visible(&entry.callback_number)) }
                            td { (visible(&entry.last_from)) " → " (visible(&entry.last_to)) }
                            td { (time(entry.ended_at)) }
                            td data-testid="callback-age" data-seconds=(entry.age_seconds) { (age(entry.age_seconds)) }
                            td {
                                @if let Some(failed) = &entry.last_failed {
                                    "failed " (time(failed.at))
                                    @if let Some(note) = &failed.note {
                                        ": " (visible(note))
                                    }
                                }
                            }
                            td { (mark_buttons(&entry.call_id)) }
                        }
                    }
                }
            }
        }
        (pager("/callbacks", query, owed.items.len(), owed.total, owed.next.as_deref()))
    };
    page("Callbacks owed", "/callbacks", None, content)
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
    fn the_graph_draws_every_node_and_marks_edges_by_traffic_bounces_and_rules() {
        use crate::core::stats::{GraphEdge, GraphNode, Window};
        let node = |name: &str, entry: bool, known: bool| GraphNode {
            department: name.to_owned(),
            entry,
            known,
        };
        let edge = |from: &str, to: &str, allowed: bool, transfers: u64, bounces: u64| GraphEdge {
            from: from.to_owned(),
            to: to.to_owned(),
            allowed,
            mode: allowed.then_some("warm"),
            transfers,
            blocked: 0,
            bounces,
        };
        let graph = GraphTraffic {
            window: Window {
                from: Timestamp::UNIX_EPOCH,
                to: Timestamp::UNIX_EPOCH,
                interval_seconds: 60,
            },
            nodes: vec![
                node("front", true, true),
                node("back", false, true),
                node("<x>", false, false),
            ],
            edges: vec![
                edge("front", "back", true, 3, 0),
                edge("back", "front", true, 1, 1),
                edge("back", "<x>", false, 2, 0),
                edge("front", "<x>", true, 0, 0),
            ],
            other_unknown: None,
        };
        let svg = graph_svg(&graph).into_string();
        assert_eq!(svg.matches("<g class=\"node").count(), 3);
        assert!(
            svg.contains(r#"class="node entry" data-testid="node-front""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="node unknown" data-testid="node-&lt;x&gt;""#),
            "{svg}"
        );
        assert!(svg.contains(r#"class="edge busy""#) && svg.contains(r#"class="edge bounce""#));
        assert!(svg.contains(r#"class="edge unallowed""#) && svg.contains(r#"class="edge idle""#));
        assert!(!svg.contains("<x>"), "every name is escaped");
    }

    #[test]
    fn ages_read_as_seconds_minutes_hours_days() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(3_700), "1h 1m");
        assert_eq!(age(90_000), "1d 1h");
    }
}
