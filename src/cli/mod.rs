//! Shell: the `loopguard` command line. Parses arguments, reads files, calls the
//! core, prints, and maps outcomes to the exit codes of [`crate::exit`].
//!
//! One file per command: its clap arguments and its `run`. A new command adds a
//! module, a variant of [`Command`] and one arm in [`run`].

mod explain;
mod graph;
mod lint;
mod lsp;
mod route;
mod test;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{Failure, SUCCESS as EXIT_CLEAN};

pub use graph::GraphArgs;
pub use lint::LintArgs;
pub use lsp::LspArgs;
pub use route::RouteArgs;
pub use test::TestArgs;

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
    /// Run rule tests: expected routes, and expected verdicts for transfer chains.
    Test(TestArgs),
    /// Export the routing graph (Graphviz dot or Mermaid) with entries and owners marked.
    Graph(GraphArgs),
    /// Run the language server for rules files (LSP over stdin/stdout).
    Lsp(LspArgs),
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

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Lint(args) => lint::run(&args),
        Command::Explain { code } => explain::run(code.as_deref()),
        Command::Route(args) => route::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Lsp(args) => lsp::run(&args),
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

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error worth reporting.
fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Whether human output gets colour: always, never, or only on a terminal and
/// never when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// Fails unless `result` is Ok, as a usage failure with the error's text.
fn usage<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, Failure> {
    result.map_err(|error| Failure::usage(error.to_string()))
}
