//! Several instances on one database: verdicts equal one engine's, redeliveries to
//! another instance get the stored answer, concurrent clients on the same calls
//! lose and duplicate nothing and every verdict saw the whole chain, and live views
//! follow every instance's events.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::future::join_all;
use loopguard::core::engine::{Engine, RecordedEvent};
use serde_json::{Value, json};

use loopguard::core::stats::StatsIndex;

use super::{
    cluster, dashboard_numbers, deliver, instance, reference, script, stored_records, to_json,
    wait_until,
};
use crate::support::{TestServer, carrier_rules, codes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_alternating_events_give_one_engines_verdicts_and_redeliveries_add_nothing() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("alternating");
    let instances = [instance(&url).await, instance(&url).await];
    let calls = script("alt", 60);
    let (expected, engine) = reference(&calls);

    // Each call's events one after the other, alternating instances; calls at once.
    let answers: Vec<Vec<(usize, Value)>> = join_all(calls.iter().map(|events| {
        let instances = &instances;
        async move {
            let mut answers = Vec::new();
            for (index, event) in events.iter().enumerate() {
                let target = index % 2;
                let answer = deliver(&instances[target], &event.path, &event.body).await;
                answers.push((target, answer));
            }
            answers
        }
    }))
    .await;

    let mut ping_pongs = 0;
    for (events, answers) in calls.iter().zip(&answers) {
        for (event, (_, answer)) in events.iter().zip(answers) {
            assert_eq!(answer, &expected[&event.event_id], "{}", event.event_id);
            if codes(answer).iter().any(|code| code == "ping-pong") {
                ping_pongs += 1;
            }
        }
    }
    // Two routes of three have a ping-pong, and every return hop went to the other
    // instance than the hop it returns over.
    assert_eq!(ping_pongs, 40);

    // Every event again, to the instance that did not take it: the stored answer.
    for (events, answers) in calls.iter().zip(&answers) {
        for (event, (target, answer)) in events.iter().zip(answers) {
            let again = deliver(&instances[1 - target], &event.path, &event.body).await;
            assert_eq!(&again, answer, "{}", event.event_id);
        }
    }
    let events: usize = calls.iter().map(Vec::len).sum();
    assert_eq!(stored_records(server, &url).len(), events, "no event twice");

    // Both instances read the calls back as the one engine holds them.
    for events in &calls {
        let call_id = &events[0].call_id;
        let reference = to_json(engine.call(call_id).expect("reference call"));
        for instance in &instances {
            let (status, call) = instance.get(&format!("/v1/calls/{call_id}")).await;
            assert_eq!(status, 200, "{call}");
            assert_eq!(call, reference, "{call_id}");
        }
    }
    let (_, loops) = instances[1].get("/v1/loops?limit=1000").await;
    let listed: Vec<&str> = loops["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|call| call["call_id"].as_str())
        .collect();
    let reference: Vec<&str> = engine
        .loops(None, 1000)
        .into_iter()
        .map(|call| call.call_id.as_str())
        .collect();
    assert_eq!(listed, reference);
    let (_, metrics) = instances[0].get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .is_some_and(|text| text.contains("loopguard_active_calls 0")),
        "every scripted call ended"
    );

    // Both dashboards add up to one engine's numbers, whichever instance took
    // which event (the other's arrive by notification, a few milliseconds later).
    let rules = carrier_rules();
    let expected = dashboard_numbers(&StatsIndex::from_calls(engine.calls(), Some(&rules)));
    assert_eq!(expected["calls"], calls.len(), "{expected}");
    for instance in &instances {
        let store = &instance.state.store;
        let numbers = || {
            let mut numbers = Value::Null;
            store.read_stats(&mut |index| numbers = dashboard_numbers(index));
            numbers
        };
        wait_until(Duration::from_secs(30), || numbers() == expected).await;
    }
}

/// A deterministic pseudo-random sequence (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_both_instances_lose_no_hop_duplicate_none_and_judge_against_the_whole_chain()
 {
    let Some(server) = cluster() else { return };
    let url = server.create_database("concurrent");
    let instances = [instance(&url).await, instance(&url).await];
    const CLIENTS: usize = 16;
    const EVENTS_PER_CLIENT: usize = 25;
    const CALLS: usize = 6;
    let departments = [
        "customer_service",
        "activations",
        "billing",
        "retention",
        "technical_support",
        "device_support",
    ];

    // Every client sends hops of the same few calls, to both instances, with event
    // times that are sometimes late, and sends every fourth event twice (to the
    // other instance, at once) as a platform redelivering would.
    let acknowledged: Vec<Vec<(String, String, Value)>> = join_all((0..CLIENTS).map(|client| {
        let instances = &instances;
        let departments = &departments;
        async move {
            let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (client as u64 + 1));
            let mut answers = Vec::new();
            for index in 0..EVENTS_PER_CLIENT {
                let call_id = format!("hot-{}", dice.roll(CALLS));
                let event_id = format!("c{client}-e{index}");
                let from = departments[dice.roll(departments.len())];
                let to = departments[dice.roll(departments.len())];
                let offset = (index * 10) as i64 - dice.roll(40) as i64;
                let occurred_at =
                    super::base_time() + jiff::SignedDuration::from_secs(offset.max(0));
                let body = json!({
                    "event_id": event_id,
                    "call_id": call_id,
                    "from": from,
                    "to": if to == from { "supervisor_desk" } else { to },
                    "mode": "warm",
                    "callback_number": "+14155550123",
                    "occurred_at": occurred_at.to_string(),
                });
                let target = (client + index) % 2;
                let (first, second) = if index % 4 == 0 {
                    tokio::join!(
                        deliver(&instances[target], "/v1/transfers", &body),
                        deliver(&instances[1 - target], "/v1/transfers", &body),
                    )
                } else {
                    let first = deliver(&instances[target], "/v1/transfers", &body).await;
                    (first.clone(), first)
                };
                assert_eq!(second, first, "{event_id}: both deliveries, one answer");
                answers.push((call_id, event_id, first));
            }
            answers
        }
    }))
    .await;

    // No hop lost, none twice: every acknowledged event is a hop of its call.
    let mut per_call: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut acknowledged_answers: HashMap<String, Value> = HashMap::new();
    for (call_id, event_id, answer) in acknowledged.into_iter().flatten() {
        per_call.entry(call_id).or_default().push(event_id.clone());
        acknowledged_answers.insert(event_id, answer);
    }
    for (call_id, mut sent) in per_call {
        let (status, call) = instances[0].get(&format!("/v1/calls/{call_id}")).await;
        assert_eq!(status, 200, "{call}");
        let mut hops: Vec<String> = call["hops"]
            .as_array()
            .expect("hops")
            .iter()
            .map(|hop| hop["event_id"].as_str().expect("event id").to_owned())
            .collect();
        sent.sort();
        hops.sort();
        assert_eq!(hops, sent, "{call_id}");
    }

    // No stale chain: judging the stored events again, in commit order, with one
    // engine gives every stored answer, and the stored answers are the ones sent.
    let records = stored_records(server, &url);
    assert_eq!(records.len(), CLIENTS * EVENTS_PER_CLIENT);
    let rules = carrier_rules();
    let mut engine = Engine::new();
    for record in records {
        let RecordedEvent::Transfer {
            request, answer, ..
        } = serde_json::from_value(record).expect("a recorded event")
        else {
            panic!("only transfers were sent");
        };
        let event_id = request.event_id.as_str().to_owned();
        let judged = engine
            .transfer(&rules, request, answer.occurred_at)
            .expect("valid");
        assert_eq!(
            *answer, judged.answer,
            "{event_id} was judged on a stale chain"
        );
        assert_eq!(
            to_json(&answer),
            acknowledged_answers[&event_id],
            "{event_id}: the stored answer is the one acknowledged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_by_one_instance_reach_the_other_instances_live_feed_and_dashboard() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("live");
    let first = instance(&url).await;
    let second = instance(&url).await;
    let mut first_feed = first.state.live.subscribe();
    let mut second_feed = second.state.live.subscribe();

    // One transfer to the first instance, then one to the second (at the time of
    // receipt, so both are in the dashboard's last hour).
    let transfer = |call_id: &str| {
        json!({"event_id": format!("{call_id}-t0"), "call_id": call_id,
               "from": "customer_service", "to": "billing", "mode": "cold"})
    };
    let (status, answer) = first.post("/v1/transfers", &transfer("live-0")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = second.post("/v1/transfers", &transfer("live-1")).await;
    assert_eq!(status, 200, "{answer}");

    // Each instance announces both, once each, in commit order: its own from the
    // webhook route, the other's from the database's notification.
    for feed in [&mut first_feed, &mut second_feed] {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let update = tokio::time::timeout(Duration::from_secs(10), feed.recv())
                .await
                .expect("a live update within 10 s")
                .expect("the feed is open");
            assert_eq!(update.kind, "transfer");
            assert_eq!(update.verdict, Some(loopguard::core::rules::Action::Block));
            seen.push(update.call_id);
        }
        assert_eq!(seen, ["live-0", "live-1"]);
    }
    // Both dashboards count both transfers: a read model applies an event before
    // its update is announced.
    for instance in [&first, &second] {
        let (status, overview) = instance.get("/v1/stats/overview?window=1h").await;
        assert_eq!(status, 200, "{overview}");
        assert_eq!(overview["transfers"], 2, "{overview}");
        assert_eq!(
            overview["blocked"], 2,
            "cold transfers are blocked: {overview}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_the_database() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("ready");
    let instance: TestServer = instance(&url).await;
    let (status, ready) = instance.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["store"],
        json!({"backend": "postgres", "ready": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_made_on_one_instance_is_closed_on_the_other_and_both_dashboards_follow_it() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("promises");
    let first = instance(&url).await;
    let second = instance(&url).await;
    let mut second_feed = second.state.live.subscribe();

    let transfer = json!({"event_id": "pc-t0", "call_id": "pc", "from": "customer_service",
                          "to": "billing", "mode": "warm", "callback_number": "+14155550123"});
    deliver(&first, "/v1/transfers", &transfer).await;
    let promise = json!({"event_id": "pc-p0", "promise_id": "refund", "text": "Refund the fee",
                         "due_at": "2999-01-01T00:00:00Z"});
    let made = deliver(&first, "/v1/calls/pc/promises", &promise).await;
    assert_eq!(
        made["department"], "billing",
        "owed where the call is: {made}"
    );

    // The second instance hears of both events and counts the open promise.
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let update = tokio::time::timeout(Duration::from_secs(10), second_feed.recv())
            .await
            .expect("a live update within 10 s")
            .expect("the feed is open");
        assert_eq!(update.call_id, "pc");
        kinds.push(update.kind);
    }
    assert_eq!(kinds, ["transfer", "promise"]);
    let (status, page) = second.get("/v1/stats/follow-ups").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["promise_id"], "refund", "{page}");

    // A redelivery of the promise to the other instance gets the stored answer; a
    // different body under the same event id is a conflict.
    let again = deliver(&second, "/v1/calls/pc/promises", &promise).await;
    assert_eq!(again, made);
    let mut changed = promise.clone();
    changed["text"] = json!("Something else");
    let (status, error) = second.post("/v1/calls/pc/promises", &changed).await;
    assert_eq!(status, 409, "{error}");

    // Closed on the second instance: the first one's call and dashboard see it.
    let close = json!({"event_id": "pc-k0", "status": "kept", "note": "refunded"});
    let closed = deliver(&second, "/v1/calls/pc/promises/refund", &close).await;
    assert_eq!(closed["closed"]["status"], "kept", "{closed}");
    let (status, call) = first.get("/v1/calls/pc").await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["promises"][0]["closed"]["note"], "refunded", "{call}");
    let open_promises = || {
        let mut open = (0, 0);
        first
            .state
            .store
            .read_stats(&mut |index| open = index.open_follow_ups());
        open.1
    };
    wait_until(Duration::from_secs(10), || open_promises() == 0).await;
    let (_, page) = first.get("/v1/stats/follow-ups").await;
    assert_eq!(
        page["total"], 0,
        "the kept promise is no longer owed: {page}"
    );
    let (status, again) = first.post("/v1/calls/pc/promises/refund", &close).await;
    assert_eq!((status, &again), (200, &closed));
}
