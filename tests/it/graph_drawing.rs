//! The routing graph as drawn: the SVG of the shipped rules, of a generated
//! 40-department configuration and of random graphs is parsed back, every edge path
//! is sampled, and no edge may pass through a box other than its own two ends. Edge
//! ends at a box are all distinct (parallel edges and edges piling into one
//! department stay apart), and traffic labels sit on no box, no other label and no
//! drawn edge.

use std::collections::HashMap;

use loopguard::core::stats::{GraphEdge, GraphNode, GraphTraffic, Window};
use loopguard::render::graph::GraphScope;
use loopguard::render::graph_svg::{SvgOptions, rules_svg, traffic_svg};
use proptest::prelude::*;

use crate::support::carrier_rules;

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Rect {
    /// Strictly inside, `margin` in from the border.
    fn holds(&self, (x, y): (f64, f64), margin: f64) -> bool {
        x > self.x + margin
            && x < self.x + self.width - margin
            && y > self.y + margin
            && y < self.y + self.height - margin
    }

    fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

/// A drawn edge: from, to, and points sampled along its path.
type DrawnEdge = (String, String, Vec<(f64, f64)>);

#[derive(Debug)]
struct Drawing {
    boxes: HashMap<String, Rect>,
    edges: Vec<DrawnEdge>,
    labels: Vec<Rect>,
}

/// The value of `name="…"` in an element's text, unescaped enough for our ids.
fn attribute(element: &str, name: &str) -> Option<String> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = element[start..].find('"')? + start;
    Some(
        element[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

fn number(element: &str, name: &str) -> f64 {
    attribute(element, name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no number {name} in {element}"))
}

/// Samples an SVG path made of absolute M, L and C commands.
fn sample_path(data: &str, per_segment: usize) -> Vec<(f64, f64)> {
    let mut numbers: Vec<f64> = Vec::new();
    let mut commands: Vec<(char, Vec<f64>)> = Vec::new();
    let mut current: Option<char> = None;
    for token in data.split([' ', ',']).filter(|token| !token.is_empty()) {
        let (command, rest) = match token.chars().next() {
            Some(letter @ ('M' | 'L' | 'C')) => (Some(letter), &token[1..]),
            _ => (None, token),
        };
        if let Some(command) = command {
            if let Some(previous) = current.take() {
                commands.push((previous, std::mem::take(&mut numbers)));
            }
            current = Some(command);
        }
        if !rest.is_empty() {
            numbers.push(
                rest.parse()
                    .unwrap_or_else(|_| panic!("bad number in {data}")),
            );
        }
    }
    if let Some(previous) = current {
        commands.push((previous, numbers));
    }
    let mut points = Vec::new();
    let mut at = (0.0, 0.0);
    for (command, values) in commands {
        match command {
            'M' => {
                at = (values[0], values[1]);
                points.push(at);
            }
            'L' => {
                let to = (values[0], values[1]);
                for step in 1..=per_segment {
                    let t = step as f64 / per_segment as f64;
                    points.push((at.0 + (to.0 - at.0) * t, at.1 + (to.1 - at.1) * t));
                }
                at = to;
            }
            _ => {
                let (c1, c2, to) = (
                    (values[0], values[1]),
                    (values[2], values[3]),
                    (values[4], values[5]),
                );
                for step in 1..=per_segment {
                    let t = step as f64 / per_segment as f64;
                    let u = 1.0 - t;
                    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                    points.push((
                        a * at.0 + b * c1.0 + c * c2.0 + d * to.0,
                        a * at.1 + b * c1.1 + c * c2.1 + d * to.1,
                    ));
                }
                at = to;
            }
        }
    }
    points
}

fn parse(svg: &str) -> Drawing {
    let mut boxes = HashMap::new();
    let mut edges = Vec::new();
    let mut labels = Vec::new();
    let mut department: Option<String> = None;
    for element in svg.split('<') {
        if element.starts_with("g ") && element.contains("data-department=") {
            department = attribute(element, "data-department");
        } else if element.starts_with("rect ") && element.contains("edge-label-back") {
            labels.push(Rect {
                x: number(element, "x"),
                y: number(element, "y"),
                width: number(element, "width"),
                height: number(element, "height"),
            });
        } else if element.starts_with("rect ") {
            if let Some(name) = department.take() {
                boxes.insert(
                    name,
                    Rect {
                        x: number(element, "x"),
                        y: number(element, "y"),
                        width: number(element, "width"),
                        height: number(element, "height"),
                    },
                );
            }
        } else if element.starts_with("path ") && element.contains("data-from=") {
            let data = attribute(element, "d").expect("path data");
            edges.push((
                attribute(element, "data-from").expect("from"),
                attribute(element, "data-to").expect("to"),
                sample_path(&data, 64),
            ));
        }
    }
    Drawing {
        boxes,
        edges,
        labels,
    }
}

/// Every geometric promise of the drawing; returns the problems found.
fn problems(svg: &str, nodes: usize, edges: usize) -> Vec<String> {
    let drawing = parse(svg);
    let mut found = Vec::new();
    if drawing.boxes.len() != nodes {
        found.push(format!(
            "{} boxes drawn, {nodes} expected",
            drawing.boxes.len()
        ));
    }
    if drawing.edges.len() != edges {
        found.push(format!(
            "{} edges drawn, {edges} expected",
            drawing.edges.len()
        ));
    }
    // No edge through another box.
    for (from, to, points) in &drawing.edges {
        for (name, area) in &drawing.boxes {
            if name == from || name == to {
                continue;
            }
            if let Some(point) = points.iter().find(|point| area.holds(**point, 0.5)) {
                found.push(format!(
                    "edge {from}→{to} passes through box {name} at {point:?}"
                ));
            }
        }
    }
    // Distinct ends: no two edges start or end at the same point.
    let mut ends: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for (from, to, points) in &drawing.edges {
        if from == to {
            continue;
        }
        for point in [points[0], points[points.len() - 1]] {
            ends.entry((
                (point.0 * 10.0).round() as i64,
                (point.1 * 10.0).round() as i64,
            ))
            .or_default()
            .push(format!("{from}→{to}"));
        }
    }
    for (point, edges) in ends {
        if edges.len() > 1 {
            found.push(format!(
                "edges {edges:?} share the end point {point:?} (tenths)"
            ));
        }
    }
    // Labels off boxes, off other labels, off every drawn edge.
    for (index, label) in drawing.labels.iter().enumerate() {
        for (name, area) in &drawing.boxes {
            if label.overlaps(area) {
                found.push(format!("label {index} overlaps box {name}"));
            }
        }
        for other in &drawing.labels[index + 1..] {
            if label.overlaps(other) {
                found.push(format!("label {index} overlaps another label"));
            }
        }
        for (from, to, points) in &drawing.edges {
            if points.iter().any(|point| label.holds(*point, 0.0)) {
                found.push(format!("label {index} lies on edge {from}→{to}"));
            }
        }
    }
    found
}

/// The rules' graph with traffic on every edge (so every edge has a label) and
/// live transfers between the unconnected departments the rules lack.
fn with_traffic(rules: &loopguard::core::rules::Rules) -> GraphTraffic {
    let mut graph = loopguard::core::stats::views::graph_traffic(
        &loopguard::core::stats::StatsIndex::default(),
        rules,
        &Window {
            from: jiff::Timestamp::UNIX_EPOCH,
            to: jiff::Timestamp::UNIX_EPOCH,
            interval_seconds: 60,
        },
        20,
    );
    for (index, edge) in graph.edges.iter_mut().enumerate() {
        edge.transfers = (index as u64 * 37) % 250 + 1;
        edge.bounces = u64::from(index % 4 == 0);
    }
    graph
}

/// Both drawings of some rules: the rules alone (`loopguard graph --format svg`)
/// and the dashboard's, with traffic labels.
fn check_rules(rules: &loopguard::core::rules::Rules) {
    let svg = rules_svg(rules, GraphScope::All);
    let found = problems(&svg, rules.departments.len(), rules.transfers.len());
    assert!(found.is_empty(), "rules alone:\n{}", found.join("\n"));
    let graph = with_traffic(rules);
    let svg = traffic_svg(&graph, &SvgOptions::default()).into_string();
    assert_eq!(parse(&svg).labels.len(), rules.transfers.len());
    let found = problems(&svg, rules.departments.len(), rules.transfers.len());
    assert!(found.is_empty(), "with traffic:\n{}", found.join("\n"));
}

#[test]
fn the_shipped_rules_are_drawn_with_no_edge_through_a_box() {
    check_rules(&carrier_rules());
}

/// 40 departments: a few entries, a spine of layers, long forward edges, back edges
/// (cycles), ping-pong pairs and every fifth department escalating to a supervisor
/// desk, from a fixed seed.
fn generated_rules() -> String {
    let mut seed: u64 = 0x5eed_1234_abcd;
    let mut next = |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let mut text = String::new();
    for index in 0..40 {
        text.push_str(&format!(
            "[[department]]\nid = \"dept_{index:02}\"\nentry = {}\nhandles = [\"intent_{index:02}\"]\n\n",
            index < 3
        ));
    }
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    for index in 3..40 {
        pairs.push((next(index), index));
    }
    for _ in 0..35 {
        let (from, to) = (next(39), next(39));
        pairs.push((from, to));
    }
    for index in (0..39).step_by(5) {
        pairs.push((index, 39));
    }
    for index in (4..36).step_by(9) {
        pairs.push((index, index + 1));
        pairs.push((index + 1, index));
    }
    pairs.sort_unstable();
    pairs.dedup();
    for (from, to) in pairs.into_iter().filter(|(from, to)| from != to) {
        text.push_str(&format!(
            "[[transfer]]\nfrom = \"dept_{from:02}\"\nto = \"dept_{to:02}\"\n\n"
        ));
    }
    text
}

#[test]
fn a_generated_40_department_configuration_is_drawn_with_no_edge_through_a_box() {
    let sources = [loopguard::core::source::SourceFile::new(
        "generated.toml",
        generated_rules(),
    )];
    // Ping-pong pairs and cycles are lint findings; the drawing must still hold.
    let rules = loopguard::core::lint::lint(&sources).rules;
    assert_eq!(rules.departments.len(), 40);
    assert!(rules.transfers.len() > 80, "{}", rules.transfers.len());
    check_rules(&rules);
}

fn traffic_graph(nodes: usize, edges: &[(usize, usize, u64)]) -> GraphTraffic {
    let name = |index: usize| format!("department-{index}");
    GraphTraffic {
        window: Window {
            from: jiff::Timestamp::UNIX_EPOCH,
            to: jiff::Timestamp::UNIX_EPOCH,
            interval_seconds: 60,
        },
        nodes: (0..nodes)
            .map(|index| GraphNode {
                department: name(index),
                entry: index == 0,
                known: index % 7 != 6,
            })
            .collect(),
        edges: edges
            .iter()
            .map(|&(from, to, traffic)| GraphEdge {
                from: name(from),
                to: name(to),
                allowed: traffic % 5 != 4,
                mode: Some("warm"),
                transfers: traffic,
                blocked: traffic % 3,
                bounces: traffic % 2,
            })
            .collect(),
        other_unknown: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_with_traffic_keep_edges_out_of_boxes_and_labels_off_the_lines(
        nodes in 2usize..16,
        raw in prop::collection::vec((0usize..16, 0usize..16, 0u64..40), 0..40),
    ) {
        let mut edges: Vec<(usize, usize, u64)> = raw
            .into_iter()
            .map(|(from, to, traffic)| (from % nodes, to % nodes, traffic))
            .filter(|(from, to, _)| from != to)
            .collect();
        edges.sort_unstable_by_key(|(from, to, _)| (*from, *to));
        edges.dedup_by_key(|(from, to, _)| (*from, *to));
        let graph = traffic_graph(nodes, &edges);
        let svg = traffic_svg(&graph, &SvgOptions::default()).into_string();
        let found = problems(&svg, nodes, edges.len());
        prop_assert!(found.is_empty(), "{}", found.join("\n"));
    }
}

/// The drawing is part of what we ship (`loopguard graph --format svg` will print
/// it): any change shows up as a snapshot diff to review.
#[test]
fn the_carrier_rules_drawing_matches_its_snapshot() {
    insta::assert_snapshot!(
        "carrier_rules_graph",
        rules_svg(&carrier_rules(), GraphScope::All)
    );
}
