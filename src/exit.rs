//! The exit codes of every `loopguard` command, in one table. The README's
//! "Exit codes" section lists the same numbers.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success: no finding at or above `--fail-on`, a route found, a clean shutdown |
//! | 1 | the command worked and found something (findings, no route, loops), or `serve` failed after it started serving (the listener failed, the store could not commit and could not recover) |
//! | 2 | usage error, unreadable input or bad configuration: nothing was done |

/// Success.
pub const SUCCESS: u8 = 0;
/// Findings, no route, loops found; or `serve` failed while running.
pub const FINDINGS_OR_RUNTIME_FAILURE: u8 = 1;
/// Usage error, unreadable input, bad configuration.
pub const USAGE: u8 = 2;

/// A command that could not finish, with the exit code it ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad usage, input or configuration (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: USAGE,
            message: message.into(),
        }
    }

    /// A failure after the command started working (exit 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: FINDINGS_OR_RUNTIME_FAILURE,
            message: message.into(),
        }
    }
}

impl From<String> for Failure {
    /// Most failures are caught before any work is done: usage.
    fn from(message: String) -> Self {
        Self::usage(message)
    }
}

/// Ends the process at once with the runtime-failure code. For the one case where
/// unwinding is not an option: the store can no longer vouch for what is on disk,
/// and a supervisor restart recovers from the database.
pub fn abort_runtime(reason: &str) -> ! {
    tracing::error!(
        "{reason}; exiting (code {FINDINGS_OR_RUNTIME_FAILURE}) so a restart recovers from disk"
    );
    std::process::exit(i32::from(FINDINGS_OR_RUNTIME_FAILURE))
}
