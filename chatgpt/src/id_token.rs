//! ID token validation, as strict as ChatGPT's: the `alg`, the signature (RS256 against the
//! JWKS, fetched again once for an unknown key; HS256 with the client secret), then `iss`, `aud`,
//! the times, `nonce` and `at_hash`. Each check records itself in the attempt and fails with its
//! own code.

use serde_json::{Map, Value};
use url::Url;

use crate::config::{Alg, Config};
use crate::provider::{Fetch, HttpClient, Pending, Tokens, get_document};
use crate::record::{Attempt, ErrorCode, Failure, now_secs};
use ak_protocol::jose::{Jwt, at_hash, rsa_public_key_from_jwk};

/// Validates the ID token from the token response and returns its claims.
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

    let accepted = check_alg(config, pending, &jwt, attempt)?;
    match accepted {
        Alg::HS256 => {
            if !jwt.verify_hs256(config.client_secret.expose().as_bytes()) {
                return Err(attempt.fail(
                    "id_token.signature",
                    Failure::new(
                        ErrorCode::IdTokenBadSignature,
                        "HS256 signature does not verify with the client secret",
                    ),
                ));
            }
            attempt.pass("id_token.signature", "HS256 signature verifies with the client secret");
        }
        Alg::RS256 => verify_rs256(http, &pending.discovery.jwks_uri, &jwt, attempt).await?,
    }

    let claims = &jwt.claims;
    check_issuer(claims, pending, attempt)?;
    check_audience(claims, config, attempt)?;
    check_times(claims, config, attempt)?;
    check_nonce(claims, pending, attempt)?;
    check_at_hash(claims, tokens, attempt)?;
    Ok(jwt.claims)
}

/// Refuses an unsigned token, and an `alg` the workspace does not accept or discovery does not advertise.
fn check_alg(config: &Config, pending: &Pending, jwt: &Jwt, attempt: &mut Attempt) -> Result<Alg, Failure> {
    let alg = jwt.alg().to_string();
    if alg.eq_ignore_ascii_case("none") || alg.is_empty() {
        return Err(attempt.fail(
            "id_token.alg",
            Failure::new(ErrorCode::IdTokenAlgNone, format!("alg is `{alg}`: the token is unsigned")),
        ));
    }
    let accepted = config.allowed_algs.iter().find(|a| a.as_str() == alg).copied();
    let advertised = pending.discovery.signing_algs.contains(&alg);
    let Some(accepted) = accepted.filter(|_| advertised) else {
        let allowed: Vec<_> = config.allowed_algs.iter().map(|a| a.as_str()).collect();
        let detail = if accepted.is_none() {
            format!("alg is `{alg}`; the workspace accepts {}", allowed.join(", "))
        } else {
            format!("alg is `{alg}`; discovery advertises {:?}", pending.discovery.signing_algs)
        };
        return Err(attempt.fail("id_token.alg", Failure::new(ErrorCode::IdTokenAlgNotAllowed, detail)));
    };
    attempt.pass("id_token.alg", format!("alg `{alg}` is accepted and advertised"));
    Ok(accepted)
}

/// Compares `iss` with the discovery issuer byte for byte.
fn check_issuer(claims: &Map<String, Value>, pending: &Pending, attempt: &mut Attempt) -> Result<(), Failure> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != pending.discovery.issuer {
        let detail =
            format!("iss is `{iss}`, discovery issuer is `{}` (compared byte for byte)", pending.discovery.issuer);
        return Err(attempt.fail("id_token.iss", Failure::new(ErrorCode::IssuerMismatch, detail)));
    }
    attempt.pass("id_token.iss", format!("iss `{iss}` equals the discovery issuer"));
    Ok(())
}

/// Requires the client id among the audiences, and as `azp` when `azp` is present or there are several audiences.
fn check_audience(claims: &Map<String, Value>, config: &Config, attempt: &mut Attempt) -> Result<(), Failure> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let azp = claims.get("azp").and_then(Value::as_str);
    let aud_ok = audiences.contains(&config.client_id.as_str())
        && (audiences.len() == 1 || azp == Some(config.client_id.as_str()))
        && azp.is_none_or(|a| a == config.client_id);
    if !aud_ok {
        let detail = format!("aud is {:?} (azp {:?}), expected the client id `{}`", audiences, azp, config.client_id);
        return Err(attempt.fail("id_token.aud", Failure::new(ErrorCode::AudienceMismatch, detail)));
    }
    attempt.pass("id_token.aud", format!("aud contains the client id `{}`", config.client_id));
    Ok(())
}

/// Checks `exp` is not past and `iat` not ahead, both within the configured clock skew.
fn check_times(claims: &Map<String, Value>, config: &Config, attempt: &mut Attempt) -> Result<(), Failure> {
    let now = now_secs() as i64;
    let skew = config.clock_skew.as_secs() as i64;
    let time = |name: &'static str, attempt: &mut Attempt| -> Result<i64, Failure> {
        claims.get(name).and_then(Value::as_i64).ok_or_else(|| {
            attempt.fail(
                "id_token.time",
                Failure::new(ErrorCode::IdTokenMalformed, format!("`{name}` is missing or not a number")),
            )
        })
    };
    let exp = time("exp", attempt)?;
    let iat = time("iat", attempt)?;
    if exp + skew < now {
        let detail = format!("exp {exp} is {}s in the past (allowed skew {skew}s)", now - exp);
        return Err(attempt.fail("id_token.exp", Failure::new(ErrorCode::IdTokenExpired, detail)));
    }
    attempt.pass("id_token.exp", format!("exp is {}s ahead", exp - now));
    if iat > now + skew {
        let detail = format!("iat {iat} is {}s in the future (allowed skew {skew}s)", iat - now);
        return Err(attempt.fail("id_token.iat", Failure::new(ErrorCode::IdTokenIatInFuture, detail)));
    }
    attempt.pass("id_token.iat", format!("iat is {}s ago", now - iat));
    Ok(())
}

/// Requires `nonce` to equal the one sent in the authorization request; a missing one fails too.
fn check_nonce(claims: &Map<String, Value>, pending: &Pending, attempt: &mut Attempt) -> Result<(), Failure> {
    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce) if nonce == pending.nonce => attempt.pass("id_token.nonce", "nonce equals the one sent"),
        Some(_) => {
            return Err(attempt
                .fail("id_token.nonce", Failure::new(ErrorCode::NonceMismatch, "nonce differs from the one sent")));
        }
        None => {
            return Err(attempt.fail(
                "id_token.nonce",
                Failure::new(ErrorCode::NonceMismatch, "nonce is missing; one was sent in the authorization request"),
            ));
        }
    }
    Ok(())
}

/// Checks `at_hash` against the access token, only when the token has one (it is optional in the code flow).
fn check_at_hash(claims: &Map<String, Value>, tokens: &Tokens, attempt: &mut Attempt) -> Result<(), Failure> {
    if let Some(claimed) = claims.get("at_hash") {
        let expected = tokens.access_token.as_deref().map(at_hash);
        if claimed.as_str() != expected.as_deref() {
            let detail = if expected.is_none() {
                "at_hash present but the token response has no access_token".to_string()
            } else {
                "at_hash does not match the access token".to_string()
            };
            return Err(attempt.fail("id_token.at_hash", Failure::new(ErrorCode::AtHashMismatch, detail)));
        }
        attempt.pass("id_token.at_hash", "at_hash matches the access token");
    }
    Ok(())
}

async fn verify_rs256(http: &HttpClient, jwks_uri: &Url, jwt: &Jwt, attempt: &mut Attempt) -> Result<(), Failure> {
    let mut fresh = false;
    let jwks = loop {
        match get_document(http, jwks_uri.as_str(), fresh).await {
            // A key the cached set lacks may be new (authentik rotated it): fetch the set again, once.
            Ok((jwks, how)) if how == Fetch::Cached && !has_key(&jwks, jwt.kid()) => fresh = true,
            Ok((jwks, _)) => break jwks,
            Err(e) => {
                let failure = e.failure(ErrorCode::JwksUnreachable, ErrorCode::JwksUnreachable);
                return Err(attempt.fail("id_token.signature", failure));
            }
        }
    };
    let keys: Vec<&Value> = match jwks.get("keys") {
        Some(Value::Array(keys)) => {
            keys.iter().filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA")).collect()
        }
        _ => {
            let detail = format!("JWKS {jwks_uri} has no `keys` list");
            return Err(attempt.fail("id_token.signature", Failure::new(ErrorCode::JwksUnreachable, detail)));
        }
    };
    let key = match jwt.kid() {
        Some(kid) => keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    };
    let Some(key) = key else {
        let known: Vec<&str> = keys.iter().filter_map(|k| k.get("kid").and_then(Value::as_str)).collect();
        let detail = format!("kid {:?} is not in the JWKS at {jwks_uri} (it has {known:?})", jwt.kid());
        return Err(attempt.fail("id_token.signature", Failure::new(ErrorCode::IdTokenUnknownKid, detail)));
    };
    let public = match rsa_public_key_from_jwk(key) {
        Ok(public) => public,
        Err(e) => return Err(attempt.fail("id_token.signature", Failure::new(ErrorCode::JwksUnreachable, e))),
    };
    if !jwt.verify_rs256(&public) {
        let detail = format!("RS256 signature does not verify with JWKS key {:?}", jwt.kid());
        return Err(attempt.fail("id_token.signature", Failure::new(ErrorCode::IdTokenBadSignature, detail)));
    }
    attempt.pass("id_token.signature", format!("RS256 signature verifies with JWKS key {:?}", jwt.kid()));
    Ok(())
}

/// Whether a key set has the key a token names (or, for a token naming none, exactly one key).
fn has_key(jwks: &Map<String, Value>, kid: Option<&str>) -> bool {
    let keys = jwks.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    match kid {
        Some(kid) => keys.iter().any(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None => keys.len() == 1,
    }
}
