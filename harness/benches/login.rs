//! Times one api-mode login scenario against the embedded target (stand-in + mock ChatGPT in
//! process): `cargo bench -p ak-e2e`. Prints min / median / max over the iterations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use ak_e2e::config::{Flags, Settings};
use ak_e2e::plan::plan;
use ak_e2e::report::Redactor;
use ak_e2e::result::Status;
use ak_e2e::runner::{Context, Progress, run};
use ak_e2e::target::Environment;

struct Quiet;

impl Progress for Quiet {
    fn started(&mut self, _: usize, _: usize, _: &ak_e2e::plan::Planned) {}
    fn finished(&mut self, _: usize, _: usize, _: &ak_e2e::result::ScenarioResult) {}
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).expect("repository root");
    let iterations: usize = std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let flags = Flags { paths: vec![PathBuf::from("scenarios/chatgpt/login.yaml")], driver: Some("api".into()), ..Flags::default() };
        let env = HashMap::new();
        let settings = Settings::resolve(&flags, &env, &root).expect("settings");
        let plan = plan(&settings, &env).unwrap_or_else(|_| panic!("plan"));
        let start = Instant::now();
        let environment = Environment::start(&settings, &plan.secrets).await.expect("target");
        let startup = start.elapsed();
        let mut times = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let ctx = Context { env: &environment, browsers: None, artifacts: std::env::temp_dir(), redactor: Redactor::default(), panic_after_browser_start: false, idle_browser: Default::default() };
            let report = run(&plan, &ctx, &mut Quiet).await;
            times.push(t.elapsed());
            assert!(report.scenarios.iter().all(|s| s.status == Status::Passed), "the benchmark scenario must pass");
        }
        times.sort();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        println!(
            "api login scenario, embedded target, {iterations} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms (target start {:.1} ms)",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
            ms(startup)
        );
        environment.stop().await;
    });
}
