//! Runs a plan: each scenario under each driver, step by step, checking expectations against
//! what the driver recorded. The first failing step stops its scenario; the rest are skipped.

mod breakdown;
mod scenario;
mod steps;

use scenario::run_one;

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;

use crate::drive::api::{ApiDriver, Credentials};
use crate::drive::browser::BrowserDriver;
use crate::drive::chrome::BrowserHost;
use crate::drive::{DriveError, Seen};
use crate::environment::Environment;
use crate::plan::Plan;
use crate::result::Progress;
use crate::result::{RunReport, Status, Summary};
use crate::scenario::StepKind;
use ak_protocol::redact::Redactor;

/// Either driver, behind one set of operations.
pub(crate) enum Driver<'e> {
    Api(ApiDriver<'e>),
    Browser(BrowserDriver<'e>),
}

impl Driver<'_> {
    /// What the driver observed so far.
    pub(crate) fn seen(&self) -> Seen<'_> {
        match self {
            Driver::Api(d) => Seen {
                position: &d.position,
                stages: &d.stages,
                hops: &d.session.hops,
                workspace: d.workspace(),
                state: d.authorize_state.as_deref(),
                refused: d.refused.as_deref(),
            },
            Driver::Browser(d) => Seen {
                position: &d.position,
                stages: &d.stages,
                hops: &d.hops,
                workspace: d.workspace(),
                state: d.authorize_state.as_deref(),
                refused: d.refused.as_deref(),
            },
        }
    }

    /// Forgets the cookies and storage of the steps so far, as another browser would start.
    async fn new_session(&mut self, env: &crate::environment::Environment) -> Result<(), DriveError> {
        match self {
            Driver::Api(d) => d.new_session(),
            Driver::Browser(d) => d.new_session(&env.origins().collect()).await,
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
}

/// What a run needs besides the plan: the target, browsers (when a scenario uses them), where
/// artifacts go, and the redactor they pass through.
pub struct Context<'a> {
    /// The started target.
    pub env: &'a Environment,
    /// Chromium, for browser runs.
    pub browsers: Option<&'a BrowserHost>,
    /// This run's own folder: screenshots, page dumps and trace bundles go below it.
    pub folder: std::sync::Arc<RunFolder>,
    /// `--trace`: every scenario run gets a trace bundle (with stage screenshots).
    pub trace: bool,
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

impl<'a> Context<'a> {
    /// A run's context: what it writes in `folder`, a trace bundle of every scenario run when
    /// `trace`, browser runs as many at once as [`browser_slots`] allows.
    pub fn new(
        env: &'a Environment,
        browsers: Option<&'a BrowserHost>,
        folder: RunFolder,
        trace: bool,
        redactor: &Redactor,
        settings: &crate::config::Settings,
        update_snapshots: bool,
    ) -> Self {
        Self {
            env,
            browsers,
            folder: std::sync::Arc::new(folder),
            trace,
            redactor: redactor.clone(),
            update_snapshots,
            browser_slots: browser_slots(settings),
            idle_browsers: Default::default(),
        }
    }

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
        schema: crate::result::REPORT_SCHEMA,
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

pub use crate::files::{RunFolder, fresh_folder};

/// The name of a run's own artifacts folder: its UTC start time and process id, e.g.
/// `run-20261127-154230-4242`, so that runs sort by time and never share a folder.
pub fn run_folder(now: std::time::SystemTime, pid: u32) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (year, month, day, hour, minute, second) = crate::report::utc(secs);
    format!("run-{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}-{pid}")
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
