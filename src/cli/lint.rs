//! `loopguard lint`: check rules files and print the findings in one of the
//! output formats; exit 1 when a finding reaches `--fail-on`.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{ColorChoice, print_out, usage};
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, OmittedFindings, lint};
use crate::exit::{FINDINGS_OR_RUNTIME_FAILURE as EXIT_FINDINGS, Failure, SUCCESS as EXIT_CLEAN};
use crate::render;
use crate::rules_files;

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Rules files or directories. Each directory is one configuration (its *.toml
    /// files are merged); files named directly form one configuration together.
    #[arg(default_value = "routing-rules")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Lowest severity that makes the run fail (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Colour for human output: auto = only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Findings shown per file (errors first); the rest are counted. 0 shows all.
    #[arg(long, default_value_t = DEFAULT_MAX_FINDINGS_PER_FILE, value_name = "N")]
    pub max_findings_per_file: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Human,
    Concise,
    Json,
    Sarif,
    Github,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Note,
    Never,
}

pub fn run(args: &LintArgs) -> Result<u8, Failure> {
    let mut configurations: Vec<Vec<PathBuf>> = Vec::new();
    let mut loose_files = Vec::new();
    for path in &args.paths {
        if path.is_file() {
            loose_files.push(path.clone());
        } else {
            configurations.push(usage(rules_files::rules_file_paths(path))?);
        }
    }
    if !loose_files.is_empty() {
        configurations.push(loose_files);
    }
    let threshold = match args.fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Note => Some(Severity::Note),
        FailOn::Never => None,
    };
    let mut failed = false;
    // Each configuration is linted on its own, but JSON and SARIF need one document.
    let mut all_sources = Vec::new();
    let mut all_diagnostics = Vec::new();
    let mut all_omitted = Vec::new();
    for paths in configurations {
        let sources = usage(rules_files::read_sources(&paths))?;
        let mut report = lint(&sources);
        report.cap_per_file(args.max_findings_per_file);
        if let Some(threshold) = threshold {
            failed |= report.count_at_least(threshold) > 0;
        }
        let offset = all_sources.len();
        all_diagnostics.extend(report.diagnostics.into_iter().map(|mut diagnostic| {
            shift_sources(&mut diagnostic, offset);
            diagnostic
        }));
        all_omitted.extend(report.omitted.into_iter().map(|omitted| OmittedFindings {
            source: crate::core::source::SourceId(omitted.source.0 + offset),
            ..omitted
        }));
        all_sources.extend(sources);
    }
    let (sources, diagnostics, omitted) = (&all_sources, &all_diagnostics, &all_omitted);
    let output = match args.format {
        OutputFormat::Human => {
            render::render_human(sources, diagnostics, omitted, args.color.enabled())
        }
        OutputFormat::Concise => render::render_concise(sources, diagnostics, omitted),
        OutputFormat::Json => render::render_json(sources, diagnostics, omitted),
        OutputFormat::Sarif => render::render_sarif(sources, diagnostics, omitted),
        OutputFormat::Github => render::render_github(sources, diagnostics, omitted),
    };
    print_out(&output);
    Ok(if failed { EXIT_FINDINGS } else { EXIT_CLEAN })
}

fn shift_sources(diagnostic: &mut Diagnostic, offset: usize) {
    diagnostic.primary.source.0 += offset;
    for label in &mut diagnostic.labels {
        label.span.source.0 += offset;
    }
}
