//! `default-authenticator-static-setup`: authentik's own flow that gives the signed-in user
//! recovery codes. The first challenge (`ak-stage-authenticator-static`) shows new codes (six of
//! twelve characters, as authentik's default stage makes them), kept for the session until
//! answered; answering (no fields) confirms them as a new static device, and the flow ends with a
//! redirect to `/`.

use ak_protocol::authentik::{Challenge, ChallengeKind, FlowInfo};
use ak_protocol::secret::Secret;
use serde_json::{Map, Value};

use crate::directory::{Directory, STATIC_SETUP_FLOW, StaticDevice};
use crate::plan::Plan;
use crate::state::Session;

/// How many codes, and how long each (authentik's `token_count` and `token_length` defaults).
const COUNT: usize = 6;
const LENGTH: usize = 12;

/// One step of the setup flow. Returns the challenge and, once answered, the device.
pub(crate) fn step(
    dir: &Directory,
    sess: &mut Session,
    info: FlowInfo,
    body: Option<Map<String, Value>>,
) -> (Challenge, Option<StaticDevice>) {
    let user = match crate::setup::signed_in_user(dir, sess, &info) {
        Ok(user) => user,
        Err(denied) => return (*denied, None),
    };
    let codes = match sess.plans.get(STATIC_SETUP_FLOW) {
        Some(Plan::StaticSetup(codes)) => codes.clone(),
        _ => {
            let codes: Vec<String> = (0..COUNT).map(|_| new_code()).collect();
            sess.plans.insert(STATIC_SETUP_FLOW.into(), Plan::StaticSetup(codes.clone()));
            codes
        }
    };
    if body.is_none() {
        let kind = ChallengeKind::AuthenticatorStatic { codes: codes.iter().map(Secret::new).collect() };
        return (crate::setup::shown(&info, kind, &user.username), None);
    }
    sess.plans.remove(STATIC_SETUP_FLOW);
    let device = StaticDevice {
        pk: 0,
        user: user.username.clone(),
        name: "Static Token".into(),
        tokens: codes.into_iter().map(Secret::new).collect(),
        last_used: None,
        throttle: Default::default(),
    };
    (Challenge::new(ChallengeKind::Redirect { to: "/".into() }), Some(device))
}

/// A code as authentik's `generate_id` makes one: letters and digits.
pub(crate) fn new_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..LENGTH).map(|_| ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()] as char).collect()
}
