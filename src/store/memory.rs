//! The memory-only store: the engine behind a mutex, nothing on disk.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::{CallStore, StoreError, StoreFuture, StoreStatus};
use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, Outcome, TransferAnswer,
    TransferRequest,
};
use crate::core::rules::Rules;

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

    fn status(&self) -> std::pin::Pin<Box<dyn Future<Output = StoreStatus> + Send + '_>> {
        Box::pin(std::future::ready(StoreStatus {
            backend: "memory",
            ready: true,
            detail: None,
        }))
    }
}
