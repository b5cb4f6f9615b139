//! Trace bundles: one folder per scenario run with a HAR 1.2 file of every hop (headers and
//! timings, secrets redacted), ChatGPT's claims, the run's result, the scenario file, and the
//! browser's screenshots, page dumps and console. Browsers' developer tools import the HAR file.
//!
//! Redaction happens here, once, for everything a bundle holds: cookie and `Set-Cookie` values,
//! `Authorization` and the CSRF header are replaced whole (cookie names stay, so one can see
//! which cookies went), and every other header, URL and text goes through the run's
//! [`Redactor`] (known secrets, codes and tokens by their shape).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::Redactor;
use crate::result::{Hop, ScenarioResult, Timings};

/// The HAR file's name in a bundle.
pub const HAR_FILE: &str = "trace.har";

/// Headers whose whole value is a credential.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "x-authentik-csrf"];

/// Writes the bundle of one scenario run into `dir` (made if needed inside the run's own
/// folder; the browser's screenshots may already be there), every file new. Returns what it wrote.
pub fn write_bundle(
    dir: &Path,
    result: &ScenarioResult,
    scenario_file: &Path,
    redactor: &Redactor,
) -> std::io::Result<Vec<PathBuf>> {
    crate::files::make_dir(dir)?;
    let mut written = Vec::new();
    let mut write = |name: &str, text: String| -> std::io::Result<()> {
        let path = dir.join(name);
        crate::files::write_new(&path, text.as_bytes())?;
        written.push(path);
        Ok(())
    };
    let mut har = har(result, redactor);
    redactor.value(&mut har);
    write(HAR_FILE, serde_json::to_string_pretty(&har).unwrap_or_default())?;
    // Redacted as data, before JSON escapes a secret's characters.
    let redacted = |mut value: Value| {
        redactor.value(&mut value);
        redactor.apply(&serde_json::to_string_pretty(&value).unwrap_or_default())
    };
    write("result.json", redacted(serde_json::to_value(result).unwrap_or_default()))?;
    if let Some(claims) = &result.claims {
        write("claims.json", redacted(serde_json::to_value(claims).unwrap_or_default()))?;
    }
    if let Ok(text) = std::fs::read_to_string(scenario_file) {
        let name = scenario_file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        write(&format!("scenario-{name}"), redactor.apply(&text))?;
    }
    Ok(written)
}

/// The HAR 1.2 document of a run's hops: one page (the scenario), one entry per hop.
pub fn har(result: &ScenarioResult, redactor: &Redactor) -> Value {
    let first = result.hops.iter().filter_map(|h| h.exchange.as_ref()).map(|e| e.started_ms).find(|t| *t > 0.0);
    let page_start = iso8601(first.unwrap_or(0.0));
    let entries: Vec<Value> = result.hops.iter().map(|hop| entry(hop, redactor, &page_start)).collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "ak-e2e", "version": env!("CARGO_PKG_VERSION")},
            "pages": [{
                "startedDateTime": page_start,
                "id": "scenario",
                "title": format!("{} [{}]", result.name, result.driver.as_str()),
                "pageTimings": {"onContentLoad": -1, "onLoad": -1},
            }],
            "entries": entries,
            "comment": "Written by ak-e2e. Cookie, Set-Cookie, Authorization and CSRF values, codes, tokens and \
                        configured secrets are redacted; bodies are not recorded.",
        }
    })
}

fn entry(hop: &Hop, redactor: &Redactor, page_start: &str) -> Value {
    let exchange = hop.exchange.clone().unwrap_or_default();
    let url = redactor.apply(&hop.url);
    let query: Vec<Value> = url::Url::parse(&url)
        .map(|u| u.query_pairs().map(|(k, v)| json!({"name": k, "value": v})).collect())
        .unwrap_or_default();
    let started = if exchange.started_ms > 0.0 { iso8601(exchange.started_ms) } else { page_start.to_string() };
    let version = if exchange.http_version.is_empty() { "HTTP/1.1".to_string() } else { exchange.http_version };
    json!({
        "pageref": "scenario",
        "startedDateTime": started,
        "time": exchange.timings.total(),
        "request": {
            "method": hop.method,
            "url": url,
            "httpVersion": version,
            "cookies": cookies(&exchange.request_headers, "cookie"),
            "headers": headers(&exchange.request_headers, redactor),
            "queryString": query,
            "headersSize": -1,
            "bodySize": -1,
        },
        "response": {
            "status": hop.status,
            "statusText": exchange.status_text,
            "httpVersion": version,
            "cookies": cookies(&exchange.response_headers, "set-cookie"),
            "headers": headers(&exchange.response_headers, redactor),
            "content": {"size": 0, "mimeType": exchange.mime_type, "comment": "not recorded"},
            "redirectURL": hop.location.as_deref().map(|l| redactor.apply(&absolute(&url, l))).unwrap_or_default(),
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": timings(&exchange.timings),
        "_resourceType": if hop.api { "fetch" } else { "document" },
        "comment": hop.kind.map(|k| k.as_str()).unwrap_or_default(),
    })
}

/// A `Location` as an absolute URL, as browsers record it (the api driver keeps it as sent).
fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base).and_then(|b| b.join(location)).map(String::from).unwrap_or_else(|_| location.to_string())
}

fn timings(t: &Timings) -> Value {
    let known = |v: Option<f64>| v.map_or(json!(-1), |v| json!(v));
    json!({
        "blocked": known(t.blocked),
        "dns": known(t.dns),
        "connect": known(t.connect),
        "ssl": known(t.ssl),
        "send": t.send,
        "wait": t.wait,
        "receive": t.receive,
    })
}

/// Headers with credentials replaced: cookie values (names kept), credential headers whole,
/// and the rest through the redactor.
fn headers(list: &[(String, String)], redactor: &Redactor) -> Vec<Value> {
    list.iter()
        .flat_map(|(name, value)| {
            // Chromium logs repeated headers joined by newlines.
            value.split('\n').map(move |v| (name, v))
        })
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let value = match lower.as_str() {
                "cookie" => cookie_names("cookie", value)
                    .iter()
                    .map(|n| format!("{n}=[redacted]"))
                    .collect::<Vec<_>>()
                    .join("; "),
                "set-cookie" => {
                    let attributes = value.split_once(';').map(|(_, a)| a).unwrap_or_default();
                    let name = cookie_names("set-cookie", value).concat();
                    if attributes.is_empty() {
                        format!("{name}=[redacted]")
                    } else {
                        format!("{name}=[redacted];{}", redactor.apply(attributes))
                    }
                }
                _ if CREDENTIAL_HEADERS.contains(&lower.as_str()) => "[redacted]".to_string(),
                _ => redactor.apply(value),
            };
            json!({"name": name, "value": value})
        })
        .collect()
}

/// The cookies of a `Cookie` or `Set-Cookie` header, by name, values redacted.
fn cookies(list: &[(String, String)], header: &str) -> Vec<Value> {
    list.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(header))
        .flat_map(|(_, v)| v.split('\n'))
        .flat_map(|v| cookie_names(header, v))
        .filter(|name| !name.is_empty())
        .map(|name| json!({"name": name, "value": "[redacted]"}))
        .collect()
}

/// The cookie names in one `Cookie` header value (every pair's) or `Set-Cookie` value (its
/// first pair's; the rest are attributes).
fn cookie_names<'v>(header: &str, value: &'v str) -> Vec<&'v str> {
    let name = |pair: &'v str| pair.split('=').next().unwrap_or_default().trim();
    if header.eq_ignore_ascii_case("cookie") {
        value.split(';').map(name).collect()
    } else {
        value.split(';').next().map(name).into_iter().collect()
    }
}

/// Milliseconds since the epoch as ISO 8601 in UTC, e.g. `2026-11-27T15:42:30.125Z`.
fn iso8601(ms: f64) -> String {
    let whole = (ms.max(0.0) / 1000.0).floor() as u64;
    let millis = (ms.max(0.0) as u64) % 1000;
    let (year, month, day, hour, minute, second) = super::utc(whole);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_headers_are_redacted_and_cookie_names_kept() {
        let redactor = Redactor::new(vec!["s3cret".into()]);
        let list = vec![
            ("Cookie".to_string(), "authentik_session=abc; authentik_csrf=def".to_string()),
            ("X-authentik-CSRF".to_string(), "def".to_string()),
            ("set-cookie".to_string(), "authentik_session=abc; Path=/; HttpOnly\ncsrf=x".to_string()),
            ("location".to_string(), "/cb?code=c0de&state=s1".to_string()),
            ("x-echo".to_string(), "has s3cret".to_string()),
        ];
        let shown = serde_json::to_string(&headers(&list, &redactor)).expect("json");
        for leaked in ["abc", "def", "c0de", "s3cret", "=x"] {
            assert!(!shown.contains(leaked), "{leaked} in {shown}");
        }
        assert!(shown.contains("authentik_session=[redacted]; authentik_csrf=[redacted]"), "{shown}");
        assert!(shown.contains("authentik_session=[redacted]; Path=/; HttpOnly"), "{shown}");
        let names: Vec<Value> = cookies(&list, "set-cookie");
        assert_eq!(
            names,
            vec![
                json!({"name": "authentik_session", "value": "[redacted]"}),
                json!({"name": "csrf", "value": "[redacted]"})
            ]
        );
    }

    #[test]
    fn times_are_iso8601_utc() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_880_550_125.0), "2026-11-28T15:42:30.125Z");
    }
}
