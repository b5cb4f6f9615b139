//! The `authentik-standin` binary: serves discovery from a blueprint file, refuses bad defects.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_authentik-standin");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/chatgpt.yaml");

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("in time")
        .expect("read")
        .expect("line")
}

#[tokio::test]
async fn serves_the_blueprints_application() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--blueprint", FIXTURE, "--defect", "no-nonce"])
        .env_remove("CHATGPT_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = next_line(&mut lines).await;
    let addr = first
        .strip_prefix("authentik-standin listening on ")
        .and_then(|r| r.split_whitespace().next())
        .expect("addr")
        .to_string();
    let second = next_line(&mut lines).await;
    assert_eq!(
        second,
        format!("application chatgpt: http://{addr}/application/o/chatgpt/.well-known/openid-configuration")
    );
    assert_eq!(next_line(&mut lines).await, "defect: no-nonce");
    let doc: serde_json::Value =
        reqwest::get(format!("http://{addr}/application/o/chatgpt/.well-known/openid-configuration"))
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
    assert_eq!(doc["issuer"], format!("http://{addr}/application/o/chatgpt/"));
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn a_bad_defect_or_blueprint_fails_at_start() {
    let output = Command::new(BIN).args(["--blueprint", FIXTURE, "--defect", "alg-nope"]).output().await.expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("authentik-standin: unknown or malformed defect `alg-nope`: did you mean `alg-none`?"),
        "{stderr}"
    );

    let output = Command::new(BIN).args(["--blueprint", "/nonexistent.yaml"]).output().await.expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("authentik-standin: cannot read blueprint /nonexistent.yaml:"), "{stderr}");
}
