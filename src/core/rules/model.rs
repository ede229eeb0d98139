//! The validated routing model: ids that cannot be malformed, a policy with every
//! default filled in, and transfers whose endpoints are known departments.
//!
//! [`Rules::build`] turns the raw pieces of every file into this model and reports
//! what it had to leave out, so a configuration with errors still yields the best
//! model it can (the linter keeps checking; the server refuses to start on errors).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{
    RawAction, RawActions, RawDepartment, RawIntent, RawPolicy, RawPolicyMode, RawTransfer,
    RawTransferMode,
};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::source::SourceId;

/// Longest id we accept for departments and intents.
pub const MAX_ID_LENGTH: usize = 64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1 to 64 characters: letters (any script), digits, `_`, `-`, `.`.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                validate_id(value, $what).map(|()| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A department id such as `customer_service`.
    DepartmentId,
    "department id"
);
id_type!(
    /// An intent id such as `reconnect_line`.
    Intent,
    "intent"
);

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty; write a name such as `customer_service`")]
    Empty { what: &'static str },
    #[error("{what} is {length} characters long; the limit is {MAX_ID_LENGTH}")]
    TooLong { what: &'static str, length: usize },
    #[error(
        "{what} `{value}` contains {character:?}; use letters, digits, `_`, `-` or `.` (for example `{suggestion}`)"
    )]
    InvalidCharacter {
        what: &'static str,
        value: String,
        character: char,
        suggestion: String,
    },
}

fn validate_id(value: &str, what: &'static str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let length = value.chars().count();
    if length > MAX_ID_LENGTH {
        return Err(IdError::TooLong { what, length });
    }
    if let Some(character) = value.chars().find(|&character| !is_id_character(character)) {
        let suggestion: String = value
            .chars()
            .map(|character| {
                if is_id_character(character) {
                    character.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        return Err(IdError::InvalidCharacter {
            what,
            value: value.to_owned(),
            character,
            suggestion,
        });
    }
    Ok(())
}

fn is_id_character(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '-' | '.')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    Warm,
    Cold,
}

impl TransferMode {
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
        }
    }
}

/// A declared intent of the optional catalog.
#[derive(Debug, Clone)]
pub struct IntentDeclaration {
    pub id: Intent,
    pub description: Option<String>,
    pub id_span: Span,
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub entry: bool,
    pub handles: Vec<Intent>,
    /// The `[[department]]` header.
    pub header_span: Span,
    pub id_span: Span,
    /// The `entry = true` value, or the header when `entry` is not set.
    pub entry_span: Span,
    /// One span per entry of `handles`, same order.
    pub handles_spans: Vec<Span>,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    /// Index into [`Rules::departments`].
    pub from: usize,
    pub to: usize,
    /// `None`: allowed for any intent.
    pub intents: Option<Vec<Intent>>,
    pub mode: TransferMode,
    pub header_span: Span,
    pub from_span: Span,
    pub to_span: Span,
    /// One span per entry of `intents`, same order.
    pub intent_spans: Vec<Span>,
    pub mode_span: Option<Span>,
}

impl Transfer {
    pub fn allows(&self, intent: &str) -> bool {
        match &self.intents {
            None => true,
            Some(intents) => intents.iter().any(|allowed| allowed.as_str() == intent),
        }
    }
}

/// One routing configuration, validated. Departments are indexed by position;
/// transfers only connect known, distinct departments and no ordered pair twice.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub policy: Policy,
    pub intents: Vec<IntentDeclaration>,
    pub departments: Vec<Department>,
    pub transfers: Vec<Transfer>,
    department_index: HashMap<String, usize>,
    owners: HashMap<String, Vec<usize>>,
    /// Outgoing transfer indices per department.
    outgoing: Vec<Vec<usize>>,
    transfer_index: HashMap<(usize, usize), usize>,
}

/// The raw pieces of every file, tagged with the file they came from.
#[derive(Debug, Default)]
pub struct RawPieces {
    pub policies: Vec<(SourceId, Spanned<RawPolicy>)>,
    pub intents: Vec<(SourceId, Spanned<RawIntent>)>,
    pub departments: Vec<(SourceId, Spanned<RawDepartment>)>,
    pub transfers: Vec<(SourceId, Spanned<RawTransfer>)>,
}

fn span(source: SourceId, range: std::ops::Range<usize>) -> Span {
    Span::new(source, range)
}

impl Rules {
    /// Validates the raw pieces into a model, reporting every value it had to drop.
    pub fn build(pieces: RawPieces) -> (Rules, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut rules = Rules::default();
        let mut escalation = None;

        for (index, (source, policy)) in pieces.policies.into_iter().enumerate() {
            let header = span(source, policy.span());
            if index > 0 {
                diagnostics.push(
                    Diagnostic::new(
                        LintCode::DuplicateId,
                        header,
                        "[policy] is defined more than once",
                    )
                    .with_primary_label("second [policy]")
                    .with_help("keep one [policy] table for the whole rules directory"),
                );
                continue;
            }
            escalation = build_policy(
                source,
                policy.into_inner(),
                &mut rules.policy,
                &mut diagnostics,
            );
        }

        let mut declared_intents: HashMap<String, Span> = HashMap::new();
        for (source, raw) in pieces.intents {
            let raw = raw.into_inner();
            let id_span = span(source, raw.id.span());
            let Some(id) = parse_id(&raw.id, id_span, Intent::parse, &mut diagnostics) else {
                continue;
            };
            if let Some(&first) = declared_intents.get(id.as_str()) {
                diagnostics.push(duplicate(id_span, first, "intent", id.as_str()));
                continue;
            }
            declared_intents.insert(id.as_str().to_owned(), id_span);
            rules.intents.push(IntentDeclaration {
                id,
                description: raw.description,
                id_span,
            });
        }

        for (source, raw) in pieces.departments {
            let header_span = span(source, raw.span());
            let raw = raw.into_inner();
            let id_span = span(source, raw.id.span());
            let Some(id) = parse_id(&raw.id, id_span, DepartmentId::parse, &mut diagnostics) else {
                continue;
            };
            if let Some(&first) = rules.department_index.get(id.as_str()) {
                let first_span = rules.departments[first].id_span;
                diagnostics.push(duplicate(id_span, first_span, "department", id.as_str()));
                continue;
            }
            let mut handles = Vec::new();
            let mut handles_spans = Vec::new();
            for handled in &raw.handles {
                let handled_span = span(source, handled.span());
                if let Some(intent) =
                    parse_id(handled, handled_span, Intent::parse, &mut diagnostics)
                {
                    if handles.contains(&intent) {
                        continue;
                    }
                    handles.push(intent);
                    handles_spans.push(handled_span);
                }
            }
            let (entry, entry_span) = match &raw.entry {
                Some(entry) => (*entry.get_ref(), span(source, entry.span())),
                None => (false, header_span),
            };
            rules
                .department_index
                .insert(id.as_str().to_owned(), rules.departments.len());
            rules.departments.push(Department {
                name: raw.name.unwrap_or_else(|| id.as_str().to_owned()),
                id,
                entry,
                handles,
                header_span,
                id_span,
                entry_span,
                handles_spans,
            });
        }

        for (source, raw) in pieces.transfers {
            let header_span = span(source, raw.span());
            let raw = raw.into_inner();
            if let Some(transfer) = rules.build_transfer(source, header_span, raw, &mut diagnostics)
            {
                let key = (transfer.from, transfer.to);
                if let Some(&first) = rules.transfer_index.get(&key) {
                    let first_span = rules.transfers[first].header_span;
                    diagnostics.push(
                        Diagnostic::new(
                            LintCode::DuplicateId,
                            header_span,
                            format!(
                                "transfer `{}` → `{}` is declared twice",
                                rules.departments[key.0].id, rules.departments[key.1].id
                            ),
                        )
                        .with_primary_label("second declaration")
                        .with_label(first_span, "first declared here")
                        .with_help(
                            "merge the two into one [[transfer]] and list all intents in `intents`",
                        ),
                    );
                    continue;
                }
                rules.transfer_index.insert(key, rules.transfers.len());
                rules.transfers.push(transfer);
            }
        }

        if let Some((name, escalation_span)) = escalation {
            match rules.department_index.get(name.as_str()) {
                Some(&index) => {
                    rules.policy.escalation = Some(rules.departments[index].id.clone());
                }
                None => diagnostics.push(rules.unknown_department_diagnostic(
                    LintCode::UnknownEscalation,
                    escalation_span,
                    &name,
                    "escalation department",
                )),
            }
        }

        rules.index();
        (rules, diagnostics)
    }

    fn build_transfer(
        &self,
        source: SourceId,
        header_span: Span,
        raw: RawTransfer,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Transfer> {
        let from_span = span(source, raw.from.span());
        let to_span = span(source, raw.to.span());
        let from = self.resolve_department(&raw.from, from_span, diagnostics);
        let to = self.resolve_department(&raw.to, to_span, diagnostics);
        let mut intent_spans = Vec::new();
        let intents = raw.intents.map(|intents| {
            let mut parsed: Vec<Intent> = Vec::new();
            for intent in intents.get_ref() {
                let intent_span = span(source, intent.span());
                if let Some(intent) = parse_id(intent, intent_span, Intent::parse, diagnostics)
                    && !parsed.contains(&intent)
                {
                    parsed.push(intent);
                    intent_spans.push(intent_span);
                }
            }
            parsed
        });
        let (from, to) = (from?, to?);
        if from == to {
            diagnostics.push(
                Diagnostic::new(
                    LintCode::SelfTransfer,
                    to_span,
                    format!(
                        "transfer from `{}` to itself",
                        self.departments[from].id
                    ),
                )
                .with_primary_label("same department as `from`")
                .with_label(from_span, "transfer starts here")
                .with_help("remove this transfer: sending a caller back into their own queue only resets their wait"),
            );
            return None;
        }
        if let Some(intents) = &intents
            && intents.is_empty()
        {
            diagnostics.push(
                Diagnostic::new(
                    LintCode::InvalidValue,
                    header_span,
                    "`intents` is an empty list, so this transfer allows nothing",
                )
                .with_help("list at least one intent, or remove `intents` to allow any intent"),
            );
            // A transfer that allows nothing is no edge of the routing graph.
            return None;
        }
        let (mode, mode_span) = match raw.mode {
            Some(mode) => (
                match mode.get_ref() {
                    RawTransferMode::Warm => TransferMode::Warm,
                    RawTransferMode::Cold => TransferMode::Cold,
                },
                Some(span(source, mode.span())),
            ),
            None => (TransferMode::Warm, None),
        };
        Some(Transfer {
            from,
            to,
            intents,
            mode,
            header_span,
            from_span,
            to_span,
            intent_spans,
            mode_span,
        })
    }

    fn resolve_department(
        &self,
        raw: &Spanned<String>,
        raw_span: Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<usize> {
        if let Some(&index) = self.department_index.get(raw.get_ref().as_str()) {
            return Some(index);
        }
        if let Err(error) = DepartmentId::parse(raw.get_ref()) {
            diagnostics.push(Diagnostic::new(
                LintCode::InvalidValue,
                raw_span,
                error.to_string(),
            ));
            return None;
        }
        diagnostics.push(self.unknown_department_diagnostic(
            LintCode::UnknownDepartment,
            raw_span,
            raw.get_ref(),
            "department",
        ));
        None
    }

    fn unknown_department_diagnostic(
        &self,
        code: LintCode,
        at: Span,
        name: &str,
        what: &str,
    ) -> Diagnostic {
        let diagnostic = Diagnostic::new(code, at, format!("unknown {what} `{name}`"))
            .with_primary_label("not declared in any [[department]]");
        match did_you_mean(name, self.departments.iter().map(|d| d.id.as_str())) {
            Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
            None => diagnostic.with_help(format!(
                "declare a [[department]] with id = \"{name}\", or use one of the declared ids"
            )),
        }
    }

    /// Builds the lookup tables after departments and transfers are final.
    fn index(&mut self) {
        self.outgoing = vec![Vec::new(); self.departments.len()];
        for (index, transfer) in self.transfers.iter().enumerate() {
            self.outgoing[transfer.from].push(index);
        }
        self.owners.clear();
        for (index, department) in self.departments.iter().enumerate() {
            for intent in &department.handles {
                self.owners
                    .entry(intent.as_str().to_owned())
                    .or_default()
                    .push(index);
            }
        }
    }

    /// Index of a department by id.
    pub fn department(&self, id: &str) -> Option<usize> {
        self.department_index.get(id).copied()
    }

    /// Departments that handle an intent, in declaration order.
    pub fn owners(&self, intent: &str) -> &[usize] {
        self.owners.get(intent).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every intent some department handles, with its owners.
    pub fn owned_intents(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.owners
            .iter()
            .map(|(intent, owners)| (intent.as_str(), owners.as_slice()))
    }

    /// Transfer indices leaving a department.
    pub fn outgoing(&self, department: usize) -> &[usize] {
        &self.outgoing[department]
    }

    /// The transfer from one department to another, if the rules allow one.
    pub fn transfer_between(&self, from: usize, to: usize) -> Option<&Transfer> {
        self.transfer_index
            .get(&(from, to))
            .map(|&index| &self.transfers[index])
    }

    /// The shortest allowed transfer path for `intent` from `from` to any department
    /// that handles it, as department indices starting with `from`. Breadth-first,
    /// so ties go to the transfer declared first.
    pub fn route(&self, from: usize, intent: &str) -> Route {
        let owners = self.owners(intent);
        if owners.is_empty() {
            return Route::NoOwner;
        }
        if owners.contains(&from) {
            return Route::Found(vec![from]);
        }
        let mut previous = vec![usize::MAX; self.departments.len()];
        previous[from] = from;
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            for &transfer_index in &self.outgoing[current] {
                let transfer = &self.transfers[transfer_index];
                if previous[transfer.to] != usize::MAX || !transfer.allows(intent) {
                    continue;
                }
                previous[transfer.to] = current;
                if owners.contains(&transfer.to) {
                    let mut path = vec![transfer.to];
                    let mut step = current;
                    while step != from {
                        path.push(step);
                        step = previous[step];
                    }
                    path.push(from);
                    path.reverse();
                    return Route::Found(path);
                }
                queue.push_back(transfer.to);
            }
        }
        Route::NoPath
    }
}

/// The answer of [`Rules::route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Department indices from the start to an owner (just the start if it owns the intent).
    Found(Vec<usize>),
    /// No department handles the intent.
    NoOwner,
    /// Owners exist but no allowed transfer path leads to one.
    NoPath,
}

fn build_policy(
    source: SourceId,
    raw: RawPolicy,
    policy: &mut Policy,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(String, Span)> {
    if let Some(max_hops) = raw.max_hops {
        let max_hops_span = span(source, max_hops.span());
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
        let window_span = span(source, window.span());
        match parse_window(window.get_ref()) {
            Ok(milliseconds) => policy.bounce_window_ms = milliseconds,
            Err(message) => diagnostics.push(
                Diagnostic::new(LintCode::InvalidValue, window_span, message).with_help(
                    "write a duration such as \"30m\", \"90s\" or \"1h 30m\" (1 second to 7 days)",
                ),
            ),
        }
    }
    if let Some(require) = raw.require_warm_transfer {
        policy.require_warm_transfer = *require.get_ref();
        policy.require_warm_transfer_span = Some(span(source, require.span()));
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
            source,
            actions.into_inner(),
            &mut policy.actions,
            diagnostics,
        );
    }
    raw.escalation.map(|escalation| {
        (
            escalation.get_ref().clone(),
            span(source, escalation.span()),
        )
    })
}

fn build_actions(
    source: SourceId,
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
                    span(source, action.span()),
                    "unknown-department cannot block: the call must still be served",
                )
                .with_help("use \"warn\" or \"allow\""),
            );
            continue;
        }
        actions.set(code, value);
    }
}

/// Parses a bounce window such as "30m" or "1h 30m" into milliseconds.
pub fn parse_window(text: &str) -> Result<i64, String> {
    let duration: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("`{text}` is not a duration"))?;
    let milliseconds = duration.as_millis();
    if !(1_000..=7 * 24 * 3_600_000).contains(&milliseconds) {
        return Err(format!(
            "bounce_window `{text}` is out of range: it must be between 1 second and 7 days"
        ));
    }
    // In range, so it fits in i64.
    Ok(milliseconds as i64)
}

fn parse_id<T>(
    raw: &Spanned<String>,
    at: Span,
    parse: fn(&str) -> Result<T, IdError>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    match parse(raw.get_ref()) {
        Ok(value) => Some(value),
        Err(error) => {
            diagnostics.push(Diagnostic::new(
                LintCode::InvalidValue,
                at,
                error.to_string(),
            ));
            None
        }
    }
}

fn duplicate(second: Span, first: Span, what: &str, id: &str) -> Diagnostic {
    Diagnostic::new(
        LintCode::DuplicateId,
        second,
        format!("{what} `{id}` is declared twice"),
    )
    .with_primary_label("second declaration")
    .with_label(first, "first declared here")
    .with_help(
        "merge the two declarations, or rename one of them; ids must be unique across all rules files",
    )
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|left, right| left.0.total_cmp(&right.0).then(right.1.cmp(left.1)))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_unicode_letters_and_reject_spaces() {
        assert!(DepartmentId::parse("relation_clientèle").is_ok());
        let error = DepartmentId::parse("customer service").unwrap_err();
        assert!(error.to_string().contains("customer_service"), "{error}");
        assert!(DepartmentId::parse("").is_err());
        assert!(DepartmentId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn windows_parse_friendly_durations_within_range() {
        assert_eq!(parse_window("30m"), Ok(1_800_000));
        assert_eq!(parse_window("1h 30m"), Ok(5_400_000));
        assert!(parse_window("0s").is_err());
        assert!(parse_window("half an hour").is_err());
        assert!(parse_window("8d").is_err());
    }

    #[test]
    fn did_you_mean_finds_close_typos_only() {
        let names = ["activations", "billing"];
        assert_eq!(
            did_you_mean("activation", names.into_iter()),
            Some("activations")
        );
        assert_eq!(did_you_mean("porting", names.into_iter()), None);
    }
}
