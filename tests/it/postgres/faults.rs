//! Faults: an instance killed with SIGKILL under load while clients retry on the
//! other, PostgreSQL stopped and started under load, and a database that stops
//! answering (a frozen network). No acknowledged event may be lost or stored
//! twice, no answer may differ from one engine's, outages answer 503 with
//! `Retry-After` within 2 s, and recovery needs no restart of loopguard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::{
    Scripted, cluster, instance, own_cluster, reference, script, stored_records, to_json,
    wait_until,
};
use crate::support::{BinaryServer, TestServer, http, repo_root};

const KILL_CYCLES: usize = 8;

#[test]
fn sigkill_of_one_instance_under_load_loses_no_acknowledged_event_and_stores_none_twice() {
    let Some(server) = cluster() else { return };
    let url = server.create_database("sigkill");
    let rules = repo_root().join("routing-rules");
    let survivor = BinaryServer::start_with_database(&rules, &url, &[]);
    let victim = Arc::new(Mutex::new(BinaryServer::start_with_database(
        &rules,
        &url,
        &[],
    )));
    let victim_base = Arc::new(Mutex::new(victim.lock().expect("victim").base.clone()));
    let scripts: Vec<Vec<Vec<Scripted>>> = (0..4)
        .map(|client| script(&format!("kill{client}"), 30))
        .collect();
    let (expected, _) = reference(&scripts.concat());
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));

    // The killer: SIGKILL the victim whenever the clients made some progress, and
    // start it again on the same database.
    let killer = {
        let victim = victim.clone();
        let victim_base = victim_base.clone();
        let acknowledged = acknowledged.clone();
        let done = done.clone();
        let url = url.clone();
        let rules = rules.clone();
        std::thread::spawn(move || {
            let mut kills = 0;
            while kills < KILL_CYCLES && !done.load(Ordering::Relaxed) {
                let mark = acknowledged.load(Ordering::Relaxed) + 15;
                let deadline = Instant::now() + Duration::from_secs(30);
                while acknowledged.load(Ordering::Relaxed) < mark
                    && !done.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut guard = victim.lock().expect("victim");
                let restarted = BinaryServer::start_with_database(&rules, &url, &[]);
                let killed = std::mem::replace(&mut *guard, restarted);
                killed.kill();
                *victim_base.lock().expect("victim base") = guard.base.clone();
                kills += 1;
            }
            kills
        })
    };

    // Each client sends its calls' events in order, even ones to the victim and odd
    // ones to the survivor; whatever fails (refused, reset, 503) is sent again to
    // the other instance until it is acknowledged.
    let clients: Vec<_> = scripts
        .into_iter()
        .map(|calls| {
            let victim_base = victim_base.clone();
            let survivor_base = survivor.base.clone();
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let mut answers: HashMap<String, Value> = HashMap::new();
                for (index, event) in calls.iter().flatten().enumerate() {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let mut attempt = index;
                    loop {
                        let base = if attempt % 2 == 0 {
                            victim_base.lock().expect("victim base").clone()
                        } else {
                            survivor_base.clone()
                        };
                        let body = event.body.to_string();
                        match http(&base, "POST", &event.path, Some(&body)) {
                            Ok((200, text)) => {
                                let answer = serde_json::from_str(&text).expect("JSON answer");
                                answers.insert(event.event_id.clone(), answer);
                                acknowledged.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Ok((503, _)) | Err(_) => {}
                            Ok((status, text)) => {
                                panic!("{}: unexpected {status}: {text}", event.event_id)
                            }
                        }
                        assert!(
                            Instant::now() < deadline,
                            "{} never acknowledged",
                            event.event_id
                        );
                        attempt += 1;
                    }
                }
                answers
            })
        })
        .collect();
    let mut answers = HashMap::new();
    for client in clients {
        answers.extend(client.join().expect("client thread"));
    }
    done.store(true, Ordering::Relaxed);
    let kills = killer.join().expect("killer thread");
    assert!(kills >= 3, "only {kills} kills happened");

    assert_eq!(answers.len(), expected.len());
    for (event_id, answer) in &answers {
        assert_eq!(answer, &expected[event_id], "{event_id}");
    }
    let records = stored_records(server, &url);
    assert_eq!(
        records.len(),
        expected.len(),
        "every event stored exactly once"
    );
    for record in records {
        let event_id = record["request"]["event_id"]
            .as_str()
            .expect("event id")
            .to_owned();
        assert_eq!(
            record["answer"], answers[&event_id],
            "{event_id}: stored answer"
        );
    }
}

/// Sends one event; the status, `Retry-After`, the body, and how long it took.
async fn send(instance: &TestServer, event: &Scripted) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let response = instance
        .client
        .post(format!("{}{}", instance.base, event.path))
        .json(&event.body)
        .send()
        .await
        .expect("the instance answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load_answers_503_then_recovers_without_a_restart() {
    let Some(server) = own_cluster() else { return };
    let server = Arc::new(server);
    let url = server.create_database("restart");
    let instances = [instance(&url).await, instance(&url).await];
    let calls = script("restart", 40);
    let (expected, engine) = reference(&calls);
    let acknowledged = AtomicUsize::new(0);
    let unavailable = AtomicUsize::new(0);
    let slowest_503 = Mutex::new(Duration::ZERO);

    let clients = join_all(calls.iter().map(|events| {
        let instances = &instances;
        let expected = &expected;
        let acknowledged = &acknowledged;
        let unavailable = &unavailable;
        let slowest_503 = &slowest_503;
        async move {
            for (index, event) in events.iter().enumerate() {
                let deadline = Instant::now() + Duration::from_secs(90);
                let mut attempt = index;
                loop {
                    let (status, retry_after, body, took) =
                        send(&instances[attempt % 2], event).await;
                    match status {
                        200 => {
                            assert_eq!(body, expected[&event.event_id], "{}", event.event_id);
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        503 => {
                            assert!(retry_after.is_some(), "503 without Retry-After: {body}");
                            let mut slowest = slowest_503.lock().expect("slowest");
                            *slowest = (*slowest).max(took);
                            unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("{}: unexpected {other}: {body}", event.event_id),
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{} never acknowledged",
                        event.event_id
                    );
                    attempt += 1;
                    // A platform retries after a while, not in a tight loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }));
    let outage = async {
        let total: usize = calls.iter().map(Vec::len).sum();
        wait_until(Duration::from_secs(60), || {
            acknowledged.load(Ordering::Relaxed) >= total / 4
        })
        .await;
        let stopping = server.clone();
        tokio::task::spawn_blocking(move || stopping.stop_server())
            .await
            .expect("stop task")
            .expect("PostgreSQL stops");
        // While it is down: 503s, and /readyz says so.
        wait_until(Duration::from_secs(30), || {
            unavailable.load(Ordering::Relaxed) >= 20
        })
        .await;
        for instance in &instances {
            let (status, ready) = instance.get("/readyz").await;
            assert_eq!(status, 503, "{ready}");
            assert_eq!(ready["store"]["ready"], false, "{ready}");
        }
        let starting = server.clone();
        tokio::task::spawn_blocking(move || starting.start_server())
            .await
            .expect("start task")
            .expect("PostgreSQL starts");
    };
    tokio::join!(clients, outage);

    assert!(unavailable.load(Ordering::Relaxed) >= 20);
    let slowest = *slowest_503.lock().expect("slowest");
    assert!(slowest < Duration::from_secs(2), "a 503 took {slowest:?}");
    let records = stored_records(&server, &url);
    assert_eq!(
        records.len(),
        expected.len(),
        "every event stored exactly once"
    );
    for instance in &instances {
        let (status, ready) = instance.get("/readyz").await;
        assert_eq!(status, 200, "{ready}");
    }
    // Both read models follow again: they hold every call as one engine does.
    for instance in &instances {
        let reference: Vec<Value> = engine.calls().map(to_json).collect();
        let store = &instance.state.store;
        let caught_up = || {
            let mut calls = Vec::new();
            store.read(&mut |engine| calls = engine.calls().map(to_json).collect());
            calls.len() == reference.len() && calls.iter().all(|call| reference.contains(call))
        };
        wait_until(Duration::from_secs(30), caught_up).await;
    }
}

/// A TCP proxy in front of PostgreSQL that can hold every byte (a frozen network:
/// connections stay open, nothing arrives).
struct FreezableProxy {
    port: u16,
    frozen: watch::Sender<bool>,
}

impl FreezableProxy {
    async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let (frozen, watching) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((downstream, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let (down_read, down_write) = downstream.into_split();
                let (up_read, up_write) = upstream.into_split();
                tokio::spawn(pipe(down_read, up_write, watching.clone()));
                tokio::spawn(pipe(up_read, down_write, watching.clone()));
            }
        });
        Self { port, frozen }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        while *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_gives_503_within_two_seconds_and_recovery_needs_no_restart()
 {
    let Some(server) = cluster() else { return };
    let url = server.create_database("frozen");
    let proxy = FreezableProxy::start(server.port).await;
    let proxied = url.replace(&format!(":{}/", server.port), &format!(":{}/", proxy.port));
    let instance = instance(&proxied).await;
    let calls = script("frozen", 1);
    let (expected, _) = reference(&calls);
    let [first, second, ..] = calls[0].as_slice() else {
        panic!("the script has two hops");
    };
    let (status, _, body, _) = send(&instance, first).await;
    assert_eq!(status, 200, "{body}");

    proxy.freeze(true);
    let (status, retry_after, body, took) = send(&instance, second).await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "{body}");
    assert!(took < Duration::from_secs(2), "503 after {took:?}");
    let started = Instant::now();
    let (status, ready) = instance.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(started.elapsed() < Duration::from_secs(2));

    proxy.freeze(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body, _) = send(&instance, second).await;
        if status == 200 {
            assert_eq!(body, expected[&second.event_id]);
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "no recovery: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = stored_records(server, &url);
    assert_eq!(records.len(), 2, "each event once");
}
