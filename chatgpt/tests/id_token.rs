//! The mock ChatGPT's ID token checks, with real RS256 tokens signed here: required claims, each
//! claim check, signatures and algorithms, the key set, and its caching.

mod common;

use ak_protocol::jose::{self, RsaKey};
use chatgpt_rp::{Alg, ErrorCode, Verdict};
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use common::{CLIENT_ID, CLIENT_SECRET, Ctx, DISCOVERY_PATH, assert_failure, detail, discovery, key, mount_json, now};

#[tokio::test]
async fn each_missing_required_claim_has_its_code() {
    let ctx = Ctx::new().await;
    for (claim, code) in chatgpt_rp::REQUIRED_CLAIMS {
        let (status, body, attempt) = ctx
            .login_with_claims(|c| {
                c.remove(*claim);
            })
            .await;
        assert_failure(status, &body, &attempt, *code);
        assert!(detail(&attempt).contains(&format!("no non-empty `{claim}`")), "{}", detail(&attempt));
    }
    // Empty counts as missing, and the diagnosis says userinfo has it but the ID token does not.
    let (status, body, attempt) = ctx
        .login_with_claims(|c| {
            c.insert("family_name".into(), json!(""));
        })
        .await;
    assert_failure(status, &body, &attempt, ErrorCode::MissingClaimFamilyName);
    assert!(
        detail(&attempt).ends_with("userinfo has `family_name`, but ChatGPT reads the ID token"),
        "{}",
        detail(&attempt)
    );
}

/// A change to the ID token's claims.
type ClaimEdit = Box<dyn FnOnce(&mut Map<String, Value>)>;

#[tokio::test]
async fn id_token_claim_checks() {
    let ctx = Ctx::new().await;
    let issuer = ctx.issuer();
    let cases: Vec<(ErrorCode, ClaimEdit, &str)> = vec![
        (
            ErrorCode::IssuerMismatch,
            Box::new(move |c| {
                c.insert("iss".into(), json!(issuer.trim_end_matches('/')));
            }),
            "compared byte for byte",
        ),
        (
            ErrorCode::AudienceMismatch,
            Box::new(|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
            "expected the client id `chatgpt-client`",
        ),
        (
            ErrorCode::AudienceMismatch,
            Box::new(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "other"]));
            }),
            "azp",
        ),
        (
            ErrorCode::IdTokenExpired,
            Box::new(|c| {
                c.insert("exp".into(), json!(now() - 600));
            }),
            "in the past",
        ),
        (
            ErrorCode::IdTokenIatInFuture,
            Box::new(|c| {
                c.insert("iat".into(), json!(now() + 600));
            }),
            "in the future",
        ),
        (
            ErrorCode::NonceMismatch,
            Box::new(|c| {
                c.insert("nonce".into(), json!("other"));
            }),
            "differs",
        ),
        (
            ErrorCode::NonceMismatch,
            Box::new(|c| {
                c.remove("nonce");
            }),
            "missing",
        ),
        (
            ErrorCode::AtHashMismatch,
            Box::new(|c| {
                c.insert("at_hash".into(), json!("AAAAAAAAAAAAAAAAAAAAAA"));
            }),
            "at_hash",
        ),
        (
            ErrorCode::IdTokenMalformed,
            Box::new(|c| {
                c.remove("exp");
            }),
            "`exp` is missing",
        ),
        (
            ErrorCode::ClaimEmailDomainNotVerified,
            Box::new(|c| {
                c.insert("email".into(), json!("ann@elsewhere.org"));
            }),
            "outside the verified domains",
        ),
    ];
    for (code, edit, needle) in cases {
        let (status, body, attempt) = ctx.login_with_claims(edit).await;
        assert_failure(status, &body, &attempt, code);
        assert!(detail(&attempt).contains(needle), "{}: {}", code.as_str(), detail(&attempt));
    }
}

#[tokio::test]
async fn signature_checks() {
    let ctx = Ctx::new().await;
    // Tampered payload: signature no longer verifies.
    let (status, body, attempt) = ctx
        .login_with(|ctx, nonce| {
            let token = key().sign_rs256(&ctx.good_claims(nonce), &Map::new());
            let mut parts: Vec<String> = token.split('.').map(String::from).collect();
            let mut claims = ctx.good_claims(nonce);
            claims["email"] = json!("mallory@example.com");
            parts[1] = jose::b64url(claims.to_string());
            parts.join(".")
        })
        .await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenBadSignature);

    // Signed by a key that is not published under that kid.
    let (status, body, attempt) = ctx
        .login_with(|ctx, nonce| {
            let other = RsaKey::generate("idp-key").expect("keygen");
            other.sign_rs256(&ctx.good_claims(nonce), &Map::new())
        })
        .await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenBadSignature);

    // Unknown kid.
    let (status, body, attempt) =
        ctx.login_with(|ctx, nonce| key().with_kid("rotated").sign_rs256(&ctx.good_claims(nonce), &Map::new())).await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenUnknownKid);
    assert!(detail(&attempt).contains(r#"it has ["idp-key"]"#), "{}", detail(&attempt));

    // alg none.
    let (status, body, attempt) = ctx.login_with(|ctx, nonce| jose::unsigned(&ctx.good_claims(nonce))).await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenAlgNone);

    // HS256 signed with the client secret: not accepted by default, and not advertised.
    let (status, body, attempt) =
        ctx.login_with(|ctx, nonce| jose::sign_hs256(CLIENT_SECRET.as_bytes(), &ctx.good_claims(nonce))).await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenAlgNotAllowed);
    assert!(detail(&attempt).contains("the workspace accepts RS256"), "{}", detail(&attempt));

    // Not a JWT at all.
    let (status, body, attempt) = ctx.login_with(|_, _| "not-a-jwt".into()).await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenMalformed);
}

#[tokio::test]
async fn hs256_when_accepted_must_also_be_advertised() {
    let ctx = Ctx::with(|c| c.allowed_algs = vec![Alg::RS256, Alg::HS256]).await;
    let (status, body, attempt) =
        ctx.login_with(|ctx, nonce| jose::sign_hs256(CLIENT_SECRET.as_bytes(), &ctx.good_claims(nonce))).await;
    assert_failure(status, &body, &attempt, ErrorCode::IdTokenAlgNotAllowed);
    assert!(detail(&attempt).contains("discovery advertises"), "{}", detail(&attempt));
}

#[tokio::test]
async fn jwks_unreachable() {
    let ctx = Ctx::new().await;
    ctx.idp.reset().await;
    let issuer = ctx.issuer();
    let mut doc = discovery(&ctx.idp.uri(), &issuer);
    doc["jwks_uri"] = json!(format!("{}/nowhere/", ctx.idp.uri()));
    mount_json(&ctx.idp, DISCOVERY_PATH, doc).await;
    let (status, body, attempt) = ctx.login_with_claims(|_| {}).await;
    assert_failure(status, &body, &attempt, ErrorCode::JwksUnreachable);
    assert!(detail(&attempt).contains("/nowhere/ answered 404"), "{}", detail(&attempt));
}

/// As relying parties do, the mock keeps the discovery document and the key set for its life,
/// and fetches the key set again when a token names a key it lacks (authentik rotated its key).
#[tokio::test]
async fn discovery_and_keys_are_cached_and_keys_refetched_on_an_unknown_kid() {
    let ctx = Ctx::new().await;
    let good = |ctx: &Ctx, nonce: &str| key().sign_rs256(&ctx.good_claims(nonce), &Map::new());
    for _ in 0..2 {
        let (_, _, attempt) = ctx.login_with(good).await;
        assert_eq!(attempt.verdict, Verdict::Success, "{:#?}", attempt.checks);
    }
    let fetched = |path: &'static str| {
        let ctx = &ctx;
        async move {
            let requests = ctx.idp.received_requests().await.unwrap_or_default();
            requests.iter().filter(|r| r.method.as_str() == "GET" && r.url.path() == path).count()
        }
    };
    assert_eq!(fetched(DISCOVERY_PATH).await, 1, "discovery once for two logins");
    assert_eq!(fetched("/application/o/chatgpt/jwks/").await, 1, "keys once for two logins");

    // authentik rotates its key: the new kid is not in the cached set, so the set is fetched again.
    let rotated = RsaKey::generate("rotated-key").expect("keygen");
    let _keys = Mock::given(method("GET"))
        .and(path("/application/o/chatgpt/jwks/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [rotated.public_jwk()]})))
        .with_priority(1)
        .mount_as_scoped(&ctx.idp)
        .await;
    let (_, _, attempt) = ctx.login_with(|ctx, nonce| rotated.sign_rs256(&ctx.good_claims(nonce), &Map::new())).await;
    assert_eq!(attempt.verdict, Verdict::Success, "{:#?}", attempt.checks);
    assert_eq!(fetched("/application/o/chatgpt/jwks/").await, 2, "the key set again, once");
}

/// The second opinion: a plain token gets openidconnect's agreement; a token the shared rules
/// accept but a standard client refuses (a second audience, with `azp` naming ChatGPT: valid by
/// OIDC Core 3.1.3.7, but an audience openidconnect does not trust) still signs the user in,
/// and the attempt notes why the standard client refuses it.
#[tokio::test]
async fn a_token_a_standard_client_refuses_is_noted() {
    let ctx = Ctx::new().await;
    let (_, _, plain) = ctx.login_with_claims(|_| {}).await;
    assert_eq!(plain.verdict, Verdict::Success);
    assert_eq!(plain.second_opinion_refusal(), None, "{:?}", plain.checks);
    let (_, _, two_audiences) = ctx
        .login_with_claims(|c| {
            c.insert("aud".into(), json!([CLIENT_ID, "api"]));
            c.insert("azp".into(), json!(CLIENT_ID));
        })
        .await;
    assert_eq!(two_audiences.verdict, Verdict::Success);
    let refusal = two_audiences.second_opinion_refusal().expect("the standard client refuses it");
    assert!(refusal.contains("Invalid audiences"), "{refusal}");
}
