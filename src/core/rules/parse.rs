//! The tolerant rules parser: every file is parsed with error recovery, unknown keys
//! are reported against the raw structs' own field lists, and each table is
//! deserialized on its own so one bad value never hides the next.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::ids::did_you_mean;
use super::model::{RawPieces, Rules};
use super::raw::{
    RawActions, RawDepartment, RawFile, RawIntent, RawPolicy, RawTransfer, field_names,
};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::source::{SourceFile, SourceId};

/// Parses and validates every file of one rules directory into a single model.
/// Never fails: problems come back as diagnostics next to the best model possible.
pub fn load_rules(sources: &[SourceFile]) -> (Rules, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut pieces = RawPieces::default();
    for (index, file) in sources.iter().enumerate() {
        let source = SourceId(index);
        if let Some(offset) = file.invalid_utf8_at {
            // Offsets in the lossy text differ from the file's bytes after the first
            // bad sequence, so the span points at the valid prefix's end.
            let at = crate::core::source::floor_char_boundary(&file.text, offset);
            diagnostics.push(
                Diagnostic::new(
                    LintCode::TomlSyntax,
                    Span::new(source, at..at),
                    format!("file is not valid UTF-8 (first invalid byte at offset {offset})"),
                )
                .with_help("rules files must be UTF-8 text; is this the right file?"),
            );
            continue;
        }
        parse_file(source, &file.text, &mut pieces, &mut diagnostics);
    }
    let (rules, model_diagnostics) = Rules::build(pieces);
    diagnostics.extend(model_diagnostics);
    (rules, diagnostics)
}

fn parse_file(
    source: SourceId,
    text: &str,
    pieces: &mut RawPieces,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (root, errors) = DeTable::parse_recoverable(text);
    for error in errors {
        let range = error.span().unwrap_or(0..0);
        diagnostics.push(
            Diagnostic::new(
                LintCode::TomlSyntax,
                Span::new(source, range),
                format!("invalid TOML: {}", error.message().trim()),
            )
            .with_help(
                "fix the syntax here; the rest of the file was checked as far as it could be read",
            ),
        );
    }
    let at = |range: std::ops::Range<usize>| Span::new(source, range);
    let mut root = root.into_inner();
    check_keys(
        &mut root,
        field_names::<RawFile>(),
        "top level",
        source,
        diagnostics,
    );

    for (key, value) in root {
        let value_span = at(value.span());
        match key.get_ref().as_ref() {
            "policy" => {
                let value = match value.into_inner() {
                    DeValue::Table(mut table) => {
                        check_keys(
                            &mut table,
                            field_names::<RawPolicy>(),
                            "[policy]",
                            source,
                            diagnostics,
                        );
                        if let Some(actions) = table.get_mut("actions")
                            && let DeValue::Table(actions) = actions.get_mut()
                        {
                            check_keys(
                                actions,
                                field_names::<RawActions>(),
                                "[policy.actions]",
                                source,
                                diagnostics,
                            );
                        }
                        Spanned::new(value_span.start..value_span.end, DeValue::Table(table))
                    }
                    other => Spanned::new(value_span.start..value_span.end, other),
                };
                if let Some(policy) =
                    deserialize_table::<RawPolicy>(value, "[policy]", source, diagnostics)
                {
                    pieces.policies.push((source, policy));
                }
            }
            name @ ("intent" | "department" | "transfer") => {
                let DeValue::Array(array) = value.into_inner() else {
                    diagnostics.push(
                        Diagnostic::new(
                            LintCode::InvalidValue,
                            value_span,
                            format!("`{name}` must be an array of tables"),
                        )
                        .with_help(format!("write each one as its own [[{name}]] table")),
                    );
                    continue;
                };
                for element in array {
                    let element_span = element.span();
                    let element = match element.into_inner() {
                        DeValue::Table(mut table) => {
                            let fields = match name {
                                "intent" => field_names::<RawIntent>(),
                                "department" => field_names::<RawDepartment>(),
                                _ => field_names::<RawTransfer>(),
                            };
                            check_keys(
                                &mut table,
                                fields,
                                &format!("[[{name}]]"),
                                source,
                                diagnostics,
                            );
                            Spanned::new(element_span, DeValue::Table(table))
                        }
                        other => Spanned::new(element_span, other),
                    };
                    let context = format!("[[{name}]]");
                    match name {
                        "intent" => {
                            if let Some(intent) =
                                deserialize_table(element, &context, source, diagnostics)
                            {
                                pieces.intents.push((source, intent));
                            }
                        }
                        "department" => {
                            if let Some(department) =
                                deserialize_table(element, &context, source, diagnostics)
                            {
                                pieces.departments.push((source, department));
                            }
                        }
                        _ => {
                            if let Some(transfer) =
                                deserialize_table(element, &context, source, diagnostics)
                            {
                                pieces.transfers.push((source, transfer));
                            }
                        }
                    }
                }
            }
            // check_keys removed every other key and reported it.
            _ => {}
        }
    }
}

/// Reports and removes keys the struct does not define, with a "did you mean".
fn check_keys(
    table: &mut DeTable<'_>,
    fields: &[&str],
    context: &str,
    source: SourceId,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let unknown: Vec<(String, std::ops::Range<usize>)> = table
        .keys()
        .filter(|key| !fields.contains(&key.get_ref().as_ref()))
        .map(|key| (key.get_ref().to_string(), key.span()))
        .collect();
    for (key, range) in unknown {
        let mut diagnostic = Diagnostic::new(
            LintCode::UnknownKey,
            Span::new(source, range),
            format!("unknown key `{key}` in {context}"),
        )
        .with_note(format!("{context} accepts: {}", fields.join(", ")));
        diagnostic = match did_you_mean(&key, fields.iter().copied()) {
            Some(suggestion) => diagnostic
                .with_primary_label(format!("did you mean `{suggestion}`?"))
                .with_help(format!("rename it to `{suggestion}`")),
            None => diagnostic.with_help("remove it; `loopguard schema` lists every key"),
        };
        diagnostics.push(diagnostic);
        table.remove(key.as_str());
    }
}

/// Deserializes one table. On a bad value, reports it, drops that key and tries
/// again, so every bad value of the table is reported; a missing required key ends
/// the attempt.
fn deserialize_table<'de, T: Deserialize<'de>>(
    mut value: Spanned<DeValue<'de>>,
    context: &str,
    source: SourceId,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Spanned<T>> {
    let whole = value.span();
    loop {
        match Spanned::<T>::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) => return Some(parsed),
            Err(error) => {
                let range = error.span().unwrap_or(whole.clone());
                let message = error.message().trim().to_owned();
                let removed = range != whole && remove_entry_containing(value.get_mut(), &range);
                let mut diagnostic = Diagnostic::new(
                    LintCode::InvalidValue,
                    Span::new(source, range),
                    format!("{context}: {message}"),
                );
                diagnostic = if message.starts_with("missing field") {
                    diagnostic.with_help(
                        "add the key; `loopguard explain invalid-value` shows an example",
                    )
                } else {
                    diagnostic.with_help("see `loopguard schema` for the expected type and values")
                };
                diagnostics.push(diagnostic);
                if !removed {
                    return None;
                }
            }
        }
    }
}

/// Removes the deepest table entry whose key or value span contains `range`.
fn remove_entry_containing(value: &mut DeValue<'_>, range: &std::ops::Range<usize>) -> bool {
    let DeValue::Table(table) = value else {
        return false;
    };
    let contains =
        |outer: std::ops::Range<usize>| outer.start <= range.start && range.end <= outer.end;
    let mut target = None;
    for (key, entry) in table.iter_mut() {
        // A table written as its own `[a.b]` header has a span that covers only the
        // header, not its entries, so nested tables are searched whatever their span.
        if remove_entry_containing(entry.get_mut(), range) {
            return true;
        }
        if contains(entry.span()) || contains(key.span()) {
            target = Some(key.get_ref().to_string());
            break;
        }
    }
    match target {
        Some(name) => {
            table.remove(name.as_str());
            true
        }
        None => false,
    }
}
