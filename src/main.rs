use clap::Parser;

fn main() -> std::process::ExitCode {
    loopguard::cli::run(loopguard::cli::Cli::parse())
}
