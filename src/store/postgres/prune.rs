//! Retention and expiry: ended calls older than the retention age, and open calls
//! with no event for longer than `--open-call-max-idle` (their end never came), are
//! deleted by one instance at a time, in small transactions that never wait for a
//! call lock.
//!
//! Each transaction first try-locks [`PRUNE_LOCK`]: when another instance holds
//! it, this one skips its turn. It then try-locks each candidate call (the writers'
//! lock) and deletes only the calls it got, checking the condition again under the
//! lock, so a batch judging a call never sees it vanish halfway. In the same
//! transaction it notifies the deleted calls with the last `seq` deleted of each,
//! so every instance forgets exactly what the database lost (`follower.rs`); this
//! instance forgets them at once after the commit.
//!
//! An open call's idleness is measured by commit time (`last_event_at`, written by
//! every batch that touches the call), the database's clock, like the SQLite
//! store's time of receipt; the cutoff comes from this instance's clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};

use super::describe;
use super::follower::{CHANNEL, Follower, RemovedCall, removal_notices};
use super::schema::{PRUNE_LOCK, call_lock_key};
use crate::clock::Clock;
use crate::metrics::Metrics;

/// Calls removed per transaction.
const PRUNE_BATCH: i64 = 500;

/// Which calls a sweep deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
    /// Ended before the cutoff (retention).
    Ended,
    /// Open, with no event committed since the cutoff (expiry).
    Idle,
}

impl Sweep {
    /// `$1` the cutoff, `$2` how many.
    fn candidates(self) -> &'static str {
        match self {
            Sweep::Ended => {
                "SELECT call_id FROM loopguard_calls WHERE ended_at < $1 ORDER BY ended_at LIMIT $2"
            }
            Sweep::Idle => {
                "SELECT call_id FROM loopguard_calls WHERE ended_at IS NULL AND last_event_at < $1 \
                 ORDER BY last_event_at LIMIT $2"
            }
        }
    }

    /// `$1` the locked calls, `$2` the cutoff: the condition checked again.
    fn delete(self) -> &'static str {
        match self {
            Sweep::Ended => {
                "DELETE FROM loopguard_calls WHERE call_id = ANY($1::text[]) AND ended_at < $2 \
                 RETURNING call_id"
            }
            Sweep::Idle => {
                "DELETE FROM loopguard_calls WHERE call_id = ANY($1::text[]) AND ended_at IS NULL \
                 AND last_event_at < $2 RETURNING call_id"
            }
        }
    }
}

/// What the pruner needs, for the life of the store.
pub(super) struct Pruner {
    pub pool: Pool,
    pub follower: Arc<Follower>,
    pub instance: String,
    pub metrics: Metrics,
}

impl Pruner {
    /// Prunes and expires every `interval` for the life of the store; the first
    /// round is at once, like the SQLite store's.
    pub async fn run(
        self: Arc<Self>,
        clock: Clock,
        retention: SignedDuration,
        open_call_max_idle: SignedDuration,
        interval: Duration,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = clock.now();
            if let Ok(cutoff) = now.checked_sub(retention) {
                match self.sweep(Sweep::Ended, cutoff).await {
                    Ok(None | Some(0)) => {}
                    Ok(Some(calls)) => {
                        tracing::info!(calls, "pruned ended calls past the retention age");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "pruning old calls failed; will try again later");
                    }
                }
            }
            if let Ok(cutoff) = now.checked_sub(open_call_max_idle) {
                match self.sweep(Sweep::Idle, cutoff).await {
                    Ok(None | Some(0)) => {}
                    Ok(Some(calls)) => tracing::info!(
                        calls,
                        "forgot open calls with no event for longer than --open-call-max-idle"
                    ),
                    Err(error) => tracing::warn!(
                        %error,
                        "expiring idle open calls failed; will try again later"
                    ),
                }
            }
        }
    }

    /// Deletes every call the sweep selects at `cutoff`; returns how many, or
    /// `None` at once when another instance is pruning.
    pub async fn sweep(&self, sweep: Sweep, cutoff: Timestamp) -> Result<Option<u64>, String> {
        let mut removed = 0;
        loop {
            match self.sweep_batch(sweep, cutoff).await? {
                None if removed == 0 => return Ok(None),
                Some(0) | None => return Ok(Some(removed)),
                Some(count) => {
                    removed += count;
                    if sweep == Sweep::Idle {
                        self.metrics.calls_expired.inc_by(count);
                    }
                }
            }
        }
    }

    /// One transaction; `None` when another instance holds the pruning lock.
    async fn sweep_batch(&self, sweep: Sweep, cutoff: Timestamp) -> Result<Option<u64>, String> {
        let mut client = self.pool.get().await.map_err(|error| error.to_string())?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| describe(&error))?;
        let database = |error: tokio_postgres::Error| describe(&error);
        let cutoff: SystemTime = cutoff.into();
        let ours: bool = transaction
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
            .await
            .map_err(database)?
            .try_get(0)
            .map_err(database)?;
        if !ours {
            return Ok(None);
        }
        let candidates: Vec<String> = transaction
            .query(sweep.candidates(), &[&cutoff, &PRUNE_BATCH])
            .await
            .map_err(database)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(database)?;
        if candidates.is_empty() {
            return Ok(Some(0));
        }
        // Try-locks never wait, so their order does not matter; a call being judged
        // right now is left for the next round.
        let keys: Vec<i64> = candidates.iter().map(|id| call_lock_key(id)).collect();
        let locked: Vec<String> = transaction
            .query(
                "SELECT call_id FROM unnest($1::text[], $2::int8[]) AS candidate (call_id, key) \
                 WHERE pg_try_advisory_xact_lock(key)",
                &[&candidates, &keys],
            )
            .await
            .map_err(database)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(database)?;
        let deleted: Vec<String> = transaction
            .query(sweep.delete(), &[&locked, &cutoff])
            .await
            .map_err(database)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(database)?;
        if deleted.is_empty() {
            // Every candidate was busy or changed meanwhile: try again next round.
            transaction.commit().await.map_err(database)?;
            return Ok(Some(0));
        }
        let upto: HashMap<String, i64> = transaction
            .query(
                "WITH gone AS (DELETE FROM loopguard_events WHERE call_id = ANY($1::text[]) \
                 RETURNING call_id, seq) SELECT call_id, max(seq) FROM gone GROUP BY call_id",
                &[&deleted],
            )
            .await
            .map_err(database)?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(database)?;
        let removed: Vec<RemovedCall> = deleted
            .into_iter()
            .map(|call_id| RemovedCall {
                upto: upto.get(&call_id).copied().unwrap_or(0),
                call_id,
            })
            .collect();
        transaction
            .execute(
                &format!(
                    "SELECT pg_notify('{CHANNEL}', payload) FROM unnest($1::text[]) AS payload"
                ),
                &[&removal_notices(&self.instance, &removed)],
            )
            .await
            .map_err(database)?;
        transaction.commit().await.map_err(database)?;
        self.follower.forget_deleted(&removed);
        Ok(Some(removed.len() as u64))
    }
}
