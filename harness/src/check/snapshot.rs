//! Snapshots of what authentik sends: the claims ChatGPT received and the discovery document,
//! with values that change on every run (times, random ids, hashed subjects, ports) replaced by
//! named placeholders, compared with a JSON file checked in beside the scenario. An authentik
//! upgrade that changes a claim or the discovery document's shape becomes a reviewable diff.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Claims whose values change on every login, with their placeholders.
const PER_LOGIN: &[(&str, &str)] = &[
    ("exp", "<timestamp>"),
    ("iat", "<timestamp>"),
    ("nbf", "<timestamp>"),
    ("auth_time", "<timestamp>"),
    ("nonce", "<random>"),
    ("sid", "<random>"),
    ("jti", "<random>"),
    ("at_hash", "<random>"),
    ("c_hash", "<random>"),
];

/// Claims whose values differ from one authentik install to another, with their placeholders.
const PER_INSTALL: &[(&str, &str)] = &[("sub", "<sub>")];

/// Whether a claim's value changes on every login (`exp`, `nonce`, …).
pub fn changes_every_login(claim: &str) -> bool {
    PER_LOGIN.iter().any(|(k, _)| *k == claim)
}

/// Replaces volatile values and the run's base URLs with placeholders.
pub fn normalise(value: &Value, bases: &[(&str, &str)]) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                let v = &map[key];
                let replaced = PER_LOGIN
                    .iter()
                    .chain(PER_INSTALL)
                    .find(|(k, _)| k == key)
                    .map(|(_, p)| Value::String((*p).into()));
                let mut normalised = replaced.unwrap_or_else(|| normalise(v, bases));
                // Lists that are sets in meaning come in the order of authentik's database (a
                // real install lists `profile openid email`, another `openid email profile`).
                if let Value::Array(items) = &mut normalised
                    && (key.ends_with("_supported") || key == "groups")
                {
                    items.sort_by_key(|item| item.to_string());
                }
                out.insert(key.clone(), normalised);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, bases)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (base, placeholder) in bases {
                if !base.is_empty() {
                    s = s.replace(base, placeholder);
                }
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// The snapshot file of a scenario: `snapshots/<name>.json` beside it.
pub fn path(scenario_file: &Path, name: &str) -> PathBuf {
    scenario_file.parent().unwrap_or(Path::new(".")).join("snapshots").join(format!("{name}.json"))
}

/// How a value compares with its snapshot.
pub enum Outcome {
    /// Equal.
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

/// The lines only in the snapshot (`-`) and only in the new value (`+`).
fn diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    for line in &old_lines {
        if !new_lines.contains(line) {
            out.push(format!("-{}", line.trim()));
        }
    }
    for line in &new_lines {
        if !old_lines.contains(line) {
            out.push(format!("+{}", line.trim()));
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::normalise;

    #[test]
    fn volatile_values_and_bases_become_placeholders() {
        let claims = json!({"iss": "http://127.0.0.1:4000/application/o/chatgpt/", "exp": 1, "sub": "abc", "email": "a@example.com"});
        assert_eq!(
            normalise(&claims, &[("http://127.0.0.1:4000/", "<authentik>/")]),
            json!({"email": "a@example.com", "exp": "<timestamp>", "iss": "<authentik>/application/o/chatgpt/", "sub": "<sub>"})
        );
    }
}
