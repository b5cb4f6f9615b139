//! `expect_authentik`: the authentik stage or page the login stopped at.

use super::{Checked, Observation};
use crate::observation::Position;
use crate::result::{Assertion, Subject};
use crate::scenario::AuthentikExpectation;

/// `expect_authentik`: the stage (and its message) or the page (and its status) the login is at.
pub(crate) fn expect_authentik(seen: &Observation<'_>, expectation: &AuthentikExpectation) -> Checked {
    let position = seen.position;
    let mut assertions = Vec::new();
    match expectation {
        AuthentikExpectation::Stage { stage, error } => {
            let want = stage.as_str().to_string();
            let (component, errors) = match position {
                Position::Flow { stage, .. } => (stage.component.clone(), stage.errors.clone()),
                _ => (String::new(), Vec::new()),
            };
            assertions.push(Assertion {
                subject: Subject::AuthentikStage,
                expected: want.clone(),
                actual: position.describe(),
                passed: component == want,
                hop: None,
                span: None,
            });
            if let Some(error) = error {
                assertions.push(Assertion {
                    subject: Subject::AuthentikMessage,
                    expected: format!("\"{error}\""),
                    actual: if errors.is_empty() {
                        "no message".into()
                    } else {
                        format!("\"{}\"", errors.join("\", \""))
                    },
                    passed: errors.iter().any(|e| e.contains(error.as_str())),
                    hop: None,
                    span: None,
                });
            }
        }
        AuthentikExpectation::Page { title, status } => {
            let (actual_title, actual_status) = match position {
                Position::AuthentikPage { title, status, .. } => (title.clone(), Some(*status)),
                _ => (String::new(), None),
            };
            assertions.push(Assertion {
                subject: Subject::AuthentikPage,
                expected: format!("\"{title}\""),
                actual: position.describe(),
                passed: actual_title == *title,
                hop: None,
                span: None,
            });
            if let Some(status) = status {
                assertions.push(Assertion {
                    subject: Subject::AuthentikPageStatus,
                    expected: status.to_string(),
                    actual: actual_status.map(|s| s.to_string()).unwrap_or_else(|| "no authentik page".into()),
                    passed: actual_status == Some(*status),
                    hop: None,
                    span: None,
                });
            }
        }
    }
    Ok(assertions)
}
