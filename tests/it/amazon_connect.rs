//! The Amazon Connect integration over real HTTP, signed with Standard Webhooks as
//! the forwarding Lambda of `contrib/amazon-connect/` signs: the flow's question
//! (`/flow`, a flat map of strings back) and EventBridge contact events
//! (`/events`), with the fixtures of `tests/fixtures/integrations/amazon-connect/`.

use loopguard::http::signature::{WebhookSecret, WebhookVerifier};
use serde_json::{Value, json};

use crate::support::{TestServer, memory_state, repo_root};

const SECRET: &str = "whsec_Y29ubmVjdC10ZXN0LXNlY3JldC1vZi1hdC1sZWFzdC0yNC1ieXRlcw==";
const FLOW: &str = "/v1/integrations/amazon-connect/flow";
const EVENTS: &str = "/v1/integrations/amazon-connect/events";
const SERVICE_QUEUE: &str = "arn:aws:connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012/queue/12345678-1234-1234-1234-123456789012";
const ACTIVATIONS_QUEUE: &str = "arn:aws:connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012/queue/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const INITIAL: &str = "11111111-1111-1111-1111-111111111111";

async fn server() -> TestServer {
    let verifier = WebhookVerifier::new(WebhookSecret::parse(SECRET).expect("secret"));
    TestServer::start_with(memory_state(crate::twilio::rules()).with_verifier(Some(verifier))).await
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("tests/fixtures/integrations/amazon-connect")
            .join(name),
    )
    .expect("fixture readable")
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture is JSON")
}

/// POSTs a body signed as the forwarding Lambda signs it (None: unsigned).
async fn post(server: &TestServer, path: &str, body: &str, signed: bool) -> (u16, Value) {
    let id = format!("msg_{}", body.len());
    let now = jiff::Timestamp::now().as_second();
    let mut request = server
        .client
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .body(body.to_owned());
    if signed {
        let signer = standardwebhooks::Webhook::new(SECRET).expect("a valid secret");
        request = request.header(
            "webhook-signature",
            signer.sign(&id, now, body.as_bytes()).expect("signed"),
        );
    }
    crate::support::status_and_json(request.send().await.expect("sent")).await
}

/// A QUEUED event of a contact made by a transfer from `previous`.
fn queued(contact: &str, previous: &str, initiation: &str, queue: &str, at: &str) -> Value {
    let mut event = fixture("contact-event-connected-to-agent.json");
    event["detail"] = json!({
        "eventType": "QUEUED",
        "contactId": contact,
        "initialContactId": INITIAL,
        "previousContactId": previous,
        "channel": "VOICE",
        "instanceArn": "arn:aws::connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012",
        "initiationMethod": initiation,
        "initiationTimestamp": at,
        "queueInfo": {"queueType": "STANDARD", "queueArn": queue, "enqueueTimestamp": at},
        "somethingNew": {"nested": true},
    });
    event
}

fn disconnected(contact: &str, reason: Option<&str>) -> Value {
    let mut event = fixture("contact-event-disconnected.json");
    event["detail"]["contactId"] = json!(contact);
    event["detail"]["initialContactId"] = json!(INITIAL);
    event["detail"]["disconnectTimestamp"] = json!("2021-08-04T17:40:00.000Z");
    if let Some(reason) = reason {
        event["detail"]["disconnectReason"] = json!(reason);
    }
    event
}

async fn call(server: &TestServer) -> Value {
    server.get(&format!("/v1/calls/{INITIAL}")).await.1
}

#[tokio::test]
async fn transfers_reported_by_contact_events_are_chained_by_the_initial_contact() {
    let server = server().await;
    // The first contact is queued in customer service (remembered, nothing recorded).
    let (status, answer) = post(
        &server,
        EVENTS,
        &fixture_text("contact-event-connected-to-agent.json"),
        true,
    )
    .await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("ignored")),
        "{answer}"
    );
    // An agent transfers it to activations: a new contact, queued there.
    let to_activations = queued(
        "22222222-2222-2222-2222-222222222222",
        INITIAL,
        "TRANSFER",
        ACTIVATIONS_QUEUE,
        "2021-08-04T17:30:00.000Z",
    )
    .to_string();
    let (status, answer) = post(&server, EVENTS, &to_activations, true).await;
    assert_eq!(
        (status, &answer["outcome"], &answer["verdict"]),
        (200, &json!("recorded"), &json!("warn")),
        "{answer}"
    );
    let (status, answer) = post(&server, EVENTS, &to_activations, true).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("replayed")),
        "{answer}"
    );
    // Straight back, in PascalCase as older samples write it: a ping-pong, judged after the fact.
    let mut back = queued(
        "33333333-3333-3333-3333-333333333333",
        "22222222-2222-2222-2222-222222222222",
        "QUEUE_TRANSFER",
        SERVICE_QUEUE,
        "2021-08-04T17:30:20.000Z",
    );
    let detail = back["detail"].as_object().unwrap().clone();
    back["detail"] = Value::Object(
        detail
            .into_iter()
            .map(|(key, value)| (format!("{}{}", key[..1].to_uppercase(), &key[1..]), value))
            .collect(),
    );
    let (status, answer) = post(&server, EVENTS, &back.to_string(), true).await;
    assert_eq!(
        (status, &answer["verdict"]),
        (200, &json!("block")),
        "{answer} {}",
        call(&server).await
    );
    assert!(
        answer["reason"].as_str().unwrap().starts_with("ping-pong"),
        "{answer}"
    );
    let record = call(&server).await;
    let hops = record["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "{record}");
    assert_eq!(
        (&hops[0]["from"], &hops[0]["to"], &hops[0]["mode"]),
        (
            &json!("customer_service"),
            &json!("activations"),
            &Value::Null
        )
    );
    assert!(
        hops[0]["findings"]
            .to_string()
            .contains("unknown-transfer-mode"),
        "{record}"
    );
    assert_eq!(hops[0]["occurred_at"], "2021-08-04T17:30:00Z");

    // The contact that handed the call on disconnects: the call goes on.
    let (_, answer) = post(
        &server,
        EVENTS,
        &disconnected(
            "22222222-2222-2222-2222-222222222222",
            Some("AGENT_DISCONNECT"),
        )
        .to_string(),
        true,
    )
    .await;
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    // The last contact drops: the call ended disconnected (a callback may be owed).
    let (_, answer) = post(
        &server,
        EVENTS,
        &disconnected(
            "33333333-3333-3333-3333-333333333333",
            Some("TELECOM_PROBLEM"),
        )
        .to_string(),
        true,
    )
    .await;
    assert_eq!(
        (&answer["outcome"], &answer["kind"]),
        (&json!("recorded"), &json!("end")),
        "{answer}"
    );
    assert_eq!(call(&server).await["ended"]["outcome"], "disconnected");
    server.stop().await;
}

#[tokio::test]
async fn the_published_samples_are_answered_as_they_are() {
    let server = server().await;
    // Verbatim, with its trailing comma: not JSON, refused naming nothing recorded.
    let (status, answer) = post(
        &server,
        EVENTS,
        &fixture_text("contact-event-disconnected.verbatim.json"),
        true,
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("invalid-json")),
        "{answer}"
    );
    // Without the comma: the end of a call that had no transfer: nothing to close.
    let (status, answer) = post(
        &server,
        EVENTS,
        &fixture_text("contact-event-disconnected.json"),
        true,
    )
    .await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("ignored")),
        "{answer}"
    );
    // The admin guide's flow event has no `to`: 422 naming it.
    let (status, answer) = post(
        &server,
        FLOW,
        &fixture_text("flow-event-admin-guide.json"),
        true,
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (422, &json!("Details.Parameters.to")),
        "{answer}"
    );
    for other in [
        json!({"detail-type": "Amazon Connect Agent Event", "detail": {}}),
        json!({"detail-type": "Amazon Connect Contact Event", "detail": {"eventType": "CONTACT_DATA_UPDATED", "contactId": "x"}}),
        json!({"detail-type": "Amazon Connect Contact Event", "detail": {"eventType": "INITIATED", "contactId": "y", "initiationMethod": "TRANSFER", "previousContactId": "x"}}),
    ] {
        let (status, answer) = post(&server, EVENTS, &other.to_string(), true).await;
        assert_eq!(
            (status, &answer["outcome"]),
            (200, &json!("ignored")),
            "{answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_signatures_and_malformed_events_are_refused_and_nothing_is_recorded() {
    let server = server().await;
    let transfer = queued(
        "22222222-2222-2222-2222-222222222222",
        INITIAL,
        "TRANSFER",
        ACTIVATIONS_QUEUE,
        "2021-08-04T17:30:00.000Z",
    );
    let (status, answer) = post(&server, EVENTS, &transfer.to_string(), false).await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (401, &json!("webhook-signature")),
        "{answer}"
    );
    let mut no_contact = transfer.clone();
    no_contact["detail"]
        .as_object_mut()
        .unwrap()
        .remove("contactId");
    let mut no_queue = transfer.clone();
    no_queue["detail"]
        .as_object_mut()
        .unwrap()
        .remove("queueInfo");
    let mut no_previous = transfer.clone();
    no_previous["detail"]
        .as_object_mut()
        .unwrap()
        .remove("previousContactId");
    for (field, body) in [
        ("detail.contactId", no_contact),
        ("detail.queueInfo.queueArn", no_queue),
        ("detail.previousContactId", no_previous),
        (
            "detail",
            json!({"detail-type": "Amazon Connect Contact Event"}),
        ),
    ] {
        let (status, answer) = post(&server, EVENTS, &body.to_string(), true).await;
        assert_eq!(
            (status, &answer["error"]["field"]),
            (422, &json!(field)),
            "{answer}"
        );
    }
    // A transfer whose previous contact was never seen queued is not guessed.
    let (status, answer) = post(&server, EVENTS, &transfer.to_string(), true).await;
    assert_eq!(
        (status, &answer["outcome"]),
        (200, &json!("ignored")),
        "{answer}"
    );
    assert_eq!(server.get(&format!("/v1/calls/{INITIAL}")).await.0, 404);
    server.stop().await;
}

fn flow_event(contact: &str, to: &str, extra: Value) -> Value {
    let mut event = fixture("flow-event-admin-guide.json");
    let data = &mut event["Details"]["ContactData"];
    data["ContactId"] = json!(contact);
    data["InitialContactId"] = json!(INITIAL);
    data["Queue"] = json!({"ARN": SERVICE_QUEUE, "Name": "BasicQueue", "OutboundCallerId": {"Address": "+12345678903"}});
    data["CustomerEndpoint"]["Address"] = json!("+14155550123");
    let mut parameters = json!({"to": to, "intent": "reconnect_line", "mode": "warm"});
    for (key, value) in extra.as_object().unwrap() {
        parameters[key] = value.clone();
    }
    event["Details"]["Parameters"] = parameters;
    event
}

#[tokio::test]
async fn a_flow_gets_a_flat_map_and_the_decided_transfer_is_not_recorded_again() {
    let server = server().await;
    let (status, answer) = post(
        &server,
        FLOW,
        &flow_event(INITIAL, ACTIVATIONS_QUEUE, json!({})).to_string(),
        true,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"verdict": "allow", "reason": "", "suggested_department": "", "suggested_queue": ""})
    );
    // The contact events report the same transfer afterwards.
    post(
        &server,
        EVENTS,
        &fixture_text("contact-event-connected-to-agent.json"),
        true,
    )
    .await;
    let (_, answer) = post(
        &server,
        EVENTS,
        &queued(
            "22222222-2222-2222-2222-222222222222",
            INITIAL,
            "TRANSFER",
            ACTIVATIONS_QUEUE,
            "2021-08-04T17:30:00.000Z",
        )
        .to_string(),
        true,
    )
    .await;
    assert_eq!(answer["outcome"], "replayed", "{answer}");
    let record = call(&server).await;
    assert_eq!(record["hops"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(record["hops"][0]["callback_number"], "+14155550123");

    // Straight back with the queue's name as `from`: blocked, with where to go.
    let back = flow_event(
        "22222222-2222-2222-2222-222222222222",
        "BasicQueue",
        json!({"from": ACTIVATIONS_QUEUE, "intent": "reconnect_line"}),
    );
    let (status, answer) = post(&server, FLOW, &back.to_string(), true).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "block", "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().starts_with("ping-pong"),
        "{answer}"
    );
    assert_eq!(
        answer.as_object().unwrap().len(),
        4,
        "a flat map of four strings: {answer}"
    );
    assert!(
        answer.as_object().unwrap().values().all(Value::is_string),
        "{answer}"
    );

    let (status, answer) = post(
        &server,
        FLOW,
        &flow_event(INITIAL, ACTIVATIONS_QUEUE, json!({"mode": 3})).to_string(),
        true,
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (422, &json!("Details.Parameters.mode")),
        "{answer}"
    );
    server.stop().await;
}
