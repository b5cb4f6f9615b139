//! One browser-less session with authentik, the one every HTTP walk of the harness uses (the api
//! driver, the pre-run sign-in check, `provision`, the fidelity corpus): a cookie jar,
//! authentik's CSRF header on every answer it is sent, the flow executor's redirects to itself
//! followed, authentik's clock read from its `Date` header, every request recorded as a hop
//! with its headers and timing, and every request and body within the deadline and size cap.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ak_protocol::authentik::{Answer, paths};
use ak_protocol::redact::{redact, redact_location};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Method, Response};
use serde_json::Value;
use url::Url;

use super::DriveError;
use crate::result::{Exchange, Hop, Timings};
use crate::scenario::HopKind;

/// Most redirects followed in a row, by a navigation or by the executor to itself.
pub const MAX_REDIRECTS: usize = 20;

/// What a request carries.
pub enum Body<'a> {
    /// Nothing (a GET).
    None,
    /// A form, as a browser posts it.
    Form(&'a [(&'a str, &'a str)]),
    /// An answer to a flow stage (JSON, with authentik's CSRF header).
    Answer(&'a Answer),
}

/// The session: see the module's documentation.
pub struct Session {
    http: reqwest::Client,
    jar: Arc<Jar>,
    /// authentik's base URL (ending in `/`).
    authentik: Url,
    timeout: Duration,
    /// Every request so far, in order.
    pub hops: Vec<Hop>,
    /// authentik's clock at its last answer (its `Date` header).
    pub clock: Option<SystemTime>,
}

impl Session {
    /// A new session (no cookies) with authentik at `authentik`; every request has `timeout`.
    pub fn new(authentik: &Url, timeout: Duration) -> Result<Self, DriveError> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| DriveError(format!("cannot build the HTTP client: {e}")))?;
        let mut authentik = authentik.clone();
        if !authentik.path().ends_with('/') {
            authentik.set_path(&format!("{}/", authentik.path()));
        }
        Ok(Self { http, jar, authentik, timeout, hops: Vec::new(), clock: None })
    }

    /// The same session without its cookies, as another browser would start: its exchanges
    /// so far stay.
    pub fn forget_cookies(&mut self) -> Result<(), DriveError> {
        let fresh = Self::new(&self.authentik, self.timeout)?;
        (self.http, self.jar) = (fresh.http, fresh.jar);
        Ok(())
    }

    /// authentik's base URL.
    pub fn authentik(&self) -> &Url {
        &self.authentik
    }

    /// The deadline of each request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A URL below authentik's base (a path of [`paths`]).
    pub fn url(&self, path: &str) -> Result<Url, DriveError> {
        self.authentik.join(path).map_err(|e| DriveError(format!("{path} below {}: {e}", self.authentik)))
    }

    /// A cookie the jar would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<String> {
        let header = self.jar.cookies(url)?;
        ak_protocol::http::cookie_in(header.to_str().ok()?, name).map(String::from)
    }

    /// A request builder of this session's client (its cookies, no redirects followed).
    pub fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends `method url` with `body`, as a page (`api: false`, HTML accepted) or an API call,
    /// and records the hop (`kind`: what the URL is).
    pub async fn send(
        &mut self,
        method: Method,
        url: Url,
        body: Body<'_>,
        api: bool,
        kind: Option<HopKind>,
    ) -> Result<Response, DriveError> {
        let mut request = self
            .request(method.clone(), url.clone())
            .header("accept", if api { "application/json" } else { "text/html" });
        match body {
            Body::None => {}
            Body::Form(form) => request = request.form(form),
            Body::Answer(answer) => {
                request = request.json(answer);
                if let Some(csrf) = self.cookie(&url, "authentik_csrf") {
                    request = request.header("X-authentik-CSRF", csrf);
                }
            }
        }
        self.record(request, api, kind).await.map_err(|e| {
            let why = ak_protocol::http::describe(&e, self.timeout);
            DriveError(format!("{method} {} failed: {why}", redact(&url)))
        })
    }

    /// Sends a built request and records it as a hop: its headers (with the cookies the jar adds)
    /// and timing for the trace bundle (reqwest tells the time to the answer's headers only: that
    /// is `wait`), and authentik's clock.
    pub async fn record(
        &mut self,
        request: reqwest::RequestBuilder,
        api: bool,
        kind: Option<HopKind>,
    ) -> Result<Response, reqwest::Error> {
        let request = request.build()?;
        let (method, url) = (request.method().to_string(), request.url().clone());
        let mut request_headers = header_list(request.headers());
        if let Some(cookies) = self.jar.cookies(&url).and_then(|c| c.to_str().ok().map(String::from)) {
            request_headers.push(("cookie".into(), cookies));
        }
        let started_ms = unix_ms();
        let clock = std::time::Instant::now();
        let response = self.http.execute(request).await?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        if url.origin() == self.authentik.origin()
            && let Some(date) = header("date").and_then(|d| httpdate::parse_http_date(d).ok())
        {
            self.clock = Some(date);
        }
        let exchange = Exchange {
            started_ms,
            request_headers,
            response_headers: header_list(response.headers()),
            http_version: format!("{:?}", response.version()),
            status_text: response.status().canonical_reason().unwrap_or_default().to_string(),
            mime_type: header("content-type").unwrap_or_default().to_string(),
            timings: Timings { wait: clock.elapsed().as_secs_f64() * 1000.0, ..Timings::default() },
        };
        self.hops.push(Hop {
            method,
            url: redact(&url),
            status: response.status().as_u16(),
            location: header("location").map(|l| redact_location(&url, l)),
            kind,
            api,
            exchange: Some(exchange),
        });
        Ok(response)
    }

    /// GETs (no answer) or POSTs (an answer) the executor of flow `slug` for a flow page opened
    /// with `query`, following its redirects to itself; the challenge as authentik wrote it.
    pub async fn executor(&mut self, slug: &str, query: &str, answer: Option<&Answer>) -> Result<Value, DriveError> {
        let mut url = self.url(&paths::executor(slug))?;
        url.query_pairs_mut().append_pair("query", query);
        let mut response = match answer {
            Some(answer) => self.send(Method::POST, url.clone(), Body::Answer(answer), true, None).await?,
            None => self.send(Method::GET, url.clone(), Body::None, true, None).await?,
        };
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                let status = response.status();
                let text = ak_protocol::http::read_text(response, self.timeout).await.map_err(|e| {
                    DriveError(format!("authentik's flow executor for `{slug}` answered {status} but {e}"))
                })?;
                if !status.is_success() {
                    return Err(DriveError(format!(
                        "authentik's flow executor answered {status} for flow `{slug}`: {}",
                        text.chars().take(200).collect::<String>()
                    )));
                }
                return serde_json::from_str::<Value>(&text).map_err(|e| {
                    DriveError(format!("authentik's flow executor for `{slug}` answered {status} but not JSON ({e})"))
                });
            }
            response = self.send(Method::GET, url.clone(), Body::None, true, None).await?;
        }
        Err(DriveError(format!("authentik's flow executor for `{slug}` kept redirecting")))
    }
}

/// Headers as name and value pairs, in order (values that are not text are left out), for the
/// trace bundle (redacted when it is written).
fn header_list(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect()
}

/// Now, in milliseconds since the Unix epoch.
fn unix_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}
