//! The harness's own chores through authentik's flow executor (the pre-run sign-in check,
//! enrolling the MFA fixture user's TOTP device, the fidelity corpus), on the same
//! [`Session`] as the api driver: its cookie jar, CSRF header, redirects and deadlines.

use ak_protocol::authentik::{Answer, Challenge, ChallengeKind, component, flow_errors, flows, paths};
use ak_protocol::secret::Secret;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::drive::DriveError;
use crate::drive::session::{Body, Session};

/// One browser-less session with authentik.
pub struct FlowClient {
    session: Session,
}

impl FlowClient {
    /// A new session (no cookies) with authentik at `base`.
    pub fn new(base: &Url, timeout: Duration) -> Result<Self, DriveError> {
        Ok(Self { session: Session::new(base, timeout)? })
    }

    /// GETs (no answer) or POSTs (an answer) the flow's executor and returns the challenge,
    /// following the executor's redirects to itself.
    pub async fn challenge(&mut self, slug: &str, answer: Option<&Answer>) -> Result<Challenge, DriveError> {
        self.challenge_json(slug, "", answer).await.map(Challenge::from)
    }

    /// Like [`Self::challenge`], the challenge as authentik wrote it, every field kept (the
    /// fidelity corpus records its shape), for a flow page opened with this query.
    pub async fn challenge_json(
        &mut self,
        slug: &str,
        query: &str,
        answer: Option<&Answer>,
    ) -> Result<Value, DriveError> {
        self.session.executor(slug, query, answer).await
    }

    /// Opens `start` (an authorization request) signed in, following redirects and the flow
    /// pages' redirects until the browser would be sent to `redirect_uri`; returns the `code`.
    pub async fn follow_to(&mut self, start: &Url, redirect_uri: &str) -> Result<String, DriveError> {
        let mut next = start.clone();
        for _ in 0..10 {
            if next.as_str().starts_with(redirect_uri) {
                return next.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).ok_or_else(|| {
                    DriveError(format!(
                        "back at the redirect URI without a code: {}",
                        ak_protocol::redact::redact(&next)
                    ))
                });
            }
            let base = self.session.authentik().path().to_string();
            if let Some(slug) = paths::flow_slug(&base, next.path()).map(String::from) {
                let query = next.query().unwrap_or_default().to_string();
                let challenge = Challenge::from(self.challenge_json(&slug, &query, None).await?);
                let ChallengeKind::Redirect { to } = &challenge.kind else {
                    return Err(DriveError(format!("flow `{slug}` answered {:?}", challenge.component())));
                };
                next = self.session.url(to)?;
                continue;
            }
            let response = self.session.send(Method::GET, next.clone(), Body::None, false, None).await?;
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
            let Some(location) = location else {
                return Err(DriveError(format!(
                    "GET {} answered {} without a redirect",
                    ak_protocol::redact::redact(&next),
                    response.status()
                )));
            };
            next = next.join(&location).map_err(|e| {
                let shown = ak_protocol::redact::redact_location(&next, &location);
                DriveError(format!("bad Location `{shown}`: {e}"))
            })?;
        }
        Err(DriveError("more than 10 redirects".into()))
    }

    /// After [`Self::sign_in`] stopped at `ak-stage-authenticator-validate`: answers it with a
    /// TOTP code. Refused carries what authentik said and its clock (its `Date` header).
    pub async fn answer_totp(&mut self, code: &str) -> Result<(SignIn, Option<std::time::SystemTime>), DriveError> {
        let answer = Answer::AuthenticatorValidate { code: Secret::new(code) };
        let after = self.challenge(flows::AUTHENTICATION, Some(&answer)).await?;
        Ok((answered(&after, component::AUTHENTICATOR_VALIDATE), self.session.clock))
    }

    /// After [`Self::sign_in`] stopped at `ak-stage-authenticator-validate`: answers it with an
    /// assertion of the passkey kept in `file` (the stage fetched again for its WebAuthn options).
    /// Refused carries what authentik (or the authenticator, for options it cannot answer) said.
    pub async fn answer_passkey(&mut self, file: &std::path::Path, user: &str) -> Result<SignIn, DriveError> {
        let mfa = self.challenge(flows::AUTHENTICATION, None).await?;
        let Some(options) = mfa.webauthn_options() else {
            return Ok(SignIn::Refused("authentik's MFA stage offers no passkey".into()));
        };
        let base = self.session.authentik().clone();
        let signed = match crate::drive::passkey::sign_at(file, options, &base, user, self.session.timeout()).await {
            Ok(signed) => signed,
            Err(e) => return Ok(SignIn::Refused(e.0)),
        };
        let answer = Answer::AuthenticatorValidateWebAuthn { webauthn: signed.assertion };
        let after = self.challenge(flows::AUTHENTICATION, Some(&answer)).await?;
        drop(signed.turn);
        Ok(answered(&after, component::AUTHENTICATOR_VALIDATE))
    }

    /// Signs in through `default-authentication-flow` with a username and password.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Result<SignIn, DriveError> {
        const FLOW: &str = flows::AUTHENTICATION;
        let first = self.challenge(FLOW, None).await?;
        if first.component() != component::IDENTIFICATION {
            return Ok(SignIn::More(shown_component(&first)));
        }
        let id = Answer::Identification { uid_field: username.to_string() };
        let next = self.challenge(FLOW, Some(&id)).await?;
        if next.component() != component::PASSWORD {
            let errors = flow_errors(&next);
            if !errors.is_empty() {
                return Ok(SignIn::Refused(errors.join("; ")));
            }
            return Ok(SignIn::More(shown_component(&next)));
        }
        let pw = Answer::Password { password: Secret::new(password) };
        let after = self.challenge(FLOW, Some(&pw)).await?;
        Ok(answered(&after, component::PASSWORD))
    }
}

/// How a stage's answer ended: signed in (the flow's redirect), refused (the same stage shown
/// again with its errors), or another stage asked for.
fn answered(after: &Challenge, stage: &str) -> SignIn {
    let errors = flow_errors(after);
    match after.component() {
        component::REDIRECT => SignIn::Done,
        shown if shown == stage && !errors.is_empty() => SignIn::Refused(errors.join("; ")),
        _ => SignIn::More(shown_component(after)),
    }
}

/// A challenge's component for a message, `?` when it has none.
pub(crate) fn shown_component(challenge: &Challenge) -> String {
    match challenge.component() {
        "" => "?".into(),
        name => name.into(),
    }
}

/// How a sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Signed in.
    Done,
    /// The password (or the identifier) was refused; what authentik said.
    Refused(String),
    /// The flow asked for a stage beyond the password (an authenticator): its component.
    More(String),
}
