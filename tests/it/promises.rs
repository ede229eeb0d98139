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
        store.call("call-1").expect("the call")
    };
    let (reopened, report) = SqliteStore::open(config, Metrics::new(), Clock::system()).unwrap();
    assert_eq!(report.events_loaded, 3);
    assert_eq!(reopened.call("call-1").as_ref(), Some(&before));
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
