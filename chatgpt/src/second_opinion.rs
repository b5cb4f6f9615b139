//! A second, independent opinion on every ID token ChatGPT accepted: openidconnect's Core
//! verifier, as a standard OpenID client would run it. It checks the signature (by `kid`, or
//! HS256 with the client secret), `iss`, `aud` (no audience besides the client unless trusted,
//! here none), `exp`, the nonce, and that the standard claims have their standard types
//! (openidconnect 4.0 does not check `azp`; the shared rules do). Its clock is moved back by the
//! allowed skew, so its "expired" message shows that time as the current one.
//! Where it refuses a token the shared rules accepted, the attempt records a note
//! `id_token.second_opinion` naming why; ChatGPT still signs the user in, and the harness
//! reports the disagreement as a failed assertion of the landing.

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use serde_json::Value;

use ak_protocol::id_token::Expected;

/// The check's name in the attempt record.
pub const CHECK: &str = "id_token.second_opinion";

/// openidconnect's verdict on `token`, with the expectations the shared rules used (the same
/// clock skew on `exp`): `Ok` with what it verified, or why it refuses.
pub(crate) fn verdict(token: &str, expected: &Expected<'_>) -> Result<String, String> {
    let keys = match expected.jwks {
        Some(jwks) => serde_json::from_value::<CoreJsonWebKeySet>(jwks.clone())
            .map_err(|e| format!("openidconnect cannot read the key set: {e}"))?,
        None => CoreJsonWebKeySet::new(Vec::new()),
    };
    let issuer = IssuerUrl::new(expected.issuer.to_string()).map_err(|e| format!("issuer is not a URL: {e}"))?;
    let client_id = ClientId::new(expected.client_id.to_string());
    let verifier = match expected.client_secret {
        Some(secret) => CoreIdTokenVerifier::new_confidential_client(
            client_id,
            ClientSecret::new(String::from_utf8_lossy(secret).into_owned()),
            issuer,
            keys,
        ),
        None => CoreIdTokenVerifier::new_public_client(client_id, issuer, keys),
    };
    let algs: Vec<CoreJwsSigningAlgorithm> =
        expected.accepted_algs.iter().filter_map(|alg| serde_json::from_value(Value::from(*alg)).ok()).collect();
    // "Now" moved back by the allowed skew: `exp` gets the same leeway the shared rules give.
    let now = chrono::DateTime::from_timestamp(expected.now - expected.leeway, 0).unwrap_or_default();
    let verifier = verifier.set_allowed_algs(algs).set_time_fn(move || now);
    let token: CoreIdToken =
        token.parse().map_err(|e| format!("openidconnect cannot read the token as an ID token: {e}"))?;
    let nonce = Nonce::new(expected.nonce.unwrap_or_default().to_string());
    let claims = match expected.nonce {
        Some(_) => token.claims(&verifier, &nonce),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    };
    claims
        .map(|c| format!("openidconnect's Core verifier accepts it too (sub `{}`)", c.subject().as_str()))
        .map_err(|e| format!("openidconnect's Core verifier refuses it: {e}"))
}
