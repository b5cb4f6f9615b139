//! The target a run talks to: the embedded stand-in (started here, provisioned from the
//! blueprints) or a real authentik by URL. In both cases one mock ChatGPT workspace per configured
//! application, started here, is the relying party.

pub mod admin_api;
pub mod fidelity;
pub mod flow_client;
pub mod mirror;
pub mod throwaway;
pub mod twin;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use ak_protocol::secret::Secret;
use authentik_standin::{AuthentikStandIn, Options};
use chatgpt_rp::{Config as ChatgptSettings, MockChatGpt};
use url::Url;

use crate::config::{ApplicationConfig, Settings, Target};
use crate::environment::admin_api::AdminApi;
use crate::plan::Secrets;

/// A target that could not be started or reached (exit code 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

impl From<crate::drive::DriveError> for TargetError {
    fn from(e: crate::drive::DriveError) -> Self {
        TargetError(e.0)
    }
}

/// One application and the mock ChatGPT workspace that signs in through it.
#[derive(Debug)]
pub struct Workspace {
    /// The name scenarios use (`default` for `application:`).
    pub name: String,
    /// The application's slug.
    pub slug: String,
    /// The client id.
    pub client_id: String,
    /// The mock ChatGPT.
    pub chatgpt: MockChatGpt,
}

/// The running target. [`Environment::stop`] stops it in order, saying what it deletes; dropped
/// without it (a panic, a signal), it stops all the same: what the run made in authentik is
/// deleted on a thread of its own, and the stand-in and the mock ChatGPT workspaces stop
/// listening.
pub struct Environment {
    /// What the run made in authentik (twins, copies), deleted when it stops or is dropped:
    /// declared first, so that when a signal drops the run it goes before the embedded stand-in
    /// it was made in.
    pub cleanup: Option<throwaway::Cleanup>,
    /// authentik's base URL, with a trailing slash.
    pub authentik: Url,
    /// The workspaces, by name.
    pub workspaces: BTreeMap<String, Workspace>,
    /// The stand-in, for the embedded target.
    pub standin: Option<AuthentikStandIn>,
    /// Variables every scenario may reference (users, authentik).
    vars: BTreeMap<String, String>,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// The admin API token: the embedded stand-in's own (made for the run), else none.
    pub api_token: Option<Secret>,
    /// Lines to show before the run: twins and copies made, leftovers swept.
    pub notes: Vec<String>,
    /// Secrets made during the start (a mirrored user's TOTP secret), by variable: the run adds
    /// them to its plan's.
    pub made_secrets: Vec<(String, Secret)>,
    /// The passkeys and recovery codes made for this run (the embedded target, copies of
    /// people), by fixture user: in a folder of their own, removed when the environment goes.
    devices: Option<DeviceFolder>,
}

/// A folder only its owner reads (0700), holding the passkeys and recovery codes made for one
/// run; removed when dropped.
struct DeviceFolder {
    path: std::path::PathBuf,
    /// Passkey files, by fixture user.
    passkeys: BTreeMap<String, std::path::PathBuf>,
    /// Recovery code files, by fixture user.
    codes: BTreeMap<String, std::path::PathBuf>,
    /// The credentials as the stand-in registers them, by username.
    credentials: Vec<(String, ak_protocol::webauthn::Registered)>,
    /// The recovery codes as the stand-in keeps them, by username.
    recovery: Vec<(String, Vec<Secret>)>,
}

impl Drop for DeviceFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The run's folder of devices, made when first needed.
fn device_folder(folder: &mut Option<DeviceFolder>) -> Result<&mut DeviceFolder, String> {
    Ok(match folder {
        Some(folder) => folder,
        None => folder.insert(DeviceFolder::new()?),
    })
}

/// Keeps a copy's devices (see `mirror::Copy`) for fixture user `name` in the run's folder.
fn keep_devices(folder: &mut Option<DeviceFolder>, name: &str, copy: &mirror::Copy) -> Result<(), String> {
    if let Some(passkey) = &copy.passkey {
        device_folder(folder)?.keep_passkey(name, passkey)?;
    }
    if let Some(codes) = &copy.recovery_codes {
        device_folder(folder)?.keep_codes(name, codes.iter().map(|c| c.expose().to_string()).collect())?;
    }
    Ok(())
}

/// The stem of a device folder's name; the process id follows.
const DEVICE_FOLDER: &str = "ak-e2e-devices-";

impl DeviceFolder {
    /// A new one below the temporary folder, after removing those of runs that are gone
    /// (a SIGKILL drops nothing).
    fn new() -> Result<Self, String> {
        Self::sweep(&std::env::temp_dir());
        let path = crate::files::fresh_folder(&std::env::temp_dir(), &format!("{DEVICE_FOLDER}{}", std::process::id()))
            .and_then(|path| {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map(|()| path)
            })
            .map_err(|e| format!("cannot make a folder for the run's passkeys and codes: {e}"))?;
        let (passkeys, codes) = (BTreeMap::new(), BTreeMap::new());
        Ok(Self { path, passkeys, codes, credentials: Vec::new(), recovery: Vec::new() })
    }

    /// Removes the device folders in `parent` whose process (by the id in the name) is gone.
    fn sweep(parent: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(parent) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(DEVICE_FOLDER) else { continue };
            let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let gone = !pid.is_empty() && !std::path::Path::new("/proc").join(&pid).exists();
            if gone && entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Keeps fixture user `name`'s recovery codes in it.
    fn keep_codes(&mut self, name: &str, codes: Vec<String>) -> Result<(), String> {
        let file = self.path.join(format!("{name}.codes"));
        crate::drive::recovery::write(&file, &crate::drive::recovery::Codes { codes, spent: Vec::new() })?;
        self.codes.insert(name.to_string(), file);
        Ok(())
    }

    /// Keeps fixture user `name`'s passkey in it.
    fn keep_passkey(&mut self, name: &str, passkey: &ak_protocol::webauthn::Passkey) -> Result<(), String> {
        let file = self.path.join(format!("{name}.passkey"));
        crate::drive::passkey::write(&file, passkey)?;
        self.passkeys.insert(name.to_string(), file);
        Ok(())
    }
}

/// How many recovery codes the embedded target gives a user: more than a run spends.
const EMBEDDED_CODES: usize = 20;

/// A recovery code as authentik makes one: twelve letters and digits (its code field takes no
/// other character).
fn recovery_code() -> String {
    let mut code = String::new();
    while code.len() < 12 {
        code.extend(ak_protocol::jose::random_token(24).chars().filter(char::is_ascii_alphanumeric));
    }
    code.truncate(12);
    code
}

/// Makes a passkey for each fixture user with a `passkey`, for the stand-in at `authentik` (its
/// RP ID, the host), and recovery codes for each with `recovery_codes`: the devices go to the
/// stand-in as authentik would have them (see `start_standin`), the passkey and codes to a new
/// folder of the run's. authentik's blueprints cannot make devices; the stand-in's setup flows,
/// which `provision` runs on a real authentik, are checked against real authentik's by the
/// fidelity corpus.
fn make_devices(settings: &Settings, authentik: &Url) -> Result<Option<DeviceFolder>, TargetError> {
    let own = settings.users.iter().filter(|(_, u)| u.mirror_of.is_none());
    let users: Vec<_> = own.filter(|(_, u)| u.passkey.is_some() || u.recovery_codes.is_some()).collect();
    if users.is_empty() {
        return Ok(None);
    }
    let mut folder = DeviceFolder::new().map_err(TargetError)?;
    let origin = authentik.origin().ascii_serialization();
    for (name, user) in users.iter().filter(|(_, u)| u.recovery_codes.is_some()) {
        let codes: Vec<String> = (0..EMBEDDED_CODES).map(|_| recovery_code()).collect();
        folder.keep_codes(name, codes.clone()).map_err(TargetError)?;
        folder.recovery.push((user.username.clone(), codes.into_iter().map(Secret::new).collect()));
    }
    for (name, user) in users.into_iter().filter(|(_, u)| u.passkey.is_some()) {
        let options = serde_json::json!({
            "rp": {"id": authentik.host_str(), "name": "authentik"},
            "user": {"id": ak_protocol::webauthn::b64(user.username.as_bytes()), "name": user.username},
            "challenge": ak_protocol::webauthn::b64(b"embedded"),
            "pubKeyCredParams": [{"type": "public-key", "alg": ak_protocol::webauthn::ES256}],
        });
        let made = ak_protocol::webauthn::Passkey::create(&options, &origin)
            .map_err(|e| TargetError(format!("embedded target: no passkey for `{name}`: {e}")))?;
        let public_key = made.0.public_key().map_err(|e| TargetError(e.to_string()))?;
        let credential = ak_protocol::webauthn::Registered {
            credential_id: made.0.credential_id.clone(),
            public_key,
            sign_count: 0,
        };
        folder.keep_passkey(name, &made.0).map_err(TargetError)?;
        folder.credentials.push((user.username.clone(), credential));
    }
    Ok(Some(folder))
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").field("authentik", &self.authentik.as_str()).finish_non_exhaustive()
    }
}

/// The default variable a blueprint reads the Login redirect URI from.
pub const DEFAULT_REDIRECT_URI_ENV: &str = "AK_E2E_CHATGPT_REDIRECT_URI";

impl Environment {
    /// Starts the mock ChatGPT workspaces of the applications in `used` (the embedded target:
    /// all) and, for the embedded target, the stand-in; for a real target, checks it first
    /// (reachable, application, client credentials, the users in `used_users`).
    pub async fn start(
        settings: &Settings,
        secrets: &Secrets,
        used: &std::collections::BTreeSet<String>,
        used_users: &std::collections::BTreeSet<String>,
    ) -> Result<Self, TargetError> {
        let (authentik, listener) = authentik_url(&settings.target).await?;
        let (workspaces, blueprint_env) = start_workspaces(settings, secrets, used, &authentik).await?;
        let embedded_token = Secret::new(ak_protocol::jose::random_token(24));
        let mut devices = match listener {
            Some(_) => make_devices(settings, &authentik)?,
            None => None,
        };
        let standin = match listener {
            Some(listener) => {
                let token = embedded_token.clone();
                let at = (listener, authentik.clone());
                Some(start_standin(settings, secrets, blueprint_env, token, at, devices.as_ref()).await?)
            }
            None => None,
        };
        let api_token = standin.as_ref().map(|_| embedded_token);
        let mut notes = Vec::new();
        let (cleanup, copies) =
            make_throwaways(settings, used_users, secrets, &authentik, &workspaces, api_token.as_ref(), &mut notes)
                .await?;
        let mut users = settings.users.clone();
        let mut made_secrets = Vec::new();
        for (name, copy) in copies {
            if let (Some(user), Some(totp)) = (users.get(&name), copy.totp.clone()) {
                made_secrets.extend(user.totp_secret.as_ref().map(|t| (t.env.clone(), totp)));
            }
            keep_devices(&mut devices, &name, &copy).map_err(TargetError)?;
            if let Some(user) = users.get_mut(&name) {
                user.email = copy.email;
                user.name = Some(copy.name);
            }
        }
        if standin.is_none() {
            let mut checked = settings.clone();
            checked.users = users.clone();
            let mut secrets = secrets.clone();
            for (var, value) in &made_secrets {
                secrets.set(var, value.clone());
            }
            preflight(&checked, &secrets, &authentik, &workspaces, used_users).await?;
        }

        let mut vars = BTreeMap::new();
        vars.insert("authentik.url".into(), authentik.to_string());
        let mut environment = Self {
            authentik,
            workspaces,
            standin,
            vars,
            request_timeout: settings.request_timeout,
            api_token,
            cleanup,
            notes,
            made_secrets,
            devices,
        };
        for (name, user) in &users {
            environment.set_user(name, user);
        }
        Ok(environment)
    }

    /// Defines (or redefines) the variables of fixture user `name`: `users.<name>.username`,
    /// `.email` and `.name`.
    pub fn set_user(&mut self, name: &str, user: &crate::config::UserConfig) {
        self.vars.insert(format!("users.{name}.username"), user.username.clone());
        self.vars.insert(format!("users.{name}.email"), user.email.clone());
        self.vars.insert(format!("users.{name}.name"), user.name.clone().unwrap_or_default());
    }

    /// Keeps the passkey and recovery codes of fixture user `name` (a copy made during the run)
    /// for this run only, in a folder only its owner reads that goes with the environment;
    /// [`Self::passkey_file`] and [`Self::recovery_codes_file`] name them from then on.
    pub fn keep_devices(&mut self, name: &str, copy: &mirror::Copy) -> Result<(), String> {
        keep_devices(&mut self.devices, name, copy)
    }

    /// The file of fixture user `name`'s recovery codes: the ones made for this run (the
    /// embedded target), else the one its configuration names (`provision` enrolled them).
    pub fn recovery_codes_file(
        &self,
        name: &str,
        users: &BTreeMap<String, crate::config::UserConfig>,
    ) -> Option<std::path::PathBuf> {
        let made = self.devices.as_ref().and_then(|f| f.codes.get(name)).cloned();
        made.or_else(|| users.get(name)?.recovery_codes.as_ref().map(|c| c.file.clone()))
    }

    /// The file of fixture user `name`'s passkey: the one enrolled for this run, else the one
    /// its configuration names (`provision` enrolled it).
    pub fn passkey_file(
        &self,
        name: &str,
        users: &BTreeMap<String, crate::config::UserConfig>,
    ) -> Option<std::path::PathBuf> {
        let enrolled = self.devices.as_ref().and_then(|f| f.passkeys.get(name)).cloned();
        enrolled.or_else(|| users.get(name)?.passkey.as_ref().map(|p| p.file.clone()))
    }

    /// The origins a login's pages come from: authentik's and each ChatGPT workspace's.
    pub fn origins(&self) -> impl Iterator<Item = String> + '_ {
        let chatgpt = self.workspaces.values().map(|w| crate::drive::chrome::origin_of(w.chatgpt.url()));
        std::iter::once(crate::drive::chrome::origin_of(&self.authentik)).chain(chatgpt)
    }

    /// A workspace by name.
    pub fn workspace(&self, name: &str) -> Option<&Workspace> {
        self.workspaces.get(name)
    }

    /// The variables a scenario using this workspace sees.
    pub fn vars_for(&self, ws: &Workspace) -> crate::scenario::Vars {
        let application = crate::scenario::ApplicationVars {
            issuer: format!("{}{}", self.authentik, ak_protocol::authentik::paths::issuer(&ws.slug)),
            slug: ws.slug.clone(),
            client_id: ws.client_id.clone(),
            chatgpt_url: ws.chatgpt.url().to_string(),
            redirect_uri: ws.chatgpt.redirect_uri().to_string(),
            connection_id: ws.chatgpt.config().connection_id.clone(),
        };
        crate::scenario::Vars::new(self.vars.clone(), application)
    }

    /// What a URL is, by where it points (authentik's authorize endpoint or a flow page, a
    /// workspace's ChatGPT home or callback).
    pub fn classify(&self, url: &Url) -> Option<crate::scenario::HopKind> {
        use crate::scenario::HopKind;
        use ak_protocol::authentik::paths;
        let same = |base: &Url| url.origin() == base.origin() && url.path().starts_with(base.path());
        if same(&self.authentik) {
            let path = &url.path()[self.authentik.path().len()..];
            if path == paths::AUTHORIZE {
                return Some(HopKind::AuthentikAuthorize);
            }
            if path.starts_with(paths::FLOW_PAGES) {
                return Some(HopKind::AuthentikFlow);
            }
        }
        for ws in self.workspaces.values() {
            let chatgpt = ws.chatgpt.url();
            if same(chatgpt) {
                let callback = Url::parse(ws.chatgpt.redirect_uri()).ok();
                if callback.as_ref().is_some_and(|c| c.path() == url.path()) {
                    return Some(HopKind::ChatgptCallback);
                }
                if url.path() == chatgpt.path() {
                    return Some(HopKind::ChatgptHome);
                }
            }
        }
        None
    }

    /// Whether a URL is one of the workspaces' ChatGPT.
    pub fn is_chatgpt(&self, url: &Url) -> bool {
        self.workspaces.values().any(|w| w.chatgpt.url().origin() == url.origin())
    }

    /// The discovery document's URL of a workspace's application.
    pub fn discovery_url(&self, ws: &Workspace) -> Result<Url, TargetError> {
        discovery_url(&self.authentik, &ws.slug)
    }

    /// A document (discovery, claims) with authentik's URL and the workspace's ChatGPT URL as
    /// placeholders, and what changes on every login as well (see [`ak_protocol::placeholders::normalise`]).
    pub fn with_placeholders(&self, ws: &Workspace, value: &serde_json::Value) -> serde_json::Value {
        let (authentik, chatgpt) = (self.authentik.to_string(), ws.chatgpt.url().to_string());
        ak_protocol::placeholders::normalise(value, &[(&authentik, "<authentik>/"), (&chatgpt, "<chatgpt>/")])
    }

    /// The default workspace's mock ChatGPT (for messages).
    pub fn default_chatgpt(&self) -> Option<&MockChatGpt> {
        self.workspaces.get(crate::scenario::DEFAULT_APPLICATION).map(|w| &w.chatgpt)
    }

    /// Deletes what the run made in authentik (twins), saying so; then stops what was started.
    pub async fn stop(mut self) {
        if let Some(mut cleanup) = self.cleanup.take() {
            for line in cleanup.run().await.0 {
                crate::say!("ak-e2e: {line}");
            }
        }
        if let Some(s) = self.standin {
            s.shutdown().await;
        }
        for (_, ws) in self.workspaces {
            ws.chatgpt.shutdown().await;
        }
    }
}

/// The admin API of the target: the stand-in's own token, else `AK_E2E_AUTHENTIK_TOKEN`.
pub fn admin_api(
    settings: &Settings,
    authentik: &Url,
    embedded: Option<&Secret>,
) -> Result<Option<AdminApi>, TargetError> {
    let Some(token) = embedded.or(settings.authentik_token.as_ref()) else { return Ok(None) };
    AdminApi::new(authentik, token.clone(), settings.request_timeout).map(Some).map_err(TargetError)
}

/// Why a run on a real target cannot start without an API token (a twin or a copy of a person
/// to make), or `None`: a usage error, found before anything starts.
pub fn missing_token(settings: &Settings) -> Option<String> {
    if settings.target == Target::Embedded || settings.authentik_token.is_some() {
        return None;
    }
    let twin = settings.applications.values().find_map(|a| a.twin_of.as_deref()).map(|s| format!("a twin of `{s}`"));
    let copy = settings.users.values().find_map(|u| u.mirror_of.as_deref()).map(|p| format!("a copy of `{p}`"));
    twin.or(copy).map(|what| {
        format!(
            "{what} is made through authentik's admin API: export AK_E2E_AUTHENTIK_TOKEN with a token that may read \
             applications and users and create and delete providers, applications, bindings and users"
        )
    })
}

/// Makes what the run needs in authentik: twins of the applications that have `twin_of`, and
/// copies of the people the used fixture users mirror (`mirror_of`), after sweeping what killed
/// runs left; answers the cleanup that deletes them (none when there is nothing to make) and each
/// copy by fixture name. Whatever was made before a failure is deleted as the cleanup drops.
async fn make_throwaways(
    settings: &Settings,
    used_users: &std::collections::BTreeSet<String>,
    secrets: &Secrets,
    authentik: &Url,
    workspaces: &BTreeMap<String, Workspace>,
    embedded_token: Option<&Secret>,
    notes: &mut Vec<String>,
) -> Result<(Option<throwaway::Cleanup>, Vec<(String, mirror::Copy)>), TargetError> {
    let twins: Vec<(&String, &ApplicationConfig)> =
        settings.applications.iter().filter(|(n, a)| a.twin_of.is_some() && workspaces.contains_key(*n)).collect();
    // Only the users the selected scenarios sign in as: the others' passwords were never made.
    let mirrored: Vec<_> =
        settings.users.iter().filter(|(n, u)| u.mirror_of.is_some() && used_users.contains(*n)).collect();
    if twins.is_empty() && mirrored.is_empty() {
        return Ok((None, Vec::new()));
    }
    let api = admin_api(settings, authentik, embedded_token)?.ok_or_else(|| {
        TargetError(missing_token(settings).unwrap_or_else(|| "twins and copies need an API token".into()))
    })?;
    notes.extend(throwaway::sweep(&api).await.map_err(|e| TargetError(e.message))?);
    let mut cleanup = throwaway::Cleanup::new(api.clone());
    for (name, app) in twins {
        let of = app.twin_of.as_deref().unwrap_or_default();
        let secret = Secret::new(secrets.get(&app.client_secret.env).unwrap_or_default());
        let redirect = workspaces[name].chatgpt.redirect_uri().to_string();
        notes.push(twin::make(&api, of, &app.slug, &secret, &redirect, &mut cleanup).await?);
    }
    let mut copies = Vec::new();
    for (name, user) in mirrored {
        let person = user.mirror_of.as_deref().unwrap_or_default();
        let password = Secret::new(secrets.get(&user.password.env).unwrap_or_default());
        let copy = mirror::copy(&api, person, &user.username, &password, settings.request_timeout, &mut cleanup)
            .await
            .map_err(|e| TargetError(format!("fixture user `{name}`: {e}")))?;
        notes.extend(copy.lines.iter().map(|l| format!("{l} (fixture user `{name}`)")));
        copies.push((name.clone(), copy));
    }
    Ok((Some(cleanup), copies))
}

/// A base URL with a trailing slash, so that API paths join below it.
pub fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}

/// authentik's base URL with a trailing slash; for the embedded target, also the loopback
/// listener the stand-in will serve on (bound now, so that its URL is known before it starts).
async fn authentik_url(target: &Target) -> Result<(Url, Option<tokio::net::TcpListener>), TargetError> {
    match target {
        Target::Embedded => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| TargetError(format!("cannot bind a loopback port for the stand-in: {e}")))?;
            let addr = listener.local_addr().map_err(|e| TargetError(e.to_string()))?;
            // By name, as a real authentik must be reached for a browser's passkey: an IP
            // address is no WebAuthn relying party.
            Ok((url(&format!("http://localhost:{}/", addr.port()))?, Some(listener)))
        }
        Target::Url(u) => Ok((with_trailing_slash(u), None)),
    }
}

/// Starts the workspaces (every one for the embedded target, else those in `used`); returns them
/// with the blueprints' variables: the secrets plus each workspace's Login redirect URI.
async fn start_workspaces(
    settings: &Settings,
    secrets: &Secrets,
    used: &std::collections::BTreeSet<String>,
    authentik: &Url,
) -> Result<(BTreeMap<String, Workspace>, HashMap<String, String>), TargetError> {
    let mut workspaces = BTreeMap::new();
    let mut blueprint_env: HashMap<String, String> = secrets.exposed();
    let embedded = settings.target == Target::Embedded;
    for (name, app) in settings.applications.iter().filter(|(n, _)| embedded || used.contains(*n)) {
        let chatgpt = start_workspace(settings, app, authentik, secrets, name).await?;
        // The default workspace's redirect URI goes to AK_E2E_CHATGPT_REDIRECT_URI unless
        // configured otherwise; other workspaces only where configured.
        let var = match (&app.redirect_uri_env, name == crate::scenario::DEFAULT_APPLICATION) {
            (Some(var), _) => Some(var.clone()),
            (None, true) => Some(DEFAULT_REDIRECT_URI_ENV.to_string()),
            (None, false) => None,
        };
        if let Some(var) = var {
            blueprint_env.insert(var, chatgpt.redirect_uri().to_string());
        }
        workspaces.insert(
            name.clone(),
            Workspace { name: name.clone(), slug: app.slug.clone(), client_id: app.client_id.clone(), chatgpt },
        );
    }
    Ok((workspaces, blueprint_env))
}

/// Starts the embedded stand-in on `listener`, provisioned from the blueprints, and checks that
/// they define the default application with a provider.
async fn start_standin(
    settings: &Settings,
    secrets: &Secrets,
    blueprint_env: HashMap<String, String>,
    api_token: Secret,
    (listener, public_url): (tokio::net::TcpListener, Url),
    devices: Option<&DeviceFolder>,
) -> Result<AuthentikStandIn, TargetError> {
    // One install id for every embedded run: like one authentik install, it gives each
    // user the same hashed subject run after run, so that runs can be compared.
    let mut options = Options::new()
        .api_token(api_token)
        .env(blueprint_env)
        .defects(settings.defects.clone())
        .public_url(public_url)
        .install_id("ak-e2e-embedded-authentik");
    options = with_totp_devices(options, settings, secrets)?;
    for (username, credential) in devices.map(|d| d.credentials.as_slice()).unwrap_or_default() {
        options = options.passkey(username.clone(), credential.clone());
    }
    for (username, codes) in devices.map(|d| d.recovery.as_slice()).unwrap_or_default() {
        options = options.recovery_codes(username.clone(), codes.clone());
    }
    for path in &settings.blueprints {
        options = options.blueprint_file(path).map_err(|e| TargetError(format!("embedded target: {e}")))?;
    }
    let standin = AuthentikStandIn::start_on_listener(options, listener)
        .await
        .map_err(|e| TargetError(format!("embedded target: {e}")))?;
    for (name, app) in &settings.applications {
        if standin.issuer(&app.slug).is_none() && name == crate::scenario::DEFAULT_APPLICATION && app.twin_of.is_none()
        {
            return Err(TargetError(format!(
                "embedded target: the blueprints define no application `{}` with a provider",
                app.slug
            )));
        }
    }
    Ok(standin)
}

/// Adds each fixture user's TOTP device to `options`, its secret (hex or base32) passed on as hex.
fn with_totp_devices(mut options: Options, settings: &Settings, secrets: &Secrets) -> Result<Options, TargetError> {
    // authentik's blueprints cannot create TOTP devices: give the stand-in each
    // fixture user's device directly.
    for user in settings.users.values().filter(|u| u.mirror_of.is_none()) {
        let Some(secret) = user.totp_secret.as_ref().and_then(|t| secrets.get(&t.env)) else { continue };
        let bytes = ak_protocol::totp::decode_secret(&secret)
            .ok_or_else(|| TargetError(format!("the TOTP secret of `{}` is neither hex nor base32", user.username)))?;
        options = options.totp_device(&user.username, Secret::new(ak_protocol::totp::encode_hex(&bytes)));
    }
    Ok(options)
}

fn discovery_url(authentik: &Url, slug: &str) -> Result<Url, TargetError> {
    authentik
        .join(&ak_protocol::authentik::paths::discovery(slug))
        .map_err(|e| TargetError(format!("bad application slug `{slug}`: {e}")))
}

async fn start_workspace(
    settings: &Settings,
    app: &ApplicationConfig,
    authentik: &Url,
    secrets: &Secrets,
    name: &str,
) -> Result<MockChatGpt, TargetError> {
    let default = name == crate::scenario::DEFAULT_APPLICATION;
    let listen_cfg = app.listen.as_deref().or(if default { settings.chatgpt.listen.as_deref() } else { None });
    let public_cfg = app.public_url.as_deref().or(if default { settings.chatgpt.public_url.as_deref() } else { None });
    let listen: SocketAddr = listen_cfg
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(|e| TargetError(format!("the listen address of workspace `{name}` is not an address: {e}")))?;
    let client_secret = secrets.get(&app.client_secret.env).unwrap_or_default();
    let domains: Vec<&str> = settings
        .chatgpt
        .verified_domains
        .as_ref()
        .map(|d| d.iter().map(String::as_str).collect())
        .unwrap_or_else(|| vec!["example.com"]);
    let mut config = ChatgptSettings::new(
        &app.client_id,
        Secret::new(client_secret),
        discovery_url(authentik, &app.slug)?,
        &domains,
    );
    // ChatGPT's own deadline fires before the harness's, so a slow endpoint is diagnosed at the
    // hop that was slow rather than as a silent callback.
    config.http_timeout = (settings.request_timeout * 2 / 3).max(Duration::from_secs(1));
    if let Some(id) = app.connection_id.as_ref().or(settings.chatgpt.connection_id.as_ref()) {
        config.connection_id = id.clone();
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| TargetError(format!("mock ChatGPT `{name}`: cannot listen on {listen}: {e}")))?;
    match public_cfg {
        Some(public) => config.public_url = Some(url(public)?),
        // By name, as the stand-in is: ChatGPT and authentik stay one site, so the browser keeps
        // one renderer process through the login (see README, Benchmarks).
        None if settings.target == Target::Embedded && listen_cfg.is_none() => {
            let port = listener.local_addr().map_err(|e| TargetError(e.to_string()))?.port();
            config.public_url = Some(url(&format!("http://localhost:{port}/"))?);
        }
        None => {}
    }
    MockChatGpt::start_on_listener(config, listener)
        .await
        .map_err(|e| TargetError(format!("mock ChatGPT `{name}`: {e}")))
}

fn url(text: &str) -> Result<Url, TargetError> {
    Url::parse(text).map_err(|e| TargetError(format!("`{text}` is not a URL: {e}")))
}

/// Before any scenario on a real target: authentik answers, the default application exists, its
/// client credentials are accepted, and every fixture user the selected scenarios sign in as can
/// sign in (each in a session of its own, all at once). Each failure names the URL, the
/// application, the variable or the user, and one cause.
async fn preflight(
    settings: &Settings,
    secrets: &Secrets,
    authentik: &Url,
    workspaces: &BTreeMap<String, Workspace>,
    users: &std::collections::BTreeSet<String>,
) -> Result<(), TargetError> {
    let timeout = settings.request_timeout;
    let client = preflight_client(timeout)?;
    let Some(ws) = workspaces.get(crate::scenario::DEFAULT_APPLICATION) else { return Ok(()) };
    let discovery = discovery_url(authentik, &ws.slug)?;
    // A freshly started authentik applies its blueprints after it answers: wait (polling, up to
    // AK_E2E_WAIT_SECS) for the application's discovery document.
    let deadline = std::time::Instant::now() + settings.target_wait;
    let document = loop {
        match check_reachable(&client, &discovery, timeout).await {
            Ok(document) => break document,
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    };
    check_client(&client, settings, secrets, ws, &document).await?;

    let mut checks = tokio::task::JoinSet::new();
    for name in users {
        let Some(user) = settings.users.get(name) else { continue };
        let (name, user) = (name.clone(), user.clone());
        let password = secrets.get(&user.password.env).unwrap_or_default();
        let totp = user
            .totp_secret
            .as_ref()
            .and_then(|t| secrets.get(&t.env))
            .and_then(|s| ak_protocol::totp::decode_secret(&s));
        let passkey = user.passkey.as_ref().map(|p| p.file.clone());
        // Its own session: signed in as one user, authentik would not ask the next one.
        let mut session =
            crate::environment::flow_client::FlowClient::new(authentik, timeout).map_err(TargetError::from)?;
        checks.spawn(async move {
            use crate::environment::flow_client::SignIn;
            let outcome = session.sign_in(&user.username, &password).await.map_err(TargetError::from)?;
            let mfa = ak_protocol::authentik::component::AUTHENTICATOR_VALIDATE;
            let refusal = match (outcome, totp, passkey) {
                (SignIn::Refused(problem), _, _) => Some(Refusal::Password(problem)),
                // The passkey: one authentik no longer lists (removed, replaced) would otherwise
                // fail each scenario at the MFA stage. Its counter is raised, as in a scenario.
                (SignIn::More(stage), _, Some(file)) if stage == mfa => {
                    match session.answer_passkey(&file, &user.username).await.map_err(TargetError::from)? {
                        SignIn::Refused(problem) => Some(Refusal::Passkey(problem)),
                        _ => None,
                    }
                }
                // The TOTP secret too: a wrong one would otherwise fail each scenario at the MFA
                // stage. The code is one the device has not accepted yet, and recorded as used,
                // as in the scenarios (`drive::totp`).
                (SignIn::More(stage), Some(secret), None) if stage == mfa => {
                    use crate::drive::throttle::{self, Code, Devices};
                    let turn = throttle::until_checked(&user.username, Code::Totp, timeout).await;
                    let code = crate::drive::totp::next_code(&secret, true).await;
                    let (answered, clock) = session.answer_totp(&code.code).await.map_err(TargetError::from)?;
                    drop(code.turn);
                    // What it did to the throttling of the user's devices, as a scenario's code.
                    let devices = Devices { totp: true, recovery: user.recovery_codes.is_some() };
                    throttle::answered(
                        turn,
                        &user.username,
                        devices,
                        Code::Totp,
                        !matches!(answered, SignIn::Refused(_)),
                    );
                    match answered {
                        SignIn::Refused(problem) => Some(Refusal::Totp(problem, clock)),
                        _ => None,
                    }
                }
                _ => None,
            };
            Ok::<_, TargetError>(refusal.map(|r| (name, user, r)))
        });
    }
    let mut refused = Vec::new();
    while let Some(done) = checks.join_next().await {
        if let Some(found) = done.map_err(|e| TargetError(format!("a sign-in check failed: {e}")))?? {
            refused.push(found);
        }
    }
    refused.sort_by(|a, b| a.0.cmp(&b.0));
    // Every user who cannot sign in, in one message: fixing one at a time would take a run each.
    let lines: Vec<String> = refused.iter().map(|(name, user, refusal)| refusal.say(name, user, authentik)).collect();
    if lines.is_empty() { Ok(()) } else { Err(TargetError(lines.join("\nak-e2e: error: "))) }
}

/// Why the pre-run check could not sign a user in.
enum Refusal {
    /// At the identification or password stage: what authentik said.
    Password(String),
    /// At the MFA stage: what authentik said, and its clock then.
    Totp(String, Option<std::time::SystemTime>),
    /// At the MFA stage, with the user's passkey: what authentik, or the authenticator, said.
    Passkey(String),
}

impl Refusal {
    /// The error line for fixture user `name`, with its one cause.
    fn say(&self, name: &str, user: &crate::config::UserConfig, authentik: &Url) -> String {
        match self {
            Refusal::Password(problem) => format!(
                "user `{name}` ({}) cannot sign in at {authentik}: authentik says \"{problem}\". The user is missing or {} is not their password (authentik does not tell which)",
                user.username, user.password.env
            ),
            Refusal::Passkey(problem) => format!(
                "user `{name}` ({}) cannot sign in at {authentik} with the passkey in {}: {problem}. Run `ak-e2e provision` to enroll a new one",
                user.username,
                user.passkey.as_ref().map(|p| p.file.display().to_string()).unwrap_or_default()
            ),
            Refusal::Totp(problem, clock) => {
                let env = user.totp_secret.as_ref().map_or("", |t| t.env.as_str());
                format!(
                    "user `{name}` ({}) cannot sign in at {authentik}: authentik refused the TOTP code at its MFA stage (\"{problem}\"). {}",
                    user.username,
                    totp_cause(*clock, std::time::SystemTime::now(), env)
                )
            }
        }
    }
}

/// The one cause of a refused TOTP code: the clocks apart (a code is good for 30 s, and
/// authentik takes the step before and after), or else a secret that is not the device's.
fn totp_cause(authentik: Option<std::time::SystemTime>, here: std::time::SystemTime, env: &str) -> String {
    let apart = authentik.map(|theirs| match here.duration_since(theirs) {
        Ok(behind) => behind.as_secs() as i64,
        Err(ahead) => -(ahead.duration().as_secs() as i64),
    });
    match apart {
        Some(secs) if secs.abs() > 60 => format!(
            "This machine's clock is {} s {} authentik's: TOTP codes hold for 30 s. Set both clocks right (NTP)",
            secs.abs(),
            if secs > 0 { "ahead of" } else { "behind" }
        ),
        Some(_) => format!(
            "The clocks agree, so the secret in {env} is not their device's: run `ak-e2e provision` again, or set {env} to the device's secret"
        ),
        None => format!(
            "The secret in {env} is not their device's, or this machine's clock is off (authentik's answer had no date to compare): \
             run `ak-e2e provision` again, or set {env} to the device's secret"
        ),
    }
}

fn preflight_client(timeout: Duration) -> Result<reqwest::Client, TargetError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .map_err(|e| TargetError(e.to_string()))
}

/// The client credentials: a made-up code is `invalid_grant` for a known client, and
/// `invalid_client` for a wrong secret *or* a redirect URI the provider does not allow. One more
/// request tells those apart: the authorize endpoint shows "Redirect URI Error" for the latter.
async fn check_client(
    client: &reqwest::Client,
    settings: &Settings,
    secrets: &Secrets,
    ws: &Workspace,
    document: &serde_json::Value,
) -> Result<(), TargetError> {
    let timeout = settings.request_timeout;
    let token_endpoint = document["token_endpoint"].as_str().unwrap_or_default().to_string();
    let app = &settings.applications[crate::scenario::DEFAULT_APPLICATION];
    let secret = secrets.get(&app.client_secret.env).unwrap_or_default();
    let redirect_uri = ws.chatgpt.redirect_uri().to_string();
    let answer = client
        .post(&token_endpoint)
        .basic_auth(&app.client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "ak-e2e-preflight"),
            ("redirect_uri", redirect_uri.as_str()),
        ])
        .send()
        .await
        .map_err(|e| {
            TargetError(format!("POST {token_endpoint} failed: {}", ak_protocol::http::describe(&e, timeout)))
        })?;
    let body = ak_protocol::http::read_json(answer, timeout).await.unwrap_or_default();
    if body["error"] != "invalid_client" {
        return Ok(());
    }
    let mut authorize = Url::parse(document["authorization_endpoint"].as_str().unwrap_or_default())
        .map_err(|e| TargetError(format!("the discovery document's authorization_endpoint is not a URL: {e}")))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", "ak-e2e-preflight");
    let page = match client.get(authorize.clone()).send().await {
        Ok(r) => ak_protocol::http::read_text(r, timeout).await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    if ak_protocol::authentik::page_title(&page).as_deref() == Some("Redirect URI Error") {
        return Err(TargetError(format!(
            "the provider of application `{}` does not allow the redirect URI {redirect_uri}: its authorize endpoint shows \"Redirect URI Error\" (and the token endpoint answers invalid_client). Add it to the provider's redirect URIs exactly",
            ws.slug
        )));
    }
    Err(TargetError(format!(
        "authentik refused the client secret of application `{}` (client id `{}`, secret from {}): invalid_client at {token_endpoint}, while the redirect URI {redirect_uri} is allowed. Set {} to the provider's client secret",
        ws.slug, app.client_id, app.client_secret.env, app.client_secret.env
    )))
}

/// Fetches the discovery document of a real target, so an unreachable one fails before any
/// scenario with the URL and what was tried.
async fn check_reachable(
    client: &reqwest::Client,
    discovery: &Url,
    timeout: Duration,
) -> Result<serde_json::Value, TargetError> {
    match client.get(discovery.clone()).send().await {
        Ok(r) if r.status().is_success() => ak_protocol::http::read_json(r, timeout)
            .await
            .map_err(|e| TargetError(format!("GET {discovery}: the discovery document could not be read: {e}"))),
        Ok(r) if r.status().as_u16() == 404 => Err(TargetError(format!(
            "GET {discovery} answered 404: is the application slug right, and does it have an OAuth2 provider?"
        ))),
        Ok(r) => Err(TargetError(format!("GET {discovery} answered {}", r.status()))),
        Err(e) if e.is_connect() => Err(TargetError(format!(
            "target unreachable: GET {discovery} failed (connection refused or host unreachable)"
        ))),
        Err(e) => Err(TargetError(format!(
            "target unreachable: GET {discovery} failed ({})",
            ak_protocol::http::describe(&e, timeout)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    /// The embedded target's recovery codes are what authentik's code field takes (letters and
    /// digits, `[0-9a-zA-Z]*`), as authentik makes them.
    #[test]
    fn embedded_recovery_codes_are_letters_and_digits() {
        for _ in 0..500 {
            let code = super::recovery_code();
            assert_eq!(code.len(), 12, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
        }
    }

    /// A SIGKILLed run leaves its passkey folder: the next one that makes a folder removes it,
    /// and never the folder of a run still going.
    #[test]
    fn passkey_folders_of_runs_gone_are_swept() {
        let parent = std::env::temp_dir().join(format!("ak-e2e-sweep-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&parent).expect("mkdir");
        let mut gone = std::process::Command::new("true").spawn().expect("spawn");
        let pid = gone.id();
        gone.wait().expect("wait");
        let dead = parent.join(format!("{}{pid}-2", super::DEVICE_FOLDER));
        let alive = parent.join(format!("{}{}", super::DEVICE_FOLDER, std::process::id()));
        let other = parent.join("unrelated-123");
        for dir in [&dead, &alive, &other] {
            std::fs::create_dir_all(dir).expect("mkdir");
            std::fs::write(dir.join("pia.passkey"), b"{}").expect("write");
        }
        super::DeviceFolder::sweep(&parent);
        assert!(!dead.exists(), "the folder of a run gone is removed");
        assert!(alive.exists() && other.exists(), "a running run's folder, and others, stay");
        let _ = std::fs::remove_dir_all(&parent);
    }

    /// A refused TOTP code has one cause named: the clocks when they are more than two steps
    /// apart, else the secret; both only when authentik's clock is unknown.
    #[test]
    fn a_refused_totp_code_names_the_clocks_or_the_secret() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let cases = [
            (Some(now - Duration::from_secs(5)), "The clocks agree, so the secret in S is not"),
            (Some(now + Duration::from_secs(50)), "The clocks agree"),
            (Some(now - Duration::from_secs(300)), "This machine's clock is 300 s ahead of authentik's"),
            (Some(now + Duration::from_secs(90)), "This machine's clock is 90 s behind authentik's"),
            (None, "The secret in S is not their device's, or this machine's clock is off"),
        ];
        for (authentik, said) in cases {
            let cause = super::totp_cause(authentik, now, "S");
            assert!(cause.starts_with(said), "{authentik:?}: {cause}");
        }
    }

    /// Dropped without `stop` (a panic, a signal, an early return), the environment stops what
    /// it started: the stand-in and every mock ChatGPT stop answering.
    #[tokio::test]
    async fn a_dropped_environment_stops_what_it_started() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let no_env = std::collections::HashMap::new();
        let mut settings =
            crate::config::Settings::resolve(&Default::default(), &no_env, &root).expect("default settings");
        // The default blueprints, found from here (the test's working folder is the crate's).
        settings.blueprints = settings.blueprints.iter().map(|b| root.join(b)).collect();
        let secrets = crate::plan::all_secrets(&settings, &no_env).expect("embedded secrets");
        let none = std::collections::BTreeSet::new();
        let env = super::Environment::start(&settings, &secrets, &none, &none).await.expect("embedded target");
        let mut started = vec![env.authentik.clone()];
        started.extend(env.workspaces.values().map(|w| w.chatgpt.url().clone()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        for url in &started {
            assert!(http.get(url.clone()).send().await.is_ok(), "{url} answers while the environment lives");
        }
        drop(env);
        // A new client: the old one's kept-alive connections would only say they were closed.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        for url in &started {
            let answer = http.get(url.clone()).send().await;
            assert!(answer.as_ref().is_err_and(|e| e.is_connect()), "{url} still answers after the drop: {answer:?}");
        }
    }
}
