//! authentik's OAuth2/OpenID provider endpoints: discovery, JWKS, authorize, token, userinfo,
//! introspection, revocation and end-session, with authentik's status codes and error bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use url::Url;

use crate::authorize::{code_redirect, issue_code};
use crate::defects::{Defect, Endpoint};
use crate::directory::{
    AUTHENTICATION_FLOW, Application, Directory, EXPLICIT_CONSENT_FLOW, MatchingMode, Provider, RedirectUri, hex_sha256,
};
use crate::pages;
use crate::plan::{AuthorizationPlan, AuthorizeParams, Plan};
use crate::shared::{SessionRef, Shared, redirect};
use crate::state::Grant;
use ak_protocol::jose::{self, random_token};
use ak_protocol::time::now_secs;

type AppState = State<Arc<Shared>>;

fn params_of(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn redirect_allowed(uris: &[RedirectUri], uri: &str) -> bool {
    uris.iter().any(|r| match r.mode {
        MatchingMode::Strict => r.url == uri,
        MatchingMode::Regex => regex_lite::Regex::new(&format!("^(?:{})$", r.url)).is_ok_and(|re| re.is_match(uri)),
    })
}

/// An OAuth error sent back to the relying party (authentik's `AuthorizeError`).
fn error_redirect(redirect_uri: &str, error: &str, state: Option<&str>) -> Response {
    let description = match error {
        "login_required" => "The Authorization Server requires End-User authentication.",
        "consent_required" => "The Authorization Server requires End-User consent.",
        "access_denied" => "The resource owner or authorization server denied the request",
        "unsupported_response_type" => {
            "The authorization server does not support obtaining an authorization code using this method."
        }
        "request_not_supported" => "The OP does not support use of the request parameter.",
        _ => "The request is otherwise malformed",
    };
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error_page(StatusCode::BAD_REQUEST, error, description);
    };
    url.query_pairs_mut().append_pair("error", error).append_pair("error_description", description);
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    redirect(url.as_str())
}

/// `GET|POST /application/o/authorize/`.
pub(crate) async fn authorize(
    State(shared): AppState,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    shared.delay(Endpoint::Authorize).await;
    let raw =
        if method == Method::POST { String::from_utf8_lossy(&body).into_owned() } else { query.unwrap_or_default() };
    let params = params_of(&raw);
    if params.is_empty() {
        return pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.");
    }
    let session = SessionRef::get(&shared, &headers);
    let response = authorize_inner(&shared, &session, &params, raw);
    session.attach(response)
}

fn authorize_inner(shared: &Shared, session: &SessionRef, params: &[(String, String)], raw: String) -> Response {
    let client_id = first(params, "client_id").unwrap_or_default().to_string();
    let redirect_uri = first(params, "redirect_uri").unwrap_or_default().to_string();
    let state = first(params, "state").map(String::from);
    let mut dir = shared.directory();
    let Some(provider_index) = dir.providers.iter().position(|p| p.client_id == client_id) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Client ID Error",
            "The client identifier (client_id) is missing or invalid.",
        );
    };
    if let Some(refusal) = redirect_uri_refusal(shared, &mut dir.providers[provider_index], &redirect_uri) {
        return refusal;
    }
    let provider = dir.providers[provider_index].clone();
    let response_type = first(params, "response_type").unwrap_or_default();
    if response_type != "code" {
        return error_redirect(&redirect_uri, "unsupported_response_type", state.as_deref());
    }
    let scopes = requested_scopes(params, dir.provider_scopes(&provider));
    let code_challenge = first(params, "code_challenge")
        .map(|c| (c.to_string(), first(params, "code_challenge_method").unwrap_or("plain").to_string()));
    if let Some((_, method)) = &code_challenge
        && method != "plain"
        && method != "S256"
    {
        return error_redirect(&redirect_uri, "invalid_request", state.as_deref());
    }
    if first(params, "request").is_some() {
        return error_redirect(&redirect_uri, "request_not_supported", state.as_deref());
    }
    let prompt = requested_prompt(params, &scopes);
    let max_age: Option<u64> = first(params, "max_age").and_then(|m| m.parse().ok());
    let authorize = AuthorizeParams {
        client_id,
        redirect_uri,
        scopes,
        state,
        nonce: first(params, "nonce").map(String::from),
        code_challenge,
        raw,
    };
    authorize_session(shared, session, &dir, &provider, &authorize, &prompt, max_age)
}

/// The error page for a missing, forbidden or unregistered redirect URI; a provider without any learns this one.
fn redirect_uri_refusal(shared: &Shared, provider: &mut Provider, redirect_uri: &str) -> Option<Response> {
    // Redirect URI: never redirect to an unregistered one. An empty list learns the first.
    if shared.defects.has(&Defect::AcceptAnyRedirectUri) {
        return None;
    }
    if !redirect_uri.is_empty() && provider.redirect_uris.is_empty() {
        provider.redirect_uris.push(RedirectUri { mode: MatchingMode::Strict, url: redirect_uri.to_string() });
    }
    let forbidden = Url::parse(redirect_uri).is_ok_and(|u| matches!(u.scheme(), "javascript" | "data" | "vbscript"));
    if redirect_uri.is_empty() || forbidden || !redirect_allowed(&provider.redirect_uris, redirect_uri) {
        return Some(pages::error_page(
            StatusCode::BAD_REQUEST,
            "Redirect URI Error",
            "The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).",
        ));
    }
    None
}

/// The requested scopes the provider has, in request order; all of the provider's when none are requested.
fn requested_scopes(params: &[(String, String)], available: Vec<String>) -> Vec<String> {
    let requested: Vec<String> =
        first(params, "scope").unwrap_or_default().split_whitespace().map(String::from).collect();
    if requested.is_empty() {
        return available;
    }
    let mut s: Vec<String> = requested.into_iter().filter(|s| available.contains(s)).collect();
    s.dedup();
    s
}

/// The known `prompt` values asked for, plus `consent` when `offline_access` is granted.
fn requested_prompt(params: &[(String, String)], scopes: &[String]) -> Vec<String> {
    let mut prompt: Vec<String> =
        first(params, "prompt").unwrap_or_default().split_whitespace().map(String::from).collect();
    prompt.retain(|p| matches!(p.as_str(), "none" | "login" | "consent"));
    if scopes.iter().any(|s| s == "offline_access") && !prompt.iter().any(|p| p == "consent") {
        prompt.push("consent".into());
    }
    prompt
}

/// The checked request meets the session: sign-in or re-authentication, access, then a code or the consent flow.
fn authorize_session(
    shared: &Shared,
    session: &SessionRef,
    dir: &Directory,
    provider: &Provider,
    authorize: &AuthorizeParams,
    prompt: &[String],
    max_age: Option<u64>,
) -> Response {
    let (redirect_uri, state) = (&authorize.redirect_uri, authorize.state.as_deref());
    let Some(app) = dir.application_of(&provider.name).cloned() else {
        return pages::error_page(StatusCode::OK, "Permission denied", "Failed to resolve application");
    };
    let mut st = shared.state();
    let Some(sess) = st.sessions.get_mut(&session.id) else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Bad request", "No session.");
    };
    let now = now_secs();
    let signed_in = sess.user.and_then(|pk| dir.user(pk)).filter(|u| u.is_active).cloned();
    let prompt_has = |p: &str| prompt.iter().any(|x| x == p);
    let Some(user) = signed_in else {
        if prompt_has("none") {
            return error_redirect(redirect_uri, "login_required", state);
        }
        sess.application_pre = Some(app.name.clone());
        return login_redirect(sess, provider, &authorize.raw);
    };
    if let Some(max_age) = max_age
        && now.saturating_sub(sess.auth_time) > max_age
    {
        sess.last_login_uid = Some(sess.login_uid);
        sess.application_pre = Some(app.name.clone());
        return login_redirect(sess, provider, &authorize.raw);
    }
    if prompt_has("login") && (sess.last_login_uid.is_none() || sess.last_login_uid == Some(sess.login_uid)) {
        sess.last_login_uid = Some(sess.login_uid);
        sess.application_pre = Some(app.name.clone());
        return login_redirect(sess, provider, &authorize.raw);
    }
    if !dir.has_access(&user, &app) {
        return pages::error_page(StatusCode::OK, "Permission denied", "Request has been denied.");
    }
    if shared.defects.has(&Defect::AccessDenied) {
        return error_redirect(redirect_uri, "access_denied", state);
    }
    let explicit = provider.authorization_flow == EXPLICIT_CONSENT_FLOW || prompt_has("consent");
    if !explicit {
        let sid = hex_sha256(&session.id);
        let (auth_time, amr) = (sess.auth_time, sess.amr.clone());
        drop(st);
        let code = issue_code(shared, provider, user.pk, authorize, sid, auth_time, amr);
        return redirect(&code_redirect(redirect_uri, &code, state));
    }
    if prompt_has("none") {
        return error_redirect(redirect_uri, "consent_required", state);
    }
    let consent_always = prompt_has("consent") || provider.authorization_flow != EXPLICIT_CONSENT_FLOW;
    sess.plans.insert(
        provider.authorization_flow.clone(),
        Plan::Authorization(AuthorizationPlan::new(authorize.clone(), app.slug.clone(), consent_always)),
    );
    redirect(&format!("/if/flow/{}/?{}", provider.authorization_flow, authorize.raw))
}

/// authentik's redirect to the login flow (the provider's `authentication_flow`, else the
/// default one): the same query plus `next` = the authorize URL. As authentik plans the flow
/// anew for each such request, a plan left by an abandoned login of the session goes.
fn login_redirect(sess: &mut crate::state::Session, provider: &Provider, raw: &str) -> Response {
    let flow = provider.authentication_flow.as_deref().unwrap_or(AUTHENTICATION_FLOW);
    sess.plans.remove(flow);
    let next: String = form_urlencoded::byte_serialize(format!("/application/o/authorize/?{raw}").as_bytes()).collect();
    let sep = if raw.is_empty() { "" } else { "&" };
    redirect(&format!("/if/flow/{flow}/?{raw}{sep}next={next}"))
}

fn token_error(error: &str) -> Response {
    let description = match error {
        "invalid_client" => {
            "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)"
        }
        "invalid_grant" => {
            "The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client"
        }
        "unsupported_grant_type" => "The authorization grant type is not supported by the authorization server",
        _ => "The request is otherwise malformed",
    };
    // authentik adds the request's id to its error answers.
    let request_id: String = random_token(16).bytes().take(16).map(|b| format!("{b:02x}")).collect();
    let body = json!({"error": error, "error_description": description, "request_id": request_id});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Client credentials from the Basic header (url-decoded, RFC 6749 §2.3.1) or form fields.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = basic {
        let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
        };
        return (decode(id), decode(secret));
    }
    (
        first(form, "client_id").unwrap_or_default().to_string(),
        first(form, "client_secret").unwrap_or_default().to_string(),
    )
}

/// Finds the provider and checks its secret.
fn authenticate_client(dir: &Directory, headers: &HeaderMap, form: &[(String, String)]) -> Option<Provider> {
    let (id, secret) = client_credentials(headers, form);
    let provider = dir.provider_by_client_id(&id)?;
    if provider.confidential && provider.client_secret.expose() != secret {
        return None;
    }
    Some(provider.clone())
}

/// `POST /application/o/token/`.
pub(crate) async fn token(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    shared.delay(Endpoint::Token).await;
    if shared.defects.has(&Defect::Token500) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "<h1>Server Error (500)</h1>").into_response();
    }
    let form = params_of(&String::from_utf8_lossy(&body));
    let dir = shared.directory().clone();
    let Some(provider) = authenticate_client(&dir, &headers, &form) else {
        return token_error("invalid_client");
    };
    let Some(app) = dir.application_of(&provider.name).cloned() else { return token_error("invalid_client") };
    match first(&form, "grant_type") {
        Some("authorization_code") => {
            let redirect_uri = first(&form, "redirect_uri").unwrap_or_default();
            if !shared.defects.has(&Defect::AcceptAnyRedirectUri)
                && !redirect_allowed(&provider.redirect_uris, redirect_uri)
            {
                return token_error("invalid_client");
            }
            let code_value = first(&form, "code").unwrap_or_default();
            let code = {
                let mut st = shared.state();
                let found = st.codes.get(code_value).cloned();
                if found.is_some() && !shared.defects.has(&Defect::ReusableCodes) {
                    st.codes.remove(code_value);
                }
                found
            };
            let Some(code) = code.filter(|c| c.grant.provider == provider.name && c.grant.expires >= now_secs()) else {
                return token_error("invalid_grant");
            };
            let verifier = first(&form, "code_verifier");
            match (&code.challenge, verifier) {
                (None, Some(_)) => return token_error("invalid_grant"),
                (Some(_), None) => return token_error("invalid_grant"),
                (Some((challenge, method)), Some(verifier)) => {
                    let computed = if method == "S256" { jose::pkce_s256(verifier) } else { verifier.to_string() };
                    if &computed != challenge {
                        return token_error("invalid_grant");
                    }
                }
                (None, None) => {}
            }
            token_response(&shared, &dir, &provider, &app, code.grant)
        }
        Some("refresh_token") => {
            let presented = first(&form, "refresh_token").unwrap_or_default();
            let grant = shared.state().refresh_tokens.remove(presented);
            let Some(grant) = grant.filter(|g| g.provider == provider.name && g.expires >= now_secs()) else {
                return token_error("invalid_grant");
            };
            token_response(&shared, &dir, &provider, &app, grant)
        }
        Some(_) => token_error("unsupported_grant_type"),
        None => token_error("invalid_request"),
    }
}

fn token_response(shared: &Shared, dir: &Directory, provider: &Provider, app: &Application, grant: Grant) -> Response {
    let Some(user) = dir.user(grant.user).cloned() else { return token_error("invalid_grant") };
    let access_token: String = random_token(48);
    let lifetime = provider.access_token_validity.as_secs();
    let id_token = id_token(shared, dir, provider, app, &user, &grant);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": grant.scopes.join(" "),
        "expires_in": lifetime,
        "id_token": id_token,
    });
    let mut st = shared.state();
    st.access_tokens.insert(access_token, Grant { expires: now_secs() + lifetime, ..grant.clone() });
    if grant.scopes.iter().any(|s| s == "offline_access") {
        let refresh = random_token(48);
        body["refresh_token"] = json!(refresh);
        st.refresh_tokens
            .insert(refresh, Grant { expires: now_secs() + provider.refresh_token_validity.as_secs(), ..grant });
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// Applies the claim defects to a claim set.
fn apply_claim_defects(shared: &Shared, claims: &mut Map<String, Value>) {
    for defect in shared.defects.iter() {
        match defect {
            Defect::DropClaim(name) => {
                claims.remove(name);
            }
            Defect::RenameClaim(from, to) => {
                if let Some(v) = claims.remove(from) {
                    claims.insert(to.clone(), v);
                }
            }
            _ => {}
        }
    }
}

fn id_token(
    shared: &Shared,
    dir: &Directory,
    provider: &Provider,
    app: &Application,
    user: &crate::directory::User,
    grant: &Grant,
) -> String {
    let now = now_secs();
    let (iat, exp) = if shared.defects.has(&Defect::ExpiredIdToken) {
        (now - 7200, now - 3600)
    } else {
        (now, now + provider.access_token_validity.as_secs())
    };
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(shared.issuer(provider, &app.slug)));
    claims.insert("sub".into(), json!(dir.subject(provider, user, &shared.install_id)));
    claims.insert("aud".into(), json!(provider.client_id));
    claims.insert("exp".into(), json!(exp));
    claims.insert("iat".into(), json!(iat));
    claims.insert("auth_time".into(), json!(grant.auth_time));
    claims.insert("acr".into(), json!("goauthentik.io/providers/oauth2/default"));
    // As authentik's: no `amr` when the login recorded no method it names.
    if !grant.amr.is_empty() {
        claims.insert("amr".into(), json!(grant.amr));
    }
    if let Some(nonce) = grant.nonce.as_ref().filter(|_| !shared.defects.has(&Defect::NoNonce)) {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("sid".into(), json!(grant.sid));
    claims.insert("jti".into(), json!(random_token(16)));
    // No at_hash: authentik (2026.2, `create_code_response` and `create_refresh_response`) answers
    // with the access token's ID token, and sets at_hash only on the one it stores with a refresh
    // token, which it never sends.
    if provider.include_claims_in_id_token {
        claims.extend(dir.scope_claims(provider, user, &grant.scopes, &shared.install_id));
    }
    apply_claim_defects(shared, &mut claims);
    let claims = Value::Object(claims);
    if shared.defects.has(&Defect::AlgNone) {
        jose::unsigned(&claims)
    } else if shared.defects.has(&Defect::Hs256) || provider.signing_key.is_none() {
        jose::sign_hs256(provider.client_secret.expose().as_bytes(), &claims)
    } else if shared.defects.has(&Defect::UnpublishedKey) {
        shared.rogue_key.sign_rs256(&claims, &Map::new())
    } else {
        shared.key.sign_rs256(&claims, &Map::new())
    }
}

fn bearer(headers: &HeaderMap, form: &[(String, String)]) -> Option<String> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .or_else(|| first(form, "access_token").map(String::from))
}

/// `GET|POST /application/o/userinfo/`.
pub(crate) async fn userinfo(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    shared.delay(Endpoint::Userinfo).await;
    let form = params_of(&String::from_utf8_lossy(&body));
    let grant = bearer(&headers, &form).and_then(|t| shared.state().access_tokens.get(&t).cloned());
    let Some(grant) = grant.filter(|g| g.expires >= now_secs()) else {
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_token"}))).into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        return response;
    };
    let dir = shared.directory().clone();
    let (Some(provider), Some(user)) = (dir.provider(&grant.provider), dir.user(grant.user)) else {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_token"}))).into_response();
    };
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(dir.subject(provider, user, &shared.install_id)));
    claims.extend(dir.scope_claims(provider, user, &grant.scopes, &shared.install_id));
    // authentik 2026.2 (`UserInfoView.get`) repeats the ID token's nonce in userinfo.
    if let Some(nonce) = grant.nonce.as_ref().filter(|_| !shared.defects.has(&Defect::NoNonce)) {
        claims.insert("nonce".into(), json!(nonce));
    }
    apply_claim_defects(&shared, &mut claims);
    axum::Json(Value::Object(claims)).into_response()
}

/// `POST /application/o/introspect/` (RFC 7662), authenticated as a client.
pub(crate) async fn introspect(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form = params_of(&String::from_utf8_lossy(&body));
    let dir = shared.directory().clone();
    let Some(provider) = authenticate_client(&dir, &headers, &form) else { return token_error("invalid_client") };
    let token = first(&form, "token").unwrap_or_default();
    let st = shared.state();
    let grant = st.access_tokens.get(token).or_else(|| st.refresh_tokens.get(token));
    match grant.filter(|g| g.provider == provider.name && g.expires >= now_secs()) {
        Some(g) => axum::Json(
            json!({"active": true, "scope": g.scopes.join(" "), "client_id": provider.client_id, "exp": g.expires}),
        )
        .into_response(),
        None => axum::Json(json!({"active": false})).into_response(),
    }
}

/// `POST /application/o/revoke/` (RFC 7009).
pub(crate) async fn revoke(State(shared): AppState, headers: HeaderMap, body: Bytes) -> Response {
    let form = params_of(&String::from_utf8_lossy(&body));
    let dir = shared.directory().clone();
    if authenticate_client(&dir, &headers, &form).is_none() {
        return token_error("invalid_client");
    }
    let token = first(&form, "token").unwrap_or_default();
    let mut st = shared.state();
    st.access_tokens.remove(token);
    st.refresh_tokens.remove(token);
    StatusCode::OK.into_response()
}

fn app_provider(shared: &Shared, slug: &str) -> Option<(Application, Provider, Directory)> {
    let dir = shared.directory().clone();
    let app = dir.application(slug)?.clone();
    let provider = dir.provider(app.provider.as_deref()?)?.clone();
    Some((app, provider, dir))
}

/// `GET /application/o/<slug>/.well-known/openid-configuration`.
pub(crate) async fn discovery(State(shared): AppState, Path(slug): Path<String>) -> Response {
    shared.delay(Endpoint::Discovery).await;
    let Some((app, provider, dir)) = app_provider(&shared, &slug) else {
        return pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.");
    };
    let issuer = shared.issuer(&provider, &app.slug);
    if shared.defects.has(&Defect::MalformedDiscovery) {
        let body = format!("{{\"issuer\": \"{issuer}\", \"authorization_endpoint\": ");
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let mut scopes = dir.provider_scopes(&provider);
    if !scopes.iter().any(|s| s == "openid") {
        scopes.push("openid".into());
    }
    let mut claims: Vec<String> =
        ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce"].map(String::from).to_vec();
    claims.extend(dir.provider_claim_names(&provider));
    let alg = if provider.signing_key.is_some() { "RS256" } else { "HS256" };
    let url = |p: &str| shared.url(p);
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": url("application/o/authorize/"),
        "token_endpoint": url("application/o/token/"),
        "userinfo_endpoint": url("application/o/userinfo/"),
        "end_session_endpoint": url(&format!("application/o/{slug}/end-session/")),
        "introspection_endpoint": url("application/o/introspect/"),
        "revocation_endpoint": url("application/o/revoke/"),
        "device_authorization_endpoint": url("application/o/device/"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "response_types_supported": ["code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "jwks_uri": url(&format!("application/o/{slug}/jwks/")),
        "grant_types_supported": [
            "authorization_code", "refresh_token", "implicit", "client_credentials", "password",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "id_token_signing_alg_values_supported": [alg],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "acr_values_supported": ["goauthentik.io/providers/oauth2/default"],
        "scopes_supported": scopes,
        "request_parameter_supported": false,
        "claims_supported": claims,
        "claims_parameter_supported": false,
        "code_challenge_methods_supported": ["plain", "S256"],
    }))
    .into_response()
}

/// `GET /application/o/<slug>/jwks/`.
pub(crate) async fn jwks(State(shared): AppState, Path(slug): Path<String>) -> Response {
    shared.delay(Endpoint::Jwks).await;
    let Some((_, provider, _)) = app_provider(&shared, &slug) else {
        return pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.");
    };
    let keys = if provider.signing_key.is_some() { vec![shared.key.public_jwk()] } else { Vec::new() };
    axum::Json(json!({ "keys": keys })).into_response()
}

/// `GET /application/o/<slug>/end-session/`: ends the authentik session.
pub(crate) async fn end_session(State(shared): AppState, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let Some((app, _, _)) = app_provider(&shared, &slug) else {
        return pages::error_page(StatusCode::NOT_FOUND, "Not found", "The requested page could not be found.");
    };
    if let Some(id) = crate::shared::cookie(&headers, crate::shared::SESSION_COOKIE)
        && let Some(session) = shared.state().sessions.get_mut(id)
    {
        session.user = None;
        session.plans.clear();
    }
    pages::error_page(StatusCode::OK, "Logged out", &format!("You've logged out of {}.", app.name))
}
