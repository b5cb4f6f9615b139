//! The target a run talks to: the embedded stand-in (started here, provisioned from the
//! blueprints) or a real authentik by URL; in both cases the mock ChatGPT, started here, is the
//! relying party.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use mocks::authentik::{AuthentikStandIn, Options};
use mocks::chatgpt::{Config as ChatgptSettings, MockChatGpt};
use mocks::secret::Secret;
use url::Url;

use crate::config::{Settings, Target};
use crate::plan::Secrets;

/// A target that could not be started or reached (exit code 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// The running target.
pub struct Environment {
    /// authentik's base URL, with a trailing slash.
    pub authentik: Url,
    /// The mock ChatGPT.
    pub chatgpt: MockChatGpt,
    /// The stand-in, for the embedded target.
    pub standin: Option<AuthentikStandIn>,
    /// Values scenarios may reference as `{{ name }}`.
    pub vars: BTreeMap<String, String>,
    /// Per-request deadline.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").field("authentik", &self.authentik.as_str()).finish_non_exhaustive()
    }
}

/// The variable names every run defines (users add `users.<name>.{username,email,name}`).
pub const FIXED_VARS: &[&str] = &[
    "authentik.url",
    "authentik.issuer",
    "application.slug",
    "application.client_id",
    "chatgpt.url",
    "chatgpt.redirect_uri",
    "chatgpt.connection_id",
];

impl Environment {
    /// Starts the mock ChatGPT and, for the embedded target, the stand-in.
    pub async fn start(settings: &Settings, secrets: &Secrets) -> Result<Self, TargetError> {
        let slug = &settings.application.slug;
        let listen: SocketAddr = settings
            .chatgpt
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:0")
            .parse()
            .map_err(|e| TargetError(format!("chatgpt.listen is not an address: {e}")))?;
        let (authentik, listener) = match &settings.target {
            Target::Embedded => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| TargetError(format!("cannot bind a loopback port for the stand-in: {e}")))?;
                let addr = listener.local_addr().map_err(|e| TargetError(e.to_string()))?;
                (url(&format!("http://{addr}/"))?, Some(listener))
            }
            Target::Url(u) => {
                let mut u = u.clone();
                if !u.path().ends_with('/') {
                    u.set_path(&format!("{}/", u.path()));
                }
                (u, None)
            }
        };
        let discovery = authentik
            .join(&format!("application/o/{slug}/.well-known/openid-configuration"))
            .map_err(|e| TargetError(format!("bad application slug `{slug}`: {e}")))?;
        let client_secret = secrets.get(&settings.application.client_secret.env).unwrap_or_default();
        let domains: Vec<&str> = settings
            .chatgpt
            .verified_domains
            .as_ref()
            .map(|d| d.iter().map(String::as_str).collect())
            .unwrap_or_else(|| vec!["example.com"]);
        let mut config = ChatgptSettings::new(
            &settings.application.client_id,
            Secret::new(client_secret),
            discovery.clone(),
            &domains,
        );
        config.http_timeout = settings.request_timeout;
        if let Some(id) = &settings.chatgpt.connection_id {
            config.connection_id = id.clone();
        }
        if let Some(public) = &settings.chatgpt.public_url {
            config.public_url = Some(url(public)?);
        }
        let chatgpt =
            MockChatGpt::start_on(config, listen).await.map_err(|e| TargetError(format!("mock ChatGPT: {e}")))?;

        let standin = match listener {
            Some(listener) => {
                let mut env: HashMap<String, String> = secrets.exposed();
                env.insert("AK_E2E_CHATGPT_REDIRECT_URI".into(), chatgpt.redirect_uri().to_string());
                let mut options = Options::new().env(env).defects(settings.defects.clone());
                for path in &settings.blueprints {
                    options = options.blueprint_file(path).map_err(|e| TargetError(format!("embedded target: {e}")))?;
                }
                let standin = AuthentikStandIn::start_on_listener(options, listener)
                    .await
                    .map_err(|e| TargetError(format!("embedded target: {e}")))?;
                if standin.issuer(slug).is_none() {
                    return Err(TargetError(format!(
                        "embedded target: the blueprints define no application `{slug}` with a provider"
                    )));
                }
                Some(standin)
            }
            None => {
                check_reachable(&discovery, settings.request_timeout).await?;
                None
            }
        };

        let mut vars = BTreeMap::new();
        vars.insert("authentik.url".into(), authentik.to_string());
        vars.insert("authentik.issuer".into(), format!("{authentik}application/o/{slug}/"));
        vars.insert("application.slug".into(), slug.clone());
        vars.insert("application.client_id".into(), settings.application.client_id.clone());
        vars.insert("chatgpt.url".into(), chatgpt.url().to_string());
        vars.insert("chatgpt.redirect_uri".into(), chatgpt.redirect_uri().to_string());
        vars.insert("chatgpt.connection_id".into(), chatgpt.config().connection_id.clone());
        for (name, user) in &settings.users {
            vars.insert(format!("users.{name}.username"), user.username.clone());
            vars.insert(format!("users.{name}.email"), user.email.clone());
            vars.insert(format!("users.{name}.name"), user.name.clone().unwrap_or_default());
        }
        Ok(Self { authentik, chatgpt, standin, vars, request_timeout: settings.request_timeout })
    }

    /// Stops what was started.
    pub async fn stop(self) {
        if let Some(s) = self.standin {
            s.shutdown().await;
        }
        self.chatgpt.shutdown().await;
    }
}

fn url(text: &str) -> Result<Url, TargetError> {
    Url::parse(text).map_err(|e| TargetError(format!("`{text}` is not a URL: {e}")))
}

/// Fetches the discovery document of a real target, so an unreachable one fails before any
/// scenario with the URL and what was tried.
async fn check_reachable(discovery: &Url, timeout: Duration) -> Result<(), TargetError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TargetError(e.to_string()))?;
    match client.get(discovery.clone()).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().as_u16() == 404 => Err(TargetError(format!(
            "GET {discovery} answered 404: is the application slug right, and does it have an OAuth2 provider?"
        ))),
        Ok(r) => Err(TargetError(format!("GET {discovery} answered {}", r.status()))),
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {}s", timeout.as_secs())
            } else if e.is_connect() {
                "connection refused or host unreachable".to_string()
            } else {
                e.to_string()
            };
            Err(TargetError(format!("target unreachable: GET {discovery} failed ({why})")))
        }
    }
}
