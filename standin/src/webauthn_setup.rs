//! `default-authenticator-webauthn-setup`: authentik's own flow that registers a passkey for the
//! signed-in user. Its challenge (`ak-stage-authenticator-webauthn`) carries the registration
//! options py_webauthn makes (`registration`); answering with a credential that passes the
//! relying party's checks (client data, RP ID hash, user presence, an ES256 key) registers the
//! device, and the flow ends with a redirect to `/`. The origin and RP ID are what authentik
//! derives from the request's `Host` header.

use ak_protocol::authentik::{Challenge, ChallengeKind, ErrorDetail, FlowInfo};
use ak_protocol::webauthn::{Expected, b64, verify_registration};
use serde_json::{Map, Value, json};

use crate::directory::{Directory, WEBAUTHN_SETUP_FLOW, WebAuthnDevice};
use crate::plan::Plan;
use crate::state::Session;

/// Where a request reached authentik, for WebAuthn: the origin clients sign for and the RP ID.
#[derive(Debug, Clone, Default)]
pub(crate) struct Site {
    pub(crate) origin: String,
    pub(crate) rp_id: String,
}

impl Site {
    /// As authentik's `get_origin` / `get_rp_id`: `http://` and the `Host` header; the host
    /// without its port.
    pub(crate) fn of(headers: &axum::http::HeaderMap) -> Self {
        Self::of_host(headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost"))
    }

    /// For a request whose `Host` header is `host`.
    pub(crate) fn of_host(host: &str) -> Self {
        let rp_id = host.split(':').next().unwrap_or(host);
        Self { origin: format!("http://{host}"), rp_id: rp_id.to_string() }
    }
}

/// A new challenge: 64 random bytes, base64url, as py_webauthn makes them.
pub(crate) fn new_challenge() -> String {
    let bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
    b64(&bytes)
}

/// One step of the setup flow. Returns the challenge and, once a credential passed, the device.
pub(crate) fn step(
    dir: &Directory,
    sess: &mut Session,
    info: FlowInfo,
    body: Option<Map<String, Value>>,
) -> (Challenge, Option<WebAuthnDevice>) {
    let user = match crate::setup::signed_in_user(dir, sess, &info) {
        Ok(user) => user,
        Err(denied) => return (*denied, None),
    };
    let shown = |kind: ChallengeKind, pending_user: &str| crate::setup::shown(&info, kind, pending_user);
    let sent = match (&body, sess.plans.get(WEBAUTHN_SETUP_FLOW)) {
        (Some(_), Some(Plan::WebAuthnSetup(challenge))) => Some(challenge.clone()),
        _ => None,
    };
    // Each challenge shown is new (authentik makes one in every `get_challenge`).
    let fresh = new_challenge();
    sess.plans.insert(WEBAUTHN_SETUP_FLOW.into(), Plan::WebAuthnSetup(fresh.clone()));
    let algorithms: Vec<Value> = [-7, -8, -36, -37, -38, -39, -257, -258, -259]
        .iter()
        .map(|a| json!({"type": "public-key", "alg": a}))
        .collect();
    let registration = json!({
        "rp": {"name": "authentik", "id": sess.site.rp_id},
        "user": {"id": b64(user.uuid.as_bytes()), "name": user.username, "displayName": user.name},
        "challenge": fresh,
        "pubKeyCredParams": algorithms,
        "timeout": 60000,
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "preferred", "requireResidentKey": false, "userVerification": "preferred"},
        "attestation": "direct",
    });
    let challenge = shown(ChallengeKind::AuthenticatorWebAuthn { registration }, &user.username);
    let (Some(body), Some(sent)) = (body, sent) else { return (challenge, None) };
    let response = body.get("response").cloned().unwrap_or(Value::Null);
    let expected = Expected { challenge: &sent, origin: &sess.site.origin, rp_id: &sess.site.rp_id };
    let refused = |message: String| challenge.clone().with_error("response", ErrorDetail::invalid(&message));
    let credential = match verify_registration(&response, &expected) {
        Ok(credential) => credential,
        Err(e) => return (refused(format!("Registration failed. Error: {e}")), None),
    };
    if dir.webauthn_devices.iter().any(|d| d.credential.credential_id == credential.credential_id) {
        return (refused("Credential ID already exists.".into()), None);
    }
    sess.plans.remove(WEBAUTHN_SETUP_FLOW);
    let device = WebAuthnDevice {
        pk: 0,
        user: user.username.clone(),
        name: "WebAuthn Device".into(),
        credential,
        last_used: None,
    };
    (Challenge::new(ChallengeKind::Redirect { to: "/".into() }), Some(device))
}
