//! The durable store: SQLite (bundled, no server) in WAL mode with
//! `synchronous=FULL`, written by one thread with group commit.
//!
//! Every request waits until the transaction holding its event and the answer it
//! will get has committed; only then is the answer returned. The writer drains
//! whatever requests are waiting into one transaction, so an fsync is shared by a
//! batch instead of paid per request. The redelivery key (`event_id`) is unique in
//! the `events` table and written with the answer in the same transaction, so an
//! event committed just before a crash is recognised when the platform redelivers it.
//!
//! A failed commit is fatal for its batch: every request in it gets 503, the
//! connection is reopened and the engine is rebuilt from what is on disk. If that
//! fails too, the process exits: we never answer for data that may not be on disk.
//!
//! Checkpoints (copying the WAL's pages into the database file, and syncing it) run
//! on a thread of their own with its own connection, nudged by the writer every
//! [`CHECKPOINT_EVERY_EVENTS`] events, so no request waits for one; SQLite's automatic
//! checkpoint stays on the writer only as a backstop (or at a tenth of
//! `--max-database-bytes`, which bounds the WAL).
//!
//! Memory and disk hold the same calls: at start every call not yet pruned is loaded
//! (open calls, and ended calls younger than the retention age), and the pruner
//! removes ended calls from both, in small batches between write batches.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;

use super::{
    CallStore, StatsKeeper, StatusFuture, StoreError, StoreFuture, StoreStatus, lock_engine,
};
use crate::clock::Clock;
use crate::core::engine::{
    CallId, CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, EventId,
    Outcome, Promise, PromiseEvent, RecordedEvent, TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;
use crate::metrics::Metrics;

/// The schema version this build writes. Older databases are migrated on open.
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations, one per version: `MIGRATIONS[n]` takes a database from version `n`
/// to `n + 1`. Append; never edit a released one.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        occurred_at_ms INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX events_by_call ON events (call_id);
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        ended_at_ms INTEGER
    );
    CREATE INDEX calls_by_end ON calls (ended_at_ms) WHERE ended_at_ms IS NOT NULL;
"#];

pub(super) const DATABASE_FILE: &str = "loopguard.db";
const LOCK_FILE: &str = "loopguard.lock";
/// Most events one transaction takes; more wait for the next batch.
const MAX_BATCH: usize = 512;
/// Ended calls removed per pruning transaction.
const PRUNE_BATCH: usize = 500;
/// Events committed between two nudges to the checkpointer: at light load an event
/// writes 4–5 pages to the WAL, so this is about SQLite's own default of a checkpoint
/// per 1,000 pages.
const CHECKPOINT_EVERY_EVENTS: usize = 250;
/// WAL pages past which the writer checkpoints itself (SQLite's automatic
/// checkpoint), in case the checkpointer falls that far behind: about 40 MB.
const BACKSTOP_WAL_PAGES: i64 = 10_000;

/// How the store is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Ended calls older than this are pruned.
    pub retention: SignedDuration,
    /// Requests that may wait for the writer before the webhook answers 503.
    pub queue_capacity: usize,
    /// Cap on the database size in bytes (`None`: only the disk limits it).
    pub max_database_bytes: Option<u64>,
    /// How often the pruner looks for old calls.
    pub prune_interval: Duration,
    /// Open calls with no event (in event time) for this long are forgotten: their
    /// end never came.
    pub open_call_max_idle: SignedDuration,
    /// Hops kept per call in memory (see `Engine::with_max_hops_kept`); the disk
    /// keeps every event, for redeliveries.
    pub max_hops_kept: usize,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            retention: SignedDuration::from_hours(7 * 24),
            queue_capacity: 10_000,
            max_database_bytes: None,
            prune_interval: Duration::from_secs(60),
            open_call_max_idle: SignedDuration::from_hours(24),
            max_hops_kept: crate::core::engine::DEFAULT_MAX_HOPS_KEPT,
        }
    }
}

/// Why the store could not be opened. Each message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot create the data directory `{path}`: {source}; choose a writable directory with --data-dir"
    )]
    CreateDirectory {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "`{path}` is not a directory; point --data-dir at a directory (it is created if missing)"
    )]
    NotADirectory { path: String },
    #[error(
        "the data directory `{path}` is in use by another running loopguard{holder}; stop it, or give this one its own --data-dir"
    )]
    Locked { path: String, holder: String },
    #[error("cannot use the data directory `{path}`: {source}{hint}")]
    Io {
        path: String,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("cannot open the database `{path}`: {source}{hint}")]
    Database {
        path: String,
        source: rusqlite::Error,
        hint: &'static str,
    },
    #[error(
        "the database `{path}` has schema version {found}, newer than this loopguard understands ({SCHEMA_VERSION}); run a newer loopguard"
    )]
    NewerSchema { path: String, found: i64 },
    #[error("the database `{path}` holds an event that cannot be read ({event_id}): {message}")]
    Corrupt {
        path: String,
        event_id: String,
        message: String,
    },
}

/// What opening the store found on disk.
#[derive(Debug, Clone)]
pub struct OpenReport {
    pub events_loaded: usize,
    pub calls_loaded: usize,
    pub open_calls: usize,
    pub elapsed: Duration,
}

enum Job {
    Transfer {
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
        reply: oneshot::Sender<Result<Outcome<TransferAnswer>, StoreError>>,
    },
    End {
        request: EndRequest,
        received_at: Timestamp,
        reply: oneshot::Sender<Result<Outcome<EndAnswer>, StoreError>>,
    },
    Callback {
        request: CallbackRequest,
        received_at: Timestamp,
        reply: oneshot::Sender<Result<Outcome<CallRecord>, StoreError>>,
    },
    Promise {
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
        reply: oneshot::Sender<Result<Outcome<Promise>, StoreError>>,
    },
}

/// The durable [`CallStore`].
pub struct SqliteStore {
    engine: Arc<Mutex<Engine>>,
    stats: Arc<StatsKeeper>,
    jobs: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    metrics: Metrics,
    /// Set by the writer while commits fail because the database is full.
    write_problem: Arc<Mutex<Option<String>>>,
    // Held for the life of the store: another instance cannot open the directory.
    _lock: File,
}

impl SqliteStore {
    /// Opens (creating or migrating) the database, loads every call not yet
    /// pruned into memory and starts the writer thread.
    /// `metrics` is the registry the server serves; `clock` decides which ended
    /// calls are past the retention age.
    pub fn open(
        config: StoreConfig,
        metrics: Metrics,
        clock: Clock,
    ) -> Result<(Self, OpenReport), OpenError> {
        let started = Instant::now();
        let directory = config.data_dir.clone();
        let shown = directory.display().to_string();
        prepare_directory(&directory)?;
        let lock = take_lock(&directory)?;
        let database_path = directory.join(DATABASE_FILE);
        let connection = open_connection(&database_path, &config)?;
        let mut engine = Engine::new().with_max_hops_kept(config.max_hops_kept);
        let (events_loaded, calls_loaded) = load(&connection, &mut engine, &database_path)?;
        let report = OpenReport {
            events_loaded,
            calls_loaded,
            open_calls: engine.active_calls(),
            elapsed: started.elapsed(),
        };
        let stats = Arc::new(StatsKeeper::new(&engine));
        let engine = Arc::new(Mutex::new(engine));
        let checkpointer = open_checkpointer(&database_path)?;
        let (nudge, nudged) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("loopguard-store-checkpointer".to_owned())
            .spawn(move || run_checkpointer(checkpointer, nudged))
            .map_err(|source| OpenError::Io {
                path: shown.clone(),
                source,
                hint: "",
            })?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(config.queue_capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        let write_problem = Arc::new(Mutex::new(None));
        let writer = Writer {
            write_problem: write_problem.clone(),
            connection,
            database_path,
            config,
            engine: engine.clone(),
            stats: stats.clone(),
            queued: queued.clone(),
            metrics: metrics.clone(),
            clock,
            last_prune: Instant::now(),
            prune_pending: false,
            refuse_until: None,
            checkpoints: nudge,
            events_since_checkpoint: 0,
        };
        std::thread::Builder::new()
            .name("loopguard-store-writer".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|source| OpenError::Io {
                path: shown,
                source,
                hint: "",
            })?;
        Ok((
            Self {
                engine,
                stats,
                jobs: sender,
                queued,
                metrics,
                write_problem,
                _lock: lock,
            },
            report,
        ))
    }

    fn submit<T>(
        &self,
        job: Job,
        reply: oneshot::Receiver<Result<T, StoreError>>,
    ) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
    {
        // Counted before sending, so the writer never takes a job it has not seen counted.
        let depth = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.store_queue_depth.set(depth as i64);
        let sent = self.jobs.try_send(job).map_err(|error| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::Unavailable(match error {
                TrySendError::Full(_) => "the store's write queue is full".to_owned(),
                TrySendError::Disconnected(_) => "the store's writer has stopped".to_owned(),
            })
        });
        Box::pin(async move {
            sent?;
            reply.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the store's writer stopped before answering".to_owned(),
                ))
            })
        })
    }
}

impl CallStore for SqliteStore {
    fn record_transfer(
        &self,
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<TransferAnswer>> {
        self.stats.rules_seen(&rules);
        let (reply, answer) = oneshot::channel();
        let job = Job::Transfer {
            rules,
            request,
            received_at,
            reply,
        };
        self.submit(job, answer)
    }

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::End {
            request,
            received_at,
            reply,
        };
        self.submit(job, answer)
    }

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Callback {
            request,
            received_at,
            reply,
        };
        self.submit(job, answer)
    }

    fn record_promise(
        &self,
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<Promise>> {
        self.stats.rules_seen(&rules);
        let (reply, answer) = oneshot::channel();
        let job = Job::Promise {
            rules,
            event,
            received_at,
            reply,
        };
        self.submit(job, answer)
    }

    fn rules_installed(&self, rules: &Arc<Rules>) {
        self.stats.rules_seen(rules);
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&lock_engine(&self.engine));
    }

    fn status(&self) -> StatusFuture<'_> {
        // The writer answers 503 for a moment after a failed commit and exits if it
        // cannot recover: while the process runs, the store answers events. A full
        // database refuses new ones (redeliveries are still answered): the problem.
        let problem = self
            .write_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Box::pin(std::future::ready(StoreStatus {
            problem,
            ..StoreStatus::ready("sqlite")
        }))
    }

    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex)) {
        self.stats.read(read);
    }
}

/// Creates the data directory if it is missing; refuses a path that is not one.
pub(super) fn prepare_directory(directory: &Path) -> Result<(), OpenError> {
    let shown = directory.display().to_string();
    if directory.exists() && !directory.is_dir() {
        return Err(OpenError::NotADirectory { path: shown });
    }
    std::fs::create_dir_all(directory).map_err(|source| OpenError::CreateDirectory {
        path: shown,
        source,
    })
}

/// Takes the data directory's lock: one loopguard per data directory.
pub(super) fn take_lock(directory: &Path) -> Result<File, OpenError> {
    let path = directory.join(LOCK_FILE);
    let shown = directory.display().to_string();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| OpenError::Io {
            hint: io_hint(&source),
            path: shown.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|pid| !pid.is_empty())
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            return Err(OpenError::Locked {
                path: shown,
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(OpenError::Io {
                hint: io_hint(&source),
                path: shown,
                source,
            });
        }
    }
    // The pid is only for the message another instance prints; failing to write it
    // does not matter.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(file)
}

fn io_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "; the directory is not writable: fix its permissions or choose another --data-dir"
        }
        std::io::ErrorKind::StorageFull => "; the disk is full: free space and start again",
        _ => "",
    }
}

fn database_hint(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ReadOnly) | Some(rusqlite::ErrorCode::CannotOpen) => {
            "; the data directory or the database file is not writable: fix permissions or choose another --data-dir"
        }
        Some(rusqlite::ErrorCode::DiskFull) => {
            "; the disk (or --max-database-bytes) is full: free space or raise the limit"
        }
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "; this file is not a loopguard database: move it away or choose another --data-dir"
        }
        _ => "",
    }
}

pub(super) fn open_connection(path: &Path, config: &StoreConfig) -> Result<Connection, OpenError> {
    let shown = path.display().to_string();
    let database_error = |source: rusqlite::Error| OpenError::Database {
        hint: database_hint(&source),
        path: shown.clone(),
        source,
    };
    let mut connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(database_error)?;
    // WAL with FULL: a commit is on disk when it returns; NORMAL could lose
    // acknowledged events on power loss.
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(database_error)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(database_error)?;
    // Checkpoints are the checkpointer thread's job; the writer's automatic checkpoint
    // is only a backstop (or, under a size cap, the bound below).
    connection
        .pragma_update(None, "wal_autocheckpoint", BACKSTOP_WAL_PAGES)
        .map_err(database_error)?;
    if let Some(bytes) = config.max_database_bytes {
        let page_size: i64 = connection
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .map_err(database_error)?;
        let pages = (bytes as i64 / page_size.max(1)).max(1);
        connection
            .pragma_update(None, "max_page_count", pages)
            .map_err(database_error)?;
        // The cap counts the database file; the WAL beside it holds every page written
        // since the last checkpoint (SQLite's default lets it reach ~4 MB and keeps
        // the file at its largest). Checkpoint at a tenth of the cap and truncate the
        // WAL back to that size, so it stays near a tenth of the cap plus one batch.
        let wal_pages = (pages / 10).max(16);
        connection
            .pragma_update(None, "wal_autocheckpoint", wal_pages)
            .map_err(database_error)?;
        connection
            .pragma_update(None, "journal_size_limit", wal_pages * page_size)
            .map_err(database_error)?;
    }
    migrate(&mut connection, &shown)?;
    Ok(connection)
}

fn migrate(connection: &mut Connection, shown: &str) -> Result<(), OpenError> {
    let database_error = |source: rusqlite::Error| OpenError::Database {
        hint: database_hint(&source),
        path: shown.to_owned(),
        source,
    };
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(database_error)?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: shown.to_owned(),
            found: version,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = connection.transaction().map_err(database_error)?;
        transaction
            .execute_batch(migration)
            .map_err(database_error)?;
        transaction
            .pragma_update(None, "user_version", index as i64 + 1)
            .map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
    }
    Ok(())
}

/// Replays every stored event into the engine, in commit order.
fn load(
    connection: &Connection,
    engine: &mut Engine,
    path: &Path,
) -> Result<(usize, usize), OpenError> {
    let shown = path.display().to_string();
    let database_error = |source: rusqlite::Error| OpenError::Database {
        hint: database_hint(&source),
        path: shown.clone(),
        source,
    };
    let mut statement = connection
        .prepare("SELECT event_id, record FROM events ORDER BY seq")
        .map_err(database_error)?;
    let mut rows = statement.query([]).map_err(database_error)?;
    let mut events = 0;
    while let Some(row) = rows.next().map_err(database_error)? {
        let event_id: String = row.get(0).map_err(database_error)?;
        let record: String = row.get(1).map_err(database_error)?;
        let event: RecordedEvent =
            serde_json::from_str(&record).map_err(|error| OpenError::Corrupt {
                path: shown.clone(),
                event_id,
                message: error.to_string(),
            })?;
        engine.replay(event);
        events += 1;
    }
    Ok((events, engine.calls().count()))
}

/// The checkpointer's own connection to the database the writer opened (and migrated).
fn open_checkpointer(path: &Path) -> Result<Connection, OpenError> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| OpenError::Database {
        hint: database_hint(&source),
        path: path.display().to_string(),
        source,
    })
}

/// Checkpoints the WAL whenever the writer nudges, until the writer is gone. A
/// passive checkpoint never waits for the writer and the writer never waits for it:
/// it copies the pages committed so far while new commits go on appending.
fn run_checkpointer(connection: Connection, nudges: Receiver<()>) {
    while nudges.recv().is_ok() {
        let checkpointed =
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_row| Ok(()));
        if let Err(error) = checkpointed {
            tracing::warn!(
                %error,
                "checkpointing the write-ahead log failed; the writer checkpoints it itself if it keeps growing"
            );
        }
    }
}

/// Owns the connection; the only thread that writes.
struct Writer {
    write_problem: Arc<Mutex<Option<String>>>,
    connection: Connection,
    database_path: PathBuf,
    config: StoreConfig,
    engine: Arc<Mutex<Engine>>,
    /// Told about the committed calls before their requests are answered, so a
    /// dashboard refreshed on the answer already shows them.
    stats: Arc<StatsKeeper>,
    queued: Arc<AtomicUsize>,
    metrics: Metrics,
    clock: Clock,
    last_prune: Instant,
    /// Pruning was interrupted by waiting requests and should resume soon.
    prune_pending: bool,
    /// After a failed commit, refuse work for a moment instead of failing again at once.
    refuse_until: Option<Instant>,
    /// Nudges the checkpointer thread; it ends when this is dropped with the writer.
    checkpoints: SyncSender<()>,
    events_since_checkpoint: usize,
}

/// A job's result, held until its batch has committed.
enum Pending {
    Transfer(
        oneshot::Sender<Result<Outcome<TransferAnswer>, StoreError>>,
        Result<Outcome<TransferAnswer>, EngineError>,
    ),
    End(
        oneshot::Sender<Result<Outcome<EndAnswer>, StoreError>>,
        Result<Outcome<EndAnswer>, EngineError>,
    ),
    Callback(
        oneshot::Sender<Result<Outcome<CallRecord>, StoreError>>,
        Result<Outcome<CallRecord>, EngineError>,
    ),
    Promise(
        oneshot::Sender<Result<Outcome<Promise>, StoreError>>,
        Result<Outcome<Promise>, EngineError>,
    ),
}

impl Pending {
    fn answer(self) {
        // A requester that went away (client disconnected) needs no answer.
        match self {
            Pending::Transfer(reply, result) => {
                let _ = reply.send(result.map_err(StoreError::from));
            }
            Pending::End(reply, result) => {
                let _ = reply.send(result.map_err(StoreError::from));
            }
            Pending::Callback(reply, result) => {
                let _ = reply.send(result.map_err(StoreError::from));
            }
            Pending::Promise(reply, result) => {
                let _ = reply.send(result.map_err(StoreError::from));
            }
        }
    }

    fn fail(self, message: &str) {
        let error = || StoreError::Unavailable(message.to_owned());
        match self {
            Pending::Transfer(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Pending::End(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Pending::Callback(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Pending::Promise(reply, _) => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}

/// Answers a job with 503 without running it.
fn refuse(job: Job, message: &str) {
    let error = || StoreError::Unavailable(message.to_owned());
    // A requester that went away needs no answer.
    match job {
        Job::Transfer { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Job::End { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Job::Callback { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
        Job::Promise { reply, .. } => {
            let _ = reply.send(Err(error()));
        }
    }
}

/// Ends the process if the writer thread panics: without its writer the store
/// could only answer 503 forever, and a restart recovers from disk.
struct ExitOnPanic;

impl Drop for ExitOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            crate::exit::abort_runtime("the store's writer panicked");
        }
    }
}

impl Writer {
    fn run(mut self, jobs: Receiver<Job>) {
        let _exit_on_panic = ExitOnPanic;
        loop {
            let first = match jobs.recv_timeout(Duration::from_secs(1)) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.prune_if_due();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let depth = self
                .queued
                .fetch_sub(batch.len(), Ordering::Relaxed)
                .saturating_sub(batch.len());
            self.metrics.store_queue_depth.set(depth as i64);
            if let Some(until) = self.refuse_until {
                if Instant::now() < until {
                    for job in batch {
                        refuse(
                            job,
                            "the store failed to commit a moment ago and is recovering",
                        );
                    }
                    continue;
                }
                self.refuse_until = None;
            }
            self.write_batch(batch);
            if self.queued.load(Ordering::Relaxed) == 0 {
                self.prune_if_due();
            }
        }
    }

    fn write_batch(&mut self, batch: Vec<Job>) {
        let started = Instant::now();
        let size = batch.len();
        let mut pending = Vec::with_capacity(size);
        let mut to_write: Vec<EventRow> = Vec::with_capacity(size);
        {
            let mut engine = lock_engine(&self.engine);
            for job in batch {
                let (result, event_id) = match job {
                    Job::Transfer {
                        rules,
                        request,
                        received_at,
                        reply,
                    } => {
                        let event_id = request.event_id.clone();
                        // A redelivery of a hop the engine no longer keeps: answer it
                        // from disk, where every event stays.
                        let from_disk = engine
                            .may_have_forgotten(request.call_id.as_str(), &event_id)
                            .then(|| self.stored_event(event_id.as_str()))
                            .flatten();
                        let result = match from_disk {
                            Some(RecordedEvent::Transfer {
                                request: original,
                                answer,
                                ..
                            }) if original == request => Ok(Outcome {
                                answer: *answer,
                                replayed: true,
                            }),
                            Some(_) => Err(EngineError::Conflict {
                                event_id: event_id.clone(),
                            }),
                            None => engine.transfer(&rules, request, received_at),
                        };
                        let fresh = matches!(&result, Ok(outcome) if !outcome.replayed);
                        (Pending::Transfer(reply, result), fresh.then_some(event_id))
                    }
                    Job::End {
                        request,
                        received_at,
                        reply,
                    } => {
                        let event_id = request.event_id.clone();
                        let result = engine.end_call(request, received_at);
                        let fresh = matches!(&result, Ok(outcome) if !outcome.replayed);
                        (Pending::End(reply, result), fresh.then_some(event_id))
                    }
                    Job::Callback {
                        request,
                        received_at,
                        reply,
                    } => {
                        let event_id = request.event_id.clone();
                        let result = engine.mark_callback(request, received_at);
                        let fresh = matches!(&result, Ok(outcome) if !outcome.replayed);
                        (Pending::Callback(reply, result), fresh.then_some(event_id))
                    }
                    Job::Promise {
                        rules,
                        event,
                        received_at,
                        reply,
                    } => {
                        let event_id = event.event_id().clone();
                        let result = engine.promise(&rules, event, received_at);
                        let fresh = matches!(&result, Ok(outcome) if !outcome.replayed);
                        (Pending::Promise(reply, result), fresh.then_some(event_id))
                    }
                };
                // Serialized here, from the engine's copy, rather than copied out and
                // serialized after the lock: a copy of the event would cost about as much.
                if let Some(event) = event_id.and_then(|id| engine.recorded(&id)) {
                    to_write.push(EventRow::new(event));
                }
                pending.push(result);
            }
        }
        let committed = if to_write.is_empty() {
            Ok(())
        } else {
            self.commit(&to_write)
        };
        match committed {
            Ok(()) => {
                if !to_write.is_empty() {
                    self.set_write_problem(None);
                    self.events_since_checkpoint += to_write.len();
                    if self.events_since_checkpoint >= CHECKPOINT_EVERY_EVENTS {
                        self.events_since_checkpoint = 0;
                        // Full means a nudge is already waiting: one is enough.
                        let _ = self.checkpoints.try_send(());
                    }
                }
                self.stats.calls_changed(
                    &lock_engine(&self.engine),
                    to_write.iter().map(|row| &row.call_id),
                );
                self.metrics
                    .store_commit_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.store_batch_size.observe(size as f64);
                for result in pending {
                    result.answer();
                }
            }
            Err(error) => {
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                    self.set_write_problem(Some(match self.config.max_database_bytes {
                        Some(limit) => format!(
                            "the database is full (--max-database-bytes {limit}): new events are refused with 503; \
                             raise the limit, shorten --retention or --open-call-max-idle, or free disk space"
                        ),
                        None => "the disk is full: new events are refused with 503; free disk space".to_owned(),
                    }));
                }
                self.metrics.store_failures.inc();
                tracing::error!(
                    %error,
                    events = to_write.len(),
                    "commit failed: answering 503 to the whole batch and rebuilding from disk"
                );
                let message = format!("the event could not be committed ({error})");
                for result in pending {
                    result.fail(&message);
                }
                self.recover();
            }
        }
    }

    /// The event recorded under `event_id`, read back from disk.
    fn stored_event(&self, event_id: &str) -> Option<RecordedEvent> {
        let record: Result<Option<String>, rusqlite::Error> = self
            .connection
            .prepare_cached("SELECT record FROM events WHERE event_id = ?1")
            .and_then(|mut select| {
                let mut rows = select.query(params![event_id])?;
                rows.next()?.map(|row| row.get(0)).transpose()
            });
        match record {
            Ok(record) => record.and_then(|text| serde_json::from_str(&text).ok()),
            Err(error) => {
                tracing::warn!(%error, event_id, "cannot look up an event on disk; judging it as new");
                None
            }
        }
    }

    fn set_write_problem(&self, problem: Option<String>) {
        *self
            .write_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = problem;
    }

    /// Writes `rows` in one transaction. `BEGIN` and `COMMIT` are cached statements
    /// like the inserts: `Connection::transaction` would prepare both anew for every
    /// batch.
    fn commit(&mut self, rows: &[EventRow]) -> Result<(), rusqlite::Error> {
        self.connection.prepare_cached("BEGIN")?.execute([])?;
        let written = insert_events(&self.connection, rows, Duplicates::Refuse).and_then(|_| {
            self.connection.prepare_cached("COMMIT")?.execute([])?;
            Ok(())
        });
        if written.is_err() && !self.connection.is_autocommit() {
            // The caller reopens the database after a failed commit; rolling back
            // first only leaves the file as it was.
            let _ = self.connection.execute_batch("ROLLBACK");
        }
        written
    }

    /// After a failed commit the engine holds events that are not on disk: reopen
    /// the database and rebuild the engine from it. If even that fails, stop the
    /// process rather than answer for data that may not be on disk.
    fn recover(&mut self) {
        self.refuse_until = Some(Instant::now() + Duration::from_secs(1));
        let reopened = open_connection(&self.database_path, &self.config).and_then(|connection| {
            let mut engine = Engine::new().with_max_hops_kept(self.config.max_hops_kept);
            load(&connection, &mut engine, &self.database_path)?;
            Ok((connection, engine))
        });
        match reopened {
            Ok((connection, engine)) => {
                self.connection = connection;
                self.stats.rebuild(&engine);
                *lock_engine(&self.engine) = engine;
                tracing::warn!("store reopened and rebuilt from disk");
            }
            Err(error) => {
                tracing::error!(%error, "cannot reopen the store after a failed commit");
                crate::exit::abort_runtime("the store cannot recover from a failed commit");
            }
        }
    }

    /// Removes ended calls past the retention age, a small transaction at a time,
    /// and stops as soon as requests are waiting: pruning never delays the webhook
    /// by more than one small batch.
    fn prune_if_due(&mut self) {
        if !self.prune_pending && self.last_prune.elapsed() < self.config.prune_interval {
            return;
        }
        self.last_prune = Instant::now();
        self.prune_pending = false;
        let Ok(cutoff) = self.clock.now().checked_sub(self.config.retention) else {
            return;
        };
        let mut removed = 0;
        loop {
            if self.queued.load(Ordering::Relaxed) > 0 {
                self.prune_pending = true;
                break;
            }
            match self.prune_batch(cutoff) {
                Ok(0) => break,
                Ok(count) => removed += count,
                Err(error) => {
                    tracing::warn!(%error, "pruning old calls failed; will try again later");
                    break;
                }
            }
        }
        if removed > 0 {
            let evicted = lock_engine(&self.engine).evict_ended_before(cutoff);
            self.stats.calls_removed(&evicted);
            tracing::info!(calls = removed, "pruned ended calls past the retention age");
        }
        self.expire_idle_open_calls();
    }

    /// Forgets open calls idle past `open_call_max_idle`, from disk then memory, a
    /// batch at a time, stopping when requests are waiting.
    fn expire_idle_open_calls(&mut self) {
        let Ok(cutoff) = self.clock.now().checked_sub(self.config.open_call_max_idle) else {
            return;
        };
        let mut expired = 0;
        while self.queued.load(Ordering::Relaxed) == 0 {
            let idle = lock_engine(&self.engine).idle_open_calls(cutoff, PRUNE_BATCH);
            if idle.is_empty() {
                break;
            }
            let ids: Vec<&str> = idle.iter().map(|call_id| call_id.as_str()).collect();
            let deleted = self.connection.transaction().and_then(|transaction| {
                delete_calls(&transaction, &ids)?;
                transaction.commit()
            });
            if let Err(error) = deleted {
                tracing::warn!(%error, "expiring idle open calls failed; will try again later");
                break;
            }
            lock_engine(&self.engine).forget_calls(&idle);
            self.stats.calls_removed(&idle);
            self.metrics.calls_expired.inc_by(idle.len() as u64);
            expired += idle.len();
        }
        if self.queued.load(Ordering::Relaxed) > 0 {
            self.prune_pending = true;
        }
        if expired > 0 {
            tracing::info!(
                calls = expired,
                "forgot open calls with no event for longer than --open-call-max-idle"
            );
        }
    }

    fn prune_batch(&mut self, cutoff: Timestamp) -> Result<usize, rusqlite::Error> {
        let transaction = self.connection.transaction()?;
        let call_ids: Vec<String> = {
            let mut select = transaction.prepare_cached(
                "SELECT call_id FROM calls WHERE ended_at_ms IS NOT NULL AND ended_at_ms < ?1 LIMIT ?2",
            )?;
            select
                .query_map(
                    params![cutoff.as_millisecond(), PRUNE_BATCH as i64],
                    |row| row.get(0),
                )?
                .collect::<Result<_, _>>()?
        };
        let ids: Vec<&str> = call_ids.iter().map(String::as_str).collect();
        delete_calls(&transaction, &ids)?;
        transaction.commit()?;
        Ok(call_ids.len())
    }
}

/// One event as it is written: its columns, and the whole event as JSON (the record
/// replayed at start and read back for redeliveries).
pub(super) struct EventRow {
    event_id: EventId,
    call_id: CallId,
    kind: &'static str,
    occurred_at: Timestamp,
    record: String,
}

/// Bytes reserved for an event's JSON: a transfer with its answer is 1–2 KB.
const RECORD_CAPACITY: usize = 4096;

impl EventRow {
    pub(super) fn new(event: &RecordedEvent) -> Self {
        let (kind, occurred_at) = (event.kind(), event.occurred_at());
        let mut record = Vec::with_capacity(RECORD_CAPACITY);
        // Serializing our own types to JSON cannot fail, and serde_json writes UTF-8.
        let _ = serde_json::to_writer(&mut record, event);
        Self {
            event_id: event.event_id().clone(),
            call_id: event.call_id().clone(),
            kind,
            occurred_at,
            record: String::from_utf8(record).unwrap_or_default(),
        }
    }
}

/// Deletes calls and their events inside `transaction`.
fn delete_calls(
    transaction: &rusqlite::Transaction<'_>,
    call_ids: &[&str],
) -> Result<(), rusqlite::Error> {
    let mut delete_events = transaction.prepare_cached("DELETE FROM events WHERE call_id = ?1")?;
    let mut delete_call = transaction.prepare_cached("DELETE FROM calls WHERE call_id = ?1")?;
    for call_id in call_ids {
        delete_events.execute(params![call_id])?;
        delete_call.execute(params![call_id])?;
    }
    Ok(())
}

/// What [`insert_events`] does with an event id already in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicates {
    /// Fail the transaction: a live event id is answered once, by the engine.
    Refuse,
    /// Keep the stored event: importing the same history again changes nothing.
    Ignore,
}

/// Inserts events (and their calls) inside the transaction the caller began;
/// returns how many were new.
pub(super) fn insert_events(
    connection: &Connection,
    rows: &[EventRow],
    duplicates: Duplicates,
) -> Result<usize, rusqlite::Error> {
    let mut insert = connection.prepare_cached(match duplicates {
        Duplicates::Refuse => {
            "INSERT INTO events (event_id, call_id, kind, occurred_at_ms, record) VALUES (?1, ?2, ?3, ?4, ?5)"
        }
        Duplicates::Ignore => {
            "INSERT OR IGNORE INTO events (event_id, call_id, kind, occurred_at_ms, record) VALUES (?1, ?2, ?3, ?4, ?5)"
        }
    })?;
    let mut open_call = connection
        .prepare_cached("INSERT OR IGNORE INTO calls (call_id, ended_at_ms) VALUES (?1, NULL)")?;
    let mut end_call =
        connection.prepare_cached("UPDATE calls SET ended_at_ms = ?2 WHERE call_id = ?1")?;
    let mut inserted = 0;
    for row in rows {
        let written = insert.execute(params![
            row.event_id.as_str(),
            row.call_id.as_str(),
            row.kind,
            row.occurred_at.as_millisecond(),
            row.record
        ])?;
        if written == 0 {
            continue;
        }
        inserted += 1;
        open_call.execute(params![row.call_id.as_str()])?;
        if row.kind == "end" {
            end_call.execute(params![
                row.call_id.as_str(),
                row.occurred_at.as_millisecond()
            ])?;
        }
    }
    Ok(inserted)
}
