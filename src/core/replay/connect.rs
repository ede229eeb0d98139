//! Amazon Connect contact records (CTRs, as exported through Kinesis Firehose):
//! each contact is one leg of a call; a transfer creates a new contact whose
//! `PreviousContactId` names the leg it came from, and `InitialContactId` (empty on
//! the first leg) is the chain key.
//!
//! A hop A → B is emitted when both legs are known (records arrive in any order):
//! from A's queue to B's queue, at B's `InitiationTimestamp` (for TRANSFER and
//! QUEUE_TRANSFER, when the transfer was initiated). A transfer out of Connect
//! (`TransferredToEndpoint`) is a hop to that number, at `TransferCompletedTimestamp`.
//! Connect does not record warm or cold: it is inferred from overlapping legs
//! (warm when B's agent was connected before A's agent left for after-contact work,
//! cold when A's agent left first) and unknown when either time is missing. The
//! last leg (no `NextContactId`) ends the call at its `DisconnectTimestamp`.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;

use super::event::{EventKind, HistoryEvent, Origin, Problem, RecordError, parse_time};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::TransferMode;

/// The fields of a contact record the replay reads; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawCtr {
    pub contact_id: Option<String>,
    pub initial_contact_id: Option<String>,
    pub previous_contact_id: Option<String>,
    pub next_contact_id: Option<String>,
    pub initiation_method: Option<String>,
    pub initiation_timestamp: Option<String>,
    pub disconnect_timestamp: Option<String>,
    pub disconnect_reason: Option<String>,
    pub transfer_completed_timestamp: Option<String>,
    pub transferred_to_endpoint: Option<RawEndpoint>,
    pub customer_endpoint: Option<RawEndpoint>,
    pub queue: Option<RawQueue>,
    pub agent: Option<RawAgent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawEndpoint {
    pub address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawQueue {
    #[serde(rename = "ARN")]
    pub arn: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawAgent {
    pub connected_to_agent_timestamp: Option<String>,
    pub after_contact_work_start_timestamp: Option<String>,
    pub username: Option<String>,
}

/// One contact, validated.
#[derive(Debug, Clone)]
struct Leg {
    contact_id: String,
    call_id: CallId,
    previous: Option<String>,
    transferred_in: bool,
    initiated: Timestamp,
    queue: Option<String>,
    agent: Option<String>,
    agent_connected: Option<Timestamp>,
    /// When this leg's agent left the call (entered after-contact work).
    agent_left: Option<Timestamp>,
    customer: Option<String>,
    origin: Origin,
}

/// Joins contact records into hops. Memory: the legs of the last
/// [`ConnectAssembler::evict`] window, not the file.
pub struct ConnectAssembler<F: Fn(&str) -> bool> {
    /// Whether the rules know an identity: picks a queue's ARN or its name.
    known: F,
    legs: HashMap<String, Leg>,
    /// Legs transferred from a contact not seen yet, by that contact's id.
    waiting: HashMap<String, Vec<Leg>>,
}

impl<F: Fn(&str) -> bool> ConnectAssembler<F> {
    pub fn new(known: F) -> Self {
        Self {
            known,
            legs: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// Takes one contact record; appends the events it completes to `out`.
    pub fn push(
        &mut self,
        raw: RawCtr,
        origin: Origin,
        out: &mut Vec<HistoryEvent>,
    ) -> Result<(), RecordError> {
        let contact_id = raw
            .contact_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| RecordError::new("ContactId is missing"))?;
        if self.legs.contains_key(&contact_id) {
            // Connect delivers contact records at least once: a copy of a leg
            // already joined adds nothing.
            return Ok(());
        }
        let leg = self.leg(&raw, contact_id, origin)?;
        out.push(HistoryEvent {
            at: leg.initiated,
            origin,
            kind: EventKind::Seen(leg.call_id.clone()),
        });
        if let (Some(endpoint), Some(completed)) = (
            raw.transferred_to_endpoint
                .as_ref()
                .and_then(|endpoint| endpoint.address.as_deref())
                .filter(|address| !address.is_empty()),
            raw.transfer_completed_timestamp.as_deref(),
        ) {
            out.push(external_hop(&leg, endpoint, completed)?);
        }
        if raw.next_contact_id.as_deref().is_none_or(str::is_empty)
            && let Some(disconnected) = raw.disconnect_timestamp.as_deref()
        {
            let at = parse_time(disconnected, "DisconnectTimestamp")?;
            let outcome = if raw.disconnect_reason.as_deref() == Some("TELECOM_PROBLEM") {
                CallOutcome::Disconnected
            } else if leg.agent_connected.is_some() {
                CallOutcome::Resolved
            } else {
                // Amazon Connect's definition: queued, never connected to an agent.
                CallOutcome::Abandoned
            };
            out.push(HistoryEvent {
                at,
                origin,
                kind: EventKind::End(EndRequest {
                    event_id: event_id(&format!("connect:{}:end", leg.contact_id))?,
                    call_id: leg.call_id.clone(),
                    outcome,
                    occurred_at: Some(at),
                }),
            });
        }
        if let Some(successors) = self.waiting.remove(&leg.contact_id) {
            for successor in successors {
                out.push(hop(&leg, &successor)?);
            }
        }
        if leg.transferred_in
            && let Some(previous) = leg.previous.clone()
        {
            match self.legs.get(&previous) {
                Some(from) => out.push(hop(from, &leg)?),
                None => self.waiting.entry(previous).or_default().push(leg.clone()),
            }
        }
        self.legs.insert(leg.contact_id.clone(), leg);
        Ok(())
    }

    /// Forgets legs initiated before `before`; a transfer still waiting for its
    /// previous contact then can never be placed and becomes a problem.
    pub fn evict(&mut self, before: Timestamp, problems: &mut Vec<Problem>) {
        self.legs.retain(|_, leg| leg.initiated >= before);
        self.waiting.retain(|previous, legs| {
            legs.retain(|leg| {
                let keep = leg.initiated >= before;
                if !keep {
                    problems.push(never_placed(previous, leg));
                }
                keep
            });
            !legs.is_empty()
        });
    }

    /// At the end of the input: every transfer still waiting is a problem.
    pub fn finish(&mut self, problems: &mut Vec<Problem>) {
        for (previous, legs) in self.waiting.drain() {
            for leg in legs {
                problems.push(never_placed(&previous, &leg));
            }
        }
        problems.sort_by_key(|problem| problem.origin);
        self.legs.clear();
    }

    /// Contacts held in memory (for the progress display and the memory bound).
    pub fn held(&self) -> usize {
        self.legs.len() + self.waiting.values().map(Vec::len).sum::<usize>()
    }

    fn leg(&self, raw: &RawCtr, contact_id: String, origin: Origin) -> Result<Leg, RecordError> {
        let invalid = |error: crate::core::engine::InputError| RecordError::new(error.to_string());
        let call_id = raw
            .initial_contact_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .unwrap_or(&contact_id);
        let call_id = CallId::parse(call_id).map_err(invalid)?;
        let initiated = parse_time(
            raw.initiation_timestamp
                .as_deref()
                .ok_or_else(|| RecordError::new("InitiationTimestamp is missing"))?,
            "InitiationTimestamp",
        )?;
        let time = |value: Option<&String>, field: &str| {
            value.map(|text| parse_time(text, field)).transpose()
        };
        let agent = raw.agent.as_ref();
        let queue = raw.queue.as_ref().and_then(|queue| {
            let arn = queue.arn.as_deref().filter(|arn| !arn.is_empty());
            let name = queue.name.as_deref().filter(|name| !name.is_empty());
            match (arn, name) {
                (Some(arn), _) if (self.known)(arn) => Some(arn.to_owned()),
                (_, Some(name)) => Some(name.to_owned()),
                (arn, None) => arn.map(str::to_owned),
            }
        });
        let queue = queue
            .map(|queue| parse_department_name(&queue, "Queue"))
            .transpose()
            .map_err(invalid)?;
        Ok(Leg {
            transferred_in: matches!(
                raw.initiation_method.as_deref(),
                Some("TRANSFER" | "QUEUE_TRANSFER")
            ),
            previous: raw.previous_contact_id.clone().filter(|id| !id.is_empty()),
            call_id,
            initiated,
            queue,
            agent: agent
                .and_then(|agent| agent.username.clone())
                .filter(|name| !name.is_empty()),
            agent_connected: time(
                agent.and_then(|agent| agent.connected_to_agent_timestamp.as_ref()),
                "Agent.ConnectedToAgentTimestamp",
            )?,
            agent_left: time(
                agent.and_then(|agent| agent.after_contact_work_start_timestamp.as_ref()),
                "Agent.AfterContactWorkStartTimestamp",
            )?,
            customer: raw
                .customer_endpoint
                .as_ref()
                .and_then(|endpoint| endpoint.address.clone())
                .filter(|address| !address.is_empty())
                .map(|address| parse_callback_number(&address))
                .transpose()
                .map_err(invalid)?,
            contact_id,
            origin,
        })
    }
}

/// The hop from leg `from` into leg `to`, a transfer inside Connect.
fn hop(from: &Leg, to: &Leg) -> Result<HistoryEvent, RecordError> {
    let queue_of = |leg: &Leg, which: &str| {
        leg.queue.clone().ok_or_else(|| {
            RecordError::new(format!(
                "contact {} has no Queue, so the department the call {which} is unknown",
                leg.contact_id
            ))
        })
    };
    let mode = match (from.agent_left, to.agent_connected) {
        (Some(left), Some(joined)) if joined <= left => Some(TransferMode::Warm),
        (Some(_), _) => Some(TransferMode::Cold),
        (None, _) => None,
    };
    Ok(HistoryEvent {
        at: to.initiated,
        origin: to.origin,
        kind: EventKind::Transfer(TransferRequest {
            event_id: event_id(&format!("connect:{}", to.contact_id))?,
            call_id: to.call_id.clone(),
            from: queue_of(from, "left")?,
            to: queue_of(to, "went to")?,
            mode,
            intent: None,
            callback_number: to.customer.clone().or_else(|| from.customer.clone()),
            agent_id: from.agent.clone(),
            occurred_at: Some(to.initiated),
        }),
    })
}

/// A transfer out of Connect to a phone number.
fn external_hop(leg: &Leg, endpoint: &str, completed: &str) -> Result<HistoryEvent, RecordError> {
    let at = parse_time(completed, "TransferCompletedTimestamp")?;
    let from = leg.queue.clone().ok_or_else(|| {
        RecordError::new(format!(
            "contact {} was transferred to {endpoint} but has no Queue, so the department the call left is unknown",
            leg.contact_id
        ))
    })?;
    Ok(HistoryEvent {
        at,
        origin: leg.origin,
        kind: EventKind::Transfer(TransferRequest {
            event_id: event_id(&format!("connect:{}:external", leg.contact_id))?,
            call_id: leg.call_id.clone(),
            from,
            to: parse_department_name(endpoint, "TransferredToEndpoint")
                .map_err(|error| RecordError::new(error.to_string()))?,
            mode: None,
            intent: None,
            callback_number: leg.customer.clone(),
            agent_id: leg.agent.clone(),
            occurred_at: Some(at),
        }),
    })
}

fn event_id(text: &str) -> Result<EventId, RecordError> {
    EventId::parse(text).map_err(|error| RecordError::new(error.to_string()))
}

fn never_placed(previous: &str, leg: &Leg) -> Problem {
    Problem::skipped(
        leg.origin,
        format!(
            "contact {} was transferred from contact {previous}, whose record never appeared within the reorder window; the transfer was not replayed (add the file with that contact, or raise --reorder-window)",
            leg.contact_id
        ),
    )
}
