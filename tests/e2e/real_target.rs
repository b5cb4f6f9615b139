//! The real-target mode against the stand-in started apart from the harness, by URL, as if it
//! were a real authentik: a passing login, and the checks made before any scenario — a wrong
//! application slug, wrong client credentials, a user who cannot sign in — with exact messages.

use std::collections::HashMap;
use std::process::Command;

use authentik_standin::{AuthentikStandIn, Options};

use super::{BIN, normalise, root};

pub(crate) const SECRETS: &[(&str, &str)] = &[
    ("AK_E2E_CLIENT_SECRET", "real-target-client-secret"),
    ("AK_E2E_ANN_PASSWORD", "real-target-ann-password"),
    ("AK_E2E_BOB_PASSWORD", "real-target-bob-password"),
    ("AK_E2E_TIA_PASSWORD", "real-target-tia-password"),
    ("AK_E2E_PIA_PASSWORD", "real-target-pia-password"),
    ("AK_E2E_REX_PASSWORD", "real-target-rex-password"),
    ("AK_E2E_TIA_TOTP_SECRET", "3132333435363738393031323334353637383930"),
];

/// A stand-in provisioned like a real authentik would be: the blueprint with these secrets, and
/// the Login redirect URI of the mock ChatGPT ak-e2e will start on `mock_port`.
async fn standin(mock_port: u16) -> AuthentikStandIn {
    standin_with(mock_port, |options| options).await
}

/// Like [`standin`], with more options (a TOTP device, say).
pub(crate) async fn standin_with(mock_port: u16, more: impl FnOnce(Options) -> Options) -> AuthentikStandIn {
    let mut env: HashMap<String, String> = SECRETS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert(
        "AK_E2E_CHATGPT_REDIRECT_URI".into(),
        format!("http://127.0.0.1:{mock_port}/sso/oidc/conn_authentik/callback"),
    );
    let options =
        more(Options::new().env(env).api_token(ak_protocol::secret::Secret::new("bootstrap-token-for-the-test")))
            .blueprint_file(root().join("blueprints/chatgpt.yaml"))
            .expect("blueprint");
    AuthentikStandIn::start(options).await.expect("stand-in")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs ak-e2e against the target with the given secret overrides and extra arguments.
async fn run_against(
    target: String,
    mock_port: u16,
    overrides: Vec<(&'static str, &'static str)>,
    extra: Vec<String>,
) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(root())
            .args(["run", "scenarios/chatgpt/login.yaml", "--driver", "api", "--target", &target])
            .args(&extra)
            .env("CI", "true")
            .env("AK_E2E_CHATGPT_LISTEN", format!("127.0.0.1:{mock_port}"))
            .env("AK_E2E_CHATGPT_PUBLIC_URL", format!("http://127.0.0.1:{mock_port}/"))
            .env("AK_E2E_ARTIFACTS", std::env::temp_dir().join(format!("ak-e2e-real-{mock_port}")));
        for (k, v) in SECRETS.iter().chain(overrides.iter()) {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("run ak-e2e");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), normalise(&text))
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_against_a_target_by_url_passes() {
    let port = free_port();
    let server = standin(port).await;
    let (code, output) = run_against(server.url().to_string(), port, vec![], vec![]).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("against the authentik at http://127.0.0.1:<port>/"), "{output}");
    assert!(output.contains("1 passed, 0 failed"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_application_slug_is_named() {
    let port = free_port();
    let server = standin(port).await;
    let config = std::fs::read_to_string(root().join("ak-e2e.yaml")).expect("config").replacen(
        "slug: chatgpt\n",
        "slug: chatgtp\n",
        1,
    );
    let path = std::env::temp_dir().join(format!("ak-e2e-wrong-slug-{port}.yaml"));
    std::fs::write(&path, config).expect("write");
    let (code, output) =
        run_against(server.url().to_string(), port, vec![], vec!["--config".into(), path.display().to_string()]).await;
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: GET http://127.0.0.1:<port>/application/o/chatgtp/.well-known/openid-configuration answered 404: is the application slug right, and does it have an OAuth2 provider?\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_client_credentials_are_named() {
    let port = free_port();
    let server = standin(port).await;
    let (code, output) =
        run_against(server.url().to_string(), port, vec![("AK_E2E_CLIENT_SECRET", "not-the-secret")], vec![]).await;
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: authentik refused the client secret of application `chatgpt` (client id `chatgpt`, secret from AK_E2E_CLIENT_SECRET): invalid_client at http://127.0.0.1:<port>/application/o/token/, while the redirect URI http://127.0.0.1:<port>/sso/oidc/conn_authentik/callback is allowed. Set AK_E2E_CLIENT_SECRET to the provider's client secret\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_who_cannot_sign_in_is_named() {
    let port = free_port();
    let server = standin(port).await;
    let (code, output) =
        run_against(server.url().to_string(), port, vec![("AK_E2E_ANN_PASSWORD", "not-anns-password")], vec![]).await;
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: user `ann` (ak-e2e-ann) cannot sign in at http://127.0.0.1:<port>/: authentik says \"Invalid password\". The user is missing or AK_E2E_ANN_PASSWORD is not their password (authentik does not tell which)\n"
    );
    assert!(!output.contains("not-anns-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_through_the_api_then_the_login_passes() {
    let port = free_port();
    let options = Options::new().api_token(ak_protocol::secret::Secret::new("bootstrap-token-for-the-test"));
    let server = AuthentikStandIn::start(options).await.expect("an empty stand-in");
    let target = server.url().to_string();
    let dir = std::env::temp_dir().join(format!("ak-e2e-provision-{port}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = config_keeping_the_secret_in(&dir, &dir.join("tia.totp"));
    // The variants' workspaces are not started here: their redirect URIs are given outright.
    let variants: Vec<(String, String)> = ["GUIDE", "CONSENT", "NOKEY", "NOEMAIL", "NOPROFILE", "SECRET", "PASSKEY"]
        .iter()
        .map(|v| (format!("AK_E2E_CHATGPT_{v}_REDIRECT_URI"), format!("http://127.0.0.1:1/{v}/callback")))
        .collect();
    let provision = |token: &'static str, with_variants: bool| {
        let target = target.clone();
        let variants = if with_variants { variants.clone() } else { Vec::new() };
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(BIN);
            cmd.current_dir(root())
                .args(["provision", "--target", &target, "--config"])
                .arg(&config)
                .env("CI", "true")
                .env("AK_E2E_AUTHENTIK_TOKEN", token)
                .env("AK_E2E_CHATGPT_PUBLIC_URL", format!("http://127.0.0.1:{port}/"))
                .envs(variants);
            for (k, v) in SECRETS {
                cmd.env(k, v);
            }
            let output = cmd.output().expect("provision");
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            (output.status.code().unwrap_or(-1), normalise(&text))
        })
    };
    // A workspace whose redirect URI is unknown is named, never provisioned with a placeholder.
    let (code, output) = provision("bootstrap-token-for-the-test", false).await.expect("join");
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("set the public URL of workspace `"), "{output}");

    let (code, output) = provision("not-the-token", true).await.expect("join");
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: authentik refused the API token in AK_E2E_AUTHENTIK_TOKEN (HTTP 403 Forbidden: Token invalid/expired)\n"
    );

    let (code, output) = provision("bootstrap-token-for-the-test", true).await.expect("join");
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        output,
        format!(
            "ak-e2e: imported blueprints/chatgpt.yaml\nak-e2e: imported blueprints/chatgpt-variants.yaml\n\
             ak-e2e: enrolled a passkey for `pia` (ak-e2e-pia, RP ID 127.0.0.1); it is in {} (mode 0600)\n\
             ak-e2e: enrolled 6 recovery codes for `rex` (ak-e2e-rex); they are in {} (mode 0600)\n\
             ak-e2e: left `tia`'s TOTP devices as they are (AK_E2E_TIA_TOTP_SECRET is set)\n",
            dir.join("pia.passkey").display(),
            dir.join("rex.codes").display()
        )
    );
    assert!(!output.contains("real-target-client-secret"));

    let (code, output) = run_against(target, port, vec![], vec![]).await;
    assert_eq!(code, 0, "provisioned through the API, the login passes: {output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A target that trickles its discovery document until the deadline: the diagnosis says it
/// timed out, and after how long, not that the document is malformed.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_trickling_its_answer_is_a_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
                let _ = socket.write_all(head).await;
                // The server's pace, one byte every 100 ms: not a wait of the test's.
                while socket.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            });
        }
    });
    let port = free_port();
    let (code, output) = run_against(target, port, vec![("AK_E2E_REQUEST_TIMEOUT_SECS", "1")], vec![]).await;
    assert_eq!(code, 3, "{output}");
    assert!(
        output.starts_with("ak-e2e: error: GET http://127.0.0.1:<port>/application/o/chatgpt/.well-known/openid-configuration: the discovery document could not be read: timed out after 1 s while reading the body ("),
        "{output}"
    );
}

/// The second user's password is wrong: each user is checked in a session of its own, so the
/// first one's sign-in does not hide it.
#[tokio::test(flavor = "multi_thread")]
async fn every_user_the_scenarios_need_is_checked_not_only_the_first() {
    let port = free_port();
    let server = standin(port).await;
    let extra = vec!["scenarios/chatgpt/unbound-user.yaml".to_string()];
    let (code, output) =
        run_against(server.url().to_string(), port, vec![("AK_E2E_BOB_PASSWORD", "not-bobs-password")], extra).await;
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: user `bob` (ak-e2e-bob) cannot sign in at http://127.0.0.1:<port>/: authentik says \"Invalid password\". The user is missing or AK_E2E_BOB_PASSWORD is not their password (authentik does not tell which)\n"
    );
    // Two users with wrong passwords are both named, in one run.
    let both = vec![("AK_E2E_BOB_PASSWORD", "not-bobs-password"), ("AK_E2E_ANN_PASSWORD", "not-anns-password")];
    let extra = vec!["scenarios/chatgpt/unbound-user.yaml".to_string()];
    let (code, output) = run_against(server.url().to_string(), port, both, extra).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("ak-e2e: error: user `ann` (ak-e2e-ann) cannot sign in"), "{output}");
    assert!(output.contains("\nak-e2e: error: user `bob` (ak-e2e-bob) cannot sign in"), "{output}");
}

/// The MFA user's TOTP secret is not their device's: the check before any scenario answers the
/// MFA stage too, and names the secret (the clocks agree), instead of each TOTP scenario failing
/// at ChatGPT with no ID token.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_totp_secret_is_named_before_any_scenario() {
    let port = free_port();
    let device = ak_protocol::secret::Secret::new("3132333435363738393031323334353637383930");
    let server = standin_with(port, |options| options.totp_device("ak-e2e-tia", device)).await;
    let extra = vec!["scenarios/chatgpt/totp.yaml".to_string()];
    // The right secret passes the check and the scenario.
    let (code, output) = run_against(server.url().to_string(), port, vec![], extra.clone()).await;
    assert_eq!(code, 0, "{output}");
    let wrong = vec![("AK_E2E_TIA_TOTP_SECRET", "4142434445464748494a4b4c4d4e4f5051525354")];
    let (code, output) = run_against(server.url().to_string(), port, wrong, extra).await;
    assert_eq!(code, 3, "{output}");
    assert!(
        output.starts_with(
            "ak-e2e: error: user `tia` (ak-e2e-tia) cannot sign in at http://127.0.0.1:<port>/: authentik refused the \
             TOTP code at its MFA stage (\""
        ),
        "{output}"
    );
    assert!(
        output.ends_with(
            "The clocks agree, so the secret in AK_E2E_TIA_TOTP_SECRET is not their device's: run `ak-e2e provision` \
             again, or set AK_E2E_TIA_TOTP_SECRET to the device's secret\n"
        ),
        "{output}"
    );
}

/// `invalid_client` from the token endpoint has two causes; the extra request to the authorize
/// endpoint names the one it is: here the redirect URI the provider does not allow.
#[tokio::test(flavor = "multi_thread")]
async fn an_unregistered_redirect_uri_is_told_from_a_wrong_secret() {
    let port = free_port();
    let server = standin(free_port()).await;
    let (code, output) = run_against(server.url().to_string(), port, vec![], vec![]).await;
    assert_eq!(code, 3, "{output}");
    assert_eq!(
        output,
        "ak-e2e: error: the provider of application `chatgpt` does not allow the redirect URI http://127.0.0.1:<port>/sso/oidc/conn_authentik/callback: its authorize endpoint shows \"Redirect URI Error\" (and the token endpoint answers invalid_client). Add it to the provider's redirect URIs exactly\n"
    );
}

/// MFA without a manual step: `provision` enrolls the MFA user's TOTP device through authentik's
/// own setup flow, keeps the secret in a 0600 file (never printed), and the MFA scenario then
/// passes with it; provisioning again replaces the device instead of adding one.
#[tokio::test(flavor = "multi_thread")]
async fn provision_enrolls_the_mfa_users_totp_device() {
    use std::os::unix::fs::PermissionsExt as _;
    let port = free_port();
    // Another user's device, which provisioning must leave alone (the admin list is not
    // filtered by user, in authentik as in the stand-in).
    let ann_device = ak_protocol::secret::Secret::new("3132333435363738393031323334353637383930");
    let server = standin_with(port, |options| options.totp_device("ak-e2e-ann", ann_device)).await;
    let dir = std::env::temp_dir().join(format!("ak-e2e-enroll-{port}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let secret_file = dir.join("secrets/tia.totp");
    let config_file = config_keeping_the_secret_in(&dir, &secret_file);
    let target = server.url().to_string();
    let provision = || enroll_with_provision(target.clone(), config_file.clone(), port);
    let (code, output) = provision().await.expect("join");
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains(&format!(
            "enrolled a TOTP device for `tia` (ak-e2e-tia); its secret is in {} (mode 0600)",
            secret_file.display()
        )),
        "{output}"
    );
    let secret = std::fs::read_to_string(&secret_file).expect("the secret file");
    assert!(!output.contains(secret.trim()), "the secret is never printed");
    let mode = std::fs::metadata(&secret_file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let devices =
        |server: &AuthentikStandIn| server.directory().totp_devices.iter().filter(|d| d.user == "ak-e2e-tia").count();
    assert_eq!(devices(&server), 1);

    let (code, provisioned) = provision().await.expect("join");
    assert_eq!(code, 0, "{provisioned}");
    assert_eq!(devices(&server), 1, "provisioning again replaces the device");
    let others = server.directory().totp_devices.iter().filter(|d| d.user == "ak-e2e-ann").count();
    assert_eq!(others, 1, "another user's device is left alone");
    let fresh = std::fs::read_to_string(&secret_file).expect("the secret file");
    assert_ne!(fresh, secret, "a new device, a new secret");

    // The MFA scenario reads the secret from the file (AK_E2E_TIA_TOTP_SECRET is not set).
    let (code, output) = run_scenario("totp", target.clone(), config_file.clone(), port).await.expect("join");
    assert_eq!(code, 0, "the enrolled device signs tia in: {output}");

    // Pia's passkey, enrolled through the WebAuthn setup flow, kept beside the secret (0600),
    // replaced by provisioning again, signs her in.
    let passkey_file = dir.join("secrets/pia.passkey");
    let mode = std::fs::metadata(&passkey_file).expect("the passkey file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let passkey = std::fs::read_to_string(&passkey_file).expect("the passkey file");
    let private_key = serde_json::from_str::<serde_json::Value>(&passkey).expect("JSON")["private_key"].to_string();
    let private_key = private_key.trim_matches('"');
    assert!(provisioned.contains("enrolled a passkey for `pia`"), "{provisioned}");
    assert!(!provisioned.contains(private_key), "the key is never printed");
    let passkeys = |server: &AuthentikStandIn| server.directory().webauthn_devices.len();
    assert_eq!(passkeys(&server), 1, "one passkey, pia's, after two provisionings");
    let (code, output) = run_scenario("passkey", target.clone(), config_file.clone(), port).await.expect("join");
    assert_eq!(code, 0, "the enrolled passkey signs pia in: {output}");
    assert!(!output.contains(private_key), "the key is never printed");

    // Rex's recovery codes, shown by the static setup flow, kept beside the secret (0600), never
    // printed; provisioning again replaces his static device. One signs him in, once.
    let codes_file = dir.join("secrets/rex.codes");
    let mode = std::fs::metadata(&codes_file).expect("the codes file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let codes = ak_e2e::drive::recovery::read(&codes_file).expect("codes");
    assert_eq!((codes.codes.len(), codes.spent.len()), (6, 0));
    assert!(codes.codes.iter().all(|c| !provisioned.contains(c.as_str())), "a code is never printed");
    let statics: Vec<usize> = server.directory().static_devices.iter().map(|d| d.tokens.len()).collect();
    assert_eq!(statics, [6], "one static device, rex's, after two provisionings");
    let (code, output) = run_scenario("recovery-code", target.clone(), config_file.clone(), port).await.expect("join");
    assert_eq!(code, 0, "an enrolled code signs rex in, and only once: {output}");
    let left = ak_e2e::drive::recovery::read(&codes_file).expect("codes");
    assert_eq!((left.codes.len(), left.spent.len()), (5, 1), "the code typed is recorded as spent");
    // With no code left, the run stops before any scenario, saying what to do.
    ak_e2e::drive::recovery::write(&codes_file, &ak_e2e::drive::recovery::Codes::default()).expect("spend them");
    let (code, output) = run_scenario("recovery-code", target, config_file, port).await.expect("join");
    assert_eq!(code, 3, "{output}");
    let said = format!(
        "ak-e2e: error: fixture user `rex`: {} has 0 recovery code(s) left, and the selected runs type 1: \
         `ak-e2e provision` enrolls new ones",
        codes_file.display()
    );
    assert!(output.contains(&said), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes a copy of the repository's ak-e2e.yaml into `dir` whose MFA user keeps its TOTP secret
/// in `secret_file`, whose passkey user her passkey beside it (`pia.passkey`), and whose
/// recovery-code user his codes there too (`rex.codes`): a test never writes the repository's
/// `.ak-e2e/`. Returns the copy's path.
fn config_keeping_the_secret_in(dir: &std::path::Path, secret_file: &std::path::Path) -> std::path::PathBuf {
    let passkey = secret_file.with_file_name("pia.passkey");
    let codes = secret_file.with_file_name("rex.codes");
    let config = std::fs::read_to_string(root().join("ak-e2e.yaml"))
        .expect("config")
        .replace("file: .ak-e2e/tia.totp", &format!("file: {}", secret_file.display()))
        .replace("file: .ak-e2e/pia.passkey", &format!("file: {}", passkey.display()))
        .replace("file: .ak-e2e/rex.codes", &format!("file: {}", codes.display()));
    let config_file = dir.join("ak-e2e.yaml");
    std::fs::write(&config_file, config).expect("write");
    config_file
}

/// `ak-e2e ARGS --config CONFIG` with the test's secrets but tia's TOTP secret unset (so that
/// it comes from the file `provision` writes), and the mock ChatGPT's public URL on `port`.
fn without_tia_secret(args: &[&str], config_file: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(args)
        .arg("--config")
        .arg(config_file)
        .env("CI", "true")
        .env("AK_E2E_CHATGPT_PUBLIC_URL", format!("http://127.0.0.1:{port}/"))
        .env_remove("AK_E2E_TIA_TOTP_SECRET");
    for (k, v) in SECRETS.iter().filter(|(k, _)| *k != "AK_E2E_TIA_TOTP_SECRET") {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a command on a blocking thread; its exit code and output.
fn output_of(mut cmd: Command) -> tokio::task::JoinHandle<(i32, String)> {
    tokio::task::spawn_blocking(move || {
        let output = cmd.output().expect("run ak-e2e");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), text)
    })
}

/// `ak-e2e provision` against `target` with tia's TOTP secret unset, so that it enrolls her
/// device; the variant workspaces get dummy redirect URIs. Returns the exit code and output.
fn enroll_with_provision(
    target: String,
    config_file: std::path::PathBuf,
    port: u16,
) -> tokio::task::JoinHandle<(i32, String)> {
    let mut cmd = without_tia_secret(&["provision", "--target", &target], &config_file, port);
    cmd.env("AK_E2E_AUTHENTIK_TOKEN", "bootstrap-token-for-the-test");
    for v in ["GUIDE", "CONSENT", "NOKEY", "NOEMAIL", "NOPROFILE", "SECRET", "PASSKEY"] {
        cmd.env(format!("AK_E2E_CHATGPT_{v}_REDIRECT_URI"), format!("http://127.0.0.1:1/{v}/callback"));
    }
    output_of(cmd)
}

/// `ak-e2e run` of `scenarios/chatgpt/<name>.yaml` under the api driver with tia's TOTP secret
/// unset, so that it is read from the file `provision` wrote. Returns the exit code and output.
fn run_scenario(
    name: &str,
    target: String,
    config_file: std::path::PathBuf,
    port: u16,
) -> tokio::task::JoinHandle<(i32, String)> {
    let file = format!("scenarios/chatgpt/{name}.yaml");
    let args = ["run", &file, "--driver", "api", "--target", &target];
    let mut cmd = without_tia_secret(&args, &config_file, port);
    cmd.env("AK_E2E_CHATGPT_LISTEN", format!("127.0.0.1:{port}"));
    output_of(cmd)
}

/// A passkey authentik no longer lists for the user (removed, or replaced by another) is named
/// before any scenario, with what to do; the key itself is never printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_authentik_no_longer_lists_is_named_before_any_scenario() {
    use ak_protocol::webauthn::{Passkey, Registered};
    let port = free_port();
    let options = serde_json::json!({
        "rp": {"id": "127.0.0.1", "name": "authentik"}, "user": {"id": "cGlh", "name": "ak-e2e-pia"},
        "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    });
    let make = || Passkey::create(&options, "http://127.0.0.1").expect("create").0;
    // authentik lists another passkey for pia than the one kept in her file.
    let (theirs, ours) = (make(), make());
    let registered = Registered {
        credential_id: theirs.credential_id.clone(),
        public_key: theirs.public_key().expect("key"),
        sign_count: 0,
    };
    let server = standin_with(port, |o| o.passkey("ak-e2e-pia", registered)).await;
    let dir = std::env::temp_dir().join(format!("ak-e2e-stale-passkey-{port}"));
    std::fs::create_dir_all(dir.join("secrets")).expect("mkdir");
    let config_file = config_keeping_the_secret_in(&dir, &dir.join("secrets/tia.totp"));
    let file = dir.join("secrets/pia.passkey");
    ak_e2e::drive::passkey::write(&file, &ours).expect("keep the passkey");
    let (code, output) = run_scenario("passkey", server.url().to_string(), config_file, port).await.expect("join");
    assert_eq!(code, 3, "{output}");
    let expected = format!(
        "ak-e2e: error: user `pia` (ak-e2e-pia) cannot sign in at {} with the passkey in {}: \
         `ak-e2e-pia`'s passkey cannot answer authentik's WebAuthn challenge: authentik does not list this passkey \
         ({}) among the user's 1 credential(s): it was removed or belongs to someone else. Run `ak-e2e provision` to \
         enroll a new one",
        server.url(),
        file.display(),
        ours.credential_id
    );
    assert!(output.contains(&expected), "{output}");
    assert!(!output.contains(&ours.private_key), "the key is never printed");
    let _ = std::fs::remove_dir_all(&dir);
}
