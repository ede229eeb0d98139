//! The SIP REFER integration: `POST /v1/integrations/sip/refer` over real HTTP (the
//! router on port 0), and the whole path with real software: SIPp sends REFERs to
//! Kamailio running `contrib/kamailio/kamailio.cfg`, which asks the real
//! `loopguard serve` binary (signed) and answers 202 or 403.
//!
//! The Kamailio test needs Debian's `kamailio`, `kamailio-utils-modules`,
//! `kamailio-extra-modules`, `kamailio-tls-modules` (crypto, for signing) and
//! `sip-tester` (SIPp). Without them it fails when `CI` is set and is skipped
//! loudly otherwise. Kamailio and loopguard are started once, for one test that
//! drives every scenario (the last with loopguard stopped: 503, failing closed), so
//! both are always stopped at its end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loopguard::http::signature::{WebhookSecret, WebhookVerifier};
use serde_json::{Value, json};

use crate::support::{BinaryServer, TestServer, lint_fixture, repo_root};

const RULES: &str = "tests/fixtures/sip/rules";
const SECRET: &str = "whsec_c2lwLXRlc3Qtc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";
const REFER: &str = "/v1/integrations/sip/refer";
/// The Replaces value of RFC 3891's example (`425928@bobster.example.org;to-tag=7743;
/// from-tag=6472`), escaped as a Refer-To URI header.
const REPLACES: &str = "?Replaces=425928%40bobster.example.org%3Bto-tag%3D7743%3Bfrom-tag%3D6472";
const DEADLINE: Duration = Duration::from_secs(15);

fn rules() -> loopguard::core::rules::Rules {
    let (_, report) = lint_fixture(RULES);
    assert!(!report.has_errors(), "{RULES} has errors");
    report.rules
}

/// A REFER as Kamailio's `jansson_set` calls in `contrib/kamailio/loopguard.cfg` build it.
fn refer(call_id: &str, cseq: u32, from: &str, refer_to: &str) -> Value {
    json!({
        "call_id": call_id,
        "cseq": cseq,
        "from_uri": from,
        "to_uri": "sip:+14155550123@carrier.example.net",
        "refer_to": refer_to,
        // RFC 3892's example, header parameter included.
        "referred_by": "<sip:referrer@referrer.example>;cid=\"20398823.2UWQFN309shb3@referrer.example\"",
    })
}

#[tokio::test]
async fn an_attended_refer_is_warm_and_accepted_with_both_names_kept() {
    let server = TestServer::start(rules()).await;
    let target = format!("<sip:3001@PBX.example.com:5060;transport=udp{REPLACES}>");
    let (status, answer) = server
        .post(
            REFER,
            &refer("leg-a@pbx", 7, "sip:2001@pbx.example.com", &target),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "allow", "{answer}");
    assert_eq!(answer["sip"], json!({"status": 202, "phrase": "Accepted"}));
    assert_eq!(answer["reason"], "");
    assert_eq!(
        answer["from"],
        json!({"department": "customer_service", "identity": "sip:2001@pbx.example.com"})
    );
    assert_eq!(
        answer["to"],
        json!({"department": "activations", "identity": "sip:3001@pbx.example.com:5060"})
    );
    assert_eq!(answer["event_id"], "leg-a@pbx;cseq=7");

    let (status, call) = server.get("/v1/calls/leg-a@pbx").await;
    assert_eq!(status, 200, "{call}");
    let hop = &call["hops"][0];
    assert_eq!(
        (
            &hop["from"],
            &hop["from_identity"],
            &hop["to"],
            &hop["to_identity"]
        ),
        (
            &json!("customer_service"),
            &json!("sip:2001@pbx.example.com"),
            &json!("activations"),
            &json!("sip:3001@pbx.example.com:5060")
        )
    );
    assert_eq!(hop["mode"], "warm");
    assert_eq!(hop["agent_id"], "sip:referrer@referrer.example");
    server.stop().await;
}

#[tokio::test]
async fn a_blind_refer_is_cold_and_a_warning_still_accepts_it() {
    let server = TestServer::start(rules()).await;
    // "2002" is a bare alias: that extension on any host.
    let (status, answer) = server
        .post(
            REFER,
            &refer(
                "leg-b@pbx",
                1,
                "sip:2002@10.0.0.7:5060",
                "sip:3001@pbx.example.com",
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "warn", "{answer}");
    assert_eq!(crate::support::codes(&answer), ["cold-transfer"]);
    assert_eq!(answer["sip"]["status"], 202);
    assert_eq!(answer["from"]["department"], "customer_service");
    server.stop().await;
}

#[tokio::test]
async fn a_ping_pong_over_two_call_ids_with_one_chain_id_is_refused_with_a_reason() {
    let server = TestServer::start(rules()).await;
    let mut first = refer(
        "leg-1@pbx",
        1,
        "sip:2001@pbx.example.com",
        "sip:3001@pbx.example.com",
    );
    first["chain_id"] = json!("uui-56a390f3d2b7310023a2");
    let (status, answer) = server.post(REFER, &first).await;
    assert_eq!(
        (status, &answer["sip"]["status"]),
        (200, &json!(202)),
        "{answer}"
    );

    // The blind transfer started a new dialog: a new Call-ID, the same chain key.
    let mut second = refer(
        "leg-2@pbx",
        1,
        "\"Activations\" <sip:3001@pbx.example.com>;tag=9fxced76sl",
        "sip:2001@pbx.example.com",
    );
    second["chain_id"] = json!("uui-56a390f3d2b7310023a2");
    let (status, answer) = server.post(REFER, &second).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "block", "{answer}");
    assert_eq!(answer["sip"]["status"], 403);
    assert_eq!(answer["sip"]["phrase"], "Forbidden");
    let reason = answer["reason"].as_str().expect("a flat reason string");
    assert_eq!(answer["sip"]["reason"], reason);
    assert!(
        reason.starts_with(
            "SIP;cause=403;text=\"ping-pong: the call came from `customer_service` to `activations`"
        ),
        "{reason}"
    );
    assert!(reason.ends_with('"') && !reason[..reason.len() - 1].ends_with('\\'));
    assert_eq!(answer["call_id"], "uui-56a390f3d2b7310023a2");
    assert_eq!(answer["event_id"], "leg-2@pbx;cseq=1");
    server.stop().await;
}

#[tokio::test]
async fn a_retransmitted_refer_gets_the_same_answer_and_a_changed_one_is_a_conflict() {
    let server = TestServer::start(rules()).await;
    let body = refer(
        "leg-r@pbx",
        3,
        "sip:2001@pbx.example.com",
        "sip:3001@pbx.example.com",
    );
    let (_, first) = server.post(REFER, &body).await;
    let (status, again) = server.post(REFER, &body).await;
    assert_eq!((status, &again), (200, &first));
    let (_, call) = server.get("/v1/calls/leg-r@pbx").await;
    assert_eq!(call["hops"].as_array().map(Vec::len), Some(1), "{call}");

    let mut changed = body.clone();
    changed["refer_to"] = json!(format!("<sip:3001@pbx.example.com{REPLACES}>"));
    let (status, error) = server.post(REFER, &changed).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["code"], "conflicting-redelivery");
    server.stop().await;
}

#[tokio::test]
async fn bad_refers_get_a_4xx_naming_the_field_and_record_nothing() {
    let server = TestServer::start(rules()).await;
    let good = refer(
        "bad@pbx",
        1,
        "sip:2001@pbx.example.com",
        "sip:3001@pbx.example.com",
    );
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        ("call_id", Value::Null, 422, "missing-field", "Call-ID"),
        ("call_id", json!(17), 400, "invalid-json", "string"),
        ("cseq", Value::Null, 422, "missing-field", "CSeq"),
        (
            "cseq",
            json!("two"),
            400,
            "invalid-json",
            "not a CSeq number",
        ),
        ("cseq", json!(true), 400, "invalid-json", "CSeq number"),
        (
            "from_uri",
            json!("sip:2001@"),
            422,
            "invalid-value",
            "missing host",
        ),
        (
            "from_uri",
            json!("2001"),
            422,
            "invalid-value",
            "not a valid SIP URI",
        ),
        (
            "to_uri",
            json!("<sip:carol@pbx.example.com"),
            422,
            "invalid-value",
            "never closed",
        ),
        ("refer_to", Value::Null, 422, "missing-field", "Refer-To"),
        (
            "refer_to",
            json!("<sip:pbx.example.com?Replaces=x>"),
            422,
            "invalid-value",
            "no user part",
        ),
        (
            "refer_to",
            json!("sip:30 01@pbx.example.com"),
            422,
            "invalid-value",
            "invalid character",
        ),
        (
            "refer_to",
            json!(["sip:3001@pbx.example.com"]),
            400,
            "invalid-json",
            "string",
        ),
        (
            "referred_by",
            json!("sip:@pbx"),
            422,
            "invalid-value",
            "empty userinfo",
        ),
        ("mode", json!("sideways"), 422, "invalid-value", "`blind`"),
        ("chain_id", json!(""), 422, "invalid-value", "empty"),
    ];
    for (field, value, status, code, says) in cases {
        let mut body = good.clone();
        match value {
            Value::Null => {
                body.as_object_mut().expect("an object").remove(field);
            }
            value => body[field] = value,
        }
        let (actual, error) = server.post(REFER, &body).await;
        assert_eq!(actual, status, "{field}: {error}");
        assert_eq!(error["error"]["code"], code, "{field}: {error}");
        assert_eq!(error["error"]["field"], field, "{field}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{field}: {message}");
    }
    let (status, _) = server.get("/v1/calls/bad@pbx").await;
    assert_eq!(status, 404, "a refused REFER records nothing");
    server.stop().await;
}

#[tokio::test]
async fn refers_are_signed_exactly_like_transfers() {
    let verifier = WebhookVerifier::new(WebhookSecret::parse(SECRET).expect("a valid secret"));
    let state = crate::support::memory_state(rules()).with_verifier(Some(verifier));
    let server = TestServer::start_with(state).await;
    let body = refer(
        "signed@pbx",
        1,
        "sip:2001@pbx.example.com",
        "sip:3001@pbx.example.com",
    )
    .to_string();
    let send = |signature: Option<String>, id: &'static str| {
        let mut request = server
            .client
            .post(format!("{}{REFER}", server.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header(
                "webhook-timestamp",
                jiff::Timestamp::now().as_second().to_string(),
            )
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("webhook-signature", signature);
        }
        async move { crate::support::status_and_json(request.send().await.expect("sent")).await }
    };
    let (status, error) = send(None, "msg-1").await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (401, &json!("webhook-signature"))
    );
    // The reference implementation signs; loopguard verifies.
    let signer = standardwebhooks::Webhook::new(SECRET).expect("a valid secret");
    let signature = signer
        .sign("msg-1", jiff::Timestamp::now().as_second(), body.as_bytes())
        .expect("signed");
    let (status, answer) = send(Some(signature), "msg-1").await;
    assert_eq!(status, 200, "{answer}");
    // With a webhook-id header, that is the event id.
    assert_eq!(answer["event_id"], "msg-1");
    server.stop().await;
}

/// A program on the PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

/// Kamailio's module directory (Debian: `/usr/lib/<triplet>/kamailio/modules`).
fn kamailio_modules() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/lib/kamailio/modules")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        candidates.extend(
            entries
                .flatten()
                .map(|entry| entry.path().join("kamailio/modules")),
        );
    }
    candidates
        .into_iter()
        .find(|directory| directory.join("tm.so").is_file())
}

/// What is missing for the Kamailio test, as Debian package names.
fn missing_sip_packages() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if find_program("sipp").is_none() {
        missing.push("sip-tester");
    }
    let Some(modules) = find_program("kamailio").and(kamailio_modules()) else {
        missing.push("kamailio");
        return missing;
    };
    for (module, package) in [
        ("http_client.so", "kamailio-utils-modules"),
        ("jansson.so", "kamailio-extra-modules"),
        ("crypto.so", "kamailio-tls-modules"),
    ] {
        if !modules.join(module).is_file() {
            missing.push(package);
        }
    }
    missing
}

/// A loopback UDP port free right now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free loopback UDP port")
        .port()
}

/// Kamailio with `contrib/kamailio/kamailio.cfg` on a free loopback port, in its
/// own process group (it forks workers), stopped with the whole group on drop.
struct Kamailio {
    child: Child,
    port: u16,
    directory: tempfile::TempDir,
}

impl Kamailio {
    fn start(loopguard: &str) -> Kamailio {
        use std::os::unix::process::CommandExt;
        let directory = tempfile::tempdir().expect("a directory for Kamailio");
        let port = free_udp_port();
        let log = std::fs::File::create(directory.path().join("kamailio.log")).expect("log");
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
            .arg(repo_root().join("contrib/kamailio/kamailio.cfg"))
            .args(["-l", &format!("udp:127.0.0.1:{port}"), "-Y"])
            .arg(directory.path())
            .args(["-A", &format!("LOOPGUARD_URL=\"{loopguard}{REFER}\"")])
            .args(["-A", "LOOPGUARD_SECRET"])
            .env("LOOPGUARD_SECRET", SECRET)
            .current_dir(directory.path())
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        let mut kamailio = Kamailio {
            child,
            port,
            directory,
        };
        kamailio.wait_until_it_answers();
        kamailio
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Sends OPTIONS until Kamailio answers 200, for at most [`DEADLINE`].
    fn wait_until_it_answers(&mut self) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a probe socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        let local = socket.local_addr().expect("bound").port();
        let deadline = Instant::now() + DEADLINE;
        for attempt in 0.. {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "kamailio exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "kamailio did not answer OPTIONS:\n{}",
                self.log()
            );
            let options = format!(
                "OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-ready-{attempt}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ready-{attempt}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                port = self.port
            );
            let _ = socket.send_to(options.as_bytes(), ("127.0.0.1", self.port));
            let mut buffer = [0u8; 2048];
            if let Ok(length) = socket.recv(&mut buffer)
                && buffer[..length].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Runs one SIPp scenario from `tests/fixtures/sip/` against Kamailio, for one call;
/// returns its trace log (`-trace_logs`). Panics with SIPp's errors and Kamailio's
/// log when the call fails.
fn sipp(kamailio: &Kamailio, scenario: &str, keys: &[(&str, &str)]) -> String {
    let directory = tempfile::tempdir().expect("a directory for SIPp");
    let scenario_path = repo_root().join("tests/fixtures/sip").join(scenario);
    let mut command = Command::new("sipp");
    command
        .arg(format!("127.0.0.1:{}", kamailio.port))
        .arg("-sf")
        .arg(&scenario_path)
        .args(["-m", "1", "-i", "127.0.0.1", "-p"])
        .arg(free_udp_port().to_string())
        .args(["-timeout", "10", "-timeout_error", "-nostdin"])
        .args(["-trace_err", "-trace_logs"])
        .current_dir(directory.path())
        .stdin(Stdio::null());
    for (name, value) in keys {
        command.args(["-key", name, value]);
    }
    let output = command.output().expect("sipp runs");
    let logs = read_logs(directory.path());
    assert!(
        output.status.success(),
        "SIPp scenario {scenario} {keys:?} failed ({}):\n{logs}\n--- SIPp ---\n{}\n--- Kamailio ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n"),
        kamailio.log()
    );
    logs
}

/// Every log file SIPp wrote, concatenated.
fn read_logs(directory: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        if entry
            .path()
            .extension()
            .is_some_and(|extension| extension == "log")
        {
            text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
        }
    }
    text
}

fn hops(loopguard: &BinaryServer, chain: &str) -> Vec<Value> {
    let body = loopguard.get(&format!("/v1/calls/{chain}"));
    let call: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{chain}: {body}"));
    call["hops"].as_array().cloned().unwrap_or_default()
}

#[test]
fn kamailio_asks_loopguard_and_answers_sipp_refers_with_202_or_403() {
    let missing = missing_sip_packages();
    if !missing.is_empty() {
        let message = format!(
            "the SIP test needs Debian's {} (apt-get install -y kamailio kamailio-utils-modules \
             kamailio-extra-modules kamailio-tls-modules sip-tester)",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
        return;
    }
    let loopguard = BinaryServer::start(&repo_root().join(RULES), &["--webhook-secret", SECRET]);
    let kamailio = Kamailio::start(&loopguard.base);
    let attended = format!("<sip:3001@pbx.example.com{REPLACES}>");

    sipp(
        &kamailio,
        "refer_accepted.xml",
        &[
            ("from_ext", "2001"),
            ("refer_to", &attended),
            ("chain", "attended"),
        ],
    );
    let attended_hops = hops(&loopguard, "attended");
    assert_eq!(attended_hops.len(), 1, "{attended_hops:?}");
    assert_eq!(
        (&attended_hops[0]["mode"], &attended_hops[0]["verdict"]),
        (&json!("warm"), &json!("allow"))
    );

    sipp(
        &kamailio,
        "refer_accepted.xml",
        &[
            ("from_ext", "2002"),
            ("refer_to", "<sip:3001@pbx.example.com>"),
            ("chain", "blind"),
        ],
    );
    let blind_hops = hops(&loopguard, "blind");
    assert_eq!(
        (
            &blind_hops[0]["from"],
            &blind_hops[0]["from_identity"],
            &blind_hops[0]["mode"],
            &blind_hops[0]["verdict"]
        ),
        (
            &json!("customer_service"),
            &json!("sip:2002@pbx.example.com"),
            &json!("cold"),
            &json!("warn")
        )
    );

    // Two legs, two Call-IDs (one per SIPp run), one chain key.
    sipp(
        &kamailio,
        "refer_accepted.xml",
        &[
            ("from_ext", "2001"),
            ("refer_to", "<sip:3001@pbx.example.com>"),
            ("chain", "ping-pong"),
        ],
    );
    let logs = sipp(
        &kamailio,
        "refer_refused.xml",
        &[
            ("from_ext", "3001"),
            ("refer_to", "<sip:2001@pbx.example.com>"),
            ("chain", "ping-pong"),
        ],
    );
    assert!(
        logs.contains("Reason: SIP;cause=403;text=\"ping-pong: the call came from `customer_service` to `activations`"),
        "{logs}"
    );
    let ping_pong = hops(&loopguard, "ping-pong");
    assert_eq!(ping_pong.len(), 2, "{ping_pong:?}");
    assert_eq!(ping_pong[1]["verdict"], "block");
    let call_id = |hop: &Value| {
        hop["event_id"]
            .as_str()
            .and_then(|id| id.split(";cseq=").next())
            .map(str::to_owned)
    };
    assert_ne!(call_id(&ping_pong[0]), call_id(&ping_pong[1]), "two legs");

    // loopguard gone: the configuration fails closed.
    loopguard.kill();
    sipp(
        &kamailio,
        "refer_unavailable.xml",
        &[
            ("from_ext", "2001"),
            ("refer_to", "<sip:3001@pbx.example.com>"),
            ("chain", "unavailable"),
        ],
    );
    assert!(
        kamailio.log().contains("loopguard gave no verdict"),
        "{}",
        kamailio.log()
    );
}
