//! Per intent: cycles that never reach the owner, and owners too many hops away.

use std::collections::{BTreeMap, HashMap};

use super::Context;
use super::cycles::witness_cycle;
use crate::core::codes::LintCode;
use crate::core::diagnostic::Diagnostic;
use crate::core::graph::{CycleFinder, cyclic_components};
use crate::core::rules::Rules;

impl Context<'_> {
    /// Per intent: cycles that never reach the intent's owner, and entry points too
    /// many hops away from it.
    pub(super) fn per_intent_paths(&self, findings: &mut Vec<Diagnostic>) {
        let rules = self.rules;
        let mut explicit: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut wildcard = Vec::new();
        for (index, transfer) in rules.transfers.iter().enumerate() {
            match &transfer.intents {
                None => wildcard.push(index),
                Some(intents) => {
                    for intent in intents {
                        explicit.entry(intent.as_str()).or_default().push(index);
                    }
                }
            }
        }
        let mut intents: Vec<&str> = rules
            .owned_intents()
            .map(|(intent, _)| intent)
            .filter(|intent| !wildcard.is_empty() || explicit.contains_key(intent))
            .collect();
        intents.sort_unstable();

        let mut scratch = IntentScratch::new(rules.departments.len());
        let mut traps: BTreeMap<Vec<usize>, (Vec<usize>, Vec<&str>)> = BTreeMap::new();
        let mut finder = CycleFinder::new();

        for intent in intents {
            let transfers = explicit.get(intent).into_iter().flatten().chain(&wildcard);
            scratch.load(rules, rules.owners(intent), transfers);
            scratch.distances_to_owners();

            for position in 0..scratch.nodes.len() {
                let hops = scratch.distance[position];
                let department = scratch.nodes[position];
                if hops == UNREACHED
                    || hops <= rules.policy.max_hops
                    || !rules.departments[department].entry
                {
                    continue;
                }
                let mut path = vec![department];
                let mut step = position;
                while scratch.distance[step] != 0 {
                    step = scratch.toward[step] as usize;
                    path.push(scratch.nodes[step]);
                }
                findings.push(self.max_hops_finding(intent, &path));
            }

            // Cycles among departments that cannot reach an owner. Most intents have
            // none: peeling sources and sinks first keeps the usual case linear and
            // allocation-free; only a remaining core goes through Tarjan.
            let Some((core_nodes, successors)) = scratch.trapped_core(|node| self.rank[node])
            else {
                continue;
            };
            for component in cyclic_components(&successors) {
                let mut members: Vec<usize> =
                    component.iter().map(|&node| core_nodes[node]).collect();
                members.sort_unstable();
                if let Some((_, trapped_intents)) = traps.get_mut(&members) {
                    trapped_intents.push(intent);
                    continue;
                }
                let mut in_component = vec![false; successors.len()];
                for &node in &component {
                    in_component[node] = true;
                }
                if let Some(cycle) = witness_cycle(
                    &mut finder,
                    &component,
                    &successors,
                    &in_component,
                    |node| self.rank[core_nodes[node]],
                ) {
                    let cycle = cycle.into_iter().map(|node| core_nodes[node]).collect();
                    traps.insert(members, (cycle, vec![intent]));
                }
            }
        }

        for (members, (cycle, trapped_intents)) in traps {
            let first = trapped_intents[0];
            let owners: Vec<&str> = rules
                .owners(first)
                .iter()
                .map(|&owner| self.id(owner))
                .collect();
            let mut finding = self.cycle_finding(
                LintCode::InescapableCycle,
                &cycle,
                format!(
                    "calls for `{first}` can circle {} but never reach `{}`, which handles it",
                    self.describe_cycle(&cycle),
                    owners.join("`, `")
                ),
                members.len(),
                "add a transfer from one of these departments toward the intent's owner, or let one of them handle the intent",
            );
            if trapped_intents.len() > 1 {
                let others: Vec<String> = trapped_intents[1..]
                    .iter()
                    .take(10)
                    .map(|intent| format!("`{intent}`"))
                    .collect();
                finding = finding.with_note(format!("the same cycle traps {}", others.join(", ")));
            }
            findings.push(finding);
        }
    }

    fn max_hops_finding(&self, intent: &str, path: &[usize]) -> Diagnostic {
        let rules = self.rules;
        let hops = path.len() - 1;
        let entry = &rules.departments[path[0]];
        let owner = self.id(path[hops]);
        let mut finding = Diagnostic::new(
            LintCode::MaxHopsExceeded,
            entry.entry_span,
            format!(
                "calls for `{intent}` entering at `{}` need {hops} transfers to reach `{owner}`, more than max_hops = {}",
                entry.id, rules.policy.max_hops
            ),
        )
        .with_primary_label("entry point")
        .with_note(format!("shortest allowed path: {}", self.describe_path(path)));
        for (step, pair) in path.windows(2).enumerate() {
            finding = finding.with_label(
                self.transfer_span(pair[0], pair[1]),
                format!("transfer {} of {hops}", step + 1),
            );
        }
        if let Some(limit) = rules.policy.max_hops_span {
            finding = finding.with_label(limit, "limit set here");
        }
        finding.with_help(format!(
            "add a more direct transfer toward `{owner}` for `{intent}`, or raise max_hops"
        ))
    }
}

const UNREACHED: u32 = u32::MAX;

/// Buffers reused across intents, so the per-intent pass allocates nothing in the
/// usual case. Departments touched by an intent's transfers get dense local ids.
struct IntentScratch {
    stamp: Vec<u32>,
    local_of: Vec<u32>,
    epoch: u32,
    /// Local id → department.
    nodes: Vec<usize>,
    owners: Vec<u32>,
    edges: Vec<(u32, u32)>,
    /// Predecessors in compressed form: `incoming[offsets[v]..offsets[v + 1]]`.
    offsets: Vec<u32>,
    incoming: Vec<u32>,
    /// Transfers to the nearest owner, `UNREACHED` when none.
    distance: Vec<u32>,
    /// The next department toward the nearest owner.
    toward: Vec<u32>,
    queue: Vec<u32>,
    in_degree: Vec<u32>,
    out_degree: Vec<u32>,
    trapped_edges: Vec<(u32, u32)>,
    peel: Peel,
}

/// Buffers of the source/sink peeling, reused across intents.
#[derive(Default)]
struct Peel {
    forward: Compressed,
    backward: Compressed,
    alive: Vec<bool>,
}

/// Adjacency in compressed form: the neighbours of `node` are
/// `targets[offsets[node]..offsets[node + 1]]`.
#[derive(Default)]
struct Compressed {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    fill: Vec<u32>,
}

impl Compressed {
    fn compress(
        &mut self,
        edges: &[(u32, u32)],
        node_count: usize,
        orient: impl Fn((u32, u32)) -> (u32, u32),
    ) {
        self.offsets.clear();
        self.offsets.resize(node_count + 1, 0);
        for &edge in edges {
            self.offsets[orient(edge).0 as usize + 1] += 1;
        }
        for node in 0..node_count {
            self.offsets[node + 1] += self.offsets[node];
        }
        self.targets.clear();
        self.targets.resize(edges.len(), 0);
        self.fill.clear();
        self.fill.extend_from_slice(&self.offsets[..node_count]);
        for &edge in edges {
            let (from, to) = orient(edge);
            self.targets[self.fill[from as usize] as usize] = to;
            self.fill[from as usize] += 1;
        }
    }

    fn neighbours(&self, node: usize) -> &[u32] {
        &self.targets[self.offsets[node] as usize..self.offsets[node + 1] as usize]
    }
}

impl IntentScratch {
    fn new(department_count: usize) -> Self {
        Self {
            stamp: vec![0; department_count],
            local_of: vec![0; department_count],
            epoch: 0,
            nodes: Vec::new(),
            owners: Vec::new(),
            edges: Vec::new(),
            offsets: Vec::new(),
            incoming: Vec::new(),
            distance: Vec::new(),
            toward: Vec::new(),
            queue: Vec::new(),
            in_degree: Vec::new(),
            out_degree: Vec::new(),
            trapped_edges: Vec::new(),
            peel: Peel::default(),
        }
    }

    fn local(&mut self, department: usize) -> u32 {
        if self.stamp[department] != self.epoch {
            self.stamp[department] = self.epoch;
            self.local_of[department] = self.nodes.len() as u32;
            self.nodes.push(department);
        }
        self.local_of[department]
    }

    /// Loads the intent's graph: its owners and the transfers that allow it.
    fn load<'t>(
        &mut self,
        rules: &Rules,
        owners: &[usize],
        transfers: impl Iterator<Item = &'t usize>,
    ) {
        self.epoch += 1;
        self.nodes.clear();
        self.owners.clear();
        self.edges.clear();
        for &owner in owners {
            let local = self.local(owner);
            self.owners.push(local);
        }
        for &transfer in transfers {
            let transfer = &rules.transfers[transfer];
            let edge = (self.local(transfer.from), self.local(transfer.to));
            self.edges.push(edge);
        }
        let node_count = self.nodes.len();
        self.offsets.clear();
        self.offsets.resize(node_count + 1, 0);
        for &(_, to) in &self.edges {
            self.offsets[to as usize + 1] += 1;
        }
        for node in 0..node_count {
            self.offsets[node + 1] += self.offsets[node];
        }
        self.incoming.clear();
        self.incoming.resize(self.edges.len(), 0);
        let mut fill = self.offsets[..node_count].to_vec();
        for &(from, to) in &self.edges {
            self.incoming[fill[to as usize] as usize] = from;
            fill[to as usize] += 1;
        }
    }

    /// Breadth-first search backwards from the owners.
    fn distances_to_owners(&mut self) {
        let node_count = self.nodes.len();
        self.distance.clear();
        self.distance.resize(node_count, UNREACHED);
        self.toward.clear();
        self.toward.resize(node_count, 0);
        self.queue.clear();
        for &owner in &self.owners {
            if self.distance[owner as usize] == UNREACHED {
                self.distance[owner as usize] = 0;
                self.toward[owner as usize] = owner;
                self.queue.push(owner);
            }
        }
        let mut head = 0;
        while head < self.queue.len() {
            let current = self.queue[head];
            head += 1;
            let next_distance = self.distance[current as usize] + 1;
            let range = self.offsets[current as usize] as usize
                ..self.offsets[current as usize + 1] as usize;
            for index in range {
                let previous = self.incoming[index];
                if self.distance[previous as usize] == UNREACHED {
                    self.distance[previous as usize] = next_distance;
                    self.toward[previous as usize] = current;
                    self.queue.push(previous);
                }
            }
        }
    }

    /// The part of the trapped graph (edges between departments that cannot reach
    /// an owner) that can hold a cycle: repeatedly drop nodes without trapped
    /// in-edges or out-edges. Returns the remaining departments and their successor
    /// lists (sorted by `rank`), or `None` when nothing remains.
    fn trapped_core(
        &mut self,
        rank: impl Fn(usize) -> usize,
    ) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
        let node_count = self.nodes.len();
        let trapped = |edge: &(u32, u32), distance: &[u32]| {
            distance[edge.0 as usize] == UNREACHED && distance[edge.1 as usize] == UNREACHED
        };
        self.in_degree.clear();
        self.in_degree.resize(node_count, 0);
        self.out_degree.clear();
        self.out_degree.resize(node_count, 0);
        let mut any = false;
        for edge in &self.edges {
            if trapped(edge, &self.distance) {
                self.out_degree[edge.0 as usize] += 1;
                self.in_degree[edge.1 as usize] += 1;
                any = true;
            }
        }
        if !any {
            return None;
        }
        // Peel sources and sinks with a work queue (Kahn's algorithm in both
        // directions), linear in the trapped edges.
        let mut trapped_edges = std::mem::take(&mut self.trapped_edges);
        trapped_edges.clear();
        trapped_edges.extend(
            self.edges
                .iter()
                .copied()
                .filter(|edge| trapped(edge, &self.distance)),
        );
        let mut peel = std::mem::take(&mut self.peel);
        peel.forward
            .compress(&trapped_edges, node_count, |edge| edge);
        peel.backward
            .compress(&trapped_edges, node_count, |(from, to)| (to, from));
        peel.alive.clear();
        peel.alive.extend(
            (0..node_count).map(|node| self.in_degree[node] > 0 && self.out_degree[node] > 0),
        );
        let alive = &mut peel.alive;
        self.queue.clear();
        self.queue
            .extend((0..node_count as u32).filter(|&node| !alive[node as usize]));
        while let Some(node) = self.queue.pop() {
            let node = node as usize;
            for &next in peel.forward.neighbours(node) {
                let next = next as usize;
                self.in_degree[next] -= 1;
                if alive[next] && self.in_degree[next] == 0 {
                    alive[next] = false;
                    self.queue.push(next as u32);
                }
            }
            for &previous in peel.backward.neighbours(node) {
                let previous = previous as usize;
                self.out_degree[previous] -= 1;
                if alive[previous] && self.out_degree[previous] == 0 {
                    alive[previous] = false;
                    self.queue.push(previous as u32);
                }
            }
        }
        let alive = std::mem::take(&mut peel.alive);
        self.trapped_edges = trapped_edges;
        self.peel = peel;
        let result = self.core_from(&alive, rank);
        self.peel.alive = alive;
        result
    }

    /// The departments still alive after peeling and their trapped successors.
    fn core_from(
        &self,
        alive: &[bool],
        rank: impl Fn(usize) -> usize,
    ) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
        let node_count = self.nodes.len();
        let trapped = |edge: &(u32, u32)| {
            self.distance[edge.0 as usize] == UNREACHED
                && self.distance[edge.1 as usize] == UNREACHED
        };
        if !alive.iter().any(|&alive| alive) {
            return None;
        }
        let mut core_of = vec![usize::MAX; node_count];
        let mut core_nodes = Vec::new();
        for node in 0..node_count {
            if alive[node] {
                core_of[node] = core_nodes.len();
                core_nodes.push(self.nodes[node]);
            }
        }
        let mut successors = vec![Vec::new(); core_nodes.len()];
        for edge in &self.edges {
            let (from, to) = (edge.0 as usize, edge.1 as usize);
            if trapped(edge) && alive[from] && alive[to] {
                successors[core_of[from]].push(core_of[to]);
            }
        }
        for list in &mut successors {
            list.sort_by_key(|&node| rank(core_nodes[node]));
        }
        Some((core_nodes, successors))
    }
}
