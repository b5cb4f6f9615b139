//! A value against a scenario's matcher (`equals`, `present`, `non_empty`, …), as an assertion.

use serde_json::Value;

use crate::result::{Assertion, Subject};
use crate::scenario::{Matcher, Vars};

/// Checks one value against a matcher; `actual` shows the value (or its absence).
pub(crate) fn check_value(
    subject: Subject,
    value: Option<&Value>,
    matcher: &Matcher,
    vars: &Vars,
    hop: Option<usize>,
) -> Assertion {
    let text = value.map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let shown = match (&text, value) {
        (Some(_), Some(Value::String(s))) => format!("\"{s}\""),
        (Some(t), _) => t.clone(),
        (None, _) => "absent".into(),
    };
    let mut expected = Vec::new();
    let mut passed = true;
    if let Some(present) = matcher.present {
        expected.push(if present { "present".to_string() } else { "absent".to_string() });
        passed &= value.is_some() == present;
    }
    if let Some(non_empty) = matcher.non_empty {
        expected.push(if non_empty { "non-empty".to_string() } else { "empty".to_string() });
        let is_non_empty = match value {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        passed &= is_non_empty == non_empty;
    }
    if let Some(equals) = &matcher.equals {
        let want = equals.render(vars);
        expected.push(format!("\"{want}\""));
        passed &= text.as_deref() == Some(want.as_str());
    }
    if let Some(not_equals) = &matcher.not_equals {
        let unwanted = not_equals.render(vars);
        expected.push(format!("not \"{unwanted}\""));
        passed &= text.is_some() && text.as_deref() != Some(unwanted.as_str());
    }
    if let Some(pattern) = &matcher.matches {
        expected.push(format!("matching /{pattern}/"));
        passed &= regex_lite::Regex::new(pattern).is_ok_and(|re| text.as_deref().is_some_and(|t| re.is_match(t)));
    }
    Assertion { subject, expected: expected.join(" and "), actual: shown, passed, hop, span: None }
}
