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
