//! docker-compose.yml agrees with the harness's compose configuration: every redirect URI
//! authentik is provisioned with is exactly the Login redirect URI of a mock ChatGPT workspace
//! the harness starts in the `harness` container, and the configuration plans.

use std::process::Command;

use mocks::yaml::{self, Node};

use super::{BIN, root};

fn load(path: &str) -> Node {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}")).remove(0)
}

fn text<'a>(node: &'a Node, path: &[&str]) -> Option<&'a str> {
    let mut n = node;
    for key in path {
        n = n.get(key)?;
    }
    n.as_str()
}

#[test]
fn compose_redirect_uris_are_the_workspaces_login_redirect_uris() {
    let compose = load("docker-compose.yml");
    let config = load("compose/ak-e2e.compose.yaml");
    let local = load("ak-e2e.yaml");
    let env = compose.get("x-authentik").and_then(|a| a.get("environment")).expect("x-authentik.environment");
    let connection = text(&config, &["chatgpt", "connection_id"]).expect("connection id");
    // The default workspace, then each named one that registers a redirect URI.
    let mut checked = 0;
    let default_url = text(&config, &["chatgpt", "public_url"]).expect("public_url");
    let mut expectations = vec![("AK_E2E_CHATGPT_REDIRECT_URI".to_string(), default_url.to_string())];
    for (name, app) in local.get("applications").and_then(Node::as_map).expect("applications") {
        let name = name.as_str().expect("name");
        let Some(var) = app.get("redirect_uri_env").and_then(Node::as_str) else { continue };
        let url = text(&config, &["applications", name, "public_url"])
            .unwrap_or_else(|| panic!("no public_url for `{name}`"));
        expectations.push((var.to_string(), url.to_string()));
    }
    for (var, public_url) in expectations {
        let registered =
            env.get(&var).and_then(Node::as_str).unwrap_or_else(|| panic!("docker-compose.yml does not set {var}"));
        assert_eq!(registered, format!("{public_url}sso/oidc/{connection}/callback"), "{var}");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn the_compose_configuration_plans() {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(["validate", "--config", "compose/ak-e2e.compose.yaml", "--target", "http://server:9000"])
        .env("CI", "true");
    for var in [
        "AK_E2E_CLIENT_SECRET",
        "AK_E2E_WRONG_CLIENT_SECRET",
        "AK_E2E_ANN_PASSWORD",
        "AK_E2E_BOB_PASSWORD",
        "AK_E2E_TIA_PASSWORD",
    ] {
        cmd.env(var, "set-by-the-test");
    }
    cmd.env("AK_E2E_TIA_TOTP_SECRET", "3132333435363738393031323334353637383930");
    let output = cmd.output().expect("run");
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("ok: "), "{text}");
}
