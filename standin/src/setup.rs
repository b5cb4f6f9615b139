//! What authentik's authenticator setup flows (TOTP, WebAuthn) share: they apply to the
//! signed-in user only, and their challenges name that user.

use ak_protocol::authentik::{Challenge, ChallengeKind, FlowInfo};

use crate::directory::{Directory, User};
use crate::state::Session;

/// A setup flow's challenge of `kind` for `pending_user`.
pub(crate) fn shown(info: &FlowInfo, kind: ChallengeKind, pending_user: &str) -> Challenge {
    Challenge {
        flow_info: Some(info.clone()),
        pending_user: Some(pending_user.into()),
        pending_user_avatar: Some(String::new()),
        ..Challenge::new(kind)
    }
}

/// The signed-in user, or the access-denied challenge authentik answers a session without one.
pub(crate) fn signed_in_user<'d>(
    dir: &'d Directory,
    sess: &Session,
    info: &FlowInfo,
) -> Result<&'d User, Box<Challenge>> {
    sess.user.and_then(|pk| dir.user(pk)).ok_or_else(|| {
        Box::new(Challenge {
            error_message: Some("Flow does not apply to current user.".into()),
            ..shown(info, ChallengeKind::AccessDenied, "")
        })
    })
}
