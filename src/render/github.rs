//! GitHub Actions workflow commands (`::error file=…,line=…::message`). GitHub shows
//! only the first 10 annotations of a step, so a final notice recommends SARIF when
//! there are more.

use super::{Location, omitted_sentence};
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::lint::OmittedFindings;
use crate::core::source::SourceFile;

pub fn render_github(
    sources: &[SourceFile],
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
) -> String {
    let mut output = String::new();
    for diagnostic in diagnostics {
        let location = Location::of(sources, diagnostic.primary);
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        output.push_str(&format!(
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(location.path),
            location.start.line,
            location.start.column,
            location.end.line,
            location.end.column,
            escape_property(&format!("loopguard {}", diagnostic.code)),
            escape_data(&message)
        ));
    }
    for file in omitted {
        output.push_str(&format!(
            "::warning file={},title=loopguard::{}\n",
            escape_property(&sources[file.source.0].path),
            escape_data(&omitted_sentence(file))
        ));
    }
    let total = diagnostics.len() + omitted.iter().map(OmittedFindings::total).sum::<usize>();
    if total > 10 {
        output.push_str(&format!(
            "::notice title=loopguard::{total} findings; GitHub shows only the first 10 annotations of a step. Upload `loopguard lint --format sarif` to code scanning to see them all.\n",
        ));
    }
    output
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
