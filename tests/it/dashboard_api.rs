//! The dashboard's JSON and CSV over HTTP: any time range, CSV export (paged,
//! injection-safe), the agents switch, follow-ups and their metrics.

use serde_json::{Value, json};

use crate::support::{TestServer, carrier_rules, rules_from, transfer};

async fn get_text(server: &TestServer, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

fn at(text: &str) -> String {
    text.to_owned()
}

#[tokio::test]
async fn any_range_is_answered_and_bad_ranges_name_their_parameter() {
    let server = TestServer::start(carrier_rules()).await;
    for (event, time) in [("a", "2030-01-01T10:00:00Z"), ("b", "2030-01-01T12:30:00Z")] {
        let mut body = transfer(
            event,
            &format!("call-{event}"),
            "customer_service",
            "billing",
        );
        body["occurred_at"] = json!(at(time));
        let (status, answer) = server.post("/v1/transfers", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, overview) = server
        .get("/v1/stats/overview?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z")
        .await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["transfers"], 1);
    assert_eq!(overview["window"]["interval_seconds"], 300);
    let (_, overview) = server
        .get("/v1/stats/overview?from=2030-01-01T09:00:00Z&to=2030-01-02T09:00:00Z")
        .await;
    assert_eq!(overview["transfers"], 2);
    for path in [
        "/v1/stats/departments?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
        "/v1/stats/matrix?from=2030-01-01T09:00:00Z",
        "/v1/stats/graph?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
        "/v1/stats/hotspots?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
        "/v1/stats/agents?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
        "/v1/stats/flagged?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
        "/matrix?from=2030-01-01T09:00:00Z&to=2030-01-01T11:00:00Z",
    ] {
        let (status, _, body) = get_text(&server, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    for (path, field) in [
        (
            "/v1/stats/overview?window=1h&from=2030-01-01T09:00:00Z",
            "window",
        ),
        ("/v1/stats/overview?to=2030-01-01T09:00:00Z", "from"),
        (
            "/v1/stats/overview?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
            "to",
        ),
        ("/v1/stats/flagged?from=monday", "from"),
        ("/v1/stats/flagged?format=xml", "format"),
        ("/v1/stats/flagged?between=billing", "and"),
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{path}: {body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn csv_exports_are_paged_by_a_link_header_and_neutralise_formulas() {
    let server = TestServer::start(carrier_rules()).await;
    for (index, call) in ["=cmd|calc", "+sum", "plain"].iter().enumerate() {
        let mut body = transfer(&format!("e{index}"), call, "customer_service", "billing");
        body["mode"] = json!("cold");
        body["agent_id"] = json!("@agent");
        let (status, answer) = server.post("/v1/transfers", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, headers, text) =
        get_text(&server, "/v1/stats/flagged?window=1h&format=csv&limit=2").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("flagged-calls.csv")
    );
    let next = headers["link"].to_str().unwrap().to_owned();
    assert!(next.ends_with("; rel=\"next\""), "{next}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "call_id");
    let first: Vec<String> = reader
        .records()
        .map(|record| record.unwrap()[0].to_owned())
        .collect();
    assert_eq!(first.len(), 2);
    let path = next
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let (_, headers, text) = get_text(&server, &path).await;
    assert!(headers.get("link").is_none(), "the last page has no next");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rest: Vec<String> = reader
        .records()
        .map(|record| record.unwrap()[0].to_owned())
        .collect();
    let mut all: Vec<String> = first.into_iter().chain(rest).collect();
    all.sort();
    assert_eq!(all, ["'+sum", "'=cmd|calc", "plain"]);

    for (path, header) in [
        ("/v1/stats/departments?window=1h&format=csv", "department"),
        ("/v1/stats/agents?window=1h&format=csv", "agent_id"),
        ("/v1/stats/follow-ups?format=csv", "kind"),
    ] {
        let (status, _, text) = get_text(&server, path).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert!(text.starts_with(header), "{path}: {text}");
    }
    let (_, _, agents) = get_text(&server, "/v1/stats/agents?window=1h&format=csv").await;
    assert!(agents.contains("'@agent,customer_service,3"), "{agents}");
    let (status, body) = server
        .get("/v1/stats/agents?window=1h&format=csv&limit=10001")
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("limit"))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_policy_switch_hides_agents_from_the_api_the_page_and_the_navigation() {
    let text =
        std::fs::read_to_string(crate::support::repo_root().join("routing-rules/departments.toml"))
            .unwrap()
            + &std::fs::read_to_string(
                crate::support::repo_root().join("routing-rules/transfers.toml"),
            )
            .unwrap()
            + "\n[policy]\nshow_agents = false\n";
    let server = TestServer::start(rules_from(&text)).await;
    let (status, body) = server.get("/v1/stats/agents").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("feature-off")),
        "{body}"
    );
    let (status, _, _) = get_text(&server, "/v1/stats/agents?format=csv").await;
    assert_eq!(status, 404);
    let (status, _, page) = get_text(&server, "/agents").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-testid=\"agents-off\""), "{page}");
    let (_, _, overview) = get_text(&server, "/").await;
    assert!(
        !overview.contains("href=\"/agents"),
        "no link to the agents view"
    );
    assert!(overview.contains("href=\"/follow-ups"));
    server.stop().await;
}

#[tokio::test]
async fn overdue_follow_ups_are_listed_first_and_counted_in_the_metrics() {
    let server = TestServer::start(carrier_rules()).await;
    let mut body = transfer("t1", "call-1", "customer_service", "billing");
    body["occurred_at"] = json!("2020-01-01T09:00:00Z");
    server.post("/v1/transfers", &body).await;
    let end = json!({"event_id": "end-1", "outcome": "disconnected", "occurred_at": "2020-01-01T09:05:00Z"});
    let (status, answer) = server.post("/v1/calls/call-1/end", &end).await;
    assert_eq!(status, 200, "{answer}");
    for (promise, due) in [
        ("later", "2999-01-01T00:00:00Z"),
        ("late", "2020-01-02T00:00:00Z"),
    ] {
        let body =
            json!({"event_id": promise, "promise_id": promise, "text": "call back", "due_at": due});
        let (status, answer) = server.post("/v1/calls/call-1/promises", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, page) = server.get("/v1/stats/follow-ups?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (page["total"].as_u64(), page["overdue"].as_u64()),
        (Some(3), Some(2))
    );
    let kinds: Vec<(&str, bool)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["kind"].as_str().unwrap(),
                item["overdue"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("callback", true), ("promise", true)]);
    assert_eq!(
        page["items"][0]["due_at"], "2020-01-01T11:05:00Z",
        "callback_within = 2h"
    );
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, rest) = server
        .get(&format!(
            "/v1/stats/follow-ups?limit=2&after={}",
            urlencode(&next)
        ))
        .await;
    assert_eq!(rest["items"][0]["promise_id"], "later");
    assert!(rest["next"].is_null());

    let (_, departments) = server.get("/v1/stats/departments?window=7d").await;
    let row: &Value = departments["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["department"] == "billing")
        .unwrap();
    assert_eq!(
        (
            row["follow_ups_owed"].as_u64(),
            row["follow_ups_overdue"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let (_, _, metrics) = get_text(&server, "/metrics").await;
    assert!(
        metrics.contains("loopguard_follow_ups_overdue{kind=\"callback\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loopguard_follow_ups_overdue{kind=\"promise\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loopguard_follow_ups_open{kind=\"promise\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}
