//! Running the shared store: migrations when instances start together, a schema
//! from the future, pruning by one instance at a time, and `--database` mistakes.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use jiff::{SignedDuration, Timestamp};
use loopguard::clock::Clock;
use loopguard::core::engine::{CallId, CallOutcome, EndRequest, EventId, TransferRequest};
use loopguard::core::rules::TransferMode;
use loopguard::metrics::Metrics;
use loopguard::store::postgres::ConnectError;
use loopguard::store::postgres::schema::{PRUNE_LOCK, SCHEMA_VERSION};
use loopguard::store::{CallStore, PostgresConfig, PostgresStore};

use super::{cluster, wait_until};
use crate::support::{carrier_rules, repo_root};

fn serve_output(arguments: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rules"])
        .arg(repo_root().join("routing-rules"))
        .args(arguments)
        .env("LOOPGUARD_LOG", "warn")
        .output()
        .expect("loopguard runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("migrate");
    let database = url.rsplit('/').next().expect("database name");
    let stores = join_all((0..4).map(|_| {
        PostgresStore::connect(PostgresConfig::new(&url), Metrics::new(), Clock::system())
    }))
    .await;
    for store in &stores {
        let (_, report) = store.as_ref().expect("every instance starts");
        assert_eq!(report.schema_version, SCHEMA_VERSION);
    }
    assert_eq!(
        server
            .psql_in(database, "SELECT version FROM loopguard_schema")
            .expect("version readable")
            .trim(),
        SCHEMA_VERSION.to_string()
    );
    drop(stores);

    server
        .psql_in(database, "UPDATE loopguard_schema SET version = 99")
        .expect("version written");
    let refused =
        PostgresStore::connect(PostgresConfig::new(&url), Metrics::new(), Clock::system()).await;
    let Err(error) = refused else {
        panic!("a newer schema must be refused");
    };
    assert!(
        matches!(error, ConnectError::NewerSchema { found: 99, .. }),
        "{error}"
    );
    let (code, stderr) = serve_output(&["--database", &url]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("schema version 99"), "{stderr}");
    assert!(stderr.contains("run a newer loopguard"), "{stderr}");
}

#[test]
fn database_mistakes_are_start_up_errors_that_say_what_to_do() {
    let (code, stderr) = serve_output(&["--database", "mysql://loopguard:hunter2@db/calls"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("postgres://"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is never shown: {stderr}"
    );

    let (code, stderr) = serve_output(&["--database", "postgres://db/calls", "--in-memory"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--in-memory"), "{stderr}");

    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://loopguard:hunter2@127.0.0.1:{port}/calls");
    let (code, stderr) = serve_output(&["--database", &url]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot connect to the database 127.0.0.1:{port}/calls"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password is never shown: {stderr}"
    );
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + seconds).expect("valid time")
}

async fn open_call(store: &PostgresStore, call: &str) {
    transfer(store, call, &format!("{call}-t"), 0)
        .await
        .expect("transfer stored");
}

async fn transfer(
    store: &PostgresStore,
    call: &str,
    event: &str,
    seconds: i64,
) -> Result<loopguard::core::engine::TransferAnswer, loopguard::store::StoreError> {
    let request = TransferRequest {
        event_id: EventId::parse(event).expect("valid id"),
        call_id: CallId::parse(call).expect("valid id"),
        from: "customer_service".to_owned(),
        to: "billing".to_owned(),
        mode: Some(TransferMode::Warm),
        intent: None,
        callback_number: Some("+14155550123".to_owned()),
        agent_id: None,
        occurred_at: Some(at(seconds)),
    };
    store
        .record_transfer(Arc::new(carrier_rules()), request, at(seconds))
        .await
        .map(|outcome| outcome.answer)
}

async fn end_call(store: &PostgresStore, call: &str, seconds: i64) {
    let request = EndRequest {
        event_id: EventId::parse(&format!("{call}-end")).expect("valid id"),
        call_id: CallId::parse(call).expect("valid id"),
        outcome: CallOutcome::Resolved,
        occurred_at: Some(at(seconds)),
    };
    store
        .end_call(request, at(seconds))
        .await
        .expect("end stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_removes_old_ended_calls_and_waits_while_another_instance_prunes() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("prune");
    let now = Arc::new(Mutex::new(at(10)));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || *now.lock().expect("clock lock"))
    };
    let config = PostgresConfig {
        retention: SignedDuration::from_hours(1),
        ..PostgresConfig::new(&url)
    };
    let (store, _) = PostgresStore::connect(config.clone(), Metrics::new(), clock.clone())
        .await
        .expect("store connects");
    // A second instance, whose read model forgets the pruned call when the
    // deletion's notification arrives.
    let (other_instance, _) = PostgresStore::connect(config, Metrics::new(), clock)
        .await
        .expect("store connects");
    for call in ["old", "recent", "open"] {
        open_call(&store, call).await;
    }
    end_call(&store, "old", 60).await;
    end_call(&store, "recent", 7000).await;
    *now.lock().expect("clock lock") = at(7200);
    let cutoff = at(7200) - SignedDuration::from_hours(1);

    // Another instance (this session) prunes: this one steps aside.
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("a session of our own");
    tokio::spawn(connection);
    other
        .execute("SELECT pg_advisory_lock($1)", &[&PRUNE_LOCK])
        .await
        .expect("pruning lock taken");
    assert_eq!(store.prune_now(cutoff).await, Ok(None));
    assert!(store.call("old").await.expect("readable").is_some());

    other
        .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
        .await
        .expect("pruning lock released");
    assert_eq!(store.prune_now(cutoff).await, Ok(Some(1)));
    assert!(store.call("old").await.expect("readable").is_none());
    assert!(store.call("recent").await.expect("readable").is_some());
    assert!(store.call("open").await.expect("readable").is_some());
    let database = url.rsplit('/').next().expect("database name");
    let left = server
        .psql_in(
            database,
            "SELECT count(*) FROM loopguard_events WHERE call_id = 'old'",
        )
        .expect("events readable");
    assert_eq!(left.trim(), "0", "the old call's events are gone");
    let mut in_read_model = Vec::new();
    store.read(&mut |engine| {
        in_read_model = engine
            .calls()
            .map(|call| call.call_id.as_str().to_owned())
            .collect();
    });
    in_read_model.sort();
    assert_eq!(in_read_model, ["open", "recent"]);

    // A new call under the pruned call's id, taken at once by the other instance
    // (before or after the deletion's notification reached it), is judged as new
    // (what it held of the call does not start where the stored events do), not as
    // a transfer after the old call's end; both read models end up holding only it.
    let answer = transfer(&other_instance, "old", "old-again", 7100)
        .await
        .expect("a new call under a pruned call's id is accepted");
    assert_eq!((answer.hop, answer.transfers_taken), (1, 1));
    for instance in [&store, &other_instance] {
        let hops = || {
            let mut hops = None;
            instance.read(&mut |engine| hops = engine.call("old").map(|call| call.hops.len()));
            hops
        };
        wait_until(Duration::from_secs(10), || hops() == Some(1)).await;
        let mut calls = 0;
        instance.read_stats(&mut |index| calls = index.len());
        assert_eq!(calls, 3, "the statistics hold old (again), recent and open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_calls_idle_too_long_expire_from_the_database_and_every_read_model() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("expire");
    let config = PostgresConfig {
        open_call_max_idle: SignedDuration::from_hours(1),
        ..PostgresConfig::new(&url)
    };
    let metrics = Metrics::new();
    let (store, _) = PostgresStore::connect(config.clone(), metrics.clone(), Clock::system())
        .await
        .expect("store connects");
    let (other_instance, _) = PostgresStore::connect(config, Metrics::new(), Clock::system())
        .await
        .expect("store connects");
    for call in ["idle", "busy", "ended"] {
        open_call(&store, call).await;
    }
    end_call(&store, "ended", 60).await;
    // Idleness is by commit time: make "idle" look an hour and a half old.
    let database = url.rsplit('/').next().expect("database name");
    server
        .psql_in(
            database,
            "UPDATE loopguard_calls SET last_event_at = now() - interval '90 minutes' \
             WHERE call_id IN ('idle', 'ended')",
        )
        .expect("commit time moved back");

    let cutoff = jiff::Timestamp::now() - SignedDuration::from_hours(1);
    assert_eq!(store.expire_now(cutoff).await, Ok(Some(1)));
    assert!(store.call("idle").await.expect("readable").is_none());
    assert!(store.call("busy").await.expect("readable").is_some());
    assert!(
        store.call("ended").await.expect("readable").is_some(),
        "ended calls wait for the retention age"
    );
    assert!(
        metrics.render().contains("loopguard_calls_expired_total 1"),
        "expiry is counted"
    );
    for instance in [&store, &other_instance] {
        let held = || {
            let mut held = Vec::new();
            instance.read(&mut |engine| {
                held = engine
                    .calls()
                    .map(|call| call.call_id.as_str().to_owned())
                    .collect();
            });
            held.sort();
            held
        };
        wait_until(Duration::from_secs(10), || held() == ["busy", "ended"]).await;
        let mut calls = 0;
        instance.read_stats(&mut |index| calls = index.len());
        assert_eq!(calls, 2, "the statistics forgot the expired call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_hop_cap_a_redelivered_dropped_hop_gets_its_stored_answer_on_any_instance() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("hop_cap");
    let config = PostgresConfig {
        max_hops_kept: 3,
        ..PostgresConfig::new(&url)
    };
    let (first, _) = PostgresStore::connect(config.clone(), Metrics::new(), Clock::system())
        .await
        .expect("store connects");
    let (second, _) = PostgresStore::connect(config.clone(), Metrics::new(), Clock::system())
        .await
        .expect("store connects");
    // Six hops, alternating instances: each batch starts from its read model's
    // copy (three hops kept) plus what it reads under the lock.
    let rules = Arc::new(carrier_rules());
    let mut reference = loopguard::core::engine::Engine::new().with_max_hops_kept(3);
    let mut answers = Vec::new();
    for hop in 0..6 {
        let store = if hop % 2 == 0 { &first } else { &second };
        let request = hop_request(hop, "customer_service");
        let expected = reference
            .transfer(&rules, request.clone(), at(0))
            .expect("reference");
        let answer = store
            .record_transfer(rules.clone(), request, at(0))
            .await
            .expect("stored");
        assert_eq!(answer.answer, expected.answer, "hop {hop}");
        answers.push(answer.answer);
    }
    assert_eq!(answers[5].hops_omitted, 3);
    // The first hop is no longer in any engine; its redelivery, to either instance
    // and to one started afresh, gets the stored answer; another body is a conflict.
    let (third, _) = PostgresStore::connect(config, Metrics::new(), Clock::system())
        .await
        .expect("store connects");
    for store in [&first, &second, &third] {
        let again = store
            .record_transfer(rules.clone(), hop_request(0, "customer_service"), at(0))
            .await
            .expect("a redelivery is answered");
        assert!(again.replayed);
        assert_eq!(again.answer, answers[0]);
        let conflict = store
            .record_transfer(rules.clone(), hop_request(0, "billing"), at(0))
            .await;
        assert!(
            matches!(
                conflict,
                Err(loopguard::store::StoreError::Engine(
                    loopguard::core::engine::EngineError::Conflict { .. }
                ))
            ),
            "{conflict:?}"
        );
    }
    // Nothing was written twice, and the record read back is the capped one.
    let database = url.rsplit('/').next().expect("database name");
    let stored = server
        .psql_in(database, "SELECT count(*) FROM loopguard_events")
        .expect("events readable");
    assert_eq!(stored.trim(), "6");
    let record = third
        .call("capped")
        .await
        .expect("readable")
        .expect("stored");
    assert_eq!((record.hops.len(), record.omitted.hops), (3, 3));
    assert_eq!(Some(&record), reference.call("capped"));
}

/// Hop `hop` of the call `capped`, between two departments in turn.
fn hop_request(hop: usize, first_department: &str) -> TransferRequest {
    let departments = [first_department, "activations"];
    TransferRequest {
        event_id: EventId::parse(&format!("capped-{hop}")).expect("valid id"),
        call_id: CallId::parse("capped").expect("valid id"),
        from: departments[hop % 2].to_owned(),
        to: departments[(hop + 1) % 2].to_owned(),
        mode: Some(TransferMode::Warm),
        intent: None,
        callback_number: Some("+14155550123".to_owned()),
        agent_id: None,
        occurred_at: Some(at(hop as i64 * 60)),
    }
}
