//! The browser driver end to end: real Chromium through the stand-in's flow pages, the same
//! diagnoses as the api driver, the HTML report rendered in Chromium, and process cleanup after
//! a run, a failure, SIGINT and a panic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ak_e2e::config::BrowserSettings;
use ak_e2e::drive::chrome::BrowserHost;
use fantoccini::Locator;

use super::{BIN, check, root, run, run_with_pid, walk};

/// PIDs of processes whose command line mentions `marker`.
fn processes_mentioning(marker: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.chars().all(|c| c.is_ascii_digit()) && *n != me)
                .filter(|n| {
                    std::fs::read(format!("/proc/{n}/cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
                })
                .filter(|n| {
                    // A zombie has exited; its parent has yet to reap it.
                    !std::fs::read_to_string(format!("/proc/{n}/stat"))
                        .is_ok_and(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A live process of this process group, if any.
fn in_group(pgid: &str) -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().map(|e| e.file_name().to_string_lossy().to_string()).find(|n| {
        std::fs::read_to_string(format!("/proc/{n}/stat")).is_ok_and(|s| {
            let fields: Vec<&str> = s.rsplit(") ").next().unwrap_or_default().split(' ').collect();
            fields.first().is_some_and(|state| *state != "Z") && fields.get(2) == Some(&pgid)
        })
    })
}

/// Waits until nothing mentions the marker, or fails naming what is left.
fn assert_no_leftovers(marker: &str) {
    let start = Instant::now();
    loop {
        let left = processes_mentioning(marker);
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "processes left behind for {marker}: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_member_signs_in_with_chromium() {
    check("browser-pass");
}

#[test]
fn a_wrong_password_in_chromium_is_diagnosed_like_in_the_api_driver() {
    check("browser-wrong-password");
}

/// By default a passing stage takes no screenshot (each costs the browser 50-150 ms); a failure
/// always gets one, with the page and the console, in its trace bundle.
#[test]
fn a_failure_gets_a_screenshot_and_passing_stages_none_by_default() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-shots-{}", ak_protocol::jose::random_token(6)));
    let path = dir.display().to_string();
    let (code, output) = run("browser-wrong-password", &[("AK_E2E_ARTIFACTS", &path)]);
    assert_eq!(code, 4, "{output}");
    let mut names: Vec<String> =
        walk(&dir).iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    names.sort();
    let bundle = ["claims.json", "result.json", "scenario-scenario.yaml", "trace.har"];
    assert_eq!(names, [&["01-failure.png"][..], &bundle[..1], &["console.log", "failure.html"], &bundle[1..]].concat());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_html_report_renders_in_chromium() {
    let report = std::env::temp_dir().join(format!("ak-e2e-report-{}.html", std::process::id()));
    let path = report.display().to_string();
    // Every stage's screenshot, so that the report has several to show.
    let (code, output) = run("browser-wrong-password", &[("AK_E2E_REPORT_HTML", &path), ("AK_E2E_SCREENSHOTS", "all")]);
    assert_eq!(code, 4, "{output}");
    let html = std::fs::read_to_string(&report).expect("report written");
    assert!(html.contains("data:image/png;base64,"), "screenshots are embedded");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut host = BrowserHost::start(&BrowserSettings::default()).await.expect("chromedriver");
        let client = host.session().await.expect("session");
        client.goto(&format!("file://{path}")).await.expect("open the report");
        // Sessions do not wait for pages to load (page-load strategy `none`): wait for the report.
        let summary = client
            .wait()
            .at_most(std::time::Duration::from_secs(10))
            .for_element(Locator::Css("[data-testid=summary]"))
            .await
            .expect("summary")
            .text()
            .await
            .expect("text");
        assert!(summary.starts_with("1 scenario runs on embedded: 0 passed, 1 failed"), "{summary}");
        let status =
            client.find(Locator::Css("[data-testid=status]")).await.expect("status").text().await.expect("text");
        assert_eq!(status, "failed");
        let diagnosis =
            client.find(Locator::Css("[data-testid=diagnosis]")).await.expect("diagnosis").text().await.expect("text");
        assert!(diagnosis.contains("ak-stage-password"), "{diagnosis}");
        let rendered: serde_json::Value = client
            .execute("return [...document.images].filter(i => i.complete && i.naturalWidth > 0).length", vec![])
            .await
            .expect("images");
        assert!(rendered.as_u64().unwrap_or(0) >= 2, "the screenshots render: {rendered}");
        client.close().await.expect("close");
        host.shutdown();
    });
}

/// Starts ak-e2e on a browser scenario that stalls at authentik (a delayed executor), waits for
/// its Chromium, and returns the child and the marker its browser processes carry.
fn start_stalled(extra: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(["run", "tests/cases/pass/scenario.yaml", "--driver", "browser"])
        .env("CI", "true")
        .env("AK_E2E_DEFECTS", "delay=executor:20000")
        .env("AK_E2E_REQUEST_TIMEOUT_SECS", "30")
        .env("AK_E2E_ARTIFACTS", std::env::temp_dir().join(format!("ak-e2e-stalled-{}", std::process::id())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn");
    let marker = format!("ak-e2e-browser-{}-", child.id());
    (child, marker)
}

fn wait_for_browser(marker: &str) {
    let start = Instant::now();
    while !processes_mentioning(marker).iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains("chrom"))
    }) {
        assert!(start.elapsed() < Duration::from_secs(30), "Chromium did not start within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("ak-e2e did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A stalled authentik ends a browser run within six request deadlines, and the diagnosis names
/// what did not answer: a page (authorize) or the flow page's own call (the flow executor).
#[test]
fn a_stalled_authentik_ends_the_browser_run_naming_what_did_not_answer() {
    let deadline_secs = 5;
    for (defect, named) in [
        ("delay=authorize:600000", "/application/o/authorize/ did not answer (timed out"),
        ("delay=executor:600000", "/api/v3/flows/executor/default-authentication-flow/ did not answer (timed out"),
    ] {
        let report = std::env::temp_dir().join(format!("ak-e2e-stalled-{}.json", ak_protocol::jose::random_token(6)));
        let (code, output) = run(
            "browser-pass",
            &[
                ("AK_E2E_DEFECTS", defect),
                ("AK_E2E_REQUEST_TIMEOUT_SECS", &deadline_secs.to_string()),
                ("AK_E2E_REPORT_JSON", &report.display().to_string()),
            ],
        );
        assert_eq!(code, 3, "{defect}: {output}");
        assert!(output.contains(named), "{defect}: {output}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        let _ = std::fs::remove_file(&report);
        let took = json["scenarios"][0]["duration_ms"].as_u64().expect("duration");
        assert!(took < 6 * 1000 * deadline_secs, "{defect}: the run took {took} ms: {output}");
    }
}

/// A flow page that sends its headers and then drips its body: the browser run ends within six
/// deadlines, naming the page whose body did not finish coming.
#[test]
fn a_dripping_flow_page_ends_the_browser_run_naming_it() {
    let report = std::env::temp_dir().join(format!("ak-e2e-drip-{}.json", ak_protocol::jose::random_token(6)));
    let env = [
        ("AK_E2E_DEFECTS", "drip-flow-page"),
        ("AK_E2E_REQUEST_TIMEOUT_SECS", "3"),
        ("AK_E2E_REPORT_JSON", &report.display().to_string()),
    ];
    let (code, output) = run("browser-pass", &env);
    assert_eq!(code, 3, "{output}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let _ = std::fs::remove_file(&report);
    let took = json["scenarios"][0]["duration_ms"].as_u64().expect("duration");
    assert!(took < 6 * 3000, "the run took {took} ms (its failure screenshot must not wait on the page): {output}");
    assert!(
        output.contains(
            "GET http://localhost:<port>/if/flow/default-authentication-flow/ answered, but its body did not finish coming (timed out"
        ),
        "{output}"
    );
}

#[test]
fn no_browser_process_survives_a_passing_and_a_failing_run() {
    for case in ["browser-pass", "browser-wrong-password"] {
        let (_, output, pid) = run_with_pid(case, &[]);
        assert!(output.contains("[browser]"), "{output}");
        // The run's profile folder carries its PID: nothing may mention it any more.
        assert_no_leftovers(&format!("ak-e2e-browser-{pid}-"));
    }
}

/// Stops a stalled browser run with `signal`; it must exit with `code` and leave nothing behind:
/// no process, and nothing in its temporary folder (Chromium's own temporary folders included).
fn stop_with(signal: &str, code: i32) {
    let tmp = std::env::temp_dir().join(format!("ak-e2e-tmp-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir(&tmp).expect("temporary folder");
    let (mut child, marker) = start_stalled(&[("TMPDIR", &tmp.display().to_string())]);
    wait_for_browser(&marker);
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    assert_eq!(wait_exit(&mut child), code);
    assert_no_leftovers(&marker);
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("temporary folder").flatten().map(|e| e.file_name()).collect();
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

#[test]
fn sigint_stops_the_browser_and_exits_130() {
    stop_with("-INT", 130);
}

#[test]
fn sigterm_stops_the_browser_and_exits_143() {
    stop_with("-TERM", 143);
}

/// SIGKILL gives ak-e2e no chance to clean up: its watchdog does, once ak-e2e is gone.
#[test]
fn sigkill_leaves_no_browser_process_or_profile_folder() {
    let (mut child, marker) = start_stalled(&[]);
    wait_for_browser(&marker);
    // chromedriver's process group, as the watchdog was told it: `sh -c SCRIPT NAME PGID PROFILE`.
    let pgid = processes_mentioning(&marker)
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).split('\0').map(String::from).collect::<Vec<_>>())
        .find(|args| args.get(3).is_some_and(|a| a == "ak-e2e-watchdog"))
        .and_then(|args| args.get(4).cloned())
        .expect("the watchdog runs beside the browser");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_no_leftovers(&marker);
    let start = Instant::now();
    while let Some(pid) = in_group(&pgid) {
        assert!(start.elapsed() < Duration::from_secs(10), "chromedriver's group still has {pid}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    loop {
        let profiles: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .expect("temp dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&marker))
            .collect();
        if profiles.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "profile folders left: {profiles:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A panic with a browser open unwinds through the browser host, whose drop stops chromedriver
/// and Chromium and removes the profile folders. The panic happens in a process of its own (this
/// test binary, running [`panics_with_a_browser_open`]), so that no test hook is in ak-e2e.
#[test]
fn a_panic_leaves_no_browser_behind() {
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "browser::panics_with_a_browser_open", "--ignored", "--nocapture", "--test-threads=1"])
        .env("AK_E2E_PANIC_WITH_A_BROWSER", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the panicking test");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("panicking with a browser open"), "{text}");
    assert_no_leftovers(&format!("ak-e2e-browser-{pid}-"));
}

/// Opens a browser through the library and panics with it open (run by
/// [`a_panic_leaves_no_browser_behind`] in a process of its own).
#[test]
#[ignore = "run by a_panic_leaves_no_browser_behind in a process of its own"]
fn panics_with_a_browser_open() {
    if std::env::var_os("AK_E2E_PANIC_WITH_A_BROWSER").is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let host = BrowserHost::start(&BrowserSettings::default()).await.expect("chromedriver");
        let _session = host.session().await.expect("a browser session");
        panic!("panicking with a browser open");
    });
}

#[test]
fn no_secret_reaches_a_browser_artifact_or_report() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-secret-artifacts-{}", std::process::id()));
    let html = dir.join("report.html");
    let (artifacts, report) = (dir.join("artifacts").display().to_string(), html.display().to_string());
    let secret = "browser-typed-secret-password";
    let env = [
        ("AK_E2E_ANN_PASSWORD", secret),
        ("AK_E2E_CLIENT_SECRET", "browser-client-secret-value"),
        ("AK_E2E_ARTIFACTS", artifacts.as_str()),
        ("AK_E2E_REPORT_HTML", report.as_str()),
        ("AK_E2E_SCREENSHOTS", "all"),
    ];
    // A failing run (the wrong expected claim) writes every artifact: screenshots, page, console.
    let (code, output) = run("browser-wrong-claim", &env);
    assert_eq!(code, 4, "{output}");
    let mut texts = vec![std::fs::read_to_string(&html).expect("report")];
    let mut names = Vec::new();
    for entry in walk(&dir.join("artifacts")) {
        names.push(entry.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
        if entry.extension().is_some_and(|e| e != "png") {
            texts.push(std::fs::read_to_string(&entry).expect("artifact"));
        }
    }
    assert!(
        names.iter().any(|n| n == "failure.html") && names.iter().any(|n| n.ends_with("-password.png")),
        "{names:?}"
    );
    for text in texts {
        assert!(
            !text.contains(secret) && !text.contains("browser-client-secret-value"),
            "a secret reached an artifact"
        );
    }
}

/// Every hop of the login answers in 1.2 s with a 2 s deadline per request: the chain after a
/// click takes longer than one deadline, but something new happens within each, so the driver
/// keeps waiting (it gave up after one deadline in all, on a busy machine under `--jobs 4`).
#[test]
fn a_chain_of_slow_hops_is_waited_for_while_it_progresses() {
    let env = [
        ("AK_E2E_REQUEST_TIMEOUT_SECS", "2"),
        ("AK_E2E_DEFECTS", "delay=executor:1200,delay=authorize:1200,delay=token:1200"),
    ];
    let (code, output) = run("browser-pass", &env);
    assert_eq!(code, 0, "{output}");
}

/// authentik's flow page shows its error stage when the executor API fails (a 502 while its
/// workers restart): the diagnosis names the failing answer, and the run is an error of the
/// target (exit 3), not a refusal by a stage.
#[test]
fn a_failing_flow_executor_is_named_not_taken_for_a_stage() {
    let (code, output) = run("browser-pass", &[("AK_E2E_DEFECTS", "executor-502")]);
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("authentik's flow executor answered 502: the server failed, and the flow page shows its error stage (GET http://localhost:<port>/api/v3/flows/executor/default-authentication-flow/"),
        "{output}"
    );
}

/// ChatGPT answers "Continue" slowly (its discovery fetch is delayed): right after the click the
/// old page is still there, complete. The driver must wait for the page the click leads to, not
/// take the old one for the result (this failed 1 run in 18 on a busy machine, and every time
/// with the delay).
#[test]
fn a_slow_answer_to_a_click_is_waited_for_not_mistaken_for_the_old_page() {
    let (code, output) = run("browser-pass", &[("AK_E2E_DEFECTS", "delay=discovery:1500")]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("[1/1] PASS  [browser]"), "{output}");
}

/// A login that ends on ChatGPT's error page leaves the authorization code in Chrome's console
/// ("Failed to load resource: …/callback?code=…"): the console artifact keeps the line, not the code.
#[test]
fn the_console_artifact_keeps_no_authorization_code() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-console-{}", ak_protocol::jose::random_token(6)));
    let artifacts = dir.display().to_string();
    let env = [("AK_E2E_DEFECTS", "drop-claim=family_name"), ("AK_E2E_ARTIFACTS", artifacts.as_str())];
    let (code, output) = run("browser-pass", &env);
    assert_eq!(code, 4, "{output}");
    let consoles: Vec<String> = walk(&dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "console.log"))
        .map(|p| std::fs::read_to_string(p).expect("console"))
        .collect();
    assert_eq!(consoles.len(), 1, "one failed scenario, one console: {consoles:?}");
    assert!(consoles[0].contains("callback?code=[redacted]"), "the line is kept: {}", consoles[0]);
    let leaked = regex_lite::Regex::new(r"code=[^\[]").expect("regex");
    assert!(!leaked.is_match(&consoles[0]), "a code in the console artifact: {}", consoles[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ChatGPT's login page runs a script (the email lookup) before it posts: that request is not a
/// flow redirect, so "no redirect" holds in the browser as in the api driver.
#[test]
fn a_page_script_request_is_not_taken_for_a_redirect() {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(["run", "scenarios/chatgpt/outside-domain.yaml", "--driver", "browser"])
        .env("CI", "true")
        .env("AK_E2E_ARTIFACTS", std::env::temp_dir().join(format!("ak-e2e-script-{}", std::process::id())));
    let output = cmd.output().expect("run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("ak-e2e-script-{}", std::process::id())));
}

/// One browser session serves scenario after scenario: a failed scenario's console artifact
/// holds its own lines, not those an earlier (passing) scenario left in the browser's log.
#[test]
fn each_scenario_gets_its_own_console() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-own-console-{}", ak_protocol::jose::random_token(6)));
    let output = Command::new(BIN)
        .current_dir(root())
        .args([
            "run",
            "scenarios/chatgpt/outside-domain.yaml",
            "tests/cases/wrong-password/scenario.yaml",
            "--driver",
            "browser",
        ])
        .env("CI", "true")
        .env("AK_E2E_ARTIFACTS", &dir)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(text.contains("[1/2] PASS") && text.contains("[2/2] FAIL"), "{text}");
    let consoles: Vec<String> = walk(&dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "console.log"))
        .map(|p| std::fs::read_to_string(p).expect("console"))
        .collect();
    assert_eq!(consoles.len(), 1, "{consoles:?}");
    // The first scenario's page answered 403 (ChatGPT refused the email): its console line.
    assert!(!consoles[0].contains("403 (Forbidden)"), "an earlier scenario's console: {}", consoles[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chromedriver that reports its port taken on its first `collisions` starts, the way the real
/// one does when another program took the port on `127.0.0.1` after it was picked, then is the
/// real one.
/// Returns the script and the file counting its starts.
fn colliding_chromedriver(collisions: u32) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("ak-e2e-colliding-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("folder");
    let counter = dir.join("starts");
    let script = dir.join("chromedriver");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat '{counter}' 2>/dev/null || echo 0)\necho $((n + 1)) > '{counter}'\n\
             if [ \"$n\" -lt {collisions} ]; then\n  echo 'Starting ChromeDriver (a stand-in) on port 0'\n  \
             echo 'IPv4 port not available. Exiting...'\n  exit 1\nfi\nexec chromedriver \"$@\"\n",
            counter = counter.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, counter)
}

fn starts(counter: &std::path::Path) -> String {
    std::fs::read_to_string(counter).unwrap_or_default().trim().to_string()
}

/// chromedriver's port collision (it binds its port on `[::1]` and on `127.0.0.1`, and another
/// program may hold the second) is a new start, not a failed run: this flake once failed CI.
#[test]
fn a_chromedriver_port_collision_is_retried() {
    let (script, counter) = colliding_chromedriver(2);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let settings = BrowserSettings { chromedriver: Some(script.clone()), ..BrowserSettings::default() };
        let mut host = BrowserHost::start(&settings).await.expect("the third start listens");
        assert_eq!(starts(&counter), "3");
        let client = host.session().await.expect("a session from the third start");
        client.goto("about:blank").await.expect("a page");
        client.close().await.expect("close");
        host.shutdown();
    });
    let _ = std::fs::remove_dir_all(script.parent().expect("folder"));
}

/// Collisions on every start are reported, with what chromedriver said, after a bounded number
/// of starts.
#[test]
fn a_port_taken_on_every_start_is_named() {
    let (script, counter) = colliding_chromedriver(u32::MAX);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let error = runtime
        .block_on(BrowserHost::start(&BrowserSettings {
            chromedriver: Some(script.clone()),
            ..BrowserSettings::default()
        }))
        .expect_err("no start listens");
    assert_eq!(starts(&counter), "5");
    let message = error.to_string();
    assert!(message.contains("found its port taken on each of 5 starts"), "{message}");
    assert!(message.contains("IPv4 port not available"), "{message}");
    assert_no_leftovers(&script.parent().expect("folder").display().to_string());
    let _ = std::fs::remove_dir_all(script.parent().expect("folder"));
}

/// A WebDriver that accepts the connection and never answers: the run ends with exit 3 once the
/// session's deadline passes, naming the WebDriver, instead of waiting forever.
#[test]
fn a_webdriver_that_never_answers_ends_the_run_at_its_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let held = std::thread::spawn(move || {
        // Accept and hold every connection, never answering.
        let mut sockets = Vec::new();
        for socket in listener.incoming().take(4).flatten() {
            sockets.push(socket);
        }
        sockets.len()
    });
    let started = Instant::now();
    let (code, output) = run("browser-pass", &[("AK_E2E_WEBDRIVER_URL", url.as_str())]);
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("no browser session from http://127.0.0.1:"), "{output}");
    assert!(started.elapsed() < Duration::from_secs(60), "ended after {:?}", started.elapsed());
    drop(held);
}

/// authentik's authorize endpoint answers, but after the request deadline: a timeout in the
/// browser as in the api driver (whose client gives up at the deadline), naming the URL; the
/// browser run used to pass.
#[test]
fn an_answer_past_the_request_deadline_is_a_timeout_in_the_browser_too() {
    let env = [("AK_E2E_DEFECTS", "delay=authorize:4500"), ("AK_E2E_REQUEST_TIMEOUT_SECS", "3")];
    let (code, output) = run("browser-pass", &env);
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("/application/o/authorize/ answered after 4.")
            || output.contains("/application/o/authorize/ did not answer (timed out"),
        "{output}"
    );
}

/// A layer over authentik's flow page (a brand's custom CSS) lets every stage show and nothing
/// be clicked: the browser run names the button and what lies over it; the api driver, which
/// clicks nothing, is not the one to catch it.
#[test]
fn a_covered_button_is_named_with_what_covers_it() {
    let env = [("AK_E2E_DEFECTS", "cover-flow"), ("AK_E2E_REQUEST_TIMEOUT_SECS", "2")];
    let (code, output) = run("browser-pass", &env);
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(
            "`button[type=submit]` in authentik's ak-stage-identification (through ak-flow-executor's shadow root) \
             could not be clicked within 2s: covered by <div class=\"ak-brand-custom\">"
        ),
        "{output}"
    );
}

/// A page on 127.0.0.1:0 that answers every request with `<p id=ready>`, until the test ends.
fn tiny_site() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<!DOCTYPE html><p id=ready>ready</p>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

/// A reused session starts the next scenario as a new one: the cookies and the storage the
/// last one's pages left are gone.
#[test]
fn a_reset_session_keeps_no_cookie_or_storage_of_the_last_scenario() {
    let site = tiny_site();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut host = BrowserHost::start(&BrowserSettings::default()).await.expect("chromedriver");
        let client = host.session().await.expect("session");
        let open = async || {
            client.goto(&site).await.expect("open the site");
            client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#ready")).await.expect("the page");
        };
        let look = "return [document.cookie, localStorage.getItem('left')]";
        open().await;
        let set = "document.cookie = 'left=1; max-age=3600'; localStorage.setItem('left', '1'); return document.cookie";
        assert_eq!(client.execute(set, vec![]).await.expect("set"), serde_json::json!("left=1"));
        let origin = ak_e2e::drive::chrome::origin_of(&url::Url::parse(&site).expect("url"));
        assert!(ak_e2e::drive::chrome::reset_session(&client, &[origin].into()).await, "the session clears");
        open().await;
        assert_eq!(client.execute(look, vec![]).await.expect("look"), serde_json::json!(["", null]));
        let _ = client.close().await;
        host.shutdown();
    });
}

/// A user with a passkey signs in through the browser's virtual authenticator, under both drivers
/// alike (the scenario's `amr` says the MFA stage was passed). Behind a proxy that does not pass
/// the Host header on, authentik asks for passkeys of another site: the browser refuses, and the
/// diagnosis names the RP ID, as the api driver's does, instead of a post that never came.
#[test]
fn a_passkey_signs_in_through_the_browser_and_a_refused_one_is_named() {
    let passkey = |defects: &str| {
        let artifacts = std::env::temp_dir().join(format!("ak-e2e-passkey-{}", ak_protocol::jose::random_token(6)));
        let output = Command::new(BIN)
            .current_dir(root())
            .args(["run", "scenarios/chatgpt/passkey.yaml", "--driver", "both"])
            .env("CI", "true")
            .env("AK_E2E_DEFECTS", defects)
            .env("AK_E2E_ARTIFACTS", &artifacts)
            .output()
            .expect("run");
        let _ = std::fs::remove_dir_all(&artifacts);
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (code, output) = passkey("");
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("PASS  [browser] A user with a passkey"), "{output}");
    let (code, output) = passkey("host-not-forwarded");
    assert_eq!(code, Some(4), "a failure, not an error: authentik is misconfigured; {output}");
    let text = output.replace('\n', " ");
    let why = "authentik asks for RP ID `authentik-server` on a page at localhost; it takes its WebAuthn site from the \
               Host header it gets: a reverse proxy before it must pass the browser's Host on";
    let browser =
        format!("browser: Chromium refused authentik's request for `ak-e2e-pia`'s passkey (SecurityError): {why}");
    let api =
        format!("`ak-e2e-pia`'s passkey cannot answer authentik's WebAuthn challenge, which a browser refuses: {why}");
    assert!(text.contains(&browser), "{output}");
    assert!(text.contains(&api), "{output}");
}

/// A flow page whose code field takes digits only refuses a recovery code before sending it, as
/// it would a person's: the diagnosis names the field, the page's words and its pattern (a
/// failure: authentik's page is at fault).
#[test]
fn a_recovery_code_the_page_refuses_is_named_without_the_code() {
    let artifacts = std::env::temp_dir().join(format!("ak-e2e-codes-{}", ak_protocol::jose::random_token(6)));
    let output = Command::new(BIN)
        .current_dir(root())
        .args(["run", "scenarios/chatgpt/recovery-code.yaml", "--driver", "browser"])
        .env("CI", "true")
        .env("AK_E2E_DEFECTS", "digits-only-codes")
        .env("AK_E2E_ARTIFACTS", &artifacts)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout).replace('\n', " ");
    assert_eq!(output.status.code(), Some(4), "{text}");
    let said = "browser: `input[name=code]` in authentik's ak-stage-authenticator-validate was not sent: the page refuses \
                the value before sending it: Please match the requested format. (the field's pattern is `[0-9]*`)";
    assert!(text.contains(said), "{text}");
    let _ = std::fs::remove_dir_all(&artifacts);
}

/// A user with TOTP and recovery codes: authentik's device picker at the first sign-in (no
/// device used yet), the TOTP device picked; in another browser, authentik shows the TOTP
/// device by itself (the last used), and a recovery code is typed after "Select another
/// authentication method" and the picker, as a person would.
#[test]
fn a_device_other_than_the_one_authentik_chose_is_picked_through_its_picker() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-picker-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = super::config_giving_tia_recovery_codes(&dir, true);
    let scenario = r#"name: Tia signs in with TOTP, then with a recovery code
drivers: [browser]
steps:
  - start_login: { email: "{{ users.tia.email }}" }
  - sign_in: { user: tia }
  - expect_landing: conversation
  - start_login: { email: "{{ users.tia.email }}", new_session: true }
  - sign_in: { user: tia, recovery_code: fresh }
  - expect_claims: { from: id_token, claims: { amr: '["pwd","mfa"]' } }
  - expect_landing: conversation
"#;
    let file = dir.join("picker.yaml");
    std::fs::write(&file, scenario).expect("scenario");
    let output = Command::new(BIN)
        .current_dir(root())
        .args(["run", "--config"])
        .arg(&config)
        .arg(&file)
        .env("CI", "true")
        .env("AK_E2E_ARTIFACTS", dir.join("artifacts"))
        .output()
        .expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An identification stage that offers no passkey (`no-passkey-login`): under both drivers the
/// `sign_in` with a passkey first fails naming the setting (a failure: authentik's setup).
#[test]
fn an_identification_stage_without_passkey_sign_in_is_named_under_both_drivers() {
    let artifacts = std::env::temp_dir().join(format!("ak-e2e-nopwl-{}", ak_protocol::jose::random_token(6)));
    let output = Command::new(BIN)
        .current_dir(root())
        .args(["run", "scenarios/chatgpt/passkey-first-factor.yaml"])
        .env("CI", "true")
        .env("AK_E2E_DEFECTS", "no-passkey-login")
        .env("AK_E2E_ARTIFACTS", &artifacts)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&output.stdout).replace('\n', " ");
    assert_eq!(output.status.code(), Some(4), "{text}");
    let said = "authentik's identification stage offers no passkey sign-in, so `ak-e2e-pia` cannot sign in with a \
                passkey first: the flow's identification stage has no \"WebAuthn Authenticator Validation Stage\"";
    assert_eq!(text.matches(said).count(), 2, "once per driver: {text}");
    assert!(text.contains("0 passed, 2 failed"), "{text}");
    let _ = std::fs::remove_dir_all(&artifacts);
}
