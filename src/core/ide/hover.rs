//! Hover texts (Markdown): a department with what it handles and its transfers in
//! and out; an intent with its description, owners and the transfers that route
//! it; a lint code with its explanation. Long lists are cut, so a hover stays
//! readable and bounded whatever the configuration's size.

use std::fmt::Write as _;

use super::symbols::Symbol;
use crate::core::codes::LintCode;
use crate::core::rules::{Rules, TransferMode};

/// Entries listed before "and N more".
const LISTED: usize = 15;

fn listed(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return "none".to_owned();
    }
    let mut text = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        let _ = write!(text, " and {} more", items.len() - LISTED);
    }
    text
}

pub fn hover_symbol(rules: &Rules, symbol: &Symbol) -> String {
    match symbol {
        Symbol::Department(index) => department(rules, *index),
        Symbol::Intent(intent) => intent_text(rules, intent),
    }
}

fn department(rules: &Rules, index: usize) -> String {
    let department = &rules.departments[index];
    let id = department.id.as_str();
    let mut text = format!("**{}** `{id}`", department.name);
    if department.entry {
        text.push_str(" · entry point");
    }
    if rules
        .policy
        .escalation
        .as_ref()
        .is_some_and(|escalation| escalation.as_str() == id)
    {
        text.push_str(" · escalation department");
    }
    let _ = write!(
        text,
        "\n\nHandles: {}",
        listed(
            department
                .handles
                .iter()
                .map(|intent| format!("`{intent}`"))
        )
    );
    let describe = |other: usize, transfer: &crate::core::rules::Transfer| {
        let mut item = format!("`{}`", rules.departments[other].id);
        match &transfer.intents {
            None => item.push_str(" (any intent)"),
            Some(intents) => {
                let names: Vec<&str> = intents.iter().map(|intent| intent.as_str()).collect();
                let shown = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
                let more = names.len().saturating_sub(3);
                if more > 0 {
                    let _ = write!(item, " ({shown} and {more} more)");
                } else {
                    let _ = write!(item, " ({shown})");
                }
            }
        }
        if transfer.mode == TransferMode::Cold {
            item.push_str(" cold");
        }
        item
    };
    let outgoing: Vec<String> = rules
        .outgoing(index)
        .iter()
        .map(|&transfer| {
            let transfer = &rules.transfers[transfer];
            describe(transfer.to, transfer)
        })
        .collect();
    let incoming: Vec<String> = rules
        .transfers
        .iter()
        .filter(|transfer| transfer.to == index)
        .map(|transfer| describe(transfer.from, transfer))
        .collect();
    let _ = write!(
        text,
        "\n\nTransfers out ({}): {}\n\nTransfers in ({}): {}",
        outgoing.len(),
        listed(outgoing.into_iter()),
        incoming.len(),
        listed(incoming.into_iter())
    );
    text
}

fn intent_text(rules: &Rules, intent: &str) -> String {
    let mut text = format!("intent `{intent}`");
    if let Some(description) = rules
        .intents
        .iter()
        .find(|declared| declared.id.as_str() == intent)
        .and_then(|declared| declared.description.as_deref())
    {
        let _ = write!(text, " — {description}");
    }
    let owners = rules.owners(intent);
    let _ = write!(
        text,
        "\n\nHandled by: {}",
        if owners.is_empty() {
            "nobody (calls for it can only be passed around)".to_owned()
        } else {
            listed(
                owners
                    .iter()
                    .map(|&owner| format!("`{}`", rules.departments[owner].id)),
            )
        }
    );
    let explicit: Vec<String> = rules
        .transfers
        .iter()
        .filter(|transfer| {
            transfer
                .intents
                .as_ref()
                .is_some_and(|intents| intents.iter().any(|listed| listed.as_str() == intent))
        })
        .map(|transfer| {
            format!(
                "`{}` → `{}`",
                rules.departments[transfer.from].id, rules.departments[transfer.to].id
            )
        })
        .collect();
    let wildcards = rules
        .transfers
        .iter()
        .filter(|transfer| transfer.intents.is_none())
        .count();
    let _ = write!(
        text,
        "\n\nRouted by {} transfer{}: {}",
        explicit.len(),
        if explicit.len() == 1 { "" } else { "s" },
        listed(explicit.into_iter())
    );
    if wildcards > 0 {
        let _ = write!(
            text,
            "\n\n{wildcards} more transfer{} allow any intent",
            if wildcards == 1 { "" } else { "s" }
        );
    }
    text
}

/// A lint code's explanation, for hovers on suppression comments.
pub fn hover_code(code: LintCode) -> String {
    let explanation = code.explanation();
    format!(
        "**{code}** ({} by default) — {}\n\n**What it catches.** {}\n\n**Why it matters.** {}\n\n**How to fix it.** {}",
        code.default_severity(),
        code.summary(),
        explanation.catches.trim(),
        explanation.why.trim(),
        explanation.fix.trim()
    )
}
