//! `loopguard test`: runs rule tests against the rules (route tests and chain
//! tests), optionally with coverage; exit 0 all pass, 1 a test failed or coverage
//! is below `--coverage-min`, 2 unusable rules or test files.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{ColorChoice, print_out, usage};
use crate::core::diagnostic::sort_diagnostics;
use crate::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, cap_per_file};
use crate::core::rule_tests::{coverage, parse_tests, run_tests};
use crate::exit::{FINDINGS_OR_RUNTIME_FAILURE as EXIT_FAILED, Failure, SUCCESS as EXIT_CLEAN};
use crate::render;
use crate::render::test_report::{
    TestReport, render_test_human, render_test_json, render_test_junit,
};
use crate::rules_files;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files, or directories of them (their *.toml files, recursively).
    #[arg(default_value = "routing-tests")]
    pub paths: Vec<PathBuf>,
    /// Rules directory or file the tests run against.
    #[arg(long, default_value = "routing-rules", env = "LOOPGUARD_RULES")]
    pub rules: PathBuf,
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Report which transfers and intents of the rules no test exercised.
    #[arg(long)]
    pub coverage: bool,
    /// Fail (exit 1) when fewer than this percentage of the transfers or of the
    /// intents are exercised. Implies --coverage.
    #[arg(long, value_name = "PERCENT", value_parser = percentage)]
    pub coverage_min: Option<f64>,
    /// Colour for human output: auto = only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TestFormat {
    Human,
    Json,
    Junit,
}

fn percentage(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err(format!("`{text}` is not a percentage from 0 to 100")),
    }
}

pub fn run(args: &TestArgs) -> Result<u8, Failure> {
    let rules = match rules_files::load_clean_rules(&args.rules) {
        Ok(rules) => rules,
        Err(rules_files::LoadFailure::Unreadable(error)) => {
            return Err(Failure::usage(error.to_string()));
        }
        Err(rules_files::LoadFailure::Findings { .. }) => {
            return Err(Failure::usage(format!(
                "the rules in `{}` have errors; run `loopguard lint {}` to see them",
                args.rules.display(),
                args.rules.display()
            )));
        }
    };
    let mut paths = Vec::new();
    for path in &args.paths {
        paths.extend(usage(rules_files::rules_file_paths(path))?);
    }
    let sources = usage(rules_files::read_sources(&paths))?;
    let (tests, mut problems) = parse_tests(&sources, &rules);
    if !problems.is_empty() {
        // Reported like lint findings, on stderr: stdout stays a clean report.
        sort_diagnostics(&mut problems);
        let count = problems.len();
        let (shown, omitted) = cap_per_file(problems, DEFAULT_MAX_FINDINGS_PER_FILE);
        let color = matches!(args.color, ColorChoice::Always);
        eprint!(
            "{}",
            render::render_human(&sources, &shown, &omitted, color)
        );
        return Err(Failure::usage(format!(
            "{count} problem{} in the test files; no test was run",
            if count == 1 { "" } else { "s" }
        )));
    }
    if tests.is_empty() {
        return Err(Failure::usage(format!(
            "no [[test]] in {}; a run without tests proves nothing",
            paths
                .iter()
                .map(|path| format!("`{}`", rules_files::display_path(path)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let results = run_tests(&tests, &rules);
    let coverage = (args.coverage || args.coverage_min.is_some()).then(|| coverage(&rules, &tests));
    let report = TestReport {
        sources: &sources,
        results: &results,
        rules: &rules,
        coverage: coverage.as_ref(),
        coverage_min: args.coverage_min,
    };
    let output = match args.format {
        TestFormat::Human => render_test_human(&report, args.color.enabled()),
        TestFormat::Json => render_test_json(&report),
        TestFormat::Junit => render_test_junit(&report),
    };
    print_out(&output);
    Ok(if report.failed() > 0 || !report.coverage_met() {
        EXIT_FAILED
    } else {
        EXIT_CLEAN
    })
}
