//! A virtual authenticator in the browser, through WebDriver's WebAuthn extension (W3C WebAuthn
//! §11, which chromedriver implements): the browser driver's passkey.
//!
//! The authenticator is a CTAP2 platform authenticator (internal transport, resident keys, user
//! verification, a user who always consents), added to the session before the sign-in and
//! removed after it. It holds the fixture user's credential only for the moment it is used: the
//! credential is imported from the passkey file (see `drive::passkey`) under the file's lock, the
//! page asserts once, and the counter the authenticator reached is written back before the lock
//! goes, so the api driver, another run and this one never send the same counter.
//!
//! Chromium refuses an IP address as a relying party ID (`SecurityError`), as WebAuthn asks: the
//! browser reaches authentik by a name for a passkey to work (`https://auth.example.com`, or
//! `http://localhost:9000`, a secure context without TLS).

use fantoccini::Client;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use http::Method;
use serde_json::{Value, json};

use ak_protocol::webauthn::Passkey;

/// One WebAuthn extension command: `method` on `session/{id}/webauthn/{path}`. Its body may
/// hold a private key: `Debug` leaves it out.
struct Command {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("method", &self.method).field("path", &self.path).finish_non_exhaustive()
    }
}

impl WebDriverCompatibleCommand for Command {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/webauthn/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

/// A virtual authenticator of one browser session. Its calls answer WebDriver's errors as they
/// are, for the driver to bound and word them as its other commands.
#[derive(Debug)]
pub struct VirtualAuthenticator {
    id: String,
}

type Answer<T> = Result<T, CmdError>;

impl VirtualAuthenticator {
    /// Adds one to the session, holding no credential: a page asking for a passkey is told at
    /// once that there is none (`NotAllowedError`), as by a person who dismisses the prompt.
    pub async fn add(client: &Client) -> Answer<Self> {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        let answer = client
            .issue_cmd(Command { method: Method::POST, path: "authenticator".into(), body: Some(options) })
            .await?;
        match answer.as_str() {
            Some(id) => Ok(Self { id: id.to_string() }),
            None => Err(CmdError::NotJson(format!("no authenticator id in {answer}"))),
        }
    }

    /// Imports `passkey`'s credential (its key, id, RP ID, user handle and counter).
    pub async fn import(&self, client: &Client, passkey: &Passkey) -> Answer<()> {
        let credential = json!({
            "credentialId": passkey.credential_id,
            "isResidentCredential": passkey.user_handle.is_some(),
            "rpId": passkey.rp_id,
            "privateKey": passkey.private_key,
            "userHandle": passkey.user_handle,
            "signCount": passkey.sign_count,
        });
        let path = format!("authenticator/{}/credential", self.id);
        client.issue_cmd(Command { method: Method::POST, path, body: Some(credential) }).await.map(drop)
    }

    /// The counter the authenticator reached with `credential_id` (none when it holds no such
    /// credential).
    pub async fn sign_count(&self, client: &Client, credential_id: &str) -> Answer<Option<u32>> {
        let path = format!("authenticator/{}/credentials", self.id);
        let answer = client.issue_cmd(Command { method: Method::GET, path, body: None }).await?;
        let same = |c: &&Value| {
            let id = c["credentialId"].as_str().unwrap_or_default();
            id.trim_end_matches('=') == credential_id.trim_end_matches('=')
        };
        let count = answer.as_array().and_then(|all| all.iter().find(same)).and_then(|c| c["signCount"].as_u64());
        Ok(count.and_then(|n| u32::try_from(n).ok()))
    }

    /// Removes every credential it holds.
    pub async fn forget(&self, client: &Client) -> Answer<()> {
        let path = format!("authenticator/{}/credentials", self.id);
        client.issue_cmd(Command { method: Method::DELETE, path, body: None }).await.map(drop)
    }

    /// Removes it from the session.
    pub async fn remove(&self, client: &Client) -> Answer<()> {
        let path = format!("authenticator/{}", self.id);
        client.issue_cmd(Command { method: Method::DELETE, path, body: None }).await.map(drop)
    }
}

/// Why a browser cannot use a passkey for `rp_id`, when it cannot: an IP address is no relying
/// party ID (WebAuthn §5.1.4.1, Chromium's `SecurityError`).
pub fn unusable_rp_id(rp_id: &str) -> Option<String> {
    rp_id.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok().map(|_| {
        format!(
            "the passkey belongs to relying party `{rp_id}`, an IP address, which a browser refuses for WebAuthn: \
             reach authentik by a name (`http://localhost:9000` for a local authentik, its https name otherwise) \
             and enroll the passkey through that name (`ak-e2e provision` with the same target)"
        )
    })
}

/// What is wrong when authentik, reached at `authentik`, asks for passkeys of `rp_id`, neither
/// its host nor a parent domain of it: authentik takes the site from the `Host` header it
/// receives, so a reverse proxy that does not pass the browser's on gives it another.
pub fn misfit(rp_id: &str, authentik: &url::Url) -> Option<String> {
    let host = authentik.host_str()?;
    let fits = host == rp_id || host.ends_with(&format!(".{rp_id}"));
    (!fits).then(|| {
        format!(
            "authentik asks for RP ID `{rp_id}` on a page at {host}; it takes its WebAuthn site from the Host header \
             it gets: a reverse proxy before it must pass the browser's Host on"
        )
    })
}
