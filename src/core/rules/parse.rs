//! The tolerant rules parser: every file is parsed with error recovery, unknown keys
//! are reported against the raw structs' own field lists, and each table is
//! deserialized on its own so one bad value never hides the next.
//!
//! Big files are parsed in pieces ([`super::sections`]): the parser's buffers then
//! stay proportional to one chunk of array tables instead of the whole file.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::ids::did_you_mean;
use super::model::{Origin, RawPieces, Rules};
use super::raw::{
    RawActions, RawDepartment, RawFile, RawIntent, RawPolicy, RawTransfer, field_names,
};
use super::sections::{self, SPLIT_ARRAYS};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::source::{SourceFile, SourceId};

/// Parses and validates every file of one rules directory into a single model.
/// Never fails: problems come back as diagnostics next to the best model possible.
pub fn load_rules(sources: &[SourceFile]) -> (Rules, Vec<Diagnostic>) {
    load_rules_with(
        sources,
        Parsing::Chunked {
            chunk_bytes: sections::CHUNK_BYTES,
        },
    )
}

/// How a file is handed to the TOML parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsing {
    /// In one piece: the parser holds about 25 bytes per byte of the file at once.
    Whole,
    /// Runs of array tables of at least `chunk_bytes` at a time, and the rest.
    Chunked { chunk_bytes: usize },
}

/// [`load_rules`] with an explicit way of parsing; `Parsing::Whole` is the reference
/// the chunked parse is tested against.
pub fn load_rules_with(sources: &[SourceFile], parsing: Parsing) -> (Rules, Vec<Diagnostic>) {
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
        match parsing {
            Parsing::Whole => {
                let whole = Origin { source, offset: 0 };
                parse_piece(
                    whole,
                    &file.text,
                    Piece::Whole,
                    &mut pieces,
                    &mut diagnostics,
                );
            }
            Parsing::Chunked { chunk_bytes } => {
                parse_file(
                    source,
                    &file.text,
                    chunk_bytes,
                    &mut pieces,
                    &mut diagnostics,
                );
            }
        }
    }
    let (rules, model_diagnostics) = Rules::build(pieces);
    diagnostics.extend(model_diagnostics);
    (rules, diagnostics)
}

/// Which top-level keys a parsed piece of a file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// The whole file: anything.
    Whole,
    /// The file with its array tables blanked: anything but those arrays.
    Skeleton,
    /// A run of array tables: only those arrays.
    Chunk,
}

/// Parses one file: its skeleton, then each chunk of array tables. When a piece
/// holds what the split assumed it would not (an array also defined in the
/// skeleton, another key in a chunk) or has a syntax error, what the pieces
/// produced is dropped and the file is parsed whole, so splitting never changes
/// what a file means.
fn parse_file(
    source: SourceId,
    text: &str,
    chunk_bytes: usize,
    pieces: &mut RawPieces,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let whole = Origin { source, offset: 0 };
    let sections = sections::split(text, chunk_bytes);
    let Some(skeleton) = sections.skeleton(text) else {
        parse_piece(whole, text, Piece::Whole, pieces, diagnostics);
        return;
    };
    let mark = pieces.mark();
    let diagnostics_before = diagnostics.len();
    let mut consistent = parse_piece(whole, &skeleton, Piece::Skeleton, pieces, diagnostics);
    drop(skeleton);
    for chunk in &sections.chunks {
        if !consistent {
            break;
        }
        let origin = Origin {
            source,
            offset: chunk.start,
        };
        let chunk_text = &text[chunk.clone()];
        consistent = parse_piece(origin, chunk_text, Piece::Chunk, pieces, diagnostics);
    }
    if !consistent {
        pieces.truncate(mark);
        diagnostics.truncate(diagnostics_before);
        parse_piece(whole, text, Piece::Whole, pieces, diagnostics);
    }
}

/// Parses one piece of a file whose offsets start at `origin`. Returns false, having
/// added nothing, when the piece holds top-level keys its kind may not, or (unless
/// it is the whole file) a syntax error.
fn parse_piece(
    origin: Origin,
    text: &str,
    piece: Piece,
    pieces: &mut RawPieces,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let (root, errors) = DeTable::parse_recoverable(text);
    let root = root.into_inner();
    let split = |key: &str| SPLIT_ARRAYS.contains(&key);
    // A syntax error is recovered from differently with and without the rest of
    // the file around it, so a file with one is parsed whole.
    let fits = match piece {
        Piece::Whole => true,
        Piece::Skeleton => errors.is_empty() && root.keys().all(|key| !split(key.get_ref())),
        Piece::Chunk => errors.is_empty() && root.keys().all(|key| split(key.get_ref())),
    };
    if !fits {
        return false;
    }
    for error in errors {
        let range = error.span().unwrap_or(0..0);
        diagnostics.push(
            Diagnostic::new(
                LintCode::TomlSyntax,
                origin.span(range),
                format!("invalid TOML: {}", error.message().trim()),
            )
            .with_help(
                "fix the syntax here; the rest of the file was checked as far as it could be read",
            ),
        );
    }
    parse_root(origin, root, pieces, diagnostics);
    true
}

/// Turns a parsed document (or piece of one) into raw pieces.
fn parse_root(
    origin: Origin,
    mut root: DeTable<'_>,
    pieces: &mut RawPieces,
    diagnostics: &mut Vec<Diagnostic>,
) {
    check_keys(
        &mut root,
        field_names::<RawFile>(),
        "top level",
        origin,
        diagnostics,
    );

    for (key, value) in root {
        let value_span = origin.span(value.span());
        match key.get_ref().as_ref() {
            "policy" => {
                let value = match value.into_inner() {
                    DeValue::Table(mut table) => {
                        check_keys(
                            &mut table,
                            field_names::<RawPolicy>(),
                            "[policy]",
                            origin,
                            diagnostics,
                        );
                        if let Some(actions) = table.get_mut("actions")
                            && let DeValue::Table(actions) = actions.get_mut()
                        {
                            check_keys(
                                actions,
                                field_names::<RawActions>(),
                                "[policy.actions]",
                                origin,
                                diagnostics,
                            );
                        }
                        Spanned::new(value_span.start..value_span.end, DeValue::Table(table))
                    }
                    other => Spanned::new(value_span.start..value_span.end, other),
                };
                if let Some(policy) = deserialize_table::<RawPolicy>(
                    value,
                    "[policy]",
                    &RULES_GUIDE,
                    origin,
                    diagnostics,
                ) {
                    pieces.policies.push((origin, policy));
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
                                origin,
                                diagnostics,
                            );
                            Spanned::new(element_span, DeValue::Table(table))
                        }
                        other => Spanned::new(element_span, other),
                    };
                    let context = format!("[[{name}]]");
                    match name {
                        "intent" => {
                            if let Some(intent) = deserialize_table(
                                element,
                                &context,
                                &RULES_GUIDE,
                                origin,
                                diagnostics,
                            ) {
                                pieces.intents.push((origin, intent));
                            }
                        }
                        "department" => {
                            if let Some(department) = deserialize_table(
                                element,
                                &context,
                                &RULES_GUIDE,
                                origin,
                                diagnostics,
                            ) {
                                pieces.departments.push((origin, department));
                            }
                        }
                        _ => {
                            if let Some(transfer) = deserialize_table(
                                element,
                                &context,
                                &RULES_GUIDE,
                                origin,
                                diagnostics,
                            ) {
                                pieces.transfers.push((origin, transfer));
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
pub(crate) fn check_keys(
    table: &mut DeTable<'_>,
    fields: &[&str],
    context: &str,
    origin: Origin,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if table
        .keys()
        .all(|key| fields.contains(&key.get_ref().as_ref()))
    {
        return;
    }
    // One pass that moves the known keys into a new table: removing unknown keys one
    // by one from the order-preserving map shifts every later entry each time, which
    // made 80,000 unknown keys in one table take a minute.
    let entries = std::mem::replace(table, DeTable::new());
    for (key, value) in entries {
        let name: &str = key.get_ref().as_ref();
        if fields.contains(&name) {
            table.insert(key, value);
            continue;
        }
        let mut diagnostic = Diagnostic::new(
            LintCode::UnknownKey,
            origin.span(key.span()),
            format!("unknown key `{name}` in {context}"),
        )
        .with_note(format!("{context} accepts: {}", fields.join(", ")));
        diagnostic = match did_you_mean(name, fields.iter().copied()) {
            Some(suggestion) => diagnostic
                .with_primary_label(format!("did you mean `{suggestion}`?"))
                .with_help(format!("rename it to `{suggestion}`")),
            None => diagnostic.with_help("remove it; `loopguard schema` lists every key"),
        };
        diagnostics.push(diagnostic);
    }
}

/// Where the help of a bad value sends the reader, per file format.
pub(crate) struct Guide {
    pub example: &'static str,
    pub reference: &'static str,
}

const RULES_GUIDE: Guide = Guide {
    example: "`loopguard explain invalid-value`",
    reference: "`loopguard schema`",
};

/// Deserializes one table. On a bad value, reports it, drops that key and tries
/// again, so every bad value of the table is reported; a missing required key ends
/// the attempt.
pub(crate) fn deserialize_table<'de, T: Deserialize<'de>>(
    mut value: Spanned<DeValue<'de>>,
    context: &str,
    guide: &Guide,
    origin: Origin,
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
                    origin.span(range),
                    format!("{context}: {message}"),
                );
                diagnostic = if message.starts_with("missing field") {
                    diagnostic.with_help(format!("add the key; {} shows an example", guide.example))
                } else {
                    diagnostic.with_help(format!(
                        "see {} for the expected type and values",
                        guide.reference
                    ))
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
