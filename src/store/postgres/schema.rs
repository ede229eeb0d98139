//! The PostgreSQL schema: versioned migrations run at start under an advisory
//! lock, and the advisory-lock keys every instance agrees on.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// The schema version this build writes. Older databases are migrated on start.
pub const SCHEMA_VERSION: i32 = 2;

/// Migrations, one per version: `MIGRATIONS[n]` takes a database from version `n`
/// to `n + 1`. Append; never edit a released one.
///
/// `loopguard_events` is the truth: every event with the answer it got (`record`,
/// the JSON of a `RecordedEvent`), `seq` in commit order per call. `loopguard_calls`
/// is an index over it, written in the same transaction: when a call ended and
/// when it last looped, for `/v1/loops`, the active-call count and pruning; since
/// version 2 also when it last had an event (commit time, the database's clock),
/// for the expiry of open calls whose end never came.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE loopguard_events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text NOT NULL UNIQUE,
        call_id text NOT NULL,
        kind text NOT NULL,
        occurred_at timestamptz NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now(),
        record text NOT NULL
    );
    CREATE INDEX loopguard_events_by_call ON loopguard_events (call_id, seq);
    CREATE TABLE loopguard_calls (
        call_id text PRIMARY KEY,
        ended_at timestamptz,
        last_loop_at timestamptz
    );
    CREATE INDEX loopguard_calls_open ON loopguard_calls (call_id) WHERE ended_at IS NULL;
    CREATE INDEX loopguard_calls_by_end ON loopguard_calls (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX loopguard_calls_by_loop ON loopguard_calls (last_loop_at DESC, call_id COLLATE "C" DESC)
        WHERE last_loop_at IS NOT NULL;
"#,
    // `last_event_at` changes with every event, so it has no index of its own:
    // updating an indexed column would make every event's update of the call
    // rewrite all of the table's indexes (no HOT update). Expiry scans the open
    // calls once per pruning round instead; free space on each page (fillfactor)
    // keeps the updates on the page.
    r#"
    ALTER TABLE loopguard_calls ADD COLUMN last_event_at timestamptz NOT NULL DEFAULT now();
    UPDATE loopguard_calls c SET last_event_at = e.last
        FROM (SELECT call_id, max(committed_at) AS last FROM loopguard_events GROUP BY call_id) e
        WHERE e.call_id = c.call_id;
    ALTER TABLE loopguard_calls SET (fillfactor = 70);
"#,
];

/// Held (session level) while one instance migrates; others starting at the same
/// time wait on it, then find the schema current.
const MIGRATION_LOCK: i64 = 0x6c6f_6f70_6775_0001;
/// Held (transaction level, try-lock) by the one instance pruning or expiring
/// calls at a time.
pub const PRUNE_LOCK: i64 = 0x6c6f_6f70_6775_0002;

/// The advisory-lock key of a call: the first 8 bytes of SHA-256 over the call id.
/// The same in every instance and every version; two calls sharing a key only
/// wait for each other, they are never confused (the lock guards nothing but time).
pub fn call_lock_key(call_id: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"loopguard-call:")
        .chain_update(call_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Why the schema could not be brought to this build's version.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error("schema version {found} is newer than this loopguard understands ({SCHEMA_VERSION})")]
    Newer { found: i32 },
}

/// Brings the schema to [`SCHEMA_VERSION`] under [`MIGRATION_LOCK`], one
/// transaction per migration; refuses a schema newer than this build.
/// `client` must be a connection of its own: the lock is held by its session.
pub async fn migrate(client: &Client) -> Result<i32, MigrateError> {
    // Another instance may be migrating: wait for it as long as it takes (the
    // session's usual lock and statement timeouts are for the webhook's path).
    client
        .batch_execute(&format!(
            "SET lock_timeout = 0; SET statement_timeout = '5min'; \
             SELECT pg_advisory_lock({MIGRATION_LOCK})"
        ))
        .await?;
    let result = migrate_locked(client).await;
    // Unlocking fails only with the connection, which releases the lock anyway.
    let _ = client
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .await;
    result
}

async fn migrate_locked(client: &Client) -> Result<i32, MigrateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS loopguard_schema (
                 only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                 version integer NOT NULL
             )",
        )
        .await?;
    let found: i32 = client
        .query_opt("SELECT version FROM loopguard_schema", &[])
        .await?
        .map(|row| row.get(0))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(MigrateError::Newer { found });
    }
    // A failed migration leaves its transaction open; the caller drops the
    // connection, which rolls it back.
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        client
            .batch_execute(&format!(
                "BEGIN; {migration}; \
                 INSERT INTO loopguard_schema (version) VALUES ({version}) \
                     ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version; \
                 COMMIT"
            ))
            .await?;
    }
    Ok(SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_lock_keys_are_stable_and_distinct() {
        // Instances of different versions must agree: the key is part of the protocol.
        assert_eq!(call_lock_key("c1"), call_lock_key("c1"));
        assert_ne!(call_lock_key("c1"), call_lock_key("c2"));
        // SHA-256("loopguard-call:call-1"), first 8 bytes big-endian, as computed by sha256sum.
        assert_eq!(call_lock_key("call-1"), -1_934_679_415_740_380_251);
    }
}
