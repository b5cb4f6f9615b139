//! The HTML a browser sees. Every element a test needs has a stable `data-testid`.

use crate::config::Config;
use crate::record::{Attempt, ErrorCode, Failure, Profile};
use ak_protocol::html::{escape, page};

/// `/` for a visitor without a session.
pub(crate) fn logged_out() -> String {
    page(
        "ChatGPT",
        "home",
        r#"<main><h1>ChatGPT</h1>
<p>Get answers. Find inspiration. Be more productive.</p>
<a class="button" data-testid="login-button" href="/auth/login">Log in</a></main>"#,
    )
}

/// `/` for a signed-in user: the conversation interface.
pub(crate) fn conversation(profile: &Profile) -> String {
    let name = format!("{} {}", profile.first_name, profile.last_name);
    page(
        "ChatGPT",
        "conversation",
        &format!(
            r#"<header><span data-testid="user-name">{}</span> · <span data-testid="user-email">{}</span>
<a data-testid="logout" href="/logout">Log out</a></header>
<main data-testid="conversation"><h1>What can I help with?</h1>
<form><textarea data-testid="prompt-textarea" name="prompt" placeholder="Ask anything"></textarea></form></main>"#,
            escape(&name),
            escape(&profile.email)
        ),
    )
}

/// `/auth/login`: the email form. As on chatgpt.com, "Continue" is handled by script: it looks
/// the email up first (`/auth/login/lookup`), then posts the form, so the page stays as it was
/// for a moment after the click. Without script the form posts directly.
pub(crate) fn login_form() -> String {
    page(
        "Log in | ChatGPT",
        "login",
        r#"<main><h1>Welcome back</h1>
<form method="post" action="/auth/login" data-testid="login-form">
<label for="email">Email address</label>
<input id="email" data-testid="email-input" name="email" type="email" autocomplete="username" required>
<button type="submit" data-testid="continue-button">Continue</button>
</form></main>
<script>
const form = document.querySelector("[data-testid=login-form]");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = form.elements.email.value;
  try { await fetch("/auth/login/lookup?email=" + encodeURIComponent(email)); } catch (e) {}
  HTMLFormElement.prototype.submit.call(form);
});
</script>"#,
    )
}

/// The error page: a title for people, the code for machines, the detail for the admin.
pub(crate) fn error(failure: &Failure, attempt_id: Option<u64>) -> String {
    let attempt = attempt_id
        .map(|id| format!(r#"<p>Attempt <span data-testid="attempt-id">{id}</span></p>"#))
        .unwrap_or_default();
    page(
        "Error | ChatGPT",
        "error",
        &format!(
            r#"<main><h1 data-testid="error-title">{}</h1>
<p>Error code: <code data-testid="error-code">{}</code></p>
<p data-testid="error-detail">{}</p>{attempt}
<a data-testid="back-to-login" href="/auth/login">Try again</a></main>"#,
            escape(failure.code.title()),
            failure.code.as_str(),
            escape(&failure.detail)
        ),
    )
}

/// `/admin/identity`: what an admin copies into authentik, and the test button.
pub(crate) fn admin_identity(config: &Config, redirect_uri: &str, direct_link: &str) -> String {
    page(
        "Identity | Admin | ChatGPT",
        "admin-identity",
        &format!(
            r#"<main><h1>Single sign-on</h1>
<dl>
<dt>Identity provider</dt><dd data-testid="idp-name">{}</dd>
<dt>Login redirect URI</dt><dd><code data-testid="login-redirect-uri">{}</code></dd>
<dt>Discovery endpoint</dt><dd><code data-testid="discovery-url">{}</code></dd>
<dt>Client ID</dt><dd><code data-testid="client-id">{}</code></dd>
<dt>Direct sign-in link</dt><dd><a data-testid="direct-link" href="{}">{}</a></dd>
<dt>Verified domains</dt><dd data-testid="verified-domains">{}</dd>
</dl>
<form method="post" action="/admin/identity/test"><button type="submit" data-testid="test-sso">Test Single Sign-On</button></form>
</main>"#,
            escape(&config.idp_name),
            escape(redirect_uri),
            escape(config.discovery_url.as_str()),
            escape(&config.client_id),
            escape(direct_link),
            escape(direct_link),
            escape(&config.verified_domains.join(", ")),
        ),
    )
}

/// The result of "Test Single Sign-On" when it succeeded.
pub(crate) fn test_success(attempt: &Attempt, profile: &Profile) -> String {
    page(
        "SSO test | Admin | ChatGPT",
        "sso-test",
        &format!(
            r#"<main><h1>Test Single Sign-On</h1>
<p>Result: <strong data-testid="sso-test-result">success</strong> (attempt {})</p>
<dl><dt>idp_id</dt><dd data-testid="profile-idp-id">{}</dd>
<dt>email</dt><dd data-testid="profile-email">{}</dd>
<dt>first_name</dt><dd data-testid="profile-first-name">{}</dd>
<dt>last_name</dt><dd data-testid="profile-last-name">{}</dd></dl></main>"#,
            attempt.id,
            escape(&profile.idp_id),
            escape(&profile.email),
            escape(&profile.first_name),
            escape(&profile.last_name)
        ),
    )
}

/// The error page for a failed "Test Single Sign-On": the same code, marked as a test.
pub(crate) fn test_failure(failure: &Failure, attempt_id: u64) -> String {
    error(failure, Some(attempt_id)).replace(
        "<main>",
        r#"<main><p>Test Single Sign-On: <strong data-testid="sso-test-result">failure</strong></p>"#,
    )
}

/// What a ChatGPT page shows, read back from its HTML by the `data-testid`s above: the reader a
/// test (or the harness) uses instead of scraping the markup itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The conversation page of a signed-in user.
    Conversation {
        /// The name in the header.
        name: String,
        /// The email in the header.
        email: String,
    },
    /// The error page.
    Error {
        /// The machine-readable code, as written (`missing_claim_email`); see [`ErrorCode::parse`].
        code: String,
        /// The detail for the admin.
        detail: String,
    },
    /// Any other page (home, login form, admin).
    Other,
}

impl Shown {
    /// Reads one of this relying party's pages.
    pub fn read(html: &str) -> Shown {
        use ak_protocol::authentik::{between, unescape};
        let text = |id: &str, end: &str| between(html, &format!(r#"data-testid="{id}">"#), end).map(|t| unescape(&t));
        if let Some(code) = text("error-code", "<") {
            return Shown::Error { code, detail: text("error-detail", "</p>").unwrap_or_default() };
        }
        if html.contains(r#"data-testid="conversation""#) {
            let name = text("user-name", "<").unwrap_or_default();
            return Shown::Conversation { name, email: text("user-email", "<").unwrap_or_default() };
        }
        Shown::Other
    }

    /// The error code, when this is the error page.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Shown::Error { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shown;
    use crate::record::{ErrorCode, Failure, Profile};

    /// The reader gives back what the writers put in, escaped characters included.
    #[test]
    fn each_page_reads_back_as_written() {
        let failure = Failure::new(ErrorCode::MissingClaimEmail, "no `email` <in> the \"token\" & userinfo");
        let shown = Shown::read(&super::error(&failure, Some(3)));
        assert_eq!(
            shown,
            Shown::Error {
                code: "missing_claim_email".into(),
                detail: "no `email` <in> the \"token\" & userinfo".into()
            }
        );
        assert_eq!(shown.error_code(), Some(ErrorCode::MissingClaimEmail));
        let profile = Profile {
            idp_id: "s".into(),
            email: "o'neil@example.com".into(),
            first_name: "Ann".into(),
            last_name: "O'Neil".into(),
        };
        assert_eq!(
            Shown::read(&super::conversation(&profile)),
            Shown::Conversation { name: "Ann O'Neil".into(), email: "o'neil@example.com".into() }
        );
        assert_eq!(Shown::read(&super::logged_out()), Shown::Other);
        assert_eq!(Shown::read(&super::login_form()), Shown::Other);
    }
}
