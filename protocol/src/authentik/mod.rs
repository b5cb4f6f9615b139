//! Reading and writing authentik's interface as ak-e2e meets it: the flow executor's typed
//! challenges ([`flow`]) and answers ([`answer`]), a challenge's stage and errors as a person
//! sees them, and the title and message of authentik's plain pages (*Redirect URI Error*,
//! *Permission denied*, …). Shared by the harness's drivers, its pre-run checks, its tools and
//! the stand-in.

pub mod admin;
pub mod answer;
pub mod component;
pub mod flow;
pub mod paths;

/// The slugs of authentik's built-in flows ak-e2e runs, each written once here.
pub mod flows {
    /// The default authentication flow: identification, password, MFA validation.
    pub const AUTHENTICATION: &str = "default-authentication-flow";
    /// The TOTP setup flow (a secret offered, confirmed with a code).
    pub const TOTP_SETUP: &str = "default-authenticator-totp-setup";
    /// The WebAuthn setup flow (registration options, answered with a new credential).
    pub const WEBAUTHN_SETUP: &str = "default-authenticator-webauthn-setup";
    /// The static (recovery) codes setup flow (the codes shown, then confirmed).
    pub const STATIC_SETUP: &str = "default-authenticator-static-setup";
}

pub use answer::Answer;
pub use flow::{Challenge, ChallengeKind, ErrorDetail, FlowInfo, ResponseErrors};

/// A stage of authentik's flow as a person sees it: the stage's component
/// (`ak-stage-password`) and the errors it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    /// The web component that renders it (the challenge's `component`).
    pub component: String,
    /// The errors it shows (`response_errors`, an access-denied message), in order.
    pub errors: Vec<String>,
}

impl Stage {
    /// The stage a flow-executor challenge shows.
    pub fn of(challenge: &Challenge) -> Self {
        Self { component: challenge.component().to_string(), errors: flow_errors(challenge) }
    }
}

/// `response_errors` strings and an access-denied message of a challenge.
pub fn flow_errors(challenge: &Challenge) -> Vec<String> {
    let shown = challenge.response_errors.iter().flat_map(|fields| fields.values().flatten());
    shown.map(|e| e.string.clone()).chain(challenge.error_message.clone()).collect()
}

/// The card title of one of authentik's plain pages (*Redirect URI Error*, *Permission
/// denied*, …), read as a person reads it: markup dropped, whitespace collapsed.
pub fn page_title(body: &str) -> Option<String> {
    let from = body.find(r#"data-test-id="card-title""#)?;
    let open = body[from..].find('>')? + from + 1;
    let close = body[open..].find("</")? + open;
    Some(visible_text(&body[open..close]))
}

/// The message under the card title (its first paragraph), read as a person reads it.
pub fn page_message(body: &str) -> String {
    between(body, "<p>", "</p>")
        .or_else(|| {
            let from = body.find("<p ")?;
            let open = body[from..].find('>')? + from + 1;
            let close = body[open..].find("</p>")? + open;
            Some(body[open..close].to_string())
        })
        .map(|m| visible_text(&m))
        .unwrap_or_default()
}

/// HTML as text: tags dropped, entities undone, runs of whitespace made one space.
pub fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text between two markers.
pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_string())
}

/// Undoes the mocks' HTML escaping.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::{Challenge, Stage, page_message, page_title};

    /// A stage shows its `response_errors` by field name (`non_field_errors` before `token`), then an
    /// access-denied message.
    #[test]
    fn a_stage_shows_its_component_and_errors() {
        let captcha = Challenge::from(serde_json::json!({
            "component": "ak-stage-captcha",
            "response_errors": {
                "token": [{"string": "Invalid captcha response", "code": "invalid"}],
                "non_field_errors": [{"string": "Try again", "code": "invalid"}],
            },
            "error_message": "Denied.",
        }));
        let errors = ["Try again", "Invalid captcha response", "Denied."].map(String::from).to_vec();
        assert_eq!(Stage::of(&captcha), Stage { component: "ak-stage-captcha".into(), errors });
    }

    /// authentik 2026.2 puts whitespace around the title and an icon in the message.
    #[test]
    fn plain_pages_are_read_as_a_person_reads_them() {
        let page = "<h1 class=\"pf-c-title\" data-test-id=\"card-title\">\n      Redirect URI Error\n    </h1>\n<p>\n <i class=\"pf-icon pf-icon-error-circle-o\"></i>\n Request has been denied.\n</p>";
        assert_eq!(page_title(page).as_deref(), Some("Redirect URI Error"));
        assert_eq!(page_message(page), "Request has been denied.");
        let standin =
            r#"<h1 data-test-id="card-title">Client ID Error</h1><p>The client &quot;x&quot; is unknown.</p>"#;
        assert_eq!(page_title(standin).as_deref(), Some("Client ID Error"));
        assert_eq!(page_message(standin), "The client \"x\" is unknown.");
    }
}
