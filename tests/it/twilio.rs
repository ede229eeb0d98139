//! The Twilio integration over real HTTP: TaskRouter's Event Callback (form bodies
//! signed with `X-Twilio-Signature`, answered 204) and the Flex plugin's question
//! (JSON signed through `bodySHA256`), with the fixtures of
//! `tests/fixtures/integrations/twilio/`.

use loopguard::http::{AppState, IntegrationSecrets};
use loopguard::integrations::twilio::{body_hash, signature};
use serde_json::{Value, json};

use crate::support::{TestServer, lint_fixture, memory_state, repo_root};

const TOKEN: &str = "twilio-test-auth-token";
const EVENTS: &str = "/v1/integrations/twilio/taskrouter";
const FLEX: &str = "/v1/integrations/twilio/flex/transfer";
const CONVERSATION: &str = "WT00000000000000000000000000000001";

pub fn rules() -> loopguard::core::rules::Rules {
    let (_, report) = lint_fixture("tests/fixtures/integrations/rules");
    assert!(!report.has_errors());
    report.rules
}

fn state(public_url: Option<&str>) -> AppState {
    let mut state = memory_state(rules());
    state.integrations = IntegrationSecrets {
        twilio_auth_token: Some(TOKEN.to_owned()),
        public_url: public_url.map(str::to_owned),
        ..IntegrationSecrets::default()
    };
    state
}

fn fixture(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        repo_root()
            .join("tests/fixtures/integrations/twilio")
            .join(name),
    )
    .expect("fixture readable");
    serde_urlencoded::from_str(text.trim()).expect("fixture is a form")
}

fn with(
    mut pairs: Vec<(String, String)>,
    name: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    pairs.retain(|(key, _)| key != name);
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    pairs
}

/// POSTs a TaskRouter event signed for `signed_url` (None: unsigned); returns the
/// status, the `loopguard-outcome` and `loopguard-verdict` headers and the body.
async fn post_event(
    server: &TestServer,
    pairs: &[(String, String)],
    signed_url: Option<&str>,
) -> (u16, String, String, Value) {
    let mut request = server
        .client
        .post(format!("{}{EVENTS}", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).expect("encodable"));
    if let Some(url) = signed_url {
        request = request.header("X-Twilio-Signature", signature(TOKEN, url, pairs));
    }
    let response = request.send().await.expect("sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (outcome, verdict) = (header("loopguard-outcome"), header("loopguard-verdict"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        outcome,
        verdict,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn url(server: &TestServer, path: &str) -> String {
    format!("{}{path}", server.base)
}

async fn hops(server: &TestServer, call: &str) -> Vec<Value> {
    let (status, record) = server.get(&format!("/v1/calls/{call}")).await;
    if status == 404 {
        return Vec::new();
    }
    record["hops"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_completed_transfer_is_recorded_once_and_a_redelivery_replayed() {
    let server = TestServer::start_with(state(None)).await;
    let event = fixture("transfer-completed.form");
    let signed = url(&server, EVENTS);
    let (status, outcome, verdict, body) = post_event(&server, &event, Some(&signed)).await;
    assert_eq!(
        (status, outcome.as_str(), verdict.as_str()),
        (204, "recorded", "warn"),
        "{body}"
    );
    let (status, outcome, _, _) = post_event(&server, &event, Some(&signed)).await;
    assert_eq!((status, outcome.as_str()), (204, "replayed"));
    let hops = hops(&server, CONVERSATION).await;
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert_eq!(
        (
            &hops[0]["from"],
            &hops[0]["to"],
            &hops[0]["mode"],
            &hops[0]["agent_id"]
        ),
        (
            &json!("customer_service"),
            &json!("activations"),
            &json!("cold"),
            &json!("WK0123456789abcdef0123456789abcdef")
        )
    );
    assert_eq!(hops[0]["occurred_at"], "2023-11-14T22:13:25Z");
    assert_eq!(hops[0]["callback_number"], "+14155550123");
    server.stop().await;
}

#[tokio::test]
async fn a_transfer_straight_back_is_judged_a_ping_pong_after_the_fact() {
    let server = TestServer::start_with(state(None)).await;
    let signed = url(&server, EVENTS);
    let first = fixture("transfer-completed.form");
    post_event(&server, &first, Some(&signed)).await;
    let back = with(
        with(
            with(
                first,
                "TaskQueueSid",
                Some("WQfedcba9876543210fedcba9876543210"),
            ),
            "TransferTo",
            Some("WQ0123456789abcdef0123456789abcdef"),
        ),
        "TimestampMs",
        Some("1700000030000"),
    );
    let back = with(back, "TransferInitiatingReservationSid", Some("WR1"));
    let (status, outcome, verdict, _) = post_event(&server, &back, Some(&signed)).await;
    assert_eq!(
        (status, outcome.as_str(), verdict.as_str()),
        (204, "recorded", "block")
    );
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    assert!(
        call["hops"][1]["findings"]
            .to_string()
            .contains("ping-pong"),
        "{call}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_end_of_the_task_that_holds_the_call_ends_it_and_of_one_that_handed_it_on_does_not() {
    let server = TestServer::start_with(state(None)).await;
    let signed = url(&server, EVENTS);
    post_event(&server, &fixture("transfer-completed.form"), Some(&signed)).await;
    // The transferring task completes: the call goes on in the task the transfer created.
    let (status, outcome, _, _) =
        post_event(&server, &fixture("task-completed.form"), Some(&signed)).await;
    assert_eq!((status, outcome.as_str()), (204, "ignored"));
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    assert!(call["ended"].is_null(), "{call}");
    // The task that took the call over completes: the call is over.
    let target_done = with(
        fixture("task-completed.form"),
        "TaskSid",
        Some("WT00000000000000000000000000000002"),
    );
    let (status, outcome, _, _) = post_event(&server, &target_done, Some(&signed)).await;
    assert_eq!((status, outcome.as_str()), (204, "recorded"));
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    assert_eq!(call["ended"]["outcome"], "resolved", "{call}");
    server.stop().await;
}

#[tokio::test]
async fn other_events_and_ends_of_calls_without_transfers_are_answered_and_ignored() {
    let server = TestServer::start_with(state(None)).await;
    let signed = url(&server, EVENTS);
    for (name, pairs) in [
        ("reservation", fixture("reservation-accepted.form")),
        ("end without transfer", fixture("task-completed.form")),
        (
            "unknown event type with unknown parameters",
            with(
                with(
                    fixture("reservation-accepted.form"),
                    "EventType",
                    Some("worker.activity.update"),
                ),
                "SomethingNew",
                Some("1"),
            ),
        ),
        (
            "a transfer that failed",
            with(
                fixture("transfer-completed.form"),
                "EventType",
                Some("task.transfer-failed"),
            ),
        ),
    ] {
        let (status, outcome, _, body) = post_event(&server, &pairs, Some(&signed)).await;
        assert_eq!(
            (status, outcome.as_str()),
            (204, "ignored"),
            "{name}: {body}"
        );
    }
    assert!(hops(&server, CONVERSATION).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn bad_signatures_and_malformed_events_are_refused_and_nothing_is_recorded() {
    let server = TestServer::start_with(state(None)).await;
    let signed = url(&server, EVENTS);
    let event = fixture("transfer-completed.form");
    let (status, _, _, body) = post_event(&server, &event, None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (401, Some("x-twilio-signature"))
    );
    let (status, _, _, _) = post_event(
        &server,
        &event,
        Some("https://elsewhere.example.com/v1/integrations/twilio/taskrouter"),
    )
    .await;
    assert_eq!(status, 401);
    // Signed for the body before a parameter was changed.
    let mut request = server
        .client
        .post(&signed)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature(TOKEN, &signed, &event));
    let tampered = with(
        event.clone(),
        "TransferTo",
        Some("WQ0123456789abcdef0123456789abcdef"),
    );
    request = request.body(serde_urlencoded::to_string(&tampered).unwrap());
    assert_eq!(request.send().await.unwrap().status().as_u16(), 401);

    for (field, pairs) in [
        ("TransferTo", with(event.clone(), "TransferTo", None)),
        (
            "TaskAttributes",
            with(event.clone(), "TaskAttributes", Some("{not json")),
        ),
        (
            "TimestampMs",
            with(event.clone(), "TimestampMs", Some("yesterday")),
        ),
        (
            "TransferMode",
            with(event.clone(), "TransferMode", Some("LUKEWARM")),
        ),
        ("EventType", with(event.clone(), "EventType", None)),
    ] {
        let (status, _, _, body) = post_event(&server, &pairs, Some(&signed)).await;
        assert_eq!(status, 422, "{field}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let response = server
        .client
        .post(&signed)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert!(hops(&server, CONVERSATION).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn behind_a_proxy_the_signature_covers_the_public_url() {
    let server = TestServer::start_with(state(Some("https://cc.example.com/loopguard"))).await;
    let event = fixture("transfer-completed.form");
    let public = format!("https://cc.example.com/loopguard{EVENTS}");
    let (status, outcome, _, body) = post_event(&server, &event, Some(&public)).await;
    assert_eq!((status, outcome.as_str()), (204, "recorded"), "{body}");
    let (status, _, _, _) = post_event(&server, &event, Some(&url(&server, EVENTS))).await;
    assert_eq!(
        status, 401,
        "the URL loopguard sees is not the one Twilio signed"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_its_token_the_route_is_closed_when_the_server_checks_signatures() {
    let secret = loopguard::http::signature::WebhookSecret::parse(
        "whsec_c2lwLXRlc3Qtc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz",
    )
    .unwrap();
    let state = memory_state(rules()).with_verifier(Some(
        loopguard::http::signature::WebhookVerifier::new(secret),
    ));
    let server = TestServer::start_with(state).await;
    let (status, _, _, body) = post_event(&server, &fixture("transfer-completed.form"), None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--twilio-auth-token")
    );
    server.stop().await;
}

fn flex_body() -> Value {
    json!({
        "task_sid": "WT00000000000000000000000000000001",
        "reservation_sid": "WR0123456789abcdef0123456789abcdef",
        "from": "WQ0123456789abcdef0123456789abcdef",
        "to": "WQfedcba9876543210fedcba9876543210",
        "mode": "COLD",
        "conversation_id": CONVERSATION,
        "worker_sid": "WK0123456789abcdef0123456789abcdef",
        "intent": "reconnect_line",
        "unknown_field": true,
    })
}

/// POSTs JSON to the Flex route the way the Twilio Function signs it.
async fn post_flex(server: &TestServer, body: &Value, tamper: bool) -> (u16, Value) {
    let text = body.to_string();
    let url = format!(
        "{}{FLEX}?bodySHA256={}",
        server.base,
        body_hash(text.as_bytes())
    );
    let sent = if tamper {
        text.replace("COLD", "WARM")
    } else {
        text
    };
    let response = server
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("X-Twilio-Signature", signature(TOKEN, &url, &[]))
        .body(sent)
        .send()
        .await
        .expect("sent");
    crate::support::status_and_json(response).await
}

#[tokio::test]
async fn a_flex_decision_answers_the_plugin_and_the_later_observation_is_the_same_transfer() {
    let server = TestServer::start_with(state(None)).await;
    let (status, answer) = post_flex(&server, &flex_body(), false).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["verdict"], &answer["cancel"], &answer["event_id"]),
        (
            &json!("warn"),
            &json!(false),
            &json!(
                "twilio:WT00000000000000000000000000000001:WR0123456789abcdef0123456789abcdef:WQfedcba9876543210fedcba9876543210"
            )
        )
    );
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .starts_with("cold-transfer"),
        "{answer}"
    );
    let (status, outcome, verdict, _) = post_event(
        &server,
        &fixture("transfer-completed.form"),
        Some(&url(&server, EVENTS)),
    )
    .await;
    assert_eq!(
        (status, outcome.as_str(), verdict.as_str()),
        (204, "replayed", "warn")
    );
    assert_eq!(hops(&server, CONVERSATION).await.len(), 1);

    // Straight back: the plugin is told to cancel, with the reason and the target.
    let mut back = flex_body();
    back["reservation_sid"] = json!("WR2");
    back["from"] = json!("WQfedcba9876543210fedcba9876543210");
    back["to"] = json!("WQ0123456789abcdef0123456789abcdef");
    back["intent"] = json!("general_inquiry");
    let (status, answer) = post_flex(&server, &back, false).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["verdict"], &answer["cancel"]),
        (&json!("block"), &json!(true))
    );
    assert!(
        answer["reason"].as_str().unwrap().starts_with("ping-pong"),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_flex_body_that_is_not_the_one_signed_is_refused() {
    let server = TestServer::start_with(state(None)).await;
    let (status, answer) = post_flex(&server, &flex_body(), true).await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (401, &json!("bodySHA256"))
    );
    let mut missing = flex_body();
    missing.as_object_mut().unwrap().remove("to");
    let (status, answer) = post_flex(&server, &missing, false).await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (422, &json!("to")),
        "{answer}"
    );
    assert!(hops(&server, CONVERSATION).await.is_empty());
    server.stop().await;
}
