//! The flow executor API (`/api/v3/flows/executor/<slug>/`) and the flow page that drives it:
//! plans per session, the stages of authentik's default flows, their challenge JSON, the
//! 302-after-valid-POST rule, `response_errors`, and the CSRF rule for authenticated sessions.

use ak_protocol::authentik::flow::{
    AuthenticatorValidateFields, ConsentFields, DeviceChallenge, IdentificationFields, Permission,
};
use ak_protocol::authentik::{Challenge, ChallengeKind, ErrorDetail, FlowInfo};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::authorize::callback_url;
use crate::defects::{Defect, Endpoint};
use crate::directory::{AUTHENTICATION_FLOW, Directory, FLOWS};
use crate::pages;
use crate::plan::{AuthStage, AuthenticationPlan, AuthorizationPlan, AuthorizeParams, AuthzStage, Plan};
use crate::shared::{SessionRef, Shared, redirect};
use crate::state::Session;
use ak_protocol::jose::random_token;
use ak_protocol::time::now_secs;
use ak_protocol::totp;
use ak_protocol::webauthn::{Expected, Registered, verify_assertion};

mod login;

type AppState = State<Arc<Shared>>;

const AVATAR: &str = "/static/dist/assets/images/user_default.png";
/// Password attempts before the flow is cancelled (`failed_attempts_before_cancel`).
const MAX_PASSWORD_ATTEMPTS: u32 = 5;

/// What one executor step answers.
enum Outcome {
    /// 200 with a challenge.
    Challenge(Challenge),
    /// 302 back to the executor URL.
    Again,
    /// The authorization is done: issue a code (outside the state lock) and redirect to the RP.
    Fulfil { params: AuthorizeParams, user: u64, auth_time: u64, amr: Vec<String> },
}

fn flow_info(slug: &str, app_name: Option<&str>) -> FlowInfo {
    let title = FLOWS.iter().find(|(s, _, _)| *s == slug).map(|f| f.2).unwrap_or("authentik");
    FlowInfo {
        title: title.replace("%(app)s", app_name.unwrap_or("application")),
        background: "/static/dist/assets/images/flow_background.jpg".into(),
        background_themed_urls: None,
        cancel_url: "/flows/-/cancel/".into(),
        layout: "stacked".into(),
    }
}

/// A stage shown to `pending_user`, with the stand-in's avatar.
fn for_user(kind: ChallengeKind, info: FlowInfo, pending_user: &str) -> Challenge {
    Challenge {
        flow_info: Some(info),
        pending_user: Some(pending_user.into()),
        pending_user_avatar: Some(AVATAR.into()),
        ..Challenge::new(kind)
    }
}

/// The challenge again, showing `message` (of kind `invalid`) on `field`.
fn with_errors(challenge: Challenge, field: &str, message: &str) -> Challenge {
    challenge.with_error(field, ErrorDetail::invalid(message))
}

/// `ak-stage-access-denied` for `pending_user`, saying why when there is a `message`.
fn access_denied(slug: &str, pending_user: &str, message: Option<&str>) -> Challenge {
    let denied = for_user(ChallengeKind::AccessDenied, flow_info(slug, None), pending_user);
    Challenge { error_message: message.map(String::from), ..denied }
}

/// The flow is done: the browser goes to `to`.
fn redirect_to(to: String) -> Challenge {
    Challenge::new(ChallengeKind::Redirect { to })
}

/// `GET /if/flow/<slug>/`: the flow interface.
pub(crate) async fn page(State(shared): AppState, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let title = {
        let dir = shared.directory();
        if !dir.has_flow(&slug) {
            return pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.");
        }
        dir.login_flow(&slug).map(|f| f.title.clone()).unwrap_or_else(|| flow_info(&slug, None).title)
    };
    let session = SessionRef::get(&shared, &headers);
    let defects = pages::PageDefects {
        covered: shared.defects.has(&crate::defects::Defect::CoverFlow),
        digits_only: shared.defects.has(&crate::defects::Defect::DigitsOnlyCodes),
    };
    let page = pages::flow_page(&slug, &title, defects);
    if shared.defects.has(&crate::defects::Defect::DripFlowPage) {
        return session.attach(drip(page).await);
    }
    session.attach(page)
}

/// The response with its headers now and its body one byte every 100 ms (`drip-flow-page`),
/// through a channel the body reads from; the writer stops when the client has gone.
async fn drip(page: Response) -> Response {
    let (parts, body) = page.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        for byte in bytes.iter() {
            if tx.send(Ok(axum::body::Bytes::copy_from_slice(&[*byte]))).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from_stream(stream))
}

/// `GET /api/v3/flows/executor/<slug>/`.
pub(crate) async fn executor_get(
    State(shared): AppState,
    Path(slug): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    execute(&shared, &slug, &uri, &headers, None, None).await
}

/// What a POST to the executor carries, judged as authentik 2026.2 judges it.
enum Body {
    /// A JSON object: the stage's answer, read field by field as authentik reads it: a stage
    /// takes any object whatever its `component`, and reads a missing or non-string field as
    /// empty. ([`ak_protocol::authentik::Answer`] is what ak-e2e sends; it has no reader.)
    Object(Map<String, Value>),
    /// JSON, but not an object: the stage is shown again with this `non_field_errors` entry.
    NotObject(ErrorDetail),
    /// Not JSON at all (a bad body, or another content type): `ak-stage-flow-error`.
    Unreadable,
}

/// `POST /api/v3/flows/executor/<slug>/` with a JSON challenge response. Like authentik:
/// another content type or malformed JSON is answered with `ak-stage-flow-error` (HTTP 200);
/// `null`, a list or a scalar shows the stage again with a `non_field_errors` message.
pub(crate) async fn executor_post(
    State(shared): AppState,
    Path(slug): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let answer = match serde_json::from_slice::<Value>(&body) {
        _ if !json => Body::Unreadable,
        Ok(Value::Object(map)) => Body::Object(map),
        Ok(Value::Null) => Body::NotObject(ErrorDetail { string: "No data provided".into(), code: "null".into() }),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float",
                _ => "int",
            };
            let message = format!("Invalid data. Expected a dictionary, but got {kind}.");
            Body::NotObject(ErrorDetail::invalid(message))
        }
        Err(_) => Body::Unreadable,
    };
    match answer {
        Body::Object(map) => execute(&shared, &slug, &uri, &headers, Some(map), None).await,
        Body::Unreadable => {
            shared.delay(Endpoint::Executor).await;
            let request_id: String = random_token(16).bytes().take(16).map(|b| format!("{b:02x}")).collect();
            axum::Json(Challenge::new(ChallengeKind::FlowError { request_id })).into_response()
        }
        Body::NotObject(error) => execute(&shared, &slug, &uri, &headers, None, Some(error)).await,
    }
}

/// One executor request: `body` is the stage's answer (none for a GET); `refused`, an answer
/// refused before any stage saw it, whose message the current challenge is shown again with.
async fn execute(
    shared: &Shared,
    slug: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Option<Map<String, Value>>,
    refused: Option<ErrorDetail>,
) -> Response {
    shared.delay(Endpoint::Executor).await;
    if shared.defects.has(&crate::defects::Defect::Executor502) {
        return (StatusCode::BAD_GATEWAY, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response();
    }
    if !shared.directory().has_flow(slug) {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not found."}))).into_response();
    }
    let session = SessionRef::get(shared, headers);
    let query = uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "query").map(|(_, v)| v.into_owned()))
        .unwrap_or_default();
    let mut changes = crate::directory::DeviceChanges::default();
    let outcome = {
        let dir = shared.directory().clone();
        let mut state = shared.state();
        let consents = state.consents.clone();
        let Some(sess) = state.sessions.get_mut(&session.id) else {
            return (StatusCode::FORBIDDEN, axum::Json(json!({"detail": "No session."}))).into_response();
        };
        if body.is_some() && sess.user.is_some() {
            let sent = headers.get("x-authentik-csrf").and_then(|v| v.to_str().ok());
            if sent != Some(sess.csrf.as_str()) {
                let detail = if sent.is_none() {
                    "CSRF Failed: CSRF token missing."
                } else {
                    "CSRF Failed: CSRF token incorrect."
                };
                return session.attach((StatusCode::FORBIDDEN, axum::Json(json!({"detail": detail}))).into_response());
            }
        }
        sess.site = if shared.defects.has(&Defect::HostNotForwarded) {
            crate::webauthn_setup::Site::of_host("authentik-server:9000")
        } else {
            crate::webauthn_setup::Site::of(headers)
        };
        let outcome = match setup_step(&dir, sess, slug, body, &mut changes) {
            Ok(outcome) => outcome,
            Err(body) => {
                let result = step(shared, &dir, sess, slug, &query, body, &consents);
                if let Some((user, app)) = result.1 {
                    state.consents.insert((user, app));
                }
                result.0
            }
        };
        if let Some(sess) = state.sessions.get_mut(&session.id) {
            changes.used_in(sess, &shared.defects);
        }
        outcome
    };
    changes.apply(&mut shared.directory(), now_secs());
    let response = match outcome {
        Outcome::Challenge(c) => {
            let c = match refused {
                Some(error) => c.with_error("non_field_errors", error),
                None => c,
            };
            axum::Json(c).into_response()
        }
        Outcome::Again => redirect(&uri.to_string()),
        Outcome::Fulfil { params, user, auth_time, amr } => {
            let challenge = match callback_url(shared, &params, user, &session.id, auth_time, amr) {
                Some(to) => redirect_to(to),
                None => access_denied(slug, "", Some("Failed to resolve application")),
            };
            axum::Json(challenge).into_response()
        }
    };
    session.attach(response)
}

/// One executor step. Returns the outcome and a consent to remember.
#[allow(clippy::too_many_arguments)]
fn step(
    shared: &Shared,
    dir: &Directory,
    sess: &mut Session,
    slug: &str,
    query: &str,
    body: Option<Map<String, Value>>,
    consents: &std::collections::HashSet<(u64, String)>,
) -> (Outcome, Option<(u64, String)>) {
    if let Some(flow) = dir.login_flow(slug) {
        return (login::step(dir, sess, flow, query, body, &shared.defects), None);
    }
    if slug == AUTHENTICATION_FLOW {
        if !matches!(sess.plans.get(slug), Some(Plan::Authentication(_))) {
            let next = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "next").map(|(_, v)| v.into_owned());
            let plan = AuthenticationPlan {
                stage: AuthStage::Identification,
                pending_uid: String::new(),
                pending_user: None,
                failed_passwords: 0,
                next,
                amr: Vec::new(),
                webauthn_challenge: None,
            };
            sess.plans.insert(slug.into(), Plan::Authentication(plan));
        }
        return (authentication(dir, sess, slug, body, &shared.defects), None);
    }
    let Some(Plan::Authorization(plan)) = sess.plans.get(slug).cloned() else {
        let user = sess.user.and_then(|u| dir.user(u)).map(|u| u.username.clone()).unwrap_or_default();
        return (Outcome::Challenge(access_denied(slug, &user, Some("Flow does not apply to current user."))), None);
    };
    authorization(shared, dir, sess, slug, plan, body, consents)
}

/// The authentication flow's next step, with the stand-in's `defects` (`passkey-counter-ignored`,
/// `throttled-recovery-codes`).
fn authentication(
    dir: &Directory,
    sess: &mut Session,
    slug: &str,
    body: Option<Map<String, Value>>,
    defects: &crate::defects::Defects,
) -> Outcome {
    let Some(Plan::Authentication(mut plan)) = sess.plans.get(slug).cloned() else {
        unreachable!("the caller created the plan")
    };
    let info = flow_info(slug, None);
    let pending_name =
        plan.pending_user.and_then(|pk| dir.user(pk)).map(|u| u.username.clone()).unwrap_or(plan.pending_uid.clone());
    let outcome = match plan.stage {
        AuthStage::Identification => identification_stage(dir, &mut plan, info, sess.application_pre.as_deref(), body),
        AuthStage::Password => match password_stage(dir, &mut plan, info, &pending_name, body) {
            Some(outcome) => outcome,
            // Too many wrong passwords: authentik cancels the flow, and its plan ends.
            None => {
                sess.plans.remove(slug);
                return Outcome::Challenge(access_denied(slug, &pending_name, None));
            }
        },
        AuthStage::Mfa => mfa_stage(dir, sess, &mut plan, (info, &pending_name), body, defects),
        AuthStage::Login => {
            sess.user = plan.pending_user;
            sess.auth_time = now_secs();
            sess.amr = plan.amr.clone();
            sess.login_uid += 1;
            // The flow's last stage: authentik's `stage_ok` finishes the flow in the same
            // answer (the final redirect challenge), without a redirect to itself first.
            return flow_done(sess, slug, &plan);
        }
    };
    sess.plans.insert(slug.into(), Plan::Authentication(plan));
    outcome
}

/// A string field of an executor answer, empty when it is missing or not a string.
fn body_string(body: &Map<String, Value>, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// What an identification stage of an authentication flow shows: its user fields, a passkey
/// request when it offers passkey sign-in, the application the login is for; no password,
/// captcha, sources or "remember me".
fn identification_fields(
    user_fields: Vec<String>,
    passkey_challenge: Option<Value>,
    application_pre: Option<String>,
) -> IdentificationFields {
    IdentificationFields {
        user_fields: Some(user_fields),
        password_fields: false,
        allow_show_password: false,
        flow_designation: "authentication".into(),
        captcha_stage: None,
        primary_action: "Log in".into(),
        sources: Vec::new(),
        show_source_labels: false,
        enable_remember_me: false,
        passkey_challenge,
        pending_user_identifier: None,
        application_pre,
    }
}

/// The identification stage: any non-blank identifier moves the plan on to the password stage.
fn identification_stage(
    dir: &Directory,
    plan: &mut AuthenticationPlan,
    info: FlowInfo,
    app_pre: Option<&str>,
    body: Option<Map<String, Value>>,
) -> Outcome {
    let fields = identification_fields(vec!["email".into(), "username".into()], None, app_pre.map(String::from));
    let challenge =
        Challenge { flow_info: Some(info), ..Challenge::new(ChallengeKind::Identification(Box::new(fields))) };
    let Some(b) = body else { return Outcome::Challenge(challenge) };
    let uid = body_string(&b, "uid_field");
    if uid.trim().is_empty() {
        return Outcome::Challenge(with_errors(challenge, "non_field_errors", "No identification data provided."));
    }
    // pretend_user_exists: an unknown identifier goes on to the password stage.
    plan.pending_user = dir.user_by_uid(uid.trim()).filter(|u| u.is_active).map(|u| u.pk);
    plan.pending_uid = uid.trim().to_string();
    plan.stage = AuthStage::Password;
    Outcome::Again
}

/// The password stage; `None` when this wrong password reaches [`MAX_PASSWORD_ATTEMPTS`] and the flow is cancelled.
fn password_stage(
    dir: &Directory,
    plan: &mut AuthenticationPlan,
    info: FlowInfo,
    pending_name: &str,
    body: Option<Map<String, Value>>,
) -> Option<Outcome> {
    let challenge = for_user(ChallengeKind::Password { allow_show_password: false }, info, pending_name);
    let Some(b) = body else { return Some(Outcome::Challenge(challenge)) };
    let password = body_string(&b, "password");
    let user = plan.pending_user.and_then(|pk| dir.user(pk));
    let ok = user.and_then(|u| u.password.as_ref()).is_some_and(|p| p.expose() == password);
    if ok {
        plan.amr = vec!["pwd".into()];
        plan.stage = AuthStage::Mfa;
        return Some(Outcome::Again);
    }
    plan.failed_passwords += 1;
    if plan.failed_passwords >= MAX_PASSWORD_ATTEMPTS {
        return None;
    }
    Some(Outcome::Challenge(with_errors(challenge, "password", "Invalid password")))
}

/// The MFA validation stage: skipped for a user without a device (`not_configured_action:
/// skip`), else a code any of their TOTP devices accepts or one of their recovery codes (each
/// once: authentik tries every code-based device, whichever the page showed), or an assertion of
/// one of their passkeys (one `webauthn` device challenge listing them all, with a challenge made
/// when the stage is fetched, as authentik's).
fn mfa_stage(
    dir: &Directory,
    sess: &mut Session,
    plan: &mut AuthenticationPlan,
    (info, pending_name): (FlowInfo, &str),
    body: Option<Map<String, Value>>,
    defects: &crate::defects::Defects,
) -> Outcome {
    let counted = !defects.has(&Defect::PasskeyCounterIgnored);
    let user = plan.pending_user.and_then(|pk| dir.user(pk));
    let devices = user.map(|u| dir.totp_devices_of(&u.username)).unwrap_or_default();
    let passkeys = user.map(|u| dir.webauthn_devices_of(&u.username)).unwrap_or_default();
    let statics = user.map(|u| dir.static_devices_of(&u.username)).unwrap_or_default();
    if devices.is_empty() && passkeys.is_empty() && statics.is_empty() {
        // not_configured_action: skip
        plan.stage = AuthStage::Login;
        return Outcome::Again;
    }
    let selected = body.as_ref().is_some_and(|b| b.get("selected_challenge").is_some_and(Value::is_object));
    let sent = plan.webauthn_challenge.clone();
    // As authentik's: the WebAuthn challenge is made when the stage is fetched (a GET) and kept
    // while the stage answers POSTs (a refused assertion, the device the page shows).
    if body.is_none() || sent.is_none() {
        plan.webauthn_challenge = (!passkeys.is_empty()).then(crate::webauthn_setup::new_challenge);
    }
    let challenge = mfa_challenge(
        (&devices, &passkeys, statics.first().copied()),
        plan.webauthn_challenge.as_deref(),
        &sess.site,
        info,
        pending_name,
    );
    let Some(b) = body else { return Outcome::Challenge(challenge) };
    if selected && b.get("code").is_none() && b.get("webauthn").is_none() {
        return Outcome::Challenge(challenge);
    }
    if let Some(assertion) = b.get("webauthn") {
        let Some(device) = passkeys.iter().find(|d| assertion["id"].as_str() == Some(&d.credential.credential_id))
        else {
            return Outcome::Challenge(with_errors(challenge, "webauthn", "Invalid device"));
        };
        return match verify_passkey(assertion, device, sent.as_deref().unwrap_or_default(), &sess.site, counted) {
            Ok(count) => {
                sess.webauthn_used = Some((device.pk, count));
                mfa_passed(plan)
            }
            Err(_) => Outcome::Challenge(with_errors(challenge, "webauthn", "Assertion failed")),
        };
    }
    let code = body_string(&b, "code");
    let locked = defects.has(&Defect::ThrottledRecoveryCodes);
    match check_code(&code, (&statics, &devices), locked, sess) {
        true => mfa_passed(plan),
        false => Outcome::Challenge(with_errors(
            challenge,
            "code",
            "Invalid Token. Please ensure the time on your device is accurate and try again.",
        )),
    }
}

/// A code typed at the MFA stage, checked as authentik's `match_token` does: against every
/// code-based device of the user, static devices first, then TOTP (the order of authentik's
/// apps), until one accepts it. Each device is throttled as django-otp's are (see
/// [`crate::directory::Throttle`]; every static device, with `statics_locked`, see
/// `throttled-recovery-codes`): a throttled one checks nothing; one that refuses the code
/// counts a failure, a TOTP code on a static device too; one that accepts it is reset. What a
/// device accepted and every throttling are recorded in the session.
fn check_code(
    code: &str,
    (statics, totps): (&[&crate::directory::StaticDevice], &[&crate::directory::TotpDevice]),
    statics_locked: bool,
    sess: &mut Session,
) -> bool {
    use crate::directory::{Checked, CodeDevice};
    // As authentik's: a blank code is refused before any device checks it.
    if code.is_empty() {
        return false;
    }
    let now = ak_protocol::time::now_secs_f64();
    let mut throttles = Vec::new();
    let mut accepted = false;
    for device in statics {
        if statics_locked || !device.throttle.allows(now) {
            continue;
        }
        if device.tokens.iter().any(|t| t.expose() == code) {
            throttles.push((CodeDevice::Static(device.pk), Checked::Accepted));
            sess.static_used = Some((device.pk, code.to_string()));
            accepted = true;
            break;
        }
        throttles.push((CodeDevice::Static(device.pk), Checked::Refused(now)));
    }
    for device in totps.iter().filter(|_| !accepted) {
        if !device.throttle.allows(now) {
            continue;
        }
        let step = totp::verify_after(&device.key_bytes(), code, now as u64, device.digits, device.last_step);
        if let Some(step) = step {
            throttles.push((CodeDevice::Totp(device.pk), Checked::Accepted));
            sess.totp_used = Some((device.pk, step));
            accepted = true;
            break;
        }
        throttles.push((CodeDevice::Totp(device.pk), Checked::Refused(now)));
    }
    sess.throttles = throttles;
    accepted
}

/// A step of an authenticator setup flow (TOTP, static, WebAuthn), the device it made recorded
/// in `changes`; the body back when `slug` is no setup flow.
fn setup_step(
    dir: &Directory,
    sess: &mut Session,
    slug: &str,
    body: Option<Map<String, Value>>,
    changes: &mut crate::directory::DeviceChanges,
) -> Result<Outcome, Option<Map<String, Value>>> {
    let info = flow_info(slug, None);
    let challenge = if slug == crate::directory::TOTP_SETUP_FLOW {
        let (challenge, device) = crate::totp_setup::step(dir, sess, info, body);
        changes.totp_enrolled = device;
        challenge
    } else if slug == crate::directory::STATIC_SETUP_FLOW {
        let (challenge, device) = crate::static_setup::step(dir, sess, info, body);
        changes.static_enrolled = device;
        challenge
    } else if slug == crate::directory::WEBAUTHN_SETUP_FLOW {
        let (challenge, device) = crate::webauthn_setup::step(dir, sess, info, body);
        changes.passkey_registered = device;
        challenge
    } else {
        return Err(body);
    };
    Ok(Outcome::Challenge(challenge))
}

/// The second factor was accepted: the login goes on, with `amr` password and MFA.
fn mfa_passed(plan: &mut AuthenticationPlan) -> Outcome {
    plan.amr = vec!["pwd".into(), "mfa".into()];
    plan.stage = AuthStage::Login;
    Outcome::Again
}

/// The MFA stage's challenge: one `totp` device challenge, one `webauthn` device challenge with
/// the request options listing every passkey of the user, and one `static` (authentik offers
/// each class once).
fn mfa_challenge(
    (devices, passkeys, statics): (
        &[&crate::directory::TotpDevice],
        &[&crate::directory::WebAuthnDevice],
        Option<&crate::directory::StaticDevice>,
    ),
    webauthn_challenge: Option<&str>,
    site: &crate::webauthn_setup::Site,
    info: FlowInfo,
    pending_name: &str,
) -> Challenge {
    // As authentik's: a code-based class is offered once (its code is tried on every device).
    let mut device_challenges: Vec<DeviceChallenge> = devices
        .first()
        .map(|d| DeviceChallenge {
            device_class: "totp".into(),
            device_uid: d.pk.to_string(),
            challenge: Map::new(),
            last_used: d.last_used.clone(),
        })
        .into_iter()
        .collect();
    if let (Some(first), Some(sent)) = (passkeys.first(), webauthn_challenge) {
        let allow: Vec<Value> =
            passkeys.iter().map(|d| json!({"id": d.credential.credential_id, "type": "public-key"})).collect();
        let options = json!({
            "challenge": sent,
            "timeout": 60000,
            "rpId": site.rp_id,
            "allowCredentials": allow,
            "userVerification": "preferred",
        });
        device_challenges.push(DeviceChallenge {
            device_class: "webauthn".into(),
            device_uid: first.pk.to_string(),
            challenge: options.as_object().cloned().unwrap_or_default(),
            last_used: first.last_used.clone(),
        });
    }
    if let Some(device) = statics {
        device_challenges.push(DeviceChallenge {
            device_class: "static".into(),
            device_uid: device.pk.to_string(),
            challenge: Map::new(),
            last_used: device.last_used.clone(),
        });
    }
    let fields = AuthenticatorValidateFields { device_challenges, configuration_stages: Vec::new() };
    for_user(ChallengeKind::AuthenticatorValidate(fields), info, pending_name)
}

/// The authentication flow is done: the plan ends and the executor answers with the redirect to
/// where the flow was started from.
fn flow_done(sess: &mut Session, slug: &str, plan: &AuthenticationPlan) -> Outcome {
    sess.plans.remove(slug);
    redirect_to_next(sess, plan.next.clone())
}

/// An authentication flow is done: the executor answers with the redirect to `next`, where it
/// was started from (a path on authentik; anything else goes to `/`).
fn redirect_to_next(sess: &mut Session, next: Option<String>) -> Outcome {
    sess.application_pre = None;
    let to = next.filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or("/".into());
    Outcome::Challenge(redirect_to(to))
}

/// Checks an assertion of `device`'s over the `challenge` a stage sent, as authentik does at the
/// request's `site` (`counted`: its counter must grow, see `passkey-counter-ignored`); the
/// counter it reached.
fn verify_passkey(
    assertion: &Value,
    device: &crate::directory::WebAuthnDevice,
    challenge: &str,
    site: &crate::webauthn_setup::Site,
    counted: bool,
) -> Result<u32, ak_protocol::webauthn::WebAuthnError> {
    let expected = Expected { challenge, origin: &site.origin, rp_id: &site.rp_id };
    let stored =
        if counted { device.credential.clone() } else { Registered { sign_count: 0, ..device.credential.clone() } };
    verify_assertion(assertion, &expected, &stored)
}

#[allow(clippy::too_many_arguments)]
fn authorization(
    shared: &Shared,
    dir: &Directory,
    sess: &mut Session,
    slug: &str,
    mut plan: AuthorizationPlan,
    body: Option<Map<String, Value>>,
    consents: &std::collections::HashSet<(u64, String)>,
) -> (Outcome, Option<(u64, String)>) {
    let Some(user) = sess.user.and_then(|u| dir.user(u)).cloned() else {
        return (Outcome::Challenge(access_denied(slug, "", Some("Flow does not apply to current user."))), None);
    };
    let app_name = dir.application(&plan.app).map(|a| a.name.clone()).unwrap_or_default();
    let mut remember = None;
    match plan.stage {
        AuthzStage::Consent => {
            if !plan.consent_always && consents.contains(&(user.pk, plan.app.clone())) {
                plan.stage = AuthzStage::Fulfil;
                sess.plans.insert(slug.into(), Plan::Authorization(plan));
                return (Outcome::Again, None);
            }
            let provider = dir.provider_by_client_id(&plan.params.client_id);
            let permissions: Vec<Permission> = provider
                .map(|p| {
                    p.mappings
                        .iter()
                        .filter_map(|m| dir.mapping(m))
                        .filter(|m| plan.params.scopes.contains(&m.scope_name) && !m.description.is_empty())
                        .map(|m| Permission { id: m.scope_name.clone(), name: m.description.clone() })
                        .collect()
                })
                .unwrap_or_default();
            let fields = ConsentFields {
                header_text: Some(format!("You're about to sign into {app_name}.")),
                permissions,
                additional_permissions: Vec::new(),
                token: plan.token.clone(),
            };
            let challenge = for_user(ChallengeKind::Consent(fields), flow_info(slug, Some(&app_name)), &user.username);
            let Some(b) = body else {
                sess.plans.insert(slug.into(), Plan::Authorization(plan));
                return (Outcome::Challenge(challenge), None);
            };
            let token = b.get("token").and_then(Value::as_str).unwrap_or_default();
            if token != plan.token && !shared.defects.has(&Defect::ConsentTokenIgnored) {
                sess.plans.insert(slug.into(), Plan::Authorization(plan));
                return (
                    Outcome::Challenge(with_errors(challenge, "token", "Invalid consent token, re-showing prompt")),
                    None,
                );
            }
            if !plan.consent_always {
                remember = Some((user.pk, plan.app.clone()));
            }
            plan.stage = AuthzStage::Fulfil;
            sess.plans.insert(slug.into(), Plan::Authorization(plan));
            (Outcome::Again, remember)
        }
        AuthzStage::Fulfil => {
            sess.plans.remove(slug);
            let outcome = Outcome::Fulfil {
                params: plan.params,
                user: user.pk,
                auth_time: sess.auth_time,
                amr: sess.amr.clone(),
            };
            (outcome, None)
        }
    }
}
