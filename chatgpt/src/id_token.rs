//! ID token validation, as strict as ChatGPT's: the `alg`, the signature (RS256 against the
//! JWKS, fetched again once for an unknown key; HS256 with the client secret), then `iss`, `aud`,
//! the times, `nonce` and `at_hash`. Each check records itself in the attempt and fails with its
//! own code.

use serde_json::{Map, Value};
use url::Url;

use crate::config::{Alg, Config};
use crate::provider::{Fetch, HttpClient, Pending, Tokens, get_document};
use crate::record::{Attempt, ErrorCode, Failure, now_secs};
use ak_protocol::id_token::{self as rules, Expected, Fault, Finding};
use ak_protocol::jose::Jwt;

/// Validates the ID token from the token response and returns its claims, by the shared rules
/// (`ak_protocol::id_token`), stopping at the first that fails, with its error code.
pub(crate) async fn validate_id_token(
    http: &HttpClient,
    config: &Config,
    pending: &Pending,
    tokens: &Tokens,
    attempt: &mut Attempt,
) -> Result<Map<String, Value>, Failure> {
    let jwt = match Jwt::parse(&tokens.id_token) {
        Ok(jwt) => jwt,
        Err(e) => return Err(attempt.fail("id_token.parse", Failure::new(ErrorCode::IdTokenMalformed, e))),
    };
    attempt.id_token_header = Some(jwt.header.clone());
    attempt.id_token_claims = Some(jwt.claims.clone());
    attempt.pass("id_token.parse", "three base64url parts, JSON header and payload");

    let accepted: Vec<&str> = config.allowed_algs.iter().map(|a| a.as_str()).collect();
    let advertised: Vec<&str> = pending.discovery.signing_algs.iter().map(String::as_str).collect();
    let mut expected = Expected {
        issuer: &pending.discovery.issuer,
        client_id: &config.client_id,
        nonce: Some(&pending.nonce),
        accepted_algs: &accepted,
        advertised_algs: &advertised,
        jwks: None,
        client_secret: Some(config.client_secret.expose().as_bytes()),
        access_token: tokens.access_token.as_deref(),
        now: now_secs() as i64,
        leeway: config.clock_skew.as_secs() as i64,
    };
    check_alg(&jwt, &expected, attempt)?;
    let alg = jwt.alg();
    let jwks;
    if alg == Alg::RS256.as_str() {
        jwks = Value::Object(fetch_keys(http, &pending.discovery.jwks_uri, &jwt, attempt).await?);
        expected.jwks = Some(&jwks);
    }
    signature(&jwt, &expected, &pending.discovery.jwks_uri, attempt)?;

    check_claims(&jwt.claims, &expected, tokens, attempt)?;
    match crate::second_opinion::verdict(&tokens.id_token, &expected) {
        Ok(agreed) => attempt.pass(crate::second_opinion::CHECK, agreed),
        Err(refused) => attempt.note(crate::second_opinion::CHECK, refused),
    }
    Ok(jwt.claims)
}

/// Refuses an unsigned token, and an `alg` the workspace does not accept or discovery does not
/// advertise.
fn check_alg(jwt: &Jwt, expected: &Expected<'_>, attempt: &mut Attempt) -> Result<(), Failure> {
    let alg = jwt.alg().to_string();
    let finding = rules::alg(jwt, expected);
    match finding.fault {
        Some(Fault::Unsigned) => {
            let detail = format!("alg is `{alg}`: the token is unsigned");
            return Err(attempt.fail("id_token.alg", Failure::new(ErrorCode::IdTokenAlgNone, detail)));
        }
        Some(_) => {
            let detail = if expected.accepted_algs.contains(&alg.as_str()) {
                format!("alg is `{alg}`; discovery advertises {:?}", expected.advertised_algs)
            } else {
                format!("alg is `{alg}`; the workspace accepts {}", expected.accepted_algs.join(", "))
            };
            return Err(attempt.fail("id_token.alg", Failure::new(ErrorCode::IdTokenAlgNotAllowed, detail)));
        }
        None => attempt.pass("id_token.alg", format!("alg `{alg}` is accepted and advertised")),
    }
    Ok(())
}

/// `iss`, `aud`, the times, `nonce` and `at_hash`, in that order.
fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
    tokens: &Tokens,
    attempt: &mut Attempt,
) -> Result<(), Failure> {
    let skew = expected.leeway;
    let iss = rules::issuer(claims, expected);
    outcome(
        attempt,
        "id_token.iss",
        &iss,
        ErrorCode::IssuerMismatch,
        || format!("iss is {}, discovery issuer is `{}` (compared byte for byte)", iss.actual, expected.issuer),
        format!("iss equals the discovery issuer `{}`", expected.issuer),
    )?;
    let aud = rules::audience(claims, expected);
    outcome(
        attempt,
        "id_token.aud",
        &aud,
        ErrorCode::AudienceMismatch,
        || {
            format!(
                "aud is {}, expected the client id `{}` (the only audience, or `azp` among several)",
                aud.actual, expected.client_id
            )
        },
        format!("aud contains the client id `{}`", expected.client_id),
    )?;
    for time in rules::times(claims, expected) {
        let name = if time.rule == "exp" { "id_token.exp" } else { "id_token.iat" };
        let code = match time.fault {
            Some(Fault::MissingTime) => ErrorCode::IdTokenMalformed,
            Some(Fault::IssuedInFuture) => ErrorCode::IdTokenIatInFuture,
            _ => ErrorCode::IdTokenExpired,
        };
        let detail = || match time.fault {
            Some(Fault::MissingTime) => format!("`{}` is missing or not a number", time.rule),
            _ => format!("{} is {} (allowed skew {skew}s)", time.rule, time.actual),
        };
        outcome(attempt, name, &time, code, detail, format!("{} is {}", time.rule, time.actual))?;
    }
    if let Some(nonce) = rules::nonce(claims, expected) {
        outcome(
            attempt,
            "id_token.nonce",
            &nonce,
            ErrorCode::NonceMismatch,
            || {
                if nonce.actual == "absent" {
                    "nonce is missing; one was sent in the authorization request".into()
                } else {
                    "nonce differs from the one sent".into()
                }
            },
            "nonce equals the one sent".into(),
        )?;
    }
    if let Some(hash) = rules::at_hash_of(claims, expected) {
        outcome(
            attempt,
            "id_token.at_hash",
            &hash,
            ErrorCode::AtHashMismatch,
            || {
                if tokens.access_token.is_none() {
                    "at_hash present but the token response has no access_token".into()
                } else {
                    "at_hash does not match the access token".into()
                }
            },
            "at_hash matches the access token".into(),
        )?;
    }
    Ok(())
}

/// Records a rule's finding in the attempt: passed, or failed with `code` and the detail.
fn outcome(
    attempt: &mut Attempt,
    name: &'static str,
    finding: &Finding,
    code: ErrorCode,
    detail: impl FnOnce() -> String,
    passed: String,
) -> Result<(), Failure> {
    if finding.passed() {
        attempt.pass(name, passed);
        return Ok(());
    }
    Err(attempt.fail(name, Failure::new(code, detail())))
}

/// The signature by the shared rule: HS256 with the client secret, RS256 with the key of its
/// `kid` in the key set fetched for it.
fn signature(jwt: &Jwt, expected: &Expected<'_>, jwks_uri: &Url, attempt: &mut Attempt) -> Result<(), Failure> {
    let finding = rules::signature(jwt, expected);
    let kid = jwt.kid();
    let (code, detail) = match (finding.fault, jwt.alg()) {
        (None, "HS256") => {
            attempt.pass("id_token.signature", "HS256 signature verifies with the client secret");
            return Ok(());
        }
        (None, _) => {
            attempt.pass("id_token.signature", format!("RS256 signature verifies with JWKS key {kid:?}"));
            return Ok(());
        }
        (Some(_), "HS256") => {
            (ErrorCode::IdTokenBadSignature, "HS256 signature does not verify with the client secret".to_string())
        }
        (Some(Fault::UnknownKey), _) => {
            let keys = expected.jwks.and_then(|k| k["keys"].as_array()).map(Vec::as_slice).unwrap_or_default();
            let known: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
            (ErrorCode::IdTokenUnknownKid, format!("kid {kid:?} is not in the JWKS at {jwks_uri} (it has {known:?})"))
        }
        (Some(Fault::UnusableKey), _) => (ErrorCode::JwksUnreachable, finding.actual),
        (Some(_), _) => {
            (ErrorCode::IdTokenBadSignature, format!("RS256 signature does not verify with JWKS key {kid:?}"))
        }
    };
    Err(attempt.fail("id_token.signature", Failure::new(code, detail)))
}

/// The provider's key set for an RS256 token: the cached one, fetched again once when it lacks
/// the token's key (authentik rotated it).
async fn fetch_keys(
    http: &HttpClient,
    jwks_uri: &Url,
    jwt: &Jwt,
    attempt: &mut Attempt,
) -> Result<Map<String, Value>, Failure> {
    let mut fresh = false;
    let jwks = loop {
        match get_document(http, jwks_uri.as_str(), fresh).await {
            Ok((jwks, how)) if how == Fetch::Cached && !has_key(&jwks, jwt.kid()) => fresh = true,
            Ok((jwks, _)) => break jwks,
            Err(e) => {
                let failure = e.failure(ErrorCode::JwksUnreachable, ErrorCode::JwksUnreachable);
                return Err(attempt.fail("id_token.signature", failure));
            }
        }
    };
    if !matches!(jwks.get("keys"), Some(Value::Array(_))) {
        let detail = format!("JWKS {jwks_uri} has no `keys` list");
        return Err(attempt.fail("id_token.signature", Failure::new(ErrorCode::JwksUnreachable, detail)));
    }
    Ok(jwks)
}

/// Whether a key set has the key a token names (or, for a token naming none, exactly one key).
fn has_key(jwks: &Map<String, Value>, kid: Option<&str>) -> bool {
    let keys = jwks.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    match kid {
        Some(kid) => keys.iter().any(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None => keys.len() == 1,
    }
}
