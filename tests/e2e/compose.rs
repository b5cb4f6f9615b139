//! docker-compose.yml agrees with the harness's compose configuration: every redirect URI
//! authentik is provisioned with is exactly the Login redirect URI of a mock ChatGPT workspace
//! the harness starts in the `harness` container, and the configuration plans.

use std::process::Command;

use ak_protocol::yaml::{self, Node};

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
    assert_eq!(checked, 8);
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
        "AK_E2E_PIA_PASSWORD",
        "AK_E2E_REX_PASSWORD",
    ] {
        cmd.env(var, "set-by-the-test");
    }
    cmd.env("AK_E2E_TIA_TOTP_SECRET", "3132333435363738393031323334353637383930");
    let output = cmd.output().expect("run");
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("ok: "), "{text}");
}

/// What `ak-e2e provision` would send with the compose configuration: every OAuth2 provider of
/// the blueprints gets exactly the Login redirect URI of the workspace that signs in to it, none
/// keeps a blueprint's placeholder.
#[test]
fn provisioning_with_the_compose_configuration_registers_every_workspace() {
    use std::collections::HashMap;
    let settings = ak_e2e::config::Settings::resolve(
        &ak_e2e::config::Flags {
            config: Some("compose/ak-e2e.compose.yaml".into()),
            target: Some("http://server:9000".into()),
            ..Default::default()
        },
        &HashMap::new(),
        &root(),
    )
    .expect("settings");
    let env: HashMap<String, String> =
        [("AK_E2E_CLIENT_SECRET", "s1"), ("AK_E2E_WRONG_CLIENT_SECRET", "s2"), ("AK_E2E_ANN_PASSWORD", "p")]
            .into_iter()
            .chain([
                ("AK_E2E_BOB_PASSWORD", "p"),
                ("AK_E2E_TIA_PASSWORD", "p"),
                ("AK_E2E_PIA_PASSWORD", "p"),
                ("AK_E2E_REX_PASSWORD", "p"),
            ])
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    // Blueprint paths are relative to the repository root, where ak-e2e runs.
    let settings = ak_e2e::config::Settings {
        blueprints: settings.blueprints.iter().map(|p| root().join(p)).collect(),
        ..settings
    };
    let rendered = ak_e2e::commands::provision::rendered_blueprints(&settings, &env).expect("rendered");
    let blueprints: Vec<Vec<Node>> = rendered.iter().map(|text| yaml::parse(text).expect("rendered YAML")).collect();
    // Each provider's client id → its registered redirect URIs.
    let mut registered: HashMap<String, Vec<String>> = HashMap::new();
    for doc in blueprints.iter().flatten() {
        for entry in doc.get("entries").and_then(Node::as_seq).unwrap_or_default() {
            if text(entry, &["model"]) != Some("authentik_providers_oauth2.oauth2provider") {
                continue;
            }
            let attrs = entry.get("attrs").expect("attrs");
            let client = text(attrs, &["client_id"]).expect("client_id").to_string();
            let uris = attrs.get("redirect_uris").and_then(Node::as_seq).unwrap_or_default();
            registered.insert(client, uris.iter().filter_map(|u| text(u, &["url"]).map(String::from)).collect());
        }
    }
    let mut checked = 0;
    for (name, app) in &settings.applications {
        let Some(public) = app.public_url.clone().or_else(|| {
            (name == ak_e2e::scenario::DEFAULT_APPLICATION).then(|| settings.chatgpt.public_url.clone()).flatten()
        }) else {
            continue;
        };
        let expected = format!("{public}sso/oidc/conn_authentik/callback");
        let uris = registered.get(&app.client_id).unwrap_or_else(|| panic!("no provider for `{name}`"));
        assert!(uris.contains(&expected), "`{name}` ({}): {uris:?} lacks {expected}", app.client_id);
        assert!(!uris.iter().any(|u| u.contains("external.auth.openai.com")), "`{name}` keeps a placeholder: {uris:?}");
        checked += 1;
    }
    assert_eq!(checked, 8, "the default workspace and seven variants");
}
