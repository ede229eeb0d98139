//! The linter's entry point: parse, validate, run the graph checks, apply
//! suppressions, sort; and the per-file cap on the findings a report shows. Pure:
//! the caller reads the files.

use super::checks;
use super::diagnostic::{Diagnostic, Severity, Span, sort_diagnostics};
use super::rules::{Rules, load_rules};
use super::source::{SourceFile, SourceId};

/// How many findings of one file a report shows unless told otherwise.
pub const DEFAULT_MAX_FINDINGS_PER_FILE: usize = 100;

/// Everything one lint run found, with the model it built.
#[derive(Debug)]
pub struct LintReport {
    pub rules: Rules,
    /// The findings shown, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Per file, the findings left out by [`LintReport::cap_per_file`].
    pub omitted: Vec<OmittedFindings>,
}

/// The findings of one file a report leaves out, counted by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OmittedFindings {
    pub source: SourceId,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl OmittedFindings {
    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.notes
    }

    pub fn count(&self, severity: Severity) -> usize {
        match severity {
            Severity::Error => self.errors,
            Severity::Warning => self.warnings,
            Severity::Note => self.notes,
        }
    }
}

impl LintReport {
    /// Findings at or above a severity, omitted ones included.
    pub fn count_at_least(&self, severity: Severity) -> usize {
        let shown = self
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity >= severity)
            .count();
        let omitted: usize = self
            .omitted
            .iter()
            .map(|omitted| {
                [Severity::Note, Severity::Warning, Severity::Error]
                    .into_iter()
                    .filter(|&level| level >= severity)
                    .map(|level| omitted.count(level))
                    .sum::<usize>()
            })
            .sum();
        shown + omitted
    }

    pub fn has_errors(&self) -> bool {
        self.count_at_least(Severity::Error) > 0
    }

    /// Keeps at most `max` findings per file (0: no limit) and counts the rest in
    /// [`LintReport::omitted`]. Errors are kept before warnings and warnings before
    /// notes; within a severity, the first in the file; the kept ones stay in file
    /// order. Rendering thousands of findings helps nobody and costs time and
    /// output in proportion, so every renderer shows these counts instead.
    pub fn cap_per_file(&mut self, max: usize) {
        let (kept, omitted) = cap_per_file(std::mem::take(&mut self.diagnostics), max);
        self.diagnostics = kept;
        self.omitted.extend(omitted);
    }
}

/// Keeps at most `max` of `diagnostics` per file (0: no limit), errors before
/// warnings before notes, then by position, and counts the rest per file.
/// `diagnostics` must be sorted by file and position (`sort_diagnostics`).
pub fn cap_per_file(
    diagnostics: Vec<Diagnostic>,
    max: usize,
) -> (Vec<Diagnostic>, Vec<OmittedFindings>) {
    if max == 0 {
        return (diagnostics, Vec::new());
    }
    let mut kept = Vec::with_capacity(diagnostics.len().min(max * 4));
    let mut omitted = Vec::new();
    let mut start = 0;
    while start < diagnostics.len() {
        let source = diagnostics[start].primary.source;
        let end = diagnostics[start..]
            .iter()
            .position(|diagnostic| diagnostic.primary.source != source)
            .map_or(diagnostics.len(), |offset| start + offset);
        let file = &diagnostics[start..end];
        if file.len() <= max {
            kept.extend_from_slice(file);
        } else {
            let mut order: Vec<usize> = (0..file.len()).collect();
            order.sort_by_key(|&index| (std::cmp::Reverse(file[index].severity), index));
            let mut chosen = order[..max].to_vec();
            chosen.sort_unstable();
            kept.extend(chosen.iter().map(|&index| file[index].clone()));
            let mut counts = OmittedFindings {
                source,
                errors: 0,
                warnings: 0,
                notes: 0,
            };
            for &index in &order[max..] {
                match file[index].severity {
                    Severity::Error => counts.errors += 1,
                    Severity::Warning => counts.warnings += 1,
                    Severity::Note => counts.notes += 1,
                }
            }
            omitted.push(counts);
        }
        start = end;
    }
    (kept, omitted)
}

/// Lints one routing configuration made of `sources` (all files of one rules
/// directory). Reports every problem; never stops at the first.
pub fn lint(sources: &[SourceFile]) -> LintReport {
    let (rules, mut diagnostics) = load_rules(sources);
    let fallback = Span::new(SourceId(0), 0..0);
    diagnostics.extend(checks::run(&rules, fallback));
    let mut diagnostics = super::suppress::apply(sources, diagnostics);
    sort_diagnostics(&mut diagnostics);
    LintReport {
        rules,
        diagnostics,
        omitted: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::codes::LintCode;

    fn finding(source: usize, start: usize, severity: Severity) -> Diagnostic {
        let mut diagnostic = Diagnostic::new(
            LintCode::UnknownKey,
            Span::new(SourceId(source), start..start + 1),
            "x",
        );
        diagnostic.severity = severity;
        diagnostic
    }

    #[test]
    fn the_cap_keeps_errors_first_in_file_order_and_counts_the_rest_per_file() {
        let mut report = LintReport {
            rules: Rules::default(),
            diagnostics: vec![
                finding(0, 1, Severity::Warning),
                finding(0, 2, Severity::Error),
                finding(0, 3, Severity::Note),
                finding(0, 4, Severity::Error),
                finding(1, 1, Severity::Warning),
            ],
            omitted: Vec::new(),
        };
        report.cap_per_file(2);
        let kept: Vec<(usize, usize)> = report
            .diagnostics
            .iter()
            .map(|diagnostic| (diagnostic.primary.source.0, diagnostic.primary.start))
            .collect();
        assert_eq!(kept, [(0, 2), (0, 4), (1, 1)]);
        assert_eq!(
            report.omitted,
            [OmittedFindings {
                source: SourceId(0),
                errors: 0,
                warnings: 1,
                notes: 1
            }]
        );
        assert_eq!(report.count_at_least(Severity::Warning), 4);
        assert_eq!(report.count_at_least(Severity::Note), 5);
    }
}
