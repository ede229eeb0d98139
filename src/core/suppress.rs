//! Inline suppressions: `# loopguard: ignore[code, ...] reason="..."` on the line a
//! finding points at (trailing comment), or on its own line just above it.
//!
//! A suppression that suppresses nothing is itself a finding (`unused-suppression`),
//! and a malformed one is `invalid-suppression`; neither of those can be suppressed.

use foldhash::{HashMap, HashMapExt};

use super::codes::LintCode;
use super::diagnostic::{Diagnostic, Span};
use super::source::{SourceFile, SourceId};

struct Suppression {
    source: SourceId,
    /// The 1-based line whose findings it suppresses; `None` if nothing follows it.
    target_line: Option<usize>,
    codes: Vec<(LintCode, Span, bool)>,
}

/// Drops suppressed findings and adds `unused-suppression` / `invalid-suppression`.
/// Linear in findings + lines: suppressions are looked up by file and line.
pub fn apply(sources: &[SourceFile], diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    let mut suppressions = Vec::new();
    for (index, file) in sources.iter().enumerate() {
        scan(SourceId(index), file, &mut suppressions, &mut findings);
    }
    let mut by_line: HashMap<(SourceId, usize), Vec<usize>> = HashMap::new();
    for (index, suppression) in suppressions.iter().enumerate() {
        if let Some(line) = suppression.target_line {
            by_line
                .entry((suppression.source, line))
                .or_default()
                .push(index);
        }
    }
    for diagnostic in diagnostics {
        let source = diagnostic.primary.source;
        let line = sources[source.0].line_of(diagnostic.primary.start);
        let matching = by_line.get(&(source, line)).and_then(|candidates| {
            candidates.iter().find_map(|&index| {
                suppressions[index]
                    .codes
                    .iter()
                    .position(|(code, _, _)| *code == diagnostic.code)
                    .map(|position| (index, position))
            })
        });
        match matching {
            Some((index, position)) => suppressions[index].codes[position].2 = true,
            None => findings.push(diagnostic),
        }
    }
    for suppression in suppressions {
        for (code, at, used) in suppression.codes {
            if !used {
                findings.push(
                    Diagnostic::new(
                        LintCode::UnusedSuppression,
                        at,
                        format!("suppression of `{code}` matches no finding"),
                    )
                    .with_primary_label("nothing to suppress on the line this applies to")
                    .with_help("remove it; it would hide the next real finding on this line"),
                );
            }
        }
    }
    findings
}

fn scan(
    source: SourceId,
    file: &SourceFile,
    suppressions: &mut Vec<Suppression>,
    findings: &mut Vec<Diagnostic>,
) {
    if !file.text.contains("loopguard:") {
        return;
    }
    // Comments on their own line apply to the next line with code; they wait here
    // until that line is seen (one pass, however many comment lines follow).
    let mut waiting: Vec<usize> = Vec::new();
    for line in 1..=file.line_count() {
        let text = file.line_text(line);
        if waiting.is_empty() && !text.contains("loopguard:") {
            continue;
        }
        let trimmed_line = text.trim();
        if !trimmed_line.is_empty() && !trimmed_line.starts_with('#') {
            for index in waiting.drain(..) {
                suppressions[index].target_line = Some(line);
            }
        }
        let Some(comment_start) = comment_start(text) else {
            continue;
        };
        let comment = &text[comment_start + 1..];
        let trimmed = comment.trim_start();
        let Some(directive) = trimmed.strip_prefix("loopguard:") else {
            continue;
        };
        let line_start = file.line_start(line);
        let directive_offset = line_start + comment_start + 1 + (comment.len() - trimmed.len());
        let comment_span = Span::new(source, line_start + comment_start..line_start + text.len());
        let codes = match parse_directive(directive) {
            Ok(codes) => codes,
            Err(message) => {
                findings.push(
                    Diagnostic::new(LintCode::InvalidSuppression, comment_span, message)
                        .with_help("write `# loopguard: ignore[code] reason=\"why this is intended\"`; `loopguard explain` lists the codes"),
                );
                continue;
            }
        };
        let mut parsed = Vec::new();
        for (name, range) in codes {
            let at = Span::new(
                source,
                directive_offset + "loopguard:".len() + range.start
                    ..directive_offset + "loopguard:".len() + range.end,
            );
            match LintCode::parse(name) {
                Some(LintCode::UnusedSuppression | LintCode::InvalidSuppression) => {
                    findings.push(
                        Diagnostic::new(
                            LintCode::InvalidSuppression,
                            at,
                            format!("`{name}` cannot be suppressed"),
                        )
                        .with_help("fix or remove the suppression comment instead"),
                    );
                }
                Some(code) => parsed.push((code, at, false)),
                None => {
                    let suggestion = super::rules::did_you_mean(
                        name,
                        LintCode::ALL.iter().map(|code| code.as_str()),
                    );
                    findings.push(
                        Diagnostic::new(
                            LintCode::InvalidSuppression,
                            at,
                            format!("unknown lint code `{name}` in suppression"),
                        )
                        .with_help(match suggestion {
                            Some(code) => format!("did you mean `{code}`?"),
                            None => "`loopguard explain` lists the codes".to_owned(),
                        }),
                    );
                }
            }
        }
        let standalone = text[..comment_start].trim().is_empty();
        if standalone {
            waiting.push(suppressions.len());
        }
        suppressions.push(Suppression {
            source,
            target_line: (!standalone).then_some(line),
            codes: parsed,
        });
    }
}

/// The lint code under `offset` in a `# loopguard: ignore[...]` comment, for hovers.
pub fn code_at(file: &SourceFile, offset: usize) -> Option<LintCode> {
    let line = file.line_of(offset);
    let text = file.line_text(line);
    let comment_start = comment_start(text)?;
    let comment = &text[comment_start + 1..];
    let trimmed = comment.trim_start();
    let directive = trimmed.strip_prefix("loopguard:")?;
    let directive_offset = file.line_start(line)
        + comment_start
        + 1
        + (comment.len() - trimmed.len())
        + "loopguard:".len();
    let codes = parse_directive(directive).ok()?;
    codes
        .into_iter()
        .find(|(_, range)| {
            (directive_offset + range.start..=directive_offset + range.end).contains(&offset)
        })
        .and_then(|(name, _)| LintCode::parse(name))
}

/// Byte index of the `#` that starts a comment, skipping `#` inside strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (index, character) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if character == '\\' => escaped = true,
            Some(open) if character == open => quote = None,
            Some(_) => {}
            None if character == '"' || character == '\'' => quote = Some(character),
            None if character == '#' => return Some(index),
            None => {}
        }
    }
    None
}

/// Parses ` ignore[a, b] reason="..."` into code names with their byte ranges
/// relative to the start of the directive text.
fn parse_directive(directive: &str) -> Result<Vec<(&str, std::ops::Range<usize>)>, String> {
    let leading = directive.len() - directive.trim_start().len();
    let rest = directive.trim_start();
    let Some(after) = rest.strip_prefix("ignore[") else {
        return Err("a loopguard comment must be `ignore[code] reason=\"...\"`".to_owned());
    };
    let Some(close) = after.find(']') else {
        return Err("missing `]` after the codes in `ignore[...]`".to_owned());
    };
    let list_offset = leading + "ignore[".len();
    let mut codes = Vec::new();
    let mut cursor = 0;
    for part in after[..close].split(',') {
        let trimmed = part.trim();
        let start = list_offset + cursor + (part.len() - part.trim_start().len());
        cursor += part.len() + 1;
        if trimmed.is_empty() {
            continue;
        }
        codes.push((trimmed, start..start + trimmed.len()));
    }
    if codes.is_empty() {
        return Err("`ignore[]` names no lint code".to_owned());
    }
    let tail = after[close + 1..].trim();
    let Some(reason) = tail.strip_prefix("reason") else {
        return Err(
            "the suppression gives no reason: add reason=\"why this is intended\"".to_owned(),
        );
    };
    let reason = reason.trim_start().strip_prefix('=').map(str::trim_start);
    match reason
        .and_then(|value| value.strip_prefix('"'))
        .and_then(|value| value.strip_suffix('"'))
    {
        Some(text) if !text.trim().is_empty() => Ok(codes),
        _ => Err("the reason must be a non-empty quoted string: reason=\"...\"".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_inside_strings_are_not_comments() {
        assert_eq!(comment_start(r##"name = "a # b" # real"##), Some(15));
        assert_eq!(comment_start(r#"name = 'a # b'"#), None);
    }

    #[test]
    fn the_code_under_the_cursor_is_found_in_a_suppression() {
        let file = SourceFile::new(
            "r.toml",
            "x = 1\nto = \"b\" # loopguard: ignore[ping-pong-pair, transfer-cycle] reason=\"x\"\n",
        );
        let at = |needle: &str| file.text.find(needle).expect("in the text");
        assert_eq!(code_at(&file, at("pong")), Some(LintCode::PingPongPair));
        assert_eq!(
            code_at(&file, at("transfer-cycle") + 3),
            Some(LintCode::TransferCycle)
        );
        assert_eq!(code_at(&file, at("reason")), None);
        assert_eq!(code_at(&file, 1), None);
    }

    #[test]
    fn directive_requires_codes_and_a_reason() {
        assert!(parse_directive(" ignore[ping-pong-pair] reason=\"legacy IVR\"").is_ok());
        assert!(parse_directive(" ignore[ping-pong-pair]").is_err());
        assert!(parse_directive(" ignore[] reason=\"x\"").is_err());
        assert!(parse_directive(" ignore[a] reason=\"\"").is_err());
        let codes = parse_directive(" ignore[a, bb] reason=\"x\"").unwrap();
        assert_eq!(codes, vec![("a", 8..9), ("bb", 11..13)]);
    }
}
