//! `expect_claims`: the claims ChatGPT received (ID token or userinfo), from its record of the
//! session's attempt.

use super::{Checked, Observation, check_value};
use crate::result::Subject;
use crate::scenario::{ClaimSource, NamedMatcher};

/// `expect_claims`: each named claim of the set ChatGPT received against its matcher. Without
/// that set there is nothing to judge, and the reason says where the login stopped instead.
pub(crate) fn expect_claims(seen: &Observation<'_>, from: ClaimSource, claims: &[NamedMatcher]) -> Checked {
    let Some(attempt) = seen.chatgpt else {
        return Err(format!(
            "ChatGPT has no record of a login from this session (it never redirected to authentik); the browser is at {}",
            seen.position.describe()
        ));
    };
    let set = match from {
        ClaimSource::IdToken => attempt.id_token_claims.as_ref(),
        ClaimSource::Userinfo => attempt.userinfo.as_ref(),
    };
    let Some(set) = set else {
        // Where the login stopped: ChatGPT's own failure, or, when it never got the callback,
        // where the browser stands (a stage that refused an answer, say).
        let why = match &attempt.error {
            Some(e) => format!(" (ChatGPT stopped earlier: `{}`)", e.code.as_str()),
            None => format!(": the login never came back to ChatGPT; it is at {}", seen.position.describe()),
        };
        return Err(format!("ChatGPT received no {}{why}", from.words()));
    };
    Ok(claims
        .iter()
        .map(|claim| {
            let subject = Subject::Claim { from, name: claim.name.clone() };
            let mut assertion = check_value(subject, set.get(&claim.name), &claim.matcher, seen.vars, None);
            assertion.span = Some(claim.span.clone());
            assertion
        })
        .collect())
}
