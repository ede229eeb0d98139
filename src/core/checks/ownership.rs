//! Intent ownership: every intent handled somewhere, by someone reachable.

use foldhash::{HashMap, HashMapExt, HashSet};

use super::Context;
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::rules::Suggestions;

impl Context<'_> {
    pub(super) fn intent_ownership(&self, findings: &mut Vec<Diagnostic>) {
        let rules = self.rules;
        let catalog: HashSet<&str> = rules
            .intents
            .iter()
            .map(|intent| intent.id.as_str())
            .collect();
        if !catalog.is_empty() {
            let references = rules
                .departments
                .iter()
                .flat_map(|department| department.handles.iter().zip(&department.handles_spans))
                .chain(rules.transfers.iter().flat_map(|transfer| {
                    transfer
                        .intents
                        .iter()
                        .flatten()
                        .zip(&transfer.intent_spans)
                }));
            let mut hints = Suggestions::default();
            for (intent, &at) in references {
                if catalog.contains(intent.as_str()) {
                    continue;
                }
                let finding = Diagnostic::new(
                    LintCode::UnknownIntent,
                    at,
                    format!("intent `{intent}` is not in the [[intent]] catalog"),
                )
                .with_primary_label("not declared");
                findings.push(
                    match hints.suggest(intent.as_str(), catalog.iter().copied()) {
                        Some(suggestion) => {
                            finding.with_help(format!("did you mean `{suggestion}`?"))
                        }
                        None => finding.with_help(format!(
                            "add an [[intent]] with id = \"{intent}\", or use a declared intent"
                        )),
                    },
                );
            }
        }

        // Every intent that is routed or declared, in order of first mention.
        let mut mentions: Vec<(&str, Vec<Span>)> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mentioned = rules
            .transfers
            .iter()
            .flat_map(|transfer| {
                transfer
                    .intents
                    .iter()
                    .flatten()
                    .zip(&transfer.intent_spans)
            })
            .chain(
                rules
                    .intents
                    .iter()
                    .map(|declared| (&declared.id, &declared.id_span)),
            );
        for (intent, &at) in mentioned {
            let slot = *position.entry(intent.as_str()).or_insert_with(|| {
                mentions.push((intent.as_str(), Vec::new()));
                mentions.len() - 1
            });
            mentions[slot].1.push(at);
        }
        for (intent, spans) in mentions {
            if !rules.owners(intent).is_empty() {
                continue;
            }
            let routed = spans.len();
            let mut finding = Diagnostic::new(
                LintCode::IntentWithoutOwner,
                spans[0],
                format!(
                    "no department handles `{intent}`, so calls for it can only be passed around"
                ),
            )
            .with_primary_label("routed here, but nobody owns it")
            .with_help(format!(
                "add \"{intent}\" to the `handles` of the one department that resolves it"
            ));
            for &other in spans.iter().skip(1).take(5) {
                finding = finding.with_label(other, "also routed here");
            }
            if routed > 6 {
                finding = finding.with_note(format!("mentioned {routed} times in all"));
            }
            findings.push(finding);
        }

        // Where each department lists each intent it handles, for the owners of
        // ambiguous intents (a linear search per owner was quadratic in `handles`).
        let mut handled_at: HashMap<(usize, &str), Span> = HashMap::new();
        for (intent, owners) in rules.owned_intents() {
            if owners.len() < 2 {
                continue;
            }
            for &owner in owners {
                handled_at.insert((owner, intent), rules.departments[owner].id_span);
            }
        }
        if !handled_at.is_empty() {
            for (index, department) in rules.departments.iter().enumerate() {
                for (handled, &at) in department.handles.iter().zip(&department.handles_spans) {
                    if let Some(span) = handled_at.get_mut(&(index, handled.as_str())) {
                        *span = at;
                    }
                }
            }
        }
        for (intent, owners) in rules.owned_intents() {
            if owners.len() < 2 {
                continue;
            }
            let span_of = |department: usize| {
                handled_at
                    .get(&(department, intent))
                    .copied()
                    .unwrap_or(rules.departments[department].id_span)
            };
            let names: Vec<&str> = owners.iter().map(|&owner| self.id(owner)).collect();
            let mut finding = Diagnostic::new(
                LintCode::AmbiguousIntentOwner,
                span_of(owners[1]),
                format!(
                    "intent `{intent}` is handled by {} departments: {}",
                    owners.len(),
                    names.join(", ")
                ),
            )
            .with_primary_label("second owner")
            .with_label(span_of(owners[0]), "first owner")
            .with_help(
                "give each intent exactly one owner, or split it into more specific intents",
            );
            for &owner in owners.iter().skip(2).take(5) {
                finding = finding.with_label(span_of(owner), "another owner");
            }
            findings.push(finding);
        }
    }
}
