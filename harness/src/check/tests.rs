//! Table tests of the checks: each expectation kind where it passes and where it fails, with what
//! the assertion says.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{check_value, expect_authentik, expect_landing};
use crate::drive::Position;
use crate::result::{Assertion, StepResult, StepStatus, Subject};
use crate::scenario::{AuthentikExpectation, Landing, Matcher, Template};
use ak_protocol::authentik::Stage;

fn step() -> StepResult {
    StepResult {
        name: "step".into(),
        span: crate::diagnostic::Span { file: "s.yaml".into(), line: 1, col: 1, len: 1 },
        status: StepStatus::Passed,
        assertions: Vec::new(),
        error: None,
        hint: None,
        duration_ms: 0,
    }
}

/// (passed, expected, actual) of each assertion.
fn said(assertions: &[Assertion]) -> Vec<(bool, String, String)> {
    assertions.iter().map(|a| (a.passed, a.expected.clone(), a.actual.clone())).collect()
}

fn matcher(f: impl FnOnce(&mut Matcher)) -> Matcher {
    let mut m = Matcher::default();
    f(&mut m);
    m
}

/// Every matcher, on a present string, an empty one, a number, an array and an absent value.
#[test]
fn each_matcher_passes_and_fails_where_it_must() {
    let vars: BTreeMap<String, String> = [("users.ann.email".to_string(), "ann@example.com".to_string())].into();
    let ann = json!("ann@example.com");
    let empty = json!(" ");
    let number = json!(3);
    let list = json!(["pwd", "mfa"]);
    let equals = matcher(|m| m.equals = Some(Template("{{ users.ann.email }}".into())));
    let not_equals = matcher(|m| m.not_equals = Some(Template("Ann Lee".into())));
    let matches = matcher(|m| m.matches = Some("^ann@".into()));
    let present = matcher(|m| m.present = Some(true));
    let absent = matcher(|m| m.present = Some(false));
    let non_empty = matcher(|m| m.non_empty = Some(true));
    let both = matcher(|m| {
        m.present = Some(true);
        m.matches = Some("example".into());
    });
    let cases: Vec<(&Matcher, Option<&Value>, bool, &str, &str)> = vec![
        (&equals, Some(&ann), true, "\"ann@example.com\"", "\"ann@example.com\""),
        (&equals, Some(&number), false, "\"ann@example.com\"", "3"),
        (&equals, None, false, "\"ann@example.com\"", "absent"),
        (&not_equals, Some(&ann), true, "not \"Ann Lee\"", "\"ann@example.com\""),
        (&not_equals, None, false, "not \"Ann Lee\"", "absent"),
        (&matches, Some(&ann), true, "matching /^ann@/", "\"ann@example.com\""),
        (&matches, Some(&empty), false, "matching /^ann@/", "\" \""),
        (&present, Some(&number), true, "present", "3"),
        (&present, None, false, "present", "absent"),
        (&absent, None, true, "absent", "absent"),
        (&absent, Some(&ann), false, "absent", "\"ann@example.com\""),
        (&non_empty, Some(&list), true, "non-empty", "[\"pwd\",\"mfa\"]"),
        (&non_empty, Some(&empty), false, "non-empty", "\" \""),
        (&non_empty, None, false, "non-empty", "absent"),
        (&both, Some(&ann), true, "present and matching /example/", "\"ann@example.com\""),
        (&both, Some(&number), false, "present and matching /example/", "3"),
    ];
    for (m, value, passed, expected, actual) in cases {
        let subject = Subject::Landing;
        let a = check_value(subject, value, m, &vars, None);
        assert_eq!(
            (a.passed, a.expected.as_str(), a.actual.as_str()),
            (passed, expected, actual),
            "{m:?} on {value:?}"
        );
    }
}

fn flow(component: &str, errors: &[&str]) -> Position {
    Position::Flow {
        slug: "default-authentication-flow".into(),
        query: String::new(),
        stage: Stage { component: component.into(), errors: errors.iter().map(|e| e.to_string()).collect() },
    }
}

fn page(title: &str, status: u16) -> Position {
    Position::AuthentikPage { status, title: title.into(), message: String::new() }
}

/// `expect_authentik`: a stage (with and without its message) and a page (with and without its
/// status), each where it holds and where the login is elsewhere.
#[test]
fn each_authentik_expectation_passes_and_fails_where_it_must() {
    let stage = |s: &str, e: Option<&str>| AuthentikExpectation::Stage { stage: s.into(), error: e.map(String::from) };
    let page_of = |t: &str, s: Option<u16>| AuthentikExpectation::Page { title: t.into(), status: s };
    let cases: Vec<(AuthentikExpectation, Position, Vec<bool>)> = vec![
        (stage("password", None), flow("ak-stage-password", &[]), vec![true]),
        (stage("password", None), flow("ak-stage-identification", &[]), vec![false]),
        (
            stage("password", Some("Invalid password")),
            flow("ak-stage-password", &["Invalid password"]),
            vec![true, true],
        ),
        (stage("password", Some("Invalid password")), flow("ak-stage-password", &[]), vec![true, false]),
        (stage("authenticator_validate", None), flow("ak-stage-authenticator-validate", &[]), vec![true]),
        (stage("consent", None), page("Permission denied", 200), vec![false]),
        (page_of("Permission denied", None), page("Permission denied", 200), vec![true]),
        (page_of("Redirect URI Error", Some(400)), page("Redirect URI Error", 400), vec![true, true]),
        (page_of("Redirect URI Error", Some(400)), page("Redirect URI Error", 200), vec![true, false]),
        (page_of("Permission denied", Some(200)), flow("ak-stage-password", &[]), vec![false, false]),
    ];
    for (expectation, position, want) in cases {
        let mut result = step();
        expect_authentik(&position, &expectation, &mut result);
        let got: Vec<bool> = result.assertions.iter().map(|a| a.passed).collect();
        assert_eq!(got, want, "{expectation:?} at {}: {:?}", position.describe(), said(&result.assertions));
    }
}

/// `expect_landing`: the conversation page and an error page with its code, each where it holds
/// and where the login is elsewhere.
#[test]
fn each_landing_passes_and_fails_where_it_must() {
    let conversation = Position::Chatgpt {
        status: 200,
        path: "/".into(),
        body: r#"<main data-testid="conversation">Hi</main>"#.into(),
    };
    let error = Position::Chatgpt {
        status: 502,
        path: "/auth/callback".into(),
        body: r#"<code data-testid="error-code">missing_claim_email</code><p data-testid="error-detail">no email</p>"#
            .into(),
    };
    let password = flow("ak-stage-password", &["Invalid password"]);
    let email = Landing::Error(chatgpt_rp::ErrorCode::MissingClaimEmail);
    let nonce = Landing::Error(chatgpt_rp::ErrorCode::NonceMismatch);
    let cases: Vec<(&Landing, &Position, bool)> = vec![
        (&Landing::Conversation, &conversation, true),
        (&Landing::Conversation, &error, false),
        (&Landing::Conversation, &password, false),
        (&email, &error, true),
        (&nonce, &error, false),
        (&email, &conversation, false),
    ];
    for (landing, position, passed) in cases {
        let mut result = step();
        expect_landing(position, landing, &mut result);
        assert_eq!(result.assertions.len(), 1);
        let a = &result.assertions[0];
        assert_eq!(a.passed, passed, "{landing:?} at {}: {:?}", position.describe(), said(&result.assertions));
        assert_eq!(a.actual, position.describe());
    }
}

fn hop(url: &str, status: u16, location: Option<&str>, api: bool) -> crate::result::Hop {
    crate::result::Hop {
        method: "GET".into(),
        url: url.into(),
        status,
        location: location.map(String::from),
        kind: None,
        api,
        exchange: None,
    }
}

/// What a URL is, by its path, as the environment tells it.
fn classify(url: &url::Url) -> Option<crate::scenario::HopKind> {
    use crate::scenario::HopKind;
    match url.path() {
        "/application/o/authorize/" => Some(HopKind::AuthentikAuthorize),
        p if p.starts_with("/if/flow/") => Some(HopKind::AuthentikFlow),
        "/sso/oidc/conn_authentik/callback" => Some(HopKind::ChatgptCallback),
        _ => None,
    }
}

/// `expect_redirect`: a redirect found with its query checked (a secret parameter shown as
/// present only, an OAuth error added to a failing one), one not found, the cursor moving past
/// what was matched, a flow redirect by the executor, and `nowhere`.
#[test]
fn each_redirect_expectation_passes_and_fails_where_it_must() {
    use super::expect_redirect;
    use crate::scenario::{HopKind, NamedMatcher};
    let span = crate::diagnostic::Span { file: "s.yaml".into(), line: 1, col: 1, len: 1 };
    let named = |name: &str, m: Matcher| NamedMatcher { name: name.into(), matcher: m, span: span.clone() };
    let hops = vec![
        hop("http://c/auth/login", 302, Some("http://a/application/o/authorize/?client_id=chatgpt&state=s1"), false),
        hop("http://a/application/o/authorize/?client_id=chatgpt", 302, Some("/if/flow/login/?next=x"), false),
        hop("http://a/if/flow/login/", 200, None, false),
        hop("http://a/api/v3/flows/executor/login/", 200, None, true),
        hop("http://c/sso/oidc/conn_authentik/callback?code=abc&state=s1", 200, None, false),
    ];
    let position = Position::Start;
    let seen = super::Observation { hops: &hops, position: &position, classify: &classify };
    let vars = BTreeMap::new();
    let present = matcher(|m| m.present = Some(true));
    let chatgpt = matcher(|m| m.equals = Some(Template("chatgpt".into())));
    let other = matcher(|m| m.equals = Some(Template("other".into())));

    let mut cursor = 0;
    let mut result = step();
    expect_redirect(
        &seen,
        HopKind::AuthentikAuthorize,
        &[named("client_id", chatgpt.clone())],
        &vars,
        &mut cursor,
        &mut result,
    );
    assert_eq!(said(&result.assertions).iter().map(|a| a.0).collect::<Vec<_>>(), [true, true]);
    assert_eq!(cursor, 1, "past the matched redirect");

    // The flow page, then the callback the executor's answer led to, with its code shown as
    // present only.
    let mut result = step();
    expect_redirect(&seen, HopKind::AuthentikFlow, &[], &vars, &mut cursor, &mut result);
    let mut result2 = step();
    expect_redirect(&seen, HopKind::ChatgptCallback, &[named("code", present)], &vars, &mut cursor, &mut result2);
    assert!(result.assertions.iter().chain(&result2.assertions).all(|a| a.passed), "{:?}", said(&result2.assertions));
    assert_eq!(result2.assertions[1].actual, "present ([redacted])");

    // A parameter with another value fails; a redirect not made fails naming what was seen.
    let mut cursor = 0;
    let mut result = step();
    expect_redirect(&seen, HopKind::AuthentikAuthorize, &[named("client_id", other)], &vars, &mut cursor, &mut result);
    assert_eq!(said(&result.assertions)[1], (false, "\"other\"".to_string(), "\"chatgpt\"".to_string()));
    let mut result = step();
    expect_redirect(&seen, HopKind::AuthentikAuthorize, &[], &vars, &mut cursor, &mut result);
    assert!(!result.assertions[0].passed);
    assert!(
        result.assertions[0].actual.starts_with("redirects to authentik.flow → chatgpt.callback"),
        "{:?}",
        said(&result.assertions)
    );

    // `nowhere`: passes with no redirect since the cursor, fails with one.
    let mut at_end = hops.len();
    let mut result = step();
    expect_redirect(&seen, HopKind::Nowhere, &[], &vars, &mut at_end, &mut result);
    assert!(result.assertions[0].passed);
    let mut from_start = 0;
    let mut result = step();
    expect_redirect(&seen, HopKind::Nowhere, &[], &vars, &mut from_start, &mut result);
    assert!(!result.assertions[0].passed);
}
