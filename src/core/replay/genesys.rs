//! Genesys Cloud conversation details, as an analytics conversation-details job
//! returns them (`{"conversations": [...], "cursor": ...}`), one conversation per
//! call (`conversationId` is the chain key).
//!
//! A hop is an agent participant whose segment ended in a transfer, to the
//! participant (agent, queue or external) that joined the conversation next:
//! `transfer` is a blind (cold) transfer, `transfer.consult` and
//! `transfer.conference` are warm (the agent talked to the target first), and
//! `transfer.forward` does not say. Queue and IVR segments also end in
//! `transfer` when they hand the call to an agent: those are routing, not hops.
//! A department is the agent's queue: its name (the `acd` participant's
//! `participantName` for that `queueId`) unless the rules know the `queueId`.
//! The call ends at `conversationEnd`: resolved when an agent had it last,
//! abandoned otherwise. The customer's `ani` is the callback number.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;

use super::event::{EventKind, HistoryEvent, Origin, RecordError, parse_time};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::TransferMode;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawConversation {
    pub conversation_id: Option<String>,
    pub conversation_start: Option<String>,
    pub conversation_end: Option<String>,
    #[serde(default)]
    pub participants: Vec<RawParticipant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawParticipant {
    pub participant_id: Option<String>,
    pub participant_name: Option<String>,
    pub purpose: Option<String>,
    pub user_id: Option<String>,
    #[serde(default)]
    pub sessions: Vec<RawSession>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSession {
    pub ani: Option<String>,
    pub dnis: Option<String>,
    #[serde(default)]
    pub segments: Vec<RawSegment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSegment {
    pub segment_start: Option<String>,
    pub segment_end: Option<String>,
    pub queue_id: Option<String>,
    pub disconnect_type: Option<String>,
}

/// A participant that can hold the call: when it joined, where it is, and how
/// (if) it handed the call on.
struct Holder<'a> {
    participant: &'a RawParticipant,
    joined: Timestamp,
    department: Option<String>,
    /// (time, mode) of the segment that ended in a transfer.
    transfer: Option<(Timestamp, Option<TransferMode>)>,
}

/// Turns one conversation into its events: the call, its hops and its end.
pub fn conversation_events(
    raw: &RawConversation,
    origin: Origin,
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<HistoryEvent>, RecordError> {
    let conversation_id = raw
        .conversation_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| RecordError::new("conversationId is missing"))?;
    let call_id = CallId::parse(conversation_id).map_err(invalid)?;
    let start = parse_time(
        raw.conversation_start
            .as_deref()
            .ok_or_else(|| RecordError::new("conversationStart is missing"))?,
        "conversationStart",
    )?;
    let mut events = vec![HistoryEvent {
        at: start,
        origin,
        kind: EventKind::Seen(call_id.clone()),
    }];
    // queueId → the queue's name, from the acd participants.
    let mut queue_names: HashMap<&str, &str> = HashMap::new();
    for participant in &raw.participants {
        if participant.purpose.as_deref() == Some("acd")
            && let Some(name) = participant.participant_name.as_deref()
        {
            for segment in segments(participant) {
                if let Some(queue) = segment.queue_id.as_deref() {
                    queue_names.entry(queue).or_insert(name);
                }
            }
        }
    }
    let department = |queue_id: &str| -> String {
        match queue_names.get(queue_id) {
            Some(name) if !known(queue_id) => (*name).to_owned(),
            _ => queue_id.to_owned(),
        }
    };
    let mut holders: Vec<Holder> = Vec::new();
    for participant in &raw.participants {
        let purpose = participant.purpose.as_deref().unwrap_or_default();
        if !matches!(purpose, "agent" | "acd" | "external") {
            continue;
        }
        let mut joined: Option<Timestamp> = None;
        let mut queue: Option<&str> = None;
        let mut transfer = None;
        for segment in segments(participant) {
            let segment_start = parse_time(
                segment
                    .segment_start
                    .as_deref()
                    .ok_or_else(|| RecordError::new("a segment has no segmentStart"))?,
                "segmentStart",
            )?;
            joined = Some(joined.map_or(segment_start, |joined| joined.min(segment_start)));
            queue = queue.or(segment.queue_id.as_deref());
            if purpose == "agent"
                && let Some(kind) = segment.disconnect_type.as_deref()
                && let Some(mode) = transfer_mode(kind)
            {
                let ended = parse_time(
                    segment.segment_end.as_deref().ok_or_else(|| {
                        RecordError::new("a segment that ended in a transfer has no segmentEnd")
                    })?,
                    "segmentEnd",
                )?;
                transfer = Some((ended, mode));
            }
        }
        let Some(joined) = joined else { continue };
        let department = match purpose {
            "external" => participant.participant_name.clone().or_else(|| {
                participant
                    .sessions
                    .iter()
                    .find_map(|session| session.dnis.clone())
            }),
            "acd" => queue
                .map(department)
                .or_else(|| participant.participant_name.clone()),
            _ => queue.map(department),
        };
        holders.push(Holder {
            participant,
            joined,
            department,
            transfer,
        });
    }
    holders.sort_by_key(|holder| holder.joined);
    let customer = raw
        .participants
        .iter()
        .filter(|participant| participant.purpose.as_deref() == Some("customer"))
        .flat_map(|participant| &participant.sessions)
        .find_map(|session| session.ani.as_deref())
        .map(|ani| ani.strip_prefix("tel:").unwrap_or(ani))
        .filter(|ani| ani.starts_with('+'))
        .map(parse_callback_number)
        .transpose()
        .map_err(invalid)?;
    for (index, holder) in holders.iter().enumerate() {
        let Some((at, mode)) = holder.transfer else {
            continue;
        };
        let participant_id = holder.participant.participant_id.as_deref().unwrap_or("");
        let Some(target) = holders[index + 1..]
            .iter()
            .find(|next| next.joined > holder.joined)
        else {
            continue;
        };
        let name = |value: Option<String>, which: &str| {
            let value = value.ok_or_else(|| {
                RecordError::new(format!(
                    "participant {participant_id}: the department the call {which} has no queueId"
                ))
            })?;
            parse_department_name(&value, "queueId").map_err(invalid)
        };
        events.push(HistoryEvent {
            at,
            origin,
            kind: EventKind::Transfer(TransferRequest {
                event_id: EventId::parse(&format!("genesys:{conversation_id}:{participant_id}"))
                    .map_err(invalid)?,
                call_id: call_id.clone(),
                from: name(holder.department.clone(), "left")?,
                to: name(target.department.clone(), "went to")?,
                mode,
                intent: None,
                callback_number: customer.clone(),
                agent_id: holder.participant.user_id.clone(),
                occurred_at: Some(at),
            }),
        });
    }
    if let Some(end) = raw.conversation_end.as_deref() {
        let at = parse_time(end, "conversationEnd")?;
        let outcome = match holders.last() {
            Some(last) if last.participant.purpose.as_deref() == Some("agent") => {
                CallOutcome::Resolved
            }
            _ => CallOutcome::Abandoned,
        };
        events.push(HistoryEvent {
            at,
            origin,
            kind: EventKind::End(EndRequest {
                event_id: EventId::parse(&format!("genesys:{conversation_id}:end"))
                    .map_err(invalid)?,
                call_id,
                outcome,
                occurred_at: Some(at),
            }),
        });
    }
    Ok(events)
}

/// `Some(mode)` for the disconnect types that hand the call on.
fn transfer_mode(disconnect_type: &str) -> Option<Option<TransferMode>> {
    match disconnect_type {
        "transfer" => Some(Some(TransferMode::Cold)),
        "transfer.consult" | "transfer.conference" => Some(Some(TransferMode::Warm)),
        "transfer.forward" => Some(None),
        _ => None,
    }
}

fn segments(participant: &RawParticipant) -> impl Iterator<Item = &RawSegment> {
    participant
        .sessions
        .iter()
        .flat_map(|session| session.segments.iter())
}

fn invalid(error: crate::core::engine::InputError) -> RecordError {
    RecordError::new(error.to_string())
}
