//! Reads straight from the database: one call, the calls with loops, the number of
//! open calls, and whether the database answers (for `/readyz`). Each is bounded
//! by the request timeout and answers 503 when the database cannot be read.

use std::time::{Duration, SystemTime};

use deadpool_postgres::{Object, Pool};
use jiff::Timestamp;

use super::describe;
use crate::core::engine::{CallRecord, Engine, RecordedEvent};
use crate::store::{StoreError, StoreStatus};

pub(super) struct Reads {
    pool: Pool,
    timeout: Duration,
    /// The hop cap, so a call read here is the record the engines hold.
    max_hops_kept: usize,
}

impl Reads {
    pub fn new(pool: Pool, timeout: Duration, max_hops_kept: usize) -> Self {
        Self {
            pool,
            timeout,
            max_hops_kept,
        }
    }

    /// The event stored under an id, with its answer.
    pub async fn recorded(&self, event_id: &str) -> Result<Option<RecordedEvent>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT record FROM loopguard_events WHERE event_id = $1")
                .await
                .map_err(unavailable)?;
            let row = client
                .query_opt(&statement, &[&event_id])
                .await
                .map_err(unavailable)?;
            row.map(|row| {
                let text: &str = row.try_get(0).map_err(unavailable)?;
                serde_json::from_str(text).map_err(|error| {
                    StoreError::Unavailable(format!("a stored event cannot be read: {error}"))
                })
            })
            .transpose()
        })
        .await
    }

    /// One call, rebuilt from its events.
    pub async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let engine = replay(
                &client,
                self.max_hops_kept,
                "SELECT record FROM loopguard_events WHERE call_id = $1 ORDER BY seq",
                &[&call_id],
            )
            .await?;
            Ok(engine.call(call_id).cloned())
        })
        .await
    }

    /// Calls with loop findings, newest loop first (by event time, then call id, as
    /// the engine orders them), optionally only those that looped since a time.
    pub async fn loops(
        &self,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<CallRecord>, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let since: Option<SystemTime> = since.map(Into::into);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    "SELECT call_id FROM loopguard_calls \
                     WHERE last_loop_at IS NOT NULL AND ($1::timestamptz IS NULL OR last_loop_at >= $1) \
                     ORDER BY last_loop_at DESC, call_id COLLATE \"C\" DESC LIMIT $2",
                    &[&since, &limit],
                )
                .await
                .map_err(unavailable)?;
            let call_ids: Vec<String> = rows
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            let engine = replay(
                &client,
                self.max_hops_kept,
                "SELECT record FROM loopguard_events WHERE call_id = ANY($1::text[]) ORDER BY seq",
                &[&call_ids],
            )
            .await?;
            // The engine's own order: the database keeps microseconds, the engine
            // nanoseconds.
            Ok(engine.loops(None, call_ids.len()).into_iter().cloned().collect())
        })
        .await
    }

    /// Calls that have not ended.
    pub async fn active_calls(&self) -> Result<usize, StoreError> {
        self.bounded(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT count(*) FROM loopguard_calls WHERE ended_at IS NULL",
                    &[],
                )
                .await
                .map_err(unavailable)?;
            let count: i64 = row.try_get(0).map_err(unavailable)?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    /// Ready when a connection answers a query within the timeout.
    pub async fn status(&self) -> StoreStatus {
        let checked = self
            .bounded(async {
                let client = self.client().await?;
                client.simple_query("SELECT 1").await.map_err(unavailable)?;
                Ok(())
            })
            .await;
        match checked {
            Ok(()) => StoreStatus::ready("postgres"),
            Err(error) => StoreStatus {
                backend: "postgres",
                ready: false,
                problem: Some(match error {
                    StoreError::Unavailable(message) => {
                        format!("{message}: every event is answered 503 until it answers again")
                    }
                    StoreError::Engine(error) => error.to_string(),
                }),
            },
        }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(format!("cannot reach the database: {error}")))
    }

    async fn bounded<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, read)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the database did not answer within {} ms",
                    self.timeout.as_millis()
                )))
            })
    }
}

/// A fresh engine with the events a query returns, replayed in order.
async fn replay(
    client: &Object,
    max_hops_kept: usize,
    query: &str,
    parameters: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Engine, StoreError> {
    let statement = client.prepare_cached(query).await.map_err(unavailable)?;
    let rows = client
        .query(&statement, parameters)
        .await
        .map_err(unavailable)?;
    let mut engine = Engine::new().with_max_hops_kept(max_hops_kept);
    for row in &rows {
        let text: &str = row.try_get(0).map_err(unavailable)?;
        let event: RecordedEvent = serde_json::from_str(text).map_err(|error| {
            StoreError::Unavailable(format!("a stored event cannot be read: {error}"))
        })?;
        engine.replay(event);
    }
    Ok(engine)
}

fn unavailable(error: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("the database failed: {}", describe(&error)))
}
