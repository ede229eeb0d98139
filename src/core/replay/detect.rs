//! Which history format a file is, from its first bytes (after decompression).

use std::fmt;

/// The history formats `loopguard replay` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// loopguard's JSON Lines: one API body per line plus `type`.
    Native,
    /// Amazon Connect contact records (JSON Lines, concatenated, or an array).
    Connect,
    /// Twilio TaskRouter events (the Events API's `{"events": [...]}`).
    Twilio,
    /// Genesys Cloud conversation details (`{"conversations": [...]}`).
    Genesys,
    /// Asterisk CEL as CSV from cel_custom.
    Asterisk,
}

impl InputFormat {
    pub const ALL: [InputFormat; 5] = [
        InputFormat::Native,
        InputFormat::Connect,
        InputFormat::Twilio,
        InputFormat::Genesys,
        InputFormat::Asterisk,
    ];

    /// The format named `name` (as `as_str` spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Native => "native",
            InputFormat::Connect => "connect",
            InputFormat::Twilio => "twilio",
            InputFormat::Genesys => "genesys",
            InputFormat::Asterisk => "asterisk",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// CEL event types a cel_custom row may start with.
const CEL_EVENTS: &[&str] = &[
    "CHAN_START",
    "CHAN_END",
    "ANSWER",
    "HANGUP",
    "APP_START",
    "APP_END",
    "PARK_START",
    "PARK_END",
    "BRIDGE_ENTER",
    "BRIDGE_EXIT",
    "BLINDTRANSFER",
    "ATTENDEDTRANSFER",
    "LINKEDID_END",
    "USER_DEFINED",
    "PICKUP",
    "FORWARD",
    "LOCAL_OPTIMIZE",
];

/// Guesses the format from the start of a file; `None` when nothing fits.
pub fn detect(prefix: &[u8]) -> Option<InputFormat> {
    let text = String::from_utf8_lossy(prefix);
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let first = trimmed.chars().next()?;
    if first == '{' || first == '[' {
        // The keys that only one format has, in the order that settles ties.
        let has = |key: &str| trimmed.contains(&format!("\"{key}\""));
        if has("ContactId") || has("AWSContactTraceRecordFormatVersion") {
            return Some(InputFormat::Connect);
        }
        if has("conversations") || has("conversationId") {
            return Some(InputFormat::Genesys);
        }
        if has("event_type") && (has("event_data") || has("events")) {
            return Some(InputFormat::Twilio);
        }
        if has("call_id") && has("occurred_at") {
            return Some(InputFormat::Native);
        }
        return None;
    }
    let first_field = trimmed
        .split([',', '\n'])
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    CEL_EVENTS
        .contains(&first_field)
        .then_some(InputFormat::Asterisk)
}
