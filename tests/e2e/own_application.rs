//! The admin's own ChatGPT application: `doctor` on the embedded target (each misconfiguration
//! of the variants' applications found, none on the corrected one), and twins against the
//! stand-in started apart, by URL, as a real authentik: a run and `reproduce` through a twin of
//! the production application give that application's verdicts, and no twin or throwaway user
//! is left after a pass, a failure, or a SIGKILL followed by the next run.

use std::process::{Command, Stdio};

use authentik_standin::AuthentikStandIn;

use super::real_target::{SECRETS, free_port, standin_with};
use super::{BIN, normalise, root, wait_until};

const TOKEN: &str = "bootstrap-token-for-the-test";

fn output_of(output: std::process::Output) -> (i32, String) {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), normalise(&text))
}

/// `ak-e2e ARGS` in the repository with the fixture secrets and nothing else of AK_E2E_*.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root()).args(args).env("CI", "true").envs(SECRETS.iter().copied()).envs(env.iter().copied());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AK_E2E_")) {
        if !SECRETS.iter().chain(env).any(|(s, _)| *s == k) {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn doctor(app: &str, users: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut args = vec!["doctor", "--application", app];
    for u in users {
        args.extend(["--user", u]);
    }
    output_of(command(&args, env).output().expect("run ak-e2e"))
}

#[test]
fn doctor_finds_each_misconfiguration_of_the_variants_and_none_in_the_corrected_application() {
    let (code, out) = doctor("chatgpt", &["ak-e2e-ann"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ak-e2e: 0 error(s), 0 warning(s)"), "{out}");

    let (code, out) = doctor("chatgpt-guide", &["ak-e2e-ann"], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("error: Scopes: the ID token will have no `family_name`: authentik's default `profile` mapping"),
        "{out}"
    );
    assert!(out.contains("error: claim family_name: absent in the claims authentik would send"), "{out}");
    assert!(out.contains("warning: claim given_name: \"Ann Lee\" is the full name"), "{out}");
    assert!(out.contains("warning: Policy / Group / User Bindings: none enabled"), "{out}");

    let (code, out) = doctor("chatgpt-nokey", &[], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("error: Signing Key: none: authentik signs ID tokens with HS256"), "{out}");

    let (code, out) = doctor("chatgpt-noemail", &[], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("no mapping serves the scope `email`"), "{out}");

    let (code, out) =
        doctor("chatgpt", &["ak-e2e-bob", "ak-e2e-nobody"], &[("AK_E2E_DEFECTS", "certificate-expires=12")]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("warning: Signing Key: the certificate of `authentik Self-signed Certificate` expires on"),
        "{out}"
    );
    assert!(out.contains("(in 11 days)") || out.contains("(in 12 days)"), "{out}");
    assert!(out.contains("authentik's evaluation of application chatgpt denies them"), "{out}");
    assert!(out.contains("--> user ak-e2e-bob"), "{out}");
    assert!(out.contains("error: Username: authentik has no user by this username\n  --> user ak-e2e-nobody"), "{out}");

    let (code, out) = doctor("chatgpt", &[], &[("AK_E2E_DEFECTS", "certificate-expires=-3")]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("error: Signing Key: the certificate of `authentik Self-signed Certificate` expired on"),
        "{out}"
    );
}

#[test]
fn doctor_writes_json_and_names_usage_and_target_errors() {
    let json = std::env::temp_dir().join(format!("ak-e2e-doctor-{}.json", ak_protocol::jose::random_token(6)));
    let mut cmd = command(&["doctor", "--application", "chatgpt-nokey", "--json"], &[]);
    let (code, out) = output_of(cmd.arg(&json).output().expect("run"));
    assert_eq!(code, 4, "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    let _ = std::fs::remove_file(&json);
    assert_eq!(report["application"], "chatgpt-nokey");
    assert_eq!(report["errors"], 1);
    let error = report["findings"].as_array().and_then(|f| f.first()).cloned().unwrap_or_default();
    assert_eq!((error["level"].as_str(), error["setting"].as_str()), (Some("error"), Some("Signing Key")));
    assert!(error["fix"].as_str().is_some_and(|f| f.contains("RS256")));

    let (code, out) = doctor("chatgpt-typo", &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("has no application with the slug `chatgpt-typo`"), "{out}");
    let (code, out) = doctor("chatgpt", &[], &[("AK_E2E_TARGET", "http://127.0.0.1:9/")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`doctor` needs an authentik API token"), "{out}");
    let unreachable = [("AK_E2E_TARGET", "http://127.0.0.1:9/"), ("AK_E2E_AUTHENTIK_TOKEN", "some-token-value")];
    let (code, out) = doctor("chatgpt", &[], &unreachable);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("GET http://127.0.0.1:<port>/api/v3/core/applications/chatgpt/ failed"), "{out}");
    assert!(!out.contains("some-token-value"));
}

fn twins(server: &AuthentikStandIn) -> (Vec<String>, Vec<String>, Vec<String>) {
    let dir = server.directory();
    let named = |n: &String| n.starts_with("ak-e2e-twin-") || n.starts_with("ak-e2e-repro-");
    (
        dir.applications.iter().map(|a| a.slug.clone()).filter(named).collect(),
        dir.providers.iter().map(|p| p.name.clone()).filter(named).collect(),
        dir.users.iter().map(|u| u.username.clone()).filter(named).collect(),
    )
}

fn none() -> (Vec<String>, Vec<String>, Vec<String>) {
    (Vec::new(), Vec::new(), Vec::new())
}

/// `ak-e2e run --application chatgpt --target URL --driver api FILES`.
fn twin_run(server: &AuthentikStandIn, port: u16, files: &[&str]) -> Command {
    let url = server.url().to_string();
    let listen = format!("127.0.0.1:{port}");
    let env = [("AK_E2E_AUTHENTIK_TOKEN", TOKEN), ("AK_E2E_CHATGPT_LISTEN", listen.as_str())];
    let mut args = vec!["run", "--application", "chatgpt", "--target", &url, "--driver", "api"];
    args.extend(files);
    command(&args, &env)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_through_a_twin_keeps_the_production_bindings_and_leaves_nothing() {
    let port = free_port();
    let server = standin_with(port, |o| o).await;
    let before = server.directory();
    let mut cmd = twin_run(&server, port, &["scenarios/chatgpt/login.yaml", "scenarios/chatgpt/unbound-user.yaml"]);
    let (code, out) = output_of(tokio::task::spawn_blocking(move || cmd.output().expect("run")).await.expect("join"));
    assert_eq!(code, 0, "ann gets in and bob is refused, as in application chatgpt: {out}");
    assert!(
        out.contains("a twin of application `chatgpt` (provider `ChatGPT`: 3 scope mapping(s), its signing key"),
        "{out}"
    );
    assert!(out.contains("1 binding(s)"), "{out}");
    assert!(out.contains("ak-e2e: deleted the twin application ak-e2e-twin-"), "{out}");
    assert!(out.contains("ak-e2e: deleted the twin provider ak-e2e-twin-"), "{out}");
    assert_eq!(twins(&server), none());
    let after = server.directory();
    assert_eq!(after.bindings.len(), before.bindings.len(), "the twin's bindings went with it");
    let chatgpt = |d: &authentik_standin::Directory| format!("{:?}", d.provider("ChatGPT"));
    assert_eq!(chatgpt(&after), chatgpt(&before), "the production provider is only read");
}

/// A run through a twin is SIGKILLed while authentik holds its login; the next run sweeps the
/// twin it left, and says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_twin_left_by_a_killed_run_is_swept_by_the_next() {
    let port = free_port();
    let slow = authentik_standin::Defects::parse(&["delay=executor:60000".to_string()]).expect("defect");
    let server = standin_with(port, |o| o.defects(slow)).await;
    let mut child = twin_run(&server, port, &["scenarios/chatgpt/login.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ak-e2e");
    // The twin is made before the pre-run checks, which authentik then holds for a minute.
    wait_until(20, || !twins(&server).0.is_empty()).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let (pid, seen) = (child.id(), "");
    let (apps, providers, _) = twins(&server);
    assert_eq!((apps.len(), providers.len()), (1, 1), "the killed run left its twin: {seen}");
    // The next run touches no flow (ChatGPT refuses the address before any redirect).
    let mut next = twin_run(&server, free_port(), &["scenarios/chatgpt/outside-domain.yaml"]);
    let (code, out) = output_of(tokio::task::spawn_blocking(move || next.output().expect("run")).await.expect("join"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ak-e2e: swept the twin application {}, left by process {pid}, which is gone", apps[0])),
        "{out}"
    );
    assert!(out.contains(&format!("ak-e2e: swept the twin provider {}", providers[0])), "{out}");
    assert_eq!(twins(&server), none());
}

/// `users.canary.mirror_of: ak-e2e-tia`: a throwaway copy of tia (her group, a TOTP device of
/// its own) signs in as the fixture user, and is deleted afterwards.
#[test]
fn a_fixture_user_mirroring_a_person_signs_in_as_their_copy_and_is_deleted() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-mirror-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("dir");
    let root = root();
    let config = std::fs::read_to_string(root.join("ak-e2e.yaml"))
        .expect("config")
        .replacen("users:\n", "users:\n  canary:\n    mirror_of: ak-e2e-tia\n", 1)
        .replace("  - blueprints/", &format!("  - {}/blueprints/", root.display()));
    std::fs::write(dir.join("ak-e2e.yaml"), config).expect("write config");
    let scenario = dir.join("canary.yaml");
    std::fs::write(
        &scenario,
        r#"name: A copy of a real person signs in like them
drivers: [api]
steps:
  - start_login: { email: "{{ users.canary.email }}" }
  - sign_in: { user: canary }
  - expect_claims:
      from: id_token
      claims:
        amr: '["pwd","mfa"]'
        email: "{{ users.canary.email }}"
        given_name: Tia
  - expect_landing: conversation
"#,
    )
    .expect("write scenario");
    let config = dir.join("ak-e2e.yaml").display().to_string();
    let file = scenario.display().to_string();
    let (code, out) = output_of(command(&["run", "--config", &config, &file], &[]).output().expect("run"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("mirroring ak-e2e-tia: 1 group(s), 0 attribute(s), MFA TOTP (fixture user `canary`)"),
        "{out}"
    );
    assert!(out.contains("ak-e2e: deleted the throwaway user ak-e2e-repro-"), "{out}");
}

/// Ctrl-C while authentik holds the run's pre-run sign-in: the twin is deleted before ak-e2e
/// exits with 130.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_deletes_the_twin() {
    let port = free_port();
    let slow = authentik_standin::Defects::parse(&["delay=executor:60000".to_string()]).expect("defect");
    let server = standin_with(port, |o| o.defects(slow)).await;
    let child = twin_run(&server, port, &["scenarios/chatgpt/login.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ak-e2e");
    wait_until(20, || !twins(&server).0.is_empty()).await;
    assert_eq!(twins(&server).0.len(), 1, "the twin was made");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    let (code, out) =
        output_of(tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait")).await.expect("join"));
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("ak-e2e: deleted the twin application ak-e2e-twin-"), "{out}");
    assert_eq!(twins(&server), none());
}

/// A twin or a copy on a real target needs an API token: without one, a usage error before
/// anything starts.
#[test]
fn a_twin_or_a_copy_without_a_token_is_a_usage_error() {
    let target = [("AK_E2E_TARGET", "http://127.0.0.1:9/")];
    let (code, out) = output_of(command(&["run", "--application", "chatgpt-prod"], &target).output().expect("run"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a twin of `chatgpt-prod` is made through authentik's admin API: export AK_E2E_AUTHENTIK_TOKEN"),
        "{out}"
    );
    let args = ["reproduce", "--user", "jane", "--application", "chatgpt-prod"];
    let (code, out) = output_of(command(&args, &target).output().expect("run"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("export AK_E2E_AUTHENTIK_TOKEN"), "{out}");
}

/// `doctor --user` of a user with a TOTP device and recovery codes warns that each TOTP sign-in
/// locks the codes for longer; a user with codes alone gets no such warning.
#[test]
fn doctor_warns_of_a_user_whose_totp_sign_ins_lock_their_recovery_codes() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-doctor-mfa-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = super::config_giving_tia_recovery_codes(&dir, false);
    let args = ["doctor", "--config", config.to_str().expect("path"), "--application", "chatgpt"];
    let args: Vec<&str> = args.into_iter().chain(["--user", "ak-e2e-tia", "--user", "ak-e2e-rex"]).collect();
    let (code, out) = output_of(command(&args, &[]).output().expect("run ak-e2e"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "a warning is no error: {out}");
    assert_eq!(out.matches("warning: MFA devices: a TOTP device and recovery codes").count(), 1, "{out}");
    assert!(out.contains("--> user ak-e2e-tia"), "{out}");
    assert!(out.contains("a new device starts unlocked"), "{out}");
}
