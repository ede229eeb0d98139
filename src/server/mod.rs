//! Shell: the HTTP service (`loopguard serve`).

pub mod signature;

/// Options of `loopguard serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// Placeholder until the webhook service lands.
pub fn run_from_cli(_args: ServeArgs) -> Result<u8, String> {
    Err("`loopguard serve` is not available yet".to_owned())
}
