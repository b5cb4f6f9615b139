//! Exit codes (README: "Exit codes"), the same for every command.

/// Everything passed.
pub const OK: i32 = 0;
/// Usage or configuration error.
pub const USAGE: i32 = 1;
/// A scenario file is invalid.
pub const SCENARIO: i32 = 2;
/// Runtime error: target unreachable, browser failed.
pub const RUNTIME: i32 = 3;
/// At least one assertion failed.
pub const FAILED: i32 = 4;

/// The exit code of a run's outcome: `FAILED` when an assertion failed or a documented failure
/// passed, else `RUNTIME` when a scenario could not run to its end, else `OK`.
pub fn of(summary: &crate::result::Summary) -> i32 {
    if summary.failed > 0 || summary.unexpected_passes > 0 {
        FAILED
    } else if summary.errored > 0 {
        RUNTIME
    } else {
        OK
    }
}

/// Why a command stops before its end: its exit code and what it says. Every command's errors
/// reach the user through [`Stop::say`], the one way they are written (`ak-e2e: error: …`, with
/// the run's secrets redacted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The command line, the configuration or a file the user named (exit 1).
    #[error("{0}")]
    Usage(String),
    /// The target, the browser or authentik's API failed while the command ran (exit 3).
    #[error("{0}")]
    Runtime(String),
}

impl Stop {
    /// The exit code.
    pub fn code(&self) -> i32 {
        match self {
            Stop::Usage(_) => USAGE,
            Stop::Runtime(_) => RUNTIME,
        }
    }

    /// Writes it on standard error, through `redactor`, and gives its exit code.
    pub fn say(&self, redactor: &ak_protocol::redact::Redactor) -> i32 {
        crate::say!("ak-e2e: error: {}", redactor.apply(&self.to_string()));
        self.code()
    }
}

impl From<crate::config::ConfigError> for Stop {
    fn from(e: crate::config::ConfigError) -> Self {
        Stop::Usage(e.0)
    }
}

impl From<crate::environment::TargetError> for Stop {
    fn from(e: crate::environment::TargetError) -> Self {
        Stop::Runtime(e.0)
    }
}

impl From<crate::environment::admin_api::ApiError> for Stop {
    /// A failure of authentik's admin API is authentik's: unreachable, the token refused, an
    /// answer that does not read.
    fn from(e: crate::environment::admin_api::ApiError) -> Self {
        Stop::Runtime(e.message)
    }
}
