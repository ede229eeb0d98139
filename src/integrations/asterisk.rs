//! Asterisk Manager Interface (AMI): the text of the protocol loopguard speaks as a
//! client, and the translation of the events it records.
//!
//! - Framing: `Key: Value` lines ending in CRLF, a blank line ends a message. The
//!   shell caps line length and lines per message; this module parses what it got.
//! - `BlindTransfer` (cold) and `AttendedTransfer` (warm) with `Result: Success`
//!   are transfers; the chain key is the transferee's `Linkedid` (the id of the
//!   call's first channel, which every channel of the call shares).
//! - Departments are dialplan addresses `exten@context`: the target is
//!   `Extension@Context` of a blind transfer and the consultation call's
//!   `SecondTransfererExten@SecondTransfererContext` of an attended one (a queue is
//!   the extension that runs `Queue()`); the transferring party is its caller id
//!   number at its context (`TransfererCallerIDNum@TransfererContext`). Aliases
//!   name them (`aliases = ["600@queues", "2001@from-internal"]`).
//! - `Hangup` of the call's first channel (`Uniqueid` equal to `Linkedid`) ends the
//!   call: resolved for a normal clearing cause, disconnected otherwise.
//! - Event ids come from the channels' unique ids, so the same event read twice
//!   (after a reconnection) is recognised.

use jiff::Timestamp;

use super::observation::{Observation, TranslationError, required};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_department_name,
};
use crate::core::rules::TransferMode;

/// One AMI message: its `Key: Value` lines in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmiMessage {
    pub fields: Vec<(String, String)>,
}

impl AmiMessage {
    /// Parses the lines of one message; a line without `:` is ignored.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let fields = lines
            .into_iter()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                Some((key.trim().to_owned(), value.trim().to_owned()))
            })
            .collect();
        AmiMessage { fields }
    }

    /// The first value of a key (AMI keys are case-insensitive); `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// `Event: ...`, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }
}

/// The Login action (`Events: call`: only call events are sent to loopguard).
pub fn login_action(username: &str, secret: &str) -> String {
    format!(
        "Action: Login\r\nActionID: loopguard-login\r\nUsername: {}\r\nSecret: {}\r\nEvents: call\r\n\r\n",
        single_line(username),
        single_line(secret)
    )
}

/// The Ping action, to find out that a quiet connection is still alive.
pub const PING_ACTION: &str = "Action: Ping\r\nActionID: loopguard-ping\r\n\r\n";

/// A value cannot end the line early: CR and LF are dropped.
fn single_line(text: &str) -> String {
    text.chars()
        .filter(|character| !matches!(character, '\r' | '\n'))
        .collect()
}

/// Whether the answer to the Login action accepted it.
pub fn login_accepted(response: &AmiMessage) -> bool {
    response
        .get("Response")
        .is_some_and(|value| value.eq_ignore_ascii_case("Success"))
}

/// Translates one AMI event. Events that are neither transfers nor the end of a
/// call are ignored.
pub fn observation(event: &AmiMessage) -> Result<Observation, TranslationError> {
    match event.event() {
        Some("BlindTransfer") => transfer(event, Kind::Blind),
        Some("AttendedTransfer") => transfer(event, Kind::Attended),
        Some("Hangup") => hangup(event),
        Some(other) => Ok(Observation::Ignored(format!(
            "`{other}` is not a transfer or a hangup"
        ))),
        None => Ok(Observation::Ignored("not an event".to_owned())),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Blind,
    Attended,
}

fn transfer(event: &AmiMessage, kind: Kind) -> Result<Observation, TranslationError> {
    let result = event.get("Result").unwrap_or("");
    if result != "Success" {
        return Ok(Observation::Ignored(format!(
            "a transfer with Result `{result}` did not happen"
        )));
    }
    let (prefix, mode) = match kind {
        Kind::Blind => ("Transferer", TransferMode::Cold),
        Kind::Attended => ("OrigTransferer", TransferMode::Warm),
    };
    let field = |name: &str| format!("{prefix}{name}");
    let linkedid = required(
        event
            .get("TransfereeLinkedid")
            .or_else(|| event.get(&field("Linkedid"))),
        "TransfereeLinkedid",
        "the Linkedid of the transferred caller's channel",
    )?;
    let transferer_number = required(
        event.get(&field("CallerIDNum")),
        match kind {
            Kind::Blind => "TransfererCallerIDNum",
            Kind::Attended => "OrigTransfererCallerIDNum",
        },
        "the transferring party's number",
    )?;
    let transferer_context = event.get(&field("Context")).unwrap_or("");
    let (to, id) = match kind {
        Kind::Blind => {
            let extension = required(
                event.get("Extension"),
                "Extension",
                "the blind transfer's target extension",
            )?;
            let context = event.get("Context").unwrap_or("");
            (
                format!("{extension}@{context}"),
                format!(
                    "asterisk:{}:{}:blind",
                    event.get("TransfererUniqueid").unwrap_or(""),
                    event.get("TransfereeUniqueid").unwrap_or(linkedid)
                ),
            )
        }
        Kind::Attended => {
            let target = event
                .get("SecondTransfererExten")
                .map(|exten| (exten, event.get("SecondTransfererContext").unwrap_or("")))
                .or_else(|| {
                    event
                        .get("TransferTargetCallerIDNum")
                        .map(|number| (number, event.get("TransferTargetContext").unwrap_or("")))
                });
            let (extension, context) = required(
                target,
                "SecondTransfererExten",
                "the extension the consultation call dialled (or TransferTargetCallerIDNum)",
            )?;
            (
                format!("{extension}@{context}"),
                format!(
                    "asterisk:{}:{}:attended",
                    event.get("OrigTransfererUniqueid").unwrap_or(""),
                    event.get("SecondTransfererUniqueid").unwrap_or(linkedid)
                ),
            )
        }
    };
    Ok(Observation::Transfer(TransferRequest {
        event_id: EventId::parse(&id)
            .map_err(|error| TranslationError::invalid("TransfererUniqueid", error.message))?,
        call_id: CallId::parse(linkedid)
            .map_err(|error| TranslationError::invalid("TransfereeLinkedid", error.message))?,
        from: parse_department_name(
            &format!("{transferer_number}@{transferer_context}"),
            "TransfererContext",
        )?,
        to: parse_department_name(&to, "Extension")?,
        mode: Some(mode),
        intent: None,
        callback_number: None,
        agent_id: Some(parse_department_name(
            transferer_number,
            "TransfererCallerIDNum",
        )?),
        occurred_at: timestamp(event)?,
    }))
}

fn hangup(event: &AmiMessage) -> Result<Observation, TranslationError> {
    let unique = required(
        event.get("Uniqueid"),
        "Uniqueid",
        "the channel that hung up",
    )?;
    let linkedid = event.get("Linkedid").unwrap_or(unique);
    if unique != linkedid {
        return Ok(Observation::Ignored(
            "a channel other than the call's first hung up".to_owned(),
        ));
    }
    // Q.850 causes of the normal class: the call was ended, not dropped.
    let outcome = match event
        .get("Cause")
        .and_then(|cause| cause.parse::<u16>().ok())
    {
        Some(16 | 17 | 18 | 19 | 21 | 31) | None => CallOutcome::Resolved,
        Some(_) => CallOutcome::Disconnected,
    };
    Ok(Observation::End {
        request: EndRequest {
            event_id: EventId::parse(&format!("asterisk:{unique}:hangup"))
                .map_err(|error| TranslationError::invalid("Uniqueid", error.message))?,
            call_id: CallId::parse(linkedid)
                .map_err(|error| TranslationError::invalid("Linkedid", error.message))?,
            outcome,
            occurred_at: timestamp(event)?,
        },
        leg: None,
    })
}

/// `Timestamp: 1751017624.123456` (with `timestampevents = yes` in manager.conf).
fn timestamp(event: &AmiMessage) -> Result<Option<Timestamp>, TranslationError> {
    let Some(text) = event.get("Timestamp") else {
        return Ok(None);
    };
    let invalid =
        || TranslationError::invalid("Timestamp", format!("`{text}` is not Unix seconds"));
    let seconds: f64 = text.parse().map_err(|_| invalid())?;
    if !seconds.is_finite() {
        return Err(invalid());
    }
    Timestamp::from_millisecond((seconds * 1000.0).round() as i64)
        .map(Some)
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_with_a_line_break_cannot_add_a_header_to_the_login() {
        let login = login_action("loopguard", "secret\r\nAction: Originate");
        assert!(!login.contains("\r\nAction: Originate"), "{login}");
        assert!(login.ends_with("\r\n\r\n"));
    }

    #[test]
    fn only_a_successful_transfer_is_one() {
        let failed = AmiMessage::parse([
            "Event: BlindTransfer",
            "Result: Fail",
            "TransfereeLinkedid: x",
        ]);
        assert!(matches!(observation(&failed), Ok(Observation::Ignored(_))));
    }
}
