//! `ak-e2e reproduce --user USERNAME`: a user's ChatGPT login, reproduced without touching them.
//!
//! It reads the user through authentik's admin API (groups, attributes, the kinds of MFA device
//! they have), makes a throwaway user mirroring them (`ak-e2e-repro-<random>`, same name, an
//! address at the same email domain, same groups and attributes, path `ak-e2e/reproduce`, a
//! random password, and a TOTP device of its own if they have one), runs the ChatGPT login for
//! it under the browser driver with a trace bundle, and deletes it afterwards: when the login
//! passes, fails or errors, and on Ctrl-C or SIGTERM; a copy left by a killed run is swept by
//! the next (see [`crate::environment::throwaway`]). The user's own password and devices are
//! only read, never changed.
//!
//! With `--application SLUG` the copy signs in to a twin of that production application (its
//! provider's settings and its bindings, [`crate::environment::twin`]), so the verdict is the one
//! the user would get there. When the login fails, authentik's own explanation follows: the
//! copy's access as the application's policies decide it (with their messages), the claims
//! authentik would send, an inactive user.
//!
//! Why an address of its own: authentik's identification stage may look users up by email, and
//! two users with one address would change the real user's sign-in while the fixture exists.
//! MFA kinds other than TOTP (WebAuthn, Duo, SMS, email, static codes) cannot be held by a
//! headless browser or made through the API: the fixture goes without them, and the output
//! says so.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ak_protocol::authentik::admin::{self, path};

use crate::config::{SecretRef, Settings, Target, UserConfig};
use crate::environment::Environment;
use crate::environment::admin_api::AdminApi;
use crate::environment::throwaway::{self, Cleanup, Kind};
use crate::exit;
use crate::report::Redactor;
use crate::report::console::{ConsoleProgress, Style};
use crate::scenario::DriverKind;

/// The fixture's name in the scenario.
const FIXTURE: &str = "reproduced";
/// Where the fixture's password and TOTP secret are handed to the plan.
const PASSWORD_VAR: &str = "AK_E2E_REPRODUCE_PASSWORD";
const TOTP_VAR: &str = "AK_E2E_REPRODUCE_TOTP_SECRET";
/// authentik's model label of a TOTP device.
const TOTP_DEVICE: &str = "authentik_stages_authenticator_totp.TOTPDevice";

/// The login the fixture goes through: ChatGPT's "Log in", authentik, back to ChatGPT with a
/// code, an ID token for the fixture, a conversation.
const SCENARIO: &str = r#"name: "{{NAME}}"
tags: [reproduce]
drivers: [browser]
steps:
  - start_login: { email: "{{ users.reproduced.email }}" }
  - expect_redirect: { to: authentik.authorize }
  - sign_in: { user: reproduced }
  - expect_redirect:
      to: chatgpt.callback
      query:
        code: { present: true }
  - expect_claims:
      from: id_token
      claims:
        iss: "{{ authentik.issuer }}"
        aud: "{{ application.client_id }}"
        sub: { non_empty: true }
        email: "{{ users.reproduced.email }}"
  - expect_landing: conversation
"#;

/// A failure before the login ran, with its exit code.
struct Stop(i32, String);

/// The user as read, and the throwaway copy made of them.
struct Fixture {
    pk: u64,
    username: String,
    email: String,
    name: String,
    password: String,
    totp: bool,
}

/// Runs `reproduce`; returns the exit code (README: "Reproducing a user's login").
pub async fn reproduce(
    mut settings: Settings,
    env: &HashMap<String, String>,
    username: &str,
    out: &mut dyn Write,
    style: Style,
) -> i32 {
    let folder = settings.trace.clone().unwrap_or_else(|| {
        settings.artifacts.join(crate::runner::run_folder(std::time::SystemTime::now(), std::process::id()))
    });
    let password = ak_protocol::jose::random_token(24);
    let mut vars = env.clone();
    vars.insert(PASSWORD_VAR.into(), password.clone());
    // With `--application`, the copy signs in to a twin of that application.
    crate::environment::twin::prepare(&mut settings, &mut vars);
    let mut secrets: Vec<String> = vec![password.clone()];
    secrets.extend(settings.authentik_token.iter().map(|t| t.expose().to_string()));
    let redactor = Redactor::new(secrets);
    // The environment starts before the fixture exists: it is made through the API of the
    // authentik the environment reaches (for the embedded target, the one it starts).
    let (scenario, draft, plan) = match draft_plan(&settings, &vars, &folder, username) {
        Ok(drafted) => drafted,
        Err(code) => return code,
    };
    let mut environment = match Environment::start(&draft, &plan.secrets, &plan.applications, &Default::default()).await
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ak-e2e: error: {}", redactor.apply(&e.to_string()));
            return exit::RUNTIME;
        }
    };
    for note in &environment.notes {
        let _ = writeln!(out, "ak-e2e: {note}");
    }
    let embedded = matches!(settings.target, Target::Embedded).then_some(environment.api_token.as_ref()).flatten();
    let api = match crate::environment::admin_api(&settings, &environment.authentik, embedded) {
        Ok(Some(api)) => api,
        Ok(None) => {
            eprintln!(
                "ak-e2e: error: `reproduce` needs an authentik API token that may read and create users in {}",
                crate::commands::provision::TOKEN_ENV
            );
            environment.stop().await;
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("ak-e2e: error: {e}");
            environment.stop().await;
            return exit::RUNTIME;
        }
    };
    let mut cleanup = Cleanup::new(api.clone());
    let code = match make_fixture(&api, username, password, &mut cleanup, out).await {
        Err(Stop(code, message)) => {
            eprintln!("ak-e2e: error: {}", redactor.apply(&message));
            code
        }
        Ok(fixture) => {
            environment.set_user(FIXTURE, &fixture_user(&fixture.username, &fixture.email, &fixture.name, false));
            let code = login(&settings, &vars, &environment, &api, &fixture, &scenario, &folder, out, style).await;
            if code == exit::FAILED {
                explain(&api, &settings, &environment, &fixture, username, out).await;
            }
            code
        }
    };
    let (lines, all) = cleanup.run().await;
    for line in lines {
        let _ = writeln!(out, "ak-e2e: {}", redactor.apply(&line));
    }
    environment.stop().await;
    if all { code } else { code.max(exit::RUNTIME) }
}

/// After a failed login: authentik's own explanation for the copy, in the application it signed
/// in to (inactive, refused by the bindings with the policies' messages, claims ChatGPT refuses).
async fn explain(
    api: &AdminApi,
    settings: &Settings,
    environment: &Environment,
    fixture: &Fixture,
    username: &str,
    out: &mut dyn Write,
) {
    let Some(ws) = environment.workspace(crate::scenario::DEFAULT_APPLICATION) else { return };
    let domains = settings.chatgpt.verified_domains.clone().unwrap_or_else(|| vec!["example.com".into()]);
    let of = settings.applications.get(crate::scenario::DEFAULT_APPLICATION).and_then(|a| a.twin_of.clone());
    let shown = of.as_deref().unwrap_or(&ws.slug);
    match crate::commands::doctor::explain(api, &ws.slug, shown, &fixture.username, &domains).await {
        Ok(findings) if findings.is_empty() => {
            let _ = writeln!(out, "ak-e2e: authentik finds nothing wrong with {username} in application `{shown}`");
        }
        Ok(findings) => {
            let _ = writeln!(out, "ak-e2e: authentik's own explanation for {username} in application `{shown}`:");
            for f in findings {
                let _ = writeln!(
                    out,
                    "  {}: {}: {}",
                    f.level.word(),
                    f.setting,
                    f.message.replace(&fixture.username, username)
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "ak-e2e: note: authentik's explanation could not be read: {e}");
        }
    }
}

/// Writes the scenario and plans it with a placeholder fixture, enough to start the environment
/// the real fixture is then made in; on failure, says why and returns the exit code.
fn draft_plan(
    settings: &Settings,
    vars: &HashMap<String, String>,
    folder: &Path,
    username: &str,
) -> Result<(PathBuf, Settings, crate::plan::Plan), i32> {
    let scenario = write_scenario(folder, username).map_err(|e| {
        eprintln!("ak-e2e: error: cannot write {}: {e}", folder.display());
        exit::USAGE
    })?;
    let draft =
        with_fixture(settings, &scenario, fixture_user("ak-e2e-repro-pending", "pending@example.invalid", "", false));
    let plan = crate::plan::plan(&draft, vars).map_err(|e| {
        eprintln!("ak-e2e: error: {}", plan_error(e));
        exit::USAGE
    })?;
    Ok((scenario, draft, plan))
}

/// Writes the scenario the fixture runs into the run's folder (it is part of the bundle).
fn write_scenario(folder: &Path, username: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(folder)?;
    let path = folder.join("reproduce.yaml");
    let name = format!("{username}'s ChatGPT login, reproduced by a throwaway user");
    std::fs::write(&path, SCENARIO.replace("{{NAME}}", &name.replace('"', "'")))?;
    Ok(path)
}

/// The settings with the fixture as user `reproduced` and the one scenario, under the browser.
fn with_fixture(settings: &Settings, scenario: &Path, user: UserConfig) -> Settings {
    let mut settings = settings.clone();
    settings.paths = vec![scenario.to_path_buf()];
    settings.drivers = Some(vec![DriverKind::Browser]);
    settings.tags.clear();
    settings.skip_tags.clear();
    settings.partition = None;
    settings.users.insert(FIXTURE.into(), user);
    settings
}

/// The throwaway user as the fixture user `reproduced`: its password (and TOTP secret) handed
/// over in variables of their own.
fn fixture_user(username: &str, email: &str, name: &str, totp: bool) -> UserConfig {
    UserConfig {
        username: username.into(),
        email: email.into(),
        name: Some(name.into()).filter(|n: &String| !n.is_empty()),
        password: SecretRef { env: PASSWORD_VAR.into(), file: None },
        totp_secret: totp.then(|| SecretRef { env: TOTP_VAR.into(), file: None }),
    }
}

fn plan_error(e: crate::plan::PlanError) -> String {
    match e {
        crate::plan::PlanError::Config(errors) => errors.join("; "),
        crate::plan::PlanError::Scenario(d) => d.iter().map(|d| d.label.clone()).collect::<Vec<_>>().join("; "),
    }
}

/// Reads the user and makes the throwaway copy: same name, groups, attributes, type and
/// active state, an address at the same domain, the password given, a TOTP device if they have one.
async fn make_fixture(
    api: &AdminApi,
    username: &str,
    password: String,
    cleanup: &mut Cleanup,
    out: &mut dyn Write,
) -> Result<Fixture, Stop> {
    let runtime = |e: crate::environment::admin_api::ApiError| Stop(exit::RUNTIME, e.message);
    for line in throwaway::sweep(api).await.map_err(runtime)? {
        let _ = writeln!(out, "ak-e2e: {line}");
    }
    let user = api.user(username).await.map_err(runtime)?.ok_or_else(|| {
        Stop(exit::USAGE, format!("authentik has no user `{username}` (GET api/v3/core/users/?username={username})"))
    })?;
    let pk = user.pk.to_string();
    let devices: Vec<admin::Device> = api.get(path::ALL_DEVICES, &[("user", &pk)]).await.map_err(runtime)?;
    let kinds: std::collections::BTreeSet<String> =
        devices.into_iter().filter(|d| d.confirmed).map(|d| d.kind).filter(|k| !k.is_empty()).collect();
    let totp = kinds.contains(TOTP_DEVICE);
    let others: Vec<&str> =
        kinds.iter().filter(|k| *k != TOTP_DEVICE).map(|k| k.rsplit('.').next().unwrap_or(k)).collect();
    let fixture_name = throwaway::name(Kind::Copy);
    let domain = user.email.rsplit_once('@').map(|(_, d)| d.to_string());
    let email = format!("{fixture_name}@{}", domain.as_deref().unwrap_or("example.invalid"));
    let new = admin::NewUser {
        username: fixture_name.clone(),
        name: user.name.clone(),
        email: email.clone(),
        is_active: user.is_active,
        path: "ak-e2e/reproduce".into(),
        kind: user.kind.clone(),
        groups: user.groups.clone(),
        attributes: user.attributes.clone(),
    };
    let created: admin::User = api.post(path::USERS, &new).await.map_err(runtime)?;
    cleanup.add(format!("the throwaway user {fixture_name}"), path::one(path::USERS, created.pk));
    let fixture = Fixture { pk: created.pk, username: fixture_name, email, name: user.name.clone(), password, totp };
    let mfa = match (totp, others.is_empty()) {
        (true, _) => "TOTP".to_string(),
        (false, true) => "none".to_string(),
        (false, false) => "none mirrored".to_string(),
    };
    let active = if user.is_active { "" } else { ", inactive like them" };
    let _ = writeln!(
        out,
        "ak-e2e: created the throwaway user {} mirroring {username}: {} group(s), {} attribute(s), MFA {mfa}{active}",
        fixture.username,
        user.groups.len(),
        user.attributes.len()
    );
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "ak-e2e: note: {username} also has {} device(s); the throwaway user has none (they cannot be made \
             through the API or held by a headless browser), so authentik may ask it for less than it asks them",
            others.join(", ")
        );
    }
    Ok(fixture)
}

/// The fixture's password, its TOTP device, and the login under the browser driver.
#[allow(clippy::too_many_arguments)]
async fn login(
    settings: &Settings,
    vars: &HashMap<String, String>,
    environment: &Environment,
    api: &AdminApi,
    fixture: &Fixture,
    scenario: &Path,
    folder: &Path,
    out: &mut dyn Write,
    style: Style,
) -> i32 {
    let set = admin::SetPassword { password: ak_protocol::secret::Secret::new(fixture.password.clone()) };
    if let Err(e) = api.act(&path::action(path::USERS, fixture.pk, "set_password"), &set).await {
        eprintln!("ak-e2e: error: {e}");
        return exit::RUNTIME;
    }
    let mut vars = vars.clone();
    let mut secrets = vec![fixture.password.clone()];
    if fixture.totp {
        match crate::commands::provision::enroll_totp(
            &environment.authentik,
            &fixture.username,
            &fixture.password,
            settings.request_timeout,
        )
        .await
        {
            Ok(secret) => {
                let hex = ak_protocol::totp::encode_hex(&secret);
                secrets.push(hex.clone());
                vars.insert(TOTP_VAR.into(), hex);
            }
            Err(e) => {
                eprintln!("ak-e2e: error: cannot give the throwaway user a TOTP device: {e}");
                return exit::RUNTIME;
            }
        }
    }
    let user = fixture_user(&fixture.username, &fixture.email, &fixture.name, fixture.totp);
    let settings = with_fixture(settings, scenario, user);
    let plan = match crate::plan::plan(&settings, &vars) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("ak-e2e: error: {}", plan_error(e));
            return exit::USAGE;
        }
    };
    let redactor = Redactor::new([plan.secrets.values(), secrets].concat());
    let mut host = match crate::drive::chrome::BrowserHost::start(&settings.browser).await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("ak-e2e: error: {e}");
            return exit::RUNTIME;
        }
    };
    let (artifacts, trace) = (folder.to_path_buf(), Some(folder.to_path_buf()));
    let ctx = crate::runner::Context::new(environment, Some(&host), artifacts, trace, &redactor, &settings, false);
    let report = {
        let mut progress = ConsoleProgress::new(out, style, redactor.clone());
        crate::runner::run(&plan, &ctx, &mut progress).await
    };
    ctx.close().await;
    drop(ctx);
    host.shutdown();
    let _ = crate::report::console::summary(&report, style, &redactor, out);
    for run in &report.scenarios {
        if let Some(trace) = &run.trace {
            let _ = writeln!(out, "ak-e2e: trace bundle in {trace}");
        }
    }
    exit::of(&report.summary)
}
