//! `ak-e2e`: scenario files drive ChatGPT's single sign-on through authentik and assert the
//! redirects, the claims and the landing. The modules follow the pipeline:
//! [`scenario`] (parse) → [`plan`] → [`target`] + [`driver`] (drive) → [`runner`] + `check` →
//! [`result`] → [`report`].

mod check;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod driver;
pub mod hints;
pub mod plan;
pub mod provision;
pub mod report;
pub mod result;
pub mod runner;
pub mod scenario;
pub mod snapshot;
pub mod target;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    mocks::stop_signal().await
}
