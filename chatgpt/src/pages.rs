//! The HTML a browser sees. Every element a test needs has a stable `data-testid`.

use crate::config::Config;
use crate::record::{Attempt, Failure, Profile};
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
