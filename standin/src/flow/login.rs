//! The authentication flows a blueprint makes ([`LoginFlow`]), run as authentik's flow executor
//! runs them: each bound stage in order, a binding whose policies fail skipped when its stage
//! comes (`re_evaluate_policies`, about the pending user). The stages: identification (a typed
//! identifier, or a passkey as the first factor when it has a `webauthn_stage`), deny, user login.

use ak_protocol::authentik::{Challenge, ChallengeKind, FlowInfo};
use ak_protocol::time::now_secs;
use ak_protocol::webauthn::user_verified;
use serde_json::{Map, Value, json};

use super::{Outcome, body_string, for_user, with_errors};
use crate::defects::{Defect, Defects};
use crate::directory::{BindingSubject, Directory, LoginFlow, StageBinding, StageDef, StageTest};
use crate::plan::{LoginPlan, Plan};
use crate::state::Session;

/// The `auth_method` of a passkey sign-in at identification, and what authentik's ID token says
/// of it: `amr` `user` (authentik's `AMR_WEBAUTHN`).
const PASSKEY_AMR: &str = "user";

/// One executor request on `flow`, with the stand-in's `defects`.
pub(super) fn step(
    dir: &Directory,
    sess: &mut Session,
    flow: &LoginFlow,
    query: &str,
    body: Option<Map<String, Value>>,
    defects: &Defects,
) -> Outcome {
    let counted = !defects.has(&Defect::PasskeyCounterIgnored);
    let slug = flow.slug.as_str();
    let mut plan = match sess.plans.get(slug) {
        Some(Plan::Login(plan)) => plan.clone(),
        _ => LoginPlan {
            next: form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "next").map(|(_, v)| v.into_owned()),
            ..LoginPlan::default()
        },
    };
    let info = FlowInfo { title: flow.title.clone(), ..super::flow_info(slug, None) };
    // The next stage whose binding's policies pass.
    let binding = loop {
        let Some(binding) = flow.bindings.get(plan.at) else {
            // No stage left: the flow is done, with no one signed in unless a stage did.
            sess.plans.remove(slug);
            return super::redirect_to_next(sess, plan.next.clone());
        };
        if passes(dir, binding, &plan) {
            break binding;
        }
        plan.at += 1;
    };
    let pending_name = plan.pending_name(dir);
    let outcome = match dir.stage(&binding.stage) {
        Some(StageDef::Identification { user_fields, pretend_user_exists, webauthn_stage }) => {
            let webauthn_stage = webauthn_stage.as_deref().filter(|_| !defects.has(&Defect::NoPasskeyLogin));
            let uv = webauthn_stage.and_then(|s| match dir.stage(s) {
                Some(StageDef::AuthenticatorValidate { user_verification }) => Some(user_verification.as_str()),
                _ => None,
            });
            let stage = Identification { user_fields, pretend_user_exists: *pretend_user_exists, passkey: uv };
            identification(dir, sess, &mut plan, stage, info, body, counted)
        }
        Some(StageDef::Deny { message }) => {
            sess.plans.remove(slug);
            let denied = for_user(ChallengeKind::AccessDenied, info, &pending_name);
            return Outcome::Challenge(Challenge { error_message: message.clone(), ..denied });
        }
        Some(StageDef::UserLogin) => {
            sess.plans.remove(slug);
            let Some(user) = plan.pending_user else {
                let denied = for_user(ChallengeKind::AccessDenied, info, &pending_name);
                return Outcome::Challenge(Challenge {
                    error_message: Some("No Pending user to login.".into()),
                    ..denied
                });
            };
            // As authentik's user login stage: an inactive user is not signed in.
            if !dir.user(user).is_some_and(|u| u.is_active) {
                return Outcome::Challenge(for_user(ChallengeKind::AccessDenied, info, &pending_name));
            }
            sess.user = Some(user);
            sess.auth_time = now_secs();
            sess.amr = if plan.passkey { vec![PASSKEY_AMR.into()] } else { Vec::new() };
            sess.login_uid += 1;
            return super::redirect_to_next(sess, plan.next.clone());
        }
        // The loader binds no other stage.
        Some(StageDef::AuthenticatorValidate { .. }) | None => {
            sess.plans.remove(slug);
            return Outcome::Challenge(for_user(ChallengeKind::AccessDenied, info, &pending_name));
        }
    };
    sess.plans.insert(slug.into(), Plan::Login(plan));
    outcome
}

/// Whether a binding's stage runs for this plan: its enabled policies about the pending user (a
/// user or group binding, an expression policy), any or all of them. As authentik's engine: a
/// user or group binding fails, negated or not, when no user is known (an unknown name typed).
fn passes(dir: &Directory, binding: &StageBinding, plan: &LoginPlan) -> bool {
    let policies: Vec<&crate::directory::StagePolicy> = binding.policies.iter().filter(|p| p.enabled).collect();
    if policies.is_empty() {
        return true;
    }
    let user = plan.pending_user.and_then(|pk| dir.user(pk));
    let result = |policy: &&crate::directory::StagePolicy| match (&policy.test, user) {
        (StageTest::Subject(_), None) => false,
        (StageTest::Subject(BindingSubject::User(name)), Some(u)) => (u.username == *name) != policy.negate,
        (StageTest::Subject(BindingSubject::Group(name)), Some(u)) => u.groups.contains(name) != policy.negate,
        (StageTest::Expression(test), _) => test.passes(plan.passkey) != policy.negate,
    };
    if binding.mode_all { policies.iter().all(result) } else { policies.iter().any(result) }
}

/// An identification stage as it runs.
struct Identification<'d> {
    user_fields: &'d [String],
    pretend_user_exists: bool,
    /// The user verification its passkey sign-in asks for; none: no passkey sign-in.
    passkey: Option<&'d str>,
}

/// The identification stage: a typed identifier matched against its user fields, or a passkey's
/// assertion for the challenge it sent (any user's passkey: the credential says who it is).
fn identification(
    dir: &Directory,
    sess: &mut Session,
    plan: &mut LoginPlan,
    stage: Identification<'_>,
    info: FlowInfo,
    body: Option<Map<String, Value>>,
    counted: bool,
) -> Outcome {
    let sent = plan.webauthn_challenge.take();
    // As authentik's: every challenge shown carries a new passkey challenge, kept for the answer.
    let challenge_for = |plan: &mut LoginPlan, sess: &Session| {
        plan.webauthn_challenge = stage.passkey.map(|_| crate::webauthn_setup::new_challenge());
        let passkey_challenge = plan.webauthn_challenge.as_ref().zip(stage.passkey).map(|(challenge, uv)| {
            json!({
                "challenge": challenge,
                "timeout": 60000,
                "rpId": sess.site.rp_id,
                "allowCredentials": [],
                "userVerification": uv,
            })
        });
        let fields =
            super::identification_fields(stage.user_fields.to_vec(), passkey_challenge, sess.application_pre.clone());
        Challenge { flow_info: Some(info.clone()), ..Challenge::new(ChallengeKind::Identification(Box::new(fields))) }
    };
    let Some(b) = body else { return Outcome::Challenge(challenge_for(plan, sess)) };
    if let Some(assertion) = b.get("passkey").filter(|p| p.is_object()) {
        let refused = |plan: &mut LoginPlan, sess: &Session, message: &str| {
            Outcome::Challenge(with_errors(challenge_for(plan, sess), "non_field_errors", message))
        };
        let (Some(uv), Some(sent)) = (stage.passkey, sent) else {
            return refused(plan, sess, "Invalid device");
        };
        let id = assertion["id"].as_str().unwrap_or_default().trim_end_matches('=');
        let Some(device) = dir.webauthn_devices.iter().find(|d| d.credential.credential_id == id) else {
            return refused(plan, sess, "Invalid device");
        };
        // As authentik's: a signed-in user (signing in again) may use only their own passkey.
        let signed_in = sess.user.and_then(|pk| dir.user(pk));
        if signed_in.is_some_and(|u| u.username != device.user) {
            return refused(plan, sess, "Invalid device");
        }
        return match super::verify_passkey(assertion, device, &sent, &sess.site, counted) {
            Ok(count) if uv != "required" || user_verified(assertion) => {
                sess.webauthn_used = Some((device.pk, count));
                plan.pending_user = dir.users.iter().find(|u| u.username == device.user).map(|u| u.pk);
                plan.pending_uid = device.user.clone();
                plan.passkey = true;
                plan.at += 1;
                Outcome::Again
            }
            _ => refused(plan, sess, "Assertion failed"),
        };
    }
    let uid = body_string(&b, "uid_field");
    let uid = uid.trim();
    if uid.is_empty() {
        let shown = challenge_for(plan, sess);
        return Outcome::Challenge(with_errors(shown, "non_field_errors", "No identification data provided."));
    }
    let user = dir.user_by_fields(uid, stage.user_fields);
    if user.is_none() && !stage.pretend_user_exists {
        let shown = challenge_for(plan, sess);
        return Outcome::Challenge(with_errors(shown, "non_field_errors", "Failed to authenticate."));
    }
    plan.pending_user = user.map(|u| u.pk);
    plan.pending_uid = uid.to_string();
    plan.at += 1;
    Outcome::Again
}

impl LoginPlan {
    /// The pending user's name as stages show it: the user's, else what was typed.
    fn pending_name(&self, dir: &Directory) -> String {
        self.pending_user.and_then(|pk| dir.user(pk)).map(|u| u.username.clone()).unwrap_or(self.pending_uid.clone())
    }
}
