//! Shell: where call state lives. The engine decides; a [`CallStore`] keeps the
//! engine's state and (in durable implementations) commits each event and its
//! answer before the answer is returned.
//!
//! Implementations: [`MemoryStore`] (memory only, `--in-memory`) and [`SqliteStore`]
//! (the durable default). A store is handed the metrics registry the server serves
//! and a clock; it never creates either. It knows nothing of HTTP.

pub mod import;
mod memory;
pub mod sqlite;
mod stats;

pub use import::HistoryImport;
pub use memory::{MemoryStore, lock_engine};
pub use sqlite::{OpenError, OpenReport, SqliteStore, StoreConfig};
pub use stats::StatsKeeper;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::Timestamp;

use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, Outcome, Promise,
    PromiseEvent, TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The event could not be committed; the caller should retry later.
    #[error("the store cannot accept events right now: {0}")]
    Unavailable(String),
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
    fn read(&self, read: &mut dyn FnMut(&Engine));

    /// Runs `read` on the dashboard's statistics index: aggregates kept up to date as
    /// events commit, behind a lock the writer never waits on (see [`StatsKeeper`]).
    /// It holds every committed event the store answered for; a store shared by
    /// several instances must feed it every instance's events, not only its own.
    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex));

    fn call(&self, call_id: &str) -> Option<CallRecord> {
        let mut found = None;
        self.read(&mut |engine| found = engine.call(call_id).cloned());
        found
    }

    fn loops(&self, since: Option<Timestamp>, limit: usize) -> Vec<CallRecord> {
        let mut calls = Vec::new();
        self.read(&mut |engine| {
            calls = engine.loops(since, limit).into_iter().cloned().collect();
        });
        calls
    }

    /// Why the store cannot take writes now (for `/readyz`), if it cannot.
    fn write_problem(&self) -> Option<String> {
        None
    }

    fn active_calls(&self) -> usize {
        let mut count = 0;
        self.read(&mut |engine| count = engine.active_calls());
        count
    }
}
