use serde_json::{Value, json};

use super::{Expected, Passkey, b64, rp_id_for, unb64, verify_assertion, verify_registration};

const ORIGIN: &str = "http://localhost:9000";

/// authentik's `registration` options (py_webauthn's JSON), trimmed to what matters.
fn creation(challenge: &str) -> Value {
    json!({
        "rp": {"name": "authentik", "id": "localhost"},
        "user": {"id": b64(b"ak-e2e-pia-uid"), "name": "ak-e2e-pia", "displayName": "Pia"},
        "challenge": challenge,
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "timeout": 60000,
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "preferred", "userVerification": "preferred"},
        "attestation": "direct",
    })
}

fn request(challenge: &str, allow: &[&str]) -> Value {
    let allow: Vec<Value> = allow.iter().map(|id| json!({"type": "public-key", "id": id})).collect();
    json!({"challenge": challenge, "timeout": 60000, "rpId": "localhost", "allowCredentials": allow, "userVerification": "preferred"})
}

fn expected<'a>(challenge: &'a str) -> Expected<'a> {
    Expected { challenge, origin: ORIGIN, rp_id: "localhost" }
}

/// Registered, then asserted twice: each check a relying party makes passes.
fn registered() -> (Passkey, super::Registered) {
    let (passkey, posted) = Passkey::create(&creation("cmVnaXN0ZXI"), ORIGIN).expect("create");
    let registered = verify_registration(&posted, &expected("cmVnaXN0ZXI")).expect("registration verifies");
    assert_eq!(registered.credential_id, passkey.credential_id);
    assert_eq!(passkey.rp_id, "localhost");
    assert_eq!(passkey.user_handle.as_deref(), Some(b64(b"ak-e2e-pia-uid").as_str()));
    (passkey, registered)
}

#[test]
fn a_registered_passkey_signs_in_and_its_counter_grows() {
    let (mut passkey, mut credential) = registered();
    for n in 1..=2 {
        let assertion = passkey.get(&request("c2lnbi1pbg", &[&passkey.credential_id.clone()]), ORIGIN).expect("get");
        let count = verify_assertion(&assertion, &expected("c2lnbi1pbg"), &credential).expect("assertion verifies");
        assert_eq!(count, n);
        credential.sign_count = count;
    }
    // A passkey read back from its file signs the same.
    let kept: Passkey = serde_json::from_str(&serde_json::to_string(&passkey).expect("valid")).expect("valid");
    assert_eq!(kept.public_key().expect("valid"), credential.public_key);
    assert!(!format!("{passkey:?}").contains(&passkey.private_key), "the key never reaches a debug print");
}

#[test]
fn tampered_assertions_are_refused_each_for_its_reason() {
    let (mut passkey, credential) = registered();
    let good = passkey.get(&request("Y2hhbGxlbmdl", &[]), ORIGIN).expect("get");
    let refused =
        |assertion: &Value, exp: Expected| verify_assertion(assertion, &exp, &credential).expect_err("refused").0;

    // Another origin (a phishing page relaying the challenge), by a client that says so.
    let elsewhere = passkey.get(&request("Y2hhbGxlbmdl", &[]), "http://localhost:9001").expect("get");
    assert!(refused(&elsewhere, expected("Y2hhbGxlbmdl")).contains("origin \"http://localhost:9001\" is not"));
    // ... and by a client that lies about it.
    let elsewhere = passkey.get_claiming(&request("Y2hhbGxlbmdl", &[]), "https://evil.example").expect("get");
    assert!(refused(&elsewhere, expected("Y2hhbGxlbmdl")).contains("origin \"https://evil.example\" is not"));
    // Another challenge (an old assertion sent again).
    assert!(refused(&good, expected("b3RoZXI")).contains("challenge is not the one sent"));
    // Replayed: the counter does not grow past what was stored.
    let seen = super::Registered { sign_count: 5, ..credential.clone() };
    let replay = verify_assertion(&good, &expected("Y2hhbGxlbmdl"), &seen).expect_err("refused").0;
    assert!(replay.contains("counter went from 5 to"), "{replay}");
    // Another RP ID.
    let other_rp = Expected { rp_id: "example.com", ..expected("Y2hhbGxlbmdl") };
    assert!(refused(&good, other_rp).contains("not for the RP ID `example.com`"));
    // A flipped byte in the signed data.
    let mut forged = good.clone();
    let mut data = unb64(good["response"]["authenticatorData"].as_str().expect("valid")).expect("valid");
    data[36] ^= 1;
    forged["response"]["authenticatorData"] = json!(b64(&data));
    assert!(refused(&forged, expected("Y2hhbGxlbmdl")).contains("signature does not verify"));
    // Another credential's key.
    let (_, stranger) = registered();
    let by_other = verify_assertion(&good, &expected("Y2hhbGxlbmdl"), &stranger).expect_err("refused").0;
    assert!(by_other.contains("another credential"), "{by_other}");
}

#[test]
fn the_authenticator_refuses_what_a_browser_would() {
    let (mut passkey, _) = registered();
    // Not in the allow-list: removed from the user in authentik, or someone else's.
    let removed = passkey.get(&request("eA", &["b3RoZXItY3JlZGVudGlhbA"]), ORIGIN).expect_err("refused").0;
    assert!(removed.contains("does not list this passkey"), "{removed}");
    // An RP ID that is not the origin's host or a parent of it.
    let foreign = passkey.get(&json!({"challenge": "eA", "rpId": "example.com"}), ORIGIN).expect_err("refused").0;
    assert!(foreign.contains("SecurityError"), "{foreign}");
    // A relying party with no ES256.
    let mut rsa_only = creation("eA");
    rsa_only["pubKeyCredParams"] = json!([{"type": "public-key", "alg": -257}]);
    assert!(Passkey::create(&rsa_only, ORIGIN).expect_err("refused").0.contains("no ES256"));
}

#[test]
fn rp_ids_follow_the_browsers_rule() {
    assert_eq!(rp_id_for("https://login.example.com", Some("example.com")).expect("valid"), "example.com");
    assert_eq!(rp_id_for("https://login.example.com", None).expect("valid"), "login.example.com");
    assert_eq!(rp_id_for("http://127.0.0.1:9000", Some("127.0.0.1")).expect("valid"), "127.0.0.1");
    assert!(rp_id_for("http://127.0.0.1:9000", Some("0.0.1")).is_err());
    assert!(rp_id_for("https://badexample.com", Some("example.com")).is_err());
}
