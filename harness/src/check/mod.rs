//! Checks: expectations evaluated against what a driver recorded (hops, position, ChatGPT's
//! record), each producing assertions with expected, actual and where they are written.

mod authentik;
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
pub(crate) use id_token::check_id_token;
pub(crate) use landing::expect_landing;
pub(crate) use matcher::check_value;
pub(crate) use redirect::expect_redirect;

use crate::drive::Position;
use crate::result::Hop;
use crate::scenario::HopKind;

/// What a step's checks look at: the hops the driver recorded, where it stands, and which
/// URL is which (by the environment's addresses). Checks are pure functions of it.
pub(crate) struct Observation<'a> {
    /// Every request so far, in order.
    pub hops: &'a [Hop],
    /// Where the driver stands.
    pub position: &'a Position,
    /// What a URL is (`authentik.authorize`, `chatgpt.callback`, …), if known.
    pub classify: &'a dyn Fn(&Url) -> Option<HopKind>,
}

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
