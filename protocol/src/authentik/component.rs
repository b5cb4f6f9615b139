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
/// The WebAuthn setup stage: registration options, answered with a new credential.
pub const AUTHENTICATOR_WEBAUTHN: &str = "ak-stage-authenticator-webauthn";
/// The static (recovery) codes setup stage: the new codes shown, confirmed by answering.
pub const AUTHENTICATOR_STATIC: &str = "ak-stage-authenticator-static";

/// The stages a scenario can expect the login at (`expect_authentik: { stage: password }`), each
/// with its name in scenario files and its component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// [`IDENTIFICATION`].
    Identification,
    /// [`PASSWORD`].
    Password,
    /// [`AUTHENTICATOR_VALIDATE`].
    AuthenticatorValidate,
    /// [`CONSENT`].
    Consent,
    /// [`ACCESS_DENIED`].
    AccessDenied,
}

impl Component {
    /// Every one, with its name in scenario files and its component.
    pub const ALL: &'static [(Component, &'static str, &'static str)] = &[
        (Component::Identification, "identification", IDENTIFICATION),
        (Component::Password, "password", PASSWORD),
        (Component::AuthenticatorValidate, "authenticator_validate", AUTHENTICATOR_VALIDATE),
        (Component::Consent, "consent", CONSENT),
        (Component::AccessDenied, "access_denied", ACCESS_DENIED),
    ];

    /// The names scenario files use.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, name, _)| *name).collect()
    }

    /// The stage a scenario file names.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n, _)| *n == name).map(|(c, _, _)| *c)
    }

    /// The component authentik's challenge carries for it.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(c, _, _)| *c == self).map_or("?", |(_, _, component)| component)
    }
}
