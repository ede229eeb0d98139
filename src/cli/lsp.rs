//! `loopguard lsp`: the language server for rules files, on stdin/stdout.

use crate::exit::{Failure, SUCCESS as EXIT_CLEAN};

#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Accepted for editors that always pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: &LspArgs) -> Result<u8, Failure> {
    crate::lsp::run().map_err(|error| Failure::runtime(error.to_string()))?;
    Ok(EXIT_CLEAN)
}
