//! The identity provider as the relying party knows it: the members of its discovery document,
//! the login in progress between the redirect and the callback, the tokens it answered, and the
//! HTTP client for it with the cache of its documents (discovery, key set).

use std::time::Duration;

use crate::record::{ErrorCode, Failure};
use serde_json::{Map, Value};
use url::Url;

/// The members of a discovery document the relying party uses.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) userinfo_endpoint: Option<Url>,
    pub(crate) jwks_uri: Url,
    pub(crate) signing_algs: Vec<String>,
}

/// What the relying party keeps between the redirect and the callback.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) attempt_id: u64,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: Option<String>,
    pub(crate) discovery: Discovery,
}

/// What the token endpoint answered that the later steps use.
pub(crate) struct Tokens {
    pub(crate) id_token: String,
    pub(crate) access_token: Option<String>,
}

/// Why a document could not be had: the provider did not answer 200, did not answer within the
/// deadline, or not with a JSON object.
pub(crate) enum GetError {
    Unreachable(String),
    TimedOut(String),
    NotJson(String),
}

impl GetError {
    /// As a failure: `unreachable` for no usable answer (marked when the deadline passed),
    /// `malformed` for an answer that is not a JSON object.
    pub(crate) fn failure(self, unreachable: ErrorCode, malformed: ErrorCode) -> Failure {
        match self {
            Self::Unreachable(detail) => Failure::new(unreachable, detail),
            Self::TimedOut(detail) => Failure::new(unreachable, detail).as_timeout(),
            Self::NotJson(detail) => Failure::new(malformed, detail),
        }
    }
}

/// A JSON object from the identity provider, with a bearer token if given.
pub(crate) async fn get_json(
    http: &HttpClient,
    url: &str,
    bearer: Option<&str>,
) -> Result<Map<String, Value>, GetError> {
    let mut request = http.get(url).header("accept", "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        let detail = format!("GET {url} failed: {}", ak_protocol::http::describe(&e, http.timeout));
        if e.is_timeout() { GetError::TimedOut(detail) } else { GetError::Unreachable(detail) }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(GetError::Unreachable(format!("GET {url} answered {status}")));
    }
    match ak_protocol::http::read_json(response, http.timeout).await {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GetError::NotJson(format!("GET {url} answered {status} but the body is not a JSON object"))),
        Err(e @ ak_protocol::http::BodyError::NotJson { .. }) => {
            Err(GetError::NotJson(format!("GET {url} answered {status} but {e}")))
        }
        Err(e @ ak_protocol::http::BodyError::TimedOut { .. }) => {
            Err(GetError::TimedOut(format!("GET {url} answered {status} but {e}")))
        }
        Err(e) => Err(GetError::Unreachable(format!("GET {url} answered {status} but {e}"))),
    }
}

/// The HTTP client used for every request to the identity provider: no redirects, a deadline
/// (kept beside it, to be named when it passes).
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    pub(crate) timeout: Duration,
    /// Discovery documents and key sets fetched so far, by URL: kept for the life of the mock, as
    /// relying parties cache them; a key set is fetched again when a token names a key it lacks.
    documents: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Map<String, Value>>>>,
}

impl HttpClient {
    /// A cached document, or `None`.
    pub(crate) fn cached(&self, url: &str) -> Option<Map<String, Value>> {
        self.documents.lock().unwrap_or_else(|p| p.into_inner()).get(url).cloned()
    }

    fn keep(&self, url: &str, document: &Map<String, Value>) {
        self.documents.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string(), document.clone());
    }
}

/// How a document was had: from the cache, or fetched now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    Cached,
    Fetched,
}

/// A discovery document or key set: the cached copy unless `fresh`, else fetched (and kept).
pub(crate) async fn get_document(
    http: &HttpClient,
    url: &str,
    fresh: bool,
) -> Result<(Map<String, Value>, Fetch), GetError> {
    if !fresh && let Some(document) = http.cached(url) {
        return Ok((document, Fetch::Cached));
    }
    let document = get_json(http, url, None).await?;
    http.keep(url, &document);
    Ok((document, Fetch::Fetched))
}

impl std::ops::Deref for HttpClient {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.client
    }
}

/// The client for the identity provider.
pub(crate) fn http_client(timeout: Duration) -> HttpClient {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    HttpClient { client, timeout, documents: Default::default() }
}
