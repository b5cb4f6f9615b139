//! A client of authentik's flow executor API for the harness's own chores (the pre-run sign-in
//! check, enrolling the MFA fixture user's TOTP device): its own cookie jar, authentik's CSRF
//! header once signed in, the executor's redirects to itself followed, every request with the
//! deadline and every body within the size cap.

use ak_protocol::authentik::component;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use url::Url;

/// One browser-less session with authentik.
pub struct FlowClient {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
    timeout: Duration,
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
        Ok(Self { http, jar, base, timeout })
    }

    fn csrf(&self) -> Option<String> {
        let cookies = self.jar.cookies(&self.base)?;
        let cookies = cookies.to_str().ok()?;
        cookies.split("; ").find_map(|c| c.strip_prefix("authentik_csrf=")).map(String::from)
    }

    /// GETs (no answer) or POSTs (an answer) the flow's executor and returns the challenge,
    /// following the executor's redirects to itself.
    pub async fn challenge(&self, slug: &str, answer: Option<Value>) -> Result<Value, String> {
        self.challenge_in(slug, "", answer).await
    }

    /// Like [`Self::challenge`], for a flow page opened with this query (an authorization flow).
    pub async fn challenge_in(&self, slug: &str, query: &str, answer: Option<Value>) -> Result<Value, String> {
        let mut url = self.base.join(&format!("api/v3/flows/executor/{slug}/")).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("query", query);
        let fail = |e: reqwest::Error| format!("{url} failed: {}", ak_protocol::http::describe(&e, self.timeout));
        let mut request = match &answer {
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
                let challenge = self.challenge_in(&slug, next.query().unwrap_or_default(), None).await?;
                let to = challenge["to"]
                    .as_str()
                    .ok_or_else(|| format!("flow `{slug}` answered {}", challenge["component"]))?;
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

    /// Signs in through `default-authentication-flow` with a username and password.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, String> {
        const FLOW: &str = "default-authentication-flow";
        let first = self.challenge(FLOW, None).await?;
        if first["component"] != component::IDENTIFICATION {
            return Ok(SignIn::More(first["component"].as_str().unwrap_or("?").to_string()));
        }
        let id = json!({"component": component::IDENTIFICATION, "uid_field": username});
        let next = self.challenge(FLOW, Some(id)).await?;
        if next["component"] != component::PASSWORD {
            let errors = ak_protocol::authentik::flow_errors(&next);
            if !errors.is_empty() {
                return Ok(SignIn::Refused(errors.join("; ")));
            }
            return Ok(SignIn::More(next["component"].as_str().unwrap_or("?").to_string()));
        }
        let pw = json!({"component": component::PASSWORD, "password": password});
        let after = self.challenge(FLOW, Some(pw)).await?;
        let errors = ak_protocol::authentik::flow_errors(&after);
        Ok(match after["component"].as_str() {
            Some(component::REDIRECT) => SignIn::Done,
            Some(component::PASSWORD) if !errors.is_empty() => SignIn::Refused(errors.join("; ")),
            other => SignIn::More(other.unwrap_or("?").to_string()),
        })
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
