//! Durability under SIGKILL: the real binary on a real data directory, several
//! clients sending transfers concurrently, the server killed at random moments and
//! restarted. Every acknowledged event must survive with its answer, redelivery
//! must change nothing, and answers must be the ones a crash-free run gives.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use loopguard::core::engine::{CallId, Engine, EventId, TransferRequest};
use loopguard::core::rules::TransferMode;
use serde_json::{Value, json};

use crate::support::{BinaryServer, SCRIPT_ROUTES, carrier_rules, http, repo_root};

const CLIENTS: usize = 4;
const CALLS_PER_CLIENT: usize = 100;
const KILL_CYCLES: usize = 12;

/// One scripted transfer.
#[derive(Clone)]
struct Event {
    body: Value,
    event_id: String,
    call_id: String,
}

/// Chains that exercise allowed hops, ping-pongs and circles, with explicit times
/// so every answer is determined by the script alone.
fn script(client: usize) -> Vec<Event> {
    let base = Timestamp::from_second(1_795_000_000).expect("valid time");
    let mut events = Vec::new();
    for call in 0..CALLS_PER_CLIENT {
        let call_id = format!("crash-{client}-{call}");
        let route = SCRIPT_ROUTES[(client + call) % SCRIPT_ROUTES.len()];
        for (hop, pair) in route.windows(2).enumerate() {
            let event_id = format!("{call_id}-{hop}");
            let occurred_at =
                base + jiff::SignedDuration::from_secs((call * 100 + hop * 60) as i64);
            let body = json!({
                "event_id": event_id,
                "call_id": call_id,
                "from": pair[0],
                "to": pair[1],
                "mode": "warm",
                "callback_number": "+14155550123",
                "occurred_at": occurred_at.to_string(),
            });
            events.push(Event {
                body,
                event_id,
                call_id: call_id.clone(),
            });
        }
    }
    events
}

/// What a crash-free engine answers for every event, in script order per call.
fn reference_answers(scripts: &[Vec<Event>]) -> HashMap<String, Value> {
    let rules = carrier_rules();
    let mut engine = Engine::new();
    let mut answers = HashMap::new();
    for events in scripts {
        for event in events {
            let body = &event.body;
            let text = |key: &str| body[key].as_str().expect("scripted field").to_owned();
            let request = TransferRequest {
                event_id: EventId::parse(&event.event_id).expect("valid id"),
                call_id: CallId::parse(&event.call_id).expect("valid id"),
                from: text("from"),
                to: text("to"),
                mode: Some(TransferMode::Warm),
                intent: None,
                callback_number: Some(text("callback_number")),
                agent_id: None,
                occurred_at: Some(text("occurred_at").parse().expect("valid time")),
            };
            let outcome = engine
                .transfer(&rules, request, Timestamp::UNIX_EPOCH)
                .expect("scripted events are valid");
            answers.insert(
                event.event_id.clone(),
                serde_json::to_value(&outcome.answer).expect("answer serializes"),
            );
        }
    }
    answers
}

fn post(base: &str, event: &Event) -> std::io::Result<(u16, String)> {
    http(base, "POST", "/v1/transfers", Some(&event.body.to_string()))
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_event_and_redelivery_changes_nothing() {
    let rules = repo_root().join("routing-rules");
    let data = tempfile::tempdir().expect("data directory");
    let scripts: Vec<Vec<Event>> = (0..CLIENTS).map(script).collect();
    let acknowledged: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    // Next event each client has to send (it resends until acknowledged).
    let progress: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; CLIENTS]));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut interrupted = 0;

    for cycle in 0..KILL_CYCLES {
        let server = BinaryServer::start_with_data(&rules, data.path(), &[]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let base = server.base.clone();
                let events = scripts[client].clone();
                let acknowledged = acknowledged.clone();
                let progress = progress.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    loop {
                        let next = progress.lock().unwrap()[client];
                        if next >= events.len() || stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match post(&base, &events[next]) {
                            Ok((200, body)) => {
                                let answer: Value =
                                    serde_json::from_str(&body).expect("JSON answer");
                                acknowledged
                                    .lock()
                                    .unwrap()
                                    .insert(events[next].event_id.clone(), answer);
                                progress.lock().unwrap()[client] += 1;
                            }
                            Ok((status, body)) => {
                                // 503 is an honest "not recorded": retry like a platform.
                                assert_eq!(status, 503, "unexpected answer {status}: {body}");
                            }
                            // The server died under us: this event stays unacknowledged.
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Kill after a pseudo-random 10–80 ms (the last cycles let the clients finish).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pause = Duration::from_millis(10 + seed % 70);
        if cycle + 2 < KILL_CYCLES {
            std::thread::sleep(pause);
            let unfinished = progress
                .lock()
                .unwrap()
                .iter()
                .zip(&scripts)
                .any(|(next, events)| *next < events.len());
            interrupted += usize::from(unfinished);
            // SIGKILL: no shutdown path runs, exactly like a crash.
            server.kill();
        } else {
            for client in clients {
                client.join().expect("client thread");
            }
            server.kill();
            continue;
        }
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().expect("client thread");
        }
        assert!(
            Instant::now() < deadline,
            "crash test exceeded its time bound"
        );
    }

    assert!(
        interrupted >= KILL_CYCLES - 2,
        "only {interrupted} kills hit a server with work in flight; the test proves nothing"
    );
    let total: usize = scripts.iter().map(Vec::len).sum();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(
        acknowledged.len(),
        total,
        "every event was eventually acknowledged"
    );

    // Every acknowledged answer is what a crash-free run answers: no lost hop made a
    // bounce disappear, no doubled hop made a false one.
    let reference = reference_answers(&scripts);
    for (event_id, answer) in &acknowledged {
        assert_eq!(answer, &reference[event_id], "answer for {event_id}");
    }

    let server = BinaryServer::start_with_data(&rules, data.path(), &[]);
    let calls_before: BTreeMap<String, String> = scripts
        .iter()
        .flatten()
        .map(|event| {
            (
                event.call_id.clone(),
                server.get(&format!("/v1/calls/{}", event.call_id)),
            )
        })
        .collect();
    for (call_id, record) in &calls_before {
        let record: Value = serde_json::from_str(record).expect("call record");
        let hops = record["hops"].as_array().expect("hops");
        let expected: Vec<&Event> = scripts
            .iter()
            .flatten()
            .filter(|event| &event.call_id == call_id)
            .collect();
        assert_eq!(hops.len(), expected.len(), "{call_id}: one hop per event");
        for (hop, event) in hops.iter().zip(expected) {
            assert_eq!(
                hop["event_id"],
                event.event_id.as_str(),
                "{call_id}: hops in order"
            );
            assert_eq!(hop["verdict"], acknowledged[&event.event_id]["verdict"]);
        }
    }
    // Redeliver every event: the stored answer comes back and nothing changes.
    for event in scripts.iter().flatten() {
        let (status, body) = post(&server.base, event).expect("server up");
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_str(&body).expect("JSON answer");
        assert_eq!(
            answer, acknowledged[&event.event_id],
            "redelivered {}",
            event.event_id
        );
    }
    for (call_id, before) in &calls_before {
        assert_eq!(
            &server.get(&format!("/v1/calls/{call_id}")),
            before,
            "{call_id} changed"
        );
    }
    drop(server);
    assert!(Path::new(data.path()).join("loopguard.db").exists());
}
