//! The dashboard against a hostile or runaway platform (issue #9): what an outside
//! probe sent, sent again to the real router on port 0, and the bounded outcome
//! asserted with generous size ceilings (never timings).

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use loopguard::core::engine::{CallId, CallOutcome, EndRequest, EventId, TransferRequest};
use loopguard::core::rules::{Rules, TransferMode};
use loopguard::core::stats::{MAX_UNKNOWN_DEPARTMENTS_KEPT, MAX_UNKNOWN_DEPARTMENTS_SHOWN};
use loopguard::store::{CallStore, MemoryStore};
use serde_json::{Value, json};

use crate::support::{TestServer, carrier_rules, transfer};

/// The carrier's nine departments.
const KNOWN: usize = 9;

async fn text(server: &TestServer, path: &str) -> String {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

/// A server over a memory store the test fills through the store's own API (as fast
/// as a platform could fill it over HTTP, without a hundred thousand requests).
async fn server_over(store: Arc<MemoryStore>, rules: Rules) -> TestServer {
    let state = loopguard::http::AppState::new(
        rules,
        "test",
        store,
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::system(),
    );
    TestServer::start_with(state).await
}

#[tokio::test]
async fn two_thousand_unknown_departments_leave_every_view_small() {
    let server = TestServer::start(carrier_rules()).await;
    for number in 0..2_000 {
        let (status, answer) = server
            .post(
                "/v1/transfers",
                &transfer(
                    &format!("e{number}"),
                    &format!("call-{number}"),
                    "customer_service",
                    &format!("unknown-department-{number:04}"),
                ),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // The probe's 917 MB page: now a page of the rules' departments, the busiest
    // unknown ones and one row for the rest.
    for path in [
        "/matrix?window=1h",
        "/graph?window=1h",
        "/departments?window=1h",
    ] {
        let page = text(&server, path).await;
        assert!(page.len() < 1_000_000, "{path} is {} bytes", page.len());
        assert!(
            page.contains("other unknown ("),
            "{path} lacks the merged row"
        );
    }
    let (status, matrix) = server.get("/v1/stats/matrix?window=1h").await;
    assert_eq!(status, 200);
    assert!(
        matrix.to_string().len() < 100_000,
        "{}",
        matrix.to_string().len()
    );
    let departments = matrix["departments"].as_array().expect("departments");
    assert_eq!(departments.len(), KNOWN + MAX_UNKNOWN_DEPARTMENTS_SHOWN + 1);
    // The statistics keep a bounded number of unknown names apart; the rest are counted
    // together, and every transfer is still counted.
    let other = &matrix["other_unknown"];
    assert_eq!(
        other["departments"],
        (MAX_UNKNOWN_DEPARTMENTS_KEPT - MAX_UNKNOWN_DEPARTMENTS_SHOWN) as u64
    );
    assert_eq!(other["untracked"], true);
    let taken: u64 = matrix["transfers"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| row.as_array().expect("row").iter())
        .map(|cell| cell.as_u64().expect("count"))
        .sum();
    assert_eq!(taken, 2_000);
    let (_, graph) = server.get("/v1/stats/graph?window=1h").await;
    assert_eq!(
        graph["nodes"].as_array().expect("nodes").len(),
        KNOWN + MAX_UNKNOWN_DEPARTMENTS_SHOWN + 1
    );
    assert!(graph.to_string().len() < 100_000);
    let (_, table) = server.get("/v1/stats/departments?window=1h").await;
    assert_eq!(
        table["total"],
        (KNOWN + MAX_UNKNOWN_DEPARTMENTS_SHOWN + 1) as u64
    );
    let merged: Vec<&Value> = table["items"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["merged"] == true)
        .collect();
    assert_eq!(merged.len(), 1, "{table}");
    assert_eq!(
        merged[0]["transfers_in"],
        2_000 - MAX_UNKNOWN_DEPARTMENTS_SHOWN as u64
    );
    server.stop().await;
}

/// Records `count` calls, each one transfer to a department the rules do not know
/// (warned, so flagged, but carried out) then a disconnect: each is owed a callback.
async fn dropped_calls(store: &MemoryStore, rules: &Arc<Rules>, count: usize) {
    let now = Timestamp::now();
    for number in 0..count {
        let call_id = CallId::parse(&format!("dropped-{number:06}")).expect("valid id");
        let at = now - SignedDuration::from_secs(600) + SignedDuration::from_millis(number as i64);
        let request = TransferRequest {
            event_id: EventId::parse(&format!("t{number}")).expect("valid id"),
            call_id: call_id.clone(),
            from: "customer_service".to_owned(),
            to: "night-desk".to_owned(),
            mode: Some(TransferMode::Warm),
            intent: None,
            callback_number: Some("+14155550123".to_owned()),
            agent_id: None,
            occurred_at: Some(at),
        };
        store
            .record_transfer(rules.clone(), request, at)
            .await
            .expect("transfer recorded");
        let end = EndRequest {
            event_id: EventId::parse(&format!("x{number}")).expect("valid id"),
            call_id,
            outcome: CallOutcome::Disconnected,
            occurred_at: Some(at + SignedDuration::from_secs(1)),
        };
        store.end_call(end, at).await.expect("end recorded");
    }
}

#[tokio::test]
async fn a_hundred_thousand_callbacks_owed_come_a_page_at_a_time() {
    let rules = carrier_rules();
    let store = Arc::new(MemoryStore::new());
    dropped_calls(&store, &Arc::new(rules.clone()), 100_000).await;
    let server = server_over(store, rules).await;

    // The probe's 58 MB page.
    let page = text(&server, "/callbacks").await;
    assert!(page.len() < 500_000, "/callbacks is {} bytes", page.len());
    assert_eq!(page.matches("data-testid=\"callback-dropped-").count(), 100);
    assert!(
        page.contains("data-total=\"100000\""),
        "the page says how many in all"
    );
    assert!(page.contains("data-testid=\"next-page\""));

    let (status, first) = server.get("/v1/stats/callbacks?limit=500").await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 100_000);
    assert_eq!(first["items"].as_array().expect("items").len(), 500);
    assert!(first.to_string().len() < 500_000);
    assert_eq!(
        first["items"][0]["call_id"], "dropped-000000",
        "oldest first"
    );
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = server
        .get(&format!(
            "/v1/stats/callbacks?limit=500&after={}",
            urlencode(next)
        ))
        .await;
    assert_eq!(second["items"][0]["call_id"], "dropped-000500", "{second}");
    let (status, refused) = server.get("/v1/stats/callbacks?limit=100000").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "limit");
    let (status, refused) = server.get("/v1/stats/callbacks?after=not-a-cursor").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "after");

    // Each dropped call was warned: flagged calls page the same way.
    let page = text(&server, "/calls?window=1h").await;
    assert!(page.len() < 500_000, "/calls is {} bytes", page.len());
    assert_eq!(page.matches("data-testid=\"flagged-call\"").count(), 100);
    let (_, flagged) = server.get("/v1/stats/flagged?window=1h&limit=2").await;
    assert_eq!(flagged["total"], 100_000, "{flagged}");
    assert_eq!(
        flagged["items"][0]["call_id"], "dropped-099999",
        "newest first"
    );
    let next = flagged["next"].as_str().expect("a next page");
    let (_, flagged) = server
        .get(&format!(
            "/v1/stats/flagged?window=1h&limit=2&after={}",
            urlencode(next)
        ))
        .await;
    assert_eq!(
        flagged["items"][0]["call_id"], "dropped-099997",
        "{flagged}"
    );
    server.stop().await;
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .expect("encodable")
        .trim_start_matches("v=")
        .to_owned()
}

#[tokio::test]
async fn ids_with_bidi_overrides_or_zero_width_characters_cannot_pass_for_others() {
    let server = TestServer::start(carrier_rules()).await;
    // On screen, "billing\u{202E}gnillib" would read as a mirrored "billing…" and
    // "customer_service\u{200B}" exactly as the real department.
    let disguised_department = "billing\u{202E}gnillib";
    let disguised_call = "pingpong-1\u{200B}";
    let mut event = json!({
        "event_id": "b1", "call_id": disguised_call, "from": "customer_service\u{200B}",
        "to": disguised_department, "mode": "warm", "callback_number": "+14155550123",
    });
    let (status, answer) = server.post("/v1/transfers", &event).await;
    assert_eq!(status, 200, "{answer}");
    event["event_id"] = json!("b2");
    event["from"] = json!(disguised_department);
    event["to"] = json!("customer_service");
    let (status, answer) = server.post("/v1/transfers", &event).await;
    assert_eq!(status, 200, "{answer}");
    for path in [
        "/calls?window=1h",
        "/matrix?window=1h",
        "/graph?window=1h",
        "/departments?window=1h",
        "/calls/pingpong-1%E2%80%8B",
    ] {
        let page = text(&server, path).await;
        assert!(
            page.contains("billing⟨U+202E⟩gnillib"),
            "{path} hides the override"
        );
        let shown = visible_text(&page);
        assert!(
            !shown.contains('\u{202E}') && !shown.contains('\u{200B}'),
            "{path} shows a raw invisible character: {shown}"
        );
    }
    let page = text(&server, "/calls?window=1h").await;
    assert!(page.contains("pingpong-1⟨U+200B⟩"));
    server.stop().await;
}

/// The text a reader sees: the page without its tags (attribute values included,
/// since a `title` is shown too, only `data-*` values are left out).
fn visible_text(page: &str) -> String {
    let mut shown = String::new();
    let mut rest = page;
    while let Some(start) = rest.find('<') {
        shown.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + end];
        // Keep attribute values other than data-* and href (links are percent-encoded).
        for attribute in tag.split("\" ") {
            if let Some((name, value)) = attribute.split_once("=\"") {
                let name = name.rsplit(' ').next().unwrap_or(name);
                if !name.starts_with("data-") && name != "href" {
                    shown.push_str(value);
                }
            }
        }
        rest = &rest[start + end + 1..];
    }
    shown.push_str(rest);
    shown
}
