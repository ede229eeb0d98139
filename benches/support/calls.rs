//! Calls for the dashboard benches: the carrier's rules and a scripted mix of calls
//! (single warm transfers, ping-pongs that get blocked, two-hop chains, cold transfers
//! without a number, dropped calls owed a callback; 200 agents), recorded through a
//! store's own API, and promises on them (`promise_each`).

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, PromiseEvent, PromiseId, PromiseRequest,
    TransferRequest,
};
use loopguard::core::rules::{Rules, TransferMode};
use loopguard::store::CallStore;

pub fn carrier_rules() -> Rules {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    let sources = loopguard::rules_files::read_rules(&directory).expect("routing-rules/");
    let report = loopguard::core::lint::lint(&sources);
    assert!(!report.has_errors(), "the carrier rules have errors");
    report.rules
}

/// (from, to, intent, mode, callback number) of one transfer.
type Hop<'a> = (&'a str, &'a str, &'a str, TransferMode, Option<&'a str>);

/// Records `count` calls whose events lie within `span` before now (the newest a
/// minute ago), with at most `in_flight` calls being recorded at once (a durable
/// store commits them in groups); a call waits and retries while the store's queue
/// is full.
pub async fn fill(
    store: Arc<dyn CallStore>,
    rules: Arc<Rules>,
    count: usize,
    span: SignedDuration,
    in_flight: usize,
) {
    let now = Timestamp::now();
    let span_ms = span.as_millis().max(1) as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..count {
        let start = now
            .checked_sub(SignedDuration::from_millis(
                (span_ms as u128 * index as u128 / count.max(1) as u128) as i64 + 60_000,
            ))
            .expect("time in range");
        let store = store.clone();
        let rules = rules.clone();
        tasks.spawn(async move { record_call(&*store, &rules, index, start).await });
        while tasks.len() >= in_flight.max(1) {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Makes one promise on each of the first `count` calls `fill` recorded, half of
/// them past due: the follow-ups the dashboard lists.
pub async fn promise_each(store: Arc<dyn CallStore>, rules: Arc<Rules>, count: usize) {
    let now = Timestamp::now();
    for index in 0..count {
        let hours = if index % 2 == 0 { -1 } else { 24 };
        let request = PromiseRequest {
            event_id: EventId::parse(&format!("promise-{index}")).expect("valid id"),
            call_id: CallId::parse(&format!("call-{index}")).expect("valid id"),
            promise_id: PromiseId::parse("follow-up").expect("valid id"),
            text: "Call back once the line is reconnected".to_owned(),
            due_at: now
                .checked_add(SignedDuration::from_hours(hours))
                .expect("time in range"),
            department: None,
            occurred_at: Some(now),
        };
        while store
            .record_promise(rules.clone(), PromiseEvent::Make(request.clone()), now)
            .await
            .is_err()
        {
            tokio::task::yield_now().await;
        }
    }
}

async fn record_call(store: &dyn CallStore, rules: &Arc<Rules>, index: usize, start: Timestamp) {
    let call = format!("call-{index}");
    let number = Some("+14155550123");
    // (from, to, intent, mode, callback number) per hop, and how the call ends.
    let (hops, end): (Vec<Hop>, _) = match index % 10 {
        6 => (
            vec![
                (
                    "customer_service",
                    "activations",
                    "reconnect_line",
                    TransferMode::Warm,
                    number,
                ),
                (
                    "activations",
                    "customer_service",
                    "reconnect_line",
                    TransferMode::Warm,
                    number,
                ),
            ],
            None,
        ),
        7 => (
            vec![
                (
                    "customer_service",
                    "technical_support",
                    "device_repair",
                    TransferMode::Warm,
                    number,
                ),
                (
                    "technical_support",
                    "device_support",
                    "device_repair",
                    TransferMode::Warm,
                    number,
                ),
            ],
            Some(CallOutcome::Resolved),
        ),
        8 => (
            vec![(
                "customer_service",
                "billing",
                "refund",
                TransferMode::Cold,
                None,
            )],
            Some(CallOutcome::Resolved),
        ),
        9 => (
            vec![(
                "customer_service",
                "billing",
                "billing_question",
                TransferMode::Warm,
                number,
            )],
            Some(CallOutcome::Disconnected),
        ),
        other => {
            let (to, intent) = [
                ("billing", "billing_question"),
                ("technical_support", "no_signal"),
                ("activations", "new_line"),
                ("retention", "cancel_service"),
                ("porting", "number_port_in"),
                ("fraud_prevention", "fraud_report"),
            ][other];
            (
                vec![("customer_service", to, intent, TransferMode::Warm, number)],
                Some(CallOutcome::Resolved),
            )
        }
    };
    let mut at = start;
    for (hop, (from, to, intent, mode, callback)) in hops.into_iter().enumerate() {
        at = at
            .checked_add(SignedDuration::from_secs(20))
            .expect("time in range");
        let request = TransferRequest {
            event_id: EventId::parse(&format!("{call}-{hop}")).expect("valid id"),
            call_id: CallId::parse(&call).expect("valid id"),
            from: from.to_owned(),
            to: to.to_owned(),
            mode: Some(mode),
            intent: Some(intent.to_owned()),
            callback_number: callback.map(str::to_owned),
            // 200 agents, so the agents view has rows to add up.
            agent_id: Some(format!("agent-{}", index % 200)),
            occurred_at: Some(at),
        };
        while store
            .record_transfer(rules.clone(), request.clone(), at)
            .await
            .is_err()
        {
            tokio::task::yield_now().await;
        }
    }
    if let Some(outcome) = end {
        let at = at
            .checked_add(SignedDuration::from_secs(30))
            .expect("time in range");
        let request = EndRequest {
            event_id: EventId::parse(&format!("{call}-end")).expect("valid id"),
            call_id: CallId::parse(&call).expect("valid id"),
            outcome,
            occurred_at: Some(at),
        };
        while store.end_call(request.clone(), at).await.is_err() {
            tokio::task::yield_now().await;
        }
    }
}
