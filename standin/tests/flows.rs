//! The stand-in's flow executor at the HTTP level: the stages (identification, password, MFA,
//! policy, consent) and bodies a browser never sends; then the session a sign-in starts, its
//! token introspected and revoked, and ended at end-session.

mod common;

use ak_protocol::totp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use common::{
    AUTH_FLOW, Browser, FIXTURE, REDIRECT, SECRET, TIA_KEY, authorize_url, card_title, code_exchange, location, login,
    now, param, query_of, standin, standin_with, verified_claims,
};

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
        (StatusCode::OK, Some("Invalid Token. Please ensure the time on your device is accurate and try again."))
    );
    // As django-otp's throttling: for a second after a failed code, the device checks none.
    let (_, throttled) = answer_code(&b, &query, &totp::code(TIA_KEY, now(), 6)).await;
    assert!(throttled["response_errors"]["code"][0]["string"].as_str().is_some_and(|s| s.starts_with("Invalid Token")));
    // The rule is about time: the wait is the condition.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, done) = answer_code(&b, &query, &totp::code(TIA_KEY, now(), 6)).await;
    assert_eq!(amr_of_the_login(&b, &done).await, json!(["pwd", "mfa"]));
}

/// Answers the MFA stage with a code.
async fn answer_code(b: &Browser, query: &str, code: &str) -> (StatusCode, Value) {
    b.answer(AUTH_FLOW, query, json!({"component": "ak-stage-authenticator-validate", "code": code})).await
}

/// authentik checks a code typed at the MFA stage against the static device first, a TOTP code
/// too, and django-otp counts its refusal as a failed attempt: right after a TOTP sign-in, the
/// user's recovery code is refused (for 2^(n-1) s after the n-th such sign-in); after the wait it
/// is accepted, once. Seen on authentik 2026.2.2: a recovery code 0.6 s after the second TOTP
/// sign-in was refused, and accepted 4.5 s later.
#[tokio::test]
async fn a_totp_sign_in_throttles_the_users_recovery_codes() {
    use ak_protocol::secret::Secret;
    use authentik_standin::{AuthentikStandIn, Options};
    let options = Options::new()
        .blueprint("chatgpt.yaml", FIXTURE)
        .install_id("test-install")
        .totp_device("ann", Secret::new(totp::encode_hex(TIA_KEY)))
        .recovery_codes("ann", vec![Secret::new("recovery1"), Secret::new("recovery2")]);
    let server = AuthentikStandIn::start(options).await.expect("start");
    let at_mfa = || async {
        let b = Browser::new(&server);
        let query = b.begin_login(authorize_url(&server, &[])).await;
        b.identify(&query, "ann", "ann-password").await;
        (b, query)
    };
    let (later, later_query) = at_mfa().await;
    let (b, query) = at_mfa().await;
    let (status, _) = answer_code(&b, &query, &totp::code(TIA_KEY, now(), 6)).await;
    assert_eq!(status, StatusCode::FOUND, "the TOTP code signs ann in");
    let (status, refused) = answer_code(&later, &later_query, "recovery1").await;
    assert_eq!(status, StatusCode::OK, "right after, her recovery code is refused: {refused}");
    assert!(refused["response_errors"]["code"][0]["string"].as_str().is_some_and(|s| s.starts_with("Invalid Token")));
    // The rule is about time: the wait is the condition.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = answer_code(&later, &later_query, "recovery1").await;
    assert_eq!(status, StatusCode::FOUND, "a second later it is accepted");
}

/// The `amr` of the ID token the login that ended in `done` (the flow's last answer) gives.
async fn amr_of_the_login(b: &Browser, done: &Value) -> Value {
    assert_eq!(done["component"], "xak-flow-redirect");
    let back = b.get(b.url(done["to"].as_str().expect("to"))).await;
    let code = param(&Url::parse(&location(&back)).expect("url"), "code").expect("code");
    let (_, tokens) = code_exchange(b, &code).await;
    verified_claims(b, tokens["id_token"].as_str().expect("id")).await["amr"].clone()
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

/// A user with a passkey gets the MFA stage's `webauthn` device challenge. Its challenge is made
/// when the stage is fetched and kept while it answers POSTs (the device the page shows, a
/// refused assertion), as authentik's; an assertion over it signs the user in, and the same
/// counter again is refused.
#[tokio::test]
async fn passkey_users_answer_the_authenticator_stage_with_an_assertion() {
    use ak_protocol::webauthn::{Passkey, Registered};
    use authentik_standin::{AuthentikStandIn, Options};
    // The stand-in listens on 127.0.0.1: that is the RP ID (authentik's, from the Host header).
    let options = json!({
        "rp": {"id": "127.0.0.1", "name": "authentik"}, "user": {"id": "YW5u", "name": "ann"},
        "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    });
    let (mut passkey, _) = Passkey::create(&options, "http://127.0.0.1").expect("create");
    let credential = Registered {
        credential_id: passkey.credential_id.clone(),
        public_key: passkey.public_key().expect("key"),
        sign_count: 0,
    };
    let server = AuthentikStandIn::start(
        Options::new().blueprint("chatgpt.yaml", FIXTURE).install_id("test-install").passkey("ann", credential),
    )
    .await
    .expect("start");
    let origin = server.url().origin().ascii_serialization();
    let b = Browser::new(&server);
    let query = b.begin_login(authorize_url(&server, &[])).await;
    let mfa = b.identify(&query, "ann", "ann-password").await;
    let device = &mfa["device_challenges"][0];
    assert_eq!(device["device_class"], "webauthn");
    assert_eq!(device["challenge"]["allowCredentials"][0]["id"], json!(passkey.credential_id));
    let selected = json!({"component": "ak-stage-authenticator-validate", "selected_challenge": device});
    let (_, same) = b.answer(AUTH_FLOW, &query, selected).await;
    assert_eq!(same["device_challenges"][0]["challenge"]["challenge"], device["challenge"]["challenge"]);
    let answer = |webauthn: Value| json!({"component": "ak-stage-authenticator-validate", "webauthn": webauthn});
    let tampered = passkey.get_claiming(&device["challenge"], "https://elsewhere.test").expect("get");
    let (_, refused) = b.answer(AUTH_FLOW, &query, answer(tampered)).await;
    assert_eq!(refused["response_errors"]["webauthn"][0]["string"], "Assertion failed");
    assert_eq!(refused["device_challenges"][0]["challenge"]["challenge"], device["challenge"]["challenge"]);
    let stale = Passkey { sign_count: passkey.sign_count, ..passkey.clone() };
    let assertion = passkey.get(&device["challenge"], &origin).expect("get");
    let (_, done) = b.answer(AUTH_FLOW, &query, answer(assertion)).await;
    assert_eq!(amr_of_the_login(&b, &done).await, json!(["pwd", "mfa"]));

    // The same counter from a copy of the key (a clone, a replay) is refused.
    let again = Browser::new(&server);
    let query = again.begin_login(authorize_url(&server, &[])).await;
    let mfa = again.identify(&query, "ann", "ann-password").await;
    let replay = stale.clone().get(&mfa["device_challenges"][0]["challenge"], &origin).expect("get");
    let (_, refused) = again.answer(AUTH_FLOW, &query, answer(replay)).await;
    assert_eq!(refused["response_errors"]["webauthn"][0]["string"], "Assertion failed");
}

/// A flow of a blueprint's own, bound as the provider's `authentication_flow`: identification
/// with a passkey (user verification required), a deny stage for anyone but ann or without her
/// passkey (a user binding and an expression policy, any of them), user login for ann with her
/// passkey only (both, all of them).
const PASSKEY_FLOW: &str = r#"version: 1
entries:
  - model: authentik_stages_authenticator_validate.authenticatorvalidatestage
    id: validation
    identifiers:
      name: passkey-validation
    attrs:
      device_classes: [webauthn]
      webauthn_user_verification: required
  - model: authentik_stages_identification.identificationstage
    id: identification
    identifiers:
      name: passkey-identification
    attrs:
      user_fields: [username]
      webauthn_stage: !KeyOf validation
  - model: authentik_stages_deny.denystage
    id: outsider
    identifiers:
      name: passkey-outsider
    attrs:
      deny_message: Only ann, with her passkey.
  - model: authentik_stages_user_login.userloginstage
    id: login
    identifiers:
      name: passkey-login
  - model: authentik_policies_expression.expressionpolicy
    id: not-used
    identifiers:
      name: passkey-not-used
    attrs:
      expression: |
        flow_plan = request.context.get("flow_plan")
        if not flow_plan:
            return True
        return flow_plan.context.get("auth_method") != "auth_webauthn_pwl"
  - model: authentik_policies_expression.expressionpolicy
    id: used
    identifiers:
      name: passkey-used
    attrs:
      expression: |
        flow_plan = request.context.get("flow_plan")
        if not flow_plan:
            return True
        return flow_plan.context.get("auth_method") == "auth_webauthn_pwl"
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: passkey-login
    attrs:
      name: Passkey sign-in
      title: Sign in with a passkey
      designation: authentication
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf identification
      order: 10
  - model: authentik_flows.flowstagebinding
    id: outsider-binding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf outsider
      order: 20
    attrs:
      re_evaluate_policies: true
  - model: authentik_policies.policybinding
    identifiers:
      target: !KeyOf outsider-binding
      order: 0
    attrs:
      user: !Find [authentik_core.user, [username, ann]]
      negate: true
  - model: authentik_policies.policybinding
    identifiers:
      target: !KeyOf outsider-binding
      order: 1
    attrs:
      policy: !KeyOf not-used
      failure_result: true
  - model: authentik_flows.flowstagebinding
    id: login-binding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf login
      order: 100
    attrs:
      policy_engine_mode: all
  - model: authentik_policies.policybinding
    identifiers:
      target: !KeyOf login-binding
      order: 0
    attrs:
      user: !Find [authentik_core.user, [username, ann]]
  - model: authentik_policies.policybinding
    identifiers:
      target: !KeyOf login-binding
      order: 1
    attrs:
      policy: !KeyOf used
  - model: authentik_providers_oauth2.oauth2provider
    identifiers:
      name: ChatGPT
    attrs:
      authentication_flow: !KeyOf flow
"#;

/// The stand-in with [`PASSKEY_FLOW`], ann and tia each with a passkey (RP ID 127.0.0.1, where
/// it listens); their passkeys and the stand-in's origin.
async fn passkey_standin()
-> (authentik_standin::AuthentikStandIn, ak_protocol::webauthn::Passkey, ak_protocol::webauthn::Passkey, String) {
    use ak_protocol::webauthn::{Passkey, Registered};
    use authentik_standin::{AuthentikStandIn, Options};
    let make = |name: &str| {
        let options = json!({
            "rp": {"id": "127.0.0.1", "name": "authentik"}, "user": {"id": "dXNlcg", "name": name},
            "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        });
        let (passkey, _) = Passkey::create(&options, "http://127.0.0.1").expect("create");
        let credential = Registered {
            credential_id: passkey.credential_id.clone(),
            public_key: passkey.public_key().expect("key"),
            sign_count: 0,
        };
        (passkey, credential)
    };
    let ((ann, ann_credential), (tia, tia_credential)) = (make("ann"), make("tia"));
    let server = AuthentikStandIn::start(
        Options::new()
            .blueprint("chatgpt.yaml", FIXTURE)
            .blueprint("passkey.yaml", PASSKEY_FLOW)
            .install_id("test-install")
            .passkey("ann", ann_credential)
            .passkey("tia", tia_credential),
    )
    .await
    .expect("start");
    let origin = server.url().origin().ascii_serialization();
    (server, ann, tia, origin)
}

const PASSKEY_LOGIN: &str = "passkey-login";

/// Opens a login at the stand-in in a new session, which the provider sends to
/// [`PASSKEY_LOGIN`]; the session, the flow page's query and the stage shown.
async fn open_passkey_login(server: &authentik_standin::AuthentikStandIn) -> (Browser, String, Value) {
    let b = Browser::new(server);
    let to_flow = location(&b.get(authorize_url(server, &[])).await);
    assert!(to_flow.starts_with(&format!("/if/flow/{PASSKEY_LOGIN}/?")), "{to_flow}");
    let query = query_of(&to_flow);
    let shown = b.challenge(PASSKEY_LOGIN, &query).await;
    (b, query, shown)
}

fn passkey_answer(passkey: Value) -> Value {
    json!({"component": "ak-stage-identification", "passkey": passkey})
}

/// A passkey as the first factor, in a blueprint's flow: the provider sends a visitor there; its
/// identification stage offers a discoverable request (no allowCredentials, user verification
/// required, a new challenge each time it shows); ann's passkey signs her in with `amr` `user`
/// (authentik's `auth_webauthn_pwl`), past the deny stage; the same counter again is refused.
#[tokio::test]
async fn a_passkey_at_identification_signs_its_owner_in() {
    let (server, mut ann, _, origin) = passkey_standin().await;
    let (b, query, shown) = open_passkey_login(&server).await;
    assert_eq!(shown["component"], "ak-stage-identification");
    assert_eq!(shown["flow_info"]["title"], "Sign in with a passkey");
    assert_eq!(shown["user_fields"], json!(["username"]));
    let request = shown["passkey_challenge"].clone();
    assert_eq!(request["allowCredentials"], json!([]), "{shown}");
    assert_eq!(request["userVerification"], "required");
    assert_eq!(request["rpId"], "127.0.0.1");
    let again = b.challenge(PASSKEY_LOGIN, &query).await;
    assert_ne!(again["passkey_challenge"]["challenge"], request["challenge"], "a new challenge each time it shows");
    let stale = ak_protocol::webauthn::Passkey { sign_count: ann.sign_count, ..ann.clone() };
    let assertion = ann.get(&again["passkey_challenge"], &origin).expect("get");
    let (status, done) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(assertion)).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(amr_of_the_login(&b, &done).await, json!(["user"]));

    // The same counter from a copy of the key is refused.
    let (replayed, query, shown) = open_passkey_login(&server).await;
    let replay = stale.clone().get(&shown["passkey_challenge"], &origin).expect("get");
    let (_, refused) = replayed.answer(PASSKEY_LOGIN, &query, passkey_answer(replay)).await;
    assert_eq!(refused["response_errors"]["non_field_errors"][0]["string"], "Assertion failed");
}

/// At identification, an assertion for another origin, by an unknown credential, without user
/// verification, or over a challenge shown before is refused as authentik refuses it.
#[tokio::test]
async fn a_tampered_passkey_at_identification_is_refused() {
    let (server, mut ann, _, origin) = passkey_standin().await;
    let (b, query, first) = open_passkey_login(&server).await;
    let refusal = |answer: &Value| answer["response_errors"]["non_field_errors"][0]["string"].clone();
    let shown = b.challenge(PASSKEY_LOGIN, &query).await;
    let tampered = ann.get_claiming(&shown["passkey_challenge"], "https://elsewhere.test").expect("get");
    let (status, refused) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(tampered)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refusal(&refused), "Assertion failed", "another origin: {refused}");
    let unknown = json!({"id": "bm90LWEta2V5", "rawId": "bm90LWEta2V5", "type": "public-key", "response": {}});
    let (_, refused) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(unknown)).await;
    assert_eq!(refusal(&refused), "Invalid device");
    let unverified = ann.get_unverified(&refused["passkey_challenge"], &origin).expect("get");
    let (_, refused) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(unverified)).await;
    assert_eq!(refusal(&refused), "Assertion failed", "no user verification");
    let earlier = ann.get(&first["passkey_challenge"], &origin).expect("get");
    let (_, refused) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(earlier)).await;
    assert_eq!(refusal(&refused), "Assertion failed", "a challenge shown before");
    let right = ann.get(&refused["passkey_challenge"], &origin).expect("get");
    let (status, _) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(right)).await;
    assert_eq!(status, StatusCode::FOUND, "after the refusals, her passkey over the challenge shown");
}

/// Another user's passkey identifies her, and the deny stage stops her; a typed name, ann's as
/// no passkey was given, and anyone's, goes to the deny stage too, with its message.
#[tokio::test]
async fn anyone_but_ann_with_her_passkey_is_denied() {
    let (server, _, mut tia, origin) = passkey_standin().await;
    let (b, query, shown) = open_passkey_login(&server).await;
    let assertion = tia.get(&shown["passkey_challenge"], &origin).expect("get");
    let (_, denied) = b.answer(PASSKEY_LOGIN, &query, passkey_answer(assertion)).await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(denied["pending_user"], "tia");
    for name in ["ann", "nobody"] {
        let (typed, query, _) = open_passkey_login(&server).await;
        let (_, denied) = typed
            .answer(PASSKEY_LOGIN, &query, json!({"component": "ak-stage-identification", "uid_field": name}))
            .await;
        assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
        assert_eq!(denied["error_message"], "Only ann, with her passkey.");
        assert_eq!(denied["pending_user"], name);
    }
}

/// What the stand-in does not run in a blueprint's flow is refused at load, naming the line.
#[tokio::test]
async fn a_blueprint_flow_the_standin_cannot_run_is_refused_where_it_is_written() {
    use authentik_standin::{AuthentikStandIn, Options};
    let cases = [
        (
            PASSKEY_FLOW.replace(r#"!= "auth_webauthn_pwl""#, r#"!= "auth_mfa""#),
            "passkey.yaml:36:9: expression policy `passkey-not-used`: expected `return flow_plan.context.get(\"auth_method\") != \"auth_webauthn_pwl\"` (or `==`); see the recognised form in standin/README.md",
        ),
        (
            PASSKEY_FLOW.replace("user_fields: [username]", "user_fields: []"),
            "passkey.yaml:15:20: `user_fields` is empty: authentik then needs a source, which the stand-in has none of",
        ),
        (
            PASSKEY_FLOW.replace("      designation: authentication", "      designation: enrollment"),
            "passkey.yaml:54:20: the stand-in runs a blueprint's flows of designation `authentication` only, not `enrollment`",
        ),
        (
            PASSKEY_FLOW.replace("      re_evaluate_policies: true", "      evaluate_on_plan: true"),
            "passkey.yaml:67:25: the stand-in judges a binding's policies when its stage comes (`re_evaluate_policies`), not at planning",
        ),
    ];
    for (text, expected) in cases {
        let options = Options::new().blueprint("chatgpt.yaml", FIXTURE).blueprint("passkey.yaml", text);
        let err = AuthentikStandIn::start(options).await.expect_err("must fail");
        assert_eq!(err.to_string(), expected);
    }
}

/// As authentik plans the login flow anew for each authorization request: a login abandoned at
/// the password stage is not resumed by the next request, whose own `next` (its state) the flow
/// ends at.
#[tokio::test]
async fn an_abandoned_login_leaves_nothing_to_the_next_authorization_request() {
    let server = standin(&[]).await;
    let b = Browser::new(&server);
    let first = b.begin_login(authorize_url(&server, &[("state", "first-request")])).await;
    b.answer(AUTH_FLOW, &first, json!({"component": "ak-stage-identification", "uid_field": "ann"})).await;
    let second = b.begin_login(authorize_url(&server, &[("state", "second-request")])).await;
    let shown = b.challenge(AUTH_FLOW, &second).await;
    assert_eq!(shown["component"], "ak-stage-identification", "a new plan: {shown}");
    let done = b.identify(&second, "ann", "ann-password").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let to = done["to"].as_str().expect("to");
    assert!(to.contains("second-request") && !to.contains("first-request"), "{to}");
}
