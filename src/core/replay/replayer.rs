//! The replay itself: events in, through the same [`Engine`] as `serve`, in event
//! time, with memory bounded by the calls still open.
//!
//! Ordering. Records may arrive out of order within the reorder window: events
//! wait in a heap until the newest event time seen is a whole window past them,
//! then go to the engine oldest first. An event older than what the engine has
//! already been given is *late*: it still goes to the engine, which judges it
//! against the hops before it (as `serve` does), but hops judged before it
//! arrived are not judged again; it is counted in `summary.late`.
//!
//! Closing. A call with no event for `idle_close` (the bounce window plus a
//! margin) of event time is closed: taken out of the engine and handed to the
//! report. A later event for it would start it again as a new call, which is why
//! the margin should cover the lateness the input has.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};

use super::compare::{CompareBuilder, Comparison};
use super::event::{EventKind, HistoryEvent, Origin, Problem, ProblemKind};
use super::report::{Report, ReportBuilder};
use crate::core::engine::{CallId, Engine, EngineError, RecordedEvent, TransferAnswer};
use crate::core::rules::Rules;

/// How long a call may go without an event, beyond the bounce window, before the
/// replay closes it.
pub const CLOSE_MARGIN: SignedDuration = SignedDuration::from_mins(15);

/// Idle calls taken out of the engine at once: forgetting calls costs a pass over
/// the engine's stored answers, so it is paid once per batch, not per call.
const CLOSE_BATCH: usize = 256;

/// How the replay orders and closes.
#[derive(Debug, Clone, Copy)]
pub struct ReplayConfig {
    /// How far out of event-time order records may arrive.
    pub reorder_window: SignedDuration,
    /// Whether to keep the recorded events (request + answer) for a store.
    pub keep_recorded: bool,
}

/// One rule set and the engine that judges under it.
struct Lane<'r> {
    rules: &'r Rules,
    engine: Engine,
    report: ReportBuilder<'r>,
}

#[derive(Debug, Clone, Copy)]
struct OpenCall {
    last: Timestamp,
    in_engine: bool,
}

/// An event waiting in the reorder heap, ordered by time then arrival. The event
/// is boxed: the heap moves its entries on every push and pop.
struct Waiting {
    at: Timestamp,
    sequence: u64,
    event: Box<HistoryEvent>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

/// What a finished replay hands back.
pub struct Finished {
    pub report: Report,
    /// The other rules' report and the differences, with `--compare`.
    pub compared: Option<(Report, Comparison)>,
}

/// Replays history events through one engine (or two, to compare rule sets).
pub struct Replayer<'r> {
    config: ReplayConfig,
    idle_close: SignedDuration,
    current: Lane<'r>,
    other: Option<Lane<'r>>,
    compare: Option<CompareBuilder>,
    waiting: BinaryHeap<Reverse<Waiting>>,
    sequence: u64,
    newest_seen: Option<Timestamp>,
    /// Event time of the newest event handed to the engine.
    released: Option<Timestamp>,
    open: HashMap<CallId, OpenCall>,
    /// (last event time, call) in the order events were released; stale entries
    /// (the call had a newer event since) are skipped when closing.
    expiry: VecDeque<(Timestamp, CallId)>,
    /// Idle calls waiting to be closed as one batch.
    closable: Vec<(CallId, OpenCall)>,
    recorded: Vec<RecordedEvent>,
    problems: Vec<Problem>,
    records: u64,
    skipped: u64,
    late: u64,
}

impl<'r> Replayer<'r> {
    /// A replay under `rules`, and also under `other` when comparing.
    pub fn new(rules: &'r Rules, other: Option<&'r Rules>, config: ReplayConfig) -> Self {
        let lane = |rules: &'r Rules| Lane {
            rules,
            engine: Engine::new(),
            report: ReportBuilder::new(rules),
        };
        let bounce_window = std::iter::once(rules)
            .chain(other)
            .map(|rules| rules.policy.bounce_window_ms)
            .max()
            .unwrap_or_default();
        Self {
            config,
            idle_close: SignedDuration::from_millis(bounce_window) + CLOSE_MARGIN,
            current: lane(rules),
            other: other.map(lane),
            compare: other.map(|_| CompareBuilder::new()),
            waiting: BinaryHeap::new(),
            sequence: 0,
            newest_seen: None,
            released: None,
            open: HashMap::new(),
            expiry: VecDeque::new(),
            closable: Vec::new(),
            recorded: Vec::new(),
            problems: Vec::new(),
            records: 0,
            skipped: 0,
            late: 0,
        }
    }

    /// Counts a record read from the input (whatever events it yields).
    pub fn count_record(&mut self) {
        self.records += 1;
    }

    /// Counts a record that was skipped before it became events.
    pub fn count_skipped(&mut self) {
        self.skipped += 1;
    }

    /// Takes an event; events that are due go to the engine.
    pub fn push(&mut self, event: HistoryEvent) {
        if self.released.is_some_and(|released| event.at < released) {
            self.late += 1;
            let lateness = self
                .released
                .map(|released| released.duration_since(event.at))
                .unwrap_or_default();
            self.problems.push(Problem {
                origin: event.origin,
                kind: ProblemKind::Late,
                message: format!(
                    "late: this event happened {} before events already replayed (more than --reorder-window out of order); it was judged against the hops before it, but later hops were not judged again",
                    describe(lateness)
                ),
            });
            self.apply(event);
            return;
        }
        self.newest_seen = Some(self.newest_seen.map_or(event.at, |seen| seen.max(event.at)));
        self.sequence += 1;
        self.waiting.push(Reverse(Waiting {
            at: event.at,
            sequence: self.sequence,
            event: Box::new(event),
        }));
        let Some(due) = self
            .newest_seen
            .and_then(|seen| seen.checked_sub(self.config.reorder_window).ok())
        else {
            return;
        };
        let mut released_any = false;
        while self
            .waiting
            .peek()
            .is_some_and(|Reverse(waiting)| waiting.at <= due)
        {
            let Some(Reverse(waiting)) = self.waiting.pop() else {
                break;
            };
            self.released = Some(waiting.at);
            self.apply(*waiting.event);
            released_any = true;
        }
        if released_any {
            self.close_idle();
        }
    }

    /// Replays what is still waiting, closes every call and builds the reports.
    pub fn finish(self) -> Finished {
        match self.finish_with(|_| Ok::<(), std::convert::Infallible>(())) {
            Ok(finished) => finished,
            Err(never) => match never {},
        }
    }

    /// [`Replayer::finish`], handing the recorded events of the last calls to
    /// `store` before the reports are built (with `keep_recorded`).
    pub fn finish_with<E>(
        mut self,
        mut store: impl FnMut(Vec<RecordedEvent>) -> Result<(), E>,
    ) -> Result<Finished, E> {
        while let Some(Reverse(waiting)) = self.waiting.pop() {
            self.released = Some(waiting.at);
            self.apply(*waiting.event);
        }
        let mut open: Vec<(CallId, OpenCall)> = std::mem::take(&mut self.closable);
        open.extend(self.open.drain());
        self.close(open);
        store(std::mem::take(&mut self.recorded))?;
        let (records, skipped, late) = (self.records, self.skipped, self.late);
        let mut report = self.current.report;
        report.set_record_counts(records, skipped, late);
        let compared = self.other.map(|lane| {
            let mut other = lane.report;
            other.set_record_counts(records, skipped, late);
            (other.finish(), self.compare.unwrap_or_default().finish())
        });
        Ok(Finished {
            report: report.finish(),
            compared,
        })
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Problems found since the last call: skipped events and late records.
    pub fn take_problems(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.problems)
    }

    /// Events recorded since the last call (with `keep_recorded`), for a store.
    pub fn take_recorded(&mut self) -> Vec<RecordedEvent> {
        std::mem::take(&mut self.recorded)
    }

    /// Event time up to which everything has gone to the engine.
    pub fn released(&self) -> Option<Timestamp> {
        self.released
    }

    /// Calls open now, or idle and about to be closed (for progress and the
    /// memory bound).
    pub fn open_calls(&self) -> usize {
        self.open.len() + self.closable.len()
    }

    /// Events waiting in the reorder heap.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Skipped events so far (records skipped before and events refused after).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn apply(&mut self, event: HistoryEvent) {
        let at = event.at;
        let call_id = event.call_id().clone();
        let origin = event.origin;
        let in_engine = match event.kind {
            EventKind::Seen(_) => false,
            EventKind::Transfer(request) => {
                let answers = record_in_lanes(&mut self.current, self.other.as_mut(), request, at);
                match answers {
                    Ok((answer, other, fresh)) => {
                        if fresh {
                            if let (Some(compare), Some(other)) = (self.compare.as_mut(), other) {
                                compare.add(&answer, &other);
                            }
                            self.keep(&answer.event_id);
                        }
                        true
                    }
                    Err(error) => {
                        self.refused(origin, error);
                        false
                    }
                }
            }
            EventKind::End(request) => {
                if self.open.get(&call_id).is_some_and(|call| call.in_engine) {
                    let event_id = request.event_id.clone();
                    let mut refused = None;
                    let mut fresh = false;
                    for lane in std::iter::once(&mut self.current).chain(self.other.as_mut()) {
                        match lane.engine.end_call(request.clone(), at) {
                            Ok(outcome) => fresh |= !outcome.replayed,
                            Err(error) => refused = Some(error),
                        }
                    }
                    match refused {
                        Some(error) => self.refused(origin, error),
                        None if fresh => self.keep(&event_id),
                        None => {}
                    }
                }
                false
            }
            EventKind::Callback(request) => {
                let event_id = request.event_id.clone();
                let mut refused = None;
                let mut fresh = false;
                for lane in std::iter::once(&mut self.current).chain(self.other.as_mut()) {
                    match lane.engine.mark_callback(request.clone(), at) {
                        Ok(outcome) => fresh |= !outcome.replayed,
                        Err(error) => refused = Some(error),
                    }
                }
                match refused {
                    Some(error) => self.refused(origin, error),
                    None if fresh => self.keep(&event_id),
                    None => {}
                }
                false
            }
        };
        let call = self.open.entry(call_id.clone()).or_insert(OpenCall {
            last: at,
            in_engine: false,
        });
        call.in_engine |= in_engine;
        if at >= call.last {
            call.last = at;
            let queued_at = self.released.map_or(at, |released| released.max(at));
            self.expiry.push_back((queued_at, call_id));
        }
    }

    /// Keeps the recorded event for the store, when asked to.
    fn keep(&mut self, event_id: &crate::core::engine::EventId) {
        if self.config.keep_recorded
            && let Some(event) = self.current.engine.recorded(event_id)
        {
            self.recorded.push(event.clone());
        }
    }

    fn refused(&mut self, origin: Origin, error: EngineError) {
        self.skipped += 1;
        self.problems.push(Problem::skipped(
            origin,
            format!("the engine refused this event: {error}"),
        ));
    }

    /// Closes the calls with no event for `idle_close` before the released time.
    fn close_idle(&mut self) {
        let Some(cutoff) = self
            .released
            .and_then(|released| released.checked_sub(self.idle_close).ok())
        else {
            return;
        };
        while let Some((queued_at, _)) = self.expiry.front() {
            if *queued_at >= cutoff {
                break;
            }
            let Some((_, call_id)) = self.expiry.pop_front() else {
                break;
            };
            if let Some(call) = self.open.get(&call_id)
                && call.last < cutoff
                && let Some(call) = self.open.remove(&call_id)
            {
                self.closable.push((call_id, call));
            }
        }
        if self.closable.len() >= CLOSE_BATCH {
            let closing = std::mem::take(&mut self.closable);
            self.close(closing);
        }
    }

    fn close(&mut self, calls: Vec<(CallId, OpenCall)>) {
        if calls.is_empty() {
            return;
        }
        let in_engine: Vec<CallId> = calls
            .iter()
            .filter(|(_, call)| call.in_engine)
            .map(|(call_id, _)| call_id.clone())
            .collect();
        let untransferred = calls.len() - in_engine.len();
        for lane in std::iter::once(&mut self.current).chain(self.other.as_mut()) {
            for _ in 0..untransferred {
                lane.report.add_untransferred();
            }
            for record in lane.engine.take_calls(&in_engine) {
                lane.report.add_call(record);
            }
        }
    }
}

/// Records a transfer in the current lane and, when comparing, the other one.
/// Returns the current answer, the other answer and whether the event was new.
fn record_in_lanes(
    current: &mut Lane<'_>,
    other: Option<&mut Lane<'_>>,
    request: crate::core::engine::TransferRequest,
    at: Timestamp,
) -> Result<(TransferAnswer, Option<TransferAnswer>, bool), EngineError> {
    let (outcome, other) = match other {
        Some(lane) => {
            let outcome = current
                .engine
                .record_history(current.rules, request.clone(), at)?;
            let other = lane.engine.record_history(lane.rules, request, at)?;
            (outcome, Some(other.answer))
        }
        None => (
            current.engine.record_history(current.rules, request, at)?,
            None,
        ),
    };
    Ok((outcome.answer, other, !outcome.replayed))
}

fn describe(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::{EventId, TransferRequest};
    use crate::core::rules::TransferMode;

    fn transfer(call: u64, hop: u64, from: &str, to: &str, at: Timestamp) -> HistoryEvent {
        HistoryEvent {
            at,
            origin: Origin {
                input: 0,
                line: call * 2 + hop,
            },
            kind: EventKind::Transfer(TransferRequest {
                event_id: EventId::parse(&format!("{call}-{hop}")).unwrap(),
                call_id: CallId::parse(&format!("call-{call}")).unwrap(),
                from: from.to_owned(),
                to: to.to_owned(),
                mode: Some(TransferMode::Warm),
                intent: None,
                callback_number: Some("+14155550123".to_owned()),
                agent_id: None,
                occurred_at: Some(at),
            }),
        }
    }

    #[test]
    fn open_calls_stay_bounded_by_the_time_window_not_the_history_length() {
        let rules = Rules::default();
        let config = ReplayConfig {
            reorder_window: SignedDuration::from_hours(1),
            keep_recorded: false,
        };
        let mut replayer = Replayer::new(&rules, None, config);
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let (mut most_open, mut most_waiting) = (0, 0);
        let calls = 10_000u64;
        for call in 0..calls {
            // A call every 10 s of event time, each a ping-pong a minute long.
            let at = start + SignedDuration::from_secs(call as i64 * 10);
            replayer.push(transfer(call, 0, "a", "b", at));
            replayer.push(transfer(
                call,
                1,
                "b",
                "a",
                at + SignedDuration::from_secs(60),
            ));
            most_open = most_open.max(replayer.open_calls());
            most_waiting = most_waiting.max(replayer.waiting());
        }
        // Events wait for the reorder window (1 h: 720 events at two per 10 s);
        // calls stay open for the idle time before closing (30 min + 15 min, and
        // their minute: 276 calls), plus a closing batch (256).
        assert!(most_waiting <= 722, "{most_waiting} events waiting at once");
        assert!(most_open <= 276 + 256, "{most_open} calls open at once");
        let finished = replayer.finish();
        assert_eq!(finished.report.summary.calls, calls);
        assert_eq!(finished.report.summary.transfers, 2 * calls);
        assert_eq!(finished.report.summary.calls_with_loop, calls);
    }
}
