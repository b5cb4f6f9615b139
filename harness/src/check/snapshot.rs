//! Snapshots of what authentik sends: the claims ChatGPT received and the discovery document,
//! with values that change on every run (times, random ids, hashed subjects, ports) replaced by
//! named placeholders, compared with a JSON file checked in beside the scenario. An authentik
//! upgrade that changes a claim or the discovery document's shape becomes a reviewable diff.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Observation;
use crate::result::{Assertion, Subject};
use crate::scenario::SnapshotOf;

/// The snapshot file of a scenario: `snapshots/<name>.json` beside it.
pub fn path(scenario_file: &Path, name: &str) -> PathBuf {
    scenario_file.parent().unwrap_or(Path::new(".")).join("snapshots").join(format!("{name}.json"))
}

/// The text a snapshot file holds for a value.
pub fn text(value: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// `expect_snapshot`: the value (with placeholders) against the snapshot file's text, `recorded`
/// (`None`: no such file yet).
pub(crate) fn expect_snapshot(
    name: &str,
    of: SnapshotOf,
    file: &Path,
    recorded: Option<&str>,
    value: &Value,
) -> Assertion {
    let shown = file.display().to_string();
    let new = text(value);
    let (passed, actual) = match recorded {
        Some(old) if old == new => (true, "equal".to_string()),
        Some(old) => {
            (false, format!("differs from {shown}: {} (review; AK_E2E_UPDATE_SNAPSHOTS=1 accepts it)", diff(old, &new)))
        }
        None => (false, format!("no snapshot at {shown}; record it with AK_E2E_UPDATE_SNAPSHOTS=1 and review it")),
    };
    assertion(name, of, &shown, passed, actual)
}

/// The assertion of a snapshot recorded now (`AK_E2E_UPDATE_SNAPSHOTS`), or that could not be.
pub(crate) fn recorded(name: &str, of: SnapshotOf, file: &Path, written: &std::io::Result<()>) -> Assertion {
    let shown = file.display().to_string();
    let (passed, actual) = match written {
        Ok(()) => (true, format!("recorded in {shown}")),
        Err(e) => (false, format!("cannot record it in {shown}: {e}")),
    };
    assertion(name, of, &shown, passed, actual)
}

/// A snapshot's assertion: the file shown as `shown`, what was found.
fn assertion(name: &str, of: SnapshotOf, shown: &str, passed: bool, actual: String) -> Assertion {
    let subject = Subject::Snapshot { name: name.to_string(), of };
    Assertion { subject, expected: format!("equal to {shown}"), actual, passed, hop: None, span: None }
}

/// The claims ChatGPT received that a snapshot of `of` compares (not the discovery document,
/// which the runner fetches).
pub(crate) fn claims_of(seen: &Observation<'_>, of: SnapshotOf) -> Result<Value, String> {
    let set = match of {
        SnapshotOf::IdToken => seen.chatgpt.and_then(|a| a.id_token_claims.as_ref()),
        SnapshotOf::Userinfo => seen.chatgpt.and_then(|a| a.userinfo.as_ref()),
        SnapshotOf::Discovery => {
            return Err("the discovery document is fetched by the runner, not received by ChatGPT".into());
        }
    };
    set.map(|s| Value::Object(s.clone()))
        .ok_or_else(|| format!("ChatGPT received no {} to compare with the snapshot", of.as_str()))
}

/// The changed lines, in order: `-` for the snapshot's, `+` for the new value's (a line diff,
/// so a reordering or a duplicated line shows too).
fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter_map(|change| match change.tag() {
            similar::ChangeTag::Delete => Some(format!("-{}", change.value().trim())),
            similar::ChangeTag::Insert => Some(format!("+{}", change.value().trim())),
            similar::ChangeTag::Equal => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::{diff, expect_snapshot, text};
    use crate::scenario::SnapshotOf;

    /// Equal, different (with the changed lines) and missing, each with what it says.
    #[test]
    fn a_snapshot_is_equal_differs_or_is_missing() {
        let file = Path::new("scenarios/snapshots/claims.json");
        let value = json!({"email": "ann@example.com", "sub": "<hashed>"});
        let judge = |recorded: Option<&str>| {
            let a = expect_snapshot("claims", SnapshotOf::IdToken, file, recorded, &value);
            (a.passed, a.actual)
        };
        assert_eq!(judge(Some(&text(&value))), (true, "equal".to_string()));
        let (passed, actual) = judge(Some("{\n  \"email\": \"bob@example.com\",\n  \"sub\": \"<hashed>\"\n}\n"));
        assert!(!passed);
        assert!(actual.contains("-\"email\": \"bob@example.com\", +\"email\": \"ann@example.com\","), "{actual}");
        let (passed, actual) = judge(None);
        assert!(!passed);
        assert!(actual.starts_with("no snapshot at scenarios/snapshots/claims.json"), "{actual}");
    }

    /// Recording: passes when written, fails saying why when the file cannot be written.
    #[test]
    fn a_snapshot_that_cannot_be_recorded_says_why() {
        let file = Path::new("scenarios/snapshots/claims.json");
        let written = super::recorded("claims", SnapshotOf::IdToken, file, &Ok(()));
        assert!(written.passed);
        assert_eq!(written.actual, "recorded in scenarios/snapshots/claims.json");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let failed = super::recorded("claims", SnapshotOf::IdToken, file, &Err(denied));
        assert!(!failed.passed);
        assert!(
            failed.actual.starts_with("cannot record it in scenarios/snapshots/claims.json: permission denied"),
            "{}",
            failed.actual
        );
    }

    /// A set of lines would see nothing here: the same lines, reordered and one repeated.
    #[test]
    fn reordered_and_repeated_lines_are_a_diff() {
        assert_eq!(diff("a\nb\n", "a\nb\n"), "");
        assert_eq!(diff("\"x\": 1\n\"y\": 2\n", "\"y\": 2\n\"x\": 1\n"), "+\"y\": 2 -\"y\": 2");
        assert_eq!(diff("a\nb\n", "a\nb\nb\n"), "+b");
    }
}
