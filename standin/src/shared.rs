//! What every handler shares: the server's settings, keys and directory, the runtime state,
//! and the session a request belongs to with its cookies.

use std::sync::{Mutex, MutexGuard};

use ak_protocol::jose::{RsaKey, random_token};
use ak_protocol::secret::Secret;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::defects::{Defect, Defects, Endpoint};
use crate::directory::{Directory, IssuerMode, Provider};
use crate::state::{Session, State};

pub(crate) const SESSION_COOKIE: &str = "authentik_session";
pub(crate) const CSRF_COOKIE: &str = "authentik_csrf";

/// The server's settings, keys and directory, and the runtime state, behind one `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The public base URL, with a trailing slash.
    pub(crate) base: Url,
    pub(crate) install_id: String,
    pub(crate) api_token: Option<Secret>,
    pub(crate) defects: Defects,
    pub(crate) key: RsaKey,
    pub(crate) rogue_key: RsaKey,
    pub(crate) directory: Mutex<Directory>,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    pub(crate) fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An absolute URL on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// The issuer for an application, with the issuer defects applied.
    pub(crate) fn issuer(&self, provider: &Provider, slug: &str) -> String {
        let mut issuer = match provider.issuer_mode {
            IssuerMode::PerProvider => self.url(&format!("application/o/{slug}/")),
            IssuerMode::Global => self.base.to_string(),
        };
        if self.defects.has(&Defect::IssuerNoTrailingSlash) {
            issuer.truncate(issuer.trim_end_matches('/').len());
        }
        if self.defects.has(&Defect::IssuerOtherScheme) {
            issuer = match issuer.strip_prefix("http://") {
                Some(rest) => format!("https://{rest}"),
                None => issuer.replacen("https://", "http://", 1),
            };
        }
        issuer
    }

    /// Waits if a `delay` defect names this endpoint.
    pub(crate) async fn delay(&self, endpoint: Endpoint) {
        if let Some(delay) = self.defects.delay(endpoint) {
            tokio::time::sleep(delay).await;
        }
    }
}

/// The session a request belongs to; created (with its cookies) when absent or unknown.
pub(crate) struct SessionRef {
    pub(crate) id: String,
    cookies: Vec<String>,
}

impl SessionRef {
    /// Finds or creates the session for these request headers.
    pub(crate) fn get(shared: &Shared, headers: &HeaderMap) -> Self {
        let mut state = shared.state();
        if let Some(id) = cookie(headers, SESSION_COOKIE)
            && state.sessions.contains_key(id)
        {
            return Self { id: id.to_string(), cookies: Vec::new() };
        }
        let id = random_token(24);
        let csrf = random_token(24);
        state.sessions.insert(id.clone(), Session { csrf: csrf.clone(), ..Session::default() });
        Self {
            cookies: vec![
                format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"),
                format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax"),
            ],
            id,
        }
    }

    /// Adds the session's new cookies, if any, to a response.
    pub(crate) fn attach(&self, mut response: Response) -> Response {
        for c in &self.cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A cookie's value from the request headers.
pub(crate) use ak_protocol::http::request_cookie as cookie;
