//! Checks: expectations evaluated against what a driver recorded (hops, position, ChatGPT's
//! record), each producing assertions with expected, actual and where they are written.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use crate::driver::api::{ApiDriver, DriveError};
use crate::driver::{Position, chatgpt_error, flow_errors};
use crate::result::{Assertion, StepResult};
use crate::runner::Driver;
use crate::scenario::{AuthentikExpectation, HopKind, Landing, Matcher, NamedMatcher};

/// The protocol checks of an ID token the harness received as the client: signature by the
/// JWKS key its `kid` names, alg as advertised, `iss`, `aud`, `nonce`, `exp`.
pub(crate) async fn check_id_token(
    api: &mut ApiDriver<'_>,
    vars: &BTreeMap<String, String>,
    token: &str,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let mut check = |subject: &str, expected: String, actual: String, passed: bool| {
        result.assertions.push(Assertion { subject: subject.into(), expected, actual, passed, hop: None, span: None });
    };
    let jwt = match ak_protocol::jose::Jwt::parse(token) {
        Ok(j) => j,
        Err(e) => {
            check("ID token", "a JWT".into(), e, false);
            return Ok(());
        }
    };
    let discovery = api.discovery().await?;
    let advertised: Vec<String> = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    check(
        "ID token alg",
        format!("one of {advertised:?}, not none"),
        jwt.alg().to_string(),
        jwt.alg() != "none" && advertised.iter().any(|a| a == jwt.alg()),
    );
    if jwt.alg() == "RS256" {
        let jwks_uri = discovery["jwks_uri"].as_str().and_then(|u| Url::parse(u).ok());
        let jwks = match jwks_uri {
            Some(u) => api.get_json(u).await?,
            None => Value::Null,
        };
        let key = jwks["keys"].as_array().and_then(|keys| keys.iter().find(|k| k["kid"].as_str() == jwt.kid()));
        let verified =
            key.and_then(|k| ak_protocol::jose::rsa_public_key_from_jwk(k).ok()).is_some_and(|k| jwt.verify_rs256(&k));
        let actual = match (key, verified) {
            (None, _) => format!("no JWKS key with kid {:?}", jwt.kid()),
            (Some(_), false) => "the signature does not verify".into(),
            (Some(_), true) => "verified".into(),
        };
        check("ID token signature", "verified with the JWKS key of its kid".into(), actual, verified);
    }
    let claim =
        |name: &str| jwt.claims.get(name).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    let issuer = vars.get("authentik.issuer").cloned().unwrap_or_default();
    let iss = claim("iss").unwrap_or_else(|| "absent".into());
    check("ID token claim `iss`", format!("\"{issuer}\""), format!("\"{iss}\""), iss == issuer);
    let client_id = vars.get("application.client_id").cloned().unwrap_or_default();
    let aud = claim("aud").unwrap_or_else(|| "absent".into());
    check("ID token claim `aud`", format!("\"{client_id}\""), format!("\"{aud}\""), aud == client_id);
    if let Some(nonce) = api.client.as_ref().and_then(|c| c.nonce.clone()) {
        let got = claim("nonce");
        check(
            "ID token claim `nonce`",
            "the nonce sent".into(),
            if got.is_some() { "a different nonce".into() } else { "absent".into() },
            got.as_deref() == Some(nonce.as_str()),
        );
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let exp = jwt.claims.get("exp").and_then(Value::as_i64);
    check(
        "ID token claim `exp`",
        "in the future".into(),
        exp.map(|e| format!("{}s from now", e - now)).unwrap_or("absent".into()),
        exp.is_some_and(|e| e > now),
    );
    Ok(())
}

pub(crate) fn expect_redirect(
    driver: &Driver<'_>,
    to: HopKind,
    query: &[NamedMatcher],
    vars: &BTreeMap<String, String>,
    cursor: &mut usize,
    result: &mut StepResult,
) {
    // Where the browser was sent since the previous expectation: the Location of each HTTP
    // redirect, and each page a flow redirect (`xak-flow-redirect`, a script navigation) opened.
    let hops = driver.hops();
    let redirects: Vec<(usize, Url)> = hops
        .iter()
        .enumerate()
        .skip(*cursor)
        .filter(|(_, h)| !h.api)
        .flat_map(|(i, h)| {
            let mut out = Vec::new();
            let Ok(here) = Url::parse(&h.url) else { return out };
            // A page opened right after authentik's flow executor answered is its flow redirect
            // (other pages' scripts, like ChatGPT's email lookup, do not redirect).
            if i > 0 && hops[i - 1].api && hops[i - 1].url.contains("/api/v3/flows/executor/") {
                out.push((i, here.clone()));
            }
            if (300..400).contains(&h.status)
                && let Some(to) = h.location.as_deref().and_then(|l| here.join(l).ok())
            {
                out.push((i, to));
            }
            out
        })
        .collect();
    let seen = || {
        let kinds: Vec<String> = redirects
            .iter()
            .map(|(_, u)| driver.classify(u).map(|k| k.as_str().to_string()).unwrap_or_else(|| u.path().to_string()))
            .collect();
        if kinds.is_empty() { "no redirect".to_string() } else { format!("redirects to {}", kinds.join(" → ")) }
    };
    if to == HopKind::Nowhere {
        result.assertions.push(Assertion {
            subject: "redirect".into(),
            expected: "no redirect".into(),
            actual: if redirects.is_empty() {
                "no redirect".into()
            } else {
                format!("{}; now at {}", seen(), driver.position().describe())
            },
            passed: redirects.is_empty(),
            hop: redirects.first().map(|(i, _)| *i),
            span: None,
        });
        *cursor = driver.hops().len();
        return;
    }
    let Some((index, location)) = redirects.iter().find(|(_, u)| driver.classify(u) == Some(to)).cloned() else {
        result.assertions.push(Assertion {
            subject: format!("redirect to {}", to.as_str()),
            expected: format!("a redirect to {}", to.as_str()),
            actual: format!("{}; now at {}", seen(), driver.position().describe()),
            passed: false,
            hop: None,
            span: None,
        });
        return;
    };
    *cursor = index + 1;
    result.assertions.push(Assertion {
        subject: format!("redirect to {}", to.as_str()),
        expected: to.as_str().into(),
        actual: driver.hops()[index].location.clone().unwrap_or_default(),
        passed: true,
        hop: Some(index),
        span: None,
    });
    // An OAuth error in the redirect explains any parameter that is missing.
    let oauth_error = location.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| {
        let description = location
            .query_pairs()
            .find(|(k, _)| k == "error_description")
            .map(|(_, d)| format!(" ({d})"))
            .unwrap_or_default();
        format!("; the redirect carries error=`{v}`{description}")
    });
    for m in query {
        let value = location.query_pairs().find(|(k, _)| *k == m.name).map(|(_, v)| Value::String(v.into_owned()));
        let shown = if crate::driver::api::is_secret_param(&m.name) { None } else { value.clone() };
        let mut assertion = check_value(
            &format!("query parameter `{}` of the redirect to {}", m.name, to.as_str()),
            value.as_ref(),
            &m.matcher,
            vars,
            Some(index),
        );
        if shown.is_none() && value.is_some() {
            assertion.actual = "present ([redacted])".into();
        }
        assertion.span = Some(m.span.clone());
        if !assertion.passed
            && let Some(e) = &oauth_error
        {
            assertion.actual.push_str(e);
        }
        result.assertions.push(assertion);
    }
}

pub(crate) fn expect_authentik(position: &Position, expectation: &AuthentikExpectation, result: &mut StepResult) {
    match expectation {
        AuthentikExpectation::Stage { stage, error } => {
            let want = format!("ak-stage-{}", stage.replace('_', "-"));
            let (component, errors) = match position {
                Position::Flow { challenge, .. } => {
                    (challenge["component"].as_str().unwrap_or("?").to_string(), flow_errors(challenge))
                }
                _ => (String::new(), Vec::new()),
            };
            result.assertions.push(Assertion {
                subject: "authentik stage".into(),
                expected: want.clone(),
                actual: position.describe(),
                passed: component == want,
                hop: None,
                span: None,
            });
            if let Some(error) = error {
                result.assertions.push(Assertion {
                    subject: "authentik's message".into(),
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
            result.assertions.push(Assertion {
                subject: "authentik page".into(),
                expected: format!("\"{title}\""),
                actual: position.describe(),
                passed: actual_title == *title,
                hop: None,
                span: None,
            });
            if let Some(status) = status {
                result.assertions.push(Assertion {
                    subject: "HTTP status of the authentik page".into(),
                    expected: status.to_string(),
                    actual: actual_status.map(|s| s.to_string()).unwrap_or_else(|| "no authentik page".into()),
                    passed: actual_status == Some(*status),
                    hop: None,
                    span: None,
                });
            }
        }
    }
}

pub(crate) fn expect_landing(position: &Position, landing: &Landing, result: &mut StepResult) {
    let (code, conversation) = match position {
        Position::Chatgpt { body, .. } => {
            (chatgpt_error(body).map(|(c, _)| c), body.contains(r#"data-testid="conversation""#))
        }
        _ => (None, false),
    };
    let (expected, passed) = match landing {
        Landing::Conversation => ("ChatGPT's conversation page".to_string(), conversation),
        Landing::Error(want) => (format!("ChatGPT error `{want}`"), code.as_deref() == Some(want.as_str())),
    };
    result.assertions.push(Assertion {
        subject: "landing".into(),
        expected,
        actual: position.describe(),
        passed,
        hop: None,
        span: None,
    });
}

/// Checks one value against a matcher; `actual` shows the value (or its absence).
pub(crate) fn check_value(
    subject: &str,
    value: Option<&Value>,
    matcher: &Matcher,
    vars: &BTreeMap<String, String>,
    hop: Option<usize>,
) -> Assertion {
    let text = value.map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let shown = match (&text, value) {
        (Some(_), Some(Value::String(s))) => format!("\"{s}\""),
        (Some(t), _) => t.clone(),
        (None, _) => "absent".into(),
    };
    let mut expected = Vec::new();
    let mut passed = true;
    if let Some(present) = matcher.present {
        expected.push(if present { "present".to_string() } else { "absent".to_string() });
        passed &= value.is_some() == present;
    }
    if let Some(non_empty) = matcher.non_empty {
        expected.push(if non_empty { "non-empty".to_string() } else { "empty".to_string() });
        let is_non_empty = match value {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        passed &= is_non_empty == non_empty;
    }
    if let Some(equals) = &matcher.equals {
        let want = equals.render(vars);
        expected.push(format!("\"{want}\""));
        passed &= text.as_deref() == Some(want.as_str());
    }
    if let Some(not_equals) = &matcher.not_equals {
        let unwanted = not_equals.render(vars);
        expected.push(format!("not \"{unwanted}\""));
        passed &= text.is_some() && text.as_deref() != Some(unwanted.as_str());
    }
    if let Some(pattern) = &matcher.matches {
        expected.push(format!("matching /{pattern}/"));
        passed &= regex_lite::Regex::new(pattern).is_ok_and(|re| text.as_deref().is_some_and(|t| re.is_match(t)));
    }
    Assertion { subject: subject.into(), expected: expected.join(" and "), actual: shown, passed, hop, span: None }
}
