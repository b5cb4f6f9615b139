//! Drivers run a scenario's actions (start the login, sign in) and report what happened as
//! hops and a position; the runner checks expectations against them.

pub mod api;
pub mod browser;
pub mod chrome;
mod network_log;
pub mod totp;

pub use totp::totp_code;

use ak_protocol::authentik::{Stage, between, unescape};

/// A driver failure: what happened and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriveError(pub String);

/// Where the driver stands after an action.
#[derive(Debug, Clone)]
pub enum Position {
    /// Nothing happened yet.
    Start,
    /// On an authentik flow page, at this stage.
    Flow {
        /// The flow's slug.
        slug: String,
        /// The flow page's query string (the executor's `query`).
        query: String,
        /// The stage shown, and its errors.
        stage: Stage,
    },
    /// On a plain authentik page (Redirect URI Error, Permission denied, …).
    AuthentikPage {
        /// HTTP status.
        status: u16,
        /// The card title.
        title: String,
        /// The message under it.
        message: String,
    },
    /// On a ChatGPT page.
    Chatgpt {
        /// HTTP status.
        status: u16,
        /// The page's path on ChatGPT (`/`, `/auth/callback`, …).
        path: String,
        /// The page's HTML, as served.
        body: String,
    },
    /// Redirected back to ChatGPT's callback from a request the harness made as the client.
    AtCallback {
        /// Whether a `code` came back.
        code: bool,
        /// `error`, if one came back.
        error: Option<String>,
        /// `state`, as it came back.
        state: Option<String>,
    },
    /// Somewhere else (an unexpected host or page).
    Elsewhere {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
}

impl Position {
    /// The position in words, for diagnoses.
    pub fn describe(&self) -> String {
        match self {
            Position::Start => "nothing has happened yet".into(),
            Position::Flow { slug, stage, .. } => {
                let component = if stage.component.is_empty() { "?" } else { stage.component.as_str() };
                if stage.errors.is_empty() {
                    format!("authentik flow `{slug}` at stage `{component}`")
                } else {
                    format!(
                        "authentik flow `{slug}` at stage `{component}` showing \"{}\"",
                        stage.errors.join("\", \"")
                    )
                }
            }
            Position::AuthentikPage { status, title, message } => {
                format!("authentik page \"{title}\" (HTTP {status}): {message}")
            }
            Position::Chatgpt { status, path, body } => match chatgpt_error(body) {
                Some((code, detail)) => format!("ChatGPT error page `{code}` (HTTP {status}): {detail}"),
                None if body.contains(r#"data-testid="conversation""#) => {
                    "ChatGPT's conversation page, signed in".into()
                }
                None => format!("ChatGPT page {path} (HTTP {status})"),
            },
            Position::AtCallback { code: true, .. } => "redirected to ChatGPT's callback with a code".into(),
            Position::AtCallback { error: Some(e), .. } => format!("redirected to ChatGPT's callback with error `{e}`"),
            Position::AtCallback { .. } => "redirected to ChatGPT's callback without code or error".into(),
            Position::Elsewhere { url, status } => format!("{url} (HTTP {status})"),
        }
    }
}

/// The error code and detail of a ChatGPT error page.
pub fn chatgpt_error(body: &str) -> Option<(String, String)> {
    let code = between(body, r#"data-testid="error-code">"#, "<")?;
    let detail = between(body, r#"data-testid="error-detail">"#, "</p>").unwrap_or_default();
    Some((code, unescape(&detail)))
}
