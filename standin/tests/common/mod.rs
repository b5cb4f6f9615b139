//! What the stand-in's HTTP-level tests share: the fixture blueprint and a stand-in started
//! from it, a cookie-keeping browser that drives the flow executor, and the requests and checks
//! around a sign-in (login, code exchange, ID token verification).

use std::sync::Arc;

use ak_protocol::jose::{Jwt, rsa_public_key_from_jwk};
use ak_protocol::totp;
use authentik_standin::{AuthentikStandIn, Defect, Options};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Map, Value, json};
use url::Url;

pub(crate) const FIXTURE: &str = include_str!("../fixtures/chatgpt.yaml");
pub(crate) const REDIRECT: &str = "https://chatgpt.test/sso/oidc/conn_test/callback";
pub(crate) const SECRET: &str = "chatgpt-secret";
pub(crate) const AUTH_FLOW: &str = "default-authentication-flow";
pub(crate) const TIA_KEY: &[u8] = b"1234567890123456789\x30";

pub(crate) async fn standin(defects: &[Defect]) -> AuthentikStandIn {
    standin_with(FIXTURE, defects).await
}

pub(crate) async fn standin_with(blueprint: &str, defects: &[Defect]) -> AuthentikStandIn {
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
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
}

impl Browser {
    pub(crate) fn new(server: &AuthentikStandIn) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client");
        Self { http, jar, base: server.url().clone() }
    }

    pub(crate) fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("url")
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        let header = header.to_str().ok()?.to_string();
        header.split("; ").find_map(|p| p.strip_prefix(&format!("{name}=")).map(String::from))
    }

    pub(crate) async fn get(&self, url: Url) -> reqwest::Response {
        self.http.get(url).send().await.expect("get")
    }

    pub(crate) fn executor_url(&self, slug: &str, query: &str) -> Url {
        let mut url = self.url(&format!("/api/v3/flows/executor/{slug}/"));
        url.query_pairs_mut().append_pair("query", query);
        url
    }

    /// GETs the executor, following its 302s to itself, until a challenge arrives.
    pub(crate) async fn challenge(&self, slug: &str, query: &str) -> Value {
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
    pub(crate) async fn begin_login(&self, authorize: Url) -> String {
        let query = query_of(&location(&self.get(authorize).await));
        self.challenge(AUTH_FLOW, &query).await;
        query
    }

    /// Answers identification and password; returns the challenge after the password.
    pub(crate) async fn identify(&self, query: &str, uid: &str, password: &str) -> Value {
        self.answer(AUTH_FLOW, query, json!({"component": "ak-stage-identification", "uid_field": uid})).await;
        self.answer(AUTH_FLOW, query, json!({"component": "ak-stage-password", "password": password})).await.1
    }

    /// POSTs an answer; a valid one is a 302 (then the next challenge), an invalid one a 200.
    pub(crate) async fn answer(&self, slug: &str, query: &str, body: Value) -> (StatusCode, Value) {
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
pub(crate) fn query_of(url: &str) -> String {
    url.split_once('?').expect("a query").1.to_string()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("Location").to_str().expect("ascii").to_string()
}

pub(crate) fn authorize_url(server: &AuthentikStandIn, extra: &[(&str, &str)]) -> Url {
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
pub(crate) async fn login(b: &Browser, authorize: Url, uid: &str, password: &str) -> Url {
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

pub(crate) fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

pub(crate) async fn exchange(b: &Browser, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut request = b.http.post(b.url("/application/o/token/")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("token");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn code_exchange(b: &Browser, code: &str) -> (StatusCode, Value) {
    exchange(
        b,
        &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)],
        Some(("chatgpt", SECRET)),
    )
    .await
}

/// Verifies the ID token against the JWKS and returns its claims.
pub(crate) async fn verified_claims(b: &Browser, id_token: &str) -> Map<String, Value> {
    let jwks: Value = b.get(b.url("/application/o/chatgpt/jwks/")).await.json().await.expect("jwks");
    let jwt = Jwt::parse(id_token).expect("jwt");
    let key =
        jwks["keys"].as_array().expect("keys").iter().find(|k| k["kid"].as_str() == jwt.kid()).expect("kid in JWKS");
    assert!(jwt.verify_rs256(&rsa_public_key_from_jwk(key).expect("key")), "signature");
    jwt.claims
}

/// The card title of a plain page as a person reads it (authentik indents it on lines of its own).
pub(crate) fn card_title(body: &str) -> String {
    let Some(from) = body.find(r#"data-test-id="card-title">"#) else { return String::new() };
    let rest = &body[from + r#"data-test-id="card-title">"#.len()..];
    rest[..rest.find("</h1>").unwrap_or(0)].split_whitespace().collect::<Vec<_>>().join(" ")
}
