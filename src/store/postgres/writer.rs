//! The write path: the events waiting for this instance, in one transaction that
//! locks their calls (advisory transaction locks, in key order), reads the calls'
//! stored events under those locks, runs the engine, writes the new events with
//! their answers and commits; only then is anyone answered.
//!
//! Why this is correct across instances: a call's lock is held from before its
//! chain is read until after the new events are committed, so two transactions
//! that touch one call run one after the other, whichever instances they are in,
//! and each judges against everything the other committed (READ COMMITTED takes a
//! new snapshot per statement, and the read is a statement after the lock). Locks
//! are taken in ascending key order, so batches never deadlock on each other.
//! Event ids are unique: the same id racing in two calls at once fails one
//! transaction, which is retried and then finds the other's event (a conflict or
//! a redelivery, as the engine decides).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Object, Pool};
use futures_util::future::{join3, join4, try_join5};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;

use super::describe;
use super::follower::{Follower, notices};
use super::job::Job;
use super::schema::call_lock_key;
use crate::core::engine::{CallId, Engine, EventId, RecordedEvent};
use crate::metrics::Metrics;

/// Times one batch is tried again after losing an event-id race.
const ATTEMPTS: usize = 3;

/// Takes batches from the queue and commits them; one per writer connection.
pub(super) struct Writer {
    pub pool: Pool,
    pub queued: Arc<AtomicUsize>,
    pub metrics: Metrics,
    pub follower: Arc<Follower>,
    pub instance: String,
    pub max_batch: usize,
    pub batch_timeout: Duration,
}

/// What a committed batch leaves for the read model: the touched calls' events in
/// commit order (stored ones first, then the new ones).
struct Committed {
    snapshot: Vec<RecordedEvent>,
}

#[derive(Debug)]
enum BatchError {
    /// Lost a race on an event id, or a deadlock with such a race; the transaction
    /// ended (rolled back), so the batch can run again on the same connection.
    Race(tokio_postgres::Error),
    /// Anything else. The transaction may still be open, or its commit may have
    /// happened without our hearing of it: answer 503, drop the connection.
    Failed(String),
}

impl From<tokio_postgres::Error> for BatchError {
    fn from(error: tokio_postgres::Error) -> Self {
        BatchError::Failed(describe(&error))
    }
}

/// The statements of a batch, prepared once per connection.
struct Statements {
    lock: Statement,
    read: Statement,
    insert: Statement,
    upsert: Statement,
    notify: Statement,
}

impl Statements {
    async fn prepare(client: &Object) -> Result<Self, tokio_postgres::Error> {
        let (lock, read, insert, upsert, notify) = try_join5(
            // unnest yields the keys in array order, so the locks are taken in the
            // order the array was sorted in.
            client.prepare_cached("SELECT pg_advisory_xact_lock(key) FROM unnest($1::int8[]) AS key"),
            client.prepare_cached(
                "SELECT record FROM loopguard_events \
                 WHERE call_id = ANY($1::text[]) OR event_id = ANY($2::text[]) ORDER BY seq",
            ),
            client.prepare_cached(
                "INSERT INTO loopguard_events (event_id, call_id, kind, occurred_at, record) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])",
            ),
            client.prepare_cached(
                "INSERT INTO loopguard_calls (call_id, ended_at, last_loop_at) \
                 SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) \
                 ON CONFLICT (call_id) DO UPDATE \
                 SET ended_at = EXCLUDED.ended_at, last_loop_at = EXCLUDED.last_loop_at",
            ),
            client.prepare_cached(
                "SELECT pg_notify('loopguard_events', payload) FROM unnest($1::text[]) AS payload",
            ),
        )
        .await?;
        Ok(Self {
            lock,
            read,
            insert,
            upsert,
            notify,
        })
    }
}

impl Writer {
    /// Runs until the store is dropped (the queue closes).
    pub async fn run(self: Arc<Self>, jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let batch = {
                let mut receiver = jobs.lock().await;
                let Some(first) = receiver.recv().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < self.max_batch {
                    match receiver.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                batch
            };
            let depth = self
                .queued
                .fetch_sub(batch.len(), Ordering::Relaxed)
                .saturating_sub(batch.len());
            self.metrics.store_queue_depth.set(depth as i64);
            let now = Instant::now();
            // A job past its deadline was already answered 503 by its requester's
            // timeout: running it would only spend the database's time.
            let batch: Vec<Job> = batch
                .into_iter()
                .filter(|job| !job.abandoned(now))
                .collect();
            if !batch.is_empty() {
                self.write(batch).await;
            }
        }
    }

    async fn write(&self, mut batch: Vec<Job>) {
        let started = std::time::Instant::now();
        let size = batch.len();
        // Nobody waits for the batch past its last job's deadline.
        let deadline = batch
            .iter()
            .map(|job| job.deadline)
            .max()
            .unwrap_or_else(|| Instant::now() + self.batch_timeout);
        let client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                return self.fail(batch, &format!("cannot reach the database: {error}"));
            }
            Err(_) => return self.fail(batch, "cannot reach the database in time"),
        };
        let result = tokio::time::timeout_at(deadline, self.transact(&client, &mut batch)).await;
        match result {
            Ok(Ok(committed)) => {
                self.metrics
                    .store_commit_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.store_batch_size.observe(size as f64);
                self.follower.apply_own(committed.snapshot);
                for job in batch {
                    job.answer();
                }
            }
            Ok(Err(error)) => {
                let message = match error {
                    BatchError::Race(error) => format!(
                        "the batch lost {ATTEMPTS} races on event ids: {}",
                        describe(&error)
                    ),
                    BatchError::Failed(message) => message,
                };
                // Whether the transaction is still open or its commit went through
                // unheard, the connection's state is unknown: close it.
                drop(Object::take(client));
                self.fail(batch, &format!("the database failed: {message}"));
            }
            Err(_) => {
                drop(Object::take(client));
                self.fail(batch, "the database did not answer in time");
            }
        }
    }

    fn fail(&self, batch: Vec<Job>, message: &str) {
        self.metrics.store_failures.inc();
        tracing::warn!(
            events = batch.len(),
            error = message,
            "batch not committed: answering 503"
        );
        for job in batch {
            job.fail(message);
        }
    }

    async fn transact(&self, client: &Object, batch: &mut [Job]) -> Result<Committed, BatchError> {
        let statements = Statements::prepare(client).await?;
        let mut attempt = 1;
        loop {
            match self.attempt(client, &statements, batch).await {
                Err(BatchError::Race(error)) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %describe(&error), "event-id race; running the batch again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        client: &Object,
        statements: &Statements,
        batch: &mut [Job],
    ) -> Result<Committed, BatchError> {
        let call_ids: BTreeSet<&str> = batch.iter().map(|job| job.call_id().as_str()).collect();
        let mut keys: Vec<i64> = call_ids.iter().map(|id| call_lock_key(id)).collect();
        keys.sort_unstable();
        keys.dedup();
        let call_ids: Vec<&str> = call_ids.into_iter().collect();
        let event_ids: Vec<&str> = batch.iter().map(|job| job.event_id().as_str()).collect();

        // One round trip: the three statements are pipelined, and run in order.
        let (begun, locked, rows) = join3(
            client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
            client.execute(&statements.lock, &[&keys]),
            client.query(&statements.read, &[&call_ids, &event_ids]),
        )
        .await;
        begun?;
        locked?;
        let rows = rows?;

        let mut engine = Engine::new();
        let mut stored: Vec<(CallId, EventId)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let text: &str = row.try_get(0)?;
            let event: RecordedEvent = serde_json::from_str(text).map_err(|error| {
                BatchError::Failed(format!("a stored event cannot be read: {error}"))
            })?;
            stored.push((event.call_id().clone(), event.event_id().clone()));
            engine.replay(event);
        }
        let mut fresh: Vec<EventId> = Vec::new();
        for job in batch.iter_mut() {
            if job.decide(&mut engine) {
                fresh.push(job.event_id().clone());
            }
        }
        if fresh.is_empty() {
            // Only redeliveries and refusals: nothing to write, but the locks go.
            client.batch_execute("COMMIT").await?;
            return Ok(Committed {
                snapshot: Vec::new(),
            });
        }

        let written: Vec<&RecordedEvent> =
            fresh.iter().filter_map(|id| engine.recorded(id)).collect();
        let rows = EventRows::of(&written)?;
        let touched: BTreeSet<&CallId> = written.iter().map(|event| event.call_id()).collect();
        let calls = CallRows::of(&engine, &touched);
        let payloads = notices(&self.instance, &written);
        let (inserted, upserted, notified, committed) = join4(
            client.execute(
                &statements.insert,
                &[
                    &rows.event_ids,
                    &rows.call_ids,
                    &rows.kinds,
                    &rows.occurred_at,
                    &rows.records,
                ],
            ),
            client.execute(
                &statements.upsert,
                &[&calls.call_ids, &calls.ended_at, &calls.last_loop_at],
            ),
            client.execute(&statements.notify, &[&payloads]),
            client.batch_execute("COMMIT"),
        )
        .await;
        // A failed statement aborts the transaction and COMMIT then rolls it back,
        // answering "ROLLBACK" rather than an error: the batch committed only if
        // every statement succeeded.
        for result in [inserted, upserted, notified] {
            if let Err(error) = result {
                let raced = matches!(
                    error.code(),
                    Some(&SqlState::UNIQUE_VIOLATION) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
                );
                return Err(if raced && committed.is_ok() {
                    BatchError::Race(error)
                } else {
                    error.into()
                });
            }
        }
        committed?;

        let snapshot = stored
            .iter()
            .filter(|(call_id, _)| touched.contains(call_id))
            .map(|(_, event_id)| event_id)
            .chain(fresh.iter())
            .filter_map(|event_id| engine.recorded(event_id).cloned())
            .collect();
        Ok(Committed { snapshot })
    }
}

/// The new events as columns, for one `INSERT ... SELECT FROM unnest(...)`.
struct EventRows<'a> {
    event_ids: Vec<&'a str>,
    call_ids: Vec<&'a str>,
    kinds: Vec<&'static str>,
    occurred_at: Vec<SystemTime>,
    records: Vec<String>,
}

impl<'a> EventRows<'a> {
    fn of(events: &[&'a RecordedEvent]) -> Result<Self, BatchError> {
        let mut rows = Self {
            event_ids: Vec::with_capacity(events.len()),
            call_ids: Vec::with_capacity(events.len()),
            kinds: Vec::with_capacity(events.len()),
            occurred_at: Vec::with_capacity(events.len()),
            records: Vec::with_capacity(events.len()),
        };
        for event in events {
            let (kind, occurred_at) = match event {
                RecordedEvent::Transfer { answer, .. } => ("transfer", answer.occurred_at),
                RecordedEvent::End { answer, .. } => ("end", answer.occurred_at),
                RecordedEvent::Callback { answer, request } => (
                    "callback",
                    answer
                        .callback
                        .as_ref()
                        .map(|mark| mark.occurred_at)
                        .or(request.occurred_at)
                        .unwrap_or_default(),
                ),
            };
            rows.event_ids.push(event.event_id().as_str());
            rows.call_ids.push(event.call_id().as_str());
            rows.kinds.push(kind);
            rows.occurred_at.push(occurred_at.into());
            rows.records.push(
                serde_json::to_string(event).map_err(|error| {
                    BatchError::Failed(format!("cannot encode an event: {error}"))
                })?,
            );
        }
        Ok(rows)
    }
}

/// The touched calls' index rows: when each ended and when it last looped.
struct CallRows<'a> {
    call_ids: Vec<&'a str>,
    ended_at: Vec<Option<SystemTime>>,
    last_loop_at: Vec<Option<SystemTime>>,
}

impl<'a> CallRows<'a> {
    fn of(engine: &Engine, touched: &BTreeSet<&'a CallId>) -> Self {
        let mut rows = Self {
            call_ids: Vec::with_capacity(touched.len()),
            ended_at: Vec::with_capacity(touched.len()),
            last_loop_at: Vec::with_capacity(touched.len()),
        };
        for call_id in touched {
            // Every touched call has a new event, so the engine holds its record
            // (a callback or an end is refused for a call without one).
            let record = engine.call(call_id.as_str());
            rows.call_ids.push(call_id.as_str());
            rows.ended_at.push(
                record
                    .and_then(|record| record.ended.as_ref())
                    .map(|end| end.occurred_at.into()),
            );
            rows.last_loop_at.push(
                record
                    .and_then(|record| record.last_loop_at)
                    .map(Into::into),
            );
        }
        rows
    }
}
