use clap::Parser;

/// mimalloc instead of the system allocator: a transfer allocates a hundred-odd small
/// objects (request fields, the answer, its stored copy, the call's hop) and frees
/// many of them on another thread (the store's writer); glibc's malloc spent about a
/// seventh of each request's instructions on that (issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    loopguard::cli::run(loopguard::cli::Cli::parse())
}
