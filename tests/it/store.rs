//! The durable store's failure modes as a user meets them: a full database, a data
//! directory that cannot be used, a second instance, a database from the future.

use std::process::Command;

use loopguard::clock::Clock;
use loopguard::metrics::Metrics;
use loopguard::store::{OpenError, SqliteStore, StoreConfig};
use serde_json::{Value, json};

use crate::support::{BinaryServer, http, repo_root};

fn serve_output(extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rules"])
        .arg(repo_root().join("routing-rules"))
        .args(extra)
        .output()
        .expect("loopguard runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unusable_data_directory_is_a_clear_start_up_error() {
    // /proc refuses new directories even to root, like a read-only file system.
    let (code, stderr) = serve_output(&["--data-dir", "/proc/loopguard-test/data"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/proc/loopguard-test/data"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");

    let file = tempfile::NamedTempFile::new().unwrap();
    let (code, stderr) = serve_output(&["--data-dir", file.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn a_second_instance_on_the_same_data_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let first = BinaryServer::start_with_data(&repo_root().join("routing-rules"), data.path(), &[]);
    let (code, stderr) = serve_output(&["--data-dir", data.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("in use by another running loopguard"),
        "{stderr}"
    );
    assert!(stderr.contains("pid"), "{stderr}");
    drop(first);
}

#[test]
fn a_full_database_answers_503_with_retry_after_and_loses_no_acknowledged_event() {
    let rules = repo_root().join("routing-rules");
    let data = tempfile::tempdir().unwrap();
    let server =
        BinaryServer::start_with_data(&rules, data.path(), &["--max-database-bytes", "65536"]);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for index in 0..2000 {
        let body = json!({
            "event_id": format!("full-{index}"),
            "call_id": format!("call-{index}"),
            "from": "customer_service",
            "to": "billing",
            "mode": "warm",
            "callback_number": "+14155550123",
            "agent_id": "x".repeat(150),
        });
        let (status, answer) = http(
            &server.base,
            "POST",
            "/v1/transfers",
            Some(&body.to_string()),
        )
        .unwrap();
        match status {
            200 => acknowledged.push(format!("call-{index}")),
            503 => {
                refused = Some(answer);
                break;
            }
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
    let refused: Value = serde_json::from_str(&refused.expect("the cap was reached")).unwrap();
    assert_eq!(refused["error"]["code"], "store-unavailable");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry"),
        "{refused}"
    );
    assert!(!acknowledged.is_empty());
    let metrics = server.get("/metrics");
    assert!(
        !metrics.contains("loopguard_store_failures_total 0"),
        "{metrics}"
    );
    server.kill();

    // After a restart with room to spare, every acknowledged event is there.
    let server = BinaryServer::start_with_data(&rules, data.path(), &[]);
    for call_id in &acknowledged {
        let record: Value =
            serde_json::from_str(&server.get(&format!("/v1/calls/{call_id}"))).unwrap();
        assert_eq!(
            record["hops"].as_array().map(Vec::len),
            Some(1),
            "{call_id}"
        );
    }
}

#[test]
fn retry_after_is_sent_with_503() {
    // The header is part of the contract platforms rely on to back off.
    let error = loopguard::http::ApiError::from(loopguard::store::StoreError::Unavailable(
        "queue full".to_owned(),
    ));
    use axum::response::IntoResponse;
    let response = error.into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[test]
fn a_database_from_a_newer_loopguard_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("loopguard.db");
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    let error = match SqliteStore::open(
        StoreConfig::new(data.path()),
        Metrics::new(),
        Clock::system(),
    ) {
        Err(error) => error,
        Ok(_) => panic!("a newer schema must be refused"),
    };
    assert!(
        matches!(error, OpenError::NewerSchema { found: 99, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("newer loopguard"), "{error}");
}

fn transfer_request(
    event: &str,
    call: &str,
    occurred_at: jiff::Timestamp,
) -> loopguard::core::engine::TransferRequest {
    use loopguard::core::engine::{CallId, EventId, TransferRequest};
    TransferRequest {
        event_id: EventId::parse(event).unwrap(),
        call_id: CallId::parse(call).unwrap(),
        from: "customer_service".to_owned(),
        to: "billing".to_owned(),
        mode: Some(loopguard::core::rules::TransferMode::Warm),
        intent: None,
        callback_number: Some("+14155550123".to_owned()),
        agent_id: None,
        occurred_at: Some(occurred_at),
    }
}

#[tokio::test]
async fn ended_calls_past_retention_are_pruned_from_disk_and_memory_and_open_calls_stay() {
    use loopguard::core::engine::{CallId, CallOutcome, EndRequest, EventId};
    use loopguard::store::CallStore;
    let data = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        retention: jiff::SignedDuration::from_hours(1),
        prune_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(data.path())
    };
    let (store, _) = SqliteStore::open(config.clone(), Metrics::new(), Clock::system()).unwrap();
    let rules = std::sync::Arc::new(crate::support::carrier_rules());
    let now = jiff::Timestamp::now();
    let old = now - jiff::SignedDuration::from_hours(3);
    store
        .record_transfer(rules.clone(), transfer_request("old-1", "old", old), now)
        .await
        .unwrap();
    let end = EndRequest {
        event_id: EventId::parse("old-end").unwrap(),
        call_id: CallId::parse("old").unwrap(),
        outcome: CallOutcome::Resolved,
        occurred_at: Some(old),
    };
    store.end_call(end, now).await.unwrap();
    store
        .record_transfer(rules.clone(), transfer_request("open-1", "open", old), now)
        .await
        .unwrap();
    // Pruning runs when the writer is idle; poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.call("old").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old call was never pruned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        store.call("open").await.unwrap().is_some(),
        "open calls are never pruned"
    );
    drop(store);
    let (reopened, report) = SqliteStore::open(config, Metrics::new(), Clock::system()).unwrap();
    assert_eq!((report.calls_loaded, report.open_calls), (1, 1));
    assert!(
        reopened.call("old").await.unwrap().is_none(),
        "pruned from disk too"
    );
}
