//! The mock ChatGPT's settings: what an admin enters in ChatGPT's "Custom OIDC" wizard, plus the
//! workspace's verified domains and members.
//!
//! Settings fold in one order: defaults → the YAML file → `MOCK_CHATGPT_*` environment variables.
//! Command-line flags (listen address, public URL) are applied by the binary on top. A bad value
//! fails at start and names the setting and where it came from.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use ak_protocol::secret::Secret;

/// How the mock authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the url-encoded client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` as form fields.
    ClientSecretPost,
}

impl ClientAuth {
    /// The name used in discovery documents and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// ID token signature algorithms the mock can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Alg {
    /// RSA PKCS#1 v1.5 with SHA-256, verified with a JWKS key.
    RS256,
    /// HMAC SHA-256 with the client secret.
    HS256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }
}

/// The validated configuration of a mock ChatGPT workspace.
#[derive(Debug, Clone)]
pub struct Config {
    /// The identity provider's display name ("authentik").
    pub idp_name: String,
    /// The OAuth2 client id registered at the identity provider.
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: Secret,
    /// The identity provider's discovery document URL.
    pub discovery_url: Url,
    /// Email domains verified for the workspace (lower case). Only these are routed to SSO.
    pub verified_domains: Vec<String>,
    /// Client authentication at the token endpoint.
    pub token_auth: ClientAuth,
    /// Whether to send a PKCE S256 challenge.
    pub pkce: bool,
    /// Whether `email_verified: true` is required (it is always recorded).
    pub require_email_verified: bool,
    /// Whether users unknown to the workspace are created on first login.
    pub auto_create_accounts: bool,
    /// Workspace members (lower-case emails), consulted when auto-creation is off.
    pub workspace_members: Vec<String>,
    /// The SSO connection id; part of the Login redirect URI.
    pub connection_id: String,
    /// The URL browsers reach the mock under; `None`: `http://<listen address>`.
    pub public_url: Option<Url>,
    /// Signature algorithms accepted in ID tokens (also required to be advertised).
    pub allowed_algs: Vec<Alg>,
    /// Allowed clock skew for `exp` and `iat`.
    pub clock_skew: Duration,
    /// Deadline for each request to the identity provider.
    pub http_timeout: Duration,
}

impl Config {
    /// A configuration with defaults for everything but the four settings that have none.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Secret,
        discovery_url: Url,
        verified_domains: &[&str],
    ) -> Self {
        Self {
            idp_name: "authentik".into(),
            client_id: client_id.into(),
            client_secret,
            discovery_url,
            verified_domains: verified_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            token_auth: ClientAuth::default(),
            pkce: true,
            require_email_verified: false,
            auto_create_accounts: true,
            workspace_members: Vec::new(),
            connection_id: DEFAULT_CONNECTION_ID.into(),
            public_url: None,
            allowed_algs: vec![Alg::RS256],
            clock_skew: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
        }
    }

    /// Reads the YAML file (if any), then `MOCK_CHATGPT_*` variables from `env`, and validates.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => RawConfig::from_file(path)?,
            None => RawConfig::default(),
        };
        raw.apply_env(env)?;
        raw.validate()
    }

    /// Whether `email` is in one of the verified domains.
    pub fn domain_verified(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.verified_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }

    /// Checks the invariants `load` checks, for configurations built in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting: &'static str, message: String| ConfigError::Invalid {
            setting,
            origin: "the configuration".into(),
            message,
        };
        if self.client_id.is_empty() {
            return Err(bad("client_id", "must not be empty".into()));
        }
        if self.client_secret.is_empty() {
            return Err(bad("client_secret", "must not be empty".into()));
        }
        if !matches!(self.discovery_url.scheme(), "http" | "https") {
            return Err(bad("discovery_url", "must be an http or https URL".into()));
        }
        if self.verified_domains.is_empty() {
            return Err(bad("verified_domains", "needs at least one domain".into()));
        }
        if let Some(d) = self.verified_domains.iter().find(|d| d.is_empty() || d.contains(['@', '/', ' '])) {
            return Err(bad("verified_domains", format!("`{d}` is not a domain name")));
        }
        if self.connection_id.is_empty()
            || !self.connection_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(
                "connection_id",
                format!("`{}` must be non-empty and use only letters, digits, `_` and `-`", self.connection_id),
            ));
        }
        if self.allowed_algs.is_empty() {
            return Err(bad("allowed_algs", "needs at least one algorithm".into()));
        }
        if self.http_timeout.is_zero() || self.http_timeout > Duration::from_secs(600) {
            return Err(bad("http_timeout_secs", "must be from 1 to 600 seconds".into()));
        }
        Ok(())
    }
}

/// The connection id used when none is configured.
pub const DEFAULT_CONNECTION_ID: &str = "conn_authentik";

/// A setting that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The settings file that could not be read.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not valid YAML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The settings file that is not valid YAML.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A setting has a bad value.
    #[error("setting `{setting}` (from {origin}) {message}")]
    Invalid {
        /// The setting's name as written in the file.
        setting: &'static str,
        /// Where the value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A setting without default was not given.
    #[error("setting `{setting}` is required: set it in the config file or as {env}")]
    Missing {
        /// The setting's name.
        setting: &'static str,
        /// The environment variable that can supply it.
        env: String,
    },
}

/// The file's shape: every setting optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    idp_name: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    discovery_url: Option<String>,
    verified_domains: Option<Vec<String>>,
    token_auth_method: Option<ClientAuth>,
    pkce: Option<bool>,
    require_email_verified: Option<bool>,
    auto_create_accounts: Option<bool>,
    workspace_members: Option<Vec<String>>,
    connection_id: Option<String>,
    public_url: Option<String>,
    allowed_algs: Option<Vec<Alg>>,
    clock_skew_secs: Option<u64>,
    http_timeout_secs: Option<u64>,
    #[serde(skip)]
    origins: HashMap<&'static str, String>,
}

const ENV_PREFIX: &str = "MOCK_CHATGPT_";

fn env_name(setting: &str) -> String {
    format!("{ENV_PREFIX}{}", setting.to_ascii_uppercase())
}

impl RawConfig {
    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = ak_protocol::yaml::read_file(path)
            .map_err(|e| ConfigError::Read { path: shown.clone(), source: e.into() })?;
        let mut raw: RawConfig = serde_saphyr::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: shown.clone(), message: e.to_string() })?;
        raw.origins = ALL_SETTINGS.iter().map(|s| (*s, shown.clone())).collect();
        Ok(raw)
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        for setting in ALL_SETTINGS {
            let name = env_name(setting);
            let Some(value) = env.get(&name) else { continue };
            let invalid = |message: String| ConfigError::Invalid { setting, origin: name.clone(), message };
            let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            let flag = || parse_bool(value).ok_or_else(|| invalid(format!("must be true or false, not `{value}`")));
            let number = || value.parse::<u64>().map_err(|_| invalid(format!("must be a whole number, not `{value}`")));
            match *setting {
                "idp_name" => self.idp_name = Some(value.clone()),
                "client_id" => self.client_id = Some(value.clone()),
                "client_secret" => self.client_secret = Some(Secret::new(value.clone())),
                "discovery_url" => self.discovery_url = Some(value.clone()),
                "verified_domains" => self.verified_domains = Some(list()),
                "token_auth_method" => {
                    self.token_auth_method = Some(match value.as_str() {
                        "client_secret_basic" => ClientAuth::ClientSecretBasic,
                        "client_secret_post" => ClientAuth::ClientSecretPost,
                        _ => {
                            return Err(invalid(format!(
                                "must be client_secret_basic or client_secret_post, not `{value}`"
                            )));
                        }
                    })
                }
                "pkce" => self.pkce = Some(flag()?),
                "require_email_verified" => self.require_email_verified = Some(flag()?),
                "auto_create_accounts" => self.auto_create_accounts = Some(flag()?),
                "workspace_members" => self.workspace_members = Some(list()),
                "connection_id" => self.connection_id = Some(value.clone()),
                "public_url" => self.public_url = Some(value.clone()),
                "allowed_algs" => {
                    let mut algs = Vec::new();
                    for alg in value.split(',').map(str::trim) {
                        algs.push(match alg {
                            "RS256" => Alg::RS256,
                            "HS256" => Alg::HS256,
                            _ => return Err(invalid(format!("`{alg}` is not one of RS256, HS256"))),
                        });
                    }
                    self.allowed_algs = Some(algs);
                }
                "clock_skew_secs" => self.clock_skew_secs = Some(number()?),
                "http_timeout_secs" => self.http_timeout_secs = Some(number()?),
                _ => unreachable!("ALL_SETTINGS lists only handled names"),
            }
            self.origins.insert(setting, name);
        }
        Ok(())
    }

    fn origin(&self, setting: &'static str) -> String {
        self.origins.get(setting).cloned().unwrap_or_else(|| "the defaults".into())
    }

    fn validate(self) -> Result<Config, ConfigError> {
        let missing = |setting: &'static str| ConfigError::Missing { setting, env: env_name(setting) };
        let parse_url = |setting: &'static str, text: &str| {
            Url::parse(text).map_err(|e| ConfigError::Invalid {
                setting,
                origin: self.origin(setting),
                message: format!("is not a URL (`{text}`: {e})"),
            })
        };
        let discovery_url =
            parse_url("discovery_url", self.discovery_url.as_deref().ok_or_else(|| missing("discovery_url"))?)?;
        let public_url = self.public_url.as_deref().map(|u| parse_url("public_url", u)).transpose()?;
        let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_ascii_lowercase()).collect::<Vec<_>>();
        let mut config = Config::new(
            self.client_id.clone().ok_or_else(|| missing("client_id"))?,
            self.client_secret.clone().ok_or_else(|| missing("client_secret"))?,
            discovery_url,
            &[],
        );
        config.verified_domains = lower(self.verified_domains.clone().ok_or_else(|| missing("verified_domains"))?);
        config.public_url = public_url;
        if let Some(v) = &self.idp_name {
            config.idp_name = v.clone();
        }
        config.token_auth = self.token_auth_method.unwrap_or_default();
        config.pkce = self.pkce.unwrap_or(true);
        config.require_email_verified = self.require_email_verified.unwrap_or(false);
        config.auto_create_accounts = self.auto_create_accounts.unwrap_or(true);
        config.workspace_members = lower(self.workspace_members.clone().unwrap_or_default());
        if let Some(v) = &self.connection_id {
            config.connection_id = v.clone();
        }
        if let Some(v) = &self.allowed_algs {
            config.allowed_algs = v.clone();
        }
        if let Some(v) = self.clock_skew_secs {
            config.clock_skew = Duration::from_secs(v);
        }
        if let Some(v) = self.http_timeout_secs {
            config.http_timeout = Duration::from_secs(v);
        }
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { setting, message, .. } => {
                ConfigError::Invalid { setting, origin: self.origin(setting), message }
            }
            other => other,
        })?;
        Ok(config)
    }
}

const ALL_SETTINGS: &[&str] = &[
    "idp_name",
    "client_id",
    "client_secret",
    "discovery_url",
    "verified_domains",
    "token_auth_method",
    "pkce",
    "require_email_verified",
    "auto_create_accounts",
    "workspace_members",
    "connection_id",
    "public_url",
    "allowed_algs",
    "clock_skew_secs",
    "http_timeout_secs",
];

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::{ClientAuth, Config, ConfigError};

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    const REQUIRED: &[(&str, &str)] = &[
        ("MOCK_CHATGPT_CLIENT_ID", "chatgpt"),
        ("MOCK_CHATGPT_CLIENT_SECRET", "s3cret"),
        ("MOCK_CHATGPT_DISCOVERY_URL", "http://127.0.0.1:9000/application/o/chatgpt/.well-known/openid-configuration"),
        ("MOCK_CHATGPT_VERIFIED_DOMAINS", "Example.com, example.org"),
    ];

    #[test]
    fn env_alone_is_enough_and_defaults_fill_the_rest() {
        let config = Config::load(None, &env(REQUIRED)).expect("valid");
        assert_eq!(config.verified_domains, ["example.com", "example.org"]);
        assert_eq!(config.token_auth, ClientAuth::ClientSecretBasic);
        assert!(config.pkce && config.auto_create_accounts && !config.require_email_verified);
        assert_eq!(config.connection_id, "conn_authentik");
        assert!(config.domain_verified("Ann@EXAMPLE.com"));
        assert!(!config.domain_verified("ann@example.net"));
        assert_eq!(format!("{:?}", config.client_secret), "[redacted]");
    }

    #[test]
    fn env_overrides_the_file() {
        let mut file = tempfile();
        writeln!(file.1, "client_id: from-file\ntoken_auth_method: client_secret_post\npkce: false").expect("write");
        let mut vars = env(REQUIRED);
        vars.remove("MOCK_CHATGPT_CLIENT_ID");
        vars.insert("MOCK_CHATGPT_PKCE".into(), "true".into());
        let config = Config::load(Some(&file.0), &vars).expect("valid");
        assert_eq!(config.client_id, "from-file");
        assert_eq!(config.token_auth, ClientAuth::ClientSecretPost);
        assert!(config.pkce);
        let _ = std::fs::remove_file(&file.0);
    }

    #[test]
    fn bad_settings_are_named_with_their_origin() {
        let mut vars = env(REQUIRED);
        vars.insert("MOCK_CHATGPT_PKCE".into(), "maybe".into());
        let err = Config::load(None, &vars).expect_err("must fail").to_string();
        assert_eq!(err, "setting `pkce` (from MOCK_CHATGPT_PKCE) must be true or false, not `maybe`");

        let mut vars = env(REQUIRED);
        vars.insert("MOCK_CHATGPT_CONNECTION_ID".into(), "a/b".into());
        let err = Config::load(None, &vars).expect_err("must fail").to_string();
        assert!(err.starts_with("setting `connection_id` (from MOCK_CHATGPT_CONNECTION_ID)"), "{err}");

        let mut vars = env(REQUIRED);
        vars.remove("MOCK_CHATGPT_CLIENT_SECRET");
        let err = Config::load(None, &vars).expect_err("must fail").to_string();
        assert_eq!(
            err,
            "setting `client_secret` is required: set it in the config file or as MOCK_CHATGPT_CLIENT_SECRET"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors_with_a_location() {
        let mut file = tempfile();
        writeln!(file.1, "client_id: x\nclient_secert: y").expect("write");
        let err = Config::load(Some(&file.0), &HashMap::new()).expect_err("must fail");
        let ConfigError::Parse { message, .. } = &err else { panic!("{err}") };
        assert!(message.contains("client_secert"), "{message}");
        assert!(message.contains("line 2") || message.contains("2:"), "{message}");
        let _ = std::fs::remove_file(&file.0);
    }

    fn tempfile() -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("mock-chatgpt-{}.yaml", ak_protocol::jose::random_token(8)));
        let file = std::fs::File::create(&path).expect("create");
        (path, file)
    }
}
