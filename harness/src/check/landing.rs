//! `expect_landing`: where the login ended in ChatGPT.

use crate::drive::{Position, chatgpt_error};
use crate::result::{Assertion, StepResult, Subject};
use crate::scenario::Landing;

pub(crate) fn expect_landing(position: &Position, landing: &Landing, result: &mut StepResult) {
    let (code, conversation) = match position {
        Position::Chatgpt { body, .. } => {
            (chatgpt_error(body).map(|(c, _)| c), body.contains(r#"data-testid="conversation""#))
        }
        _ => (None, false),
    };
    let (expected, passed) = match landing {
        Landing::Conversation => ("ChatGPT's conversation page".to_string(), conversation),
        Landing::Error(want) => (format!("ChatGPT error `{}`", want.as_str()), code.as_deref() == Some(want.as_str())),
    };
    result.assertions.push(Assertion {
        subject: Subject::Landing,
        expected,
        actual: position.describe(),
        passed,
        hop: None,
        span: None,
    });
}
