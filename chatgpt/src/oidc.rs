//! The relying party's side of OpenID Connect, as strict as ChatGPT's: discovery, the
//! authorization request, the code exchange, ID token validation (in [`crate::id_token`]),
//! userinfo and the claims ChatGPT requires. Each step records its checks in the attempt and
//! fails with its own code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{ClientAuth, Config};
use crate::id_token::validate_id_token;
use crate::provider::{Discovery, Fetch, HttpClient, Pending, Tokens, get_document, get_json};
use crate::record::{Attempt, ErrorCode, Failure, Profile, TokenResponseRecord};
use ak_protocol::jose::pkce_s256;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The claims ChatGPT requires in the ID token, with the code for each one missing.
pub const REQUIRED_CLAIMS: &[(&str, ErrorCode)] = &[
    ("sub", ErrorCode::MissingClaimSub),
    ("email", ErrorCode::MissingClaimEmail),
    ("given_name", ErrorCode::MissingClaimGivenName),
    ("family_name", ErrorCode::MissingClaimFamilyName),
];

/// Fetches and checks the discovery document.
pub(crate) async fn discover(http: &HttpClient, config: &Config, attempt: &mut Attempt) -> Result<Discovery, Failure> {
    let url = config.discovery_url.as_str();
    let (body, how) = match get_document(http, url, false).await {
        Ok(found) => found,
        Err(e) => {
            let failure = e.failure(ErrorCode::DiscoveryUnreachable, ErrorCode::DiscoveryMalformed);
            return Err(attempt.fail("discovery.fetch", failure));
        }
    };
    let how = if how == Fetch::Cached { "fetched earlier (cached)" } else { "answered 200 with JSON" };
    attempt.pass("discovery.fetch", format!("GET {url} {how}"));
    let malformed =
        |detail: String| Failure::new(ErrorCode::DiscoveryMalformed, format!("discovery document {url}: {detail}"));
    let string = |name: &str| -> Result<String, Failure> {
        match body.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(malformed(format!("`{name}` is not a non-empty string"))),
            None => Err(malformed(format!("`{name}` is missing"))),
        }
    };
    let endpoint = |name: &str| -> Result<Url, Failure> {
        let text = string(name)?;
        Url::parse(&text).map_err(|e| malformed(format!("`{name}` is not a URL (`{text}`: {e})")))
    };
    let parsed = (|| {
        let issuer = string("issuer")?;
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let token_endpoint = endpoint("token_endpoint")?;
        let jwks_uri = endpoint("jwks_uri")?;
        let userinfo_endpoint = match body.get("userinfo_endpoint") {
            None => None,
            Some(_) => Some(endpoint("userinfo_endpoint")?),
        };
        let signing_algs = match body.get("id_token_signing_alg_values_supported") {
            Some(Value::Array(items)) if items.iter().all(Value::is_string) && !items.is_empty() => {
                items.iter().filter_map(Value::as_str).map(String::from).collect()
            }
            Some(_) => {
                return Err(malformed("`id_token_signing_alg_values_supported` is not a list of strings".into()));
            }
            None => return Err(malformed("`id_token_signing_alg_values_supported` is missing".into())),
        };
        Ok(Discovery { issuer, authorization_endpoint, token_endpoint, userinfo_endpoint, jwks_uri, signing_algs })
    })();
    let discovery = match parsed {
        Ok(d) => d,
        Err(failure) => return Err(attempt.fail("discovery.document", failure)),
    };
    attempt.pass("discovery.document", "issuer, endpoints, jwks_uri and signing algorithms present");
    attempt.issuer = Some(discovery.issuer.clone());
    // OpenID Connect Discovery §4: the document lives at the issuer (less any trailing slash)
    // plus the well-known suffix. authentik's issuer keeps its trailing slash.
    let expected = url.strip_suffix(WELL_KNOWN);
    match expected {
        Some(base) if base == discovery.issuer.trim_end_matches('/') => {
            attempt.pass("discovery.issuer", format!("issuer `{}` matches the discovery URL", discovery.issuer));
        }
        _ => {
            let want = match expected {
                Some(base) => format!("`{base}/` or `{base}`"),
                None => format!("a prefix of the discovery URL, which does not end in {WELL_KNOWN}"),
            };
            return Err(attempt.fail(
                "discovery.issuer",
                Failure::new(
                    ErrorCode::DiscoveryIssuerMismatch,
                    format!("discovery issuer is `{}`, expected {want}", discovery.issuer),
                ),
            ));
        }
    }
    Ok(discovery)
}

/// The authorization request URL for a new attempt.
pub(crate) fn authorize_url(
    config: &Config,
    discovery: &Discovery,
    redirect_uri: &str,
    state: &str,
    pending: &Pending,
) -> Url {
    let mut url = discovery.authorization_endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", state)
            .append_pair("nonce", &pending.nonce);
        if let Some(verifier) = &pending.pkce_verifier {
            query.append_pair("code_challenge", &pkce_s256(verifier)).append_pair("code_challenge_method", "S256");
        }
    }
    url
}

/// Exchanges the code, validates the ID token, fetches userinfo and checks ChatGPT's rules.
pub(crate) async fn complete(
    http: &HttpClient,
    config: &Config,
    pending: &Pending,
    redirect_uri: &str,
    code: &str,
    attempt: &mut Attempt,
) -> Result<Profile, Failure> {
    let started = std::time::Instant::now();
    let tokens = exchange(http, config, pending, redirect_uri, code, attempt).await;
    attempt.timed("token request", started);
    let tokens = tokens?;
    let started = std::time::Instant::now();
    let claims = validate_id_token(http, config, pending, &tokens, attempt).await;
    attempt.timed("ID token validation (keys, second opinion)", started);
    let claims = claims?;
    if let (Some(endpoint), Some(access_token)) = (&pending.discovery.userinfo_endpoint, &tokens.access_token) {
        let started = std::time::Instant::now();
        let answered = userinfo(http, endpoint, access_token, attempt).await;
        attempt.timed("userinfo request", started);
        answered?;
    }
    profile(config, &claims, attempt)
}

async fn exchange(
    http: &HttpClient,
    config: &Config,
    pending: &Pending,
    redirect_uri: &str,
    code: &str,
    attempt: &mut Attempt,
) -> Result<Tokens, Failure> {
    let endpoint = &pending.discovery.token_endpoint;
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
    if let Some(verifier) = &pending.pkce_verifier {
        form.push(("code_verifier", verifier));
    }
    let mut request = http.post(endpoint.clone()).header("accept", "application/json");
    match config.token_auth {
        ClientAuth::ClientSecretBasic => {
            let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&config.client_id), encode(config.client_secret.expose()));
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(credentials)));
        }
        ClientAuth::ClientSecretPost => {
            form.push(("client_id", &config.client_id));
            form.push(("client_secret", config.client_secret.expose()));
        }
    }
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    let request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let detail = format!("POST {endpoint} failed: {}", ak_protocol::http::describe(&e, http.timeout));
            let failure = Failure::new(ErrorCode::TokenEndpointError, detail);
            return Err(attempt.fail("token.exchange", if e.is_timeout() { failure.as_timeout() } else { failure }));
        }
    };
    let status = response.status().as_u16();
    let text = match ak_protocol::http::read_text(response, http.timeout).await {
        Ok(text) => text,
        Err(e) => {
            let timed_out = matches!(e, ak_protocol::http::BodyError::TimedOut { .. });
            let failure =
                Failure::new(ErrorCode::TokenEndpointError, format!("POST {endpoint} answered {status} but {e}"));
            return Err(attempt.fail("token.exchange", if timed_out { failure.as_timeout() } else { failure }));
        }
    };
    let json: Option<Map<String, Value>> = serde_json::from_str(&text).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    let string = |name: &str| field(name).and_then(Value::as_str).map(String::from);
    attempt.token_response = Some(TokenResponseRecord {
        status,
        token_type: string("token_type"),
        expires_in: field("expires_in").and_then(Value::as_i64),
        scope: string("scope"),
        has_id_token: field("id_token").is_some(),
        has_access_token: field("access_token").is_some(),
        has_refresh_token: field("refresh_token").is_some(),
        error: string("error"),
        error_description: string("error_description"),
    });
    if status != 200 {
        let error = string("error");
        let code = match error.as_deref() {
            Some("invalid_client") => ErrorCode::TokenInvalidClient,
            Some("invalid_grant") => ErrorCode::TokenInvalidGrant,
            _ => ErrorCode::TokenEndpointError,
        };
        let description = string("error_description").map(|d| format!(" ({d})")).unwrap_or_default();
        let detail = match error {
            Some(error) => format!("token endpoint {endpoint} answered {status} `{error}`{description}"),
            None => format!("token endpoint {endpoint} answered {status} without an OAuth error"),
        };
        return Err(attempt.fail("token.exchange", Failure::new(code, detail)));
    }
    let Some(id_token) = string("id_token") else {
        let detail = if json.is_none() {
            "token response is not a JSON object".to_string()
        } else {
            "token response has no `id_token`".to_string()
        };
        return Err(attempt.fail("token.exchange", Failure::new(ErrorCode::TokenResponseMalformed, detail)));
    };
    attempt.pass("token.exchange", format!("POST {endpoint} with {} answered 200", config.token_auth.as_str()));
    Ok(Tokens { id_token, access_token: string("access_token") })
}

async fn userinfo(http: &HttpClient, endpoint: &Url, access_token: &str, attempt: &mut Attempt) -> Result<(), Failure> {
    match get_json(http, endpoint.as_str(), Some(access_token)).await {
        Ok(info) => {
            attempt.pass("userinfo.fetch", format!("GET {endpoint} answered a JSON object"));
            attempt.userinfo = Some(info);
            Ok(())
        }
        Err(e) => Err(attempt.fail("userinfo.fetch", e.failure(ErrorCode::UserinfoFailed, ErrorCode::UserinfoFailed))),
    }
}

/// userinfo must describe the ID token's subject (OIDC Core §5.3.2). Checked after the
/// required claims so that a missing `sub` is reported as such.
fn userinfo_subject(claims: &Map<String, Value>, attempt: &mut Attempt) -> Result<(), Failure> {
    let Some(info) = &attempt.userinfo else { return Ok(()) };
    let (theirs, ours) = (info.get("sub").cloned(), claims.get("sub"));
    if theirs.as_ref() != ours {
        let show = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_else(|| "absent".into());
        let detail = format!("userinfo sub is {}, the ID token's is {}", show(theirs.as_ref()), show(ours));
        return Err(attempt.fail("userinfo.sub", Failure::new(ErrorCode::UserinfoSubMismatch, detail)));
    }
    attempt.pass("userinfo.sub", "userinfo describes the ID token's subject");
    Ok(())
}

fn profile(config: &Config, claims: &Map<String, Value>, attempt: &mut Attempt) -> Result<Profile, Failure> {
    let value = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let missing: Vec<&str> = REQUIRED_CLAIMS.iter().map(|(n, _)| *n).filter(|n| value(n).is_none()).collect();
    for (name, code) in REQUIRED_CLAIMS {
        if value(name).is_some() {
            attempt.pass(claim_check_name(name), format!("`{name}` is present and non-empty"));
            continue;
        }
        let mut detail = format!(
            "the ID token has no non-empty `{name}`; ChatGPT requires sub, email, given_name and family_name \
             (missing: {})",
            missing.join(", ")
        );
        if attempt
            .userinfo
            .as_ref()
            .is_some_and(|u| u.get(*name).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
        {
            detail.push_str(&format!("; userinfo has `{name}`, but ChatGPT reads the ID token"));
        }
        return Err(attempt.fail(claim_check_name(name), Failure::new(*code, detail)));
    }
    userinfo_subject(claims, attempt)?;
    let email = value("email").unwrap_or_default().to_string();

    match claims.get("email_verified") {
        Some(Value::Bool(true)) => attempt.pass("claims.email_verified", "email_verified is true"),
        other => {
            let shown = other.map(Value::to_string).unwrap_or_else(|| "absent".into());
            if config.require_email_verified {
                let detail = format!("email_verified is {shown}; the workspace requires true");
                return Err(attempt.fail("claims.email_verified", Failure::new(ErrorCode::EmailNotVerified, detail)));
            }
            attempt.note("claims.email_verified", format!("email_verified is {shown} (not required)"));
        }
    }

    if !config.domain_verified(&email) {
        let detail = format!("email `{email}` is outside the verified domains {:?}", config.verified_domains);
        return Err(attempt.fail("claims.email_domain", Failure::new(ErrorCode::ClaimEmailDomainNotVerified, detail)));
    }
    attempt.pass("claims.email_domain", format!("`{email}` is in a verified domain"));

    if config.auto_create_accounts {
        attempt.pass("workspace.membership", "automatic account creation is on");
    } else if config.workspace_members.iter().any(|m| m.eq_ignore_ascii_case(&email)) {
        attempt.pass("workspace.membership", format!("`{email}` is a workspace member"));
    } else {
        let detail = format!("`{email}` is not a workspace member and automatic account creation is off");
        return Err(attempt.fail("workspace.membership", Failure::new(ErrorCode::UserNotInWorkspace, detail)));
    }

    Ok(Profile {
        idp_id: value("sub").unwrap_or_default().into(),
        email,
        first_name: value("given_name").unwrap_or_default().into(),
        last_name: value("family_name").unwrap_or_default().into(),
    })
}

fn claim_check_name(claim: &str) -> &'static str {
    match claim {
        "sub" => "claims.sub",
        "email" => "claims.email",
        "given_name" => "claims.given_name",
        _ => "claims.family_name",
    }
}
