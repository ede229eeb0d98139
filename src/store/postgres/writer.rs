//! The write path: the events waiting for this instance, in one transaction that
//! locks their calls (advisory transaction locks, in key order), makes sure the
//! engine sees each call exactly as stored, runs the engine, writes the new events
//! with their answers and commits; only then is anyone answered.
//!
//! Why this is correct across instances: a call's lock is held from before its
//! chain is checked or read until after the new events are committed, so two
//! transactions that touch one call run one after the other, whichever instances
//! they are in, and each judges against everything the other committed (READ
//! COMMITTED takes a new snapshot per statement, and the checks and reads are
//! statements after the lock; a REPEATABLE READ snapshot would be taken before the
//! lock wait, so the isolation level is set explicitly). Locks are taken in
//! ascending key order, so batches never deadlock on each other.
//!
//! The chain is not read from the database each time: the read model
//! (`follower.rs`) holds each call (its record, with the hop cap applied, and its
//! first and last `seq`). Because a call's events are committed in `seq` order,
//! a copy is exactly the stored chain when no stored event is newer than its last
//! `seq` and the first stored one is its first (pruning and expiry remove a call's
//! events all at once, so a call begun again starts elsewhere). Two ways use that:
//!
//! - **On the copy, one round trip** (the common case): the engine decides on a
//!   copy of the calls first; then one pipeline begins, locks, checks the copy
//!   (a statement that fails when it is stale), inserts, updates the calls,
//!   notifies and commits. The locks are held only while the database runs those
//!   statements, never while this instance computes. If the check fails, or an
//!   event id turns out to be stored already, the transaction rolls back and the
//!   batch goes the careful way.
//! - **Under the lock, two round trips**: lock, then read the events newer than
//!   the copy, each call's first stored `seq` (a stale copy is dropped and the
//!   call read whole) and the stored rows of the batch's event ids; decide; write
//!   and commit. An id the engine does not know but the database holds is a
//!   redelivery of a hop the cap dropped (the stored answer, or 409 for another
//!   body), or an id of another call (409).
//!
//! So the copy saves reading and parsing, and can never make a verdict see a stale
//! chain. Event ids are unique: the same id racing in two calls at once fails one
//! transaction, which is retried and then finds the other's event (a conflict).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Object, Pool};
use futures_util::future::{join, join3, join4, join5, try_join4};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::describe;
use super::follower::{Follower, NEWER_EVENTS, Sequenced, decode, notices};
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
    /// Set while the database refuses writes for a reason an operator must fix (a
    /// full disk, a read-only server); cleared by the next commit of new events.
    pub write_problem: Arc<Mutex<Option<String>>>,
}

/// What a committed batch leaves for the read model: the calls it read whole (the
/// model's copy was stale), the events it read that the model did not hold, and
/// the new ones, with their `seq`, in commit order.
struct Committed {
    replaced: Vec<CallId>,
    learned: Vec<Sequenced>,
    /// Whether the batch wrote new events.
    wrote: bool,
}

#[derive(Debug)]
enum BatchError {
    /// Lost a race on an event id, or a deadlock with such a race; the transaction
    /// ended (rolled back), so the batch can run again on the same connection.
    Race(String),
    /// The database refuses writes (a full disk, a read-only server): 503 until an
    /// operator acts, shown in `/readyz`.
    Refused(String),
    /// Anything else. The transaction may still be open, or its commit may have
    /// happened without our hearing of it: answer 503, drop the connection.
    Failed(String),
}

impl From<tokio_postgres::Error> for BatchError {
    fn from(error: tokio_postgres::Error) -> Self {
        // Class 53 is "insufficient resources" (53100 disk full); 25006 is a write
        // on a read-only server (a standby, or default_transaction_read_only).
        let refused = error.code().is_some_and(|code| {
            code.code().starts_with("53") || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        });
        if refused {
            BatchError::Refused(describe(&error))
        } else {
            BatchError::Failed(describe(&error))
        }
    }
}

/// The statements of a batch, prepared once per connection.
struct Statements {
    lock: Statement,
    current: Statement,
    newer: Statement,
    firsts: Statement,
    stored: Statement,
    whole_calls: Statement,
    insert: Statement,
    upsert: Statement,
    notify: Statement,
}

impl Statements {
    async fn prepare(client: &Object) -> Result<Self, tokio_postgres::Error> {
        let (lock, newer, firsts, stored) = try_join4(
            // unnest yields the keys in array order, so the locks are taken in the
            // order the array was sorted in.
            client
                .prepare_cached("SELECT pg_advisory_xact_lock(key) FROM unnest($1::int8[]) AS key"),
            client.prepare_cached(NEWER_EVENTS),
            // Each call's first stored `seq`: the first entry of its index range
            // (reading every event of a call to take the minimum cost a heap page
            // per event).
            client.prepare_cached(
                "SELECT known.call_id, first.seq FROM unnest($1::text[]) AS known (call_id) \
                 CROSS JOIN LATERAL (SELECT seq FROM loopguard_events \
                     WHERE call_id = known.call_id ORDER BY seq LIMIT 1) AS first",
            ),
            // The batch's event ids already stored, in any call: redeliveries the
            // engine may not know (a hop the cap dropped, an id of another call).
            client.prepare_cached(
                "SELECT event_id, record FROM loopguard_events WHERE event_id = ANY($1::text[])",
            ),
        )
        .await?;
        let (whole_calls, insert, upsert, notify) = try_join4(
            client.prepare_cached(
                "SELECT seq, record FROM loopguard_events WHERE call_id = ANY($1::text[]) ORDER BY seq",
            ),
            client.prepare_cached(
                "INSERT INTO loopguard_events (event_id, call_id, kind, occurred_at, record) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) \
                 RETURNING event_id, seq",
            ),
            client.prepare_cached(
                "INSERT INTO loopguard_calls (call_id, ended_at, last_loop_at) \
                 SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) \
                 ON CONFLICT (call_id) DO UPDATE \
                 SET ended_at = EXCLUDED.ended_at, last_loop_at = EXCLUDED.last_loop_at, \
                     last_event_at = now()",
            ),
            client.prepare_cached(
                "SELECT pg_notify('loopguard_events', payload) FROM unnest($1::text[]) AS payload",
            ),
        )
        .await?;
        // Fails (division by zero) when a call's stored events are not exactly the
        // `seq`s the read model's copy holds: $2 its first (NULL: it holds none),
        // $3 its last (0). Checked after the locks are taken, so nothing can change
        // until the commit.
        let current = client
            .prepare_cached(
                "SELECT 1 / (count(*) = 0)::int \
                 FROM unnest($1::text[], $2::int8[], $3::int8[]) AS known (call_id, first_seq, last_seq) \
                 WHERE EXISTS (SELECT 1 FROM loopguard_events \
                         WHERE call_id = known.call_id AND seq > known.last_seq) \
                    OR (SELECT seq FROM loopguard_events WHERE call_id = known.call_id \
                         ORDER BY seq LIMIT 1) IS DISTINCT FROM known.first_seq",
            )
            .await?;
        Ok(Self {
            lock,
            current,
            newer,
            firsts,
            stored,
            whole_calls,
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
                if committed.wrote {
                    self.set_write_problem(None);
                }
                self.follower.apply(committed.replaced, committed.learned);
                for job in batch {
                    job.answer();
                }
            }
            Ok(Err(error)) => {
                let message = match error {
                    BatchError::Race(error) => {
                        format!("the batch lost {ATTEMPTS} races on event ids: {error}")
                    }
                    BatchError::Refused(message) => {
                        self.set_write_problem(Some(format!(
                            "the database refuses writes ({message}): new events are answered 503; \
                             free disk space on the database server, or point --database at the primary"
                        )));
                        message
                    }
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

    fn set_write_problem(&self, problem: Option<String>) {
        let mut current = self
            .write_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current != problem {
            *current = problem;
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
        if let Some(committed) = self.attempt_on_copy(client, &statements, batch).await? {
            return Ok(committed);
        }

        let mut attempt = 1;
        loop {
            match self.attempt_under_lock(client, &statements, batch).await {
                Err(BatchError::Race(error)) if attempt < ATTEMPTS => {
                    tracing::debug!(%error, "event-id race; running the batch again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The common case, in one round trip: decides on the read model's copy of the
    /// calls, then locks them, checks that the copy is exactly what is stored (no
    /// newer event, the same first one), writes and commits. `None` when the copy
    /// was stale or an event id was already stored (the transaction rolled back;
    /// [`Writer::attempt_under_lock`] then decides again under the locks).
    async fn attempt_on_copy(
        &self,
        client: &Object,
        statements: &Statements,
        batch: &mut [Job],
    ) -> Result<Option<Committed>, BatchError> {
        let calls = BatchCalls::of(batch);
        let asked: Vec<&EventId> = batch.iter().map(Job::event_id).collect();
        let cached = self.follower.cached(&calls.refs(), &asked);
        // A redelivery of a hop the cap dropped needs its stored row.
        if batch.iter().any(|job| {
            cached
                .engine
                .may_have_forgotten(job.call_id().as_str(), job.event_id())
        }) {
            return Ok(None);
        }
        let (firsts, lasts): (Vec<Option<i64>>, Vec<i64>) = cached
            .seqs
            .iter()
            .map(|seqs| {
                (
                    seqs.map(|seqs| seqs.first),
                    seqs.map_or(0, |seqs| seqs.last),
                )
            })
            .unzip();
        let mut engine = cached.engine;
        let fresh: Vec<EventId> = batch
            .iter_mut()
            .filter_map(|job| job.decide(&mut engine).then(|| job.event_id().clone()))
            .collect();
        let writes = Writes::of(&engine, &fresh, &self.instance)?;

        let begin = client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED");
        let lock_parameters: [&(dyn ToSql + Sync); 1] = [&calls.keys];
        let lock = client.execute(&statements.lock, &lock_parameters);
        let check_parameters: [&(dyn ToSql + Sync); 3] = [&calls.call_ids, &firsts, &lasts];
        let check = client.execute(&statements.current, &check_parameters);
        let (inserted, committed) = if writes.is_empty() {
            let (begun, locked, checked, committed) =
                join4(begin, lock, check, client.batch_execute("COMMIT")).await;
            begun?;
            locked?;
            if on_copy_missed(checked)? {
                return Ok(None);
            }
            (Vec::new(), committed)
        } else {
            let ((begun, locked, checked), (inserted, upserted, notified, committed)) = join(
                join3(begin, lock, check),
                join4(
                    writes.insert(client, statements),
                    writes.upsert(client, statements),
                    writes.notify(client, statements),
                    client.batch_execute("COMMIT"),
                ),
            )
            .await;
            begun?;
            locked?;
            if on_copy_missed(checked)? {
                return Ok(None);
            }
            // A failed statement aborts the transaction and COMMIT then rolls it
            // back, answering "ROLLBACK" rather than an error: the batch committed
            // only if every statement succeeded.
            match (inserted, upserted, notified) {
                (Ok(inserted), Ok(_), Ok(_)) => (inserted, committed),
                (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                    if raced(&error) && committed.is_ok() {
                        // An id stored before (a redelivery of a dropped hop, an id
                        // of another call) or by a batch racing this one.
                        tracing::debug!(error = %describe(&error), "an event id is stored already");
                        return Ok(None);
                    }
                    return Err(BatchError::from(error));
                }
            }
        };
        committed?;
        let learned = writes.learned(inserted)?;
        Ok(Some(Committed {
            replaced: Vec::new(),
            learned,
            wrote: !fresh.is_empty(),
        }))
    }

    /// The careful way, in two round trips: locks the calls, then reads what the
    /// read model's copy lacks (newer events, a call begun anew read whole) and the
    /// stored rows of the batch's event ids, decides, writes and commits.
    async fn attempt_under_lock(
        &self,
        client: &Object,
        statements: &Statements,
        batch: &mut [Job],
    ) -> Result<Committed, BatchError> {
        let calls = BatchCalls::of(batch);
        let event_ids: Vec<String> = batch
            .iter()
            .map(|job| job.event_id().as_str().to_owned())
            .collect();
        // What this instance already holds of the calls; checked under the locks.
        let asked: Vec<&EventId> = batch.iter().map(Job::event_id).collect();
        let cached = self.follower.cached(&calls.refs(), &asked);
        let last_seqs: Vec<i64> = cached
            .seqs
            .iter()
            .map(|seqs| seqs.map_or(0, |seqs| seqs.last))
            .collect();

        // One round trip: the statements are pipelined, and run in order, so every
        // read after the locks sees everything committed before them.
        let (begun, locked, newer, firsts, stored) = join5(
            client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
            client.execute(&statements.lock, &[&calls.keys]),
            client.query(&statements.newer, &[&calls.call_ids, &last_seqs]),
            client.query(&statements.firsts, &[&calls.call_ids]),
            client.query(&statements.stored, &[&event_ids]),
        )
        .await;
        begun?;
        locked?;
        let (newer, firsts, stored) = (newer?, firsts?, stored?);

        // The copy of a call is good when it starts where the stored events start
        // (pruning and expiry remove a call's events all at once, so a call begun
        // again starts elsewhere) and the newer events complete it.
        let mut first_stored: HashMap<String, i64> = HashMap::with_capacity(firsts.len());
        for row in &firsts {
            first_stored.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let stale: Vec<&str> = calls
            .call_ids
            .iter()
            .zip(&cached.seqs)
            .filter(|(call_id, seqs)| {
                seqs.is_some_and(|seqs| first_stored.get(call_id.as_str()) != Some(&seqs.first))
            })
            .map(|(call_id, _)| call_id.as_str())
            .collect();
        let mut engine = cached.engine;
        let replaced: Vec<CallId> = stale
            .iter()
            .filter_map(|call_id| CallId::parse(call_id).ok())
            .collect();
        engine.forget_calls(&replaced);
        let reread = if stale.is_empty() {
            Vec::new()
        } else {
            client.query(&statements.whole_calls, &[&stale]).await?
        };

        // What the copy did not hold, in commit order, to be applied after the commit.
        // (A stale call's newer events are in its re-read already.)
        let mut learned: Vec<Sequenced> = Vec::with_capacity(newer.len() + reread.len());
        for row in reread.iter().chain(&newer) {
            let (seq, event) = decode(row).map_err(BatchError::Failed)?;
            let from_newer = learned.len() >= reread.len();
            if from_newer && stale.contains(&event.call_id().as_str()) {
                continue;
            }
            engine.replay(event.clone());
            learned.push((seq, event));
        }
        let mut stored_rows: HashMap<&str, &str> = HashMap::with_capacity(stored.len());
        for row in &stored {
            stored_rows.insert(row.try_get(0)?, row.try_get(1)?);
        }

        let mut fresh: Vec<EventId> = Vec::new();
        for job in batch.iter_mut() {
            let stored = stored_rows
                .get(job.event_id().as_str())
                .filter(|_| engine.recorded(job.event_id()).is_none());
            if let Some(text) = stored {
                let event: RecordedEvent = serde_json::from_str(text).map_err(|error| {
                    BatchError::Failed(format!("a stored event cannot be read: {error}"))
                })?;
                job.answer_from_stored(&event);
            } else if job.decide(&mut engine) {
                fresh.push(job.event_id().clone());
            }
        }
        let writes = Writes::of(&engine, &fresh, &self.instance)?;
        if writes.is_empty() {
            // Only redeliveries and refusals: nothing to write, but the locks go.
            client.batch_execute("COMMIT").await?;
            learned.sort_by_key(|(seq, _)| *seq);
            return Ok(Committed {
                replaced,
                learned,
                wrote: false,
            });
        }
        let (inserted, upserted, notified, committed) = join4(
            writes.insert(client, statements),
            writes.upsert(client, statements),
            writes.notify(client, statements),
            client.batch_execute("COMMIT"),
        )
        .await;
        // A failed statement aborts the transaction and COMMIT then rolls it back,
        // answering "ROLLBACK" rather than an error: the batch committed only if
        // every statement succeeded.
        let inserted = match (inserted, upserted, notified) {
            (Ok(inserted), Ok(_), Ok(_)) => inserted,
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                return Err(if raced(&error) && committed.is_ok() {
                    BatchError::Race(describe(&error))
                } else {
                    BatchError::from(error)
                });
            }
        };
        committed?;
        learned.extend(writes.learned(inserted)?);
        learned.sort_by_key(|(seq, _)| *seq);
        Ok(Committed {
            replaced,
            learned,
            wrote: true,
        })
    }
}

/// Lost a race on an event id (or deadlocked with one): the transaction rolled
/// back, and running the batch again finds the other's event.
fn raced(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(&SqlState::UNIQUE_VIOLATION) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
    )
}

/// Whether the check of [`Statements::current`] found the copy stale (its
/// division by zero); any other failure is the database's.
fn on_copy_missed(checked: Result<u64, tokio_postgres::Error>) -> Result<bool, BatchError> {
    match checked {
        Ok(_) => Ok(false),
        Err(error) if error.code() == Some(&SqlState::DIVISION_BY_ZERO) => {
            tracing::debug!("the read model's copy of a call was stale; reading under the lock");
            Ok(true)
        }
        Err(error) => Err(BatchError::from(error)),
    }
}

/// The batch's calls in lock order, with their lock keys.
struct BatchCalls {
    call_ids: Vec<String>,
    keys: Vec<i64>,
}

impl BatchCalls {
    fn of(batch: &[Job]) -> Self {
        let call_ids: Vec<String> = batch
            .iter()
            .map(|job| job.call_id().as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut keys: Vec<i64> = call_ids.iter().map(|id| call_lock_key(id)).collect();
        keys.sort_unstable();
        keys.dedup();
        Self { call_ids, keys }
    }

    fn refs(&self) -> Vec<&str> {
        self.call_ids.iter().map(String::as_str).collect()
    }
}

/// What a batch writes: its new events, the rows of the calls they touch and the
/// notifications announcing them.
struct Writes<'a> {
    written: Vec<&'a RecordedEvent>,
    rows: EventRows<'a>,
    calls: CallRows<'a>,
    payloads: Vec<String>,
}

impl<'a> Writes<'a> {
    fn of(engine: &'a Engine, fresh: &[EventId], instance: &str) -> Result<Self, BatchError> {
        let written: Vec<&RecordedEvent> =
            fresh.iter().filter_map(|id| engine.recorded(id)).collect();
        let touched: BTreeSet<&CallId> = written.iter().map(|event| event.call_id()).collect();
        Ok(Self {
            rows: EventRows::of(&written)?,
            calls: CallRows::of(engine, &touched),
            payloads: notices(instance, &written),
            written,
        })
    }

    fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    async fn insert(
        &self,
        client: &Object,
        statements: &Statements,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        client
            .query(
                &statements.insert,
                &[
                    &self.rows.event_ids,
                    &self.rows.call_ids,
                    &self.rows.kinds,
                    &self.rows.occurred_at,
                    &self.rows.records,
                ],
            )
            .await
    }

    async fn upsert(
        &self,
        client: &Object,
        statements: &Statements,
    ) -> Result<u64, tokio_postgres::Error> {
        client
            .execute(
                &statements.upsert,
                &[
                    &self.calls.call_ids,
                    &self.calls.ended_at,
                    &self.calls.last_loop_at,
                ],
            )
            .await
    }

    async fn notify(
        &self,
        client: &Object,
        statements: &Statements,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(&statements.notify, &[&self.payloads]).await
    }

    /// The new events with the `seq`s the insert returned.
    fn learned(&self, inserted: Vec<tokio_postgres::Row>) -> Result<Vec<Sequenced>, BatchError> {
        let mut seqs: HashMap<String, i64> = HashMap::with_capacity(inserted.len());
        for row in inserted {
            seqs.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(self
            .written
            .iter()
            .filter_map(|event| {
                seqs.get(event.event_id().as_str())
                    .map(|seq| (*seq, (*event).clone()))
            })
            .collect())
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
            let (kind, occurred_at) = (event.kind(), event.occurred_at());
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
