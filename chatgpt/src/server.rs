//! The mock ChatGPT's HTTP server: routes, the state between redirect and callback, sessions and
//! the attempt record.

use ak_protocol::http::request_cookie as cookie;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use url::Url;

use crate::config::Config;
use crate::oidc;
use crate::pages;
use crate::provider::{self, Pending};
use crate::record::{Attempt, ErrorCode, Failure, Mode, Profile, Verdict};
use ak_protocol::jose::random_token;
use ak_protocol::serve::Serving;

const STATE_COOKIE: &str = "chatgpt_sso_state";
const SESSION_COOKIE: &str = "chatgpt_session";
/// Longest query string accepted; longer ones get a 414 error page.
const MAX_QUERY: usize = 8 * 1024;
/// Attempts kept in memory; older ones are dropped first.
const MAX_ATTEMPTS: usize = 1000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address it could not bind.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A running mock ChatGPT. Dropping it stops the server.
#[derive(Debug)]
pub struct MockChatGpt {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    serving: Serving,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    public_url: Url,
    redirect_uri: String,
    http: provider::HttpClient,
    store: Mutex<Store>,
}

#[derive(Debug, Default)]
struct Store {
    next_id: u64,
    attempts: Vec<Attempt>,
    pending: HashMap<String, Pending>,
    consumed: HashSet<String>,
    sessions: HashMap<String, Profile>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-written in a way that
        // matters to a mock; keep serving.
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn new_attempt(&self, mode: Mode) -> Attempt {
        let mut store = self.store();
        store.next_id += 1;
        Attempt::new(store.next_id, mode, self.config.discovery_url.to_string())
    }

    fn save(&self, attempt: Attempt) {
        let mut store = self.store();
        match store.attempts.iter_mut().find(|a| a.id == attempt.id) {
            Some(slot) => *slot = attempt,
            None => {
                if store.attempts.len() >= MAX_ATTEMPTS {
                    store.attempts.remove(0);
                }
                store.attempts.push(attempt);
            }
        }
    }

    fn attempt(&self, id: u64) -> Option<Attempt> {
        self.store().attempts.iter().find(|a| a.id == id).cloned()
    }
}

impl MockChatGpt {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`. The public URL is the configured one, or `http://<bound address>/`.
    pub async fn start_on(config: Config, addr: SocketAddr) -> Result<Self, StartError> {
        config.validate()?;
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Self::start_on_listener(config, listener).await
    }

    /// Starts on a bound `listener` (its port known before, for a public URL that names it).
    pub async fn start_on_listener(config: Config, listener: TcpListener) -> Result<Self, StartError> {
        config.validate()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        let public_url = ak_protocol::serve::public_url(config.public_url.clone(), local_addr);
        let redirect_uri = format!("{public_url}sso/oidc/{}/callback", config.connection_id);
        let shared = Arc::new(Shared {
            http: provider::http_client(config.http_timeout),
            config,
            public_url,
            redirect_uri,
            store: Mutex::new(Store::default()),
        });
        let serving = Serving::spawn(listener, router(shared.clone()));
        Ok(Self { shared, local_addr, serving })
    }

    /// The URL browsers use, with a trailing slash.
    pub fn url(&self) -> &Url {
        &self.shared.public_url
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The Login redirect URI to register at the identity provider.
    pub fn redirect_uri(&self) -> &str {
        &self.shared.redirect_uri
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The identity provider's discovery document as this relying party fetched and cached it,
    /// if it has (no request is made).
    pub fn discovery_document(&self) -> Option<serde_json::Value> {
        self.shared.http.cached(self.shared.config.discovery_url.as_str()).map(serde_json::Value::Object)
    }

    /// Every attempt so far, oldest first.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.store().attempts.clone()
    }

    /// The newest attempt that `matches`, the only one copied out of the record. `matches` runs
    /// with the record locked, so it must not call back into this relying party.
    pub fn find_attempt(&self, matches: impl Fn(&Attempt) -> bool) -> Option<Attempt> {
        self.shared.store().attempts.iter().rev().find(|a| matches(a)).cloned()
    }

    /// The newest attempt.
    pub fn latest_attempt(&self) -> Option<Attempt> {
        self.shared.store().attempts.last().cloned()
    }

    /// Forgets attempts, pending logins and sessions.
    pub fn reset(&self) {
        *self.shared.store() = Store::default();
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.serving.shutdown().await;
    }

    /// ChatGPT's "Log in" page.
    pub fn login_url(&self) -> Url {
        self.shared.public_url.join("auth/login").unwrap_or_else(|_| self.shared.public_url.clone())
    }

    /// The direct sign-in link: `/auth/login?sso=true&connection=<id>`.
    pub fn direct_link(&self) -> Url {
        direct_link(&self.shared)
    }
}

fn direct_link(shared: &Shared) -> Url {
    let mut url = shared.public_url.join("auth/login").unwrap_or_else(|_| shared.public_url.clone());
    url.query_pairs_mut().append_pair("sso", "true").append_pair("connection", &shared.config.connection_id);
    url
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/auth/login", get(login_page).post(login_submit))
        .route("/auth/login/lookup", get(login_lookup))
        .route("/sso/oidc/{connection}/callback", get(callback))
        .route("/admin/identity", get(admin_identity))
        .route("/admin/identity/test", get(admin_test).post(admin_test))
        .route("/logout", get(logout))
        .route("/_mock/attempts", get(attempts_json))
        .route("/_mock/attempts/latest", get(latest_json))
        .route("/_mock/attempts/{id}", get(attempt_json))
        .route("/_mock/reset", post(reset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(limit_query))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(shared)
}

/// The state every handler takes.
type AppState = State<Arc<Shared>>;

fn html(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

fn error_page(failure: &Failure, attempt_id: Option<u64>) -> Response {
    html(failure.code.status(), pages::error(failure, attempt_id))
}

fn bad_request(status: u16, detail: &str) -> Response {
    html(status, pages::error(&Failure::new(ErrorCode::BadRequest, detail), None))
}

async fn limit_query(request: Request, next: Next) -> Response {
    let too_long = request.uri().query().is_some_and(|q| q.len() > MAX_QUERY);
    if too_long {
        return bad_request(414, &format!("the query string is longer than {MAX_QUERY} bytes"));
    }
    next.run(request).await
}

async fn not_found() -> Response {
    bad_request(404, "no such page")
}

async fn method_not_allowed() -> Response {
    bad_request(405, "this page does not accept that HTTP method")
}

fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

async fn home(State(shared): AppState, headers: HeaderMap) -> Response {
    let profile = cookie(&headers, SESSION_COOKIE).and_then(|id| shared.store().sessions.get(id).cloned());
    match profile {
        Some(profile) => html(200, pages::conversation(&profile)),
        None => html(200, pages::logged_out()),
    }
}

async fn login_page(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let query = query_map(query.as_deref());
    if query.get("sso").map(String::as_str) != Some("true") {
        return html(200, pages::login_form());
    }
    let connection = query.get("connection").cloned().unwrap_or_default();
    if connection != shared.config.connection_id {
        let mut attempt = shared.new_attempt(Mode::DirectLink);
        let failure = attempt.fail(
            "connection",
            Failure::new(
                ErrorCode::UnknownConnection,
                format!("connection `{connection}` is not this workspace's (`{}`)", shared.config.connection_id),
            ),
        );
        attempt.finish_failure(failure.clone());
        let id = attempt.id;
        shared.save(attempt);
        return error_page(&failure, Some(id));
    }
    start(&shared, Mode::DirectLink, None).await
}

async fn login_submit(State(shared): AppState, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let email = form.get("email").map(|e| e.trim().to_string()).unwrap_or_default();
    if email.is_empty() || !email.contains('@') {
        return bad_request(400, "enter an email address");
    }
    start(&shared, Mode::Login, Some(email)).await
}

/// What the login page's script asks before it posts the form: whether the email's domain
/// signs in through SSO and the connection's identity provider answers (its discovery
/// document). Not an attempt: the record shows only what the form post starts.
async fn login_lookup(State(shared): AppState, RawQuery(query): RawQuery) -> Response {
    let email = query_map(query.as_deref()).get("email").cloned().unwrap_or_default();
    let mut scratch = Attempt::new(0, Mode::Login, shared.config.discovery_url.to_string());
    let sso = shared.config.domain_verified(email.trim())
        && oidc::discover(&shared.http, &shared.config, &mut scratch).await.is_ok();
    let mut response = serde_json::json!({ "sso": sso }).to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn admin_identity(State(shared): AppState) -> Response {
    html(200, pages::admin_identity(&shared.config, &shared.redirect_uri, direct_link(&shared).as_str()))
}

async fn admin_test(State(shared): AppState) -> Response {
    start(&shared, Mode::AdminTest, None).await
}

async fn logout(State(shared): AppState, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        shared.store().sessions.remove(id);
    }
    let mut response = redirect("/");
    set_cookie(&mut response, format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
    response
}

/// Starts an attempt: domain check (email logins), discovery, then the redirect to authorize.
async fn start(shared: &Shared, mode: Mode, email: Option<String>) -> Response {
    let mut attempt = shared.new_attempt(mode);
    attempt.email = email.clone();
    if let Some(email) = &email {
        if !shared.config.domain_verified(email) {
            let failure = attempt.fail(
                "login.email_domain",
                Failure::new(
                    ErrorCode::EmailDomainNotVerified,
                    format!(
                        "`{email}` is outside the verified domains {:?}; no SSO redirect",
                        shared.config.verified_domains
                    ),
                ),
            );
            return finish_failure(shared, attempt, failure);
        }
        attempt.pass("login.email_domain", format!("`{email}` is in a verified domain"));
    }
    let discovery = match oidc::discover(&shared.http, &shared.config, &mut attempt).await {
        Ok(d) => d,
        Err(failure) => return finish_failure(shared, attempt, failure),
    };
    let state = random_token(24);
    let pending = Pending {
        attempt_id: attempt.id,
        nonce: random_token(24),
        pkce_verifier: shared.config.pkce.then(|| random_token(48)),
        discovery,
    };
    let url = oidc::authorize_url(&shared.config, &pending.discovery, &shared.redirect_uri, &state, &pending);
    attempt.authorize_url = Some(url.to_string());
    attempt.state = Some(state.clone());
    shared.store().pending.insert(state.clone(), pending);
    shared.save(attempt);
    let mut response = redirect(url.as_str());
    set_cookie(&mut response, format!("{STATE_COOKIE}={state}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"));
    response
}

fn finish_failure(shared: &Shared, mut attempt: Attempt, failure: Failure) -> Response {
    attempt.finish_failure(failure.clone());
    let (id, mode) = (attempt.id, attempt.mode);
    shared.save(attempt);
    if mode == Mode::AdminTest {
        html(failure.code.status(), pages::test_failure(&failure, id))
    } else {
        error_page(&failure, Some(id))
    }
}

async fn callback(
    State(shared): AppState,
    Path(connection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_map(raw.as_deref());
    let recorded: Map<String, Value> =
        query.iter().map(|(k, v)| (k.clone(), if k == "code" { json!("[redacted]") } else { json!(v) })).collect();

    // Find the attempt this callback belongs to; every failure before that is recorded as an
    // unsolicited callback so that nothing reaching the callback goes unrecorded.
    let located = locate(&shared, &connection, &query, &headers);
    let (mut attempt, pending) = match located {
        Ok((attempt, pending)) => (attempt, pending),
        Err(failure) => {
            let mut attempt = shared.new_attempt(Mode::UnsolicitedCallback);
            attempt.callback_query = Some(recorded);
            let failure = attempt.fail("callback.state", failure);
            return finish_failure(&shared, attempt, failure);
        }
    };
    attempt.callback_query = Some(recorded);
    attempt.pass("callback.state", "state matches the one this browser was sent with");

    if let Some(error) = query.get("error") {
        let description = query.get("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        let failure = attempt.fail(
            "callback.error",
            Failure::new(ErrorCode::IdpError, format!("the identity provider answered error `{error}`{description}")),
        );
        return finish_failure(&shared, attempt, failure);
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        let failure = attempt.fail("callback.code", Failure::new(ErrorCode::CodeMissing, "the callback has no `code`"));
        return finish_failure(&shared, attempt, failure);
    };
    attempt.pass("callback.code", "the callback carries a code");

    match oidc::complete(&shared.http, &shared.config, &pending, &shared.redirect_uri, code, &mut attempt).await {
        Err(failure) => finish_failure(&shared, attempt, failure),
        Ok(profile) => {
            attempt.verdict = Verdict::Success;
            attempt.profile = Some(profile.clone());
            let mode = attempt.mode;
            shared.save(attempt.clone());
            let mut response = if mode == Mode::AdminTest {
                html(200, pages::test_success(&attempt, &profile))
            } else {
                let session = random_token(24);
                shared.store().sessions.insert(session.clone(), profile);
                let mut response = redirect("/");
                set_cookie(&mut response, format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"));
                response
            };
            set_cookie(&mut response, format!("{STATE_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
            response
        }
    }
}

/// Matches a callback to its pending attempt: state present, not replayed, bound to this browser.
fn locate(
    shared: &Shared,
    connection: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Attempt, Pending), Failure> {
    if connection != shared.config.connection_id {
        return Err(Failure::new(
            ErrorCode::UnknownConnection,
            format!("callback for connection `{connection}`; this workspace's is `{}`", shared.config.connection_id),
        ));
    }
    let Some(state) = query.get("state").filter(|s| !s.is_empty()) else {
        return Err(Failure::new(ErrorCode::StateMissing, "the callback has no `state` parameter"));
    };
    let mut store = shared.store();
    if store.consumed.contains(state) {
        return Err(Failure::new(ErrorCode::StateReplayed, "this state was already used by an earlier callback"));
    }
    match cookie(headers, STATE_COOKIE) {
        None => {
            return Err(Failure::new(
                ErrorCode::StateMismatch,
                "this browser has no sign-in in progress (no state cookie); the callback was not started here",
            ));
        }
        Some(bound) if bound != state => {
            return Err(Failure::new(
                ErrorCode::StateMismatch,
                "the callback's state is not the one this browser was sent with",
            ));
        }
        Some(_) => {}
    }
    let Some(pending) = store.pending.remove(state) else {
        return Err(Failure::new(ErrorCode::StateMismatch, "the callback's state is unknown to the workspace"));
    };
    store.consumed.insert(state.clone());
    let attempt = store.attempts.iter().find(|a| a.id == pending.attempt_id).cloned();
    drop(store);
    let attempt = attempt.unwrap_or_else(|| shared.new_attempt(Mode::UnsolicitedCallback));
    Ok((attempt, pending))
}

async fn attempts_json(State(shared): AppState) -> Response {
    axum::Json(shared.store().attempts.clone()).into_response()
}

async fn latest_json(State(shared): AppState) -> Response {
    match shared.store().attempts.last().cloned() {
        Some(attempt) => axum::Json(attempt).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no attempts yet"}))).into_response(),
    }
}

async fn attempt_json(State(shared): AppState, Path(id): Path<String>) -> Response {
    match id.parse::<u64>().ok().and_then(|id| shared.attempt(id)) {
        Some(attempt) => axum::Json(attempt).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"error": format!("no attempt `{id}`")}))).into_response(),
    }
}

async fn reset(State(shared): AppState) -> Response {
    *shared.store() = Store::default();
    StatusCode::NO_CONTENT.into_response()
}
