//! Per intent: cycles that never reach the owner, and owners too many hops away.
//!
//! The graph of an intent is its explicit transfers (those listing it) plus every
//! wildcard transfer (no `intents`: any intent). Wildcards are shared by all
//! intents, so nothing here walks all of them per intent:
//! - distances to the owners come from a backward search that follows a wildcard
//!   only from a department it reached;
//! - a cycle that uses an explicit transfer lies among the departments reachable
//!   from that transfer's target that also lead back to its source, found by a
//!   forward then a backward search from the intent's explicit transfers;
//! - a cycle of wildcards alone lies in a strongly connected component of the
//!   wildcard graph, computed once. Such a component is trapped for an intent when
//!   no department of it reaches an owner (all of them reach each other, so it is
//!   all or none) and it is not part of a larger cycle through explicit transfers.
//!
//! Work per intent is thus linear in its explicit transfers plus the wildcards those
//! searches reach, not in all wildcards. Each trapped component keeps at most
//! [`SHOWN_INTENTS`] intents (the finding names the first and ten more), which
//! bounds the bookkeeping for components trapping thousands of intents.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use super::Context;
use super::cycles::witness_cycle;
use crate::core::codes::LintCode;
use crate::core::diagnostic::Diagnostic;
use crate::core::graph::{CycleFinder, cyclic_components};
use crate::core::rules::Rules;

/// The first intent a cycle traps plus the ten more the finding's note names.
const SHOWN_INTENTS: usize = 11;

/// A trapped component: its witness cycle and the intents it traps, in order.
type Trap<'a> = (Vec<usize>, Vec<&'a str>);

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

        let wildcards = Wildcards::new(rules, &wildcard, |department| self.rank[department]);
        let mut search = Search::new(rules.departments.len());
        let mut traps: BTreeMap<Vec<usize>, Trap> = BTreeMap::new();
        let mut finder = CycleFinder::new();
        // Wildcard components that may still trap intents worth naming.
        let mut open_components: Vec<usize> = (0..wildcards.components.len()).collect();
        // `absorbed[c] == n`: component `c` is part of a larger cycle for intent `n`.
        let mut absorbed: Vec<usize> = vec![usize::MAX; wildcards.components.len()];

        for (number, intent) in intents.into_iter().enumerate() {
            let transfers = explicit.get(intent).map(Vec::as_slice).unwrap_or(&[]);
            search.load(rules, transfers);
            search.distances_to_owners(rules.owners(intent), &wildcards);

            for &department in &search.reached {
                let hops = search.distance[department];
                if hops <= rules.policy.max_hops || !rules.departments[department].entry {
                    continue;
                }
                let mut path = vec![department];
                let mut step = department;
                while search.distance[step] != 0 {
                    step = search.toward[step];
                    path.push(step);
                }
                findings.push(self.max_hops_finding(intent, &path));
            }

            // Cycles through explicit transfers among departments that cannot reach
            // an owner; the wildcard components they swallow are not trapped alone.
            for (members, cycle) in
                search.explicit_cycles(&wildcards, &mut finder, |department| self.rank[department])
            {
                for &department in &members {
                    if let Some(component) = wildcards.component_of(department) {
                        absorbed[component] = number;
                    }
                }
                trap(&mut traps, members, intent, || cycle);
            }

            for &component in &open_components {
                let members = &wildcards.components[component];
                if search.is_reached(members[0]) || absorbed[component] == number {
                    continue;
                }
                trap(&mut traps, members.clone(), intent, || {
                    wildcards.witness(component, &mut finder, |department| self.rank[department])
                });
            }
            open_components.retain(|&component| {
                traps
                    .get(&wildcards.components[component])
                    .is_none_or(|(_, trapped)| trapped.len() < SHOWN_INTENTS)
            });
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
                    .take(SHOWN_INTENTS - 1)
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

/// Records that the component `members` traps `intent`; the witness cycle is
/// computed only for the first intent it traps.
fn trap<'a>(
    traps: &mut BTreeMap<Vec<usize>, Trap<'a>>,
    members: Vec<usize>,
    intent: &'a str,
    witness: impl FnOnce() -> Vec<usize>,
) {
    match traps.get_mut(&members) {
        Some((_, trapped)) => {
            if trapped.len() < SHOWN_INTENTS && trapped.last() != Some(&intent) {
                trapped.push(intent);
            }
        }
        None => {
            let cycle = witness();
            if !cycle.is_empty() {
                traps.insert(members, (cycle, vec![intent]));
            }
        }
    }
}

/// Adjacency in compressed form: the neighbours of `node` are
/// `targets[offsets[node]..offsets[node + 1]]`, in the order the edges were given.
#[derive(Debug, Default)]
struct Compressed {
    offsets: Vec<usize>,
    targets: Vec<usize>,
}

impl Compressed {
    fn new(node_count: usize, edges: impl Iterator<Item = (usize, usize)> + Clone) -> Self {
        let mut offsets = vec![0; node_count + 1];
        for (from, _) in edges.clone() {
            offsets[from + 1] += 1;
        }
        for node in 0..node_count {
            offsets[node + 1] += offsets[node];
        }
        let mut fill = offsets[..node_count].to_vec();
        let mut targets = vec![0; offsets[node_count]];
        for (from, to) in edges {
            targets[fill[from]] = to;
            fill[from] += 1;
        }
        Self { offsets, targets }
    }

    fn neighbours(&self, node: usize) -> &[usize] {
        &self.targets[self.offsets[node]..self.offsets[node + 1]]
    }
}

/// The wildcard transfers, indexed once for every intent: both directions in
/// declaration order, and their strongly connected components.
struct Wildcards {
    forward: Compressed,
    backward: Compressed,
    /// Components with a cycle, each sorted ascending.
    components: Vec<Vec<usize>>,
    component_of: Vec<u32>,
}

const NO_COMPONENT: u32 = u32::MAX;

impl Wildcards {
    fn new(rules: &Rules, wildcard: &[usize], rank: impl Fn(usize) -> usize) -> Self {
        let count = rules.departments.len();
        let edges = wildcard.iter().map(|&index| {
            let transfer = &rules.transfers[index];
            (transfer.from, transfer.to)
        });
        let forward = Compressed::new(count, edges.clone());
        let backward = Compressed::new(count, edges.map(|(from, to)| (to, from)));
        let mut component_of = vec![NO_COMPONENT; count];
        let mut components = Vec::new();
        if !wildcard.is_empty() {
            // Tarjan over the departments that have wildcards only.
            let mut local_of = vec![usize::MAX; count];
            let mut nodes = Vec::new();
            for &index in wildcard {
                let transfer = &rules.transfers[index];
                for department in [transfer.from, transfer.to] {
                    if local_of[department] == usize::MAX {
                        local_of[department] = nodes.len();
                        nodes.push(department);
                    }
                }
            }
            let successors: Vec<Vec<usize>> = nodes
                .iter()
                .map(|&department| {
                    let mut targets: Vec<usize> = forward
                        .neighbours(department)
                        .iter()
                        .map(|&to| local_of[to])
                        .collect();
                    targets.sort_by_key(|&node| rank(nodes[node]));
                    targets
                })
                .collect();
            for component in cyclic_components(&successors) {
                let mut members: Vec<usize> = component.iter().map(|&node| nodes[node]).collect();
                members.sort_unstable();
                for &department in &members {
                    component_of[department] = components.len() as u32;
                }
                components.push(members);
            }
        }
        Self {
            forward,
            backward,
            components,
            component_of,
        }
    }

    fn component_of(&self, department: usize) -> Option<usize> {
        let component = self.component_of[department];
        (component != NO_COMPONENT).then_some(component as usize)
    }

    /// A shortest cycle of a component's wildcards, starting at its smallest id.
    fn witness(
        &self,
        component: usize,
        finder: &mut CycleFinder,
        rank: impl Fn(usize) -> usize,
    ) -> Vec<usize> {
        let members = &self.components[component];
        let local = |department: usize| members.binary_search(&department).ok();
        let successors: Vec<Vec<usize>> = members
            .iter()
            .map(|&department| {
                let mut targets: Vec<usize> = self
                    .forward
                    .neighbours(department)
                    .iter()
                    .filter_map(|&to| local(to))
                    .collect();
                targets.sort_by_key(|&node| rank(members[node]));
                targets
            })
            .collect();
        let nodes: Vec<usize> = (0..members.len()).collect();
        let in_component = vec![true; members.len()];
        witness_cycle(finder, &nodes, &successors, &in_component, |node| {
            rank(members[node])
        })
        .map(|cycle| cycle.into_iter().map(|node| members[node]).collect())
        .unwrap_or_default()
    }
}

const UNREACHED: u32 = u32::MAX;

/// One intent's searches. Arrays are indexed by department and stamped with the
/// intent's number, so starting the next intent clears nothing.
struct Search {
    epoch: u32,
    /// The intent's explicit transfers as linked lists per department, in
    /// declaration order: `first_out[d]` (valid when `out_stamp[d] == epoch`) is an
    /// index into `edges`, `next_out[k]` the next one from the same department.
    out_stamp: Vec<u32>,
    first_out: Vec<usize>,
    next_out: Vec<usize>,
    in_stamp: Vec<u32>,
    first_in: Vec<usize>,
    next_in: Vec<usize>,
    edges: Vec<(usize, usize)>,
    /// Transfers to the nearest owner (valid when `distance_stamp[d] == epoch`).
    distance_stamp: Vec<u32>,
    distance: Vec<u32>,
    /// The next department toward the nearest owner.
    toward: Vec<usize>,
    /// Departments that reach an owner, in the order the search found them.
    reached: Vec<usize>,
    forward_stamp: Vec<u32>,
    backward_stamp: Vec<u32>,
    queue: Vec<usize>,
}

const NONE: usize = usize::MAX;

impl Search {
    fn new(department_count: usize) -> Self {
        Self {
            epoch: 0,
            out_stamp: vec![0; department_count],
            first_out: vec![NONE; department_count],
            next_out: Vec::new(),
            in_stamp: vec![0; department_count],
            first_in: vec![NONE; department_count],
            next_in: Vec::new(),
            edges: Vec::new(),
            distance_stamp: vec![0; department_count],
            distance: vec![UNREACHED; department_count],
            toward: vec![0; department_count],
            reached: Vec::new(),
            forward_stamp: vec![0; department_count],
            backward_stamp: vec![0; department_count],
            queue: Vec::new(),
        }
    }

    /// Starts a new intent with its explicit transfers (indices in declaration order).
    fn load(&mut self, rules: &Rules, transfers: &[usize]) {
        self.epoch += 1;
        self.edges.clear();
        self.next_out.clear();
        self.next_in.clear();
        self.reached.clear();
        self.edges.extend(transfers.iter().map(|&index| {
            let transfer = &rules.transfers[index];
            (transfer.from, transfer.to)
        }));
        self.next_out.resize(self.edges.len(), NONE);
        self.next_in.resize(self.edges.len(), NONE);
        // Linked in reverse so each list runs in declaration order.
        for edge in (0..self.edges.len()).rev() {
            let (from, to) = self.edges[edge];
            if self.out_stamp[from] != self.epoch {
                self.out_stamp[from] = self.epoch;
                self.first_out[from] = NONE;
            }
            self.next_out[edge] = self.first_out[from];
            self.first_out[from] = edge;
            if self.in_stamp[to] != self.epoch {
                self.in_stamp[to] = self.epoch;
                self.first_in[to] = NONE;
            }
            self.next_in[edge] = self.first_in[to];
            self.first_in[to] = edge;
        }
    }

    fn is_reached(&self, department: usize) -> bool {
        self.distance_stamp[department] == self.epoch
    }

    /// The sources of the explicit transfers into `department`, in declaration order.
    fn explicit_in(&self, department: usize) -> impl Iterator<Item = usize> + '_ {
        let mut edge = if self.in_stamp[department] == self.epoch {
            self.first_in[department]
        } else {
            NONE
        };
        std::iter::from_fn(move || {
            (edge != NONE).then(|| {
                let from = self.edges[edge].0;
                edge = self.next_in[edge];
                from
            })
        })
    }

    /// The targets of the explicit transfers out of `department`, in declaration order.
    fn explicit_out(&self, department: usize) -> impl Iterator<Item = usize> + '_ {
        let mut edge = if self.out_stamp[department] == self.epoch {
            self.first_out[department]
        } else {
            NONE
        };
        std::iter::from_fn(move || {
            (edge != NONE).then(|| {
                let to = self.edges[edge].1;
                edge = self.next_out[edge];
                to
            })
        })
    }

    /// Breadth-first search backwards from the owners, over the explicit transfers
    /// first and then the wildcards into each department reached.
    fn distances_to_owners(&mut self, owners: &[usize], wildcards: &Wildcards) {
        for &owner in owners {
            if !self.is_reached(owner) {
                self.distance_stamp[owner] = self.epoch;
                self.distance[owner] = 0;
                self.toward[owner] = owner;
                self.reached.push(owner);
            }
        }
        let mut head = 0;
        let mut previous = Vec::new();
        while head < self.reached.len() {
            let current = self.reached[head];
            head += 1;
            let next_distance = self.distance[current] + 1;
            previous.clear();
            previous.extend(self.explicit_in(current));
            previous.extend_from_slice(wildcards.backward.neighbours(current));
            for &from in &previous {
                if !self.is_reached(from) {
                    self.distance_stamp[from] = self.epoch;
                    self.distance[from] = next_distance;
                    self.toward[from] = current;
                    self.reached.push(from);
                }
            }
        }
    }

    /// Strongly connected components (with their witness cycles) of the transfers
    /// among departments that cannot reach an owner, restricted to those that hold
    /// at least one explicit transfer. Each as (members sorted, witness cycle).
    fn explicit_cycles(
        &mut self,
        wildcards: &Wildcards,
        finder: &mut CycleFinder,
        rank: impl Fn(usize) -> usize + Copy,
    ) -> Vec<(Vec<usize>, Vec<usize>)> {
        let trapped_edges: Vec<(usize, usize)> = self
            .edges
            .iter()
            .copied()
            .filter(|&(from, to)| !self.is_reached(from) && !self.is_reached(to))
            .collect();
        if trapped_edges.is_empty() {
            return Vec::new();
        }
        let epoch = self.epoch;
        // Forward from the targets of trapped explicit transfers.
        self.queue.clear();
        for &(_, to) in &trapped_edges {
            if self.forward_stamp[to] != epoch {
                self.forward_stamp[to] = epoch;
                self.queue.push(to);
            }
        }
        let mut head = 0;
        let mut next = Vec::new();
        while head < self.queue.len() {
            let current = self.queue[head];
            head += 1;
            next.clear();
            next.extend(self.explicit_out(current));
            next.extend_from_slice(wildcards.forward.neighbours(current));
            for &to in &next {
                if !self.is_reached(to) && self.forward_stamp[to] != epoch {
                    self.forward_stamp[to] = epoch;
                    self.queue.push(to);
                }
            }
        }
        // Backward from their sources, within what the forward search found.
        let mut region: Vec<usize> = Vec::new();
        for &(from, _) in &trapped_edges {
            if self.forward_stamp[from] == epoch && self.backward_stamp[from] != epoch {
                self.backward_stamp[from] = epoch;
                region.push(from);
            }
        }
        let mut head = 0;
        while head < region.len() {
            let current = region[head];
            head += 1;
            next.clear();
            next.extend(self.explicit_in(current));
            next.extend_from_slice(wildcards.backward.neighbours(current));
            for &from in &next {
                if self.forward_stamp[from] == epoch && self.backward_stamp[from] != epoch {
                    self.backward_stamp[from] = epoch;
                    region.push(from);
                }
            }
        }
        if region.len() < 2 {
            return Vec::new();
        }
        // The region's trapped transfers, by local id, successors sorted by rank.
        let mut local_of: HashMap<usize, usize> = HashMap::with_capacity(region.len());
        for (local, &department) in region.iter().enumerate() {
            local_of.insert(department, local);
        }
        let successors: Vec<Vec<usize>> = region
            .iter()
            .map(|&department| {
                let mut targets: Vec<usize> = self
                    .explicit_out(department)
                    .chain(wildcards.forward.neighbours(department).iter().copied())
                    .filter_map(|to| local_of.get(&to).copied())
                    .collect();
                targets.sort_by_key(|&node| rank(region[node]));
                targets
            })
            .collect();
        let components = cyclic_components(&successors);
        let mut component_of = vec![usize::MAX; successors.len()];
        for (index, component) in components.iter().enumerate() {
            for &node in component {
                component_of[node] = index;
            }
        }
        let mut holds_explicit = vec![false; components.len()];
        for (from, to) in &trapped_edges {
            if let (Some(&from), Some(&to)) = (local_of.get(from), local_of.get(to))
                && component_of[from] != usize::MAX
                && component_of[from] == component_of[to]
            {
                holds_explicit[component_of[from]] = true;
            }
        }
        let mut cycles = Vec::new();
        let mut in_component = vec![false; successors.len()];
        for (index, component) in components.iter().enumerate() {
            if !holds_explicit[index] {
                continue;
            }
            for &node in component {
                in_component[node] = true;
            }
            let cycle = witness_cycle(finder, component, &successors, &in_component, |node| {
                rank(region[node])
            });
            for &node in component {
                in_component[node] = false;
            }
            let Some(cycle) = cycle else { continue };
            let mut members: Vec<usize> = component.iter().map(|&node| region[node]).collect();
            members.sort_unstable();
            cycles.push((
                members,
                cycle.into_iter().map(|node| region[node]).collect(),
            ));
        }
        cycles
    }
}
