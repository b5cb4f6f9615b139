//! `ak-e2e doctor --application SLUG [--user USERNAME]…`: the admin's own ChatGPT application,
//! checked through authentik's admin API, read-only. It reads the application, its provider,
//! scope mappings, signing key, authorization flow and bindings; evaluates the custom email and
//! profile mappings for the API token's own user (`…/propertymappings/all/<pk>/test/`); and for
//! each named user asks authentik itself whether they get in (`…/check_access/?for_user=`) and
//! which claims they would get (`…/preview_user/?for_user=`). [`checks`] judges what was read
//! against what ChatGPT and the integration guide need.
//!
//! Exit codes: 0 with no error, 4 with errors, 3 when authentik cannot be reached or refuses the
//! token, 1 for usage errors (no token, no such application).

pub mod checks;

use std::collections::HashMap;
use std::io::Write;

use ak_protocol::authentik::admin::{
    AccessCheck, Application, CertificateKeyPair, Device, Flow, OAuth2Provider, PolicyBinding, PropertyMapping,
    TestFor, TestResult, User, UserPreview, path,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{Settings, Target};
use crate::environment::admin_api::{AdminApi, ApiError, ApiFailure};
use crate::exit::{self, Stop};
use crate::report::console::Style;
pub use checks::{Facts, Finding, FlowRead, Level, UserFacts};

/// The user the API token belongs to (its primary key), and whether they are a superuser, if
/// authentik says. `users/me` shows groups as objects, not keys: only these two are read.
async fn token_user(api: &AdminApi) -> Option<(u64, bool)> {
    let me: Value = api.get(path::ME, &[]).await.ok()?;
    Some((me["user"]["pk"].as_u64()?, me["user"]["is_superuser"].as_bool().unwrap_or(false)))
}

/// Scope mappings, with their scope names (the `all` view has none).
const SCOPE_MAPPINGS: &str = "api/v3/propertymappings/provider/scope/";

/// What `doctor` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The application's slug.
    pub application: String,
    /// The usernames to check.
    pub users: Vec<String>,
    /// Where to write the findings as JSON.
    pub json: Option<std::path::PathBuf>,
}

/// The JSON report.
#[derive(Debug, Serialize)]
struct Report<'a> {
    authentik: String,
    application: &'a str,
    errors: usize,
    warnings: usize,
    findings: &'a [Finding],
}

/// Runs `doctor`; returns the exit code.
pub async fn doctor(
    settings: &Settings,
    env: &HashMap<String, String>,
    request: &Request,
    out: &mut dyn Write,
    style: Style,
) -> i32 {
    match run(settings, env, request, out, style).await {
        Ok(code) => code,
        Err(stop) => stop.say(&crate::report::Redactor::new(
            settings.authentik_token.iter().map(|t| t.expose().to_string()).collect(),
        )),
    }
}

async fn run(
    settings: &Settings,
    env: &HashMap<String, String>,
    request: &Request,
    out: &mut dyn Write,
    style: Style,
) -> Result<i32, Stop> {
    let (api, embedded) = connect(settings, env).await?;
    let facts = read(&api, settings, request).await;
    if let Some(environment) = embedded {
        environment.stop().await;
    }
    let facts = facts?;
    let findings = checks::check(&facts);
    render(&findings, api.base(), &request.application, out, style);
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    if let Some(path) = &request.json {
        let report = Report {
            authentik: api.base().to_string(),
            application: &request.application,
            errors,
            warnings: findings.iter().filter(|f| f.level == Level::Warning).count(),
            findings: &findings,
        };
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = crate::report::write_whole(path, |f| f.write_all((text + "\n").as_bytes())) {
            return Err(Stop::Usage(format!("cannot write {}: {e}", path.display())));
        }
    }
    Ok(if errors > 0 { exit::FAILED } else { exit::OK })
}

/// The admin API of the target: a real authentik with `AK_E2E_AUTHENTIK_TOKEN`, or the embedded
/// stand-in, started here as a run starts it (from the blueprints, with a token of its own).
async fn connect(
    settings: &Settings,
    env: &HashMap<String, String>,
) -> Result<(AdminApi, Option<crate::environment::Environment>), Stop> {
    if let Target::Url(url) = &settings.target {
        let token = settings.authentik_token.clone().ok_or_else(|| {
            Stop::Usage(
                "`doctor` needs an authentik API token that may read applications, providers, mappings, \
                 certificates, bindings and users: export AK_E2E_AUTHENTIK_TOKEN"
                    .into(),
            )
        })?;
        let base = crate::environment::with_trailing_slash(url);
        let api = AdminApi::new(&base, token, settings.request_timeout).map_err(Stop::Runtime)?;
        return Ok((api, None));
    }
    // Only the blueprints' applications and users: no twin or copy is made to be read.
    let mut settings = settings.clone();
    settings.users.retain(|_, u| u.mirror_of.is_none());
    // The configured applications as the blueprints define them (the one checked stands in the
    // flags as a twin: its configured self, if any, is kept, and no twin is made).
    for app in settings.applications.values_mut() {
        app.twin_of = None;
    }
    settings.applications.retain(|_, a| !a.slug.is_empty());
    let settings = &settings;
    let secrets = crate::plan::all_secrets(settings, env).map_err(|e| Stop::Usage(e.join("; ")))?;
    let none = std::collections::BTreeSet::new();
    let environment = crate::environment::Environment::start(settings, &secrets, &none, &none)
        .await
        .map_err(|e| Stop::Runtime(e.to_string()))?;
    let token = environment.api_token.clone();
    let api = crate::environment::admin_api(settings, &environment.authentik, token.as_ref())
        .map_err(|e| Stop::Runtime(e.to_string()))?
        .ok_or_else(|| Stop::Runtime("the embedded stand-in has no API token".into()))?;
    Ok((api, Some(environment)))
}

/// Reads everything the checks judge.
async fn read(api: &AdminApi, settings: &Settings, request: &Request) -> Result<Facts, Stop> {
    let slug = &request.application;
    let application: Application = api
        .find(&path::one(path::APPLICATIONS, slug))
        .await?
        .ok_or_else(|| Stop::Usage(format!("authentik at {} has no application with the slug `{slug}`", api.base())))?;
    let provider: Option<OAuth2Provider> = match application.provider {
        Some(pk) => api.find(&path::one(path::OAUTH2_PROVIDERS, pk)).await?,
        None => None,
    };
    let bindings: Vec<PolicyBinding> = api.all(path::BINDINGS, &[("target", &application.pk)]).await?;
    let domains = settings.chatgpt.verified_domains.clone().unwrap_or_default();
    let mut facts = Facts::of(application, domains, ak_protocol::time::now_secs());
    facts.bindings = bindings;
    let me = token_user(api).await;
    facts.token_superuser = me.is_some_and(|(_, superuser)| superuser);
    if let Some(provider) = provider {
        read_provider(api, &provider, me.map(|(pk, _)| pk), &mut facts).await?;
        for username in &request.users {
            facts.users.push(read_user(api, &facts.application, &provider, username, facts.token_superuser).await?);
        }
        facts.provider = Some(provider);
    }
    Ok(facts)
}

/// The provider's mappings (custom email and profile ones evaluated for the token's user `me`),
/// keys and flow.
async fn read_provider(
    api: &AdminApi,
    provider: &OAuth2Provider,
    me: Option<u64>,
    facts: &mut Facts,
) -> Result<(), Stop> {
    for pk in &provider.property_mappings {
        let Some(mapping) = api.find::<PropertyMapping>(&path::one(SCOPE_MAPPINGS, pk)).await? else {
            facts.unknown_mappings.push(pk.clone());
            continue;
        };
        let judged = matches!(mapping.scope_name.as_deref(), Some("email" | "profile")) && mapping.managed.is_none();
        let output = match (judged, me) {
            (true, Some(user)) => Some(evaluate(api, &mapping, user).await?),
            _ => None,
        };
        facts.mappings.push((mapping, output));
    }
    if let Some(pk) = &provider.signing_key {
        facts.signing_key = Some(match api.find::<CertificateKeyPair>(&path::one(path::KEYPAIRS, pk)).await {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(format!("authentik has no certificate-key pair {pk}")),
            Err(e) => return Err(e.into()),
        });
    }
    if let Some(pk) = &provider.encryption_key {
        let key = api.find::<CertificateKeyPair>(&path::one(path::KEYPAIRS, pk)).await?;
        facts.encryption_key = Some(key.map_or_else(|| pk.clone(), |k| k.name));
    }
    if let Some(pk) = &provider.authorization_flow {
        // authentik lists only the flows the token may view.
        let flows: Vec<Flow> = api.all(path::FLOWS, &[("flow_uuid", pk)]).await?;
        facts.authorization_flow = flows.into_iter().find(|f| &f.pk == pk).map_or(FlowRead::NotVisible, FlowRead::Flow);
    }
    Ok(())
}

/// What a mapping returns for `user`, as authentik's own test evaluates it.
async fn evaluate(
    api: &AdminApi,
    mapping: &PropertyMapping,
    user: u64,
) -> Result<Result<Map<String, Value>, String>, Stop> {
    let path = path::action(path::PROPERTY_MAPPINGS, &mapping.pk, "test") + "?format_result=true";
    let result: TestResult = api.post(&path, &TestFor { user }).await?;
    if !result.successful {
        return Ok(Err(result.result.lines().last().unwrap_or_default().to_string()));
    }
    Ok(match serde_json::from_str::<Value>(&result.result) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(other) => Err(format!("it returned {other}, not a set of claims")),
        Err(_) => Err(format!("it returned {}, not JSON", result.result)),
    })
}

/// One user: who they are, whether the application lets them in, and their claims.
/// `superuser`: whether the token's user is one (else `check_access` would judge them instead).
async fn read_user(
    api: &AdminApi,
    app: &Application,
    provider: &OAuth2Provider,
    username: &str,
    superuser: bool,
) -> Result<UserFacts, Stop> {
    let user: Option<User> = api.user(username).await?;
    let mut facts =
        UserFacts { username: username.to_string(), user: None, access: None, preview: None, devices: Vec::new() };
    if let Some(user) = user {
        let pk = user.pk.to_string();
        let query = [("for_user", pk.as_str())];
        let access: Option<AccessCheck> = match superuser {
            true => Some(api.get(&path::action(path::APPLICATIONS, &app.slug, "check_access"), &query).await?),
            false => None,
        };
        let preview: UserPreview =
            api.get(&path::action(path::OAUTH2_PROVIDERS, provider.pk, "preview_user"), &query).await?;
        // Their MFA devices, by model (the list holds no secret).
        let devices: Vec<Device> = api.get(path::ALL_DEVICES, &[("user", pk.as_str())]).await?;
        facts.devices = devices.into_iter().map(|d| d.kind).collect();
        facts.access = access;
        facts.preview = Some(preview);
        facts.user = Some(user);
    }
    Ok(facts)
}

/// The findings as the run's diagnostics look: a headline with the level, the object and
/// setting, and the fix; then a one-line tally.
pub fn render(findings: &[Finding], base: &url::Url, slug: &str, out: &mut dyn Write, style: Style) {
    let paint = |level: Level, text: &str| -> String {
        if !style.color {
            return text.to_string();
        }
        let code = match level {
            Level::Error => "31",
            Level::Warning => "33",
            Level::Info => "34",
        };
        format!("\x1b[1;{code}m{text}\x1b[0m")
    };
    let _ = writeln!(out, "ak-e2e: doctor of application `{slug}` at {base}");
    for f in findings {
        let _ = writeln!(out, "{}: {}: {}", paint(f.level, f.level.word()), f.setting, f.message);
        let _ = writeln!(out, "  --> {}", f.object);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "   = fix: {fix}");
        }
    }
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let _ = writeln!(
        out,
        "ak-e2e: {} error(s), {} warning(s), {} note(s)",
        count(Level::Error),
        count(Level::Warning),
        count(Level::Info)
    );
}

/// authentik's explanation of a copy's login, for `reproduce`: the findings about the user in
/// the application `slug` (inactive, refused by a policy with its message, claims ChatGPT
/// refuses), naming it `shown` (the production application a twin copies).
pub async fn explain(
    api: &AdminApi,
    slug: &str,
    shown: &str,
    username: &str,
    verified_domains: &[String],
) -> Result<Vec<Finding>, ApiError> {
    let mut application: Application = api.get(&path::one(path::APPLICATIONS, slug), &[]).await?;
    let Some(pk) = application.provider else { return Ok(Vec::new()) };
    let provider: OAuth2Provider = api.get(&path::one(path::OAUTH2_PROVIDERS, pk), &[]).await?;
    let superuser = token_user(api).await.is_some_and(|(_, superuser)| superuser);
    let user = read_user(api, &application, &provider, username, superuser)
        .await
        .map_err(|stop| ApiError { kind: ApiFailure::Answer, message: stop.to_string() })?;
    application.slug = shown.to_string();
    let facts = Facts::of(application, verified_domains.to_vec(), ak_protocol::time::now_secs());
    Ok(checks::user_findings(&user, &facts))
}
