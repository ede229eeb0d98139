//! The shared store: PostgreSQL, for several `loopguard serve` instances behind a
//! load balancer (`--database postgres://...`).
//!
//! Any instance may receive any event of any call, so no instance keeps state
//! another one needs: the database is the only truth. Each instance batches the
//! events waiting for it into one transaction (`writer.rs`) that takes an advisory
//! transaction lock per call in key order, completes those calls' stored events
//! under the locks, runs the engine on them, writes the new events with their
//! answers (the event id is unique) and commits with `synchronous_commit = on`
//! before anyone is answered. The instance's copy of the calls (the read model) is
//! only a cache that the batch checks and completes under the lock, so no verdict
//! is ever computed against a stale chain.
//!
//! Lost connections answer 503 with `Retry-After`: every event has a deadline
//! ([`PostgresConfig::request_timeout`]), connections are made with a bounded
//! timeout by a pool that never waits longer than that, and broken connections are
//! dropped and made again on the next batch. The read model behind
//! [`CallStore::read`] and [`CallStore::read_stats`] (`follower.rs`) follows every
//! instance's commits through LISTEN/NOTIFY; retention pruning and the expiry of
//! idle open calls (`prune.rs`) run in one instance at a time. Every engine here,
//! the read model's and each batch's, keeps at most
//! [`PostgresConfig::max_hops_kept`] hops per call; the database keeps every
//! event, so a redelivery of a dropped hop still gets its stored answer.

mod follower;
mod job;
mod prune;
mod reads;
pub mod schema;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use super::{CallStore, CommittedEvent, StatusFuture, StoreError, StoreFuture};
use crate::clock::Clock;
use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EventId, Outcome, Promise,
    PromiseEvent, RecordedEvent, TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;
use crate::metrics::Metrics;
use follower::Follower;
use job::{Job, JobKind};
use prune::{Pruner, Sweep};
use schema::{MigrateError, SCHEMA_VERSION};

/// How the shared store is set up.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (libpq's URL and key=value forms).
    pub url: String,
    /// Ended calls older than this are pruned.
    pub retention: SignedDuration,
    /// Open calls with no event committed for this long are forgotten: their end
    /// never came.
    pub open_call_max_idle: SignedDuration,
    /// Hops kept per call in every engine (see `Engine::with_max_hops_kept`); the
    /// database keeps every event, for redeliveries.
    pub max_hops_kept: usize,
    /// Events that may wait for a writer before the webhook answers 503.
    pub queue_capacity: usize,
    /// How often an instance tries to prune and expire (one instance at a time does).
    pub prune_interval: Duration,
    /// Connections that write, each with one batch transaction in flight.
    pub writers: usize,
    /// Most events one transaction takes.
    pub max_batch: usize,
    /// From the moment an event is handed to the store until its answer: past it the
    /// event gets 503 (the webhook's bound when the database is slow or gone).
    pub request_timeout: Duration,
    /// Bound on making one connection (TCP and start-up).
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            retention: SignedDuration::from_hours(7 * 24),
            open_call_max_idle: SignedDuration::from_hours(24),
            max_hops_kept: crate::core::engine::DEFAULT_MAX_HOPS_KEPT,
            queue_capacity: 10_000,
            prune_interval: Duration::from_secs(60),
            writers: 2,
            max_batch: 256,
            request_timeout: Duration::from_millis(1500),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// Whether a `--database` value asks for this store.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Why the store could not start. Messages name the database (never the password)
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "--database is not a PostgreSQL URL ({message}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    )]
    InvalidUrl { message: String },
    #[error(
        "--database asks for TLS (sslmode=require), which this loopguard does not speak; use sslmode=disable or prefer on a trusted network, or put a TLS-terminating proxy next to loopguard"
    )]
    TlsRequired,
    #[error(
        "cannot connect to the database {target}: {message}; check that PostgreSQL runs there and that the URL's user, password and database are right"
    )]
    Connect { target: String, message: String },
    #[error(
        "the database {target} has schema version {found}, newer than this loopguard understands ({SCHEMA_VERSION}); run a newer loopguard"
    )]
    NewerSchema { target: String, found: i32 },
    #[error("cannot read the events in the database {target}: {message}")]
    Load { target: String, message: String },
    #[error("cannot start the store's thread: {0}")]
    Thread(String),
}

/// What the store found at start.
#[derive(Debug, Clone)]
pub struct ConnectReport {
    /// Where it connected (host:port/database; no password).
    pub target: String,
    pub schema_version: i32,
    /// Events loaded into this instance's read model.
    pub events_loaded: usize,
}

/// The shared [`CallStore`].
pub struct PostgresStore {
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    reads: reads::Reads,
    follower: Arc<Follower>,
    pruner: Arc<Pruner>,
    write_problem: Arc<std::sync::Mutex<Option<String>>>,
    metrics: Metrics,
    request_timeout: Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Stops the store's thread when dropped.
    _runtime: Option<StoreThread>,
}

/// The store's own thread: a single-threaded tokio runtime that runs the writers,
/// the follower, the pruner and their connections. The database's answers are
/// handled there as they arrive, never queued behind the HTTP work of the
/// server's runtime (like the SQLite store's writer thread).
struct StoreThread {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StoreThread {
    fn start() -> Result<(Self, tokio::runtime::Handle), ConnectError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| ConnectError::Thread(error.to_string()))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("loopguard-postgres".to_owned())
            // Ends (dropping the runtime and every task on it) when the store is
            // dropped and the sender with it.
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .map_err(|error| ConnectError::Thread(error.to_string()))?;
        Ok((Self { _stop: stop }, handle))
    }
}

impl PostgresStore {
    /// Connects, migrates the schema (under a lock, so instances starting together
    /// do not race), loads the read model and starts the writers, the follower and
    /// the pruner on the store's own thread. `metrics` is the registry the server
    /// serves; `clock` decides which calls are past the retention age or idle too
    /// long.
    pub async fn connect(
        config: PostgresConfig,
        metrics: Metrics,
        clock: Clock,
    ) -> Result<(Self, ConnectReport), ConnectError> {
        let (thread, handle) = StoreThread::start()?;
        let (mut store, report) = handle
            .spawn(Self::open(config, metrics, clock))
            .await
            .map_err(|error| ConnectError::Thread(error.to_string()))??;
        store._runtime = Some(thread);
        Ok((store, report))
    }

    /// [`PostgresStore::connect`] on the store's thread: everything it spawns runs
    /// there.
    async fn open(
        config: PostgresConfig,
        metrics: Metrics,
        clock: Clock,
    ) -> Result<(Self, ConnectReport), ConnectError> {
        let database = database_config(&config)?;
        let target = describe_target(&database);
        let connect_error = |error: tokio_postgres::Error| ConnectError::Connect {
            target: target.clone(),
            message: describe(&error),
        };
        let (client, connection) = database.connect(NoTls).await.map_err(connect_error)?;
        let driver = tokio::spawn(async move {
            // Errors surface on the client's next request; nothing to do here.
            let _ = connection.await;
        });
        let schema_version = schema::migrate(&client)
            .await
            .map_err(|error| match error {
                MigrateError::Newer { found } => ConnectError::NewerSchema {
                    target: target.clone(),
                    found,
                },
                MigrateError::Database(error) => connect_error(error),
            })?;
        drop(client);
        // The migration connection ends with its client.
        let _ = driver.await;

        let instance = instance_id(&clock);
        let max_hops_kept = config.max_hops_kept.max(1);
        let follower = Arc::new(Follower::new(max_hops_kept));
        let (listening, events_loaded) =
            follower::start(&follower, &database)
                .await
                .map_err(|error| ConnectError::Load {
                    target: target.clone(),
                    message: error,
                })?;

        let write_pool = pool(&database, &config, config.writers.max(1));
        let read_pool = pool(&database, &config, READ_CONNECTIONS);
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let write_problem = Arc::new(std::sync::Mutex::new(None));
        let writer = Arc::new(writer::Writer {
            write_problem: write_problem.clone(),
            pool: write_pool,
            queued: queued.clone(),
            metrics: metrics.clone(),
            follower: follower.clone(),
            instance: instance.clone(),
            max_batch: config.max_batch.max(1),
            batch_timeout: config.request_timeout,
        });
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        let mut tasks: Vec<_> = (0..config.writers.max(1))
            .map(|_| tokio::spawn(writer.clone().run(receiver.clone())))
            .collect();
        tasks.push(tokio::spawn(follower::follow(
            follower.clone(),
            database.clone(),
            instance.clone(),
            listening,
        )));
        let pruner = Arc::new(Pruner {
            pool: read_pool.clone(),
            follower: follower.clone(),
            instance,
            metrics: metrics.clone(),
        });
        tasks.push(tokio::spawn(pruner.clone().run(
            clock,
            config.retention,
            config.open_call_max_idle,
            config.prune_interval,
        )));
        let report = ConnectReport {
            target,
            schema_version,
            events_loaded,
        };
        Ok((
            Self {
                jobs: sender,
                queued,
                reads: reads::Reads::new(read_pool, config.request_timeout, max_hops_kept),
                follower,
                pruner,
                write_problem,
                metrics,
                request_timeout: config.request_timeout,
                tasks,
                _runtime: None,
            },
            report,
        ))
    }

    /// Prunes now instead of at the next interval (tests, operators' tools): the
    /// number of ended calls removed, or `None` when another instance is pruning.
    pub async fn prune_now(&self, cutoff: Timestamp) -> Result<Option<u64>, String> {
        self.pruner.sweep(Sweep::Ended, cutoff).await
    }

    /// Expires open calls with no event committed since `cutoff` now: the number
    /// removed, or `None` when another instance is pruning.
    pub async fn expire_now(&self, cutoff: Timestamp) -> Result<Option<u64>, String> {
        self.pruner.sweep(Sweep::Idle, cutoff).await
    }

    fn submit<T: Send + 'static>(
        &self,
        kind: impl FnOnce(tokio::sync::oneshot::Sender<Result<Outcome<T>, StoreError>>) -> JobKind,
    ) -> StoreFuture<'_, Outcome<T>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let job = Job {
            deadline,
            kind: kind(reply),
        };
        // Counted before sending, so a writer never takes a job it has not seen counted.
        let depth = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.store_queue_depth.set(depth as i64);
        let sent = self.jobs.try_send(job).map_err(|error| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::Unavailable(match error {
                mpsc::error::TrySendError::Full(_) => "the store's write queue is full".to_owned(),
                mpsc::error::TrySendError::Closed(_) => {
                    "the store's writers have stopped".to_owned()
                }
            })
        });
        let timeout = self.request_timeout;
        Box::pin(async move {
            sent?;
            match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(StoreError::Unavailable(
                    "the store's writer stopped before answering".to_owned(),
                )),
                // The writer may still commit it: a redelivery then gets that answer.
                Err(_) => Err(StoreError::Unavailable(format!(
                    "the database did not confirm the event within {} ms",
                    timeout.as_millis()
                ))),
            }
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Writers end when the queue closes; the follower and the pruner loop forever.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl CallStore for PostgresStore {
    fn record_transfer(
        &self,
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<TransferAnswer>> {
        self.follower.stats().rules_seen(&rules);
        self.submit(|reply| JobKind::Transfer {
            rules,
            request,
            received_at,
            reply,
            decision: None,
        })
    }

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>> {
        self.submit(|reply| JobKind::End {
            request,
            received_at,
            reply,
            decision: None,
        })
    }

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>> {
        self.submit(|reply| JobKind::Callback {
            request,
            received_at,
            reply,
            decision: None,
        })
    }

    fn record_promise(
        &self,
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<Promise>> {
        self.follower.stats().rules_seen(&rules);
        self.submit(|reply| JobKind::Promise {
            rules,
            event,
            received_at,
            reply,
            decision: None,
        })
    }

    fn rules_installed(&self, rules: &Arc<Rules>) {
        self.follower.stats().rules_seen(rules);
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        self.follower.read(read);
    }

    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex)) {
        self.follower.read_stats(read);
    }

    fn call(&self, call_id: &str) -> StoreFuture<'_, Option<CallRecord>> {
        let call_id = call_id.to_owned();
        Box::pin(async move { self.reads.call(&call_id).await })
    }

    fn recorded(&self, event_id: &EventId) -> StoreFuture<'_, Option<RecordedEvent>> {
        let event_id = event_id.clone();
        Box::pin(async move { self.reads.recorded(event_id.as_str()).await })
    }

    fn loops(&self, since: Option<Timestamp>, limit: usize) -> StoreFuture<'_, Vec<CallRecord>> {
        Box::pin(self.reads.loops(since, limit))
    }

    fn active_calls(&self) -> StoreFuture<'_, usize> {
        Box::pin(self.reads.active_calls())
    }

    fn status(&self) -> StatusFuture<'_> {
        Box::pin(async move {
            let mut status = self.reads.status().await;
            if status.ready {
                let refused = self
                    .write_problem
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                status.problem = refused.or_else(|| {
                    (!self.follower.connected()).then(|| {
                        "the live feed from other instances is reconnecting: the dashboard may lag"
                            .to_owned()
                    })
                });
            }
            status
        })
    }

    fn committed_elsewhere(&self) -> Option<broadcast::Receiver<CommittedEvent>> {
        Some(self.follower.subscribe())
    }
}

/// Connections for reads (`/v1/calls`, `/v1/loops`, `/readyz`, metrics, pruning).
const READ_CONNECTIONS: usize = 4;

/// The connection settings: the URL, plus what every session of ours needs.
fn database_config(config: &PostgresConfig) -> Result<tokio_postgres::Config, ConnectError> {
    if !is_postgres_url(&config.url) {
        return Err(ConnectError::InvalidUrl {
            message: "it does not start with postgres:// or postgresql://".to_owned(),
        });
    }
    let mut database: tokio_postgres::Config =
        config
            .url
            .parse()
            .map_err(|error: tokio_postgres::Error| ConnectError::InvalidUrl {
                message: error.to_string(),
            })?;
    if database.get_ssl_mode() == SslMode::Require {
        return Err(ConnectError::TlsRequired);
    }
    // Ours come last, so they win over any in the URL: an answer is sent only after
    // the commit is on disk (`synchronous_commit = on`), and a statement or lock
    // wait never outlives the webhook's deadline. A session stuck in a transaction
    // (its instance frozen) is ended by the server, releasing its call locks.
    let statement_ms = config.request_timeout.as_millis().max(1);
    let ours = format!(
        "-c synchronous_commit=on -c statement_timeout={statement_ms} -c lock_timeout={statement_ms} \
         -c idle_in_transaction_session_timeout=5000"
    );
    let options = match database.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    database
        .options(options)
        .application_name("loopguard")
        .connect_timeout(config.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3);
    Ok(database)
}

fn pool(database: &tokio_postgres::Config, config: &PostgresConfig, size: usize) -> Pool {
    let manager = Manager::from_config(
        database.clone(),
        NoTls,
        ManagerConfig {
            // A connection the server closed is noticed without a round trip; one
            // that broke mid-batch is taken out of the pool by the writer.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.request_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .build()
        // Building fails only without a runtime for the timeouts, given right above.
        .expect("a pool with a tokio runtime and timeouts builds")
}

/// `host:port/database` without user or password, for messages.
fn describe_target(database: &tokio_postgres::Config) -> String {
    let host = database
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = database.get_ports().first().copied().unwrap_or(5432);
    let name = database
        .get_dbname()
        .or(database.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{name}")
}

/// An error with the server's message when there is one (`Display` alone says
/// only "db error").
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(database) = error.as_db_error() {
        return format!("{}: {}", database.severity(), database.message());
    }
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// Names this store in notifications, so it can skip its own: the process id, a
/// count of stores opened in this process (tests and benches open several) and the
/// time tell it from every other instance.
fn instance_id(clock: &Clock) -> String {
    use sha2::{Digest, Sha256};
    static OPENED: AtomicUsize = AtomicUsize::new(0);
    let digest = Sha256::new()
        .chain_update(std::process::id().to_be_bytes())
        .chain_update(OPENED.fetch_add(1, Ordering::Relaxed).to_be_bytes())
        .chain_update(clock.now().as_nanosecond().to_be_bytes())
        .finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_select_this_store() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(!is_postgres_url("mysql://u@h/db"));
        assert!(!is_postgres_url("host=h dbname=db"));
    }

    #[test]
    fn our_session_settings_come_after_the_urls_and_the_password_is_never_shown() {
        let config = PostgresConfig::new(
            "postgres://loopguard:secret@db.example:6543/calls?options=-c%20synchronous_commit%3Doff",
        );
        let database = database_config(&config).unwrap();
        let options = database.get_options().unwrap();
        let theirs = options.find("synchronous_commit=off").unwrap();
        let ours = options.find("synchronous_commit=on").unwrap();
        assert!(theirs < ours, "{options}");
        assert!(options.contains("statement_timeout=1500"), "{options}");
        assert_eq!(describe_target(&database), "db.example:6543/calls");
        let error = database_config(&PostgresConfig::new(
            "postgres://u:secret@h/db?sslmode=require",
        ))
        .unwrap_err();
        assert!(matches!(error, ConnectError::TlsRequired));
        let error = database_config(&PostgresConfig::new("mysql://u:secret@h/db")).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
