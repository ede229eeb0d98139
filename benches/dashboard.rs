//! Dashboard render times with 10,000 calls in the window and 10,000 follow-ups.
//!
//! Builds 10,000 calls through the real engine and the carrier's rules (single warm
//! transfers, ping-pongs that get blocked, two-hop chains, cold transfers without a
//! number, dropped calls that are owed a callback: 1,000 of them; 200 agents), all
//! within the last 50 minutes so every window holds them all, and one promise on
//! each call (half of them overdue): with the callbacks, 11,000 open follow-ups. Then it sends each dashboard page and each
//! `/v1/stats/*` endpoint through the real router (`tower::ServiceExt::oneshot`, no
//! socket) and reports the median and the slowest of `DASHBOARD_ITERATIONS` runs (default
//! 20): reading the statistics index, computing the view, rendering HTML or JSON. Each
//! request goes to a freshly built router, so no response is reused from the view cache.
//!
//! It also reports how long the statistics index is held for the departments table
//! (the writer never waits on it, but it is the view's cost), next to the batch
//! computation over every call (the reference model the index replaced).
//!
//! ```text
//! cargo bench --bench dashboard
//! DASHBOARD_CALLS=200000 DASHBOARD_SPAN_MINUTES=1380 cargo bench --bench dashboard
//! ```
//!
//! `DASHBOARD_SPAN_MINUTES` spreads the calls over more time (default 50: all in the
//! last hour); the paths keep their windows.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs a small smoke check.

#[path = "support/calls.rs"]
mod calls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::CallRecord;
use loopguard::core::stats::{self, MAX_UNKNOWN_DEPARTMENTS_SHOWN, views};
use loopguard::http::AppState;
use loopguard::server::app;
use loopguard::store::{CallStore, MemoryStore};
use tower::ServiceExt;

const PATHS: &[&str] = &[
    "/?window=1h",
    "/follow-ups",
    "/v1/stats/follow-ups",
    "/v1/stats/follow-ups?format=csv",
    "/agents?window=1h",
    "/v1/stats/agents?window=1h",
    "/v1/stats/agents?window=1h&format=csv",
    "/v1/stats/hotspots?window=1h",
    "/calls?window=1h&between=customer_service&and=activations",
    "/graph?window=1h&focus=billing",
    "/v1/stats/flagged?window=1h&format=csv",
    "/v1/stats/departments?window=1h&format=csv",
    "/?from=2020-01-01T00:00:00Z",
    "/?window=1d",
    "/matrix?window=1d",
    "/v1/stats/flagged?window=1d",
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
    runtime.block_on(run(calls, iterations, env("DASHBOARD_SPAN_MINUTES", 50)));
}

fn timed<T>(iterations: usize, mut run: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(run());
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

async fn run(calls: usize, iterations: usize, span_minutes: usize) {
    let rules = Arc::new(calls::carrier_rules());
    let store = Arc::new(MemoryStore::new());
    let started = Instant::now();
    calls::fill(
        store.clone(),
        rules.clone(),
        calls,
        SignedDuration::from_mins(span_minutes as i64),
        64,
    )
    .await;
    calls::promise_each(store.clone(), rules.clone(), calls).await;
    println!(
        "{calls} calls and {calls} promises recorded in {:.2?}; {iterations} runs per path",
        started.elapsed()
    );
    let state = Arc::new(AppState::new(
        (*rules).clone(),
        "bench",
        store.clone(),
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::system(),
    ));
    let window = loopguard::dashboard::WindowChoice::Hour.window(Timestamp::now());
    let (median, max) = timed(iterations, || {
        let mut rows = 0;
        store.read_stats(&mut |index| {
            rows = views::departments_table(
                index,
                &rules,
                &window,
                MAX_UNKNOWN_DEPARTMENTS_SHOWN,
                window.to,
            )
            .0
            .len();
        });
        rows
    });
    println!(
        "statistics index held for the departments table over {calls} calls: median {median:.2?}, max {max:.2?}"
    );
    let (median, max) = timed(iterations, || {
        let mut rows = 0;
        store.read(&mut |engine| {
            let calls: Vec<&CallRecord> = engine.calls().collect();
            rows =
                stats::departments_table(calls.iter().copied(), &rules, &window, window.to).len();
        });
        rows
    });
    println!(
        "batch departments table over every call (the engine's lock held): median {median:.2?}, max {max:.2?}"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "path", "median", "max", "bytes"
    );
    for path in PATHS {
        let mut times: Vec<Duration> = Vec::with_capacity(iterations);
        let mut bytes = 0;
        for _ in 0..iterations {
            let router = app(state.clone());
            let started = Instant::now();
            let response = router
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
