//! The stand-in's HTTP server: start and stop, shared state, sessions and cookies, routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tokio::net::TcpListener;
use url::Url;

use crate::blueprint::{self, BlueprintError};
use crate::defects::{Defect, Defects};
use crate::directory::Directory;
use crate::shared::Shared;
use crate::state::State;
use crate::{flow, oauth, pages};
use ak_protocol::jose::{RsaKey, random_token};
use ak_protocol::secret::Secret;
use ak_protocol::serve::Serving;

const MAX_QUERY: usize = 16 * 1024;

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A blueprint file could not be read.
    #[error("cannot read blueprint {path}: {source}")]
    Read {
        /// The blueprint file that could not be read.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A blueprint is invalid or uses what the stand-in does not support.
    #[error(transparent)]
    Blueprint(#[from] BlueprintError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address it could not bind.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A device (a TOTP device, a passkey) cannot be given.
    #[error("{0}")]
    Device(String),
    /// The signing key could not be generated.
    #[error("cannot generate the signing key: {0}")]
    Key(String),
}

/// How to start a stand-in.
#[derive(Debug, Clone, Default)]
pub struct Options {
    blueprints: Vec<(String, String)>,
    env: HashMap<String, String>,
    defects: Defects,
    public_url: Option<Url>,
    install_id: Option<String>,
    api_token: Option<Secret>,
    totp_devices: Vec<(String, Secret)>,
    passkeys: Vec<(String, ak_protocol::webauthn::Registered)>,
    recovery_codes: Vec<(String, Vec<Secret>)>,
}

impl Options {
    /// No blueprints yet, no defects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blueprint file's contents under a name used in error messages.
    pub fn blueprint(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.blueprints.push((name.into(), text.into()));
        self
    }

    /// Reads and adds a blueprint file.
    pub fn blueprint_file(self, path: impl AsRef<Path>) -> Result<Self, StartError> {
        let path = path.as_ref();
        let text = ak_protocol::yaml::read_file(path)
            .map_err(|e| StartError::Read { path: path.display().to_string(), source: e.into() })?;
        Ok(self.blueprint(path.display().to_string(), text))
    }

    /// The variables `!Env` reads.
    pub fn env(mut self, env: HashMap<String, String>) -> Self {
        self.env = env;
        self
    }

    /// Switches a defect on.
    pub fn defect(mut self, defect: Defect) -> Self {
        self.defects = self.defects.with(defect);
        self
    }

    /// Switches these defects on.
    pub fn defects(mut self, defects: Defects) -> Self {
        for d in defects.iter() {
            self.defects = self.defects.clone().with(d.clone());
        }
        self
    }

    /// The URL browsers and clients use (default `http://<bound address>/`).
    pub fn public_url(mut self, url: Url) -> Self {
        self.public_url = Some(url);
        self
    }

    /// An API token (authentik's bootstrap token) accepted by the blueprint import endpoint
    /// `POST /api/v3/flows/instances/import/`; without one the endpoint refuses every request.
    pub fn api_token(mut self, token: Secret) -> Self {
        self.api_token = Some(token);
        self
    }

    /// Gives a user a confirmed TOTP device with this secret (hex, as authentik stores it).
    /// Devices are not in blueprints: authentik's blueprints cannot set a device's user or key.
    pub fn totp_device(mut self, username: impl Into<String>, secret_hex: Secret) -> Self {
        self.totp_devices.push((username.into(), secret_hex));
        self
    }

    /// Gives a user a passkey: the credential as a relying party registers it. Devices are not
    /// in blueprints (see [`Self::totp_device`]).
    pub fn passkey(mut self, username: impl Into<String>, credential: ak_protocol::webauthn::Registered) -> Self {
        self.passkeys.push((username.into(), credential));
        self
    }

    /// Gives a user recovery codes (a static device). Devices are not in blueprints (see
    /// [`Self::totp_device`]).
    pub fn recovery_codes(mut self, username: impl Into<String>, codes: Vec<Secret>) -> Self {
        self.recovery_codes.push((username.into(), codes));
        self
    }

    /// The install id that salts hashed `sub` values (default: random per start).
    pub fn install_id(mut self, id: impl Into<String>) -> Self {
        self.install_id = Some(id.into());
        self
    }

    /// Applies the blueprints (reporting the first problem with file:line:column), then adds the
    /// TOTP devices.
    pub fn directory(&self) -> Result<Directory, StartError> {
        let mut directory = blueprint::load(&self.blueprints, &self.env)?;
        for (username, secret) in &self.totp_devices {
            owned_by_a_user(&directory, username, "TOTP device")?;
            if ak_protocol::totp::decode_hex(secret.expose()).is_none() {
                return Err(StartError::Device(format!("TOTP device for `{username}`: the secret is not hex")));
            }
            directory.add_totp_device(crate::directory::TotpDevice {
                pk: 0,
                user: username.clone(),
                name: "TOTP device".into(),
                key: secret.clone(),
                confirmed: true,
                digits: 6,
                last_step: None,
                last_used: None,
                throttle: Default::default(),
            });
        }
        for (username, credential) in &self.passkeys {
            owned_by_a_user(&directory, username, "passkey")?;
            directory.add_webauthn_device(crate::directory::WebAuthnDevice {
                pk: 0,
                user: username.clone(),
                name: "WebAuthn Device".into(),
                credential: credential.clone(),
                last_used: None,
            });
        }
        for (username, codes) in &self.recovery_codes {
            owned_by_a_user(&directory, username, "static device")?;
            directory.add_static_device(crate::directory::StaticDevice {
                pk: 0,
                user: username.clone(),
                name: "Static Token".into(),
                tokens: codes.clone(),
                last_used: None,
                throttle: Default::default(),
            });
        }
        Ok(directory)
    }
}

/// A device given in the options (`what`) must belong to a user of the blueprints.
fn owned_by_a_user(directory: &Directory, username: &str, what: &str) -> Result<(), StartError> {
    if directory.users.iter().any(|u| u.username == username) {
        return Ok(());
    }
    Err(StartError::Device(format!("{what} for `{username}`: no such user in the blueprints")))
}

/// A running stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct AuthentikStandIn {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    serving: Serving,
}

/// The two RSA keys (published and unpublished), generated once per process.
fn keys() -> Result<&'static (RsaKey, RsaKey), StartError> {
    static KEYS: OnceLock<Result<(RsaKey, RsaKey), String>> = OnceLock::new();
    let made = KEYS.get_or_init(|| {
        let key = RsaKey::generate("").map_err(|e| e.to_string())?;
        let rogue = RsaKey::generate("").map_err(|e| e.to_string())?;
        // authentik's kid is a hex digest; derive ours from the modulus.
        let kid = |k: &RsaKey| crate::directory::hex_sha256(&k.public_jwk()["n"].to_string())[..32].to_string();
        Ok((key.with_kid(kid(&key)), rogue.with_kid(kid(&rogue))))
    });
    made.as_ref().map_err(|e| StartError::Key(e.clone()))
}

impl AuthentikStandIn {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(options: Options) -> Result<Self, StartError> {
        Self::start_on(options, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    pub async fn start_on(options: Options, addr: SocketAddr) -> Result<Self, StartError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Self::start_on_listener(options, listener).await
    }

    /// Starts on a listener bound beforehand, so that its address can be given to a relying
    /// party (and that party's redirect URI to this stand-in's blueprints) before it serves.
    pub async fn start_on_listener(options: Options, listener: TcpListener) -> Result<Self, StartError> {
        let directory = options.directory()?;
        let (key, rogue_key) = keys()?.clone();
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr: SocketAddr::from(([0, 0, 0, 0], 0)), source })?;
        let mut base = match options.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{local_addr}/"))
                .unwrap_or_else(|_| unreachable!("a socket address is a valid host")),
        };
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let shared = Arc::new(Shared {
            base,
            install_id: options.install_id.unwrap_or_else(|| random_token(16)),
            api_token: options.api_token,
            defects: options.defects,
            key,
            rogue_key,
            directory: Mutex::new(directory),
            state: Mutex::new(State::default()),
        });
        let serving = Serving::spawn(listener, router(shared.clone()));
        Ok(Self { shared, local_addr, serving })
    }

    /// The base URL, with a trailing slash.
    pub fn url(&self) -> &Url {
        &self.shared.base
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The issuer of an application's provider (as its discovery document says it).
    pub fn issuer(&self, slug: &str) -> Option<String> {
        let dir = self.shared.directory();
        let app = dir.application(slug)?;
        let provider = dir.provider(app.provider.as_deref()?)?;
        Some(self.shared.issuer(provider, slug))
    }

    /// `<base>/application/o/<slug>/.well-known/openid-configuration`.
    pub fn discovery_url(&self, slug: &str) -> String {
        self.shared.url(&format!("application/o/{slug}/.well-known/openid-configuration"))
    }

    /// A copy of the provisioned directory.
    pub fn directory(&self) -> Directory {
        self.shared.directory().clone()
    }

    /// The defects switched on.
    pub fn defects(&self) -> &Defects {
        &self.shared.defects
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.serving.shutdown().await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/application/o/authorize/", any(oauth::authorize))
        .route("/application/o/token/", post(oauth::token))
        .route("/application/o/userinfo/", any(oauth::userinfo))
        .route("/application/o/introspect/", post(oauth::introspect))
        .route("/application/o/revoke/", post(oauth::revoke))
        .route("/application/o/{slug}/.well-known/openid-configuration", get(oauth::discovery))
        .route("/application/o/{slug}/jwks/", get(oauth::jwks))
        .route("/application/o/{slug}/end-session/", get(oauth::end_session))
        .route("/if/flow/{slug}/", get(flow::page))
        .route("/api/v3/flows/executor/{slug}/", get(flow::executor_get).post(flow::executor_post))
        // A blueprint may be as large as any YAML input (1 MiB), plus the multipart envelope.
        .route(
            "/api/v3/flows/instances/import/",
            post(import_blueprint).layer(DefaultBodyLimit::max(ak_protocol::yaml::MAX_BYTES + 16 * 1024)),
        )
        .route("/api/v3/core/users/", get(crate::admin_api::users).post(crate::admin_api::create_user))
        .route("/api/v3/core/users/{pk}/", axum::routing::delete(crate::admin_api::delete_user))
        .route("/api/v3/core/users/{pk}/set_password/", post(crate::admin_api::set_password))
        .route("/api/v3/authenticators/admin/all/", get(crate::admin_api::all_devices))
        .route("/api/v3/authenticators/admin/totp/", get(crate::admin_api::totp_devices))
        .route("/api/v3/authenticators/admin/totp/{pk}/", axum::routing::delete(crate::admin_api::delete_totp_device))
        .route("/api/v3/authenticators/admin/webauthn/", get(crate::admin_api::webauthn_devices))
        .route("/api/v3/authenticators/admin/static/", get(crate::admin_api::static_devices))
        .route(
            "/api/v3/authenticators/admin/static/{pk}/",
            get(crate::admin_api::static_device).delete(crate::admin_api::delete_static_device),
        )
        .route(
            "/api/v3/authenticators/admin/webauthn/{pk}/",
            axum::routing::delete(crate::admin_api::delete_webauthn_device),
        )
        .route("/api/v3/core/users/me/", get(crate::admin_objects::me))
        .route(
            "/api/v3/core/applications/",
            get(crate::admin_objects::applications).post(crate::admin_objects::create_application),
        )
        .route(
            "/api/v3/core/applications/{slug}/",
            get(crate::admin_objects::application).delete(crate::admin_objects::delete_application),
        )
        .route("/api/v3/core/applications/{slug}/check_access/", get(crate::admin_objects::check_access))
        .route(
            "/api/v3/providers/oauth2/",
            get(crate::admin_objects::providers).post(crate::admin_objects::create_provider),
        )
        .route(
            "/api/v3/providers/oauth2/{pk}/",
            get(crate::admin_objects::provider).delete(crate::admin_objects::delete_provider),
        )
        .route("/api/v3/providers/oauth2/{pk}/preview_user/", get(crate::admin_objects::preview_user))
        .route("/api/v3/propertymappings/provider/scope/{pk}/", get(crate::admin_objects::scope_mapping))
        .route("/api/v3/propertymappings/all/{pk}/test/", post(crate::admin_objects::test_mapping))
        .route("/api/v3/crypto/certificatekeypairs/{pk}/", get(crate::admin_objects::keypair))
        .route("/api/v3/flows/instances/", get(crate::admin_objects::flows))
        .route(
            "/api/v3/policies/bindings/",
            get(crate::admin_objects::bindings).post(crate::admin_objects::create_binding),
        )
        .route("/-/health/live/", get(health))
        .route("/-/health/ready/", get(health))
        .route("/static/flow.js", get(pages::script))
        .fallback(not_found)
        .layer(middleware::from_fn(limit_query))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(shared)
}

/// `POST /api/v3/flows/instances/import/`: applies an uploaded blueprint (multipart field
/// `file`), as authentik's flow import does; `Authorization: Bearer <token>` required.
async fn import_blueprint(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = crate::admin_api::refuse(&shared, &headers) {
        return refused;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(text) = multipart_file(content_type, &body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"logs": [], "success": false})))
            .into_response();
    };
    let result = {
        let mut dir = shared.directory();
        let mut copy = dir.clone();
        let applied = blueprint::apply(&mut copy, "import", &text, &HashMap::new());
        if applied.is_ok() {
            *dir = copy;
        }
        applied
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let logs = serde_json::json!([{"log_level": "error", "event": e.to_string()}]);
            (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"logs": logs, "success": false}))).into_response()
        }
    }
}

/// The content of the multipart field named `file`.
fn multipart_file(content_type: &str, body: &[u8]) -> Option<String> {
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    text.split(&delimiter).find_map(|part| {
        let (head, content) = part.split_once("\r\n\r\n")?;
        if !head.contains("name=\"file\"") {
            return None;
        }
        Some(content.strip_suffix("\r\n").unwrap_or(content).to_string())
    })
}

async fn health() -> Response {
    StatusCode::OK.into_response()
}

async fn limit_query(request: Request, next: Next) -> Response {
    if request.uri().query().is_some_and(|q| q.len() > MAX_QUERY) {
        return pages::error_page(
            StatusCode::URI_TOO_LONG,
            "Request URI too long",
            "The request's query string is too long.",
        );
    }
    next.run(request).await
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"detail": "Not found."}))).into_response();
    }
    pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.")
}
