//! The linter's entry point: parse, validate, run the graph checks, apply
//! suppressions, sort. Pure: the caller reads the files.

use super::checks;
use super::diagnostic::{Diagnostic, Severity, Span, sort_diagnostics};
use super::rules::{Rules, load_rules};
use super::source::{SourceFile, SourceId};

/// Everything one lint run found, with the model it built.
#[derive(Debug)]
pub struct LintReport {
    pub rules: Rules,
    pub diagnostics: Vec<Diagnostic>,
}

impl LintReport {
    /// Findings at or above a severity.
    pub fn count_at_least(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity >= severity)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.count_at_least(Severity::Error) > 0
    }
}

/// Lints one routing configuration made of `sources` (all files of one rules
/// directory). Reports every problem; never stops at the first.
pub fn lint(sources: &[SourceFile]) -> LintReport {
    let (rules, mut diagnostics) = load_rules(sources);
    let fallback = Span::new(SourceId(0), 0..0);
    diagnostics.extend(checks::run(&rules, fallback));
    let mut diagnostics = super::suppress::apply(sources, diagnostics);
    sort_diagnostics(&mut diagnostics);
    LintReport { rules, diagnostics }
}
