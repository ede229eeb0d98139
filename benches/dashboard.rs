//! Dashboard render times with 10,000 calls in the window.
//!
//! Builds 10,000 calls through the real engine and the carrier's rules (single warm
//! transfers, ping-pongs that get blocked, two-hop chains, cold transfers without a
//! number, dropped calls that are owed a callback: 1,000 of them), all within the last
//! 50 minutes so every window holds them all. Then it sends each dashboard page and each
//! `/v1/stats/*` endpoint through the real router (`tower::ServiceExt::oneshot`, no
//! socket) and reports the median and the slowest of `DASHBOARD_ITERATIONS` runs (default
//! 20): copying the calls out of the store, computing the stats, rendering HTML or JSON.
//!
//! ```text
//! cargo bench --bench dashboard
//! DASHBOARD_CALLS=50000 cargo bench --bench dashboard
//! ```
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a small smoke check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{CallId, CallOutcome, EndRequest, EventId, TransferRequest};
use loopguard::core::rules::{Rules, TransferMode};
use loopguard::http::AppState;
use loopguard::server::app;
use loopguard::store::{CallStore, MemoryStore};
use tower::ServiceExt;

const PATHS: &[&str] = &[
    "/?window=1h",
    "/calls?window=1h",
    "/matrix?window=1h",
    "/graph?window=1h",
    "/departments?window=1h",
    "/callbacks",
    "/calls/call-6",
    "/v1/stats/overview?window=1h",
    "/v1/stats/flagged?window=1h",
    "/v1/stats/matrix?window=1h",
    "/v1/stats/departments?window=1h",
    "/v1/stats/callbacks",
    "/v1/stats/graph?window=1h",
    "/v1/stats/overview?window=7d",
];

fn main() {
    let measuring = std::env::args().any(|argument| argument == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let (calls, iterations) = if measuring {
        (
            env("DASHBOARD_CALLS", 10_000),
            env("DASHBOARD_ITERATIONS", 20),
        )
    } else {
        (300, 1)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(calls, iterations));
}

async fn run(calls: usize, iterations: usize) {
    let rules = carrier_rules();
    let store = Arc::new(MemoryStore::new());
    let started = Instant::now();
    fill(&*store, &rules, calls).await;
    println!(
        "{calls} calls recorded in {:.2?}; {iterations} runs per path",
        started.elapsed()
    );
    let state = Arc::new(AppState::new(
        rules,
        "bench",
        store,
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::system(),
    ));
    // The part of a view that holds the store's lock (the webhook waits on it):
    // computing the departments table, the view that reads the most, in place.
    let window = loopguard::dashboard::WindowChoice::Hour.window(Timestamp::now());
    let rules = state.rules.load_full();
    let mut locked: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            let rows = loopguard::dashboard::with_calls(&state, |calls| {
                loopguard::core::stats::departments_table(calls.iter().copied(), &rules, &window)
            });
            let elapsed = started.elapsed();
            assert!(!rows.is_empty());
            elapsed
        })
        .collect();
    locked.sort();
    println!(
        "store lock held for the departments table over {calls} calls: median {:.2?}, max {:.2?}",
        locked[locked.len() / 2],
        locked[locked.len() - 1]
    );
    let router = app(state);
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "path", "median", "max", "bytes"
    );
    for path in PATHS {
        let mut times: Vec<Duration> = Vec::with_capacity(iterations);
        let mut bytes = 0;
        for _ in 0..iterations {
            let started = Instant::now();
            let response = router
                .clone()
                .oneshot(Request::get(*path).body(Body::empty()).expect("request"))
                .await
                .expect("router answers");
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            times.push(started.elapsed());
            assert_eq!(status, StatusCode::OK, "{path}: {body:?}");
            bytes = body.len();
        }
        times.sort();
        println!(
            "{path:<34} {:>10.2?} {:>10.2?} {bytes:>10}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

fn carrier_rules() -> Rules {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    let sources = loopguard::rules_files::read_rules(&directory).expect("routing-rules/");
    let report = loopguard::core::lint::lint(&sources);
    assert!(!report.has_errors(), "the carrier rules have errors");
    report.rules
}

/// (from, to, intent, mode, callback number) of one transfer.
type Hop<'a> = (&'a str, &'a str, &'a str, TransferMode, Option<&'a str>);

/// Records `count` calls ending within the last 50 minutes.
async fn fill(store: &dyn CallStore, rules: &Rules, count: usize) {
    let rules = Arc::new(rules.clone());
    let now = Timestamp::now();
    let span_ms = 50 * 60 * 1000;
    for index in 0..count {
        let start = now
            .checked_sub(SignedDuration::from_millis(
                (span_ms * index / count.max(1)) as i64 + 60_000,
            ))
            .expect("time in range");
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
                agent_id: None,
                occurred_at: Some(at),
            };
            store
                .record_transfer(rules.clone(), request, at)
                .await
                .expect("transfer recorded");
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
            store.end_call(request, at).await.expect("end recorded");
        }
    }
}
