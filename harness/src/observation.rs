//! What a driver observed, in terms both drivers fill and the checks read: where the login
//! stands ([`Position`]). The hops are [`crate::result::Hop`]s; ChatGPT's side is its own
//! record ([`chatgpt_rp::Attempt`]) and page reader ([`chatgpt_rp::Shown`]).

use ak_protocol::authentik::Stage;
use chatgpt_rp::Shown;
use url::Url;

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
        /// What the page shows, read by ChatGPT's own reader.
        shown: chatgpt_rp::Shown,
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
            Position::Chatgpt { status, path, shown } => match shown {
                Shown::Error { code, detail } => format!("ChatGPT error page `{code}` (HTTP {status}): {detail}"),
                Shown::Conversation { .. } => "ChatGPT's conversation page, signed in".into(),
                Shown::Other => format!("ChatGPT page {path} (HTTP {status})"),
            },
            Position::AtCallback { code: true, .. } => "redirected to ChatGPT's callback with a code".into(),
            Position::AtCallback { error: Some(e), .. } => format!("redirected to ChatGPT's callback with error `{e}`"),
            Position::AtCallback { .. } => "redirected to ChatGPT's callback without code or error".into(),
            Position::Elsewhere { url, status } => format!("{url} (HTTP {status})"),
        }
    }

    /// The position a loaded page gives, by what it is: an authentik page (by its card), one of
    /// ChatGPT's (`chatgpt`: the URL is a workspace's), or anything else. Both drivers read
    /// pages this way; a flow page is the executor's and is read by the caller.
    pub fn of_page(url: &Url, status: u16, body: &str, chatgpt: bool) -> Position {
        if let Some(title) = ak_protocol::authentik::page_title(body) {
            let message = ak_protocol::authentik::page_message(body);
            return Position::AuthentikPage { status, title, message };
        }
        if chatgpt {
            return Position::Chatgpt { status, path: url.path().to_string(), shown: Shown::read(body) };
        }
        Position::Elsewhere { url: ak_protocol::redact::redact(url), status }
    }
}
