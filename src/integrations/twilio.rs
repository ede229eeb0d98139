//! Twilio Flex + TaskRouter: the `X-Twilio-Signature` scheme, TaskRouter's Event
//! Callback (form-encoded, after the fact) and the Flex plugin's question before
//! a transfer (JSON from the Twilio Function in `contrib/twilio/`).
//!
//! - Signature: base64 HMAC-SHA1, keyed with the account's auth token, over the
//!   full URL Twilio called followed by every form parameter (`name` then `value`,
//!   sorted by name, then by value). A JSON body is signed through its URL: the
//!   URL carries `bodySHA256=<hex SHA-256 of the body>` and the signature covers
//!   the URL alone. As Twilio's own validators do, a URL is also tried without its
//!   port and with the scheme's default port. This module computes the expected
//!   signatures; the shell compares them in constant time.
//! - Chain key: the conversation id in the task's attributes
//!   (`conversations.conversation_id`, which Flex keeps across the tasks a transfer
//!   creates), else the TaskSid.
//! - A transfer is recorded when TaskRouter reports it done
//!   (`task.transfer-completed`): history is what happened. Its event id,
//!   `twilio:{TaskSid}:{ReservationSid}:{TransferTo}`, is the one the Flex decision
//!   uses, so a transfer asked about first is not recorded twice.
//! - `task.completed` ends the call as resolved, `task.canceled` as abandoned; every
//!   other event type is ignored.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::observation::{Observation, TranslationError, required};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::TransferMode;

/// The header Twilio signs its requests with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The query parameter that carries the SHA-256 of a signed JSON body.
pub const BODY_HASH_PARAMETER: &str = "bodySHA256";

/// The signature Twilio sends for `url` and the form `parameters`.
pub fn signature(auth_token: &str, url: &str, parameters: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = parameters.iter().collect();
    sorted.sort();
    // Any key length is accepted by HMAC.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Every signature that is acceptable for this request: the URL as given,
/// without its port, and with the scheme's default port (Twilio's validators
/// accept each, because proxies add or drop the port).
pub fn acceptable_signatures(
    auth_token: &str,
    url: &str,
    parameters: &[(String, String)],
) -> Vec<String> {
    let mut urls = vec![url.to_owned()];
    for variant in [without_port(url), with_default_port(url)]
        .into_iter()
        .flatten()
    {
        if !urls.contains(&variant) {
            urls.push(variant);
        }
    }
    urls.iter()
        .map(|url| signature(auth_token, url, parameters))
        .collect()
}

/// The lowercase hex SHA-256 of a body, as `bodySHA256` carries it.
pub fn body_hash(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `(scheme://authority, rest)` of an absolute URL.
fn split_authority(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end], &rest[end..]))
}

fn without_port(url: &str) -> Option<String> {
    let (scheme, authority, rest) = split_authority(url)?;
    let (host, port) = authority.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| format!("{scheme}://{host}{rest}"))
}

fn with_default_port(url: &str) -> Option<String> {
    let (scheme, authority, rest) = split_authority(url)?;
    if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return None;
    }
    let port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    Some(format!("{scheme}://{authority}:{port}{rest}"))
}

/// The value of a query parameter in a URL's query string, percent-decoded.
pub fn query_parameter(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// A TaskRouter Event Callback: its form parameters by name (a repeated name
/// keeps its first value; TaskRouter repeats none).
pub struct TaskRouterEvent {
    parameters: BTreeMap<String, String>,
}

impl TaskRouterEvent {
    pub fn new(pairs: &[(String, String)]) -> Self {
        let mut parameters = BTreeMap::new();
        for (name, value) in pairs {
            parameters
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        TaskRouterEvent { parameters }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.parameters
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

/// Translates one TaskRouter event.
pub fn observation(event: &TaskRouterEvent) -> Result<Observation, TranslationError> {
    let event_type = required(
        event.get("EventType"),
        "EventType",
        "the TaskRouter event type, e.g. task.transfer-completed",
    )?;
    match event_type {
        "task.transfer-completed" => transfer(event).map(Observation::Transfer),
        "task.completed" | "task.canceled" => {
            let task_sid = task_sid(event)?;
            let attributes = task_attributes(event)?;
            let outcome = if event_type == "task.completed" {
                CallOutcome::Resolved
            } else {
                CallOutcome::Abandoned
            };
            let call_id = chain_key(&task_sid, &attributes)?;
            // Without a conversation id the task is the call; with one (Flex makes a
            // task per transfer), a task that handed the call on is only a leg.
            let leg = conversation_id(&attributes)
                .is_some()
                .then(|| format!("twilio:{task_sid}:"));
            Ok(Observation::End {
                request: EndRequest {
                    event_id: event_id(&format!("twilio:{task_sid}:{event_type}"))?,
                    call_id,
                    outcome,
                    occurred_at: occurred_at(event)?,
                },
                leg,
            })
        }
        "task.transfer-initiated"
        | "task.transfer-attempt-failed"
        | "task.transfer-failed"
        | "task.transfer-canceled" => Ok(Observation::Ignored(format!(
            "`{event_type}`: a transfer is recorded when TaskRouter reports it completed"
        ))),
        other => Ok(Observation::Ignored(format!(
            "`{other}` is not a transfer or the end of a task"
        ))),
    }
}

fn transfer(event: &TaskRouterEvent) -> Result<TransferRequest, TranslationError> {
    let task_sid = task_sid(event)?;
    let attributes = task_attributes(event)?;
    let to = required(
        event.get("TransferTo"),
        "TransferTo",
        "the Worker or TaskQueue SID the task was transferred to",
    )?;
    let from = required(
        event.get("TaskQueueSid"),
        "TaskQueueSid",
        "the TaskQueue SID the task was in when it was transferred",
    )?;
    let reservation = event
        .get("TransferInitiatingReservationSid")
        .or_else(|| event.get("TaskTransferSid"))
        .ok_or(TranslationError::Missing {
            field: "TransferInitiatingReservationSid",
            what: "the reservation that started the transfer (or TaskTransferSid)",
        })?;
    let mode = match event.get("TransferMode") {
        Some(word) => Some(mode(word, "TransferMode")?),
        None => None,
    };
    Ok(TransferRequest {
        event_id: event_id(&format!("twilio:{task_sid}:{reservation}:{to}"))?,
        call_id: chain_key(&task_sid, &attributes)?,
        from: parse_department_name(from, "TaskQueueSid")?,
        to: parse_department_name(to, "TransferTo")?,
        mode,
        intent: attribute_text(&attributes, "intent")
            .map(|intent| parse_department_name(&intent, "TaskAttributes.intent"))
            .transpose()?,
        callback_number: callback_number(&attributes)?,
        agent_id: event
            .get("TransferInitiatingWorkerSid")
            .or_else(|| event.get("WorkerSid"))
            .map(|worker| parse_department_name(worker, "TransferInitiatingWorkerSid"))
            .transpose()?,
        occurred_at: occurred_at(event)?,
    })
}

fn task_sid(event: &TaskRouterEvent) -> Result<String, TranslationError> {
    required(
        event.get("TaskSid"),
        "TaskSid",
        "the task the event is about",
    )
    .map(str::to_owned)
}

fn task_attributes(event: &TaskRouterEvent) -> Result<serde_json::Value, TranslationError> {
    match event.get("TaskAttributes") {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(text).map_err(|error| {
            TranslationError::invalid("TaskAttributes", format!("is not JSON: {error}"))
        }),
    }
}

/// The conversation id Flex keeps across a transfer's tasks, else the task.
fn chain_key(task_sid: &str, attributes: &serde_json::Value) -> Result<CallId, TranslationError> {
    match conversation_id(attributes) {
        Some(conversation) => CallId::parse(conversation).map_err(|error| {
            TranslationError::invalid(
                "TaskAttributes.conversations.conversation_id",
                error.message,
            )
        }),
        None => CallId::parse(task_sid)
            .map_err(|error| TranslationError::invalid("TaskSid", error.message)),
    }
}

fn conversation_id(attributes: &serde_json::Value) -> Option<&str> {
    attributes
        .pointer("/conversations/conversation_id")
        .and_then(|value| value.as_str())
        .filter(|text| !text.is_empty())
}

fn attribute_text(attributes: &serde_json::Value, name: &str) -> Option<String> {
    attributes
        .get(name)
        .and_then(|value| value.as_str())
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The caller's number from a voice task's attributes (`from`, else `caller`);
/// a chat identity (not starting with `+`) is no number to call back.
fn callback_number(attributes: &serde_json::Value) -> Result<Option<String>, TranslationError> {
    attribute_text(attributes, "callback_number")
        .or_else(|| {
            ["from", "caller"]
                .iter()
                .filter_map(|name| attribute_text(attributes, name))
                .find(|number| number.starts_with('+'))
        })
        .map(|number| parse_callback_number(&number))
        .transpose()
        .map_err(TranslationError::from)
}

/// The event's time: `TimestampMs` (milliseconds), else `Timestamp` (seconds).
fn occurred_at(event: &TaskRouterEvent) -> Result<Option<Timestamp>, TranslationError> {
    let parse = |field: &'static str, scale: i64| -> Result<Option<Timestamp>, TranslationError> {
        let Some(text) = event.get(field) else {
            return Ok(None);
        };
        let invalid = || TranslationError::invalid(field, format!("`{text}` is not a Unix time"));
        let number: i64 = text.trim().parse().map_err(|_| invalid())?;
        let millis = number.checked_mul(scale).ok_or_else(invalid)?;
        Timestamp::from_millisecond(millis)
            .map(Some)
            .map_err(|_| invalid())
    };
    match parse("TimestampMs", 1)? {
        Some(time) => Ok(Some(time)),
        None => parse("Timestamp", 1000),
    }
}

fn mode(word: &str, field: &'static str) -> Result<TransferMode, TranslationError> {
    TransferMode::WORDS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(word))
        .map(|&(_, mode)| mode)
        .ok_or_else(|| TranslationError::invalid(field, format!("`{word}` is not WARM or COLD")))
}

fn event_id(text: &str) -> Result<EventId, TranslationError> {
    EventId::parse(text).map_err(|error| TranslationError::invalid("TaskSid", error.message))
}

/// What the Flex plugin's Twilio Function sends before a transfer: the facts of
/// Flex's `beforeTransferTask` payload. Other fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FlexTransferBody {
    /// The task (`task.taskSid`, WT...).
    #[schema(example = "WT0123456789abcdef0123456789abcdef")]
    pub task_sid: Option<String>,
    /// The agent's reservation (`task.sid`, WR...).
    #[schema(example = "WR0123456789abcdef0123456789abcdef")]
    pub reservation_sid: Option<String>,
    /// The TaskQueue the task is in (`task.queueSid`, WQ...).
    #[schema(example = "WQ0123456789abcdef0123456789abcdef")]
    pub from: Option<String>,
    /// The transfer target (`payload.targetSid`: a Worker WK... or TaskQueue WQ...).
    #[schema(example = "WQfedcba9876543210fedcba9876543210")]
    pub to: Option<String>,
    /// `WARM` or `COLD` (`payload.options.mode`).
    #[schema(example = "COLD")]
    pub mode: Option<String>,
    /// `task.attributes.conversations.conversation_id`, when present: the chain key.
    pub conversation_id: Option<String>,
    /// The transferring worker (`manager.workerClient.sid`).
    pub worker_sid: Option<String>,
    pub intent: Option<String>,
    pub callback_number: Option<String>,
}

/// Translates the Flex plugin's question into a transfer request with the event
/// id TaskRouter's `task.transfer-completed` will carry.
pub fn flex_transfer_request(body: FlexTransferBody) -> Result<TransferRequest, TranslationError> {
    let task_sid = required(
        body.task_sid,
        "task_sid",
        "the task's SID (task.taskSid, WT...)",
    )?;
    let reservation = required(
        body.reservation_sid,
        "reservation_sid",
        "the agent's reservation SID (task.sid, WR...)",
    )?;
    let from = required(
        body.from,
        "from",
        "the TaskQueue SID the task is in (task.queueSid)",
    )?;
    let to = required(
        body.to,
        "to",
        "the transfer target's SID (payload.targetSid)",
    )?;
    let call_id = match body.conversation_id {
        Some(conversation) => CallId::parse(&conversation)
            .map_err(|error| TranslationError::invalid("conversation_id", error.message))?,
        None => CallId::parse(&task_sid)
            .map_err(|error| TranslationError::invalid("task_sid", error.message))?,
    };
    Ok(TransferRequest {
        event_id: EventId::parse(&format!("twilio:{task_sid}:{reservation}:{to}"))
            .map_err(|error| TranslationError::invalid("task_sid", error.message))?,
        call_id,
        from: parse_department_name(&from, "from")?,
        to: parse_department_name(&to, "to")?,
        mode: body
            .mode
            .as_deref()
            .map(|word| mode(word, "mode"))
            .transpose()?,
        intent: body
            .intent
            .map(|intent| parse_department_name(&intent, "intent"))
            .transpose()?,
        callback_number: body
            .callback_number
            .map(|number| parse_callback_number(&number))
            .transpose()?,
        agent_id: body
            .worker_sid
            .map(|worker| parse_department_name(&worker, "worker_sid"))
            .transpose()?,
        occurred_at: None,
    })
}

/// Whether an alias names a TaskRouter object (a TaskQueue or a Worker).
pub fn is_taskrouter_sid(alias: &str) -> bool {
    (alias.starts_with("WQ") || alias.starts_with("WK"))
        && alias.len() == 34
        && alias[2..].bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// twilio-python's `tests/unit/test_request_validator.py`: token, URL and
    /// parameters with the signatures Twilio's own library expects.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn python_parameters() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    #[test]
    fn twilio_python_signature_examples_match() {
        assert_eq!(
            signature(TOKEN, URL, &python_parameters()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let duplicates = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature(TOKEN, URL, &duplicates),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn ports_are_tried_without_and_with_the_default() {
        let with_port = URL.replace(".com", ".com:1234");
        assert!(
            acceptable_signatures(TOKEN, &with_port, &python_parameters())
                .contains(&"RSOYDt4T1cUTdK1PDd93/VVr8B8=".to_owned())
        );
        let http_with_port = with_port.replace("https", "http");
        assert!(
            acceptable_signatures(TOKEN, &http_with_port, &python_parameters())
                .contains(&"Zmvh+3yNM1Phv2jhDCwEM3q5ebU=".to_owned())
        );
        assert!(
            acceptable_signatures(TOKEN, URL, &python_parameters())
                .contains(&"kvajT1Ptam85bY51eRf/AJRuM3w=".to_owned())
        );
        assert!(
            acceptable_signatures(TOKEN, &URL.replace("https", "http"), &python_parameters())
                .contains(&"0ZXoZLH/DfblKGATFgpif+LLRf4=".to_owned())
        );
        assert!(
            !acceptable_signatures("54321", URL, &python_parameters())
                .contains(&"RSOYDt4T1cUTdK1PDd93/VVr8B8=".to_owned())
        );
    }

    #[test]
    fn a_json_body_is_signed_through_its_hash_in_the_url() {
        let body = "{\"property\": \"value\", \"boolean\": true}";
        let hash = body_hash(body.as_bytes());
        assert_eq!(
            hash,
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(signature(TOKEN, &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(
            query_parameter("foo=1&bodySHA256=0a1f", BODY_HASH_PARAMETER).as_deref(),
            Some("0a1f")
        );
    }

    #[test]
    fn a_completed_transfer_keeps_the_conversation_as_chain_key() {
        let event = TaskRouterEvent::new(&pairs(&[
            ("EventType", "task.transfer-completed"),
            ("TaskSid", "WT1"),
            ("TaskQueueSid", "WQ1"),
            ("TransferTo", "WQ2"),
            ("TransferMode", "COLD"),
            ("TransferInitiatingReservationSid", "WR1"),
            (
                "TaskAttributes",
                r#"{"from":"+14155550123","conversations":{"conversation_id":"WT0"}}"#,
            ),
            ("TimestampMs", "1700000000123"),
        ]));
        let Observation::Transfer(request) = observation(&event).unwrap() else {
            panic!("a transfer");
        };
        assert_eq!(request.call_id.as_str(), "WT0");
        assert_eq!(request.event_id.as_str(), "twilio:WT1:WR1:WQ2");
        assert_eq!(request.mode, Some(TransferMode::Cold));
        assert_eq!(request.callback_number.as_deref(), Some("+14155550123"));
        assert_eq!(
            request.occurred_at,
            Some(Timestamp::from_millisecond(1_700_000_000_123).unwrap())
        );
    }
}
