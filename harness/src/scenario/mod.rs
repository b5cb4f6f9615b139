//! Scenario files: the model (this module) and the parser ([`parse`]). A scenario is a list of
//! steps from the design's vocabulary; every step and matcher keeps the span it was written at,
//! so results and errors point back into the file.

pub mod parse;
mod template;

use std::path::PathBuf;

use serde::Serialize;

use crate::diagnostic::Span;
pub use template::{ApplicationVars, Template, Vars};

/// The name of the application given as `application:`.
pub const DEFAULT_APPLICATION: &str = "default";

/// The variable names every run defines (users add `users.<name>.{username,email,name}`).
pub const FIXED_VARS: &[&str] = &[
    "authentik.url",
    "authentik.issuer",
    "application.slug",
    "application.client_id",
    "chatgpt.url",
    "chatgpt.redirect_uri",
    "chatgpt.connection_id",
];

/// One scenario file.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// The file it was read from.
    pub file: PathBuf,
    /// `name:`.
    pub name: String,
    /// `tags:`.
    pub tags: Vec<String>,
    /// `drivers:` (default: api).
    pub drivers: Vec<DriverKind>,
    /// `application:` (default: `default`, the config's `application:`).
    pub application: String,
    /// Where `application:` is written, if it is.
    pub application_span: Option<Span>,
    /// `expect_failure:`: the scenario documents a known failure.
    pub expect_failure: Option<ExpectedFailure>,
    /// `steps:`.
    pub steps: Vec<Step>,
}

/// How a scenario is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// HTTP requests with a cookie jar, walking authentik's flow executor API.
    Api,
    /// Real Chromium through the flow pages.
    Browser,
}

impl DriverKind {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Browser => "browser",
        }
    }
}

/// A documented known failure: the scenario passes when it fails like this.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectedFailure {
    /// Why it fails (shown in reports).
    pub reason: String,
    /// The ChatGPT error code or text the failure's diagnosis must contain.
    pub diagnosis_contains: String,
}

/// One step, where it was written, and what it does.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The step's key (`sign_in`, `expect_claims`, …).
    pub name: String,
    /// The key's place in the file.
    pub span: Span,
    /// What it does.
    pub kind: StepKind,
}

/// What a step does: an action of the driver, or an expectation checked against what it recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum StepKind {
    /// Start at ChatGPT: type an email at "Log in", or open the direct sign-in link.
    StartLogin {
        /// The email typed; `None` for the direct link.
        email: Option<Template>,
        /// Whether the login starts without the cookies and storage of the steps before, as in
        /// another browser.
        new_session: bool,
    },
    /// The browser was redirected to a hop (or nowhere) with these query parameters.
    ExpectRedirect {
        /// The kind of URL the redirect must go to.
        to: HopKind,
        /// Parameters of the redirect's Location.
        query: Vec<NamedMatcher>,
    },
    /// Sign in at authentik as a fixture user: identification, password, TOTP, consent.
    SignIn {
        /// Fixture user name.
        user: String,
        /// A password to type instead of the user's (for wrong-password scenarios).
        password: Option<Template>,
        /// What to do at a consent stage, if one comes.
        consent: Consent,
        /// Which recovery code the MFA stage is given, instead of the user's other factors.
        recovery_code: Option<RecoveryCode>,
        /// How the user proves who they are at identification.
        first_factor: FirstFactor,
    },
    /// Send the browser to authentik's authorize endpoint with a request the harness builds (as
    /// the OAuth client, api driver only): ChatGPT's parameters, with overrides and removals.
    Authorize {
        /// Parameters to set (replacing the defaults).
        set: Vec<(String, Template)>,
        /// Parameters to leave out.
        remove: Vec<String>,
    },
    /// Exchange the code of the last `authorize` at the token endpoint (api driver only).
    ExchangeCode {
        /// Tokens, or the OAuth error expected.
        expect: TokenAnswer,
        /// A client secret to send instead of the workspace's.
        client_secret: Option<Template>,
        /// A PKCE verifier to send instead of the right one.
        code_verifier: Option<Template>,
    },
    /// authentik shows a stage (with an error) or a plain page (title, status).
    ExpectAuthentik(AuthentikExpectation),
    /// Claims ChatGPT received, from its record of the attempt.
    ExpectClaims {
        /// ID token or userinfo.
        from: ClaimSource,
        /// Claim → matcher.
        claims: Vec<NamedMatcher>,
    },
    /// Where the login ended at ChatGPT.
    ExpectLanding(Landing),
    /// The claims or the discovery document, volatile values replaced, equal the snapshot file
    /// `snapshots/<name>.json` beside the scenario (`AK_E2E_UPDATE_SNAPSHOTS=1` records it).
    ExpectSnapshot {
        /// What is compared with the snapshot.
        of: SnapshotOf,
        /// The snapshot's name.
        name: String,
    },
}

impl StepKind {
    /// Whether the step checks something (an expectation, or `exchange_code` with its `expect:`),
    /// rather than only acting.
    pub fn checks(&self) -> bool {
        !matches!(self, Self::StartLogin { .. } | Self::SignIn { .. } | Self::Authorize { .. })
    }
}

/// What `exchange_code` expects from the token endpoint (`expect:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAnswer {
    /// `ok`: HTTP 200 with tokens (and the ID token's protocol checks).
    Ok,
    /// HTTP 400 with this OAuth error (`invalid_grant`, `invalid_client`).
    Error(String),
}

/// What `expect_snapshot` compares (`of:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOf {
    /// The claims of the ID token ChatGPT received.
    IdToken,
    /// The userinfo ChatGPT received.
    Userinfo,
    /// The application's discovery document.
    Discovery,
}

impl SnapshotOf {
    /// As written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotOf::IdToken => "id_token",
            SnapshotOf::Userinfo => "userinfo",
            SnapshotOf::Discovery => "discovery",
        }
    }
}

/// A named value and how it must match.
#[derive(Debug, Clone, Serialize)]
pub struct NamedMatcher {
    /// Claim or parameter name.
    pub name: String,
    /// What the value must be.
    pub matcher: Matcher,
    /// The name's place in the file.
    pub span: Span,
}

/// How a value must look. Several conditions in one matcher must all hold.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Matcher {
    /// Equal to (after templates).
    pub equals: Option<Template>,
    /// Not equal to.
    pub not_equals: Option<Template>,
    /// Matches this regular expression (anywhere; anchor with ^…$).
    pub matches: Option<String>,
    /// Present (true) or absent (false).
    pub present: Option<bool>,
    /// A non-empty string (or non-empty list).
    pub non_empty: Option<bool>,
}

/// Where a redirect went, by what it is rather than its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum HopKind {
    /// authentik's `/application/o/authorize/`.
    #[serde(rename = "authentik.authorize")]
    AuthentikAuthorize,
    /// authentik's flow interface `/if/flow/<slug>/`.
    #[serde(rename = "authentik.flow")]
    AuthentikFlow,
    /// ChatGPT's Login redirect URI.
    #[serde(rename = "chatgpt.callback")]
    ChatgptCallback,
    /// ChatGPT's home (`/`), where the conversation page is.
    #[serde(rename = "chatgpt.home")]
    ChatgptHome,
    /// No redirect at all since the previous expectation.
    #[serde(rename = "nowhere")]
    Nowhere,
}

impl HopKind {
    /// Every hop name as written in scenario files.
    pub const NAMES: &'static [(&'static str, HopKind)] = &[
        ("authentik.authorize", HopKind::AuthentikAuthorize),
        ("authentik.flow", HopKind::AuthentikFlow),
        ("chatgpt.callback", HopKind::ChatgptCallback),
        ("chatgpt.home", HopKind::ChatgptHome),
        ("nowhere", HopKind::Nowhere),
    ];

    /// The name as written in scenario files.
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, k)| *k == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// What `sign_in` does at a consent stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Accept (the default).
    Accept,
    /// Stop at the stage.
    Deny,
    /// Answer with a made-up consent token (api driver only), to check authentik refuses it.
    Forge,
}

/// How a `sign_in` begins at authentik's identification stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstFactor {
    /// The user's name typed, then the password at the password stage (the default).
    #[default]
    Password,
    /// The user's passkey, offered by the identification stage (its `webauthn_stage`), with no
    /// name or password typed; a password or MFA stage after it is not answered.
    Passkey,
}

/// Which of a fixture user's recovery codes a `sign_in` types at the MFA stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryCode {
    /// One not typed before (taken from the user's file, and spent).
    Fresh,
    /// The one an earlier `sign_in` of the scenario spent, typed again.
    Spent,
}

impl RecoveryCode {
    /// Whether a `sign_in` of a user with recovery codes that asks for `asked` takes a fresh one:
    /// asked so, or asked nothing when the codes are the user's only second factor (no TOTP
    /// secret, no passkey).
    pub fn takes_fresh(asked: Option<RecoveryCode>, has_totp: bool, has_passkey: bool) -> bool {
        match asked {
            Some(RecoveryCode::Fresh) => true,
            Some(RecoveryCode::Spent) => false,
            None => !has_totp && !has_passkey,
        }
    }
}

/// What authentik must show.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthentikExpectation {
    /// A flow stage (`password`, `identification`, `authenticator_validate`, `consent`,
    /// `access_denied`), optionally with an error message shown.
    Stage {
        /// The stage.
        stage: ak_protocol::authentik::component::Component,
        /// Text of a `response_errors` message or the access-denied message.
        error: Option<String>,
    },
    /// A plain page (Redirect URI Error, Client ID Error, Permission denied).
    Page {
        /// The card title.
        title: String,
        /// HTTP status, if given.
        status: Option<u16>,
    },
}

/// Which claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimSource {
    /// The ID token ChatGPT validated.
    IdToken,
    /// The userinfo response ChatGPT fetched.
    Userinfo,
}

impl ClaimSource {
    /// As a diagnosis names it: `ID token`, `userinfo`.
    pub fn words(self) -> &'static str {
        match self {
            ClaimSource::IdToken => "ID token",
            ClaimSource::Userinfo => "userinfo",
        }
    }
}

/// Where the login ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Landing {
    /// ChatGPT's conversation page, signed in.
    Conversation,
    /// ChatGPT's error page with this code (checked against ChatGPT's codes when the file is read).
    Error(chatgpt_rp::ErrorCode),
}
