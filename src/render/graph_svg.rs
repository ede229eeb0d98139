//! The routing graph as SVG: departments as boxes laid out by [`graph_layout`],
//! transfers as routed edges whose width follows traffic (bounces red, transfers the
//! rules lack dashed orange, idle ones grey), traffic labels beside the edges.
//!
//! Pure, and outside the dashboard so the CLI can draw the rules too
//! ([`rules_svg`], for `loopguard graph --format svg`). A standalone SVG carries
//! its own styles; the dashboard's stylesheet has the same rules. Every platform string is
//! escaped by maud and shown with [`visible`].

use maud::{Markup, html};

use super::graph::GraphScope;
use super::graph_layout::{self, Graph, Layout};
use super::visible::visible;
use crate::core::rules::Rules;
use crate::core::stats::{GraphEdge, GraphNode, GraphTraffic, Window};

/// Characters of a department shown in its box; the full name is in its tooltip.
const LABEL_CHARACTERS: usize = 19;
/// Approximate width of one character of an edge label, and the label's height.
const LABEL_CHARACTER_WIDTH: f64 = 7.0;
const LABEL_HEIGHT: f64 = 13.0;

/// The styles the drawing needs, inside the SVG (no quotes or angle brackets, so
/// nothing in it is escaped).
const STYLE: &str = "
.lg-graph { font-family: system-ui, sans-serif; }
.lg-graph .node rect { fill: #e7eefb; stroke: #1f5fbf; }
.lg-graph .node.entry rect { fill: #d6f0d8; stroke: #2e7d32; stroke-width: 2; }
.lg-graph .node.unknown rect { fill: #fff3e0; stroke: #ef6c00; stroke-dasharray: 4 3; }
.lg-graph .node.focus rect { stroke-width: 3; }
.lg-graph .node text { font-size: 13px; text-anchor: middle; dominant-baseline: central; fill: #1d2733; }
.lg-graph .edge { fill: none; }
.lg-graph .edge.idle { stroke: #c4cad3; }
.lg-graph .edge.busy { stroke: #555; }
.lg-graph .edge.bounce { stroke: #c62828; }
.lg-graph .edge.unallowed { stroke: #ef6c00; stroke-dasharray: 6 4; }
.lg-graph .edge-label { font-size: 11px; text-anchor: middle; dominant-baseline: central; fill: #1d2733; }
.lg-graph .edge-label-back { fill: #fff; opacity: 0.85; }
";

/// What a node links to (the dashboard focuses the graph on it), if anything.
pub type NodeLink<'a> = &'a dyn Fn(&str) -> String;

/// How to draw.
#[derive(Default, Clone, Copy)]
pub struct SvgOptions<'a> {
    /// Makes each box a link.
    pub node_link: Option<NodeLink<'a>>,
    /// The department the graph was narrowed to, drawn heavier.
    pub focus: Option<&'a str>,
    /// Carry the styles inside the SVG (a file on its own). A page whose
    /// Content-Security-Policy refuses inline styles has them in its stylesheet.
    pub standalone: bool,
}

/// The graph of the rules alone, without traffic, as a standalone SVG document:
/// every department and transfer, or with an intent only the transfers that allow
/// it, the departments they connect and the intent's owners (the same selection as
/// the dot and Mermaid renderings).
pub fn rules_svg(rules: &Rules, scope: GraphScope<'_>) -> String {
    let transfers: Vec<&crate::core::rules::Transfer> = rules
        .transfers
        .iter()
        .filter(|transfer| match scope {
            GraphScope::All => true,
            GraphScope::Intent(intent) => transfer.allows(intent),
        })
        .collect();
    let mut included = vec![matches!(scope, GraphScope::All); rules.departments.len()];
    if let GraphScope::Intent(intent) = scope {
        for &owner in rules.owners(intent) {
            included[owner] = true;
        }
        for transfer in &transfers {
            included[transfer.from] = true;
            included[transfer.to] = true;
        }
    }
    let nodes = rules
        .departments
        .iter()
        .zip(&included)
        .filter(|(_, included)| **included)
        .map(|(department, _)| GraphNode {
            department: department.id.as_str().to_owned(),
            entry: department.entry,
            known: true,
        })
        .collect();
    let edges = transfers
        .iter()
        .map(|transfer| GraphEdge {
            from: rules.departments[transfer.from].id.as_str().to_owned(),
            to: rules.departments[transfer.to].id.as_str().to_owned(),
            allowed: true,
            mode: Some(transfer.mode.as_str()),
            transfers: 0,
            blocked: 0,
            bounces: 0,
        })
        .collect();
    let graph = GraphTraffic {
        window: Window {
            from: jiff::Timestamp::UNIX_EPOCH,
            to: jiff::Timestamp::UNIX_EPOCH,
            interval_seconds: 1,
        },
        nodes,
        edges,
        other_unknown: None,
    };
    let mut document = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let options = SvgOptions {
        standalone: true,
        ..SvgOptions::default()
    };
    document.push_str(&traffic_svg(&graph, &options).into_string());
    document.push('\n');
    document
}

/// Traffic on an edge: transfers taken and blocked.
fn traffic(edge: &GraphEdge) -> u64 {
    edge.transfers + edge.blocked
}

/// The graph and its layout, computed once for drawing and for tests.
pub fn layout_of(graph: &GraphTraffic) -> (Layout, Vec<Option<usize>>) {
    let index = |name: &str| graph.nodes.iter().position(|node| node.department == name);
    let mut drawn: Vec<Option<usize>> = Vec::with_capacity(graph.edges.len());
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let mut labels: Vec<Option<(f64, f64)>> = Vec::new();
    for edge in &graph.edges {
        match (index(&edge.from), index(&edge.to)) {
            (Some(from), Some(to)) => {
                drawn.push(Some(edges.len()));
                edges.push((from, to));
                let count = traffic(edge);
                labels.push((count > 0).then(|| {
                    let width = count.to_string().len() as f64 * LABEL_CHARACTER_WIDTH + 6.0;
                    (width, LABEL_HEIGHT)
                }));
            }
            _ => drawn.push(None),
        }
    }
    let entries: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.entry)
        .map(|(position, _)| position)
        .collect();
    let layout = graph_layout::layout(&Graph {
        nodes: graph.nodes.len(),
        entries,
        edges,
        labels,
    });
    (layout, drawn)
}

/// The graph as an `<svg>` element.
pub fn traffic_svg(graph: &GraphTraffic, options: &SvgOptions<'_>) -> Markup {
    let (node_link, focus) = (options.node_link, options.focus);
    let (layout, drawn) = layout_of(graph);
    let max = graph.edges.iter().map(traffic).max().unwrap_or(0).max(1);
    let merged_node = graph.other_unknown.as_ref().map(|_| graph.nodes.len() - 1);
    let node_id = |position: usize| -> String {
        if Some(position) == merged_node {
            "other-unknown".to_owned()
        } else {
            graph.nodes[position].department.clone()
        }
    };
    let index = |name: &str| graph.nodes.iter().position(|node| node.department == name);
    let arrow = |id: &str, fill: &str| {
        html! {
            marker id=(id) viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse" {
                path d="M0,0 L10,5 L0,10 z" fill=(fill) {}
            }
        }
    };
    let (width, height) = (layout.width, layout.height);
    html! {
        svg.graph.lg-graph xmlns="http://www.w3.org/2000/svg" data-testid="graph"
            viewBox={ "0 0 " (format!("{width:.0}")) " " (format!("{height:.0}")) }
            width=(format!("{width:.0}")) height=(format!("{height:.0}")) role="img" aria-label="Routing graph" {
            @if options.standalone {
                style { (STYLE) }
            }
            defs {
                (arrow("arrow", "#555"))
                (arrow("arrow-red", "#c62828"))
                (arrow("arrow-orange", "#ef6c00"))
            }
            g.edges {
                @for (edge, slot) in graph.edges.iter().zip(&drawn) {
                    @if let (Some(slot), Some(from), Some(to)) = (slot, index(&edge.from), index(&edge.to)) {
                        (edge_markup(edge, &layout.edges[*slot], max, &node_id(from), &node_id(to)))
                    }
                }
            }
            g.labels {
                @for (edge, slot) in graph.edges.iter().zip(&drawn) {
                    @if let Some(slot) = slot {
                        @if let Some(at) = layout.edges[*slot].label {
                            @let text = traffic(edge).to_string();
                            @let label_width = text.len() as f64 * LABEL_CHARACTER_WIDTH + 6.0;
                            rect.edge-label-back x=(format!("{:.1}", at.x - label_width / 2.0)) y=(format!("{:.1}", at.y - LABEL_HEIGHT / 2.0))
                                width=(format!("{label_width:.1}")) height=(LABEL_HEIGHT) rx="3" {}
                            text.edge-label x=(format!("{:.1}", at.x)) y=(format!("{:.1}", at.y))
                                data-testid={ "label-" (edge.from) "-" (edge.to) } { (text) }
                        }
                    }
                }
            }
            g.nodes {
                @for (position, (node, area)) in graph.nodes.iter().zip(&layout.nodes).enumerate() {
                    @let class = match (node.known, node.entry, focus == Some(node.department.as_str())) {
                        (false, _, false) => "node unknown",
                        (false, _, true) => "node unknown focus",
                        (true, true, false) => "node entry",
                        (true, true, true) => "node entry focus",
                        (true, false, false) => "node",
                        (true, false, true) => "node focus",
                    };
                    @let shown = visible(&node.department);
                    @let label = short(&shown);
                    @let body = html! {
                        rect x=(format!("{:.1}", area.x - area.width / 2.0)) y=(format!("{:.1}", area.y - area.height / 2.0))
                            width=(format!("{:.1}", area.width)) height=(format!("{:.1}", area.height)) rx="6" {}
                        text x=(format!("{:.1}", area.x)) y=(format!("{:.1}", area.y)) { (label) }
                        title { (shown) }
                    };
                    g class=(class) data-testid={ "node-" (node_id(position)) } data-department=(node.department) {
                        @match node_link.filter(|_| Some(position) != merged_node) {
                            Some(link) => { a href=(link(&node.department)) { (body) } }
                            None => { (body) }
                        }
                    }
                }
            }
        }
    }
}

/// A department name cut to fit its box.
fn short(name: &str) -> String {
    if name.chars().count() <= LABEL_CHARACTERS {
        return name.to_owned();
    }
    let mut cut: String = name.chars().take(LABEL_CHARACTERS - 1).collect();
    cut.push('…');
    cut
}

fn edge_markup(
    edge: &GraphEdge,
    path: &graph_layout::EdgePath,
    max: u64,
    from_id: &str,
    to_id: &str,
) -> Markup {
    let count = traffic(edge);
    let stroke_width = if count == 0 {
        1.2
    } else {
        1.5 + 5.5 * count as f64 / max as f64
    };
    let (class, marker) = if !edge.allowed {
        ("edge unallowed", "arrow-orange")
    } else if edge.bounces > 0 {
        ("edge bounce", "arrow-red")
    } else if count > 0 {
        ("edge busy", "arrow")
    } else {
        ("edge idle", "arrow")
    };
    html! {
        path class=(class) d=(path.svg())
            stroke-width=(format!("{stroke_width:.1}")) marker-end={ "url(#" (marker) ")" }
            data-testid={ "edge-" (from_id) "-" (to_id) } data-from=(edge.from) data-to=(edge.to)
            data-allowed=(edge.allowed) data-transfers=(edge.transfers) data-blocked=(edge.blocked) data-bounces=(edge.bounces) {
            title {
                (visible(&edge.from)) " → " (visible(&edge.to)) ": " (edge.transfers) " taken, " (edge.blocked) " blocked, " (edge.bounces) " bounces"
                @if !edge.allowed { " (not in the rules)" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn the_graph_draws_every_node_and_marks_edges_by_traffic_bounces_and_rules() {
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
        let link = |department: &str| format!("/graph?focus={department}");
        let options = SvgOptions {
            node_link: Some(&link),
            focus: Some("back"),
            standalone: false,
        };
        let svg = traffic_svg(&graph, &options).into_string();
        assert!(
            !svg.contains("<style>"),
            "a page has the styles in its stylesheet"
        );
        assert_eq!(svg.matches("data-testid=\"node-").count(), 3);
        assert!(
            svg.contains(r#"class="node entry" data-testid="node-front""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="node unknown" data-testid="node-&lt;x&gt;""#),
            "{svg}"
        );
        assert!(svg.contains(r#"class="node focus" data-testid="node-back""#));
        assert!(svg.contains(r#"class="edge busy""#) && svg.contains(r#"class="edge bounce""#));
        assert!(svg.contains(r#"class="edge unallowed""#) && svg.contains(r#"class="edge idle""#));
        assert!(svg.contains(r#"<a href="/graph?focus=front">"#));
        assert!(!svg.contains("<x>"), "every name is escaped");
        assert_eq!(
            svg.matches("class=\"edge-label\"").count(),
            3,
            "idle edges have no label"
        );
    }

    #[test]
    fn long_names_are_cut_to_fit_their_box() {
        assert_eq!(short("billing"), "billing");
        assert_eq!(short("a_very_long_department_name"), "a_very_long_depart…");
    }
}
