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

/// The deadline of a write to the admin API (a provider, a user with its groups, a blueprint
/// import), which takes longer on a busy authentik: three times the run's, at least 30 s.
pub fn write_deadline(timeout: std::time::Duration) -> std::time::Duration {
    (timeout * 3).max(std::time::Duration::from_secs(30))
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

    /// A request's deadline: the run's for reads and deletes (a delete is quick, and cleaning up
    /// after Ctrl-C must not keep the user waiting); writes that make something (a provider, a
    /// user with its groups, a blueprint) take longer on a busy authentik: [`write_deadline`].
    pub fn deadline(&self, method: &Method) -> std::time::Duration {
        if matches!(*method, Method::GET | Method::DELETE) { self.timeout } else { write_deadline(self.timeout) }
    }

    /// Sends a request; answers its status and JSON body (`null` when there is none).
    async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
        let deadline = self.deadline(&method);
        let mut request =
            self.http.request(method.clone(), url.clone()).bearer_auth(self.token.expose()).timeout(deadline);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let why = ak_protocol::http::describe(&e, deadline);
            ApiError::new(ApiFailure::Unreachable, format!("{method} {url} failed: {why}"))
        })?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok((status, Value::Null));
        }
        match ak_protocol::http::read_json(response, deadline).await {
            Ok(body) => Ok((status, body)),
            Err(ak_protocol::http::BodyError::NotJson { .. }) => Ok((status, Value::Null)),
            Err(e) => Err(ApiError::new(ApiFailure::Unreachable, format!("{method} {url} answered {status} but {e}"))),
        }
    }

    /// Sends a request; a read or a delete (idempotent) is tried up to 3 times while authentik
    /// does not answer or its proxy answers 502, 503 or 504 (workers restarting), half a second
    /// more apart each time. Writes are sent once.
    async fn send_retrying(&self, method: Method, url: Url, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
        let idempotent = matches!(method, Method::GET | Method::DELETE);
        let mut attempt = 1u32;
        loop {
            let result = self.send(method.clone(), url.clone(), body).await;
            let passing = match &result {
                Err(e) => e.kind == ApiFailure::Unreachable,
                Ok((status, _)) => matches!(status, 502..=504),
            };
            if !(idempotent && passing && attempt < 3) {
                return result;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(attempt))).await;
            attempt += 1;
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
        let (status, answer) = self.send_retrying(method.clone(), url.clone(), body).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers 503 to the first `failing` requests, then `{"ok": true}`; counts them.
    async fn flaky(failing: usize) -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, body) =
                    if n < failing { ("503 Service Unavailable", "{}") } else { ("200 OK", r#"{"ok":true}"#) };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, count)
    }

    fn api(url: &Url) -> AdminApi {
        AdminApi::new(url, Secret::new("t"), std::time::Duration::from_secs(5)).expect("client")
    }

    #[tokio::test]
    async fn reads_are_retried_through_a_restarting_proxy_and_writes_are_sent_once() {
        let (url, count) = flaky(2).await;
        let answer: Value = api(&url).get("api/v3/x/", &[]).await.expect("third try answers");
        assert_eq!((answer["ok"].as_bool(), count.load(Ordering::SeqCst)), (Some(true), 3));

        let (url, count) = flaky(3).await;
        let err = api(&url).get::<Value>("api/v3/x/", &[]).await.expect_err("three 503s");
        assert_eq!((err.kind, count.load(Ordering::SeqCst)), (ApiFailure::Answer, 3));
        assert!(err.message.contains("answered 503"), "{}", err.message);

        let (url, count) = flaky(1).await;
        let err = api(&url).post::<_, Value>("api/v3/x/", &serde_json::json!({})).await.expect_err("one 503");
        assert_eq!((err.kind, count.load(Ordering::SeqCst)), (ApiFailure::Answer, 1));
    }

    #[test]
    fn writes_get_a_longer_deadline() {
        let api = api(&Url::parse("http://127.0.0.1:9/").expect("url"));
        assert_eq!(api.deadline(&Method::GET), std::time::Duration::from_secs(5));
        assert_eq!(api.deadline(&Method::POST), std::time::Duration::from_secs(30));
        assert_eq!(api.deadline(&Method::DELETE), std::time::Duration::from_secs(5));
    }
}
