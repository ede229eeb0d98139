//! The memory-only store: the engine behind a mutex, nothing on disk.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::{CallStore, StatsKeeper, StoreError, StoreFuture};
use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, Outcome, TransferAnswer,
    TransferRequest,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;

/// Keeps the engine in memory. Nothing survives a restart.
pub struct MemoryStore {
    // A std mutex: it is never held across an await, and the critical section is
    // a few microseconds (see mini-redis's db.rs for the reasoning).
    engine: Mutex<Engine>,
    stats: StatsKeeper,
}

impl Default for MemoryStore {
    fn default() -> Self {
        let engine = Engine::new();
        Self {
            stats: StatsKeeper::new(&engine),
            engine: Mutex::new(engine),
        }
    }
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
        self.stats.rules_seen(&rules);
        let call_id = request.call_id.clone();
        let mut engine = self.engine();
        let result = engine
            .transfer(&rules, request, received_at)
            .map_err(StoreError::from);
        if matches!(&result, Ok(outcome) if !outcome.replayed) {
            self.stats.calls_changed(&engine, [&call_id]);
        }
        Box::pin(std::future::ready(result))
    }

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>> {
        let call_id = request.call_id.clone();
        let mut engine = self.engine();
        let result = engine
            .end_call(request, received_at)
            .map_err(StoreError::from);
        if matches!(&result, Ok(outcome) if !outcome.replayed) {
            self.stats.calls_changed(&engine, [&call_id]);
        }
        Box::pin(std::future::ready(result))
    }

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>> {
        let call_id = request.call_id.clone();
        let mut engine = self.engine();
        let result = engine
            .mark_callback(request, received_at)
            .map_err(StoreError::from);
        if matches!(&result, Ok(outcome) if !outcome.replayed) {
            self.stats.calls_changed(&engine, [&call_id]);
        }
        Box::pin(std::future::ready(result))
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&self.engine());
    }

    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex)) {
        self.stats.read(read);
    }
}
