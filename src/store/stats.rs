//! The statistics index beside a store's engine: told about every call that changed
//! after each commit, read by the dashboard, and never waited on by the writer.
//!
//! The writer only appends to a short queue of changes (a lock held for a push) and
//! applies the queue itself when the index is free (`try_lock`); a reader takes the
//! index, applies whatever is queued, and reads. So a dashboard computing a view
//! delays no webhook request: the changes wait for it, not the writer.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crate::core::engine::{CallId, CallRecord, Engine};
use crate::core::rules::Rules;
use crate::core::stats::StatsIndex;

enum Change {
    Call(Box<CallRecord>),
    Removed(CallId),
    Rules(Arc<Rules>),
    Rebuilt(Box<StatsIndex>),
}

pub struct StatsKeeper {
    index: Mutex<StatsIndex>,
    pending: Mutex<Vec<Change>>,
    /// The newest rules seen, so that a rebuild keeps their departments apart.
    rules: Mutex<Option<Arc<Rules>>>,
}

impl StatsKeeper {
    /// The index over the calls already in `engine` (loaded at start).
    pub fn new(engine: &Engine) -> Self {
        Self {
            index: Mutex::new(StatsIndex::from_calls(engine.calls(), None)),
            pending: Mutex::new(Vec::new()),
            rules: Mutex::new(None),
        }
    }

    /// Notes the rules a request was judged with; their departments are always kept
    /// apart in the index. Cheap when the rules did not change (a pointer comparison).
    pub fn rules_seen(&self, rules: &Arc<Rules>) {
        let mut newest = relock(self.rules.lock());
        if newest
            .as_ref()
            .is_some_and(|newest| Arc::ptr_eq(newest, rules))
        {
            return;
        }
        *newest = Some(rules.clone());
        drop(newest);
        self.queue(Change::Rules(rules.clone()));
    }

    /// Tells the index about calls whose records changed (after a commit).
    ///
    /// When no reader holds the index (the usual case) the records are applied in
    /// place, straight from the engine; only while a reader holds it are they copied
    /// and queued, so the caller never waits.
    pub fn calls_changed<'a>(
        &self,
        engine: &Engine,
        call_ids: impl IntoIterator<Item = &'a CallId>,
    ) {
        let mut index = match self.index.try_lock() {
            Ok(index) => index,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let changes = call_ids
                    .into_iter()
                    .map(|call_id| match engine.call(call_id.as_str()) {
                        Some(record) => Change::Call(Box::new(record.clone())),
                        None => Change::Removed(call_id.clone()),
                    })
                    .collect();
                self.queue_all(changes);
                return;
            }
        };
        // Changes queued earlier go first, so the index sees them in order.
        self.apply_pending(&mut index);
        for call_id in call_ids {
            match engine.call(call_id.as_str()) {
                Some(record) => index.update(record),
                None => index.remove(call_id),
            }
        }
    }

    /// Tells the index about calls the engine forgot (pruned or expired).
    pub fn calls_removed(&self, call_ids: &[CallId]) {
        self.queue_all(call_ids.iter().cloned().map(Change::Removed).collect());
    }

    /// Rebuilds the index from an engine rebuilt from disk.
    pub fn rebuild(&self, engine: &Engine) {
        let rules = relock(self.rules.lock()).clone();
        let index = StatsIndex::from_calls(engine.calls(), rules.as_deref());
        self.queue(Change::Rebuilt(Box::new(index)));
    }

    /// Runs `read` on the index, up to date with every change queued before the call.
    pub fn read<T>(&self, read: impl FnOnce(&StatsIndex) -> T) -> T {
        let mut index = relock(self.index.lock());
        self.apply_pending(&mut index);
        read(&index)
    }

    fn queue(&self, change: Change) {
        self.queue_all(vec![change]);
    }

    fn queue_all(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        relock(self.pending.lock()).extend(changes);
        // A reader holding the index will apply the queue itself; never wait for it.
        let index = match self.index.try_lock() {
            Ok(index) => index,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let mut index = index;
        self.apply_pending(&mut index);
    }

    fn apply_pending(&self, index: &mut StatsIndex) {
        let changes = std::mem::take(&mut *relock(self.pending.lock()));
        for change in changes {
            match change {
                Change::Call(record) => index.update(&record),
                Change::Removed(call_id) => index.remove(&call_id),
                Change::Rules(rules) => index.set_rules(&rules),
                Change::Rebuilt(rebuilt) => {
                    let previous = index.version();
                    *index = *rebuilt;
                    index.continue_versions_after(previous);
                }
            }
        }
    }
}

/// A panic while holding a lock would be a bug in the index; what it left is still
/// the best we have, so keep serving it (like `lock_engine`).
fn relock<'a, T>(
    result: Result<MutexGuard<'a, T>, PoisonError<MutexGuard<'a, T>>>,
) -> MutexGuard<'a, T> {
    result.unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::{EventId, TransferRequest};
    use crate::core::stats::Window;
    use jiff::{SignedDuration, Timestamp};

    #[test]
    fn changes_queued_while_a_reader_holds_the_index_are_applied_by_the_next_read() {
        let rules = Arc::new(Rules::default());
        let mut engine = Engine::new();
        let keeper = StatsKeeper::new(&engine);
        keeper.rules_seen(&rules);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let window = Window::ending_at(
            now,
            SignedDuration::from_hours(1),
            SignedDuration::from_mins(5),
        );
        let transfer = |engine: &mut Engine, event: &str| {
            let request = TransferRequest {
                event_id: EventId::parse(event).unwrap(),
                call_id: CallId::parse("call").unwrap(),
                from: "a".to_owned(),
                to: "b".to_owned(),
                mode: None,
                intent: None,
                callback_number: None,
                agent_id: None,
                occurred_at: Some(now - SignedDuration::from_mins(1)),
            };
            engine.transfer(&rules, request, now).unwrap();
        };
        transfer(&mut engine, "e1");
        let call_id = CallId::parse("call").unwrap();
        keeper.read(|index| {
            // The writer does not wait for this reader: the change is only queued.
            transfer(&mut engine, "e2");
            keeper.calls_changed(&engine, [&call_id]);
            assert_eq!(index.overview(&window).transfers, 0);
        });
        assert_eq!(keeper.read(|index| index.overview(&window).transfers), 2);
        keeper.calls_removed(&[call_id]);
        assert_eq!(keeper.read(|index| index.len()), 0);
    }
}
