//! Shell: where call state lives. The engine decides; a [`CallStore`] keeps the
//! engine's state and (in durable implementations) commits each event and its
//! answer before the answer is returned.
//!
//! Implementations: [`MemoryStore`] (memory only, `--in-memory`), [`SqliteStore`]
//! (the durable default) and [`PostgresStore`] (`--database`, shared by several
//! instances). A store is handed the metrics registry the server serves and a
//! clock; it never creates either. It knows nothing of HTTP.

mod memory;
pub mod postgres;
pub mod sqlite;

pub use memory::{MemoryStore, lock_engine};
pub use postgres::{PostgresConfig, PostgresStore};
pub use sqlite::{OpenError, OpenReport, SqliteStore, StoreConfig};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::Timestamp;

use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, Outcome,
    TransferAnswer, TransferRequest, Verdict,
};
use crate::core::rules::Rules;

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

/// What `/readyz` says about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// `memory`, `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the store can take events right now.
    pub ready: bool,
    /// Why it cannot, or what else an operator should know (a live feed reconnecting).
    pub detail: Option<String>,
}

/// An event another instance sharing the store committed, for live views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    /// `transfer`, `end` or `callback`.
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

    /// Runs `read` with the engine's state; `read` must be quick (it holds a lock).
    /// For a store shared by several instances this is the instance's read model
    /// (every committed event, applied a few milliseconds after its commit): the
    /// dashboard's statistics read it. Verdicts never do.
    fn read(&self, read: &mut dyn FnMut(&Engine));

    /// One call as stored.
    fn call(&self, call_id: &str) -> StoreFuture<'_, Option<CallRecord>> {
        let mut found = None;
        self.read(&mut |engine| found = engine.call(call_id).cloned());
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

    /// Whether the store can take events now, for `/readyz`.
    fn status(&self) -> Pin<Box<dyn Future<Output = StoreStatus> + Send + '_>>;

    /// Events committed by other instances sharing this store, for live views;
    /// `None` for a store no other instance writes to.
    fn committed_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<CommittedEvent>> {
        None
    }
}
