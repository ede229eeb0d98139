use clap::Parser;

/// jemalloc rather than the system allocator: see `Cargo.toml` and the README's
/// Performance section for the measurements.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    loopguard::cli::run(loopguard::cli::Cli::parse())
}
