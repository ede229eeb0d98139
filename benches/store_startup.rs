//! Start-up time of the durable store with 100,000 open calls, and the rate at
//! which the group-commit writer takes events from many concurrent requests.
//!
//! Run: `cargo bench --bench store_startup` (`STARTUP_CALLS=20000` for a quick run).
//! It fills a fresh data directory through the store's own API (so the rows are
//! exactly what the server writes), then opens it three times and reports the
//! time `SqliteStore::open` takes to replay everything into memory.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use loopguard::core::engine::{CallId, EventId, TransferRequest};
use loopguard::core::rules::TransferMode;
use loopguard::metrics::Metrics;
use loopguard::store::CallStore;
use loopguard::store::{SqliteStore, StoreConfig};

fn main() {
    if !std::env::args().any(|argument| argument == "--bench") {
        // `cargo test --benches` runs bench targets without `--bench`: nothing to check here.
        return;
    }
    let calls: usize = std::env::var("STARTUP_CALLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = loopguard::rules_files::read_rules(&root.join("routing-rules"))
        .expect("routing-rules/ is readable");
    let rules = Arc::new(loopguard::core::lint::lint(&sources).rules);
    let data = std::env::temp_dir().join(format!("loopguard-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (store, _) = SqliteStore::open(
        StoreConfig::new(&data),
        Metrics::new(),
        loopguard::clock::Clock::system(),
    )
    .expect("open");
    let store = Arc::new(store);
    let started = Instant::now();
    runtime.block_on(async {
        let base = Timestamp::now();
        let mut tasks = tokio::task::JoinSet::new();
        for call in 0..calls {
            let store = store.clone();
            let rules = rules.clone();
            tasks.spawn(async move {
                let request = TransferRequest {
                    event_id: EventId::parse(&format!("event-{call}")).expect("valid id"),
                    call_id: CallId::parse(&format!("call-{call}")).expect("valid id"),
                    from: "customer_service".to_owned(),
                    to: "billing".to_owned(),
                    mode: Some(TransferMode::Warm),
                    intent: Some("refund".to_owned()),
                    callback_number: Some("+14155550123".to_owned()),
                    agent_id: Some("agent-7".to_owned()),
                    occurred_at: Some(base),
                };
                // Back-pressure can answer 503; retry like a platform would.
                while store
                    .record_transfer(rules.clone(), request.clone(), base)
                    .await
                    .is_err()
                {
                    tokio::task::yield_now().await;
                }
            });
            while tasks.len() >= 2_000 {
                tasks.join_next().await;
            }
        }
        while tasks.join_next().await.is_some() {}
    });
    let filled = started.elapsed();
    println!(
        "filled {calls} open calls in {:.2} s ({:.0} committed events/s through group commit)",
        filled.as_secs_f64(),
        calls as f64 / filled.as_secs_f64()
    );
    drop(store);
    // The writer thread ends when the store is dropped; give it a moment to release the lock.
    std::thread::sleep(std::time::Duration::from_millis(200));

    let size = std::fs::metadata(data.join("loopguard.db"))
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    for run in 1..=3 {
        let (store, report) = SqliteStore::open(
            StoreConfig::new(&data),
            Metrics::new(),
            loopguard::clock::Clock::system(),
        )
        .expect("reopen");
        println!(
            "open #{run}: {} events, {} calls ({} open) loaded in {:.0} ms (database {:.1} MB)",
            report.events_loaded,
            report.calls_loaded,
            report.open_calls,
            report.elapsed.as_secs_f64() * 1000.0,
            size as f64 / 1e6
        );
        drop(store);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = std::fs::remove_dir_all(&data);
}
