//! Snapshots of what authentik sends: the claims ChatGPT received and the discovery document,
//! with values that change on every run (times, random ids, hashed subjects, ports) replaced by
//! named placeholders, compared with a JSON file checked in beside the scenario. An authentik
//! upgrade that changes a claim or the discovery document's shape becomes a reviewable diff.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The snapshot file of a scenario: `snapshots/<name>.json` beside it.
pub fn path(scenario_file: &Path, name: &str) -> PathBuf {
    scenario_file.parent().unwrap_or(Path::new(".")).join("snapshots").join(format!("{name}.json"))
}

/// How a value compares with its snapshot.
pub enum Outcome {
    /// Equal to the file.
    Same,
    /// Recorded now (update mode).
    Written,
    /// No snapshot file yet.
    Missing,
    /// Different: the changed lines.
    Differs(String),
}

/// Compares (or, with `update`, records) the snapshot.
pub fn compare(file: &Path, value: &Value, update: bool) -> Outcome {
    let text = format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default());
    match std::fs::read_to_string(file) {
        Ok(old) if old == text => Outcome::Same,
        Ok(_) | Err(_) if update => {
            let written =
                file.parent().map(std::fs::create_dir_all).transpose().is_ok() && std::fs::write(file, &text).is_ok();
            if written { Outcome::Written } else { Outcome::Missing }
        }
        Ok(old) => Outcome::Differs(diff(&old, &text)),
        Err(_) => Outcome::Missing,
    }
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
    use super::diff;

    /// A set of lines would see nothing here: the same lines, reordered and one repeated.
    #[test]
    fn reordered_and_repeated_lines_are_a_diff() {
        assert_eq!(diff("a\nb\n", "a\nb\n"), "");
        assert_eq!(diff("\"x\": 1\n\"y\": 2\n", "\"y\": 2\n\"x\": 1\n"), "+\"y\": 2 -\"y\": 2");
        assert_eq!(diff("a\nb\n", "a\nb\nb\n"), "+b");
    }
}
