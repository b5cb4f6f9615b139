//! The ID token rules of OpenID Connect Core 3.1.3.7, once: the mock ChatGPT applies them as a
//! relying party (stopping at the first that fails, with its error code) and ak-e2e checks them
//! as a client (reporting them all). Each rule is a pure function of the token and of what was
//! expected, and says what it expected, what it found, and its fault when it failed.

use serde_json::{Map, Value};

use crate::jose::{Jwt, at_hash, rsa_public_key_from_jwk};

/// What a token is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The discovery `issuer`, compared byte for byte.
    pub issuer: &'a str,
    /// The client id: the audience, and `azp` when present or with several audiences.
    pub client_id: &'a str,
    /// The nonce of the authorization request, when one was sent.
    pub nonce: Option<&'a str>,
    /// The algorithms the client accepts.
    pub accepted_algs: &'a [&'a str],
    /// The algorithms discovery advertises (`id_token_signing_alg_values_supported`).
    pub advertised_algs: &'a [&'a str],
    /// The provider's key set, for RS256.
    pub jwks: Option<&'a Value>,
    /// The client secret, for HS256 (authentik signs HS256 with it when no key is selected).
    pub client_secret: Option<&'a [u8]>,
    /// The access token of the same response, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// The clock skew allowed on `exp` and `iat`, in seconds.
    pub leeway: i64,
}

/// Why a rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `alg` is `none` or empty: the token is unsigned.
    Unsigned,
    /// `alg` is not one the client accepts, or not one discovery advertises.
    AlgNotAllowed,
    /// No key of the key set has the token's `kid` (or there is no key set).
    UnknownKey,
    /// The key of the token's `kid` is not a usable RSA public key.
    UnusableKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` differs from the issuer.
    Issuer,
    /// The client id is not the audience (or `azp` names another client).
    Audience,
    /// `exp` or `iat` is missing or not a number.
    MissingTime,
    /// `exp` has passed, beyond the leeway.
    Expired,
    /// `iat` is ahead, beyond the leeway.
    IssuedInFuture,
    /// `nonce` is missing or another.
    Nonce,
    /// `at_hash` does not match the access token.
    AtHash,
}

/// One rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule: `alg`, `signature`, `iss`, `aud`, `exp`, `iat`, `nonce` or `at_hash`.
    pub rule: &'static str,
    /// What it expected, in words.
    pub expected: String,
    /// What the token has, in words.
    pub actual: String,
    /// Why it failed; `None` when it passed.
    pub fault: Option<Fault>,
}

impl Finding {
    fn new(rule: &'static str, expected: impl Into<String>, actual: impl Into<String>, fault: Option<Fault>) -> Self {
        Self { rule, expected: expected.into(), actual: actual.into(), fault }
    }

    /// Whether the rule passed.
    pub fn passed(&self) -> bool {
        self.fault.is_none()
    }
}

/// Every rule, in the order a relying party applies them (a rule that does not apply, such as
/// `nonce` when none was sent or `at_hash` when the token has none, is left out).
pub fn check(jwt: &Jwt, expected: &Expected<'_>) -> Vec<Finding> {
    let mut findings = vec![alg(jwt, expected)];
    if findings[0].passed() {
        findings.push(signature(jwt, expected));
    }
    findings.extend([issuer(&jwt.claims, expected), audience(&jwt.claims, expected)]);
    findings.extend(times(&jwt.claims, expected));
    findings.extend(nonce(&jwt.claims, expected));
    findings.extend(at_hash_of(&jwt.claims, expected));
    findings
}

/// `alg`: signed, accepted by the client and advertised by discovery.
pub fn alg(jwt: &Jwt, expected: &Expected<'_>) -> Finding {
    let alg = jwt.alg();
    let wanted = format!("one of {:?}, advertised {:?}", expected.accepted_algs, expected.advertised_algs);
    let fault = if alg.is_empty() || alg.eq_ignore_ascii_case("none") {
        Some(Fault::Unsigned)
    } else if !expected.accepted_algs.contains(&alg) || !expected.advertised_algs.contains(&alg) {
        Some(Fault::AlgNotAllowed)
    } else {
        None
    };
    Finding::new("alg", wanted, alg, fault)
}

/// The signature: RS256 by the key of its `kid` in the key set, HS256 by the client secret.
pub fn signature(jwt: &Jwt, expected: &Expected<'_>) -> Finding {
    let found = |fault, actual: &str| Finding::new("signature", "verified", actual, fault);
    match jwt.alg() {
        "HS256" => match expected.client_secret {
            Some(secret) if jwt.verify_hs256(secret) => found(None, "HS256, verified with the client secret"),
            Some(_) => found(Some(Fault::BadSignature), "HS256, does not verify with the client secret"),
            None => found(Some(Fault::BadSignature), "HS256, and no client secret to verify it with"),
        },
        "RS256" => {
            // The RSA key its `kid` names; a token naming none takes the only key, if there is one.
            let keys: Vec<&Value> = expected
                .jwks
                .and_then(|k| k["keys"].as_array())
                .map(|keys| keys.iter().filter(|k| k["kty"] == "RSA").collect())
                .unwrap_or_default();
            let key = match jwt.kid() {
                Some(kid) => keys.iter().find(|k| k["kid"].as_str() == Some(kid)).copied(),
                None if keys.len() == 1 => keys.first().copied(),
                None => None,
            };
            let Some(key) = key else {
                return found(Some(Fault::UnknownKey), &format!("RS256, no key with kid {:?}", jwt.kid()));
            };
            match rsa_public_key_from_jwk(key) {
                Ok(k) if jwt.verify_rs256(&k) => found(None, "RS256, verified with the key of its kid"),
                Ok(_) => found(Some(Fault::BadSignature), "RS256, does not verify with the key of its kid"),
                Err(e) => found(Some(Fault::UnusableKey), &format!("RS256, the key of its kid is unusable: {e}")),
            }
        }
        other => found(Some(Fault::AlgNotAllowed), &format!("{other}, which ak-e2e cannot verify")),
    }
}

/// `iss`: byte for byte the issuer.
pub fn issuer(claims: &Map<String, Value>, expected: &Expected<'_>) -> Finding {
    let iss = claims.get("iss").and_then(Value::as_str);
    let fault = (iss != Some(expected.issuer)).then_some(Fault::Issuer);
    Finding::new("iss", quoted(expected.issuer), iss.map_or_else(|| "absent".into(), quoted), fault)
}

/// `aud`: a string or an array (OIDC Core 3.1.3.7, 3.–5.) containing the client id; with
/// several audiences, `azp` must be the client id, and an `azp` present must be it in any case.
pub fn audience(claims: &Map<String, Value>, expected: &Expected<'_>) -> Finding {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let azp = claims.get("azp").and_then(Value::as_str);
    let client = expected.client_id;
    let ok =
        audiences.contains(&client) && (audiences.len() == 1 || azp == Some(client)) && azp.is_none_or(|a| a == client);
    let actual = match (claims.get("aud"), azp) {
        (None, _) => "absent".to_string(),
        (Some(aud), None) => aud.as_str().map_or_else(|| aud.to_string(), quoted),
        (Some(aud), Some(azp)) => {
            format!("{} with azp \"{azp}\"", aud.as_str().map_or_else(|| aud.to_string(), quoted))
        }
    };
    Finding::new("aud", quoted(client), actual, (!ok).then_some(Fault::Audience))
}

/// `exp` not past and `iat` not ahead, both within the leeway.
pub fn times(claims: &Map<String, Value>, expected: &Expected<'_>) -> Vec<Finding> {
    let (now, leeway) = (expected.now, expected.leeway);
    let time = |name| claims.get(name).and_then(Value::as_i64);
    let exp = match time("exp") {
        None => Finding::new("exp", "in the future", "absent or not a number", Some(Fault::MissingTime)),
        Some(exp) if exp + leeway < now => {
            Finding::new("exp", "in the future", format!("{}s in the past", now - exp), Some(Fault::Expired))
        }
        Some(exp) => Finding::new("exp", "in the future", format!("{}s from now", exp - now), None),
    };
    let iat = match time("iat") {
        None => Finding::new("iat", "not in the future", "absent or not a number", Some(Fault::MissingTime)),
        Some(iat) if iat > now + leeway => Finding::new(
            "iat",
            "not in the future",
            format!("{}s in the future", iat - now),
            Some(Fault::IssuedInFuture),
        ),
        Some(iat) => Finding::new("iat", "not in the future", format!("{}s ago", now - iat), None),
    };
    vec![exp, iat]
}

/// `nonce`: the one sent, when one was sent.
pub fn nonce(claims: &Map<String, Value>, expected: &Expected<'_>) -> Option<Finding> {
    let sent = expected.nonce?;
    let (actual, fault) = match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if n == sent => ("the nonce sent", None),
        Some(_) => ("a different nonce", Some(Fault::Nonce)),
        None => ("absent", Some(Fault::Nonce)),
    };
    Some(Finding::new("nonce", "the nonce sent", actual, fault))
}

/// `at_hash`, when the token has one: the hash of the access token of the same response.
pub fn at_hash_of(claims: &Map<String, Value>, expected: &Expected<'_>) -> Option<Finding> {
    let claimed = claims.get("at_hash")?;
    let want = expected.access_token.map(at_hash);
    let (actual, fault) = match (&want, claimed.as_str()) {
        (None, _) => ("present, but the response has no access token", Some(Fault::AtHash)),
        (Some(w), Some(c)) if w == c => ("matches", None),
        _ => ("does not match", Some(Fault::AtHash)),
    };
    Some(Finding::new("at_hash", "the access token's hash", actual, fault))
}

fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Expected, Fault, audience, check, times};
    use crate::jose::{Jwt, RsaKey, sign_hs256};

    fn expected<'a>(jwks: &'a Value) -> Expected<'a> {
        Expected {
            issuer: "https://ak/application/o/chatgpt/",
            client_id: "chatgpt",
            nonce: Some("n-1"),
            accepted_algs: &["RS256", "HS256"],
            advertised_algs: &["RS256", "HS256"],
            jwks: Some(jwks),
            client_secret: Some(b"s3cret"),
            access_token: None,
            now: 1_800_000_000,
            leeway: 60,
        }
    }

    fn claims(extra: Value) -> Value {
        let mut c = json!({"iss": "https://ak/application/o/chatgpt/", "aud": "chatgpt", "nonce": "n-1",
            "exp": 1_800_000_300, "iat": 1_799_999_990, "sub": "u"});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            c[k] = v;
        }
        c
    }

    fn faults(token: &str, jwks: &Value) -> Vec<(&'static str, Option<Fault>)> {
        let jwt = Jwt::parse(token).expect("jwt");
        check(&jwt, &expected(jwks)).into_iter().map(|f| (f.rule, f.fault)).filter(|(_, f)| f.is_some()).collect()
    }

    /// Each rule, where it passes and where it fails, by its fault.
    #[test]
    fn each_rule_fails_with_its_own_fault() {
        let key = RsaKey::generate("k1").expect("key");
        let jwks = json!({"keys": [key.public_jwk()]});
        let rs = |extra: Value| key.sign_rs256(&claims(extra), &Default::default());
        assert_eq!(faults(&rs(json!({})), &jwks), vec![]);
        assert_eq!(faults(&sign_hs256(b"s3cret", &claims(json!({}))), &jwks), vec![]);
        let cases: Vec<(String, (&str, Fault))> = vec![
            (crate::jose::unsigned(&claims(json!({}))), ("alg", Fault::Unsigned)),
            (sign_hs256(b"other", &claims(json!({}))), ("signature", Fault::BadSignature)),
            (key.with_kid("k2").sign_rs256(&claims(json!({})), &Default::default()), ("signature", Fault::UnknownKey)),
            (rs(json!({"iss": "https://ak/application/o/chatgpt"})), ("iss", Fault::Issuer)),
            (rs(json!({"aud": "other"})), ("aud", Fault::Audience)),
            (rs(json!({"exp": 1_799_999_000})), ("exp", Fault::Expired)),
            (rs(json!({"exp": "soon"})), ("exp", Fault::MissingTime)),
            (rs(json!({"iat": 1_800_000_500})), ("iat", Fault::IssuedInFuture)),
            (rs(json!({"nonce": "n-2"})), ("nonce", Fault::Nonce)),
            (rs(json!({"at_hash": "x"})), ("at_hash", Fault::AtHash)),
        ];
        for (token, (rule, fault)) in cases {
            assert_eq!(faults(&token, &jwks), vec![(rule, Some(fault))], "{rule}");
        }
        // The key its kid names, but not a usable RSA key.
        let broken = json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "!!", "e": "AQAB"}]});
        assert_eq!(faults(&rs(json!({})), &broken), vec![("signature", Some(Fault::UnusableKey))]);
    }

    /// `aud` may be an array (OIDC Core 3.1.3.7): with the client id in it and `azp` the
    /// client id it passes; several audiences without `azp`, or `azp` of another client, fail.
    #[test]
    fn an_array_audience_is_judged_with_azp() {
        let jwks = json!({"keys": []});
        let e = expected(&jwks);
        let judge = |c: Value| audience(c.as_object().expect("object"), &e).fault;
        assert_eq!(judge(json!({"aud": "chatgpt"})), None);
        assert_eq!(judge(json!({"aud": ["chatgpt"]})), None);
        assert_eq!(judge(json!({"aud": ["chatgpt", "api"], "azp": "chatgpt"})), None);
        assert_eq!(judge(json!({"aud": ["chatgpt", "api"]})), Some(Fault::Audience));
        assert_eq!(judge(json!({"aud": ["api", "chatgpt"], "azp": "api"})), Some(Fault::Audience));
        assert_eq!(judge(json!({"aud": "chatgpt", "azp": "api"})), Some(Fault::Audience));
        assert_eq!(judge(json!({})), Some(Fault::Audience));
    }

    /// The leeway holds on both sides, and only that far.
    #[test]
    fn times_hold_within_the_leeway() {
        let jwks = json!({});
        let e = expected(&jwks);
        let judge = |exp: i64, iat: i64| {
            let c = json!({"exp": exp, "iat": iat});
            times(c.as_object().expect("object"), &e).into_iter().map(|f| f.fault).collect::<Vec<_>>()
        };
        assert_eq!(judge(1_800_000_000 - 59, 1_800_000_000 + 59), vec![None, None]);
        assert_eq!(
            judge(1_800_000_000 - 61, 1_800_000_000 + 61),
            vec![Some(Fault::Expired), Some(Fault::IssuedInFuture)]
        );
    }
}
