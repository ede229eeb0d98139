//! rustc-style output through annotate-snippets: header, `--> file:line:col`, the
//! source with underlines, labels in other files, notes and help.
//!
//! annotate-snippets is handed only the lines around each finding's annotations,
//! never a whole file: giving it the whole file made every finding cost the size of
//! the file (20,000 findings in a 750 KB file took a minute and a half).

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::{omitted_sentence, summary_counts};
use crate::core::diagnostic::{Diagnostic, Severity, Span};
use crate::core::lint::OmittedFindings;
use crate::core::source::{SourceFile, SourceId};

/// Annotations of one file further apart than this (in bytes between their lines)
/// are shown as separate snippets, so a snippet never spans a large part of a file.
const MAX_GAP_BYTES: usize = 2048;

pub fn render_human(
    sources: &[SourceFile],
    diagnostics: &[Diagnostic],
    omitted: &[OmittedFindings],
    color: bool,
) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut output = String::new();
    let omitted_line = |file: &OmittedFindings| {
        format!(
            "{}: note: {}\n\n",
            sources[file.source.0].path,
            omitted_sentence(file)
        )
    };
    let mut pending = omitted.iter().peekable();
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        output.push_str(&renderer.render(&[group(sources, diagnostic)]));
        output.push_str("\n\n");
        // After a file's last finding, say how many of its findings were left out.
        let next_source = diagnostics.get(index + 1).map(|next| next.primary.source);
        if next_source != Some(diagnostic.primary.source)
            && let Some(file) = pending.next_if(|file| file.source == diagnostic.primary.source)
        {
            output.push_str(&omitted_line(file));
        }
    }
    for file in pending {
        output.push_str(&omitted_line(file));
    }
    let files = sources.len();
    let any = !diagnostics.is_empty() || !omitted.is_empty();
    let summary = if any {
        format!(
            "{} in {files} file{}\n",
            summary_counts(diagnostics, omitted),
            if files == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "no findings in {files} file{}\n",
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

/// One annotation: where, and its label (`None` for the primary one without label).
struct Mark<'a> {
    span: Span,
    primary: bool,
    label: Option<&'a str>,
}

fn group<'a>(sources: &'a [SourceFile], diagnostic: &'a Diagnostic) -> Group<'a> {
    let mut marks = vec![Mark {
        span: diagnostic.primary,
        primary: true,
        label: diagnostic.primary_label.as_deref(),
    }];
    marks.extend(diagnostic.labels.iter().map(|label| Mark {
        span: label.span,
        primary: false,
        label: Some(label.message.as_str()),
    }));
    // The primary file first (its cluster with the primary annotation leading),
    // then the other files in the order their labels appear.
    let mut files: Vec<SourceId> = vec![diagnostic.primary.source];
    for mark in &marks {
        if !files.contains(&mark.span.source) {
            files.push(mark.span.source);
        }
    }
    let mut group = Group::with_title(
        level(diagnostic.severity)
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.as_str()),
    );
    for source in files {
        let file = &sources[source.0];
        let mut in_file: Vec<&Mark> = marks
            .iter()
            .filter(|mark| mark.span.source == source)
            .collect();
        in_file.sort_by_key(|mark| mark.span.start);
        let mut clusters = clusters(file, &in_file);
        if let Some(first) = clusters
            .iter()
            .position(|cluster| cluster.iter().any(|mark| mark.primary))
        {
            let primary_cluster = clusters.remove(first);
            clusters.insert(0, primary_cluster);
        }
        for cluster in clusters {
            group = group.element(snippet(file, &cluster));
        }
    }
    for note in &diagnostic.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    group
}

/// A snippet of the lines around one span, with a primary underline and label:
/// for other reports rendered in the same style (test failures).
pub(super) fn excerpt<'a>(
    file: &'a SourceFile,
    span: Span,
    label: &'a str,
) -> Snippet<'a, annotate_snippets::Annotation<'a>> {
    let mark = Mark {
        span,
        primary: true,
        label: Some(label),
    };
    snippet(file, &[&mark])
}

/// Groups a file's marks (sorted by position) so that marks whose lines are close
/// share a snippet.
fn clusters<'m, 'a>(file: &SourceFile, marks: &[&'m Mark<'a>]) -> Vec<Vec<&'m Mark<'a>>> {
    let mut clusters: Vec<Vec<&Mark>> = Vec::new();
    let mut cluster_end = 0;
    for &mark in marks {
        let line_start = file.line_start(file.line_of(mark.span.start));
        match clusters.last_mut() {
            Some(cluster) if line_start <= cluster_end + MAX_GAP_BYTES => {
                cluster.push(mark);
            }
            _ => clusters.push(vec![mark]),
        }
        cluster_end = cluster_end.max(line_end(file, mark.span.end));
    }
    clusters
}

/// The byte offset where the line holding `offset` ends (before its line break).
fn line_end(file: &SourceFile, offset: usize) -> usize {
    let line = file.line_of(offset);
    file.line_start(line) + file.line_text(line).len()
}

/// A snippet of just the lines a cluster's marks cover, numbered as in the file.
fn snippet<'a>(
    file: &'a SourceFile,
    cluster: &[&Mark<'a>],
) -> Snippet<'a, annotate_snippets::Annotation<'a>> {
    let first_line = cluster
        .iter()
        .map(|mark| file.line_of(mark.span.start))
        .min()
        .unwrap_or(1);
    let start = file.line_start(first_line);
    let end = cluster
        .iter()
        .map(|mark| line_end(file, mark.span.end))
        .max()
        .unwrap_or(start)
        .max(start);
    let mut snippet = Snippet::source(&file.text[start..end])
        .line_start(first_line)
        .path(file.path.as_str())
        .fold(true);
    for mark in cluster {
        let range =
            mark.span.start.clamp(start, end) - start..mark.span.end.clamp(start, end) - start;
        let kind = if mark.primary {
            AnnotationKind::Primary
        } else {
            AnnotationKind::Context
        };
        let mut annotation = kind.span(range);
        if let Some(label) = mark.label {
            annotation = annotation.label(label);
        }
        snippet = snippet.annotation(annotation);
    }
    snippet
}
