//! OAuth parameters whose values are secrets (codes, tokens, passwords, verifiers), and URLs
//! with those values replaced by `[redacted]`: how every recorded URL reaches a report.

use url::Url;

/// Query parameters whose values are secrets.
pub const SECRET_PARAMS: &[&str] =
    &["code", "password", "client_secret", "access_token", "id_token", "refresh_token", "code_verifier"];

/// Whether a query parameter's value is a secret.
pub fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.contains(&name)
}

/// The URL with secret query values replaced by `[redacted]`.
pub fn redact(url: &Url) -> String {
    if !url.query_pairs().any(|(k, _)| SECRET_PARAMS.contains(&k.as_ref())) {
        return url.to_string();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if SECRET_PARAMS.contains(&k.as_ref()) { "[redacted]".to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

/// A `Location` with secret query values redacted, kept relative when it was sent relative.
pub fn redact_location(base: &Url, location: &str) -> String {
    match base.join(location) {
        Ok(u) if location.starts_with('/') => {
            let full = redact(&u);
            full.strip_prefix(&format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
                .map(|rest| rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit()).to_string())
                .unwrap_or(full)
        }
        Ok(u) => redact(&u),
        Err(_) => location.to_string(),
    }
}

/// Replaces known secret values (passwords, client secrets, TOTP seeds) with `[redacted]`, and
/// so are values that are secret by their shape wherever they appear in free text (a browser's
/// console line, a page): the value of a `code=`, `access_token=`, `id_token=`, … parameter of
/// a URL, and anything shaped like a signed JWT.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    params: regex_lite::Regex,
    jwt: regex_lite::Regex,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Redactor {
    /// A redactor for these values.
    pub fn new(mut secrets: Vec<String>) -> Self {
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let names = SECRET_PARAMS.join("|");
        Self {
            secrets,
            params: regex_lite::Regex::new(&format!(r#"(?i)([?&#;](?:{names})=)[^&#\s"'<>]+"#))
                .unwrap_or_else(|_| unreachable!("a fixed pattern")),
            jwt: regex_lite::Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
                .unwrap_or_else(|_| unreachable!("a fixed pattern")),
        }
    }

    /// The text with every secret replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        let out = self.params.replace_all(&out, "${1}[redacted]");
        self.jwt.replace_all(&out, "[redacted-jwt]").into_owned()
    }

    /// A page dump (the browser's document with its shadow roots, serialised in the page by
    /// `drive::browser`): each secret replaced as it is there, raw, in text (`&`, `<`, `>`
    /// escaped) and in an attribute (`"` escaped), then the shapes as in [`Self::apply`]. The
    /// page is serialised by the browser, so its escaping is known and fixed.
    pub fn apply_page(&self, page: &str) -> String {
        let mut out = page.to_string();
        for secret in &self.secrets {
            let text = secret.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let attribute = secret.replace('"', "&quot;");
            for form in [text, attribute] {
                if form != *secret && out.contains(form.as_str()) {
                    out = out.replace(form.as_str(), "[redacted]");
                }
            }
        }
        self.apply(&out)
    }

    /// Every string in `value` redacted, object keys included. Redaction belongs on the data,
    /// before an encoder (JSON, XML, HTML) escapes a secret's `"`, `\`, `&`, `<` or `>` out of
    /// recognition.
    pub fn value(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(text) => *text = self.apply(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            Value::Object(map) => {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, mut item)| {
                        self.value(&mut item);
                        (self.apply(&key), item)
                    })
                    .collect();
            }
            _ => {}
        }
    }

    /// A copy of `data` with every string in it redacted (see [`Self::value`]); an error when it
    /// does not read back, so that nothing unredacted is written instead. Fields kept out of
    /// the serialisation (a hop's headers) are not in the copy.
    pub fn data<T: serde::Serialize + serde::de::DeserializeOwned>(&self, data: &T) -> std::io::Result<T> {
        let mut value = serde_json::to_value(data).map_err(std::io::Error::other)?;
        self.value(&mut value);
        serde_json::from_value(value)
            .map_err(|e| std::io::Error::other(format!("the redacted report does not read back: {e}")))
    }
}

#[cfg(test)]
mod redactor_tests {
    use super::Redactor;

    #[test]
    fn replaces_every_secret() {
        let r = Redactor::new(vec!["hunter2".into(), "hunter2-long".into()]);
        assert_eq!(r.apply("pw hunter2-long and hunter2"), "pw [redacted] and [redacted]");
    }

    #[test]
    fn replaces_codes_and_tokens_by_their_shape() {
        let r = Redactor::default();
        let console = "SEVERE http://127.0.0.1:4/callback?code=abc123XYZ&state=s1 - Failed to load resource";
        assert_eq!(
            r.apply(console),
            "SEVERE http://127.0.0.1:4/callback?code=[redacted]&state=s1 - Failed to load resource"
        );
        assert_eq!(r.apply("#id_token=x.y.z&access_token=t0k"), "#id_token=[redacted]&access_token=[redacted]");
        assert_eq!(r.apply("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln end"), "Bearer [redacted-jwt] end");
        assert_eq!(r.apply("?state=keep&scope=openid"), "?state=keep&scope=openid");
    }
}
