//! `expect_redirect`: where the browser was sent since the previous expectation, and the
//! query of the redirect.

use serde_json::Value;
use url::Url;

use super::{Checked, Observation, check_value};
use crate::result::{Assertion, Hop, Subject};
use crate::scenario::{HopKind, NamedMatcher, Vars};

/// `expect_redirect`: the first redirect to `to` since the previous expectation (`since`), and
/// its query.
pub(crate) fn expect_redirect(seen_so_far: &Observation<'_>, to: HopKind, query: &[NamedMatcher]) -> Checked {
    let hops = seen_so_far.hops;
    let redirects = redirects_since(hops, seen_so_far.since);
    let mut assertions = Vec::new();
    let seen = || {
        let kinds: Vec<String> = redirects
            .iter()
            .map(|(_, u)| {
                (seen_so_far.classify)(u).map(|k| k.as_str().to_string()).unwrap_or_else(|| u.path().to_string())
            })
            .collect();
        if kinds.is_empty() { "no redirect".to_string() } else { format!("redirects to {}", kinds.join(" → ")) }
    };
    if to == HopKind::Nowhere {
        assertions.push(Assertion {
            subject: Subject::Redirect,
            expected: "no redirect".into(),
            actual: if redirects.is_empty() {
                "no redirect".into()
            } else {
                format!("{}; now at {}", seen(), seen_so_far.position.describe())
            },
            passed: redirects.is_empty(),
            hop: redirects.first().map(|(i, _)| *i),
            span: None,
        });
        return Ok(assertions);
    }
    let Some((index, location)) = redirects.iter().find(|(_, u)| (seen_so_far.classify)(u) == Some(to)).cloned() else {
        assertions.push(Assertion {
            subject: Subject::RedirectTo { to },
            expected: format!("a redirect to {}", to.as_str()),
            actual: format!("{}; now at {}", seen(), seen_so_far.position.describe()),
            passed: false,
            hop: None,
            span: None,
        });
        return Ok(assertions);
    };
    assertions.push(Assertion {
        subject: Subject::RedirectTo { to },
        expected: to.as_str().into(),
        actual: hops[index].location.clone().unwrap_or_default(),
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
    assertions.extend(check_query(&location, to, index, query, seen_so_far.vars, oauth_error.as_deref()));
    Ok(assertions)
}

/// Where the next `expect_redirect` starts after this one's assertions: past the redirect it
/// matched (past every hop for `nowhere`), or where it was when it found none.
pub(crate) fn next_since(seen: &Observation<'_>, to: HopKind, assertions: &[Assertion]) -> usize {
    if to == HopKind::Nowhere {
        return seen.hops.len();
    }
    let matched = assertions.iter().find(|a| a.passed && matches!(a.subject, Subject::RedirectTo { .. }));
    matched.and_then(|a| a.hop).map_or(seen.since, |index| index + 1)
}

/// Where the browser was sent since the previous expectation: the Location of each HTTP
/// redirect, and each page a flow redirect (`xak-flow-redirect`, a script navigation) opened.
fn redirects_since(hops: &[Hop], cursor: usize) -> Vec<(usize, Url)> {
    hops.iter()
        .enumerate()
        .skip(cursor)
        .filter(|(_, h)| !h.api)
        .flat_map(|(i, h)| {
            let mut out = Vec::new();
            let Ok(here) = Url::parse(&h.url) else { return out };
            // A page opened right after authentik's flow executor answered is its flow redirect
            // (other pages' scripts, like ChatGPT's email lookup, do not redirect).
            if i > 0 && hops[i - 1].api && ak_protocol::authentik::paths::is_executor(&hops[i - 1].url) {
                out.push((i, here.clone()));
            }
            if (300..400).contains(&h.status)
                && let Some(to) = h.location.as_deref().and_then(|l| here.join(l).ok())
            {
                out.push((i, to));
            }
            out
        })
        .collect()
}

/// The redirect's query parameters against the step's matchers; a secret one is shown as
/// present only, and an OAuth error in the redirect is added to each that fails.
fn check_query(
    location: &Url,
    to: HopKind,
    index: usize,
    query: &[NamedMatcher],
    vars: &Vars,
    oauth_error: Option<&str>,
) -> Vec<Assertion> {
    let mut assertions = Vec::new();
    for m in query {
        let value = location.query_pairs().find(|(k, _)| *k == m.name).map(|(_, v)| Value::String(v.into_owned()));
        let shown = if ak_protocol::redact::is_secret_param(&m.name) { None } else { value.clone() };
        let mut assertion = check_value(
            Subject::RedirectParameter { to, name: m.name.clone() },
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
            && let Some(e) = oauth_error
        {
            assertion.actual.push_str(e);
        }
        assertions.push(assertion);
    }
    assertions
}
