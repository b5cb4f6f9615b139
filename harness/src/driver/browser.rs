//! The `browser` driver: real Chromium through ChatGPT's pages and authentik's flow pages,
//! typing and clicking through the nested open shadow roots as a person would. The hop chain comes
//! from Chrome's performance log (DevTools network events), so "expect a redirect" means the same
//! as in the api driver. Every wait polls a condition against a deadline; there are no sleeps to
//! synchronise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use url::Url;

use super::Position;
use super::api::{Credentials, DriveError, classify, find_attempt, redact};
use super::chrome::read_log;
use crate::report::Redactor;
use crate::result::Hop;
use crate::scenario::HopKind;
use crate::target::{Environment, Workspace};

const STAGES: &str = "ak-stage-identification, ak-stage-password, ak-stage-authenticator-validate, ak-stage-consent, \
                      ak-stage-access-denied, ak-stage-flow-error";
/// Components that hold a stage's form in a shadow root of their own (authentik 2026.2).
const NESTED_FORMS: &str = "ak-stage-authenticator-validate-code";
const POLL: Duration = Duration::from_millis(25);
const MAX_STAGES: usize = 12;

/// One look at the page, in one script so that its parts describe the same document: its ready
/// state and URL, whether it is the document that was current before the last action (it carries
/// the mark [`MARK`] sets), and the current authentik stage inside `ak-flow-executor`'s shadow
/// root: its tag, the messages it shows, and whether its challenge is new. A challenge is new the
/// first time it is seen: authentik hands each stage a fresh challenge object, and re-renders
/// the same element for a stage that repeats (a wrong password).
const PROBE: &str = r#"
const out = {ready: document.readyState, url: location.href, old: window.__akE2eOld === true, stage: null};
const ex = document.querySelector('ak-flow-executor');
const stage = ex && ex.shadowRoot ? ex.shadowRoot.querySelector(arguments[0]) : null;
if (stage && stage.shadowRoot && stage.shadowRoot.firstElementChild) {
  const key = stage.challenge && typeof stage.challenge === 'object' ? stage.challenge : stage;
  // The stage's own shadow root and those of the components in it (authentik 2026.2 puts the
  // TOTP code form in one).
  const roots = [stage.shadowRoot, ...[...stage.shadowRoot.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)];
  const errors = roots.flatMap(r => [...r.querySelectorAll('.pf-m-error, .ak-access-denied-message, .ak-flow-error')])
    .map(e => e.textContent.trim()).filter(Boolean);
  const fresh = key.__akE2eSeen !== true;
  key.__akE2eSeen = true;
  out.stage = {component: stage.localName, errors, fresh};
}
return out;
"#;

/// Marks the current document before an action, so that a later [`PROBE`] can tell it from the
/// document the action leads to (right after a click the old page is still there, complete).
const MARK: &str = "window.__akE2eOld = true;";

/// What an action may lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A new document (a link followed, a form posted).
    Document,
    /// A new document or, on the same flow page, the next challenge.
    DocumentOrChallenge,
}

/// Serialises the document with its open shadow roots as declarative `<template>`s.
const SERIALIZE: &str = r#"
const esc = s => s.replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;');
const attrs = el => [...el.attributes].map(a => ` ${a.name}="${a.value.replace(/"/g,'&quot;')}"`).join('');
const walk = n => {
  if (n.nodeType === 3) return esc(n.textContent);
  if (n.nodeType !== 1) return '';
  const tag = n.localName;
  let out = `<${tag}${attrs(n)}>`;
  if (n.shadowRoot) out += `<template shadowrootmode="open">${[...n.shadowRoot.childNodes].map(walk).join('')}</template>`;
  out += [...n.childNodes].map(walk).join('');
  return out + `</${tag}>`;
};
return '<!DOCTYPE html>\n' + walk(document.documentElement);
"#;

/// One scenario's browser session.
pub struct BrowserDriver<'e> {
    env: &'e Environment,
    ws: &'e Workspace,
    client: Client,
    http: reqwest::Client,
    /// Every exchange so far, from the performance log.
    pub hops: Vec<Hop>,
    /// Where the session stands.
    pub position: Position,
    /// The `state` ChatGPT sent to authentik.
    pub authorize_state: Option<String>,
    requests: HashMap<String, String>,
    last_document_status: u16,
    artifacts: PathBuf,
    redactor: Redactor,
    /// Every artifact written so far.
    pub written: Vec<PathBuf>,
}

impl<'e> BrowserDriver<'e> {
    /// Wraps a session; artifacts go to `artifacts`.
    pub fn new(
        env: &'e Environment,
        ws: &'e Workspace,
        client: Client,
        artifacts: PathBuf,
        redactor: Redactor,
    ) -> Result<Self, DriveError> {
        let http = reqwest::Client::builder()
            .timeout(env.request_timeout)
            .build()
            .map_err(|e| DriveError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            env,
            ws,
            client,
            http,
            hops: Vec::new(),
            position: Position::Start,
            authorize_state: None,
            requests: HashMap::new(),
            last_document_status: 200,
            artifacts,
            redactor,
            written: Vec::new(),
        })
    }

    /// The session, for closing or reuse.
    pub fn into_client(self) -> Client {
        self.client
    }

    fn deadline(&self) -> Duration {
        self.env.request_timeout
    }

    fn err(action: &str, e: impl std::fmt::Display) -> DriveError {
        DriveError(format!("browser: {action} failed: {e}"))
    }

    /// The workspace this session signs in to.
    pub fn workspace(&self) -> &'e Workspace {
        self.ws
    }

    /// What a URL is, by where it points.
    pub fn classify(&self, url: &Url) -> Option<HopKind> {
        classify(self.env, url)
    }

    /// "Log in" at ChatGPT with an email, or the direct sign-in link.
    pub async fn start_login(&mut self, email: Option<&str>) -> Result<(), DriveError> {
        match email {
            Some(email) => {
                let login = self.ws.chatgpt.login_url();
                self.client.goto(login.as_str()).await.map_err(|e| Self::err("opening ChatGPT's login page", e))?;
                let input = self.wait_find("[data-testid=email-input]").await?;
                input.send_keys(email).await.map_err(|e| Self::err("typing the email", e))?;
                let button = self.wait_find("[data-testid=continue-button]").await?;
                self.click(&button, "clicking Continue").await?;
            }
            None => {
                let direct = self.ws.chatgpt.direct_link();
                self.mark().await;
                self.client.goto(direct.as_str()).await.map_err(|e| Self::err("opening the direct sign-in link", e))?;
            }
        }
        self.settle(Next::Document).await
    }

    /// Marks the current document (see [`MARK`]).
    async fn mark(&self) {
        let _ = self.client.execute(MARK, vec![]).await;
    }

    /// Clicks after marking the document, so that [`Self::settle`] waits for what the click
    /// brings instead of taking the page it was made on.
    async fn click(&self, element: &Element, action: &str) -> Result<(), DriveError> {
        self.mark().await;
        element.clone().click().await.map_err(|e| Self::err(action, e))
    }

    async fn wait_find(&self, css: &str) -> Result<Element, DriveError> {
        let start = Instant::now();
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) => return Ok(e),
                Err(e) if start.elapsed() > self.deadline() => {
                    return Err(DriveError(format!(
                        "browser: `{css}` did not appear within {:?}: {e}",
                        self.deadline()
                    )));
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Finds `css` inside the current stage's shadow root (executor → stage → element).
    async fn in_stage(&self, stage: &str, css: &str) -> Result<Element, DriveError> {
        let start = Instant::now();
        loop {
            let attempt = async {
                let root = self.client.find(Locator::Css("ak-flow-executor")).await?.shadow_root().await?;
                let stage_root = root.find(Locator::Css(stage)).await?.shadow_root().await?;
                match stage_root.find(Locator::Css(css)).await {
                    Ok(found) => Ok(found),
                    // authentik 2026.2 renders some stages' forms in a component of their own,
                    // with its own shadow root (the TOTP code form of authenticator-validate).
                    Err(direct) => match stage_root.find(Locator::Css(NESTED_FORMS)).await {
                        Ok(nested) => nested.shadow_root().await?.find(Locator::Css(css)).await,
                        Err(_) => Err(direct),
                    },
                }
            };
            match attempt.await {
                Ok(e) => return Ok(e),
                Err(e) if start.elapsed() > self.deadline() => {
                    return Err(DriveError(format!(
                        "browser: `{css}` in authentik's {stage} did not appear within {:?} (through ak-flow-executor's shadow root): {e}",
                        self.deadline()
                    )));
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Reads the performance log into hops.
    async fn drain(&mut self) {
        for entry in read_log(&self.client, "performance").await {
            let Some(message) = entry["message"].as_str().and_then(|m| serde_json::from_str::<Value>(m).ok()) else {
                continue;
            };
            let method = message["message"]["method"].as_str().unwrap_or_default();
            let params = &message["message"]["params"];
            let kind = params["type"].as_str().unwrap_or_default();
            let api = matches!(kind, "Fetch" | "XHR");
            if !(api || kind == "Document") {
                continue;
            }
            let id = params["requestId"].as_str().unwrap_or_default().to_string();
            match method {
                "Network.requestWillBeSent" => {
                    let redirect = &params["redirectResponse"];
                    if redirect.is_object() {
                        let from = redirect["url"].as_str().unwrap_or_default();
                        let location = header(&redirect["headers"], "location");
                        let prev_method = self.requests.get(&id).cloned().unwrap_or_else(|| "GET".into());
                        self.push_hop(
                            &prev_method,
                            from,
                            redirect["status"].as_u64().unwrap_or(0) as u16,
                            location.as_deref(),
                            api,
                        );
                    }
                    let request_method = params["request"]["method"].as_str().unwrap_or("GET").to_string();
                    self.requests.insert(id, request_method);
                }
                "Network.responseReceived" => {
                    let response = &params["response"];
                    let url = response["url"].as_str().unwrap_or_default();
                    let status = response["status"].as_u64().unwrap_or(0) as u16;
                    let request_method = self.requests.get(&id).cloned().unwrap_or_else(|| "GET".into());
                    if !api {
                        self.last_document_status = status;
                    }
                    self.push_hop(&request_method, url, status, None, api);
                }
                _ => {}
            }
        }
    }

    fn push_hop(&mut self, method: &str, url: &str, status: u16, location: Option<&str>, api: bool) {
        let Ok(parsed) = Url::parse(url) else { return };
        if !matches!(parsed.scheme(), "http" | "https") {
            return;
        }
        let kind = self.classify(&parsed);
        if kind == Some(HopKind::AuthentikAuthorize) && self.authorize_state.is_none() {
            self.authorize_state = parsed.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
        }
        let location = location.map(|l| parsed.join(l).map(|u| redact(&u)).unwrap_or_else(|_| l.to_string()));
        self.hops.push(Hop {
            method: method.to_string(),
            url: redact(&parsed),
            status,
            location,
            kind: kind.map(|k| k.as_str().to_string()),
            api,
        });
    }

    /// Waits until the last action has led somewhere, then records where the browser is: a new
    /// document that has loaded (on authentik's flow page, once a stage shows), or, where `next`
    /// allows it, the next challenge on the same flow page. The document the action was made on
    /// never counts, however complete it looks.
    async fn settle(&mut self, next: Next) -> Result<(), DriveError> {
        let start = Instant::now();
        loop {
            // Right after a click the page may be between documents ("execution context
            // destroyed"): that is not settled yet, not a failure.
            let probe = match self.client.execute(PROBE, vec![json!(STAGES)]).await {
                Ok(probe) => probe,
                Err(e) if start.elapsed() > self.deadline() => return Err(Self::err("reading the page", e)),
                Err(_) => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            let url = probe["url"].as_str().and_then(|u| Url::parse(u).ok());
            let new_document = probe["old"] != Value::Bool(true);
            if let Some(url) = url.as_ref().filter(|_| probe["ready"] == "complete") {
                let stage = &probe["stage"];
                if self.classify(url) == Some(HopKind::AuthentikFlow) {
                    let fresh = stage["fresh"].as_bool().unwrap_or(false);
                    let settled = stage.is_object() && (new_document || (next == Next::DocumentOrChallenge && fresh));
                    if settled {
                        self.drain().await;
                        self.position = flow_position(url, stage);
                        return Ok(());
                    }
                } else if new_document {
                    self.drain().await;
                    self.position = self.read_page(url).await?;
                    return Ok(());
                }
            }
            if start.elapsed() > self.deadline() {
                self.drain().await;
                let at = url.map(|u| redact(&u)).unwrap_or_else(|| "?".into());
                let what = if new_document { "did not settle" } else { "did not change after the last action" };
                return Err(DriveError(format!("browser: the page at {at} {what} within {:?}", self.deadline())));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn read_page(&self, url: &Url) -> Result<Position, DriveError> {
        let body = self.client.source().await.map_err(|e| Self::err("reading the page", e))?;
        let status = self.last_document_status;
        if let Some(title) = super::page_title(&body) {
            let message = super::page_message(&body);
            return Ok(Position::AuthentikPage { status, title, message });
        }
        if self.env.workspaces.values().any(|w| w.chatgpt.url().origin() == url.origin()) {
            return Ok(Position::Chatgpt { status, path: url.path().to_string(), body });
        }
        Ok(Position::Elsewhere { url: redact(url), status })
    }

    /// Answers authentik's stages through the shadow roots until the browser leaves authentik or
    /// a stage these credentials cannot pass.
    pub async fn sign_in(&mut self, credentials: &Credentials<'_>) -> Result<(), DriveError> {
        for _ in 0..MAX_STAGES {
            let Position::Flow { challenge, .. } = self.position.clone() else { return Ok(()) };
            let component = challenge["component"].as_str().unwrap_or_default().to_string();
            if challenge.get("response_errors").is_some() && component != "ak-stage-identification" {
                return Ok(());
            }
            match component.as_str() {
                "ak-stage-identification" => {
                    let input = self.in_stage(&component, "input[name=uidField]").await?;
                    input.clear().await.map_err(|e| Self::err("clearing the identifier", e))?;
                    input.send_keys(credentials.uid).await.map_err(|e| Self::err("typing the identifier", e))?;
                    self.screenshot("identification").await;
                    let button = self.in_stage(&component, "button[type=submit]").await?;
                    self.click(&button, "clicking Log in").await?;
                }
                "ak-stage-password" => {
                    let input = self.in_stage(&component, "input[name=password]").await?;
                    input.send_keys(credentials.password).await.map_err(|e| Self::err("typing the password", e))?;
                    self.screenshot("password").await;
                    let button = self.in_stage(&component, "button[type=submit]").await?;
                    self.click(&button, "clicking Continue").await?;
                }
                "ak-stage-authenticator-validate" => {
                    let Some(secret) = &credentials.totp else { return Ok(()) };
                    let input = self.in_stage(&component, "input[name=code]").await?;
                    // Before typing: the code sits in a text field and must not reach a screenshot.
                    self.screenshot("authenticator").await;
                    input
                        .send_keys(&super::totp_code(self.env, secret).await)
                        .await
                        .map_err(|e| Self::err("typing the TOTP code", e))?;
                    let button = self.in_stage(&component, "button[type=submit]").await?;
                    self.click(&button, "clicking Continue").await?;
                }
                "ak-stage-consent" if credentials.consent == crate::scenario::Consent::Accept => {
                    self.screenshot("consent").await;
                    let button = self.in_stage(&component, "[type=submit]").await?;
                    self.click(&button, "accepting consent").await?;
                }
                _ => return Ok(()),
            }
            self.settle(Next::DocumentOrChallenge).await?;
        }
        Err(DriveError(format!("authentik asked for more than {MAX_STAGES} stages")))
    }

    /// ChatGPT's record of this session's attempt.
    pub async fn attempt(&mut self) -> Result<Option<Value>, DriveError> {
        find_attempt(&self.http, self.ws, self.authorize_state.as_deref()).await
    }

    /// A screenshot named after what is on screen; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> Option<PathBuf> {
        let png = self.client.screenshot().await.ok()?;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.written.len() + 1));
        std::fs::create_dir_all(&self.artifacts).ok()?;
        std::fs::write(&path, png).ok()?;
        self.written.push(path.clone());
        Some(path)
    }

    /// On failure: a screenshot, the page with its shadow roots, and the browser console.
    pub async fn failure_artifacts(&mut self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if std::fs::create_dir_all(&self.artifacts).is_err() {
            return out;
        }
        if let Some(shot) = self.screenshot("failure").await {
            out.push(shot);
        }
        if let Ok(Value::String(html)) = self.client.execute(SERIALIZE, vec![]).await {
            let path = self.artifacts.join("failure.html");
            if std::fs::write(&path, self.redactor.apply(&html)).is_ok() {
                self.written.push(path.clone());
                out.push(path);
            }
        }
        let console: Vec<String> = read_log(&self.client, "browser")
            .await
            .iter()
            .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or_default()))
            .collect();
        let path = self.artifacts.join("console.log");
        if std::fs::write(&path, self.redactor.apply(&console.join("\n"))).is_ok() {
            self.written.push(path.clone());
            out.push(path);
        }
        out
    }

    /// Where artifacts of this session go.
    pub fn artifacts_dir(&self) -> &Path {
        &self.artifacts
    }
}

/// The position on a flow page, from a [`PROBE`]'s stage.
fn flow_position(url: &Url, stage: &Value) -> Position {
    let slug = url.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
    let errors: Vec<Value> =
        stage["errors"].as_array().cloned().unwrap_or_default().into_iter().map(|e| json!({"string": e})).collect();
    let mut challenge = json!({"component": stage["component"]});
    if !errors.is_empty() {
        challenge["response_errors"] = json!({"page": errors});
    }
    Position::Flow { slug, query: url.query().unwrap_or_default().to_string(), challenge }
}

fn header(headers: &Value, name: &str) -> Option<String> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .map(String::from)
}
