//! Reusable parts of the webhook load benchmark: dedicated runtimes, in-process serving of a target
//! router, the transfer-event request factory, the open-loop latency run and the closed-loop
//! throughput run.
//!
//! This module owns threads, processes, sockets and the clock. It knows nothing about
//! loopguard's rules: a target is any server that answers `POST /v1/transfers`, served
//! in-process from an `axum::Router` ([`RunningServer`]) or as its own process
//! ([`ServerProcess`], pinned to one CPU, its CPU time read from `/proc`).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle as ThreadJoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, oneshot};

/// Builds one instance's router on the runtime that will serve it (a store that connects to a
/// database must start its tasks there).
pub type BuildRouter = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Router> + Send>> + Send>;

/// One system under test: a name for the report and the instances that serve it, each on its
/// own [`DedicatedRuntime`]. Several instances share the load as behind a load balancer.
pub struct Target {
    pub name: String,
    pub instances: Vec<BuildRouter>,
}

impl Target {
    pub fn new(name: impl Into<String>, router: Router) -> Self {
        Self::instances(
            name,
            vec![Box::new(move || Box::pin(async move { router }))],
        )
    }

    pub fn instances(name: impl Into<String>, instances: Vec<BuildRouter>) -> Self {
        Self {
            name: name.into(),
            instances,
        }
    }
}

/// A current-thread tokio runtime driven by its own OS thread, so everything spawned on it shares
/// exactly one thread (one core on an idle machine). Dropping it stops the runtime and joins the
/// thread; tasks still running are cancelled.
pub struct DedicatedRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<ThreadJoinHandle<()>>,
}

impl DedicatedRuntime {
    pub fn start(thread_name: &str) -> Self {
        let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || {
                // Building a current-thread runtime only fails if the OS refuses an epoll/eventfd
                // descriptor; a benchmark cannot do anything useful without one.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the OS must provide an I/O driver for the benchmark runtime");
                // The receiver lives in `start` until this send completes.
                let _ = handle_sender.send(runtime.handle().clone());
                // The runtime keeps polling every spawned task while it waits for the stop signal.
                let _ = runtime.block_on(stopped);
            })
            .expect("the OS must allow the benchmark to start a thread");
        let handle = handle_receiver
            .recv()
            .expect("the runtime thread sends its handle before doing anything else");
        Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns `future` on this runtime and blocks the calling (non-runtime) thread until it ends.
    pub fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.handle.spawn(future);
        // The task is only aborted when the runtime is dropped, which cannot happen while `self`
        // is borrowed here; a panic inside the task is a bug in the benchmark and is re-raised.
        match self.handle.block_on(task) {
            Ok(output) => output,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// Pins this runtime's thread to one CPU (when the machine has it), so that what runs
    /// here shares that CPU with nothing else the bench starts. Threads started from this
    /// runtime later (tokio's blocking pool) inherit the pin. Returns whether it worked.
    pub fn pin_to_cpu(&self, cpu: usize) -> bool {
        self.run(async move { pin_current_thread(cpu) })
    }

    /// CPU time consumed so far by this runtime's thread, read on that thread. `None` where the
    /// kernel does not expose `/proc/thread-self/schedstat` (non-Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        self.run(async { thread_cpu_time() })
    }
}

impl Drop for DedicatedRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A target served on 127.0.0.1 (port 0) by its own [`DedicatedRuntime`].
pub struct RunningServer {
    pub address: SocketAddr,
    runtime: DedicatedRuntime,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn start(target_name: &str, build: BuildRouter) -> std::io::Result<Self> {
        let runtime = DedicatedRuntime::start(&format!("server-{target_name}"));
        let router = runtime
            .handle()
            .block_on(runtime.handle().spawn(build()))
            .map_err(std::io::Error::other)?;
        let listener = runtime
            .handle()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let address = listener.local_addr()?;
        // Small request/response pairs on loopback must not wait for Nagle's algorithm.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let (shutdown, shutdown_requested) = oneshot::channel::<()>();
        let serving = runtime.handle().spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_requested.await;
                })
                .into_future(),
        );
        Ok(Self {
            address,
            runtime,
            shutdown,
            serving,
        })
    }

    pub fn cpu_time(&self) -> Option<Duration> {
        self.runtime.cpu_time()
    }

    /// Pins the serving thread (see [`DedicatedRuntime::pin_to_cpu`]).
    pub fn pin_to_cpu(&self, cpu: usize) -> bool {
        self.runtime.pin_to_cpu(cpu)
    }

    /// Asks axum to stop accepting and to finish open connections; returns an error message if
    /// that does not happen within `grace` (the runtime is then dropped, cancelling what is left).
    pub fn shut_down(self, grace: Duration) -> Result<(), String> {
        let _ = self.shutdown.send(());
        let serving = self.serving;
        let outcome = self
            .runtime
            .handle()
            .block_on(async move { tokio::time::timeout(grace, serving).await });
        match outcome {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(format!("server ended with an I/O error: {error}")),
            Ok(Err(join_error)) => Err(format!("server task failed: {join_error}")),
            Err(_elapsed) => Err(format!(
                "server did not shut down gracefully within {grace:?}"
            )),
        }
    }
}

/// A target served by a process of its own (the real `loopguard serve`, or the baseline),
/// started with its CPU affinity set to one CPU, so that every thread it starts (tokio's
/// workers, which size themselves to the CPUs allowed, the store's writer, the blocking
/// pool) shares that CPU. The process prints `listening on http://ADDRESS` on stdout once
/// it serves. It is killed when dropped.
pub struct ServerProcess {
    pub name: String,
    pub address: SocketAddr,
    child: std::process::Child,
    // Kept open: a process writing to a closed stdout would fail.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ServerProcess {
    /// Starts `command` with its stdout piped, on `cpu` only (when the machine has it), and
    /// waits for its `listening on` line. Returns the process and whether it was pinned.
    pub fn spawn(name: &str, mut command: Command, cpu: usize) -> std::io::Result<(Self, bool)> {
        use std::io::BufRead as _;
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped());
        // A child inherits the affinity of the thread that starts it: start it from a
        // short-lived thread pinned to `cpu`, so this thread keeps its own affinity.
        let (pinned, spawned) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let pinned = pin_current_thread(cpu);
                    (pinned, command.spawn())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        let mut child = spawned?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the child's stdout was not piped"))?;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let address = loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let status = child.wait()?;
                return Err(std::io::Error::other(format!(
                    "{name} exited ({status}) before it listened"
                )));
            }
            if let Some(address) = line.trim().strip_prefix("listening on http://") {
                break address.parse::<SocketAddr>().map_err(|error| {
                    std::io::Error::other(format!("{name} listens on `{address}`: {error}"))
                })?;
            }
        };
        Ok((
            Self {
                name: name.to_owned(),
                address,
                child,
                _stdout: stdout,
            },
            pinned,
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time of the whole process so far: the sum over its threads of
    /// `/proc/PID/task/TID/schedstat` (nanoseconds on CPU). `None` off Linux.
    pub fn cpu_time(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut total = Duration::ZERO;
        for task in tasks.flatten() {
            // A thread may end between listing and reading; its time is then lost, which
            // only happens to idle blocking-pool threads.
            if let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat"))
                && let Some(nanos) = schedstat
                    .split_whitespace()
                    .next()
                    .and_then(|field| field.parse().ok())
            {
                total += Duration::from_nanos(nanos);
            }
        }
        Some(total)
    }
}

impl Drop for ServerProcess {
    /// Asks the server to stop with SIGTERM (so a profiler wrapped around it writes its
    /// output), and kills it if it is still running 10 s later.
    fn drop(&mut self) {
        let asked = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if asked {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pins the calling thread to `cpu`; whether it worked.
pub fn pin_current_thread(cpu: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|cores| cores.into_iter().find(|core| core.id == cpu))
        .is_some_and(core_affinity::set_for_current)
}

/// The machine's load averages (1, 5 and 15 minutes) as `/proc/loadavg` says them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Builds the transfer events. Every body gets a unique `event_id`; `call_id`s cycle through a
/// pool of concurrent calls, and each call takes at most `HOPS_PER_CALL` hops along a realistic
/// bouncing route before its slot is reused by a new call, so per-call state grows a little but
/// responses stay small for the whole run.
///
/// With several servers (instances behind a load balancer) the open loop sends each hop of a call
/// to the next server in turn, so every call's chain spans the instances.
///
/// With [`TransferEvents::signed`] every request carries Standard Webhooks headers
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`), as a platform sends them to a
/// server that has a secret.
#[derive(Clone)]
pub struct TransferEvents {
    uris: Arc<Vec<Uri>>,
    sequence: Arc<AtomicU64>,
    signer: Option<Arc<standardwebhooks::Webhook>>,
}

const CONCURRENT_CALLS: u64 = 1000;
const HOPS_PER_CALL: u64 = 6;
/// A customer bounced between two departments, out to billing and support, and back.
const ROUTE: [&str; 6] = [
    "customer_service",
    "activations",
    "customer_service",
    "billing",
    "activations",
    "tech_support",
];
const INTENTS: [&str; 3] = ["reconnect_line", "port_number", "billing_dispute"];

impl TransferEvents {
    pub fn new(servers: &[SocketAddr]) -> Self {
        let uris = servers
            .iter()
            .map(|server| {
                format!("http://{server}/v1/transfers")
                    .parse()
                    .expect("a socket address always forms a valid URI")
            })
            .collect();
        Self {
            uris: Arc::new(uris),
            sequence: Arc::new(AtomicU64::new(0)),
            signer: None,
        }
    }

    /// Events signed with `secret` (`whsec_<base64>`).
    pub fn signed(servers: &[SocketAddr], secret: &str) -> Self {
        let signer =
            standardwebhooks::Webhook::new(secret).expect("the benchmark's secret is valid base64");
        Self {
            signer: Some(Arc::new(signer)),
            ..Self::new(servers)
        }
    }

    pub fn next_body(&self) -> String {
        self.next_event().2
    }

    /// The next event's sequence number, the server it goes to and its body.
    fn next_event(&self) -> (u64, &Uri, String) {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let slot = sequence % CONCURRENT_CALLS;
        let visit = sequence / CONCURRENT_CALLS;
        let call_generation = visit / HOPS_PER_CALL;
        let hop = (visit % HOPS_PER_CALL) as usize;
        let from = ROUTE[hop % ROUTE.len()];
        let to = ROUTE[(hop + 1) % ROUTE.len()];
        let mode = if hop % 3 == 2 { "cold" } else { "warm" };
        let intent = INTENTS[(slot % INTENTS.len() as u64) as usize];
        let uri = &self.uris[((slot + visit) % self.uris.len() as u64) as usize];
        let body = format!(
            r#"{{"event_id":"evt-{sequence:010}","call_id":"call-{call_generation}-{slot:04}","from":"{from}","to":"{to}","mode":"{mode}","intent":"{intent}","callback_number":"+14155550123"}}"#
        );
        (sequence, uri, body)
    }

    pub fn next_request(&self) -> Request<Full<Bytes>> {
        let (sequence, uri, body) = self.next_event();
        let mut request = Request::post(uri.clone()).header(CONTENT_TYPE, "application/json");
        if let Some(signer) = &self.signer {
            let id = format!("msg-{sequence:010}");
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs() as i64);
            let signature = signer
                .sign(&id, timestamp, body.as_bytes())
                .expect("the body is UTF-8");
            request = request
                .header(standardwebhooks::HEADER_WEBHOOK_ID, id)
                .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp)
                .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature);
        }
        request
            .body(Full::new(Bytes::from(body)))
            .expect("method, URI and ASCII headers always form a valid request")
    }
}

pub struct OpenLoopConfig {
    pub rate_per_second: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
}

/// Results of the measured part of an open-loop run (the warm-up is not counted anywhere).
pub struct OpenLoopReport {
    /// Intended send time to full response body, in microseconds, successful (2xx) requests only.
    pub latency_us: Histogram<u64>,
    /// Intended send time to the moment the request task started, in microseconds: how far the
    /// generator itself fell behind its schedule.
    pub send_lag_us: Histogram<u64>,
    pub sent: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    pub dropped: u64,
    /// What the first failed request got, to tell a server's refusal from a transport error.
    pub first_error: Option<String>,
}

impl OpenLoopReport {
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.transport_errors
    }
}

#[derive(Default)]
struct OpenLoopOutcomes {
    latency_us: Option<Histogram<u64>>,
    send_lag_us: Option<Histogram<u64>>,
    non_2xx: u64,
    transport_errors: u64,
    first_error: Option<String>,
}

/// Runs an open-loop load: request `i` is intended to start at `t0 + i / rate`, whatever happened
/// to earlier requests, and each request is spawned as its own task on `generator`. Latency is
/// measured from the intended send time, so a stalled server is charged for every request that
/// should have been sent during the stall (coordinated-omission correction). At most
/// `max_in_flight` requests are outstanding; a request that finds no free slot at its intended
/// time is counted as dropped, not sent.
pub fn run_open_loop(
    generator: &DedicatedRuntime,
    client: &Client<HttpConnector, Full<Bytes>>,
    events: &TransferEvents,
    config: &OpenLoopConfig,
) -> OpenLoopReport {
    let client = client.clone();
    let events = events.clone();
    let rate_per_second = config.rate_per_second;
    let warmup = config.warmup;
    let total = (rate_per_second as f64 * (config.warmup + config.duration).as_secs_f64()).round();
    let total = total as u64;
    let max_in_flight = config.max_in_flight;
    let request_timeout = config.request_timeout;
    generator.run(async move {
        let outcomes = Arc::new(Mutex::new(OpenLoopOutcomes {
            latency_us: Some(microsecond_histogram()),
            send_lag_us: Some(microsecond_histogram()),
            ..OpenLoopOutcomes::default()
        }));
        let slots = Arc::new(Semaphore::new(max_in_flight));
        let nanos_between = 1e9 / rate_per_second as f64;
        let start = Instant::now() + Duration::from_millis(5);
        let measured_from = start + warmup;
        let mut sent = 0;
        let mut dropped = 0;

        for index in 0..total {
            let intended = start + Duration::from_nanos((index as f64 * nanos_between) as u64);
            wait_until(intended).await;
            let measured = intended >= measured_from;
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                dropped += u64::from(measured);
                continue;
            };
            sent += u64::from(measured);
            let client = client.clone();
            let request = events.next_request();
            let outcomes = Arc::clone(&outcomes);
            tokio::spawn(async move {
                let send_lag = intended.elapsed();
                let result = tokio::time::timeout(request_timeout, async {
                    let response = client.request(request).await?;
                    let status = response.status();
                    response.into_body().collect().await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(status)
                })
                .await;
                let latency = intended.elapsed();
                drop(slot);
                if !measured {
                    return;
                }
                let mut outcomes = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(send_lag_us) = outcomes.send_lag_us.as_mut() {
                    send_lag_us.saturating_record(micros(send_lag));
                }
                match result {
                    Ok(Ok(status)) if status.is_success() => {
                        if let Some(latency_us) = outcomes.latency_us.as_mut() {
                            latency_us.saturating_record(micros(latency));
                        }
                    }
                    Ok(Ok(status)) => {
                        outcomes.non_2xx += 1;
                        if outcomes.first_error.is_none() {
                            outcomes.first_error = Some(format!("status {status}"));
                        }
                    }
                    Ok(Err(error)) => {
                        outcomes.transport_errors += 1;
                        if outcomes.first_error.is_none() {
                            outcomes.first_error = Some(error.to_string());
                        }
                    }
                    Err(_elapsed) => {
                        outcomes.transport_errors += 1;
                        if outcomes.first_error.is_none() {
                            outcomes.first_error =
                                Some("no answer within the request timeout".to_owned());
                        }
                    }
                }
            });
        }

        // Every request task gives its slot back within `request_timeout`, so taking all slots
        // back means every measured request has been recorded.
        let all_slots = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all_slots).await;

        let mut outcomes = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        OpenLoopReport {
            latency_us: outcomes
                .latency_us
                .take()
                .unwrap_or_else(microsecond_histogram),
            send_lag_us: outcomes
                .send_lag_us
                .take()
                .unwrap_or_else(microsecond_histogram),
            sent,
            non_2xx: outcomes.non_2xx,
            transport_errors: outcomes.transport_errors,
            first_error: outcomes.first_error.take(),
            dropped,
        }
    })
}

/// Waits until `deadline` with sub-millisecond precision. Tokio's timer has a 1 ms tick, which
/// would start requests up to 1 ms late and charge that to the server, and waking a separate
/// scheduling thread per request costs a context switch each (about 100 us on a small VM). So
/// the wait sleeps through all but the last 2 ms and then yields in a loop: the generator's
/// core stays busy, but responses keep being processed between yields and requests start within
/// a few microseconds of their deadline.
async fn wait_until(deadline: Instant) {
    const TIMER_TICK_MARGIN: Duration = Duration::from_millis(2);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        if deadline - now > TIMER_TICK_MARGIN {
            tokio::time::sleep_until((deadline - TIMER_TICK_MARGIN).into()).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

fn microsecond_histogram() -> Histogram<u64> {
    // One microsecond to one minute at three significant digits; constant bounds that are within
    // hdrhistogram's documented limits, so construction cannot fail.
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

pub struct ClosedLoopConfig {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

pub struct ClosedLoopReport {
    pub ok: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    pub requests_per_second: f64,
}

#[derive(Default)]
struct ConnectionTally {
    ok: u64,
    non_2xx: u64,
    transport_errors: u64,
}

/// Runs `connections` keep-alive HTTP/1.1 connections, each sending its next request as soon as
/// the previous response is complete, for `warmup + duration`; counts only responses completed
/// after the warm-up. A connection that fails is counted and replaced. Connections are spread
/// over the servers in turn.
pub fn run_closed_loop(
    generator: &DedicatedRuntime,
    servers: &[SocketAddr],
    events: &TransferEvents,
    config: &ClosedLoopConfig,
) -> ClosedLoopReport {
    let measured_from = Instant::now() + config.warmup;
    let end = measured_from + config.duration;
    let connections: Vec<_> = (0..config.connections)
        .map(|connection| {
            let server = servers[connection % servers.len()];
            let events = events.clone();
            generator
                .handle()
                .spawn(drive_connection(server, events, measured_from, end))
        })
        .collect();
    let mut total = ConnectionTally::default();
    for connection in connections {
        let tally = generator
            .handle()
            .block_on(connection)
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        total.ok += tally.ok;
        total.non_2xx += tally.non_2xx;
        total.transport_errors += tally.transport_errors;
    }
    ClosedLoopReport {
        ok: total.ok,
        non_2xx: total.non_2xx,
        transport_errors: total.transport_errors,
        requests_per_second: total.ok as f64 / config.duration.as_secs_f64(),
    }
}

async fn drive_connection(
    server: SocketAddr,
    events: TransferEvents,
    measured_from: Instant,
    end: Instant,
) -> ConnectionTally {
    let mut tally = ConnectionTally::default();
    while Instant::now() < end {
        let Ok(mut sender) = connect(server).await else {
            tally.transport_errors += 1;
            // Without a connection there is nothing to measure; retrying in a hot loop would only
            // steal the CPU the remaining connections need.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let result = async {
                sender.ready().await?;
                let response = sender.send_request(events.next_request()).await?;
                let status = response.status();
                response.into_body().collect().await?;
                Ok::<_, hyper::Error>(status)
            }
            .await;
            let counted = Instant::now() >= measured_from;
            match result {
                Ok(status) if status.is_success() => tally.ok += u64::from(counted),
                Ok(_status) => tally.non_2xx += u64::from(counted),
                Err(_) => {
                    tally.transport_errors += u64::from(counted);
                    break;
                }
            }
        }
    }
    tally
}

async fn connect(
    server: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Box<dyn std::error::Error>> {
    let stream = tokio::net::TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A pooled keep-alive HTTP/1.1 client for the open-loop runs; it opens more connections only
/// when more requests are in flight than it has idle connections.
pub fn pooled_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Reads the calling thread's on-CPU time from `/proc/thread-self/schedstat` (first field, ns).
fn thread_cpu_time() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
