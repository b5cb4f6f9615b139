//! Table tests of the checks: each expectation kind where it passes and where it fails, with what
//! the assertion says.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Checked, Observation, check_value, expect_authentik, expect_claims, expect_landing};
use crate::observation::Position;
use crate::result::{Assertion, Hop, Subject};
use crate::scenario::{
    ApplicationVars, AuthentikExpectation, ClaimSource, HopKind, Landing, Matcher, NamedMatcher, Template, Vars,
};
use ak_protocol::authentik::Stage;

fn vars() -> Vars {
    let named = BTreeMap::from([("users.ann.email".to_string(), "ann@example.com".to_string())]);
    Vars::new(named, ApplicationVars { client_id: "chatgpt".into(), ..Default::default() })
}

/// What the checks see: `position` and ChatGPT's `attempt`, with the hops given.
fn observe<'a>(
    hops: &'a [Hop],
    since: usize,
    position: &'a Position,
    attempt: Option<&'a chatgpt_rp::Attempt>,
    vars: &'a Vars,
) -> Observation<'a> {
    Observation { hops, since, position, classify: &classify, chatgpt: attempt, vars }
}

/// The assertions of a check that had something to judge.
fn judged(checked: Checked) -> Vec<Assertion> {
    checked.unwrap_or_else(|why| panic!("nothing to judge: {why}"))
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
    let vars = vars();
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
    let stage = |s: &str, e: Option<&str>| AuthentikExpectation::Stage {
        stage: ak_protocol::authentik::component::Component::named(s).expect("a stage"),
        error: e.map(String::from),
    };
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
    let vars = vars();
    for (expectation, position, want) in cases {
        let assertions = judged(expect_authentik(&observe(&[], 0, &position, None, &vars), &expectation));
        let got: Vec<bool> = assertions.iter().map(|a| a.passed).collect();
        assert_eq!(got, want, "{expectation:?} at {}: {:?}", position.describe(), said(&assertions));
    }
}

/// `expect_landing`: the conversation page and an error page with its code, each where it holds
/// and where the login is elsewhere.
#[test]
fn each_landing_passes_and_fails_where_it_must() {
    let conversation = Position::Chatgpt {
        status: 200,
        path: "/".into(),
        shown: chatgpt_rp::Shown::Conversation { name: "Ann Lee".into(), email: "ann@example.com".into() },
    };
    let error = Position::Chatgpt {
        status: 502,
        path: "/auth/callback".into(),
        shown: chatgpt_rp::Shown::Error { code: "missing_claim_email".into(), detail: "no email".into() },
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
    let vars = vars();
    for (landing, position, passed) in cases {
        let assertions = judged(expect_landing(&observe(&[], 0, position, None, &vars), landing));
        assert_eq!(assertions.len(), 1);
        let a = &assertions[0];
        assert_eq!(a.passed, passed, "{landing:?} at {}: {:?}", position.describe(), said(&assertions));
        assert_eq!(a.actual, position.describe());
    }
    // Signed in with a token a standard client refuses: the landing holds, the second opinion
    // fails with the refusal.
    let mut refused = attempt(Some(json!({"sub": "x"})), None);
    refused.checks.push(chatgpt_rp::Check {
        name: chatgpt_rp::second_opinion::CHECK,
        outcome: chatgpt_rp::Outcome::Note,
        detail: "openidconnect's Core verifier refuses it: Invalid audiences: `api` is not a trusted audience".into(),
    });
    let assertions =
        judged(expect_landing(&observe(&[], 0, &conversation, Some(&refused), &vars), &Landing::Conversation));
    assert_eq!(said(&assertions).iter().map(|a| a.0).collect::<Vec<_>>(), [true, false]);
    assert_eq!(assertions[1].subject, Subject::IdTokenSecondOpinion);
    assert!(assertions[1].actual.contains("Invalid audiences"));
}

fn hop(url: &str, status: u16, location: Option<&str>, api: bool) -> Hop {
    Hop {
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
fn classify(url: &url::Url) -> Option<HopKind> {
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
    use super::{expect_redirect, next_since};
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
    let vars = vars();
    let present = matcher(|m| m.present = Some(true));
    let chatgpt = matcher(|m| m.equals = Some(Template("{{ application.client_id }}".into())));
    let other = matcher(|m| m.equals = Some(Template("other".into())));
    // The check from `since`, and where the next one starts.
    let check = |since: usize, to: HopKind, query: &[NamedMatcher]| {
        let seen = observe(&hops, since, &position, None, &vars);
        let assertions = judged(expect_redirect(&seen, to, query));
        let next = next_since(&seen, to, &assertions);
        (assertions, next)
    };

    let (assertions, since) = check(0, HopKind::AuthentikAuthorize, &[named("client_id", chatgpt.clone())]);
    assert_eq!(said(&assertions).iter().map(|a| a.0).collect::<Vec<_>>(), [true, true]);
    assert_eq!(since, 1, "past the matched redirect");

    // The flow page, then the callback the executor's answer led to, with its code shown as
    // present only.
    let (flow, since) = check(since, HopKind::AuthentikFlow, &[]);
    let (callback, since) = check(since, HopKind::ChatgptCallback, &[named("code", present)]);
    assert!(flow.iter().chain(&callback).all(|a| a.passed), "{:?}", said(&callback));
    assert_eq!(callback[1].actual, "present ([redacted])");
    assert_eq!(since, 5);

    // A parameter with another value fails; a redirect not made fails naming what was seen, and
    // leaves `since` where it was.
    let (assertions, since) = check(0, HopKind::AuthentikAuthorize, &[named("client_id", other)]);
    assert_eq!(said(&assertions)[1], (false, "\"other\"".to_string(), "\"chatgpt\"".to_string()));
    let (assertions, still) = check(since, HopKind::AuthentikAuthorize, &[]);
    assert!(!assertions[0].passed);
    assert_eq!(still, since);
    assert!(
        assertions[0].actual.starts_with("redirects to authentik.flow → chatgpt.callback"),
        "{:?}",
        said(&assertions)
    );

    // `nowhere`: passes with no redirect since `since`, fails with one; either way the next
    // check starts after every hop.
    let (assertions, next) = check(hops.len(), HopKind::Nowhere, &[]);
    assert!(assertions[0].passed);
    assert_eq!(next, hops.len());
    let (assertions, next) = check(0, HopKind::Nowhere, &[]);
    assert!(!assertions[0].passed);
    assert_eq!(next, hops.len());
}

/// ChatGPT's record of an attempt: `claims` received in the ID token, none from userinfo,
/// stopped with `error` if given.
fn attempt(claims: Option<Value>, error: Option<chatgpt_rp::ErrorCode>) -> chatgpt_rp::Attempt {
    let mut attempt = chatgpt_rp::Attempt::new(1, chatgpt_rp::Mode::Login, "http://a/".into());
    attempt.id_token_claims = claims.and_then(|c| c.as_object().cloned());
    attempt.error = error.map(|code| chatgpt_rp::Failure::new(code, "d"));
    attempt
}

/// `expect_claims`: each matcher on the claims ChatGPT received, and nothing to judge (with
/// where the login stopped) when ChatGPT has no record, no such set, or stopped earlier.
#[test]
fn each_claims_expectation_passes_fails_or_has_nothing_to_judge() {
    let span = crate::diagnostic::Span { file: "s.yaml".into(), line: 4, col: 7, len: 5 };
    let claim = |name: &str, m: Matcher| NamedMatcher { name: name.into(), matcher: m, span: span.clone() };
    let email = claim("email", matcher(|m| m.equals = Some(Template("{{ users.ann.email }}".into()))));
    let groups = claim("groups", matcher(|m| m.present = Some(true)));
    let vars = vars();
    let position = flow("ak-stage-password", &["Invalid password"]);
    let signed_in = attempt(Some(json!({"email": "ann@example.com", "sub": "x"})), None);

    let seen = observe(&[], 0, &position, Some(&signed_in), &vars);
    let assertions = judged(expect_claims(&seen, ClaimSource::IdToken, &[email.clone(), groups]));
    assert_eq!(
        said(&assertions),
        [
            (true, "\"ann@example.com\"".to_string(), "\"ann@example.com\"".to_string()),
            (false, "present".to_string(), "absent".to_string())
        ]
    );
    assert_eq!(assertions[0].subject, Subject::Claim { from: ClaimSource::IdToken, name: "email".into() });
    assert_eq!(assertions[0].span.as_ref().map(|s| s.line), Some(4), "where the matcher is written");

    let nothing = |attempt: Option<&chatgpt_rp::Attempt>, from| {
        expect_claims(&observe(&[], 0, &position, attempt, &vars), from, std::slice::from_ref(&email))
            .expect_err("nothing to judge")
    };
    assert!(nothing(None, ClaimSource::IdToken).starts_with("ChatGPT has no record of a login from this session"));
    assert_eq!(
        nothing(Some(&signed_in), ClaimSource::Userinfo),
        "ChatGPT received no userinfo: the login never came back to ChatGPT; it is at authentik flow \
         `default-authentication-flow` at stage `ak-stage-password` showing \"Invalid password\""
    );
    let refused = attempt(None, Some(chatgpt_rp::ErrorCode::NonceMismatch));
    assert_eq!(
        nothing(Some(&refused), ClaimSource::IdToken),
        "ChatGPT received no ID token (ChatGPT stopped earlier: `nonce_mismatch`)"
    );
}

/// `exchange_code`: tokens or an OAuth error, each where it holds and where it does not.
#[test]
fn each_token_answer_passes_and_fails_where_it_must() {
    use super::{TokenAnswerSeen, expect_token_answer};
    use crate::scenario::TokenAnswer;
    let tokens = json!({"id_token": "a.b.c", "access_token": "t"});
    let invalid_grant = json!({"error": "invalid_grant"});
    let invalid_client = TokenAnswer::Error("invalid_client".into());
    let grant = TokenAnswer::Error("invalid_grant".into());
    let cases: Vec<(&TokenAnswer, u16, &Value, bool, &str, &str)> = vec![
        (&TokenAnswer::Ok, 200, &tokens, true, "HTTP 200 with tokens", "HTTP 200 with tokens"),
        (&TokenAnswer::Ok, 400, &invalid_grant, false, "HTTP 200 with tokens", "HTTP 400 `invalid_grant`"),
        (&TokenAnswer::Ok, 200, &Value::Null, false, "HTTP 200 with tokens", "HTTP 200 with tokens"),
        (&grant, 400, &invalid_grant, true, "HTTP 400 `invalid_grant`", "HTTP 400 `invalid_grant`"),
        (&invalid_client, 400, &invalid_grant, false, "HTTP 400 `invalid_client`", "HTTP 400 `invalid_grant`"),
        (&grant, 500, &Value::Null, false, "HTTP 400 `invalid_grant`", "HTTP 500"),
    ];
    for (expect, status, body, passed, expected, actual) in cases {
        let a = expect_token_answer(&TokenAnswerSeen { status, body, hop: Some(3) }, expect);
        assert_eq!((a.passed, a.expected.as_str(), a.actual.as_str()), (passed, expected, actual), "{expect:?}");
        assert_eq!(a.hop, Some(3));
    }
}
