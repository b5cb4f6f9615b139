//! A client of authentik's flow executor API for the harness's own chores (the pre-run sign-in
//! check, enrolling the MFA fixture user's TOTP device): its own cookie jar, authentik's CSRF
//! header once signed in, the executor's redirects to itself followed, every request with the
//! deadline and every body within the size cap.

use ak_protocol::authentik::{Answer, Challenge, ChallengeKind, component, flow_errors};
use ak_protocol::secret::Secret;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use serde_json::Value;
use url::Url;

/// One browser-less session with authentik.
pub struct FlowClient {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
    timeout: Duration,
    /// authentik's clock at its last answer (its `Date` header).
    clock: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl FlowClient {
    /// A new session (no cookies) with authentik at `base`.
    pub fn new(base: &Url, timeout: Duration) -> Result<Self, String> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self { http, jar, base, timeout, clock: Default::default() })
    }

    fn csrf(&self) -> Option<String> {
        let cookies = self.jar.cookies(&self.base)?;
        let cookies = cookies.to_str().ok()?;
        cookies.split("; ").find_map(|c| c.strip_prefix("authentik_csrf=")).map(String::from)
    }

    /// GETs (no answer) or POSTs (an answer) the flow's executor and returns the challenge,
    /// following the executor's redirects to itself.
    pub async fn challenge(&self, slug: &str, answer: Option<&Answer>) -> Result<Challenge, String> {
        self.challenge_json(slug, "", answer).await.map(Challenge::from)
    }

    /// Like [`Self::challenge`], the challenge as authentik wrote it, every field kept (the
    /// fidelity corpus records its shape), for a flow page opened with this query.
    pub async fn challenge_json(&self, slug: &str, query: &str, answer: Option<&Answer>) -> Result<Value, String> {
        let mut url = self.base.join(&format!("api/v3/flows/executor/{slug}/")).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("query", query);
        let fail = |e: reqwest::Error| format!("{url} failed: {}", ak_protocol::http::describe(&e, self.timeout));
        let mut request = match answer {
            None => self.http.get(url.clone()),
            Some(body) => {
                let mut r = self.http.post(url.clone()).json(body);
                if let Some(csrf) = self.csrf() {
                    r = r.header("X-authentik-CSRF", csrf);
                }
                r
            }
        };
        for _ in 0..10 {
            let response = request.header("accept", "application/json").send().await.map_err(fail)?;
            let date = response.headers().get("date").and_then(|d| d.to_str().ok());
            if let Some(date) = date.and_then(|d| httpdate::parse_http_date(d).ok()) {
                *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(date);
            }
            if !response.status().is_redirection() {
                let status = response.status();
                return ak_protocol::http::read_json(response, self.timeout)
                    .await
                    .map_err(|e| format!("{url} answered {status} but {e}"));
            }
            request = self.http.get(url.clone());
        }
        Err(format!("{url} kept redirecting"))
    }

    /// Opens `start` (an authorization request) signed in, following redirects and the flow
    /// pages' redirects until the browser would be sent to `redirect_uri`; returns the `code`.
    pub async fn follow_to(&self, start: &Url, redirect_uri: &str) -> Result<String, String> {
        let mut next = start.clone();
        for _ in 0..10 {
            if next.as_str().starts_with(redirect_uri) {
                return next.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).ok_or_else(|| {
                    format!("back at the redirect URI without a code: {}", ak_protocol::redact::redact(&next))
                });
            }
            if let Some(slug) = next.path().strip_prefix(self.base.path()).and_then(|p| p.strip_prefix("if/flow/")) {
                let slug = slug.trim_end_matches('/').to_string();
                let query = next.query().unwrap_or_default();
                let challenge = Challenge::from(self.challenge_json(&slug, query, None).await?);
                let ChallengeKind::Redirect { to } = &challenge.kind else {
                    return Err(format!("flow `{slug}` answered {:?}", challenge.component()));
                };
                next = self.base.join(to).map_err(|e| e.to_string())?;
                continue;
            }
            let response = self.http.get(next.clone()).send().await.map_err(|e| format!("GET {next}: {e}"))?;
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
            let Some(location) = location else {
                return Err(format!(
                    "GET {} answered {} without a redirect",
                    ak_protocol::redact::redact(&next),
                    response.status()
                ));
            };
            next = next.join(&location).map_err(|e| e.to_string())?;
        }
        Err("more than 10 redirects".into())
    }

    /// After [`Self::sign_in`] stopped at `ak-stage-authenticator-validate`: answers it with a
    /// TOTP code. Refused carries what authentik said and its clock (its `Date` header).
    pub async fn answer_totp(&self, code: &str) -> Result<(SignIn, Option<std::time::SystemTime>), String> {
        let answer = Answer::AuthenticatorValidate { code: Secret::new(code) };
        let after = self.challenge("default-authentication-flow", Some(&answer)).await?;
        let clock = *self.clock.lock().unwrap_or_else(|p| p.into_inner());
        Ok((answered(&after, component::AUTHENTICATOR_VALIDATE), clock))
    }

    /// Signs in through `default-authentication-flow` with a username and password.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, String> {
        const FLOW: &str = "default-authentication-flow";
        let first = self.challenge(FLOW, None).await?;
        if first.component() != component::IDENTIFICATION {
            return Ok(SignIn::More(shown_component(&first)));
        }
        let id = Answer::Identification { uid_field: username.to_string() };
        let next = self.challenge(FLOW, Some(&id)).await?;
        if next.component() != component::PASSWORD {
            let errors = flow_errors(&next);
            if !errors.is_empty() {
                return Ok(SignIn::Refused(errors.join("; ")));
            }
            return Ok(SignIn::More(shown_component(&next)));
        }
        let pw = Answer::Password { password: Secret::new(password) };
        let after = self.challenge(FLOW, Some(&pw)).await?;
        Ok(answered(&after, component::PASSWORD))
    }
}

/// How a stage's answer ended: signed in (the flow's redirect), refused (the same stage shown
/// again with its errors), or another stage asked for.
fn answered(after: &Challenge, stage: &str) -> SignIn {
    let errors = flow_errors(after);
    match after.component() {
        component::REDIRECT => SignIn::Done,
        shown if shown == stage && !errors.is_empty() => SignIn::Refused(errors.join("; ")),
        _ => SignIn::More(shown_component(after)),
    }
}

/// A challenge's component for a message, `?` when it has none.
pub(crate) fn shown_component(challenge: &Challenge) -> String {
    match challenge.component() {
        "" => "?".into(),
        name => name.into(),
    }
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Signed in.
    Done,
    /// The password (or the identifier) was refused; what authentik said.
    Refused(String),
    /// The flow asked for a stage beyond the password (an authenticator): its component.
    More(String),
}
