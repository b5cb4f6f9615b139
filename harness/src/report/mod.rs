//! Reporters read [`RunReport`](crate::result::RunReport) only and write to an injected writer:
//! the console (progress and diagnoses), JUnit XML, and JSON (the source of truth).
//! Every text they produce goes through [`Redactor`] first.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;

/// Replaces known secret values (passwords, client secrets, TOTP seeds) with `[redacted]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values.
    pub fn new(mut secrets: Vec<String>) -> Self {
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// The text with every secret replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Redactor;

    #[test]
    fn replaces_every_secret() {
        let r = Redactor::new(vec!["hunter2".into(), "hunter2-long".into()]);
        assert_eq!(r.apply("pw hunter2-long and hunter2"), "pw [redacted] and [redacted]");
    }
}
