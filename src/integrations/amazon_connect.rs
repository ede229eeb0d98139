//! Amazon Connect: the contact flow's question before a transfer (the event an
//! "Invoke AWS Lambda function" block produces, forwarded as is by the Lambda in
//! `contrib/amazon-connect/`) and EventBridge "Amazon Connect Contact Event"
//! envelopes after the fact.
//!
//! - Chain key: `InitialContactId` (the first contact of the call; Connect makes a
//!   new contact for every transfer and leaves the initial one's id on each), else
//!   the contact's own id (the first contact has no initial id, or its own).
//! - Decision: `from` is `Parameters.from`, else the contact's queue (ARN, else
//!   name); `to` is `Parameters.to`; `intent`, `mode`, `callback_number` come from
//!   the Parameters (the number defaults to the customer's endpoint). The event id
//!   is `Parameters.event_id`, else `connect:{ContactId}:transfer:{to}`: a flow that
//!   passes the target queue's ARN as `to` gets the same id as the transfer the
//!   contact events later report, which is then not recorded twice.
//! - Events: a `QUEUED` event of a contact whose initiation method is `TRANSFER` or
//!   `QUEUE_TRANSFER` is a transfer from the previous contact's queue to this one;
//!   `DISCONNECTED` ends the call unless that contact handed it on. Warm or cold is
//!   no field of these events: the mode stays unknown (`unknown-transfer-mode`).
//! - Keys: EventBridge's envelope is kebab-case (`detail-type`), contact events are
//!   camelCase in current documentation and PascalCase in older samples (some
//!   mixed: `AgentInfo` inside a camelCase detail); every key is matched without
//!   regard to case.

use std::collections::{BTreeMap, HashMap, VecDeque};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::observation::{Observation, TranslationError, required};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferAnswer, TransferRequest,
    parse_callback_number, parse_department_name,
};
use crate::core::rules::{Rules, TransferMode};

/// The event a contact flow's "Invoke AWS Lambda function" block sends.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FlowEvent {
    #[serde(rename = "Details")]
    pub details: Option<FlowDetails>,
    /// `ContactFlowEvent`.
    #[serde(rename = "Name")]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FlowDetails {
    #[serde(rename = "ContactData")]
    pub contact_data: Option<ContactData>,
    /// The block's parameters: `to` (required), `from`, `intent`, `mode`,
    /// `callback_number`, `event_id`. Values are strings.
    #[serde(rename = "Parameters", default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ContactData {
    #[serde(rename = "ContactId")]
    pub contact_id: Option<String>,
    #[serde(rename = "InitialContactId")]
    pub initial_contact_id: Option<String>,
    #[serde(rename = "PreviousContactId")]
    pub previous_contact_id: Option<String>,
    /// The queue: `{"ARN", "Name"}` in current flows, a name in older samples, or null.
    #[serde(rename = "Queue")]
    #[schema(value_type = Object)]
    pub queue: Option<Value>,
    #[serde(rename = "CustomerEndpoint")]
    pub customer_endpoint: Option<Endpoint>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Endpoint {
    #[serde(rename = "Address")]
    pub address: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
}

/// Translates the flow's question into a transfer request.
pub fn flow_transfer_request(event: FlowEvent) -> Result<TransferRequest, TranslationError> {
    let details = required(event.details, "Details", "the contact flow event's Details")?;
    let contact = required(
        details.contact_data,
        "Details.ContactData",
        "the contact the flow runs for",
    )?;
    let parameters = &details.parameters;
    let parameter =
        |name: &'static str, field: &'static str| -> Result<Option<String>, TranslationError> {
            match parameters.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.is_empty() => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(TranslationError::invalid(
                    field,
                    format!("must be a string, not {other}"),
                )),
            }
        };
    let contact_id = required(
        contact.contact_id.filter(|id| !id.is_empty()),
        "Details.ContactData.ContactId",
        "the contact's id",
    )?;
    let to = required(
        parameter("to", "Details.Parameters.to")?,
        "Details.Parameters.to",
        "the transfer target: set a parameter `to` on the Invoke AWS Lambda function block (the target queue's ARN)",
    )?;
    let from = match parameter("from", "Details.Parameters.from")? {
        Some(from) => from,
        None => required(
            queue_name(contact.queue.as_ref()),
            "Details.ContactData.Queue",
            "the contact's queue (set a working queue before the block) or a parameter `from`",
        )?,
    };
    let call_id =
        chain_key(contact.initial_contact_id.as_deref(), &contact_id).map_err(|error| {
            TranslationError::invalid("Details.ContactData.InitialContactId", error)
        })?;
    let event_id = match parameter("event_id", "Details.Parameters.event_id")? {
        Some(id) => id,
        None => format!("connect:{contact_id}:transfer:{to}"),
    };
    let callback_number = match parameter("callback_number", "Details.Parameters.callback_number")?
    {
        Some(number) => Some(number),
        None => contact
            .customer_endpoint
            .filter(|endpoint| endpoint.kind.as_deref() == Some("TELEPHONE_NUMBER"))
            .and_then(|endpoint| endpoint.address)
            .filter(|address| !address.is_empty()),
    };
    Ok(TransferRequest {
        event_id: EventId::parse(&event_id).map_err(|error| {
            TranslationError::invalid("Details.Parameters.event_id", error.message)
        })?,
        call_id,
        from: parse_department_name(&from, "Details.Parameters.from")?,
        to: parse_department_name(&to, "Details.Parameters.to")?,
        mode: parameter("mode", "Details.Parameters.mode")?
            .map(|word| mode(&word))
            .transpose()?,
        intent: parameter("intent", "Details.Parameters.intent")?
            .map(|intent| parse_department_name(&intent, "Details.Parameters.intent"))
            .transpose()?,
        callback_number: callback_number
            .map(|number| parse_callback_number(&number))
            .transpose()?,
        agent_id: None,
        occurred_at: None,
    })
}

/// The flat map of strings a flow can branch on: `$.External.verdict` etc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlowAnswer {
    /// `allow`, `warn` or `block`.
    pub verdict: String,
    /// The finding behind a block or warn; "" for allow.
    pub reason: String,
    /// The department to send the call to instead; "" when none.
    pub suggested_department: String,
    /// A queue ARN among that department's aliases; "" when none.
    pub suggested_queue: String,
}

pub fn flow_answer(answer: &TransferAnswer, rules: &Rules) -> FlowAnswer {
    let (suggested_department, suggested_queue) =
        super::observation::suggested(answer, rules, is_queue_arn);
    FlowAnswer {
        verdict: super::observation::verdict_word(answer.verdict).to_owned(),
        reason: super::observation::reason(answer),
        suggested_department,
        suggested_queue,
    }
}

/// Whether an alias is an Amazon Connect queue ARN.
pub fn is_queue_arn(alias: &str) -> bool {
    alias.starts_with("arn:aws:connect:") && alias.contains("/queue/")
}

fn queue_name(queue: Option<&Value>) -> Option<String> {
    match queue? {
        Value::String(name) if !name.is_empty() => Some(name.clone()),
        Value::Object(_) => ["ARN", "Name"]
            .iter()
            .find_map(|key| text(get(queue?, key)))
            .map(str::to_owned),
        _ => None,
    }
}

fn chain_key(initial: Option<&str>, contact_id: &str) -> Result<CallId, String> {
    let key = initial.filter(|id| !id.is_empty()).unwrap_or(contact_id);
    CallId::parse(key).map_err(|error| error.message)
}

fn mode(word: &str) -> Result<TransferMode, TranslationError> {
    TransferMode::WORDS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(word))
        .map(|&(_, mode)| mode)
        .ok_or_else(|| {
            TranslationError::invalid(
                "Details.Parameters.mode",
                format!("`{word}` is not warm or cold"),
            )
        })
}

/// A contact event, translated, with the queue it names for its contact (the
/// handler remembers it: the next contact's transfer starts there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEvent {
    pub observation: Observation,
    /// `(contact id, queue ARN)` when the event names the contact's queue.
    pub queue: Option<(String, String)>,
}

/// Translates one EventBridge envelope. `previous_queue(contact, call)` looks up
/// where the call was when `contact` transferred it (the start of a transfer).
pub fn contact_event(
    envelope: &Value,
    previous_queue: impl Fn(&str, &CallId) -> Option<String>,
) -> Result<ContactEvent, TranslationError> {
    let ignored = |reason: String| ContactEvent {
        observation: Observation::Ignored(reason),
        queue: None,
    };
    if !envelope.is_object() {
        return Err(TranslationError::invalid(
            "detail",
            "the body must be an EventBridge event object",
        ));
    }
    let detail_type = text(get(envelope, "detail-type")).unwrap_or("");
    if detail_type != "Amazon Connect Contact Event" {
        return Ok(ignored(format!(
            "detail-type `{detail_type}` is not an Amazon Connect Contact Event"
        )));
    }
    let detail = required(
        get(envelope, "detail"),
        "detail",
        "the contact event itself",
    )?;
    if !detail.is_object() {
        return Err(TranslationError::invalid("detail", "must be an object"));
    }
    let event_type = required(
        text(get(detail, "eventType")),
        "detail.eventType",
        "INITIATED, QUEUED, CONNECTED_TO_AGENT, DISCONNECTED, ...",
    )?;
    let contact_id = required(
        text(get(detail, "contactId")),
        "detail.contactId",
        "the contact the event is about",
    )?;
    let queue_arn = get(detail, "queueInfo")
        .filter(|info| info.is_object())
        .and_then(|info| text(get(info, "queueArn")));
    let queue = queue_arn.map(|arn| (contact_id.to_owned(), arn.to_owned()));
    let call_id = chain_key(text(get(detail, "initialContactId")), contact_id)
        .map_err(|error| TranslationError::invalid("detail.initialContactId", error))?;
    let initiation = text(get(detail, "initiationMethod")).unwrap_or("");
    let observation = match event_type {
        "QUEUED" if matches!(initiation, "TRANSFER" | "QUEUE_TRANSFER") => {
            let previous = required(
                text(get(detail, "previousContactId")),
                "detail.previousContactId",
                "the contact the call was transferred from",
            )?;
            let to = required(
                queue_arn,
                "detail.queueInfo.queueArn",
                "the queue the transferred contact entered",
            )?;
            match previous_queue(previous, &call_id) {
                None => Observation::Ignored(format!(
                    "the queue of contact `{previous}`, which transferred the call, is unknown (its QUEUED event was not received)"
                )),
                Some(from) => Observation::Transfer(TransferRequest {
                    event_id: event_id(&format!("connect:{previous}:transfer:{to}"))?,
                    call_id,
                    from: parse_department_name(&from, "detail.previousContactId")?,
                    to: parse_department_name(to, "detail.queueInfo.queueArn")?,
                    mode: None,
                    intent: None,
                    callback_number: None,
                    agent_id: None,
                    occurred_at: time(detail, &["initiationTimestamp"])
                        .or_else(|| {
                            get(detail, "queueInfo")
                                .and_then(|info| time(info, &["enqueueTimestamp"]))
                        })
                        .or_else(|| time(envelope, &["time"])),
                }),
            }
        }
        "DISCONNECTED" => {
            let connected_to_agent = get(detail, "agentInfo")
                .is_some_and(|agent| get(agent, "connectedToAgentTimestamp").is_some());
            let outcome = match text(get(detail, "disconnectReason")) {
                Some("CUSTOMER_DISCONNECT") | None if !connected_to_agent => CallOutcome::Abandoned,
                Some(
                    "CUSTOMER_DISCONNECT" | "AGENT_DISCONNECT" | "THIRD_PARTY_DISCONNECT" | "API",
                )
                | None => CallOutcome::Resolved,
                // TELECOM_PROBLEM, CONTACT_FLOW_DISCONNECT, EXPIRED, OTHER, ...: the
                // call was dropped, not ended by a person.
                Some(_) => CallOutcome::Disconnected,
            };
            Observation::End {
                request: EndRequest {
                    event_id: event_id(&format!("connect:{contact_id}:disconnected"))?,
                    call_id,
                    outcome,
                    occurred_at: time(detail, &["disconnectTimestamp"])
                        .or_else(|| time(envelope, &["time"])),
                },
                leg: Some(format!("connect:{contact_id}:")),
            }
        }
        other => Observation::Ignored(format!(
            "`{other}` ({}) is not a transfer or a disconnect",
            if initiation.is_empty() {
                "no initiation method"
            } else {
                initiation
            }
        )),
    };
    Ok(ContactEvent { observation, queue })
}

fn event_id(text: &str) -> Result<EventId, TranslationError> {
    EventId::parse(text)
        .map_err(|error| TranslationError::invalid("detail.contactId", error.message))
}

/// A key of a JSON object, whatever its case (`contactId`, `ContactId`).
fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
    })
}

fn text(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|text| !text.is_empty())
}

fn time(value: &Value, keys: &[&str]) -> Option<Timestamp> {
    keys.iter()
        .find_map(|key| text(get(value, key)))
        .and_then(|text| text.parse().ok())
}

/// The queue of each recent contact, for the transfer its successor reports.
/// Bounded: past `capacity` contacts the oldest is forgotten.
#[derive(Debug)]
pub struct ContactQueues {
    capacity: usize,
    queues: HashMap<String, String>,
    order: VecDeque<String>,
}

impl ContactQueues {
    pub fn new(capacity: usize) -> Self {
        ContactQueues {
            capacity: capacity.max(1),
            queues: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn remember(&mut self, contact: String, queue: String) {
        if self.queues.insert(contact.clone(), queue).is_none() {
            self.order.push_back(contact);
            while self.order.len() > self.capacity {
                if let Some(oldest) = self.order.pop_front() {
                    self.queues.remove(&oldest);
                }
            }
        }
    }

    pub fn queue(&self, contact: &str) -> Option<String> {
        self.queues.get(contact).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_in_any_case_and_the_queue_of_a_contact_is_remembered_within_bounds() {
        let detail = serde_json::json!({"ContactId": "a", "queueinfo": {"QueueArn": "q"}});
        assert_eq!(text(get(&detail, "contactId")), Some("a"));
        assert_eq!(
            text(get(get(&detail, "queueInfo").unwrap(), "queueArn")),
            Some("q")
        );
        let mut queues = ContactQueues::new(2);
        for contact in ["a", "b", "c"] {
            queues.remember(contact.to_owned(), format!("queue-{contact}"));
        }
        assert_eq!(queues.queue("a"), None);
        assert_eq!(queues.queue("c").as_deref(), Some("queue-c"));
    }
}
