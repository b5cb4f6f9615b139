//! One scenario under one driver: the driver, the steps in order, the verdict, the trace bundle.

use std::time::Instant;

use super::steps::execute;
use super::{Context, Driver};

use crate::check::hints;
use crate::drive::DriveError;
use crate::drive::api::ApiDriver;
use crate::drive::browser::BrowserDriver;
use crate::environment::Environment;
use crate::observation::Position;
use crate::plan::{Plan, Planned};
use crate::result::Hop;
use crate::result::{ScenarioResult, Status, StepResult, StepStatus};
use crate::scenario::DriverKind;
use crate::scenario::StepKind;

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
            // What the logs of a kept session hold from earlier scenarios and the reset is not
            // this scenario's: its console artifact must show its own lines only.
            let emptied = |client: fantoccini::Client| async move {
                let empty = async {
                    crate::drive::chrome::read_log(&client, "performance").await?;
                    crate::drive::chrome::read_log(&client, "browser").await
                };
                let emptied = tokio::time::timeout(ctx.env.request_timeout, empty).await;
                emptied.is_ok_and(|read| read.is_ok()).then_some(client)
            };
            let client = match ctx.take_idle_browser() {
                Some(kept) => match emptied(kept).await {
                    Some(client) => client,
                    None => host.session().await?,
                },
                None => host.session().await?,
            };
            let shots = if ctx.trace { crate::config::Screenshots::All } else { plan.settings.browser.screenshots };
            let dir = run_dir(ctx, index, planned);
            Ok(Driver::Browser(BrowserDriver::new(ctx.env, ws, client, dir, ctx.redactor.clone(), shots)?))
        }
    }
}

/// The folder of one scenario run's screenshots and trace bundle: `NN-<file stem>-<driver>` in
/// the run's own folder, both made only when something is written there.
fn run_dir(ctx: &Context<'_>, index: usize, planned: &Planned) -> crate::files::ScenarioDir {
    let stem = planned.scenario.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let name = format!("{:02}-{stem}-{}", index + 1, planned.driver.as_str());
    crate::files::ScenarioDir::new(ctx.folder.clone(), name)
}

fn workspace<'e>(env: &'e Environment, planned: &Planned) -> Result<&'e crate::environment::Workspace, DriveError> {
    let name = &planned.scenario.application;
    env.workspace(name).ok_or_else(|| DriveError(format!("no application `{name}` in the configuration")))
}

/// What a driver recorded over a scenario: hops, stages, browser artifacts, ChatGPT's claims.
#[derive(Default)]
struct Recorded {
    hops: Vec<Hop>,
    stages: Vec<String>,
    artifacts: Vec<String>,
    claims: Option<crate::result::ChatgptReceived>,
    clocked: super::breakdown::Clocked,
}

/// One scenario under one driver: its steps, its verdict, and its trace bundle when asked for
/// (`--trace`) or when it did not pass.
pub(super) async fn run_one(plan: &Plan, ctx: &Context<'_>, index: usize, planned: &Planned) -> ScenarioResult {
    let scenario = &planned.scenario;
    // A browser run holds a browser slot from start to end (see `browser_slots`).
    let queued = Instant::now();
    let _slot = match planned.driver {
        DriverKind::Browser => ctx.browser_slots.acquire().await.ok(),
        DriverKind::Api => None,
    };
    let waited = queued.elapsed();
    let started = Instant::now();
    let (steps, recorded) = match new_driver(plan, ctx, index, planned).await {
        Err(e) => {
            let errored = |s: &crate::scenario::Step| StepResult {
                status: StepStatus::Errored,
                error: Some(e.to_string()),
                ..step_result(s, StepStatus::Errored)
            };
            (scenario.steps.iter().map(errored).collect(), Recorded::default())
        }
        Ok(mut driver) => {
            let steps = run_steps(plan, ctx, scenario, &mut driver).await;
            let stopped = steps.iter().any(|s| s.status != StepStatus::Passed);
            (steps, finish(ctx, driver, stopped).await)
        }
    };
    let (status, diagnosis) = verdict(scenario, &steps);
    let took = started.elapsed();
    let classify = |url: &url::Url| ctx.env.classify(url);
    let spent = super::breakdown::parts(took, &recorded.hops, &recorded.clocked, &classify);
    let mut result = ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        driver: planned.driver,
        tags: scenario.tags.clone(),
        status,
        duration_ms: took.as_millis() as u64,
        waited_ms: waited.as_millis() as u64,
        spent,
        expected_failure: scenario.expect_failure.as_ref().map(|e| e.reason.clone()),
        diagnosis,
        steps,
        hops: recorded.hops,
        stages: recorded.stages,
        artifacts: recorded.artifacts,
        claims: recorded.claims,
        trace: None,
    };
    let failed = matches!(status, Status::Failed | Status::Errored | Status::UnexpectedPass);
    if ctx.trace || failed {
        let dir = run_dir(ctx, index, planned);
        let written = dir.make().and_then(|made| {
            result.trace = Some(made.display().to_string());
            crate::report::har::write_bundle(&made, &result, &scenario.file, &ctx.redactor)
        });
        if let Err(e) = written {
            result.trace = None;
            tracing_note(&mut result, &dir.path(), &e);
        }
    }
    result
}

/// A step's result before it runs (or as skipped).
fn step_result(step: &crate::scenario::Step, status: StepStatus) -> StepResult {
    StepResult {
        name: step.name.clone(),
        span: step.span.clone(),
        status,
        assertions: Vec::new(),
        error: None,
        hint: None,
        duration_ms: 0,
    }
}

/// The steps in order; the first that does not pass stops the rest (skipped), with a hint and,
/// in the browser, the failure's screenshot, page and console.
async fn run_steps(
    plan: &Plan,
    ctx: &Context<'_>,
    scenario: &crate::scenario::Scenario,
    driver: &mut Driver<'_>,
) -> Vec<StepResult> {
    let mut steps = Vec::new();
    let mut progress = super::steps::Progress::default();
    let mut stopped = false;
    for step in &scenario.steps {
        if stopped {
            steps.push(step_result(step, StepStatus::Skipped));
            continue;
        }
        let t = Instant::now();
        let mut result = step_result(step, StepStatus::Passed);
        match execute(plan, ctx, &scenario.file, driver, &step.kind, &mut progress, &mut result).await {
            Err(e) => {
                result.status = StepStatus::Errored;
                result.error = Some(e.to_string());
            }
            Ok(()) if result.assertions.iter().any(|a| !a.passed) || result.error.is_some() => {
                result.status = StepStatus::Failed;
            }
            Ok(()) => {}
        }
        if let Driver::Browser(b) = driver
            && matches!(step.kind, StepKind::StartLogin { .. } | StepKind::SignIn { .. } | StepKind::ExpectLanding(_))
        {
            b.stage_screenshot(&step.name).await;
        }
        if result.status != StepStatus::Passed {
            stopped = true;
            if result.hint.is_none() {
                result.hint = hint_for(driver.seen().position);
            }
            if let Driver::Browser(b) = driver {
                b.page_artifacts("failure").await;
            }
        }
        result.duration_ms = t.elapsed().as_millis() as u64;
        steps.push(result);
    }
    steps
}

/// After the steps: ChatGPT's record of the attempt, what the driver recorded, the final page
/// of a traced browser run, and the browser session kept for the next scenario.
async fn finish(ctx: &Context<'_>, mut driver: Driver<'_>, stopped: bool) -> Recorded {
    let mut recorded = Recorded::default();
    if let Some(attempt) = driver.seen().attempt() {
        recorded.claims = Some(crate::result::ChatgptReceived::from(&attempt));
        recorded.clocked.chatgpt = attempt.timings;
    }
    if let Driver::Browser(b) = &mut driver
        && ctx.trace
        && !stopped
    {
        b.page_artifacts("final").await;
    }
    recorded.hops = driver.seen().hops.to_vec();
    recorded.stages = driver.seen().stages.to_vec();
    if let Driver::Browser(b) = driver {
        recorded.artifacts = b.written.iter().map(|p| p.display().to_string()).collect();
        recorded.clocked.commands = std::mem::take(&mut *b.spent.lock().unwrap_or_else(|p| p.into_inner()));
        let wedged = b.is_wedged();
        let client = b.into_client();
        // Reuse the session when its cookies and storage can be cleared (Chrome DevTools);
        // otherwise close it and start the next scenario afresh. A stuck session is left as it
        // is (closing it would queue behind the command that never answered): it ends with the
        // browser at the end of the run.
        if wedged {
            drop(client);
            return recorded;
        }
        let started = Instant::now();
        let reset = crate::drive::chrome::reset_session(&client, &visited_origins(ctx.env, &recorded.hops)).await;
        recorded.clocked.reset = Some(started.elapsed());
        if reset {
            ctx.keep_idle_browser(client);
        } else {
            let _ = tokio::time::timeout(ctx.env.request_timeout, client.close()).await;
        }
    }
    recorded
}

/// The origins whose storage a browser scenario may have filled: those of its hops (every
/// document and page request), and authentik's and each ChatGPT workspace's in case the network
/// log was not read to its end.
fn visited_origins(
    env: &crate::environment::Environment,
    hops: &[crate::result::Hop],
) -> std::collections::BTreeSet<String> {
    let seen = hops.iter().filter_map(|h| url::Url::parse(&h.url).ok()).map(|u| crate::drive::chrome::origin_of(&u));
    env.origins().chain(seen).filter(|o| o != "null").collect()
}

/// The scenario's status from its first step that did not pass, and `expect_failure`.
fn verdict(scenario: &crate::scenario::Scenario, steps: &[StepResult]) -> (Status, Option<String>) {
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
    (status, diagnosis)
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
        Position::Chatgpt { shown, .. } => shown.error_code().and_then(chatgpt_rp::ErrorCode::hint).map(String::from),
        Position::AuthentikPage { title, .. } => hints::for_authentik_page(title).map(String::from),
        Position::Flow { stage, .. }
            if stage.component == ak_protocol::authentik::component::AUTHENTICATOR_VALIDATE
                && !stage.errors.is_empty() =>
        {
            Some(
                "authentik refused the TOTP code: the user's TOTP secret is not their device's (`ak-e2e provision` \
                 enrolls a device and keeps its secret), this machine's clock is off, or the device is throttled after \
                 refused codes (no code is checked for 2^(n-1) s after the n-th)"
                    .into(),
            )
        }
        _ => None,
    }
}
