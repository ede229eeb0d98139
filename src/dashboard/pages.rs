//! Server-rendered HTML for each view. Every string that comes from a platform (call
//! ids, departments, notes, numbers, agent ids) goes through [`escape`]. Elements the
//! browser tests read carry stable `data-testid` attributes.
//!
//! Pure functions from stats to HTML text; the handlers in `super` fetch the data.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::layout;
use super::{ViewQuery, WindowChoice};
use crate::core::engine::{CallRecord, Verdict};
use crate::core::stats::{
    BounceMatrix, CallbackOwed, DepartmentRow, FlaggedCall, GraphTraffic, Overview,
};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

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

/// The views, for the navigation bar: (path, title, test id).
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
fn page(title: &str, path: &str, window: Option<WindowChoice>, content: &str) -> String {
    let mut navigation = String::new();
    for (target, label) in VIEWS {
        let current = if target == path {
            r#" aria-current="page""#
        } else {
            ""
        };
        let query = window.map_or(String::new(), |window| {
            format!("?window={}", window.as_str())
        });
        let _ = write!(
            navigation,
            r#"<a href="{target}{query}"{current}>{label}</a>"#
        );
    }
    let windows = window.map_or(String::new(), |selected| {
        let mut links = String::from(r#"<nav class="windows" aria-label="Window">"#);
        for choice in WindowChoice::ALL {
            let current = if choice == selected {
                r#" aria-current="true""#
            } else {
                ""
            };
            let _ = write!(
                links,
                r#"<a href="{path}?window={value}"{current} data-testid="window-{value}">{label}</a>"#,
                value = choice.as_str(),
                label = choice.label(),
            );
        }
        links.push_str("</nav>");
        links
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · loopguard</title><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><header><span class="brand">loopguard</span><nav class="views">{navigation}</nav>
<span class="live" data-testid="live-status" title="Live updates">●</span></header>
<main id="content" data-view="{view}"><div class="heading"><h1>{title}</h1>{windows}</div>
{content}</main><script src="/assets/dashboard.js"></script></body></html>"#,
        title = escape(title),
        view = escape(path),
    )
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

fn verdict_badge(verdict: Verdict) -> String {
    format!(
        r#"<span class="badge {0}" data-testid="verdict">{0}</span>"#,
        verdict.as_str()
    )
}

pub fn overview(overview: &Overview, query: &ViewQuery) -> String {
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
    let mut content = String::from(r#"<section class="cards">"#);
    for (id, label, value) in cards {
        let _ = write!(
            content,
            r#"<div class="card"><div class="value" data-testid="overview-{id}">{value}</div><div class="label">{label}</div></div>"#
        );
    }
    content.push_str("</section>");
    content.push_str(&loops_chart(overview));
    page("Overview", "/", Some(query.window), &content)
}

/// A bar chart of loops per interval, as inline SVG.
fn loops_chart(overview: &Overview) -> String {
    let points = &overview.loops_series;
    let (width, height, left, bottom) = (900.0, 220.0, 40.0, 30.0);
    let max = points
        .iter()
        .map(|point| point.loops)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (width - left) / points.len().max(1) as f64;
    let mut svg = format!(
        r#"<section><h2>Loops per {interval}</h2><svg class="chart" data-testid="loops-chart" viewBox="0 0 {width} {height}" role="img" aria-label="Loops per interval">"#,
        interval = age(overview.window.interval_seconds),
    );
    let plot = height - bottom - 10.0;
    let _ = write!(
        svg,
        r#"<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" class="axis"/><text x="{tx}" y="18" class="tick">{max}</text><text x="{tx}" y="{base}" class="tick">0</text>"#,
        base = height - bottom,
        tx = left - 8.0,
    );
    for (index, point) in points.iter().enumerate() {
        let bar = plot * point.loops as f64 / max as f64;
        let x = left + slot * index as f64 + slot * 0.15;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar:.1}" data-loops="{loops}"><title>{start}: {loops} loops</title></rect>"#,
            y = height - bottom - bar,
            w = slot * 0.7,
            loops = point.loops,
            start = time(point.start),
        );
        let every = (points.len() / 6).max(1);
        if index % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{y}" class="tick">{label}</text>"#,
                y = height - 8.0,
                label = point.start.strftime("%d %H:%M"),
            );
        }
    }
    svg.push_str("</svg></section>");
    svg
}

pub fn flagged(calls: &[FlaggedCall], query: &ViewQuery) -> String {
    let mut content = String::new();
    if calls.is_empty() {
        content.push_str(r#"<p class="empty" data-testid="flagged-empty">No warned or blocked transfers in this window.</p>"#);
    }
    content.push_str(r#"<ol class="flagged">"#);
    for call in calls {
        let codes: String = call
            .codes
            .iter()
            .map(|code| format!(r#"<span class="code">{}</span>"#, escape(code)))
            .collect();
        let chain: Vec<String> = call
            .chain
            .iter()
            .map(|department| format!(r#"<span class="step">{}</span>"#, escape(department)))
            .collect();
        let _ = write!(
            content,
            r#"<li data-testid="flagged-call" data-call-id="{id}"><div><a href="/calls/{link}" data-testid="call-link">{id}</a> {verdict} {codes} <time>{at}</time>{ended}</div><div class="chain">{chain}</div></li>"#,
            id = escape(&call.call_id),
            link = path_segment(&call.call_id),
            verdict = verdict_badge(call.verdict),
            at = time(call.flagged_at),
            ended = call
                .ended
                .map(|outcome| format!(r#" <span class="ended">{outcome}</span>"#))
                .unwrap_or_default(),
            chain = chain.join(r#"<span class="arrow">→</span>"#),
        );
    }
    content.push_str("</ol>");
    page("Flagged calls", "/calls", Some(query.window), &content)
}

/// One call's chain as a timeline: every hop with time, departments, mode, verdict
/// and findings, then the end and the callback mark.
pub fn call(call: &CallRecord, now: Timestamp) -> String {
    let mut content = format!(
        r#"<p class="summary"><span data-testid="call-id">{id}</span> · {taken} transfer(s) taken · {state}</p><ol class="timeline" data-testid="timeline">"#,
        id = escape(call.call_id.as_str()),
        taken = call.transfers_taken(),
        state = match &call.ended {
            Some(end) => format!(
                "ended <b data-testid=\"call-ended\">{}</b> at {}",
                end.outcome.as_str(),
                time(end.occurred_at)
            ),
            None => "live".to_owned(),
        },
    );
    for hop in &call.hops {
        let findings: String = hop
            .findings
            .iter()
            .map(|finding| {
                format!(
                    r#"<li data-testid="finding" data-code="{code}"><span class="code">{code}</span> {message}</li>"#,
                    code = finding.code.as_str(),
                    message = escape(&finding.message)
                )
            })
            .collect();
        let _ = write!(
            content,
            r#"<li class="hop {verdict_class}" data-testid="hop" data-from="{from}" data-to="{to}" data-verdict="{verdict_class}"><time>{at}</time>
<div class="move"><span class="step">{from}</span><span class="arrow">→</span><span class="step">{to}</span>{moved}</div>
<div class="meta">{verdict} <span data-testid="mode">{mode}</span>{intent}{number}</div><ul class="findings">{findings}</ul></li>"#,
            verdict_class = hop.verdict.as_str(),
            from = escape(&hop.from),
            to = escape(&hop.to),
            at = time(hop.occurred_at),
            moved = if hop.moved {
                ""
            } else {
                r#" <span class="not-moved">(not carried out)</span>"#
            },
            verdict = verdict_badge(hop.verdict),
            mode = hop.mode.map_or("mode not reported", |mode| mode.as_str()),
            intent = hop
                .intent
                .as_deref()
                .map(|intent| format!(" · intent {}", escape(intent)))
                .unwrap_or_default(),
            number = hop
                .callback_number
                .as_deref()
                .map(|number| format!(" · callback {}", escape(number)))
                .unwrap_or_else(|| " · no callback number".to_owned()),
        );
    }
    content.push_str("</ol>");
    if call.callback_owed() {
        let ended_at = call.ended.as_ref().map_or(now, |end| end.occurred_at);
        let _ = write!(
            content,
            r#"<p class="owed" data-testid="call-callback-owed">Callback owed to {number} for {age}. {buttons}</p>"#,
            number = escape(call.callback_number().unwrap_or_default()),
            age = age(now.duration_since(ended_at).as_secs().max(0)),
            buttons = mark_buttons(call.call_id.as_str()),
        );
    }
    if let Some(mark) = &call.callback {
        let _ = write!(
            content,
            r#"<p data-testid="call-callback-mark">Callback marked <b>{status}</b> at {at}{note}</p>"#,
            status = match mark.status {
                crate::core::engine::CallbackStatus::Done => "done",
                crate::core::engine::CallbackStatus::Failed => "failed",
            },
            at = time(mark.occurred_at),
            note = mark
                .note
                .as_deref()
                .map(|note| format!(": {}", escape(note)))
                .unwrap_or_default(),
        );
    }
    page(
        &format!("Call {}", call.call_id.as_str()),
        "/calls",
        None,
        &content,
    )
}

fn mark_buttons(call_id: &str) -> String {
    format!(
        r#"<button type="button" class="mark" data-mark="done" data-call="{id}" data-testid="mark-done">Mark done</button> <button type="button" class="mark secondary" data-mark="failed" data-call="{id}" data-testid="mark-failed">Mark failed</button>"#,
        id = escape(call_id)
    )
}

/// The bounce matrix as a heatmap table: each cell shows moved transfers and bounce
/// attempts (moved + blocked); red intensity follows bounce attempts, blue transfers.
pub fn matrix(matrix: &BounceMatrix, query: &ViewQuery) -> String {
    let size = matrix.departments.len();
    let cell = |grid: &Vec<Vec<u64>>, from: usize, to: usize| grid[from][to];
    let max_transfers = (0..size)
        .flat_map(|from| (0..size).map(move |to| (from, to)))
        .map(|(from, to)| cell(&matrix.transfers, from, to))
        .max()
        .unwrap_or(0)
        .max(1);
    let max_bounces = (0..size)
        .flat_map(|from| (0..size).map(move |to| (from, to)))
        .map(|(from, to)| cell(&matrix.bounces, from, to) + cell(&matrix.blocked_bounces, from, to))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut content = String::from(
        r#"<p class="hint">Rows: from; columns: to. Each cell: transfers taken / bounces (a return B→A after A→B; blocked returns in brackets). Red marks the hot-potato pairs.</p><div class="scroll"><table class="matrix" data-testid="matrix"><thead><tr><th>from \ to</th>"#,
    );
    for department in &matrix.departments {
        let _ = write!(content, r#"<th scope="col">{}</th>"#, escape(department));
    }
    content.push_str("</tr></thead><tbody>");
    for from in 0..size {
        let _ = write!(
            content,
            r#"<tr><th scope="row">{}</th>"#,
            escape(&matrix.departments[from])
        );
        for to in 0..size {
            let transfers = cell(&matrix.transfers, from, to);
            let bounces = cell(&matrix.bounces, from, to);
            let blocked_bounces = cell(&matrix.blocked_bounces, from, to);
            let blocked = cell(&matrix.blocked, from, to);
            let style = if bounces + blocked_bounces > 0 {
                let alpha = 0.25 + 0.75 * (bounces + blocked_bounces) as f64 / max_bounces as f64;
                format!("background: rgba(200, 40, 40, {alpha:.2})")
            } else if transfers > 0 {
                let alpha = 0.1 + 0.5 * transfers as f64 / max_transfers as f64;
                format!("background: rgba(40, 100, 200, {alpha:.2})")
            } else {
                String::new()
            };
            let text = if from == to {
                String::new()
            } else if transfers + blocked == 0 {
                "·".to_owned()
            } else {
                format!("{transfers} / {bounces} [{blocked_bounces}]")
            };
            let _ = write!(
                content,
                r#"<td style="{style}" data-testid="cell-{from_id}-{to_id}" data-transfers="{transfers}" data-blocked="{blocked}" data-bounces="{bounces}" data-blocked-bounces="{blocked_bounces}" title="{from_id} → {to_id}: {transfers} taken, {blocked} blocked, {bounces} bounces, {blocked_bounces} blocked bounces">{text}</td>"#,
                from_id = escape(&matrix.departments[from]),
                to_id = escape(&matrix.departments[to]),
            );
        }
        content.push_str("</tr>");
    }
    content.push_str("</tbody></table></div>");
    page("Bounce matrix", "/matrix", Some(query.window), &content)
}

/// The routing graph: departments laid out in layers (see [`layout`]), allowed
/// transfers as grey edges whose width follows traffic, bounces in red, transfers the
/// rules do not allow dashed orange.
pub fn graph(graph: &GraphTraffic, query: &ViewQuery) -> String {
    let content = format!(
        r#"<p class="hint">Edge width: transfers taken in the window. <span class="swatch bounce"></span> had bounces · <span class="swatch unallowed"></span> seen live, not in the rules · <span class="swatch idle"></span> allowed, no traffic.</p><div class="scroll">{}</div>"#,
        graph_svg(graph)
    );
    page("Routing graph", "/graph", Some(query.window), &content)
}

pub fn graph_svg(graph: &GraphTraffic) -> String {
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
    let mut svg = format!(
        r##"<svg class="graph" data-testid="graph" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="Routing graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>
<marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker>
<marker id="arrow-orange" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#ef6c00"/></marker></defs>"##
    );
    let (half_width, half_height) = (70.0, 18.0);
    for edge in &graph.edges {
        let (Some(from), Some(to)) = (index(&edge.from), index(&edge.to)) else {
            continue;
        };
        if from == to {
            continue;
        }
        let (a, b) = (positions[from], positions[to]);
        // Leave and enter at the node boxes' borders along the line between centres.
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let clip = |dx: f64, dy: f64| {
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
            scale_x.min(scale_y).min(0.5)
        };
        let t = clip(dx, dy);
        let (x1, y1) = (a.x + dx * t, a.y + dy * t);
        let (x2, y2) = (b.x - dx * t, b.y - dy * t);
        // Curve every edge a little to one side, so A→B and B→A are both visible.
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        // Edges that skip layers arc further out, around the nodes in between.
        let span = b.layer.abs_diff(a.layer) as f64;
        let bend =
            18.0 + 28.0 * (span - 1.0).max(0.0) + if b.layer <= a.layer { 22.0 } else { 0.0 };
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
        let _ = write!(
            svg,
            r##"<path class="{class}" d="M{x1:.1},{y1:.1} Q{cx:.1},{cy:.1} {x2:.1},{y2:.1}" stroke-width="{stroke_width:.1}" marker-end="url(#{marker})" data-testid="edge-{from_id}-{to_id}" data-allowed="{allowed}" data-transfers="{transfers}" data-blocked="{blocked}" data-bounces="{bounces}"><title>{from_id} → {to_id}: {transfers} taken, {blocked} blocked, {bounces} bounces{note}</title></path>"##,
            from_id = escape(&edge.from),
            to_id = escape(&edge.to),
            allowed = edge.allowed,
            transfers = edge.transfers,
            blocked = edge.blocked,
            bounces = edge.bounces,
            note = if edge.allowed {
                ""
            } else {
                " (not in the rules)"
            },
        );
        if traffic > 0 {
            let _ = write!(
                svg,
                r#"<text class="edge-label" x="{cx:.1}" y="{cy:.1}">{traffic}</text>"#
            );
        }
    }
    for (node, position) in graph.nodes.iter().zip(&positions) {
        let class = match (node.known, node.entry) {
            (false, _) => "node unknown",
            (true, true) => "node entry",
            (true, false) => "node",
        };
        let label: String = node.department.chars().take(20).collect();
        let _ = write!(
            svg,
            r#"<g class="{class}" data-testid="node-{id}"><rect x="{x:.1}" y="{y:.1}" width="{w}" height="{h}" rx="6"/><text x="{cx:.1}" y="{cy:.1}">{label}</text><title>{id}</title></g>"#,
            id = escape(&node.department),
            x = position.x - half_width,
            y = position.y - half_height,
            w = half_width * 2.0,
            h = half_height * 2.0,
            cx = position.x,
            cy = position.y + 5.0,
            label = escape(&label),
        );
    }
    svg.push_str("</svg>");
    svg
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

pub fn departments(rows: &[DepartmentRow], query: &ViewQuery) -> String {
    let mut content = String::from(
        r#"<p class="hint">"Out" counts the transfers a department made; click a heading to sort.</p><table class="departments" data-testid="departments"><thead><tr>"#,
    );
    for (key, heading) in DEPARTMENT_COLUMNS {
        let current = if query.sort.as_deref() == Some(key) {
            r#" aria-sort="descending""#
        } else {
            ""
        };
        let _ = write!(
            content,
            r#"<th{current}><a href="/departments?window={window}&amp;sort={key}" data-testid="sort-{key}">{heading}</a></th>"#,
            window = query.window.as_str(),
        );
    }
    content.push_str("</tr></thead><tbody>");
    for row in rows {
        let _ = write!(
            content,
            r#"<tr data-testid="department-{id}"><th scope="row" title="{name}">{id}</th><td data-testid="transfers-in">{transfers_in}</td><td data-testid="transfers-out">{transfers_out}</td><td data-testid="loops-caused">{loops}</td><td>{cold}</td><td>{missing}</td><td data-testid="callbacks-owed">{owed}</td><td>{known}</td></tr>"#,
            id = escape(&row.department),
            name = escape(&row.name),
            transfers_in = row.transfers_in,
            transfers_out = row.transfers_out,
            loops = row.loops_caused,
            cold = percent(row.cold_share),
            missing = percent(row.missing_callback_share),
            owed = row.callbacks_owed,
            known = if row.known { "yes" } else { "no" },
        );
    }
    content.push_str("</tbody></table>");
    page("Departments", "/departments", Some(query.window), &content)
}

/// Callbacks owed are not limited to a window, so this page has no window selector.
pub fn callbacks(owed: &[CallbackOwed]) -> String {
    let mut content = String::new();
    if owed.is_empty() {
        content.push_str(
            r#"<p class="empty" data-testid="callbacks-empty">Nobody is owed a callback.</p>"#,
        );
    } else {
        content.push_str(r#"<table class="callbacks" data-testid="callbacks"><thead><tr><th>Call</th><th>Callback number</th><th>Dropped after</th><th>Ended</th><th>Waiting</th><th>Last attempt</th><th></th></tr></thead><tbody>"#);
        for entry in owed {
            let _ = write!(
                content,
                r#"<tr data-testid="callback-{id}" data-call-id="{id}"><td><a href="/calls/{link}">{id}</a></td><td data-testid="callback-number">{number}</td><td>{from} → {to}</td><td>{ended}</td><td data-testid="callback-age" data-seconds="{seconds}">{age}</td><td>{failed}</td><td>{buttons}</td></tr>"#,
                id = escape(&entry.call_id),
                link = path_segment(&entry.call_id),
                number = escape(&entry.callback_number),
                from = escape(&entry.last_from),
                to = escape(&entry.last_to),
                ended = time(entry.ended_at),
                seconds = entry.age_seconds,
                age = age(entry.age_seconds),
                failed = entry
                    .last_failed
                    .as_ref()
                    .map(|failed| format!(
                        "failed {}{}",
                        time(failed.at),
                        failed
                            .note
                            .as_deref()
                            .map(|note| format!(": {}", escape(note)))
                            .unwrap_or_default()
                    ))
                    .unwrap_or_default(),
                buttons = mark_buttons(&entry.call_id),
            );
        }
        content.push_str("</tbody></table>");
    }
    page("Callbacks owed", "/callbacks", None, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

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
        let svg = graph_svg(&graph);
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
