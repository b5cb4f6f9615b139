//! `expect_landing`: where the login ended in ChatGPT.

use chatgpt_rp::Shown;

use super::{Checked, Observation};
use crate::observation::Position;
use crate::result::{Assertion, Subject};
use crate::scenario::Landing;

/// `expect_landing`: the conversation page, or the error page with its code.
pub(crate) fn expect_landing(seen: &Observation<'_>, landing: &Landing) -> Checked {
    let shown = match seen.position {
        Position::Chatgpt { shown, .. } => Some(shown),
        _ => None,
    };
    let (expected, passed) = match landing {
        Landing::Conversation => {
            ("ChatGPT's conversation page".to_string(), matches!(shown, Some(Shown::Conversation { .. })))
        }
        Landing::Error(want) => {
            let code = match shown {
                Some(Shown::Error { code, .. }) => Some(code.as_str()),
                _ => None,
            };
            (format!("ChatGPT error `{}`", want.as_str()), code == Some(want.as_str()))
        }
    };
    let mut assertions = vec![Assertion {
        subject: Subject::Landing,
        expected,
        actual: seen.position.describe(),
        passed,
        hop: None,
        span: None,
    }];
    // Signed in: the ID token ChatGPT accepted must be one a standard client accepts too.
    if passed
        && matches!(landing, Landing::Conversation)
        && let Some(refusal) = seen.chatgpt.and_then(chatgpt_rp::Attempt::second_opinion_refusal)
    {
        assertions.push(Assertion {
            subject: Subject::IdTokenSecondOpinion,
            expected: "accepted by a standard OpenID client (openidconnect's Core verifier)".into(),
            actual: refusal.to_string(),
            passed: false,
            hop: None,
            span: None,
        });
    }
    Ok(assertions)
}
