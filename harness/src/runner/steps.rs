//! One step: the driver's actions and the expectations, each checked by `check`.

use std::collections::BTreeMap;

use super::{Context, Driver, fetch_discovery};
use serde_json::Value;
use url::Url;

use crate::check::{
    Observation, Provider, check_id_token, check_value, expect_authentik, expect_landing, expect_redirect,
};
use crate::drive::DriveError;
use crate::drive::Position;
use crate::drive::api::{ApiDriver, Credentials};
use crate::plan::Plan;
use crate::result::{Assertion, StepResult, Subject};
use crate::scenario::{ClaimSource, NamedMatcher, SnapshotOf, StepKind, TokenAnswer};

/// One step: an action of the driver, or an expectation checked against what it recorded.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute(
    plan: &Plan,
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    driver: &mut Driver<'_>,
    kind: &StepKind,
    cursor: &mut usize,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let vars = &ctx.env.vars_for(driver.workspace());
    // ChatGPT gave up waiting on authentik: where it landed says nothing of the settings.
    if matches!(kind, StepKind::ExpectClaims { .. } | StepKind::ExpectLanding(_))
        && let Some(timeout) = chatgpt_timeout(driver)
    {
        return Err(timeout);
    }
    match kind {
        StepKind::StartLogin { email } => {
            let email = email.as_ref().map(|t| t.render(vars));
            driver.start_login(email.as_deref()).await
        }
        StepKind::SignIn { user, password, consent } => {
            sign_in(plan, driver, vars, user, password.as_ref(), *consent, result).await
        }
        StepKind::ExpectRedirect { to, query } => {
            let classify = |url: &Url| driver.classify(url);
            let seen = Observation { hops: driver.hops(), position: driver.position(), classify: &classify };
            expect_redirect(&seen, *to, query, vars, cursor, result);
            Ok(())
        }
        StepKind::ExpectAuthentik(expectation) => {
            expect_authentik(driver.position(), expectation, result);
            Ok(())
        }
        StepKind::ExpectClaims { from, claims } => {
            expect_claims(driver, vars, *from, claims, result);
            Ok(())
        }
        StepKind::ExpectLanding(landing) => {
            expect_landing(driver.position(), landing, result);
            Ok(())
        }
        StepKind::ExpectSnapshot { of, name } => expect_snapshot(ctx, scenario_file, driver, *of, name, result).await,
        StepKind::Authorize { set, remove } => {
            let Driver::Api(api) = driver else { return Err(DriveError("`authorize` needs the api driver".into())) };
            let (params, client) = client_request(vars, set, remove);
            api.authorize(params, client).await
        }
        StepKind::ExchangeCode { expect, client_secret, code_verifier } => {
            let Driver::Api(api) = driver else {
                return Err(DriveError("`exchange_code` needs the api driver".into()));
            };
            exchange_code(api, vars, expect, client_secret.as_ref(), code_verifier.as_ref(), result).await
        }
    }
}

/// ChatGPT's request to authentik that passed its deadline in this session's login, if any, as
/// the step's error.
fn chatgpt_timeout(driver: &Driver<'_>) -> Option<DriveError> {
    let failure = driver.attempt()?.error.filter(|e| e.timed_out)?;
    Some(DriveError(format!(
        "authentik did not answer ChatGPT in time (timed out): {} (ChatGPT stopped at `{}`)",
        failure.detail,
        failure.code.as_str()
    )))
}

/// `sign_in`: the fixture's credentials (or the step's password) typed at authentik's stages;
/// a failure of the step, not an error, when there is no authentik login to sign in to.
async fn sign_in(
    plan: &Plan,
    driver: &mut Driver<'_>,
    vars: &BTreeMap<String, String>,
    user: &str,
    password: Option<&crate::scenario::Template>,
    consent: crate::scenario::Consent,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let Some(fixture) = plan.settings.users.get(user) else {
        return Err(DriveError(format!("unknown user `{user}`")));
    };
    let real = plan.secrets.get(&fixture.password.env).unwrap_or_default();
    let typed = password.map(|p| p.render(vars)).unwrap_or(real);
    let totp = fixture
        .totp_secret
        .as_ref()
        .and_then(|t| plan.secrets.get(&t.env))
        .and_then(|s| ak_protocol::totp::decode_secret(&s));
    if !matches!(driver.position(), Position::Flow { .. }) {
        result.error = Some(format!(
            "there is no authentik login to sign in to: the browser is at {}",
            driver.position().describe()
        ));
        return Ok(());
    }
    let credentials = Credentials { uid: &fixture.username, password: &typed, totp, consent };
    driver.sign_in(&credentials).await
}

/// `expect_claims`: the claims ChatGPT received (ID token or userinfo), from its record of
/// this session's attempt, against the step's matchers.
fn expect_claims(
    driver: &Driver<'_>,
    vars: &BTreeMap<String, String>,
    from: ClaimSource,
    claims: &[NamedMatcher],
    result: &mut StepResult,
) {
    let Some(attempt) = driver.attempt() else {
        result.error = Some(format!(
            "ChatGPT has no record of a login from this session (it never redirected to authentik); the browser is at {}",
            driver.position().describe()
        ));
        return;
    };
    let set = match from {
        ClaimSource::IdToken => attempt.id_token_claims.as_ref(),
        ClaimSource::Userinfo => attempt.userinfo.as_ref(),
    };
    let Some(set) = set else {
        // Where the login stopped: ChatGPT's own failure, or, when it never got the callback,
        // where the browser stands (a stage that refused an answer, say).
        let why = match &attempt.error {
            Some(e) => format!(" (ChatGPT stopped earlier: `{}`)", e.code.as_str()),
            None => format!(": the login never came back to ChatGPT; it is at {}", driver.position().describe()),
        };
        result.error = Some(format!("ChatGPT received no {}{why}", from.words()));
        return;
    };
    for claim in claims {
        let subject = Subject::Claim { from, name: claim.name.clone() };
        let mut assertion = check_value(subject, set.get(&claim.name), &claim.matcher, vars, None);
        assertion.span = Some(claim.span.clone());
        result.assertions.push(assertion);
    }
}

/// `expect_snapshot`: the discovery document or ChatGPT's claims, with placeholders, against
/// the snapshot file beside the scenario (recorded instead with `AK_E2E_UPDATE_SNAPSHOTS`).
async fn expect_snapshot(
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    driver: &Driver<'_>,
    of: SnapshotOf,
    name: &str,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    use crate::check::snapshot::{Outcome, compare, path};
    let ws = driver.workspace();
    let value = match of {
        SnapshotOf::Discovery => fetch_discovery(ctx.env, ws).await?,
        source => {
            let attempt = driver.attempt();
            let set = attempt.and_then(|a| if source == SnapshotOf::Userinfo { a.userinfo } else { a.id_token_claims });
            match set {
                Some(set) => Value::Object(set),
                None => {
                    result.error =
                        Some(format!("ChatGPT received no {} to compare with the snapshot", source.as_str()));
                    return Ok(());
                }
            }
        }
    };
    let normalised = ctx.env.with_placeholders(ws, &value);
    let file = path(scenario_file, name);
    let shown = file.display().to_string();
    let (passed, actual) = match compare(&file, &normalised, ctx.update_snapshots) {
        Outcome::Same => (true, "equal".to_string()),
        Outcome::Written => (true, format!("recorded in {shown}")),
        Outcome::Missing => {
            (false, format!("no snapshot at {shown}; record it with AK_E2E_UPDATE_SNAPSHOTS=1 and review it"))
        }
        Outcome::Differs(diff) => {
            (false, format!("differs from {shown}: {diff} (review; AK_E2E_UPDATE_SNAPSHOTS=1 accepts it)"))
        }
    };
    result.assertions.push(Assertion {
        subject: Subject::Snapshot { name: name.to_string(), of },
        expected: format!("equal to {shown}"),
        actual,
        passed,
        hop: None,
        span: None,
    });
    Ok(())
}

/// `exchange_code`: the code of the harness's own `authorize` at the token endpoint, the
/// answer against `expect` (`ok`, or an OAuth error), and an ID token's protocol checks.
async fn exchange_code(
    api: &mut ApiDriver<'_>,
    vars: &BTreeMap<String, String>,
    expect: &TokenAnswer,
    client_secret: Option<&crate::scenario::Template>,
    code_verifier: Option<&crate::scenario::Template>,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let secret = match client_secret {
        Some(t) => t.render(vars),
        None => api.workspace().chatgpt.config().client_secret.expose().to_string(),
    };
    let verifier = code_verifier.map(|t| t.render(vars));
    let (status, body) = api.exchange_code(&secret, verifier.as_deref()).await?;
    let error = body["error"].as_str().map(String::from);
    let actual = match &error {
        Some(e) => format!("HTTP {status} `{e}`"),
        None if status == 200 => "HTTP 200 with tokens".to_string(),
        None => format!("HTTP {status}"),
    };
    let (expected, passed) = match expect {
        TokenAnswer::Ok => ("HTTP 200 with tokens".to_string(), status == 200 && body["id_token"].is_string()),
        TokenAnswer::Error(want) => (format!("HTTP 400 `{want}`"), error.as_deref() == Some(want.as_str())),
    };
    let hop = Some(api.hops.len() - 1);
    result.assertions.push(Assertion { subject: Subject::CodeExchange, expected, actual, passed, hop, span: None });
    if *expect == TokenAnswer::Ok
        && let Some(token) = body["id_token"].as_str()
    {
        let discovery = api.discovery().await?;
        let jwks = match discovery["jwks_uri"].as_str().and_then(|u| Url::parse(u).ok()) {
            Some(u) => api.get_json(u).await?,
            None => Value::Null,
        };
        let nonce = api.client.as_ref().and_then(|c| c.nonce.clone());
        let provider = Provider {
            discovery: &discovery,
            jwks: &jwks,
            nonce: nonce.as_deref(),
            client_secret: Some(secret.as_bytes()),
            access_token: body["access_token"].as_str(),
            leeway: api.workspace().chatgpt.config().clock_skew,
        };
        check_id_token(&provider, vars, token, result);
    }
    Ok(())
}

/// The harness's own authorization request: ChatGPT's parameters (code flow, PKCE S256, state,
/// nonce, `openid profile email`) with the step's overrides and removals.
fn client_request(
    vars: &BTreeMap<String, String>,
    set: &[(String, crate::scenario::Template)],
    remove: &[String],
) -> (Vec<(String, String)>, crate::drive::api::ClientRequest) {
    let verifier = ak_protocol::jose::random_token(48);
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), vars.get("application.client_id").cloned().unwrap_or_default()),
        ("redirect_uri".into(), vars.get("chatgpt.redirect_uri").cloned().unwrap_or_default()),
        ("scope".into(), "openid profile email".into()),
        ("state".into(), ak_protocol::jose::random_token(16)),
        ("nonce".into(), ak_protocol::jose::random_token(16)),
        ("code_challenge".into(), ak_protocol::jose::pkce_s256(&verifier)),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (name, value) in set {
        let value = value.render(vars);
        match params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name.clone(), value)),
        }
    }
    params.retain(|(k, _)| !remove.contains(k));
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let pkce_intact = get("code_challenge").as_deref() == Some(ak_protocol::jose::pkce_s256(&verifier).as_str())
        && get("code_challenge_method").as_deref() == Some("S256");
    let client = crate::drive::api::ClientRequest {
        state: get("state"),
        nonce: get("nonce"),
        verifier: pkce_intact.then(|| ak_protocol::secret::Secret::new(verifier)),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        code: None,
    };
    (params, client)
}
