//! A layered (Sugiyama-style) layout for the routing graph, computed in Rust so the
//! SVG needs no external tool: cycles are broken by dropping depth-first back edges
//! from the entry departments, layers come from the longest path over what is left,
//! and a few barycenter sweeps order each layer to cut crossings.
//!
//! Pure: node count and edges in, coordinates out.

/// Where a node goes, in SVG user units (its centre).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub layer: usize,
    pub x: f64,
    pub y: f64,
}

/// Horizontal distance between layers and vertical distance between nodes.
pub const LAYER_GAP: f64 = 230.0;
pub const NODE_GAP: f64 = 80.0;
pub const MARGIN: f64 = 100.0;

/// Lays out `count` nodes (`entries` first in depth-first order) joined by `edges`
/// (`(from, to)` indices). Returns one position per node and the drawing's size.
pub fn layered(
    count: usize,
    entries: &[usize],
    edges: &[(usize, usize)],
) -> (Vec<Position>, f64, f64) {
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(from, to) in edges {
        if from < count && to < count && from != to {
            successors[from].push(to);
        }
    }
    // Depth-first from the entries, then from anything not reached; edges into a node
    // still on the stack are back edges and are ignored for layering.
    // Entries stay in the first layer: edges into an entry are not followed either.
    let mut is_entry = vec![false; count];
    for &entry in entries.iter().filter(|&&entry| entry < count) {
        is_entry[entry] = true;
    }
    let mut state = vec![0u8; count]; // 0 new, 1 on stack, 2 done
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); count];
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
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some((node, next)) = stack.pop() {
            if let Some(&target) = successors[node].get(next) {
                stack.push((node, next + 1));
                if is_entry[target] {
                    continue;
                }
                match state[target] {
                    0 => {
                        forward[node].push(target);
                        state[target] = 1;
                        stack.push((target, 0));
                    }
                    2 => forward[node].push(target),
                    _ => {} // a back edge
                }
            } else {
                state[node] = 2;
            }
        }
    }
    // Longest path over the acyclic forward edges (Kahn's order).
    let mut incoming = vec![0usize; count];
    for targets in &forward {
        for &target in targets {
            incoming[target] += 1;
        }
    }
    let mut layer = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).filter(|&node| incoming[node] == 0).collect();
    while let Some(node) = ready.pop() {
        for &target in &forward[node] {
            layer[target] = layer[target].max(layer[node] + 1);
            incoming[target] -= 1;
            if incoming[target] == 0 {
                ready.push(target);
            }
        }
    }
    let layers = layer.iter().copied().max().map_or(0, |max| max + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for node in 0..count {
        rows[layer[node]].push(node);
    }
    // Barycenter sweeps: order each layer by the mean position of its neighbours in
    // the layer before (downward) or after (upward), over every edge, both directions.
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(from, to) in edges {
        if from < count && to < count && from != to {
            neighbours[from].push(to);
            neighbours[to].push(from);
        }
    }
    let mut order = vec![0.0f64; count];
    let renumber = |rows: &Vec<Vec<usize>>, order: &mut Vec<f64>| {
        for row in rows {
            for (position, &node) in row.iter().enumerate() {
                order[node] = position as f64;
            }
        }
    };
    renumber(&rows, &mut order);
    for sweep in 0..4 {
        let downward = sweep % 2 == 0;
        let indices: Vec<usize> = if downward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for index in indices {
            let reference = if downward { index - 1 } else { index + 1 };
            let mut keyed: Vec<(f64, usize)> = rows[index]
                .iter()
                .map(|&node| {
                    let adjacent: Vec<f64> = neighbours[node]
                        .iter()
                        .filter(|&&other| layer[other] == reference)
                        .map(|&other| order[other])
                        .collect();
                    let key = if adjacent.is_empty() {
                        order[node]
                    } else {
                        adjacent.iter().sum::<f64>() / adjacent.len() as f64
                    };
                    (key, node)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[index] = keyed.into_iter().map(|(_, node)| node).collect();
            for (position, &node) in rows[index].iter().enumerate() {
                order[node] = position as f64;
            }
        }
    }
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0);
    let height = MARGIN * 2.0 + NODE_GAP * tallest.saturating_sub(1) as f64;
    let width = MARGIN * 2.0 + LAYER_GAP * layers.saturating_sub(1) as f64;
    let mut positions = vec![
        Position {
            layer: 0,
            x: 0.0,
            y: 0.0
        };
        count
    ];
    for (index, row) in rows.iter().enumerate() {
        // Centre each layer vertically.
        let offset = (tallest - row.len()) as f64 * NODE_GAP / 2.0;
        for (position, &node) in row.iter().enumerate() {
            positions[node] = Position {
                layer: index,
                x: MARGIN + LAYER_GAP * index as f64,
                y: MARGIN + offset + NODE_GAP * position as f64,
            };
        }
    }
    (positions, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_longest_path_from_the_entries_and_ignore_back_edges() {
        // 0 → 1 → 2, 0 → 2, 2 → 0 (a back edge), 3 unreachable.
        let (positions, _, _) = layered(4, &[0], &[(0, 1), (1, 2), (0, 2), (2, 0)]);
        let layers: Vec<usize> = positions.iter().map(|position| position.layer).collect();
        assert_eq!(layers, [0, 1, 2, 0]);
    }

    #[test]
    fn entries_stay_in_the_first_layer_even_when_one_transfers_to_another() {
        let (positions, _, _) = layered(3, &[0, 1], &[(0, 1), (1, 2), (0, 2)]);
        let layers: Vec<usize> = positions.iter().map(|position| position.layer).collect();
        assert_eq!(layers, [0, 0, 1]);
    }

    #[test]
    fn a_two_node_ping_pong_pair_gets_two_layers() {
        let (positions, width, height) = layered(2, &[0], &[(0, 1), (1, 0)]);
        assert_eq!(positions[0].layer, 0);
        assert_eq!(positions[1].layer, 1);
        assert_eq!(positions[0].y, positions[1].y);
        assert!(width > LAYER_GAP && height >= MARGIN * 2.0);
    }

    #[test]
    fn barycenter_ordering_untangles_a_crossing() {
        // Layer 1 holds 2 and 3; 0 → 3 and 1 → 2 cross unless 3 comes first.
        let (positions, _, _) = layered(4, &[0, 1], &[(0, 3), (1, 2)]);
        assert!(positions[0].y < positions[1].y);
        assert!(positions[3].y < positions[2].y);
    }
}
