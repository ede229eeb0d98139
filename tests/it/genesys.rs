//! The Genesys Cloud integration over real HTTP with its bearer token: the
//! Architect data action's question and conversation events, with the fixtures of
//! `tests/fixtures/integrations/genesys/`.

use loopguard::http::IntegrationSecrets;
use serde_json::{Value, json};

use crate::support::{TestServer, memory_state, repo_root};

const TOKEN: &str = "genesys-test-token-0123456789";
const ACTION: &str = "/v1/integrations/genesys/data-action";
const EVENTS: &str = "/v1/integrations/genesys/events";
const CONVERSATION: &str = "be9d3155-c3b6-4a6c-8ff1-5c48b4585135";
const SERVICE: &str = "67ce2258-ff62-4f8e-8467-2d79c9b98e2b";
const ACTIVATIONS: &str = "a623d83c-96d7-4baa-af1f-d46ad6700d8b";

async fn server() -> TestServer {
    let mut state = memory_state(crate::twilio::rules());
    state.integrations = IntegrationSecrets {
        genesys_token: Some(TOKEN.to_owned()),
        ..IntegrationSecrets::default()
    };
    TestServer::start_with(state).await
}

fn captured() -> Value {
    let text = std::fs::read_to_string(
        repo_root()
            .join("tests/fixtures/integrations/genesys/conversation-alerts-not-answered.json"),
    )
    .expect("fixture");
    serde_json::from_str(&text).expect("JSON")
}

async fn post(server: &TestServer, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    crate::support::status_and_json(request.send().await.expect("sent")).await
}

/// The captured conversation with the answering agent transferring the call to a
/// fourth agent in activations, who answers; the customer still on the line.
fn transferred(disconnect_type: &str) -> Value {
    let mut conversation = captured();
    let participants = conversation["participants"].as_array_mut().unwrap();
    let mut next = participants[5].clone();
    participants[5]["disconnectType"] = json!(disconnect_type);
    next["id"] = json!("d0000000-0000-0000-0000-000000000004");
    next["queue"]["id"] = json!(ACTIVATIONS);
    next["user"]["id"] = json!("a0000000-0000-0000-0000-000000000002");
    next["connectedTime"] = json!("2022-12-13T13:14:40.000Z");
    next["disconnectType"] = Value::Null;
    next["state"] = json!("connected");
    next.as_object_mut().unwrap().remove("endTime");
    participants.push(next);
    participants[0].as_object_mut().unwrap().remove("endTime");
    participants[0]["state"] = json!("connected");
    conversation
}

#[tokio::test]
async fn the_captured_conversation_has_no_agent_transfer_and_nothing_is_recorded() {
    let server = server().await;
    let (status, answer) = post(&server, EVENTS, &captured(), Some(TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{answer}");
    assert_eq!(results[0]["outcome"], "ignored", "{answer}");
    assert_eq!(
        server.get(&format!("/v1/calls/{CONVERSATION}")).await.0,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn an_agent_transfer_is_recorded_from_every_wrapping_and_every_snapshot_once() {
    let server = server().await;
    let snapshot = transferred("transfer.consult");
    let (status, answer) = post(&server, EVENTS, &snapshot, Some(TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "recorded", "{answer}");
    assert_eq!(answer["results"][0]["verdict"], "allow", "{answer}");
    // The same snapshot as a notification, and in an EventBridge envelope.
    let notification = json!({"topicName": format!("v2.conversations.{CONVERSATION}"), "version": "2", "eventBody": snapshot});
    let envelope = json!({"version": "0", "detail-type": format!("v2.conversations.{CONVERSATION}"), "source": "aws.partner/genesys.com/cloud/x/y", "detail": notification});
    for body in [&notification, &envelope] {
        let (status, answer) = post(&server, EVENTS, body, Some(TOKEN)).await;
        assert_eq!(
            (status, &answer["results"][0]["outcome"]),
            (200, &json!("replayed")),
            "{answer}"
        );
    }
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    let hops = call["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{call}");
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
            &json!("warm"),
            &json!("5f6fe78e-dfbb-400f-a70b-d9b5c8340fdc")
        )
    );
    // The customer hangs up: the call ends, resolved.
    let mut ended = snapshot.clone();
    ended["participants"][0]["endTime"] = json!("2022-12-13T13:16:00.000Z");
    ended["participants"][0]["state"] = json!("terminated");
    let (_, answer) = post(&server, EVENTS, &ended, Some(TOKEN)).await;
    assert_eq!(answer["results"][0]["outcome"], "replayed", "{answer}");
    assert_eq!(
        (
            &answer["results"][1]["kind"],
            &answer["results"][1]["outcome"]
        ),
        (&json!("end"), &json!("recorded")),
        "{answer}"
    );
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    assert_eq!(call["ended"]["outcome"], "resolved", "{call}");
    server.stop().await;
}

#[tokio::test]
async fn state_in_media_arrays_and_queue_ids_are_read_too() {
    let server = server().await;
    let mut conversation = transferred("transfer");
    for participant in conversation["participants"].as_array_mut().unwrap() {
        let object = participant.as_object_mut().unwrap();
        let queue = object
            .remove("queue")
            .and_then(|queue| queue["id"].as_str().map(str::to_owned));
        if let Some(queue) = queue {
            object.insert("queueId".into(), json!(queue));
        }
        let disconnect = object.remove("disconnectType").unwrap_or(Value::Null);
        let connected = object.remove("connectedTime").unwrap_or(Value::Null);
        object.insert("calls".into(), json!([{"state": "connected", "disconnectType": disconnect, "connectedTime": connected}]));
    }
    let (status, answer) = post(&server, EVENTS, &conversation, Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["results"][0]["verdict"]),
        (200, &json!("warn")),
        "{answer}"
    );
    let (_, call) = server.get(&format!("/v1/calls/{CONVERSATION}")).await;
    assert_eq!(call["hops"][0]["mode"], "cold", "{call}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_tokens_other_topics_and_malformed_conversations() {
    let server = server().await;
    let snapshot = transferred("transfer");
    for token in [None, Some("wrong-token-0123456789")] {
        let (status, answer) = post(&server, EVENTS, &snapshot, token).await;
        assert_eq!(
            (status, &answer["error"]["field"]),
            (401, &json!("authorization")),
            "{answer}"
        );
    }
    let (status, answer) = post(
        &server,
        EVENTS,
        &json!({"topicName": "v2.users.x.presence", "eventBody": {}}),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, &answer["results"][0]["outcome"]),
        (200, &json!("ignored")),
        "{answer}"
    );
    let mut no_id = snapshot.clone();
    no_id.as_object_mut().unwrap().remove("id");
    let mut bad_time = snapshot.clone();
    bad_time["participants"][5]["connectedTime"] = json!("yesterday");
    for (field, body) in [
        ("id", no_id),
        ("participants.connectedTime", bad_time),
        ("participants", json!({"id": "x"})),
    ] {
        let (status, answer) = post(&server, EVENTS, &body, Some(TOKEN)).await;
        assert_eq!(
            (status, &answer["error"]["field"]),
            (422, &json!(field)),
            "{answer}"
        );
    }
    assert_eq!(
        server.get(&format!("/v1/calls/{CONVERSATION}")).await.0,
        404
    );
    server.stop().await;
}

fn data_action(transfer_id: &str, from: &str, to: &str) -> Value {
    json!({
        "conversation_id": "c0000000-0000-0000-0000-000000000001",
        "transfer_id": transfer_id,
        "from_queue_id": from,
        "to_queue_id": to,
        "intent": "reconnect_line",
        "mode": "warm",
        "callback_number": "tel:+14155550123",
    })
}

#[tokio::test]
async fn the_data_action_answers_flat_strings_and_blocks_a_ping_pong() {
    let server = server().await;
    let (status, answer) = post(
        &server,
        ACTION,
        &data_action("t1", SERVICE, ACTIVATIONS),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"verdict": "allow", "reason": "", "suggested_department": "", "suggested_queue_id": ""})
    );
    let (_, again) = post(
        &server,
        ACTION,
        &data_action("t1", SERVICE, ACTIVATIONS),
        Some(TOKEN),
    )
    .await;
    assert_eq!(again, answer, "a retried data action gets the same answer");
    let (status, answer) = post(
        &server,
        ACTION,
        &data_action("t2", ACTIVATIONS, SERVICE),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, &answer["verdict"]),
        (200, &json!("block")),
        "{answer}"
    );
    assert!(
        answer["reason"].as_str().unwrap().starts_with("ping-pong"),
        "{answer}"
    );
    let (status, answer) = post(
        &server,
        ACTION,
        &data_action("t2", SERVICE, ACTIVATIONS),
        None,
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    let mut missing = data_action("t3", SERVICE, ACTIVATIONS);
    missing.as_object_mut().unwrap().remove("transfer_id");
    let (status, answer) = post(&server, ACTION, &missing, Some(TOKEN)).await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (422, &json!("transfer_id")),
        "{answer}"
    );
    let (_, call) = server
        .get("/v1/calls/c0000000-0000-0000-0000-000000000001")
        .await;
    assert_eq!(call["hops"].as_array().unwrap().len(), 2, "{call}");
    assert_eq!(call["hops"][0]["callback_number"], "+14155550123");
    server.stop().await;
}
