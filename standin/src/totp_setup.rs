//! `default-authenticator-totp-setup`: authentik's own flow that enrolls a TOTP device for the
//! signed-in user. The first challenge (`ak-stage-authenticator-totp`) carries a fresh secret in
//! its `config_url` (`otpauth://totp/authentik%3A<user>?secret=<BASE32>&…`); answering with a
//! current code confirms the device, and the flow ends with a redirect to `/`.

use ak_protocol::authentik::component;
use serde_json::{Map, Value, json};

use crate::directory::{Directory, TOTP_SETUP_FLOW, TotpDevice};
use crate::plan::Plan;
use crate::state::Session;
use ak_protocol::secret::Secret;

/// One step of the setup flow. Returns the challenge and, once a code confirmed it, the device.
pub(crate) fn step(
    dir: &Directory,
    sess: &mut Session,
    info: Value,
    body: Option<Map<String, Value>>,
) -> (Value, Option<TotpDevice>) {
    let Some(user) = sess.user.and_then(|pk| dir.user(pk)) else {
        let denied = json!({
            "component": component::ACCESS_DENIED,
            "flow_info": info,
            "pending_user": "",
            "pending_user_avatar": "",
            "error_message": "Flow does not apply to current user.",
        });
        return (denied, None);
    };
    let secret = match sess.plans.get(TOTP_SETUP_FLOW) {
        Some(Plan::TotpSetup(secret)) => secret.clone(),
        _ => {
            let secret: Vec<u8> = (0..20).map(|_| rand::random::<u8>()).collect();
            sess.plans.insert(TOTP_SETUP_FLOW.into(), Plan::TotpSetup(secret.clone()));
            secret
        }
    };
    let challenge = |errors: Option<Value>| {
        let mut c = json!({
            "flow_info": info,
            "component": component::AUTHENTICATOR_TOTP,
            "pending_user": user.username,
            "pending_user_avatar": "",
            "config_url": format!(
                "otpauth://totp/authentik%3A{}?secret={}&algorithm=SHA1&digits=6&period=30&issuer=authentik",
                form_urlencoded::byte_serialize(user.username.as_bytes()).collect::<String>(),
                ak_protocol::totp::encode_base32(&secret)
            ),
        });
        if let Some(errors) = errors {
            c["response_errors"] = errors;
        }
        c
    };
    let Some(body) = body else { return (challenge(None), None) };
    let code = body.get("code").and_then(Value::as_str).unwrap_or_default();
    if !ak_protocol::totp::verify(&secret, code, ak_protocol::time::now_secs(), 6) {
        let errors = json!({"code": [{"string": "Code does not match", "code": "invalid"}]});
        return (challenge(Some(errors)), None);
    }
    sess.plans.remove(TOTP_SETUP_FLOW);
    let device = TotpDevice {
        pk: 0,
        user: user.username.clone(),
        name: format!("{}'s TOTP device", user.username),
        key: Secret::new(ak_protocol::totp::encode_hex(&secret)),
        confirmed: true,
        digits: 6,
        last_step: None,
    };
    (json!({"component": component::REDIRECT, "to": "/"}), Some(device))
}
