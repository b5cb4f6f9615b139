//! `exchange_code`: the token endpoint's answer to the harness's own code exchange.

use serde_json::Value;

use crate::result::{Assertion, Subject};
use crate::scenario::TokenAnswer;

/// What the token endpoint answered.
pub(crate) struct TokenAnswerSeen<'a> {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`null` when it was none).
    pub body: &'a Value,
    /// The request's index among the hops.
    pub hop: Option<usize>,
}

/// The answer against `expect`: tokens (HTTP 200 with an ID token), or an OAuth error code.
pub(crate) fn expect_token_answer(seen: &TokenAnswerSeen<'_>, expect: &TokenAnswer) -> Assertion {
    let (status, body) = (seen.status, seen.body);
    let error = body["error"].as_str();
    let actual = match error {
        Some(e) => format!("HTTP {status} `{e}`"),
        None if status == 200 => "HTTP 200 with tokens".to_string(),
        None => format!("HTTP {status}"),
    };
    let (expected, passed) = match expect {
        TokenAnswer::Ok => ("HTTP 200 with tokens".to_string(), status == 200 && body["id_token"].is_string()),
        TokenAnswer::Error(want) => (format!("HTTP 400 `{want}`"), error == Some(want.as_str())),
    };
    Assertion { subject: Subject::CodeExchange, expected, actual, passed, hop: seen.hop, span: None }
}
