//! The `api` driver: no browser. A cookie-keeping HTTP client follows the login as a browser
//! would — ChatGPT's "Log in", the redirect to authentik, the flow executor API (identification,
//! password, TOTP, consent), the redirect back, the landing — recording every hop. Every request
//! has a deadline.

use ak_protocol::authentik::{Answer, Challenge, ChallengeKind, component, paths};

use reqwest::{Method, Response};
use serde_json::Value;
use url::Url;

use super::session::{Body, MAX_REDIRECTS, Session};
use super::throttle::{self, Code};
use super::{DriveError, MAX_STAGES};
use crate::environment::{Environment, Workspace};
use crate::observation::Position;
use crate::scenario::{Consent, HopKind};
use ak_protocol::authentik::Stage;
use ak_protocol::redact::redact;
use ak_protocol::secret::Secret;

/// A user's credentials for one sign-in.
pub struct Credentials<'a> {
    /// Typed at identification.
    pub uid: &'a str,
    /// Typed at the password stage.
    pub password: &'a str,
    /// TOTP secret bytes, if the user has a device.
    pub totp: Option<Vec<u8>>,
    /// The file of the user's passkey (see `drive::passkey`), if they have one: answers
    /// authentik's WebAuthn challenge, before a TOTP code.
    pub passkey: Option<std::path::PathBuf>,
    /// The passkey is the first factor: given at identification (which must offer it), with no
    /// name typed; a password or MFA stage after it is left unanswered.
    pub passkey_first: bool,
    /// A recovery code: typed at the MFA stage instead of the user's other factors.
    pub code: Option<String>,
    /// The user's code-based devices: what authentik's throttling of a typed code touches.
    pub devices: super::throttle::Devices,
    /// What to do at a consent stage.
    pub consent: Consent,
}

/// One scenario's browser-less session.
pub struct ApiDriver<'e> {
    env: &'e Environment,
    ws: &'e Workspace,
    /// The session with authentik (and ChatGPT): its cookies and every exchange so far.
    pub session: Box<Session>,
    /// Where the session stands.
    pub position: Position,
    /// The `state` of the authorization request ChatGPT sent, to find its record.
    pub authorize_state: Option<String>,
    /// The authorization request the harness made itself, as the OAuth client.
    pub client: Option<ClientRequest>,
    /// The authentik stages shown so far, in order (a stage shown again counts again).
    pub stages: Vec<String>,
    /// See [`super::Seen::refused`].
    pub refused: Option<String>,
    /// The flow executor's last challenge, whole (the consent stage's answer carries its token).
    challenge: Option<Challenge>,
    /// The discovery document, once fetched (the code exchange and the ID token checks both
    /// need it).
    discovery: Option<Value>,
}

/// An authorization request the harness made as the OAuth client (`authorize` step), and the
/// code authentik answered with. Kept in memory only; never reported.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// `state` sent.
    pub state: Option<String>,
    /// `nonce` sent.
    pub nonce: Option<String>,
    /// The PKCE verifier, when a challenge was sent (a secret: never shown).
    pub verifier: Option<Secret>,
    /// `redirect_uri` sent.
    pub redirect_uri: String,
    /// The code from the redirect back, once there is one (a secret: never shown).
    pub code: Option<Secret>,
}

impl<'e> ApiDriver<'e> {
    /// A fresh session (empty cookie jar).
    pub fn new(env: &'e Environment, ws: &'e Workspace) -> Result<Self, DriveError> {
        Ok(Self {
            env,
            ws,
            session: Box::new(Session::new(&env.authentik, env.request_timeout)?),
            position: Position::Start,
            authorize_state: None,
            client: None,
            stages: Vec::new(),
            refused: None,
            challenge: None,
            discovery: None,
        })
    }

    /// Forgets authentik's and ChatGPT's cookies, as another browser would start; the exchanges
    /// so far stay.
    pub fn new_session(&mut self) -> Result<(), DriveError> {
        self.session.forget_cookies()?;
        self.authorize_state = None;
        self.refused = None;
        self.position = Position::Start;
        Ok(())
    }

    /// The workspace this session signs in to.
    pub fn workspace(&self) -> &'e Workspace {
        self.ws
    }

    async fn send(&mut self, method: Method, url: Url, body: Body<'_>, api: bool) -> Result<Response, DriveError> {
        let kind = self.env.classify(&url);
        self.session.send(method, url, body, api, kind).await
    }

    /// Navigates like a browser: follows redirects, then settles on a page.
    async fn navigate(&mut self, method: Method, url: Url, form: Option<&[(&str, &str)]>) -> Result<(), DriveError> {
        let body = form.map_or(Body::None, Body::Form);
        let mut response = self.send(method, url, body, false).await?;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                return self.settle(response).await;
            }
            let from = response.url().clone();
            let Some(location) = response.headers().get("location").and_then(|v| v.to_str().ok()) else {
                return Err(DriveError(format!("{} answered {} without a Location", redact(&from), response.status())));
            };
            let next =
                from.join(location).map_err(|e| DriveError(format!("bad Location from {}: {e}", redact(&from))))?;
            if self.client.is_some() && self.env.classify(&next) == Some(HopKind::ChatgptCallback) {
                // The harness is the client: the redirect back is its answer; ChatGPT never sees it.
                let param = |name: &str| next.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
                if let Some(client) = &mut self.client {
                    client.code = param("code").map(Secret::new);
                }
                self.position = Position::AtCallback {
                    code: param("code").is_some(),
                    error: param("error"),
                    state: param("state"),
                };
                return Ok(());
            }
            if self.env.classify(&next) == Some(HopKind::AuthentikAuthorize) && self.authorize_state.is_none() {
                self.authorize_state = next.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
            }
            response = self.send(Method::GET, next, Body::None, false).await?;
        }
        Err(DriveError(format!("more than {MAX_REDIRECTS} redirects in a row")))
    }

    async fn settle(&mut self, response: Response) -> Result<(), DriveError> {
        let url = response.url().clone();
        let status = response.status().as_u16();
        let kind = self.env.classify(&url);
        let body = ak_protocol::http::read_text(response, self.env.request_timeout)
            .await
            .map_err(|e| DriveError(format!("GET {}: {e}", redact(&url))))?;
        if kind == Some(HopKind::AuthentikFlow) {
            let slug = url.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
            let query = url.query().unwrap_or_default().to_string();
            let challenge = self.executor(&slug, &query, None).await?;
            return self.on_challenge(slug, query, challenge).await;
        }
        self.position = Position::of_page(&url, status, &body, self.env.is_chatgpt(&url));
        Ok(())
    }

    /// Handles a challenge: a redirect is followed, anything else becomes the position.
    async fn on_challenge(&mut self, slug: String, query: String, challenge: Challenge) -> Result<(), DriveError> {
        let to = match &challenge.kind {
            ChallengeKind::Redirect { to } => Some(to.as_str()),
            // A redirect without a usable `to` goes to authentik's root.
            ChallengeKind::Other { component: name } if name == component::REDIRECT => Some("/"),
            _ => None,
        };
        if let Some(to) = to {
            let base = self.env.authentik.clone();
            let next = base.join(to).map_err(|e| DriveError(format!("bad redirect `{to}` from the flow: {e}")))?;
            return Box::pin(self.navigate(Method::GET, next, None)).await;
        }
        let stage = Stage::of(&challenge);
        if !stage.component.is_empty() {
            self.stages.push(stage.component.clone());
        }
        self.position = Position::Flow { slug, query, stage };
        self.challenge = Some(challenge);
        Ok(())
    }

    /// GETs (or POSTs to) the flow executor, following its redirects to itself.
    async fn executor(&mut self, slug: &str, query: &str, answer: Option<Answer>) -> Result<Challenge, DriveError> {
        self.session.executor(slug, query, answer.as_ref()).await.map(Challenge::from)
    }

    /// "Log in" at ChatGPT with an email, or the direct sign-in link.
    pub async fn start_login(&mut self, email: Option<&str>) -> Result<(), DriveError> {
        match email {
            Some(email) => {
                let login = self.ws.chatgpt.login_url();
                self.send(Method::GET, login.clone(), Body::None, false).await?;
                self.navigate(Method::POST, login, Some(&[("email", email)])).await
            }
            None => self.navigate(Method::GET, self.ws.chatgpt.direct_link(), None).await,
        }
    }

    /// Answers authentik's stages until the flow leaves authentik or stops at a stage it cannot
    /// pass (an error shown, access denied, a stage these credentials cannot answer).
    pub async fn sign_in(&mut self, credentials: &Credentials<'_>) -> Result<(), DriveError> {
        for _ in 0..MAX_STAGES {
            let Position::Flow { slug, query, stage } = self.position.clone() else { return Ok(()) };
            if !stage.errors.is_empty() && stage.component != component::IDENTIFICATION {
                return Ok(());
            }
            let component = stage.component;
            let mut turn = None;
            let mut passkey_turn = None;
            let mut typed = None;
            let answer = match component.as_str() {
                component::IDENTIFICATION if credentials.passkey_first => {
                    let options = self.challenge.as_ref().and_then(Challenge::passkey_options);
                    let (Some(file), Some(options)) = (&credentials.passkey, options) else {
                        self.refused = Some(super::passkey::not_offered(credentials.uid));
                        return Ok(());
                    };
                    let signed = self.sign_passkey(file, options, credentials.uid).await?;
                    let Some(signed) = signed else { return Ok(()) };
                    passkey_turn = Some(signed.turn);
                    Answer::IdentificationPasskey { passkey: signed.assertion }
                }
                component::IDENTIFICATION => Answer::Identification { uid_field: credentials.uid.to_string() },
                // After a passkey, a password or second factor asked is the flow's doing: left
                // for the scenario's expectations to name.
                component::PASSWORD | component::AUTHENTICATOR_VALIDATE if credentials.passkey_first => return Ok(()),
                component::PASSWORD => Answer::Password { password: Secret::new(credentials.password) },
                component::AUTHENTICATOR_VALIDATE if credentials.code.is_some() => {
                    let code = credentials.code.clone().unwrap_or_default();
                    let checked =
                        throttle::until_checked(credentials.uid, Code::Recovery, self.env.request_timeout).await;
                    typed = Some((Code::Recovery, checked));
                    Answer::AuthenticatorValidate { code: Secret::new(code) }
                }
                component::AUTHENTICATOR_VALIDATE => {
                    match (&credentials.passkey, self.challenge.as_ref().and_then(Challenge::webauthn_options)) {
                        (Some(file), Some(options)) => {
                            let Some(signed) = self.sign_passkey(file, options, credentials.uid).await? else {
                                return Ok(());
                            };
                            // Held until authentik has answered: counters reach it in order.
                            passkey_turn = Some(signed.turn);
                            Answer::AuthenticatorValidateWebAuthn { webauthn: signed.assertion }
                        }
                        _ => {
                            let Some(secret) = &credentials.totp else { return Ok(()) };
                            let checked =
                                throttle::until_checked(credentials.uid, Code::Totp, self.env.request_timeout).await;
                            typed = Some((Code::Totp, checked));
                            let totp = super::totp_code(self.env, secret).await;
                            turn = Some(totp.turn);
                            Answer::AuthenticatorValidate { code: Secret::new(totp.code) }
                        }
                    }
                }
                component::CONSENT => match credentials.consent {
                    Consent::Accept => Answer::Consent { token: self.consent_token()? },
                    Consent::Forge => Answer::Consent { token: "forged-by-ak-e2e".into() },
                    Consent::Deny => return Ok(()),
                },
                _ => return Ok(()),
            };
            let next = self.executor(&slug, &query, Some(answer)).await?;
            drop(turn);
            drop(passkey_turn);
            let shown = Stage::of(&next);
            if let Some((code, turn)) = typed {
                let refused = shown.component == component && !shown.errors.is_empty();
                throttle::answered(turn, credentials.uid, credentials.devices, code, !refused);
            }
            if shown.component == component && !shown.errors.is_empty() {
                self.stages.push(component.clone());
                self.position = Position::Flow { slug, query, stage: shown };
                self.challenge = Some(next);
                return Ok(());
            }
            self.on_challenge(slug, query, next).await?;
        }
        Err(DriveError(format!("authentik asked for more than {MAX_STAGES} stages")))
    }

    /// `user`'s passkey's assertion for authentik's request `options`, with its turn; none (and
    /// [`Self::refused`] set) when a browser would refuse the request.
    async fn sign_passkey(
        &mut self,
        file: &std::path::Path,
        options: Value,
        user: &str,
    ) -> Result<Option<super::passkey::Signed>, DriveError> {
        // A browser would refuse this request: so does the passkey.
        let refused = super::passkey::refusal(&options, &self.env.authentik, user);
        if refused.is_some() {
            self.refused = refused;
            return Ok(None);
        }
        super::passkey::sign_at(file, options, &self.env.authentik, user, self.env.request_timeout).await.map(Some)
    }

    /// The token of the consent stage shown last, to send back with the consent; an error when
    /// that challenge has none to read (sending none would look like a refused consent).
    fn consent_token(&self) -> Result<String, DriveError> {
        match self.challenge.as_ref().map(|c| &c.kind) {
            Some(ChallengeKind::Consent(consent)) => Ok(consent.token.clone()),
            _ => Err(DriveError(format!(
                "authentik's {} challenge has no consent token to send back",
                component::CONSENT
            ))),
        }
    }

    /// Sends the browser to authentik's authorize endpoint with the harness's own request.
    pub async fn authorize(&mut self, params: Vec<(String, String)>, client: ClientRequest) -> Result<(), DriveError> {
        let mut url = self.session.url(paths::AUTHORIZE)?;
        url.query_pairs_mut().extend_pairs(params);
        self.client = Some(client);
        self.navigate(Method::GET, url, None).await
    }

    /// Exchanges the code of the last `authorize` at the token endpoint named by discovery.
    /// Returns the HTTP status and the JSON body (kept out of the hops and reports).
    pub async fn exchange_code(
        &mut self,
        client_secret: &str,
        verifier: Option<&str>,
    ) -> Result<(u16, Value), DriveError> {
        let client =
            self.client.clone().ok_or_else(|| DriveError("`exchange_code` needs an `authorize` before it".into()))?;
        let code = client.code.clone().ok_or_else(|| {
            DriveError(format!("authentik gave no code to exchange; the browser is at {}", self.position.describe()))
        })?;
        let discovery = self.discovery().await?;
        let endpoint = discovery["token_endpoint"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| DriveError("the discovery document has no token_endpoint".into()))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", client.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier.or(client.verifier.as_ref().map(Secret::expose)) {
            form.push(("code_verifier", v));
        }
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", encode(&self.ws.client_id), encode(client_secret)),
        );
        let request = self
            .session
            .request(Method::POST, endpoint.clone())
            .header("authorization", format!("Basic {basic}"))
            .form(&form);
        let response = self.session.record(request, true, None).await.map_err(|e| {
            DriveError(format!("POST {endpoint} failed: {}", ak_protocol::http::describe(&e, self.env.request_timeout)))
        })?;
        let status = response.status().as_u16();
        let body = match ak_protocol::http::read_json(response, self.env.request_timeout).await {
            Ok(body) => body,
            Err(ak_protocol::http::BodyError::NotJson { .. }) => Value::Null,
            Err(e) => return Err(DriveError(format!("POST {endpoint} answered {status} but {e}"))),
        };
        Ok((status, body))
    }

    /// The application's discovery document (fetched once per session).
    pub async fn discovery(&mut self) -> Result<Value, DriveError> {
        if let Some(document) = &self.discovery {
            return Ok(document.clone());
        }
        let url = self.env.discovery_url(self.ws).map_err(|e| DriveError(e.0))?;
        let response = self.send(Method::GET, url.clone(), Body::None, true).await?;
        let document = ak_protocol::http::read_json(response, self.env.request_timeout)
            .await
            .map_err(|e| DriveError(format!("GET {url}: the discovery document could not be read: {e}")))?;
        self.discovery = Some(document.clone());
        Ok(document)
    }

    /// GETs a JSON document (the JWKS), recording the hop.
    pub async fn get_json(&mut self, url: Url) -> Result<Value, DriveError> {
        let response = self.send(Method::GET, url.clone(), Body::None, true).await?;
        ak_protocol::http::read_json(response, self.env.request_timeout)
            .await
            .map_err(|e| DriveError(format!("GET {}: {e}", redact(&url))))
    }
}

/// ChatGPT's record of the attempt whose authorization request carried `state`, read from the
/// workspace's relying party in this process (real targets too: ChatGPT's side is always ours).
pub fn find_attempt(ws: &Workspace, state: Option<&str>) -> Option<chatgpt_rp::Attempt> {
    let state = state?;
    ws.chatgpt.find_attempt(|a| a.state.as_deref() == Some(state))
}
