//! Settings, folded once in one order: defaults → the config file (`ak-e2e.yaml`) →
//! `AK_E2E_*` environment variables → command-line flags. The environment is read once into a
//! map by `main`; nothing below reads it, so precedence is tested with literal maps.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::scenario::{DEFAULT_APPLICATION, DriverKind};

/// The config file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `embedded` or the base URL of a real authentik.
    pub target: Option<String>,
    /// Blueprints the embedded target applies.
    pub blueprints: Option<Vec<PathBuf>>,
    /// Scenario files or folders run when none are named.
    pub scenarios: Option<Vec<PathBuf>>,
    /// The application and its OAuth2 provider (scenarios use it unless they name another).
    pub application: Option<ApplicationConfig>,
    /// More applications, by the name scenarios give in `application:` (e.g. the guide's exact
    /// configuration beside the corrected one). Each gets its own mock ChatGPT workspace.
    pub applications: Option<BTreeMap<String, ApplicationConfig>>,
    /// The mock ChatGPT workspace.
    pub chatgpt: Option<ChatgptConfig>,
    /// Fixture users, by the name scenarios use.
    pub users: Option<BTreeMap<String, UserConfig>>,
    /// Deadline of each HTTP request and browser wait, in seconds.
    pub request_timeout_secs: Option<u64>,
    /// How many scenario runs go at once (`--jobs`).
    pub jobs: Option<u64>,
    /// The browser driver's browser.
    pub browser: Option<BrowserConfig>,
}

/// Where the browser driver gets Chromium.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserConfig {
    /// A WebDriver URL (Selenium Grid, a browser container) instead of starting chromedriver.
    pub webdriver_url: Option<String>,
    /// The chromedriver binary.
    pub chromedriver: Option<PathBuf>,
    /// The Chromium binary.
    pub chromium: Option<PathBuf>,
}

/// A secret, named by the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The environment variable that holds the value.
    pub env: String,
    /// For a TOTP secret: the file `ak-e2e provision` writes (mode 0600) when it enrolls the
    /// user's device, read when the variable is not set.
    pub file: Option<PathBuf>,
}

impl SecretRef {
    /// No variable: for a setting made by ak-e2e itself (a twin's client secret).
    fn unset() -> Self {
        Self { env: String::new(), file: None }
    }
}

/// Where a fixture user's passkey is kept: a file, not a variable, since each sign-in raises its
/// signature counter (see `drive::passkey`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRef {
    /// The file (JSON, mode 0600) `ak-e2e provision` writes when it enrolls the passkey.
    pub file: PathBuf,
}

/// Where a fixture user's recovery codes are kept: a file, not a variable, since each sign-in
/// spends one (see `drive::recovery`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodesRef {
    /// The file (JSON, mode 0600) `ak-e2e provision` writes when it enrolls the codes.
    pub file: PathBuf,
}

/// The application in authentik.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    /// Application slug (part of the issuer and discovery URL). With `twin_of`, the twin's.
    #[serde(default)]
    pub slug: String,
    /// The provider's client id. With `twin_of`, the twin's.
    #[serde(default)]
    pub client_id: String,
    /// The client secret the ChatGPT workspace is given (a different variable than the
    /// provider's makes a "wrong client secret" workspace). With `twin_of`, the twin's own.
    #[serde(default = "SecretRef::unset")]
    pub client_secret: SecretRef,
    /// A production application (its slug) this workspace signs in to a twin of: for the run,
    /// ak-e2e makes a throwaway copy of its provider and bindings and deletes it afterwards
    /// (`--application SLUG` sets it for the default application).
    pub twin_of: Option<String>,
    /// The variable the blueprint reads this workspace's Login redirect URI from (embedded
    /// target; default `AK_E2E_CHATGPT_REDIRECT_URI`).
    pub redirect_uri_env: Option<String>,
    /// The workspace's SSO connection id (default: `chatgpt.connection_id`).
    pub connection_id: Option<String>,
    /// Where this workspace's mock ChatGPT listens (default: `chatgpt.listen` for the default
    /// application, a free loopback port for the others).
    pub listen: Option<String>,
    /// The URL authentik redirects to for this workspace (default: `chatgpt.public_url` for the
    /// default application, `http://<listen address>/` for the others).
    pub public_url: Option<String>,
}

/// The mock ChatGPT workspace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatgptConfig {
    /// Verified email domains.
    pub verified_domains: Option<Vec<String>>,
    /// SSO connection id.
    pub connection_id: Option<String>,
    /// Where the mock listens (default `127.0.0.1:0`).
    pub listen: Option<String>,
    /// The URL browsers and authentik's redirect use to reach it.
    pub public_url: Option<String>,
}

/// A fixture user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Username in authentik. With `mirror_of`, the copy's.
    #[serde(default)]
    pub username: String,
    /// Email (what ChatGPT's "Log in" is given, and the `email` claim expected). With
    /// `mirror_of`, the copy's.
    #[serde(default)]
    pub email: String,
    /// Full name.
    pub name: Option<String>,
    /// The variable holding the password. With `mirror_of`, one ak-e2e fills.
    #[serde(default = "SecretRef::unset")]
    pub password: SecretRef,
    /// TOTP secret (hex, as authentik stores it, or base32 as apps show it).
    pub totp_secret: Option<SecretRef>,
    /// The user's passkey: where `ak-e2e provision` keeps the one it enrolls (see
    /// `drive::passkey`).
    pub passkey: Option<PasskeyRef>,
    /// The user's recovery codes (authentik's static device): where `ak-e2e provision` keeps the
    /// ones it enrolls (see `drive::recovery`).
    pub recovery_codes: Option<RecoveryCodesRef>,
    /// A real person (their username) this fixture user is a throwaway copy of, made for the
    /// run and deleted afterwards: a canary for nightly runs.
    pub mirror_of: Option<String>,
}

/// Where the scenarios run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The authentik stand-in, in process, provisioned from the blueprints.
    Embedded,
    /// A real authentik at this base URL.
    Url(Url),
}

/// Flags from the command line (already parsed; the engine never sees clap).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--target`.
    pub target: Option<String>,
    /// `--driver`.
    pub driver: Option<String>,
    /// `--tag` (repeatable).
    pub tags: Vec<String>,
    /// `--report-json`.
    pub report_json: Option<PathBuf>,
    /// `--report-junit`.
    pub report_junit: Option<PathBuf>,
    /// `--report-html`.
    pub report_html: Option<PathBuf>,
    /// `--artifacts`.
    pub artifacts: Option<PathBuf>,
    /// `--trace`.
    pub trace: Option<PathBuf>,
    /// `--webdriver-url`.
    pub webdriver_url: Option<String>,
    /// `--defect` (repeatable; embedded target only).
    pub defects: Vec<String>,
    /// `--partition K/N`.
    pub partition: Option<String>,
    /// `--jobs`.
    pub jobs: Option<String>,
    /// `--screenshots`.
    pub screenshots: Option<String>,
    /// `--skip-tag` (repeatable).
    pub skip_tags: Vec<String>,
    /// Positional paths.
    pub paths: Vec<PathBuf>,
    /// `--application SLUG`: the default application is a twin of this production one.
    pub application: Option<String>,
}

/// The resolved settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The embedded stand-in or a real authentik by URL.
    pub target: Target,
    /// Blueprints for the embedded target.
    pub blueprints: Vec<PathBuf>,
    /// Scenario files or folders.
    pub paths: Vec<PathBuf>,
    /// The applications, by name; `default` is `application:`.
    pub applications: BTreeMap<String, ApplicationConfig>,
    /// The mock ChatGPT.
    pub chatgpt: ChatgptConfig,
    /// Fixture users.
    pub users: BTreeMap<String, UserConfig>,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// How long to wait for a real target to answer before the run (`AK_E2E_WAIT_SECS`; 0).
    pub target_wait: Duration,
    /// Drivers forced from outside (`--driver`), overriding the scenarios'.
    pub drivers: Option<Vec<DriverKind>>,
    /// Only scenarios with one of these tags.
    pub tags: Vec<String>,
    /// No scenario with one of these tags.
    pub skip_tags: Vec<String>,
    /// JSON report path.
    pub report_json: Option<PathBuf>,
    /// JUnit report path.
    pub report_junit: Option<PathBuf>,
    /// HTML report path.
    pub report_html: Option<PathBuf>,
    /// Artifacts folder (screenshots, page dumps, failed runs' trace bundles).
    pub artifacts: PathBuf,
    /// Where every run's trace bundle goes (`--trace`), if anywhere.
    pub trace: Option<PathBuf>,
    /// Where browser runs get Chromium, and which screenshots they take.
    pub browser: BrowserSettings,
    /// Defects switched on in the embedded stand-in (to see what the suite catches).
    pub defects: authentik_standin::Defects,
    /// Run only part `k` of `n` of the planned runs (1-based), to split a suite across machines.
    pub partition: Option<(usize, usize)>,
    /// How many scenario runs go at once; results are reported in plan order whatever it is.
    pub jobs: usize,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
    /// authentik's admin API token (`AK_E2E_AUTHENTIK_TOKEN`), for twins and copies of users.
    pub authentik_token: Option<ak_protocol::secret::Secret>,
}

/// A configuration problem (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG: &str = "ak-e2e.yaml";

impl Settings {
    /// Folds defaults, the file, the environment and the flags.
    pub fn resolve(flags: &Flags, env: &HashMap<String, String>, cwd: &Path) -> Result<Self, ConfigError> {
        let (file, config_file) = config_file(flags, env, cwd)?;
        let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
            flag.clone().or_else(|| env.get(var).cloned()).or_else(|| file.clone())
        };
        let target_origin = origin(flags.target.is_some(), env, "--target", "AK_E2E_TARGET", "target");
        let target = match pick(&flags.target, "AK_E2E_TARGET", &file.target).as_deref() {
            None | Some("embedded") => Target::Embedded,
            Some(url) => Target::Url(parse_target(url, &target_origin)?),
        };
        let drivers = match pick(&flags.driver, "AK_E2E_DRIVER", &None).as_deref() {
            None => None,
            Some("api") => Some(vec![DriverKind::Api]),
            Some("browser") => Some(vec![DriverKind::Browser]),
            Some("both") => Some(vec![DriverKind::Api, DriverKind::Browser]),
            Some(other) => return Err(ConfigError(format!("driver `{other}` is not api, browser or both"))),
        };
        let path_or_env = |flag: &Option<PathBuf>, var: &str| flag.clone().or_else(|| env.get(var).map(PathBuf::from));
        let application =
            default_application(&file, pick(&flags.application, "AK_E2E_APPLICATION", &None), &config_file)?;
        let defect_names = list(&flags.defects, env, "AK_E2E_DEFECTS");
        if !defect_names.is_empty() && target != Target::Embedded {
            return Err(ConfigError("defects apply to the embedded target only".into()));
        }
        let partition = match pick(&flags.partition, "AK_E2E_PARTITION", &None) {
            None => None,
            Some(text) => Some(parse_partition(&text)?),
        };
        Ok(Self {
            partition,
            jobs: jobs(flags, env, &file)?,
            target,
            blueprints: file.blueprints.clone().unwrap_or_else(|| vec![PathBuf::from("blueprints/chatgpt.yaml")]),
            paths: if flags.paths.is_empty() {
                file.scenarios.clone().unwrap_or_else(|| vec![PathBuf::from("scenarios")])
            } else {
                flags.paths.clone()
            },
            applications: applications(&file, application)?,
            chatgpt: chatgpt(env, &file),
            users: users(&file)?,
            request_timeout: Duration::from_secs(request_timeout(env, &file)?),
            target_wait: Duration::from_secs(match env.get("AK_E2E_WAIT_SECS") {
                Some(v) => seconds("AK_E2E_WAIT_SECS", v, WAIT_RANGE)?,
                None => 0,
            }),
            drivers,
            tags: list(&flags.tags, env, "AK_E2E_TAGS"),
            skip_tags: list(&flags.skip_tags, env, "AK_E2E_SKIP_TAGS"),
            report_json: path_or_env(&flags.report_json, "AK_E2E_REPORT_JSON"),
            report_junit: path_or_env(&flags.report_junit, "AK_E2E_REPORT_JUNIT"),
            report_html: path_or_env(&flags.report_html, "AK_E2E_REPORT_HTML"),
            artifacts: path_or_env(&flags.artifacts, "AK_E2E_ARTIFACTS")
                .unwrap_or_else(|| PathBuf::from("reports/artifacts")),
            trace: path_or_env(&flags.trace, "AK_E2E_TRACE"),
            browser: browser(flags, env, &file)?,
            defects: authentik_standin::Defects::parse(&defect_names).map_err(|e| ConfigError(e.to_string()))?,
            config_file,
            authentik_token: env
                .get("AK_E2E_AUTHENTIK_TOKEN")
                .filter(|t| !t.is_empty())
                .map(ak_protocol::secret::Secret::new),
        })
    }
}

/// The default application: `application:` of the file, a twin of `twin_of` when given (then
/// nothing else of it is needed).
fn default_application(
    file: &FileConfig,
    twin_of: Option<String>,
    config_file: &Option<PathBuf>,
) -> Result<ApplicationConfig, ConfigError> {
    let mut application = match (file.application.clone(), &twin_of) {
        (Some(app), _) => app,
        (None, Some(_)) => ApplicationConfig {
            slug: String::new(),
            client_id: String::new(),
            client_secret: SecretRef::unset(),
            twin_of: None,
            redirect_uri_env: None,
            connection_id: None,
            listen: None,
            public_url: None,
        },
        (None, None) => {
            return Err(ConfigError(format!(
                "no `application:` in {}: name the application slug, client_id and client_secret (see README.md)",
                config_file.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG)).display()
            )));
        }
    };
    if twin_of.is_some() {
        application.twin_of = twin_of;
    }
    Ok(application)
}

/// An error naming the fields of `key` that are empty, and what may stand instead of them.
fn required(key: &str, fields: &[(&str, &String)], instead: &str) -> Result<(), ConfigError> {
    let missing: Vec<&str> = fields.iter().filter(|(_, v)| v.is_empty()).map(|(f, _)| *f).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ConfigError(format!("`{key}` needs {} (or {instead})", missing.join(", "))))
}

/// The fixture users by name; each names its username, email and password, or mirrors a real
/// person (`mirror_of`).
fn users(file: &FileConfig) -> Result<BTreeMap<String, UserConfig>, ConfigError> {
    let users = file.users.clone().unwrap_or_default();
    for (name, user) in &users {
        match &user.mirror_of {
            Some(person) if person.is_empty() => return Err(ConfigError(format!("`users.{name}.mirror_of` is empty"))),
            Some(_) => {}
            None => required(
                &format!("users.{name}"),
                &[("username", &user.username), ("email", &user.email), ("password", &user.password.env)],
                "`mirror_of: <username>` for a throwaway copy of a real person",
            )?,
        }
    }
    Ok(users)
}

/// The applications by name, `default` being `application:`; each either names its slug,
/// client id and secret, or is a twin of a production application (`twin_of`).
fn applications(
    file: &FileConfig,
    default: ApplicationConfig,
) -> Result<BTreeMap<String, ApplicationConfig>, ConfigError> {
    let mut apps = file.applications.clone().unwrap_or_default();
    apps.insert(DEFAULT_APPLICATION.to_string(), default);
    for (name, app) in &apps {
        let key = if name == DEFAULT_APPLICATION { "application".to_string() } else { format!("applications.{name}") };
        match &app.twin_of {
            Some(slug) if slug.is_empty() => return Err(ConfigError(format!("`{key}.twin_of` is empty"))),
            Some(_) => {}
            None => required(
                &key,
                &[("slug", &app.slug), ("client_id", &app.client_id), ("client_secret", &app.client_secret.env)],
                "`twin_of: <production slug>` for a twin of it",
            )?,
        }
    }
    Ok(apps)
}

/// The config file: `--config` or `AK_E2E_CONFIG` if given (it must exist), else
/// `ak-e2e.yaml` in the working folder if there is one, else none.
fn config_file(
    flags: &Flags,
    env: &HashMap<String, String>,
    cwd: &Path,
) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let explicit = flags.config.clone().or_else(|| env.get("AK_E2E_CONFIG").map(PathBuf::from));
    Ok(match explicit {
        Some(path) => (read_file(&cwd.join(&path), &path)?, Some(path)),
        None if cwd.join(DEFAULT_CONFIG).is_file() => {
            (read_file(&cwd.join(DEFAULT_CONFIG), Path::new(DEFAULT_CONFIG))?, Some(PathBuf::from(DEFAULT_CONFIG)))
        }
        None => (FileConfig::default(), None),
    })
}

/// A repeatable flag's values, or else the variable's comma-separated ones.
fn list(flag: &[String], env: &HashMap<String, String>, var: &str) -> Vec<String> {
    if !flag.is_empty() {
        return flag.to_vec();
    }
    env.get(var)
        .map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// The per-request deadline in seconds: `AK_E2E_REQUEST_TIMEOUT_SECS`, the file's, or 10.
fn request_timeout(env: &HashMap<String, String>, file: &FileConfig) -> Result<u64, ConfigError> {
    match env.get("AK_E2E_REQUEST_TIMEOUT_SECS") {
        Some(v) => seconds("AK_E2E_REQUEST_TIMEOUT_SECS", v, TIMEOUT_RANGE),
        None => match file.request_timeout_secs {
            Some(secs) => seconds("`request_timeout_secs` in the config file", &secs.to_string(), TIMEOUT_RANGE),
            None => Ok(10),
        },
    }
}

/// Scenario runs at once: `--jobs`, `AK_E2E_JOBS`, the file's `jobs`, or one per CPU (at most 4).
fn jobs(flags: &Flags, env: &HashMap<String, String>, file: &FileConfig) -> Result<usize, ConfigError> {
    let given = flags.jobs.clone().or_else(|| env.get("AK_E2E_JOBS").cloned()).or(file.jobs.map(|n| n.to_string()));
    match given {
        Some(text) => {
            let origin = origin(flags.jobs.is_some(), env, "--jobs", "AK_E2E_JOBS", "jobs");
            // Within JOBS_RANGE, so it fits.
            Ok(whole_number(&origin, &text, JOBS_RANGE, "runs")? as usize)
        }
        None => Ok(default_jobs()),
    }
}

/// The mock ChatGPT workspace: the file's, with `AK_E2E_CHATGPT_LISTEN` and
/// `AK_E2E_CHATGPT_PUBLIC_URL` over it.
fn chatgpt(env: &HashMap<String, String>, file: &FileConfig) -> ChatgptConfig {
    let mut c = file.chatgpt.clone().unwrap_or_default();
    if let Some(v) = env.get("AK_E2E_CHATGPT_LISTEN") {
        c.listen = Some(v.clone());
    }
    if let Some(v) = env.get("AK_E2E_CHATGPT_PUBLIC_URL") {
        c.public_url = Some(v.clone());
    }
    c
}

/// Where the browser comes from, and which screenshots it takes.
fn browser(flags: &Flags, env: &HashMap<String, String>, file: &FileConfig) -> Result<BrowserSettings, ConfigError> {
    let file_browser = file.browser.clone().unwrap_or_default();
    let screenshots = match flags.screenshots.clone().or_else(|| env.get("AK_E2E_SCREENSHOTS").cloned()).as_deref() {
        None | Some("failure") => Screenshots::Failure,
        Some("all") => Screenshots::All,
        Some(other) => return Err(ConfigError(format!("screenshots `{other}` is not `failure` or `all`"))),
    };
    Ok(BrowserSettings {
        webdriver_url: flags
            .webdriver_url
            .clone()
            .or_else(|| env.get("AK_E2E_WEBDRIVER_URL").cloned())
            .or(file_browser.webdriver_url),
        chromedriver: env.get("AK_E2E_CHROMEDRIVER").map(PathBuf::from).or(file_browser.chromedriver),
        chromium: env.get("AK_E2E_CHROMIUM").map(PathBuf::from).or(file_browser.chromium),
        screenshots,
    })
}

/// The range of the per-request deadline, in seconds.
const TIMEOUT_RANGE: (u64, u64) = (1, 600);
/// The range of the wait for a fresh target, in seconds.
const WAIT_RANGE: (u64, u64) = (0, 3600);

/// A whole number of seconds within `range`, or an error naming where it came from.
fn seconds(origin: &str, text: &str, range: (u64, u64)) -> Result<u64, ConfigError> {
    whole_number(origin, text, range, "seconds")
}

/// A whole number of `unit` within `range`, or an error naming where it came from.
fn whole_number(origin: &str, text: &str, (min, max): (u64, u64), unit: &str) -> Result<u64, ConfigError> {
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError(format!("{origin} must be a whole number of {unit} from {min} to {max}, not `{text}`"))),
    }
}

/// Where a setting came from, for its error: the flag, else the variable, else the file's key
/// (the order in which they win).
fn origin(flag_given: bool, env: &HashMap<String, String>, flag: &str, var: &str, key: &str) -> String {
    if flag_given {
        flag.to_string()
    } else if env.contains_key(var) {
        var.to_string()
    } else {
        format!("`{key}` in the config file")
    }
}

/// A real target's base URL: http or https with a host.
fn parse_target(text: &str, origin: &str) -> Result<Url, ConfigError> {
    // What is shown of the target never holds a password given in it (`https://u:p@host`).
    let shown = match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}[redacted]{}", &text[..start + 3], &text[at..]),
        _ => text.to_string(),
    };
    let url = Url::parse(text).map_err(|e| {
        ConfigError(format!(
            "{origin}: `{shown}` is neither `embedded` nor a URL ({e}); e.g. https://authentik.example.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError(format!(
            "{origin}: `{shown}` is not an http(s) URL of an authentik; e.g. https://authentik.example.com"
        )));
    }
    // Every message names the target; one with credentials in it would print them.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError(format!(
            "{origin}: `{shown}` carries credentials; ak-e2e reaches authentik without them (a proxy in front that \
             needs them is not supported), and would show them in its messages"
        )));
    }
    Ok(url)
}

/// The range of `--jobs`.
const JOBS_RANGE: (u64, u64) = (1, 32);

/// One run per CPU, at most four: a run mostly waits on authentik, and each browser run at once
/// is a Chromium of its own.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// `K/N` with 1 ≤ K ≤ N.
fn parse_partition(text: &str) -> Result<(usize, usize), ConfigError> {
    let bad = || ConfigError(format!("partition `{text}` is not K/N with 1 <= K <= N, e.g. 2/4"));
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn read_file(path: &Path, shown: &Path) -> Result<FileConfig, ConfigError> {
    let text = ak_protocol::yaml::read_file(path)
        .map_err(|e| ConfigError(format!("cannot read the config file {}: {e}", shown.display())))?;
    serde_saphyr::from_str(&text).map_err(|e| located(&e, &text, shown))
}

/// A config file error rendered at its place in the file, like a scenario file error.
fn located(error: &serde_saphyr::Error, text: &str, shown: &Path) -> ConfigError {
    let plain = error.without_snippet().to_string();
    let prefix = regex_lite::Regex::new(r"^(?:error: )?(?:line \d+ column \d+: )?")
        .unwrap_or_else(|_| unreachable!("a fixed pattern"));
    let suffix =
        regex_lite::Regex::new(r" at line \d+, column \d+$").unwrap_or_else(|_| unreachable!("a fixed pattern"));
    let message = suffix.replace(&prefix.replace(&plain, ""), "").into_owned();
    let Some(at) = error.location().filter(|l| l.line() > 0) else {
        return ConfigError(format!("{}: {message}", shown.display()));
    };
    let diagnostic = crate::diagnostic::Diagnostic {
        message,
        span: crate::diagnostic::Span {
            file: shown.to_path_buf(),
            line: at.line() as usize,
            col: at.column().max(1) as usize,
            len: 1,
        },
        label: String::new(),
        help: None,
    };
    let rendered = diagnostic.render(text, false);
    ConfigError(rendered.trim_end().trim_start_matches("error: ").to_string())
}

/// How to reach a browser.
#[derive(Debug, Clone, Default)]
pub struct BrowserSettings {
    /// A WebDriver URL (Selenium Grid, a browser container); `None`: start chromedriver.
    pub webdriver_url: Option<String>,
    /// The chromedriver binary (default: `chromedriver` on PATH).
    pub chromedriver: Option<PathBuf>,
    /// The Chromium binary, if chromedriver should not find it itself.
    pub chromium: Option<PathBuf>,
    /// Which screenshots browser runs take.
    pub screenshots: Screenshots,
}

/// Which screenshots browser runs take (`--screenshots`). A failure always gets one, with the
/// page and the console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Screenshots {
    /// On failure only (the default): each screenshot costs the browser 50-150 ms.
    #[default]
    Failure,
    /// Also one at each stage of the login and after each step that moves the browser.
    All,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::{Flags, Settings, Target};
    use crate::scenario::DriverKind;

    fn dir_with(config: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ak-e2e-config-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("ak-e2e.yaml"), config).expect("write");
        dir
    }

    const CONFIG: &str = "target: https://from-file.example\napplication:\n  slug: chatgpt\n  client_id: chatgpt\n  client_secret: { env: SECRET }\n";

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = dir_with(CONFIG);
        let none = Settings::resolve(&Flags::default(), &HashMap::new(), &dir).expect("valid");
        assert_eq!(none.target, Target::Url("https://from-file.example".parse().expect("url")));
        assert_eq!(none.paths, [PathBuf::from("scenarios")]);
        let env = HashMap::from([
            ("AK_E2E_TARGET".to_string(), "embedded".to_string()),
            ("AK_E2E_DRIVER".to_string(), "both".to_string()),
        ]);
        let from_env = Settings::resolve(&Flags::default(), &env, &dir).expect("valid");
        assert_eq!(from_env.target, Target::Embedded);
        assert_eq!(from_env.drivers, Some(vec![DriverKind::Api, DriverKind::Browser]));
        let flags =
            Flags { target: Some("https://flag.example".into()), driver: Some("api".into()), ..Flags::default() };
        let from_flags = Settings::resolve(&flags, &env, &dir).expect("valid");
        assert_eq!(from_flags.target, Target::Url("https://flag.example".parse().expect("url")));
        assert_eq!(from_flags.drivers, Some(vec![DriverKind::Api]));
    }

    #[test]
    fn partitions() {
        assert_eq!(super::parse_partition("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert_eq!(
                super::parse_partition(bad).expect_err(bad).to_string(),
                format!("partition `{bad}` is not K/N with 1 <= K <= N, e.g. 2/4")
            );
        }
    }

    #[test]
    fn bad_values_are_named() {
        let dir = dir_with(CONFIG);
        let flags = Flags { driver: Some("selenium".into()), ..Flags::default() };
        let err = Settings::resolve(&flags, &HashMap::new(), &dir).expect_err("bad driver");
        assert_eq!(err.to_string(), "driver `selenium` is not api, browser or both");
        let dir = dir_with("targt: embedded\n");
        let err = Settings::resolve(&Flags::default(), &HashMap::new(), &dir).expect_err("unknown key").to_string();
        assert!(err.contains(" --> ak-e2e.yaml:1:1") && err.contains("targt"), "{err}");
        assert!(!err.contains("<input>") && !err.starts_with("error"), "{err}");
    }

    #[test]
    fn a_target_with_credentials_is_refused_without_showing_them() {
        for text in ["https://admin:hunter2-secret@authentik.example.com/", "https://admin:hunter2-secret@:bad"] {
            let err = super::parse_target(text, "--target").expect_err("credentials").to_string();
            assert!(!err.contains("hunter2-secret") && !err.contains("admin:"), "{err}");
            assert!(err.contains("https://[redacted]@"), "{err}");
        }
        assert!(super::parse_target("https://authentik.example.com/", "--target").is_ok());
    }

    #[test]
    fn twins_and_mirrors_stand_in_for_what_they_copy() {
        let resolve = |config: &str, flags: &Flags| Settings::resolve(flags, &HashMap::new(), &dir_with(config));
        let err = resolve("application:\n  slug: chatgpt\n", &Flags::default()).expect_err("no client id");
        assert_eq!(
            err.to_string(),
            "`application` needs client_id, client_secret (or `twin_of: <production slug>` for a twin of it)"
        );
        let twin = resolve("application:\n  twin_of: chatgpt-prod\n", &Flags::default()).expect("a twin");
        assert_eq!(twin.applications["default"].twin_of.as_deref(), Some("chatgpt-prod"));
        let flags = Flags { application: Some("prod".into()), ..Flags::default() };
        let by_flag = resolve(CONFIG, &flags).expect("--application");
        assert_eq!(by_flag.applications["default"].twin_of.as_deref(), Some("prod"));
        let user = format!("{CONFIG}users:\n  ann:\n    username: ann\n");
        let err = resolve(&user, &Flags::default()).expect_err("no email or password").to_string();
        assert!(err.starts_with("`users.ann` needs email, password (or `mirror_of: <username>`"), "{err}");
        let mirror = format!("{CONFIG}users:\n  canary:\n    mirror_of: jane\n");
        assert_eq!(
            resolve(&mirror, &Flags::default()).expect("a mirror").users["canary"].mirror_of.as_deref(),
            Some("jane")
        );
    }

    #[test]
    fn settings_out_of_range_are_errors_that_name_their_origin() {
        let dir = dir_with(CONFIG);
        let env = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        for (var, value) in [
            ("AK_E2E_REQUEST_TIMEOUT_SECS", "18446744073709551615"),
            ("AK_E2E_REQUEST_TIMEOUT_SECS", "0"),
            ("AK_E2E_REQUEST_TIMEOUT_SECS", "ten"),
            ("AK_E2E_WAIT_SECS", "9223372036854775808"),
        ] {
            let err = Settings::resolve(&Flags::default(), &env(var, value), &dir).expect_err(value).to_string();
            assert!(err.starts_with(var) && err.ends_with(&format!("not `{value}`")), "{err}");
        }
        let dir = dir_with(&format!("{CONFIG}request_timeout_secs: 18446744073709551615\n"));
        let err = Settings::resolve(&Flags::default(), &HashMap::new(), &dir).expect_err("too long").to_string();
        assert_eq!(
            err,
            "`request_timeout_secs` in the config file must be a whole number of seconds from 1 to 600, not `18446744073709551615`"
        );
        let flags = Flags { target: Some("ftp://files.example".into()), ..Flags::default() };
        let err = Settings::resolve(&flags, &HashMap::new(), &dir_with(CONFIG)).expect_err("ftp").to_string();
        assert_eq!(
            err,
            "--target: `ftp://files.example` is not an http(s) URL of an authentik; e.g. https://authentik.example.com"
        );
    }
}
