//! Checks: pure functions of what a driver observed and what a step expects, each giving the
//! step's assertions (expected, actual, where they are written). Reading and writing files,
//! fetching documents and moving the redirect cursor stay in the runner.

mod authentik;
mod claims;
mod exchange;
pub mod hints;
mod id_token;
mod landing;
mod matcher;
mod redirect;
pub mod snapshot;

use serde_json::Value;
use url::Url;

#[cfg(test)]
mod tests;

pub(crate) use authentik::expect_authentik;
pub(crate) use claims::expect_claims;
pub(crate) use exchange::{TokenAnswerSeen, expect_token_answer};
pub(crate) use id_token::check_id_token;
pub(crate) use landing::expect_landing;
pub(crate) use matcher::check_value;
pub(crate) use redirect::{expect_redirect, next_since};

use crate::observation::Position;
use crate::result::{Assertion, Hop};
use crate::scenario::{HopKind, Vars};

/// What a step's checks look at: the hops the driver recorded, where it stands, ChatGPT's record
/// of the login, which URL is which (by the environment's addresses) and the run's variables.
pub(crate) struct Observation<'a> {
    /// Every request so far, in order.
    pub hops: &'a [Hop],
    /// The first hop `expect_redirect` looks at: the one after what the previous matched.
    pub since: usize,
    /// Where the driver stands.
    pub position: &'a Position,
    /// What a URL is (`authentik.authorize`, `chatgpt.callback`, …), if known.
    pub classify: &'a dyn Fn(&Url) -> Option<HopKind>,
    /// ChatGPT's record of this session's login attempt, if it has one.
    pub chatgpt: Option<&'a chatgpt_rp::Attempt>,
    /// The values `{{ … }}` references resolve to.
    pub vars: &'a Vars,
}

/// A check's verdict: its assertions, or why what was observed holds nothing to judge (the
/// step then fails with that as its error: "ChatGPT received no ID token", say).
pub(crate) type Checked = Result<Vec<Assertion>, String>;

/// The documents an ID token is checked against: the provider's discovery document and key set
/// (fetched by the runner), and the nonce the harness sent.
pub(crate) struct Provider<'a> {
    /// The discovery document.
    pub discovery: &'a Value,
    /// The key set at its `jwks_uri` (`null` when there is none).
    pub jwks: &'a Value,
    /// The nonce of the authorization request, if one was sent.
    pub nonce: Option<&'a str>,
    /// The client secret the code was exchanged with (HS256 tokens are signed with it).
    pub client_secret: Option<&'a [u8]>,
    /// The access token of the same token response (`at_hash`).
    pub access_token: Option<&'a str>,
    /// The clock skew allowed on `exp` and `iat` (the workspace's, as ChatGPT allows it).
    pub leeway: std::time::Duration,
}
