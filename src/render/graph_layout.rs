//! A layered (Sugiyama) layout of a directed graph, left to right, with edges
//! routed around the boxes: pure geometry, node sizes and edges in, boxes, edge
//! paths and label positions out.
//!
//! The standard steps (Sugiyama, Tagawa and Toda 1981; Gansner et al. 1993):
//! 1. *cycle removal*: edges into an entry from elsewhere are turned around, then a
//!    depth-first search from the entries turns around every back edge, so the
//!    graph is acyclic and entries sit on the left;
//! 2. *layering*: the longest path from the sources, then sources that are not
//!    entries move right next to their nearest successor (shorter edges);
//! 3. *dummy nodes*: an edge spanning several layers gets one dummy node per layer
//!    in between, so it has its own slot in every layer it crosses;
//! 4. *crossing reduction*: barycenter sweeps down and up, keeping the order with
//!    the fewest crossings (counted exactly per pair of layers);
//! 5. *coordinates*: each layer is placed where its neighbours pull it (weighted
//!    means of port positions, dummies weighing more so long edges run straight),
//!    solved exactly under the minimum gaps by pool-adjacent-violators;
//! 6. *ports and routing*: every edge gets its own port on the side of each box
//!    (ordered by where its other end is), so parallel edges (A→B and B→A) never
//!    share a line; between two layers an edge is a cubic curve whose control points
//!    lie in the gap between the columns, and across a layer it runs straight
//!    through its dummy's slot. So an edge never enters a box but its own two ends;
//! 7. *labels*: each edge's label goes on the first spot along its curves that
//!    overlaps no box, no other label and no drawn edge.
//!
//! Why not a crate: `rust-sugiyama` returns vertex coordinates only (no edge
//! routes, no ports, dummies not tied back to their edges); `layout-rs` lays out and
//! draws Graphviz DOT into its own SVG (we need our classes, links and test ids), and
//! dagre ports clip edges toward the node's centre, so a steep edge can leave a box
//! through its top and run along its own layer through a neighbour's box.
//!
//! Nothing here reads data from outside: callers hand in sizes and edges.

use std::collections::HashMap;

/// A point in drawing units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A node's box: centre and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeBox {
    pub layer: usize,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl NodeBox {
    /// Whether `point` lies strictly inside the box, `margin` in from its border.
    pub fn contains(&self, point: Point, margin: f64) -> bool {
        (point.x - self.x).abs() < self.width / 2.0 - margin
            && (point.y - self.y).abs() < self.height / 2.0 - margin
    }
}

/// One piece of an edge's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Segment {
    Line(Point),
    /// A cubic Bézier curve: two control points and the end.
    Cubic(Point, Point, Point),
}

/// A drawn edge: from `start`, through its segments, to the target's border.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePath {
    pub start: Point,
    pub segments: Vec<Segment>,
    /// Where the label's centre goes, if it has one.
    pub label: Option<Point>,
}

impl EdgePath {
    /// Points along the path, `per_segment` + 1 per segment (both ends included).
    pub fn sample(&self, per_segment: usize) -> Vec<Point> {
        let mut points = vec![self.start];
        let mut from = self.start;
        for segment in &self.segments {
            for step in 1..=per_segment {
                let t = step as f64 / per_segment as f64;
                points.push(segment.at(from, t));
            }
            from = segment.end();
        }
        points
    }

    /// The path as SVG path data (absolute `M`, `L` and `C` commands).
    pub fn svg(&self) -> String {
        let mut data = format!("M{:.1},{:.1}", self.start.x, self.start.y);
        for segment in &self.segments {
            match segment {
                Segment::Line(to) => data.push_str(&format!(" L{:.1},{:.1}", to.x, to.y)),
                Segment::Cubic(first, second, to) => data.push_str(&format!(
                    " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    first.x, first.y, second.x, second.y, to.x, to.y
                )),
            }
        }
        data
    }
}

impl Segment {
    fn end(&self) -> Point {
        match *self {
            Segment::Line(to) | Segment::Cubic(_, _, to) => to,
        }
    }

    /// The point at `t` (0 to 1) of this segment starting at `from`.
    pub fn at(&self, from: Point, t: f64) -> Point {
        match *self {
            Segment::Line(to) => Point {
                x: from.x + (to.x - from.x) * t,
                y: from.y + (to.y - from.y) * t,
            },
            Segment::Cubic(first, second, to) => {
                let u = 1.0 - t;
                let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                Point {
                    x: a * from.x + b * first.x + c * second.x + d * to.x,
                    y: a * from.y + b * first.y + c * second.y + d * to.y,
                }
            }
        }
    }
}

/// What to lay out.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: usize,
    /// Nodes that should start the drawing on the left (entry departments).
    pub entries: Vec<usize>,
    /// Directed edges `(from, to)` by node index.
    pub edges: Vec<(usize, usize)>,
    /// The size of each edge's label (`None`: no label).
    pub labels: Vec<Option<(f64, f64)>>,
}

/// The drawing: one box per node, one path per edge (in the order given).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
}

/// Sizes and distances, in drawing units.
pub const NODE_WIDTH: f64 = 150.0;
pub const MIN_NODE_HEIGHT: f64 = 36.0;
/// Vertical distance between two ports on one side of a box.
pub const PORT_GAP: f64 = 10.0;
/// Space between two boxes of a layer.
pub const NODE_GAP: f64 = 26.0;
/// The slot a dummy node (an edge crossing a layer) takes, and its distance to others.
const DUMMY_HEIGHT: f64 = 4.0;
const DUMMY_GAP: f64 = 10.0;
/// The gap between two columns: at least this, wider when many edges cross it.
const MIN_CHANNEL: f64 = 90.0;
const CHANNEL_PER_EDGE: f64 = 5.0;
const MAX_CHANNEL: f64 = 260.0;
pub const MARGIN: f64 = 40.0;
/// Crossing-reduction sweeps (down and up count as two).
const SWEEPS: usize = 12;
/// Coordinate passes (down and up count as two).
const PASSES: usize = 16;

/// A node of the layered graph: a real one or a dummy of an edge.
#[derive(Debug, Clone, Copy)]
struct Slot {
    real: Option<usize>,
    layer: usize,
}

/// Lays out `graph`. Self-loops are drawn as a small loop on the box's right. When a
/// label finds no free spot, the gaps between columns are widened and the drawing
/// is made again (at most [`WIDENINGS`] times).
pub fn layout(graph: &Graph) -> Layout {
    let mut scale = 1.0;
    let mut drawn = layout_with_gaps(graph, scale);
    for _ in 0..WIDENINGS {
        if drawn.1 == 0 {
            break;
        }
        scale *= 1.6;
        drawn = layout_with_gaps(graph, scale);
    }
    drawn.0
}

/// How often a crowded drawing is made again with wider gaps.
const WIDENINGS: usize = 3;

/// The layout with the gaps between columns scaled by `scale`, and how many labels
/// found no free spot.
fn layout_with_gaps(graph: &Graph, scale: f64) -> (Layout, usize) {
    let count = graph.nodes;
    let edges: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .map(|&(from, to)| {
            (
                from.min(count.saturating_sub(1)),
                to.min(count.saturating_sub(1)),
            )
        })
        .collect();
    if count == 0 {
        let empty = Layout {
            width: MARGIN * 2.0,
            height: MARGIN * 2.0,
            nodes: Vec::new(),
            edges: edges
                .iter()
                .map(|_| EdgePath {
                    start: Point { x: 0.0, y: 0.0 },
                    segments: Vec::new(),
                    label: None,
                })
                .collect(),
        };
        return (empty, 0);
    }
    let directed = acyclic(count, &graph.entries, &edges);
    let layer = layers(count, &graph.entries, &edges, &directed);
    // Chains: each non-loop edge as slots from its lower to its higher layer.
    let mut slots: Vec<Slot> = (0..count)
        .map(|node| Slot {
            real: Some(node),
            layer: layer[node],
        })
        .collect();
    let mut chains: Vec<Option<Vec<usize>>> = Vec::with_capacity(edges.len());
    for (index, &(from, to)) in edges.iter().enumerate() {
        if from == to {
            chains.push(None);
            continue;
        }
        let (low, high) = if directed[index] {
            (from, to)
        } else {
            (to, from)
        };
        let mut chain = vec![low];
        for between in layer[low] + 1..layer[high] {
            slots.push(Slot {
                real: None,
                layer: between,
            });
            chain.push(slots.len() - 1);
        }
        chain.push(high);
        chains.push(Some(chain));
    }
    let layer_count = layer.iter().copied().max().unwrap_or(0) + 1;
    // Segments between consecutive layers, as (slot in layer L, slot in layer L+1).
    // Parallel edges (A→B and a turned B→A) have links of their own.
    let mut links: Vec<(usize, usize)> = Vec::new();
    let mut chain_links: Vec<Vec<usize>> = vec![Vec::new(); chains.len()];
    for (index, chain) in chains.iter().enumerate() {
        for pair in chain.iter().flat_map(|chain| chain.windows(2)) {
            chain_links[index].push(links.len());
            links.push((pair[0], pair[1]));
        }
    }
    let rows = order(&slots, layer_count, &links, &graph.entries);
    let mut position = vec![0usize; slots.len()];
    for row in &rows {
        for (index, &slot) in row.iter().enumerate() {
            position[slot] = index;
        }
    }
    // Ports: on each side of a real node, one per link, ordered by the other end.
    let mut right: Vec<Vec<(usize, usize)>> = vec![Vec::new(); slots.len()];
    let mut left: Vec<Vec<(usize, usize)>> = vec![Vec::new(); slots.len()];
    for (link, &(a, b)) in links.iter().enumerate() {
        right[a].push((link, b));
        left[b].push((link, a));
    }
    let mut loops = vec![0usize; count];
    for &(from, to) in &edges {
        if from == to {
            loops[from] += 1;
        }
    }
    for side in right.iter_mut().chain(left.iter_mut()) {
        side.sort_by_key(|&(link, other)| (position[other], link));
    }
    let height: Vec<f64> = (0..slots.len())
        .map(|slot| match slots[slot].real {
            Some(node) => {
                let ports = right[slot].len().max(left[slot].len()) + 2 * loops[node];
                MIN_NODE_HEIGHT.max(PORT_GAP * (ports + 1) as f64)
            }
            None => DUMMY_HEIGHT,
        })
        .collect();
    // Port offsets from the centre, per link end.
    let offset = |side: &Vec<(usize, usize)>, slot: usize, link: usize| -> f64 {
        if slots[slot].real.is_none() {
            return 0.0;
        }
        let count = side.len() as f64;
        let index = side
            .iter()
            .position(|&(other, _)| other == link)
            .unwrap_or(0) as f64;
        (index + 1.0) * height[slot] / (count + 1.0) - height[slot] / 2.0
    };
    let mut out_offset = vec![0.0; links.len()];
    let mut in_offset = vec![0.0; links.len()];
    for (link, &(a, b)) in links.iter().enumerate() {
        out_offset[link] = offset(&right[a], a, link);
        in_offset[link] = offset(&left[b], b, link);
    }
    let y = coordinates(&slots, &rows, &links, &height, &out_offset, &in_offset);
    // Columns: every box of a layer has the same width; gaps grow with their edges.
    let mut crossing = vec![0usize; layer_count];
    for &(a, _) in &links {
        crossing[slots[a].layer] += 1;
    }
    let mut column_x = vec![0.0; layer_count];
    let mut x = MARGIN + NODE_WIDTH / 2.0;
    for current in 0..layer_count {
        column_x[current] = x;
        let channel =
            (MIN_CHANNEL + CHANNEL_PER_EDGE * crossing[current] as f64).min(MAX_CHANNEL) * scale;
        x += NODE_WIDTH + channel;
    }
    let top = (0..slots.len())
        .map(|slot| y[slot] - height[slot] / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = MARGIN - top;
    let centre = |slot: usize| Point {
        x: column_x[slots[slot].layer],
        y: y[slot] + shift,
    };
    let boxes: Vec<NodeBox> = (0..count)
        .map(|node| {
            let point = centre(node);
            NodeBox {
                layer: layer[node],
                x: point.x,
                y: point.y,
                width: NODE_WIDTH,
                height: height[node],
            }
        })
        .collect();
    let mut loop_seen = vec![0usize; count];
    let mut paths: Vec<EdgePath> = Vec::with_capacity(edges.len());
    for (index, chain) in chains.iter().enumerate() {
        let path = match chain {
            None => {
                let node = edges[index].0;
                let number = loop_seen[node];
                loop_seen[node] += 1;
                self_loop(&boxes[node], number, loops[node])
            }
            Some(chain) => {
                let mut points: Vec<(Point, Point)> = Vec::new();
                for (pair, &link) in chain.windows(2).zip(&chain_links[index]) {
                    let (a, b) = (centre(pair[0]), centre(pair[1]));
                    // Dummies take the column's whole width, like the boxes.
                    let start = Point {
                        x: a.x + NODE_WIDTH / 2.0,
                        y: a.y + out_offset[link],
                    };
                    let end = Point {
                        x: b.x - NODE_WIDTH / 2.0,
                        y: b.y + in_offset[link],
                    };
                    points.push((start, end));
                }
                channel_path(&points, !directed[index])
            }
        };
        paths.push(path);
    }
    let width = column_x[layer_count - 1] + NODE_WIDTH / 2.0 + MARGIN;
    let height_total = (0..slots.len())
        .map(|slot| y[slot] + shift + height[slot] / 2.0)
        .fold(0.0, f64::max)
        + MARGIN;
    let crowded = place_labels(&boxes, &mut paths, &graph.labels);
    let layout = Layout {
        width,
        height: height_total,
        nodes: boxes,
        edges: paths,
    };
    (layout, crowded)
}

/// Which edges keep their direction (true) in the acyclic graph the layers follow.
fn acyclic(count: usize, entries: &[usize], edges: &[(usize, usize)]) -> Vec<bool> {
    let mut is_entry = vec![false; count];
    for &entry in entries.iter().filter(|&&entry| entry < count) {
        is_entry[entry] = true;
    }
    // Into an entry from a non-entry: turned around, so entries start the drawing.
    let mut forward: Vec<bool> = edges
        .iter()
        .map(|&(from, to)| !is_entry[to] || is_entry[from])
        .collect();
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, &(from, to)) in edges.iter().enumerate() {
        if from != to {
            let (low, _) = if forward[index] {
                (from, to)
            } else {
                (to, from)
            };
            successors[low].push(index);
        }
    }
    // Depth-first from the entries, then from every node left; an edge into a node
    // still on the stack closes a cycle and is turned around.
    let mut state = vec![0u8; count]; // 0 new, 1 on the stack, 2 done
    let roots: Vec<usize> = entries
        .iter()
        .copied()
        .filter(|&entry| entry < count)
        .chain(0..count)
        .collect();
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((node, next)) = stack.pop() {
            let Some(&edge) = successors[node].get(next) else {
                state[node] = 2;
                continue;
            };
            stack.push((node, next + 1));
            let (from, to) = edges[edge];
            let target = if forward[edge] { to } else { from };
            match state[target] {
                0 => {
                    state[target] = 1;
                    stack.push((target, 0));
                }
                1 => forward[edge] = !forward[edge],
                _ => {}
            }
        }
    }
    forward
}

/// Layer of each node: the longest path from the sources, then sources that are not
/// entries are moved right, next to their nearest successor.
fn layers(
    count: usize,
    entries: &[usize],
    edges: &[(usize, usize)],
    forward: &[bool],
) -> Vec<usize> {
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut incoming = vec![0usize; count];
    for (index, &(from, to)) in edges.iter().enumerate() {
        if from == to {
            continue;
        }
        let (low, high) = if forward[index] {
            (from, to)
        } else {
            (to, from)
        };
        successors[low].push(high);
        incoming[high] += 1;
    }
    let has_predecessor: Vec<bool> = incoming.iter().map(|&count| count > 0).collect();
    let mut layer = vec![0usize; count];
    let mut topological: Vec<usize> = Vec::with_capacity(count);
    let mut ready: std::collections::VecDeque<usize> =
        (0..count).filter(|&node| incoming[node] == 0).collect();
    while let Some(node) = ready.pop_front() {
        topological.push(node);
        for &next in &successors[node] {
            layer[next] = layer[next].max(layer[node] + 1);
            incoming[next] -= 1;
            if incoming[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    let is_entry = |node: usize| entries.contains(&node);
    for &node in topological.iter().rev() {
        if !has_predecessor[node]
            && !is_entry(node)
            && let Some(nearest) = successors[node].iter().map(|&next| layer[next]).min()
        {
            layer[node] = nearest.saturating_sub(1).max(layer[node]);
        }
    }
    layer
}

/// Orders every layer's slots to reduce crossings: entries first, each further
/// layer by where its predecessors are, then barycenter sweeps down and up,
/// keeping the order with the fewest crossings.
fn order(
    slots: &[Slot],
    layer_count: usize,
    links: &[(usize, usize)],
    entries: &[usize],
) -> Vec<Vec<usize>> {
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); slots.len()];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); slots.len()];
    for &(a, b) in links {
        down[a].push(b);
        up[b].push(a);
    }
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (slot, data) in slots.iter().enumerate() {
        rows[data.layer].push(slot);
    }
    let rank = |slot: usize| match slots[slot].real {
        Some(node) => entries
            .iter()
            .position(|&entry| entry == node)
            .unwrap_or(entries.len()),
        None => entries.len(),
    };
    rows[0].sort_by_key(|&slot| (rank(slot), slot));
    let mut position = vec![0.0f64; slots.len()];
    let number = |rows: &Vec<Vec<usize>>, position: &mut Vec<f64>| {
        for row in rows {
            for (index, &slot) in row.iter().enumerate() {
                position[slot] = index as f64;
            }
        }
    };
    number(&rows, &mut position);
    for row in rows.iter_mut().skip(1) {
        sort_by_barycenter(row, &up, &position);
        for (index, &slot) in row.iter().enumerate() {
            position[slot] = index as f64;
        }
    }
    let mut best = rows.clone();
    let mut fewest = crossings(&rows, links, &position, slots);
    for sweep in 0..SWEEPS {
        if sweep % 2 == 0 {
            for row in rows.iter_mut().skip(1) {
                sort_by_barycenter(row, &up, &position);
                for (index, &slot) in row.iter().enumerate() {
                    position[slot] = index as f64;
                }
            }
        } else {
            for layer in (0..layer_count.saturating_sub(1)).rev() {
                sort_by_barycenter(&mut rows[layer], &down, &position);
                for (index, &slot) in rows[layer].iter().enumerate() {
                    position[slot] = index as f64;
                }
            }
        }
        let count = crossings(&rows, links, &position, slots);
        if count < fewest {
            fewest = count;
            best = rows.clone();
        }
        if fewest == 0 {
            break;
        }
    }
    best
}

/// Sorts a row by the mean position of each slot's neighbours in the reference
/// layer; a slot without any keeps its place.
fn sort_by_barycenter(row: &mut [usize], neighbours: &[Vec<usize>], position: &[f64]) {
    let mut keyed: Vec<(f64, f64, usize)> = row
        .iter()
        .map(|&slot| {
            let adjacent = &neighbours[slot];
            let key = if adjacent.is_empty() {
                position[slot]
            } else {
                adjacent.iter().map(|&other| position[other]).sum::<f64>() / adjacent.len() as f64
            };
            (key, position[slot], slot)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for (target, (_, _, slot)) in row.iter_mut().zip(keyed) {
        *target = slot;
    }
}

/// Edge crossings of the whole drawing: per pair of layers, the inversions among
/// the links sorted by their upper end (counted with a Fenwick tree).
fn crossings(
    rows: &[Vec<usize>],
    links: &[(usize, usize)],
    position: &[f64],
    slots: &[Slot],
) -> u64 {
    let mut by_layer: Vec<Vec<(usize, usize)>> = vec![Vec::new(); rows.len()];
    for &(a, b) in links {
        by_layer[slots[a].layer].push((position[a] as usize, position[b] as usize));
    }
    let mut total = 0u64;
    for (layer, mut pairs) in by_layer.into_iter().enumerate() {
        let width = rows.get(layer + 1).map_or(0, Vec::len);
        pairs.sort_unstable();
        let mut tree = vec![0u64; width + 1];
        for (seen, (_, lower)) in pairs.into_iter().enumerate() {
            let seen = seen as u64;
            // Links already seen whose lower end is right of this one cross it.
            let mut index = lower + 1;
            let mut at_or_left = 0;
            while index > 0 {
                at_or_left += tree[index];
                index -= index & index.wrapping_neg();
            }
            total += seen - at_or_left;
            let mut index = lower + 1;
            while index <= width {
                tree[index] += 1;
                index += index & index.wrapping_neg();
            }
        }
    }
    total
}

/// Vertical centres of every slot: each layer in turn placed where its links pull
/// it, under the minimum gaps between neighbours in the row (solved exactly by
/// pool-adjacent-violators on the gap-corrected positions).
fn coordinates(
    slots: &[Slot],
    rows: &[Vec<usize>],
    links: &[(usize, usize)],
    height: &[f64],
    out_offset: &[f64],
    in_offset: &[f64],
) -> Vec<f64> {
    let gap = |a: usize, b: usize| {
        let space = match (slots[a].real, slots[b].real) {
            (Some(_), Some(_)) => NODE_GAP,
            (None, None) => DUMMY_GAP,
            _ => NODE_GAP * 0.6,
        };
        height[a] / 2.0 + height[b] / 2.0 + space
    };
    let mut y = vec![0.0f64; slots.len()];
    // Stacked, each row centred on 0.
    let mut separations: Vec<Vec<f64>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut offsets = vec![0.0f64; row.len()];
        for index in 1..row.len() {
            offsets[index] = offsets[index - 1] + gap(row[index - 1], row[index]);
        }
        let middle = offsets.last().copied().unwrap_or(0.0) / 2.0;
        for (index, &slot) in row.iter().enumerate() {
            y[slot] = offsets[index] - middle;
        }
        separations.push(offsets);
    }
    // What pulls each slot: (other slot, offset to add to the other's y, weight).
    let mut pulls: Vec<Vec<(usize, f64, f64)>> = vec![Vec::new(); slots.len()];
    for (link, &(a, b)) in links.iter().enumerate() {
        let weight = match (slots[a].real, slots[b].real) {
            (None, None) => 8.0,
            (Some(_), Some(_)) => 1.0,
            _ => 2.0,
        };
        // b's port at y[b] + in_offset should face a's port at y[a] + out_offset.
        pulls[b].push((a, out_offset[link] - in_offset[link], weight));
        pulls[a].push((b, in_offset[link] - out_offset[link], weight));
    }
    for pass in 0..PASSES {
        let layers: Vec<usize> = if pass % 2 == 0 {
            (0..rows.len()).collect()
        } else {
            (0..rows.len()).rev().collect()
        };
        for layer in layers {
            let row = &rows[layer];
            if row.is_empty() {
                continue;
            }
            let offsets = &separations[layer];
            let mut targets: Vec<(f64, f64)> = Vec::with_capacity(row.len());
            for (index, &slot) in row.iter().enumerate() {
                let (sum, weight) = pulls[slot].iter().fold(
                    (0.0, 0.0),
                    |(sum, total), &(other, offset, weight)| {
                        (sum + (y[other] + offset) * weight, total + weight)
                    },
                );
                let desired = if weight > 0.0 { sum / weight } else { y[slot] };
                // A slot nothing pulls keeps its place, lightly.
                let weight = if weight > 0.0 { weight } else { 0.1 };
                targets.push((desired - offsets[index], weight));
            }
            let solved = isotonic(&targets);
            for (index, &slot) in row.iter().enumerate() {
                y[slot] = solved[index] + offsets[index];
            }
        }
    }
    y
}

/// Weighted least squares under `z[0] <= z[1] <= …` (pool adjacent violators).
fn isotonic(targets: &[(f64, f64)]) -> Vec<f64> {
    // Blocks of (weighted mean, weight, size).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(targets.len());
    for &(value, weight) in targets {
        blocks.push((value, weight, 1));
        while blocks.len() > 1 {
            let last = blocks[blocks.len() - 1];
            let previous = blocks[blocks.len() - 2];
            if previous.0 <= last.0 {
                break;
            }
            let weight = previous.1 + last.1;
            let mean = (previous.0 * previous.1 + last.0 * last.1) / weight;
            blocks.truncate(blocks.len() - 2);
            blocks.push((mean, weight, previous.2 + last.2));
        }
    }
    blocks
        .into_iter()
        .flat_map(|(mean, _, size)| std::iter::repeat_n(mean, size))
        .collect()
}

/// A path through `points`, one (leaving a column, entering the next) pair per gap
/// between columns: a cubic curve in each gap (its control points inside the gap,
/// so the curve stays there), a straight line through each dummy's slot. A turned
/// edge is drawn back to front, so it still ends at its target.
fn channel_path(points: &[(Point, Point)], reversed: bool) -> EdgePath {
    let mut pieces: Vec<(Point, Segment)> = Vec::new();
    for (index, &(leave, enter)) in points.iter().enumerate() {
        let middle = (enter.x - leave.x) / 2.0;
        pieces.push((
            leave,
            Segment::Cubic(
                Point {
                    x: leave.x + middle,
                    y: leave.y,
                },
                Point {
                    x: enter.x - middle,
                    y: enter.y,
                },
                enter,
            ),
        ));
        if let Some(&(next_leave, _)) = points.get(index + 1) {
            pieces.push((enter, Segment::Line(next_leave)));
        }
    }
    if reversed {
        let mut turned: Vec<(Point, Segment)> = Vec::with_capacity(pieces.len());
        for (from, segment) in pieces.into_iter().rev() {
            turned.push(match segment {
                Segment::Line(to) => (to, Segment::Line(from)),
                Segment::Cubic(first, second, to) => (to, Segment::Cubic(second, first, from)),
            });
        }
        pieces = turned;
    }
    EdgePath {
        start: pieces
            .first()
            .map_or(Point { x: 0.0, y: 0.0 }, |piece| piece.0),
        segments: pieces.into_iter().map(|(_, segment)| segment).collect(),
        label: None,
    }
}

/// A loop on the right of a box, near its bottom, inside the gap after its column.
fn self_loop(node: &NodeBox, number: usize, count: usize) -> EdgePath {
    let right = node.x + node.width / 2.0;
    let bottom = node.y + node.height / 2.0;
    let start = Point {
        x: right,
        y: bottom - PORT_GAP * (2 * (count - number)) as f64,
    };
    let end = Point {
        x: right,
        y: start.y + PORT_GAP,
    };
    let reach = 28.0 + 6.0 * number as f64;
    EdgePath {
        start,
        segments: vec![Segment::Cubic(
            Point {
                x: right + reach,
                y: start.y - PORT_GAP,
            },
            Point {
                x: right + reach,
                y: end.y + PORT_GAP,
            },
            end,
        )],
        label: None,
    }
}

/// Samples per segment when checking labels against edges.
const LABEL_SAMPLES: usize = 48;
/// Side of the cells of the grid that finds edge points near a label.
const CELL: f64 = 16.0;

/// Places each label next to its edge, on the first spot (middle of a curve first)
/// whose rectangle holds no box, no other label and no point of any drawn edge;
/// returns how many labels found no such spot.
fn place_labels(boxes: &[NodeBox], paths: &mut [EdgePath], labels: &[Option<(f64, f64)>]) -> usize {
    let mut crowded = 0;
    let mut grid: HashMap<(i64, i64), Vec<Point>> = HashMap::new();
    for path in paths.iter() {
        for point in path.sample(LABEL_SAMPLES) {
            grid.entry(cell_of(point)).or_default().push(point);
        }
    }
    let mut placed: Vec<(Point, f64, f64)> = Vec::new();
    for (index, path) in paths.iter_mut().enumerate() {
        let Some(&Some((width, height))) = labels.get(index) else {
            continue;
        };
        // Beside the curve: above or below where it runs flat, left or right where
        // it runs steep; the middle of each curve first, then further along it,
        // then twice as far from it.
        let mut candidates: Vec<Point> = Vec::new();
        for distance in [1.0, 2.0] {
            let mut from = path.start;
            for segment in &path.segments {
                if let Segment::Cubic(..) = segment {
                    for t in [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9] {
                        let at = segment.at(from, t);
                        let across = (height / 2.0 + 5.0) * distance;
                        let along = (width / 2.0 + 8.0) * distance;
                        for (dx, dy) in [(0.0, -across), (0.0, across), (along, 0.0), (-along, 0.0)]
                        {
                            candidates.push(Point {
                                x: at.x + dx,
                                y: at.y + dy,
                            });
                        }
                    }
                }
                from = segment.end();
            }
        }
        // (covers a box or a label, edge points under it)
        let cost = |centre: &Point| -> (bool, usize) {
            let (left, right) = (centre.x - width / 2.0, centre.x + width / 2.0);
            let (top, bottom) = (centre.y - height / 2.0, centre.y + height / 2.0);
            let overlaps = |x: f64, y: f64, half_width: f64, half_height: f64| {
                (x - centre.x).abs() < width / 2.0 + half_width
                    && (y - centre.y).abs() < height / 2.0 + half_height
            };
            let blocked = top < 0.0
                || left < 0.0
                || boxes.iter().any(|node| {
                    overlaps(
                        node.x,
                        node.y,
                        node.width / 2.0 + 2.0,
                        node.height / 2.0 + 2.0,
                    )
                })
                || placed.iter().any(|(other, other_width, other_height)| {
                    overlaps(
                        other.x,
                        other.y,
                        other_width / 2.0 + 2.0,
                        other_height / 2.0 + 1.0,
                    )
                });
            let (first, last) = (
                cell_of(Point { x: left, y: top }),
                cell_of(Point {
                    x: right,
                    y: bottom,
                }),
            );
            let mut under = 0;
            for cell_x in first.0 - 1..=last.0 + 1 {
                for cell_y in first.1 - 1..=last.1 + 1 {
                    if let Some(points) = grid.get(&(cell_x, cell_y)) {
                        under += points
                            .iter()
                            .filter(|point| {
                                point.x > left - 1.5
                                    && point.x < right + 1.5
                                    && point.y > top - 1.5
                                    && point.y < bottom + 1.5
                            })
                            .count();
                    }
                }
            }
            (blocked, under)
        };
        // The first free spot; in a crowded drawing, the least covered one.
        let mut chosen: Option<(Point, (bool, usize))> = None;
        for candidate in candidates {
            let score = cost(&candidate);
            if score == (false, 0) {
                chosen = Some((candidate, score));
                break;
            }
            if chosen.is_none_or(|(_, best)| score < best) {
                chosen = Some((candidate, score));
            }
        }
        crowded += usize::from(chosen.is_some_and(|(_, score)| score != (false, 0)));
        let chosen = chosen.map(|(centre, _)| centre);
        if let Some(centre) = chosen {
            placed.push((centre, width, height));
            path.label = Some(centre);
        }
    }
    crowded
}

fn cell_of(point: Point) -> (i64, i64) {
    (
        (point.x / CELL).floor() as i64,
        (point.y / CELL).floor() as i64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(nodes: usize, entries: &[usize], edges: &[(usize, usize)]) -> Graph {
        Graph {
            nodes,
            entries: entries.to_vec(),
            edges: edges.to_vec(),
            labels: vec![Some((20.0, 12.0)); edges.len()],
        }
    }

    #[test]
    fn layers_follow_the_longest_path_from_the_entries_and_cycles_are_turned_around() {
        // 0 → 1 → 2, 0 → 2, 2 → 0 (a cycle back to the entry).
        let drawn = layout(&graph(3, &[0], &[(0, 1), (1, 2), (0, 2), (2, 0)]));
        let layers: Vec<usize> = drawn.nodes.iter().map(|node| node.layer).collect();
        assert_eq!(layers, [0, 1, 2]);
    }

    #[test]
    fn two_entries_with_an_edge_between_them_get_different_layers() {
        let drawn = layout(&graph(3, &[0, 1], &[(0, 1), (1, 0), (1, 2)]));
        assert_ne!(drawn.nodes[0].layer, drawn.nodes[1].layer);
    }

    #[test]
    fn a_ping_pong_pair_is_two_separate_curves() {
        let drawn = layout(&graph(2, &[0], &[(0, 1), (1, 0)]));
        let (there, back) = (&drawn.edges[0], &drawn.edges[1]);
        assert_ne!(there.start.y, back.segments.last().unwrap().end().y);
        assert!(
            there.start.x < back.start.x,
            "B→A starts at B, on the right"
        );
    }

    #[test]
    fn a_long_edge_runs_through_its_own_slots_and_stays_out_of_other_boxes() {
        // 0 → 1 → 2 → 3 and 0 → 3 spanning two layers.
        let drawn = layout(&graph(4, &[0], &[(0, 1), (1, 2), (2, 3), (0, 3)]));
        for point in drawn.edges[3].sample(64) {
            for node in [1, 2] {
                assert!(
                    !drawn.nodes[node].contains(point, 0.5),
                    "{point:?} in box {node}"
                );
            }
        }
    }

    #[test]
    fn barycenter_ordering_untangles_a_crossing() {
        // 0 → 3 and 1 → 2 cross unless 3 is placed above 2.
        let drawn = layout(&graph(4, &[0, 1], &[(0, 3), (1, 2)]));
        assert!(drawn.nodes[0].y < drawn.nodes[1].y);
        assert!(drawn.nodes[3].y < drawn.nodes[2].y);
    }

    #[test]
    fn crossings_are_counted_exactly() {
        let slots: Vec<Slot> = [0, 0, 1, 1]
            .iter()
            .map(|&layer| Slot { real: None, layer })
            .collect();
        let rows = vec![vec![0, 1], vec![2, 3]];
        let position = [0.0, 1.0, 0.0, 1.0];
        assert_eq!(crossings(&rows, &[(0, 3), (1, 2)], &position, &slots), 1);
        assert_eq!(crossings(&rows, &[(0, 2), (1, 3)], &position, &slots), 0);
    }

    #[test]
    fn isotonic_regression_pools_violators() {
        let solved = isotonic(&[(1.0, 1.0), (3.0, 1.0), (2.0, 1.0), (4.0, 2.0)]);
        assert_eq!(solved, [1.0, 2.5, 2.5, 4.0]);
    }
}
