//! The stand-in's OAuth endpoints at the HTTP level: discovery, JWKS, authorize (and its error
//! pages), token (PKCE, client authentication, refresh) and userinfo.

mod common;

use ak_protocol::jose;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use common::{
    AUTH_FLOW, Browser, FIXTURE, REDIRECT, SECRET, authorize_url, card_title, code_exchange, exchange, location, login,
    param, query_of, standin, standin_with, verified_claims,
};

#[tokio::test]
async fn discovery_and_jwks_look_like_authentik() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let doc: Value =
        b.get(Url::parse(&server.discovery_url("chatgpt")).expect("url")).await.json().await.expect("json");
    let base = server.url().as_str();
    assert_eq!(doc["issuer"], format!("{base}application/o/chatgpt/"));
    assert_eq!(doc["authorization_endpoint"], format!("{base}application/o/authorize/"));
    assert_eq!(doc["token_endpoint"], format!("{base}application/o/token/"));
    assert_eq!(doc["jwks_uri"], format!("{base}application/o/chatgpt/jwks/"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(doc["token_endpoint_auth_methods_supported"], json!(["client_secret_post", "client_secret_basic"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["plain", "S256"]));
    let claims: Vec<&str> =
        doc["claims_supported"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
    assert!(claims.contains(&"given_name") && !claims.contains(&"family_name"), "{claims:?}");
    assert!(doc.get("authorization_response_iss_parameter_supported").is_none());
    let jwks: Value = b.get(b.url("/application/o/chatgpt/jwks/")).await.json().await.expect("jwks");
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(key["kid"].as_str().map(str::len), Some(32));
    let missing = b.get(b.url("/application/o/nope/.well-known/openid-configuration")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn code_flow_through_the_executor_api() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let first = b.get(authorize_url(&server, &[])).await;
    assert_eq!(first.status(), StatusCode::FOUND);
    assert!(b.cookie("authentik_session").is_some() && b.cookie("authentik_csrf").is_some());
    let to_flow = location(&first);
    let query = query_of(&to_flow);
    let next = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "next").expect("next").1.into_owned();
    assert!(next.starts_with("/application/o/authorize/?response_type=code&client_id=chatgpt"), "{next}");

    let ident = b.challenge(AUTH_FLOW, &query).await;
    assert_eq!(ident["application_pre"], "ChatGPT");
    assert_eq!(ident["user_fields"], json!(["email", "username"]));
    assert_eq!(ident["primary_action"], "Log in");
    assert_eq!(ident["flow_info"]["title"], "Welcome to authentik!");

    let (status, password) = b
        .answer(AUTH_FLOW, &query, json!({"component": "ak-stage-identification", "uid_field": "ANN@example.com"}))
        .await;
    assert_eq!((status, password["component"].as_str()), (StatusCode::FOUND, Some("ak-stage-password")));
    assert_eq!(password["pending_user"], "ann");
    let (status, wrong) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-password", "password": "nope"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(wrong["response_errors"], json!({"password": [{"string": "Invalid password", "code": "invalid"}]}));
    let (_, done) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-password", "password": "ann-password"})).await;
    assert_eq!(done, json!({"component": "xak-flow-redirect", "to": next}));

    let back = b.get(b.url(&next)).await;
    assert_eq!(back.status(), StatusCode::FOUND);
    let callback = Url::parse(&location(&back)).expect("callback");
    assert!(callback.as_str().starts_with(REDIRECT));
    assert_eq!(param(&callback, "state").as_deref(), Some("st4te"));
    let code = param(&callback, "code").expect("code");

    let (status, tokens) = code_exchange(&b, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!((tokens["token_type"].as_str(), tokens["expires_in"].as_u64()), (Some("Bearer"), Some(300)));
    assert!(tokens.get("refresh_token").is_none(), "no refresh token without offline_access");
    let claims = verified_claims(&b, tokens["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["iss"], format!("{}application/o/chatgpt/", server.url()));
    assert_eq!(claims["aud"], "chatgpt");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "goauthentik.io/providers/oauth2/default");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["given_name"], "Ann Lee", "authentik's default profile mapping puts the full name in given_name");
    assert!(claims.get("family_name").is_none(), "no default mapping emits family_name");
    let expected_sub = authentik_standin::directory::hex_sha256("1-test-install");
    assert_eq!(claims["sub"], expected_sub);
    // authentik 2026.2 returns the access token's ID token, which has no at_hash (only the one it
    // stores with a refresh token does).
    assert!(claims.get("at_hash").is_none(), "{claims:?}");

    assert_userinfo_answers(&b, tokens["access_token"].as_str().expect("at"), &expected_sub).await;

    // The code is single-use.
    let (status, again) = code_exchange(&b, &code).await;
    assert_eq!((status, again["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Signed in now: the next authorize is a silent redirect, and executor POSTs need the CSRF header.
    let silent = b.get(authorize_url(&server, &[])).await;
    assert!(location(&silent).starts_with(REDIRECT));
    let no_csrf = b.http.post(b.executor_url(AUTH_FLOW, "")).json(&json!({})).send().await.expect("post");
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(no_csrf.json::<Value>().await.expect("json")["detail"], "CSRF Failed: CSRF token missing.");
}

/// Userinfo answers for the access token as a bearer header and as a form field, and refuses a forged one.
async fn assert_userinfo_answers(b: &Browser, access: &str, expected_sub: &str) {
    let url = b.url("/application/o/userinfo/");
    // The token as a bearer header, and (RFC 6750 §2.2) as a form parameter.
    for request in
        [b.http.get(url.clone()).bearer_auth(access), b.http.post(url.clone()).form(&[("access_token", access)])]
    {
        let info: Value = request.send().await.expect("ui").json().await.expect("json");
        assert_eq!(info["sub"], expected_sub);
        assert_eq!(info["given_name"], "Ann Lee");
    }
    let denied = b.http.get(url).bearer_auth("forged").send().await.expect("ui");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
}

/// The URL with one query parameter's value replaced.
fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

#[tokio::test]
async fn redirect_uri_and_client_errors_are_pages_not_redirects() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let url = with_param(&authorize_url(&server, &[]), "redirect_uri", &format!("{REDIRECT}/"));
    let response = b.get(url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert_eq!(card_title(&body), "Redirect URI Error", "{body}");
    assert!(body.contains("mismatching redirection URI (redirect_uri)") && body.contains(r#"id="ak-back-home""#));

    let mut url = server.url().join("application/o/authorize/").expect("url");
    url.query_pairs_mut().append_pair("client_id", "nobody").append_pair("redirect_uri", REDIRECT);
    let response = b.get(url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(card_title(&response.text().await.expect("body")), "Client ID Error");

    // Other errors go back to the relying party.
    let response = b.get(authorize_url(&server, &[("prompt", "none")])).await;
    let back = Url::parse(&location(&response)).expect("url");
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"));
    let response = b.get(authorize_url(&server, &[("code_challenge", "x"), ("code_challenge_method", "S512")])).await;
    assert_eq!(param(&Url::parse(&location(&response)).expect("url"), "error").as_deref(), Some("invalid_request"));
    let response = b.get(with_param(&authorize_url(&server, &[]), "response_type", "token")).await;
    assert_eq!(
        param(&Url::parse(&location(&response)).expect("url"), "error").as_deref(),
        Some("unsupported_response_type")
    );
}

#[tokio::test]
async fn regex_redirect_uris_and_learning_an_empty_list() {
    let regex = FIXTURE.replace(
        "        - matching_mode: strict\n          url: https://chatgpt.test/sso/oidc/conn_test/callback",
        "        - matching_mode: regex\n          url: 'https://chatgpt\\.test/sso/oidc/[a-z_]+/callback'",
    );
    let server = standin_with(&regex, &[]).await;
    let b = Browser::new(&server);
    let response = b.get(authorize_url(&server, &[])).await;
    assert_eq!(response.status(), StatusCode::FOUND, "the regex matches");

    let empty = FIXTURE.replace(
        "      redirect_uris:\n        - matching_mode: strict\n          url: https://chatgpt.test/sso/oidc/conn_test/callback\n",
        "      redirect_uris: []\n",
    );
    let server = standin_with(&empty, &[]).await;
    let b = Browser::new(&server);
    assert_eq!(b.get(authorize_url(&server, &[])).await.status(), StatusCode::FOUND);
    let learned = server.directory().providers[0].redirect_uris.clone();
    assert_eq!(learned.len(), 1);
    assert_eq!(learned[0].url, REDIRECT);
    let mut other = server.url().join("application/o/authorize/").expect("url");
    other
        .query_pairs_mut()
        .append_pair("client_id", "chatgpt")
        .append_pair("redirect_uri", "https://evil.test/cb")
        .append_pair("response_type", "code");
    assert_eq!(b.get(other).await.status(), StatusCode::BAD_REQUEST, "after learning, strict");
}

#[tokio::test]
async fn pkce_rules() {
    let server = standin(&[]).await;
    let verifier = "a-verifier-that-is-long-enough-to-be-valid-0123456789";
    for (challenge, method, presented, ok) in [
        (jose::pkce_s256(verifier), Some("S256"), Some(verifier), true),
        (jose::pkce_s256(verifier), Some("S256"), Some("wrong"), false),
        (verifier.to_string(), None, Some(verifier), true),
        (verifier.to_string(), Some("S256"), None, false),
    ] {
        let b = Browser::new(&server);
        let mut extra = vec![("code_challenge", challenge.as_str())];
        if let Some(m) = method {
            extra.push(("code_challenge_method", m));
        }
        let callback = login(&b, authorize_url(&server, &extra), "ann", "ann-password").await;
        let code = param(&callback, "code").expect("code");
        let mut form = vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
        if let Some(v) = presented {
            form.push(("code_verifier", v));
        }
        let (status, body) = exchange(&b, &form, Some(("chatgpt", SECRET))).await;
        assert_eq!(status == StatusCode::OK, ok, "{challenge} {method:?} {presented:?}: {body}");
        if !ok {
            assert_eq!(body["error"], "invalid_grant");
        }
    }
    // A verifier for a code without a challenge.
    let b = Browser::new(&server);
    let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    assert_eq!(exchange(&b, &form, Some(("chatgpt", SECRET))).await.1["error"], "invalid_grant");
}

#[tokio::test]
async fn client_authentication_at_the_token_endpoint() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
    let (status, body) = exchange(
        &b,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
        Some(("chatgpt", "wrong")),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_client")));
    let (status, body) = exchange(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.test/"),
            ("client_id", "chatgpt"),
            ("client_secret", SECRET),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client")),
        "redirect_uri not allowed"
    );
    let (status, body) = exchange(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "chatgpt"),
            ("client_secret", SECRET),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "client_secret_post: {body}");
    let (_, body) = exchange(&b, &[("grant_type", "password")], Some(("chatgpt", SECRET))).await;
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn refresh_tokens_rotate_with_offline_access() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let url = with_param(&authorize_url(&server, &[]), "scope", "openid offline_access");
    // offline_access adds prompt=consent: the in-memory consent stage runs in the implicit flow.
    let query = b.begin_login(url).await;
    let done = b.identify(&query, "ann", "ann-password").await;
    let to_consent = location(&b.get(b.url(done["to"].as_str().expect("to"))).await);
    let slug = "default-provider-authorization-implicit-consent";
    let cq = query_of(&to_consent);
    let consent = b.challenge(slug, &cq).await;
    let (_, done) = b.answer(slug, &cq, json!({"component": "ak-stage-consent", "token": consent["token"]})).await;
    let code = param(&Url::parse(done["to"].as_str().expect("to")).expect("url"), "code").expect("code");
    let (_, tokens) = code_exchange(&b, &code).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_string();
    let (status, rotated) =
        exchange(&b, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("chatgpt", SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["refresh_token"].as_str(), Some(refresh.as_str()));
    let (_, reused) =
        exchange(&b, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some(("chatgpt", SECRET))).await;
    assert_eq!(reused["error"], "invalid_grant");
}
