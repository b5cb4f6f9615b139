//! The stand-in's blueprints (scope mappings, errors that name file, line and column, the
//! environment, import through the API), bad input, and every defect.

mod common;

use std::collections::HashMap;

use ak_protocol::jose::Jwt;
use authentik_standin::{AuthentikStandIn, Defect, Defects, Options};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use url::Url;

use common::{
    AUTH_FLOW, Browser, FIXTURE, SECRET, authorize_url, card_title, code_exchange, location, login, now, param,
    query_of, standin, standin_with, verified_claims,
};

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
            "chatgpt.yaml:56:12: model `authentik_core.applicaton` is not supported by the stand-in (did you mean `authentik_core.application`?); supported: authentik_core.user, authentik_core.group, authentik_core.application, authentik_providers_oauth2.oauth2provider, authentik_providers_oauth2.scopemapping, authentik_policies.policybinding, authentik_flows.flow, authentik_stages_identification.identificationstage, authentik_stages_authenticator_validate.authenticatorvalidatestage, authentik_stages_deny.denystage, authentik_stages_user_login.userloginstage, authentik_policies_expression.expressionpolicy, authentik_flows.flowstagebinding",
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
            "chatgpt.yaml:43:26: flow `my-flow` is not one of the stand-in's flows: default-authentication-flow, default-provider-authorization-implicit-consent, default-provider-authorization-explicit-consent, default-provider-invalidation-flow, default-authenticator-totp-setup, default-authenticator-webauthn-setup, default-authenticator-static-setup",
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
    // A blueprint up to the 1 MiB every YAML input may have is taken (here 900 KiB of comments).
    let large = format!("{FIXTURE}\n{}", "# a long comment line of a generated blueprint\n".repeat(19_000));
    assert!(large.len() > 800 * 1024 && large.len() < 1024 * 1024);
    let taken = upload("tok", &large).send().await.expect("post");
    assert_eq!(taken.status(), StatusCode::NO_CONTENT);
}

/// A device given in the options (a TOTP device, a passkey) must belong to a user of the
/// blueprints: one for nobody stops the start, naming the device and the user.
#[tokio::test]
async fn a_device_for_no_user_of_the_blueprints_is_refused() {
    let totp = Options::new()
        .blueprint("chatgpt.yaml", FIXTURE)
        .totp_device("nobody", ak_protocol::secret::Secret::new("3132333435363738393031323334353637383930"));
    let err = AuthentikStandIn::start(totp).await.expect_err("refused");
    assert_eq!(err.to_string(), "TOTP device for `nobody`: no such user in the blueprints");
    let options = serde_json::json!({
        "rp": {"id": "127.0.0.1"}, "user": {"id": "eA", "name": "nobody"},
        "challenge": "eA", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    });
    let (passkey, _) = ak_protocol::webauthn::Passkey::create(&options, "http://127.0.0.1").expect("create");
    let credential = ak_protocol::webauthn::Registered {
        credential_id: passkey.credential_id.clone(),
        public_key: passkey.public_key().expect("key"),
        sign_count: 0,
    };
    let with_passkey = Options::new().blueprint("chatgpt.yaml", FIXTURE).passkey("nobody", credential);
    let err = AuthentikStandIn::start(with_passkey).await.expect_err("refused");
    assert_eq!(err.to_string(), "passkey for `nobody`: no such user in the blueprints");
}
