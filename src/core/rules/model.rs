//! The validated routing model: ids that cannot be malformed, a policy with every
//! default filled in, and transfers whose endpoints are known departments.
//!
//! [`Rules::build`] turns the raw pieces of every file into this model and reports
//! what it had to leave out, so a configuration with errors still yields the best
//! model it can (the linter keeps checking; the server refuses to start on errors).

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet};

use toml::Spanned;

use super::identity::{Alias, AliasError, AliasIndex};
use super::ids::{DepartmentId, IdError, Intent, Suggestions};
use super::policy::{Policy, TransferMode, build_policy};
use super::raw::{RawDepartment, RawIntent, RawPolicy, RawTransfer, RawTransferMode};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::source::SourceId;

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
    /// The platform identities of `aliases` that are in force, as written.
    pub aliases: Vec<String>,
    /// One span per entry of `aliases`, same order.
    pub alias_spans: Vec<Span>,
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
    aliases: AliasIndex,
}

/// Where a raw piece's spans point: a file, and the byte offset in it of the text
/// the piece was parsed from (big files are parsed in chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub source: SourceId,
    pub offset: usize,
}

impl Origin {
    /// A span of the file from a range in the parsed text.
    pub fn span(self, range: std::ops::Range<usize>) -> Span {
        Span::new(
            self.source,
            range.start + self.offset..range.end + self.offset,
        )
    }
}

/// The raw pieces of every file, tagged with where they came from.
#[derive(Debug, Default)]
pub struct RawPieces {
    pub policies: Vec<(Origin, Spanned<RawPolicy>)>,
    pub intents: Vec<(Origin, Spanned<RawIntent>)>,
    pub departments: Vec<(Origin, Spanned<RawDepartment>)>,
    pub transfers: Vec<(Origin, Spanned<RawTransfer>)>,
}

/// How many pieces of each kind there were, to drop what came after.
#[derive(Debug, Clone, Copy)]
pub struct PiecesMark([usize; 4]);

impl RawPieces {
    pub fn mark(&self) -> PiecesMark {
        PiecesMark([
            self.policies.len(),
            self.intents.len(),
            self.departments.len(),
            self.transfers.len(),
        ])
    }

    /// Drops every piece added after `mark`.
    pub fn truncate(&mut self, mark: PiecesMark) {
        let [policies, intents, departments, transfers] = mark.0;
        self.policies.truncate(policies);
        self.intents.truncate(intents);
        self.departments.truncate(departments);
        self.transfers.truncate(transfers);
    }
}

impl Rules {
    /// Validates the raw pieces into a model, reporting every value it had to drop.
    pub fn build(pieces: RawPieces) -> (Rules, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut rules = Rules::default();
        // Sized up front: growing these one push at a time was a tenth of `build`.
        rules.departments.reserve(pieces.departments.len());
        rules.department_index.reserve(pieces.departments.len());
        rules.transfers.reserve(pieces.transfers.len());
        rules.transfer_index.reserve(pieces.transfers.len());
        let mut escalation = None;

        for (index, (origin, policy)) in pieces.policies.into_iter().enumerate() {
            let header = origin.span(policy.span());
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
                origin,
                policy.into_inner(),
                &mut rules.policy,
                &mut diagnostics,
            );
        }

        let mut declared_intents: HashMap<String, Span> = HashMap::new();
        for (origin, raw) in pieces.intents {
            let raw = raw.into_inner();
            let id_span = origin.span(raw.id.span());
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

        // Aliases are checked once every department is known: one may name a
        // department declared later.
        let mut raw_aliases: Vec<(usize, Vec<(String, Span)>)> = Vec::new();
        for (origin, raw) in pieces.departments {
            let header_span = origin.span(raw.span());
            let raw = raw.into_inner();
            let id_span = origin.span(raw.id.span());
            let Some(id) = parse_id(&raw.id, id_span, DepartmentId::parse, &mut diagnostics) else {
                continue;
            };
            if let Some(&first) = rules.department_index.get(id.as_str()) {
                let first_span = rules.departments[first].id_span;
                diagnostics.push(duplicate(id_span, first_span, "department", id.as_str()));
                continue;
            }
            let mut handles = Vec::with_capacity(raw.handles.len());
            let mut handles_spans = Vec::with_capacity(raw.handles.len());
            let mut seen = FirstSeen::default();
            for handled in &raw.handles {
                let handled_span = origin.span(handled.span());
                if let Some(intent) =
                    parse_id(handled, handled_span, Intent::parse, &mut diagnostics)
                {
                    if !seen.first_time(&handles, intent.as_str()) {
                        continue;
                    }
                    handles.push(intent);
                    handles_spans.push(handled_span);
                }
            }
            let (entry, entry_span) = match &raw.entry {
                Some(entry) => (*entry.get_ref(), origin.span(entry.span())),
                None => (false, header_span),
            };
            raw_aliases.push((
                rules.departments.len(),
                raw.aliases
                    .iter()
                    .map(|alias| (alias.get_ref().clone(), origin.span(alias.span())))
                    .collect(),
            ));
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
                aliases: Vec::new(),
                alias_spans: Vec::new(),
            });
        }
        for (department, aliases) in raw_aliases {
            for (text, alias_span) in aliases {
                rules.add_alias(department, text, alias_span, &mut diagnostics);
            }
        }

        let mut hints = Suggestions::default();
        for (origin, raw) in pieces.transfers {
            let header_span = origin.span(raw.span());
            let raw = raw.into_inner();
            if let Some(transfer) =
                rules.build_transfer(origin, header_span, raw, &mut hints, &mut diagnostics)
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
                    rules.policy.escalation_span = Some(escalation_span);
                }
                None => diagnostics.push(rules.unknown_department_diagnostic(
                    LintCode::UnknownEscalation,
                    escalation_span,
                    &name,
                    "escalation department",
                    &mut hints,
                )),
            }
        }

        rules.index();
        (rules, diagnostics)
    }

    /// Checks one alias and puts it in force unless it is malformed, another
    /// department's id, or already claimed.
    fn add_alias(
        &mut self,
        department: usize,
        text: String,
        at: Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let owner_id = self.departments[department].id.clone();
        let alias = match Alias::parse(&text) {
            Ok(alias) => alias,
            Err(error @ (AliasError::MalformedSip(_) | AliasError::SipWithoutUser(_))) => {
                diagnostics.push(
                    Diagnostic::new(LintCode::MalformedSipAlias, at, error.to_string())
                        .with_primary_label("never matches what a platform sends")
                        .with_help(
                            "write the URI the platform sends, e.g. \"sip:3001@pbx.example.com\", or the bare extension \"3001\" to match it on any host",
                        ),
                );
                return;
            }
            Err(error) => {
                diagnostics.push(Diagnostic::new(
                    LintCode::InvalidValue,
                    at,
                    error.to_string(),
                ));
                return;
            }
        };
        if let Some(&other) = self.department_index.get(text.as_str()) {
            if other != department {
                diagnostics.push(
                    Diagnostic::new(
                        LintCode::AliasShadowsDepartment,
                        at,
                        format!(
                            "alias `{text}` of `{owner_id}` is the id of another department"
                        ),
                    )
                    .with_primary_label("a transfer naming this goes to that department")
                    .with_label(self.departments[other].id_span, "declared here")
                    .with_help(format!(
                        "remove the alias, or rename `{text}` if the platform means `{owner_id}` by it"
                    )),
                );
            }
            return;
        }
        match self.aliases.insert(alias, department) {
            None => {
                let owner = &mut self.departments[department];
                owner.aliases.push(text);
                owner.alias_spans.push(at);
            }
            Some(first) if first == department => {}
            Some(first) => {
                let first_department = &self.departments[first];
                let first_span = first_department
                    .aliases
                    .iter()
                    .zip(&first_department.alias_spans)
                    .find(|(written, _)| Alias::parse(written).ok() == Alias::parse(&text).ok())
                    .map_or(first_department.id_span, |(_, span)| *span);
                diagnostics.push(
                    Diagnostic::new(
                        LintCode::DuplicateAlias,
                        at,
                        format!(
                            "alias `{text}` is claimed by `{}` and `{owner_id}`",
                            first_department.id
                        ),
                    )
                    .with_primary_label(format!("transfers to it go to `{}`", first_department.id))
                    .with_label(first_span, "first claimed here")
                    .with_help("keep the alias in the one department this identity belongs to"),
                );
            }
        }
    }

    fn build_transfer(
        &self,
        origin: Origin,
        header_span: Span,
        raw: RawTransfer,
        hints: &mut Suggestions,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Transfer> {
        let from_span = origin.span(raw.from.span());
        let to_span = origin.span(raw.to.span());
        let from = self.resolve_department(&raw.from, from_span, hints, diagnostics);
        let to = self.resolve_department(&raw.to, to_span, hints, diagnostics);
        let listed = raw
            .intents
            .as_ref()
            .map_or(0, |intents| intents.get_ref().len());
        let mut intent_spans = Vec::with_capacity(listed);
        let intents = raw.intents.map(|intents| {
            let mut parsed: Vec<Intent> = Vec::with_capacity(listed);
            let mut seen = FirstSeen::default();
            for intent in intents.get_ref() {
                let intent_span = origin.span(intent.span());
                if let Some(intent) = parse_id(intent, intent_span, Intent::parse, diagnostics)
                    && seen.first_time(&parsed, intent.as_str())
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
                Some(origin.span(mode.span())),
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
        hints: &mut Suggestions,
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
            hints,
        ));
        None
    }

    fn unknown_department_diagnostic(
        &self,
        code: LintCode,
        at: Span,
        name: &str,
        what: &str,
        hints: &mut Suggestions,
    ) -> Diagnostic {
        let diagnostic = Diagnostic::new(code, at, format!("unknown {what} `{name}`"))
            .with_primary_label("not declared in any [[department]]");
        match hints.suggest(name, self.departments.iter().map(|d| d.id.as_str())) {
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

    /// The department a platform's identity names: a department id, else one of a
    /// department's `aliases` (see [`super::identity`] for how SIP URIs match).
    /// The one lookup the engine, `loopguard route` and the stats use.
    pub fn resolve(&self, identity: &str) -> Option<usize> {
        self.department(identity)
            .or_else(|| self.aliases.resolve(identity))
    }

    /// Departments that handle an intent, in declaration order.
    pub fn owners(&self, intent: &str) -> &[usize] {
        self.owners.get(intent).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The intents the rules know, sorted: the catalog's when there is one, else
    /// every intent a department handles or a transfer names.
    pub fn known_intents(&self) -> BTreeSet<&str> {
        if self.intents.is_empty() {
            self.departments
                .iter()
                .flat_map(|department| department.handles.iter())
                .chain(
                    self.transfers
                        .iter()
                        .flat_map(|transfer| transfer.intents.iter().flatten()),
                )
                .map(|intent| intent.as_str())
                .collect()
        } else {
            self.intents
                .iter()
                .map(|intent| intent.id.as_str())
                .collect()
        }
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
}

/// Tells whether an id is new to the list kept so far. Short lists are searched;
/// from [`LONG_LIST`] entries on, a set takes over, so a list of 80,000 intents is
/// deduplicated in linear time.
#[derive(Default)]
struct FirstSeen {
    set: Option<HashSet<String>>,
}

const LONG_LIST: usize = 16;

impl FirstSeen {
    fn first_time(&mut self, kept: &[Intent], id: &str) -> bool {
        if kept.len() < LONG_LIST {
            return !kept.iter().any(|earlier| earlier.as_str() == id);
        }
        let set = self.set.get_or_insert_with(|| {
            kept.iter()
                .map(|earlier| earlier.as_str().to_owned())
                .collect()
        });
        set.insert(id.to_owned())
    }
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
