//! The memory-only store: the engine behind a mutex, nothing on disk. Ended calls
//! past the retention age and open calls idle too long are forgotten every
//! [`SWEEP_EVERY`] events, so memory stays bounded here too. The statistics index
//! beside the engine is told about every change, removals included.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

use super::{CallStore, StatsKeeper, StatusFuture, StoreError, StoreFuture, StoreStatus};
use crate::core::engine::{
    CallId, CallRecord, CallbackRequest, EndAnswer, EndRequest, Engine, Outcome, Promise,
    PromiseEvent, TransferAnswer, TransferRequest,
};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;

/// Events between two sweeps for old calls.
pub const SWEEP_EVERY: u64 = 1024;

/// Keeps the engine in memory. Nothing survives a restart.
pub struct MemoryStore {
    // A std mutex: it is never held across an await, and the critical section is
    // a few microseconds (see mini-redis's db.rs for the reasoning).
    engine: Mutex<Engine>,
    stats: StatsKeeper,
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
        let engine = Engine::new().with_max_hops_kept(max_hops_kept);
        Self {
            stats: StatsKeeper::new(&engine),
            engine: Mutex::new(engine),
            retention,
            open_call_max_idle,
            events: AtomicU64::new(0),
        }
    }

    /// The engine, swept for old calls every [`SWEEP_EVERY`] events.
    fn engine(&self, now: Timestamp) -> std::sync::MutexGuard<'_, Engine> {
        let mut engine = lock_engine(&self.engine);
        if self.events.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let mut removed: Vec<CallId> = Vec::new();
            if let Ok(cutoff) = now.checked_sub(self.retention) {
                removed.extend(engine.evict_ended_before(cutoff));
            }
            if let Ok(cutoff) = now.checked_sub(self.open_call_max_idle) {
                let idle = engine.idle_open_calls(cutoff, usize::MAX);
                engine.forget_calls(&idle);
                removed.extend(idle);
            }
            if !removed.is_empty() {
                self.stats.calls_removed(&removed);
            }
        }
        engine
    }

    /// Runs one event through the engine and tells the statistics about the call
    /// when the event was new.
    fn record<T>(
        &self,
        call_id: CallId,
        received_at: Timestamp,
        event: impl FnOnce(&mut Engine) -> Result<Outcome<T>, crate::core::engine::EngineError>,
    ) -> Result<Outcome<T>, StoreError> {
        let mut engine = self.engine(received_at);
        let result = event(&mut engine).map_err(StoreError::from);
        if matches!(&result, Ok(outcome) if !outcome.replayed) {
            self.stats.calls_changed(&engine, [&call_id]);
        }
        result
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
        let result = self.record(request.call_id.clone(), received_at, |engine| {
            engine.transfer(&rules, request, received_at)
        });
        Box::pin(std::future::ready(result))
    }

    fn end_call(
        &self,
        request: EndRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<EndAnswer>> {
        let result = self.record(request.call_id.clone(), received_at, |engine| {
            engine.end_call(request, received_at)
        });
        Box::pin(std::future::ready(result))
    }

    fn mark_callback(
        &self,
        request: CallbackRequest,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<CallRecord>> {
        let result = self.record(request.call_id.clone(), received_at, |engine| {
            engine.mark_callback(request, received_at)
        });
        Box::pin(std::future::ready(result))
    }

    fn record_promise(
        &self,
        rules: Arc<Rules>,
        event: PromiseEvent,
        received_at: Timestamp,
    ) -> StoreFuture<'_, Outcome<Promise>> {
        self.stats.rules_seen(&rules);
        let result = self.record(event.call_id().clone(), received_at, |engine| {
            engine.promise(&rules, event, received_at)
        });
        Box::pin(std::future::ready(result))
    }

    fn rules_installed(&self, rules: &Arc<Rules>) {
        self.stats.rules_seen(rules);
    }

    fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&lock_engine(&self.engine));
    }

    fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex)) {
        self.stats.read(read);
    }

    fn status(&self) -> StatusFuture<'_> {
        Box::pin(std::future::ready(StoreStatus::ready("memory")))
    }
}
