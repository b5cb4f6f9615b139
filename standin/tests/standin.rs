//! The authentik stand-in at the HTTP level: discovery, JWKS, authorize, the flow executor,
//! token, userinfo, policy, consent, refresh, blueprint errors, bad input, and every defect.

use std::collections::HashMap;
use std::sync::Arc;

use ak_protocol::jose::{self, Jwt, rsa_public_key_from_jwk};
use ak_protocol::totp;
use authentik_standin::{AuthentikStandIn, Defect, Defects, Options};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Map, Value, json};
use url::Url;

const FIXTURE: &str = include_str!("fixtures/chatgpt.yaml");
const REDIRECT: &str = "https://chatgpt.test/sso/oidc/conn_test/callback";
const SECRET: &str = "chatgpt-secret";
const AUTH_FLOW: &str = "default-authentication-flow";
const TIA_KEY: &[u8] = b"1234567890123456789\x30";

async fn standin(defects: &[Defect]) -> AuthentikStandIn {
    standin_with(FIXTURE, defects).await
}

async fn standin_with(blueprint: &str, defects: &[Defect]) -> AuthentikStandIn {
    let mut options = Options::new()
        .blueprint("chatgpt.yaml", blueprint)
        .install_id("test-install")
        .totp_device("tia", ak_protocol::secret::Secret::new("3132333435363738393031323334353637383930"));
    for d in defects {
        options = options.defect(d.clone());
    }
    AuthentikStandIn::start(options).await.expect("start")
}

/// A cookie-keeping client that does not follow redirects, like a careful browser script.
struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
}

impl Browser {
    fn new(server: &AuthentikStandIn) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client");
        Self { http, jar, base: server.url().clone() }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("url")
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        let header = header.to_str().ok()?.to_string();
        header.split("; ").find_map(|p| p.strip_prefix(&format!("{name}=")).map(String::from))
    }

    async fn get(&self, url: Url) -> reqwest::Response {
        self.http.get(url).send().await.expect("get")
    }

    fn executor_url(&self, slug: &str, query: &str) -> Url {
        let mut url = self.url(&format!("/api/v3/flows/executor/{slug}/"));
        url.query_pairs_mut().append_pair("query", query);
        url
    }

    /// GETs the executor, following its 302s to itself, until a challenge arrives.
    async fn challenge(&self, slug: &str, query: &str) -> Value {
        let url = self.executor_url(slug, query);
        for _ in 0..10 {
            let response = self.get(url.clone()).await;
            match response.status() {
                StatusCode::FOUND => {
                    assert_eq!(self.url(location(&response).as_str()), url, "the executor redirects to itself");
                }
                StatusCode::OK => return response.json().await.expect("json"),
                other => panic!("executor answered {other}: {}", response.text().await.unwrap_or_default()),
            }
        }
        panic!("the executor kept redirecting")
    }

    /// Opens an authorization request while signed out: follows the redirect to the login flow,
    /// loads its first challenge, and returns the flow page's query.
    async fn begin_login(&self, authorize: Url) -> String {
        let query = query_of(&location(&self.get(authorize).await));
        self.challenge(AUTH_FLOW, &query).await;
        query
    }

    /// Answers identification and password; returns the challenge after the password.
    async fn identify(&self, query: &str, uid: &str, password: &str) -> Value {
        self.answer(AUTH_FLOW, query, json!({"component": "ak-stage-identification", "uid_field": uid})).await;
        self.answer(AUTH_FLOW, query, json!({"component": "ak-stage-password", "password": password})).await.1
    }

    /// POSTs an answer; a valid one is a 302 (then the next challenge), an invalid one a 200.
    async fn answer(&self, slug: &str, query: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self.http.post(self.executor_url(slug, query)).json(&body);
        if let Some(csrf) = self.cookie("authentik_csrf") {
            request = request.header("X-authentik-CSRF", csrf);
        }
        let response = request.send().await.expect("post");
        let status = response.status();
        if status == StatusCode::FOUND {
            return (status, self.challenge(slug, query).await);
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The query string of a (relative) URL.
fn query_of(url: &str) -> String {
    url.split_once('?').expect("a query").1.to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("Location").to_str().expect("ascii").to_string()
}

fn authorize_url(server: &AuthentikStandIn, extra: &[(&str, &str)]) -> Url {
    let mut url = server.url().join("application/o/authorize/").expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "chatgpt")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st4te")
        .append_pair("nonce", "n0nce");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url
}

/// Signs in through the executor API and returns the final redirect to the relying party.
async fn login(b: &Browser, authorize: Url, uid: &str, password: &str) -> Url {
    let first = b.get(authorize.clone()).await;
    assert_eq!(first.status(), StatusCode::FOUND, "{}", first.text().await.unwrap_or_default());
    let to_flow = location(&first);
    assert!(to_flow.starts_with(&format!("/if/flow/{AUTH_FLOW}/?")), "{to_flow}");
    let query = query_of(&to_flow);
    let challenge = b.challenge(AUTH_FLOW, &query).await;
    assert_eq!(challenge["component"], "ak-stage-identification");
    let (_, challenge) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-identification", "uid_field": uid})).await;
    assert_eq!(challenge["component"], "ak-stage-password");
    let (_, mut challenge) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-password", "password": password})).await;
    if challenge["component"] == "ak-stage-authenticator-validate" {
        let code = totp::code(TIA_KEY, now(), 6);
        challenge =
            b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-authenticator-validate", "code": code})).await.1;
    }
    assert_eq!(challenge["component"], "xak-flow-redirect", "{challenge}");
    let next = b.url(challenge["to"].as_str().expect("to"));
    assert_eq!(next.path(), "/application/o/authorize/");
    let back = b.get(next).await;
    assert_eq!(back.status(), StatusCode::FOUND, "{}", back.text().await.unwrap_or_default());
    Url::parse(&location(&back)).expect("absolute callback")
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

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

async fn exchange(b: &Browser, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut request = b.http.post(b.url("/application/o/token/")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("token");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn code_exchange(b: &Browser, code: &str) -> (StatusCode, Value) {
    exchange(
        b,
        &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)],
        Some(("chatgpt", SECRET)),
    )
    .await
}

/// Verifies the ID token against the JWKS and returns its claims.
async fn verified_claims(b: &Browser, id_token: &str) -> Map<String, Value> {
    let jwks: Value = b.get(b.url("/application/o/chatgpt/jwks/")).await.json().await.expect("jwks");
    let jwt = Jwt::parse(id_token).expect("jwt");
    let key =
        jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"].as_str() == jwt.kid()).expect("kid in JWKS");
    assert!(jwt.verify_rs256(&rsa_public_key_from_jwk(key).expect("key")), "signature");
    jwt.claims
}

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
    let info: Value = b
        .http
        .get(b.url("/application/o/userinfo/"))
        .bearer_auth(access)
        .send()
        .await
        .expect("ui")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"], expected_sub);
    assert_eq!(info["given_name"], "Ann Lee");
    let info: Value = b
        .http
        .post(b.url("/application/o/userinfo/"))
        .form(&[("access_token", access)])
        .send()
        .await
        .expect("ui")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"], expected_sub);
    let denied = b.http.get(b.url("/application/o/userinfo/")).bearer_auth("forged").send().await.expect("ui");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
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
async fn five_wrong_passwords_cancel_the_flow() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-identification", "uid_field": "nobody@example.com"}))
        .await;
    let mut last = Value::Null;
    for _ in 0..5 {
        last = b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-password", "password": "x"})).await.1;
    }
    assert_eq!(last["component"], "ak-stage-access-denied", "{last}");
    assert_eq!(last["pending_user"], "nobody@example.com", "pretend_user_exists");
}

/// As authentik's `stage_ok`: a stage that passes redirects the executor to itself while stages
/// remain, and the last one (user login) ends the flow in its own answer. After a valid password:
/// 302, then the MFA stage (nothing to ask a user without devices) 302, then the final redirect.
#[tokio::test]
async fn the_last_stage_ends_the_flow_in_its_own_answer() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-identification", "uid_field": "ann"})).await;
    let url = b.executor_url(AUTH_FLOW, &query);
    let mut post =
        b.http.post(url.clone()).json(&json!({"component": "ak-stage-password", "password": "ann-password"}));
    if let Some(csrf) = b.cookie("authentik_csrf") {
        post = post.header("X-authentik-CSRF", csrf);
    }
    assert_eq!(post.send().await.expect("post").status(), StatusCode::FOUND);
    assert_eq!(b.get(url.clone()).await.status(), StatusCode::FOUND, "the MFA stage passes");
    let done = b.get(url).await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.expect("json");
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

#[tokio::test]
async fn totp_users_get_the_authenticator_stage() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    let mfa = b.identify(&query, "tia", "tia-password").await;
    assert_eq!(mfa["component"], "ak-stage-authenticator-validate");
    assert_eq!(mfa["device_challenges"][0]["device_class"], "totp");
    // authentik's interface tells the executor which device it shows: the stage stays.
    let selected =
        json!({"component": "ak-stage-authenticator-validate", "selected_challenge": mfa["device_challenges"][0]});
    let (status, same) = b.answer(AUTH_FLOW, &query, selected).await;
    assert_eq!((status, &same), (StatusCode::OK, &mfa));
    let (status, wrong) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-authenticator-validate", "code": "000000"})).await;
    assert_eq!(
        (status, wrong["response_errors"]["code"][0]["string"].as_str()),
        (StatusCode::OK, Some("Invalid Token"))
    );
    let code = totp::code(TIA_KEY, now(), 6);
    let (_, done) =
        b.answer(AUTH_FLOW, &query, json!({"component": "ak-stage-authenticator-validate", "code": code})).await;
    assert_eq!(done["component"], "xak-flow-redirect");
    let back = b.get(b.url(done["to"].as_str().expect("to"))).await;
    let code = param(&Url::parse(&location(&back)).expect("url"), "code").expect("code");
    let (_, tokens) = code_exchange(&b, &code).await;
    let claims = verified_claims(&b, tokens["id_token"].as_str().expect("id")).await;
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
}

#[tokio::test]
async fn users_outside_the_binding_are_denied() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    let done = b.identify(&query, "bob", "bob-password").await;
    let denied = b.get(b.url(done["to"].as_str().expect("to"))).await;
    assert_eq!(denied.status(), StatusCode::OK);
    let body = denied.text().await.expect("body");
    assert_eq!(card_title(&body), "Permission denied", "{body}");
    assert!(body.contains(r#"<i class="pf-icon pf-icon-error-circle-o"#), "authentik's icon before the message");
}

#[tokio::test]
async fn explicit_consent_is_asked_once_and_remembered() {
    let explicit = FIXTURE
        .replace("default-provider-authorization-implicit-consent", "default-provider-authorization-explicit-consent");
    let server = standin_with(&explicit, &[]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    let done = b.identify(&query, "ann", "ann-password").await;
    let to_consent = b.get(b.url(done["to"].as_str().expect("to"))).await;
    let consent_page = location(&to_consent);
    let slug = "default-provider-authorization-explicit-consent";
    assert!(consent_page.starts_with(&format!("/if/flow/{slug}/?")), "{consent_page}");
    let cq = query_of(&consent_page);
    let consent = b.challenge(slug, &cq).await;
    assert_eq!(consent["component"], "ak-stage-consent");
    assert_eq!(consent["header_text"], "You're about to sign into ChatGPT.");
    assert_eq!(
        consent["permissions"],
        json!([{"id": "email", "name": "Email address"}, {"id": "profile", "name": "General Profile Information"}])
    );
    let (status, wrong) = b.answer(slug, &cq, json!({"component": "ak-stage-consent", "token": "forged"})).await;
    assert_eq!((status, wrong["response_errors"]["token"][0]["code"].as_str()), (StatusCode::OK, Some("invalid")));
    let (_, done) = b.answer(slug, &cq, json!({"component": "ak-stage-consent", "token": consent["token"]})).await;
    assert!(done["to"].as_str().expect("to").starts_with(REDIRECT), "{done}");

    // Remembered: the next authorization goes straight through the consent flow.
    let again = b.get(authorize_url(&server, &[])).await;
    let cq = query_of(&location(&again));
    let done = b.challenge(slug, &cq).await;
    assert_eq!(done["component"], "xak-flow-redirect");
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

#[tokio::test]
async fn custom_profile_mapping_adds_family_name() {
    let corrected = FIXTURE.replace(
        "  - model: authentik_providers_oauth2.oauth2provider",
        r#"  - model: authentik_providers_oauth2.scopemapping
    id: profile-split
    identifiers:
      name: "ChatGPT profile: given and family name"
    attrs:
      scope_name: profile
      description: General Profile Information
      expression: |
        return {
            "name": request.user.name,
            "given_name": request.user.name.split(" ", 1)[0],
            "family_name": request.user.name.rsplit(" ", 1)[-1],
            "preferred_username": request.user.username,
        }
  - model: authentik_providers_oauth2.oauth2provider"#,
    )
    .replace(
        "        - !Find [authentik_providers_oauth2.scopemapping, [managed, goauthentik.io/providers/oauth2/scope-profile]]",
        "        - !KeyOf profile-split",
    );
    let server = standin_with(&corrected, &[]).await;
    let b = Browser::new(&server);
    let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
    let (_, tokens) = code_exchange(&b, &code).await;
    let claims = verified_claims(&b, tokens["id_token"].as_str().expect("id")).await;
    assert_eq!((claims["given_name"].as_str(), claims["family_name"].as_str()), (Some("Ann"), Some("Lee")));
}

#[tokio::test]
async fn blueprint_errors_name_file_line_and_column() {
    let cases = [
        (
            FIXTURE.replace("authentik_core.application", "authentik_core.applicaton"),
            "chatgpt.yaml:56:12: model `authentik_core.applicaton` is not supported by the stand-in (did you mean `authentik_core.application`?); supported: authentik_core.user, authentik_core.group, authentik_core.application, authentik_providers_oauth2.oauth2provider, authentik_providers_oauth2.scopemapping, authentik_policies.policybinding",
        ),
        (
            FIXTURE.replace("      meta_launch_url:", "      meta_launch_uri:"),
            "chatgpt.yaml:63:7: field `meta_launch_uri` of `authentik_core.application` is not supported by the stand-in (did you mean `meta_launch_url`?)",
        ),
        (
            FIXTURE.replace("!Env [CHATGPT_CLIENT_SECRET, chatgpt-secret]", "!Env CHATGPT_CLIENT_SECRET"),
            "chatgpt.yaml:46:22: `!Env CHATGPT_CLIENT_SECRET`: the environment variable is not set",
        ),
        (
            FIXTURE.replace("!Env [ANN_PASSWORD, ann-password]", "!Format [x]"),
            "chatgpt.yaml:18:17: tag `!Format` is not supported here by the stand-in",
        ),
        (
            FIXTURE.replace("[slug, default-provider-invalidation-flow]", "[slug, my-flow]"),
            "chatgpt.yaml:43:26: flow `my-flow` is not one of the stand-in's flows: default-authentication-flow, default-provider-authorization-implicit-consent, default-provider-authorization-explicit-consent, default-provider-invalidation-flow, default-authenticator-totp-setup",
        ),
        (
            FIXTURE.replace("- !KeyOf chatgpt-users", "- !KeyOf staff"),
            "chatgpt.yaml:20:11: `!KeyOf staff`: no earlier entry in this file has `id: staff`",
        ),
        (
            format!(
                "{FIXTURE}  - model: authentik_providers_oauth2.scopemapping\n    identifiers:\n      name: bad\n    attrs:\n      scope_name: profile\n      expression: |\n        return {{\n            \"x\": request.user.name.replace(\"a\", \"b\"),\n        }}\n"
            ),
            "chatgpt.yaml:77:9: scope mapping `bad`: method `replace` is not one of get, split, rsplit, partition, strip, lower, upper, title, all; see the recognised form in standin/README.md",
        ),
    ];
    let with_device = format!(
        "{FIXTURE}  - model: authentik_stages_authenticator_totp.totpdevice\n    identifiers:\n      name: phone\n"
    );
    let err =
        AuthentikStandIn::start(Options::new().blueprint("chatgpt.yaml", with_device)).await.expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("chatgpt.yaml:70:12: authentik's blueprints cannot set a TOTP device's user or key"),
        "{err}"
    );
    for (text, expected) in cases {
        let err = AuthentikStandIn::start(Options::new().blueprint("chatgpt.yaml", text)).await.expect_err("must fail");
        assert_eq!(err.to_string(), expected);
    }
}

#[tokio::test]
async fn bad_input_never_panics() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    for health in ["/-/health/live/", "/-/health/ready/"] {
        assert_eq!(b.get(b.url(health)).await.status(), StatusCode::OK, "{health}");
    }
    let response = b.get(b.url("/application/o/authorize/")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "authorize without parameters");
    let response = b.get(b.url("/nope/")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(card_title(&response.text().await.expect("body")), "Not found");
    let response = b.get(b.url("/api/v3/nope/")).await;
    assert_eq!(response.json::<Value>().await.expect("json"), json!({"detail": "Not found."}));
    let response = b.get(b.url(&format!("/application/o/authorize/?x={}", "a".repeat(20_000)))).await;
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let response = b.http.post(b.url("/application/o/token/")).body("%%%\u{0}==&&").send().await.expect("token");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = b.http.post(b.executor_url(AUTH_FLOW, "next=%ZZ")).body("{not json").send().await.expect("executor");
    assert_eq!(response.status(), StatusCode::OK, "garbage is answered, not a server error");
    let response =
        b.http.get(b.url("/application/o/userinfo/")).header("authorization", "Basic !!!").send().await.expect("ui");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = b.http.get(b.url("/if/flow/unknown-flow/")).send().await.expect("flow");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response =
        b.http.get(b.url("/")).header("cookie", "authentik_session=%%%; authentik_csrf").send().await.expect("root");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Runs a whole login and code exchange; returns the token response and discovery.
async fn tokens_with(defects: &[Defect]) -> (AuthentikStandIn, Value) {
    let server = standin(defects).await;
    let tokens = {
        let b = Browser::new(&server);
        let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
        code_exchange(&b, &code).await.1
    };
    (server, tokens)
}

fn claims_of(tokens: &Value) -> Map<String, Value> {
    Jwt::parse(tokens["id_token"].as_str().expect("id_token")).expect("jwt").claims
}

#[tokio::test]
async fn claim_and_token_defects() {
    let (_, tokens) = tokens_with(&[Defect::DropClaim("email".into())]).await;
    assert!(claims_of(&tokens).get("email").is_none());
    let (_, tokens) = tokens_with(&[Defect::RenameClaim("given_name".into(), "first_name".into())]).await;
    let claims = claims_of(&tokens);
    assert!(claims.get("given_name").is_none() && claims["first_name"] == "Ann Lee");
    let (_, tokens) = tokens_with(&[Defect::NoNonce]).await;
    assert!(claims_of(&tokens).get("nonce").is_none());
    let (_, tokens) = tokens_with(&[Defect::ExpiredIdToken]).await;
    assert!(claims_of(&tokens)["exp"].as_u64().expect("exp") < now());
    let (_, tokens) = tokens_with(&[Defect::AlgNone]).await;
    assert_eq!(Jwt::parse(tokens["id_token"].as_str().expect("t")).expect("jwt").alg(), "none");
    let (_, tokens) = tokens_with(&[Defect::Hs256]).await;
    let jwt = Jwt::parse(tokens["id_token"].as_str().expect("t")).expect("jwt");
    assert!(jwt.alg() == "HS256" && jwt.verify_hs256(SECRET.as_bytes()));
    let (server, tokens) = tokens_with(&[Defect::UnpublishedKey]).await;
    let jwt = Jwt::parse(tokens["id_token"].as_str().expect("t")).expect("jwt");
    let jwks: Value = reqwest::get(server.url().join("application/o/chatgpt/jwks/").expect("u"))
        .await
        .expect("j")
        .json()
        .await
        .expect("json");
    assert!(jwks["keys"].as_array().expect("keys").iter().all(|k| k["kid"].as_str() != jwt.kid()));
}

#[tokio::test]
async fn issuer_defects() {
    for (defect, check) in [(Defect::IssuerNoTrailingSlash, "no-slash"), (Defect::IssuerOtherScheme, "https")] {
        let (server, tokens) = tokens_with(&[defect]).await;
        let doc: Value = reqwest::get(server.discovery_url("chatgpt")).await.expect("d").json().await.expect("json");
        let iss = claims_of(&tokens)["iss"].clone();
        assert_eq!(doc["issuer"], iss, "discovery and iss agree");
        let iss = iss.as_str().expect("iss");
        match check {
            "no-slash" => assert!(iss.ends_with("/application/o/chatgpt"), "{iss}"),
            _ => assert!(iss.starts_with("https://127.0.0.1:"), "{iss}"),
        }
    }
}

#[tokio::test]
async fn endpoint_defects() {
    let server = standin(&[Defect::MalformedDiscovery]).await;
    let body = reqwest::get(server.discovery_url("chatgpt")).await.expect("d").text().await.expect("t");
    assert!(serde_json::from_str::<Value>(&body).is_err());

    let server = standin(&[Defect::AcceptAnyRedirectUri]).await;
    let b = Browser::new(&server);
    let url = authorize_url(&server, &[]).as_str().replace("chatgpt.test", "evil.test");
    let callback = login(&b, Url::parse(&url).expect("u"), "ann", "ann-password").await;
    assert_eq!(callback.host_str(), Some("evil.test"));

    let server = standin(&[Defect::AccessDenied]).await;
    let b = Browser::new(&server);
    let callback = login(&b, authorize_url(&server, &[]), "ann", "ann-password").await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));

    let (_, tokens) = tokens_with(&[Defect::Token500]).await;
    assert_eq!(tokens, Value::Null, "500 without JSON");

    let server = standin(&[Defect::ReusableCodes]).await;
    let b = Browser::new(&server);
    let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
    assert_eq!(code_exchange(&b, &code).await.0, StatusCode::OK);
    assert_eq!(code_exchange(&b, &code).await.0, StatusCode::OK, "the code works twice");

    let defects = Defects::parse(&["delay=discovery:300"]).expect("parse");
    let server =
        AuthentikStandIn::start(Options::new().blueprint("c.yaml", FIXTURE).defects(defects)).await.expect("start");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_millis(100)).build().expect("client");
    let err = client.get(server.discovery_url("chatgpt")).send().await.expect_err("times out");
    assert!(err.is_timeout());
}

#[tokio::test]
async fn consent_token_ignored_defect() {
    let explicit = FIXTURE
        .replace("default-provider-authorization-implicit-consent", "default-provider-authorization-explicit-consent");
    let server = standin_with(&explicit, &[Defect::ConsentTokenIgnored]).await;
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    let done = b.identify(&query, "ann", "ann-password").await;
    let slug = "default-provider-authorization-explicit-consent";
    let cq = query_of(&location(&b.get(b.url(done["to"].as_str().expect("to"))).await));
    b.challenge(slug, &cq).await;
    let (_, done) = b.answer(slug, &cq, json!({"component": "ak-stage-consent", "token": "forged"})).await;
    assert_eq!(done["component"], "xak-flow-redirect", "a forged token passes: {done}");
}

#[test]
fn env_reaches_blueprints() {
    let options = Options::new()
        .blueprint("c.yaml", FIXTURE)
        .env(HashMap::from([("ANN_PASSWORD".to_string(), "from-env".to_string())]));
    let dir = options.directory().expect("valid");
    let ann = dir.user_by_uid("ann").expect("ann");
    assert_eq!(ann.password.as_ref().map(|p| p.expose()), Some("from-env"));
    assert_eq!(format!("{:?}", ann.password), "Some([redacted])");
}

#[tokio::test]
async fn introspection_revocation_and_end_session() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let code = param(&login(&b, authorize_url(&server, &[]), "ann", "ann-password").await, "code").expect("code");
    let (_, tokens) = code_exchange(&b, &code).await;
    let access = tokens["access_token"].as_str().expect("at");
    let introspect = |token: String| {
        let request = b
            .http
            .post(b.url("/application/o/introspect/"))
            .basic_auth("chatgpt", Some(SECRET))
            .form(&[("token", token)]);
        async move { request.send().await.expect("introspect").json::<Value>().await.expect("json") }
    };
    let active = introspect(access.to_string()).await;
    assert_eq!((active["active"].as_bool(), active["client_id"].as_str()), (Some(true), Some("chatgpt")));
    let revoked = b
        .http
        .post(b.url("/application/o/revoke/"))
        .basic_auth("chatgpt", Some(SECRET))
        .form(&[("token", access)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(access.to_string()).await, json!({"active": false}));
    let unauthenticated =
        b.http.post(b.url("/application/o/revoke/")).form(&[("token", access)]).send().await.expect("revoke");
    assert_eq!(unauthenticated.status(), StatusCode::BAD_REQUEST);

    let logout = b.get(b.url("/application/o/chatgpt/end-session/")).await;
    assert!(logout.text().await.expect("body").contains("You&#39;ve logged out of ChatGPT."));
    let again = b.get(authorize_url(&server, &[])).await;
    assert!(location(&again).starts_with("/if/flow/default-authentication-flow/"), "signed out: the login flow again");
}

#[tokio::test]
async fn blueprints_import_through_the_api_with_the_token() {
    let server = AuthentikStandIn::start(Options::new().api_token(ak_protocol::secret::Secret::new("tok")))
        .await
        .expect("start");
    let b = Browser::new(&server);
    let upload = |token: &str, text: &str| {
        let body = format!(
            "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.yaml\"\r\n\r\n{text}\r\n--XYZ--\r\n"
        );
        b.http
            .post(b.url("/api/v3/flows/instances/import/"))
            .bearer_auth(token)
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body(body)
    };
    let denied = upload("wrong", FIXTURE).send().await.expect("post");
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let bad = upload("tok", "version: 2\n").send().await.expect("post");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let logs: Value = bad.json().await.expect("json");
    assert_eq!(logs["logs"][0]["event"], "import:1:10: only blueprint `version: 1` exists");
    assert!(server.directory().applications.is_empty(), "a failed import changes nothing");
    // A few hundred bytes of nested aliases ("billion laughs") are refused, not expanded.
    let mut laughs = String::from("version: 1\nentries: []\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
    for i in 1..12 {
        laughs.push_str(&format!("x{i}: &x{i} [{}]\n", vec![format!("*x{}", i - 1); 10].join(", ")));
    }
    let refused = upload("tok", &laughs).send().await.expect("post");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let logs: Value = refused.json().await.expect("json");
    assert!(logs["logs"][0]["event"].as_str().is_some_and(|e| e.contains("grows past 100000 nodes")), "{logs}");
    let ok = upload("tok", FIXTURE).send().await.expect("post");
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.issuer("chatgpt"), Some(format!("{}application/o/chatgpt/", server.url())));
}

/// The card title of a plain page as a person reads it (authentik indents it on lines of its own).
fn card_title(body: &str) -> String {
    let Some(from) = body.find(r#"data-test-id="card-title">"#) else { return String::new() };
    let rest = &body[from + r#"data-test-id="card-title">"#.len()..];
    rest[..rest.find("</h1>").unwrap_or(0)].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the flow executor answers to bodies a browser never sends, as authentik 2026.2.2 does
/// (seen against it): no HTTP error; a flow error for what is not JSON; the stage again with
/// a `non_field_errors` message for JSON that is not an object.
#[tokio::test]
async fn the_executor_answers_bad_bodies_as_authentik_does() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    b.challenge(AUTH_FLOW, "").await;
    let post = |content_type: &'static str, body: &'static str| {
        b.http.post(b.executor_url(AUTH_FLOW, "")).header("content-type", content_type).body(body).send()
    };
    for (content_type, body) in [("application/json", "{"), ("text/plain", r#"{"uid_field": "x"}"#)] {
        let response = post(content_type, body).await.expect("post");
        assert_eq!(response.status(), StatusCode::OK, "{content_type} {body}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["component"], "ak-stage-flow-error", "{content_type} {body}: {answer}");
        assert_eq!(answer["request_id"].as_str().map(str::len), Some(32), "{answer}");
    }
    for (body, message) in [
        ("null", "No data provided"),
        ("[]", "Invalid data. Expected a dictionary, but got list."),
        (r#""x""#, "Invalid data. Expected a dictionary, but got str."),
    ] {
        let response = post("application/json", body).await.expect("post");
        assert_eq!(response.status(), StatusCode::OK, "{body}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["component"], "ak-stage-identification", "{body}: {answer}");
        assert_eq!(answer["response_errors"]["non_field_errors"][0]["string"], message, "{body}: {answer}");
    }
}
