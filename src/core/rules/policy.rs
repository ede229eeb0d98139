//! `[policy]`: transfer modes, verdict actions, runtime finding codes and the
//! policy with every default applied, built from its raw TOML table.

use std::fmt;

use jiff::SignedDuration;

use serde::{Deserialize, Serialize};

use super::ids::DepartmentId;
use super::model::Origin;
use super::raw::{RawAction, RawActions, RawPolicy, RawPolicyMode};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::duration::parse_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    Warm,
    Cold,
}

impl TransferMode {
    /// The words platforms use for a mode, as webhooks accept them (case-insensitive).
    pub const WORDS: &'static [(&'static str, TransferMode)] = &[
        ("warm", TransferMode::Warm),
        ("cold", TransferMode::Cold),
        ("attended", TransferMode::Warm),
        ("consult", TransferMode::Warm),
        ("blind", TransferMode::Cold),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferMode::Warm => "warm",
            TransferMode::Cold => "cold",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    Enforce,
    Observe,
}

/// What a runtime finding does to a transfer. Ordered by severity.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Warn,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Block => "block",
        }
    }
}

macro_rules! runtime_codes {
    ($($variant:ident => $name:literal, $default:ident;)*) => {
        /// Codes of the findings the transfer-chain engine produces at run time; the
        /// keys of `[policy.actions]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuntimeCode { $($variant,)* }

        impl RuntimeCode {
            pub const ALL: &'static [RuntimeCode] = &[$(RuntimeCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(RuntimeCode::$variant => $name,)* }
            }

            /// The verdict when `[policy.actions]` does not say.
            pub fn default_action(self) -> Action {
                match self { $(RuntimeCode::$variant => Action::$default,)* }
            }
        }
    };
}

runtime_codes! {
    PingPong => "ping-pong", Block;
    CircularHandoff => "circular-handoff", Block;
    MaxHopsExceeded => "max-hops-exceeded", Block;
    TransferNotAllowed => "transfer-not-allowed", Warn;
    WrongDepartment => "wrong-department", Warn;
    ColdTransfer => "cold-transfer", Block;
    UnknownTransferMode => "unknown-transfer-mode", Warn;
    MissingCallbackNumber => "missing-callback-number", Block;
    InvalidCallbackNumber => "invalid-callback-number", Warn;
    UnknownDepartment => "unknown-department", Warn;
}

impl fmt::Display for RuntimeCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuntimeCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        RuntimeCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown runtime finding code `{name}`"))
            })
    }
}

impl Serialize for RuntimeCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The verdict for every runtime finding code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    by_code: [Action; RuntimeCode::ALL.len()],
}

impl Default for Actions {
    fn default() -> Self {
        let mut by_code = [Action::Allow; RuntimeCode::ALL.len()];
        for &code in RuntimeCode::ALL {
            by_code[code as usize] = code.default_action();
        }
        Self { by_code }
    }
}

impl Actions {
    pub fn get(&self, code: RuntimeCode) -> Action {
        self.by_code[code as usize]
    }

    pub fn set(&mut self, code: RuntimeCode, action: Action) {
        self.by_code[code as usize] = action;
    }
}

/// `[policy]` with every default applied.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_hops: u32,
    /// Milliseconds: a return to a department within this window is a bounce.
    pub bounce_window_ms: i64,
    pub require_warm_transfer: bool,
    pub require_callback_number: bool,
    pub mode: PolicyMode,
    pub escalation: Option<DepartmentId>,
    pub actions: Actions,
    /// Where `require_warm_transfer` is set, for findings that point at it.
    pub require_warm_transfer_span: Option<Span>,
    pub max_hops_span: Option<Span>,
    /// The `escalation` value, when it names a known department.
    pub escalation_span: Option<Span>,
    /// How long after a dropped call its callback is due; `None`: never overdue.
    pub callback_within: Option<SignedDuration>,
    /// Whether the dashboard shows per-agent statistics.
    pub show_agents: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_hops: 3,
            bounce_window_ms: 30 * 60 * 1000,
            require_warm_transfer: true,
            require_callback_number: true,
            mode: PolicyMode::Enforce,
            escalation: None,
            actions: Actions::default(),
            require_warm_transfer_span: None,
            max_hops_span: None,
            escalation_span: None,
            callback_within: None,
            show_agents: true,
        }
    }
}

pub(super) fn build_policy(
    origin: Origin,
    raw: RawPolicy,
    policy: &mut Policy,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(String, Span)> {
    if let Some(max_hops) = raw.max_hops {
        let max_hops_span = origin.span(max_hops.span());
        match u32::try_from(*max_hops.get_ref()) {
            Ok(value @ 1..=70) => {
                policy.max_hops = value;
                policy.max_hops_span = Some(max_hops_span);
            }
            _ => diagnostics.push(
                Diagnostic::new(
                    LintCode::InvalidValue,
                    max_hops_span,
                    format!("max_hops = {} is out of range", max_hops.get_ref()),
                )
                .with_primary_label("must be between 1 and 70")
                .with_help("SIP gives up after 70 forwards; a contact center rarely needs more than 3 to 5 transfers"),
            ),
        }
    }
    if let Some(window) = raw.bounce_window {
        let window_span = origin.span(window.span());
        match parse_window(window.get_ref()) {
            Ok(milliseconds) => policy.bounce_window_ms = milliseconds,
            Err(message) => diagnostics.push(
                Diagnostic::new(LintCode::InvalidValue, window_span, message).with_help(
                    "write a duration such as \"30m\", \"90s\", \"1h 30m\" or \"2d\" (1 second to 7 days)",
                ),
            ),
        }
    }
    if let Some(within) = raw.callback_within {
        let within_span = origin.span(within.span());
        match parse_callback_within(within.get_ref()) {
            Ok(duration) => policy.callback_within = Some(duration),
            Err(message) => diagnostics.push(
                Diagnostic::new(LintCode::InvalidValue, within_span, message).with_help(
                    "write a duration such as \"2h\", \"30m\", \"1d\" (1 minute to 30 days)",
                ),
            ),
        }
    }
    if let Some(show) = raw.show_agents {
        policy.show_agents = *show.get_ref();
    }
    if let Some(require) = raw.require_warm_transfer {
        policy.require_warm_transfer = *require.get_ref();
        policy.require_warm_transfer_span = Some(origin.span(require.span()));
    }
    if let Some(require) = raw.require_callback_number {
        policy.require_callback_number = *require.get_ref();
    }
    if let Some(mode) = raw.mode {
        policy.mode = match mode.get_ref() {
            RawPolicyMode::Enforce => PolicyMode::Enforce,
            RawPolicyMode::Observe => PolicyMode::Observe,
        };
    }
    if let Some(actions) = raw.actions {
        build_actions(
            origin,
            actions.into_inner(),
            &mut policy.actions,
            diagnostics,
        );
    }
    raw.escalation
        .map(|escalation| (escalation.get_ref().clone(), origin.span(escalation.span())))
}

fn build_actions(
    origin: Origin,
    raw: RawActions,
    actions: &mut Actions,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let entries = [
        (RuntimeCode::PingPong, raw.ping_pong),
        (RuntimeCode::CircularHandoff, raw.circular_handoff),
        (RuntimeCode::MaxHopsExceeded, raw.max_hops_exceeded),
        (RuntimeCode::TransferNotAllowed, raw.transfer_not_allowed),
        (RuntimeCode::WrongDepartment, raw.wrong_department),
        (RuntimeCode::ColdTransfer, raw.cold_transfer),
        (RuntimeCode::UnknownTransferMode, raw.unknown_transfer_mode),
        (
            RuntimeCode::MissingCallbackNumber,
            raw.missing_callback_number,
        ),
        (
            RuntimeCode::InvalidCallbackNumber,
            raw.invalid_callback_number,
        ),
        (RuntimeCode::UnknownDepartment, raw.unknown_department),
    ];
    for (code, action) in entries {
        let Some(action) = action else { continue };
        let value = match action.get_ref() {
            RawAction::Block => Action::Block,
            RawAction::Warn => Action::Warn,
            RawAction::Allow => Action::Allow,
        };
        if code == RuntimeCode::UnknownDepartment && value == Action::Block {
            diagnostics.push(
                Diagnostic::new(
                    LintCode::InvalidValue,
                    origin.span(action.span()),
                    "unknown-department cannot block: the call must still be served",
                )
                .with_help("use \"warn\" or \"allow\""),
            );
            continue;
        }
        actions.set(code, value);
    }
}

/// Parses a bounce window such as "30m", "1h 30m" or "2d" into milliseconds.
pub fn parse_window(text: &str) -> Result<i64, String> {
    // The lint finding's help shows the syntax, so the message gives only the reason.
    let duration = parse_duration(text)
        .map_err(|error| format!("`{text}` is not a duration: {}", error.reason))?;
    let milliseconds = duration.as_millis();
    if !(1_000..=7 * 24 * 3_600_000).contains(&milliseconds) {
        return Err(format!(
            "bounce_window `{text}` is out of range: it must be between 1 second and 7 days"
        ));
    }
    // In range, so it fits in i64.
    Ok(milliseconds as i64)
}

/// Parses `callback_within`: a duration from 1 minute to 30 days.
pub fn parse_callback_within(text: &str) -> Result<SignedDuration, String> {
    let duration = parse_duration(text)
        .map_err(|error| format!("`{text}` is not a duration: {}", error.reason))?;
    if duration < SignedDuration::from_mins(1) || duration > SignedDuration::from_hours(30 * 24) {
        return Err(format!(
            "callback_within `{text}` is out of range: it must be between 1 minute and 30 days"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_friendly_durations_within_range() {
        assert_eq!(parse_window("30m"), Ok(1_800_000));
        assert_eq!(parse_window("1h 30m"), Ok(5_400_000));
        assert!(parse_window("0s").is_err());
        assert!(parse_window("half an hour").is_err());
        assert_eq!(parse_window("2d"), Ok(172_800_000));
        assert_eq!(parse_window("7d"), Ok(604_800_000));
        assert!(parse_window("8d").is_err());
    }

    #[test]
    fn callback_within_takes_a_minute_to_thirty_days() {
        assert_eq!(
            parse_callback_within("2h"),
            Ok(SignedDuration::from_hours(2))
        );
        assert!(parse_callback_within("30s").is_err());
        assert!(parse_callback_within("31d").is_err());
        assert!(parse_callback_within("soon").is_err());
    }
}
