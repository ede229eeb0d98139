//! Twilio TaskRouter events, as the Events API returns them
//! (`{"events": [...], "meta": {...}}`, snake_case `event_data`). The chain key is
//! the TaskSid. A hop is a transfer that completed: `task.transfer-initiated`
//! gives the queue the task was in, the target (`transfer_to`, a queue or worker
//! SID) and `transfer_mode` (WARM / COLD); `task.transfer-completed` (same
//! `transfer_sid`) says it happened, and when. A failed or canceled transfer did
//! not move the call and is no hop. `task.completed` ends the call (resolved),
//! `task.canceled` too (abandoned). The caller's number comes from the task
//! attributes' `from`.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;

use super::event::{EventKind, HistoryEvent, Origin, Problem, RecordError, parse_time};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::TransferMode;

/// One TaskRouter event; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct RawTaskRouterEvent {
    pub sid: Option<String>,
    pub event_type: Option<String>,
    pub event_date: Option<String>,
    pub resource_sid: Option<String>,
    #[serde(default)]
    pub event_data: RawEventData,
}

/// The `event_data` fields the replay reads.
#[derive(Debug, Default, Deserialize)]
pub struct RawEventData {
    pub task_sid: Option<String>,
    pub task_queue_sid: Option<String>,
    pub task_queue_name: Option<String>,
    pub task_attributes: Option<String>,
    pub transfer_sid: Option<String>,
    pub transfer_mode: Option<String>,
    pub transfer_to: Option<String>,
    pub transfer_initiating_worker_sid: Option<String>,
}

#[derive(Debug)]
struct Task {
    queue: Option<String>,
    caller: Option<String>,
    last: Timestamp,
}

#[derive(Debug)]
struct PendingTransfer {
    task_sid: String,
    from: Option<String>,
    to: Option<String>,
    mode: Option<TransferMode>,
    worker: Option<String>,
    initiated: Timestamp,
    origin: Origin,
}

/// Joins TaskRouter events into hops. Memory: the tasks and transfers of the last
/// [`TwilioAssembler::evict`] window.
pub struct TwilioAssembler<F: Fn(&str) -> bool> {
    known: F,
    tasks: HashMap<String, Task>,
    transfers: HashMap<String, PendingTransfer>,
    /// Completions that came before their initiation (pages newest first), by
    /// transfer SID: (time, origin).
    completions: HashMap<String, (Timestamp, Origin)>,
}

impl<F: Fn(&str) -> bool> TwilioAssembler<F> {
    pub fn new(known: F) -> Self {
        Self {
            known,
            tasks: HashMap::new(),
            transfers: HashMap::new(),
            completions: HashMap::new(),
        }
    }

    /// Takes one event; appends the events it completes to `out`.
    pub fn push(
        &mut self,
        raw: RawTaskRouterEvent,
        origin: Origin,
        out: &mut Vec<HistoryEvent>,
    ) -> Result<(), RecordError> {
        let event_type = raw
            .event_type
            .as_deref()
            .ok_or_else(|| RecordError::new("event_type is missing"))?;
        if !event_type.starts_with("task.") && !event_type.starts_with("task-queue.") {
            // Worker, reservation and workspace events say nothing about the chain.
            return Ok(());
        }
        let at = parse_time(
            raw.event_date
                .as_deref()
                .ok_or_else(|| RecordError::new("event_date is missing"))?,
            "event_date",
        )?;
        let data = &raw.event_data;
        let Some(task_sid) = data
            .task_sid
            .clone()
            .or_else(|| raw.resource_sid.clone().filter(|sid| sid.starts_with("WT")))
        else {
            return Err(RecordError::new(format!(
                "{event_type} without event_data.task_sid"
            )));
        };
        let call_id =
            CallId::parse(&task_sid).map_err(|error| RecordError::new(error.to_string()))?;
        let queue = self.queue_identity(data)?;
        let caller = caller_number(data.task_attributes.as_deref())?;
        let new_task = !self.tasks.contains_key(&task_sid);
        let task = self.tasks.entry(task_sid.clone()).or_insert(Task {
            queue: None,
            caller: None,
            last: at,
        });
        task.last = task.last.max(at);
        if caller.is_some() {
            task.caller = caller;
        }
        if new_task {
            out.push(HistoryEvent {
                at,
                origin,
                kind: EventKind::Seen(call_id.clone()),
            });
        }
        match event_type {
            "task.transfer-initiated" => {
                let transfer_sid = transfer_sid(data, event_type)?;
                let mode = data
                    .transfer_mode
                    .as_deref()
                    .map(|mode| {
                        TransferMode::WORDS
                            .iter()
                            .find(|(word, _)| word.eq_ignore_ascii_case(mode))
                            .map(|&(_, mode)| mode)
                            .ok_or_else(|| {
                                RecordError::new(format!(
                                    "transfer_mode `{mode}` is neither WARM nor COLD"
                                ))
                            })
                    })
                    .transpose()?;
                let pending = PendingTransfer {
                    task_sid: task_sid.clone(),
                    // The queue the task is in when the transfer starts.
                    from: queue.clone().or_else(|| task.queue.clone()),
                    to: data.transfer_to.clone().filter(|to| !to.is_empty()),
                    mode,
                    worker: data.transfer_initiating_worker_sid.clone(),
                    initiated: at,
                    origin,
                };
                match self.completions.remove(&transfer_sid) {
                    Some((completed, completed_origin)) => {
                        let hop = completed_hop(
                            &transfer_sid,
                            pending,
                            call_id,
                            task.caller.clone(),
                            completed,
                            completed_origin,
                        )?;
                        out.push(hop);
                    }
                    None => {
                        self.transfers.insert(transfer_sid, pending);
                    }
                }
            }
            "task.transfer-completed" => {
                let transfer_sid = transfer_sid(data, event_type)?;
                let Some(pending) = self.transfers.remove(&transfer_sid) else {
                    self.completions.insert(transfer_sid, (at, origin));
                    return Ok(());
                };
                let to = pending.to.clone();
                out.push(completed_hop(
                    &transfer_sid,
                    pending,
                    call_id,
                    task.caller.clone(),
                    at,
                    origin,
                )?);
                // The call is now where the transfer sent it, until an event
                // names its queue again.
                if queue.is_none() {
                    task.queue = to;
                }
            }
            "task.transfer-failed" | "task.transfer-canceled" => {
                let transfer_sid = transfer_sid(data, event_type)?;
                self.transfers.remove(&transfer_sid);
                self.completions.remove(&transfer_sid);
            }
            "task.completed" | "task.canceled" => {
                let outcome = if event_type == "task.completed" {
                    CallOutcome::Resolved
                } else {
                    CallOutcome::Abandoned
                };
                out.push(HistoryEvent {
                    at,
                    origin,
                    kind: EventKind::End(EndRequest {
                        event_id: event_id(&format!("twilio:{task_sid}:end"))?,
                        call_id,
                        outcome,
                        occurred_at: Some(at),
                    }),
                });
            }
            _ => {}
        }
        if let Some(queue) = queue
            && let Some(task) = self.tasks.get_mut(&task_sid)
        {
            task.queue = Some(queue);
        }
        Ok(())
    }

    /// Forgets tasks with no event since `before`; a transfer initiated before it
    /// and never completed, failed or canceled becomes a problem.
    pub fn evict(&mut self, before: Timestamp, problems: &mut Vec<Problem>) {
        self.tasks.retain(|_, task| task.last >= before);
        self.completions.retain(|sid, (at, origin)| {
            let keep = *at >= before;
            if !keep {
                problems.push(uninitiated(sid, *origin));
            }
            keep
        });
        self.transfers.retain(|sid, pending| {
            let keep = pending.initiated >= before;
            if !keep {
                problems.push(unfinished(sid, pending));
            }
            keep
        });
    }

    /// At the end of the input: every transfer still open is a problem.
    pub fn finish(&mut self, problems: &mut Vec<Problem>) {
        let mut left: Vec<(String, PendingTransfer)> = self.transfers.drain().collect();
        left.sort_by_key(|(_, pending)| pending.origin);
        for (sid, pending) in left {
            problems.push(unfinished(&sid, &pending));
        }
        let mut completions: Vec<(String, (Timestamp, Origin))> =
            self.completions.drain().collect();
        completions.sort_by_key(|(_, (_, origin))| *origin);
        for (sid, (_, origin)) in completions {
            problems.push(uninitiated(&sid, origin));
        }
        self.tasks.clear();
    }

    pub fn held(&self) -> usize {
        self.tasks.len() + self.transfers.len() + self.completions.len()
    }

    /// The task's queue as the rules know it: the SID when the rules have it as an
    /// alias, else the queue's name.
    fn queue_identity(&self, data: &RawEventData) -> Result<Option<String>, RecordError> {
        let sid = data.task_queue_sid.as_deref().filter(|sid| !sid.is_empty());
        let name = data
            .task_queue_name
            .as_deref()
            .filter(|name| !name.is_empty());
        let chosen = match (sid, name) {
            (Some(sid), _) if (self.known)(sid) => Some(sid),
            (_, Some(name)) => Some(name),
            (sid, None) => sid,
        };
        chosen
            .map(|queue| {
                parse_department_name(queue, "task_queue_name")
                    .map_err(|error| RecordError::new(error.to_string()))
            })
            .transpose()
    }
}

/// The hop of a transfer that completed at `at`.
fn completed_hop(
    transfer_sid: &str,
    pending: PendingTransfer,
    call_id: CallId,
    caller: Option<String>,
    at: Timestamp,
    origin: Origin,
) -> Result<HistoryEvent, RecordError> {
    let from = pending.from.ok_or_else(|| {
        RecordError::new(format!(
            "transfer {transfer_sid}: the task's queue is unknown (no task_queue_sid or task_queue_name before it)"
        ))
    })?;
    let to = pending
        .to
        .ok_or_else(|| RecordError::new(format!("transfer {transfer_sid} has no transfer_to")))?;
    let name = |value: &str, field| {
        parse_department_name(value, field).map_err(|error| RecordError::new(error.to_string()))
    };
    Ok(HistoryEvent {
        at,
        origin,
        kind: EventKind::Transfer(TransferRequest {
            event_id: event_id(&format!("twilio:{transfer_sid}"))?,
            call_id,
            from: name(&from, "task_queue_name")?,
            to: name(&to, "transfer_to")?,
            mode: pending.mode,
            intent: None,
            callback_number: caller,
            agent_id: pending.worker,
            occurred_at: Some(at),
        }),
    })
}

fn uninitiated(sid: &str, origin: Origin) -> Problem {
    Problem::skipped(
        origin,
        format!(
            "transfer {sid} completed, but its task.transfer-initiated event is not in the input; it was not replayed"
        ),
    )
}

fn transfer_sid(data: &RawEventData, event_type: &str) -> Result<String, RecordError> {
    data.transfer_sid
        .clone()
        .filter(|sid| !sid.is_empty())
        .ok_or_else(|| RecordError::new(format!("{event_type} without event_data.transfer_sid")))
}

/// The caller's number from the task attributes (a JSON string), when it has one.
fn caller_number(attributes: Option<&str>) -> Result<Option<String>, RecordError> {
    #[derive(Deserialize)]
    struct Attributes {
        from: Option<serde_json::Value>,
    }
    let Some(attributes) = attributes.filter(|text| !text.trim().is_empty()) else {
        return Ok(None);
    };
    let parsed: Attributes = serde_json::from_str(attributes).map_err(|error| {
        RecordError::new(format!("task_attributes is not a JSON object: {error}"))
    })?;
    parsed
        .from
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .filter(|from| from.starts_with('+'))
        .map(|from| {
            parse_callback_number(from).map_err(|error| RecordError::new(error.to_string()))
        })
        .transpose()
}

fn event_id(text: &str) -> Result<EventId, RecordError> {
    EventId::parse(text).map_err(|error| RecordError::new(error.to_string()))
}

fn unfinished(sid: &str, pending: &PendingTransfer) -> Problem {
    Problem::skipped(
        pending.origin,
        format!(
            "transfer {sid} of task {} was initiated but never completed, failed or canceled in the input; it was not replayed",
            pending.task_sid
        ),
    )
}
