//! The stand-in against the fidelity corpus recorded from a real authentik 2026.2.2
//! (`tests/fidelity/authentik-2026.2.2.json`, see `ak_e2e::environment::fidelity`): the same login recorded
//! from the stand-in must have the same shapes, answer by answer. The differences the stand-in
//! keeps on purpose are listed, each with its reason, in `tests/fidelity/known-differences.txt`;
//! any other difference fails, naming the answer, the path and both values.

use std::collections::HashMap;
use std::time::Duration;

use authentik_standin::{AuthentikStandIn, Options};

use super::root;

const REDIRECT_URI: &str = "http://127.0.0.1:18080/sso/oidc/conn_authentik/callback";

async fn differences_from_the_corpus(defects: &[&str]) -> Vec<String> {
    let env: HashMap<String, String> = [
        ("AK_E2E_CLIENT_SECRET", "fidelity-client-secret"),
        ("AK_E2E_ANN_PASSWORD", "fidelity-ann-password"),
        ("AK_E2E_BOB_PASSWORD", "fidelity-bob-password"),
        ("AK_E2E_TIA_PASSWORD", "fidelity-tia-password"),
        ("AK_E2E_PIA_PASSWORD", "fidelity-pia-password"),
        ("AK_E2E_REX_PASSWORD", "fidelity-rex-password"),
        ("AK_E2E_CHATGPT_REDIRECT_URI", REDIRECT_URI),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let defects = authentik_standin::Defects::parse(defects).expect("defects");
    let options = Options::new()
        .env(env)
        .defects(defects)
        .blueprint_file(root().join("blueprints/chatgpt.yaml"))
        .and_then(|o| o.blueprint_file(root().join("blueprints/chatgpt-variants.yaml")))
        .expect("blueprint");
    let server = AuthentikStandIn::start(options).await.expect("stand-in");
    // Pia's passkey, enrolled through the stand-in's setup flow as `provision` does.
    let passkey = std::env::temp_dir().join(format!("ak-e2e-fidelity-{}.passkey", ak_protocol::jose::random_token(6)));
    let made = ak_e2e::commands::provision::enroll_passkey(
        server.url(),
        "ak-e2e-pia",
        "fidelity-pia-password",
        Duration::from_secs(10),
    )
    .await
    .expect("enroll pia's passkey");
    ak_e2e::drive::passkey::write(&passkey, &made).expect("keep the passkey");
    // Rex's recovery codes, enrolled through the stand-in's setup flow as `provision` does.
    let codes = std::env::temp_dir().join(format!("ak-e2e-fidelity-{}.codes", ak_protocol::jose::random_token(6)));
    let made = ak_e2e::commands::provision::enroll_recovery_codes(
        server.url(),
        "ak-e2e-rex",
        "fidelity-rex-password",
        Duration::from_secs(10),
    )
    .await
    .expect("enroll rex's recovery codes");
    let kept = ak_e2e::drive::recovery::Codes { codes: made, spent: Vec::new() };
    ak_e2e::drive::recovery::write(&codes, &kept).expect("keep the codes");
    let subject = ak_e2e::environment::fidelity::Subject {
        authentik: server.url().clone(),
        slug: "chatgpt".into(),
        client_id: "chatgpt".into(),
        client_secret: "fidelity-client-secret".into(),
        redirect_uri: REDIRECT_URI.into(),
        username: "ak-e2e-ann".into(),
        password: "fidelity-ann-password".into(),
        timeout: Duration::from_secs(10),
        passkey: Some(ak_e2e::environment::fidelity::FactorUser {
            username: "ak-e2e-pia".into(),
            password: "fidelity-pia-password".into(),
            file: passkey.clone(),
        }),
        recovery: Some(ak_e2e::environment::fidelity::FactorUser {
            username: "ak-e2e-rex".into(),
            password: "fidelity-rex-password".into(),
            file: codes.clone(),
        }),
    };
    let actual = ak_e2e::environment::fidelity::record(&subject).await.expect("record the stand-in");
    let _ = std::fs::remove_file(&passkey);
    let _ = std::fs::remove_file(&codes);
    let corpus = std::fs::read_to_string(root().join("tests/fidelity/authentik-2026.2.2.json")).expect("corpus");
    let expected: serde_json::Value = serde_json::from_str(&corpus).expect("corpus JSON");
    let known = std::fs::read_to_string(root().join("tests/fidelity/known-differences.txt")).expect("known");
    let known: Vec<&str> = known
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(" # ").next())
        .collect();
    ak_e2e::environment::fidelity::differences(&expected, &actual)
        .into_iter()
        .filter(|d| !known.iter().any(|k| d.starts_with(k.trim())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stand_in_answers_in_the_shapes_real_authentik_does() {
    let unexplained = differences_from_the_corpus(&[]).await;
    assert!(unexplained.is_empty(), "the stand-in drifted from real authentik 2026.2.2:\n{}", unexplained.join("\n"));
}

/// A stand-in answer that drifts (here a claim renamed, an issuer changed) is caught and named.
#[tokio::test(flavor = "multi_thread")]
async fn a_drifted_answer_is_caught_and_named() {
    let found = differences_from_the_corpus(&["rename-claim=email:mail"]).await;
    assert!(found.iter().any(|d| d.starts_with("/id_token/claims/email: missing")), "{found:#?}");
    assert!(found.iter().any(|d| d.starts_with("/userinfo/body/mail: not in real authentik's answer")), "{found:#?}");
    // A replayed passkey counter taken: the flow goes on where real authentik refuses.
    let found = differences_from_the_corpus(&["passkey-counter-ignored"]).await;
    let replay =
        "/challenge_mfa_webauthn_replayed_counter/component: real authentik \"ak-stage-authenticator-validate\"";
    assert!(found.iter().any(|d| d.starts_with(replay)), "{found:#?}");
    let found = differences_from_the_corpus(&["issuer-no-trailing-slash"]).await;
    assert!(found.iter().any(|d| d.starts_with("/discovery/body/issuer: real authentik")), "{found:#?}");
}
