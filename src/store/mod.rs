//! Shell: where call state lives. The engine decides; a [`CallStore`] keeps the
//! engine's state and (in durable implementations) commits each event and its
//! answer before the answer is returned.
//!
//! Implementations: [`MemoryStore`] (memory only, `--in-memory`), [`SqliteStore`]
//! (the durable default) and [`PostgresStore`] (`--database`, shared by several
//! instances). A store is handed the metrics registry the server serves and a
//! clock; it never creates either. It knows nothing of HTTP.

pub mod import;
mod memory;
pub mod postgres;
pub mod sqlite;
mod stats;

pub use import::HistoryImport;
pub use memory::{MemoryStore, lock_engine};
pub use postgres::{PostgresConfig, PostgresStore};
pub use sqlite::{OpenError, OpenReport, SqliteStore, StoreConfig};
pub use stats::StatsKeeper;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::Timestamp;

use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, EventId, Outcome,
    Promise, PromiseEvent, RecordedEvent, TransferAnswer, TransferRequest, Verdict,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The event could not be committed (or, for a read, the store could not be
    /// read); the caller should retry later.
    #[error("the store cannot accept events right now: {0}")]
    Unavailable(String),
}

/// What a store says about itself in `/readyz`: the one way a store tells why it
/// cannot take writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the store can answer events at all. `false` (the database does not
    /// answer) makes `/readyz` answer 503, so a load balancer sends events to an
    /// instance that can. A store that refuses only new events (a full database:
    /// redeliveries and reads are still answered) stays ready, with a `problem`.
    pub ready: bool,
    /// Why the store cannot take (some) writes now, or what else an operator must
    /// know (a live feed reconnecting), as one sentence that says what to do.
    pub problem: Option<String>,
}

impl StoreStatus {
    /// A store that takes every event.
    pub fn ready(backend: &'static str) -> Self {
        Self {
            backend,
            ready: true,
            problem: None,
        }
    }
}

/// The boxed future of [`CallStore::status`].
pub type StatusFuture<'a> = Pin<Box<dyn Future<Output = StoreStatus> + Send + 'a>>;

/// An event another instance sharing the store committed, for live views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    /// `transfer`, `end`, `callback` or `promise` (made or closed).
    pub kind: &'static str,
    pub call_id: String,
    pub verdict: Option<Verdict>,
}

/// Call state behind the webhook. Implementations must answer a redelivered event
/// with the stored answer and must not return an answer they have not kept.
pub trait CallStore: Send + Sync + 'static {
    fn record_transfer(
        &self,
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<TransferAnswer>>;

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>>;

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>>;

    /// Records a promise made or closed (`Engine::promise`); `rules` resolve the
    /// department a new promise names. Durable like every event.
    fn record_promise(
        &self,
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<Promise>>;

    /// The rules just put in force (at start and on each reload): the statistics
    /// judge follow-ups by their policy (`callback_within`) and keep their
    /// departments apart, whether or not an event has arrived since.
    fn rules_installed(&self, rules: &Arc<Rules>);

    /// Runs `read` with the engine's state; `read` must be quick (it holds a lock).
    /// For a store shared by several instances this is the instance's read model
    /// (every committed event, applied a few milliseconds after its commit): the
    /// dashboard's statistics read it. Verdicts never do.
    fn read(&self, read: &mut dyn FnMut(&Engine));

    /// Runs `read` on the dashboard's statistics index: aggregates kept up to date as
    /// events commit, behind a lock the writer never waits on (see [`StatsKeeper`]).
    /// It holds every committed event the store answered for; a store shared by
    /// several instances must feed it every instance's events, not only its own.
    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex));

    /// One call as stored.
    fn call(&self, call_id: &str) -> StoreFuture<'_, Option<CallRecord>> {
        let mut found = None;
        self.read(&mut |engine| found = engine.call(call_id).cloned());
        Box::pin(std::future::ready(Ok(found)))
    }

    /// The event recorded under `event_id`, with the answer it got.
    fn recorded(&self, event_id: &EventId) -> StoreFuture<'_, Option<RecordedEvent>> {
        let mut found = None;
        self.read(&mut |engine| found = engine.recorded(event_id).cloned());
        Box::pin(std::future::ready(Ok(found)))
    }

    /// Calls with loop findings, newest loop first.
    fn loops(&self, since: Option<Timestamp>, limit: usize) -> StoreFuture<'_, Vec<CallRecord>> {
        let mut calls = Vec::new();
        self.read(&mut |engine| {
            calls = engine.loops(since, limit).into_iter().cloned().collect();
        });
        Box::pin(std::future::ready(Ok(calls)))
    }

    /// Calls that have not ended.
    fn active_calls(&self) -> StoreFuture<'_, usize> {
        let mut count = 0;
        self.read(&mut |engine| count = engine.active_calls());
        Box::pin(std::future::ready(Ok(count)))
    }

    /// Whether the store can take events now and, if not all of them, why (for
    /// `/readyz`).
    fn status(&self) -> StatusFuture<'_>;

    /// Events committed by other instances sharing this store, for live views;
    /// `None` for a store no other instance writes to.
    fn committed_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<CommittedEvent>> {
        None
    }
}
