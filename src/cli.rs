//! Shell: the `loopguard` command line. Parses arguments, reads files, calls the
//! core, prints, and maps outcomes to the exit codes of [`crate::exit`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::core::codes::LintCode;
use crate::core::diagnostic::Severity;
use crate::core::lint::lint;
use crate::core::rules::{Route, did_you_mean};
use crate::render;
use crate::rules_files::{self, ReadError};

use crate::exit::{FINDINGS_OR_RUNTIME_FAILURE as EXIT_FINDINGS, Failure, SUCCESS as EXIT_CLEAN};

#[derive(Debug, Parser)]
#[command(
    name = "loopguard",
    version,
    about = "Catches hot-potato call transfers: lint routing rules, answer transfer webhooks."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check routing-rules files and report every problem.
    Lint(LintArgs),
    /// Explain a lint code: what it catches, why it matters, an example and the fix.
    Explain {
        /// The code, e.g. `ping-pong-pair`. Without it, list every code.
        code: Option<String>,
    },
    /// Where should this call go? The intent's owner and the shortest allowed path.
    Route(RouteArgs),
    /// Print the JSON Schema of the rules format (for taplo / Even Better TOML).
    Schema,
    /// Print the OpenAPI 3.1 document of the HTTP API (also served at /openapi.json).
    Openapi,
    /// Run the transfer webhook service.
    Serve(Box<crate::server::ServeArgs>),
    /// Replay call history through the engine: how many calls bounced, and what a
    /// rules change would change.
    Replay(Box<crate::replay::ReplayArgs>),
}

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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Rules directory or file.
    #[arg(long, default_value = "routing-rules", env = "LOOPGUARD_RULES")]
    pub rules: PathBuf,
    /// Department the call is in now: its id, or one of its `aliases` (an
    /// extension, a SIP URI such as sip:2001@pbx.example.com).
    #[arg(long)]
    pub from: String,
    /// What the caller needs.
    #[arg(long)]
    pub intent: String,
    #[arg(long, value_enum, default_value_t = RouteFormat::Text)]
    pub format: RouteFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RouteFormat {
    Text,
    Json,
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Lint(args) => run_lint(&args).map_err(Failure::from),
        Command::Explain { code } => run_explain(code.as_deref()).map_err(Failure::from),
        Command::Route(args) => run_route(&args).map_err(Failure::from),
        Command::Schema => {
            let schema = crate::core::rules::raw::json_schema();
            print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            ));
            Ok(EXIT_CLEAN)
        }
        Command::Openapi => {
            print_out(&crate::server::openapi::document());
            Ok(EXIT_CLEAN)
        }
        Command::Serve(args) => crate::server::run_from_cli(*args),
        Command::Replay(args) => crate::replay::run(&args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn run_lint(args: &LintArgs) -> Result<u8, String> {
    let mut configurations: Vec<Vec<PathBuf>> = Vec::new();
    let mut loose_files = Vec::new();
    for path in &args.paths {
        if path.is_file() {
            loose_files.push(path.clone());
        } else {
            configurations
                .push(rules_files::rules_file_paths(path).map_err(|error| error.to_string())?);
        }
    }
    if !loose_files.is_empty() {
        configurations.push(loose_files);
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
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
    for paths in configurations {
        let sources =
            rules_files::read_sources(&paths).map_err(|error: ReadError| error.to_string())?;
        let report = lint(&sources);
        if let Some(threshold) = threshold {
            failed |= report.count_at_least(threshold) > 0;
        }
        let offset = all_sources.len();
        all_diagnostics.extend(report.diagnostics.into_iter().map(|mut diagnostic| {
            shift_sources(&mut diagnostic, offset);
            diagnostic
        }));
        all_sources.extend(sources);
    }
    let output = match args.format {
        OutputFormat::Human => render::render_human(&all_sources, &all_diagnostics, color),
        OutputFormat::Concise => render::render_concise(&all_sources, &all_diagnostics),
        OutputFormat::Json => render::render_json(&all_sources, &all_diagnostics),
        OutputFormat::Sarif => render::render_sarif(&all_sources, &all_diagnostics),
        OutputFormat::Github => render::render_github(&all_sources, &all_diagnostics),
    };
    print_out(&output);
    Ok(if failed { EXIT_FINDINGS } else { EXIT_CLEAN })
}

fn shift_sources(diagnostic: &mut crate::core::diagnostic::Diagnostic, offset: usize) {
    diagnostic.primary.source.0 += offset;
    for label in &mut diagnostic.labels {
        label.span.source.0 += offset;
    }
}

fn run_explain(code: Option<&str>) -> Result<u8, String> {
    let Some(name) = code else {
        let mut text =
            String::from("loopguard lint codes (run `loopguard explain CODE` for details):\n\n");
        for code in LintCode::ALL {
            text.push_str(&format!(
                "  {:<24} {:<8} {}\n",
                code.as_str(),
                code.default_severity(),
                code.summary()
            ));
        }
        print_out(&text);
        return Ok(EXIT_CLEAN);
    };
    let Some(code) = LintCode::parse(name) else {
        let hint = did_you_mean(name, LintCode::ALL.iter().map(|code| code.as_str()))
            .map(|suggestion| format!("; did you mean `{suggestion}`?"))
            .unwrap_or_else(|| "; run `loopguard explain` to list the codes".to_owned());
        return Err(format!("unknown lint code `{name}`{hint}"));
    };
    let explanation = code.explanation();
    let indent = |text: &str| {
        text.lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    print_out(&format!(
        "{code} ({severity} by default)\n\n{summary}\n\nWhat it catches\n{catches}\nWhy it matters for callers\n{why}\nExample\n{example}\nHow to fix it\n{fix}",
        severity = code.default_severity(),
        summary = code.summary(),
        catches = indent(explanation.catches),
        why = indent(explanation.why),
        example = indent(explanation.example),
        fix = indent(explanation.fix),
    ));
    Ok(EXIT_CLEAN)
}

fn run_route(args: &RouteArgs) -> Result<u8, String> {
    let rules = match rules_files::load_clean_rules(&args.rules) {
        Ok(rules) => rules,
        Err(rules_files::LoadFailure::Unreadable(error)) => return Err(error.to_string()),
        Err(rules_files::LoadFailure::Findings { .. }) => {
            return Err(format!(
                "the rules in `{}` have errors; run `loopguard lint {}` to see them",
                args.rules.display(),
                args.rules.display()
            ));
        }
    };
    let rules = &rules;
    let Some(from) = rules.resolve(&args.from) else {
        let hint = did_you_mean(
            &args.from,
            rules
                .departments
                .iter()
                .map(|department| department.id.as_str()),
        )
        .map(|suggestion| format!("; did you mean `{suggestion}`?"))
        .unwrap_or_default();
        return Err(format!(
            "`{}` is neither a department id nor an alias in the rules{hint}",
            args.from
        ));
    };
    let from_name = rules.departments[from].id.as_str();
    // Say which department an alias stands for, so the answer can be checked.
    let alias_note = if from_name == args.from {
        String::new()
    } else {
        format!("`{}` is `{from_name}`: ", args.from)
    };
    let owners: Vec<&str> = rules
        .owners(&args.intent)
        .iter()
        .map(|&owner| rules.departments[owner].id.as_str())
        .collect();
    let route = rules.route(from, &args.intent);
    let path: Option<Vec<&str>> = match &route {
        Route::Found(path) => Some(
            path.iter()
                .map(|&step| rules.departments[step].id.as_str())
                .collect(),
        ),
        Route::NoOwner | Route::NoPath => None,
    };
    let reason = match &route {
        Route::Found(_) => None,
        Route::NoOwner => Some(format!("no department handles `{}`", args.intent)),
        Route::NoPath => Some(format!(
            "no allowed transfer path for `{}` leads from `{}` to {}",
            args.intent,
            from_name,
            owners
                .iter()
                .map(|owner| format!("`{owner}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    };
    match args.format {
        RouteFormat::Json => {
            let answer = serde_json::json!({
                "from": from_name,
                "identity": args.from,
                "intent": args.intent,
                "owners": owners,
                "path": path,
                "hops": path.as_ref().map(|path| path.len() - 1),
                "reason": reason,
            });
            print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            ));
        }
        RouteFormat::Text => match (&path, &reason) {
            (Some(path), _) if path.len() == 1 => print_out(&format!(
                "{alias_note}`{from_name}` handles `{}` itself: keep the call (0 hops)\n",
                args.intent
            )),
            (Some(path), _) => print_out(&format!(
                "{alias_note}route `{}` to `{}`: {} ({} hop{})\n",
                args.intent,
                path[path.len() - 1],
                path.join(" → "),
                path.len() - 1,
                if path.len() == 2 { "" } else { "s" }
            )),
            (None, Some(reason)) => print_out(&format!("{alias_note}no route: {reason}\n")),
            (None, None) => {}
        },
    }
    Ok(if path.is_some() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}
