//! Reading authentik's answers as its own interface does: a flow-executor challenge's errors,
//! and the title and message of its plain pages (*Redirect URI Error*, *Permission denied*, …)
//! as a person reads them. Shared by the harness's drivers, its pre-run checks and its tools.

use serde_json::Value;

/// The `component` of each flow-executor challenge ak-e2e answers or reads: the one place these
/// names are spelled, for the drivers, the pre-run checks, `provision` and the stand-in.
pub mod component {
    /// The identification stage: a username or email.
    pub const IDENTIFICATION: &str = "ak-stage-identification";
    /// The password stage.
    pub const PASSWORD: &str = "ak-stage-password";
    /// The MFA validation stage (a TOTP code, among others).
    pub const AUTHENTICATOR_VALIDATE: &str = "ak-stage-authenticator-validate";
    /// The consent stage of an explicit-consent authorization flow.
    pub const CONSENT: &str = "ak-stage-consent";
    /// Access denied: a policy refused the user, or the flow was cancelled.
    pub const ACCESS_DENIED: &str = "ak-stage-access-denied";
    /// Not a stage: the flow is done and the browser goes to `to`.
    pub const REDIRECT: &str = "xak-flow-redirect";
    /// The flow failed on authentik's side (an exception, a bad request body).
    pub const FLOW_ERROR: &str = "ak-stage-flow-error";
    /// The TOTP setup stage: a secret offered as `config_url`, confirmed with a code.
    pub const AUTHENTICATOR_TOTP: &str = "ak-stage-authenticator-totp";
}

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
    pub fn of(challenge: &Value) -> Self {
        Self {
            component: challenge["component"].as_str().unwrap_or_default().to_string(),
            errors: flow_errors(challenge),
        }
    }
}

/// `response_errors` strings and an access-denied message of a challenge.
pub fn flow_errors(challenge: &Value) -> Vec<String> {
    let mut out: Vec<String> = challenge["response_errors"]
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["string"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = challenge["error_message"].as_str() {
        out.push(m.to_string());
    }
    out
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
    use super::{page_message, page_title};

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
