//! Reading HTTP answers from a server that may be hostile or broken: every body is read within
//! a size cap and the request's deadline, and what went wrong is said as it happened — timed
//! out (after how long), cut off (after how many bytes), too large, not JSON — never as a
//! different symptom. Used by the harness and by the mock ChatGPT alike.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// The largest body read from any server: discovery documents, JWKS, token answers and pages are
/// far smaller; an endless answer stops here instead of filling memory.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Why a body could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The request's deadline passed while the body was still coming.
    TimedOut {
        /// The deadline that passed.
        after: Duration,
        /// Bytes read by then.
        read: usize,
    },
    /// The connection ended before the body did.
    Truncated {
        /// Bytes read before it ended.
        read: usize,
        /// What the HTTP stack said.
        cause: String,
    },
    /// The body is larger than [`MAX_BODY`].
    TooLarge {
        /// The cap on the body's size, in bytes.
        limit: usize,
    },
    /// The body arrived whole but is not the JSON asked for.
    NotJson {
        /// What the parser said.
        cause: String,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TimedOut { after, read } => {
                write!(f, "timed out after {} while reading the body ({read} bytes had arrived)", secs(*after))
            }
            BodyError::Truncated { read, cause } => {
                write!(f, "the connection closed after {read} bytes, before the body's end ({cause})")
            }
            BodyError::TooLarge { limit } => write!(f, "the body is larger than {limit} bytes; stopped reading"),
            BodyError::NotJson { cause } => write!(f, "the body is not JSON ({cause})"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A duration as people write it: `10 s`, `1.5 s`, `250 ms`.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A failed request (before any body) in one line that says what happened: timed out after the
/// deadline, refused, or the innermost causes.
pub fn describe(error: &reqwest::Error, deadline: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} without an answer", secs(deadline));
    }
    if error.is_connect() {
        return "connection refused or host unreachable".into();
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() { error.to_string() } else { causes.join(": ") }
}

/// Reads the whole body, within [`MAX_BODY`]; `deadline` is the client's request timeout (it
/// covers the body too), named when it passes.
pub async fn read_body(mut response: reqwest::Response, deadline: Duration) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge { limit: MAX_BODY });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(BodyError::TooLarge { limit: MAX_BODY });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(BodyError::TimedOut { after: deadline, read: body.len() }),
            Err(e) => return Err(BodyError::Truncated { read: body.len(), cause: describe(&e, deadline) }),
        }
    }
}

/// Reads the body as text (lossy UTF-8), within [`MAX_BODY`] and the deadline.
pub async fn read_text(response: reqwest::Response, deadline: Duration) -> Result<String, BodyError> {
    read_body(response, deadline).await.map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Reads the body as JSON, within [`MAX_BODY`] and the deadline.
pub async fn read_json(response: reqwest::Response, deadline: Duration) -> Result<Value, BodyError> {
    let body = read_body(response, deadline).await?;
    serde_json::from_slice(&body).map_err(|e| BodyError::NotJson { cause: e.to_string() })
}

/// The value of cookie `name` in the text of a `Cookie` header (`a=1; b=2`).
pub fn cookie_in<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn request_cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| cookie_in(v, name))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BodyError, secs};

    #[test]
    fn says_what_happened() {
        assert_eq!(secs(Duration::from_secs(10)), "10 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(secs(Duration::from_millis(250)), "250 ms");
        let timed_out = BodyError::TimedOut { after: Duration::from_secs(3), read: 17 };
        assert_eq!(timed_out.to_string(), "timed out after 3 s while reading the body (17 bytes had arrived)");
    }
}
