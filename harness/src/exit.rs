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
