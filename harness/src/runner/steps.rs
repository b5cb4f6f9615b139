//! One step: the driver's actions and the expectations, each checked by `check`.

use super::{Context, Driver, fetch_discovery};
use serde_json::Value;
use url::Url;

use crate::check::{
    Checked, Observation, Provider, TokenAnswerSeen, check_id_token, expect_authentik, expect_claims, expect_landing,
    expect_redirect, expect_token_answer, next_since, snapshot,
};
use crate::drive::DriveError;
use crate::drive::api::{ApiDriver, Credentials};
use crate::observation::Position;
use crate::plan::Plan;
use crate::result::{Assertion, StepResult};
use crate::scenario::{SnapshotOf, StepKind, TokenAnswer, Vars};

/// What a scenario's steps carry from one to the next.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Where the next `expect_redirect` looks from (moved past what one matched, and past the
    /// steps before a new session).
    since: usize,
    /// The recovery code each user's last `sign_in` spent, by fixture user.
    spent: std::collections::HashMap<String, ak_protocol::secret::Secret>,
}

/// One step: an action of the driver, or an expectation checked against what it recorded.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute(
    plan: &Plan,
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    driver: &mut Driver<'_>,
    kind: &StepKind,
    progress: &mut Progress,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let vars = &ctx.env.vars_for(driver.seen().workspace);
    // ChatGPT gave up waiting on authentik: where it landed says nothing of the settings.
    if matches!(kind, StepKind::ExpectClaims { .. } | StepKind::ExpectLanding(_))
        && let Some(timeout) = chatgpt_timeout(driver)
    {
        return Err(timeout);
    }
    let checked = match kind {
        StepKind::StartLogin { email, new_session } => {
            if *new_session {
                driver.new_session(ctx.env).await?;
                progress.since = driver.seen().hops.len();
            }
            let email = email.as_ref().map(|t| t.render(vars));
            return driver.start_login(email.as_deref()).await;
        }
        StepKind::SignIn { user, password, consent, recovery_code, first_factor } => {
            let passkey = ctx.env.passkey_file(user, &plan.settings.users);
            let passkey_first = *first_factor == crate::scenario::FirstFactor::Passkey;
            // A passkey sign-in types no code.
            let code = match passkey_first {
                true => None,
                false => recovery_code_for(ctx, plan, user, *recovery_code, progress).await?,
            };
            let recovery_codes = ctx.env.recovery_codes_file(user, &plan.settings.users).is_some();
            let fresh_code = code.is_some() && *recovery_code != Some(crate::scenario::RecoveryCode::Spent);
            let how = SignInWith {
                password: password.as_ref(),
                consent: *consent,
                passkey,
                passkey_first,
                code,
                fresh_code,
                recovery_codes,
                env: ctx.env,
            };
            return sign_in(plan, driver, vars, user, how, result).await;
        }
        StepKind::Authorize { set, remove } => {
            let Driver::Api(api) = driver else { return Err(DriveError("`authorize` needs the api driver".into())) };
            let (params, client) = client_request(vars, set, remove);
            return api.authorize(params, client).await;
        }
        StepKind::ExchangeCode { expect, client_secret, code_verifier } => {
            let Driver::Api(api) = driver else {
                return Err(DriveError("`exchange_code` needs the api driver".into()));
            };
            exchange_code(api, vars, expect, client_secret.as_ref(), code_verifier.as_ref()).await?
        }
        StepKind::ExpectSnapshot { of: SnapshotOf::Discovery, name } => {
            let value = fetch_discovery(ctx.env, driver.seen().workspace).await?;
            Ok(vec![snapshot_of(ctx, scenario_file, driver.seen().workspace, SnapshotOf::Discovery, name, &value)])
        }
        expectation => expect(ctx, scenario_file, driver, vars, expectation, &mut progress.since),
    };
    match checked {
        Ok(assertions) => result.assertions.extend(assertions),
        Err(nothing_to_judge) => result.error = Some(nothing_to_judge),
    }
    Ok(())
}

/// An expectation, judged by its pure check on what the driver observed.
fn expect(
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    driver: &Driver<'_>,
    vars: &Vars,
    kind: &StepKind,
    since: &mut usize,
) -> Checked {
    let attempt = driver.seen().attempt();
    let classify = |url: &Url| ctx.env.classify(url);
    let seen = Observation {
        hops: driver.seen().hops,
        since: *since,
        position: driver.seen().position,
        classify: &classify,
        chatgpt: attempt.as_ref(),
        vars,
    };
    match kind {
        StepKind::ExpectRedirect { to, query } => {
            let checked = expect_redirect(&seen, *to, query);
            if let Ok(assertions) = &checked {
                *since = next_since(&seen, *to, assertions);
            }
            checked
        }
        StepKind::ExpectAuthentik(expectation) => expect_authentik(&seen, expectation),
        StepKind::ExpectClaims { from, claims } => expect_claims(&seen, *from, claims),
        StepKind::ExpectLanding(landing) => expect_landing(&seen, landing),
        StepKind::ExpectSnapshot { of, name } => snapshot::claims_of(&seen, *of)
            .map(|value| vec![snapshot_of(ctx, scenario_file, driver.seen().workspace, *of, name, &value)]),
        action => Err(format!("`{action:?}` is an action, not an expectation")),
    }
}

/// ChatGPT's request to authentik that passed its deadline in this session's login, if any, as
/// the step's error.
fn chatgpt_timeout(driver: &Driver<'_>) -> Option<DriveError> {
    let failure = driver.seen().attempt()?.error.filter(|e| e.timed_out)?;
    Some(DriveError(format!(
        "authentik did not answer ChatGPT in time (timed out): {} (ChatGPT stopped at `{}`)",
        failure.detail,
        failure.code.as_str()
    )))
}

/// What a `sign_in` gives authentik besides the fixture user's own password and devices.
struct SignInWith<'a> {
    /// Typed instead of the user's password.
    password: Option<&'a crate::scenario::Template>,
    consent: crate::scenario::Consent,
    /// The user's passkey file.
    passkey: Option<std::path::PathBuf>,
    /// The passkey is the first factor, given at identification.
    passkey_first: bool,
    /// A recovery code, typed at the MFA stage instead of the user's other factors.
    code: Option<String>,
    /// The code is one no run typed before.
    fresh_code: bool,
    /// The user has recovery codes (a static device).
    recovery_codes: bool,
    /// The run's environment (the admin API that tells why a code was refused).
    env: &'a crate::environment::Environment,
}

/// The recovery code a `sign_in` of `user` types: a fresh one (asked for, or the user's only
/// factor), taken from their file and remembered as spent; the one spent before, asked for.
async fn recovery_code_for(
    ctx: &Context<'_>,
    plan: &Plan,
    user: &str,
    asked: Option<crate::scenario::RecoveryCode>,
    progress: &mut Progress,
) -> Result<Option<String>, DriveError> {
    use crate::scenario::RecoveryCode;
    let Some(fixture) = plan.settings.users.get(user) else { return Ok(None) };
    let Some(file) = ctx.env.recovery_codes_file(user, &plan.settings.users) else { return Ok(None) };
    // A copy's passkey is the run's, not in its configuration.
    let has_passkey = ctx.env.passkey_file(user, &plan.settings.users).is_some();
    if RecoveryCode::takes_fresh(asked, fixture.totp_secret.is_some(), has_passkey) {
        return fresh_code(ctx, fixture, &file, user, progress).await.map(Some);
    }
    match asked {
        Some(RecoveryCode::Spent) => match progress.spent.get(user) {
            Some(code) => Ok(Some(code.expose().to_string())),
            None => Err(DriveError(format!(
                "`recovery_code: spent`: no `sign_in` of `{user}` before it in this scenario spent a code"
            ))),
        },
        _ => Ok(None),
    }
}

/// A code not typed before, remembered as `user`'s spent one.
async fn fresh_code(
    ctx: &Context<'_>,
    fixture: &crate::config::UserConfig,
    file: &std::path::Path,
    user: &str,
    progress: &mut Progress,
) -> Result<String, DriveError> {
    let code = crate::drive::recovery::take(file, &fixture.username, ctx.env.request_timeout).await?;
    progress.spent.insert(user.to_string(), ak_protocol::secret::Secret::new(code.clone()));
    Ok(code)
}

/// `sign_in`: the fixture's credentials (or the step's password) typed at authentik's stages;
/// a failure of the step, not an error, when there is no authentik login to sign in to.
async fn sign_in(
    plan: &Plan,
    driver: &mut Driver<'_>,
    vars: &Vars,
    user: &str,
    with: SignInWith<'_>,
    result: &mut StepResult,
) -> Result<(), DriveError> {
    let SignInWith { password, consent, passkey, passkey_first, code, fresh_code, recovery_codes, env } = with;
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
    if !matches!(driver.seen().position, Position::Flow { .. }) {
        result.error = Some(format!(
            "there is no authentik login to sign in to: the browser is at {}",
            driver.seen().position.describe()
        ));
        return Ok(());
    }
    let devices = crate::drive::throttle::Devices { totp: totp.is_some(), recovery: recovery_codes };
    let credentials =
        Credentials { uid: &fixture.username, password: &typed, totp, passkey, passkey_first, code, devices, consent };
    let signed_in = driver.sign_in(&credentials).await;
    // What authentik's page or the user's authenticator refused is a failure, not an error.
    if let Some(refused) = driver.seen().refused {
        result.error = Some(refused.to_string());
        return Ok(());
    }
    // A recovery code no run typed before, refused: why, with the one request that tells.
    let refused_code = matches!(driver.seen().position, Position::Flow { stage, .. }
        if stage.component == ak_protocol::authentik::component::AUTHENTICATOR_VALIDATE
            && stage.errors.iter().any(|e| e.starts_with("Invalid Token")));
    if let (true, true, Some(code)) = (fresh_code, refused_code, &credentials.code) {
        let api = crate::environment::admin_api(&plan.settings, &env.authentik, env.api_token.as_ref());
        let api = api.map_err(|e| e.to_string());
        let (why, hint, held) = crate::drive::recovery::refusal(&api, &fixture.username, code).await;
        result.error = Some(why);
        result.hint = Some(hint);
        // Still held: the code was not spent, and is typed by a later sign-in.
        if let (true, Some(file)) = (held, env.recovery_codes_file(user, &plan.settings.users)) {
            crate::drive::recovery::unspend(&file, code, env.request_timeout).await?;
        }
        return Ok(());
    }
    signed_in
}

/// `expect_snapshot`: the value with placeholders against the snapshot file beside the
/// scenario, read here; with `AK_E2E_UPDATE_SNAPSHOTS`, a value that differs is recorded instead.
fn snapshot_of(
    ctx: &Context<'_>,
    scenario_file: &std::path::Path,
    ws: &crate::environment::Workspace,
    of: SnapshotOf,
    name: &str,
    value: &Value,
) -> Assertion {
    let normalised = ctx.env.with_placeholders(ws, value);
    let file = snapshot::path(scenario_file, name);
    let recorded = std::fs::read_to_string(&file).ok();
    let text = snapshot::text(&normalised);
    if ctx.update_snapshots && recorded.as_deref() != Some(text.as_str()) {
        let written = match file.parent() {
            Some(dir) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, &text)),
            None => std::fs::write(&file, &text),
        };
        return snapshot::recorded(name, of, &file, &written);
    }
    snapshot::expect_snapshot(name, of, &file, recorded.as_deref(), &normalised)
}

/// `exchange_code`: the code of the harness's own `authorize` at the token endpoint, the
/// answer against `expect` (`ok`, or an OAuth error), and an ID token's protocol checks.
async fn exchange_code(
    api: &mut ApiDriver<'_>,
    vars: &Vars,
    expect: &TokenAnswer,
    client_secret: Option<&crate::scenario::Template>,
    code_verifier: Option<&crate::scenario::Template>,
) -> Result<Checked, DriveError> {
    let secret = match client_secret {
        Some(t) => t.render(vars),
        None => api.workspace().chatgpt.config().client_secret.expose().to_string(),
    };
    let verifier = code_verifier.map(|t| t.render(vars));
    let (status, body) = api.exchange_code(&secret, verifier.as_deref()).await?;
    let answer = TokenAnswerSeen { status, body: &body, hop: api.session.hops.len().checked_sub(1) };
    let mut assertions = vec![expect_token_answer(&answer, expect)];
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
        assertions.extend(check_id_token(&provider, &vars.application, token));
    }
    Ok(Ok(assertions))
}

/// The harness's own authorization request: ChatGPT's parameters (code flow, PKCE S256, state,
/// nonce, `openid profile email`) with the step's overrides and removals.
fn client_request(
    vars: &Vars,
    set: &[(String, crate::scenario::Template)],
    remove: &[String],
) -> (Vec<(String, String)>, crate::drive::api::ClientRequest) {
    let verifier = ak_protocol::jose::random_token(48);
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), vars.application.client_id.clone()),
        ("redirect_uri".into(), vars.application.redirect_uri.clone()),
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
