//! The mock ChatGPT against wiremock as the identity provider, with real RS256 tokens signed
//! here: the happy path through every page, and one test per failure the mock must catch.

use std::sync::OnceLock;

use ak_protocol::jose::{self, RsaKey};
use ak_protocol::secret::Secret;
use chatgpt_rp::{Alg, Attempt, ClientAuth, Config, ErrorCode, MockChatGpt, Mode, Outcome, Verdict};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockGuard, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "chatgpt-client";
const CLIENT_SECRET: &str = "s3cret/with+chars";
const ACCESS_TOKEN: &str = "access-token-1";
const DISCOVERY_PATH: &str = "/application/o/chatgpt/.well-known/openid-configuration";

fn key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| RsaKey::generate("idp-key").expect("keygen"))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

struct Ctx {
    idp: MockServer,
    rp: MockChatGpt,
    browser: reqwest::Client,
}

impl Ctx {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(edit: impl FnOnce(&mut Config)) -> Self {
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

    fn issuer(&self) -> String {
        format!("{}/application/o/chatgpt/", self.idp.uri())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.rp.url(), path.trim_start_matches('/'))
    }

    /// Types the email at `/auth/login`; returns the redirect's Location.
    async fn begin(&self, email: &str) -> Url {
        let response =
            self.browser.post(self.url("/auth/login")).form(&[("email", email)]).send().await.expect("login");
        assert_eq!(response.status(), StatusCode::FOUND, "{}", response.text().await.unwrap_or_default());
        location(&response)
    }

    fn good_claims(&self, nonce: &str) -> Value {
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
    async fn mount_token(&self, status: u16, body: Value) -> MockGuard {
        Mock::given(method("POST"))
            .and(path("/application/o/token/"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount_as_scoped(&self.idp)
            .await
    }

    /// Mounts the userinfo endpoint's answer until the guard is dropped.
    async fn mount_userinfo(&self, status: u16, body: Value) -> MockGuard {
        Mock::given(method("GET"))
            .and(path("/application/o/userinfo/"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount_as_scoped(&self.idp)
            .await
    }

    async fn callback(&self, query: &str) -> (StatusCode, String) {
        let url = format!("{}?{query}", self.rp.redirect_uri());
        let response = self.browser.get(url).send().await.expect("callback");
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// A whole login where the IdP issues `id_token` (built from the nonce) and userinfo says `userinfo`.
    async fn login_with(&self, build: impl FnOnce(&Ctx, &str) -> String) -> (StatusCode, String, Attempt) {
        let authorize = self.begin("ann@example.com").await;
        let (state, nonce) = (param(&authorize, "state"), param(&authorize, "nonce"));
        let id_token = build(self, &nonce);
        let _token = self
            .mount_token(
                200,
                json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
            )
            .await;
        let userinfo =
            json!({"sub": "7f3c0e1d", "email": "ann@example.com", "given_name": "Ann", "family_name": "Lee"});
        let _userinfo = self.mount_userinfo(200, userinfo).await;
        let (status, body) = self.callback(&format!("code=the-code&state={state}")).await;
        (status, body, self.rp.latest_attempt().expect("attempt"))
    }

    async fn login_with_claims(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> (StatusCode, String, Attempt) {
        self.login_with(|ctx, nonce| {
            let mut claims = ctx.good_claims(nonce);
            edit(claims.as_object_mut().expect("object"));
            key().sign_rs256(&claims, &Map::new())
        })
        .await
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

fn discovery(base: &str, issuer: &str) -> Value {
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

async fn mount_json(server: &MockServer, at: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

fn location(response: &reqwest::Response) -> Url {
    let text = response.headers().get("location").expect("Location").to_str().expect("ascii");
    Url::parse(text).or_else(|_| response.url().join(text)).expect("location url")
}

fn param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Asserts the failure shows the code on the page, with its status, and in the record.
fn assert_failure(status: StatusCode, body: &str, attempt: &Attempt, code: ErrorCode) {
    let marker = format!(r#"data-testid="error-code">{}<"#, code.as_str());
    assert!(body.contains(&marker), "page lacks {marker}:\n{body}");
    assert_eq!(status.as_u16(), code.status(), "status for {}", code.as_str());
    assert_eq!(attempt.verdict, Verdict::Failure);
    assert_eq!(attempt.error.as_ref().map(|f| f.code), Some(code), "{:#?}", attempt.checks);
    assert!(attempt.checks.iter().any(|c| c.outcome == Outcome::Fail), "a failing check is recorded");
}

/// A change to the ID token's claims.
type ClaimEdit = Box<dyn FnOnce(&mut Map<String, Value>)>;

fn detail(attempt: &Attempt) -> &str {
    attempt.error.as_ref().map(|f| f.detail.as_str()).unwrap_or("")
}

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
    let ctx = Ctx::new().await;
    let state = param(&ctx.begin("ann@example.com").await, "state");
    let nonce = param(
        &Url::parse(ctx.rp.latest_attempt().expect("a").authorize_url.as_deref().expect("u")).expect("u"),
        "nonce",
    );
    let id_token = key().sign_rs256(&ctx.good_claims(&nonce), &Map::new());
    let _token =
        ctx.mount_token(200, json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token})).await;
    let _userinfo = ctx.mount_userinfo(200, json!({"sub": "someone-else"})).await;
    let (status, body) = ctx.callback(&format!("code=c&state={state}")).await;
    assert_failure(status, &body, &ctx.rp.latest_attempt().expect("attempt"), ErrorCode::UserinfoSubMismatch);

    let ctx = Ctx::new().await;
    let state = param(&ctx.begin("ann@example.com").await, "state");
    let nonce = param(
        &Url::parse(ctx.rp.latest_attempt().expect("a").authorize_url.as_deref().expect("u")).expect("u"),
        "nonce",
    );
    let id_token = key().sign_rs256(&ctx.good_claims(&nonce), &Map::new());
    let _token =
        ctx.mount_token(200, json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token})).await;
    let _userinfo = ctx.mount_userinfo(401, json!({"error": "invalid_token"})).await;
    let (status, body) = ctx.callback(&format!("code=c&state={state}")).await;
    let attempt = ctx.rp.latest_attempt().expect("attempt");
    assert_failure(status, &body, &attempt, ErrorCode::UserinfoFailed);
    assert!(detail(&attempt).ends_with("/application/o/userinfo/ answered 401 Unauthorized"), "{}", detail(&attempt));
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
