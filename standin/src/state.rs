//! The stand-in's runtime state: sessions (with their flow plans), authorization codes, tokens
//! and remembered consents. One mutex owns it; no handler holds it across an await.

use std::collections::{HashMap, HashSet};

use crate::plan::Plan;

/// A browser session (`authentik_session` cookie).
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    /// The `authentik_csrf` cookie value that authenticated POSTs must echo.
    pub(crate) csrf: String,
    /// The signed-in user's pk.
    pub(crate) user: Option<u64>,
    /// When they signed in (Unix seconds).
    pub(crate) auth_time: u64,
    /// How (`pwd`, `mfa`).
    pub(crate) amr: Vec<String>,
    /// Increments at each login; `prompt=login` waits for it to move.
    pub(crate) login_uid: u64,
    /// The login a `prompt=login` request saw, so a later request knows a new login happened.
    pub(crate) last_login_uid: Option<u64>,
    /// The application the login is for, shown as `application_pre`.
    pub(crate) application_pre: Option<String>,
    /// Flow plans by flow slug.
    pub(crate) plans: HashMap<String, Plan>,
    /// A TOTP device (pk) and the step whose code it just accepted, to record on the device.
    pub(crate) totp_used: Option<(u64, u64)>,
    /// A passkey (pk) and the counter of the assertion it just gave, to record on the device.
    pub(crate) webauthn_used: Option<(u64, u32)>,
    /// A static device (pk) and the recovery code it just accepted, to remove from the device.
    pub(crate) static_used: Option<(u64, String)>,
    /// What the last code did to the code-based devices it was checked against.
    pub(crate) throttles: Vec<(crate::directory::CodeDevice, crate::directory::Checked)>,
    /// Where the last request reached authentik: its origin and RP ID, as authentik derives them
    /// from the `Host` header (`http://localhost:9000`, `localhost`).
    pub(crate) site: crate::webauthn_setup::Site,
}

/// What a code or token was granted for.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) provider: String,
    pub(crate) user: u64,
    pub(crate) scopes: Vec<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: u64,
    pub(crate) amr: Vec<String>,
    /// SHA-256 of the session key.
    pub(crate) sid: String,
    /// Unix seconds.
    pub(crate) expires: u64,
}

/// An authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) grant: Grant,
    /// authentik re-checks the token request's redirect_uri against the allowed list only,
    /// not against the authorization request's, so it is not kept.
    pub(crate) challenge: Option<(String, String)>,
}

/// Everything that changes at run time.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) codes: HashMap<String, Code>,
    pub(crate) access_tokens: HashMap<String, Grant>,
    pub(crate) refresh_tokens: HashMap<String, Grant>,
    /// (user pk, application slug) pairs that consented.
    pub(crate) consents: HashSet<(u64, String)>,
}
