//! The `browser` driver: real Chromium through ChatGPT's pages and authentik's flow pages,
//! typing and clicking through the nested open shadow roots as a person would. The hop chain comes
//! from Chrome's performance log (DevTools network events), so "expect a redirect" means the same
//! as in the api driver. Every wait is a script that waits in the page for its condition (checked
//! on each animation frame) against a deadline; there are no sleeps to synchronise and no round
//! trip per check.

use ak_protocol::authentik::component;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{Value, json};
use url::Url;

use super::api::Credentials;
use super::authenticator::VirtualAuthenticator;
use super::chrome::read_log;
use super::network_log::{ExtraInfo, Pending, Side, chrome_timings, header, header_pairs};
use super::throttle::{self, Code};
use super::{DriveError, MAX_STAGES};
use crate::config::Screenshots;
use crate::environment::{Environment, Workspace};
use crate::observation::Position;
use crate::result::{Exchange, Hop};
use crate::scenario::HopKind;
use ak_protocol::authentik::Stage;
use ak_protocol::redact::Redactor;
use ak_protocol::redact::redact;

/// The stages the page is waited on for, as one CSS selector of their components.
fn stage_selector() -> String {
    use ak_protocol::authentik::component;
    [
        component::IDENTIFICATION,
        component::PASSWORD,
        component::AUTHENTICATOR_VALIDATE,
        component::CONSENT,
        component::ACCESS_DENIED,
        component::FLOW_ERROR,
    ]
    .join(", ")
}
/// Components that hold a stage's form in a shadow root of their own (authentik 2026.2).
const NESTED_FORMS: &str = "ak-stage-authenticator-validate-code, ak-stage-authenticator-validate-webauthn";

/// Waits in the page, frame by frame, until the last action has led somewhere, then describes
/// the page in one look, so that its parts describe the same document: its ready state and
/// URL, whether it is the document that was current before the last action (it carries the mark
/// [`MARK`] sets), and the current authentik stage inside `ak-flow-executor`'s shadow root: its
/// tag, the messages it shows, and whether its challenge is new. A challenge is new until a
/// settled look has seen it: authentik hands each stage a fresh challenge object, and re-renders
/// the same element for a stage that repeats (a wrong password).
///
/// Settled: a new document that has loaded (on authentik's flow page, once a stage shows; never
/// `about:blank`, where a session starts and is reset), or,
/// with `acceptChallenge`, the next challenge on the same flow page. The page answers as soon as
/// that holds (checked on every animation frame, so no round trip per check) or when `budget`
/// milliseconds have passed, unsettled; a navigation ends the script early, and the caller asks
/// the new document.
const WAIT: &str = include_str!("js/wait.js");

/// One action in the page, in one round trip, waiting frame by frame (within `budget`
/// milliseconds) for what it needs: the `field` found in the document (no `stage` given) or inside
/// the current stage's shadow root (executor → stage → element, or the stage's `nested` form
/// component) and, with `fill` (a string), filled as Playwright's `fill` does (its value set, then
/// `input` and `change` sent), not one key event per character as `send_keys` would; then the
/// `button` found the same way and clicked once it can be, as WebDriver's click would check it:
/// displayed, scrolled into view, enabled, and the element at its centre (through the shadow
/// roots) itself or inside it. The document is marked (see [`MARK`]) just before the click. With
/// `fresh`, a marked document or `about:blank` does not count: a page just opened may not have
/// replaced the one before yet. Answers `{ok: true}`, or what was wanted and why it could not be
/// done (`not there`, `disabled`, `covered by <div class="…">`).
///
/// The click is the element's own `click()`: the same activation (a form submitted, a link
/// followed) as a person's click, with an event that is not `isTrusted`, which no page of this
/// login looks at. WebDriver's click costs a round trip and several DevTools calls for each.
const ACT: &str = include_str!("js/act.js");

/// How often a wait for the page to settle looks at the network for progress.
const PROGRESS_CHECK: Duration = Duration::from_secs(2);
/// The longest a wait for the page to settle lasts, in deadlines, however busy the network.
const SETTLE_CAP: u32 = 6;

/// How long stopping a navigation through DevTools may take.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// The longest one in-page wait runs before it answers (below WebDriver's 30-second script
/// timeout); a longer deadline asks again.
const IN_PAGE_BUDGET: Duration = Duration::from_secs(20);

/// Marks the current document before an action, so that a later [`WAIT`] can tell it from the
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

/// One action in the page (see [`ACT`]): a field to fill, a button to click, or both in turn.
#[derive(Debug, Clone, Copy, Default)]
struct Act<'a> {
    field: Option<&'a str>,
    fill: Option<&'a str>,
    button: Option<&'a str>,
    /// The authentik stage component the elements are in (none: the document).
    stage: Option<&'a str>,
    /// Only in a document opened since the last mark.
    fresh: bool,
    /// On authentik's device picker (several devices, none chosen), the button of this device
    /// class is clicked first (`totp`, `static`, `webauthn`).
    pick: Option<&'a str>,
}

/// A stage's submit button.
const SUBMIT: &str = "button[type=submit]";
/// The MFA stage's code field (a TOTP or a recovery code).
const CODE: &str = "input[name=code]";
/// authentik's device classes, as its device picker offers them.
const TOTP: &str = "totp";
const RECOVERY: &str = "static";
const WEBAUTHN: &str = "webauthn";
/// The WebAuthn challenge's "Retry authentication" button (authentik 2026.2: the only primary
/// button of `ak-stage-authenticator-validate-webauthn`, there once an attempt has ended).
const RETRY_PASSKEY: &str = "button.pf-m-primary[type=button]";

/// Says whether the identification stage offers a passkey (`{offered: true}`), watches the
/// page's request for a passkey (`{watch: true}`: the next call of `navigator.credentials.get`
/// is recorded by [`PASSKEY_HOOK`], its answer to the page unchanged), or waits in the page,
/// within `{budget}` milliseconds, for how it ended: `signed`, `refused` with the browser's
/// error, `pending`, or `not asked`; with the RP ID asked for.
const PASSKEY: &str = concat!(include_str!("js/passkey_hook.js"), include_str!("js/passkey.js"));

/// The hook that records the page's requests for a passkey, alone: run on every new document
/// while a sign-in with a passkey first reloads the page.
const PASSKEY_HOOK: &str = include_str!("js/passkey_hook.js");

/// Empties every one-time-code field of the page, through the open shadow roots.
const SCRUB_CODES: &str = "const scrub = (root) => root.querySelectorAll('*').forEach((el) => { \
    if (el.localName === 'input' && (el.name === 'code' || el.autocomplete === 'one-time-code')) el.value = ''; \
    if (el.shadowRoot) scrub(el.shadowRoot); }); scrub(document); return true;";

/// Serialises the document with its open shadow roots as declarative `<template>`s.
const SERIALIZE: &str = include_str!("js/serialize.js");

/// One scenario's browser session.
pub struct BrowserDriver<'e> {
    env: &'e Environment,
    ws: &'e Workspace,
    client: Client,
    /// Every exchange so far, from the performance log.
    pub hops: Vec<Hop>,
    /// Where the session stands.
    pub position: Position,
    /// The `state` ChatGPT sent to authentik.
    pub authorize_state: Option<String>,
    /// The authentik stages shown so far, in order (a stage shown again counts again).
    pub stages: Vec<String>,
    /// See [`super::Seen::refused`].
    pub refused: Option<String>,
    /// Requests (documents, fetches) sent and not yet finished loading, by Chromium's request
    /// id: the last one is what a page that does not settle waits for.
    requests: HashMap<String, Pending>,
    /// A WebDriver command of this session went past [`Self::command_bound`]: chromedriver
    /// serves a session's commands one at a time, so every later one would queue behind it.
    /// From then on none is sent, and the session is not reused.
    wedged: AtomicBool,
    /// The time its WebDriver commands took, by part (see [`command_part`]).
    pub spent: std::sync::Mutex<std::collections::BTreeMap<&'static str, Duration>>,
    /// A navigation held the session past [`Self::command_bound`] and was stopped: the next
    /// look at the page reports the request it waited on.
    stopped: AtomicBool,
    /// Chromium's DevTools address, to stop such a navigation beside WebDriver.
    devtools: Option<String>,
    /// The first request answered past the request deadline (its URL and seconds): as the api
    /// driver's client gives up on it, so does this driver, after the fact.
    too_slow: Option<(String, f64)>,
    /// Headers as Chromium sent and received them (cookies included).
    extra: Box<ExtraInfo>,
    last_document_status: u16,
    artifacts: crate::files::ScenarioDir,
    redactor: Redactor,
    screenshots: Screenshots,
    /// Every artifact written so far.
    pub written: Vec<PathBuf>,
}

impl<'e> BrowserDriver<'e> {
    /// Wraps a session; artifacts go to `artifacts`.
    pub fn new(
        env: &'e Environment,
        ws: &'e Workspace,
        client: Client,
        artifacts: crate::files::ScenarioDir,
        redactor: Redactor,
        screenshots: Screenshots,
    ) -> Result<Self, DriveError> {
        Ok(Self {
            env,
            ws,
            hops: Vec::new(),
            position: Position::Start,
            authorize_state: None,
            stages: Vec::new(),
            refused: None,
            requests: HashMap::new(),
            wedged: AtomicBool::new(false),
            spent: Default::default(),
            stopped: AtomicBool::new(false),
            devtools: super::chrome::devtools_address(&client),
            client,
            too_slow: None,
            extra: Box::default(),
            last_document_status: 200,
            artifacts,
            redactor,
            screenshots,
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

    /// The longest one WebDriver command may take. Each asks for at most a deadline of waiting
    /// in the page (the session never waits for page loads: its page-load strategy is `none`),
    /// but chromedriver holds commands while a navigation is pending, and a click may lead
    /// through a few redirects, each with a deadline of its own: past three deadlines (at least
    /// 15 s, for a busy machine), the navigation is taken as stalled.
    fn command_bound(&self) -> Duration {
        (self.deadline() * 3).max(Duration::from_secs(15))
    }

    /// Sends one WebDriver command, bounded by [`Self::command_bound`]; once one has gone past
    /// it, none is sent any more (see `wedged`).
    async fn command<T>(
        &self,
        action: &str,
        command: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> Result<T, DriveError> {
        if self.is_wedged() {
            return Err(DriveError(format!(
                "browser: {action}: not sent, an earlier WebDriver command never answered"
            )));
        }
        let started = Instant::now();
        let mut command = std::pin::pin!(command);
        let answered = tokio::time::timeout(self.command_bound(), &mut command).await;
        *self.spent.lock().unwrap_or_else(|p| p.into_inner()).entry(command_part(action)).or_default() +=
            started.elapsed();
        if let Ok(answer) = answered {
            return answer.map_err(|e| Self::err(action, e));
        }
        // WebDriver holds the session while a navigation is pending: stop it beside WebDriver,
        // and the command goes on.
        if self.stop_navigation().await
            && let Ok(answer) = tokio::time::timeout(self.command_bound(), &mut command).await
        {
            self.stopped.store(true, Ordering::Relaxed);
            return answer.map_err(|e| Self::err(action, e));
        }
        self.wedged.store(true, Ordering::Relaxed);
        Err(DriveError(format!(
            "browser: {action}: WebDriver did not answer within {:?} (timed out; the browser is stuck)",
            self.command_bound()
        )))
    }

    /// Stops the page's pending navigation or load through Chromium's DevTools, beside WebDriver
    /// (see `chrome::stop_loading`); false when there is no DevTools address or it did not answer.
    async fn stop_navigation(&self) -> bool {
        match &self.devtools {
            Some(devtools) => super::chrome::stop_loading(devtools, STOP_DEADLINE).await.is_ok(),
            None => false,
        }
    }

    /// A command for an artifact (a screenshot, the page, the console), which a run can do
    /// without: within one deadline, or not at all. One that does not answer in time leaves the
    /// session stuck (see `wedged`): Chromium may draw no frame of a page whose body is still
    /// coming, stopped or not.
    async fn artifact_command<T>(
        &self,
        command: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> Option<T> {
        if self.is_wedged() {
            return None;
        }
        match tokio::time::timeout(self.deadline(), command).await {
            Ok(answer) => answer.ok(),
            Err(_) => {
                self.wedged.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// After a navigation was stopped (see [`Self::command`]): the error naming the request it
    /// waited on, from the performance log.
    async fn stopped_error(&mut self) -> Option<DriveError> {
        if !self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        self.drain().await;
        self.stopped.store(false, Ordering::Relaxed);
        let what = self.stalled().unwrap_or_else(|| "the page's navigation did not answer".into());
        Some(DriveError(format!(
            "browser: {what} (timed out: the browser waited {:?} for it, then ak-e2e stopped it)",
            self.command_bound()
        )))
    }

    /// Whether a WebDriver command of this session never answered (see `wedged`).
    pub fn is_wedged(&self) -> bool {
        self.wedged.load(Ordering::Relaxed)
    }

    /// Forgets the cookies and the storage of `origins`, as another browser would start; the
    /// exchanges so far stay.
    pub async fn new_session(&mut self, origins: &std::collections::BTreeSet<String>) -> Result<(), DriveError> {
        self.drain().await;
        if !super::chrome::reset_session(&self.client, origins).await {
            return Err(DriveError("browser: the cookies of the steps before could not be cleared".into()));
        }
        self.drain().await;
        self.authorize_state = None;
        self.refused = None;
        self.position = Position::Start;
        Ok(())
    }

    /// The workspace this session signs in to.
    pub fn workspace(&self) -> &'e Workspace {
        self.ws
    }

    /// "Log in" at ChatGPT with an email, or the direct sign-in link.
    pub async fn start_login(&mut self, email: Option<&str>) -> Result<(), DriveError> {
        match email {
            Some(email) => {
                let login = self.ws.chatgpt.login_url();
                // The page before is marked, so that the email field is looked for in the new one.
                let _ = self.command("marking the page", self.client.execute(MARK, vec![])).await;
                self.command("opening ChatGPT's login page", self.client.goto(login.as_str())).await?;
                let action = Act {
                    field: Some("[data-testid=email-input]"),
                    fill: Some(email),
                    button: Some("[data-testid=continue-button]"),
                    stage: None,
                    fresh: true,
                    pick: None,
                };
                self.act(action).await?;
            }
            None => {
                let direct = self.ws.chatgpt.direct_link();
                let _ = self.command("marking the page", self.client.execute(MARK, vec![])).await;
                self.command("opening the direct sign-in link", self.client.goto(direct.as_str())).await?;
            }
        }
        self.settle(Next::Document).await
    }

    /// Does `action` in the page (see [`ACT`]), asking again until the deadline when the page
    /// changed under the script.
    async fn act(&mut self, action: Act<'_>) -> Result<(), DriveError> {
        let start = Instant::now();
        // What was wanted, why it could not be done, and whether the page said so (rather than
        // the page changing under the script).
        let mut last =
            (action.field.or(action.button).unwrap_or_default().to_string(), String::from("not there"), false);
        let mut failures = 0;
        while start.elapsed() <= self.deadline() {
            let budget = self.deadline().saturating_sub(start.elapsed()).min(IN_PAGE_BUDGET);
            let args = json!({
                "field": action.field,
                "fill": action.fill,
                "button": action.button,
                "stage": action.stage,
                "nested": NESTED_FORMS,
                "fresh": action.fresh,
                "pick": action.pick,
                "budget": budget.as_millis() as u64,
            });
            let answer = self.command("acting in the page", self.client.execute_async(ACT, vec![args])).await;
            if let Some(stopped) = self.stopped_error().await {
                return Err(stopped);
            }
            match answer {
                Ok(answer) if answer["ok"] == Value::Bool(true) => return Ok(()),
                // authentik offers no device of the class wanted: asking again changes nothing.
                Ok(answer) if answer["final"] == Value::Bool(true) => {
                    let (wanted, why) =
                        (answer["wanted"].as_str().unwrap_or_default(), answer["why"].as_str().unwrap_or("?"));
                    return Err(DriveError(format!(
                        "browser: {wanted} in authentik's {}: {why}",
                        action.stage.unwrap_or("page")
                    )));
                }
                // The page's own validation refused the value: asking again changes nothing.
                Ok(answer) if answer["refused"] == Value::Bool(true) => {
                    let (wanted, why) =
                        (answer["wanted"].as_str().unwrap_or_default(), answer["why"].as_str().unwrap_or("?"));
                    let place = action.stage.map(|s| format!(" in authentik's {s}")).unwrap_or_default();
                    // authentik's page refused what the user would type: a verdict on authentik.
                    let refused = format!("browser: `{wanted}`{place} was not sent: {why}");
                    self.refused = Some(refused.clone());
                    return Err(DriveError(refused));
                }
                Ok(answer) => {
                    let text = |k: &str| answer[k].as_str().unwrap_or_default().to_string();
                    last = (text("wanted"), text("why"), true);
                }
                Err(e) if self.is_wedged() => return Err(e),
                // The page changed under the script: ask the new one.
                Err(e) => {
                    last = (last.0, e.to_string(), false);
                    self.back_off(&mut failures).await;
                }
            }
        }
        let place = match action.stage {
            Some(stage) => format!(" in authentik's {stage} (through ak-flow-executor's shadow root)"),
            None => String::new(),
        };
        let (wanted, why, hindered) = last;
        let verb = if hindered && why != "not there" { "could not be clicked" } else { "did not appear" };
        Err(DriveError(format!("browser: `{wanted}`{place} {verb} within {:?}: {why}", self.deadline())))
    }

    /// After a WebDriver error while waiting on an action (counted in `failures`), a pause
    /// before asking again, so that a browser that keeps failing is not asked in a tight loop.
    /// The first needs none: it is the navigation the action started ending the script that
    /// waited in the old document, and the new document is asked at once.
    async fn back_off(&self, failures: &mut u32) {
        *failures += 1;
        if *failures > 1 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Reads the performance log into hops.
    async fn drain(&mut self) {
        let Ok(entries) = self.command("reading the network log", read_log(&self.client, "performance")).await else {
            return;
        };
        for entry in entries {
            let Some(message) = entry["message"].as_str().and_then(|m| serde_json::from_str::<Value>(m).ok()) else {
                continue;
            };
            let method = message["message"]["method"].as_str().unwrap_or_default();
            let params = &message["message"]["params"];
            let kind = params["type"].as_str().unwrap_or_default();
            let id = params["requestId"].as_str().unwrap_or_default().to_string();
            // The headers as sent and received, cookies included, come in events of their own
            // (usually first); a hop takes them when they are there.
            match method {
                "Network.requestWillBeSentExtraInfo" => {
                    self.extra.arrived(&mut self.hops, id, Side::Sent, header_pairs(&params["headers"]));
                    continue;
                }
                "Network.responseReceivedExtraInfo" => {
                    self.extra.arrived(&mut self.hops, id, Side::Received, header_pairs(&params["headers"]));
                    continue;
                }
                // Aborted by ak-e2e (see `command`): still what the page waited on.
                "Network.loadingFailed" if self.stopped.load(Ordering::Relaxed) => continue,
                // Its body has all come, or it failed (leaving a page cancels the page's requests).
                "Network.loadingFinished" | "Network.loadingFailed" => {
                    self.requests.remove(&id);
                    continue;
                }
                _ => {}
            }
            let api = matches!(kind, "Fetch" | "XHR");
            if !(api || kind == "Document") {
                continue;
            }
            match method {
                "Network.requestWillBeSent" => {
                    let redirect = &params["redirectResponse"];
                    if redirect.is_object()
                        && let Some(previous) = self.requests.remove(&id)
                    {
                        self.push_hop(&previous, redirect, api);
                    }
                    let request = &params["request"];
                    let url = request["url"].as_str().and_then(|u| Url::parse(u).ok()).map(|u| redact(&u));
                    let pending = Pending {
                        id: id.clone(),
                        method: request["method"].as_str().unwrap_or("GET").to_string(),
                        url: url.as_deref().map(without_query).unwrap_or_default().to_string(),
                        headers: header_pairs(&request["headers"]),
                        started_ms: params["wallTime"].as_f64().unwrap_or(0.0) * 1000.0,
                        answered: false,
                    };
                    self.requests.insert(id, pending);
                }
                "Network.responseReceived" => {
                    let response = &params["response"];
                    if !api {
                        self.last_document_status = response["status"].as_u64().unwrap_or(0) as u16;
                    }
                    let pending = match self.requests.get_mut(&id) {
                        Some(pending) => {
                            pending.answered = true;
                            pending.clone()
                        }
                        None => Pending::default(),
                    };
                    self.push_hop(&pending, response, api);
                }
                _ => {}
            }
        }
    }

    /// Records a hop from the request as sent and the response Chromium logged for it.
    fn push_hop(&mut self, request: &Pending, response: &Value, api: bool) {
        let url = response["url"].as_str().unwrap_or_default();
        // The wait for the answer's headers, by Chromium's own timing of the request: past the
        // request deadline, it is a timeout (the api driver's client gives up there).
        let took = chrome_timings(&response["timing"]).wait / 1000.0;
        if took > self.deadline().as_secs_f64() && self.too_slow.is_none() {
            self.too_slow = Some((without_query(url).to_string(), took));
        }
        let Ok(parsed) = Url::parse(url) else { return };
        if !matches!(parsed.scheme(), "http" | "https") {
            return;
        }
        let status = response["status"].as_u64().unwrap_or(0) as u16;
        let kind = self.env.classify(&parsed);
        if kind == Some(HopKind::AuthentikAuthorize) && self.authorize_state.is_none() {
            self.authorize_state = parsed.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
        }
        let location = header(&response["headers"], "location")
            .map(|l| parsed.join(&l).map(|u| redact(&u)).unwrap_or_else(|_| l.to_string()));
        let (sent, received) = self.extra.hop(&request.id, self.hops.len());
        let request_headers = sent.unwrap_or_else(|| request.headers.clone());
        let response_headers = received.unwrap_or_else(|| header_pairs(&response["headers"]));
        let method = if request.method.is_empty() { "GET" } else { request.method.as_str() };
        self.hops.push(Hop {
            method: method.to_string(),
            url: redact(&parsed),
            status,
            location: if (300..400).contains(&status) { location } else { None },
            kind,
            api,
            exchange: Some(Exchange {
                started_ms: request.started_ms,
                request_headers,
                response_headers,
                http_version: response["protocol"].as_str().unwrap_or_default().to_uppercase(),
                status_text: response["statusText"].as_str().unwrap_or_default().to_string(),
                mime_type: response["mimeType"].as_str().unwrap_or_default().to_string(),
                timings: chrome_timings(&response["timing"]),
            }),
        });
    }

    /// Waits until the last action has led somewhere, then records where the browser is: a new
    /// document that has loaded (on authentik's flow page, once a stage shows), or, where `next`
    /// allows it, the next challenge on the same flow page. The document the action was made on
    /// never counts, however complete it looks.
    async fn settle(&mut self, next: Next) -> Result<(), DriveError> {
        // What follows an action may be a chain of requests (a redirect to authentik, back to
        // ChatGPT, ChatGPT's own calls to authentik), each with its own deadline: the wait gives
        // up when nothing new has happened for a deadline (no new document or network event),
        // and in any case after `SETTLE_CAP` deadlines.
        let quiet = self.deadline();
        let started = Instant::now();
        let mut progress_at = started;
        let mut hops_seen = self.hops.len();
        let flow_prefix = self
            .env
            .authentik
            .join(ak_protocol::authentik::paths::FLOW_PAGES)
            .map(|u| u.to_string())
            .unwrap_or_default();
        let mut last = Value::Null;
        let mut failures = 0;
        let stages = stage_selector();
        while progress_at.elapsed() <= quiet && started.elapsed() <= quiet * SETTLE_CAP {
            let budget = quiet.saturating_sub(progress_at.elapsed()).min(PROGRESS_CHECK);
            let args = vec![
                json!(stages),
                json!(flow_prefix),
                json!(next == Next::DocumentOrChallenge),
                json!(budget.as_millis() as u64),
            ];
            // A navigation ends the script ("document unloaded"): not settled yet, not a failure.
            let looked = self.command("waiting for the page", self.client.execute_async(WAIT, args)).await;
            if let Some(stopped) = self.stopped_error().await {
                return Err(stopped);
            }
            match looked {
                Ok(look) if look["settled"] == Value::Bool(true) => {
                    if let Some(url) = look["url"].as_str().and_then(|u| Url::parse(u).ok()) {
                        self.drain().await;
                        if let Some((slow, took)) = self.too_slow.take() {
                            return Err(DriveError(format!(
                                "browser: {slow} answered after {took:.1} s, past the {:?} request deadline (timed out)",
                                self.deadline()
                            )));
                        }
                        self.position = match self.env.classify(&url) {
                            Some(HopKind::AuthentikFlow) => {
                                self.stages.extend(look["stage"]["component"].as_str().map(String::from));
                                if let Some(failed) = self.executor_failure(&look["stage"]) {
                                    return Err(failed);
                                }
                                flow_position(&url, &look["stage"])
                            }
                            _ => self.read_page(&url).await?,
                        };
                        return Ok(());
                    }
                }
                Ok(look) => last = look,
                Err(e) if self.is_wedged() => return Err(e),
                Err(_) => self.back_off(&mut failures).await,
            }
            self.drain().await;
            if self.hops.len() > hops_seen {
                hops_seen = self.hops.len();
                progress_at = Instant::now();
            }
        }
        self.drain().await;
        // Named without its query, as the request it waits on.
        let at = last["url"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .map(|u| without_query(&redact(&u)).to_string())
            .unwrap_or_else(|| "?".into());
        let what =
            if last["old"] == Value::Bool(true) { "did not change after the last action" } else { "did not settle" };
        let waited = started.elapsed().as_secs();
        // A page that waits on a request names it: that is what did not answer. The request is
        // stopped, so that the failure's screenshot and page do not wait on it too.
        if let Some(stalled) = self.stalled() {
            self.stop_navigation().await;
            return Err(DriveError(format!(
                "browser: {stalled} (timed out: nothing new for {quiet:?}, waited {waited} s in all); the page stayed at {at}"
            )));
        }
        Err(DriveError(format!(
            "browser: the page at {at} {what}: nothing new for {quiet:?} (waited {waited} s in all)"
        )))
    }

    /// What the page waits on, for a diagnosis: the request last sent (a document or the page's
    /// own call) that has not finished loading.
    fn stalled(&self) -> Option<String> {
        let last = self.requests.values().max_by(|a, b| a.started_ms.total_cmp(&b.started_ms))?;
        Some(if last.answered {
            format!("{} {} answered, but its body did not finish coming", last.method, last.url)
        } else {
            format!("{} {} did not answer", last.method, last.url)
        })
    }

    /// authentik's flow page shows "Response returned an error code" (`ak-stage-flow-error`)
    /// when its executor API failed: that is the server failing, not a stage refusing, and the
    /// diagnosis names the answer it got.
    fn executor_failure(&self, stage: &Value) -> Option<DriveError> {
        if stage["component"] != component::FLOW_ERROR {
            return None;
        }
        let hop = self.hops.iter().rev().find(|h| h.api && ak_protocol::authentik::paths::is_executor(&h.url))?;
        (hop.status >= 500).then(|| {
            DriveError(format!(
                "authentik's flow executor answered {}: the server failed, and the flow page shows its error stage ({} {})",
                hop.status, hop.method, hop.url
            ))
        })
    }

    async fn read_page(&self, url: &Url) -> Result<Position, DriveError> {
        let body = self.command("reading the page", self.client.source()).await?;
        Ok(Position::of_page(url, self.last_document_status, &body, self.env.is_chatgpt(url)))
    }

    /// Answers authentik's stages through the shadow roots until the browser leaves authentik or
    /// a stage these credentials cannot pass. A user with a passkey signs in with a virtual
    /// authenticator of the session's (see `drive::authenticator`), there for this sign-in only.
    pub async fn sign_in(&mut self, credentials: &Credentials<'_>) -> Result<(), DriveError> {
        let passkey = credentials.passkey.as_ref().filter(|_| credentials.code.is_none());
        let Some(file) = passkey else { return self.answer_stages(credentials, None).await };
        let added = self.command("adding a virtual authenticator", VirtualAuthenticator::add(&self.client)).await?;
        let signed_in = self.answer_stages(credentials, Some((file, &added))).await;
        let removed = self.command("removing the virtual authenticator", added.remove(&self.client)).await;
        signed_in.and(removed)
    }

    async fn answer_stages(
        &mut self,
        credentials: &Credentials<'_>,
        passkey: Option<(&std::path::Path, &VirtualAuthenticator)>,
    ) -> Result<(), DriveError> {
        for _ in 0..MAX_STAGES {
            let Position::Flow { stage, .. } = self.position.clone() else { return Ok(()) };
            let component = stage.component;
            if !stage.errors.is_empty() && component != component::IDENTIFICATION {
                return Ok(());
            }
            match component.as_str() {
                component::IDENTIFICATION if credentials.passkey_first => {
                    let Some((file, authenticator)) = passkey else {
                        self.refused = Some(super::passkey::not_offered(credentials.uid));
                        return Ok(());
                    };
                    self.passkey_first(file, authenticator, credentials.uid).await?;
                    if matches!(&self.position, Position::Flow { stage, .. } if stage.component == component) {
                        return Ok(());
                    }
                    continue;
                }
                component::IDENTIFICATION => {
                    self.submit(&component, "input[name=uidField]", credentials.uid, "identification").await?;
                }
                // After a passkey, a password or second factor asked is the flow's doing: left
                // for the scenario's expectations to name.
                component::PASSWORD | component::AUTHENTICATOR_VALIDATE if credentials.passkey_first => return Ok(()),
                component::PASSWORD => {
                    self.submit(&component, "input[name=password]", credentials.password, "password").await?;
                }
                component::AUTHENTICATOR_VALIDATE if passkey.is_some() => {
                    if let Some((file, authenticator)) = passkey {
                        self.answer_with_passkey(&component, file, authenticator, credentials.uid).await?;
                    }
                    // Refused: the page stays at the stage, which the scenario's next expectation
                    // names; the passkey is not offered again.
                    if matches!(&self.position, Position::Flow { stage, .. } if stage.component == component) {
                        return Ok(());
                    }
                    continue;
                }
                component::AUTHENTICATOR_VALIDATE if credentials.code.is_some() => {
                    let code = credentials.code.as_deref().unwrap_or_default();
                    self.screenshot_before_code(&component, RECOVERY).await?;
                    let turn = throttle::until_checked(credentials.uid, Code::Recovery, self.deadline()).await;
                    self.type_code(&component, RECOVERY, code).await?;
                    self.settle(Next::DocumentOrChallenge).await?;
                    self.record_code_answer(turn, credentials, Code::Recovery);
                    continue;
                }
                component::AUTHENTICATOR_VALIDATE => {
                    let Some(secret) = &credentials.totp else { return Ok(()) };
                    self.screenshot_before_code(&component, TOTP).await?;
                    let turn = throttle::until_checked(credentials.uid, Code::Totp, self.deadline()).await;
                    let totp = super::totp_code(self.env, secret).await;
                    self.type_code(&component, TOTP, &totp.code).await?;
                    // The turn is released once authentik has answered the code.
                    let settled = self.settle(Next::DocumentOrChallenge).await;
                    drop(totp.turn);
                    settled?;
                    self.record_code_answer(turn, credentials, Code::Totp);
                    continue;
                }
                component::CONSENT if credentials.consent == crate::scenario::Consent::Accept => {
                    self.stage_screenshot("consent").await;
                    self.act(Act { button: Some("[type=submit]"), stage: Some(&component), ..Act::default() }).await?;
                }
                _ => return Ok(()),
            }
            self.settle(Next::DocumentOrChallenge).await?;
        }
        Err(DriveError(format!("authentik asked for more than {MAX_STAGES} stages")))
    }

    /// With `--screenshots all`, the MFA stage's screenshot, taken before a code is typed (the
    /// code sits in a text field and must not reach a screenshot), once the device of class
    /// `device` is chosen.
    async fn screenshot_before_code(&mut self, stage: &str, device: &str) -> Result<(), DriveError> {
        if self.screenshots == Screenshots::All {
            self.act(Act { field: Some(CODE), stage: Some(stage), pick: Some(device), ..Act::default() }).await?;
            self.screenshot("authenticator").await;
        }
        Ok(())
    }

    /// Records authentik's answer to the code just typed (refused: the MFA stage shows an error)
    /// for the throttling it causes, and ends the user's turn.
    fn record_code_answer(&self, turn: throttle::Turn, credentials: &Credentials<'_>, code: Code) {
        let refused = matches!(&self.position, Position::Flow { stage, .. }
            if stage.component == component::AUTHENTICATOR_VALIDATE && !stage.errors.is_empty());
        throttle::answered(turn, credentials.uid, credentials.devices, code, !refused);
    }

    /// Types `code` in the MFA stage's code field of the device of class `device` (chosen in
    /// authentik's device picker when it shows one) and submits it.
    async fn type_code(&mut self, stage: &str, device: &str, code: &str) -> Result<(), DriveError> {
        let action = Act {
            field: Some(CODE),
            fill: Some(code),
            button: Some(SUBMIT),
            stage: Some(stage),
            fresh: false,
            pick: Some(device),
        };
        self.act(action).await
    }

    /// Answers the MFA stage's WebAuthn challenge as a person with the passkey does, without the
    /// races authentik's interface has with a passkey that is there from the start: on showing
    /// the challenge, the page asserts at once, and tells authentik which device it picked in a
    /// call of its own beside the assertion (two requests saving one flow state), and it asserts
    /// again on every new challenge, a refused one included (authentik 2026.2,
    /// `AuthenticatorValidateStageWebAuthn`). So the authenticator holds no credential when the
    /// stage shows: the page's first attempt ends at once with "no passkey" and offers "Retry
    /// authentication"; once authentik has answered the page's own calls, the passkey is imported
    /// under its lock and the button pressed, for one assertion over the challenge shown. The
    /// counter the authenticator reached is written back, then the credential removed, so that a
    /// refused assertion is not followed by the page's own retries.
    async fn answer_with_passkey(
        &mut self,
        stage: &str,
        file: &std::path::Path,
        authenticator: &VirtualAuthenticator,
        user: &str,
    ) -> Result<(), DriveError> {
        let chosen = Act { field: Some(RETRY_PASSKEY), stage: Some(stage), pick: Some(WEBAUTHN), ..Act::default() };
        self.act(chosen).await?;
        self.stage_screenshot("authenticator").await;
        self.until_executor_answered().await?;
        let (passkey, turn) = self.lend_passkey(file, authenticator, user).await?;
        let watch = self.client.execute_async(PASSKEY, vec![json!({"watch": true})]);
        let watched = self.command("watching the page's passkey request", watch).await?;
        if watched["insecure"] == Value::Bool(true) {
            return Err(self.insecure_page());
        }
        let pressed = self.act(Act { button: Some(RETRY_PASSKEY), stage: Some(stage), ..Act::default() }).await;
        let outcome = match pressed {
            Ok(()) => self.passkey_outcome(user, "after \"Retry authentication\" was pressed").await,
            Err(e) => Err(e),
        };
        let settled = self.after_passkey(outcome).await;
        // One more than read: after a refusal the page asserts on its own over the new challenge,
        // and it may have done so between the read and the removal.
        let returned = self.return_passkey(authenticator, file, passkey, turn, 1).await;
        settled.and(returned)
    }

    /// Signs in at the identification stage with the passkey as the first factor, as a person
    /// whose device holds it: authentik's page asks the browser for a passkey by conditional
    /// mediation (autofill) as soon as the stage shows, and the virtual authenticator, once it
    /// holds the passkey (resident, with its user handle), answers that request by itself; the
    /// page posts the assertion and the flow goes on. The counter is written back as in
    /// [`Self::answer_with_passkey`].
    async fn passkey_first(
        &mut self,
        file: &std::path::Path,
        authenticator: &VirtualAuthenticator,
        user: &str,
    ) -> Result<(), DriveError> {
        let look = self.client.execute_async(PASSKEY, vec![json!({"offered": true})]);
        let look = self.command("reading the identification stage", look).await?;
        if look["insecure"] == Value::Bool(true) {
            return Err(self.insecure_page());
        }
        if look["offered"] != Value::Bool(true) {
            self.refused = Some(super::passkey::not_offered(user));
            return Ok(());
        }
        self.stage_screenshot("identification").await;
        let (passkey, turn) = self.lend_passkey(file, authenticator, user).await?;
        // The page asked for a passkey as it showed, when the authenticator held none: it asks
        // again, and the authenticator answers, once the page is loaded anew. The hook records
        // how that request ends (a browser without DevTools goes on without it).
        let hooked = super::chrome::on_new_documents(&self.client, PASSKEY_HOOK);
        let hook = self.command("watching the page's passkey request", hooked).await.ok();
        let reloaded = self.command("reloading authentik's page", self.client.refresh()).await;
        let outcome = match (reloaded, &hook) {
            (Ok(()), Some(_)) => self.passkey_outcome(user, "as its identification stage showed").await,
            (Ok(()), None) => {
                let mark = self.client.execute_async(PASSKEY, vec![json!({"mark": true})]);
                self.command("marking authentik's page", mark).await.map(|_| None)
            }
            (Err(e), _) => Err(e),
        };
        let settled = self.after_passkey(outcome).await;
        if let Some(hook) = hook {
            let unhooked = super::chrome::off_new_documents(&self.client, hook);
            let _ = self.command("no longer watching new pages", unhooked).await;
        }
        let returned = self.return_passkey(authenticator, file, passkey, turn, 0).await;
        settled.and(returned)
    }

    /// Lends `user`'s passkey in `file` to the browser's authenticator: taken under its lock (the
    /// turn goes with [`Self::return_passkey`]), its RP ID checked, imported.
    async fn lend_passkey(
        &self,
        file: &std::path::Path,
        authenticator: &VirtualAuthenticator,
        user: &str,
    ) -> Result<(ak_protocol::webauthn::Passkey, super::lock::Turn), DriveError> {
        let (passkey, turn) = super::passkey::take(file, user, self.deadline()).await?;
        if let Some(why) = super::authenticator::unusable_rp_id(&passkey.rp_id) {
            return Err(DriveError(format!("browser: `{user}`'s passkey in {} cannot sign in: {why}", file.display())));
        }
        self.command("importing the passkey", authenticator.import(&self.client, &passkey)).await?;
        Ok((passkey, turn))
    }

    /// Goes on from how the page's request for the passkey ended ([`Self::passkey_outcome`]):
    /// given, the browser settles where the flow went; refused by the browser, the sign-in stops
    /// with it (`Seen::refused`).
    async fn after_passkey(&mut self, outcome: Result<Option<String>, DriveError>) -> Result<(), DriveError> {
        match outcome {
            Ok(None) => self.settle(Next::DocumentOrChallenge).await,
            Ok(refused) => {
                self.refused = refused;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the passkey back from the authenticator after a sign-in: the counter it reached is
    /// read, the credential removed, and the counter written to the file, `spare` more than read
    /// for assertions the page may have made after the read; `spare + 1` more than before when it
    /// could not be read. A counter may skip, never repeat. The lock (`turn`) goes last.
    async fn return_passkey(
        &self,
        authenticator: &VirtualAuthenticator,
        file: &std::path::Path,
        passkey: ak_protocol::webauthn::Passkey,
        turn: super::lock::Turn,
        spare: u32,
    ) -> Result<(), DriveError> {
        let count = self
            .command("reading the passkey's counter", authenticator.sign_count(&self.client, &passkey.credential_id));
        let count = count.await;
        let forgot = self.command("removing the passkey", authenticator.forget(&self.client)).await;
        let reached = match &count {
            Ok(Some(count)) => (*count > passkey.sign_count).then(|| count.saturating_add(spare)),
            Ok(None) | Err(_) => Some(passkey.sign_count.saturating_add(spare + 1)),
        };
        if let Some(reached) = reached {
            let raised = ak_protocol::webauthn::Passkey { sign_count: reached, ..passkey };
            super::passkey::write(file, &raised).map_err(DriveError)?;
        }
        drop(turn);
        count.map(drop).and(forgot)
    }

    /// The error for a page of authentik that has no WebAuthn, not being a secure context.
    fn insecure_page(&self) -> DriveError {
        let page = self.env.authentik.origin().ascii_serialization();
        DriveError(format!(
            "browser: authentik's page at {page} is not a secure context, so it has no WebAuthn: reach authentik over \
             https, or at http://localhost (the browser of a remote WebDriver may not take the switch that trusts \
             {page})"
        ))
    }

    /// How the page's request for the passkey ended, in the browser (see [`PASSKEY`]): an
    /// assertion made goes on to authentik (none); a refusal by the browser (an RP ID that does
    /// not fit the page, say) is named here, as authentik never hears of it.
    async fn passkey_outcome(&mut self, user: &str, when: &str) -> Result<Option<String>, DriveError> {
        let wait = self.client.execute_async(PASSKEY, vec![json!({"budget": self.deadline().as_millis() as u64})]);
        // The page leaving (the assertion posted, the flow gone on) ends the script: it signed.
        let Ok(seen) = self.command("waiting for the passkey", wait).await else { return Ok(None) };
        let page = self.env.authentik.origin().ascii_serialization();
        let rp_id = seen["rpId"].as_str().unwrap_or("?");
        match seen["state"].as_str().unwrap_or_default() {
            "signed" | "left" => Ok(None),
            "refused" => {
                // Its name, and its first sentence where the RP ID is not the cause.
                let error = seen["error"].as_str().unwrap_or("?");
                let (name, text) = error.split_once(": ").unwrap_or((error, ""));
                let why = super::authenticator::misfit(rp_id, &self.env.authentik).unwrap_or_else(|| {
                    let first = text.split_inclusive(". ").next().unwrap_or(text).trim_end();
                    format!("RP ID `{rp_id}` on a page at {page}: {first}")
                });
                Ok(Some(format!(
                    "browser: Chromium refused authentik's request for `{user}`'s passkey ({name}): {why}"
                )))
            }
            "pending" => Err(DriveError(format!(
                "browser: the virtual authenticator did not answer authentik's request for `{user}`'s passkey within {:?} (timed out)",
                self.deadline()
            ))),
            _ => Err(DriveError(format!(
                "browser: authentik's page did not ask the browser for `{user}`'s passkey {when}"
            ))),
        }
    }

    /// Waits until authentik has answered the calls the flow page made to its executor on its own
    /// (reading the network log; each look is one round trip), within a deadline.
    async fn until_executor_answered(&mut self) -> Result<(), DriveError> {
        let started = Instant::now();
        loop {
            self.drain().await;
            let pending = self
                .requests
                .values()
                .find(|r| !r.answered && ak_protocol::authentik::paths::is_executor(&r.url))
                .map(|r| format!("{} {}", r.method, r.url));
            match pending {
                None => return Ok(()),
                Some(request) if started.elapsed() > self.deadline() => {
                    return Err(DriveError(format!(
                        "browser: {request}, sent by authentik's flow page on its own, did not answer within {:?} (timed out)",
                        self.deadline()
                    )));
                }
                Some(_) => {}
            }
        }
    }

    /// Fills a stage's `field` with `text` and clicks its submit button, in one round trip; with
    /// `--screenshots all`, the stage's screenshot `shot` is taken in between.
    async fn submit(&mut self, stage: &str, field: &str, text: &str, shot: &str) -> Result<(), DriveError> {
        let mut action =
            Act { field: Some(field), fill: Some(text), button: Some(SUBMIT), stage: Some(stage), ..Act::default() };
        if self.screenshots == Screenshots::All {
            self.act(Act { button: None, ..action }).await?;
            self.screenshot(shot).await;
            action.field = None;
        }
        self.act(action).await
    }

    /// A screenshot of a stage or step, with `--screenshots all` only: a screenshot costs a
    /// round trip and 50-150 ms of the browser's time, and passing runs do not need them.
    pub async fn stage_screenshot(&mut self, name: &str) -> Option<PathBuf> {
        if self.screenshots != Screenshots::All {
            return None;
        }
        self.screenshot(name).await
    }

    /// A screenshot named after what is on screen; returns its path.
    async fn screenshot(&mut self, name: &str) -> Option<PathBuf> {
        // A code typed (a recovery code authentik refused is still good) never reaches a picture.
        self.artifact_command(self.client.execute(SCRUB_CODES, vec![])).await?;
        let png = self.artifact_command(self.client.screenshot()).await?;
        let path = self.artifacts.make().ok()?.join(format!("{:02}-{name}.png", self.written.len() + 1));
        crate::files::write_new(&path, &png).ok()?;
        self.written.push(path.clone());
        Some(path)
    }

    /// A screenshot named `label`, the page with its shadow roots (`<label>.html`), and the
    /// browser console (`console.log`): on failure, and at the end of a traced run.
    pub async fn page_artifacts(&mut self, label: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(dir) = self.artifacts.make() else { return out };
        if let Some(shot) = self.screenshot(label).await {
            out.push(shot);
        }
        if let Some(Value::String(html)) = self.artifact_command(self.client.execute(SERIALIZE, vec![])).await {
            let path = dir.join(format!("{label}.html"));
            if crate::files::write_new(&path, self.redactor.apply_page(&html).as_bytes()).is_ok() {
                self.written.push(path.clone());
                out.push(path);
            }
        }
        let console: Vec<String> = self
            .artifact_command(read_log(&self.client, "browser"))
            .await
            .unwrap_or_default()
            .iter()
            .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or_default()))
            .collect();
        let path = dir.join("console.log");
        if crate::files::write_new(&path, self.redactor.apply(&console.join("\n")).as_bytes()).is_ok() {
            self.written.push(path.clone());
            out.push(path);
        }
        out
    }

    /// Where artifacts of this session go.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.artifacts.path()
    }
}

/// A URL as a diagnosis names it: without its query (the state, nonce and challenge say
/// nothing of what did not answer).
fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The position on a flow page, from a [`WAIT`]'s stage.
fn flow_position(url: &Url, stage: &Value) -> Position {
    let slug = url.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
    let shown = Stage {
        component: stage["component"].as_str().unwrap_or_default().to_string(),
        errors: stage["errors"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(String::from)).collect(),
    };
    Position::Flow { slug, query: url.query().unwrap_or_default().to_string(), stage: shown }
}

/// The part of a login's time a WebDriver command counts towards, by what it does.
fn command_part(action: &str) -> &'static str {
    match action {
        "waiting for the page" => "browser: waiting in the page for what comes next",
        "acting in the page" => "browser: finding, filling and clicking in the page",
        "reading the network log" => "browser: reading the network log",
        "reading the page" => "browser: reading the page",
        _ => "browser: opening pages",
    }
}
