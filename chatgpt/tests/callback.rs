//! The mock ChatGPT's callback: state, replay, the identity provider's errors, the token and
//! userinfo endpoints' refusals, and the workspace's rules on membership and verified email.

mod common;

use chatgpt_rp::{ErrorCode, Mode, Verdict};
use reqwest::StatusCode;
use serde_json::{Map, json};

use common::{Ctx, assert_failure, browser, detail, key, param};

#[tokio::test]
async fn state_checks() {
    let ctx = Ctx::new().await;
    let (status, body) = ctx.callback("code=x").await;
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::StateMissing);
    assert_eq!(ctx.rp.latest_attempt().expect("attempt").mode, Mode::UnsolicitedCallback);

    // A callback whose state another browser was sent with.
    let authorize = ctx.begin("ann@example.com").await;
    let state = param(&authorize, "state");
    let stranger = browser();
    let response = stranger.get(format!("{}?code=x&state={state}", ctx.rp.redirect_uri())).send().await.expect("cb");
    let status = response.status();
    let body = response.text().await.expect("body");
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::StateMismatch);
    assert!(detail(&attempt).contains("no state cookie"), "{}", detail(&attempt));

    // An unknown state in this browser.
    let (status, body) = ctx.callback("code=x&state=forged").await;
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::StateMismatch);
}

#[tokio::test]
async fn replayed_callback_is_refused() {
    let ctx = Ctx::new().await;
    let (status, _, first) = ctx.login_with_claims(|_| {}).await;
    assert_eq!((status, first.verdict), (StatusCode::FOUND, Verdict::Success));
    let query =
        format!("code=the-code&state={}", first.callback_query.as_ref().expect("q")["state"].as_str().expect("state"));
    let (status, body) = ctx.callback(&query).await;
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::StateReplayed);
    assert_ne!(attempt.id, first.id);
}

#[tokio::test]
async fn idp_error_and_missing_code() {
    let ctx = Ctx::new().await;
    let state = param(&ctx.begin("ann@example.com").await, "state");
    let (status, body) =
        ctx.callback(&format!("error=access_denied&error_description=Permission+denied&state={state}")).await;
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::IdpError);
    assert_eq!(detail(&attempt), "the identity provider answered error `access_denied`: Permission denied");

    let state = param(&ctx.begin("ann@example.com").await, "state");
    let (status, body) = ctx.callback(&format!("state={state}")).await;
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::CodeMissing);
}

#[tokio::test]
async fn token_endpoint_refusals() {
    for (status_code, body, code, needle) in [
        (
            401,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            ErrorCode::TokenInvalidClient,
            "answered 401 `invalid_client` (Client authentication failed)",
        ),
        (400, json!({"error": "invalid_grant"}), ErrorCode::TokenInvalidGrant, "answered 400 `invalid_grant`"),
        (500, json!("oops"), ErrorCode::TokenEndpointError, "answered 500 without an OAuth error"),
        (200, json!({"access_token": "x", "token_type": "Bearer"}), ErrorCode::TokenResponseMalformed, "no `id_token`"),
    ] {
        let ctx = Ctx::new().await;
        let state = param(&ctx.begin("ann@example.com").await, "state");
        let _token = ctx.mount_token(status_code, body).await;
        let (status, page) = ctx.callback(&format!("code=c&state={state}")).await;
        let attempt = ctx.rp.latest_attempt().expect("attempt");
        assert_failure(status, &page, &attempt, code);
        assert!(detail(&attempt).contains(needle), "{}", detail(&attempt));
        assert_eq!(attempt.token_response.as_ref().map(|t| t.status), Some(status_code));
    }
}

#[tokio::test]
async fn workspace_membership_and_email_verified() {
    let ctx = Ctx::with(|c| {
        c.auto_create_accounts = false;
        c.workspace_members = vec!["bob@example.com".into()];
    })
    .await;
    let (status, body, attempt) = ctx.login_with_claims(|_| {}).await;
    assert_failure(status, &body, &attempt, ErrorCode::UserNotInWorkspace);
    assert!(body.contains("has not been added to your ChatGPT workspace"));

    let ctx = Ctx::with(|c| c.require_email_verified = true).await;
    let (status, body, attempt) = ctx.login_with_claims(|_| {}).await;
    assert_failure(status, &body, &attempt, ErrorCode::EmailNotVerified);
    assert_eq!(detail(&attempt), "email_verified is false; the workspace requires true");
    let (status, _, attempt) = ctx
        .login_with_claims(|c| {
            c.insert("email_verified".into(), json!(true));
        })
        .await;
    assert_eq!((status, attempt.verdict), (StatusCode::FOUND, Verdict::Success));
}

#[tokio::test]
async fn userinfo_failures() {
    let good = |ctx: &Ctx, nonce: &str| key().sign_rs256(&ctx.good_claims(nonce), &Map::new());
    let ctx = Ctx::new().await;
    let (status, body, attempt) = ctx.login_with_userinfo(good, 200, json!({"sub": "someone-else"})).await;
    assert_failure(status, &body, &attempt, ErrorCode::UserinfoSubMismatch);

    let ctx = Ctx::new().await;
    let (status, body, attempt) = ctx.login_with_userinfo(good, 401, json!({"error": "invalid_token"})).await;
    assert_failure(status, &body, &attempt, ErrorCode::UserinfoFailed);
    assert!(detail(&attempt).ends_with("/application/o/userinfo/ answered 401 Unauthorized"), "{}", detail(&attempt));
}
