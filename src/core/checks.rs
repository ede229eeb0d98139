//! The graph checks over a validated [`Rules`] model.
//!
//! Each check reads the model and returns findings; none of them fails. All of them
//! together run in time linear in departments + transfers, plus, per intent, linear
//! in the transfers that allow that intent (a transfer without `intents` allows every
//! intent and so is visited once per intent). No check enumerates simple cycles.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::codes::LintCode;
use super::diagnostic::{Diagnostic, Span};
use super::graph::{CycleFinder, cyclic_components, reachable_from};
use super::rules::model::did_you_mean;
use super::rules::{Rules, TransferMode};

/// Runs every graph and model check. `fallback` is where findings about the whole
/// configuration point when there is no better place (the start of the first file).
pub fn run(rules: &Rules, fallback: Span) -> Vec<Diagnostic> {
    let context = Context::new(rules);
    let mut findings = Vec::new();
    context.entry_points(fallback, &mut findings);
    context.dead_ends(&mut findings);
    context.cold_transfers(&mut findings);
    context.intent_ownership(&mut findings);
    let ping_pong_pairs = context.ping_pong_pairs(&mut findings);
    context.transfer_cycles(&ping_pong_pairs, &mut findings);
    context.per_intent_paths(&mut findings);
    findings
}

struct Context<'a> {
    rules: &'a Rules,
    /// Position of each department when sorted by id: "smallest id" means smallest rank.
    rank: Vec<usize>,
    /// Successor departments, sorted by rank so that searches are deterministic.
    successors: Vec<Vec<usize>>,
}

impl<'a> Context<'a> {
    fn new(rules: &'a Rules) -> Self {
        let mut by_id: Vec<usize> = (0..rules.departments.len()).collect();
        by_id.sort_by(|&left, &right| rules.departments[left].id.cmp(&rules.departments[right].id));
        let mut rank = vec![0; by_id.len()];
        for (position, &department) in by_id.iter().enumerate() {
            rank[department] = position;
        }
        let successors = (0..rules.departments.len())
            .map(|department| {
                let mut targets: Vec<usize> = rules
                    .outgoing(department)
                    .iter()
                    .map(|&transfer| rules.transfers[transfer].to)
                    .collect();
                targets.sort_by_key(|&target| rank[target]);
                targets
            })
            .collect();
        Self {
            rules,
            rank,
            successors,
        }
    }

    fn id(&self, department: usize) -> &str {
        self.rules.departments[department].id.as_str()
    }

    fn describe_cycle(&self, cycle: &[usize]) -> String {
        let mut names: Vec<&str> = cycle
            .iter()
            .map(|&department| self.id(department))
            .collect();
        names.push(self.id(cycle[0]));
        names.join(" → ")
    }

    fn describe_path(&self, path: &[usize]) -> String {
        path.iter()
            .map(|&department| self.id(department))
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// The header span of the transfer between two departments (they are adjacent
    /// in a path or cycle the checks built from the rules' own transfers).
    fn transfer_span(&self, from: usize, to: usize) -> Span {
        self.rules
            .transfer_between(from, to)
            .map(|transfer| transfer.header_span)
            .unwrap_or(self.rules.departments[from].id_span)
    }

    fn entry_points(&self, fallback: Span, findings: &mut Vec<Diagnostic>) {
        let entries: Vec<usize> = (0..self.rules.departments.len())
            .filter(|&department| self.rules.departments[department].entry)
            .collect();
        if entries.is_empty() {
            let finding = match self.rules.departments.first() {
                Some(first) => Diagnostic::new(
                    LintCode::NoEntryPoint,
                    first.header_span,
                    "no department is marked as an entry point, so no call can start anywhere",
                )
                .with_help("add `entry = true` to the departments your IVR or main number routes calls to"),
                None => Diagnostic::new(
                    LintCode::NoEntryPoint,
                    fallback,
                    "no [[department]] is declared, so no call can start anywhere",
                )
                .with_help("declare the departments calls are routed between and mark where calls start with `entry = true`; `loopguard explain no-entry-point` shows an example"),
            };
            findings.push(finding);
            return;
        }
        let reachable = reachable_from(&entries, &self.successors);
        for (department, reached) in reachable.into_iter().enumerate() {
            if !reached {
                let declared = &self.rules.departments[department];
                findings.push(
                    Diagnostic::new(
                        LintCode::UnreachableDepartment,
                        declared.id_span,
                        format!(
                            "department `{}` cannot be reached from any entry point",
                            declared.id
                        ),
                    )
                    .with_primary_label("no chain of transfers from an entry department leads here")
                    .with_help(format!(
                        "add a [[transfer]] with to = \"{}\", mark it `entry = true`, or remove it",
                        declared.id
                    )),
                );
            }
        }
    }

    fn dead_ends(&self, findings: &mut Vec<Diagnostic>) {
        for (index, department) in self.rules.departments.iter().enumerate() {
            if department.handles.is_empty() && self.rules.outgoing(index).is_empty() {
                findings.push(
                    Diagnostic::new(
                        LintCode::DeadEndDepartment,
                        department.id_span,
                        format!(
                            "department `{}` handles no intent and transfers nowhere",
                            department.id
                        ),
                    )
                    .with_primary_label("calls sent here can be neither resolved nor moved on")
                    .with_help(
                        "list the intents it resolves in `handles`, or add a transfer out of it",
                    ),
                );
            }
        }
    }

    fn cold_transfers(&self, findings: &mut Vec<Diagnostic>) {
        let policy = &self.rules.policy;
        if !policy.require_warm_transfer {
            return;
        }
        for transfer in &self.rules.transfers {
            if transfer.mode != TransferMode::Cold {
                continue;
            }
            let mut finding = Diagnostic::new(
                LintCode::ColdTransferAllowed,
                transfer.mode_span.unwrap_or(transfer.header_span),
                format!(
                    "cold transfer `{}` → `{}` is allowed, but policy requires warm transfers",
                    self.id(transfer.from),
                    self.id(transfer.to)
                ),
            )
            .with_primary_label("cold (blind) transfer")
            .with_help("set mode = \"warm\", or set require_warm_transfer = false if cold transfers are acceptable");
            if let Some(required) = policy.require_warm_transfer_span {
                finding = finding.with_label(required, "warm transfers required here");
            }
            findings.push(finding);
        }
    }

    fn intent_ownership(&self, findings: &mut Vec<Diagnostic>) {
        let rules = self.rules;
        let catalog: HashSet<&str> = rules
            .intents
            .iter()
            .map(|intent| intent.id.as_str())
            .collect();
        if !catalog.is_empty() {
            let references = rules
                .departments
                .iter()
                .flat_map(|department| department.handles.iter().zip(&department.handles_spans))
                .chain(rules.transfers.iter().flat_map(|transfer| {
                    transfer
                        .intents
                        .iter()
                        .flatten()
                        .zip(&transfer.intent_spans)
                }));
            for (intent, &at) in references {
                if catalog.contains(intent.as_str()) {
                    continue;
                }
                let finding = Diagnostic::new(
                    LintCode::UnknownIntent,
                    at,
                    format!("intent `{intent}` is not in the [[intent]] catalog"),
                )
                .with_primary_label("not declared");
                findings.push(
                    match did_you_mean(intent.as_str(), catalog.iter().copied()) {
                        Some(suggestion) => {
                            finding.with_help(format!("did you mean `{suggestion}`?"))
                        }
                        None => finding.with_help(format!(
                            "add an [[intent]] with id = \"{intent}\", or use a declared intent"
                        )),
                    },
                );
            }
        }

        // Every intent that is routed or declared, in order of first mention.
        let mut mentions: Vec<(&str, Vec<Span>)> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mentioned = rules
            .transfers
            .iter()
            .flat_map(|transfer| {
                transfer
                    .intents
                    .iter()
                    .flatten()
                    .zip(&transfer.intent_spans)
            })
            .chain(
                rules
                    .intents
                    .iter()
                    .map(|declared| (&declared.id, &declared.id_span)),
            );
        for (intent, &at) in mentioned {
            let slot = *position.entry(intent.as_str()).or_insert_with(|| {
                mentions.push((intent.as_str(), Vec::new()));
                mentions.len() - 1
            });
            mentions[slot].1.push(at);
        }
        for (intent, spans) in mentions {
            if !rules.owners(intent).is_empty() {
                continue;
            }
            let routed = spans.len();
            let mut finding = Diagnostic::new(
                LintCode::IntentWithoutOwner,
                spans[0],
                format!(
                    "no department handles `{intent}`, so calls for it can only be passed around"
                ),
            )
            .with_primary_label("routed here, but nobody owns it")
            .with_help(format!(
                "add \"{intent}\" to the `handles` of the one department that resolves it"
            ));
            for &other in spans.iter().skip(1).take(5) {
                finding = finding.with_label(other, "also routed here");
            }
            if routed > 6 {
                finding = finding.with_note(format!("mentioned {routed} times in all"));
            }
            findings.push(finding);
        }

        for (intent, owners) in rules.owned_intents() {
            if owners.len() < 2 {
                continue;
            }
            let span_of = |department: usize| {
                let declared = &rules.departments[department];
                declared
                    .handles
                    .iter()
                    .position(|handled| handled.as_str() == intent)
                    .map(|position| declared.handles_spans[position])
                    .unwrap_or(declared.id_span)
            };
            let names: Vec<&str> = owners.iter().map(|&owner| self.id(owner)).collect();
            let mut finding = Diagnostic::new(
                LintCode::AmbiguousIntentOwner,
                span_of(owners[1]),
                format!(
                    "intent `{intent}` is handled by {} departments: {}",
                    owners.len(),
                    names.join(", ")
                ),
            )
            .with_primary_label("second owner")
            .with_label(span_of(owners[0]), "first owner")
            .with_help(
                "give each intent exactly one owner, or split it into more specific intents",
            );
            for &owner in owners.iter().skip(2).take(5) {
                finding = finding.with_label(span_of(owner), "another owner");
            }
            findings.push(finding);
        }
    }

    /// Reports A→B and B→A allowed for a common intent; returns the pairs found.
    fn ping_pong_pairs(&self, findings: &mut Vec<Diagnostic>) -> HashSet<(usize, usize)> {
        let mut pairs = HashSet::new();
        for forward in &self.rules.transfers {
            if self.rank[forward.from] > self.rank[forward.to] {
                continue;
            }
            let Some(backward) = self.rules.transfer_between(forward.to, forward.from) else {
                continue;
            };
            let common: Option<Vec<&str>> = match (&forward.intents, &backward.intents) {
                (None, None) => None,
                (Some(only), None) | (None, Some(only)) => {
                    Some(only.iter().map(|intent| intent.as_str()).collect())
                }
                (Some(left), Some(right)) => Some(
                    left.iter()
                        .filter(|intent| right.contains(intent))
                        .map(|intent| intent.as_str())
                        .collect(),
                ),
            };
            if common.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            pairs.insert((forward.from.min(forward.to), forward.from.max(forward.to)));
            let (first, second) = if forward.header_span <= backward.header_span {
                (forward, backward)
            } else {
                (backward, forward)
            };
            let shared = match &common {
                None => "any intent (neither transfer lists `intents`)".to_owned(),
                Some(intents) => intents
                    .iter()
                    .map(|intent| format!("`{intent}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let (a, b) = (self.id(first.from), self.id(first.to));
            findings.push(
                Diagnostic::new(
                    LintCode::PingPongPair,
                    first.header_span,
                    format!("`{a}` and `{b}` may transfer the same calls to each other"),
                )
                .with_primary_label(format!("`{a}` → `{b}`"))
                .with_label(second.header_span, format!("`{b}` → `{a}`"))
                .with_note(format!("both directions allow {shared}"))
                .with_help(format!(
                    "decide which of `{a}` and `{b}` owns these calls: add the intent to its `handles` and remove it from the transfer that sends it back"
                )),
            );
        }
        pairs
    }

    fn transfer_cycles(
        &self,
        ping_pong_pairs: &HashSet<(usize, usize)>,
        findings: &mut Vec<Diagnostic>,
    ) {
        let mut in_component = vec![false; self.successors.len()];
        let mut finder = CycleFinder::new();
        for component in cyclic_components(&self.successors) {
            if component.len() == 2 && ping_pong_pairs.contains(&(component[0], component[1])) {
                continue;
            }
            for &department in &component {
                in_component[department] = true;
            }
            let cycle = witness_cycle(
                &mut finder,
                &component,
                &self.successors,
                &in_component,
                |department| self.rank[department],
            );
            for &department in &component {
                in_component[department] = false;
            }
            let Some(cycle) = cycle else { continue };
            findings.push(self.cycle_finding(
                LintCode::TransferCycle,
                &cycle,
                format!("transfers form a cycle: {}", self.describe_cycle(&cycle)),
                component.len(),
                "a call can be passed around this circle and come back where it started; remove or narrow one transfer, or suppress this with a reason if the cycle is intended",
            ));
        }
    }

    fn cycle_finding(
        &self,
        code: LintCode,
        cycle: &[usize],
        message: String,
        component_size: usize,
        help: &str,
    ) -> Diagnostic {
        let edges: Vec<(usize, usize)> = (0..cycle.len())
            .map(|position| (cycle[position], cycle[(position + 1) % cycle.len()]))
            .collect();
        let mut finding =
            Diagnostic::new(code, self.transfer_span(edges[0].0, edges[0].1), message)
                .with_primary_label(format!(
                    "`{}` → `{}`",
                    self.id(edges[0].0),
                    self.id(edges[0].1)
                ));
        for &(from, to) in &edges[1..] {
            finding = finding.with_label(
                self.transfer_span(from, to),
                format!("then `{}` → `{}`", self.id(from), self.id(to)),
            );
        }
        if component_size > cycle.len() {
            finding = finding.with_note(if component_size <= EXACT_WITNESS_LIMIT {
                format!(
                    "{component_size} departments can all reach each other here; the cycle shown is one of the shortest among them"
                )
            } else {
                format!(
                    "{component_size} departments can all reach each other here; the cycle shown is a shortest one through `{}`",
                    self.id(cycle[0])
                )
            });
        }
        finding.with_help(help.to_owned())
    }

    /// Per intent: cycles that never reach the intent's owner, and entry points too
    /// many hops away from it.
    fn per_intent_paths(&self, findings: &mut Vec<Diagnostic>) {
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

/// Largest strongly connected component for which the witness is a shortest cycle of
/// the whole component (one breadth-first search per member). Beyond it, the witness
/// is a shortest cycle through the smallest id, which keeps the check linear.
const EXACT_WITNESS_LIMIT: usize = 64;

/// The cycle shown for a strongly connected component: a shortest one, starting at
/// the smallest id on it (by `rank`); ties go to the cycle through the smaller id.
fn witness_cycle(
    finder: &mut CycleFinder,
    component: &[usize],
    successors: &[Vec<usize>],
    in_component: &[bool],
    rank: impl Fn(usize) -> usize,
) -> Option<Vec<usize>> {
    let mut members = component.to_vec();
    members.sort_by_key(|&node| rank(node));
    let candidates = if members.len() <= EXACT_WITNESS_LIMIT {
        &members[..]
    } else {
        &members[..1]
    };
    let mut best: Option<Vec<usize>> = None;
    for &start in candidates {
        // A cycle through `start` that visits a smaller id was already found from
        // that id with the same length, so only strictly shorter cycles replace it;
        // the kept cycle therefore starts at its own smallest id.
        if let Some(cycle) =
            finder.shortest_cycle_through(start, successors, |node| in_component[node])
            && best.as_ref().is_none_or(|best| cycle.len() < best.len())
        {
            let done = cycle.len() == 2;
            best = Some(cycle);
            if done {
                break;
            }
        }
    }
    best
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
