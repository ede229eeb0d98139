//! Where call state lives. The engine decides; a [`CallStore`] keeps the engine's
//! state and (in durable implementations) commits each event and its answer before
//! the answer is returned. [`MemoryStore`] keeps everything in memory only.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, EngineError, Outcome,
    TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;

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

    /// Runs `read` with the engine's state; `read` must be quick (it holds a lock).
    fn read(&self, read: &mut dyn FnMut(&Engine));

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

    fn active_calls(&self) -> usize {
        let mut count = 0;
        self.read(&mut |engine| count = engine.active_calls());
        count
    }
}

/// Keeps the engine in memory. Nothing survives a restart.
#[derive(Default)]
pub struct MemoryStore {
    // A std mutex: it is never held across an await, and the critical section is
    // a few microseconds (see mini-redis's db.rs for the reasoning).
    engine: Mutex<Engine>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Engine> {
        lock_engine(&self.engine)
    }
}

/// Locks an engine. A panic while holding the lock would be a bug in the engine;
/// the state it left is still the best we have, so keep serving it.
pub fn lock_engine(engine: &Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    engine
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CallStore for MemoryStore {
    fn record_transfer(
        &self,
        rules: Arc<Rules>,
        request: TransferRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<TransferAnswer>> {
        let result = self
            .engine()
            .transfer(&rules, request, received_at)
            .map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>> {
        let result = self
            .engine()
            .end_call(request, received_at)
            .map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>> {
        let result = self
            .engine()
            .mark_callback(request, received_at)
            .map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&self.engine());
    }
}
