//! `exchange_code`'s checks of the ID token the harness received as the client.

use serde_json::Value;

use ak_protocol::id_token::Expected;

use super::Provider;
use crate::result::{Assertion, Subject};
use crate::scenario::{ApplicationVars, ClaimSource};

/// The protocol checks of an ID token the harness received as the client, by the rules the
/// relying party applies too (`ak_protocol::id_token`), every one reported: the alg as
/// advertised, the signature (RS256 by the JWKS key its `kid` names, HS256 by the client
/// secret), `iss`, `aud` (a string, or an array with `azp`), `exp` and `iat`, `nonce` and
/// `at_hash`.
pub(crate) fn check_id_token(provider: &Provider<'_>, application: &ApplicationVars, token: &str) -> Vec<Assertion> {
    let check = |subject: Subject, expected: String, actual: String, passed: bool| Assertion {
        subject,
        expected,
        actual,
        passed,
        hop: None,
        span: None,
    };
    let jwt = match ak_protocol::jose::Jwt::parse(token) {
        Ok(j) => j,
        Err(e) => return vec![check(Subject::IdToken, "a JWT".into(), e, false)],
    };
    let advertised: Vec<&str> = provider.discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let expected = Expected {
        issuer: &application.issuer,
        client_id: &application.client_id,
        nonce: provider.nonce,
        // As a client the harness takes what discovery advertises; ChatGPT's own list is the
        // relying party's to apply.
        accepted_algs: &advertised,
        advertised_algs: &advertised,
        jwks: Some(provider.jwks),
        client_secret: provider.client_secret,
        access_token: provider.access_token,
        now: ak_protocol::time::now_secs() as i64,
        leeway: provider.leeway.as_secs() as i64,
    };
    ak_protocol::id_token::check(&jwt, &expected)
        .into_iter()
        .map(|finding| {
            let subject = match finding.rule {
                "alg" => Subject::IdTokenAlg,
                "signature" => Subject::IdTokenSignature,
                rule => claim_of_the_token(rule),
            };
            let passed = finding.passed();
            check(subject, finding.expected, finding.actual, passed)
        })
        .collect()
}

/// A claim of the ID token the harness received.
fn claim_of_the_token(name: &str) -> Subject {
    Subject::Claim { from: ClaimSource::IdToken, name: name.to_string() }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ak_protocol::jose::{RsaKey, sign_hs256};
    use serde_json::{Value, json};

    use super::check_id_token;
    use crate::check::Provider;
    use crate::scenario::ApplicationVars;

    fn judge(token: &str, jwks: &Value, secret: &[u8]) -> Vec<(String, bool)> {
        let discovery = json!({"id_token_signing_alg_values_supported": ["RS256", "HS256"]});
        let provider = Provider {
            discovery: &discovery,
            jwks,
            nonce: Some("n-1"),
            client_secret: Some(secret),
            access_token: None,
            leeway: Duration::from_secs(60),
        };
        let application = ApplicationVars {
            issuer: "https://ak/application/o/chatgpt/".into(),
            client_id: "chatgpt".into(),
            ..Default::default()
        };
        check_id_token(&provider, &application, token).iter().map(|a| (a.subject.to_string(), a.passed)).collect()
    }

    fn claims(aud: Value) -> Value {
        let now = ak_protocol::time::now_secs() as i64;
        json!({"iss": "https://ak/application/o/chatgpt/", "aud": aud, "azp": "chatgpt", "nonce": "n-1",
            "exp": now + 300, "iat": now, "sub": "u"})
    }

    /// An array `aud` with `azp` is valid (OIDC Core 3.1.3.7) and passes; HS256 is verified with
    /// the client secret, and fails with another.
    #[test]
    fn an_array_audience_passes_and_hs256_is_verified() {
        let key = RsaKey::generate("k1").expect("key");
        let jwks = json!({"keys": [key.public_jwk()]});
        let token = key.sign_rs256(&claims(json!(["chatgpt", "api"])), &Default::default());
        let all = judge(&token, &jwks, b"s3cret");
        assert!(all.iter().all(|(_, passed)| *passed), "{all:?}");
        assert_eq!(all.len(), 7, "alg, signature, iss, aud, exp, iat, nonce: {all:?}");
        let hs = sign_hs256(b"s3cret", &claims(json!("chatgpt")));
        assert!(judge(&hs, &jwks, b"s3cret").iter().all(|(_, passed)| *passed));
        let failed: Vec<String> =
            judge(&hs, &jwks, b"other").into_iter().filter(|(_, passed)| !passed).map(|(s, _)| s).collect();
        assert_eq!(failed, ["ID token signature"]);
    }
}
