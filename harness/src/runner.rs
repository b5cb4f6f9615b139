//! Runs a plan: each scenario under each driver, step by step, checking expectations against
//! what the driver recorded. The first failing step stops its scenario; the rest are skipped.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;
use url::Url;

use crate::check::hints;
use crate::check::{
    Observation, Provider, check_id_token, check_value, expect_authentik, expect_landing, expect_redirect,
};
use crate::drive::DriveError;
use crate::drive::api::{ApiDriver, Credentials};
use crate::drive::browser::BrowserDriver;
use crate::drive::chrome::BrowserHost;
use crate::drive::{Position, chatgpt_error};
use crate::environment::Environment;
use crate::plan::{Plan, Planned};
use crate::report::Redactor;
use crate::result::{Assertion, RunReport, ScenarioResult, Status, StepResult, StepStatus, Summary};
use crate::result::{Hop, Progress};
use crate::scenario::DriverKind;
use crate::scenario::{ClaimSource, HopKind, StepKind};

/// Either driver, behind one set of operations.
pub(crate) enum Driver<'e> {
    Api(ApiDriver<'e>),
    Browser(BrowserDriver<'e>),
}

impl Driver<'_> {
    pub(crate) fn position(&self) -> &Position {
        match self {
            Driver::Api(d) => &d.position,
            Driver::Browser(d) => &d.position,
        }
    }

    fn stages(&self) -> &[String] {
        match self {
            Driver::Api(d) => &d.stages,
            Driver::Browser(d) => &d.stages,
        }
    }

    pub(crate) fn hops(&self) -> &[Hop] {
        match self {
            Driver::Api(d) => &d.hops,
            Driver::Browser(d) => &d.hops,
        }
    }

    fn workspace(&self) -> Option<&crate::environment::Workspace> {
        match self {
            Driver::Api(d) => Some(d.workspace()),
            Driver::Browser(d) => Some(d.workspace()),
        }
    }

    pub(crate) fn classify(&self, url: &Url) -> Option<HopKind> {
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
    /// Screenshots and page dumps go below this folder, and failed runs' trace bundles.
    pub artifacts: std::path::PathBuf,
    /// `--trace`: every run's trace bundle goes below this folder (with stage screenshots).
    pub trace: Option<std::path::PathBuf>,
    /// Applied to every artifact's text.
    pub redactor: Redactor,
    /// Record snapshots instead of comparing them (`AK_E2E_UPDATE_SNAPSHOTS`).
    pub update_snapshots: bool,
    /// How many browser runs may go at once: see [`browser_slots`].
    pub browser_slots: tokio::sync::Semaphore,
    /// Browser sessions kept between scenarios (their cookies and storage cleared), for speed:
    /// at most one per run going at once.
    pub idle_browsers: std::sync::Mutex<Vec<fantoccini::Client>>,
}

impl Context<'_> {
    /// Closes the kept browser sessions.
    pub async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle_browsers.lock().unwrap_or_else(|p| p.into_inner()));
        for client in idle {
            let _ = client.close().await;
        }
    }

    fn take_idle_browser(&self) -> Option<fantoccini::Client> {
        self.idle_browsers.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn keep_idle_browser(&self, client: fantoccini::Client) {
        self.idle_browsers.lock().unwrap_or_else(|p| p.into_inner()).push(client);
    }
}

/// Runs every planned scenario against a started environment.
pub async fn run(plan: &Plan, ctx: &Context<'_>, progress: &mut dyn Progress) -> RunReport {
    let started = Instant::now();
    let started_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let total = plan.runs.len();
    let jobs = plan.settings.jobs.max(1);
    // Up to `jobs` chains at once (see `chains`), each running its runs one after the other;
    // results are handed to the progress reporter and the report in plan order, so both read
    // the same whatever the parallelism.
    let mut running = futures_util::stream::iter(chains(plan, jobs))
        .map(|chain| {
            Box::pin(
                futures_util::stream::iter(chain)
                    .then(move |index| async move { (index, run_one(plan, ctx, index, &plan.runs[index]).await) }),
            )
        })
        .flatten_unordered(jobs)
        .boxed_local();
    let mut finished = BTreeMap::new();
    let mut results = Vec::with_capacity(total);
    if let Some(first) = plan.runs.first() {
        progress.started(0, total, first);
    }
    while let Some((index, result)) = running.next().await {
        finished.insert(index, result);
        while let Some(result) = finished.remove(&results.len()) {
            let index = results.len();
            progress.finished(index, total, &result);
            results.push(result);
            if let Some(next) = plan.runs.get(index + 1) {
                progress.started(index + 1, total, next);
            }
        }
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
    let discovery = discovery_documents(plan, ctx).await;
    RunReport {
        target,
        authentik: ctx.env.authentik.to_string(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        discovery,
        scenarios: results,
        summary,
    }
}

/// The discovery document of each application the run used, with authentik's and ChatGPT's URLs
/// replaced by placeholders, so that `ak-e2e compare` can tell two runs' apart whatever their
/// hosts and ports: as ChatGPT fetched it during the run (no request made), or fetched now for
/// an application whose scenarios never got ChatGPT that far. One that cannot be read is left out.
async fn discovery_documents(plan: &Plan, ctx: &Context<'_>) -> BTreeMap<String, Value> {
    let names: std::collections::BTreeSet<&str> = plan.runs.iter().map(|r| r.scenario.application.as_str()).collect();
    let fetches = names.into_iter().filter_map(|name| ctx.env.workspace(name)).map(|ws| async move {
        let document = match ws.chatgpt.discovery_document() {
            Some(document) => document,
            None => fetch_discovery(ctx.env, ws).await.ok()?,
        };
        Some((ws.slug.clone(), ctx.env.with_placeholders(ws, &document)))
    });
    futures_util::future::join_all(fetches).await.into_iter().flatten().collect()
}

/// A workspace's discovery document, fetched now (within the body cap and the deadline).
async fn fetch_discovery(env: &Environment, ws: &crate::environment::Workspace) -> Result<Value, DriveError> {
    let url = env.discovery_url(ws).map_err(|e| DriveError(e.0))?;
    let http =
        reqwest::Client::builder().timeout(env.request_timeout).build().map_err(|e| DriveError(e.to_string()))?;
    let response = http.get(url.clone()).send().await.map_err(|e| DriveError(format!("GET {url} failed: {e}")))?;
    ak_protocol::http::read_json(response, env.request_timeout).await.map_err(|e| DriveError(format!("GET {url}: {e}")))
}

/// How many browser runs may go at once: `--jobs`, but with a local chromedriver at most one per
/// CPU. A local Chromium keeps a CPU busy while it renders authentik's pages, so a second one per
/// CPU only makes both slower (measured: the suite under both drivers took 1.13 times as long
/// with four browsers as with one on two CPUs); the other slots run api scenarios meanwhile.
/// A remote WebDriver (`--webdriver-url`) renders elsewhere and gets every slot.
pub fn browser_slots(settings: &crate::config::Settings) -> tokio::sync::Semaphore {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = match settings.browser.webdriver_url {
        Some(_) => settings.jobs,
        None => settings.jobs.min(cpus),
    };
    tokio::sync::Semaphore::new(slots.max(1))
}

/// The runs grouped for scheduling: the runs of one scenario file form a chain that runs in
/// plan order (its api run, then its browser run), as they share fixture users and what
/// authentik remembers of them (a consent given); chains run side by side. In parallel, chains
/// that sign in a user with a TOTP device go first: authentik accepts at most two codes per
/// 30-second step for a device, so those runs may wait for the clock, and that wait had better
/// overlap the rest of the suite than come after it.
fn chains(plan: &Plan, jobs: usize) -> Vec<Vec<usize>> {
    let mut chains: Vec<Vec<usize>> = Vec::new();
    let mut by_file: BTreeMap<&std::path::Path, usize> = BTreeMap::new();
    for (index, run) in plan.runs.iter().enumerate() {
        match by_file.get(run.scenario.file.as_path()) {
            Some(&chain) => chains[chain].push(index),
            None => {
                by_file.insert(&run.scenario.file, chains.len());
                chains.push(vec![index]);
            }
        }
    }
    if jobs > 1 {
        let needs_totp = |chain: &Vec<usize>| {
            chain.iter().any(|index| {
                plan.runs[*index].scenario.steps.iter().any(|step| match &step.kind {
                    StepKind::SignIn { user, .. } => {
                        plan.settings.users.get(user).is_some_and(|u| u.totp_secret.is_some())
                    }
                    _ => false,
                })
            })
        };
        chains.sort_by_key(|chain| !needs_totp(chain));
    }
    chains
}

/// The name of a run's own artifacts folder: its UTC start time and process id, e.g.
/// `run-20261127-154230-4242`, so that runs sort by time and never share a folder.
pub fn run_folder(now: std::time::SystemTime, pid: u32) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (year, month, day, hour, minute, second) = crate::report::utc(secs);
    format!("run-{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}-{pid}")
}

async fn new_driver<'e>(
    plan: &Plan,
    ctx: &Context<'e>,
    index: usize,
    planned: &Planned,
) -> Result<Driver<'e>, DriveError> {
    let ws = workspace(ctx.env, planned)?;
    match planned.driver {
        DriverKind::Api => Ok(Driver::Api(ApiDriver::new(ctx.env, ws)?)),
        DriverKind::Browser => {
            let host = ctx.browsers.ok_or_else(|| DriveError("no browser was started for this run".into()))?;
            let reused = ctx.take_idle_browser();
            let client = match reused {
                Some(client) => {
                    // What the logs hold from earlier scenarios and the reset is not this scenario's:
                    // its console artifact must show its own lines only.
                    crate::drive::chrome::read_log(&client, "performance").await;
                    crate::drive::chrome::read_log(&client, "browser").await;
                    client
                }
                None => host.session().await?,
            };
            let shots = match ctx.trace {
                Some(_) => crate::config::Screenshots::All,
                None => plan.settings.browser.screenshots,
            };
            let dir = run_dir(ctx, index, planned);
            Ok(Driver::Browser(BrowserDriver::new(ctx.env, ws, client, dir, ctx.redactor.clone(), shots)?))
        }
    }
}

/// The folder of one run's screenshots and trace bundle: `NN-<file stem>-<driver>` below
/// `--trace`'s folder, or else below the artifacts folder.
fn run_dir(ctx: &Context<'_>, index: usize, planned: &Planned) -> std::path::PathBuf {
    let stem = planned.scenario.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let root = ctx.trace.as_ref().unwrap_or(&ctx.artifacts);
    root.join(format!("{:02}-{stem}-{}", index + 1, planned.driver.as_str()))
}

fn workspace<'e>(env: &'e Environment, planned: &Planned) -> Result<&'e crate::environment::Workspace, DriveError> {
    let name = &planned.scenario.application;
    env.workspace(name).ok_or_else(|| DriveError(format!("no application `{name}` in the configuration")))
}

async fn run_one(plan: &Plan, ctx: &Context<'_>, index: usize, planned: &Planned) -> ScenarioResult {
    let scenario = &planned.scenario;
    // A browser run holds a browser slot from start to end (see `browser_slots`).
    let _slot = match planned.driver {
        DriverKind::Browser => ctx.browser_slots.acquire().await.ok(),
        DriverKind::Api => None,
    };
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut hops = Vec::new();
    let mut stages = Vec::new();
    let mut artifacts = Vec::new();
    let mut claims = None;
    match new_driver(plan, ctx, index, planned).await {
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
                    b.stage_screenshot(&step.name).await;
                }
                if result.status != StepStatus::Passed {
                    stopped = true;
                    if result.hint.is_none() {
                        result.hint = hint_for(driver.position());
                    }
                    if let Driver::Browser(b) = &mut driver {
                        b.page_artifacts("failure").await;
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
            if let Driver::Browser(b) = &mut driver
                && ctx.trace.is_some()
                && !stopped
            {
                b.page_artifacts("final").await;
            }
            hops = driver.hops().to_vec();
            stages = driver.stages().to_vec();
            if let Driver::Browser(b) = driver {
                artifacts = b.written.iter().map(|p| p.display().to_string()).collect();
                let client = b.into_client();
                // Reuse the session when its cookies and storage can be cleared (Chrome
                // DevTools); otherwise close it and start the next scenario afresh.
                if crate::drive::chrome::reset_session(&client).await {
                    ctx.keep_idle_browser(client);
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
    let mut result = ScenarioResult {
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
        stages,
        artifacts,
        claims,
        trace: None,
    };
    let failed = matches!(status, Status::Failed | Status::Errored | Status::UnexpectedPass);
    if ctx.trace.is_some() || failed {
        let dir = run_dir(ctx, index, planned);
        result.trace = Some(dir.display().to_string());
        if let Err(e) = crate::report::har::write_bundle(&dir, &result, &scenario.file, &ctx.redactor) {
            result.trace = None;
            tracing_note(&mut result, &dir, &e);
        }
    }
    result
}

/// A bundle that could not be written is said in the diagnosis, not lost in silence.
fn tracing_note(result: &mut ScenarioResult, dir: &std::path::Path, e: &std::io::Error) {
    let note = format!("(trace bundle not written to {}: {e})", dir.display());
    result.diagnosis = Some(match result.diagnosis.take() {
        Some(d) => format!("{d} {note}"),
        None => note,
    });
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
            let classify = |url: &Url| driver.classify(url);
            let seen = Observation { hops: driver.hops(), position: driver.position(), classify: &classify };
            expect_redirect(&seen, *to, query, vars, cursor, result);
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
                    fetch_discovery(env, ws).await?
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
            let ws = driver.workspace().ok_or_else(|| DriveError("no workspace".into()))?;
            let normalised = env.with_placeholders(ws, &value);
            let file = crate::check::snapshot::path(scenario_file, name);
            let shown = file.display().to_string();
            let (passed, actual) = match crate::check::snapshot::compare(&file, &normalised, ctx.update_snapshots) {
                crate::check::snapshot::Outcome::Same => (true, "equal".to_string()),
                crate::check::snapshot::Outcome::Written => (true, format!("recorded in {shown}")),
                crate::check::snapshot::Outcome::Missing => {
                    (false, format!("no snapshot at {shown}; record it with AK_E2E_UPDATE_SNAPSHOTS=1 and review it"))
                }
                crate::check::snapshot::Outcome::Differs(diff) => {
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
                    let discovery = api.discovery().await?;
                    let jwks = match discovery["jwks_uri"].as_str().and_then(|u| Url::parse(u).ok()) {
                        Some(u) => api.get_json(u).await?,
                        None => Value::Null,
                    };
                    let nonce = api.client.as_ref().and_then(|c| c.nonce.clone());
                    let provider = Provider { discovery: &discovery, jwks: &jwks, nonce: nonce.as_deref() };
                    check_id_token(&provider, vars, token, result);
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
) -> (Vec<(String, String)>, crate::drive::api::ClientRequest) {
    let verifier = ak_protocol::jose::random_token(48);
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), vars.get("application.client_id").cloned().unwrap_or_default()),
        ("redirect_uri".into(), vars.get("chatgpt.redirect_uri").cloned().unwrap_or_default()),
        ("scope".into(), "openid profile email".into()),
        ("state".into(), ak_protocol::jose::random_token(16)),
        ("nonce".into(), ak_protocol::jose::random_token(16)),
        ("code_challenge".into(), ak_protocol::jose::pkce_s256(&verifier)),
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
    let pkce_intact = get("code_challenge").as_deref() == Some(ak_protocol::jose::pkce_s256(&verifier).as_str())
        && get("code_challenge_method").as_deref() == Some("S256");
    let client = crate::drive::api::ClientRequest {
        state: get("state"),
        nonce: get("nonce"),
        verifier: pkce_intact.then_some(verifier),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        code: None,
    };
    (params, client)
}

fn decode_totp(secret: &str) -> Option<Vec<u8>> {
    ak_protocol::totp::decode_hex(secret).or_else(|| ak_protocol::totp::decode_base32(secret))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn run_folders_are_named_by_utc_time_and_pid() {
        assert_eq!(super::run_folder(UNIX_EPOCH, 7), "run-19700101-000000-7");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_794_150);
        assert_eq!(super::run_folder(t, 4242), "run-20261127-154230-4242");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_164_800 + 3_661);
        assert_eq!(super::run_folder(leap, 1), "run-20240229-010101-1");
    }
}
