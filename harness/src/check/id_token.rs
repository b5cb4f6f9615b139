//! `exchange_code`'s checks of the ID token the harness received as the client.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Provider;
use crate::result::{Assertion, StepResult, Subject};
use crate::scenario::ClaimSource;

/// The protocol checks of an ID token the harness received as the client: signature by the
/// JWKS key its `kid` names, alg as advertised, `iss`, `aud`, `nonce`, `exp`.
pub(crate) fn check_id_token(
    provider: &Provider<'_>,
    vars: &BTreeMap<String, String>,
    token: &str,
    result: &mut StepResult,
) {
    let mut check = |subject: Subject, expected: String, actual: String, passed: bool| {
        result.assertions.push(Assertion { subject, expected, actual, passed, hop: None, span: None });
    };
    let jwt = match ak_protocol::jose::Jwt::parse(token) {
        Ok(j) => j,
        Err(e) => {
            check(Subject::IdToken, "a JWT".into(), e, false);
            return;
        }
    };
    let discovery = provider.discovery;
    let advertised: Vec<String> = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    check(
        Subject::IdTokenAlg,
        format!("one of {advertised:?}, not none"),
        jwt.alg().to_string(),
        jwt.alg() != "none" && advertised.iter().any(|a| a == jwt.alg()),
    );
    if jwt.alg() == "RS256" {
        let key =
            provider.jwks["keys"].as_array().and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == jwt.kid()));
        let verified =
            key.and_then(|k| ak_protocol::jose::rsa_public_key_from_jwk(k).ok()).is_some_and(|k| jwt.verify_rs256(&k));
        let actual = match (key, verified) {
            (None, _) => format!("no JWKS key with kid {:?}", jwt.kid()),
            (Some(_), false) => "the signature does not verify".into(),
            (Some(_), true) => "verified".into(),
        };
        check(Subject::IdTokenSignature, "verified with the JWKS key of its kid".into(), actual, verified);
    }
    let claim =
        |name: &str| jwt.claims.get(name).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    let issuer = vars.get("authentik.issuer").cloned().unwrap_or_default();
    let iss = claim("iss").unwrap_or_else(|| "absent".into());
    check(claim_of_the_token("iss"), format!("\"{issuer}\""), format!("\"{iss}\""), iss == issuer);
    let client_id = vars.get("application.client_id").cloned().unwrap_or_default();
    let aud = claim("aud").unwrap_or_else(|| "absent".into());
    check(claim_of_the_token("aud"), format!("\"{client_id}\""), format!("\"{aud}\""), aud == client_id);
    if let Some(nonce) = provider.nonce {
        let got = claim("nonce");
        check(
            claim_of_the_token("nonce"),
            "the nonce sent".into(),
            if got.is_some() { "a different nonce".into() } else { "absent".into() },
            got.as_deref() == Some(nonce),
        );
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let exp = jwt.claims.get("exp").and_then(Value::as_i64);
    check(
        claim_of_the_token("exp"),
        "in the future".into(),
        exp.map(|e| format!("{}s from now", e - now)).unwrap_or("absent".into()),
        exp.is_some_and(|e| e > now),
    );
}

/// A claim of the ID token the harness received.
fn claim_of_the_token(name: &str) -> Subject {
    Subject::Claim { from: ClaimSource::IdToken, name: name.to_string() }
}
