//! Property tests of the graph checks and of `Rules::route` against brute-force
//! reference models.
//!
//! Each case is a small random routing configuration (at most eight departments
//! `d0`..`d7`, intents `i0`..`i3`), written as TOML text and linted through the
//! public entry point. The reference models below work on adjacency matrices with
//! Floyd–Warshall shortest distances; they never call the code under test. With
//! single-digit ids, "smallest id" is the smallest department number.

use std::collections::{BTreeMap, BTreeSet};

use loopguard::core::codes::LintCode;
use loopguard::core::diagnostic::Diagnostic;
use loopguard::core::lint::{LintReport, lint};
use loopguard::core::rules::Route;
use loopguard::core::source::SourceFile;
use proptest::collection::vec;
use proptest::prelude::*;

const INTENT_COUNT: usize = 4;
const MAX_DEPARTMENTS: usize = 8;

/// A routing configuration in terms the reference models can read directly.
#[derive(Debug, Clone)]
struct Config {
    entry: Vec<bool>,
    /// Bit `k` set: the department handles intent `ik`.
    handles: Vec<u8>,
    /// `transfers[from][to]`: `None` when there is no transfer, `Some(None)` when
    /// it omits `intents` (any intent), `Some(Some(mask))` for an explicit list.
    transfers: Vec<Vec<Option<Option<u8>>>>,
    max_hops: u32,
    /// Order in which departments are declared (ids do not follow declaration order).
    department_order: Vec<usize>,
    /// Order in which transfers are declared.
    transfer_order: Vec<(usize, usize)>,
}

impl Config {
    fn size(&self) -> usize {
        self.entry.len()
    }

    fn has_transfer(&self, from: usize, to: usize) -> bool {
        self.transfers[from][to].is_some()
    }

    fn allows(&self, from: usize, to: usize, intent: usize) -> bool {
        match self.transfers[from][to] {
            None => false,
            Some(None) => true,
            Some(Some(mask)) => mask & (1 << intent) != 0,
        }
    }

    fn owners(&self, intent: usize) -> Vec<usize> {
        (0..self.size())
            .filter(|&department| self.handles[department] & (1 << intent) != 0)
            .collect()
    }

    fn to_toml(&self) -> String {
        let mut text = format!("[policy]\nmax_hops = {}\n", self.max_hops);
        for &department in &self.department_order {
            text.push_str(&format!("\n[[department]]\nid = \"d{department}\"\n"));
            // Alternate between `entry = false` and leaving `entry` out.
            if self.entry[department] {
                text.push_str("entry = true\n");
            } else if department % 2 == 0 {
                text.push_str("entry = false\n");
            }
            let handled = intent_names(self.handles[department]);
            text.push_str(&format!("handles = [{handled}]\n"));
        }
        for &(from, to) in &self.transfer_order {
            text.push_str(&format!(
                "\n[[transfer]]\nfrom = \"d{from}\"\nto = \"d{to}\"\n"
            ));
            if let Some(Some(mask)) = self.transfers[from][to] {
                text.push_str(&format!("intents = [{}]\n", intent_names(mask)));
            }
        }
        text
    }

    fn lint(&self) -> LintReport {
        lint(&[SourceFile::new("p.toml", self.to_toml())])
    }
}

fn intent_names(mask: u8) -> String {
    (0..INTENT_COUNT)
        .filter(|&intent| mask & (1 << intent) != 0)
        .map(|intent| format!("\"i{intent}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Edge density varies per case so that both sparse (acyclic, unreachable parts)
/// and dense (one big component) graphs come up. Everything shrinks toward fewer
/// departments, fewer transfers and fewer intents.
fn config() -> impl Strategy<Value = Config> {
    let handles = prop_oneof![
        2 => Just(0_u8),
        3 => (0..INTENT_COUNT).prop_map(|intent| 1_u8 << intent),
        1 => 0_u8..16,
    ];
    let intents = prop_oneof![
        6 => (1_u8..16).prop_map(Some),
        1 => Just(None),
    ];
    (1..=MAX_DEPARTMENTS, 5_u8..60)
        .prop_flat_map(move |(size, density)| {
            let transfer = (0_u8..100, intents.clone())
                .prop_map(move |(roll, intents)| (roll >= 100 - density).then_some(intents));
            (
                vec(prop::bool::weighted(0.3), size),
                vec(handles.clone(), size),
                vec(vec(transfer, size), size),
                1_u32..=3,
                Just((0..size).collect::<Vec<_>>()).prop_shuffle(),
            )
        })
        .prop_flat_map(
            |(entry, handles, mut transfers, max_hops, department_order)| {
                let mut pairs = Vec::new();
                for (from, row) in transfers.iter_mut().enumerate() {
                    row[from] = None;
                    for (to, transfer) in row.iter().enumerate() {
                        if transfer.is_some() {
                            pairs.push((from, to));
                        }
                    }
                }
                (
                    Just(entry),
                    Just(handles),
                    Just(transfers),
                    Just(max_hops),
                    Just(department_order),
                    Just(pairs).prop_shuffle(),
                )
            },
        )
        .prop_map(
            |(entry, handles, transfers, max_hops, department_order, transfer_order)| Config {
                entry,
                handles,
                transfers,
                max_hops,
                department_order,
                transfer_order,
            },
        )
}

// ---------------------------------------------------------------------------
// Reference models
// ---------------------------------------------------------------------------

/// All-pairs shortest distances in edges (Floyd–Warshall); `dist[i][i] = Some(0)`.
fn all_pairs_distances(size: usize, edge: impl Fn(usize, usize) -> bool) -> Vec<Vec<Option<u32>>> {
    let mut distance = vec![vec![None; size]; size];
    for (from, row) in distance.iter_mut().enumerate() {
        for (to, cell) in row.iter_mut().enumerate() {
            if from == to {
                *cell = Some(0);
            } else if edge(from, to) {
                *cell = Some(1);
            }
        }
    }
    for middle in 0..size {
        for from in 0..size {
            for to in 0..size {
                if let (Some(first), Some(second)) = (distance[from][middle], distance[middle][to])
                {
                    let through = first + second;
                    if distance[from][to].is_none_or(|direct| through < direct) {
                        distance[from][to] = Some(through);
                    }
                }
            }
        }
    }
    distance
}

/// Length of a shortest cycle through `start`, in edges.
fn shortest_cycle_length(
    start: usize,
    distance: &[Vec<Option<u32>>],
    edge: impl Fn(usize, usize) -> bool,
) -> Option<u32> {
    (0..distance.len())
        .filter(|&last| last != start && edge(last, start))
        .filter_map(|last| distance[start][last].map(|length| length + 1))
        .min()
}

/// Groups of at least two nodes that can all reach each other.
fn nontrivial_components(
    distance: &[Vec<Option<u32>>],
    member: impl Fn(usize) -> bool,
) -> BTreeSet<BTreeSet<usize>> {
    let size = distance.len();
    (0..size)
        .filter(|&node| member(node))
        .map(|node| {
            (0..size)
                .filter(|&other| {
                    member(other)
                        && distance[node][other].is_some()
                        && distance[other][node].is_some()
                })
                .collect::<BTreeSet<usize>>()
        })
        .filter(|component| component.len() > 1)
        .collect()
}

/// Whether some intent is allowed in both directions (an omitted list allows any).
fn shares_an_intent(forward: Option<u8>, backward: Option<u8>) -> bool {
    match (forward, backward) {
        (None, None) => true,
        (Some(only), None) | (None, Some(only)) => only != 0,
        (Some(left), Some(right)) => left & right != 0,
    }
}

/// Distance from each department to the nearest owner of `intent`, over the
/// transfers that allow it.
fn distance_to_owner(config: &Config, intent: usize) -> Vec<Option<u32>> {
    let distance = all_pairs_distances(config.size(), |from, to| config.allows(from, to, intent));
    let owners = config.owners(intent);
    (0..config.size())
        .map(|department| {
            owners
                .iter()
                .filter_map(|&owner| distance[department][owner])
                .min()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Reading findings
// ---------------------------------------------------------------------------

fn findings(report: &LintReport, code: LintCode) -> Vec<&Diagnostic> {
    report
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == code)
        .collect()
}

/// The `backquoted` parts of a message, in order.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn department_number(name: &str) -> usize {
    name.trim()
        .strip_prefix('d')
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("not a generated department id: {name:?}"))
}

fn intent_number(name: &str) -> usize {
    name.strip_prefix('i')
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("not a generated intent: {name:?}"))
}

/// "d0 → d1 → d0" as department numbers.
fn parse_chain(text: &str) -> Vec<usize> {
    text.split('→').map(department_number).collect()
}

fn text_between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text
        .find(before)
        .unwrap_or_else(|| panic!("{before:?} not in {text:?}"))
        + before.len();
    let end = text[start..]
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {text:?}"))
        + start;
    &text[start..end]
}

/// A closed walk "a → b → … → a" as the list of departments without the repeat.
fn open_cycle(chain: Vec<usize>) -> Result<Vec<usize>, TestCaseError> {
    prop_assert!(chain.len() >= 3, "a cycle needs two departments: {chain:?}");
    prop_assert_eq!(chain.first(), chain.last(), "cycle does not close");
    let mut cycle = chain;
    cycle.pop();
    Ok(cycle)
}

/// The size of the component a cycle finding stands for: its note when the
/// component is larger than the cycle, otherwise the cycle's length.
fn component_size(finding: &Diagnostic, cycle_length: usize) -> usize {
    finding
        .notes
        .iter()
        .find_map(|note| {
            note.split_once(" departments can all reach each other")
                .and_then(|(count, _)| count.parse().ok())
        })
        .unwrap_or(cycle_length)
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_cycle_finding_exists_exactly_when_the_transfer_graph_has_a_cycle(config in config()) {
        let report = config.lint();
        let distance = all_pairs_distances(config.size(), |from, to| config.has_transfer(from, to));
        let has_cycle = (0..config.size()).any(|start| {
            shortest_cycle_length(start, &distance, |from, to| config.has_transfer(from, to)).is_some()
        });
        let reported = !findings(&report, LintCode::TransferCycle).is_empty()
            || !findings(&report, LintCode::PingPongPair).is_empty();
        prop_assert_eq!(reported, has_cycle, "\n{}", config.to_toml());
    }

    #[test]
    fn each_cyclic_component_has_one_witness_among_its_shortest_cycles_starting_at_its_smallest_id(
        config in config()
    ) {
        let report = config.lint();
        let edge = |from: usize, to: usize| config.has_transfer(from, to);
        let distance = all_pairs_distances(config.size(), edge);
        let is_ping_pong = |component: &BTreeSet<usize>| {
            let pair: Vec<usize> = component.iter().copied().collect();
            pair.len() == 2
                && shares_an_intent(
                    config.transfers[pair[0]][pair[1]].flatten(),
                    config.transfers[pair[1]][pair[0]].flatten(),
                )
        };
        let expected: BTreeSet<BTreeSet<usize>> = nontrivial_components(&distance, |_| true)
            .into_iter()
            .filter(|component| !is_ping_pong(component))
            .collect();

        let mut witnessed = BTreeSet::new();
        for finding in findings(&report, LintCode::TransferCycle) {
            let chain = finding
                .message
                .strip_prefix("transfers form a cycle: ")
                .map(parse_chain)
                .unwrap_or_default();
            let cycle = open_cycle(chain)?;
            for (position, &from) in cycle.iter().enumerate() {
                let to = cycle[(position + 1) % cycle.len()];
                prop_assert!(edge(from, to), "no transfer d{} → d{} in {:?}", from, to, finding.message);
            }
            let component = expected
                .iter()
                .find(|component| component.contains(&cycle[0]))
                .cloned();
            prop_assert!(component.is_some(), "unexpected cycle finding {:?}\n{}", finding.message, config.to_toml());
            let component = component.unwrap_or_default();
            prop_assert!(cycle.iter().all(|department| component.contains(department)));
            prop_assert_eq!(Some(&cycle[0]), cycle.iter().min(), "witness does not start at its smallest id");
            prop_assert_eq!(
                component.iter().filter_map(|&node| shortest_cycle_length(node, &distance, edge)).min(),
                Some(cycle.len() as u32),
                "witness {:?} is not a shortest cycle of its component\n{}", finding.message, config.to_toml()
            );
            prop_assert_eq!(component_size(finding, cycle.len()), component.len());
            prop_assert!(witnessed.insert(component), "two findings for one component");
        }
        prop_assert_eq!(witnessed, expected, "\n{}", config.to_toml());
    }

    #[test]
    fn ping_pong_is_reported_for_exactly_the_pairs_sharing_an_intent_both_ways(config in config()) {
        let report = config.lint();
        let mut expected = BTreeSet::new();
        for first in 0..config.size() {
            for second in first + 1..config.size() {
                if let (Some(forward), Some(backward)) =
                    (config.transfers[first][second], config.transfers[second][first])
                    && shares_an_intent(forward, backward)
                {
                    expected.insert((first, second));
                }
            }
        }
        let mut reported = Vec::new();
        for finding in findings(&report, LintCode::PingPongPair) {
            let names = quoted(&finding.message);
            prop_assert_eq!(names.len(), 2, "{:?}", finding.message);
            let (a, b) = (department_number(names[0]), department_number(names[1]));
            reported.push((a.min(b), a.max(b)));
        }
        let reported_set: BTreeSet<_> = reported.iter().copied().collect();
        prop_assert_eq!(reported.len(), reported_set.len(), "a pair is reported twice");
        prop_assert_eq!(reported_set, expected, "\n{}", config.to_toml());
    }

    #[test]
    fn unreachable_departments_are_exactly_those_no_entry_reaches(config in config()) {
        let report = config.lint();
        let entries: Vec<usize> = (0..config.size()).filter(|&department| config.entry[department]).collect();
        let no_entry = findings(&report, LintCode::NoEntryPoint).len();
        prop_assert_eq!(no_entry, usize::from(entries.is_empty()));

        let distance = all_pairs_distances(config.size(), |from, to| config.has_transfer(from, to));
        let expected: BTreeSet<usize> = if entries.is_empty() {
            BTreeSet::new()
        } else {
            (0..config.size())
                .filter(|&department| entries.iter().all(|&entry| distance[entry][department].is_none()))
                .collect()
        };
        let reported: BTreeSet<usize> = findings(&report, LintCode::UnreachableDepartment)
            .iter()
            .map(|finding| department_number(quoted(&finding.message)[0]))
            .collect();
        prop_assert_eq!(reported, expected, "\n{}", config.to_toml());
    }

    #[test]
    fn max_hops_is_reported_for_entries_whose_shortest_path_to_an_owner_is_too_long(
        config in config()
    ) {
        let report = config.lint();
        let mut expected = BTreeMap::new();
        for intent in 0..INTENT_COUNT {
            let to_owner = distance_to_owner(&config, intent);
            for (department, &distance) in to_owner.iter().enumerate() {
                if let Some(hops) = distance
                    && config.entry[department]
                    && hops > config.max_hops
                {
                    expected.insert((intent, department), hops);
                }
            }
        }
        let mut reported = BTreeMap::new();
        for finding in findings(&report, LintCode::MaxHopsExceeded) {
            let names = quoted(&finding.message);
            prop_assert_eq!(names.len(), 3, "{:?}", finding.message);
            let intent = intent_number(names[0]);
            let entry = department_number(names[1]);
            let owner = department_number(names[2]);
            let hops: u32 = text_between(&finding.message, " need ", " transfers")
                .parse()
                .unwrap_or(u32::MAX);
            let path = finding
                .notes
                .iter()
                .find_map(|note| note.strip_prefix("shortest allowed path: "))
                .map(parse_chain)
                .unwrap_or_default();
            prop_assert_eq!(path.first(), Some(&entry));
            prop_assert_eq!(path.last(), Some(&owner));
            prop_assert!(config.owners(intent).contains(&owner));
            prop_assert_eq!(path.len() as u32, hops + 1);
            for step in path.windows(2) {
                prop_assert!(config.allows(step[0], step[1], intent), "path {:?} is not allowed", path);
            }
            prop_assert!(reported.insert((intent, entry), hops).is_none(), "reported twice");
        }
        prop_assert_eq!(reported, expected, "\n{}", config.to_toml());
    }

    #[test]
    fn inescapable_cycles_are_exactly_the_cycles_among_departments_that_cannot_reach_an_owner(
        config in config()
    ) {
        let report = config.lint();
        // Component (as a set of departments) → the owned intents it traps, ascending.
        let mut expected: BTreeMap<BTreeSet<usize>, Vec<usize>> = BTreeMap::new();
        for intent in 0..INTENT_COUNT {
            if config.owners(intent).is_empty() {
                continue;
            }
            let trapped: Vec<bool> = distance_to_owner(&config, intent).iter().map(Option::is_none).collect();
            let distance = all_pairs_distances(config.size(), |from, to| {
                trapped[from] && trapped[to] && config.allows(from, to, intent)
            });
            for component in nontrivial_components(&distance, |department| trapped[department]) {
                expected.entry(component).or_default().push(intent);
            }
        }

        let mut reported: BTreeMap<BTreeSet<usize>, Vec<usize>> = BTreeMap::new();
        for finding in findings(&report, LintCode::InescapableCycle) {
            let names = quoted(&finding.message);
            prop_assert!(names.len() >= 2, "{:?}", finding.message);
            let first = intent_number(names[0]);
            let owners: BTreeSet<usize> = names[1..].iter().map(|name| department_number(name)).collect();
            prop_assert_eq!(owners, config.owners(first).into_iter().collect::<BTreeSet<_>>());
            let mut intents = vec![first];
            if let Some(note) = finding.notes.iter().find(|note| note.starts_with("the same cycle traps")) {
                intents.extend(quoted(note).into_iter().map(intent_number));
            }
            let cycle = open_cycle(parse_chain(text_between(&finding.message, "can circle ", " but never")))?;
            for (position, &from) in cycle.iter().enumerate() {
                let to = cycle[(position + 1) % cycle.len()];
                prop_assert!(config.allows(from, to, first), "d{} → d{} does not allow i{}", from, to, first);
            }
            let component = expected
                .keys()
                .find(|component| component.contains(&cycle[0]) && expected[*component].contains(&first))
                .cloned();
            prop_assert!(component.is_some(), "unexpected finding {:?}\n{}", finding.message, config.to_toml());
            let component = component.unwrap_or_default();
            prop_assert!(cycle.iter().all(|department| component.contains(department)));
            prop_assert_eq!(Some(&cycle[0]), cycle.iter().min(), "witness does not start at its smallest id");
            let trapped: Vec<bool> = distance_to_owner(&config, first).iter().map(Option::is_none).collect();
            let edge = |from: usize, to: usize| trapped[from] && trapped[to] && config.allows(from, to, first);
            let distance = all_pairs_distances(config.size(), edge);
            prop_assert_eq!(component.iter().filter_map(|&node| shortest_cycle_length(node, &distance, edge)).min(), Some(cycle.len() as u32));
            prop_assert_eq!(component_size(finding, cycle.len()), component.len());
            prop_assert!(reported.insert(component, intents).is_none(), "two findings for one component");
        }
        prop_assert_eq!(reported, expected, "\n{}", config.to_toml());
    }

    #[test]
    fn route_finds_a_shortest_allowed_path_to_an_owner_whenever_one_exists(config in config()) {
        let report = config.lint();
        let rules = &report.rules;
        let number_of = |index: usize| department_number(rules.departments[index].id.as_str());
        for intent in 0..INTENT_COUNT {
            let to_owner = distance_to_owner(&config, intent);
            let owners = config.owners(intent);
            for (department, &shortest) in to_owner.iter().enumerate() {
                let index = rules.department(&format!("d{department}"));
                prop_assert!(index.is_some());
                let route = rules.route(index.unwrap_or_default(), &format!("i{intent}"));
                match (route, shortest) {
                    (Route::NoOwner, _) => prop_assert!(owners.is_empty()),
                    (Route::NoPath, distance) => {
                        prop_assert!(!owners.is_empty());
                        prop_assert_eq!(distance, None);
                    }
                    (Route::Found(path), distance) => {
                        let path: Vec<usize> = path.into_iter().map(number_of).collect();
                        prop_assert_eq!(path.first(), Some(&department));
                        prop_assert!(path.last().is_some_and(|last| owners.contains(last)));
                        for step in path.windows(2) {
                            prop_assert!(config.allows(step[0], step[1], intent), "{:?} for i{}", path, intent);
                        }
                        prop_assert_eq!(Some(path.len() as u32 - 1), distance, "{:?} for i{}", path, intent);
                    }
                }
            }
        }
        prop_assert_eq!(rules.route(0, "nobody_handles_this"), Route::NoOwner);
    }

    #[test]
    fn linting_the_same_text_twice_gives_identical_findings(config in config()) {
        let first = config.lint();
        let second = config.lint();
        prop_assert_eq!(first.diagnostics, second.diagnostics);
    }
}
