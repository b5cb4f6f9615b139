//! The mock ChatGPT's sign-in from its pages, against wiremock as the identity provider: the happy
//! path through every page, client authentication, discovery failures, the email domain check,
//! the direct link and the admin's SSO test, bad input, and the record endpoints.

mod common;

use ak_protocol::jose;
use chatgpt_rp::{ClientAuth, ErrorCode, Mode, Outcome, Verdict};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use common::{
    ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, Ctx, DISCOVERY_PATH, assert_failure, detail, discovery, key, location,
    mount_json, param,
};

#[tokio::test]
async fn happy_path_through_every_page() {
    let ctx = Ctx::new().await;
    let home = ctx.browser.get(ctx.url("/")).send().await.expect("home").text().await.expect("body");
    assert!(home.contains(r#"data-testid="login-button" href="/auth/login""#), "{home}");
    let login = ctx.browser.get(ctx.url("/auth/login")).send().await.expect("login").text().await.expect("body");
    assert!(login.contains(r#"data-testid="email-input" name="email""#), "{login}");

    let authorize = ctx.begin("Ann@Example.com").await;
    assert_eq!(authorize.path(), "/application/o/authorize/");
    assert_eq!(param(&authorize, "response_type"), "code");
    assert_eq!(param(&authorize, "client_id"), CLIENT_ID);
    assert_eq!(param(&authorize, "redirect_uri"), ctx.rp.redirect_uri());
    assert!(ctx.rp.redirect_uri().ends_with("/sso/oidc/conn_authentik/callback"));
    assert_eq!(param(&authorize, "scope"), "openid profile email");
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    let (state, nonce, challenge) =
        (param(&authorize, "state"), param(&authorize, "nonce"), param(&authorize, "code_challenge"));
    assert!(state.len() >= 32 && nonce.len() >= 32);

    let id_token = key().sign_rs256(&ctx.good_claims(&nonce), &Map::new());
    let _token =
        ctx.mount_token(200, json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token})).await;
    let _userinfo = ctx.mount_userinfo(200, json!({"sub": "7f3c0e1d", "email": "ann@example.com"})).await;
    let response =
        ctx.browser.get(format!("{}?code=c0de&state={state}", ctx.rp.redirect_uri())).send().await.expect("cb");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "/");

    let page = ctx.browser.get(ctx.url("/")).send().await.expect("home").text().await.expect("body");
    assert!(page.contains(r#"<main data-testid="conversation">"#), "{page}");
    assert!(page.contains(r#"data-testid="user-name">Ann Lee<"#), "{page}");
    assert!(page.contains(r#"data-testid="user-email">ann@example.com<"#), "{page}");

    // The token request: Basic auth with url-encoded credentials, the PKCE verifier, the code.
    let requests = ctx.idp.received_requests().await.expect("recording");
    let token = requests.iter().find(|r| r.url.path() == "/application/o/token/").expect("token request");
    let expected_basic = format!("Basic {}", base64_std(&format!("{CLIENT_ID}:{}", "s3cret%2Fwith%2Bchars")));
    assert_eq!(token.headers.get("authorization").expect("auth").to_str().expect("ascii"), expected_basic);
    let form: Map<String, Value> =
        form_urlencoded::parse(&token.body).map(|(k, v)| (k.into_owned(), json!(v.into_owned()))).collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "c0de");
    assert_eq!(form["redirect_uri"], ctx.rp.redirect_uri());
    assert_eq!(jose::pkce_s256(form["code_verifier"].as_str().expect("verifier")), challenge);
    assert!(!form.contains_key("client_secret"));

    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_eq!(attempt.verdict, Verdict::Success);
    assert_eq!(attempt.mode, Mode::Login);
    assert_eq!(attempt.profile.as_ref().map(|p| p.last_name.as_str()), Some("Lee"));
    assert_eq!(attempt.callback_query.as_ref().expect("query")["code"], "[redacted]");
    assert_eq!(attempt.check("claims.email_verified").map(|c| c.outcome), Some(Outcome::Note));
    assert!(attempt.checks.iter().all(|c| c.outcome != Outcome::Fail));

    // The record as JSON never holds a token or the secret.
    let json =
        ctx.browser.get(ctx.url("/_mock/attempts/latest")).send().await.expect("json").text().await.expect("body");
    for secret in [ACCESS_TOKEN, CLIENT_SECRET, "c0de", id_token.as_str()] {
        assert!(!json.contains(secret), "the record leaks {secret}");
    }
    let parsed: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(parsed["verdict"], "success");
    assert_eq!(parsed["id_token_claims"]["family_name"], "Lee");

    // Log out ends the session.
    ctx.browser.get(ctx.url("/logout")).send().await.expect("logout");
    let page = ctx.browser.get(ctx.url("/")).send().await.expect("home").text().await.expect("body");
    assert!(page.contains("login-button"));
}

fn base64_std(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn client_secret_post_and_no_pkce() {
    let ctx = Ctx::with(|c| {
        c.token_auth = ClientAuth::ClientSecretPost;
        c.pkce = false;
    })
    .await;
    let (status, _, attempt) = ctx.login_with_claims(|_| {}).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(attempt.verdict, Verdict::Success);
    let authorize = Url::parse(attempt.authorize_url.as_deref().expect("url")).expect("url");
    assert!(authorize.query_pairs().all(|(k, _)| k != "code_challenge"));
    let requests = ctx.idp.received_requests().await.expect("recording");
    let token = requests.iter().find(|r| r.url.path() == "/application/o/token/").expect("token request");
    assert!(token.headers.get("authorization").is_none());
    let form: Vec<(String, String)> = form_urlencoded::parse(&token.body).into_owned().collect();
    assert!(form.contains(&("client_secret".into(), CLIENT_SECRET.into())));
    assert!(form.contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(form.iter().all(|(k, _)| k != "code_verifier"));
}

#[tokio::test]
async fn discovery_failures() {
    // Unreachable: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let ctx = Ctx::with(|c| {
        c.discovery_url = Url::parse(&format!("http://{closed}{DISCOVERY_PATH}")).expect("url");
    })
    .await;
    let response =
        ctx.browser.post(ctx.url("/auth/login")).form(&[("email", "ann@example.com")]).send().await.expect("post");
    let (status, body) = (response.status(), response.text().await.expect("body"));
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::DiscoveryUnreachable);
    assert!(
        detail(&attempt).starts_with(&format!("GET http://{closed}{DISCOVERY_PATH} failed")),
        "{}",
        detail(&attempt)
    );

    // Malformed: no jwks_uri; then an issuer that is not the discovery URL's.
    for (edit, code, needle) in [
        (("jwks_uri", Value::Null), ErrorCode::DiscoveryMalformed, "`jwks_uri` is not a non-empty string"),
        (
            ("issuer", json!("https://elsewhere/application/o/chatgpt/")),
            ErrorCode::DiscoveryIssuerMismatch,
            "expected `http://",
        ),
    ] {
        let ctx = Ctx::new().await;
        ctx.idp.reset().await;
        let mut doc = discovery(&ctx.idp.uri(), &ctx.issuer());
        doc[edit.0] = edit.1;
        mount_json(&ctx.idp, DISCOVERY_PATH, doc).await;
        let response =
            ctx.browser.post(ctx.url("/auth/login")).form(&[("email", "ann@example.com")]).send().await.expect("post");
        let (status, body) = (response.status(), response.text().await.expect("body"));
        let attempt = ctx.rp.latest_attempt().expect("attempt");
        assert_failure(status, &body, &attempt, code);
        assert!(detail(&attempt).contains(needle), "{}", detail(&attempt));
    }

    // Not JSON.
    let ctx = Ctx::new().await;
    ctx.idp.reset().await;
    Mock::given(method("GET"))
        .and(path(DISCOVERY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&ctx.idp)
        .await;
    let response =
        ctx.browser.post(ctx.url("/auth/login")).form(&[("email", "ann@example.com")]).send().await.expect("post");
    let (status, body) = (response.status(), response.text().await.expect("body"));
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::DiscoveryMalformed);
}

#[tokio::test]
async fn email_outside_verified_domains_is_never_redirected() {
    let ctx = Ctx::new().await;
    let response =
        ctx.browser.post(ctx.url("/auth/login")).form(&[("email", "bob@other.org")]).send().await.expect("post");
    let (status, body) = (response.status(), response.text().await.expect("body"));
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::EmailDomainNotVerified);
    assert!(attempt.authorize_url.is_none());
    let requests = ctx.idp.received_requests().await.expect("recording");
    assert!(requests.is_empty(), "the IdP was contacted: {requests:?}");
}

#[tokio::test]
async fn direct_link_admin_page_and_sso_test() {
    let ctx = Ctx::new().await;
    let admin = ctx.browser.get(ctx.url("/admin/identity")).send().await.expect("admin").text().await.expect("body");
    assert!(admin.contains(&format!(r#"data-testid="login-redirect-uri">{}<"#, ctx.rp.redirect_uri())), "{admin}");
    assert!(admin.contains(r#"data-testid="test-sso">Test Single Sign-On<"#));

    // Direct link with the wrong connection.
    let response = ctx.browser.get(ctx.url("/auth/login?sso=true&connection=conn_other")).send().await.expect("direct");
    let (status, body) = (response.status(), response.text().await.expect("body"));
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::UnknownConnection);

    // Direct link: straight to the IdP, no email.
    let response =
        ctx.browser.get(ctx.url("/auth/login?sso=true&connection=conn_authentik")).send().await.expect("direct");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(ctx.rp.latest_attempt().expect("attempt").mode, Mode::DirectLink);

    // Test Single Sign-On: a result page instead of a session.
    let response = ctx.browser.post(ctx.url("/admin/identity/test")).send().await.expect("test");
    let authorize = location(&response);
    let (state, nonce) = (param(&authorize, "state"), param(&authorize, "nonce"));
    let id_token = key().sign_rs256(&ctx.good_claims(&nonce), &Map::new());
    let _token =
        ctx.mount_token(200, json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token})).await;
    let _userinfo = ctx.mount_userinfo(200, json!({"sub": "7f3c0e1d"})).await;
    let (status, body) = ctx.callback(&format!("code=c&state={state}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"data-testid="sso-test-result">success<"#), "{body}");
    assert!(body.contains(r#"data-testid="profile-last-name">Lee<"#), "{body}");
    assert_eq!(ctx.rp.latest_attempt().expect("attempt").mode, Mode::AdminTest);
}

#[tokio::test]
async fn bad_input_gets_4xx_pages() {
    let ctx = Ctx::new().await;
    let long = "a".repeat(9000);
    let response = ctx.browser.get(ctx.url(&format!("/auth/login?x={long}"))).send().await.expect("long");
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert!(response.text().await.expect("body").contains("error-code\">bad_request<"));

    let response = ctx.browser.delete(ctx.url("/auth/login")).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.text().await.expect("body").contains("bad_request"));

    let response = ctx.browser.get(ctx.url("/nope")).send().await.expect("404");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = ctx.browser.post(ctx.url("/auth/login")).body("%%%=\u{0}&email").send().await.expect("garbage form");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = ctx.browser.post(ctx.url("/auth/login")).body(vec![b'a'; 100_000]).send().await.expect("big form");
    assert!(response.status().is_client_error(), "{}", response.status());

    let response = ctx
        .browser
        .get(format!("{}?state=%ZZ&code=%00", ctx.rp.redirect_uri()))
        .header("cookie", "chatgpt_sso_state; ;;=;chatgpt_session=\"x")
        .send()
        .await
        .expect("garbage");
    assert!(response.status().is_client_error());

    let response = ctx.browser.get(ctx.url("/")).header("cookie", "chatgpt_session=%%%%").send().await.expect("cookie");
    assert_eq!(response.status(), StatusCode::OK);

    let response = ctx.browser.get(ctx.url("/_mock/attempts/notanumber")).send().await.expect("json");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn record_endpoints_and_reset() {
    let ctx = Ctx::new().await;
    let response = ctx.browser.get(ctx.url("/_mock/attempts/latest")).send().await.expect("latest");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    ctx.begin("ann@example.com").await;
    let all: Value = ctx.browser.get(ctx.url("/_mock/attempts")).send().await.expect("all").json().await.expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    assert_eq!(all[0]["verdict"], "pending");
    assert_eq!(all[0]["email"], "ann@example.com");
    let one: Value =
        ctx.browser.get(ctx.url("/_mock/attempts/1")).send().await.expect("one").json().await.expect("json");
    assert_eq!(one["id"], 1);
    let response = ctx.browser.post(ctx.url("/_mock/reset")).send().await.expect("reset");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(ctx.rp.attempts().is_empty());
}
