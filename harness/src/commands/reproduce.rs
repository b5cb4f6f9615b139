//! `ak-e2e reproduce --user USERNAME`: a user's ChatGPT login, reproduced without touching them.
//!
//! It reads the user through authentik's admin API (groups, attributes, the kinds of MFA device
//! they have), makes a throwaway user mirroring them (`ak-e2e-repro-<random>`, same name, an
//! address at the same email domain, same groups and attributes, path `ak-e2e/reproduce`, a
//! random password, and a TOTP device, a passkey and recovery codes of its own if they have
//! them, enrolled through authentik's setup flows), runs the ChatGPT login for
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
//! Other MFA kinds go without (see `environment::mirror`), and the output says so. The copy's
//! passkey and recovery codes are kept for the run only, in a folder only its owner reads (never
//! in the bundle), and go with the copy: authentik deletes a user's devices with the user.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ak_protocol::secret::Secret;

use crate::config::{SecretRef, Settings, Target, UserConfig};
use crate::environment::Environment;
use crate::environment::admin_api::AdminApi;
use crate::environment::mirror::{self, Copy, CopyError};
use crate::environment::throwaway::{self, Cleanup, Kind};
use crate::exit::{self, Stop};
use crate::report::Redactor;
use crate::report::console::{ConsoleProgress, Style};
use crate::scenario::DriverKind;

/// The fixture's name in the scenario.
const FIXTURE: &str = "reproduced";
/// Where the fixture's password and TOTP secret are handed to the plan.
const PASSWORD_VAR: &str = "AK_E2E_REPRODUCE_PASSWORD";
const TOTP_VAR: &str = "AK_E2E_REPRODUCE_TOTP_SECRET";

/// The login the fixture goes through: ChatGPT's "Log in", authentik, back to ChatGPT with a
/// code, an ID token for the fixture, a conversation.
const SCENARIO: &str = r#"name: {{NAME}}
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

/// Runs `reproduce`; returns the exit code (README: "Reproducing a user's login").
pub async fn reproduce(
    mut settings: Settings,
    env: &HashMap<String, String>,
    username: &str,
    out: &mut dyn Write,
    style: Style,
) -> i32 {
    // The run's own folder, made new below --trace's folder or the artifacts folder: the
    // scenario and the bundle go there, never into a folder that was there before.
    let run_name = crate::runner::run_folder(std::time::SystemTime::now(), std::process::id());
    let folder = match crate::runner::fresh_folder(settings.trace.as_ref().unwrap_or(&settings.artifacts), &run_name) {
        Ok(folder) => folder,
        Err(e) => return Stop::Usage(format!("cannot make a folder for this run: {e}")).say(&Redactor::default()),
    };
    let password = ak_protocol::jose::random_token(24);
    let mut vars = env.clone();
    vars.insert(PASSWORD_VAR.into(), password.clone());
    // With `--application`, the copy signs in to a twin of that application. Fixture users that
    // mirror someone are not needed here.
    crate::environment::twin::prepare(&mut settings, &mut vars);
    settings.users.retain(|_, u| u.mirror_of.is_none());
    if let Some(missing) = crate::environment::missing_token(&settings) {
        return Stop::Usage(missing).say(&Redactor::default());
    }
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
        Err(e) => return Stop::from(e).say(&redactor),
    };
    for note in &environment.notes {
        let _ = writeln!(out, "ak-e2e: {note}");
    }
    let embedded = matches!(settings.target, Target::Embedded).then_some(environment.api_token.as_ref()).flatten();
    let api = match crate::environment::admin_api(&settings, &environment.authentik, embedded) {
        Ok(Some(api)) => api,
        Ok(None) => {
            let token = crate::commands::provision::TOKEN_ENV;
            environment.stop().await;
            return Stop::Usage(format!(
                "`reproduce` needs an authentik API token that may read and create users in {token}"
            ))
            .say(&redactor);
        }
        Err(e) => {
            environment.stop().await;
            return Stop::from(e).say(&redactor);
        }
    };
    let mut cleanup = Cleanup::new(api.clone());
    let swept = environment.cleanup.is_some();
    let code = match make_fixture(&api, &settings, username, &password, swept, &mut cleanup, out).await {
        Err(stop) => stop.say(&redactor),
        Ok(fixture) => {
            environment.set_user(FIXTURE, &fixture_user(&fixture.username, &fixture.email, &fixture.name, false));
            let kept = environment.keep_devices(FIXTURE, &fixture);
            match kept {
                Ok(()) => {
                    let code = login(&settings, &vars, &environment, &fixture, &scenario, &folder, out, style).await;
                    explain(&api, &settings, &environment, code, username, out).await
                }
                Err(e) => Stop::Runtime(e).say(&redactor),
            }
        }
    };
    let (lines, all) = cleanup.run().await;
    for line in lines {
        let _ = writeln!(out, "ak-e2e: {}", redactor.apply(&line));
    }
    environment.stop().await;
    if all { code } else { code.max(exit::RUNTIME) }
}

/// authentik's own evaluation of the user themself (read-only: `check_access` and
/// `preview_user` for them, in the application the copy signed in to, which has the same
/// bindings and mappings): after a failed login, the explanation; after a passed one, a
/// difference, which makes the verdict a failure, since the user would not get in. Answers the
/// exit code.
async fn explain(
    api: &AdminApi,
    settings: &Settings,
    environment: &Environment,
    code: i32,
    username: &str,
    out: &mut dyn Write,
) -> i32 {
    let Some(ws) = environment.workspace(crate::scenario::DEFAULT_APPLICATION) else { return code };
    let domains = settings.chatgpt.verified_domains.clone().unwrap_or_default();
    let of = settings.applications.get(crate::scenario::DEFAULT_APPLICATION).and_then(|a| a.twin_of.clone());
    let shown = of.as_deref().unwrap_or(&ws.slug);
    let findings = match crate::commands::doctor::explain(api, &ws.slug, shown, username, &domains).await {
        Ok(findings) => findings,
        Err(e) => {
            let _ = writeln!(out, "ak-e2e: note: authentik's own evaluation of {username} could not be read: {e}");
            return code;
        }
    };
    let errors = findings.iter().any(|f| f.level == crate::commands::doctor::Level::Error);
    let code = match (code, errors) {
        (exit::FAILED, false) => {
            let _ = writeln!(out, "ak-e2e: authentik finds nothing wrong with {username} in application `{shown}`");
            return code;
        }
        (exit::FAILED, true) => {
            let _ = writeln!(out, "ak-e2e: authentik's own evaluation of {username} in application `{shown}`:");
            code
        }
        (exit::OK, true) => {
            let _ = writeln!(
                out,
                "ak-e2e: the throwaway user signed in, but authentik's own evaluation of {username} themself differs \
                 (a policy or mapping reads what the copy does not share, such as the username): {username} would \
                 not get in"
            );
            exit::FAILED
        }
        _ => return code,
    };
    for f in findings {
        let _ = writeln!(out, "  {}: {}: {}", f.level.word(), f.setting, f.message);
    }
    code
}

/// Writes the scenario and plans it with a placeholder fixture, enough to start the environment
/// the real fixture is then made in; on failure, says why and returns the exit code.
fn draft_plan(
    settings: &Settings,
    vars: &HashMap<String, String>,
    folder: &Path,
    username: &str,
) -> Result<(PathBuf, Settings, crate::plan::Plan), i32> {
    let scenario = write_scenario(folder, username)
        .map_err(|e| Stop::Usage(format!("cannot write {}: {e}", folder.display())).say(&Redactor::default()))?;
    let draft =
        with_fixture(settings, &scenario, fixture_user("ak-e2e-repro-pending", "pending@example.invalid", "", false));
    let plan = crate::plan::plan(&draft, vars).map_err(|e| Stop::Usage(plan_error(e)).say(&Redactor::default()))?;
    Ok((scenario, draft, plan))
}

/// Writes the scenario the fixture runs into the run's folder (it is part of the bundle).
fn write_scenario(folder: &Path, username: &str) -> std::io::Result<PathBuf> {
    let path = folder.join("reproduce.yaml");
    let name = format!("{username}'s ChatGPT login, reproduced by a throwaway user");
    // A JSON string is a YAML double-quoted scalar: quotes and backslashes (`DOMAIN\jane`) stay as they are.
    let quoted = serde_json::to_string(&name).unwrap_or_default();
    crate::files::write_new(&path, SCENARIO.replace("{{NAME}}", &quoted).as_bytes())?;
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
        passkey: None,
        recovery_codes: None,
        mirror_of: None,
    }
}

fn plan_error(e: crate::plan::PlanError) -> String {
    match e {
        crate::plan::PlanError::Config(errors) => errors.join("; "),
        crate::plan::PlanError::Scenario(d) => d.iter().map(|d| d.label.clone()).collect::<Vec<_>>().join("; "),
    }
}

/// Sweeps leftovers of killed runs (unless `swept` already), then makes the throwaway copy of the user
/// ([`crate::environment::mirror::copy`]) and says so.
async fn make_fixture(
    api: &AdminApi,
    settings: &Settings,
    username: &str,
    password: &str,
    swept: bool,
    cleanup: &mut Cleanup,
    out: &mut dyn Write,
) -> Result<Copy, Stop> {
    // Once per run: the environment swept already when it made a twin.
    if !swept {
        for line in throwaway::sweep(api).await.map_err(|e| Stop::Runtime(e.message))? {
            let _ = writeln!(out, "ak-e2e: {line}");
        }
    }
    let name = throwaway::name(Kind::Copy);
    let password = Secret::new(password);
    let copy =
        mirror::copy(api, username, &name, &password, settings.request_timeout, cleanup).await.map_err(
            |e| match e {
                CopyError::NoSuchUser(m) => Stop::Usage(m),
                CopyError::Failed(m) => Stop::Runtime(m),
            },
        )?;
    for line in &copy.lines {
        let _ = writeln!(out, "ak-e2e: {line}");
    }
    Ok(copy)
}

/// The fixture's password, its TOTP device, and the login under the browser driver.
#[allow(clippy::too_many_arguments)]
async fn login(
    settings: &Settings,
    vars: &HashMap<String, String>,
    environment: &Environment,
    fixture: &Copy,
    scenario: &Path,
    folder: &Path,
    out: &mut dyn Write,
    style: Style,
) -> i32 {
    let mut vars = vars.clone();
    let mut secrets = Vec::new();
    if let Some(totp) = &fixture.totp {
        secrets.push(totp.expose().to_string());
        vars.insert(TOTP_VAR.into(), totp.expose().to_string());
    }
    let user = fixture_user(&fixture.username, &fixture.email, &fixture.name, fixture.totp.is_some());
    let settings = with_fixture(settings, scenario, user);
    let plan = match crate::plan::plan(&settings, &vars) {
        Ok(plan) => plan,
        Err(e) => return Stop::Usage(plan_error(e)).say(&Redactor::default()),
    };
    let redactor = Redactor::new([plan.secrets.values(), secrets].concat());
    let mut host = match crate::drive::chrome::BrowserHost::start(&settings.browser).await {
        Ok(host) => host,
        Err(e) => return Stop::Runtime(e.to_string()).say(&redactor),
    };
    host.treat_as_secure(environment.origins());
    let folder = crate::runner::RunFolder::made(folder.to_path_buf());
    let ctx = crate::runner::Context::new(environment, Some(&host), folder, true, &redactor, &settings, false);
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
