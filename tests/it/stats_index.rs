//! Property tests of the incremental statistics index against the batch statistics
//! (`core::stats`' one-pass functions, the reference model).
//!
//! Random transfers (late ones included, so a later hop can become a bounce), ends,
//! callback marks and evictions are fed to the real engine; after each event the index
//! is told about the changed call, as the stores do after a commit. Then, for random
//! windows with nanosecond edges, every number and list the dashboard shows must be
//! what the batch functions compute from the engine's calls.

use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{
    CallId, CallOutcome, CallRecord, CallbackRequest, CallbackStatus, EndRequest, Engine, EventId,
    PromiseCloseRequest, PromiseEvent, PromiseId, PromiseOutcome, PromiseRequest, TransferRequest,
};
use loopguard::core::rules::{Rules, TransferMode};
use loopguard::core::stats::{
    self, CallbackCursor, FlaggedCursor, FollowUpCursor, StatsIndex, Window, views,
};
use proptest::prelude::*;

/// The rules, ping-pong pair and all (the lint error it has is what makes bounces).
fn rules_from(text: &str) -> Rules {
    let report = loopguard::core::lint::lint(&[loopguard::core::source::SourceFile::new(
        "rules.toml",
        text,
    )]);
    assert_eq!(
        report.rules.departments.len(),
        4,
        "{:?}",
        report.diagnostics
    );
    report.rules
}

const RULES: &str = r#"
[policy]
max_hops = 4
bounce_window = "30m"
callback_within = "2h"
require_warm_transfer = true
require_callback_number = true

[policy.actions]
ping-pong = "block"
cold-transfer = "warn"
missing-callback-number = "warn"

[[department]]
id = "front"
name = "Front Desk"
entry = true
handles = ["general"]

[[department]]
id = "sales"
name = "Sales"
handles = ["buy"]

[[department]]
id = "billing"
name = "Billing"
handles = ["pay"]

[[department]]
id = "support"
name = "Support"
handles = ["fix"]

[[transfer]]
from = "front"
to = "sales"

[[transfer]]
from = "sales"
to = "front"

[[transfer]]
from = "front"
to = "billing"

[[transfer]]
from = "billing"
to = "support"
"#;

/// Known departments first, then names the rules do not know.
const DEPARTMENTS: [&str; 7] = ["front", "sales", "billing", "support", "porting", "x", "zz"];
const EPOCH: i64 = 1_800_000_000;

#[derive(Debug, Clone)]
enum Event {
    Transfer {
        call: usize,
        from: usize,
        to: usize,
        /// Seconds after the epoch (up to three days) and nanoseconds.
        at: (i64, i32),
        cold: bool,
        number: bool,
        agent: Option<usize>,
    },
    End {
        call: usize,
        at: (i64, i32),
        outcome: CallOutcome,
    },
    Callback {
        call: usize,
        done: bool,
        at: (i64, i32),
    },
    Promise {
        call: usize,
        promise: usize,
        due: (i64, i32),
        department: Option<usize>,
        at: (i64, i32),
    },
    ClosePromise {
        call: usize,
        promise: usize,
        kept: bool,
        at: (i64, i32),
    },
    /// Forget calls that ended before this many seconds after the epoch.
    Evict(i64),
}

fn time() -> impl Strategy<Value = (i64, i32)> {
    (0i64..3 * 86_400, 0i32..1_000_000_000)
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0usize..8, 0usize..7, 0usize..7, time(), any::<bool>(), any::<bool>(), prop::option::of(0usize..3)).prop_map(
            |(call, from, to, at, cold, number, agent)| Event::Transfer { call, from, to, at, cold, number, agent }
        ),
        2 => (0usize..8, time(), prop_oneof![
            Just(CallOutcome::Resolved),
            Just(CallOutcome::Disconnected),
            Just(CallOutcome::Abandoned)
        ])
            .prop_map(|(call, at, outcome)| Event::End { call, at, outcome }),
        1 => (0usize..8, any::<bool>(), time()).prop_map(|(call, done, at)| Event::Callback { call, done, at }),
        2 => (0usize..8, 0usize..3, time(), prop::option::of(0usize..7), time()).prop_map(
            |(call, promise, due, department, at)| Event::Promise { call, promise, due, department, at }
        ),
        1 => (0usize..8, 0usize..3, any::<bool>(), time()).prop_map(
            |(call, promise, kept, at)| Event::ClosePromise { call, promise, kept, at }
        ),
        1 => (0i64..3 * 86_400).prop_map(Event::Evict),
    ]
}

fn at((second, nanosecond): (i64, i32)) -> Timestamp {
    Timestamp::new(EPOCH + second, nanosecond).expect("valid time")
}

fn call_id(call: usize) -> CallId {
    CallId::parse(&format!("call-{call}")).expect("valid call id")
}

/// Feeds the events to the engine and the index as a store would.
fn run(rules: &Rules, events: &[Event]) -> (Engine, StatsIndex) {
    let mut engine = Engine::new();
    let mut index = StatsIndex::from_calls([], Some(rules));
    for (number, event) in events.iter().enumerate() {
        let event_id = EventId::parse(&format!("e{number}")).expect("valid event id");
        let changed = match event {
            Event::Transfer {
                call,
                from,
                to,
                at: time,
                cold,
                number,
                agent,
            } => {
                let request = TransferRequest {
                    event_id,
                    call_id: call_id(*call),
                    from: DEPARTMENTS[*from].to_owned(),
                    to: DEPARTMENTS[*to].to_owned(),
                    mode: Some(if *cold {
                        TransferMode::Cold
                    } else {
                        TransferMode::Warm
                    }),
                    intent: None,
                    callback_number: number.then(|| "+14155550123".to_owned()),
                    agent_id: agent.map(|agent| format!("agent-{agent}")),
                    occurred_at: Some(at(*time)),
                };
                engine
                    .transfer(rules, request, at(*time))
                    .ok()
                    .map(|_| *call)
            }
            Event::End {
                call,
                at: time,
                outcome,
            } => {
                let request = EndRequest {
                    event_id,
                    call_id: call_id(*call),
                    outcome: *outcome,
                    occurred_at: Some(at(*time)),
                };
                engine.end_call(request, at(*time)).ok().map(|_| *call)
            }
            Event::Callback {
                call,
                done,
                at: time,
            } => {
                let request = CallbackRequest {
                    event_id,
                    call_id: call_id(*call),
                    status: if *done {
                        CallbackStatus::Done
                    } else {
                        CallbackStatus::Failed
                    },
                    note: Some("no answer".to_owned()),
                    occurred_at: Some(at(*time)),
                };
                engine
                    .mark_callback(request, at((0, 0)))
                    .ok()
                    .map(|_| *call)
            }
            Event::Promise {
                call,
                promise,
                due,
                department,
                at: time,
            } => {
                let request = PromiseRequest {
                    event_id,
                    call_id: call_id(*call),
                    promise_id: PromiseId::parse(&format!("p{promise}")).expect("valid id"),
                    text: "call back about the refund".to_owned(),
                    due_at: at(*due),
                    department: department.map(|department| DEPARTMENTS[department].to_owned()),
                    occurred_at: Some(at(*time)),
                };
                engine
                    .promise(rules, PromiseEvent::Make(request), at(*time))
                    .ok()
                    .map(|_| *call)
            }
            Event::ClosePromise {
                call,
                promise,
                kept,
                at: time,
            } => {
                let request = PromiseCloseRequest {
                    event_id,
                    call_id: call_id(*call),
                    promise_id: PromiseId::parse(&format!("p{promise}")).expect("valid id"),
                    status: if *kept {
                        PromiseOutcome::Kept
                    } else {
                        PromiseOutcome::Broken
                    },
                    note: None,
                    occurred_at: Some(at(*time)),
                };
                engine
                    .promise(rules, PromiseEvent::Close(request), at(*time))
                    .ok()
                    .map(|_| *call)
            }
            Event::Evict(second) => {
                for evicted in engine.evict_ended_before(at((*second, 0))) {
                    index.remove(&evicted);
                }
                None
            }
        };
        if let Some(call) = changed {
            let record = engine.call(call_id(call).as_str()).expect("a changed call");
            index.update(record);
        }
    }
    (engine, index)
}

fn window() -> impl Strategy<Value = Window> {
    (
        -3_600i64..4 * 86_400,
        0i32..1_000_000_000,
        0i64..4 * 86_400,
        0i32..1_000_000_000,
        prop_oneof![Just(300i64), Just(3_600), Just(21_600), 1i64..100_000],
    )
        .prop_map(|(from, from_nanos, length, to_nanos, interval)| {
            let from = Timestamp::new(EPOCH + from, from_nanos).expect("valid time");
            let to = Timestamp::new(from.as_second() + length, to_nanos).expect("valid time");
            Window {
                from,
                to,
                interval_seconds: interval,
            }
        })
}

fn all_flagged(
    index: &StatsIndex,
    window: &Window,
    page_size: usize,
) -> (Vec<stats::FlaggedCall>, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<FlaggedCursor> = None;
    loop {
        let page = index.flagged(window, cursor.as_ref(), page_size);
        assert!(page.items.len() <= page_size);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(FlaggedCursor::decode(&next).expect("own cursor")),
            None => return (items, page.total),
        }
    }
}

fn all_callbacks(
    index: &StatsIndex,
    now: Timestamp,
    page_size: usize,
) -> (Vec<stats::CallbackOwed>, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<CallbackCursor> = None;
    loop {
        let page = index.callbacks_owed(now, cursor.as_ref(), page_size);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(CallbackCursor::decode(&next).expect("own cursor")),
            None => return (items, page.total),
        }
    }
}

fn all_follow_ups(
    index: &StatsIndex,
    now: Timestamp,
    page_size: usize,
) -> (Vec<stats::FollowUp>, u64, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<FollowUpCursor> = None;
    loop {
        let page = index.follow_ups(now, cursor.as_ref(), page_size);
        assert!(page.items.len() <= page_size);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(FollowUpCursor::decode(&next).expect("own cursor")),
            None => return (items, page.total, page.overdue),
        }
    }
}

fn all_pair_calls(
    index: &StatsIndex,
    window: &Window,
    pair: (&str, &str),
    page_size: usize,
) -> (Vec<stats::FlaggedCall>, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<FlaggedCursor> = None;
    loop {
        let page = index.pair_calls(window, pair, cursor.as_ref(), page_size);
        assert!(page.items.len() <= page_size);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(FlaggedCursor::decode(&next).expect("own cursor")),
            None => return (items, page.total),
        }
    }
}

/// Follow-ups, the departments table's follow-up columns and the overdue counts
/// against the batch functions, for the rules the index was last told about.
fn check_follow_ups(
    index: &StatsIndex,
    rules: &Rules,
    calls: &[&CallRecord],
    windows: &[Window],
    now: Timestamp,
    page_size: usize,
) -> Result<(), TestCaseError> {
    let within = rules.policy.callback_within;
    let expected = stats::follow_ups(calls.iter().copied(), within, now);
    let (items, total, overdue) = all_follow_ups(index, now, page_size);
    prop_assert_eq!(total, expected.len() as u64);
    prop_assert_eq!(
        overdue,
        expected.iter().filter(|item| item.overdue).count() as u64
    );
    prop_assert_eq!(items, expected);
    for window in windows {
        let (rows, _) = views::departments_table(index, rules, window, 10, now);
        prop_assert_eq!(
            rows,
            stats::departments_table(calls.iter().copied(), rules, window, now)
        );
    }
    let expected = stats::callbacks_owed(calls.iter().copied(), within, now);
    let (owed, total) = all_callbacks(index, now, page_size);
    prop_assert_eq!(total, expected.len() as u64);
    prop_assert_eq!(owed, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn follow_ups_agents_and_pairs_match_the_batch_statistics_even_after_a_policy_change(
        events in prop::collection::vec(event(), 1..40),
        windows in prop::collection::vec(window(), 1..4),
        page_size in 1usize..4,
        now in time(),
    ) {
        let rules = rules_from(RULES);
        let (engine, mut index) = run(&rules, &events);
        let calls: Vec<&CallRecord> = engine.calls().collect();
        let now = at(now);
        check_follow_ups(&index, &rules, &calls, &windows, now, page_size)?;
        for window in &windows {
            prop_assert_eq!(
                views::agents_table(&index, window),
                stats::agents_table(calls.iter().copied(), window)
            );
            for a in DEPARTMENTS {
                for b in DEPARTMENTS {
                    let expected = stats::pair_calls(calls.iter().copied(), window, (a, b), usize::MAX);
                    let (found, total) = all_pair_calls(&index, window, (a, b), page_size);
                    prop_assert_eq!(total, expected.len() as u64, "{} {}", a, b);
                    prop_assert_eq!(found, expected);
                }
            }
            let matrix = stats::bounce_matrix(calls.iter().copied(), &rules, window);
            let rows = stats::departments_table(calls.iter().copied(), &rules, window, now);
            prop_assert_eq!(
                views::hotspots(&index, &rules, window, 10, 3, now),
                stats::hotspots(&matrix, &rows, 3)
            );
        }
        // The policy changes: every done callback is judged on time or late again.
        for changed in ["callback_within = \"30m\"", ""] {
            let text = RULES.replace("callback_within = \"2h\"", changed);
            let rules = rules_from(&text);
            index.set_rules(&rules);
            check_follow_ups(&index, &rules, &calls, &windows, now, page_size)?;
        }
    }

    #[test]
    fn the_index_answers_every_window_as_the_batch_statistics_do(
        events in prop::collection::vec(event(), 1..40),
        windows in prop::collection::vec(window(), 1..6),
        page_size in 1usize..4,
    ) {
        let rules = rules_from(RULES);
        let (engine, index) = run(&rules, &events);
        let calls: Vec<&CallRecord> = engine.calls().collect();
        let now = at((3 * 86_400, 5));
        let edge = Window::ending_at(now, SignedDuration::from_hours(1), SignedDuration::from_mins(5));
        for window in windows.iter().chain([&edge]) {
            let calls = calls.iter().copied();
            prop_assert_eq!(index.overview(window), stats::overview(calls.clone(), window));
            prop_assert_eq!(
                views::bounce_matrix(&index, &rules, window, 10),
                stats::bounce_matrix(calls.clone(), &rules, window)
            );
            let (rows, other) = views::departments_table(&index, &rules, window, 10, now);
            prop_assert_eq!(rows, stats::departments_table(calls.clone(), &rules, window, now));
            prop_assert_eq!(other, None);
            prop_assert_eq!(
                views::graph_traffic(&index, &rules, window, 10),
                stats::graph_traffic(calls.clone(), &rules, window)
            );
            let expected = stats::flagged_calls(calls.clone(), window, usize::MAX);
            let (flagged, total) = all_flagged(&index, window, page_size);
            prop_assert_eq!(total, expected.len() as u64);
            prop_assert_eq!(flagged, expected);
        }
        let expected = stats::callbacks_owed(calls.iter().copied(), rules.policy.callback_within, now);
        let (owed, total) = all_callbacks(&index, now, page_size);
        prop_assert_eq!(total, expected.len() as u64);
        prop_assert_eq!(owed, expected);
        prop_assert_eq!(index.len(), calls.len());
    }

    #[test]
    fn merging_unknown_departments_keeps_every_count(
        events in prop::collection::vec(event(), 1..40),
        window in window(),
        shown in 0usize..3,
    ) {
        let rules = rules_from(RULES);
        let (engine, index) = run(&rules, &events);
        let calls: Vec<&CallRecord> = engine.calls().collect();
        let full = stats::bounce_matrix(calls.iter().copied(), &rules, &window);
        let capped = views::bounce_matrix(&index, &rules, &window, shown);
        let unknown_seen = full.departments.len() - rules.departments.len();
        prop_assert!(capped.departments.len() <= rules.departments.len() + shown + 1);
        prop_assert_eq!(capped.other_unknown.is_some(), unknown_seen > shown);
        let total = |grid: &Vec<Vec<u64>>| grid.iter().flatten().sum::<u64>();
        prop_assert_eq!(total(&capped.transfers), total(&full.transfers));
        prop_assert_eq!(total(&capped.blocked), total(&full.blocked));
        prop_assert_eq!(total(&capped.bounces), total(&full.bounces));
        prop_assert_eq!(total(&capped.blocked_bounces), total(&full.blocked_bounces));
        // Rows of the rules' departments into the rules' departments are untouched.
        let known = rules.departments.len();
        for from in 0..known {
            prop_assert_eq!(&capped.transfers[from][..known], &full.transfers[from][..known]);
        }
    }
}

#[test]
fn unknown_departments_beyond_the_bound_are_counted_but_not_kept_apart() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let mut index = StatsIndex::new(3);
    index.set_rules(&rules);
    let start = at((0, 0));
    for number in 0..10 {
        let request = TransferRequest {
            event_id: EventId::parse(&format!("e{number}")).unwrap(),
            call_id: call_id(number),
            from: "front".to_owned(),
            to: format!("unknown-{number}"),
            mode: Some(TransferMode::Warm),
            intent: None,
            callback_number: Some("+14155550123".to_owned()),
            agent_id: None,
            occurred_at: Some(start),
        };
        engine.transfer(&rules, request, start).unwrap();
        index.update(engine.call(call_id(number).as_str()).unwrap());
    }
    assert_eq!(index.names().unknown_kept(), 3);
    let window = Window::ending_at(
        at((60, 0)),
        SignedDuration::from_hours(1),
        SignedDuration::from_mins(5),
    );
    let matrix = views::bounce_matrix(&index, &rules, &window, 2);
    assert_eq!(matrix.departments.len(), rules.departments.len() + 3);
    let other = matrix.other_unknown.clone().expect("a merged row");
    assert_eq!((other.departments, other.untracked), (1, true));
    assert_eq!(
        matrix.transfers[0].iter().sum::<u64>(),
        10,
        "every transfer from front is counted"
    );
    assert_eq!(index.overview(&window).transfers, 10);
}
