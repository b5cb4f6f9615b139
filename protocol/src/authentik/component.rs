//! The `component` of each flow-executor challenge ak-e2e answers or reads: the one place these
//! names are spelled, for the drivers, the pre-run checks, `provision` and the stand-in.

/// The identification stage: a username or email.
pub const IDENTIFICATION: &str = "ak-stage-identification";
/// The password stage.
pub const PASSWORD: &str = "ak-stage-password";
/// The MFA validation stage (a TOTP code, among others).
pub const AUTHENTICATOR_VALIDATE: &str = "ak-stage-authenticator-validate";
/// The consent stage of an explicit-consent authorization flow.
pub const CONSENT: &str = "ak-stage-consent";
/// Access denied: a policy refused the user, or the flow was cancelled.
pub const ACCESS_DENIED: &str = "ak-stage-access-denied";
/// Not a stage: the flow is done and the browser goes to `to`.
pub const REDIRECT: &str = "xak-flow-redirect";
/// The flow failed on authentik's side (an exception, a bad request body).
pub const FLOW_ERROR: &str = "ak-stage-flow-error";
/// The TOTP setup stage: a secret offered as `config_url`, confirmed with a code.
pub const AUTHENTICATOR_TOTP: &str = "ak-stage-authenticator-totp";
