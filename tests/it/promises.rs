//! Promises made on a call, over HTTP: recorded, redelivered, refused when they
//! conflict, closed as kept or broken, signed like every webhook, and kept across a
//! restart of the durable store.

use std::sync::Arc;

use loopguard::clock::Clock;
use loopguard::core::engine::{
    CallId, EventId, PromiseCloseRequest, PromiseEvent, PromiseId, PromiseOutcome, PromiseRequest,
    TransferRequest,
};
use loopguard::metrics::Metrics;
use loopguard::store::{CallStore, SqliteStore, StoreConfig};
use serde_json::json;

use crate::support::{TestServer, carrier_rules, transfer};

async fn server_with_call() -> TestServer {
    let server = TestServer::start(carrier_rules()).await;
    let (status, answer) = server
        .post(
            "/v1/transfers",
            &transfer("t1", "call-p", "customer_service", "billing"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    server
}

#[tokio::test]
async fn a_promise_is_recorded_once_closed_once_and_shown_on_the_call() {
    let server = server_with_call().await;
    let promise = json!({
        "event_id": "p1", "promise_id": "refund", "text": "Refund the double charge",
        "due_at": "2030-01-01T10:00:00Z",
    });
    let (status, made) = server.post("/v1/calls/call-p/promises", &promise).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["department"], "billing", "owed where the call is");
    assert!(made["closed"].is_null());
    let (status, again) = server.post("/v1/calls/call-p/promises", &promise).await;
    assert_eq!(
        (status, &again),
        (200, &made),
        "a redelivery is answered the same"
    );

    let mut changed = promise.clone();
    changed["text"] = json!("Something else");
    let (status, error) = server.post("/v1/calls/call-p/promises", &changed).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["code"], "conflicting-redelivery");
    changed["event_id"] = json!("p2");
    let (status, error) = server.post("/v1/calls/call-p/promises", &changed).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["code"], "promise-exists");

    let close = json!({"event_id": "k1", "status": "kept", "note": "refunded",
                       "occurred_at": "2029-12-31T09:00:00Z"});
    let (status, closed) = server
        .post("/v1/calls/call-p/promises/refund", &close)
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["closed"]["status"], "kept");
    let (status, again) = server
        .post("/v1/calls/call-p/promises/refund", &close)
        .await;
    assert_eq!((status, &again), (200, &closed));

    let (_, call) = server.get("/v1/calls/call-p").await;
    assert_eq!(call["promises"][0]["closed"]["note"], "refunded", "{call}");
    server.stop().await;
}

#[tokio::test]
async fn bad_promise_requests_name_the_field_and_unknown_ones_are_404() {
    let server = server_with_call().await;
    let cases = [
        (
            json!({"event_id": "a", "text": "x", "due_at": "2030-01-01T00:00:00Z"}),
            422,
            "promise_id",
        ),
        (
            json!({"event_id": "b", "promise_id": "p", "due_at": "2030-01-01T00:00:00Z"}),
            422,
            "text",
        ),
        (
            json!({"event_id": "c", "promise_id": "p", "text": "x"}),
            422,
            "due_at",
        ),
        (
            json!({"event_id": "d", "promise_id": "p", "text": "x", "due_at": "tomorrow"}),
            422,
            "due_at",
        ),
        (
            json!({"event_id": "e", "promise_id": "p", "text": "x".repeat(1001), "due_at": "2030-01-01T00:00:00Z"}),
            422,
            "text",
        ),
    ];
    for (body, status, field) in cases {
        let (got, error) = server.post("/v1/calls/call-p/promises", &body).await;
        assert_eq!(
            (got, error["error"]["field"].as_str()),
            (status, Some(field)),
            "{error}"
        );
    }
    let body =
        json!({"event_id": "f", "promise_id": "p", "text": "x", "due_at": "2030-01-01T00:00:00Z"});
    let (status, error) = server.post("/v1/calls/nobody/promises", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("unknown-call"))
    );
    let close = json!({"event_id": "g", "status": "kept"});
    let (status, error) = server.post("/v1/calls/call-p/promises/nope", &close).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("unknown-promise"))
    );
    let close = json!({"event_id": "h", "status": "maybe"});
    let (status, error) = server.post("/v1/calls/call-p/promises/nope", &close).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("status"))
    );
    server.stop().await;
}

#[tokio::test]
async fn promise_routes_need_the_webhook_signature_when_a_secret_is_set() {
    use loopguard::http::signature::{WebhookSecret, WebhookVerifier};
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let verifier = WebhookVerifier::new(WebhookSecret::parse(secret).unwrap());
    let state = crate::support::memory_state(carrier_rules()).with_verifier(Some(verifier));
    let server = TestServer::start_with(state).await;
    let body =
        json!({"event_id": "p1", "promise_id": "x", "text": "y", "due_at": "2030-01-01T00:00:00Z"});
    for path in ["/v1/calls/call-p/promises", "/v1/calls/call-p/promises/x"] {
        let (status, error) = server.post(path, &body).await;
        assert_eq!(status, 401, "{path}: {error}");
        assert_eq!(error["error"]["code"], "bad-signature");
    }
    server.stop().await;
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("valid time")
}

#[tokio::test]
async fn promises_survive_a_restart_of_the_durable_store_and_redeliveries_match() {
    let data = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(data.path());
    let rules = Arc::new(carrier_rules());
    let now = at("2030-01-01T08:00:00Z");
    let make = PromiseEvent::Make(PromiseRequest {
        event_id: EventId::parse("p1").unwrap(),
        call_id: CallId::parse("call-1").unwrap(),
        promise_id: PromiseId::parse("fix").unwrap(),
        text: "Fix the line by noon".to_owned(),
        due_at: at("2030-01-01T12:00:00Z"),
        department: Some("technical_support".to_owned()),
        occurred_at: None,
    });
    let close = PromiseEvent::Close(PromiseCloseRequest {
        event_id: EventId::parse("k1").unwrap(),
        call_id: CallId::parse("call-1").unwrap(),
        promise_id: PromiseId::parse("fix").unwrap(),
        status: PromiseOutcome::Broken,
        note: Some("parts missing".to_owned()),
        occurred_at: None,
    });
    let before = {
        let (store, _) =
            SqliteStore::open(config.clone(), Metrics::new(), Clock::system()).unwrap();
        let request = TransferRequest {
            event_id: EventId::parse("t1").unwrap(),
            call_id: CallId::parse("call-1").unwrap(),
            from: "customer_service".to_owned(),
            to: "technical_support".to_owned(),
            mode: None,
            intent: None,
            callback_number: None,
            agent_id: None,
            occurred_at: None,
        };
        store
            .record_transfer(rules.clone(), request, now)
            .await
            .unwrap();
        store
            .record_promise(rules.clone(), make.clone(), now)
            .await
            .unwrap();
        store
            .record_promise(rules.clone(), close.clone(), now)
            .await
            .unwrap();
        store.call("call-1").await.unwrap().expect("the call")
    };
    let (reopened, report) = SqliteStore::open(config, Metrics::new(), Clock::system()).unwrap();
    assert_eq!(report.events_loaded, 3);
    assert_eq!(reopened.call("call-1").await.unwrap(), Some(before.clone()));
    assert_eq!(
        before.promises[0].closed.as_ref().unwrap().status,
        PromiseOutcome::Broken
    );
    let again = reopened
        .record_promise(rules.clone(), make, now)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.answer.promise_id.as_str(), "fix");
    let mut different = close.clone();
    if let PromiseEvent::Close(request) = &mut different {
        request.status = PromiseOutcome::Kept;
    }
    let conflict = reopened.record_promise(rules, different, now).await;
    assert!(conflict.is_err(), "same id, different body");
    let mut stats_calls = 0;
    reopened.read_stats(&mut |index| stats_calls = index.len());
    assert_eq!(stats_calls, 1);
}

mod model {
    //! The engine's promises against a reference model: a map of promises per call
    //! and a map of answered event ids, with redeliveries, conflicting bodies,
    //! unknown calls and promises drawn at random; replaying what was recorded
    //! rebuilds the same calls.

    use std::collections::HashMap;

    use jiff::Timestamp;
    use loopguard::core::engine::{
        CallId, Engine, EngineError, EventId, Promise, PromiseCloseRequest, PromiseEvent,
        PromiseId, PromiseOutcome, PromiseRequest, TransferRequest,
    };
    use loopguard::core::rules::Rules;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Make {
            event: u8,
            call: u8,
            promise: u8,
            due: i64,
            department: Option<u8>,
        },
        Close {
            event: u8,
            call: u8,
            promise: u8,
            kept: bool,
            at: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..10, 0u8..2, 0u8..4, 0i64..100, prop::option::of(0u8..3)).prop_map(
                |(event, call, promise, due, department)| Op::Make {
                    event,
                    call,
                    promise,
                    due,
                    department
                }
            ),
            (0u8..10, 0u8..2, 0u8..4, any::<bool>(), 0i64..100).prop_map(
                |(event, call, promise, kept, at)| Op::Close {
                    event,
                    call,
                    promise,
                    kept,
                    at
                }
            ),
        ]
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + second).expect("valid time")
    }

    fn request(op: &Op) -> PromiseEvent {
        match *op {
            Op::Make {
                event,
                call,
                promise,
                due,
                department,
            } => PromiseEvent::Make(PromiseRequest {
                event_id: EventId::parse(&format!("e{event}")).unwrap(),
                call_id: CallId::parse(&format!("call-{call}")).unwrap(),
                promise_id: PromiseId::parse(&format!("p{promise}")).unwrap(),
                text: "call back".to_owned(),
                due_at: at(due),
                department: department
                    .map(|department| ["billing", "sales", "x"][department as usize].to_owned()),
                occurred_at: Some(at(0)),
            }),
            Op::Close {
                event,
                call,
                promise,
                kept,
                at: second,
            } => PromiseEvent::Close(PromiseCloseRequest {
                event_id: EventId::parse(&format!("e{event}")).unwrap(),
                call_id: CallId::parse(&format!("call-{call}")).unwrap(),
                promise_id: PromiseId::parse(&format!("p{promise}")).unwrap(),
                status: if kept {
                    PromiseOutcome::Kept
                } else {
                    PromiseOutcome::Broken
                },
                note: None,
                occurred_at: Some(at(second)),
            }),
        }
    }

    /// What the model expects: an answer, or the kind of refusal.
    #[derive(Debug, PartialEq)]
    enum Expected {
        Answer(Box<Promise>, bool),
        Conflict,
        UnknownCall,
        PromiseExists,
        UnknownPromise,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn promises_follow_the_reference_model_and_replay_to_the_same_calls(ops in prop::collection::vec(op(), 1..40)) {
            let rules = Rules::default();
            let mut engine = Engine::new();
            // Only call-0 exists.
            let transfer = TransferRequest {
                event_id: EventId::parse("t").unwrap(),
                call_id: CallId::parse("call-0").unwrap(),
                from: "front".to_owned(),
                to: "billing".to_owned(),
                mode: None,
                intent: None,
                callback_number: Some("+14155550123".to_owned()),
                agent_id: None,
                occurred_at: Some(at(0)),
            };
            engine.transfer(&rules, transfer, at(0)).unwrap();
            let mut recorded = vec![engine.recorded(&EventId::parse("t").unwrap()).unwrap().clone()];
            let mut answered: HashMap<EventId, (PromiseEvent, Promise)> = HashMap::new();
            let mut promises: Vec<Promise> = Vec::new();
            for op in &ops {
                let event = request(op);
                let event_id = event.event_id().clone();
                let expected = if let Some((original, answer)) = answered.get(&event_id) {
                    if *original == event { Expected::Answer(Box::new(answer.clone()), true) } else { Expected::Conflict }
                } else if event.call_id().as_str() != "call-0" {
                    Expected::UnknownCall
                } else {
                    match &event {
                        PromiseEvent::Make(make) => {
                            if promises.iter().any(|promise| promise.promise_id == make.promise_id) {
                                Expected::PromiseExists
                            } else {
                                let department = make.department.clone().unwrap_or_else(|| "billing".to_owned());
                                let promise = Promise {
                                    promise_id: make.promise_id.clone(),
                                    call_id: make.call_id.clone(),
                                    event_id: make.event_id.clone(),
                                    text: make.text.clone(),
                                    due_at: make.due_at,
                                    department,
                                    department_identity: None,
                                    made_at: at(0),
                                    closed: None,
                                };
                                promises.push(promise.clone());
                                answered.insert(event_id.clone(), (event.clone(), promise.clone()));
                                Expected::Answer(Box::new(promise), false)
                            }
                        }
                        PromiseEvent::Close(close) => {
                            match promises.iter_mut().find(|promise| promise.promise_id == close.promise_id) {
                                None => Expected::UnknownPromise,
                                Some(promise) => {
                                    promise.closed = Some(loopguard::core::engine::PromiseClosure {
                                        event_id: close.event_id.clone(),
                                        status: close.status,
                                        note: None,
                                        occurred_at: close.occurred_at.unwrap(),
                                    });
                                    let answer = promise.clone();
                                    answered.insert(event_id.clone(), (event.clone(), answer.clone()));
                                    Expected::Answer(Box::new(answer), false)
                                }
                            }
                        }
                    }
                };
                let got = match engine.promise(&rules, event, at(50)) {
                    Ok(outcome) => {
                        if !outcome.replayed {
                            recorded.push(engine.recorded(&event_id).unwrap().clone());
                        }
                        Expected::Answer(Box::new(outcome.answer), outcome.replayed)
                    }
                    Err(EngineError::Conflict { .. }) => Expected::Conflict,
                    Err(EngineError::UnknownCall { .. }) => Expected::UnknownCall,
                    Err(EngineError::PromiseExists { .. }) => Expected::PromiseExists,
                    Err(EngineError::UnknownPromise { .. }) => Expected::UnknownPromise,
                    Err(other) => panic!("unexpected {other:?}"),
                };
                prop_assert_eq!(got, expected);
            }
            prop_assert_eq!(&engine.call("call-0").unwrap().promises, &promises);
            let mut rebuilt = Engine::new();
            for event in recorded {
                let text = serde_json::to_string(&event).unwrap();
                rebuilt.replay(serde_json::from_str(&text).unwrap());
            }
            prop_assert_eq!(rebuilt.call("call-0"), engine.call("call-0"));
        }
    }
}
