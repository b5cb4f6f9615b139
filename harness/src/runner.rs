//! Runs a plan: each scenario under each driver, step by step, checking expectations against
//! what the driver recorded. The first failing step stops its scenario; the rest are skipped.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use url::Url;

use crate::driver::api::{ApiDriver, Credentials, DriveError};
use crate::driver::browser::BrowserDriver;
use crate::driver::chrome::BrowserHost;
use crate::driver::{Position, chatgpt_error, flow_errors};
use crate::hints;
use crate::plan::{Plan, Planned};
use crate::report::Redactor;
use crate::result::Hop;
use crate::result::{Assertion, RunReport, ScenarioResult, Status, StepResult, StepStatus, Summary};
use crate::scenario::DriverKind;
use crate::scenario::{AuthentikExpectation, ClaimSource, HopKind, Landing, Matcher, NamedMatcher, StepKind};
use crate::target::Environment;

/// Receives progress, one scenario at a time (the console reporter).
pub trait Progress {
    /// A scenario is about to run.
    fn started(&mut self, index: usize, total: usize, run: &Planned);
    /// It finished.
    fn finished(&mut self, index: usize, total: usize, result: &ScenarioResult);
}

/// Either driver, behind one set of operations.
enum Driver<'e> {
    Api(ApiDriver<'e>),
    Browser(BrowserDriver<'e>),
}

impl Driver<'_> {
    fn position(&self) -> &Position {
        match self {
            Driver::Api(d) => &d.position,
            Driver::Browser(d) => &d.position,
        }
    }

    fn hops(&self) -> &[Hop] {
        match self {
            Driver::Api(d) => &d.hops,
            Driver::Browser(d) => &d.hops,
        }
    }

    fn workspace(&self) -> Option<&crate::target::Workspace> {
        match self {
            Driver::Api(d) => Some(d.workspace()),
            Driver::Browser(d) => Some(d.workspace()),
        }
    }

    fn classify(&self, url: &Url) -> Option<HopKind> {
        match self {
            Driver::Api(d) => d.classify(url),
            Driver::Browser(d) => d.classify(url),
        }
    }

    async fn start_login(&mut self, email: Option<&str>) -> Result<(), DriveError> {
        match self {
            Driver::Api(d) => d.start_login(email).await,
            Driver::Browser(d) => d.start_login(email).await,
        }
    }

    async fn sign_in(&mut self, credentials: &Credentials<'_>) -> Result<(), DriveError> {
        match self {
            Driver::Api(d) => d.sign_in(credentials).await,
            Driver::Browser(d) => d.sign_in(credentials).await,
        }
    }

    async fn attempt(&mut self) -> Result<Option<Value>, DriveError> {
        match self {
            Driver::Api(d) => d.attempt().await,
            Driver::Browser(d) => d.attempt().await,
        }
    }
}

/// What a run needs besides the plan: the target, browsers (when a scenario uses them), where
/// artifacts go, and the redactor they pass through.
pub struct Context<'a> {
    /// The started target.
    pub env: &'a Environment,
    /// Chromium, for browser runs.
    pub browsers: Option<&'a BrowserHost>,
    /// Screenshots and page dumps go below this folder.
    pub artifacts: std::path::PathBuf,
    /// Applied to every artifact's text.
    pub redactor: Redactor,
    /// Panic once a browser session is open (tests that a panic leaves no process behind).
    pub panic_after_browser_start: bool,
    /// Record snapshots instead of comparing them (`AK_E2E_UPDATE_SNAPSHOTS`).
    pub update_snapshots: bool,
    /// A browser session kept between scenarios (its cookies and storage cleared), for speed.
    pub idle_browser: tokio::sync::Mutex<Option<fantoccini::Client>>,
}

impl Context<'_> {
    /// Closes the kept browser session.
    pub async fn close(&self) {
        if let Some(client) = self.idle_browser.lock().await.take() {
            let _ = client.close().await;
        }
    }
}

/// Runs every planned scenario against a started environment.
pub async fn run(plan: &Plan, ctx: &Context<'_>, progress: &mut dyn Progress) -> RunReport {
    let started = Instant::now();
    let started_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut results = Vec::new();
    let total = plan.runs.len();
    for (index, planned) in plan.runs.iter().enumerate() {
        progress.started(index, total, planned);
        let result = run_one(plan, ctx, index, planned).await;
        progress.finished(index, total, &result);
        results.push(result);
    }
    let mut summary = Summary::default();
    for r in &results {
        match r.status {
            Status::Passed => summary.passed += 1,
            Status::Failed => summary.failed += 1,
            Status::Errored => summary.errored += 1,
            Status::ExpectedFailure => summary.expected_failures += 1,
            Status::UnexpectedPass => summary.unexpected_passes += 1,
        }
    }
    let target = match &plan.settings.target {
        crate::config::Target::Embedded => "embedded".to_string(),
        crate::config::Target::Url(u) => u.to_string(),
    };
    RunReport { target, started_at, duration_ms: started.elapsed().as_millis() as u64, scenarios: results, summary }
}

async fn new_driver<'e>(ctx: &Context<'e>, index: usize, planned: &Planned) -> Result<Driver<'e>, DriveError> {
    let ws = workspace(ctx.env, planned)?;
    match planned.driver {
        DriverKind::Api => Ok(Driver::Api(ApiDriver::new(ctx.env, ws)?)),
        DriverKind::Browser => {
            let host = ctx.browsers.ok_or_else(|| DriveError("no browser was started for this run".into()))?;
            let reused = ctx.idle_browser.lock().await.take();
            let client = match reused {
                Some(client) => {
                    // Whatever the reset left in the performance log is not this scenario's.
                    crate::driver::chrome::read_log(&client, "performance").await;
                    client
                }
                None => host.session().await?,
            };
            if ctx.panic_after_browser_start {
                panic!("AK_E2E_TEST_PANIC_AFTER_BROWSER_START is set: panicking with a browser open");
            }
            let stem = planned.scenario.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let dir = ctx.artifacts.join(format!("{:02}-{stem}-browser", index + 1));
            Ok(Driver::Browser(BrowserDriver::new(ctx.env, ws, client, dir, ctx.redactor.clone())?))
        }
    }
}

fn workspace<'e>(env: &'e Environment, planned: &Planned) -> Result<&'e crate::target::Workspace, DriveError> {
    let name = &planned.scenario.application;
    env.workspace(name).ok_or_else(|| DriveError(format!("no application `{name}` in the configuration")))
}

async fn run_one(plan: &Plan, ctx: &Context<'_>, index: usize, planned: &Planned) -> ScenarioResult {
    let scenario = &planned.scenario;
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut hops = Vec::new();
    let mut artifacts = Vec::new();
    let mut claims = None;
    match new_driver(ctx, index, planned).await {
        Err(e) => {
            steps.extend(scenario.steps.iter().map(|s| StepResult {
                name: s.name.clone(),
                span: s.span.clone(),
                status: StepStatus::Errored,
                assertions: Vec::new(),
                error: Some(e.to_string()),
                hint: None,
                duration_ms: 0,
            }));
        }
        Ok(mut driver) => {
            let mut cursor = 0;
            let mut stopped = false;
            for step in &scenario.steps {
                if stopped {
                    steps.push(StepResult {
                        name: step.name.clone(),
                        span: step.span.clone(),
                        status: StepStatus::Skipped,
                        assertions: Vec::new(),
                        error: None,
                        hint: None,
                        duration_ms: 0,
                    });
                    continue;
                }
                let t = Instant::now();
                let mut result = StepResult {
                    name: step.name.clone(),
                    span: step.span.clone(),
                    status: StepStatus::Passed,
                    assertions: Vec::new(),
                    error: None,
                    hint: None,
                    duration_ms: 0,
                };
                let outcome =
                    execute(plan, ctx, &scenario.file, &mut driver, &step.kind, &mut cursor, &mut result).await;
                match outcome {
                    Err(e) => {
                        result.status = StepStatus::Errored;
                        result.error = Some(e.to_string());
                    }
                    Ok(()) if result.assertions.iter().any(|a| !a.passed) || result.error.is_some() => {
                        result.status = StepStatus::Failed;
                    }
                    Ok(()) => {}
                }
                if let Driver::Browser(b) = &mut driver
                    && matches!(
                        step.kind,
                        StepKind::StartLogin { .. } | StepKind::SignIn { .. } | StepKind::ExpectLanding(_)
                    )
                {
                    b.screenshot(&step.name).await;
                }
                if result.status != StepStatus::Passed {
                    stopped = true;
                    if result.hint.is_none() {
                        result.hint = hint_for(driver.position());
                    }
                    if let Driver::Browser(b) = &mut driver {
                        b.failure_artifacts().await;
                    }
                }
                result.duration_ms = t.elapsed().as_millis() as u64;
                steps.push(result);
            }
            if let Ok(Some(attempt)) = driver.attempt().await {
                claims = Some(serde_json::json!({
                    "id_token": attempt["id_token_claims"],
                    "userinfo": attempt["userinfo"],
                    "chatgpt_verdict": attempt["verdict"],
                    "chatgpt_error": attempt["error"],
                }));
            }
            hops = driver.hops().to_vec();
            if let Driver::Browser(b) = driver {
                artifacts = b.written.iter().map(|p| p.display().to_string()).collect();
                let client = b.into_client();
                // Reuse the session when its cookies and storage can be cleared (Chrome
                // DevTools); otherwise close it and start the next scenario afresh.
                if crate::driver::chrome::reset_session(&client).await {
                    if let Some(old) = ctx.idle_browser.lock().await.replace(client) {
                        let _ = old.close().await;
                    }
                } else {
                    let _ = client.close().await;
                }
            }
        }
    }
    let first_bad = steps.iter().find(|s| matches!(s.status, StepStatus::Failed | StepStatus::Errored));
    let diagnosis = first_bad.and_then(|s| s.diagnosis());
    let errored = first_bad.is_some_and(|s| s.status == StepStatus::Errored);
    let status = match (&scenario.expect_failure, first_bad, errored) {
        (_, Some(_), true) => Status::Errored,
        (None, None, _) => Status::Passed,
        (None, Some(_), _) => Status::Failed,
        (Some(_), None, _) => Status::UnexpectedPass,
        (Some(expected), Some(_), _) => {
            if diagnosis.as_deref().is_some_and(|d| d.contains(&expected.diagnosis_contains)) {
                Status::ExpectedFailure
            } else {
                Status::Failed
            }
        }
    };
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        driver: planned.driver,
        tags: scenario.tags.clone(),
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        expected_failure: scenario.expect_failure.as_ref().map(|e| e.reason.clone()),
        diagnosis,
        steps,
        hops,
        artifacts,
        claims,
    }
}

fn hint_for(position: &Position) -> Option<String> {
    match position {
        Position::Chatgpt { body, .. } => {
            chatgpt_error(body).and_then(|(code, _)| hints::for_chatgpt_code(&code)).map(String::from)
        }
        Position::AuthentikPage { title, .. } => hints::for_authentik_page(title).map(String::from),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    plan: &Plan,
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    driver: &mut Driver<'_>,
    kind: &StepKind,
    cursor: &mut usize,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let env = ctx.env;
    let vars = &match driver.workspace() {
        Some(ws) => env.vars_for(ws),
        None => Default::default(),
    };
    match kind {
        StepKind::StartLogin { email } => {
            let email = email.as_ref().map(|t| t.render(vars));
            driver.start_login(email.as_deref()).await
        }
        StepKind::SignIn { user, password, consent } => {
            let Some(fixture) = plan.settings.users.get(user) else {
                return Err(DriveError(format!("unknown user `{user}`")));
            };
            let real = plan.secrets.get(&fixture.password.env).unwrap_or_default();
            let typed = password.as_ref().map(|p| p.render(vars)).unwrap_or(real);
            let totp =
                fixture.totp_secret.as_ref().and_then(|t| plan.secrets.get(&t.env)).and_then(|s| decode_totp(&s));
            if !matches!(driver.position(), Position::Flow { .. }) {
                result.error = Some(format!(
                    "there is no authentik login to sign in to: the browser is at {}",
                    driver.position().describe()
                ));
                return Ok(());
            }
            let credentials = Credentials { uid: &fixture.username, password: &typed, totp, consent: *consent };
            driver.sign_in(&credentials).await
        }
        StepKind::ExpectRedirect { to, query } => {
            expect_redirect(driver, *to, query, vars, cursor, result);
            Ok(())
        }
        StepKind::ExpectAuthentik(expectation) => {
            expect_authentik(driver.position(), expectation, result);
            Ok(())
        }
        StepKind::ExpectClaims { from, claims } => {
            let attempt = driver.attempt().await?;
            let Some(attempt) = attempt else {
                result.error = Some(format!(
                    "ChatGPT has no record of a login from this session (it never redirected to authentik); the browser is at {}",
                    driver.position().describe()
                ));
                return Ok(());
            };
            let (field, source) = match from {
                ClaimSource::IdToken => ("id_token_claims", "ID token"),
                ClaimSource::Userinfo => ("userinfo", "userinfo"),
            };
            let Some(set) = attempt[field].as_object() else {
                let why = attempt["error"]["code"]
                    .as_str()
                    .map(|c| format!(" (ChatGPT stopped earlier: `{c}`)"))
                    .unwrap_or_default();
                result.error = Some(format!("ChatGPT received no {source}{why}"));
                return Ok(());
            };
            for claim in claims {
                let subject = format!("{source} claim `{}`", claim.name);
                let mut assertion = check_value(&subject, set.get(&claim.name), &claim.matcher, vars, None);
                assertion.span = Some(claim.span.clone());
                result.assertions.push(assertion);
            }
            Ok(())
        }
        StepKind::ExpectLanding(landing) => {
            expect_landing(driver.position(), landing, result);
            Ok(())
        }
        StepKind::ExpectSnapshot { of, name } => {
            let value = match of.as_str() {
                "discovery" => {
                    let ws = driver.workspace().ok_or_else(|| DriveError("no workspace".into()))?;
                    let url = env
                        .authentik
                        .join(&format!("application/o/{}/.well-known/openid-configuration", ws.slug))
                        .map_err(|e| DriveError(e.to_string()))?;
                    let http = reqwest::Client::builder()
                        .timeout(env.request_timeout)
                        .build()
                        .map_err(|e| DriveError(e.to_string()))?;
                    let response =
                        http.get(url.clone()).send().await.map_err(|e| DriveError(format!("GET {url} failed: {e}")))?;
                    response.json::<Value>().await.map_err(|_| DriveError(format!("GET {url}: not JSON")))?
                }
                source => {
                    let field = if source == "userinfo" { "userinfo" } else { "id_token_claims" };
                    match driver.attempt().await? {
                        Some(attempt) if attempt[field].is_object() => attempt[field].clone(),
                        _ => {
                            result.error = Some(format!("ChatGPT received no {source} to compare with the snapshot"));
                            return Ok(());
                        }
                    }
                }
            };
            let authentik = env.authentik.to_string();
            let chatgpt = driver.workspace().map(|w| w.chatgpt.url().to_string()).unwrap_or_default();
            let normalised =
                crate::snapshot::normalise(&value, &[(&authentik, "<authentik>/"), (&chatgpt, "<chatgpt>/")]);
            let file = crate::snapshot::path(scenario_file, name);
            let shown = file.display().to_string();
            let (passed, actual) = match crate::snapshot::compare(&file, &normalised, ctx.update_snapshots) {
                crate::snapshot::Outcome::Same => (true, "equal".to_string()),
                crate::snapshot::Outcome::Written => (true, format!("recorded in {shown}")),
                crate::snapshot::Outcome::Missing => {
                    (false, format!("no snapshot at {shown}; record it with AK_E2E_UPDATE_SNAPSHOTS=1 and review it"))
                }
                crate::snapshot::Outcome::Differs(diff) => {
                    (false, format!("differs from {shown}: {diff} (review; AK_E2E_UPDATE_SNAPSHOTS=1 accepts it)"))
                }
            };
            result.assertions.push(Assertion {
                subject: format!("snapshot `{name}` of the {of}"),
                expected: format!("equal to {shown}"),
                actual,
                passed,
                hop: None,
                span: None,
            });
            Ok(())
        }
        StepKind::Authorize { set, remove } => {
            let Driver::Api(api) = driver else { return Err(DriveError("`authorize` needs the api driver".into())) };
            let (params, client) = client_request(vars, set, remove);
            api.authorize(params, client).await
        }
        StepKind::ExchangeCode { expect, client_secret, code_verifier } => {
            let Driver::Api(api) = driver else {
                return Err(DriveError("`exchange_code` needs the api driver".into()));
            };
            let secret = match client_secret {
                Some(t) => t.render(vars),
                None => api.workspace().chatgpt.config().client_secret.expose().to_string(),
            };
            let verifier = code_verifier.as_ref().map(|t| t.render(vars));
            let (status, body) = api.exchange_code(&secret, verifier.as_deref()).await?;
            let error = body["error"].as_str().map(String::from);
            let actual = match &error {
                Some(e) => format!("HTTP {status} `{e}`"),
                None if status == 200 => "HTTP 200 with tokens".to_string(),
                None => format!("HTTP {status}"),
            };
            if expect == "ok" {
                result.assertions.push(Assertion {
                    subject: "code exchange".into(),
                    expected: "HTTP 200 with tokens".into(),
                    actual: actual.clone(),
                    passed: status == 200 && body["id_token"].is_string(),
                    hop: Some(api.hops.len() - 1),
                    span: None,
                });
                if let Some(token) = body["id_token"].as_str() {
                    check_id_token(api, vars, token, result).await?;
                }
            } else {
                result.assertions.push(Assertion {
                    subject: "code exchange".into(),
                    expected: format!("HTTP 400 `{expect}`"),
                    actual,
                    passed: error.as_deref() == Some(expect.as_str()),
                    hop: Some(api.hops.len() - 1),
                    span: None,
                });
            }
            Ok(())
        }
    }
}

/// The harness's own authorization request: ChatGPT's parameters (code flow, PKCE S256, state,
/// nonce, `openid profile email`) with the step's overrides and removals.
fn client_request(
    vars: &BTreeMap<String, String>,
    set: &[(String, crate::scenario::Template)],
    remove: &[String],
) -> (Vec<(String, String)>, crate::driver::api::ClientRequest) {
    let verifier = mocks::jose::random_token(48);
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), vars.get("application.client_id").cloned().unwrap_or_default()),
        ("redirect_uri".into(), vars.get("chatgpt.redirect_uri").cloned().unwrap_or_default()),
        ("scope".into(), "openid profile email".into()),
        ("state".into(), mocks::jose::random_token(16)),
        ("nonce".into(), mocks::jose::random_token(16)),
        ("code_challenge".into(), mocks::jose::pkce_s256(&verifier)),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (name, value) in set {
        let value = value.render(vars);
        match params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name.clone(), value)),
        }
    }
    params.retain(|(k, _)| !remove.contains(k));
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let pkce_intact = get("code_challenge").as_deref() == Some(mocks::jose::pkce_s256(&verifier).as_str())
        && get("code_challenge_method").as_deref() == Some("S256");
    let client = crate::driver::api::ClientRequest {
        state: get("state"),
        nonce: get("nonce"),
        verifier: pkce_intact.then_some(verifier),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        code: None,
    };
    (params, client)
}

/// The protocol checks of an ID token the harness received as the client: signature by the
/// JWKS key its `kid` names, alg as advertised, `iss`, `aud`, `nonce`, `exp`.
async fn check_id_token(
    api: &mut ApiDriver<'_>,
    vars: &BTreeMap<String, String>,
    token: &str,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let mut check = |subject: &str, expected: String, actual: String, passed: bool| {
        result.assertions.push(Assertion { subject: subject.into(), expected, actual, passed, hop: None, span: None });
    };
    let jwt = match mocks::jose::Jwt::parse(token) {
        Ok(j) => j,
        Err(e) => {
            check("ID token", "a JWT".into(), e, false);
            return Ok(());
        }
    };
    let discovery = api.discovery().await?;
    let advertised: Vec<String> = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    check(
        "ID token alg",
        format!("one of {advertised:?}, not none"),
        jwt.alg().to_string(),
        jwt.alg() != "none" && advertised.iter().any(|a| a == jwt.alg()),
    );
    if jwt.alg() == "RS256" {
        let jwks_uri = discovery["jwks_uri"].as_str().and_then(|u| Url::parse(u).ok());
        let jwks = match jwks_uri {
            Some(u) => api.get_json(u).await?,
            None => Value::Null,
        };
        let key = jwks["keys"].as_array().and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == jwt.kid()));
        let verified =
            key.and_then(|k| mocks::jose::rsa_public_key_from_jwk(k).ok()).is_some_and(|k| jwt.verify_rs256(&k));
        let actual = match (key, verified) {
            (None, _) => format!("no JWKS key with kid {:?}", jwt.kid()),
            (Some(_), false) => "the signature does not verify".into(),
            (Some(_), true) => "verified".into(),
        };
        check("ID token signature", "verified with the JWKS key of its kid".into(), actual, verified);
    }
    let claim =
        |name: &str| jwt.claims.get(name).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    let issuer = vars.get("authentik.issuer").cloned().unwrap_or_default();
    let iss = claim("iss").unwrap_or_else(|| "absent".into());
    check("ID token claim `iss`", format!("\"{issuer}\""), format!("\"{iss}\""), iss == issuer);
    let client_id = vars.get("application.client_id").cloned().unwrap_or_default();
    let aud = claim("aud").unwrap_or_else(|| "absent".into());
    check("ID token claim `aud`", format!("\"{client_id}\""), format!("\"{aud}\""), aud == client_id);
    if let Some(nonce) = api.client.as_ref().and_then(|c| c.nonce.clone()) {
        let got = claim("nonce");
        check(
            "ID token claim `nonce`",
            "the nonce sent".into(),
            if got.is_some() { "a different nonce".into() } else { "absent".into() },
            got.as_deref() == Some(nonce.as_str()),
        );
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let exp = jwt.claims.get("exp").and_then(Value::as_i64);
    check(
        "ID token claim `exp`",
        "in the future".into(),
        exp.map(|e| format!("{}s from now", e - now)).unwrap_or("absent".into()),
        exp.is_some_and(|e| e > now),
    );
    Ok(())
}

fn decode_totp(secret: &str) -> Option<Vec<u8>> {
    mocks::totp::decode_hex(secret).or_else(|| mocks::totp::decode_base32(secret))
}

fn expect_redirect(
    driver: &Driver<'_>,
    to: HopKind,
    query: &[NamedMatcher],
    vars: &BTreeMap<String, String>,
    cursor: &mut usize,
    result: &mut StepResult,
) {
    // Where the browser was sent since the previous expectation: the Location of each HTTP
    // redirect, and each page a flow redirect (`xak-flow-redirect`, a script navigation) opened.
    let hops = driver.hops();
    let redirects: Vec<(usize, Url)> = hops
        .iter()
        .enumerate()
        .skip(*cursor)
        .filter(|(_, h)| !h.api)
        .flat_map(|(i, h)| {
            let mut out = Vec::new();
            let Ok(here) = Url::parse(&h.url) else { return out };
            if i > 0 && hops[i - 1].api && hops[i - 1].kind.is_none() {
                out.push((i, here.clone()));
            }
            if (300..400).contains(&h.status)
                && let Some(to) = h.location.as_deref().and_then(|l| here.join(l).ok())
            {
                out.push((i, to));
            }
            out
        })
        .collect();
    let seen = || {
        let kinds: Vec<String> = redirects
            .iter()
            .map(|(_, u)| driver.classify(u).map(|k| k.as_str().to_string()).unwrap_or_else(|| u.path().to_string()))
            .collect();
        if kinds.is_empty() { "no redirect".to_string() } else { format!("redirects to {}", kinds.join(" → ")) }
    };
    if to == HopKind::Nowhere {
        result.assertions.push(Assertion {
            subject: "redirect".into(),
            expected: "no redirect".into(),
            actual: if redirects.is_empty() {
                "no redirect".into()
            } else {
                format!("{}; now at {}", seen(), driver.position().describe())
            },
            passed: redirects.is_empty(),
            hop: redirects.first().map(|(i, _)| *i),
            span: None,
        });
        *cursor = driver.hops().len();
        return;
    }
    let Some((index, location)) = redirects.iter().find(|(_, u)| driver.classify(u) == Some(to)).cloned() else {
        result.assertions.push(Assertion {
            subject: format!("redirect to {}", to.as_str()),
            expected: format!("a redirect to {}", to.as_str()),
            actual: format!("{}; now at {}", seen(), driver.position().describe()),
            passed: false,
            hop: None,
            span: None,
        });
        return;
    };
    *cursor = index + 1;
    result.assertions.push(Assertion {
        subject: format!("redirect to {}", to.as_str()),
        expected: to.as_str().into(),
        actual: driver.hops()[index].location.clone().unwrap_or_default(),
        passed: true,
        hop: Some(index),
        span: None,
    });
    // An OAuth error in the redirect explains any parameter that is missing.
    let oauth_error = location.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| {
        let description = location
            .query_pairs()
            .find(|(k, _)| k == "error_description")
            .map(|(_, d)| format!(" ({d})"))
            .unwrap_or_default();
        format!("; the redirect carries error=`{v}`{description}")
    });
    for m in query {
        let value = location.query_pairs().find(|(k, _)| *k == m.name).map(|(_, v)| Value::String(v.into_owned()));
        let shown = if crate::driver::api::is_secret_param(&m.name) { None } else { value.clone() };
        let mut assertion = check_value(
            &format!("query parameter `{}` of the redirect to {}", m.name, to.as_str()),
            value.as_ref(),
            &m.matcher,
            vars,
            Some(index),
        );
        if shown.is_none() && value.is_some() {
            assertion.actual = "present ([redacted])".into();
        }
        assertion.span = Some(m.span.clone());
        if !assertion.passed
            && let Some(e) = &oauth_error
        {
            assertion.actual.push_str(e);
        }
        result.assertions.push(assertion);
    }
}

fn expect_authentik(position: &Position, expectation: &AuthentikExpectation, result: &mut StepResult) {
    match expectation {
        AuthentikExpectation::Stage { stage, error } => {
            let want = format!("ak-stage-{}", stage.replace('_', "-"));
            let (component, errors) = match position {
                Position::Flow { challenge, .. } => {
                    (challenge["component"].as_str().unwrap_or("?").to_string(), flow_errors(challenge))
                }
                _ => (String::new(), Vec::new()),
            };
            result.assertions.push(Assertion {
                subject: "authentik stage".into(),
                expected: want.clone(),
                actual: position.describe(),
                passed: component == want,
                hop: None,
                span: None,
            });
            if let Some(error) = error {
                result.assertions.push(Assertion {
                    subject: "authentik's message".into(),
                    expected: format!("\"{error}\""),
                    actual: if errors.is_empty() {
                        "no message".into()
                    } else {
                        format!("\"{}\"", errors.join("\", \""))
                    },
                    passed: errors.iter().any(|e| e.contains(error.as_str())),
                    hop: None,
                    span: None,
                });
            }
        }
        AuthentikExpectation::Page { title, status } => {
            let (actual_title, actual_status) = match position {
                Position::AuthentikPage { title, status, .. } => (title.clone(), Some(*status)),
                _ => (String::new(), None),
            };
            result.assertions.push(Assertion {
                subject: "authentik page".into(),
                expected: format!("\"{title}\""),
                actual: position.describe(),
                passed: actual_title == *title,
                hop: None,
                span: None,
            });
            if let Some(status) = status {
                result.assertions.push(Assertion {
                    subject: "HTTP status of the authentik page".into(),
                    expected: status.to_string(),
                    actual: actual_status.map(|s| s.to_string()).unwrap_or_else(|| "no authentik page".into()),
                    passed: actual_status == Some(*status),
                    hop: None,
                    span: None,
                });
            }
        }
    }
}

fn expect_landing(position: &Position, landing: &Landing, result: &mut StepResult) {
    let (code, conversation) = match position {
        Position::Chatgpt { body, .. } => {
            (chatgpt_error(body).map(|(c, _)| c), body.contains(r#"data-testid="conversation""#))
        }
        _ => (None, false),
    };
    let (expected, passed) = match landing {
        Landing::Conversation => ("ChatGPT's conversation page".to_string(), conversation),
        Landing::Error(want) => (format!("ChatGPT error `{want}`"), code.as_deref() == Some(want.as_str())),
    };
    result.assertions.push(Assertion {
        subject: "landing".into(),
        expected,
        actual: position.describe(),
        passed,
        hop: None,
        span: None,
    });
}

/// Checks one value against a matcher; `actual` shows the value (or its absence).
fn check_value(
    subject: &str,
    value: Option<&Value>,
    matcher: &Matcher,
    vars: &BTreeMap<String, String>,
    hop: Option<usize>,
) -> Assertion {
    let text = value.map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let shown = match (&text, value) {
        (Some(_), Some(Value::String(s))) => format!("\"{s}\""),
        (Some(t), _) => t.clone(),
        (None, _) => "absent".into(),
    };
    let mut expected = Vec::new();
    let mut passed = true;
    if let Some(present) = matcher.present {
        expected.push(if present { "present".to_string() } else { "absent".to_string() });
        passed &= value.is_some() == present;
    }
    if let Some(non_empty) = matcher.non_empty {
        expected.push(if non_empty { "non-empty".to_string() } else { "empty".to_string() });
        let is_non_empty = match value {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        passed &= is_non_empty == non_empty;
    }
    if let Some(equals) = &matcher.equals {
        let want = equals.render(vars);
        expected.push(format!("\"{want}\""));
        passed &= text.as_deref() == Some(want.as_str());
    }
    if let Some(not_equals) = &matcher.not_equals {
        let unwanted = not_equals.render(vars);
        expected.push(format!("not \"{unwanted}\""));
        passed &= text.is_some() && text.as_deref() != Some(unwanted.as_str());
    }
    if let Some(pattern) = &matcher.matches {
        expected.push(format!("matching /{pattern}/"));
        passed &= regex_lite::Regex::new(pattern).is_ok_and(|re| text.as_deref().is_some_and(|t| re.is_match(t)));
    }
    Assertion { subject: subject.into(), expected: expected.join(" and "), actual: shown, passed, hop, span: None }
}
