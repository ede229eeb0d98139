//! The transfer webhook over real HTTP on port 0: the seeds' stories, redelivery,
//! concurrency, signatures and every error shape.

use std::sync::Arc;

use jiff::Timestamp;
use loopguard::http::signature::{WebhookSecret, WebhookVerifier, sign};
use serde_json::{Value, json};

use crate::support::{TestServer, carrier_rules, codes, rules_from, transfer};

#[tokio::test]
async fn customer_service_to_activations_and_back_is_a_blocked_ping_pong_with_a_suggestion() {
    let server = TestServer::start(carrier_rules()).await;
    let mut first = transfer("e1", "call-1", "customer_service", "activations");
    first["intent"] = json!("reconnect_line");
    let (status, answer) = server.post("/v1/transfers", &first).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "allow");
    assert_eq!(answer["hop"], 1);

    let mut back = transfer("e2", "call-1", "activations", "customer_service");
    back["intent"] = json!("reconnect_line");
    let (status, answer) = server.post("/v1/transfers", &back).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "block");
    assert!(codes(&answer).contains(&"ping-pong".to_owned()), "{answer}");
    assert_eq!(
        answer["suggestion"]["department"], "activations",
        "{answer}"
    );
    assert_eq!(
        answer["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| step["department"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["customer_service", "activations"],
        "a blocked transfer does not move the call"
    );

    let (status, call) = server.get("/v1/calls/call-1").await;
    assert_eq!(status, 200);
    assert_eq!(call["hops"].as_array().unwrap().len(), 2);
    assert_eq!(call["hops"][1]["verdict"], "block");
    let (_, loops) = server.get("/v1/loops").await;
    assert_eq!(loops["calls"][0]["call_id"], "call-1");
    assert_eq!(loops["calls"][0]["loop_codes"], json!(["ping-pong"]));
    server.stop().await;
}

const CIRCLE_RULES: &str = r#"
[policy]
max_hops = 6
escalation = "supervisor_desk"

[[department]]
id = "customer_service"
entry = true
handles = ["general_inquiry"]

[[department]]
id = "billing"
handles = ["refund"]

[[department]]
id = "retention"
handles = ["cancel_service"]

[[department]]
id = "porting"
handles = ["number_port_out"]

[[department]]
id = "supervisor_desk"
handles = ["complaint_escalation"]

# loopguard: ignore[transfer-cycle] reason="the circle is what this test exercises"
[[transfer]]
from = "customer_service"
to = "billing"

[[transfer]]
from = "billing"
to = "retention"

[[transfer]]
from = "retention"
to = "porting"

[[transfer]]
from = "porting"
to = "customer_service"

[[transfer]]
from = "porting"
to = "supervisor_desk"
"#;

#[tokio::test]
async fn a_four_department_circle_is_a_circular_handoff_showing_the_whole_cycle() {
    let server = TestServer::start(rules_from(CIRCLE_RULES)).await;
    let steps = [
        ("customer_service", "billing"),
        ("billing", "retention"),
        ("retention", "porting"),
    ];
    for (index, (from, to)) in steps.iter().enumerate() {
        let (status, answer) = server
            .post(
                "/v1/transfers",
                &transfer(&format!("c{index}"), "circle", from, to),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(answer["verdict"], "allow", "{answer}");
    }
    let (status, answer) = server
        .post(
            "/v1/transfers",
            &transfer("c3", "circle", "porting", "customer_service"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["verdict"], "block", "{answer}");
    assert_eq!(codes(&answer), ["circular-handoff"]);
    let message = answer["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("customer_service → billing → retention → porting → customer_service"),
        "{message}"
    );
    assert_eq!(answer["suggestion"]["department"], "supervisor_desk");
    server.stop().await;
}

#[tokio::test]
async fn a_cold_transfer_without_callback_number_is_blocked_with_both_findings() {
    let server = TestServer::start(carrier_rules()).await;
    let body = json!({
        "event_id": "cold-1",
        "call_id": "call-cold",
        "from": "customer_service",
        "to": "billing",
        "mode": "blind",
        "intent": "refund",
    });
    let (status, answer) = server.post("/v1/transfers", &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["verdict"], "block");
    let mut found = codes(&answer);
    found.sort();
    assert_eq!(found, ["cold-transfer", "missing-callback-number"]);
    server.stop().await;
}

#[tokio::test]
async fn the_same_event_delivered_five_times_is_one_hop_with_one_answer() {
    let server = TestServer::start(carrier_rules()).await;
    let body = transfer("dup-1", "call-dup", "customer_service", "billing");
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (status, answer) = server.post("/v1/transfers", &body).await;
        assert_eq!(status, 200);
        answers.push(answer);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "{answers:?}"
    );
    let (_, call) = server.get("/v1/calls/call-dup").await;
    assert_eq!(call["hops"].as_array().unwrap().len(), 1);
    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("loopguard_webhook_requests_total{outcome=\"replayed\"} 4"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_redelivery_with_a_different_body_is_a_conflict() {
    let server = TestServer::start(carrier_rules()).await;
    let body = transfer("same-id", "call-x", "customer_service", "billing");
    assert_eq!(server.post("/v1/transfers", &body).await.0, 200);
    let mut changed = body.clone();
    changed["to"] = json!("retention");
    let (status, error) = server.post("/v1/transfers", &changed).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], "conflicting-redelivery");
    assert_eq!(error["error"]["field"], "event_id");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_concurrent_calls_loses_and_doubles_no_hop() {
    let server = Arc::new(TestServer::start(carrier_rules()).await);
    let mut tasks = Vec::new();
    for call in 0..500 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let call_id = format!("burst-{call}");
            for (hop, (from, to)) in [("customer_service", "billing"), ("billing", "retention")]
                .into_iter()
                .enumerate()
            {
                let mut body = transfer(&format!("{call_id}-{hop}"), &call_id, from, to);
                body["occurred_at"] = json!(format!("2026-11-22T08:00:0{hop}Z"));
                // Every event is sent twice, concurrently, as platforms redeliver.
                let (first, second) = tokio::join!(
                    server.post("/v1/transfers", &body),
                    server.post("/v1/transfers", &body)
                );
                assert_eq!((first.0, second.0), (200, 200));
                assert_eq!(first.1, second.1);
            }
        }));
    }
    for task in tasks {
        task.await.expect("burst task");
    }
    for call in 0..500 {
        let (status, record) = server.get(&format!("/v1/calls/burst-{call}")).await;
        assert_eq!(status, 200);
        let hops = record["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 2, "{record}");
        assert_eq!(hops[0]["to"], "billing");
        assert_eq!(hops[1]["to"], "retention");
    }
    Arc::into_inner(server)
        .expect("all tasks done")
        .stop()
        .await;
}

#[tokio::test]
async fn observe_mode_never_blocks_and_says_what_enforce_would_do() {
    let text =
        std::fs::read_to_string(crate::support::repo_root().join("routing-rules/policy.toml"))
            .unwrap();
    let observe = text.replace("mode = \"enforce\"", "mode = \"observe\"");
    let mut sources = Vec::new();
    for name in ["intents.toml", "departments.toml", "transfers.toml"] {
        let path = crate::support::repo_root().join("routing-rules").join(name);
        sources.push(loopguard::core::source::SourceFile::new(
            name,
            std::fs::read_to_string(path).unwrap(),
        ));
    }
    sources.push(loopguard::core::source::SourceFile::new(
        "policy.toml",
        observe,
    ));
    let report = loopguard::core::lint::lint(&sources);
    assert!(!report.has_errors());
    let server = TestServer::start(report.rules).await;
    let mut body = transfer("o1", "call-o", "customer_service", "billing");
    body["mode"] = json!("cold");
    let (status, answer) = server.post("/v1/transfers", &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["verdict"], "warn");
    assert_eq!(answer["enforce_verdict"], "block");
    assert_eq!(answer["policy_mode"], "observe");
    server.stop().await;
}

#[tokio::test]
async fn unknown_departments_are_served_with_a_warning() {
    let server = TestServer::start(carrier_rules()).await;
    let (status, answer) = server
        .post(
            "/v1/transfers",
            &transfer("u1", "call-u", "customer_service", "Sales Queue 7"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["verdict"], "warn");
    assert_eq!(codes(&answer), ["unknown-department"]);
    server.stop().await;
}

#[tokio::test]
async fn ending_a_call_closes_its_chain_and_is_idempotent() {
    let server = TestServer::start(carrier_rules()).await;
    server
        .post(
            "/v1/transfers",
            &transfer("t1", "call-end", "customer_service", "billing"),
        )
        .await;
    let end = json!({"event_id": "end-1", "outcome": "disconnected"});
    let (status, first) = server.post("/v1/calls/call-end/end", &end).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = server.post("/v1/calls/call-end/end", &end).await;
    assert_eq!(status, 200);
    assert_eq!(first, second);
    let (_, call) = server.get("/v1/calls/call-end").await;
    assert_eq!(call["ended"]["outcome"], "disconnected");
    let (status, error) = server
        .post("/v1/calls/nobody/end", &end_with_id("end-2"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "unknown-call");
    let (status, error) = server
        .post(
            "/v1/calls/call-end/end",
            &json!({"event_id": "end-3", "outcome": "exploded"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(error["error"]["field"], "outcome");
    server.stop().await;
}

fn end_with_id(event_id: &str) -> Value {
    json!({"event_id": event_id, "outcome": "resolved"})
}

/// Sends raw bytes with a content type; returns status and body.
async fn raw(server: &TestServer, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = server
        .client
        .post(format!("{}/v1/transfers", server.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    crate::support::status_and_json(response).await
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_problem_and_never_a_500() {
    let server = TestServer::start(carrier_rules()).await;
    // (content type, body, status, error code, field)
    type Case<'a> = (&'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "application/json",
            b"{\"event_id\": \"x\",".to_vec(),
            400,
            "invalid-json",
            None,
        ),
        (
            "application/json",
            b"{\"event_id\": 7}".to_vec(),
            400,
            "invalid-json",
            Some("event_id"),
        ),
        (
            "application/json",
            b"[1, 2]".to_vec(),
            400,
            "invalid-json",
            None,
        ),
        (
            "application/json",
            b"{} trailing".to_vec(),
            400,
            "invalid-json",
            None,
        ),
        (
            "application/json",
            vec![0xff, 0xfe, 0x00],
            400,
            "invalid-json",
            None,
        ),
        (
            "text/plain",
            b"{}".to_vec(),
            415,
            "unsupported-media-type",
            Some("content-type"),
        ),
        (
            "application/json",
            b"{}".to_vec(),
            422,
            "missing-field",
            Some("event_id"),
        ),
        (
            "application/json",
            br#"{"event_id":"a"}"#.to_vec(),
            422,
            "missing-field",
            Some("call_id"),
        ),
        (
            "application/json",
            br#"{"event_id":"a","call_id":"c","from":"x"}"#.to_vec(),
            422,
            "missing-field",
            Some("to"),
        ),
        (
            "application/json",
            br#"{"event_id":"a","call_id":"c","from":"x","to":"y","mode":"lukewarm"}"#.to_vec(),
            422,
            "invalid-value",
            Some("mode"),
        ),
        (
            "application/json",
            br#"{"event_id":"a","call_id":"c","from":"x","to":"y","occurred_at":"yesterday"}"#
                .to_vec(),
            422,
            "invalid-value",
            Some("occurred_at"),
        ),
        (
            "application/json",
            br#"{"event_id":"","call_id":"c","from":"x","to":"y"}"#.to_vec(),
            422,
            "invalid-value",
            Some("event_id"),
        ),
        (
            "application/json",
            format!(
                r#"{{"event_id":"a","call_id":"{}","from":"x","to":"y"}}"#,
                "c".repeat(300)
            )
            .into_bytes(),
            422,
            "invalid-value",
            Some("call_id"),
        ),
        (
            "application/json",
            br#"{"event_id":"a","call_id":"c\u0000","from":"x","to":"y"}"#.to_vec(),
            422,
            "invalid-value",
            Some("call_id"),
        ),
        (
            "application/json",
            vec![b' '; 70 * 1024],
            413,
            "body-too-large",
            None,
        ),
    ];
    for (content_type, body, status, code, field) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let (actual_status, error) = raw(&server, content_type, body).await;
        assert_eq!(actual_status, status, "{shown}: {error}");
        assert_eq!(error["error"]["code"], code, "{shown}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap_or("").is_empty());
        match field {
            Some(field) => assert_eq!(error["error"]["field"], field, "{shown}: {error}"),
            None => assert!(
                error["error"]["field"].is_null() || code == "invalid-json",
                "{shown}: {error}"
            ),
        }
    }
    let (status, error) = server.get("/v1/loops?limit=0").await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("limit"))
    );
    let (status, error) = server.get("/v1/loops?since=soon").await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("since"))
    );
    let (status, _) = server.get("/v1/calls/nobody").await;
    assert_eq!(status, 404);
    let (status, error) = server.get("/no/such/route").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("not-found"))
    );
    server.stop().await;
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgb2Yga2V5";
const NOW: i64 = 1_795_000_000;

fn fixed_now() -> Timestamp {
    Timestamp::from_second(NOW).expect("valid time")
}

async fn signed_server() -> TestServer {
    let verifier = WebhookVerifier::new(WebhookSecret::parse(SECRET).unwrap())
        .with_additional_secret(WebhookSecret::parse(OTHER_SECRET).unwrap());
    let mut state = crate::support::memory_state(carrier_rules()).with_verifier(Some(verifier));
    state.clock = loopguard::clock::Clock::fixed(fixed_now());
    TestServer::start_with(state).await
}

async fn send_signed(
    server: &TestServer,
    id: &str,
    timestamp: i64,
    signature: Option<String>,
    body: &str,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}/v1/transfers", server.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("webhook-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn signed_requests_pass_and_every_kind_of_bad_signature_is_refused() {
    let server = signed_server().await;
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let rotated = WebhookSecret::parse(OTHER_SECRET).unwrap();
    // The event id comes from the webhook-id header when the body has none.
    let body = r#"{"call_id":"signed","from":"customer_service","to":"billing","mode":"warm","callback_number":"+14155550123"}"#;

    let good = sign(&secret, "msg-1", NOW, body.as_bytes());
    assert_eq!(
        send_signed(&server, "msg-1", NOW, Some(good.clone()), body)
            .await
            .0,
        200
    );
    let by_rotated_key = sign(&rotated, "msg-2", NOW, body.as_bytes());
    assert_eq!(
        send_signed(&server, "msg-2", NOW, Some(by_rotated_key), body)
            .await
            .0,
        200
    );
    let several = format!("v1,AAAA {}", sign(&secret, "msg-3", NOW, body.as_bytes()));
    assert_eq!(
        send_signed(&server, "msg-3", NOW, Some(several), body)
            .await
            .0,
        200
    );

    let truncated = good[..good.len() - 6].to_owned();
    let wrong = sign(&secret, "msg-1", NOW, b"{}");
    let refused: Vec<(&str, i64, Option<String>)> = vec![
        ("no signature", NOW, None),
        ("wrong signature", NOW, Some(wrong)),
        ("empty v1", NOW, Some("v1,".to_owned())),
        ("truncated", NOW, Some(truncated)),
        (
            "301 s old",
            NOW - 301,
            Some(sign(&secret, "msg-1", NOW - 301, body.as_bytes())),
        ),
        (
            "301 s ahead",
            NOW + 301,
            Some(sign(&secret, "msg-1", NOW + 301, body.as_bytes())),
        ),
    ];
    for (case, timestamp, signature) in refused {
        let (status, error) = send_signed(&server, "msg-1", timestamp, signature, body).await;
        assert_eq!(status, 401, "{case}: {error}");
        assert_eq!(error["error"]["code"], "bad-signature", "{case}");
        assert!(
            error["error"]["field"]
                .as_str()
                .unwrap()
                .starts_with("webhook-"),
            "{case}: {error}"
        );
    }
    let (_, call) = server.get("/v1/calls/signed").await;
    assert_eq!(
        call["hops"].as_array().unwrap().len(),
        3,
        "only the signed events were recorded"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_health_and_openapi_are_served() {
    let server = TestServer::start(carrier_rules()).await;
    server
        .post(
            "/v1/transfers",
            &transfer("m1", "call-m", "customer_service", "billing"),
        )
        .await;
    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "loopguard_webhook_requests_total{outcome=\"allow\"} 1",
        "loopguard_webhook_request_duration_seconds_bucket{le=\"0.0001\"}",
        "loopguard_verdicts_total{verdict=\"allow\"} 1",
        "loopguard_findings_total{code=\"ping-pong\"} 0",
        "loopguard_active_calls 1",
        "loopguard_rules_last_reload_success 1",
        "loopguard_build_info{version=",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
    assert!(
        !metrics.contains("call-m"),
        "metrics must never carry call ids"
    );
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body), (200, Value::String("ok\n".to_owned())));
    let (status, ready) = server.get("/readyz").await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["paths"]["/v1/transfers"]["post"].is_object());
    server.stop().await;
}

/// The OpenAPI document is part of the contract: any change to it shows up as a
/// snapshot diff to review (`cargo insta review`). `loopguard openapi` prints it.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    insta::assert_snapshot!("openapi", loopguard::server::openapi::document());
}

#[tokio::test]
async fn a_dropped_transfer_owes_a_callback_until_it_is_marked_done() {
    let server = TestServer::start(carrier_rules()).await;
    server
        .post(
            "/v1/transfers",
            &transfer("cb-t", "call-cb", "customer_service", "billing"),
        )
        .await;
    server
        .post(
            "/v1/calls/call-cb/end",
            &json!({"event_id": "cb-end", "outcome": "disconnected"}),
        )
        .await;
    let (_, call) = server.get("/v1/calls/call-cb").await;
    assert!(call["callback"].is_null());

    let failed = json!({"event_id": "cb-1", "status": "failed", "note": "voicemail"});
    let (status, call) = server.post("/v1/calls/call-cb/callback", &failed).await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["callback"]["status"], "failed");
    let (status, again) = server.post("/v1/calls/call-cb/callback", &failed).await;
    assert_eq!(
        (status, &again),
        (200, &call),
        "a redelivered mark changes nothing"
    );

    let done = json!({"event_id": "cb-2", "status": "done"});
    let (status, call) = server.post("/v1/calls/call-cb/callback", &done).await;
    assert_eq!(status, 200);
    assert_eq!(call["callback"]["status"], "done");
    let (status, error) = server
        .post(
            "/v1/calls/call-cb/callback",
            &json!({"event_id": "cb-3", "status": "maybe"}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("status"))
    );
    server.stop().await;
}
