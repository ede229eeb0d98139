//! The Asterisk integration: loopguard's AMI client against a scripted AMI server
//! on port 0 that replays the captured event text of
//! `tests/fixtures/integrations/asterisk/`, across reconnections (a refused login,
//! an overlong line, a closed connection), with the events recorded through the
//! same path as the webhooks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loopguard::webhook::asterisk::{AmiConfig, spawn};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{memory_state, repo_root};

const LINKEDID: &str = "asterisk-1751017620.2695";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("tests/fixtures/integrations/asterisk")
            .join(name),
    )
    .expect("fixture readable")
}

/// Sends the banner and reads the Login action; returns its lines.
async fn greet(stream: &mut TcpStream) -> Vec<String> {
    stream
        .write_all(b"Asterisk Call Manager/7.0.3\r\n")
        .await
        .expect("banner");
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("login line");
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return lines;
        }
        lines.push(line);
    }
}

async fn accept_logged_in(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().await.expect("the client connects");
    let login = greet(&mut stream).await;
    assert!(login.contains(&"Action: Login".to_owned()), "{login:?}");
    assert!(
        login.contains(&"Username: loopguard".to_owned()),
        "{login:?}"
    );
    assert!(
        login.contains(&"Secret: ami-secret".to_owned()),
        "{login:?}"
    );
    stream
        .write_all(b"Response: Success\r\nActionID: loopguard-login\r\nMessage: Authentication accepted\r\n\r\n")
        .await
        .expect("login answer");
    stream
}

#[tokio::test]
async fn transfers_and_the_hangup_are_recorded_across_reconnections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let state = Arc::new(memory_state(crate::twilio::rules()));
    let mut config = AmiConfig::new(
        listener.local_addr().expect("address").to_string(),
        "loopguard".to_owned(),
        "ami-secret".to_owned(),
    );
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    config.io_timeout = Duration::from_secs(5);
    let client = spawn(state.clone(), config);

    // 1: the blind transfer, then Asterisk goes away.
    let mut stream = accept_logged_in(&listener).await;
    stream
        .write_all(fixture("blind-transfer.ami").as_bytes())
        .await
        .expect("events");
    drop(stream);
    // 2: the same event again (replayed after a reconnection) and the attended transfer back.
    let mut stream = accept_logged_in(&listener).await;
    stream
        .write_all(fixture("blind-transfer.ami").as_bytes())
        .await
        .expect("events");
    stream
        .write_all(fixture("attended-transfer.ami").as_bytes())
        .await
        .expect("events");
    drop(stream);
    // 3: a refused login.
    let (mut stream, _) = listener.accept().await.expect("reconnects");
    greet(&mut stream).await;
    stream
        .write_all(b"Response: Error\r\nActionID: loopguard-login\r\nMessage: Authentication failed\r\n\r\n")
        .await
        .expect("refusal");
    drop(stream);
    // 4: a line longer than the cap: the client drops the connection.
    let mut stream = accept_logged_in(&listener).await;
    let long = format!("Event: VarSet\r\nValue: {}\r\n\r\n", "x".repeat(64 * 1024));
    let _ = stream.write_all(long.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
    )
    .await;
    drop(stream);
    // 5: the caller hangs up; the connection stays open.
    let mut stream = accept_logged_in(&listener).await;
    stream
        .write_all(fixture("hangup.ami").as_bytes())
        .await
        .expect("events");

    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        if let Some(record) = state.store.call(LINKEDID).await.unwrap()
            && record.ended.is_some()
        {
            break record;
        }
        assert!(
            Instant::now() < deadline,
            "the hangup was not recorded: {:?}",
            state.store.call(LINKEDID).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(record.hops.len(), 2, "{record:?}");
    let (blind, attended) = (&record.hops[0], &record.hops[1]);
    assert_eq!(
        (blind.from.as_str(), blind.to.as_str()),
        ("customer_service", "activations")
    );
    assert_eq!(blind.from_identity.as_deref(), Some("16@from-internal-22"));
    assert_eq!(blind.to_identity.as_deref(), Some("22@from-internal-16"));
    assert_eq!(blind.mode, Some(loopguard::core::rules::TransferMode::Cold));
    assert_eq!(
        (attended.from.as_str(), attended.to.as_str()),
        ("activations", "customer_service")
    );
    assert_eq!(
        attended.mode,
        Some(loopguard::core::rules::TransferMode::Warm)
    );
    assert_eq!(attended.verdict, loopguard::core::engine::Verdict::Block);
    assert!(
        attended
            .findings
            .iter()
            .any(|finding| finding.code.as_str() == "ping-pong"),
        "{:?}",
        attended.findings
    );
    assert_eq!(
        record.ended.as_ref().map(|end| end.outcome),
        Some(loopguard::core::engine::CallOutcome::Resolved)
    );
    client.abort();
    drop(stream);
}

#[tokio::test]
async fn a_server_that_is_not_asterisk_is_left_and_tried_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let state = Arc::new(memory_state(crate::twilio::rules()));
    let mut config = AmiConfig::new(
        listener.local_addr().expect("address").to_string(),
        "loopguard".to_owned(),
        "ami-secret".to_owned(),
    );
    config.initial_backoff = Duration::from_millis(10);
    let client = spawn(state, config);
    let (mut stream, _) = listener.accept().await.expect("connects");
    stream
        .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
    )
    .await;
    assert!(read.is_ok(), "the client closes the connection");
    assert!(
        rest.is_empty(),
        "and sends no credentials: {}",
        String::from_utf8_lossy(&rest)
    );
    let (_again, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("and connects again")
        .expect("accepted");
    client.abort();
}
