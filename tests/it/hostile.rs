//! Hostile clients and clumsy operators (issue 9): each test replays one attack of the
//! probe against the real binary or router and asserts a bounded outcome (sizes,
//! times as generous ceilings, memory from `/proc`), and a property test throws
//! arbitrary bytes and headers at every route.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use loopguard::http::AppState;
use loopguard::http::origin::HostPolicy;
use loopguard::http::signature::{WebhookSecret, WebhookVerifier};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{BinaryServer, carrier_rules, http, memory_state, repo_root, transfer};

// ---------------------------------------------------------------------------------
// Helpers

fn copy_rules(into: &Path) {
    for entry in std::fs::read_dir(repo_root().join("routing-rules")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), into.join(entry.file_name())).unwrap();
    }
}

fn address(server: &BinaryServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Whether the server closes `stream` within `ceiling` (EOF or reset), reading and
/// discarding whatever it sends first.
fn closed_within(stream: &mut TcpStream, ceiling: Duration) -> bool {
    let deadline = Instant::now() + ceiling;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Runs a command and kills it if it has not exited within `ceiling`.
fn run_within(command: &mut std::process::Command, ceiling: Duration) -> std::process::Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + ceiling;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not finish within {ceiling:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn router(state: AppState) -> axum::Router {
    loopguard::server::app(Arc::new(state))
}

async fn send(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

const TOKEN: &str = "hostile-test-token-7c1f9a2b4d";

// ---------------------------------------------------------------------------------
// Item 2: connections and timeouts

#[test]
fn eleven_hundred_idle_connections_leave_healthz_reachable() {
    let server = BinaryServer::start(&repo_root().join("routing-rules"), &["--in-memory"]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("Max open files line")
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        open_files[3], open_files[4],
        "the soft open-file limit is raised to the hard one: {open_files:?}"
    );
    let idle: Vec<TcpStream> = (0..1_100)
        .map(|_| TcpStream::connect(address(&server)).expect("connect"))
        .collect();
    let started = Instant::now();
    let (status, body) = http(&server.base, "GET", "/healthz", None).expect("healthz answers");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn idle_and_slowloris_connections_are_cut_off_by_the_header_timeout() {
    let server = BinaryServer::start(
        &repo_root().join("routing-rules"),
        &["--in-memory", "--header-timeout", "1s"],
    );
    let mut idle = TcpStream::connect(address(&server)).unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(6)),
        "idle connection kept open"
    );

    // One header byte every 100 ms: never a complete head.
    let mut slow = TcpStream::connect(address(&server)).unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let mut cut = false;
    for byte in b"X-Slow: ".iter().cycle().take(300) {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    assert!(
        cut || closed_within(&mut slow, Duration::from_secs(1)),
        "a slowloris head was still open after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(7));
}

#[test]
fn a_half_sent_body_gets_a_408_json_error_within_the_request_timeout() {
    let server = BinaryServer::start(
        &repo_root().join("routing-rules"),
        &["--in-memory", "--request-timeout", "1s"],
    );
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"event_id\":"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request-timeout\""), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_half_sent_request_does_not_keep_the_process_alive_after_sigterm() {
    let server = BinaryServer::start(
        &repo_root().join("routing-rules"),
        &[
            "--in-memory",
            "--request-timeout",
            "1h",
            "--header-timeout",
            "1h",
            "--drain-timeout",
            "1s",
        ],
    );
    let mut half_body = TcpStream::connect(address(&server)).unwrap();
    write!(
        half_body,
        "POST /v1/transfers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let mut half_head = TcpStream::connect(address(&server)).unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127")
        .unwrap();
    // Both requests are in the server's hands before the signal.
    server.wait_for("/metrics", |body| {
        body.contains("loopguard_open_connections 3")
    });
    let started = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn past_the_connection_cap_new_connections_are_closed_and_counted() {
    let server = BinaryServer::start(
        &repo_root().join("routing-rules"),
        &["--in-memory", "--max-connections", "20"],
    );
    let held: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address(&server)).unwrap())
        .collect();
    // Wait until the server has accepted all twenty.
    let mut refused = 0;
    for _ in 0..10 {
        let mut extra = TcpStream::connect(address(&server)).unwrap();
        if closed_within(&mut extra, Duration::from_secs(5)) {
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "connections past the cap are closed at once");
    drop(held);
    let metrics = server.wait_for("/metrics", |body| !body.is_empty());
    let count: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("loopguard_connections_refused_total "))
        .and_then(|value| value.parse().ok())
        .expect("the refusal counter");
    assert!(count >= 10, "{count}");
}

// ---------------------------------------------------------------------------------
// Item 3: open redirect after login

#[tokio::test]
async fn login_redirects_only_to_paths_on_this_site_and_a_bad_next_is_a_400() {
    let mut state = memory_state(carrier_rules());
    state.dashboard_token = Some(TOKEN.to_owned());
    let app = router(state);
    let post = |next: &str| {
        let body = serde_urlencoded::to_string([("token", TOKEN), ("next", next)]).unwrap();
        Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    for hostile in [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let (status, headers, _) = send(&app, post(hostile)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hostile:?}");
        assert!(headers.get("location").is_none(), "{hostile:?}");
    }
    let (status, headers, _) = send(&app, post("/calls?window=1h")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/calls?window=1h");

    let (status, _, page) = send(
        &app,
        Request::get("/login?next=%2F%09%2Fevil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(r#"name="next" value="/""#), "{page}");
}

// ---------------------------------------------------------------------------------
// Item 4: special files in the rules directory

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_named_toml_is_refused_at_once_and_never_read() {
    let directory = tempfile::tempdir().unwrap();
    copy_rules(directory.path());
    let fifo = directory.path().join("zz-pipe.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let output = run_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .arg("lint")
            .arg(directory.path()),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FIFO") && stderr.contains("zz-pipe.toml"),
        "{stderr}"
    );

    // serve refuses to start on it instead of hanging.
    let output = run_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--rules"])
            .arg(directory.path()),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_file(&fifo).unwrap();

    std::os::unix::fs::symlink("/dev/zero", directory.path().join("zero.toml")).unwrap();
    let output = run_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .arg("lint")
            .arg(directory.path()),
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("character device"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_fifo_appearing_in_a_served_directory_degrades_the_reload_and_sigterm_still_stops() {
    let directory = tempfile::tempdir().unwrap();
    copy_rules(directory.path());
    let server = BinaryServer::start(directory.path(), &["--in-memory", "--watch-rules", "false"]);
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
    let made = std::process::Command::new("mkfifo")
        .arg(directory.path().join("pipe.toml"))
        .status()
        .unwrap();
    assert!(made.success());
    server.signal("HUP");
    let ready = server.wait_for("/readyz", |body| body.contains("degraded"));
    assert!(ready.contains("FIFO"), "{ready}");
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);
}

// ---------------------------------------------------------------------------------
// Item 5 (serve side): a reload that takes too long

/// A large, valid configuration: parsing and checking it takes seconds in a debug build.
fn huge_rules(departments: usize) -> String {
    let mut text = String::from("[policy]\nmode = \"enforce\"\n\n");
    for index in 0..departments {
        text.push_str(&format!(
            "[[department]]\nid = \"d{index}\"\nhandles = [\"i{index}\"]\n{}\n",
            if index == 0 { "entry = true\n" } else { "" }
        ));
    }
    for index in 0..departments {
        for step in 1..=5 {
            text.push_str(&format!(
                "[[transfer]]\nfrom = \"d{index}\"\nto = \"d{}\"\n\n",
                (index + step) % departments
            ));
        }
    }
    text
}

#[test]
fn a_reload_past_its_deadline_is_given_up_shown_in_readyz_and_sigterm_still_stops() {
    let directory = tempfile::tempdir().unwrap();
    copy_rules(directory.path());
    let server = BinaryServer::start(
        directory.path(),
        &[
            "--in-memory",
            "--watch-rules",
            "false",
            "--reload-timeout",
            "1s",
        ],
    );
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
    for entry in std::fs::read_dir(directory.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    std::fs::write(directory.path().join("huge.toml"), huge_rules(20_000)).unwrap();
    server.signal("HUP");
    let ready = server.wait_for("/readyz", |body| body.contains("deadline"));
    assert!(ready.contains("degraded"), "{ready}");
    let (status, _) = http(
        &server.base,
        "POST",
        "/v1/transfers",
        Some(&transfer("r1", "call-r", "customer_service", "billing").to_string()),
    )
    .unwrap();
    assert_eq!(status, 200, "the last good rules still serve");
    let started = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// Item 6: memory bounds

#[test]
fn a_call_keeps_its_newest_hops_counts_the_rest_and_still_answers_redeliveries() {
    let server = BinaryServer::start(
        &repo_root().join("routing-rules"),
        &["--max-hops-kept", "10"],
    );
    let mut first_answer = Value::Null;
    let mut last_answer = String::new();
    for index in 0..300 {
        let (from, to) = if index == 0 {
            ("customer_service", "billing")
        } else {
            ("billing", "customer_service")
        };
        let body = transfer(&format!("e{index}"), "runaway", from, to).to_string();
        let (status, answer) = http(&server.base, "POST", "/v1/transfers", Some(&body)).unwrap();
        assert_eq!(status, 200, "{answer}");
        last_answer = answer.clone();
        if index == 0 {
            first_answer = serde_json::from_str(&answer).unwrap();
        }
    }
    assert!(
        last_answer.len() < 8_000,
        "answer of {} bytes",
        last_answer.len()
    );
    let (status, record) = http(&server.base, "GET", "/v1/calls/runaway", None).unwrap();
    assert_eq!(status, 200);
    assert!(record.len() < 20_000, "record of {} bytes", record.len());
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["hops"].as_array().unwrap().len(), 10);
    assert_eq!(record["omitted"]["hops"], 290);
    let kept_moves = record["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|hop| hop["moved"] == true)
        .count() as u64;
    let omitted_moves = record["omitted"]["transfers_taken"].as_u64().unwrap();
    assert!(omitted_moves >= 1, "the first, dropped hop moved the call");
    let last: Value = serde_json::from_str(&last_answer).unwrap();
    assert_eq!(
        last["transfers_taken"].as_u64().unwrap(),
        omitted_moves + kept_moves,
        "transfers of dropped hops still count"
    );
    assert_eq!(last["hops_omitted"], 290);

    // The first event's hop is no longer kept in memory; its redelivery still gets
    // the answer it got, from disk, and adds no hop.
    let body = transfer("e0", "runaway", "customer_service", "billing").to_string();
    let (status, again) = http(&server.base, "POST", "/v1/transfers", Some(&body)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), first_answer);
    let (_, record) = http(&server.base, "GET", "/v1/calls/runaway", None).unwrap();
    assert!(record.contains("\"hops\":290"), "{record}");
    let changed = transfer("e0", "runaway", "customer_service", "sales").to_string();
    let (status, _) = http(&server.base, "POST", "/v1/transfers", Some(&changed)).unwrap();
    assert_eq!(
        status, 409,
        "a forgotten id with another body is still a conflict"
    );
}

#[tokio::test]
async fn open_calls_that_never_end_expire_from_memory_and_disk() {
    use loopguard::core::engine::{CallId, EventId, TransferRequest};
    use loopguard::store::{CallStore, SqliteStore, StoreConfig};
    let directory = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        prune_interval: Duration::from_millis(50),
        open_call_max_idle: jiff::SignedDuration::from_hours(24),
        ..StoreConfig::new(directory.path())
    };
    let now = jiff::Timestamp::now();
    let (store, _) = SqliteStore::open(
        config.clone(),
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::fixed(now),
    )
    .unwrap();
    let rules = Arc::new(carrier_rules());
    for (call, received) in [
        ("stale", now - jiff::SignedDuration::from_hours(30)),
        ("live", now),
    ] {
        let request = TransferRequest {
            event_id: EventId::parse(&format!("{call}-1")).unwrap(),
            call_id: CallId::parse(call).unwrap(),
            from: "customer_service".to_owned(),
            to: "billing".to_owned(),
            mode: None,
            intent: None,
            callback_number: None,
            agent_id: None,
            occurred_at: None,
        };
        store
            .record_transfer(rules.clone(), request, received)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.call("stale").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the stale open call never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.call("live").await.unwrap().is_some());
    drop(store);
    let (reopened, report) = SqliteStore::open(
        config,
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::fixed(now),
    )
    .unwrap();
    assert_eq!(report.calls_loaded, 1, "gone from disk too");
    assert!(reopened.call("stale").await.unwrap().is_none());
}

/// The figure in the README: memory per live call, measured from the outside.
#[test]
fn memory_per_live_call_stays_under_a_generous_ceiling() {
    let server = BinaryServer::start(&repo_root().join("routing-rules"), &["--in-memory"]);
    let send = |call: usize, hop: usize, from: &str, to: &str| {
        let body = transfer(
            &format!("m{call}-{hop}"),
            &format!("mem-{call:06}"),
            from,
            to,
        )
        .to_string();
        let (status, _) = http(&server.base, "POST", "/v1/transfers", Some(&body)).unwrap();
        assert_eq!(status, 200);
    };
    // Warm up allocator arenas and the runtime first.
    for call in 0..500 {
        send(call, 0, "customer_service", "billing");
    }
    let before = resident_kib(server.pid());
    let calls = 5_000;
    for call in 500..500 + calls {
        send(call, 0, "customer_service", "billing");
        send(call, 1, "billing", "retention");
    }
    let after = resident_kib(server.pid());
    let per_call = (after.saturating_sub(before) * 1024) / calls as u64;
    println!(
        "memory per live call (2 hops, in memory): {per_call} bytes ({before} KiB -> {after} KiB for {calls} calls)"
    );
    assert!(per_call < 32 * 1024, "{per_call} bytes per call");
}

// ---------------------------------------------------------------------------------
// Item 7: Host and Origin

#[tokio::test]
async fn an_open_dashboard_refuses_rebound_hosts_and_cross_origin_posts() {
    let mut state = memory_state(carrier_rules());
    state.host_policy = HostPolicy {
        loopback_only: true,
        allowed_hosts: vec!["loopguard.internal".to_owned()],
    };
    let app = router(state);
    let get = |host: &str| {
        Request::get("/v1/stats/callbacks")
            .header("host", host)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(&app, get("evil.example:8080")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let error = json_of(&body);
    assert_eq!(error["error"]["code"], "forbidden");
    assert_eq!(error["error"]["field"], "host");
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "loopguard.internal",
    ] {
        assert_eq!(send(&app, get(host)).await.0, StatusCode::OK, "{host}");
    }
    let (status, _, body) = send(
        &app,
        Request::post("/v1/transfers")
            .header("host", "127.0.0.1:8080")
            .header("origin", "http://evil.example")
            .header("content-type", "application/json")
            .body(Body::from(
                transfer("o1", "call-o", "customer_service", "billing").to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&body)["error"]["field"], "origin");
}

#[tokio::test]
async fn with_a_webhook_secret_and_no_token_the_dashboard_buttons_need_a_signature() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let state = memory_state(carrier_rules()).with_verifier(Some(WebhookVerifier::new(
        WebhookSecret::parse(secret).unwrap(),
    )));
    let app = router(state);
    let (status, _, body) = send(
        &app,
        Request::post("/calls/call-x/callback")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"event_id": "c1", "status": "done"}).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&body)["error"]["code"], "bad-signature");
}

// ---------------------------------------------------------------------------------
// Item 8: rules directories as deployed

#[cfg(unix)]
#[test]
fn a_configmap_volume_is_read_once_and_its_atomic_swap_is_noticed() {
    use std::os::unix::fs::symlink;
    let volume = tempfile::tempdir().unwrap();
    let first = volume.path().join("..2026_01_01_00_00_00.1");
    std::fs::create_dir(&first).unwrap();
    copy_rules(&first);
    symlink("..2026_01_01_00_00_00.1", volume.path().join("..data")).unwrap();
    for entry in std::fs::read_dir(&first).unwrap() {
        let name = entry.unwrap().file_name();
        symlink(Path::new("..data").join(&name), volume.path().join(&name)).unwrap();
    }
    let server = BinaryServer::start(volume.path(), &["--in-memory"]);
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));

    // The kubelet's update: a new timestamped directory, `..data_tmp` pointing at it,
    // renamed over `..data`, the old directory removed.
    let second = volume.path().join("..2026_01_02_00_00_00.2");
    std::fs::create_dir(&second).unwrap();
    copy_rules(&second);
    let transfers = second.join("transfers.toml");
    let good = std::fs::read_to_string(&transfers).unwrap();
    std::fs::write(
        &transfers,
        good.replace("to = \"billing\"", "to = \"biling\""),
    )
    .unwrap();
    symlink("..2026_01_02_00_00_00.2", volume.path().join("..data_tmp")).unwrap();
    std::fs::rename(
        volume.path().join("..data_tmp"),
        volume.path().join("..data"),
    )
    .unwrap();
    std::fs::remove_dir_all(&first).unwrap();
    let ready = server.wait_for("/readyz", |body| body.contains("degraded"));
    assert!(ready.contains("unknown-department"), "{ready}");
}

#[test]
fn a_rules_directory_replaced_by_rename_is_still_watched() {
    let parent = tempfile::tempdir().unwrap();
    let rules = parent.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    copy_rules(&rules);
    let server = BinaryServer::start(&rules, &["--in-memory"]);
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));

    let replacement = parent.path().join("rules.new");
    std::fs::create_dir(&replacement).unwrap();
    copy_rules(&replacement);
    std::fs::rename(&rules, parent.path().join("rules.old")).unwrap();
    std::fs::rename(&replacement, &rules).unwrap();
    // An edit inside the directory that was swapped in must be noticed.
    let transfers = rules.join("transfers.toml");
    let good = std::fs::read_to_string(&transfers).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The renewed watch may be armed a moment after the swap's own reload: edit until seen.
    loop {
        std::fs::write(
            &transfers,
            good.replace("to = \"billing\"", "to = \"biling\""),
        )
        .unwrap();
        if server.get("/readyz").contains("unknown-department") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit in the swapped-in directory was not noticed"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::fs::write(&transfers, &good).unwrap();
    server.wait_for("/readyz", |body| body.contains("\"status\":\"ready\""));
}

// ---------------------------------------------------------------------------------
// Low items

#[tokio::test]
async fn wrong_credentials_are_limited_per_client_even_the_right_one_waits() {
    let mut state = memory_state(carrier_rules());
    state.dashboard_token = Some(TOKEN.to_owned());
    let app = router(state);
    let peer: std::net::SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let with = |token: &str| {
        let mut request = Request::get("/v1/stats/callbacks")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        request
    };
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(send(&app, with("wrong-guess-0000000000")).await.0);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(
        *statuses.last().unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "{statuses:?}"
    );
    let (status, headers, body) = send(&app, with(TOKEN)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "no oracle while locked out"
    );
    assert!(headers.contains_key("retry-after"));
    assert_eq!(json_of(&body)["error"]["code"], "too-many-attempts");

    let mut other = with(TOKEN);
    other.extensions_mut().insert(axum::extract::ConnectInfo(
        "203.0.113.5:1".parse::<std::net::SocketAddr>().unwrap(),
    ));
    assert_eq!(
        send(&app, other).await.0,
        StatusCode::OK,
        "another client is not affected"
    );
}

#[test]
fn obviously_weak_credentials_are_refused_at_start_with_a_clear_message() {
    for (flag, value, expected) in [
        (
            "--dashboard-token",
            "aaaaaaaaaaaaaaaa",
            "different characters",
        ),
        (
            "--webhook-secret",
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "different byte values",
        ),
    ] {
        let output = run_within(
            std::process::Command::new(env!("CARGO_BIN_EXE_loopguard")).args([
                "serve",
                "--in-memory",
                "--listen",
                "127.0.0.1:0",
                flag,
                value,
            ]),
            Duration::from_secs(10),
        );
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains("openssl rand"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_the_cookie_is_secure_behind_an_https_proxy() {
    let proxy: std::net::SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let mut state = memory_state(carrier_rules());
    state.dashboard_token = Some(TOKEN.to_owned());
    state.trusted_proxies = vec![proxy.ip()];
    let app = router(state);
    let (_, headers, _) = send(&app, Request::get("/login").body(Body::empty()).unwrap()).await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let login = |from: std::net::SocketAddr| {
        let body = serde_urlencoded::to_string([("token", TOKEN), ("next", "/")]).unwrap();
        let mut request = Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-proto", "https")
            .body(Body::from(body))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(from));
        request
    };
    let (status, headers, _) = send(&app, login(proxy)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["set-cookie"].to_str().unwrap().contains("; Secure"));
    let (_, headers, _) = send(&app, login("192.0.2.9:1".parse().unwrap())).await;
    assert!(
        !headers["set-cookie"].to_str().unwrap().contains("Secure"),
        "X-Forwarded-Proto from anyone but a trusted proxy is ignored"
    );
}

#[test]
fn at_the_database_size_cap_readyz_says_why_and_the_wal_stays_small() {
    let data = tempfile::tempdir().unwrap();
    let server = BinaryServer::start_with_data(
        &repo_root().join("routing-rules"),
        data.path(),
        &["--max-database-bytes", "300000"],
    );
    let mut refused = false;
    for index in 0..5_000 {
        let mut body = transfer(
            &format!("f{index}"),
            &format!("fill-{index}"),
            "customer_service",
            "billing",
        );
        body["agent_id"] = json!("a".repeat(200));
        let (status, _) = http(
            &server.base,
            "POST",
            "/v1/transfers",
            Some(&body.to_string()),
        )
        .unwrap();
        if status == 503 {
            refused = true;
            break;
        }
        assert_eq!(status, 200);
    }
    assert!(refused, "the cap was never reached");
    let ready = server.get("/readyz");
    assert!(
        ready.contains("degraded") && ready.contains("max-database-bytes"),
        "{ready}"
    );
    let wal = std::fs::metadata(data.path().join("loopguard.db-wal")).map_or(0, |meta| meta.len());
    assert!(wal < 1_000_000, "WAL of {wal} bytes against a 300 KB cap");
}

#[tokio::test]
async fn a_huge_signature_header_is_refused_before_any_hashing() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let state = memory_state(carrier_rules()).with_verifier(Some(WebhookVerifier::new(
        WebhookSecret::parse(secret).unwrap(),
    )));
    let app = router(state);
    let huge = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ".repeat(1_000);
    let now = jiff::Timestamp::now().as_second().to_string();
    let (status, _, body) = send(
        &app,
        Request::post("/v1/transfers")
            .header("content-type", "application/json")
            .header("webhook-id", "h1")
            .header("webhook-timestamp", now)
            .header("webhook-signature", huge)
            .body(Body::from(
                transfer("h1", "call-h", "customer_service", "billing").to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error = json_of(&body);
    assert_eq!(error["error"]["field"], "webhook-signature");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bytes long"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------
// Every route, arbitrary input

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Every route, with a concrete path; dashboard pages answer HTML.
    const ROUTES: &[(&str, &str, bool)] = &[
        ("POST", "/v1/transfers", false),
        ("POST", "/v1/calls/c1/end", false),
        ("POST", "/v1/calls/c1/callback", false),
        ("POST", "/v1/calls/c1/promises", false),
        ("POST", "/v1/calls/c1/promises/p1", false),
        ("GET", "/v1/calls/c1", false),
        ("GET", "/v1/loops", false),
        ("GET", "/v1/stats/overview", false),
        ("GET", "/v1/stats/flagged", false),
        ("GET", "/v1/stats/matrix", false),
        ("GET", "/v1/stats/departments", false),
        ("GET", "/v1/stats/callbacks", false),
        ("GET", "/v1/stats/graph", false),
        ("GET", "/v1/stats/hotspots", false),
        ("GET", "/v1/stats/agents", false),
        ("GET", "/v1/stats/follow-ups", false),
        ("GET", "/", true),
        ("GET", "/calls", true),
        ("GET", "/calls/c1", true),
        ("POST", "/calls/c1/callback", false),
        ("GET", "/matrix", true),
        ("GET", "/graph", true),
        ("GET", "/departments", true),
        ("GET", "/callbacks", true),
        ("GET", "/agents", true),
        ("GET", "/follow-ups", true),
        ("GET", "/login", true),
        ("POST", "/login", true),
        ("GET", "/readyz", false),
        ("GET", "/nowhere", false),
    ];

    const HEADERS: &[&str] = &[
        "content-type",
        "authorization",
        "cookie",
        "host",
        "origin",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-forwarded-for",
        "accept",
    ];

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,80}",
            Just("application/json".to_owned()),
            Just("text/html".to_owned()),
            Just("Bearer x".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_and_headers_never_panic_and_errors_are_json(
            route in 0..ROUTES.len(),
            query in "[ -~]{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..512),
            headers in proptest::collection::vec((0..HEADERS.len(), header_value()), 0..5),
            token in any::<bool>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (method, path, html) = ROUTES[route];
                let mut state = memory_state(carrier_rules());
                state.host_policy = HostPolicy { loopback_only: true, allowed_hosts: Vec::new() };
                if token {
                    state.dashboard_token = Some(TOKEN.to_owned());
                }
                let app = router(state);
                let query: String = query.chars().filter(|c| !c.is_whitespace() && *c != '#').collect();
                let uri = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
                let mut builder = Request::builder().method(method).uri(uri.as_str());
                for (name, value) in &headers {
                    if let Ok(value) = axum::http::HeaderValue::from_str(value) {
                        builder = builder.header(HEADERS[*name], value);
                    }
                }
                let Ok(request) = builder.body(Body::from(body.clone())) else {
                    return Ok(());
                };
                let (status, response_headers, response) = send(&app, request).await;
                prop_assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{method} {uri}: 500");
                if status.is_client_error() || status.is_server_error() {
                    let content_type = response_headers
                        .get("content-type")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("");
                    if content_type.starts_with("text/html") {
                        prop_assert!(html, "{method} {uri}: HTML error from a JSON route");
                    } else {
                        let error: Value = serde_json::from_slice(&response)
                            .map_err(|error| TestCaseError::fail(format!("{method} {uri} {status}: not JSON: {error}")))?;
                        prop_assert!(error["error"]["code"].is_string(), "{method} {uri}: {error}");
                        prop_assert!(error["error"]["message"].is_string(), "{method} {uri}: {error}");
                    }
                }
                Ok(())
            })?;
        }
    }
}

/// A reload of a file with thousands of errors must not become a `/readyz` body or
/// a log line the size of its findings: the loader keeps lint's per-file cap.
#[test]
fn rules_with_thousands_of_errors_load_as_a_capped_report() {
    let directory = tempfile::tempdir().unwrap();
    let mut text = String::from("[[department]]\nid = \"desk\"\nentry = true\n");
    for index in 0..5_000 {
        text.push_str(&format!("typo_{index} = 1\n"));
    }
    std::fs::write(directory.path().join("rules.toml"), text).unwrap();
    match loopguard::rules_files::load_clean_rules(directory.path()) {
        Err(loopguard::rules_files::LoadFailure::Findings {
            errors, omitted, ..
        }) => {
            assert_eq!(
                errors.len(),
                loopguard::core::lint::DEFAULT_MAX_FINDINGS_PER_FILE
            );
            let more: usize = omitted.iter().map(|omitted| omitted.total()).sum();
            assert!(more >= 4_900, "{more} omitted");
        }
        Err(loopguard::rules_files::LoadFailure::Unreadable(error)) => panic!("{error}"),
        Ok(_) => panic!("rules with 5,000 unknown keys were accepted"),
    }
}
