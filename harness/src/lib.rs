//! `ak-e2e`: scenario files drive ChatGPT's single sign-on through authentik and assert the
//! redirects, the claims and the landing. The modules follow the pipeline (ARCHITECTURE.md):
//! [`scenario`] (parse) → [`plan`] (settings from [`config`], fixtures, secrets) →
//! [`environment`] (embedded or real authentik, ChatGPT's workspaces, pre-run checks) →
//! [`drive`] (api, browser) → [`check`] (expectations) → [`result`] → [`report`]; [`runner`]
//! takes each scenario through drive and check. [`commands`] are the commands besides `run`.

/// `eprintln!` that never panics: with standard error closed or full, the line is lost, not the
/// run (and its exit code).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that never panics: with standard output closed (`| head`), the line is lost, not
/// the run.
#[macro_export]
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod drive;
pub mod environment;
pub mod exit;
pub mod files;
pub mod observation;
pub mod plan;
pub mod report;
pub mod result;
pub mod runner;
pub mod scenario;

/// Ctrl-C and SIGTERM, listened for from the start of `main`: from then on neither kills the
/// process before its cleanup has run.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

/// A signal that asked ak-e2e to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT (Ctrl-C): exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
}

impl Stopped {
    /// The conventional exit code: 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Stopped::Interrupt => 130,
            Stopped::Terminate => 143,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stopped::Interrupt => "SIGINT",
            Stopped::Terminate => "SIGTERM",
        }
    }
}

impl StopSignals {
    /// Starts listening (must be called inside the runtime, as early as possible).
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self { interrupt: signal(SignalKind::interrupt()).ok(), terminate: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves with the first signal that arrives.
    pub async fn wait(&mut self) -> Stopped {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => Stopped::Interrupt,
                _ = next(&mut self.terminate) => Stopped::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stopped::Interrupt
        }
    }
}
