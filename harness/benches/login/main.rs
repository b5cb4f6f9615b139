//! The performance benchmark: one login and the whole suite, each beside what users compare it
//! with, against one target in one sitting.
//!
//! ```text
//! cargo bench -p ak-e2e --bench login                  # the embedded target
//! scripts/bench --real                                 # the real authentik of ../shared/real-authentik
//! BENCH_QUICK=1 cargo bench -p ak-e2e --bench login    # 3 logins each instead of 7 (CI)
//! ```
//!
//! The target is ak-e2e's own: `AK_E2E_TARGET`, `AK_E2E_CONFIG` and the secrets' variables are
//! read as `ak-e2e run` reads them. Four figures; the logins are compared in several sittings
//! (`BENCH_SITTINGS`, 3 unless quick), each a warm-up then `BENCH_LOGINS` logins of each side
//! interleaved, and reported as the median of the sittings' median ratios with their spread:
//! 1. the api driver on `scenarios/chatgpt/login.yaml` vs a bare reqwest chain of the same login,
//!    in two variants: the chain alone (authorize, flow executor, authorize, token), and the chain
//!    with the requests ChatGPT makes to authentik besides the token (userinfo; discovery and the
//!    key set are cached by both), i.e. the same requests to authentik as the driver's login;
//! 2. the browser driver on the same scenario vs a minimal fantoccini script of the same login,
//!    both warm: one browser session each, cleared between logins the same way (cookies and
//!    storage through DevTools), as a script with a fresh context per login would be; and, when
//!    Node and `playwright-core` are installed, vs a Playwright script of the same login (one
//!    browser, a new context per login, the system's Chromium; `playwright/login.mjs`);
//! 3. the suite under both drivers, `--jobs 1` vs `--jobs 4` (the binary, as users run it);
//! 4. the binary's peak resident memory (browsers excluded) and its start to first verdict.
//!
//! For figures 1 and 2 it also prints where the driver's time per login goes (median of each
//! part over the logins; the run's own `spent` breakdown). `BENCH_FIGURES=logins` stops after
//! them; `BENCH_FIGURES=browser` makes figure 2 only.

mod bare;
mod playwright;
mod script;
mod suite;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ak_e2e::config::{Flags, Settings, Target};
use ak_e2e::drive::chrome::BrowserHost;
use ak_e2e::environment::Environment;
use ak_e2e::plan::{Plan, plan};
use ak_e2e::report::Redactor;
use ak_e2e::result::Progress;
use ak_e2e::result::Status;
use ak_e2e::runner::{Context, run};
use ak_e2e::scenario::DEFAULT_APPLICATION;

struct Quiet;

impl Progress for Quiet {
    fn started(&mut self, _: usize, _: usize, _: &ak_e2e::plan::Planned) {}
    fn finished(&mut self, _: usize, _: usize, _: &ak_e2e::result::ScenarioResult) {}
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}

/// One login through the runner: its time and where it went.
async fn timed(plan: &Plan, ctx: &Context<'_>) -> (Duration, Vec<(String, f64)>) {
    let t = Instant::now();
    let report = run(plan, ctx, &mut Quiet).await;
    assert!(report.scenarios.iter().all(|s| s.status == Status::Passed), "the login scenario must pass: {report:?}");
    (t.elapsed(), report.scenarios.into_iter().flat_map(|s| s.spent).collect())
}

/// The sittings of one comparison: in each, a warm-up, then `logins` of each side interleaved.
#[derive(Default)]
struct Sittings {
    /// Per sitting, the median of each side.
    medians: Vec<(Duration, Duration)>,
    /// Every measured login's breakdown (ours).
    parts: Vec<Vec<(String, f64)>>,
    /// The sitting going on: each side's times.
    current: (Vec<Duration>, Vec<Duration>),
}

impl Sittings {
    /// One measured login of each side (`theirs` none: that anchor could not run).
    fn login(&mut self, ours: Duration, theirs: Option<Duration>) {
        if let Some(theirs) = theirs {
            self.current.0.push(ours);
            self.current.1.push(theirs);
        }
    }

    /// Ends the sitting going on.
    fn end_sitting(&mut self) {
        let (ours, theirs) = std::mem::take(&mut self.current);
        if !ours.is_empty() {
            self.medians.push((median(ours), median(theirs)));
        }
    }

    /// The median of the sittings' medians (ours, theirs), their ratio, and the spread of the
    /// sittings' ratios.
    fn summary(&self) -> (Duration, Duration, String) {
        let ours = median(self.medians.iter().map(|m| m.0).collect());
        let theirs = median(self.medians.iter().map(|m| m.1).collect());
        let mut ratios: Vec<f64> = self.medians.iter().map(|(a, b)| a.as_secs_f64() / b.as_secs_f64()).collect();
        ratios.sort_by(f64::total_cmp);
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let spread = format!("{} (sittings: {})", ratio(ours, theirs), shown.join(", "));
        (ours, theirs, spread)
    }

    /// Where ours went: the median of each part over the logins, in the order first seen.
    fn print_parts(&self, title: &str) {
        let mut names: Vec<&str> = Vec::new();
        for login in &self.parts {
            for (name, _) in login {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        println!("\n{title}: where a login's time goes (median of {} logins, ms)\n", self.parts.len());
        for name in names {
            let mut values: Vec<f64> =
                self.parts.iter().map(|login| login.iter().filter(|(n, _)| n == name).map(|(_, v)| v).sum()).collect();
            values.sort_by(f64::total_cmp);
            println!("  {:>8.1}  {name}", values[values.len() / 2]);
        }
    }
}

/// The rows of the final table, filled as the figures come in.
#[derive(Default)]
struct Table(Vec<[String; 5]>);

impl Table {
    fn row(&mut self, cells: [&str; 5]) {
        eprintln!("  {}: {} vs {} = {}", cells[0], cells[1], cells[2], cells[3]);
        self.0.push(cells.map(String::from));
    }

    fn print(&self) {
        let head = ["figure", "ak-e2e", "compared with", "ratio", "goal"];
        let widths: Vec<usize> = (0..5)
            .map(|i| self.0.iter().map(|r| r[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: &[&str]| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&head);
        println!("|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
        for r in &self.0 {
            line(&r.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).expect("repository root");
    let env: HashMap<String, String> = std::env::vars().collect();
    let quick = env.contains_key("BENCH_QUICK");
    let logins: usize = env.get("BENCH_LOGINS").and_then(|v| v.parse().ok()).unwrap_or(if quick { 3 } else { 7 });
    let sittings: usize = env.get("BENCH_SITTINGS").and_then(|v| v.parse().ok()).unwrap_or(if quick { 1 } else { 3 });
    let runs = Runs { logins, sittings: sittings.max(1) };
    let scratch = std::env::temp_dir().join(format!("ak-e2e-bench-{}", std::process::id()));
    let mut table = Table::default();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (target, totp_secrets) = runtime.block_on(logins_figures(&env, &root, runs, &scratch, &mut table));
    if env.get("BENCH_FIGURES").is_some_and(|f| f == "logins" || f == "browser") {
        println!("\nak-e2e benchmark against {target}: {sittings} sittings of {logins} logins each side\n");
        table.print();
        return;
    }

    eprintln!("the suite under both drivers, --jobs 1 then --jobs 4");
    // Each suite starts with the same TOTP clock: both usable codes of every device unspent.
    suite::fresh_totp_codes(&totp_secrets);
    let one = suite::run(&["--driver", "both", "--jobs", "1"], &scratch.join("suite-1"));
    suite::fresh_totp_codes(&totp_secrets);
    let four = suite::run(&["--driver", "both", "--jobs", "4"], &scratch.join("suite-4"));
    for (jobs, m) in [(1, &one), (4, &four)] {
        assert_eq!(m.exit, Some(0), "the suite with --jobs {jobs} must have every verdict right");
    }
    table.row([
        "suite, --driver both: --jobs 4 vs --jobs 1",
        &format!("{:.1} s", four.wall.as_secs_f64()),
        &format!("{:.1} s", one.wall.as_secs_f64()),
        &ratio(four.wall, one.wall),
        "≤ 0.50×",
    ]);
    table.row([
        "CPUs busy (the whole machine) during the suite, --jobs 1 / --jobs 4",
        &format!("{:.0} % / {:.0} %", one.cpu_busy * 100.0, four.cpu_busy * 100.0),
        "",
        "",
        "",
    ]);
    table.row([
        "peak resident memory of ak-e2e (browsers excluded), --jobs 1 / --jobs 4",
        &format!("{:.1} MiB / {:.1} MiB", one.peak_rss_kib as f64 / 1024.0, four.peak_rss_kib as f64 / 1024.0),
        "",
        "",
        "≤ 30 MiB",
    ]);
    let login = ["scenarios/chatgpt/login.yaml"];
    let api = suite::first_verdict(&[&["--driver", "api"][..], &login].concat(), &scratch.join("first-api"));
    let browser =
        suite::first_verdict(&[&["--driver", "browser"][..], &login].concat(), &scratch.join("first-browser"));
    let shown = |d: Option<Duration>| d.map_or_else(|| "no verdict".to_string(), ms);
    table.row([
        "start to first verdict, login.yaml: api / browser (Chromium start included)",
        &format!("{} / {}", shown(api), shown(browser)),
        "",
        "",
        "≤ 1 s + the browser's start",
    ]);
    let _ = std::fs::remove_dir_all(&scratch);
    println!("\nak-e2e benchmark against {target}: {sittings} sittings of {logins} logins each side\n");
    table.print();
}

/// How many logins each side, in how many sittings.
#[derive(Clone, Copy)]
struct Runs {
    logins: usize,
    sittings: usize,
}

/// Figures 1 and 2, in process against one started environment. Returns the target's name and,
/// for a real target, the fixture users' TOTP secrets.
async fn logins_figures(
    env: &HashMap<String, String>,
    root: &std::path::Path,
    runs: Runs,
    scratch: &std::path::Path,
    table: &mut Table,
) -> (String, Vec<Vec<u8>>) {
    let settings_for = |driver: &str| {
        let flags = Flags {
            paths: vec![PathBuf::from("scenarios/chatgpt/login.yaml")],
            driver: Some(driver.into()),
            ..Flags::default()
        };
        Settings::resolve(&flags, env, root).expect("settings")
    };
    let api = settings_for("api");
    let api_plan = plan(&api, env).unwrap_or_else(|_| panic!("the login scenario must plan"));
    let environment = Environment::start(&api, &api_plan.secrets, &api_plan.applications, &api_plan.users)
        .await
        .expect("the target starts");
    let (target, totp_secrets) = describe_target(&api, env, &environment);
    eprintln!("benchmarking against {target}");
    let ws = environment.workspace(DEFAULT_APPLICATION).expect("the default workspace");
    let ann = &api.users["ann"];
    let password = api_plan.secrets.get(&ann.password.env).expect("ann's password");
    let secret = ws.chatgpt.config().client_secret.expose().to_string();
    let bare_login = bare::Login {
        authentik: &environment.authentik,
        client_id: &ws.client_id,
        client_secret: &secret,
        redirect_uri: ws.chatgpt.redirect_uri(),
        username: &ann.username,
        password: &password,
    };
    let browser = settings_for("browser");
    let mut host = BrowserHost::start(&browser.browser).await;
    let redactor = Redactor::default();
    let folder = ak_e2e::runner::RunFolder::new(scratch, "artifacts");
    let ctx = Context::new(&environment, host.as_ref().ok(), folder, false, &redactor, &api, false);
    if env.get("BENCH_FIGURES").is_none_or(|f| f != "browser") {
        api_figure(&api_plan, &ctx, &bare_login, api.request_timeout, runs, table).await;
    }

    let browser_plan = plan(&browser, env).unwrap_or_else(|_| panic!("the login scenario must plan"));
    // The secrets the target was started with are the api plan's.
    let browser_plan = Plan { secrets: api_plan.secrets.clone(), ..browser_plan };
    match &host {
        Err(e) => eprintln!("browser figures skipped: {e}"),
        Ok(host) => {
            let login_page = ws.chatgpt.login_url().to_string();
            let script_login = script::Login {
                login_page: &login_page,
                email: &ann.email,
                username: &ann.username,
                password: &password,
            };
            let chromium = browser.browser.chromium.clone().unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
            browser_figure(&browser_plan, &ctx, host, &script_login, &chromium, runs, table).await;
        }
    }
    ctx.close().await;
    drop(ctx);
    if let Ok(host) = &mut host {
        host.shutdown();
    }
    environment.stop().await;
    (target, totp_secrets)
}

/// The target's name for the output and, for a real target, the fixture users' TOTP secrets
/// (the suite figures reset their codes with them).
fn describe_target(api: &Settings, env: &HashMap<String, String>, environment: &Environment) -> (String, Vec<Vec<u8>>) {
    match &api.target {
        Target::Embedded => (format!("the embedded target (stand-in at {})", environment.authentik), Vec::new()),
        Target::Url(u) => (format!("authentik at {u}"), suite::totp_secrets(api, env)),
    }
}

/// Figure 1: the api driver's login against the bare reqwest chain, alone and with ChatGPT's
/// userinfo request (the same requests to authentik as the driver), in sittings of `logins`
/// interleaved logins of the three after one warm-up.
async fn api_figure(
    plan: &Plan,
    ctx: &Context<'_>,
    bare_login: &bare::Login<'_>,
    timeout: Duration,
    runs: Runs,
    table: &mut Table,
) {
    let bare_timed = |userinfo: bool| async move {
        let t = Instant::now();
        bare::login(bare_login, timeout, userinfo).await.expect("the bare chain logs in");
        t.elapsed()
    };
    let (mut alone, mut same) = (Sittings::default(), Sittings::default());
    for _ in 0..runs.sittings {
        for i in 0..=runs.logins {
            let (a, parts) = timed(plan, ctx).await;
            let b = bare_timed(false).await;
            let c = bare_timed(true).await;
            if i > 0 {
                alone.login(a, Some(b));
                same.login(a, Some(c));
                alone.parts.push(parts);
            }
        }
        alone.end_sitting();
        same.end_sitting();
    }
    let (a, b, r) = same.summary();
    table.row([
        "api login (login.yaml) vs a bare chain making the same requests to authentik (userinfo included)",
        &ms(a),
        &ms(b),
        &r,
        "≤ 1.10×",
    ]);
    let (a, b, r) = alone.summary();
    table.row(["api login (login.yaml) vs the bare chain alone (no userinfo)", &ms(a), &ms(b), &r, ""]);
    alone.print_parts("api driver");
}

/// Figure 2: the browser driver's login against the fantoccini script, both warm (one session
/// each, cleared between logins the same way), and against the Playwright script when it can
/// run, in sittings of `logins` interleaved logins after one warm-up.
async fn browser_figure(
    plan: &Plan,
    ctx: &Context<'_>,
    host: &BrowserHost,
    script_login: &script::Login<'_>,
    chromium: &std::path::Path,
    runs: Runs,
    table: &mut Table,
) {
    let client = host.session().await.expect("a browser session for the script");
    let mut playwright = match playwright::Playwright::start(script_login, chromium) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("the Playwright anchor is skipped: {e}");
            None
        }
    };
    // The script clears the same origins' storage as the driver does after its login.
    let origins = ctx.env.origins().collect();
    let (mut all, mut against_playwright) = (Sittings::default(), Sittings::default());
    for _ in 0..runs.sittings {
        for i in 0..=runs.logins {
            let (a, parts) = timed(plan, ctx).await;
            let t = Instant::now();
            script::login(&client, script_login).await.expect("the script logs in");
            assert!(ak_e2e::drive::chrome::reset_session(&client, &origins).await, "the script's session clears");
            let b = t.elapsed();
            // A Playwright that fails (its browser, its script) is skipped from then on, saying so.
            let c = match &mut playwright {
                Some(p) => p.login().await.map_err(|e| eprintln!("the Playwright anchor is skipped: {e}")).ok(),
                None => None,
            };
            if c.is_none()
                && let Some(p) = playwright.take()
            {
                p.stop().await;
            }
            if i > 0 {
                all.login(a, Some(b));
                against_playwright.login(a, c);
                all.parts.push(parts);
            }
        }
        all.end_sitting();
        against_playwright.end_sitting();
    }
    let _ = client.close().await;
    if let Some(p) = playwright {
        p.stop().await;
    }
    if !against_playwright.medians.is_empty() {
        let (a, b, r) = against_playwright.summary();
        table.row([
            "browser login vs a Playwright script (one browser, a new context per login)",
            &ms(a),
            &ms(b),
            &r,
            "≤ 0.80×",
        ]);
    }
    let (a, b, r) = all.summary();
    table.row([
        "browser login vs a fantoccini script, both warm (one session each, cleared per login)",
        &ms(a),
        &ms(b),
        &r,
        "",
    ]);
    all.print_parts("browser driver");
}
