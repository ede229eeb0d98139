//! This instance's read model: an engine replaying every committed event (with
//! the hop cap), for the dashboard (`CallStore::read`) and its statistics index
//! (`CallStore::read_stats`), fed by LISTEN/NOTIFY; and, for the writers, a cache
//! of each call that is checked against the database under the call's lock before
//! it is used (`writer.rs`), so it is never stale.
//!
//! Every event carries its `seq`, and a call's events are committed in `seq` order
//! (a call's lock is held from before its events get their `seq` until after they
//! commit). So what any query sees of a call is a `seq`-prefix of its events, and
//! the model keeps, per call, the first and last `seq` it applied: anything newer
//! than the last is exactly what it misses. Applying skips what it has, so own
//! commits, other instances' notifications and reloads may arrive in any order.
//!
//! Every batch notifies `loopguard_events` in its transaction (so only on commit)
//! with the kind, call and verdict of each new event and the writing instance's id.
//! Own batches are applied by the writer right after their commit; for other
//! instances' notifications the follower reads the named calls' newer events,
//! applies them and then announces them to live views. Pruning and expiry notify
//! the calls they deleted with the last `seq` deleted of each: every instance
//! forgets a call whose copy starts at or before it (and reads again what came
//! after, a call begun anew). Notifications are lost while the connection is down:
//! after each (re)connection the follower listens first, then reloads every event,
//! so nothing falls between.
//!
//! The statistics index is told about every call applied, forgotten or reloaded,
//! whichever instance committed it, so every instance's dashboard adds up to the
//! same numbers.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::describe;
use crate::core::engine::{CallId, Engine, EventId, RecordedEvent, Verdict};
use crate::core::stats::StatsIndex;
use crate::store::{CommittedEvent, StatsKeeper};

/// The notification channel.
pub(super) const CHANNEL: &str = "loopguard_events";
/// PostgreSQL refuses payloads of 8000 bytes and more; keep well below.
const PAYLOAD_LIMIT: usize = 7000;

/// A stored event and its place in its call's commit order.
pub(super) type Sequenced = (i64, RecordedEvent);

/// The first and last `seq` the model applied of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seqs {
    pub first: i64,
    pub last: i64,
}

/// A call deleted from the database (pruned or expired) and the last `seq` its
/// deletion removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RemovedCall {
    pub call_id: String,
    pub upto: i64,
}

/// The read model, shared by the store, its writers, the pruner and the follow task.
pub(super) struct Follower {
    state: Mutex<State>,
    connected: AtomicBool,
    updates: broadcast::Sender<CommittedEvent>,
    stats: StatsKeeper,
    max_hops_kept: usize,
}

/// What was applied while a reload read the database, to apply again on top.
enum Change {
    Events {
        replaced: Vec<CallId>,
        events: Vec<Sequenced>,
    },
    Removed(Vec<RemovedCall>),
}

struct State {
    engine: Engine,
    seqs: HashMap<CallId, Seqs>,
    /// While a reload reads the database, what is applied meanwhile is kept here
    /// too, to be applied to the reloaded model.
    during_reload: Option<Vec<Change>>,
}

impl State {
    fn new(max_hops_kept: usize) -> Self {
        Self {
            engine: Engine::new().with_max_hops_kept(max_hops_kept),
            seqs: HashMap::new(),
            during_reload: None,
        }
    }

    /// Drops `replaced` calls, then applies `events` (each call's in `seq` order);
    /// returns the calls that changed.
    fn apply(
        &mut self,
        replaced: &[CallId],
        events: impl IntoIterator<Item = Sequenced>,
    ) -> BTreeSet<CallId> {
        let mut touched: BTreeSet<CallId> = replaced.iter().cloned().collect();
        self.engine.forget_calls(replaced);
        for call_id in replaced {
            self.seqs.remove(call_id);
        }
        for (seq, event) in events {
            let call_id = event.call_id();
            match self.seqs.get_mut(call_id) {
                Some(seqs) if seqs.last >= seq => continue,
                Some(seqs) => seqs.last = seq,
                None => {
                    self.seqs.insert(
                        call_id.clone(),
                        Seqs {
                            first: seq,
                            last: seq,
                        },
                    );
                }
            }
            touched.insert(call_id.clone());
            self.engine.replay(event);
        }
        touched
    }

    /// Forgets the deleted calls whose copy starts at or before the deletion.
    /// Returns the calls forgotten and, of those, the ones that had newer events
    /// (begun anew after the deletion), which must be read again; with `whole_only`
    /// those are left alone instead (for a caller that cannot read).
    fn remove(&mut self, removed: &[RemovedCall], whole_only: bool) -> (Vec<CallId>, Vec<CallId>) {
        let mut forgotten = Vec::new();
        let mut again = Vec::new();
        for call in removed {
            let Some((call_id, seqs)) = self.seqs.get_key_value(call.call_id.as_str()) else {
                continue;
            };
            if seqs.first > call.upto {
                continue;
            }
            if seqs.last > call.upto {
                if whole_only {
                    continue;
                }
                again.push(call_id.clone());
            }
            forgotten.push(call_id.clone());
        }
        self.engine.forget_calls(&forgotten);
        for call_id in &forgotten {
            self.seqs.remove(call_id);
        }
        (forgotten, again)
    }
}

/// What the model holds of some calls, for a writer: an engine with copies of
/// them and each call's `seq`s (`None` for a call it does not hold).
pub(super) struct Cached {
    pub engine: Engine,
    pub seqs: Vec<Option<Seqs>>,
}

impl Follower {
    pub fn new(max_hops_kept: usize) -> Self {
        let state = State::new(max_hops_kept);
        Self {
            stats: StatsKeeper::new(&state.engine),
            state: Mutex::new(state),
            connected: AtomicBool::new(false),
            updates: broadcast::channel(1024).0,
            max_hops_kept,
        }
    }

    pub fn read(&self, read: &mut dyn FnMut(&Engine)) {
        read(&self.state().engine);
    }

    pub fn read_stats(&self, read: &mut dyn FnMut(&StatsIndex)) {
        self.stats.read(read);
    }

    pub fn stats(&self) -> &StatsKeeper {
        &self.stats
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CommittedEvent> {
        self.updates.subscribe()
    }

    /// Applies committed events, each call's in `seq` order, after dropping the
    /// `replaced` calls (whose events are all among them).
    pub fn apply(&self, replaced: Vec<CallId>, events: Vec<Sequenced>) {
        let mut state = self.state();
        if let Some(kept) = &mut state.during_reload {
            kept.push(Change::Events {
                replaced: replaced.clone(),
                events: events.clone(),
            });
        }
        let touched = state.apply(&replaced, events);
        // Under the model's lock, so the index sees changes in the model's order.
        self.stats.calls_changed(&state.engine, &touched);
    }

    /// Forgets calls this instance deleted, unless the copy already holds events
    /// committed after the deletion (the notification then sorts them out).
    pub fn forget_deleted(&self, removed: &[RemovedCall]) {
        let mut state = self.state();
        if let Some(kept) = &mut state.during_reload {
            kept.push(Change::Removed(removed.to_vec()));
        }
        let (forgotten, _) = state.remove(removed, true);
        self.stats.calls_removed(&forgotten);
    }

    /// Forgets deleted calls; returns the ones to read again.
    fn remove(&self, removed: &[RemovedCall]) -> Vec<CallId> {
        let mut state = self.state();
        if let Some(kept) = &mut state.during_reload {
            kept.push(Change::Removed(removed.to_vec()));
        }
        let (forgotten, again) = state.remove(removed, false);
        self.stats.calls_removed(&forgotten);
        again
    }

    /// Copies of these calls for a writer, with their `seq`s, knowing of the
    /// recorded events only `event_ids` (the batch's).
    pub fn cached(&self, call_ids: &[&str], event_ids: &[&EventId]) -> Cached {
        let state = self.state();
        Cached {
            engine: state
                .engine
                .copy_calls(call_ids.iter().copied(), event_ids.iter().copied()),
            seqs: call_ids
                .iter()
                .map(|call_id| state.seqs.get(*call_id).copied())
                .collect(),
        }
    }

    /// The last applied `seq` of each call (0 for a call it does not hold).
    fn last_seqs(&self, call_ids: &[String]) -> Vec<i64> {
        let state = self.state();
        call_ids
            .iter()
            .map(|call_id| state.seqs.get(call_id.as_str()).map_or(0, |seqs| seqs.last))
            .collect()
    }

    fn begin_reload(&self) {
        self.state().during_reload = Some(Vec::new());
    }

    fn finish_reload(&self, mut reloaded: State) {
        let mut state = self.state();
        for change in state.during_reload.take().unwrap_or_default() {
            match change {
                Change::Events { replaced, events } => {
                    reloaded.apply(&replaced, events);
                }
                Change::Removed(removed) => {
                    // Whole calls only: a call begun anew is in the reload already.
                    reloaded.remove(&removed, true);
                }
            }
        }
        *state = reloaded;
        self.stats.rebuild(&state.engine);
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
#[derive(Debug, Default, Serialize, Deserialize)]
struct Notice {
    instance: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<NoticeEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<RemovedCall>,
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
                // Live views know one kind for promises made and closed.
                RecordedEvent::Promise { .. } | RecordedEvent::PromiseClosed { .. } => {
                    ("promise", None)
                }
            };
            NoticeEvent {
                kind: kind.to_owned(),
                call_id: event.call_id().as_str().to_owned(),
                verdict,
            }
        })
        .collect();
    chunked(instance, items, |notice, chunk| notice.events = chunk)
}

/// The payloads announcing deleted calls, each under the size limit.
pub(super) fn removal_notices(instance: &str, removed: &[RemovedCall]) -> Vec<String> {
    chunked(instance, removed.to_vec(), |notice, chunk| {
        notice.removed = chunk
    })
}

/// `items` in as few notices as fit under the payload limit.
fn chunked<T: Serialize>(
    instance: &str,
    items: Vec<T>,
    fill: impl Fn(&mut Notice, Vec<T>),
) -> Vec<String> {
    let notice = |chunk: Vec<T>| {
        let mut notice = Notice {
            instance: instance.to_owned(),
            ..Notice::default()
        };
        fill(&mut notice, chunk);
        encode(&notice)
    };
    // The list's brackets are counted with the overhead (an empty list is skipped).
    let overhead = notice(Vec::new()).len() + r#","events":[]"#.len();
    let mut payloads = Vec::new();
    let mut chunk = Vec::new();
    let mut size = overhead;
    for item in items {
        let item_size = encode(&item).len() + 1;
        if !chunk.is_empty() && size + item_size > PAYLOAD_LIMIT {
            payloads.push(notice(std::mem::take(&mut chunk)));
            size = overhead;
        }
        size += item_size;
        chunk.push(item);
    }
    if !chunk.is_empty() {
        payloads.push(notice(chunk));
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
        let mut reloaded = State::new(follower.max_hops_kept);
        for row in &rows {
            reloaded.apply(&[], [decode(row)?]);
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
///
/// One index range scan per call, whatever the planner's statistics say: as a
/// plain join, a generic plan over a table not yet analyzed (a new deployment, a
/// fast-growing table) was a hash join over a sequential scan of every event,
/// tens of milliseconds per batch and growing with the table. `OFFSET 0` keeps
/// the lateral subquery from being flattened into such a join.
pub(super) const NEWER_EVENTS: &str = "SELECT e.seq, e.record \
     FROM unnest($1::text[], $2::int8[]) AS known (call_id, last_seq) \
     CROSS JOIN LATERAL (SELECT seq, record FROM loopguard_events \
         WHERE call_id = known.call_id AND seq > known.last_seq OFFSET 0) AS e \
     ORDER BY e.seq";

/// Applies other instances' notifications, and every instance's deletions, until
/// the connection ends.
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
    // This instance's own event notices (one per batch it commits) are skipped
    // without parsing them; its deletions are not (see `prune.rs`).
    let own = format!(r#"{{"instance":{}"#, encode(&instance));
    let skipped =
        |payload: &String| payload.starts_with(&own) && !payload.contains(r#""removed":"#);
    while let Some(first) = notifications.recv().await {
        // Whatever else arrived meanwhile is applied with one query.
        let mut payloads = vec![first];
        while let Ok(payload) = notifications.try_recv() {
            payloads.push(payload);
        }
        payloads.retain(|payload| !skipped(payload));
        let mut calls = BTreeSet::new();
        let mut updates = Vec::new();
        for payload in payloads {
            let Ok(notice) = serde_json::from_str::<Notice>(&payload) else {
                tracing::warn!("live feed: ignoring a notification it cannot read");
                continue;
            };
            // Deletions in notification (commit) order with the events, from every
            // instance: a call begun anew after its deletion is read again.
            if !notice.removed.is_empty() {
                calls.extend(
                    follower
                        .remove(&notice.removed)
                        .into_iter()
                        .map(|call_id| call_id.as_str().to_owned()),
                );
            }
            if notice.instance == instance {
                continue;
            }
            for event in notice.events {
                // Every event is read into the read model; live views hear of the
                // kinds they know (an instance of a newer version may send others).
                calls.insert(event.call_id.clone());
                let kind = match event.kind.as_str() {
                    "transfer" => "transfer",
                    "end" => "end",
                    "callback" => "callback",
                    "promise" => "promise",
                    _ => continue,
                };
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
            Ok(events) => follower.apply(Vec::new(), events),
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
