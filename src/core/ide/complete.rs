//! Completion: what may be typed at the cursor of a rules file. Department ids in
//! `from`, `to` and `escalation`, intent ids in `intents` and `handles`, the words
//! an enumerated value accepts, and the keys of the table the cursor is in.
//!
//! The context is read from the text (the table header above the cursor and the
//! key whose value the cursor is in), so it works while the file is half typed and
//! does not parse. At most [`MAX_COMPLETIONS`] items matching what is already typed
//! are returned.

use crate::core::rules::Rules;
use crate::core::rules::raw::{
    RawActions, RawDepartment, RawFile, RawIntent, RawPolicy, RawTransfer, field_names,
};
use crate::core::source::SourceFile;

/// Completions returned for one request, at most.
pub const MAX_COMPLETIONS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Department,
    Intent,
    Key,
    Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short description (a department's name, an intent's owner).
    pub detail: Option<String>,
    /// What to insert: the label, quoted when the cursor is not inside quotes yet.
    pub insert: String,
}

/// The table the cursor is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Top,
    Policy,
    Actions,
    Intent,
    Department,
    Transfer,
}

impl Table {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Table::Top => field_names::<RawFile>(),
            Table::Policy => field_names::<RawPolicy>(),
            Table::Actions => field_names::<RawActions>(),
            Table::Intent => field_names::<RawIntent>(),
            Table::Department => field_names::<RawDepartment>(),
            Table::Transfer => field_names::<RawTransfer>(),
        }
    }
}

/// Where the cursor is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Context {
    /// Typing a key of `table`.
    Key { table: Table, typed: String },
    /// Typing the value of `key` (possibly an array element).
    Value {
        table: Table,
        key: String,
        typed: String,
        quoted: bool,
    },
}

/// What may be typed at byte `offset` of `file`.
pub fn completions(rules: &Rules, file: &SourceFile, offset: usize) -> Vec<Completion> {
    let Some(context) = context(file, offset) else {
        return Vec::new();
    };
    let mut items = match &context {
        Context::Key { table, typed } => table
            .keys()
            .iter()
            .filter(|key| key.starts_with(typed.as_str()))
            .map(|key| Completion {
                label: (*key).to_owned(),
                kind: CompletionKind::Key,
                detail: None,
                insert: (*key).to_owned(),
            })
            .collect(),
        Context::Value {
            table,
            key,
            typed,
            quoted,
        } => values(rules, *table, key, typed, *quoted),
    };
    items.truncate(MAX_COMPLETIONS);
    items
}

fn quote(label: &str, quoted: bool) -> String {
    if quoted {
        label.to_owned()
    } else {
        format!("\"{label}\"")
    }
}

fn values(rules: &Rules, table: Table, key: &str, typed: &str, quoted: bool) -> Vec<Completion> {
    let words = |words: &[&str]| -> Vec<Completion> {
        words
            .iter()
            .filter(|word| word.starts_with(typed))
            .map(|word| Completion {
                label: (*word).to_owned(),
                kind: CompletionKind::Value,
                detail: None,
                insert: quote(word, quoted),
            })
            .collect()
    };
    match (table, key) {
        (Table::Transfer, "from" | "to") | (Table::Policy, "escalation") => rules
            .departments
            .iter()
            .filter(|department| department.id.as_str().starts_with(typed))
            .take(MAX_COMPLETIONS)
            .map(|department| Completion {
                label: department.id.as_str().to_owned(),
                kind: CompletionKind::Department,
                detail: Some(department.name.clone()),
                insert: quote(department.id.as_str(), quoted),
            })
            .collect(),
        (Table::Transfer, "intents") | (Table::Department, "handles") => intent_ids(rules)
            .into_iter()
            .filter(|intent| intent.starts_with(typed))
            .take(MAX_COMPLETIONS)
            .map(|intent| {
                let owners: Vec<&str> = rules
                    .owners(intent)
                    .iter()
                    .map(|&owner| rules.departments[owner].id.as_str())
                    .collect();
                Completion {
                    label: intent.to_owned(),
                    kind: CompletionKind::Intent,
                    detail: Some(if owners.is_empty() {
                        "no owner yet".to_owned()
                    } else {
                        format!("handled by {}", owners.join(", "))
                    }),
                    insert: quote(intent, quoted),
                }
            })
            .collect(),
        (Table::Transfer, "mode") => words(&["warm", "cold"]),
        (Table::Policy, "mode") => words(&["enforce", "observe"]),
        (Table::Actions, _) => words(&["block", "warn", "allow"]),
        (Table::Department, "entry")
        | (Table::Policy, "require_warm_transfer" | "require_callback_number") => {
            // Booleans are never quoted.
            ["true", "false"]
                .iter()
                .filter(|word| word.starts_with(typed))
                .map(|word| Completion {
                    label: (*word).to_owned(),
                    kind: CompletionKind::Value,
                    detail: None,
                    insert: (*word).to_owned(),
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The catalog's intents, or every intent handled or routed when there is none;
/// sorted, without repeats.
fn intent_ids(rules: &Rules) -> Vec<&str> {
    rules.known_intents().into_iter().collect()
}

/// Reads the cursor's context from the text: the last table header above it, and
/// the key whose value it is in (looking up across the lines of a multi-line array).
fn context(file: &SourceFile, offset: usize) -> Option<Context> {
    let offset = crate::core::source::floor_char_boundary(&file.text, offset);
    let line = file.line_of(offset);
    let before_cursor = &file.text[file.line_start(line)..offset];
    let table = (1..line)
        .rev()
        .map(|number| file.line_text(number).trim())
        .find(|text| text.starts_with('['))
        .map_or(Table::Top, table_of);
    // The cursor's own line is a header: nothing to complete.
    if before_cursor.trim_start().starts_with('[') && !before_cursor.contains('=') {
        return None;
    }
    if before_cursor.contains('#') && !inside_string(before_cursor) {
        return None;
    }
    let (key, value) = match before_cursor.split_once('=') {
        Some((key, value)) => (key.trim().to_owned(), value.to_owned()),
        None => {
            let typed = before_cursor.trim_start();
            // Inside a multi-line array that an earlier line opened?
            match open_array_key(file, line) {
                Some(key) => (key, before_cursor.to_owned()),
                None if typed.chars().all(is_key_character) => {
                    return Some(Context::Key {
                        table,
                        typed: typed.to_owned(),
                    });
                }
                None => return None,
            }
        }
    };
    let quoted = inside_string(&value);
    let typed = if quoted {
        value
            .rsplit(['"', '\''])
            .next()
            .unwrap_or_default()
            .to_owned()
    } else {
        value
            .rsplit(|character: char| !is_key_character(character))
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    Some(Context::Value {
        table,
        key,
        typed,
        quoted,
    })
}

fn is_key_character(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '-' | '.')
}

/// Whether the text ends inside a quoted string.
fn inside_string(text: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for character in text.chars() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if character == '\\' => escaped = true,
            Some(open) if character == open => quote = None,
            Some(_) => {}
            None if character == '"' || character == '\'' => quote = Some(character),
            None => {}
        }
    }
    quote.is_some()
}

/// The key of an array opened on an earlier line and not closed before `line`.
fn open_array_key(file: &SourceFile, line: usize) -> Option<String> {
    let mut depth = 0i64;
    for number in (1..line).rev() {
        let text = file.line_text(number);
        let trimmed = text.trim();
        if trimmed.starts_with('[') && !trimmed.contains('=') {
            return None;
        }
        let code = text.split('#').next().unwrap_or_default();
        depth += code.matches('[').count() as i64 - code.matches(']').count() as i64;
        if let Some((key, _)) = code.split_once('=') {
            return (depth > 0).then(|| key.trim().to_owned());
        }
    }
    None
}

fn table_of(header: &str) -> Table {
    let name: String = header
        .trim_matches(|character: char| {
            character == '[' || character == ']' || character.is_whitespace()
        })
        .split('#')
        .next()
        .unwrap_or_default()
        .trim_end_matches([']', ' '])
        .to_owned();
    match name.as_str() {
        "policy" => Table::Policy,
        "policy.actions" => Table::Actions,
        "intent" => Table::Intent,
        "department" => Table::Department,
        "transfer" => Table::Transfer,
        _ => Table::Top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lint::lint;

    const RULES: &str = "[policy]\nescalation = \"boss\"\n\n[[department]]\nid = \"front\"\nname = \"Front desk\"\nentry = true\nhandles = [\"general\"]\n\n[[department]]\nid = \"boss\"\nhandles = [\"complaint\"]\n\n[[transfer]]\nfrom = \"front\"\nto = \"boss\"\nintents = [\n  \"complaint\",\n  \n]\n";

    /// Completions at the `|` of `marker`, a piece of `RULES` with a cursor in it.
    fn at(marker: &str) -> Vec<Completion> {
        let rules = lint(&[SourceFile::new("r.toml", RULES)]).rules;
        let cursor = marker.find('|').expect("a cursor in the marker");
        let offset = RULES
            .find(&marker.replace('|', ""))
            .expect("marker in RULES")
            + cursor;
        completions(&rules, &SourceFile::new("r.toml", RULES), offset)
    }

    fn labels(items: &[Completion]) -> Vec<&str> {
        items.iter().map(|item| item.label.as_str()).collect()
    }

    #[test]
    fn contexts_are_read_from_the_text_around_the_cursor() {
        let file = |text: &str| SourceFile::new("r.toml", text);
        let value = |table, key: &str, typed: &str, quoted| {
            Some(Context::Value {
                table,
                key: key.to_owned(),
                typed: typed.to_owned(),
                quoted,
            })
        };
        let text = "[[transfer]]\nfrom = \"fr";
        assert_eq!(
            context(&file(text), text.len()),
            value(Table::Transfer, "from", "fr", true)
        );
        let text = "[[department]]\nhandles = [\"a\", ";
        assert_eq!(
            context(&file(text), text.len()),
            value(Table::Department, "handles", "", false)
        );
        let text = "[[transfer]]\nintents = [\n  \"co";
        assert_eq!(
            context(&file(text), text.len()),
            value(Table::Transfer, "intents", "co", true)
        );
        let text = "[policy.actions]\nping-pong = ";
        assert_eq!(
            context(&file(text), text.len()),
            value(Table::Actions, "ping-pong", "", false)
        );
        let text = "[[transfer]]\nmo";
        assert_eq!(
            context(&file(text), text.len()),
            Some(Context::Key {
                table: Table::Transfer,
                typed: "mo".to_owned()
            })
        );
        assert_eq!(context(&file("[[transfer]]"), 5), None);
        assert_eq!(context(&file("x = 1 # comment "), 16), None);
    }

    #[test]
    fn departments_intents_words_and_keys_are_offered_where_they_fit() {
        assert_eq!(labels(&at("to = \"|boss\"")), ["front", "boss"]);
        assert_eq!(labels(&at("from = \"f|ront\"")), ["front"]);
        assert_eq!(
            at("from = \"f|ront\"")[0].detail.as_deref(),
            Some("Front desk")
        );
        assert_eq!(labels(&at("  |\n]")), ["complaint", "general"]);
        assert_eq!(at("  |\n]")[0].insert, "\"complaint\"");
        assert_eq!(labels(&at("escalation = \"|boss")), ["front", "boss"]);
        assert_eq!(
            labels(&at("handles = [\"|general")),
            ["complaint", "general"]
        );
        assert_eq!(labels(&at("entry = |true")), ["true", "false"]);
        assert_eq!(labels(&at("|to = ")), ["from", "to", "intents", "mode"]);
    }
}
