//! Records the fidelity corpus of an authentik (see `ak_e2e::environment::fidelity`) and prints it as JSON:
//!
//! ```text
//! AK_E2E_CLIENT_SECRET=… AK_E2E_ANN_PASSWORD=… AK_E2E_PIA_PASSWORD=… AK_E2E_REX_PASSWORD=… \
//!     cargo run -p ak-e2e --example record_fidelity -- \
//!     http://localhost:9000/ http://127.0.0.1:18080/sso/oidc/conn_authentik/callback \
//!     > tests/fidelity/authentik-2026.2.2.json
//! ```
//!
//! The target must be provisioned with `blueprints/chatgpt.yaml` and `blueprints/chatgpt-variants.yaml`
//! (the flow `ak-e2e-passkey-login`; application `chatgpt`, users
//! `ak-e2e-ann`, `ak-e2e-pia`, whose passkey `ak-e2e provision` keeps in `.ak-e2e/pia.passkey`, and
//! `ak-e2e-rex`, whose recovery codes it keeps in `.ak-e2e/rex.codes`; one is spent) and allow the
//! given redirect URI. Reached by the name `provision` enrolled the passkey through.

use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, redirect_uri] = args.as_slice() else {
        eprintln!(
            "usage: record_fidelity AUTHENTIK_URL REDIRECT_URI (secrets in AK_E2E_CLIENT_SECRET, AK_E2E_ANN_PASSWORD)"
        );
        std::process::exit(1);
    };
    let secret = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            eprintln!("record_fidelity: export {name}");
            std::process::exit(1)
        })
    };
    let Ok(authentik) = url::Url::parse(target) else {
        eprintln!("record_fidelity: `{target}` is not a URL");
        std::process::exit(1)
    };
    let subject = ak_e2e::environment::fidelity::Subject {
        authentik,
        slug: "chatgpt".into(),
        client_id: "chatgpt".into(),
        client_secret: secret("AK_E2E_CLIENT_SECRET"),
        redirect_uri: redirect_uri.clone(),
        username: "ak-e2e-ann".into(),
        password: secret("AK_E2E_ANN_PASSWORD"),
        timeout: Duration::from_secs(30),
        // `provision` enrolled it.
        passkey: Some(ak_e2e::environment::fidelity::FactorUser {
            username: "ak-e2e-pia".into(),
            password: secret("AK_E2E_PIA_PASSWORD"),
            file: ".ak-e2e/pia.passkey".into(),
        }),
        recovery: Some(ak_e2e::environment::fidelity::FactorUser {
            username: "ak-e2e-rex".into(),
            password: secret("AK_E2E_REX_PASSWORD"),
            file: ".ak-e2e/rex.codes".into(),
        }),
    };
    match ak_e2e::environment::fidelity::record(&subject).await {
        Ok(corpus) => println!("{}", serde_json::to_string_pretty(&corpus).unwrap_or_default()),
        Err(e) => {
            eprintln!("record_fidelity: {e}");
            std::process::exit(3);
        }
    }
}
