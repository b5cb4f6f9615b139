//! The command line: `ak-e2e run | validate | list | provision | compare | reproduce | doctor`. Thin: it
//! folds settings, plans, starts the environment, runs, reports, and maps the outcome to the
//! exit codes of `exit.rs`; the other commands are in `commands/`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Flags, Settings, Target};
use crate::environment::Environment;
use crate::exit::Stop;
use crate::plan::{PlanError, plan};
use crate::report::console::{ConsoleProgress, Style};
use crate::report::{Redactor, json, junit};

pub use crate::exit;

/// End-to-end verification of single sign-on between authentik and ChatGPT.
#[derive(Debug, Parser)]
#[command(name = "ak-e2e", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (default: the `scenarios` folder) and report.
    Run(Common),
    /// Parse and plan only: check scenario files, fixtures and secrets without running.
    Validate(Common),
    /// List the scenarios that would run.
    List(Common),
    /// Apply the blueprints to a real authentik through its API (token in AK_E2E_AUTHENTIK_TOKEN).
    Provision(Common),
    /// Compare two runs' JSON reports: verdicts, claims, stages, hop chains, timings, discovery.
    /// Exit 0 when nothing regressed, 4 when something did.
    Compare(CompareArgs),
    /// Reproduce a user's ChatGPT login with a throwaway user mirroring them (groups, attributes,
    /// TOTP), in the browser with a trace bundle; the throwaway user is deleted afterwards, also
    /// on Ctrl-C. A real target needs an API token in AK_E2E_AUTHENTIK_TOKEN.
    Reproduce(ReproduceArgs),
    /// Check your own ChatGPT application in authentik, read-only: its provider (client type,
    /// redirect URIs, scopes and mappings, signing key and its expiry, subject and issuer modes,
    /// token validity), its bindings, and for each --user whether authentik lets them in and the
    /// claims it would send. Exit 0 with no error, 4 with errors, 3 when authentik cannot be
    /// reached or refuses the token. A real target needs AK_E2E_AUTHENTIK_TOKEN.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
struct DoctorArgs {
    /// The slug of the ChatGPT application to check (only read).
    #[arg(long, value_name = "SLUG")]
    application: String,
    /// A user whose access and claims to check (repeatable).
    #[arg(long = "user", value_name = "USERNAME")]
    users: Vec<String>,
    /// Config file (default: ./ak-e2e.yaml), for ChatGPT's verified domains. Env: AK_E2E_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
    /// `embedded` (default) or the base URL of a real authentik. Env: AK_E2E_TARGET.
    #[arg(long)]
    target: Option<String>,
    /// Also write the findings as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReproduceArgs {
    /// The username of the user whose login to reproduce (never changed: only read).
    #[arg(long)]
    user: String,
    /// Config file (default: ./ak-e2e.yaml). Env: AK_E2E_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
    /// `embedded` (default) or the base URL of a real authentik. Env: AK_E2E_TARGET.
    #[arg(long)]
    target: Option<String>,
    /// Where the trace bundle goes (default: a new folder under the artifacts folder). Env: AK_E2E_TRACE.
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    /// The artifacts folder (default reports/artifacts). Env: AK_E2E_ARTIFACTS.
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// Use this WebDriver (Selenium Grid) instead of starting chromedriver. Env: AK_E2E_WEBDRIVER_URL.
    #[arg(long)]
    webdriver_url: Option<String>,
    /// Switch a defect on in the embedded stand-in (repeatable). Env: AK_E2E_DEFECTS.
    #[arg(long = "defect")]
    defects: Vec<String>,
    /// Sign in through a throwaway twin of this production application (its slug) instead of
    /// the configured one. Env: AK_E2E_APPLICATION.
    #[arg(long, value_name = "SLUG")]
    application: Option<String>,
}

impl ReproduceArgs {
    fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            target: self.target.clone(),
            trace: self.trace.clone(),
            artifacts: self.artifacts.clone(),
            webdriver_url: self.webdriver_url.clone(),
            defects: self.defects.clone(),
            application: self.application.clone(),
            ..Flags::default()
        }
    }
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The JSON report of the base run (the current authentik, before the change).
    base: PathBuf,
    /// The JSON report of the candidate run.
    candidate: PathBuf,
    /// Also write the comparison as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML page here.
    #[arg(long)]
    html: Option<PathBuf>,
}

/// `ak-e2e compare`.
fn compare(args: &CompareArgs) -> i32 {
    let reports = crate::commands::compare::read(&args.base)
        .and_then(|b| Ok((b, crate::commands::compare::read(&args.candidate)?)));
    let (base, candidate) = match reports {
        Ok(r) => r,
        Err(e) => return Stop::Usage(e.to_string()).say(&Redactor::default()),
    };
    let comparison = crate::commands::compare::compare(&base, &candidate);
    let _ = write!(std::io::stdout(), "{}", crate::commands::compare::render_text(&comparison));
    let mut code = if comparison.regressions > 0 { exit::FAILED } else { exit::OK };
    let outputs: [(&Option<PathBuf>, String); 2] = [
        (&args.json, serde_json::to_string_pretty(&comparison).unwrap_or_default()),
        (&args.html, crate::commands::compare::render_html(&comparison)),
    ];
    for (path, text) in outputs {
        let Some(path) = path else { continue };
        if let Err(e) = crate::report::write_whole(path, |f| f.write_all(text.as_bytes())) {
            code = code.max(Stop::Usage(format!("cannot write {}: {e}", path.display())).say(&Redactor::default()));
        }
    }
    code
}

#[derive(Debug, Args)]
struct Common {
    /// Scenario files or folders.
    paths: Vec<PathBuf>,
    /// Config file (default: ./ak-e2e.yaml). Env: AK_E2E_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
    /// `embedded` (default) or the base URL of a real authentik. Env: AK_E2E_TARGET.
    #[arg(long)]
    target: Option<String>,
    /// api, browser or both (default: each scenario's `drivers`). Env: AK_E2E_DRIVER.
    #[arg(long)]
    driver: Option<String>,
    /// Only scenarios with this tag (repeatable). Env: AK_E2E_TAGS (comma-separated).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Write the JSON report here. Env: AK_E2E_REPORT_JSON.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write the JUnit XML report here. Env: AK_E2E_REPORT_JUNIT.
    #[arg(long)]
    report_junit: Option<PathBuf>,
    /// Write the self-contained HTML report here. Env: AK_E2E_REPORT_HTML.
    #[arg(long)]
    report_html: Option<PathBuf>,
    /// Screenshots and page dumps of browser runs (default reports/artifacts). Env: AK_E2E_ARTIFACTS.
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// Write a trace bundle of every run here (HAR, screenshots, page, console, claims); failed
    /// runs always get one under the artifacts folder. Env: AK_E2E_TRACE.
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    /// Use this WebDriver (Selenium Grid) instead of starting chromedriver. Env: AK_E2E_WEBDRIVER_URL.
    #[arg(long)]
    webdriver_url: Option<String>,
    /// Switch a defect on in the embedded stand-in (repeatable; see standin/README.md). Env: AK_E2E_DEFECTS.
    #[arg(long = "defect")]
    defects: Vec<String>,
    /// Leave out scenarios with this tag (repeatable). Env: AK_E2E_SKIP_TAGS (comma-separated).
    #[arg(long = "skip-tag")]
    skip_tags: Vec<String>,
    /// Run part K of N of the planned runs (deterministic, to split across CI machines). Env: AK_E2E_PARTITION.
    #[arg(long)]
    partition: Option<String>,
    /// Scenario runs at once (1-32; default: one per CPU, at most 4). Output keeps plan order. Env: AK_E2E_JOBS.
    #[arg(long, short = 'j')]
    jobs: Option<String>,
    /// Browser screenshots: `failure` (default; with the page and console) or `all` (each stage too). Env: AK_E2E_SCREENSHOTS.
    #[arg(long)]
    screenshots: Option<String>,
    /// The default application's scenarios sign in to a throwaway twin of this production
    /// application (its slug): its provider's settings and its bindings, copied for the run and
    /// deleted afterwards. Needs AK_E2E_AUTHENTIK_TOKEN on a real target. Env: AK_E2E_APPLICATION.
    #[arg(long, value_name = "SLUG")]
    application: Option<String>,
}

impl Common {
    fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            target: self.target.clone(),
            driver: self.driver.clone(),
            tags: self.tags.clone(),
            report_json: self.report_json.clone(),
            report_junit: self.report_junit.clone(),
            report_html: self.report_html.clone(),
            artifacts: self.artifacts.clone(),
            trace: self.trace.clone(),
            webdriver_url: self.webdriver_url.clone(),
            defects: self.defects.clone(),
            partition: self.partition.clone(),
            jobs: self.jobs.clone(),
            screenshots: self.screenshots.clone(),
            skip_tags: self.skip_tags.clone(),
            paths: self.paths.clone(),
            application: self.application.clone(),
        }
    }
}

/// The settings from the flags, the environment and the config file in the working folder;
/// `None` after saying what is wrong.
fn resolve(flags: &Flags, env: &HashMap<String, String>) -> Option<Settings> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    Settings::resolve(flags, env, &cwd).map_err(|e| Stop::from(e).say(&Redactor::default())).ok()
}

/// Runs the command line; returns the exit code.
pub async fn main(args: Vec<String>, mut env: HashMap<String, String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal() && !env.contains_key("CI");
    let style = Style { color: terminal && !env.contains_key("NO_COLOR"), live: terminal };
    let (common, mode) = match &cli.command {
        Command::Compare(args) => return compare(args),
        Command::Reproduce(args) => {
            let Some(settings) = resolve(&args.flags(), &env) else { return exit::USAGE };
            let mut out = stdout.lock();
            return crate::commands::reproduce::reproduce(settings, &env, &args.user, &mut out, style).await;
        }
        Command::Doctor(args) => {
            // The application to check stands as the default one's production: no config file
            // (and no `application:` in it) is needed.
            let flags = Flags {
                config: args.config.clone(),
                target: args.target.clone(),
                application: Some(args.application.clone()),
                ..Flags::default()
            };
            let Some(settings) = resolve(&flags, &env) else { return exit::USAGE };
            let request = crate::commands::doctor::Request {
                application: args.application.clone(),
                users: args.users.clone(),
                json: args.json.clone(),
            };
            let mut out = stdout.lock();
            return crate::commands::doctor::doctor(&settings, &env, &request, &mut out, style).await;
        }
        Command::Provision(c) => {
            let Some(settings) = resolve(&c.flags(), &env) else { return exit::USAGE };
            return provision(&settings, &env).await;
        }
        Command::Run(c) => (c, "run"),
        Command::Validate(c) => (c, "validate"),
        Command::List(c) => (c, "list"),
    };
    let Some(mut settings) = resolve(&common.flags(), &env) else { return exit::USAGE };
    crate::environment::twin::prepare(&mut settings, &mut env);
    crate::environment::mirror::prepare(&mut settings, &mut env);
    if let (Some(missing), "run") = (crate::environment::missing_token(&settings), mode) {
        return Stop::Usage(missing).say(&Redactor::default());
    }
    let plan = match plan_or_exit(&settings, &env) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let mut out = stdout.lock();
    match mode {
        "validate" => {
            let files: std::collections::BTreeSet<_> = plan.runs.iter().map(|r| r.scenario.file.clone()).collect();
            let _ = writeln!(out, "ok: {} scenario files, {} runs planned", files.len(), plan.runs.len());
            exit::OK
        }
        "list" => {
            list(&plan, &mut out);
            exit::OK
        }
        _ => run(&settings, &plan, &env, style, &mut out).await,
    }
}

/// `ak-e2e provision`: one line per blueprint imported and device enrolled.
async fn provision(settings: &Settings, env: &HashMap<String, String>) -> i32 {
    match crate::commands::provision::provision(settings, env).await {
        Ok(lines) => {
            for line in lines {
                crate::tell!("ak-e2e: {line}");
            }
            exit::OK
        }
        Err(stop) => {
            stop.say(&Redactor::new(settings.authentik_token.iter().map(|t| t.expose().to_string()).collect()))
        }
    }
}

/// The plan, or the exit code after saying what is wrong (scenario errors rendered as
/// diagnostics with their file, line and column).
fn plan_or_exit(settings: &Settings, env: &HashMap<String, String>) -> Result<crate::plan::Plan, i32> {
    match plan(settings, env) {
        Ok(p) => Ok(p),
        Err(PlanError::Config(errors)) => {
            let said = errors.into_iter().map(|e| Stop::Usage(e.to_string()).say(&Redactor::default()));
            Err(said.max().unwrap_or(exit::USAGE))
        }
        Err(PlanError::Scenario(diagnostics)) => {
            let mut err = std::io::stderr();
            let color = err.is_terminal() && !env.contains_key("NO_COLOR");
            for d in &diagnostics {
                let _ = writeln!(err, "{}", d.render_from_file(color));
            }
            let _ = writeln!(err, "ak-e2e: {} error(s) in scenario files", diagnostics.len());
            Err(exit::SCENARIO)
        }
    }
}

/// `ak-e2e list`: each planned run, one per line.
fn list(plan: &crate::plan::Plan, out: &mut dyn Write) {
    for r in &plan.runs {
        let tags =
            if r.scenario.tags.is_empty() { String::new() } else { format!(" [{}]", r.scenario.tags.join(", ")) };
        let _ = writeln!(out, "{}  [{}] {}{tags}", r.scenario.file.display(), r.driver.as_str(), r.scenario.name);
    }
}

/// `ak-e2e run`: the environment and the browsers started, the plan run, everything stopped,
/// the summary and the reports written; the exit code of the outcome.
async fn run(
    settings: &Settings,
    plan: &crate::plan::Plan,
    env: &HashMap<String, String>,
    style: Style,
    out: &mut dyn Write,
) -> i32 {
    let redactor = Redactor::new(plan.secrets.values());
    let short = crate::plan::codes_short(settings, &plan.runs);
    if !short.is_empty() {
        return Stop::Runtime(short.join("; ")).say(&redactor);
    }
    let mut environment = match Environment::start(settings, &plan.secrets, &plan.applications, &plan.users).await {
        Ok(e) => e,
        Err(e) => return Stop::from(e).say(&redactor),
    };
    // Secrets made at the start (a mirrored user's TOTP device) join the plan's.
    let mut plan = plan.clone();
    for (var, value) in std::mem::take(&mut environment.made_secrets) {
        plan.secrets.set(&var, value);
    }
    let plan = &plan;
    let redactor = Redactor::new(plan.secrets.values());
    let mut browsers = None;
    if plan.runs.iter().any(|r| r.driver == crate::scenario::DriverKind::Browser) {
        match crate::drive::chrome::BrowserHost::start(&settings.browser).await {
            Ok(mut host) => {
                host.treat_as_secure(environment.origins());
                browsers = Some(host);
            }
            Err(e) => {
                environment.stop().await;
                return Stop::Runtime(e.to_string()).say(&redactor);
            }
        }
    }
    let where_ = match &settings.target {
        Target::Embedded => format!("embedded authentik stand-in at {}", environment.authentik),
        Target::Url(u) => format!("authentik at {u}"),
    };
    let chatgpt = environment.default_chatgpt().map(|c| c.url().to_string()).unwrap_or_default();
    for note in &environment.notes {
        let _ = writeln!(out, "ak-e2e: {note}");
    }
    let _ = writeln!(out, "ak-e2e: {} scenario runs against the {where_}; mock ChatGPT at {chatgpt}", plan.runs.len());
    // ak-e2e never removes anything there: each run writes into a folder of its own, made new
    // (never one that was there) when it has something to write: below --trace's folder when
    // given, else below the artifacts folder.
    let run_name = crate::runner::run_folder(std::time::SystemTime::now(), std::process::id());
    let folder = crate::runner::RunFolder::new(settings.trace.as_ref().unwrap_or(&settings.artifacts), &run_name);
    let update_snapshots = env.contains_key("AK_E2E_UPDATE_SNAPSHOTS");
    let ctx = crate::runner::Context::new(
        &environment,
        browsers.as_ref(),
        folder,
        settings.trace.is_some(),
        &redactor,
        settings,
        update_snapshots,
    );
    let report = {
        let mut progress = ConsoleProgress::new(out, style, redactor.clone());
        crate::runner::run(plan, &ctx, &mut progress).await
    };
    // Browsers go first: no Chromium or chromedriver outlives the run.
    ctx.close().await;
    let made = ctx.folder.if_made().map(std::path::Path::to_path_buf);
    drop(ctx);
    if let Some(mut host) = browsers {
        host.shutdown();
    }
    environment.stop().await;
    let _ = crate::report::console::summary(&report, style, &redactor, out);
    if let Some(folder) = made {
        let what = if settings.trace.is_some() { "trace bundles" } else { "artifacts" };
        let _ = writeln!(out, "ak-e2e: {what} in {}", folder.display());
    }
    exit::of(&report.summary).max(write_reports(settings, &report, &redactor))
}

/// The JSON, JUnit and HTML reports asked for; `USAGE` when one cannot be written.
fn write_reports(settings: &Settings, report: &crate::result::RunReport, redactor: &Redactor) -> i32 {
    let mut code = exit::OK;
    for (path, write) in [
        (&settings.report_json, json::write as fn(&_, &_, &mut dyn Write) -> std::io::Result<()>),
        (&settings.report_junit, junit::write),
        (&settings.report_html, crate::report::html::write),
    ] {
        let Some(path) = path else { continue };
        let result = crate::report::write_whole(path, |f| write(report, redactor, f));
        if let Err(e) = result {
            code = Stop::Usage(format!("cannot write the report {}: {e}", path.display())).say(redactor);
        }
    }
    code
}
