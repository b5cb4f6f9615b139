//! What the mock ChatGPT's tests share: wiremock as the identity provider, serving discovery and
//! a key set, with real RS256 tokens signed here; the mock started against it; a browser; and
//! whole logins with the ID token built from the nonce.

use std::sync::OnceLock;

use ak_protocol::jose::{self, RsaKey};
use ak_protocol::secret::Secret;
use chatgpt_rp::{Attempt, Config, ErrorCode, MockChatGpt, Outcome, Verdict};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockGuard, MockServer, ResponseTemplate};

pub(crate) const CLIENT_ID: &str = "chatgpt-client";
pub(crate) const CLIENT_SECRET: &str = "s3cret/with+chars";
pub(crate) const ACCESS_TOKEN: &str = "access-token-1";
pub(crate) const DISCOVERY_PATH: &str = "/application/o/chatgpt/.well-known/openid-configuration";

pub(crate) fn key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate("idp-key").expect("keygen"))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

pub(crate) struct Ctx {
    pub(crate) idp: MockServer,
    pub(crate) rp: MockChatGpt,
    pub(crate) browser: reqwest::Client,
}

impl Ctx {
    pub(crate) async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub(crate) async fn with(edit: impl FnOnce(&mut Config)) -> Self {
        let idp = MockServer::start().await;
        let issuer = format!("{}/application/o/chatgpt/", idp.uri());
        mount_json(&idp, DISCOVERY_PATH, discovery(&idp.uri(), &issuer)).await;
        mount_json(&idp, "/application/o/chatgpt/jwks/", json!({"keys": [key().public_jwk()]})).await;
        let mut config = Config::new(
            CLIENT_ID,
            Secret::new(CLIENT_SECRET),
            Url::parse(&format!("{}{DISCOVERY_PATH}", idp.uri())).expect("url"),
            &["example.com"],
        );
        edit(&mut config);
        let rp = MockChatGpt::start(config).await.expect("start");
        Self { idp, rp, browser: browser() }
    }

    pub(crate) fn issuer(&self) -> String {
        format!("{}/application/o/chatgpt/", self.idp.uri())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.rp.url(), path.trim_start_matches('/'))
    }

    /// Types the email at `/auth/login`; returns the redirect's Location.
    pub(crate) async fn begin(&self, email: &str) -> Url {
        let response =
            self.browser.post(self.url("/auth/login")).form(&[("email", email)]).send().await.expect("login");
        assert_eq!(response.status(), StatusCode::FOUND, "{}", response.text().await.unwrap_or_default());
        location(&response)
    }

    pub(crate) fn good_claims(&self, nonce: &str) -> Value {
        json!({
            "iss": self.issuer(),
            "sub": "7f3c0e1d",
            "aud": CLIENT_ID,
            "exp": now() + 300,
            "iat": now(),
            "auth_time": now(),
            "nonce": nonce,
            "email": "ann@example.com",
            "email_verified": false,
            "given_name": "Ann",
            "family_name": "Lee",
            "name": "Ann Lee",
            "at_hash": jose::at_hash(ACCESS_TOKEN),
        })
    }

    /// Mounts the token endpoint's answer until the guard is dropped.
    pub(crate) async fn mount_token(&self, status: u16, body: Value) -> MockGuard {
        Mock::given(method("POST"))
            .and(path("/application/o/token/"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount_as_scoped(&self.idp)
            .await
    }

    /// Mounts the userinfo endpoint's answer until the guard is dropped.
    pub(crate) async fn mount_userinfo(&self, status: u16, body: Value) -> MockGuard {
        Mock::given(method("GET"))
            .and(path("/application/o/userinfo/"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount_as_scoped(&self.idp)
            .await
    }

    pub(crate) async fn callback(&self, query: &str) -> (StatusCode, String) {
        let url = format!("{}?{query}", self.rp.redirect_uri());
        let response = self.browser.get(url).send().await.expect("callback");
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// A whole login where the IdP issues `id_token` (built from the nonce) and userinfo says
    /// what a good one says.
    pub(crate) async fn login_with(&self, build: impl FnOnce(&Ctx, &str) -> String) -> (StatusCode, String, Attempt) {
        let userinfo =
            json!({"sub": "7f3c0e1d", "email": "ann@example.com", "given_name": "Ann", "family_name": "Lee"});
        self.login_with_userinfo(build, 200, userinfo).await
    }

    /// A whole login where the IdP issues `id_token` (built from the nonce) and userinfo answers
    /// `status` with `userinfo`.
    pub(crate) async fn login_with_userinfo(
        &self,
        build: impl FnOnce(&Ctx, &str) -> String,
        status: u16,
        userinfo: Value,
    ) -> (StatusCode, String, Attempt) {
        let authorize = self.begin("ann@example.com").await;
        let (state, nonce) = (param(&authorize, "state"), param(&authorize, "nonce"));
        let id_token = build(self, &nonce);
        let _token = self
            .mount_token(
                200,
                json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
            )
            .await;
        let _userinfo = self.mount_userinfo(status, userinfo).await;
        let (status, body) = self.callback(&format!("code=the-code&state={state}")).await;
        (status, body, self.rp.latest_attempt().expect("attempt"))
    }

    pub(crate) async fn login_with_claims(
        &self,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> (StatusCode, String, Attempt) {
        self.login_with(|ctx, nonce| {
            let mut claims = ctx.good_claims(nonce);
            edit(claims.as_object_mut().expect("object"));
            key().sign_rs256(&claims, &Map::new())
        })
        .await
    }
}

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

pub(crate) fn discovery(base: &str, issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/application/o/authorize/"),
        "token_endpoint": format!("{base}/application/o/token/"),
        "userinfo_endpoint": format!("{base}/application/o/userinfo/"),
        "jwks_uri": format!("{base}/application/o/chatgpt/jwks/"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    })
}

pub(crate) async fn mount_json(server: &MockServer, at: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

pub(crate) fn location(response: &reqwest::Response) -> Url {
    let text = response.headers().get("location").expect("Location").to_str().expect("ascii");
    Url::parse(text).or_else(|_| response.url().join(text)).expect("location url")
}

pub(crate) fn param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Asserts the failure shows the code on the page, with its status, and in the record.
pub(crate) fn assert_failure(status: StatusCode, body: &str, attempt: &Attempt, code: ErrorCode) {
    let marker = format!(r#"data-testid="error-code">{}<"#, code.as_str());
    assert!(body.contains(&marker), "page lacks {marker}:\n{body}");
    assert_eq!(status.as_u16(), code.status(), "status for {}", code.as_str());
    assert_eq!(attempt.verdict, Verdict::Failure);
    assert_eq!(attempt.error.as_ref().map(|f| f.code), Some(code), "{:#?}", attempt.checks);
    assert!(attempt.checks.iter().any(|c| c.outcome == Outcome::Fail), "a failing check is recorded");
}

pub(crate) fn detail(attempt: &Attempt) -> &str {
    attempt.error.as_ref().map(|f| f.detail.as_str()).unwrap_or("")
}
