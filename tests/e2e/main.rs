//! End-to-end tests of the `ak-e2e` binary against the embedded target (the authentik stand-in
//! and the mock ChatGPT). Each case is a folder in `tests/cases/`: `args` (one argument per
//! line, run from the repository root), optional `env` (NAME=value lines), and `expected.snap`,
//! an `insta` snapshot of the exit code on the first line, then stdout and stderr with ports,
//! paths and durations normalised. A changed output fails the test and leaves
//! `expected.snap.new` beside it (off CI); `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test -p ak-e2e --test e2e` and a look at the diff, accepts it.

mod browser;
mod compare;
mod compose;
mod defects;
mod fidelity;
mod own_application;
mod real_target;
mod reproduce;
mod trace;

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ak-e2e");

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

/// Writes to `dir` the repository's ak-e2e.yaml with recovery codes given to tia too (beside her
/// TOTP device), and, with `scenarios_here`, its scenarios taken from `dir`; the file.
pub(crate) fn config_giving_tia_recovery_codes(dir: &Path, scenarios_here: bool) -> PathBuf {
    let totp = "    totp_secret: { env: AK_E2E_TIA_TOTP_SECRET, file: .ak-e2e/tia.totp }\n";
    let mut config = std::fs::read_to_string(root().join("ak-e2e.yaml"))
        .expect("config")
        .replace(totp, &format!("{totp}    recovery_codes: {{ file: .ak-e2e/tia.codes }}\n"));
    assert!(config.contains("tia.codes"), "the configuration gives tia recovery codes");
    if scenarios_here {
        config = config.replace("  - scenarios\n", &format!("  - {}\n", dir.display()));
    }
    let file = dir.join("ak-e2e.yaml");
    std::fs::write(&file, config).expect("config");
    file
}

/// Every file below `dir`, in path order.
pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Waits until `done` holds (looking every 20 ms), at most `secs` seconds; answers whether it did.
pub(crate) async fn wait_until(secs: u64, done: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

pub(crate) fn normalise(text: &str) -> String {
    let ports = regex_lite::Regex::new(r"(127\.0\.0\.1|localhost):\d+").expect("regex");
    let millis = regex_lite::Regex::new(r"\d+ ms\b").expect("regex");
    let artifacts = regex_lite::Regex::new(r"artifacts in \S+").expect("regex");
    let text = ports.replace_all(text, "$1:<port>");
    let text = artifacts.replace_all(&text, "artifacts in <dir>");
    millis.replace_all(&text, "<n> ms").into_owned()
}

/// Runs the binary with the case's arguments and environment; returns (exit code, output).
pub(crate) fn run(case: &str, extra_env: &[(&str, &str)]) -> (i32, String) {
    let (code, output, _) = run_with_pid(case, extra_env);
    (code, output)
}

/// Like [`run`], also returning the process id the run had.
pub(crate) fn run_with_pid(case: &str, extra_env: &[(&str, &str)]) -> (i32, String, u32) {
    let dir = root().join("tests/cases").join(case);
    let args: Vec<String> = std::fs::read_to_string(dir.join("args"))
        .expect("args")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut cmd = Command::new(BIN);
    let artifacts =
        std::env::temp_dir().join(format!("ak-e2e-artifacts-{case}-{}", ak_protocol::jose::random_token(6)));
    cmd.current_dir(root()).args(&args).env_remove("NO_COLOR").env("CI", "true");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AK_E2E_")) {
        cmd.env_remove(k);
    }
    if let Ok(env) = std::fs::read_to_string(dir.join("env")) {
        for line in env.lines().filter_map(|l| l.split_once('=')) {
            cmd.env(line.0, line.1);
        }
    }
    cmd.env("AK_E2E_ARTIFACTS", &artifacts);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("run ak-e2e");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait for ak-e2e");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), normalise(&text), pid)
}

pub(crate) fn check(case: &str) {
    check_with(case, &[]);
}

fn check_with(case: &str, env: &[(&str, &str)]) {
    let (code, output) = run(case, env);
    let actual = format!("{code}\n{output}");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("tests/cases").join(case));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("expected", actual));
}

#[test]
fn a_member_signs_in_and_lands_in_a_conversation() {
    check("pass");
}

#[test]
fn no_id_token_at_chatgpt_is_diagnosed_with_where_the_login_stopped() {
    check("no-id-token");
}

#[test]
fn a_wrong_expected_claim_is_diagnosed_at_the_claim() {
    check("wrong-claim");
}

#[test]
fn a_redirect_to_the_wrong_endpoint_is_diagnosed_with_the_hops() {
    check("wrong-redirect");
}

#[test]
fn a_wrong_password_is_diagnosed_at_authentiks_password_stage() {
    check("wrong-password");
}

#[test]
fn an_unreachable_target_names_the_url_and_what_was_tried() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    drop(std::net::TcpListener::bind(closed));
    let (code, output) = run("unreachable", &[("AK_E2E_TARGET", &format!("http://{closed}"))]);
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: target unreachable: GET http://127.0.0.1:<port>/application/o/chatgpt/.well-known/openid-configuration failed (connection refused or host unreachable)\n"
    );
}

#[test]
fn scenario_file_errors_are_rendered_with_carets_and_hints() {
    check("scenario-error");
}

#[test]
fn config_errors_exit_1() {
    check("missing-secret");
}

#[test]
fn reports_are_written_and_never_hold_secrets() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let json = dir.join("report.json");
    let junit = dir.join("junit.xml");
    let secrets = [
        ("AK_E2E_ANN_PASSWORD", "ann-very-secret-password"),
        ("AK_E2E_CLIENT_SECRET", "client-very-secret"),
        ("AK_E2E_TIA_TOTP_SECRET", "3132333435363738393031323334353637383930"),
    ];
    let mut env: Vec<(&str, &str)> = secrets.to_vec();
    let (json_s, junit_s) = (json.display().to_string(), junit.display().to_string());
    env.push(("AK_E2E_REPORT_JSON", &json_s));
    env.push(("AK_E2E_REPORT_JUNIT", &junit_s));
    let (code, output) = run("wrong-password", &env);
    assert_eq!(code, 4, "{output}");
    let json_text = std::fs::read_to_string(&json).expect("json report");
    let junit_text = std::fs::read_to_string(&junit).expect("junit report");
    let report: serde_json::Value = serde_json::from_str(&json_text).expect("valid JSON");
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["scenarios"][0]["steps"][2]["status"], "failed");
    assert!(report["scenarios"][0]["hops"].as_array().is_some_and(|h| h.len() > 5), "the hop chain is recorded");
    assert!(junit_text.contains("<failure message="), "{junit_text}");
    for (_, secret) in secrets {
        for (name, text) in [("stdout", &output), ("JSON", &json_text), ("JUnit", &junit_text)] {
            assert!(!text.contains(secret), "the {name} report leaks a secret");
        }
    }

    // A successful login's hops carry the authorization code: it is redacted.
    let (code, _) = run("pass", &env);
    assert_eq!(code, 0);
    let json_text = std::fs::read_to_string(&json).expect("json report");
    let report: serde_json::Value = serde_json::from_str(&json_text).expect("valid JSON");
    let hops = report["scenarios"][0]["hops"].as_array().expect("hops");
    let callback = hops.iter().find(|h| h["kind"] == "chatgpt.callback").expect("the callback hop");
    assert!(callback["url"].as_str().is_some_and(|u| u.contains("code=[redacted]")), "{callback}");
    for (_, secret) in secrets {
        assert!(!json_text.contains(secret), "the JSON report leaks a secret");
    }
}

#[test]
fn a_changed_claim_is_a_snapshot_diff() {
    let (code, output) = run("snapshot-differs", &[]);
    assert_eq!(code, 4, "{output}");
    assert!(
        output.contains(r#"differs from scenarios/chatgpt/snapshots/chatgpt-id-token.json: -"nickname": "ak-e2e-ann", +"nick": "ak-e2e-ann","#),
        "{output}"
    );
}

#[test]
fn partitions_split_the_suite_without_overlap() {
    let list = |extra: &[&str]| {
        let output = Command::new(BIN).current_dir(root()).arg("list").args(extra).output().expect("list");
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect::<Vec<_>>()
    };
    let all = list(&[]);
    let mut parts: Vec<String> = (1..=3).flat_map(|k| list(&["--partition", &format!("{k}/3")])).collect();
    parts.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(parts, expected, "the three parts together are the suite, each run once");
}

/// `--driver both` runs a passkey user's scenario under both drivers, as a TOTP user's: the
/// browser holds the passkey in a virtual authenticator.
#[test]
fn a_passkey_scenario_runs_under_both_drivers() {
    let files = ["scenarios/chatgpt/passkey.yaml", "scenarios/chatgpt/totp.yaml"];
    let output = Command::new(BIN).current_dir(root()).args(["list", "--driver", "both"]).args(files).output();
    let listed = String::from_utf8_lossy(&output.expect("list").stdout).into_owned();
    let runs: Vec<&str> = listed.lines().map(|l| l.split(" A user").next().unwrap_or(l).trim()).collect();
    assert_eq!(
        runs,
        [
            "scenarios/chatgpt/passkey.yaml  [api]",
            "scenarios/chatgpt/passkey.yaml  [browser]",
            "scenarios/chatgpt/totp.yaml  [api]",
            "scenarios/chatgpt/totp.yaml  [browser]"
        ],
        "{listed}"
    );
}

/// `--jobs` changes how many runs go at once, never what is reported or in which order: the
/// console lines and the JSON report of the whole suite read the same with 1 and with 4.
#[test]
fn parallel_runs_report_in_plan_order_like_sequential_ones() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-jobs-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let suite = |jobs: &str| {
        let json = dir.join(format!("report-{jobs}.json"));
        let (code, output) =
            run_args(&["run", "--driver", "api", "--jobs", jobs, "--report-json", &json.display().to_string()], &[]);
        assert_eq!(code, 0, "{output}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("JSON");
        let runs: Vec<String> = report["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .map(|s| format!("{} {} {} {}", s["file"], s["driver"], s["status"], s["diagnosis"]))
            .collect();
        let lines: Vec<String> = output.lines().filter(|l| l.starts_with('[')).map(String::from).collect();
        (lines, runs)
    };
    let (sequential, parallel) = (suite("1"), suite("4"));
    assert!(sequential.0.len() > 10, "{:?}", sequential.0);
    assert_eq!(sequential, parallel);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The artifacts folder is the user's: ak-e2e adds a folder of its own for a run that writes
/// something and removes nothing, also when pointed at a folder holding other files.
#[test]
fn a_run_never_removes_what_it_did_not_create() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-keep-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(dir.join("mine")).expect("mkdir");
    std::fs::write(dir.join("keep"), "a user's file").expect("write");
    std::fs::write(dir.join("mine/notes.txt"), "another").expect("write");
    let path = dir.display().to_string();
    let (code, output) = run("pass", &[("AK_E2E_ARTIFACTS", &path)]);
    assert_eq!(code, 0, "{output}");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["keep", "mine"], "an api run writes no artifact and removes nothing");
    let (code, output) = run("browser-wrong-password", &[("AK_E2E_ARTIFACTS", &path)]);
    assert_eq!(code, 4, "{output}");
    assert_eq!(std::fs::read_to_string(dir.join("keep")).expect("kept"), "a user's file");
    assert_eq!(std::fs::read_to_string(dir.join("mine/notes.txt")).expect("kept"), "another");
    let runs: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
        .collect();
    assert_eq!(runs.len(), 1, "the browser run wrote into a folder of its own");
    assert!(output.contains("ak-e2e: artifacts in <dir>"), "the run says where: {output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary from the repository root with these arguments (AK_E2E_* cleared).
pub(crate) fn run_args(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root()).args(args).env("CI", "true");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AK_E2E_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let output = cmd.output().expect("run ak-e2e");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), normalise(&text))
}

/// Every kind of bad input exits with its documented code and says where and why; a selection
/// that runs nothing is an error, not a pass.
#[test]
fn input_errors_exit_with_their_documented_code_and_a_location() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-inputs-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let not_utf8 = dir.join("latin1.yaml");
    std::fs::write(&not_utf8, b"name: caf\xe9\nsteps:\n  - expect_landing: conversation\n").expect("write");
    let long = dir.join("long.yaml");
    std::fs::write(&long, format!("name: x\nsteps:\n  - {}: 1\n", "y".repeat(1_000_000))).expect("write");
    let (latin1, long_s) = (not_utf8.display().to_string(), long.display().to_string());

    let (code, output) = run_args(&["validate", &latin1], &[]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains(&format!("--> {latin1}:1:10")) && output.contains("not UTF-8"), "{output}");

    let (code, output) = run_args(&["validate", &long_s], &[]);
    assert_eq!(code, 2, "{output}");
    assert!(output.len() < 2_000, "a long line is not echoed whole: {} bytes", output.len());

    let (code, output) = run_args(&["run", "--tag", "nonexistent"], &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("no scenario under scenarios has the tag `nonexistent` (their tags: "), "{output}");

    let (code, output) = run_args(&["run", "--target", "ftp://files.example"], &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.starts_with("ak-e2e: error: --target: `ftp://files.example` is not an http(s) URL"), "{output}");

    let (code, output) = run_args(&["run"], &[("AK_E2E_REQUEST_TIMEOUT_SECS", "18446744073709551615")]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("AK_E2E_REQUEST_TIMEOUT_SECS must be a whole number of seconds from 1 to 600"), "{output}");

    let (code, output) = run_args(&["run", "--jobs", "0"], &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("--jobs must be a whole number of runs from 1 to 32, not `0`"), "{output}");
    let (code, output) = run_args(&["run"], &[("AK_E2E_JOBS", "many")]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("AK_E2E_JOBS must be a whole number of runs from 1 to 32, not `many`"), "{output}");
    let (code, output) = run_args(&["run", "--screenshots", "some"], &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("screenshots `some` is not `failure` or `all`"), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With standard error (or output) closed, a run still ends with its own exit code: 3 for an
/// unreachable target, never a panic's 101.
#[test]
fn closed_standard_streams_do_not_change_the_exit_code() {
    for redirect in ["2>&-", ">&- 2>&-"] {
        let status = Command::new("sh")
            .current_dir(root())
            .arg("-c")
            .arg(format!("exec \"$0\" run --target http://127.0.0.1:9/ scenarios/chatgpt/login.yaml {redirect}"))
            .arg(BIN)
            .env("CI", "true")
            .env("AK_E2E_CLIENT_SECRET", "some-secret")
            .env("AK_E2E_ANN_PASSWORD", "some-password")
            .status()
            .expect("sh");
        assert_eq!(status.code(), Some(3), "with {redirect}");
    }
}

/// A `recovery_code` a `sign_in` cannot type is named at its file:line:col before anything runs:
/// `spent` with no code spent before it in the scenario, and any for a user without codes.
#[test]
fn a_recovery_code_that_cannot_be_typed_is_named_where_it_is_asked() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-codes-plan-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("codes.yaml");
    let scenario = r#"name: Codes that cannot be typed
steps:
  - start_login: { email: "{{ users.rex.email }}" }
  - sign_in: { user: rex, recovery_code: spent }
  - sign_in: { user: ann, recovery_code: fresh }
  - expect_landing: conversation
"#;
    std::fs::write(&file, scenario).expect("scenario");
    let (code, output) = run_args(&["validate", &file.display().to_string()], &[]);
    assert_ne!(code, 0, "{output}");
    let shown = file.display().to_string();
    assert!(output.contains("`recovery_code: spent`: no `sign_in` of `rex` before it spends one"), "{output}");
    assert!(output.contains(&format!("{shown}:4:5")), "{output}");
    assert!(output.contains("`recovery_code`: fixture user `ann` has no recovery codes"), "{output}");
    assert!(output.contains(&format!("{shown}:5:5")), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `first_factor: passkey` a `sign_in` cannot give is named at its file:line:col before
/// anything runs: for a user without a passkey, and beside a password of the step's own; a value
/// other than `password` or `passkey` is a syntax error there.
#[test]
fn a_passkey_first_factor_that_cannot_be_given_is_named_where_it_is_asked() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-pwl-plan-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("first.yaml");
    let scenario = r#"name: Passkeys that cannot be given
steps:
  - start_login: { email: "{{ users.ann.email }}" }
  - sign_in: { user: ann, first_factor: passkey }
  - sign_in: { user: pia, first_factor: passkey, password: other }
  - expect_landing: conversation
"#;
    std::fs::write(&file, scenario).expect("scenario");
    let (code, output) = run_args(&["validate", &file.display().to_string()], &[]);
    assert_ne!(code, 0, "{output}");
    let shown = file.display().to_string();
    assert!(output.contains("`first_factor: passkey`: fixture user `ann` has no passkey"), "{output}");
    assert!(output.contains(&format!("{shown}:4:5")), "{output}");
    assert!(output.contains("`first_factor: passkey` with `password`: a passkey sign-in types neither"), "{output}");
    assert!(output.contains(&format!("{shown}:5:5")), "{output}");
    std::fs::write(&file, scenario.replace("first_factor: passkey }", "first_factor: face }")).expect("scenario");
    let (code, output) = run_args(&["validate", &file.display().to_string()], &[]);
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("`first_factor` is `password` or `passkey`"), "{output}");
    assert!(output.contains(&format!("{shown}:4:")), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
