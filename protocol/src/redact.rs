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
