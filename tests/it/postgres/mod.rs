//! The PostgreSQL store against a real PostgreSQL: one throw-away server for the
//! whole test binary (`throwaway.rs`), a fresh database per test, loopguard
//! instances in-process (port 0) or as the real binary.
//!
//! Without PostgreSQL's server binaries every test here says why it did not run and
//! passes; with `CI` set it fails instead.

mod faults;
mod instances;
mod operations;
pub mod throwaway;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use jiff::{SignedDuration, Timestamp};
use loopguard::clock::Clock;
use loopguard::core::engine::{CallbackRequest, EndRequest, Engine, TransferRequest};
use loopguard::http::AppState;
use loopguard::metrics::Metrics;
use loopguard::store::{PostgresConfig, PostgresStore};
use serde_json::{Value, json};

use crate::support::{SCRIPT_ROUTES, TestServer, carrier_rules};
use throwaway::ThrowawayPostgres;

/// The server every test shares, started on first use; `None` (after saying why)
/// when there is none to be had outside CI.
pub fn cluster() -> Option<&'static ThrowawayPostgres> {
    static SHARED: OnceLock<Result<ThrowawayPostgres, String>> = OnceLock::new();
    match SHARED.get_or_init(ThrowawayPostgres::start) {
        Ok(server) => Some(server),
        Err(reason) => {
            skip_or_fail(reason);
            None
        }
    }
}

/// A server of the test's own (to stop and start it), or `None` after saying why.
pub fn own_cluster() -> Option<ThrowawayPostgres> {
    match ThrowawayPostgres::start() {
        Ok(server) => Some(server),
        Err(reason) => {
            skip_or_fail(&reason);
            None
        }
    }
}

fn skip_or_fail(reason: &str) {
    let message = format!("the PostgreSQL store's tests need a PostgreSQL server: {reason}");
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
}

/// An in-process instance on `url` with the carrier rules.
pub async fn instance(url: &str) -> TestServer {
    instance_with(PostgresConfig::new(url), Clock::system()).await
}

pub async fn instance_with(config: PostgresConfig, clock: Clock) -> TestServer {
    let metrics = Metrics::new();
    let (store, _) = PostgresStore::connect(config, metrics.clone(), clock.clone())
        .await
        .expect("the PostgreSQL store connects");
    let state = AppState::new(carrier_rules(), "test", Arc::new(store), metrics, clock);
    TestServer::start_with(state).await
}

/// Posts until the event is acknowledged (200), as a platform retries after a 503:
/// a loaded test machine can delay a commit past the store's deadline. Returns the
/// answer; any other status fails the test.
pub async fn deliver(instance: &TestServer, path: &str, body: &Value) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, answer) = instance.post(path, body).await;
        match status {
            200 => return answer,
            503 => assert!(std::time::Instant::now() < deadline, "{answer}"),
            _ => panic!("{body}: unexpected {status}: {answer}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// One scripted event: where it is posted and what.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub path: String,
    pub body: Value,
    pub event_id: String,
    pub call_id: String,
}

/// Where the scripts' times start: two hours before this test binary started, so
/// scripted calls are recent (pruning would take calls ended a week ago away
/// between their end and their callback mark) and every event is in the past.
pub fn base_time() -> Timestamp {
    static BASE: OnceLock<Timestamp> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Timestamp::now().as_second();
        Timestamp::from_second(now - 2 * 3600).expect("a time two hours ago")
    })
}

/// Calls that take allowed hops, ping-pongs and circles through the carrier rules,
/// then end (every third one dropped, and those get a callback mark). Every event
/// has its time, so every answer follows from the script alone.
pub fn script(prefix: &str, calls: usize) -> Vec<Vec<Scripted>> {
    (0..calls)
        .map(|call| {
            let call_id = format!("{prefix}-{call}");
            let at = |seconds: usize| {
                (base_time() + SignedDuration::from_secs((call * 1000 + seconds) as i64))
                    .to_string()
            };
            let route = SCRIPT_ROUTES[call % SCRIPT_ROUTES.len()];
            let mut events: Vec<Scripted> = route
                .windows(2)
                .enumerate()
                .map(|(hop, pair)| {
                    let event_id = format!("{call_id}-t{hop}");
                    Scripted {
                        path: "/v1/transfers".to_owned(),
                        body: json!({
                            "event_id": event_id,
                            "call_id": call_id,
                            "from": pair[0],
                            "to": pair[1],
                            "mode": "warm",
                            "callback_number": "+14155550123",
                            "occurred_at": at(hop * 60),
                        }),
                        event_id,
                        call_id: call_id.clone(),
                    }
                })
                .collect();
            let dropped = call % 3 == 0;
            let event_id = format!("{call_id}-end");
            events.push(Scripted {
                path: format!("/v1/calls/{call_id}/end"),
                body: json!({
                    "event_id": event_id,
                    "outcome": if dropped { "disconnected" } else { "resolved" },
                    "occurred_at": at(600),
                }),
                event_id,
                call_id: call_id.clone(),
            });
            if dropped {
                let event_id = format!("{call_id}-callback");
                events.push(Scripted {
                    path: format!("/v1/calls/{call_id}/callback"),
                    body: json!({
                        "event_id": event_id,
                        "status": "done",
                        "occurred_at": at(700),
                    }),
                    event_id,
                    call_id: call_id.clone(),
                });
            }
            events
        })
        .collect()
}

/// What one engine answers for every event, each call's events in script order,
/// with the engine itself (for the calls' records).
pub fn reference(calls: &[Vec<Scripted>]) -> (HashMap<String, Value>, Engine) {
    let rules = carrier_rules();
    let mut engine = Engine::new();
    let mut answers = HashMap::new();
    for events in calls {
        for event in events {
            let mut body = event.body.clone();
            body["call_id"] = json!(event.call_id);
            let answer = if event.path.ends_with("/end") {
                let request: EndRequest = serde_json::from_value(body).expect("end request");
                to_json(&engine.end_call(request, base_time()).expect("valid").answer)
            } else if event.path.ends_with("/callback") {
                let request: CallbackRequest =
                    serde_json::from_value(body).expect("callback request");
                to_json(
                    &engine
                        .mark_callback(request, base_time())
                        .expect("valid")
                        .answer,
                )
            } else {
                let request: TransferRequest =
                    serde_json::from_value(body).expect("transfer request");
                to_json(
                    &engine
                        .transfer(&rules, request, base_time())
                        .expect("valid")
                        .answer,
                )
            };
            answers.insert(event.event_id.clone(), answer);
        }
    }
    (answers, engine)
}

/// Polls `condition` until it holds; fails after `limit`.
pub async fn wait_until(limit: std::time::Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The dashboard's overview of the scripted calls' days, as JSON: equal for two
/// indexes that hold the same calls.
pub fn dashboard_numbers(index: &loopguard::core::stats::StatsIndex) -> Value {
    let window = loopguard::core::stats::Window::ending_at(
        base_time() + SignedDuration::from_hours(48),
        SignedDuration::from_hours(72),
        SignedDuration::from_hours(1),
    );
    json!({
        "calls": index.len(),
        "overview": to_json(&index.overview(&window)),
    })
}

pub fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serializes")
}

/// Every stored event's record, in commit order, as JSON.
pub fn stored_records(server: &ThrowawayPostgres, url: &str) -> Vec<Value> {
    let database = url.rsplit('/').next().expect("a database in the URL");
    server
        .psql_in(database, "SELECT record FROM loopguard_events ORDER BY seq")
        .expect("events readable")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a stored record is JSON"))
        .collect()
}
