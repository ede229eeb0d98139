//! Asterisk channel event logs (CEL) written by `cel_custom` with the `Master.csv`
//! mapping of `cel_custom.conf.sample`: no header; eventtype, eventtime, caller id
//! name and number, ANI, RDNIS, DNID, exten, context, channel name, app name, app
//! data, AMA flags, account code, uniqueid, linkedid, bridged peer, userfield,
//! user event type and the event's extra data (newer samples put a literal column,
//! "My Literal", after the event type; both layouts are read). `eventtime` is
//! `cel.conf`'s default (Unix seconds with microseconds) or `%F %T` read as UTC.
//!
//! The chain key is the linkedid. `BLINDTRANSFER` (cold) goes from the
//! transferer's endpoint (the channel's peer name: `PJSIP/2001-00000002` is
//! `2001`) to the extra data's `extension`; `ATTENDEDTRANSFER` (warm) goes to the
//! endpoint of `transfer_target_channel_name`. `LINKEDID_END` ends the call:
//! resolved when a channel entered a bridge after the last transfer, abandoned
//! otherwise. The first channel's caller number is the callback number.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;

use super::event::{EventKind, HistoryEvent, Origin, RecordError};
use crate::core::engine::{
    CallId, CallOutcome, EndRequest, EventId, TransferRequest, parse_callback_number,
    parse_department_name,
};
use crate::core::rules::TransferMode;

/// The columns of one CEL row the replay reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CelRow<'a> {
    pub event_type: &'a str,
    pub event_time: &'a str,
    pub caller_number: &'a str,
    pub channel: &'a str,
    pub uniqueid: &'a str,
    pub linkedid: &'a str,
    pub extra: &'a str,
}

impl<'a> CelRow<'a> {
    /// Picks the columns out of a `Master.csv` row (20 columns, or 21 with the
    /// sample's literal column).
    pub fn from_fields(fields: &[&'a str]) -> Result<Self, RecordError> {
        let shift = match fields.len() {
            20 => 0,
            21 => 1,
            count => {
                return Err(RecordError::new(format!(
                    "{count} columns; a cel_custom Master.csv row has 20 (or 21 with the sample's literal column): eventtype, eventtime, ... eventextra"
                )));
            }
        };
        Ok(CelRow {
            event_type: fields[0],
            event_time: fields[1 + shift],
            caller_number: fields[3 + shift],
            channel: fields[9 + shift],
            uniqueid: fields[14 + shift],
            linkedid: fields[15 + shift],
            extra: fields[19 + shift],
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct TransferExtra {
    extension: Option<String>,
    transfer_target_channel_name: Option<String>,
}

#[derive(Debug)]
struct Call {
    caller: Option<String>,
    transferred: bool,
    bridged_since_transfer: bool,
    last: Timestamp,
}

/// Follows CEL rows per linkedid. Memory: the calls of the last
/// [`CelAssembler::evict`] window.
#[derive(Default)]
pub struct CelAssembler {
    calls: HashMap<String, Call>,
}

impl CelAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(
        &mut self,
        row: &CelRow,
        origin: Origin,
        out: &mut Vec<HistoryEvent>,
    ) -> Result<(), RecordError> {
        let relevant = matches!(
            row.event_type,
            "CHAN_START" | "BRIDGE_ENTER" | "BLINDTRANSFER" | "ATTENDEDTRANSFER" | "LINKEDID_END"
        );
        if !relevant {
            return Ok(());
        }
        let at = parse_event_time(row.event_time)?;
        if row.linkedid.is_empty() {
            return Err(RecordError::new(
                "linkedid is empty; the mapping must include ${CHANNEL(linkedid)}",
            ));
        }
        let call_id = CallId::parse(row.linkedid).map_err(invalid)?;
        let call = self.calls.entry(row.linkedid.to_owned()).or_insert(Call {
            caller: None,
            transferred: false,
            bridged_since_transfer: false,
            last: at,
        });
        call.last = call.last.max(at);
        match row.event_type {
            "CHAN_START" if row.uniqueid == row.linkedid => {
                call.caller = Some(row.caller_number)
                    .filter(|number| number.starts_with('+'))
                    .map(parse_callback_number)
                    .transpose()
                    .map_err(invalid)?;
                out.push(HistoryEvent {
                    at,
                    origin,
                    kind: EventKind::Seen(call_id),
                });
            }
            "BRIDGE_ENTER" => call.bridged_since_transfer = true,
            "BLINDTRANSFER" | "ATTENDEDTRANSFER" => {
                let extra: TransferExtra = serde_json::from_str(row.extra).map_err(|error| {
                    RecordError::new(format!(
                        "the extra data of {} is not the JSON Asterisk writes: {error}",
                        row.event_type
                    ))
                })?;
                let (to, mode, kind) = if row.event_type == "BLINDTRANSFER" {
                    let extension = extra.extension.filter(|exten| !exten.is_empty());
                    (extension, TransferMode::Cold, "blind")
                } else {
                    let target = extra
                        .transfer_target_channel_name
                        .filter(|name| !name.is_empty() && name != "N/A");
                    (
                        target.map(|name| endpoint(&name)),
                        TransferMode::Warm,
                        "attended",
                    )
                };
                let to = to.ok_or_else(|| {
                    RecordError::new(format!(
                        "{} names no target (extension or transfer_target_channel_name)",
                        row.event_type
                    ))
                })?;
                let name =
                    |value: &str, field| parse_department_name(value, field).map_err(invalid);
                out.push(HistoryEvent {
                    at,
                    origin,
                    kind: EventKind::Transfer(TransferRequest {
                        event_id: EventId::parse(&format!(
                            "asterisk:{}:{}:{}:{kind}",
                            row.linkedid, row.uniqueid, row.event_time
                        ))
                        .map_err(invalid)?,
                        call_id,
                        from: name(&endpoint(row.channel), "channame")?,
                        to: name(&to, "extra")?,
                        mode: Some(mode),
                        intent: None,
                        callback_number: call.caller.clone(),
                        agent_id: None,
                        occurred_at: Some(at),
                    }),
                });
                call.transferred = true;
                call.bridged_since_transfer = false;
            }
            "LINKEDID_END" => {
                let outcome = if !call.transferred || call.bridged_since_transfer {
                    CallOutcome::Resolved
                } else {
                    CallOutcome::Abandoned
                };
                self.calls.remove(row.linkedid);
                out.push(HistoryEvent {
                    at,
                    origin,
                    kind: EventKind::End(EndRequest {
                        event_id: EventId::parse(&format!("asterisk:{}:end", row.linkedid))
                            .map_err(invalid)?,
                        call_id,
                        outcome,
                        occurred_at: Some(at),
                    }),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Forgets calls with no row since `before` (their LINKEDID_END never came).
    pub fn evict(&mut self, before: Timestamp) {
        self.calls.retain(|_, call| call.last >= before);
    }

    pub fn held(&self) -> usize {
        self.calls.len()
    }
}

/// The endpoint of a channel name: `PJSIP/2001-00000002` → `2001`,
/// `Local/3001@from-internal-0000001a;1` → `3001`.
pub fn endpoint(channel: &str) -> String {
    let name = channel.split_once('/').map_or(channel, |(_, rest)| rest);
    let name = name.split(';').next().unwrap_or(name);
    let name = match name.rsplit_once('-') {
        Some((peer, suffix))
            if !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_hexdigit()) =>
        {
            peer
        }
        _ => name,
    };
    name.split('@').next().unwrap_or(name).to_owned()
}

/// `1356027523.123456` (Unix seconds, the default) or `2012-12-20 18:18:43`
/// (with `dateformat = %F %T`, read as UTC).
pub fn parse_event_time(text: &str) -> Result<Timestamp, RecordError> {
    let bad = || {
        RecordError::new(format!(
            "eventtime `{text}` is neither Unix seconds (1356027523.123456) nor `YYYY-MM-DD HH:MM:SS`"
        ))
    };
    if let Some((seconds, fraction)) = text.split_once('.').or(Some((text, "")))
        && !seconds.is_empty()
        && seconds.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.bytes().all(|byte| byte.is_ascii_digit())
    {
        let seconds: i64 = seconds.parse().map_err(|_| bad())?;
        let micros: i64 = format!("{fraction:0<6}")
            .get(..6)
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0);
        return Timestamp::new(seconds, (micros * 1000) as i32).map_err(|_| bad());
    }
    let civil: jiff::civil::DateTime = text.replacen(' ', "T", 1).parse().map_err(|_| bad())?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|_| bad())
}

fn invalid(error: crate::core::engine::InputError) -> RecordError {
    RecordError::new(error.to_string())
}
