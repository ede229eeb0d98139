//! How long one transfer check takes: `Engine::evaluate` of a new transfer on a
//! call that already went through 10 transfers, and `Engine::transfer` (judge and
//! record) on a fresh call.
//!
//! Uses the repository's `routing-rules/`, read once in the setup. Their
//! `max_hops = 3` would flag every transfer of a 10-hop call, so the checks run
//! with `max_hops = 12`; everything else is the real policy (enforce, 30 min
//! bounce window, warm transfers and callback numbers required).
//!
//! Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{CallId, Engine, EventId, TransferRequest, Verdict};
use loopguard::core::lint::lint;
use loopguard::core::rules::{PolicyMode, Rules, RuntimeCode, TransferMode};
use loopguard::rules_files::read_rules;

/// The departments of the 10-hop history, in order: 11 stops, one minute apart.
const HISTORY: [&str; 11] = [
    "technical_support",
    "device_support",
    "supervisor_desk",
    "retention",
    "porting",
    "activations",
    "fraud_prevention",
    "technical_support",
    "device_support",
    "supervisor_desk",
    "customer_service",
];

fn repository_rules() -> Rules {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    let sources = read_rules(&directory).expect("routing-rules/ is readable");
    let mut rules = lint(&sources).rules;
    rules.policy.max_hops = 12;
    rules
}

fn request(event: &str, call: &str, from: &str, to: &str, intent: &str) -> TransferRequest {
    TransferRequest {
        event_id: EventId::parse(event).expect("valid id"),
        call_id: CallId::parse(call).expect("valid id"),
        from: from.to_owned(),
        to: to.to_owned(),
        mode: Some(TransferMode::Warm),
        intent: Some(intent.to_owned()),
        callback_number: Some("+14155550123".to_owned()),
        agent_id: Some("agent-42".to_owned()),
        occurred_at: None,
    }
}

/// An engine holding one call that took the 10 transfers of [`HISTORY`].
/// The history is recorded in observe mode so every hop moves the call.
fn engine_with_history(rules: &Rules, start: Timestamp) -> Engine {
    let mut observe = rules.clone();
    observe.policy.mode = PolicyMode::Observe;
    let mut engine = Engine::new();
    for (index, pair) in HISTORY.windows(2).enumerate() {
        let mut hop = request(
            &format!("history-{index}"),
            "call-10-hops",
            pair[0],
            pair[1],
            "complaint_escalation",
        );
        hop.occurred_at = Some(start + SignedDuration::from_mins(index as i64));
        engine
            .transfer(&observe, hop, start)
            .expect("history is accepted");
    }
    let record = engine.call("call-10-hops").expect("call recorded");
    assert_eq!(record.chain().len(), HISTORY.len());
    engine
}

fn engine_benches(criterion: &mut Criterion) {
    let rules = repository_rules();
    let start = Timestamp::from_second(1_700_000_000).expect("in range");
    let now = start + SignedDuration::from_mins(HISTORY.len() as i64);
    let engine = engine_with_history(&rules, start);

    // customer_service → billing for a billing question: allowed, warm, with a callback number.
    let clean = request(
        "clean",
        "call-10-hops",
        "customer_service",
        "billing",
        "billing_question",
    );
    let judgement = engine.evaluate(&rules, &clean, now);
    assert_eq!(judgement.verdict, Verdict::Allow, "{judgement:#?}");

    // Straight back to the supervisor desk it came from a minute ago, with a
    // billing question the desk does not handle.
    let ping_pong = request(
        "ping-pong",
        "call-10-hops",
        "customer_service",
        "supervisor_desk",
        "billing_question",
    );
    let judgement = engine.evaluate(&rules, &ping_pong, now);
    assert_eq!(judgement.verdict, Verdict::Block, "{judgement:#?}");
    assert!(
        judgement
            .findings
            .iter()
            .any(|finding| finding.code == RuntimeCode::PingPong)
    );
    assert!(judgement.suggestion.is_some());

    let mut group = criterion.benchmark_group("engine");
    group.bench_function("evaluate_clean_10_hops", |bencher| {
        bencher.iter(|| black_box(engine.evaluate(&rules, black_box(&clean), now)))
    });
    group.bench_function("evaluate_ping_pong_10_hops", |bencher| {
        bencher.iter(|| black_box(engine.evaluate(&rules, black_box(&ping_pong), now)))
    });
    // The same bounce, broken down: without an intent (only the ping-pong finding,
    // suggestion from the escalation desk, no route search), and with the intent
    // the desk owns (one route search for the suggestion, no rule findings).
    let mut bounce_without_intent = ping_pong.clone();
    bounce_without_intent.intent = None;
    group.bench_function("evaluate_ping_pong_no_intent_10_hops", |bencher| {
        bencher.iter(|| black_box(engine.evaluate(&rules, black_box(&bounce_without_intent), now)))
    });
    let mut bounce_owned_intent = ping_pong.clone();
    bounce_owned_intent.intent = Some("complaint_escalation".to_owned());
    group.bench_function("evaluate_ping_pong_owned_intent_10_hops", |bencher| {
        bencher.iter(|| black_box(engine.evaluate(&rules, black_box(&bounce_owned_intent), now)))
    });
    let fresh = request(
        "fresh",
        "fresh-call",
        "customer_service",
        "billing",
        "billing_question",
    );
    group.bench_function("transfer_fresh_call", |bencher| {
        bencher.iter_batched_ref(
            || (Engine::new(), Some(fresh.clone())),
            |(engine, request)| {
                let request = request.take().expect("one transfer per setup");
                black_box(engine.transfer(&rules, request, now))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = engine_benches
}
criterion_main!(benches);
