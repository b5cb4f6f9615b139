//! `default-authenticator-totp-setup`: authentik's own flow that enrolls a TOTP device for the
//! signed-in user. The first challenge (`ak-stage-authenticator-totp`) carries a fresh secret in
//! its `config_url` (`otpauth://totp/authentik%3A<user>?secret=<BASE32>&…`); answering with a
//! current code confirms the device, and the flow ends with a redirect to `/`.

use ak_protocol::authentik::{Challenge, ChallengeKind, ErrorDetail, FlowInfo};
use serde_json::{Map, Value};

use crate::directory::{Directory, TOTP_SETUP_FLOW, TotpDevice};
use crate::plan::Plan;
use crate::state::Session;
use ak_protocol::secret::Secret;

/// One step of the setup flow. Returns the challenge and, once a code confirmed it, the device.
pub(crate) fn step(
    dir: &Directory,
    sess: &mut Session,
    info: FlowInfo,
    body: Option<Map<String, Value>>,
) -> (Challenge, Option<TotpDevice>) {
    let user = match crate::setup::signed_in_user(dir, sess, &info) {
        Ok(user) => user,
        Err(denied) => return (*denied, None),
    };
    let shown = |kind: ChallengeKind, pending_user: &str| crate::setup::shown(&info, kind, pending_user);
    let secret = match sess.plans.get(TOTP_SETUP_FLOW) {
        Some(Plan::TotpSetup(secret)) => secret.clone(),
        _ => {
            let secret: Vec<u8> = (0..20).map(|_| rand::random::<u8>()).collect();
            sess.plans.insert(TOTP_SETUP_FLOW.into(), Plan::TotpSetup(secret.clone()));
            secret
        }
    };
    let config_url = format!(
        "otpauth://totp/authentik%3A{}?secret={}&algorithm=SHA1&digits=6&period=30&issuer=authentik",
        form_urlencoded::byte_serialize(user.username.as_bytes()).collect::<String>(),
        ak_protocol::totp::encode_base32(&secret)
    );
    let challenge = shown(ChallengeKind::AuthenticatorTotp { config_url: Secret::new(config_url) }, &user.username);
    let Some(body) = body else { return (challenge, None) };
    let code = body.get("code").and_then(Value::as_str).unwrap_or_default();
    if !ak_protocol::totp::verify(&secret, code, ak_protocol::time::now_secs(), 6) {
        return (challenge.with_error("code", ErrorDetail::invalid("Code does not match")), None);
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
        last_used: None,
        throttle: Default::default(),
    };
    (Challenge::new(ChallengeKind::Redirect { to: "/".into() }), Some(device))
}
