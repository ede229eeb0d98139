//! Every place a department or intent id appears in the model (declarations and
//! uses), sorted by position so the one under a cursor is a binary search away,
//! and where each is declared.

use crate::core::diagnostic::Span;
use crate::core::rules::Rules;
use crate::core::source::SourceId;

/// A department or intent of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbol {
    /// Index into `Rules::departments`.
    Department(usize),
    Intent(String),
}

/// The spans of every id in the rules, sorted by file and position.
#[derive(Debug, Default)]
pub struct SymbolIndex {
    entries: Vec<(Span, Symbol)>,
}

impl SymbolIndex {
    pub fn build(rules: &Rules) -> Self {
        let mut entries = Vec::new();
        for intent in &rules.intents {
            entries.push((
                intent.id_span,
                Symbol::Intent(intent.id.as_str().to_owned()),
            ));
        }
        for (index, department) in rules.departments.iter().enumerate() {
            entries.push((department.id_span, Symbol::Department(index)));
            for (intent, &span) in department.handles.iter().zip(&department.handles_spans) {
                entries.push((span, Symbol::Intent(intent.as_str().to_owned())));
            }
        }
        for transfer in &rules.transfers {
            entries.push((transfer.from_span, Symbol::Department(transfer.from)));
            entries.push((transfer.to_span, Symbol::Department(transfer.to)));
            for (intent, &span) in transfer
                .intents
                .iter()
                .flatten()
                .zip(&transfer.intent_spans)
            {
                entries.push((span, Symbol::Intent(intent.as_str().to_owned())));
            }
        }
        if let (Some(escalation), Some(span)) =
            (&rules.policy.escalation, rules.policy.escalation_span)
            && let Some(index) = rules.department(escalation.as_str())
        {
            entries.push((span, Symbol::Department(index)));
        }
        entries.sort_by_key(|(span, _)| (span.source, span.start));
        Self { entries }
    }

    /// The id whose span (quotes included) contains `offset`, with that span.
    pub fn at(&self, source: SourceId, offset: usize) -> Option<(Span, &Symbol)> {
        let after = self
            .entries
            .partition_point(|(span, _)| (span.source, span.start) <= (source, offset));
        let (span, symbol) = self.entries.get(after.checked_sub(1)?)?;
        (span.source == source && offset <= span.end).then_some((*span, symbol))
    }
}

/// Where a symbol is declared: a department's `id`; an intent's `[[intent]]` entry,
/// or without a catalog the `handles` entry of its first owner.
pub fn definition(rules: &Rules, symbol: &Symbol) -> Option<Span> {
    match symbol {
        Symbol::Department(index) => rules
            .departments
            .get(*index)
            .map(|department| department.id_span),
        Symbol::Intent(intent) => rules
            .intents
            .iter()
            .find(|declared| declared.id.as_str() == intent)
            .map(|declared| declared.id_span)
            .or_else(|| {
                let owner = &rules.departments[*rules.owners(intent).first()?];
                owner
                    .handles
                    .iter()
                    .position(|handled| handled.as_str() == intent)
                    .map(|position| owner.handles_spans[position])
            }),
    }
}
