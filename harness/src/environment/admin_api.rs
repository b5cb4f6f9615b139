//! authentik's admin API, typed: one client for `provision`, `reproduce`, `doctor` and twins.
//! Requests carry an API token (`Authorization: Bearer`), each has the run's deadline, answers
//! are read as JSON within the body cap into the types of [`ak_protocol::authentik::admin`],
//! and errors name the request, what authentik answered, and what kind of failure it was
//! (unreachable, token refused, not found), so a command can map it to its exit code.

use ak_protocol::authentik::admin::{self, path};
use ak_protocol::secret::Secret;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

/// What kind of failure an admin API request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFailure {
    /// No answer: refused connection, timeout, a cut-off body.
    Unreachable,
    /// 401 or 403: the token is wrong, expired, or may not do this.
    Refused,
    /// 404: no such object.
    NotFound,
    /// Any other answer that is not a success, or one that does not read.
    Answer,
}

/// A failed admin API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Its kind.
    pub kind: ApiFailure,
    /// The request and what authentik answered.
    pub message: String,
}

impl ApiError {
    fn new(kind: ApiFailure, message: String) -> Self {
        Self { kind, message }
    }
}

impl From<ApiError> for String {
    fn from(e: ApiError) -> Self {
        e.message
    }
}

/// A client of one authentik's admin API.
#[derive(Clone)]
pub struct AdminApi {
    base: Url,
    token: Secret,
    http: reqwest::Client,
    timeout: std::time::Duration,
}

impl AdminApi {
    /// A client for the authentik at `base` (its root URL, with a trailing slash).
    pub fn new(base: &Url, token: Secret, timeout: std::time::Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(Self { base: base.clone(), token, http, timeout })
    }

    /// authentik's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The URL of an API path (`api/v3/core/users/`) with query pairs.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url = self.base.join(path).map_err(|e| ApiError::new(ApiFailure::Answer, format!("{path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends a request; answers its status and JSON body (`null` when there is none).
    async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
        let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let why = ak_protocol::http::describe(&e, self.timeout);
            ApiError::new(ApiFailure::Unreachable, format!("{method} {url} failed: {why}"))
        })?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok((status, Value::Null));
        }
        match ak_protocol::http::read_json(response, self.timeout).await {
            Ok(body) => Ok((status, body)),
            Err(ak_protocol::http::BodyError::NotJson { .. }) => Ok((status, Value::Null)),
            Err(e) => Err(ApiError::new(ApiFailure::Unreachable, format!("{method} {url} answered {status} but {e}"))),
        }
    }

    /// Sends a request that must succeed (2xx); answers its JSON body.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = self.url(path, query)?;
        let (status, answer) = self.send(method.clone(), url.clone(), body).await?;
        let detail = answer["detail"].as_str().unwrap_or_default().to_string();
        match status {
            200..=299 => Ok(answer),
            401 | 403 => Err(ApiError::new(
                ApiFailure::Refused,
                format!("authentik refused the API token at {method} {url} (HTTP {status}: {detail})"),
            )),
            404 => Err(ApiError::new(ApiFailure::NotFound, format!("{method} {url} answered 404 ({detail})"))),
            _ => Err(ApiError::new(ApiFailure::Answer, format!("{method} {url} answered {status}: {answer}"))),
        }
    }

    /// `GET` a path, read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, ApiError> {
        let answer = self.expect(Method::GET, path, query, None).await?;
        read(path, answer)
    }

    /// `POST` a typed body to a path, the answer read as `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::new(ApiFailure::Answer, e.to_string()))?;
        let answer = self.expect(Method::POST, path, &[], Some(&body)).await?;
        read(path, answer)
    }

    /// `POST` a body to a path whose answer does not matter (an action answering 204).
    pub async fn act<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::new(ApiFailure::Answer, e.to_string()))?;
        self.expect(Method::POST, path, &[], Some(&body)).await.map(drop)
    }

    /// `DELETE` a path; an object already gone counts as deleted.
    pub async fn delete(&self, path: &str) -> Result<(), ApiError> {
        match self.expect(Method::DELETE, path, &[], None).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ApiFailure::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object of a list, page after page (at most 100 pages of 100).
    pub async fn all<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        for page in 1..=100u32 {
            let number = page.to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.extend([("page", number.as_str()), ("page_size", "100")]);
            let answer: admin::Page<T> = self.get(path, &q).await?;
            out.extend(answer.results);
            if answer.pagination.next == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// The user named `username` (exactly), if there is one.
    pub async fn user(&self, username: &str) -> Result<Option<admin::User>, ApiError> {
        let found: Vec<admin::User> = self.all(path::USERS, &[("username", username)]).await?;
        Ok(found.into_iter().find(|u| u.username == username))
    }

    /// The object at `path`, or `None` on 404.
    pub async fn find<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ApiError> {
        match self.get(path, &[]).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind == ApiFailure::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn read<T: DeserializeOwned>(path: &str, answer: Value) -> Result<T, ApiError> {
    serde_json::from_value(answer)
        .map_err(|e| ApiError::new(ApiFailure::Answer, format!("authentik's answer to {path} did not read: {e}")))
}
