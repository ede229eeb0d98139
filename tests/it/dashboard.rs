//! The dashboard in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`) against the real server on port 0, fed a scripted set of
//! calls over HTTP. Checks the rendered values (stable `data-testid` attributes), the
//! live updates (server-sent events), the "mark done" button, the overview's "who",
//! the agents and follow-ups views with overdue marking, the graph's focus and
//! zoom. With `LOOPGUARD_SCREENSHOTS=1` it also writes a screenshot of each view to
//! `docs/screenshots/` (only then, so test runs leave the committed ones alone).
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test fails when
//! `CI` is set and is skipped loudly otherwise.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{TestServer, carrier_rules, repo_root};

const DEADLINE: Duration = Duration::from_secs(20);

/// Chromium's flags: headless, and quiet on a machine without internet (without the
/// background-networking flags it hangs on refused connections).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
];

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|directory| directory.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// chromedriver as a child process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(chromedriver: &PathBuf) -> Driver {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("address").port()
    };
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client.get(format!("{}/status", driver.url)).send().await
            && response.status().is_success()
        {
            return driver;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "chromedriver did not answer on {} within {DEADLINE:?}",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn browser(driver: &Driver, chromium: &PathBuf, profile: &std::path::Path) -> Client {
    let mut arguments: Vec<String> = CHROMIUM_FLAGS
        .iter()
        .map(|flag| (*flag).to_owned())
        .collect();
    arguments.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": chromium, "args": arguments }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("WebDriver session with headless Chromium")
}

/// Polls `check` until it returns `Some`, or fails with `what` after the deadline.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(client: &Client, test_id: &str) -> Option<String> {
    let element = client
        .find(Locator::Css(&format!("[data-testid=\"{test_id}\"]")))
        .await
        .ok()?;
    element.text().await.ok()
}

async fn attribute_of(client: &Client, test_id: &str, attribute: &str) -> Option<String> {
    let element = client
        .find(Locator::Css(&format!("[data-testid=\"{test_id}\"]")))
        .await
        .ok()?;
    element.attr(attribute).await.ok().flatten()
}

async fn expect_text(client: &Client, test_id: &str, expected: &str) {
    let found = eventually(&format!("{test_id} = {expected}"), || async {
        let text = text_of(client, test_id).await?;
        (text == expected).then_some(text)
    })
    .await;
    assert_eq!(found, expected);
}

async fn expect_attribute(client: &Client, test_id: &str, attribute: &str, expected: &str) {
    eventually(&format!("{test_id} [{attribute}] = {expected}"), || async {
        let value = attribute_of(client, test_id, attribute).await?;
        (value == expected).then_some(())
    })
    .await;
}

/// Writes `docs/screenshots/{view}.png` when `LOOPGUARD_SCREENSHOTS=1`: pages show
/// times, so every run would change the files; refresh them on purpose instead.
async fn screenshot(client: &Client, view: &str) {
    if std::env::var_os("LOOPGUARD_SCREENSHOTS").is_none_or(|value| value != "1") {
        return;
    }
    let png = client.screenshot().await.expect("screenshot");
    let directory = repo_root().join("docs/screenshots");
    std::fs::create_dir_all(&directory).expect("create docs/screenshots");
    std::fs::write(directory.join(format!("{view}.png")), png).expect("write screenshot");
}

/// Waits until the page's event stream is connected, so later events reach it.
async fn wait_until_live(client: &Client) {
    expect_attribute(client, "live-status", "data-connected", "true").await;
}

fn transfer(
    event_id: &str,
    call_id: &str,
    from: &str,
    to: &str,
    intent: &str,
    mode: &str,
    number: Option<&str>,
) -> Value {
    let mut body = json!({
        "event_id": event_id, "call_id": call_id, "from": from, "to": to,
        "intent": intent, "mode": mode,
    });
    if let Some(number) = number {
        body["callback_number"] = json!(number);
    }
    body
}

const NUMBER: Option<&str> = Some("+14155550123");

/// The scripted calls: the customer service ↔ activations ping-pong, a dropped
/// transfer with a callback number, a cold transfer without a number, a resolved call.
async fn feed(server: &TestServer) {
    let events = [
        transfer(
            "p1",
            "pingpong-1",
            "customer_service",
            "activations",
            "reconnect_line",
            "warm",
            NUMBER,
        ),
        transfer(
            "p2",
            "pingpong-1",
            "activations",
            "customer_service",
            "reconnect_line",
            "warm",
            NUMBER,
        ),
        transfer(
            "d1",
            "dropped-1",
            "customer_service",
            "billing",
            "billing_question",
            "warm",
            Some("+14155550199"),
        ),
        transfer(
            "c1",
            "cold-1",
            "customer_service",
            "billing",
            "refund",
            "cold",
            None,
        ),
        transfer(
            "r1",
            "resolved-1",
            "customer_service",
            "technical_support",
            "no_signal",
            "warm",
            NUMBER,
        ),
    ];
    for (index, event) in events.iter().enumerate() {
        let mut event = event.clone();
        event["agent_id"] = json!(if index % 2 == 0 {
            "agent-ada"
        } else {
            "agent-bob"
        });
        let (status, answer) = server.post("/v1/transfers", &event).await;
        assert_eq!(status, 200, "{answer}");
    }
    for (call, outcome) in [("dropped-1", "disconnected"), ("resolved-1", "resolved")] {
        let (status, answer) = server
            .post(
                &format!("/v1/calls/{call}/end"),
                &json!({"event_id": format!("{call}-end"), "outcome": outcome}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // A call dropped three hours ago: its callback was due an hour ago
    // (`callback_within = "2h"` in the carrier's policy).
    let hours_ago =
        |hours: i64| (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours)).to_string();
    let mut late = transfer(
        "o1",
        "overdue-1",
        "customer_service",
        "porting",
        "port_number",
        "warm",
        Some("+14155550111"),
    );
    late["occurred_at"] = json!(hours_ago(4));
    let (status, answer) = server.post("/v1/transfers", &late).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .post(
            "/v1/calls/overdue-1/end",
            &json!({"event_id": "overdue-1-end", "outcome": "disconnected", "occurred_at": hours_ago(3)}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Promises: one past its due time, one due tomorrow.
    for (call, promise, text, due) in [
        (
            "pingpong-1",
            "reconnect",
            "Reconnect the line today",
            hours_ago(1),
        ),
        (
            "resolved-1",
            "signal-check",
            "Check the signal tomorrow",
            hours_ago(-24),
        ),
    ] {
        let body = json!({"event_id": format!("{promise}-made"), "promise_id": promise,
                          "text": text, "due_at": due});
        let (status, answer) = server
            .post(&format!("/v1/calls/{call}/promises"), &body)
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_scripted_calls_and_updates_live_in_headless_chromium() {
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let chromedriver = find_program(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        let message = "the dashboard browser test needs Debian's `chromium` and `chromium-driver` \
                       (apt-get install -y chromium chromium-driver)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
        return;
    };
    let server = TestServer::start(carrier_rules()).await;
    feed(&server).await;
    let driver = start_driver(&chromedriver).await;
    let profile = tempfile::tempdir().expect("profile directory");
    let client = browser(&driver, &chromium, profile.path()).await;
    let result = check_views(&server, &client).await;
    let _ = client.close().await;
    drop(driver);
    server.stop().await;
    result.expect("dashboard checks");
}

async fn check_views(
    server: &TestServer,
    client: &Client,
) -> Result<(), fantoccini::error::CmdError> {
    let base = &server.base;

    // Overview: every number, and the same numbers as the JSON endpoint.
    client.goto(&format!("{base}/?window=1h")).await?;
    for (id, expected) in [
        ("overview-transfers", "5"),
        ("overview-calls", "4"),
        ("overview-calls-with-loop", "1"),
        ("overview-blocked", "2"),
        ("overview-warned", "0"),
        ("overview-cold-share", "20.0%"),
        ("overview-missing-callback-share", "20.0%"),
        ("overview-callbacks-owed", "2"),
        ("overview-follow-ups-overdue", "2"),
    ] {
        expect_text(client, id, expected).await;
    }
    let (_, overview) = server.get("/v1/stats/overview?window=1h").await;
    assert_eq!(overview["transfers"], 5, "{overview}");
    assert_eq!(overview["calls_with_loop"], 1, "{overview}");
    let bars = client
        .find_all(Locator::Css("[data-testid=loops-chart] rect.bar"))
        .await?;
    assert_eq!(bars.len(), 12, "12 five-minute intervals in the last hour");
    // Who: the ping-pong pair and the department whose transfer looped.
    let pair = "[data-testid=\"hot-pair-customer_service-activations\"]";
    let row = client.find(Locator::Css(pair)).await?;
    assert_eq!(
        row.find(Locator::Css("[data-testid=blocked-bounces]"))
            .await?
            .text()
            .await?,
        "1"
    );
    let looping = client
        .find(Locator::Css(
            "[data-testid=\"loop-department-activations\"] [data-testid=loops-caused]",
        ))
        .await?;
    assert_eq!(looping.text().await?, "1");
    screenshot(client, "overview").await;
    row.find(Locator::Css("[data-testid=pair-calls]"))
        .await?
        .click()
        .await?;
    let pair_calls = eventually("the pair's calls", || async {
        let items = client
            .find_all(Locator::Css("[data-testid=flagged-call]"))
            .await
            .ok()?;
        let mut ids = Vec::new();
        for item in items {
            ids.push(item.attr("data-call-id").await.ok()??);
        }
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    assert_eq!(pair_calls, ["pingpong-1"]);
    assert!(
        client
            .current_url()
            .await?
            .query()
            .unwrap_or_default()
            .contains("between=customer_service")
    );

    // Flagged calls, then the ping-pong call's timeline through its link.
    client.goto(&format!("{base}/calls?window=1h")).await?;
    let flagged = eventually("flagged calls", || async {
        let items = client
            .find_all(Locator::Css("[data-testid=flagged-call]"))
            .await
            .ok()?;
        let mut ids = Vec::new();
        for item in items {
            ids.push(item.attr("data-call-id").await.ok()??);
        }
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert!(flagged.contains(&"pingpong-1".to_owned()), "{flagged:?}");
    assert!(flagged.contains(&"cold-1".to_owned()), "{flagged:?}");
    screenshot(client, "calls").await;
    client
        .find(Locator::Css(
            "[data-call-id=\"pingpong-1\"] [data-testid=call-link]",
        ))
        .await?
        .click()
        .await?;
    expect_text(client, "call-id", "pingpong-1").await;
    assert!(
        client
            .current_url()
            .await?
            .path()
            .ends_with("/calls/pingpong-1")
    );
    let hops = client.find_all(Locator::Css("[data-testid=hop]")).await?;
    assert_eq!(hops.len(), 2);
    assert_eq!(
        hops[0].attr("data-verdict").await?.as_deref(),
        Some("allow")
    );
    assert_eq!(
        hops[1].attr("data-verdict").await?.as_deref(),
        Some("block")
    );
    assert_eq!(
        hops[1].attr("data-from").await?.as_deref(),
        Some("activations")
    );
    let codes = hops[1]
        .find_all(Locator::Css("[data-testid=finding]"))
        .await?;
    let mut found = Vec::new();
    for code in codes {
        found.push(code.attr("data-code").await?.unwrap_or_default());
    }
    assert!(found.contains(&"ping-pong".to_owned()), "{found:?}");
    // Backticked ids in finding messages are code, not literal backticks.
    let message = hops[1]
        .find(Locator::Css("[data-testid=finding]"))
        .await?
        .text()
        .await?;
    assert!(!message.contains('`'), "{message}");
    assert!(
        !hops[1]
            .find_all(Locator::Css("[data-testid=message-code]"))
            .await?
            .is_empty()
    );
    // The promise made on the call, past its due time.
    expect_attribute(client, "promise-reconnect", "data-overdue", "true").await;
    expect_attribute(client, "promise-reconnect", "data-status", "open").await;
    screenshot(client, "call").await;

    // Bounce matrix: the pair's cells.
    client.goto(&format!("{base}/matrix?window=1h")).await?;
    expect_attribute(
        client,
        "cell-customer_service-activations",
        "data-transfers",
        "1",
    )
    .await;
    expect_attribute(
        client,
        "cell-activations-customer_service",
        "data-blocked-bounces",
        "1",
    )
    .await;
    expect_text(client, "cell-activations-customer_service", "0 / 0 [1]").await;
    screenshot(client, "matrix").await;

    // Routing graph: the traffic on the allowed edge, the live edge the rules lack.
    client.goto(&format!("{base}/graph?window=1h")).await?;
    expect_attribute(
        client,
        "edge-customer_service-activations",
        "data-transfers",
        "1",
    )
    .await;
    expect_attribute(
        client,
        "edge-activations-customer_service",
        "data-allowed",
        "false",
    )
    .await;
    expect_attribute(
        client,
        "edge-activations-customer_service",
        "data-blocked",
        "1",
    )
    .await;
    let nodes = client
        .find_all(Locator::Css("[data-testid^=node-]"))
        .await?;
    assert_eq!(nodes.len(), 9, "the carrier's nine departments");
    screenshot(client, "graph").await;
    // The wheel zooms (the view box shrinks around the pointer).
    let before = attribute_of(client, "graph", "viewBox")
        .await
        .expect("a view box");
    client
        .execute(
            "const svg = document.querySelector('.pan-zoom svg'); const r = svg.getBoundingClientRect();\
             svg.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + 50, clientY: r.top + 50, bubbles: true, cancelable: true}));\
             return null;",
            vec![],
        )
        .await?;
    let after = attribute_of(client, "graph", "viewBox")
        .await
        .expect("a view box");
    let width = |view_box: &str| {
        view_box
            .split(' ')
            .nth(2)
            .and_then(|width| width.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(width(&after) < width(&before), "{before} → {after}");
    // A click on a department focuses the graph on it and its neighbours.
    client
        .find(Locator::Css("[data-testid=\"node-billing\"] a"))
        .await?
        .click()
        .await?;
    expect_attribute(client, "graph-focus", "data-focus", "billing").await;
    let focused = client
        .find_all(Locator::Css("[data-testid^=node-]"))
        .await?;
    assert!(
        focused.len() < 9 && focused.len() > 1,
        "{} nodes",
        focused.len()
    );
    screenshot(client, "graph-focus").await;

    // Departments table, sorted by transfers out.
    client
        .goto(&format!("{base}/departments?window=1h&sort=transfers_out"))
        .await?;
    let first = client
        .find(Locator::Css("[data-testid=departments] tbody tr"))
        .await?
        .attr("data-testid")
        .await?;
    assert_eq!(first.as_deref(), Some("department-customer_service"));
    let row = client
        .find(Locator::Css("[data-testid=department-customer_service]"))
        .await?;
    assert_eq!(
        row.find(Locator::Css("[data-testid=transfers-out]"))
            .await?
            .text()
            .await?,
        "4"
    );
    assert_eq!(
        row.find(Locator::Css("[data-testid=callbacks-owed]"))
            .await?
            .text()
            .await?,
        "2"
    );
    assert_eq!(
        row.find(Locator::Css("[data-testid=follow-ups-overdue]"))
            .await?
            .text()
            .await?,
        "1",
        "the callback dropped three hours ago"
    );
    screenshot(client, "departments").await;

    // Callbacks owed: the dropped call; "Mark done" removes it live.
    client.goto(&format!("{base}/callbacks")).await?;
    wait_until_live(client).await;
    let row = client
        .find(Locator::Css("[data-testid=\"callback-dropped-1\"]"))
        .await?;
    assert_eq!(
        row.find(Locator::Css("[data-testid=callback-number]"))
            .await?
            .text()
            .await?,
        "+14155550199"
    );
    expect_attribute(client, "callback-overdue-1", "data-overdue", "true").await;
    expect_attribute(client, "callback-dropped-1", "data-overdue", "false").await;
    screenshot(client, "callbacks").await;
    row.find(Locator::Css("[data-testid=mark-done]"))
        .await?
        .click()
        .await?;
    eventually("the callback to disappear", || async {
        let rows = client
            .find_all(Locator::Css("[data-testid=\"callback-dropped-1\"]"))
            .await
            .ok()?;
        rows.is_empty().then_some(())
    })
    .await;
    let (_, call) = server.get("/v1/calls/dropped-1").await;
    assert_eq!(call["callback"]["status"], "done", "{call}");

    // Follow-ups: overdue first (the callback due an hour ago, the promise due an
    // hour ago), then the promise due tomorrow; overdue ones marked.
    client.goto(&format!("{base}/follow-ups")).await?;
    let rows = eventually("the follow-ups", || async {
        let rows = client
            .find_all(Locator::Css("[data-testid=follow-ups] tbody tr"))
            .await
            .ok()?;
        let mut found = Vec::new();
        for row in rows {
            found.push((
                row.attr("data-testid").await.ok()??,
                row.attr("data-overdue").await.ok()??,
            ));
        }
        (found.len() == 3).then_some(found)
    })
    .await;
    assert_eq!(
        rows,
        [
            ("follow-up-overdue-1".to_owned(), "true".to_owned()),
            (
                "follow-up-pingpong-1/reconnect".to_owned(),
                "true".to_owned()
            ),
            (
                "follow-up-resolved-1/signal-check".to_owned(),
                "false".to_owned()
            ),
        ]
    );
    expect_text(client, "follow-ups-overdue", "2").await;
    screenshot(client, "follow-ups").await;

    // Agents: who made the transfers, by department.
    client.goto(&format!("{base}/agents?window=1h")).await?;
    let row = eventually("agent-ada's row", || async {
        client
            .find(Locator::Css("[data-testid=\"agent-agent-ada\"]"))
            .await
            .ok()
    })
    .await;
    assert_eq!(
        row.find(Locator::Css("[data-testid=transfers-out]"))
            .await?
            .text()
            .await?,
        "3"
    );
    let bob = client
        .find(Locator::Css("[data-testid=\"agent-agent-bob\"][data-department=activations] [data-testid=loops-caused]"))
        .await?;
    assert_eq!(bob.text().await?, "1", "bob made the blocked return");
    screenshot(client, "agents").await;

    // Live: a transfer posted after the page loaded appears without a reload.
    client.goto(&format!("{base}/calls?window=1h")).await?;
    wait_until_live(client).await;
    client
        .execute("window.loopguardMarker = 42; return null;", vec![])
        .await?;
    let (status, answer) = server
        .post(
            "/v1/transfers",
            &transfer(
                "l1",
                "live-1",
                "customer_service",
                "retention",
                "cancel_service",
                "cold",
                NUMBER,
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    eventually("the live transfer on the page", || async {
        client
            .find(Locator::Css("[data-call-id=\"live-1\"]"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let marker = client
        .execute("return window.loopguardMarker;", vec![])
        .await?;
    assert_eq!(
        marker,
        json!(42),
        "the page was updated in place, not reloaded"
    );
    Ok(())
}

const TOKEN: &str = "dashboard-token-for-tests-0123456789";

async fn server_with_token() -> TestServer {
    let mut state = crate::support::memory_state(carrier_rules());
    state.dashboard_token = Some(TOKEN.to_owned());
    TestServer::start_with(state).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

#[tokio::test]
async fn with_a_dashboard_token_the_read_routes_need_it_and_the_webhook_does_not() {
    let server = server_with_token().await;
    let client = no_redirects();
    let get = |path: &str, authorization: Option<&str>| {
        let mut request = client.get(format!("{}{path}", server.base));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    // The webhook keeps its own authentication (none configured here).
    let (status, answer) = server
        .post(
            "/v1/transfers",
            &crate::support::transfer("e1", "call-1", "customer_service", "activations"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for path in [
        "/v1/stats/overview",
        "/v1/stats/flagged",
        "/v1/stats/matrix",
        "/v1/stats/departments",
        "/v1/stats/callbacks",
        "/v1/stats/graph",
        "/v1/events",
        "/v1/calls/call-1",
        "/v1/loops",
    ] {
        let response = get(path, None).await.expect("request");
        assert_eq!(response.status(), 401, "{path} without a token");
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"]["code"], "unauthorized", "{path}");
        let response = get(path, Some("Bearer wrong-token-wrong-token-wrong"))
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "{path} with a wrong token");
    }
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/v1/stats/overview", "/v1/calls/call-1", "/v1/loops", "/"] {
        let response = get(path, Some(&bearer)).await.expect("request");
        assert_eq!(response.status(), 200, "{path} with the token");
    }
    // The dashboard's callback button route takes the token too, and JSON only.
    let mark = |content_type: &str, authorization: Option<&str>| {
        let mut request = client
            .post(format!("{}/calls/call-1/callback", server.base))
            .header("content-type", content_type)
            .body(r#"{"event_id":"m1","status":"failed","note":"no answer"}"#);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    assert_eq!(
        mark("application/json", None)
            .await
            .expect("request")
            .status(),
        401
    );
    assert_eq!(
        mark("text/plain", Some(&bearer))
            .await
            .expect("request")
            .status(),
        415
    );
    assert_eq!(
        mark("application/json", Some(&bearer))
            .await
            .expect("request")
            .status(),
        200
    );
    // Health, readiness and the assets stay open.
    for path in ["/healthz", "/assets/dashboard.css", "/login"] {
        assert_eq!(
            get(path, None).await.expect("request").status(),
            200,
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_browser_is_sent_to_the_login_form_and_gets_a_strict_http_only_session_cookie() {
    let server = server_with_token().await;
    let client = no_redirects();
    let response = client
        .get(format!("{}/matrix?window=1h", server.base))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/login?next=%2Fmatrix%3Fwindow%3D1h"
    );
    let login = |token: &str| {
        client
            .post(format!("{}/login", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([("token", token), ("next", "/matrix?window=1h")])
                    .unwrap(),
            )
            .send()
    };
    assert_eq!(login("not-the-token").await.expect("request").status(), 401);
    let response = login(TOKEN).await.expect("request");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/matrix?window=1h");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie must not carry the token"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = client
        .get(format!("{}/matrix?window=1h", server.base))
        .header("cookie", &session)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn stats_endpoints_name_a_bad_window_and_pages_escape_platform_strings() {
    let server = TestServer::start(carrier_rules()).await;
    let (status, body) = server.get("/v1/stats/matrix?window=2h").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "window");
    let (status, body) = server.get("/v1/stats/graph?colour=red").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "colour");

    let hostile = "<script>alert(1)</script>";
    let mut event = transfer(
        "x1",
        hostile,
        "customer_service",
        hostile,
        "refund",
        "cold",
        None,
    );
    event["agent_id"] = json!("a");
    let (status, answer) = server.post("/v1/transfers", &event).await;
    assert_eq!(status, 200, "{answer}");
    for path in [
        "/calls?window=1h",
        "/matrix?window=1h",
        "/graph?window=1h",
        "/departments?window=1h",
    ] {
        let page = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("page");
        assert!(!page.contains(hostile), "{path} has the raw string");
        assert!(
            page.contains("&lt;script&gt;"),
            "{path} lacks the escaped string"
        );
    }
    server.stop().await;
}

#[test]
fn serve_refuses_a_public_address_without_a_dashboard_token_even_with_a_webhook_secret() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--webhook-secret",
            "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "--rules",
        ])
        .arg(repo_root().join("routing-rules"))
        .env_remove("LOOPGUARD_DASHBOARD_TOKEN")
        .output()
        .expect("run loopguard");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without a dashboard token"), "{stderr}");
    assert!(stderr.contains("LOOPGUARD_DASHBOARD_TOKEN"), "{stderr}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
        .args(["serve", "--dashboard-token", "short"])
        .output()
        .expect("run loopguard");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 16"));
}
