//! The record of each sign-in attempt: what the mock sent, what it got back, every check it made
//! and the verdict. Served as JSON at `/_mock/attempts`; the harness reads claims from here in
//! browser mode. Raw tokens, codes and secrets are never recorded.

use serde::Serialize;
use serde_json::{Map, Value};

/// Declares [`ErrorCode`] from one table: variant => (code, HTTP status, title).
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => ($name:literal, $status:literal, $title:literal),)*) => {
        /// Why a sign-in failed. Each has its own machine-readable code, shown on the error page
        /// (`data-testid="error-code"`) and in the attempt record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the flow.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];

            /// The code as written on the error page and in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The HTTP status of the error page: 403 for the workspace's policy refusals, 502
            /// for identity-provider failures, 400 for the browser's own bad requests.
            pub fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }

            /// A one-line explanation for people, shown above the code.
            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title,)* }
            }
        }
    };
}

error_codes! {
    /// The email typed at `/auth/login` is outside every verified domain; no redirect happened.
    EmailDomainNotVerified => ("email_domain_not_verified", 403, "This email domain is not set up for single sign-on"),
    /// The direct sign-in link names a connection this workspace does not have.
    UnknownConnection => ("unknown_connection", 400, "Unknown SSO connection"),
    /// The discovery document could not be fetched (network error or non-200).
    DiscoveryUnreachable => ("discovery_unreachable", 502, "The identity provider's discovery document could not be fetched"),
    /// The discovery document is not JSON or lacks a required member.
    DiscoveryMalformed => ("discovery_malformed", 502, "The identity provider's discovery document is invalid"),
    /// The discovery `issuer` is not the discovery URL minus `/.well-known/openid-configuration`.
    DiscoveryIssuerMismatch => ("discovery_issuer_mismatch", 502, "The discovery issuer does not match the discovery URL"),
    /// The callback has no `state`.
    StateMissing => ("state_missing", 400, "The sign-in response has no state"),
    /// The callback's `state` is unknown or not bound to this browser.
    StateMismatch => ("state_mismatch", 400, "The sign-in response does not belong to this browser"),
    /// The callback's `state` was already used by an earlier callback.
    StateReplayed => ("state_replayed", 400, "This sign-in response was already used"),
    /// The identity provider redirected back with `error=`.
    IdpError => ("idp_error", 502, "The identity provider returned an error"),
    /// The callback has neither `code` nor `error`.
    CodeMissing => ("code_missing", 400, "The sign-in response has no authorization code"),
    /// The token endpoint answered `invalid_client` (wrong client id or secret, or auth method).
    TokenInvalidClient => ("token_invalid_client", 502, "The identity provider rejected the client credentials"),
    /// The token endpoint answered `invalid_grant` (code unknown, expired, reused, PKCE).
    TokenInvalidGrant => ("token_invalid_grant", 502, "The identity provider rejected the authorization code"),
    /// The token endpoint failed otherwise (unreachable, 5xx, another error).
    TokenEndpointError => ("token_endpoint_error", 502, "The identity provider's token endpoint failed"),
    /// The token response is not JSON or has no `id_token`.
    TokenResponseMalformed => ("token_response_malformed", 502, "The token response is invalid"),
    /// The ID token is not a well-formed JWT or lacks `exp`/`iat`.
    IdTokenMalformed => ("id_token_malformed", 502, "The ID token is malformed"),
    /// The ID token is unsigned (`alg: none`).
    IdTokenAlgNone => ("id_token_alg_none", 502, "The ID token is unsigned"),
    /// The ID token's `alg` is not accepted by the workspace or not advertised in discovery.
    IdTokenAlgNotAllowed => ("id_token_alg_not_allowed", 502, "The ID token's signature algorithm is not accepted"),
    /// The JWKS could not be fetched or parsed.
    JwksUnreachable => ("jwks_unreachable", 502, "The identity provider's signing keys could not be fetched"),
    /// No JWKS key has the ID token's `kid`.
    IdTokenUnknownKid => ("id_token_unknown_kid", 502, "The ID token is signed with an unknown key"),
    /// The ID token's signature does not verify.
    IdTokenBadSignature => ("id_token_bad_signature", 502, "The ID token's signature is invalid"),
    /// `iss` is not byte-equal to the discovery `issuer`.
    IssuerMismatch => ("issuer_mismatch", 502, "The ID token's issuer does not match"),
    /// `aud` does not contain the client id (or `azp` names another client).
    AudienceMismatch => ("audience_mismatch", 502, "The ID token is for another client"),
    /// `exp` is in the past, beyond the allowed skew.
    IdTokenExpired => ("id_token_expired", 502, "The ID token has expired"),
    /// `iat` is in the future, beyond the allowed skew.
    IdTokenIatInFuture => ("id_token_iat_in_future", 502, "The ID token is issued in the future"),
    /// `nonce` is missing or not the one sent.
    NonceMismatch => ("nonce_mismatch", 502, "The ID token's nonce does not match"),
    /// `at_hash` does not match the access token.
    AtHashMismatch => ("at_hash_mismatch", 502, "The ID token's at_hash does not match the access token"),
    /// The userinfo endpoint failed (unreachable, non-200, not a JSON object).
    UserinfoFailed => ("userinfo_failed", 502, "The userinfo request failed"),
    /// userinfo's `sub` differs from the ID token's.
    UserinfoSubMismatch => ("userinfo_sub_mismatch", 502, "userinfo describes another subject"),
    /// The ID token has no non-empty `sub`.
    MissingClaimSub => ("missing_claim_sub", 502, "The ID token has no sub claim"),
    /// The ID token has no non-empty `email`.
    MissingClaimEmail => ("missing_claim_email", 502, "The ID token has no email claim"),
    /// The ID token has no non-empty `given_name`.
    MissingClaimGivenName => ("missing_claim_given_name", 502, "The ID token has no given_name claim"),
    /// The ID token has no non-empty `family_name`.
    MissingClaimFamilyName => ("missing_claim_family_name", 502, "The ID token has no family_name claim"),
    /// The ID token's `email` is outside every verified domain.
    ClaimEmailDomainNotVerified => ("claim_email_domain_not_verified", 403, "The signed-in email is outside the verified domains"),
    /// `email_verified` is not `true` and the workspace requires it.
    EmailNotVerified => ("email_not_verified", 403, "The identity provider has not verified this email"),
    /// The user is not a workspace member and automatic account creation is off.
    UserNotInWorkspace => ("user_not_in_workspace", 403, "This email has not been added to your ChatGPT workspace"),
    /// The request itself is malformed (bad query, wrong method, oversized input).
    BadRequest => ("bad_request", 400, "Bad request"),
}

impl ErrorCode {
    /// The code written as on the error page (`missing_claim_family_name`).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// What to check, in authentik or in the workspace, when a login ends with this code.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            Self::MissingClaimFamilyName | Self::MissingClaimGivenName => {
                "authentik's default `profile` scope mapping emits no `family_name` and puts the full name in \
             `given_name`; attach a custom `profile` mapping that returns both (blueprints/chatgpt.yaml has one)"
            }
            Self::MissingClaimEmail => "attach the `email` scope mapping to the provider (Property mappings / Scopes)",
            Self::MissingClaimSub => "check the provider's Subject mode",
            Self::EmailDomainNotVerified | Self::ClaimEmailDomainNotVerified => {
                "the user's email domain is not a verified domain of the ChatGPT workspace"
            }
            Self::DiscoveryUnreachable | Self::DiscoveryMalformed => {
                "check the discovery URL ChatGPT was given: https://<authentik>/application/o/<slug>/.well-known/openid-configuration"
            }
            Self::DiscoveryIssuerMismatch | Self::IssuerMismatch => {
                "the issuer must be byte-equal to `<authentik>/application/o/<slug>/` (trailing slash, scheme): check the \
             provider's issuer mode and, behind a proxy, AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"
            }
            Self::TokenInvalidClient => {
                "the client secret (or client id) ChatGPT was given differs from the provider's, or the redirect URI \
             is not registered"
            }
            Self::TokenInvalidGrant => "the code was refused: reused, expired, or a PKCE mismatch",
            Self::TokenEndpointError | Self::TokenResponseMalformed => {
                "authentik's token endpoint failed; check its logs"
            }
            Self::IdTokenAlgNotAllowed | Self::IdTokenAlgNone => {
                "select a signing key (certificate) on the provider: without one authentik signs HS256 with the client secret"
            }
            Self::IdTokenUnknownKid | Self::IdTokenBadSignature | Self::JwksUnreachable => {
                "the ID token is not signed by the key the provider's JWKS publishes; check the provider's signing key"
            }
            Self::AudienceMismatch => "the client id ChatGPT was given differs from the provider's",
            Self::IdTokenExpired | Self::IdTokenIatInFuture => {
                "check the clocks of authentik and ChatGPT, and the token validity"
            }
            Self::NonceMismatch => "authentik did not echo the nonce ChatGPT sent",
            Self::EmailNotVerified => {
                "authentik's default `email` mapping sends email_verified: false since 2025.10; the workspace requires true"
            }
            Self::UserNotInWorkspace => "add the user to the ChatGPT workspace or turn automatic account creation on",
            Self::IdpError => "authentik answered with an OAuth error; its description says why",
            Self::StateMismatch | Self::StateMissing | Self::StateReplayed => {
                "the callback did not come from this browser's login"
            }
            _ => return None,
        })
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        ErrorCode::parse(&code).ok_or_else(|| serde::de::Error::custom(format!("no ChatGPT error code `{code}`")))
    }
}

/// A failure: its code and a detail naming the values involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Failure {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// What exactly was wrong (expected and actual values; never a secret).
    pub detail: String,
    /// The identity provider did not answer within the deadline: a slow or stalled server, not
    /// a setting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

impl Failure {
    /// A failure with a detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), timed_out: false }
    }

    /// The same failure, marked as the deadline passing.
    pub fn as_timeout(self) -> Self {
        Self { timed_out: true, ..self }
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check held.
    Pass,
    /// The check failed; the attempt fails with it.
    Fail,
    /// Recorded for information only (e.g. `email_verified` when not required).
    Note,
}

/// One check made during an attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable name, e.g. `id_token.iss`.
    pub name: &'static str,
    /// Its outcome.
    pub outcome: Outcome,
    /// Expected and actual, or what was found.
    pub detail: String,
}

/// Where an attempt started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// "Log in" with an email at `/auth/login`.
    Login,
    /// The direct sign-in link `/auth/login?sso=true&connection=…`.
    DirectLink,
    /// "Test Single Sign-On" in `/admin/identity`.
    AdminTest,
    /// A callback that matched no attempt started here.
    UnsolicitedCallback,
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Redirected to the identity provider; no callback yet.
    Pending,
    /// Signed in.
    Success,
    /// Refused; see `error`.
    Failure,
}

/// What the token endpoint answered, without the tokens.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenResponseRecord {
    /// HTTP status.
    pub status: u16,
    /// `token_type`.
    pub token_type: Option<String>,
    /// `expires_in`.
    pub expires_in: Option<i64>,
    /// `scope`.
    pub scope: Option<String>,
    /// Whether an `id_token` was present.
    pub has_id_token: bool,
    /// Whether an `access_token` was present.
    pub has_access_token: bool,
    /// Whether a `refresh_token` was present.
    pub has_refresh_token: bool,
    /// `error`, on refusal.
    pub error: Option<String>,
    /// `error_description`, on refusal.
    pub error_description: Option<String>,
}

/// The signed-in user as ChatGPT maps the claims (WorkOS profile fields).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Profile {
    /// `sub`.
    pub idp_id: String,
    /// `email`.
    pub email: String,
    /// `given_name`.
    pub first_name: String,
    /// `family_name`.
    pub last_name: String,
}

/// One sign-in attempt, from "Log in" to the landing or the error page.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// Sequence number, from 1.
    pub id: u64,
    /// How it started.
    pub mode: Mode,
    /// Seconds since the Unix epoch when it started.
    pub started_at: u64,
    /// The email typed at login, if any.
    pub email: Option<String>,
    /// The discovery URL used.
    pub discovery_url: String,
    /// The issuer the discovery document named.
    pub issuer: Option<String>,
    /// The authorization request the browser was sent to.
    pub authorize_url: Option<String>,
    /// The `state` of that request, which the callback must bring back (also in the URL; not a
    /// secret).
    pub state: Option<String>,
    /// The callback's query parameters (`code` shown as `[redacted]`).
    pub callback_query: Option<Map<String, Value>>,
    /// The token endpoint's answer.
    pub token_response: Option<TokenResponseRecord>,
    /// The ID token's decoded header.
    pub id_token_header: Option<Map<String, Value>>,
    /// The ID token's decoded claims.
    pub id_token_claims: Option<Map<String, Value>>,
    /// The userinfo response.
    pub userinfo: Option<Map<String, Value>>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Success or failure of the attempt.
    pub verdict: Verdict,
    /// The failure, when the verdict is `failure`.
    pub error: Option<Failure>,
    /// The profile, when the verdict is `success`.
    pub profile: Option<Profile>,
    /// How long its parts at the callback took, in order (milliseconds): the token request, the
    /// ID token's validation, the userinfo request.
    pub timings: Vec<(&'static str, f64)>,
}

impl Attempt {
    /// A new attempt, pending, with nothing recorded yet.
    pub fn new(id: u64, mode: Mode, discovery_url: String) -> Self {
        Self {
            id,
            mode,
            started_at: now_secs(),
            email: None,
            discovery_url,
            issuer: None,
            authorize_url: None,
            state: None,
            callback_query: None,
            token_response: None,
            id_token_header: None,
            id_token_claims: None,
            userinfo: None,
            checks: Vec::new(),
            verdict: Verdict::Pending,
            error: None,
            profile: None,
            timings: Vec::new(),
        }
    }

    /// Records how long a part took since `started`.
    pub(crate) fn timed(&mut self, part: &'static str, started: std::time::Instant) {
        self.timings.push((part, started.elapsed().as_secs_f64() * 1000.0));
    }

    /// Why a standard OpenID client (openidconnect's Core verifier) refuses the ID token this
    /// attempt accepted, if it does (see [`crate::second_opinion`]).
    pub fn second_opinion_refusal(&self) -> Option<&str> {
        self.checks
            .iter()
            .find(|c| c.name == crate::second_opinion::CHECK && c.outcome == Outcome::Note)
            .map(|c| c.detail.as_str())
    }

    /// Records a passing check.
    pub(crate) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check { name, outcome: Outcome::Pass, detail: detail.into() });
    }

    /// Records an informational check.
    pub(crate) fn note(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check { name, outcome: Outcome::Note, detail: detail.into() });
    }

    /// Records a failing check and returns the failure for `?`.
    pub(crate) fn fail(&mut self, name: &'static str, failure: Failure) -> Failure {
        self.checks.push(Check { name, outcome: Outcome::Fail, detail: failure.detail.clone() });
        failure
    }

    /// Closes the attempt as failed.
    pub(crate) fn finish_failure(&mut self, failure: Failure) {
        self.verdict = Verdict::Failure;
        self.error = Some(failure);
    }

    /// The check with this name, if made.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

pub(crate) use ak_protocol::time::now_secs;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ErrorCode;

    #[test]
    fn every_code_is_distinct_snake_case_and_titled() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(!code.title().is_empty());
            assert_eq!(serde_json::to_value(code).expect("json"), code.as_str());
        }
    }
}
