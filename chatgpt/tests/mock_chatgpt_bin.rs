//! The `mock-chatgpt` binary: starts from env and flags, serves its pages, refuses bad settings.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mock-chatgpt");

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("MOCK_CHATGPT_CLIENT_ID", "chatgpt")
        .env("MOCK_CHATGPT_CLIENT_SECRET", "never-printed-secret")
        .env("MOCK_CHATGPT_DISCOVERY_URL", "http://127.0.0.1:9/application/o/chatgpt/.well-known/openid-configuration")
        .env("MOCK_CHATGPT_VERIFIED_DOMAINS", "example.com")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn serves_the_admin_page_under_its_public_url() {
    let mut child = command()
        .args(["--listen", "127.0.0.1:0", "--public-url", "https://chatgpt.test/"])
        .env("MOCK_CHATGPT_CONNECTION_ID", "conn_01TEST")
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the binary announces itself within 20 s")
        .expect("read")
        .expect("a line");
    let addr = first
        .strip_prefix("mock-chatgpt listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    let second = lines.next_line().await.expect("read").expect("a line");
    assert_eq!(second, "Login redirect URI: https://chatgpt.test/sso/oidc/conn_01TEST/callback");

    let page = reqwest::get(format!("http://{addr}/admin/identity")).await.expect("get").text().await.expect("body");
    assert!(page.contains(r#"data-testid="login-redirect-uri">https://chatgpt.test/sso/oidc/conn_01TEST/callback<"#));
    assert!(!page.contains("never-printed-secret"));
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_bad_setting_fails_at_start_naming_it() {
    let output = command()
        .args(["--listen", "127.0.0.1:0"])
        .env("MOCK_CHATGPT_TOKEN_AUTH_METHOD", "private_key_jwt")
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "mock-chatgpt: setting `token_auth_method` (from MOCK_CHATGPT_TOKEN_AUTH_METHOD) must be \
         client_secret_basic or client_secret_post, not `private_key_jwt`"
    );
}
