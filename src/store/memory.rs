//! The memory-only store: the engine behind a mutex, nothing on disk. Ended calls
//! past the retention age and open calls idle too long are forgotten every
//! [`SWEEP_EVERY`] events, so memory stays bounded here too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

use super::{CallStore, StoreError, StoreFuture};
use crate::core::engine::{
    CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, Outcome, TransferAnswer,
    TransferRequest,
};
use crate::core::rules::Rules;

/// Events between two sweeps for old calls.
pub const SWEEP_EVERY: u64 = 1024;

/// Keeps the engine in memory. Nothing survives a restart.
pub struct MemoryStore {
    // A std mutex: it is never held across an await, and the critical section is
    // a few microseconds (see mini-redis's db.rs for the reasoning).
    engine: Mutex<Engine>,
    retention: SignedDuration,
    open_call_max_idle: SignedDuration,
    events: AtomicU64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_limits(
            SignedDuration::from_hours(7 * 24),
            SignedDuration::from_hours(24),
            crate::core::engine::DEFAULT_MAX_HOPS_KEPT,
        )
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets ended calls older than `retention` and open calls idle longer than
    /// `open_call_max_idle`; keeps `max_hops_kept` hops per call.
    pub fn with_limits(
        retention: SignedDuration,
        open_call_max_idle: SignedDuration,
        max_hops_kept: usize,
    ) -> Self {
        Self {
            engine: Mutex::new(Engine::new().with_max_hops_kept(max_hops_kept)),
            retention,
            open_call_max_idle,
            events: AtomicU64::new(0),
        }
    }

    /// The engine, swept for old calls every [`SWEEP_EVERY`] events.
    fn engine(&self, now: Timestamp) -> std::sync::MutexGuard<'_, Engine> {
        let mut engine = lock_engine(&self.engine);
        if self.events.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            if let Ok(cutoff) = now.checked_sub(self.retention) {
                engine.evict_ended_before(cutoff);
            }
            if let Ok(cutoff) = now.checked_sub(self.open_call_max_idle) {
                let idle = engine.idle_open_calls(cutoff, usize::MAX);
                engine.forget_calls(&idle);
            }
        }
        engine
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
            .engine(received_at)
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
            .engine(received_at)
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
            .engine(received_at)
            .mark_callback(request, received_at)
            .map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&lock_engine(&self.engine));
    }
}
