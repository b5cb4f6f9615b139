//! Drivers run a scenario's actions (start the login, sign in) and report what happened as
//! hops and a position; the runner checks expectations against them.

pub mod api;
pub mod browser;
pub mod chrome;
mod network_log;
pub mod session;
pub mod totp;

pub use totp::totp_code;

/// A driver failure: what happened and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriveError(pub String);
