//! The fidelity corpus: what an authentik answers along the ChatGPT login, recorded as *shapes*
//! — every key, every value's type, the literal values that mean something (components, error
//! codes, statuses, supported lists), and placeholders for what changes on every request or
//! install (URLs of the target, tokens, keys, times, ids). Recorded from a real authentik and
//! committed under `tests/fidelity/`; a hermetic test records the stand-in the same way and
//! compares the two shape by shape, so a stand-in answer that drifts from real authentik fails.
//! Re-recording against a newer authentik shows what changed (`cargo run -p ak-e2e --example
//! record-fidelity -- URL > tests/fidelity/authentik-<version>.json`).

use std::collections::BTreeMap;
use std::time::Duration;

use ak_protocol::authentik::{Answer, paths};
use ak_protocol::secret::Secret;
use serde_json::{Map, Value, json};
use url::Url;

use crate::environment::flow_client::FlowClient;

/// What the recording needs to know of the target.
#[derive(Debug, Clone)]
pub struct Subject {
    /// authentik's base URL.
    pub authentik: Url,
    /// The application's slug.
    pub slug: String,
    /// Its provider's client id and secret.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// A redirect URI the provider allows.
    pub redirect_uri: String,
    /// A fixture user without MFA, and their password.
    pub username: String,
    /// The user's password, typed at authentik's password stage.
    pub password: String,
    /// The deadline of each request.
    pub timeout: Duration,
    /// A fixture user with a passkey as their second factor, when the corpus is to have the
    /// WebAuthn answers.
    pub passkey: Option<FactorUser>,
    /// A fixture user with recovery codes as their only second factor, when the corpus is to
    /// have the static device's answers.
    pub recovery: Option<FactorUser>,
}

/// A user whose second factor is kept in a file (a passkey, recovery codes), and the file.
#[derive(Debug, Clone)]
pub struct FactorUser {
    /// The username.
    pub username: String,
    /// The password, typed before the MFA stage.
    pub password: String,
    /// The file (see `drive::passkey`, `drive::recovery`).
    pub file: std::path::PathBuf,
}

/// Keys whose values change on every request, login or install.
const VOLATILE: &[&str] = &[
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "jti",
    "sub",
    "at_hash",
    "n",
    "e",
    "kid",
    "x5c",
    "x5t",
    "x5t#S256",
    "request_id",
    "pending_user_avatar",
    "access_token",
    "id_token",
    "refresh_token",
    "state",
    "background",
    "token",
    "uid",
    "device_uid",
];

/// Keys whose values are lists of secrets: each item is masked (the recovery codes shown).
const VOLATILE_ITEMS: &[&str] = &["codes"];

/// Keys whose string values change on every request or install, but whose objects are kept:
/// WebAuthn challenges and ids (`challenge` is also the key of a device's options object), the RP
/// ID (the host authentik was reached at), a device's last use.
const VOLATILE_TEXT: &[&str] = &["challenge", "id", "rpId", "last_used"];

/// The shape of a JSON value: objects keep their keys, strings are masked where volatile (and
/// the target's URL becomes `<authentik>`), lists of strings are sorted (authentik orders them
/// by its database), numbers become `<number>`.
pub fn shape(value: &Value, base: &str) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let volatile =
                    VOLATILE.contains(&key.as_str()) || (VOLATILE_TEXT.contains(&key.as_str()) && v.is_string());
                let masked = if volatile && !v.is_null() {
                    json!(format!("<{}>", kind(v)))
                } else if let (true, Some(items)) = (VOLATILE_ITEMS.contains(&key.as_str()), v.as_array()) {
                    let mut kinds: Vec<String> = items.iter().map(|i| format!("<{}>", kind(i))).collect();
                    kinds.dedup();
                    json!(kinds)
                } else if let (true, Some(scopes)) = (key == "scope", v.as_str()) {
                    // A set of scopes, in the order of authentik's database.
                    let mut scopes: Vec<&str> = scopes.split_whitespace().collect();
                    scopes.sort_unstable();
                    json!(scopes.join(" "))
                } else {
                    shape(v, base)
                };
                out.insert(key.clone(), masked);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut shaped: Vec<Value> = items.iter().map(|i| shape(i, base)).collect();
            if shaped.iter().all(Value::is_string) {
                shaped.sort_by_key(|v| v.to_string());
                shaped.dedup();
            }
            Value::Array(shaped)
        }
        Value::String(s) => json!(s.replace(base, "<authentik>/")),
        Value::Number(_) => json!("<number>"),
        other => other.clone(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// Records the corpus: discovery, JWKS, the login's flow-executor challenges, the plain error
/// pages, the token endpoint's answers, the ID token and userinfo.
pub async fn record(subject: &Subject) -> Result<Value, String> {
    let mut recorder = Recorder::new(subject)?;
    recorder.record_discovery().await?;
    recorder.record_error_pages().await?;
    let mut session = FlowClient::new(&subject.authentik, subject.timeout)?;
    recorder.record_challenges(&mut session).await?;
    recorder.record_code_flow(&mut session).await?;
    if let Some(user) = &subject.passkey {
        recorder.record_passkey(user).await?;
        recorder.record_passkey_login(user).await?;
    }
    if let Some(user) = &subject.recovery {
        recorder.record_recovery(user).await?;
    }
    serde_json::to_value(recorder.corpus).map_err(|e| e.to_string())
}

/// A recording in progress: the target, an HTTP client that never follows redirects, and the
/// corpus so far.
struct Recorder<'a> {
    subject: &'a Subject,
    http: reqwest::Client,
    base: String,
    corpus: BTreeMap<&'static str, Value>,
}

impl<'a> Recorder<'a> {
    /// Builds the client with the subject's per-request deadline; redirects stay unfollowed so
    /// that each answer is recorded as authentik gives it.
    fn new(subject: &'a Subject) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(subject.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { subject, http, base: subject.authentik.as_str().to_string(), corpus: BTreeMap::new() })
    }

    /// `path` resolved against authentik's base URL.
    fn url(&self, path: &str) -> Result<Url, String> {
        self.subject.authentik.join(path).map_err(|e| e.to_string())
    }

    /// GETs `u` and reads its JSON body, with errors naming the URL.
    async fn get_json(&self, u: Url) -> Result<(u16, Value), String> {
        let r = self.http.get(u.clone()).send().await.map_err(|e| format!("GET {u}: {e}"))?;
        let status = r.status().as_u16();
        let body = ak_protocol::http::read_json(r, self.subject.timeout).await.map_err(|e| format!("GET {u}: {e}"))?;
        Ok((status, body))
    }

    /// Records an answer under `name` as its status and the shape of its body.
    fn insert_answer(&mut self, name: &'static str, status: u16, body: &Value) {
        self.corpus.insert(name, json!({"status": status, "body": shape(body, &self.base)}));
    }

    /// Records the discovery document, then the JWKS it points to.
    async fn record_discovery(&mut self) -> Result<(), String> {
        let discovery_url = self.url(&paths::discovery(&self.subject.slug))?;
        let (status, discovery) = self.get_json(discovery_url).await?;
        self.insert_answer("discovery", status, &discovery);
        let jwks_uri = discovery["jwks_uri"].as_str().ok_or("discovery has no jwks_uri")?;
        let (status, jwks) = self.get_json(Url::parse(jwks_uri).map_err(|e| e.to_string())?).await?;
        self.insert_answer("jwks", status, &jwks);
        Ok(())
    }

    /// Records the plain pages: an unknown client, an unregistered redirect URI.
    async fn record_error_pages(&mut self) -> Result<(), String> {
        let subject = self.subject;
        for (name, client_id, redirect) in [
            ("page_client_id_error", "ak-e2e-no-such-client", subject.redirect_uri.as_str()),
            ("page_redirect_uri_error", subject.client_id.as_str(), "https://ak-e2e.invalid/callback"),
        ] {
            let mut u = self.url(paths::AUTHORIZE)?;
            u.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", redirect)
                .append_pair("scope", "openid")
                .append_pair("state", "s");
            let r = self.http.get(u).send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let page = ak_protocol::http::read_text(r, subject.timeout).await.map_err(|e| e.to_string())?;
            self.corpus.insert(
                name,
                json!({
                    "status": status,
                    "title": ak_protocol::authentik::page_title(&page),
                    "message": ak_protocol::authentik::page_message(&page),
                }),
            );
        }
        Ok(())
    }

    /// Records the login's challenges in `session`, with a wrong password's before the right one.
    async fn record_challenges(&mut self, session: &mut FlowClient) -> Result<(), String> {
        const FLOW: &str = ak_protocol::authentik::flows::AUTHENTICATION;
        let identification = session.challenge_json(FLOW, "", None).await?;
        self.corpus.insert("challenge_identification", shape(&identification, &self.base));
        let id = Answer::Identification { uid_field: self.subject.username.clone() };
        let password = session.challenge_json(FLOW, "", Some(&id)).await?;
        self.corpus.insert("challenge_password", shape(&password, &self.base));
        let wrong = Answer::Password { password: Secret::new("ak-e2e-not-the-password") };
        let refused = session.challenge_json(FLOW, "", Some(&wrong)).await?;
        self.corpus.insert("challenge_password_refused", shape(&refused, &self.base));
        let right = Answer::Password { password: Secret::new(self.subject.password.clone()) };
        let done = session.challenge_json(FLOW, "", Some(&right)).await?;
        self.corpus.insert("challenge_done", shape(&done, &self.base));
        Ok(())
    }

    /// Signs `user` in up to the MFA stage in `session`; its challenge.
    async fn to_mfa(session: &mut FlowClient, user: &FactorUser) -> Result<Value, String> {
        const FLOW: &str = ak_protocol::authentik::flows::AUTHENTICATION;
        session.challenge_json(FLOW, "", None).await?;
        let id = Answer::Identification { uid_field: user.username.clone() };
        session.challenge_json(FLOW, "", Some(&id)).await?;
        let password = Answer::Password { password: Secret::new(user.password.clone()) };
        Ok(session.challenge_json(FLOW, "", Some(&password)).await?)
    }

    /// Records the passkey answers: the MFA stage offering the user's passkey and its answer to
    /// an assertion; the WebAuthn setup flow's registration options; then, in a second login,
    /// the MFA stage's refusals of a tampered assertion (another challenge, another origin, a
    /// counter that did not grow).
    async fn record_passkey(&mut self, user: &FactorUser) -> Result<(), String> {
        const FLOW: &str = ak_protocol::authentik::flows::AUTHENTICATION;
        let origin = self.subject.authentik.origin().ascii_serialization();
        // Held for the whole recording: its counters reach authentik in order, and the last is
        // kept whatever happens in between.
        let _turn = crate::drive::passkey::hold(&user.file)?;
        let mut passkey = crate::drive::passkey::read(&user.file)?;
        let options = |challenge: &Value| -> Result<Value, String> {
            let read = ak_protocol::authentik::Challenge::from(challenge.clone()).webauthn_options();
            read.ok_or_else(|| format!("`{}`'s MFA stage offers no passkey", user.username))
        };
        let answer = |webauthn: Value| Answer::AuthenticatorValidateWebAuthn { webauthn };
        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        let mfa = Self::to_mfa(&mut session, user).await?;
        self.corpus.insert("challenge_mfa_webauthn", shape(&mfa, &self.base));
        let assertion = passkey.get(&options(&mfa)?, &origin).map_err(|e| e.to_string())?;
        let done = session.challenge_json(FLOW, "", Some(&answer(assertion))).await?;
        crate::drive::passkey::write(&user.file, &passkey)?;
        self.corpus.insert("challenge_mfa_webauthn_done", shape(&done, &self.base));
        let setup = session.challenge_json(ak_protocol::authentik::flows::WEBAUTHN_SETUP, "", None).await?;
        self.corpus.insert("challenge_webauthn_setup", shape(&setup, &self.base));

        let accepted = passkey.sign_count;
        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        let mut mfa = Self::to_mfa(&mut session, user).await?;
        for key in [
            "challenge_mfa_webauthn_wrong_challenge",
            "challenge_mfa_webauthn_wrong_origin",
            "challenge_mfa_webauthn_replayed_counter",
        ] {
            let mut asked = options(&mfa)?;
            let tampered = if key.ends_with("wrong_challenge") {
                asked["challenge"] = json!(ak_protocol::webauthn::b64(b"not the challenge authentik sent"));
                passkey.get(&asked, &origin)
            } else if key.ends_with("wrong_origin") {
                passkey.get_claiming(&asked, "https://ak-e2e.invalid")
            } else {
                // The counter of the last assertion authentik accepted, sent again.
                let stale = accepted.saturating_sub(1);
                ak_protocol::webauthn::Passkey { sign_count: stale, ..passkey.clone() }.get(&asked, &origin)
            }
            .map_err(|e| e.to_string())?;
            mfa = session.challenge_json(FLOW, "", Some(&answer(tampered))).await?;
            self.corpus.insert(key, shape(&mfa, &self.base));
        }
        crate::drive::passkey::write(&user.file, &passkey)
    }

    /// Records the passkey sign-in as the first factor, in ak-e2e's flow `ak-e2e-passkey-login`
    /// (blueprints/chatgpt-variants.yaml): the identification stage offering a passkey, its
    /// refusal of an assertion for another origin, its answer to the user's passkey; then, in a
    /// second session, the deny stage after a typed name.
    async fn record_passkey_login(&mut self, user: &FactorUser) -> Result<(), String> {
        const FLOW: &str = "ak-e2e-passkey-login";
        let origin = self.subject.authentik.origin().ascii_serialization();
        let _turn = crate::drive::passkey::hold(&user.file)?;
        let mut passkey = crate::drive::passkey::read(&user.file)?;
        let options = |challenge: &Value| -> Result<Value, String> {
            let read = ak_protocol::authentik::Challenge::from(challenge.clone()).passkey_options();
            read.ok_or_else(|| format!("the identification stage of `{FLOW}` offers no passkey"))
        };
        let answer = |passkey: Value| Answer::IdentificationPasskey { passkey };
        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        let shown = session.challenge_json(FLOW, "", None).await?;
        self.corpus.insert("challenge_passkey_login", shape(&shown, &self.base));
        let tampered = passkey.get_claiming(&options(&shown)?, "https://ak-e2e.invalid").map_err(|e| e.to_string())?;
        let refused = session.challenge_json(FLOW, "", Some(&answer(tampered))).await?;
        self.corpus.insert("challenge_passkey_login_wrong_origin", shape(&refused, &self.base));
        let assertion = passkey.get(&options(&refused)?, &origin).map_err(|e| e.to_string())?;
        let done = session.challenge_json(FLOW, "", Some(&answer(assertion))).await;
        crate::drive::passkey::write(&user.file, &passkey)?;
        self.corpus.insert("challenge_passkey_login_done", shape(&done?, &self.base));

        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        session.challenge_json(FLOW, "", None).await?;
        let typed = Answer::Identification { uid_field: user.username.clone() };
        let denied = session.challenge_json(FLOW, "", Some(&typed)).await?;
        self.corpus.insert("challenge_passkey_login_denied", shape(&denied, &self.base));
        Ok(())
    }

    /// Records the recovery codes' answers: the MFA stage offering the user's static device, its
    /// answer to a code (one spent from the file), the static setup flow's codes (not
    /// confirmed: no device is added); then, in a second login, its refusal of the same code.
    async fn record_recovery(&mut self, user: &FactorUser) -> Result<(), String> {
        const FLOW: &str = ak_protocol::authentik::flows::AUTHENTICATION;
        let code = crate::drive::recovery::take(&user.file, &user.username, self.subject.timeout).await?;
        let answer = || Answer::AuthenticatorValidate { code: Secret::new(code.clone()) };
        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        let mfa = Self::to_mfa(&mut session, user).await?;
        self.corpus.insert("challenge_mfa_static", shape(&mfa, &self.base));
        let done = session.challenge_json(FLOW, "", Some(&answer())).await?;
        self.corpus.insert("challenge_mfa_static_done", shape(&done, &self.base));
        let setup = session.challenge_json(ak_protocol::authentik::flows::STATIC_SETUP, "", None).await?;
        self.corpus.insert("challenge_static_setup", shape(&setup, &self.base));
        let mut session = FlowClient::new(&self.subject.authentik, self.subject.timeout)?;
        Self::to_mfa(&mut session, user).await?;
        let reused = session.challenge_json(FLOW, "", Some(&answer())).await?;
        self.corpus.insert("challenge_mfa_static_reused", shape(&reused, &self.base));
        Ok(())
    }

    /// Records the code flow as ChatGPT runs it, signed in through `session`: the token answer,
    /// the same code's second exchange, the ID token and userinfo.
    async fn record_code_flow(&mut self, session: &mut FlowClient) -> Result<(), String> {
        let verifier = ak_protocol::jose::random_token(48);
        let authorize = self.authorize_url(&verifier)?;
        let code = session.follow_to(&authorize, &self.subject.redirect_uri).await?;
        let token_url = self.url(paths::TOKEN)?;
        let (status, tokens) = self.exchange(&token_url, &code, &verifier).await?;
        self.insert_answer("token", status, &tokens);
        let (status, again) = self.exchange(&token_url, &code, &verifier).await?;
        self.insert_answer("token_code_reused", status, &again);
        let id_token = tokens["id_token"].as_str().ok_or("the token answer has no id_token")?;
        let jwt = ak_protocol::jose::Jwt::parse(id_token)?;
        self.corpus.insert(
            "id_token",
            json!({"header": shape(&Value::Object(jwt.header.clone()), &self.base), "claims": shape(&Value::Object(jwt.claims.clone()), &self.base)}),
        );
        let access = tokens["access_token"].as_str().ok_or("the token answer has no access_token")?;
        self.record_userinfo(access).await
    }

    /// The authorize URL ChatGPT sends the browser to: PKCE S256 over `verifier`, fixed state
    /// and nonce.
    fn authorize_url(&self, verifier: &str) -> Result<Url, String> {
        let mut authorize = self.url(paths::AUTHORIZE)?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.subject.client_id)
            .append_pair("redirect_uri", &self.subject.redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", "ak-e2e-state")
            .append_pair("nonce", "ak-e2e-nonce")
            .append_pair("code_challenge", &ak_protocol::jose::pkce_s256(verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(authorize)
    }

    /// Exchanges `code` at the token endpoint with the client's secret as basic auth.
    async fn exchange(&self, token_url: &Url, code: &str, verifier: &str) -> Result<(u16, Value), String> {
        let subject = self.subject;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", subject.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let r = self
            .http
            .post(token_url.clone())
            .basic_auth(&subject.client_id, Some(subject.client_secret.clone()))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("POST {token_url}: {e}"))?;
        let status = r.status().as_u16();
        let body = ak_protocol::http::read_json(r, subject.timeout).await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// Records the userinfo endpoint's answer to the bearer `access` token.
    async fn record_userinfo(&mut self, access: &str) -> Result<(), String> {
        let r = self
            .http
            .get(self.url(paths::USERINFO)?)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| format!("userinfo: {e}"))?;
        let status = r.status().as_u16();
        let userinfo = ak_protocol::http::read_json(r, self.subject.timeout).await.map_err(|e| e.to_string())?;
        self.insert_answer("userinfo", status, &userinfo);
        Ok(())
    }
}

/// Where two corpora differ, one line per difference, by JSON path.
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", expected, actual, &mut out);
    out
}

fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match a.get(k) {
                    Some(av) => diff(&p, ev, av, out),
                    None => out.push(format!("{p}: missing (real authentik has {ev})")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.push(format!("{path}/{k}: not in real authentik's answer (the stand-in has {av})"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}/{i}"), ev, av, out);
            }
        }
        (e, a) if e != a => out.push(format!("{path}: real authentik {e}, the stand-in {a}")),
        _ => {}
    }
}
