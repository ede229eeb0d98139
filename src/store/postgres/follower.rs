//! This instance's read model: an engine replaying every committed event, for the
//! dashboard's statistics (`CallStore::read`), fed by LISTEN/NOTIFY; and, for the
//! writers, a cache of each call's events that is checked against the database
//! under the call's lock before it is used (`writer.rs`), so it is never stale.
//!
//! Every event carries its `seq`, and a call's events are committed in `seq` order
//! (a call's lock is held from before its events get their `seq` until after they
//! commit). So what any query sees of a call is a `seq`-prefix of its events, and
//! the model keeps, per call, the `seq`s it applied: anything newer than the last
//! one is exactly what it misses. Applying skips what it has, so own commits,
//! other instances' notifications and reloads may arrive in any order.
//!
//! Every batch notifies `loopguard_events` in its transaction (so only on commit)
//! with the kind, call and verdict of each new event and the writing instance's id.
//! Own batches are applied by the writer right after their commit; for other
//! instances' notifications the follower reads the named calls' newer events,
//! applies them and then announces them to live views. Notifications are lost
//! while the connection is down: after each (re)connection the follower listens
//! first, then reloads every event, so nothing falls between.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::describe;
use crate::core::engine::{CallId, Engine, EventId, RecordedEvent, Verdict};
use crate::store::CommittedEvent;

/// The notification channel.
pub(super) const CHANNEL: &str = "loopguard_events";
/// PostgreSQL refuses payloads of 8000 bytes and more; keep well below.
const PAYLOAD_LIMIT: usize = 7000;

/// A stored event and its place in its call's commit order.
pub(super) type Sequenced = (i64, RecordedEvent);

/// The read model, shared by the store, its writers and the follow task.
pub(super) struct Follower {
    state: Mutex<State>,
    connected: AtomicBool,
    updates: broadcast::Sender<CommittedEvent>,
}

#[derive(Default)]
struct State {
    engine: Engine,
    /// Per call, the `seq` and id of every event applied, in commit order.
    logs: HashMap<CallId, Vec<(i64, EventId)>>,
    /// While a reload reads the database, what is applied meanwhile is kept here
    /// too, to be applied to the reloaded model.
    during_reload: Option<Vec<Sequenced>>,
}

impl State {
    fn apply(&mut self, events: impl IntoIterator<Item = Sequenced>) {
        for (seq, event) in events {
            let log = self.logs.entry(event.call_id().clone()).or_default();
            if log.last().is_some_and(|(last, _)| *last >= seq) {
                continue;
            }
            log.push((seq, event.event_id().clone()));
            self.engine.replay(event);
        }
    }
}

/// What the model holds of one call: its first and last applied `seq` and its
/// events in commit order.
pub(super) struct Cached {
    pub first: Option<i64>,
    pub last: i64,
    pub events: Vec<RecordedEvent>,
}

impl Follower {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            connected: AtomicBool::new(false),
            updates: broadcast::channel(1024).0,
        }
    }

    pub fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&self.state().engine);
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CommittedEvent> {
        self.updates.subscribe()
    }

    /// Applies committed events, each call's in `seq` order.
    pub fn apply(&self, events: Vec<Sequenced>) {
        let mut state = self.state();
        if let Some(kept) = &mut state.during_reload {
            kept.extend(events.iter().cloned());
        }
        state.apply(events);
    }

    /// What the model holds of each call (copies: the caller replays them).
    pub fn cached(&self, call_ids: &[&str]) -> Vec<Cached> {
        let state = self.state();
        call_ids
            .iter()
            .map(|call_id| {
                let log = state.logs.get(*call_id).map(Vec::as_slice).unwrap_or(&[]);
                Cached {
                    first: log.first().map(|(seq, _)| *seq),
                    last: log.last().map_or(0, |(seq, _)| *seq),
                    events: log
                        .iter()
                        .filter_map(|(_, event_id)| state.engine.recorded(event_id).cloned())
                        .collect(),
                }
            })
            .collect()
    }

    /// The last applied `seq` of each call (0 for a call it does not hold).
    fn last_seqs(&self, call_ids: &[String]) -> Vec<i64> {
        let state = self.state();
        call_ids
            .iter()
            .map(|call_id| {
                state
                    .logs
                    .get(call_id.as_str())
                    .and_then(|log| log.last())
                    .map_or(0, |(seq, _)| *seq)
            })
            .collect()
    }

    /// Forgets ended calls past the retention age, as pruning does in the database.
    pub fn evict_ended_before(&self, cutoff: jiff::Timestamp) {
        let mut state = self.state();
        for call_id in state.engine.evict_ended_before(cutoff) {
            state.logs.remove(&call_id);
        }
    }

    fn begin_reload(&self) {
        self.state().during_reload = Some(Vec::new());
    }

    fn finish_reload(&self, mut reloaded: State) {
        let mut state = self.state();
        let kept = state.during_reload.take().unwrap_or_default();
        reloaded.apply(kept);
        *state = reloaded;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in the engine; the state it
        // left is still the best we have (as with the other stores' engines).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One notification: which instance committed, and what.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    instance: String,
    events: Vec<NoticeEvent>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NoticeEvent {
    kind: String,
    call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
}

/// The payloads announcing a batch's new events, each under the size limit.
pub(super) fn notices(instance: &str, events: &[&RecordedEvent]) -> Vec<String> {
    let items: Vec<NoticeEvent> = events
        .iter()
        .map(|event| {
            let (kind, verdict) = match event {
                RecordedEvent::Transfer { answer, .. } => ("transfer", Some(answer.verdict)),
                RecordedEvent::End { .. } => ("end", None),
                RecordedEvent::Callback { .. } => ("callback", None),
            };
            NoticeEvent {
                kind: kind.to_owned(),
                call_id: event.call_id().as_str().to_owned(),
                verdict,
            }
        })
        .collect();
    let overhead = encode(&Notice {
        instance: instance.to_owned(),
        events: Vec::new(),
    })
    .len();
    let mut payloads = Vec::new();
    let mut chunk = Vec::new();
    let mut size = overhead;
    for item in items {
        let item_size = encode(&item).len() + 1;
        if !chunk.is_empty() && size + item_size > PAYLOAD_LIMIT {
            payloads.push(encode(&Notice {
                instance: instance.to_owned(),
                events: std::mem::take(&mut chunk),
            }));
            size = overhead;
        }
        size += item_size;
        chunk.push(item);
    }
    if !chunk.is_empty() {
        payloads.push(encode(&Notice {
            instance: instance.to_owned(),
            events: chunk,
        }));
    }
    payloads
}

fn encode<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and enums always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// A connection listening on [`CHANNEL`], and its notifications (the receiver
/// closes when the connection ends).
pub(super) struct Listening {
    client: Client,
    notifications: mpsc::UnboundedReceiver<String>,
}

/// Connects, listens and loads every event; returns the connection and how many
/// events were loaded. Start-up calls this once, so the dashboard is complete from
/// the first request, and hands the connection to [`follow`].
pub(super) async fn start(
    follower: &Follower,
    database: &tokio_postgres::Config,
) -> Result<(Listening, usize), String> {
    let listening = listen(database).await?;
    let loaded = reload(follower, &listening.client).await?;
    follower.connected.store(true, Ordering::Relaxed);
    Ok((listening, loaded))
}

/// Keeps the read model following the database, reconnecting (and reloading)
/// whenever the connection drops; runs for the life of the store.
pub(super) async fn follow(
    follower: Arc<Follower>,
    database: tokio_postgres::Config,
    instance: String,
    first: Listening,
) {
    let mut listening = Some(first);
    loop {
        let current = match listening.take() {
            Some(current) => current,
            None => reconnect(&follower, &database).await,
        };
        follower.connected.store(true, Ordering::Relaxed);
        serve(&follower, current, &instance).await;
        follower.connected.store(false, Ordering::Relaxed);
    }
}

async fn reconnect(follower: &Follower, database: &tokio_postgres::Config) -> Listening {
    let mut backoff = Duration::from_millis(100);
    loop {
        match start(follower, database).await {
            Ok((listening, _)) => {
                tracing::info!("live feed from the database reconnected");
                return listening;
            }
            Err(error) => {
                tracing::debug!(%error, "live feed: the database is not reachable yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// A connection of its own that listens on [`CHANNEL`]; its notifications arrive
/// on the receiver, which closes when the connection ends.
async fn listen(database: &tokio_postgres::Config) -> Result<Listening, String> {
    let (client, mut connection) = database
        .connect(NoTls)
        .await
        .map_err(|error| describe(&error))?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages =
            futures_util::stream::poll_fn(move |context| connection.poll_message(context));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if sender.send(notification.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %describe(&error), "live feed: connection to the database lost");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|error| describe(&error))?;
    Ok(Listening {
        client,
        notifications: receiver,
    })
}

/// Replaces the read model with every stored event; returns how many there were.
async fn reload(follower: &Follower, client: &Client) -> Result<usize, String> {
    follower.begin_reload();
    let result = async {
        // A full read may take longer than the webhook's statement bound.
        client
            .batch_execute("SET statement_timeout = 0")
            .await
            .map_err(|error| describe(&error))?;
        let rows = client
            .query("SELECT seq, record FROM loopguard_events ORDER BY seq", &[])
            .await
            .map_err(|error| describe(&error))?;
        client
            .batch_execute("RESET statement_timeout")
            .await
            .map_err(|error| describe(&error))?;
        let mut reloaded = State::default();
        for row in &rows {
            reloaded.apply([decode(row)?]);
        }
        Ok::<_, String>((reloaded, rows.len()))
    }
    .await;
    match result {
        Ok((reloaded, count)) => {
            follower.finish_reload(reloaded);
            Ok(count)
        }
        Err(error) => {
            follower.state().during_reload = None;
            Err(error)
        }
    }
}

/// A row of `seq, record`.
pub(super) fn decode(row: &tokio_postgres::Row) -> Result<Sequenced, String> {
    let seq: i64 = row.try_get(0).map_err(|error| describe(&error))?;
    let text: &str = row.try_get(1).map_err(|error| describe(&error))?;
    let event = serde_json::from_str(text)
        .map_err(|error| format!("a stored event cannot be read: {error}"))?;
    Ok((seq, event))
}

/// Each call's events after the given `seq`, in commit order; `$1` call ids,
/// `$2` the last `seq` already known of each.
pub(super) const NEWER_EVENTS: &str = "SELECT e.seq, e.record \
     FROM unnest($1::text[], $2::int8[]) AS known (call_id, last_seq) \
     JOIN loopguard_events e ON e.call_id = known.call_id AND e.seq > known.last_seq \
     ORDER BY e.seq";

/// Applies other instances' notifications until the connection ends.
async fn serve(follower: &Follower, listening: Listening, instance: &str) {
    let Listening {
        client,
        mut notifications,
    } = listening;
    let read = match client.prepare(NEWER_EVENTS).await {
        Ok(statement) => statement,
        Err(error) => {
            tracing::warn!(error = %describe(&error), "live feed: cannot prepare its query");
            return;
        }
    };
    while let Some(first) = notifications.recv().await {
        // Whatever else arrived meanwhile is applied with one query.
        let mut payloads = vec![first];
        while let Ok(payload) = notifications.try_recv() {
            payloads.push(payload);
        }
        let mut calls = std::collections::BTreeSet::new();
        let mut updates = Vec::new();
        for payload in payloads {
            let Ok(notice) = serde_json::from_str::<Notice>(&payload) else {
                tracing::warn!("live feed: ignoring a notification it cannot read");
                continue;
            };
            if notice.instance == instance {
                continue;
            }
            for event in notice.events {
                let kind = match event.kind.as_str() {
                    "transfer" => "transfer",
                    "end" => "end",
                    "callback" => "callback",
                    _ => continue,
                };
                calls.insert(event.call_id.clone());
                updates.push(CommittedEvent {
                    kind,
                    call_id: event.call_id,
                    verdict: event.verdict,
                });
            }
        }
        if calls.is_empty() {
            continue;
        }
        let calls: Vec<String> = calls.into_iter().collect();
        let known = follower.last_seqs(&calls);
        let events = match client.query(&read, &[&calls, &known]).await {
            Ok(rows) => rows.iter().map(decode).collect::<Result<Vec<_>, _>>(),
            Err(error) => Err(describe(&error)),
        };
        match events {
            Ok(events) => follower.apply(events),
            Err(error) => {
                // Reconnecting reloads everything, this batch included.
                tracing::warn!(%error, "live feed: cannot read notified events; reconnecting");
                break;
            }
        }
        for update in updates {
            // Nobody listening is fine.
            let _ = follower.updates.send(update);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_stay_under_the_payload_limit_and_keep_every_event() {
        use crate::core::engine::{CallId, CallOutcome, EndAnswer, EndRequest, EventId};
        let events: Vec<RecordedEvent> = (0..200)
            .map(|index| {
                let call_id =
                    CallId::parse(&format!("call-{index:03}-{}", "x".repeat(150))).unwrap();
                let event_id = EventId::parse(&format!("end-{index}")).unwrap();
                RecordedEvent::End {
                    request: EndRequest {
                        event_id: event_id.clone(),
                        call_id: call_id.clone(),
                        outcome: CallOutcome::Resolved,
                        occurred_at: None,
                    },
                    answer: EndAnswer {
                        event_id,
                        call_id,
                        outcome: CallOutcome::Resolved,
                        occurred_at: jiff::Timestamp::UNIX_EPOCH,
                        transfers_taken: 0,
                        chain: Vec::new(),
                    },
                }
            })
            .collect();
        let references: Vec<&RecordedEvent> = events.iter().collect();
        let payloads = notices("instance", &references);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < PAYLOAD_LIMIT, "{}", payload.len());
            let notice: Notice = serde_json::from_str(payload).unwrap();
            assert_eq!(notice.instance, "instance");
            seen.extend(notice.events.into_iter().map(|event| event.call_id));
        }
        let expected: Vec<String> = events
            .iter()
            .map(|event| event.call_id().as_str().to_owned())
            .collect();
        assert_eq!(seen, expected);
    }
}
