//! The flows in progress, one per session: what authentik's flow planner would hold (the
//! stage reached, the pending user, the authorization request being fulfilled).

use ak_protocol::jose::random_token;

/// The parameters of an authorization request.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeParams {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<(String, String)>,
    /// The request's query (or form body), to carry into flow URLs.
    pub(crate) raw: String,
}

/// A flow in progress in one session.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// `default-authentication-flow`.
    Authentication(AuthenticationPlan),
    /// An authorization flow started by `/application/o/authorize/`.
    Authorization(AuthorizationPlan),
    /// `default-authenticator-totp-setup`, with the secret it offered.
    TotpSetup(Vec<u8>),
    /// The static setup flow: the codes shown, not confirmed yet.
    StaticSetup(Vec<String>),
    /// `default-authenticator-webauthn-setup`, with the challenge it sent.
    WebAuthnSetup(String),
    /// An authentication flow a blueprint made.
    Login(LoginPlan),
}

/// The progress of an authentication flow a blueprint made (`crate::directory::LoginFlow`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LoginPlan {
    /// The index of the stage binding reached.
    pub(crate) at: usize,
    /// What was typed at identification (or the passkey's owner).
    pub(crate) pending_uid: String,
    /// The user identified, if any (`pretend_user_exists` goes on without one).
    pub(crate) pending_user: Option<u64>,
    /// The user was identified by a passkey (`auth_method` `auth_webauthn_pwl`).
    pub(crate) passkey: bool,
    /// Where the flow goes when it is done.
    pub(crate) next: Option<String>,
    /// The passkey challenge the identification stage sent last (base64url).
    pub(crate) webauthn_challenge: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthStage {
    Identification,
    Password,
    Mfa,
    Login,
}

/// The authentication flow's progress.
#[derive(Debug, Clone)]
pub(crate) struct AuthenticationPlan {
    pub(crate) stage: AuthStage,
    /// What was typed at identification.
    pub(crate) pending_uid: String,
    /// The matching user, if any (`pretend_user_exists` goes on without one).
    pub(crate) pending_user: Option<u64>,
    pub(crate) failed_passwords: u32,
    pub(crate) next: Option<String>,
    pub(crate) amr: Vec<String>,
    /// The WebAuthn challenge the MFA stage sent last (base64url).
    pub(crate) webauthn_challenge: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthzStage {
    Consent,
    Fulfil,
}

/// An authorization flow's progress.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationPlan {
    pub(crate) params: AuthorizeParams,
    pub(crate) app: String,
    /// Consent on every request (`prompt=consent`, or an in-memory stage) instead of remembered.
    pub(crate) consent_always: bool,
    pub(crate) stage: AuthzStage,
    pub(crate) token: String,
}

impl AuthorizationPlan {
    pub(crate) fn new(params: AuthorizeParams, app: String, consent_always: bool) -> Self {
        Self { params, app, consent_always, stage: AuthzStage::Consent, token: random_token(24) }
    }
}
