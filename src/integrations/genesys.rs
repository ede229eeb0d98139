//! Genesys Cloud: the Architect "Call Data Action" that asks before a transfer
//! (its contract is ours: `contrib/genesys/`), and conversation events after the
//! fact: a conversation as Genesys Cloud describes it (`id`, `participants`), bare,
//! in a notification (`topicName`, `eventBody`) or in an EventBridge envelope
//! (`detail`).
//!
//! - Chain key: the conversation id; queue ids are resolved by aliases.
//! - A transfer is a connected agent participant that ended with a
//!   `disconnectType` of `transfer...`, followed by the next connected agent
//!   participant: from the first one's queue to the second one's. Queue (`acd`)
//!   and IVR participants also end in `transfer` when they hand the call to an
//!   agent: they are not agent transfers. Agents who were alerted but never
//!   connected are not either. `transfer.consult` and `transfer.conference` are
//!   warm, `transfer` and `transfer.forward` cold.
//! - Every snapshot of a conversation yields the same transfers with the same
//!   event ids (`genesys:{conversation}:{participant}`), so a later snapshot or a
//!   redelivery changes nothing. When every customer participant has ended, the
//!   call ends: abandoned without a connected agent, disconnected after an error,
//!   resolved otherwise.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::observation::{
    Observation, TranslationError, reason, required, suggested, verdict_word,
};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferAnswer, TransferRequest,
    parse_callback_number, parse_department_name,
};
use crate::core::rules::{Rules, TransferMode};

/// The input contract of the Call Data Action (`contrib/genesys/`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DataActionRequest {
    /// `Call.ConversationId`: the chain key.
    pub conversation_id: Option<String>,
    /// A value unique to this transfer attempt, e.g.
    /// `ToString(GetCurrentDateTimeUtc())`; a retry of the same attempt repeats it.
    pub transfer_id: Option<String>,
    /// The queue the call is in (a queue id, or any alias).
    pub from_queue_id: Option<String>,
    /// The queue the flow wants to transfer to.
    pub to_queue_id: Option<String>,
    pub intent: Option<String>,
    /// `warm` or `cold` (also `attended`, `consult`, `blind`).
    pub mode: Option<String>,
    /// `Call.Ani` when it is a number to call back.
    pub callback_number: Option<String>,
    pub agent_id: Option<String>,
}

pub fn data_action_request(body: DataActionRequest) -> Result<TransferRequest, TranslationError> {
    let conversation = required(
        body.conversation_id,
        "conversation_id",
        "Call.ConversationId",
    )?;
    let transfer_id = required(
        body.transfer_id,
        "transfer_id",
        "a value unique to this transfer attempt, e.g. ToString(GetCurrentDateTimeUtc())",
    )?;
    let from = required(
        body.from_queue_id,
        "from_queue_id",
        "the queue the call is in",
    )?;
    let to = required(body.to_queue_id, "to_queue_id", "the queue to transfer to")?;
    let mode = body
        .mode
        .map(|word| {
            TransferMode::WORDS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(&word))
                .map(|&(_, mode)| mode)
                .ok_or_else(|| {
                    TranslationError::invalid("mode", format!("`{word}` is not warm or cold"))
                })
        })
        .transpose()?;
    // Architect sends `tel:+1...` for Call.Ani.
    let callback_number = body
        .callback_number
        .map(|number| number.trim_start_matches("tel:").to_owned())
        .filter(|number| !number.is_empty());
    Ok(TransferRequest {
        event_id: EventId::parse(&format!("genesys:{conversation}:{transfer_id}"))
            .map_err(|error| TranslationError::invalid("transfer_id", error.message))?,
        call_id: CallId::parse(&conversation)
            .map_err(|error| TranslationError::invalid("conversation_id", error.message))?,
        from: parse_department_name(&from, "from_queue_id")?,
        to: parse_department_name(&to, "to_queue_id")?,
        mode,
        intent: body
            .intent
            .filter(|intent| !intent.is_empty())
            .map(|intent| parse_department_name(&intent, "intent"))
            .transpose()?,
        callback_number: callback_number
            .map(|number| parse_callback_number(&number))
            .transpose()?,
        agent_id: body
            .agent_id
            .filter(|agent| !agent.is_empty())
            .map(|agent| parse_department_name(&agent, "agent_id"))
            .transpose()?,
        occurred_at: None,
    })
}

/// The output contract: flat strings an Architect flow can branch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DataActionAnswer {
    /// `allow`, `warn` or `block`.
    pub verdict: String,
    pub reason: String,
    pub suggested_department: String,
    /// A Genesys queue id among that department's aliases; "" when none.
    pub suggested_queue_id: String,
}

pub fn data_action_answer(answer: &TransferAnswer, rules: &Rules) -> DataActionAnswer {
    let (suggested_department, suggested_queue_id) = suggested(answer, rules, is_genesys_id);
    DataActionAnswer {
        verdict: verdict_word(answer.verdict).to_owned(),
        reason: reason(answer),
        suggested_department,
        suggested_queue_id,
    }
}

/// Whether an alias looks like a Genesys Cloud id (a UUID).
pub fn is_genesys_id(alias: &str) -> bool {
    alias.len() == 36
        && alias.char_indices().all(|(index, character)| {
            if matches!(index, 8 | 13 | 18 | 23) {
                character == '-'
            } else {
                character.is_ascii_hexdigit()
            }
        })
}

/// One participant of a conversation, the fields that matter here.
struct Participant<'a> {
    id: &'a str,
    purpose: &'a str,
    queue: Option<&'a str>,
    user: Option<&'a str>,
    connected: Option<Timestamp>,
    ended: bool,
    ended_at: Option<Timestamp>,
    disconnect_type: Option<&'a str>,
}

/// The media arrays a participant of a notification carries its state in.
const MEDIA: &[&str] = &[
    "calls",
    "callbacks",
    "chats",
    "emails",
    "messages",
    "videos",
];

/// Translates a conversation event into the transfers it shows and, once the
/// customer has left, the end of the call.
pub fn conversation_events(body: &Value) -> Result<Vec<Observation>, TranslationError> {
    if !body.is_object() {
        return Err(TranslationError::invalid(
            "id",
            "the body must be a conversation event object",
        ));
    }
    let notification = body.get("detail").unwrap_or(body);
    if let Some(topic) = notification.get("topicName").and_then(Value::as_str)
        && !topic.contains("conversation")
    {
        return Ok(vec![Observation::Ignored(format!(
            "topic `{topic}` is not about conversations"
        ))]);
    }
    let conversation = notification.get("eventBody").unwrap_or(notification);
    let id = required(
        conversation
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty()),
        "id",
        "the conversation id",
    )?;
    let call_id =
        CallId::parse(id).map_err(|error| TranslationError::invalid("id", error.message))?;
    let participants = required(
        conversation.get("participants").and_then(Value::as_array),
        "participants",
        "the conversation's participants",
    )?
    .iter()
    .map(participant)
    .collect::<Result<Vec<_>, _>>()?;

    let mut agents: Vec<&Participant> = participants
        .iter()
        .filter(|participant| matches!(participant.purpose, "agent" | "user"))
        .filter(|participant| participant.connected.is_some())
        .collect();
    agents.sort_by_key(|participant| participant.connected);
    let mut observations = Vec::new();
    for pair in agents.windows(2) {
        let (left, right) = (pair[0], pair[1]);
        let Some(kind) = left
            .disconnect_type
            .filter(|kind| kind.starts_with("transfer"))
        else {
            continue;
        };
        let mode = match kind {
            "transfer.consult" | "transfer.conference" => Some(TransferMode::Warm),
            "transfer" | "transfer.forward" => Some(TransferMode::Cold),
            _ => None,
        };
        let name = |participant: &Participant, field: &'static str| {
            participant
                .queue
                .or(participant.user)
                .ok_or(TranslationError::Missing {
                    field,
                    what: "an agent participant's queue (queue.id or queueId) or user",
                })
                .and_then(|name| parse_department_name(name, field).map_err(Into::into))
        };
        observations.push(Observation::Transfer(TransferRequest {
            event_id: EventId::parse(&format!("genesys:{id}:{}", right.id))
                .map_err(|error| TranslationError::invalid("participants.id", error.message))?,
            call_id: call_id.clone(),
            from: name(left, "participants.queue")?,
            to: name(right, "participants.queue")?,
            mode,
            intent: None,
            callback_number: None,
            agent_id: left
                .user
                .map(|user| parse_department_name(user, "participants.user"))
                .transpose()?,
            occurred_at: right.connected,
        }));
    }

    let customers: Vec<&Participant> = participants
        .iter()
        .filter(|participant| matches!(participant.purpose, "customer" | "external"))
        .collect();
    if !customers.is_empty() && customers.iter().all(|customer| customer.ended) {
        let failed = customers.iter().any(|customer| {
            matches!(
                customer.disconnect_type,
                Some("error" | "system" | "transport.failure" | "timeout")
            )
        });
        let outcome = if agents.is_empty() {
            CallOutcome::Abandoned
        } else if failed {
            CallOutcome::Disconnected
        } else {
            CallOutcome::Resolved
        };
        observations.push(Observation::End {
            request: EndRequest {
                event_id: EventId::parse(&format!("genesys:{id}:end"))
                    .map_err(|error| TranslationError::invalid("id", error.message))?,
                call_id,
                outcome,
                occurred_at: customers
                    .iter()
                    .filter_map(|customer| customer.ended_at)
                    .max(),
            },
            leg: None,
        });
    }
    if observations.is_empty() {
        observations.push(Observation::Ignored(format!(
            "conversation `{id}` shows no agent transfer and has not ended"
        )));
    }
    Ok(observations)
}

fn participant(value: &Value) -> Result<Participant<'_>, TranslationError> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    let nested = |key: &str| {
        value
            .get(key)
            .and_then(|object| object.get("id"))
            .and_then(Value::as_str)
    };
    let media: Vec<&Value> = MEDIA
        .iter()
        .filter_map(|key| value.get(*key).and_then(Value::as_array))
        .flatten()
        .collect();
    let from_media = |key: &str| {
        media
            .iter()
            .find_map(|session| session.get(key).and_then(Value::as_str))
    };
    let time =
        |field: &'static str, text: Option<&str>| -> Result<Option<Timestamp>, TranslationError> {
            text.map(|text| {
                text.parse::<Timestamp>().map_err(|_| {
                    TranslationError::invalid(field, format!("`{text}` is not an ISO 8601 time"))
                })
            })
            .transpose()
        };
    let ended_text = text("endTime").or_else(|| from_media("disconnectedTime"));
    Ok(Participant {
        id: required(
            text("id").or_else(|| text("participantId")),
            "participants.id",
            "each participant's id",
        )?,
        purpose: text("purpose").unwrap_or(""),
        queue: nested("queue").or_else(|| text("queueId")),
        user: nested("user").or_else(|| text("userId")),
        connected: time(
            "participants.connectedTime",
            text("connectedTime").or_else(|| from_media("connectedTime")),
        )?,
        ended: ended_text.is_some()
            || matches!(
                text("state").or_else(|| from_media("state")),
                Some("terminated" | "disconnected")
            ),
        ended_at: time("participants.endTime", ended_text)?,
        disconnect_type: text("disconnectType").or_else(|| from_media("disconnectType")),
    })
}
