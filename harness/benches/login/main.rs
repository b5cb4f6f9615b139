//! Times one login scenario against the embedded target (stand-in + mock ChatGPT in process):
//! `cargo bench -p ak-e2e`. The api driver over many runs; the browser driver cold (chromedriver
//! and Chromium start included) and warm (the session reused). Prints min / median / max.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ak_e2e::config::{Flags, Settings};
use ak_e2e::driver::chrome::BrowserHost;
use ak_e2e::plan::{Plan, plan};
use ak_e2e::report::Redactor;
use ak_e2e::result::Status;
use ak_e2e::runner::{Context, Progress, run};
use ak_e2e::target::Environment;

struct Quiet;

impl Progress for Quiet {
    fn started(&mut self, _: usize, _: usize, _: &ak_e2e::plan::Planned) {}
    fn finished(&mut self, _: usize, _: usize, _: &ak_e2e::result::ScenarioResult) {}
}

fn stats(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: {} runs, min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

async fn timed(plan: &Plan, ctx: &Context<'_>) -> Duration {
    let t = Instant::now();
    let report = run(plan, ctx, &mut Quiet).await;
    assert!(report.scenarios.iter().all(|s| s.status == Status::Passed), "the benchmark scenario must pass");
    t.elapsed()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).expect("repository root");
    let iterations: usize = std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let env = HashMap::new();
        let settings_for = |driver: &str| {
            let flags = Flags {
                paths: vec![PathBuf::from("scenarios/chatgpt/login.yaml")],
                driver: Some(driver.into()),
                ..Flags::default()
            };
            Settings::resolve(&flags, &env, &root).expect("settings")
        };
        let api = settings_for("api");
        let api_plan = plan(&api, &env).unwrap_or_else(|_| panic!("plan"));
        let start = Instant::now();
        let environment =
            Environment::start(&api, &api_plan.secrets, &api_plan.applications, &api_plan.users).await.expect("target");
        println!("embedded target start: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
        let artifacts = std::env::temp_dir().join("ak-e2e-bench");
        let ctx = Context {
            env: &environment,
            browsers: None,
            artifacts: artifacts.clone(),
            redactor: Redactor::default(),
            panic_after_browser_start: false,
            update_snapshots: false,
            idle_browser: Default::default(),
        };
        let mut times = Vec::new();
        for _ in 0..iterations {
            times.push(timed(&api_plan, &ctx).await);
        }
        stats("api driver, login scenario", times);

        let browser = settings_for("browser");
        let browser_plan = plan(&browser, &env).unwrap_or_else(|_| panic!("plan"));
        // The secrets the stand-in was provisioned with are the api plan's.
        let browser_plan = Plan { secrets: api_plan.secrets.clone(), ..browser_plan };
        let cold_start = Instant::now();
        let Ok(mut host) = BrowserHost::start(&browser.browser).await else {
            println!("browser driver: skipped (no chromedriver)");
            return;
        };
        let ctx = Context {
            env: &environment,
            browsers: Some(&host),
            artifacts,
            redactor: Redactor::default(),
            panic_after_browser_start: false,
            update_snapshots: false,
            idle_browser: Default::default(),
        };
        timed(&browser_plan, &ctx).await;
        let cold = cold_start.elapsed();
        let mut warm = Vec::new();
        for _ in 0..iterations.min(10) {
            warm.push(timed(&browser_plan, &ctx).await);
        }
        println!(
            "browser driver, login scenario, cold (chromedriver + Chromium start): {:.1} ms",
            cold.as_secs_f64() * 1000.0
        );
        stats("browser driver, login scenario, warm", warm);
        ctx.close().await;
        host.shutdown();
        environment.stop().await;
    });
}
