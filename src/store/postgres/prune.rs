//! Retention: ended calls older than the retention age are deleted, by one
//! instance at a time, in small transactions that never wait for a call lock.
//!
//! Each pruning transaction first try-locks [`PRUNE_LOCK`]: when another instance
//! holds it, this one skips its turn. It then try-locks each candidate call (the
//! writers' lock) and deletes only the calls it got, checking their end again under
//! the lock, so a batch judging a call never sees it vanish halfway. Every instance
//! also forgets the same calls from its read model.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};

use super::describe;
use super::follower::Follower;
use super::schema::{PRUNE_LOCK, call_lock_key};
use crate::clock::Clock;

/// Ended calls removed per pruning transaction.
const PRUNE_BATCH: i64 = 500;

/// Prunes every `interval` for the life of the store.
pub(super) async fn run(
    pool: Pool,
    follower: Arc<Follower>,
    clock: Clock,
    retention: SignedDuration,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: prune once at start, like the SQLite store.
    loop {
        ticks.tick().await;
        let Ok(cutoff) = clock.now().checked_sub(retention) else {
            continue;
        };
        follower.evict_ended_before(cutoff);
        match prune(&pool, cutoff).await {
            Ok(None | Some(0)) => {}
            Ok(Some(calls)) => tracing::info!(calls, "pruned ended calls past the retention age"),
            Err(error) => tracing::warn!(%error, "pruning old calls failed; will try again later"),
        }
    }
}

/// Deletes ended calls that ended before `cutoff`; returns how many, or `None` at
/// once when another instance is pruning.
pub(super) async fn prune(pool: &Pool, cutoff: Timestamp) -> Result<Option<u64>, String> {
    let mut removed = 0;
    loop {
        match prune_batch(pool, cutoff).await? {
            None if removed == 0 => return Ok(None),
            Some(0) | None => return Ok(Some(removed)),
            Some(count) => removed += count,
        }
    }
}

/// One transaction; `None` when another instance holds the pruning lock.
async fn prune_batch(pool: &Pool, cutoff: Timestamp) -> Result<Option<u64>, String> {
    let mut client = pool.get().await.map_err(|error| error.to_string())?;
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
        .query(
            "SELECT call_id FROM loopguard_calls WHERE ended_at < $1 ORDER BY ended_at LIMIT $2",
            &[&cutoff, &PRUNE_BATCH],
        )
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
        .query(
            "DELETE FROM loopguard_calls WHERE call_id = ANY($1::text[]) AND ended_at < $2 \
             RETURNING call_id",
            &[&locked, &cutoff],
        )
        .await
        .map_err(database)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(database)?;
    transaction
        .execute(
            "DELETE FROM loopguard_events WHERE call_id = ANY($1::text[])",
            &[&deleted],
        )
        .await
        .map_err(database)?;
    transaction.commit().await.map_err(database)?;
    Ok(Some(deleted.len() as u64))
}
