//! `ak-e2e reproduce` against the stand-in started apart, by URL, as a real authentik: the
//! throwaway user mirrors the user (groups, TOTP), the login runs in the browser with a trace
//! bundle, and no user is left behind: after a pass, after a failure, and after Ctrl-C. The
//! user's own password and devices are untouched.

use std::io::BufRead;
use std::process::{Command, Stdio};

use authentik_standin::{AuthentikStandIn, Defects};

use super::real_target::{SECRETS, free_port, standin_with};
use super::{BIN, normalise, root, wait_until};

const TOKEN: &str = "bootstrap-token-for-the-test";

/// The stand-in with tia's TOTP device, and optionally defects.
async fn standin(port: u16, defects: &[&str]) -> AuthentikStandIn {
    let defects = Defects::parse(&defects.iter().map(|d| d.to_string()).collect::<Vec<_>>()).expect("defects");
    let tia = SECRETS.iter().find(|(k, _)| *k == "AK_E2E_TIA_TOTP_SECRET").map(|(_, v)| *v).expect("tia's secret");
    standin_with(port, |o| o.defects(defects).totp_device("ak-e2e-tia", ak_protocol::secret::Secret::new(tia))).await
}

/// `ak-e2e reproduce --user USER --target URL --trace DIR`, with the token unless `None`.
fn command(target: &str, port: u16, user: &str, trace: &std::path::Path, token: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(["reproduce", "--user", user, "--target", target, "--trace"])
        .arg(trace)
        .env("CI", "true")
        .env("AK_E2E_CHATGPT_LISTEN", format!("127.0.0.1:{port}"))
        .env("AK_E2E_CHATGPT_PUBLIC_URL", format!("http://127.0.0.1:{port}/"))
        .envs(SECRETS.iter().copied());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AK_E2E_") && k != "AK_E2E_CHATGPT_LISTEN") {
        if !SECRETS.iter().any(|(s, _)| *s == k) && !k.starts_with("AK_E2E_CHATGPT_") {
            cmd.env_remove(k);
        }
    }
    match token {
        Some(t) => cmd.env("AK_E2E_AUTHENTIK_TOKEN", t),
        None => cmd.env_remove("AK_E2E_AUTHENTIK_TOKEN"),
    };
    cmd
}

async fn reproduce(
    server: &AuthentikStandIn,
    port: u16,
    user: &str,
    token: Option<&str>,
) -> (i32, String, std::path::PathBuf) {
    let trace = std::env::temp_dir().join(format!("ak-e2e-reproduce-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = command(server.url().as_str(), port, user, &trace, token);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run ak-e2e")).await.expect("join");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), normalise(&text), trace)
}

/// The run's own folder below `--trace`'s (there is one per reproduction).
fn run_folder(trace: &std::path::Path) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(trace).expect("trace folder").flatten().map(|e| e.path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

fn throwaway_users(server: &AuthentikStandIn) -> Vec<String> {
    server.directory().users.into_iter().map(|u| u.username).filter(|u| u.starts_with("ak-e2e-repro-")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_login_is_reproduced_with_totp_and_no_user_is_left() {
    let port = free_port();
    let server = standin(port, &[]).await;
    let before = server.directory();
    let tia = |d: &authentik_standin::Directory| {
        let user = d.users.iter().find(|u| u.username == "ak-e2e-tia").cloned().expect("tia");
        let devices: Vec<String> = d.totp_devices_of("ak-e2e-tia").iter().map(|t| t.key.expose().to_string()).collect();
        (user.password.map(|p| p.expose().to_string()), user.groups, devices)
    };
    let (code, output, trace) = reproduce(&server, port, "ak-e2e-tia", Some(TOKEN)).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("mirroring ak-e2e-tia: 1 group(s), 0 attribute(s), MFA TOTP"), "{output}");
    assert!(
        output.contains("[1/1] PASS  [browser] ak-e2e-tia's ChatGPT login, reproduced by a throwaway user"),
        "{output}"
    );
    let shown = format!("ak-e2e: trace bundle in {}/01-reproduce-browser", run_folder(&trace).display());
    assert!(output.contains(&shown), "{output}");
    assert!(output.contains("ak-e2e: deleted the throwaway user ak-e2e-repro-"), "{output}");
    assert!(!output.contains(TOKEN), "the token is never shown");
    assert_eq!(throwaway_users(&server), Vec::<String>::new(), "a throwaway user is left");
    assert_eq!(tia(&server.directory()), tia(&before), "tia's password, groups or devices changed");
    // The login went through authentik's TOTP stage, and the bundle has the HAR file.
    let bundle = run_folder(&trace).join("01-reproduce-browser");
    let result = std::fs::read_to_string(bundle.join("result.json")).expect("result");
    assert!(result.contains("ak-stage-authenticator-validate"), "{result}");
    assert!(bundle.join("trace.har").is_file());
    assert!(bundle.join("scenario-reproduce.yaml").is_file());
    let _ = std::fs::remove_dir_all(&trace);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_login_is_diagnosed_and_no_user_is_left() {
    let port = free_port();
    let server = standin(port, &[]).await;
    // bob is in no group bound to the application.
    let (code, output, trace) = reproduce(&server, port, "ak-e2e-bob", Some(TOKEN)).await;
    assert_eq!(code, 4, "{output}");
    assert!(output.contains("mirroring ak-e2e-bob: 0 group(s), 0 attribute(s), MFA none"), "{output}");
    assert!(output.contains("now at authentik page \"Permission denied\""), "{output}");
    assert!(output.contains("ak-e2e: deleted the throwaway user"), "{output}");
    assert_eq!(throwaway_users(&server), Vec::<String>::new());
    assert!(run_folder(&trace).join("01-reproduce-browser/trace.har").is_file(), "a failed login has its bundle");

    let (code, output, _) = reproduce(&server, port, "ak-e2e-nobody", Some(TOKEN)).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("authentik has no user `ak-e2e-nobody`"), "{output}");
    // A name YAML would read otherwise (a backslash, a quote) reaches authentik as it is.
    let (code, output, _) = reproduce(&server, port, "DOMAIN\\jane \"j\"", Some(TOKEN)).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("authentik has no user `DOMAIN\\jane \"j\"`"), "{output}");

    let (code, output, _) = reproduce(&server, port, "ak-e2e-ann", None).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("`reproduce` needs an authentik API token"), "{output}");
    let (code, output, _) = reproduce(&server, port, "ak-e2e-ann", Some("not-the-token")).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("authentik refused the API token"), "{output}");
    assert_eq!(throwaway_users(&server), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&trace);
}

/// Ctrl-C while the login waits on authentik (its flow executor answers after a minute): the
/// throwaway user is deleted before ak-e2e exits with 130, as for any run stopped by Ctrl-C.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_deletes_the_throwaway_user() {
    let port = free_port();
    let server = standin(port, &["delay=executor:60000"]).await;
    let trace = std::env::temp_dir().join(format!("ak-e2e-reproduce-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = command(server.url().as_str(), port, "ak-e2e-ann", &trace, Some(TOKEN));
    let (code, output) = tokio::task::spawn_blocking(move || {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run ak-e2e");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut seen = String::new();
        // Once the throwaway user exists, the login is under way: interrupt it.
        while !seen.contains("created the throwaway user") {
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("read") == 0 {
                break;
            }
            seen.push_str(&line);
        }
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        let mut errors = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut errors);
        let status = child.wait().expect("wait");
        (status.code().unwrap_or(-1), seen + &rest + &errors)
    })
    .await
    .expect("join");
    assert_eq!(code, 130, "{output}");
    assert!(output.contains("ak-e2e: stopped by SIGINT"), "{output}");
    assert!(output.contains("ak-e2e: deleted the throwaway user"), "{output}");
    assert_eq!(throwaway_users(&server), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&trace);
}

fn leftovers(server: &AuthentikStandIn) -> Vec<String> {
    let dir = server.directory();
    let apps = dir.applications.iter().map(|a| a.slug.clone());
    let providers = dir.providers.iter().map(|p| p.name.clone());
    let users = dir.users.iter().map(|u| u.username.clone());
    apps.chain(providers)
        .chain(users)
        .filter(|n| n.starts_with("ak-e2e-twin-") || n.starts_with("ak-e2e-repro-"))
        .collect()
}

/// bob, outside application chatgpt's bindings, reproduced through a twin of it: the verdict
/// is chatgpt's (refused), authentik's own evaluation explains it, and nothing is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_is_reproduced_through_a_twin_of_the_production_application_with_authentiks_explanation() {
    let port = free_port();
    let server = standin(port, &[]).await;
    let trace = std::env::temp_dir().join(format!("ak-e2e-reproduce-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = command(server.url().as_str(), port, "ak-e2e-bob", &trace, Some(TOKEN));
    cmd.args(["--application", "chatgpt"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run ak-e2e")).await.expect("join");
    let out =
        normalise(&format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    assert_eq!(output.status.code(), Some(4), "{out}");
    assert!(out.contains("a twin of application `chatgpt` (provider `ChatGPT`"), "{out}");
    assert!(out.contains("now at authentik page \"Permission denied\""), "{out}");
    assert!(out.contains("ak-e2e: authentik's own evaluation of ak-e2e-bob in application `chatgpt`:"), "{out}");
    assert!(out.contains("authentik's evaluation of application chatgpt denies them"), "{out}");
    assert!(out.contains("ak-e2e: deleted the twin application"), "{out}");
    assert_eq!(leftovers(&server), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&trace);
}

/// A reproduction through a twin is SIGKILLed while authentik holds the login: its copy of the
/// user and its twin stay, and the next run that makes a throwaway object sweeps both.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_and_a_twin_left_by_a_killed_reproduction_are_swept_by_the_next_run() {
    let port = free_port();
    let server = standin(port, &["delay=executor:60000"]).await;
    let trace = std::env::temp_dir().join(format!("ak-e2e-reproduce-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = command(server.url().as_str(), port, "ak-e2e-ann", &trace, Some(TOKEN));
    let mut child =
        cmd.args(["--application", "chatgpt"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run");
    wait_until(30, || leftovers(&server).iter().any(|n| n.starts_with("ak-e2e-repro-"))).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let left = leftovers(&server);
    assert_eq!(left.len(), 3, "a twin application, its provider and the copy: {left:?}");
    // The next run makes a twin too; ChatGPT refuses its address before any flow.
    let url = server.url().to_string();
    let mut next = Command::new(BIN);
    next.current_dir(root())
        .args([
            "run",
            "--application",
            "chatgpt",
            "--target",
            &url,
            "--driver",
            "api",
            "scenarios/chatgpt/outside-domain.yaml",
        ])
        .env("CI", "true")
        .env("AK_E2E_AUTHENTIK_TOKEN", TOKEN)
        .envs(SECRETS.iter().copied());
    let output = tokio::task::spawn_blocking(move || next.output().expect("run")).await.expect("join");
    let out =
        normalise(&format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    assert_eq!(output.status.code(), Some(0), "{out}");
    for name in &left {
        assert!(out.contains(name.as_str()) && out.contains("which is gone"), "{name} not swept: {out}");
    }
    assert!(out.contains("ak-e2e: swept the throwaway user ak-e2e-repro-"), "{out}");
    assert_eq!(leftovers(&server), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&trace);
}

/// A person with a passkey: the copy gets a passkey of its own through authentik's setup flow,
/// signs in with it in the browser (a virtual authenticator; authentik reached by name, as a
/// passkey needs), and goes with its passkey; the person's passkey is not used.
#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_users_login_is_reproduced_with_a_passkey_of_the_copys_own() {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = format!("http://localhost:{}/", listener.local_addr().expect("addr").port());
    let options = serde_json::json!({
        "rp": {"id": "localhost"}, "user": {"id": "cGlh", "name": "ak-e2e-pia"},
        "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    });
    let (pias, _) = ak_protocol::webauthn::Passkey::create(&options, &target).expect("passkey");
    let registered = ak_protocol::webauthn::Registered {
        credential_id: pias.credential_id.clone(),
        public_key: pias.public_key().expect("key"),
        sign_count: 0,
    };
    let server = standin_on(port, listener, &target, |o| o.passkey("ak-e2e-pia", registered)).await;
    let trace = std::env::temp_dir().join(format!("ak-e2e-reproduce-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = command(&target, port, "ak-e2e-pia", &trace, Some(TOKEN));
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run ak-e2e")).await.expect("join");
    let output = normalise(&String::from_utf8_lossy(&output.stdout));
    assert!(output.contains("mirroring ak-e2e-pia: 1 group(s), 0 attribute(s), MFA a passkey"), "{output}");
    assert!(output.contains("[1/1] PASS  [browser] ak-e2e-pia's ChatGPT login"), "{output}");
    assert!(output.contains("ak-e2e: deleted the throwaway user ak-e2e-repro-"), "{output}");
    let directory = server.directory();
    assert_eq!(throwaway_users(&server), Vec::<String>::new(), "a throwaway user is left");
    let owners: Vec<&str> = directory.webauthn_devices.iter().map(|d| d.user.as_str()).collect();
    assert_eq!(owners, ["ak-e2e-pia"], "the copy's passkey is gone with it, and only that");
    assert_eq!(directory.webauthn_devices[0].credential.sign_count, 0, "pia's own passkey was not used");
    let bundle = run_folder(&trace).join("01-reproduce-browser");
    let result = std::fs::read_to_string(bundle.join("result.json")).expect("result");
    assert!(result.contains("ak-stage-authenticator-validate"), "{result}");
    // A P-256 key in PKCS#8 (how a passkey keeps it) starts the same in base64 whatever the key.
    let bundled = walk_text(&trace);
    assert!(!bundled.contains("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEH"), "no private key in the bundle");
    let _ = std::fs::remove_dir_all(&trace);
}

/// The stand-in serving on `listener`, reached at `target`.
async fn standin_on(
    mock_port: u16,
    listener: tokio::net::TcpListener,
    target: &str,
    more: impl FnOnce(authentik_standin::Options) -> authentik_standin::Options,
) -> AuthentikStandIn {
    let env = SECRETS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([(
            "AK_E2E_CHATGPT_REDIRECT_URI".to_string(),
            format!("http://127.0.0.1:{mock_port}/sso/oidc/conn_authentik/callback"),
        )])
        .collect();
    let options = authentik_standin::Options::new()
        .env(env)
        .api_token(ak_protocol::secret::Secret::new(TOKEN))
        .public_url(url::Url::parse(target).expect("url"));
    let options = more(options).blueprint_file(root().join("blueprints/chatgpt.yaml")).expect("blueprint");
    AuthentikStandIn::start_on_listener(options, listener).await.expect("stand-in")
}

/// Every file below `dir`, as text.
fn walk_text(dir: &std::path::Path) -> String {
    super::walk(dir)
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

/// A person with TOTP and recovery codes: the copy gets both (one sign-in enrolls them), so
/// authentik shows it the device picker, as it would the person on a new browser; the browser
/// picks the TOTP device there and signs in. Nothing is left, and the person's codes stay.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_with_totp_and_recovery_codes_is_reproduced_through_the_device_picker() {
    let port = free_port();
    let tia = SECRETS.iter().find(|(k, _)| *k == "AK_E2E_TIA_TOTP_SECRET").map(|(_, v)| *v).expect("tia's secret");
    let codes: Vec<ak_protocol::secret::Secret> =
        ["tiacode00001", "tiacode00002"].into_iter().map(ak_protocol::secret::Secret::new).collect();
    let server = standin_with(port, |o| {
        o.totp_device("ak-e2e-tia", ak_protocol::secret::Secret::new(tia)).recovery_codes("ak-e2e-tia", codes)
    })
    .await;
    let (code, output, trace) = reproduce(&server, port, "ak-e2e-tia", Some(TOKEN)).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("mirroring ak-e2e-tia: 1 group(s), 0 attribute(s), MFA TOTP and recovery codes"),
        "{output}"
    );
    assert!(output.contains("[1/1] PASS  [browser] ak-e2e-tia's ChatGPT login"), "{output}");
    let directory = server.directory();
    assert_eq!(throwaway_users(&server), Vec::<String>::new(), "a throwaway user is left");
    let owners: Vec<(&str, usize)> =
        directory.static_devices.iter().map(|d| (d.user.as_str(), d.tokens.len())).collect();
    assert_eq!(owners, [("ak-e2e-tia", 2)], "the copy's codes are gone with it; tia's are all there");
    let _ = std::fs::remove_dir_all(&trace);
}
