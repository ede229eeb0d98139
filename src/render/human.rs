//! rustc-style output through annotate-snippets: header, `--> file:line:col`, the
//! source with underlines, labels in other files, notes and help.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::summary_counts;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::source::SourceFile;

pub fn render_human(sources: &[SourceFile], diagnostics: &[Diagnostic], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut output = String::new();
    for diagnostic in diagnostics {
        output.push_str(&renderer.render(&[group(sources, diagnostic)]));
        output.push_str("\n\n");
    }
    let files = sources.len();
    let summary = if diagnostics.is_empty() {
        format!(
            "no findings in {files} file{}\n",
            if files == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{} in {files} file{}\n",
            summary_counts(diagnostics),
            if files == 1 { "" } else { "s" }
        )
    };
    output.push_str(&summary);
    output
}

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    }
}

fn group<'a>(sources: &'a [SourceFile], diagnostic: &'a Diagnostic) -> Group<'a> {
    let primary_file = diagnostic.primary.source;
    let mut primary_annotation =
        AnnotationKind::Primary.span(diagnostic.primary.start..diagnostic.primary.end);
    if let Some(label) = &diagnostic.primary_label {
        primary_annotation = primary_annotation.label(label.as_str());
    }
    let mut primary_snippet = Snippet::source(sources[primary_file.0].text.as_str())
        .path(sources[primary_file.0].path.as_str())
        .fold(true)
        .annotation(primary_annotation);
    // Labels in the primary file go into its snippet; others get one snippet per file.
    let mut other_files: Vec<usize> = Vec::new();
    for label in &diagnostic.labels {
        if label.span.source == primary_file {
            primary_snippet = primary_snippet.annotation(
                AnnotationKind::Context
                    .span(label.span.start..label.span.end)
                    .label(label.message.as_str()),
            );
        } else if !other_files.contains(&label.span.source.0) {
            other_files.push(label.span.source.0);
        }
    }
    let mut group = level(diagnostic.severity)
        .primary_title(diagnostic.message.as_str())
        .id(diagnostic.code.as_str())
        .element(primary_snippet);
    for file in other_files {
        let mut snippet = Snippet::source(sources[file].text.as_str())
            .path(sources[file].path.as_str())
            .fold(true);
        for label in diagnostic
            .labels
            .iter()
            .filter(|label| label.span.source.0 == file)
        {
            snippet = snippet.annotation(
                AnnotationKind::Context
                    .span(label.span.start..label.span.end)
                    .label(label.message.as_str()),
            );
        }
        group = group.element(snippet);
    }
    for note in &diagnostic.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    group
}
