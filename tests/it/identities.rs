//! Platform identities through the engine and the stats: aliases resolve to
//! departments, both names are kept, a redelivery is compared with what was sent
//! and a replay keeps the departments decided at the time, whatever the aliases
//! say now; a transfer without a mode never passes as warm.

use jiff::Timestamp;
use loopguard::core::engine::{CallId, Engine, EventId, RecordedEvent, TransferRequest, Verdict};
use loopguard::core::rules::{RuntimeCode, TransferMode};
use loopguard::core::stats::{Window, bounce_matrix};

use crate::support::rules_from;

const RULES: &str = r#"
[policy]
require_callback_number = false

[[department]]
id = "customer_service"
entry = true
handles = ["general_inquiry"]
aliases = ["sip:2001@pbx.example.com"]

[[department]]
id = "activations"
handles = ["reconnect_line"]
aliases = ["3001", "arn:aws:connect:us-east-1:123456789012:instance/i-1/queue/q-activations"]

[[transfer]]
from = "customer_service"
to = "activations"
intents = ["reconnect_line"]
"#;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + second).expect("valid time")
}

fn request(event: &str, from: &str, to: &str, mode: Option<TransferMode>) -> TransferRequest {
    TransferRequest {
        event_id: EventId::parse(event).expect("valid id"),
        call_id: CallId::parse("call-1").expect("valid id"),
        from: from.to_owned(),
        to: to.to_owned(),
        mode,
        intent: Some("reconnect_line".to_owned()),
        callback_number: None,
        agent_id: None,
        occurred_at: None,
    }
}

#[test]
fn aliases_resolve_to_departments_and_both_names_are_kept() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let transfer = request(
        "e1",
        "\"Front desk\" <sip:2001@PBX.example.com:5060>",
        "sips:3001@10.1.2.3",
        Some(TransferMode::Warm),
    );
    let answer = engine.transfer(&rules, transfer, at(0)).unwrap().answer;
    assert_eq!(answer.verdict, Verdict::Allow, "{:?}", answer.findings);
    let hop = &engine.call("call-1").unwrap().hops[0];
    assert_eq!(
        (hop.from.as_str(), hop.to.as_str()),
        ("customer_service", "activations")
    );
    assert_eq!(
        hop.from_label(),
        "customer_service (\"Front desk\" <sip:2001@PBX.example.com:5060>)"
    );
    assert_eq!(hop.to_label(), "activations (sips:3001@10.1.2.3)");
    let by_id = request(
        "e2",
        "activations",
        "customer_service",
        Some(TransferMode::Warm),
    );
    engine.transfer(&rules, by_id, at(60)).unwrap();
    assert_eq!(
        engine.call("call-1").unwrap().hops[1].from_label(),
        "activations"
    );
}

#[test]
fn an_identity_no_alias_matches_stays_an_unknown_department() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let transfer = request(
        "e1",
        "sip:2001@pbx.example.com",
        "sip:9999@pbx.example.com",
        Some(TransferMode::Warm),
    );
    let answer = engine.transfer(&rules, transfer, at(0)).unwrap().answer;
    assert_eq!(answer.verdict, Verdict::Warn);
    let unknown = &answer.findings[0];
    assert_eq!(unknown.code, RuntimeCode::UnknownDepartment);
    assert!(
        unknown.message.contains("`sip:9999@pbx.example.com`"),
        "{}",
        unknown.message
    );
    assert_eq!(answer.to.unwrap().department, "sip:9999@pbx.example.com");
}

#[test]
fn a_transfer_without_a_mode_never_passes_as_warm() {
    let mut text = RULES.to_owned();
    let rules = rules_from(&text);
    let mut engine = Engine::new();
    let answer = engine
        .transfer(
            &rules,
            request("e1", "customer_service", "activations", None),
            at(0),
        )
        .unwrap()
        .answer;
    assert_eq!(answer.verdict, Verdict::Warn);
    assert_eq!(answer.findings[0].code, RuntimeCode::UnknownTransferMode);
    assert!(answer.findings[0].message.contains("send `mode`"));

    text = text.replace(
        "require_callback_number = false",
        "require_callback_number = false\n[policy.actions]\nunknown-transfer-mode = \"block\"",
    );
    let strict = rules_from(&text);
    let answer = Engine::new()
        .transfer(
            &strict,
            request("e1", "customer_service", "activations", None),
            at(0),
        )
        .unwrap()
        .answer;
    assert_eq!(answer.verdict, Verdict::Block);

    let relaxed = rules_from(&RULES.replace(
        "require_callback_number = false",
        "require_callback_number = false\nrequire_warm_transfer = false",
    ));
    let answer = Engine::new()
        .transfer(
            &relaxed,
            request("e1", "customer_service", "activations", None),
            at(0),
        )
        .unwrap()
        .answer;
    assert!(answer.findings.is_empty(), "{:?}", answer.findings);
}

#[test]
fn redeliveries_and_replays_keep_what_was_decided_when_the_aliases_change() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let transfer = request(
        "e1",
        "sip:2001@pbx.example.com",
        "3001",
        Some(TransferMode::Warm),
    );
    let first = engine
        .transfer(&rules, transfer.clone(), at(0))
        .unwrap()
        .answer;
    let recorded = engine.recorded(&transfer.event_id).unwrap().clone();

    // The PBX's extensions move: 2001 is no longer customer service.
    let reloaded =
        rules_from(&RULES.replace("sip:2001@pbx.example.com", "sip:2009@pbx.example.com"));
    let again = engine.transfer(&reloaded, transfer.clone(), at(5)).unwrap();
    assert!(again.replayed);
    assert_eq!(again.answer, first);

    let mut rebuilt = Engine::new();
    rebuilt.replay(recorded);
    assert_eq!(rebuilt.call("call-1"), engine.call("call-1"));
    assert_eq!(
        rebuilt.call("call-1").unwrap().hops[0].from,
        "customer_service"
    );
}

#[test]
fn answers_recorded_before_identities_existed_replay_with_the_names_sent() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let transfer = request(
        "e1",
        "customer_service",
        "activations",
        Some(TransferMode::Warm),
    );
    engine.transfer(&rules, transfer.clone(), at(0)).unwrap();
    let mut stored = serde_json::to_value(engine.recorded(&transfer.event_id).unwrap()).unwrap();
    let answer = stored["answer"].as_object_mut().unwrap();
    answer.remove("from");
    answer.remove("to");
    let old: RecordedEvent = serde_json::from_value(stored).unwrap();
    let mut rebuilt = Engine::new();
    rebuilt.replay(old);
    let hop = &rebuilt.call("call-1").unwrap().hops[0];
    assert_eq!(
        (hop.from.as_str(), hop.to.as_str()),
        ("customer_service", "activations")
    );
}

#[test]
fn the_stats_count_an_alias_under_its_department() {
    let rules = rules_from(RULES);
    let mut engine = Engine::new();
    let transfer = request(
        "e1",
        "sip:2001@pbx.example.com",
        "arn:aws:connect:us-east-1:123456789012:instance/i-1/queue/q-activations",
        Some(TransferMode::Warm),
    );
    engine.transfer(&rules, transfer, at(0)).unwrap();
    let window = Window::ending_at(
        at(60),
        jiff::SignedDuration::from_hours(1),
        jiff::SignedDuration::from_mins(5),
    );
    let calls: Vec<_> = engine.calls().collect();
    let matrix = bounce_matrix(calls.iter().copied(), &rules, &window);
    assert_eq!(matrix.departments, ["customer_service", "activations"]);
    assert_eq!(matrix.transfers[0][1], 1);
}
