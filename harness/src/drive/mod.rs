//! Drivers run a scenario's actions (start the login, sign in) and report what happened as
//! hops and a position; the runner checks expectations against them.

pub mod api;
pub mod authenticator;
pub mod browser;
pub mod chrome;
pub mod lock;
mod network_log;
pub mod passkey;
pub mod recovery;
pub mod session;
pub mod throttle;
pub mod totp;

pub use totp::totp_code;

/// A driver failure: what happened and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriveError(pub String);

/// The harness's own chores (`provision`, the fidelity corpus) say a driver's failure as it is.
impl From<DriveError> for String {
    fn from(e: DriveError) -> String {
        e.0
    }
}

/// Most stages one sign-in answers before it gives up (a flow that keeps asking).
pub(crate) const MAX_STAGES: usize = 12;

/// What a driver observed so far, read the same way from either: where it stands, the stages
/// and requests on the way, and (by the state of ChatGPT's authorization request) ChatGPT's
/// record of the login.
pub struct Seen<'a> {
    /// Where the driver stands.
    pub position: &'a crate::observation::Position,
    /// The authentik stages shown so far, in order (a stage shown again counts again).
    pub stages: &'a [String],
    /// Every request so far, in order.
    pub hops: &'a [crate::result::Hop],
    /// The workspace this session signs in to.
    pub workspace: &'a crate::environment::Workspace,
    /// The `state` of the authorization request ChatGPT sent, once it did.
    pub state: Option<&'a str>,
    /// Why the sign-in stopped at a request of authentik's the user's authenticator refused (a
    /// passkey for another site), or at a value authentik's page refused to send (a recovery
    /// code its field does not take): the `sign_in` step fails with it.
    pub refused: Option<&'a str>,
}

impl Seen<'_> {
    /// ChatGPT's record of this session's login attempt.
    pub fn attempt(&self) -> Option<chatgpt_rp::Attempt> {
        api::find_attempt(self.workspace, self.state)
    }
}
