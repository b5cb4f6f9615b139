//! What differs between two logins that are the same: the claims whose values change on every
//! login or install, the order of set-like lists, and the base URLs of a run, replaced by named
//! placeholders, so that claims and discovery documents can be compared across runs (snapshots,
//! `ak-e2e compare`).

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
