//! The baseline for the api driver: the same login as a bare, hand-written HTTP chain —
//! authorize → authentik's flow executor (identification, password) → authorize → token, and,
//! with `userinfo`, the userinfo request ChatGPT makes too — with one cookie-keeping reqwest
//! client and nothing checked beyond getting an ID token.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

/// What the chain needs to know.
pub(crate) struct Login<'a> {
    pub(crate) authentik: &'a Url,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
}

/// Signs in and exchanges the code (then asks userinfo, with `userinfo`); returns the ID token's
/// length (proof that one came back).
pub(crate) async fn login(l: &Login<'_>, timeout: Duration, userinfo: bool) -> Result<usize, String> {
    let callback = l.redirect_uri.to_string();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(timeout)
        // Follow redirects, but stop at the relying party's callback: the code is in its URL.
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().as_str().starts_with(&callback) { attempt.stop() } else { attempt.follow() }
        }))
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = ak_protocol::jose::random_token(48);
    let authorize = l.authentik.join("application/o/authorize/").map_err(|e| e.to_string())?;
    let flow_page = http
        .get(authorize)
        .query(&[
            ("response_type", "code"),
            ("client_id", l.client_id),
            ("redirect_uri", l.redirect_uri),
            ("scope", "openid profile email"),
            ("state", &ak_protocol::jose::random_token(16)),
            ("nonce", &ak_protocol::jose::random_token(16)),
            ("code_challenge", &ak_protocol::jose::pkce_s256(&verifier)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .url()
        .clone();
    // /if/flow/<slug>/?<query>: the executor's API takes the same slug and the query as `query`.
    let slug = flow_page.path_segments().and_then(|mut s| s.nth(2)).ok_or("no flow page")?.to_string();
    let mut executor = l.authentik.join(&format!("api/v3/flows/executor/{slug}/")).map_err(|e| e.to_string())?;
    executor.query_pairs_mut().append_pair("query", flow_page.query().unwrap_or_default());
    let mut challenge = json_of(http.get(executor.clone())).await?;
    let code = loop {
        let answer = match challenge["component"].as_str().unwrap_or_default() {
            "ak-stage-identification" => json!({"component": "ak-stage-identification", "uid_field": l.username}),
            "ak-stage-password" => json!({"component": "ak-stage-password", "password": l.password}),
            "xak-flow-redirect" => {
                let to = l.authentik.join(challenge["to"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
                let back = http.get(to).send().await.map_err(|e| e.to_string())?;
                let location = back
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("no redirect to the callback")?;
                let location = Url::parse(location).map_err(|e| e.to_string())?;
                break location
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .ok_or("no code")?;
            }
            other => return Err(format!("unexpected stage {other}: {challenge}")),
        };
        challenge = json_of(http.post(executor.clone()).json(&answer)).await?;
    };
    let token = l.authentik.join("application/o/token/").map_err(|e| e.to_string())?;
    let tokens = json_of(http.post(token).basic_auth(l.client_id, Some(l.client_secret)).form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", l.redirect_uri),
        ("code_verifier", &verifier),
    ]))
    .await?;
    if userinfo {
        let endpoint = l.authentik.join("application/o/userinfo/").map_err(|e| e.to_string())?;
        let access_token = tokens["access_token"].as_str().ok_or("no access token")?;
        let info = json_of(http.get(endpoint).bearer_auth(access_token)).await?;
        info["sub"].as_str().ok_or_else(|| format!("no sub in userinfo: {info}"))?;
    }
    tokens["id_token"].as_str().map(str::len).ok_or_else(|| format!("no ID token: {tokens}"))
}

/// Sends a request and reads its JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())
}
