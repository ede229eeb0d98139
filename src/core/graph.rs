//! Graph algorithms the checks use, over plain successor lists (`successors[node]`)
//! so that property tests can compare them with brute-force oracles. Every function
//! here runs in time linear in nodes + edges.

use std::collections::VecDeque;

use petgraph::graph::{DiGraph, NodeIndex};

/// Strongly connected components with more than one node (our graphs have no
/// self-loops), each sorted ascending. Tarjan's algorithm via petgraph.
pub fn cyclic_components(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut graph = DiGraph::<(), ()>::with_capacity(successors.len(), 0);
    for _ in 0..successors.len() {
        graph.add_node(());
    }
    for (from, targets) in successors.iter().enumerate() {
        for &to in targets {
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), ());
        }
    }
    petgraph::algo::tarjan_scc(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let mut nodes: Vec<usize> = component.into_iter().map(NodeIndex::index).collect();
            nodes.sort_unstable();
            nodes
        })
        .collect()
}

/// Finds shortest cycles through given nodes. Keeps its buffers between calls and
/// resets only what a search touched, so many searches in small components of a big
/// graph cost what the components cost, not the graph.
#[derive(Debug, Default)]
pub struct CycleFinder {
    previous: Vec<usize>,
    touched: Vec<usize>,
    queue: VecDeque<usize>,
}

impl CycleFinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shortest cycle through `start`, using only nodes for which `allowed` is
    /// true, as the list of nodes starting with `start` (the edge back to `start` is
    /// implied). Breadth-first, visiting successors in list order, so ties are
    /// deterministic.
    pub fn shortest_cycle_through(
        &mut self,
        start: usize,
        successors: &[Vec<usize>],
        allowed: impl Fn(usize) -> bool,
    ) -> Option<Vec<usize>> {
        if self.previous.len() < successors.len() {
            self.previous.resize(successors.len(), usize::MAX);
        }
        let found = self.search(start, successors, allowed);
        for node in self.touched.drain(..) {
            self.previous[node] = usize::MAX;
        }
        self.queue.clear();
        found
    }

    fn search(
        &mut self,
        start: usize,
        successors: &[Vec<usize>],
        allowed: impl Fn(usize) -> bool,
    ) -> Option<Vec<usize>> {
        self.previous[start] = start;
        self.touched.push(start);
        self.queue.push_back(start);
        while let Some(current) = self.queue.pop_front() {
            for &next in &successors[current] {
                if next == start {
                    let mut cycle = vec![current];
                    let mut step = current;
                    while step != start {
                        step = self.previous[step];
                        cycle.push(step);
                    }
                    cycle.reverse();
                    return Some(cycle);
                }
                if self.previous[next] == usize::MAX && allowed(next) {
                    self.previous[next] = current;
                    self.touched.push(next);
                    self.queue.push_back(next);
                }
            }
        }
        None
    }
}

/// A shortest cycle through `start` (see [`CycleFinder::shortest_cycle_through`]).
pub fn shortest_cycle_through(
    start: usize,
    successors: &[Vec<usize>],
    allowed: impl Fn(usize) -> bool,
) -> Option<Vec<usize>> {
    CycleFinder::new().shortest_cycle_through(start, successors, allowed)
}

/// Which nodes are reachable from any of `sources` (sources included).
pub fn reachable_from(sources: &[usize], successors: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; successors.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for &source in sources {
        if !seen[source] {
            seen[source] = true;
            queue.push_back(source);
        }
    }
    while let Some(current) = queue.pop_front() {
        for &next in &successors[current] {
            if !seen[next] {
                seen[next] = true;
                queue.push_back(next);
            }
        }
    }
    seen
}

/// Breadth-first distances (in edges) from the nearest of `sources`; `None` where
/// unreachable. Also returns, for each reached node, the neighbour one step closer
/// to a source (itself for sources).
pub fn distances_from(
    sources: &[usize],
    successors: &[Vec<usize>],
) -> (Vec<Option<u32>>, Vec<usize>) {
    let mut distance = vec![None; successors.len()];
    let mut toward = vec![usize::MAX; successors.len()];
    let mut queue = VecDeque::new();
    for &source in sources {
        if distance[source].is_none() {
            distance[source] = Some(0);
            toward[source] = source;
            queue.push_back(source);
        }
    }
    while let Some(current) = queue.pop_front() {
        let next_distance = distance[current].map(|value| value + 1);
        for &next in &successors[current] {
            if distance[next].is_none() {
                distance[next] = next_distance;
                toward[next] = current;
                queue.push_back(next);
            }
        }
    }
    (distance, toward)
}
