//! SARIF 2.1.0 for code-scanning services: every lint code is a rule in
//! `tool.driver.rules`, results point at relative paths, columns count Unicode code
//! points (declared in `columnKind`).

use serde_json::{Value, json};

use super::{Location, omitted_sentence};
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Severity, Span};
use crate::core::lint::OmittedFindings;
use crate::core::source::SourceFile;

/// Findings left out by the per-file cap become one tool notification per file
/// (with the file as location) and `run.properties.omittedFindings`.
pub fn render_sarif(
    sources: &[SourceFile],
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
) -> String {
    let rules: Vec<Value> = LintCode::ALL
        .iter()
        .map(|code| {
            let explanation = code.explanation();
            json!({
                "id": code.as_str(),
                "name": pascal_case(code.as_str()),
                "shortDescription": { "text": code.summary() },
                "fullDescription": { "text": format!("{} {}", explanation.catches, explanation.why) },
                "help": {
                    "text": format!("{}\n\nRun `loopguard explain {}` for an example.", explanation.fix, code.as_str()),
                },
                "defaultConfiguration": { "level": level(code.default_severity()) },
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let mut message = diagnostic.message.clone();
            for note in &diagnostic.notes {
                message.push_str(&format!("\nnote: {note}"));
            }
            if let Some(help) = &diagnostic.help {
                message.push_str(&format!("\nhelp: {help}"));
            }
            let related: Vec<Value> = diagnostic
                .labels
                .iter()
                .enumerate()
                .map(|(index, label)| {
                    let mut location = physical_location(sources, label.span);
                    location["id"] = json!(index);
                    location["message"] = json!({ "text": label.message });
                    location
                })
                .collect();
            let rule_index = LintCode::ALL
                .iter()
                .position(|code| *code == diagnostic.code)
                .unwrap_or_default();
            let mut result = json!({
                "ruleId": diagnostic.code.as_str(),
                "ruleIndex": rule_index,
                "level": level(diagnostic.severity),
                "message": { "text": message },
                "locations": [physical_location(sources, diagnostic.primary)],
            });
            if !related.is_empty() {
                result["relatedLocations"] = Value::Array(related);
            }
            result
        })
        .collect();
    let mut log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "loopguard",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    if !omitted.is_empty() {
        let notifications: Vec<Value> = omitted
            .iter()
            .map(|file| {
                json!({
                    "level": "warning",
                    "message": { "text": omitted_sentence(file) },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri_reference(&sources[file.source.0].path) }
                        }
                    }],
                })
            })
            .collect();
        let run = &mut log["runs"][0];
        run["invocations"] = json!([{
            "executionSuccessful": true,
            "toolExecutionNotifications": notifications,
        }]);
        run["properties"] =
            json!({ "omittedFindings": omitted.iter().map(OmittedFindings::total).sum::<usize>() });
    }
    // A json! value always serializes.
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
    text.push('\n');
    text
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn physical_location(sources: &[SourceFile], span: Span) -> Value {
    let location = Location::of(sources, span);
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri_reference(location.path) },
            "region": {
                "startLine": location.start.line,
                "startColumn": location.start.column,
                "endLine": location.end.line,
                "endColumn": location.end.column.max(location.start.column + usize::from(location.end.line == location.start.line && location.end.column == location.start.column)),
            }
        }
    })
}

/// A relative URI reference: forward slashes, no leading `./`, reserved bytes escaped.
fn uri_reference(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

fn pascal_case(code: &str) -> String {
    code.split('-')
        .map(|word| {
            let mut characters = word.chars();
            match characters.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + characters.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_escaped() {
        assert_eq!(uri_reference("./rules/a b.toml"), "rules/a%20b.toml");
        assert_eq!(uri_reference("rules\\x.toml"), "rules/x.toml");
    }
}
