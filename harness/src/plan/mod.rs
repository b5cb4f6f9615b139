//! Planning: find and parse the scenario files, resolve fixtures, secrets, variables and
//! drivers — before anything runs. Every problem found is reported together.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ak_protocol::secret::Secret;

use crate::config::{Settings, Target};
use crate::diagnostic::Diagnostic;
use crate::scenario::FIXED_VARS;
use crate::scenario::{DriverKind, Scenario, StepKind, Template, parse};

/// Secret values by environment variable name. Never printed: `Debug` shows names only.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Secret>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// The value of a variable.
    pub fn get(&self, var: &str) -> Option<String> {
        self.0.get(var).map(|s| s.expose().to_string())
    }

    /// Sets a variable's value (a secret made during the run's start).
    pub fn set(&mut self, var: &str, value: Secret) {
        self.0.insert(var.to_string(), value);
    }

    /// All of them, for the embedded stand-in's `!Env`.
    pub fn exposed(&self) -> HashMap<String, String> {
        self.0.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect()
    }

    /// Every secret value, for redacting reports.
    pub fn values(&self) -> Vec<String> {
        self.0.values().map(|s| s.expose().to_string()).filter(|s| s.len() >= 4).collect()
    }
}

/// Why a plan failed.
#[derive(Debug, Clone)]
pub enum PlanError {
    /// Configuration problems (exit code 1).
    Config(Vec<String>),
    /// Scenario file problems (exit code 2).
    Scenario(Vec<Diagnostic>),
}

/// A scenario to run under a driver.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The scenario, as parsed.
    pub scenario: Scenario,
    /// The driver it runs under (from `drivers:` or `--driver`).
    pub driver: DriverKind,
}

/// Everything a run needs, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The settings the plan was made from.
    pub settings: Settings,
    /// What to run, in order.
    pub runs: Vec<Planned>,
    /// The values of the secret variables the runs need (never printed).
    pub secrets: Secrets,
    /// The applications the planned scenarios sign in to (and `default`).
    pub applications: std::collections::BTreeSet<String>,
    /// The fixture users the planned scenarios sign in as.
    pub users: std::collections::BTreeSet<String>,
}

/// Builds the plan.
pub fn plan(settings: &Settings, env: &HashMap<String, String>) -> Result<Plan, PlanError> {
    let mut config_errors = Vec::new();
    let mut diagnostics = Vec::new();

    let files = match scenario_files(&settings.paths) {
        Ok(f) => f,
        Err(e) => return Err(PlanError::Config(vec![e])),
    };
    let mut known: Vec<String> = FIXED_VARS.iter().map(|s| s.to_string()).collect();
    for name in settings.users.keys() {
        for field in ["username", "email", "name"] {
            known.push(format!("users.{name}.{field}"));
        }
    }
    let mut scenarios = Vec::new();
    for file in &files {
        match read_scenario_file(file) {
            Err(Unreadable::Scenario(d)) => diagnostics.push(*d),
            Err(Unreadable::Io(e)) => config_errors.push(e),
            Ok(text) => {
                let (scenario, errors) = parse::parse_partial(file, &text);
                if !errors.is_empty() {
                    diagnostics.extend(errors);
                    // Check what did parse, so every problem is reported in one go.
                    if let Some(s) = scenario {
                        check_scenario(&s, settings, &known, &mut diagnostics);
                    }
                } else if let Some(s) = scenario {
                    scenarios.push(s);
                }
            }
        }
    }

    for scenario in &scenarios {
        check_scenario(scenario, settings, &known, &mut diagnostics);
    }
    diagnostics.sort_by(|a, b| (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col)));
    let mut runs = Vec::new();
    for scenario in &scenarios {
        if !settings.tags.is_empty() && !scenario.tags.iter().any(|t| settings.tags.contains(t)) {
            continue;
        }
        if scenario.tags.iter().any(|t| settings.skip_tags.contains(t)) {
            continue;
        }
        let mut drivers = settings.drivers.clone().unwrap_or_else(|| scenario.drivers.clone());
        // Scenarios that act as the OAuth client run under the api driver only.
        if acts_as_client(scenario) {
            drivers.retain(|d| *d == DriverKind::Api);
        }
        for driver in drivers {
            runs.push(Planned { scenario: scenario.clone(), driver });
        }
    }
    // A deterministic share of the runs: the k-th of every n, in file order.
    if let Some((k, n)) = settings.partition {
        runs = runs.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, r)| r).collect();
    }
    if runs.is_empty() && diagnostics.is_empty() {
        config_errors.push(nothing_selected(settings, &files, &scenarios));
    }
    let used_apps: std::collections::BTreeSet<String> = runs
        .iter()
        .map(|r: &Planned| r.scenario.application.clone())
        .chain([crate::scenario::DEFAULT_APPLICATION.to_string()])
        .collect();
    let used_users: std::collections::BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.scenario.steps.iter())
        .filter_map(|s| match &s.kind {
            StepKind::SignIn { user, .. } => Some(user.clone()),
            _ => None,
        })
        .collect();
    let secrets = resolve_secrets(settings, env, &used_apps, &used_users, &mut config_errors);
    if !config_errors.is_empty() {
        return Err(PlanError::Config(config_errors));
    }
    if !diagnostics.is_empty() {
        return Err(PlanError::Scenario(diagnostics));
    }
    Ok(Plan { settings: settings.clone(), runs, secrets, applications: used_apps, users: used_users })
}

/// For a real target, the fixture users whose recovery code file has fewer codes left than the
/// runs will type (each `sign_in` with a fresh one spends one: authentik accepts a code once), or
/// none: checked before a run starts, as the other pre-run checks. The embedded target makes its
/// own.
pub fn codes_short(settings: &Settings, runs: &[Planned]) -> Vec<String> {
    if settings.target == crate::config::Target::Embedded {
        return Vec::new();
    }
    use crate::scenario::RecoveryCode;
    let mut needed: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for step in runs.iter().flat_map(|r| r.scenario.steps.iter()) {
        let StepKind::SignIn { user, recovery_code, .. } = &step.kind else { continue };
        let Some(fixture) = settings.users.get(user).filter(|u| u.recovery_codes.is_some()) else { continue };
        if RecoveryCode::takes_fresh(*recovery_code, fixture.totp_secret.is_some(), fixture.passkey.is_some()) {
            *needed.entry(user.as_str()).or_default() += 1;
        }
    }
    let mut short = Vec::new();
    for (user, needed) in needed {
        let Some(file) = settings.users.get(user).and_then(|u| u.recovery_codes.as_ref()).map(|c| &c.file) else {
            continue;
        };
        match crate::drive::recovery::read(file) {
            Err(e) => short.push(format!("fixture user `{user}`: {e}")),
            Ok(codes) if codes.codes.len() < needed => short.push(format!(
                "fixture user `{user}`: {} has {} recovery code(s) left, and the selected runs type {needed}: \
                 `ak-e2e provision` enrolls new ones",
                file.display(),
                codes.codes.len()
            )),
            Ok(_) => {}
        }
    }
    short
}

/// Why a selection runs nothing: a run that tests nothing must not pass.
fn nothing_selected(settings: &Settings, files: &[PathBuf], scenarios: &[Scenario]) -> String {
    let paths: Vec<String> = settings.paths.iter().map(|p| p.display().to_string()).collect();
    if files.is_empty() {
        return format!("no scenario runs: no `*.yaml` file under {}", paths.join(", "));
    }
    let mut known: Vec<&str> = scenarios.iter().flat_map(|s| s.tags.iter().map(String::as_str)).collect();
    known.sort_unstable();
    known.dedup();
    let tagged = |t: &String| scenarios.iter().any(|s| s.tags.contains(t));
    if !settings.tags.is_empty() && !settings.tags.iter().any(tagged) {
        return format!(
            "no scenario runs: no scenario under {} has the tag {} (their tags: {})",
            paths.join(", "),
            settings.tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" or "),
            known.join(", ")
        );
    }
    if let Some((k, n)) = settings.partition {
        return format!("no scenario runs: partition {k}/{n} of this selection is empty (fewer runs than parts)");
    }
    format!(
        "no scenario runs: every selected scenario is left out by --skip-tag {} (or by its drivers)",
        settings.skip_tags.join(", ")
    )
}

/// Why a scenario file gives no text.
enum Unreadable {
    /// The file's content is at fault (exit 2): too large, not UTF-8.
    Scenario(Box<Diagnostic>),
    /// It cannot be read at all.
    Io(String),
}

/// Reads a scenario file: at most [`ak_protocol::yaml::MAX_BYTES`] of UTF-8.
fn read_scenario_file(file: &Path) -> Result<String, Unreadable> {
    use ak_protocol::yaml::ReadError;
    let at = |line: usize, col: usize, message: String, label: String| {
        Unreadable::Scenario(Box::new(Diagnostic {
            message,
            span: crate::diagnostic::Span { file: file.to_path_buf(), line, col, len: 1 },
            label,
            help: None,
        }))
    };
    ak_protocol::yaml::read_file(file).map_err(|e| match e {
        ReadError::Io(e) => Unreadable::Io(format!("cannot read {}: {e}", file.display())),
        ReadError::TooLarge => at(1, 1, format!("{e}; a scenario file is far smaller"), String::new()),
        ReadError::NotUtf8 { at: pos, byte } => at(
            pos.line,
            pos.col,
            "the file is not UTF-8 text".into(),
            format!("byte 0x{byte:02x} is not valid UTF-8 here"),
        ),
    })
}

/// `*.yaml` files under the paths, sorted, each once.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_file() {
            out.push(path.clone());
        } else if path.is_dir() {
            collect(path, &mut out).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        } else {
            return Err(format!("no scenario file or folder at {}", path.display()));
        }
    }
    // One file named twice (`scenarios` and `scenarios/chatgpt/login.yaml`, `./x.yaml` and
    // `x.yaml`, a symbolic link) runs once, where it was first named.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The secrets of every application and user: what the embedded target is provisioned with
/// (unset ones made up), or for a real target what the environment holds.
pub fn all_secrets(settings: &Settings, env: &HashMap<String, String>) -> Result<Secrets, Vec<String>> {
    let mut errors = Vec::new();
    let apps = settings.applications.keys().cloned().collect();
    let users = settings.users.keys().cloned().collect();
    let secrets = resolve_secrets(settings, env, &apps, &users, &mut errors);
    if errors.is_empty() { Ok(secrets) } else { Err(errors) }
}

/// Resolves secrets: all of them for the embedded target (it is provisioned with them; unset
/// ones are made up), and for a real target those the planned scenarios need.
fn resolve_secrets(
    settings: &Settings,
    env: &HashMap<String, String>,
    used_apps: &std::collections::BTreeSet<String>,
    used_users: &std::collections::BTreeSet<String>,
    errors: &mut Vec<String>,
) -> Secrets {
    let embedded = settings.target == Target::Embedded;
    // (variable, what it is, whether it is a TOTP seed, the file that may hold it)
    let mut wanted: Vec<(String, String, bool, Option<PathBuf>)> = Vec::new();
    let mut apps_by_var: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, app) in &settings.applications {
        if embedded || used_apps.contains(name) {
            apps_by_var.entry(app.client_secret.env.clone()).or_default().push(name);
        }
    }
    for (var, apps) in apps_by_var {
        let what = if apps.len() == 1 {
            format!("the client secret of application `{}`", apps[0])
        } else {
            format!("the client secret of applications {}", apps.join(", "))
        };
        wanted.push((var, what, false, None));
    }
    for (name, user) in &settings.users {
        if !(embedded || used_users.contains(name)) {
            continue;
        }
        wanted.push((user.password.env.clone(), format!("user `{name}`'s password"), false, None));
        if let Some(t) = &user.totp_secret {
            wanted.push((t.env.clone(), format!("user `{name}`'s TOTP secret"), true, t.file.clone()));
        }
    }
    let mut secrets = BTreeMap::new();
    for (var, what, totp, file) in wanted {
        let from_file = file.as_deref().and_then(|f| std::fs::read_to_string(f).ok()).map(|t| t.trim().to_string());
        let value = match (env.get(&var), &settings.target) {
            (Some(v), _) if !v.is_empty() => v.clone(),
            // Written by `ak-e2e provision` when it enrolled the device.
            (_, Target::Url(_)) if from_file.as_ref().is_some_and(|v| !v.is_empty()) => from_file.unwrap_or_default(),
            // The embedded target is provisioned by this run: make the secret up.
            (_, Target::Embedded) => {
                if totp {
                    ak_protocol::jose::random_token(20).bytes().take(20).map(|b| format!("{b:02x}")).collect()
                } else {
                    ak_protocol::jose::random_token(18)
                }
            }
            (_, Target::Url(_)) => {
                let hint = match &file {
                    Some(f) => {
                        format!("export {var}, or let `ak-e2e provision` enroll a device (it writes {})", f.display())
                    }
                    None => format!("export {var} (real targets take secrets from the environment)"),
                };
                errors.push(format!("{what} is not set: {hint}"));
                continue;
            }
        };
        secrets.insert(var, Secret::new(value));
    }
    Secrets(secrets)
}

fn check_scenario(scenario: &Scenario, settings: &Settings, known: &[String], out: &mut Vec<Diagnostic>) {
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let check_template = |t: &Template, span: &crate::diagnostic::Span, out: &mut Vec<Diagnostic>| {
        for name in t.references() {
            if !known.contains(&name) {
                let label = match crate::diagnostic::suggest(&name, &known_refs) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "not a fixture variable".into(),
                };
                out.push(Diagnostic {
                    message: format!("unknown variable `{{{{ {name} }}}}`"),
                    span: span.clone(),
                    label,
                    help: Some(format!("variables: {}", known.join(", "))),
                });
            }
        }
    };
    check_application(scenario, settings, out);
    let raw = scenario.steps.iter().find(|s| client_step(&s.kind));
    if let Some(step) = raw
        && scenario.drivers.contains(&DriverKind::Browser)
    {
        out.push(Diagnostic {
            message: format!("`{}` needs the api driver", step.name),
            span: step.span.clone(),
            label: "the harness acts as the OAuth client here; a browser cannot".into(),
            help: Some("declare `drivers: [api]`".into()),
        });
    }
    // Users whose recovery code an earlier `sign_in` of the scenario spent.
    let mut spent = std::collections::BTreeSet::new();
    for step in &scenario.steps {
        match &step.kind {
            StepKind::StartLogin { email: Some(t), .. } => check_template(t, &step.span, out),
            StepKind::SignIn { user, password, recovery_code, first_factor, .. } => {
                check_user(user, &step.span, settings, out);
                if let Some(p) = password {
                    check_template(p, &step.span, out);
                }
                check_recovery_code(user, *recovery_code, &step.span, settings, &mut spent, out);
                check_first_factor(
                    user,
                    *first_factor,
                    (password.is_some(), recovery_code.is_some()),
                    &step.span,
                    settings,
                    out,
                );
            }
            StepKind::Authorize { set, .. } => {
                for (_, t) in set {
                    check_template(t, &step.span, out);
                }
            }
            StepKind::ExpectRedirect { query: matchers, .. } | StepKind::ExpectClaims { claims: matchers, .. } => {
                for m in matchers {
                    for t in [&m.matcher.equals, &m.matcher.not_equals].into_iter().flatten() {
                        check_template(t, &m.span, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reports a scenario whose application is not configured, at its `application:` line (else
/// the file's first line), suggesting the nearest name.
fn check_application(scenario: &Scenario, settings: &Settings, out: &mut Vec<Diagnostic>) {
    if settings.applications.contains_key(&scenario.application) {
        return;
    }
    let apps: Vec<&str> = settings.applications.keys().map(String::as_str).collect();
    let span = scenario.application_span.clone().unwrap_or_else(|| crate::diagnostic::Span {
        file: scenario.file.clone(),
        line: 1,
        col: 1,
        len: 1,
    });
    out.push(Diagnostic {
        message: format!("unknown application `{}`", scenario.application),
        span,
        label: match crate::diagnostic::suggest(&scenario.application, &apps) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("applications: {}", apps.join(", ")),
        },
        help: Some("applications are `application:` (named `default`) and `applications:` in ak-e2e.yaml".into()),
    });
}

/// Reports a `recovery_code` a `sign_in` cannot type: the user has no `recovery_codes`, or (for
/// `spent`) no `sign_in` of theirs before it in the scenario spent one. `spent` collects the users
/// whose code a `sign_in` spends.
fn check_recovery_code(
    user: &str,
    asked: Option<crate::scenario::RecoveryCode>,
    span: &crate::diagnostic::Span,
    settings: &Settings,
    spent: &mut std::collections::BTreeSet<String>,
    out: &mut Vec<Diagnostic>,
) {
    use crate::scenario::RecoveryCode;
    let Some(fixture) = settings.users.get(user) else { return };
    let has_codes = fixture.recovery_codes.is_some();
    if asked.is_some() && !has_codes {
        out.push(Diagnostic {
            message: format!("`recovery_code`: fixture user `{user}` has no recovery codes"),
            span: span.clone(),
            label: "this `sign_in` types one".into(),
            help: Some(format!(
                "give `{user}` `recovery_codes: {{ file: … }}` in ak-e2e.yaml (`ak-e2e provision` enrolls them)"
            )),
        });
        return;
    }
    match asked {
        Some(RecoveryCode::Spent) if !spent.contains(user) => out.push(Diagnostic {
            message: format!("`recovery_code: spent`: no `sign_in` of `{user}` before it spends one"),
            span: span.clone(),
            label: "the code to type again is the one an earlier `sign_in` of this scenario typed".into(),
            help: Some(format!("sign `{user}` in with a fresh code first (`recovery_code: fresh`)")),
        }),
        _ if has_codes
            && RecoveryCode::takes_fresh(asked, fixture.totp_secret.is_some(), fixture.passkey.is_some()) =>
        {
            spent.insert(user.to_string());
        }
        _ => {}
    }
}

/// Reports a `first_factor: passkey` a `sign_in` cannot give: the user has no passkey, or the
/// step also asks for a password or recovery code, which a passkey sign-in never types.
fn check_first_factor(
    user: &str,
    first_factor: crate::scenario::FirstFactor,
    (password, recovery_code): (bool, bool),
    span: &crate::diagnostic::Span,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) {
    if first_factor != crate::scenario::FirstFactor::Passkey {
        return;
    }
    let Some(fixture) = settings.users.get(user) else { return };
    if fixture.passkey.is_none() {
        out.push(Diagnostic {
            message: format!("`first_factor: passkey`: fixture user `{user}` has no passkey"),
            span: span.clone(),
            label: "this `sign_in` signs in with one".into(),
            help: Some(format!(
                "give `{user}` `passkey: {{ file: … }}` in ak-e2e.yaml (`ak-e2e provision` enrolls it)"
            )),
        });
    }
    if password || recovery_code {
        let what = if password { "`password`" } else { "`recovery_code`" };
        out.push(Diagnostic {
            message: format!("`first_factor: passkey` with {what}: a passkey sign-in types neither"),
            span: span.clone(),
            label: "remove one of them".into(),
            help: None,
        });
    }
}

/// Reports a `sign_in` of a user that is not a fixture user, suggesting the nearest name.
fn check_user(user: &str, span: &crate::diagnostic::Span, settings: &Settings, out: &mut Vec<Diagnostic>) {
    if settings.users.contains_key(user) {
        return;
    }
    let users: Vec<&str> = settings.users.keys().map(String::as_str).collect();
    let label = match crate::diagnostic::suggest(user, &users) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("fixture users: {}", users.join(", ")),
    };
    out.push(Diagnostic {
        message: format!("unknown user `{user}`"),
        span: span.clone(),
        label,
        help: Some("users are defined under `users:` in ak-e2e.yaml".into()),
    });
}

/// Steps where the harness acts as the OAuth client (api driver only).
fn client_step(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Authorize { .. } | StepKind::ExchangeCode { .. })
        || matches!(kind, StepKind::SignIn { consent: crate::scenario::Consent::Forge, .. })
}

fn acts_as_client(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|s| client_step(&s.kind))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn a_file_named_twice_runs_once() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let login = root.join("scenarios/chatgpt/login.yaml");
        let again = root.join("scenarios/./chatgpt/../chatgpt/login.yaml");
        let files = super::scenario_files(&[login.clone(), root.join("scenarios/chatgpt"), again]).expect("files");
        assert_eq!(files.iter().filter(|f| f.ends_with("login.yaml")).count(), 1, "{files:?}");
        assert_eq!(files[0], login, "where it was first named");
    }
}
