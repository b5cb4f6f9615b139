//! authentik's admin API, as `provision` and `reproduce` use it: requests with an API token
//! (`Authorization: Bearer`), each with the run's deadline, answers read as JSON within the body
//! cap, and errors that name the request and what authentik answered.

use reqwest::Method;
use serde_json::Value;
use url::Url;

/// A client of one authentik's admin API.
pub struct AdminApi {
    base: Url,
    token: ak_protocol::secret::Secret,
    http: reqwest::Client,
    timeout: std::time::Duration,
}

impl AdminApi {
    /// A client for the authentik at `base` (its root URL, with a trailing slash).
    pub fn new(base: &Url, token: ak_protocol::secret::Secret, timeout: std::time::Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(Self { base: base.clone(), token, http, timeout })
    }

    /// The URL of an API path (`api/v3/core/users/`) with query pairs.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, String> {
        let mut url = self.base.join(path).map_err(|e| format!("{path}: {e}"))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends a request; answers its status and JSON body (`null` when there is none).
    pub async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<(u16, Value), String> {
        let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url} failed: {}", ak_protocol::http::describe(&e, self.timeout)))?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok((status, Value::Null));
        }
        match ak_protocol::http::read_json(response, self.timeout).await {
            Ok(body) => Ok((status, body)),
            Err(ak_protocol::http::BodyError::NotJson { .. }) => Ok((status, Value::Null)),
            Err(e) => Err(format!("{method} {url} answered {status} but {e}")),
        }
    }

    /// Sends a request that must succeed (2xx); answers its JSON body.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = self.url(path, query)?;
        let (status, answer) = self.send(method.clone(), url.clone(), body).await?;
        match status {
            200..=299 => Ok(answer),
            401 | 403 => Err(format!(
                "authentik refused the API token at {method} {url} (HTTP {status}: {})",
                answer["detail"].as_str().unwrap_or_default()
            )),
            _ => Err(format!("{method} {url} answered {status}: {answer}")),
        }
    }

    /// `GET` a path.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        self.expect(Method::GET, path, query, None).await
    }

    /// The user named `username` (exactly), if there is one.
    pub async fn user(&self, username: &str) -> Result<Option<Value>, String> {
        let found = self.get("api/v3/core/users/", &[("username", username)]).await?;
        Ok(found["results"].as_array().and_then(|r| r.iter().find(|u| u["username"] == username)).cloned())
    }

    /// Every item of a paginated list, page after page.
    pub async fn all_pages(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        for page in 1..=1000u32 {
            let answer = self.get(path, &[("page", &page.to_string()), ("page_size", "100")]).await?;
            out.extend(answer["results"].as_array().cloned().unwrap_or_default());
            if answer["pagination"]["next"].as_u64().unwrap_or(0) == 0 {
                break;
            }
        }
        Ok(out)
    }
}
