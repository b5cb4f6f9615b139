//! `ak-e2e provision`: applies the blueprints to a real authentik through its API (the flow
//! import endpoint, `POST /api/v3/flows/instances/import/`, with an API token such as the
//! bootstrap token) — the same effect as mounting them into `/blueprints`, for an authentik whose
//! files you cannot reach. `!Env` values are filled in here, from the environment and from the
//! Login redirect URIs of the configured mock ChatGPT workspaces, so the server needs none.

use ak_protocol::authentik::{Answer, ChallengeKind, component};
use std::collections::{BTreeMap, HashMap};

use url::Url;

use crate::config::{Settings, Target};
use crate::environment::DEFAULT_REDIRECT_URI_ENV;
use crate::scenario::DEFAULT_APPLICATION;

/// The variable holding the API token.
pub const TOKEN_ENV: &str = "AK_E2E_AUTHENTIK_TOKEN";

/// Why provisioning failed: the configuration (exit 1), or the target refused or failed (exit 3).
pub type ProvisionError = crate::exit::Stop;

fn config(message: String) -> ProvisionError {
    ProvisionError::Usage(message)
}

fn runtime(message: String) -> ProvisionError {
    ProvisionError::Runtime(message)
}

/// The Login redirect URIs the workspaces will have, by the variable the blueprints read them from.
fn redirect_uris(settings: &Settings) -> BTreeMap<String, Result<String, String>> {
    let mut out = BTreeMap::new();
    for (name, app) in &settings.applications {
        let default = name == DEFAULT_APPLICATION;
        let var = match (&app.redirect_uri_env, default) {
            (Some(v), _) => v.clone(),
            (None, true) => DEFAULT_REDIRECT_URI_ENV.to_string(),
            (None, false) => continue,
        };
        let public = app.public_url.clone().or(if default { settings.chatgpt.public_url.clone() } else { None });
        let connection = app
            .connection_id
            .clone()
            .or(settings.chatgpt.connection_id.clone())
            .unwrap_or_else(|| chatgpt_rp::config::DEFAULT_CONNECTION_ID.to_string());
        let value = match public {
            Some(p) => {
                let p = if p.ends_with('/') { p } else { format!("{p}/") };
                Ok(format!("{p}sso/oidc/{connection}/callback"))
            }
            None => Err(format!(
                "set the public URL of workspace `{name}` (`public_url`; for the default one also AK_E2E_CHATGPT_PUBLIC_URL) \
                 so that its Login redirect URI is known before the run, or export {var}"
            )),
        };
        out.insert(var, value);
    }
    out
}

/// Replaces `!Env NAME` and `!Env [NAME, default]` with quoted values.
pub fn render(
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Result<Option<String>, String>,
) -> Result<String, String> {
    let re = regex_lite::Regex::new(
        r#"!Env\s*(?:\[\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*("(?:[^"\\]|\\.)*"|[^\]]*?)\s*\]|([A-Za-z_][A-Za-z0-9_]*))"#,
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let whole = caps.get(0).ok_or("regex")?;
        let name = caps.get(1).or(caps.get(3)).map(|m| m.as_str()).unwrap_or_default();
        let default = caps.get(2).map(|m| m.as_str().trim_matches('"').to_string());
        let value = match (lookup(name), default) {
            (Ok(Some(v)), _) => v,
            (Ok(None), Some(d)) => d,
            // A workspace's redirect URI that is not known must not fall back to the
            // blueprint's placeholder: the provider would be provisioned for no workspace.
            (Err(e), _) => return Err(e),
            (Ok(None), None) => {
                let line = text[..whole.start()].lines().count().max(1);
                return Err(format!("{file}:{line}: `!Env {name}` is not set: export {name}"));
            }
        };
        out.push_str(&text[last..whole.start()]);
        out.push_str(&serde_json::Value::String(value).to_string());
        last = whole.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// The blueprints as `provision` sends them: every `!Env` filled in from the environment and
/// from the workspaces' Login redirect URIs (a workspace whose redirect URI is not known is an
/// error, never the blueprint's placeholder).
pub fn rendered_blueprints(settings: &Settings, env: &HashMap<String, String>) -> Result<Vec<String>, ProvisionError> {
    let uris = redirect_uris(settings);
    let lookup = |name: &str| -> Result<Option<String>, String> {
        if let Some(v) = env.get(name) {
            return Ok(Some(v.clone()));
        }
        match uris.get(name) {
            Some(Ok(v)) => Ok(Some(v.clone())),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    };
    let mut out = Vec::new();
    for path in &settings.blueprints {
        let shown = path.display().to_string();
        let text = ak_protocol::yaml::read_file(path).map_err(|e| config(format!("cannot read {shown}: {e}")))?;
        out.push(render(&shown, &text, &lookup).map_err(config)?);
    }
    Ok(out)
}

/// Imports every configured blueprint into the target; returns one line per file.
pub async fn provision(settings: &Settings, env: &HashMap<String, String>) -> Result<Vec<String>, ProvisionError> {
    let Target::Url(target) = &settings.target else {
        return Err(config(
            "`provision` is for a real target (--target URL); the embedded target provisions itself".into(),
        ));
    };
    let token = env.get(TOKEN_ENV).filter(|t| !t.is_empty()).ok_or_else(|| {
        config(format!("`provision` needs an authentik API token (e.g. the bootstrap token) in {TOKEN_ENV}"))
    })?;
    let base = crate::environment::with_trailing_slash(target);
    let endpoint: Url = base.join("api/v3/flows/instances/import/").map_err(|e| config(e.to_string()))?;
    // An import is slow on a busy authentik: it gets a write's deadline.
    let deadline = crate::environment::admin_api::write_deadline(settings.request_timeout);
    let client = reqwest::Client::builder().timeout(deadline).build().map_err(|e| runtime(e.to_string()))?;
    let mut lines = Vec::new();
    for (path, rendered) in settings.blueprints.iter().zip(rendered_blueprints(settings, env)?) {
        lines.push(import_blueprint(&client, &endpoint, token, path, rendered, deadline).await?);
    }
    enroll_devices(settings, env, &base, token, &mut lines).await?;
    Ok(lines)
}

/// POSTs one rendered blueprint to the import endpoint as a multipart upload; returns the line
/// saying it was imported, or why not (a refused token, else authentik's import log).
async fn import_blueprint(
    client: &reqwest::Client,
    endpoint: &Url,
    token: &str,
    path: &std::path::Path,
    rendered: String,
    timeout: std::time::Duration,
) -> Result<String, ProvisionError> {
    let shown = path.display().to_string();
    let boundary = format!("ak-e2e-{}", ak_protocol::jose::random_token(12));
    let file_name =
        path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "blueprint.yaml".into());
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/x-yaml\r\n\r\n{rendered}\r\n--{boundary}--\r\n"
    );
    let response = client
        .post(endpoint.clone())
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .map_err(|e| runtime(format!("POST {endpoint} failed: {}", ak_protocol::http::describe(&e, timeout))))?;
    let status = response.status();
    let answer = ak_protocol::http::read_json(response, timeout).await.unwrap_or_default();
    match status.as_u16() {
        200..=299 if answer["success"] != false => Ok(format!("imported {shown}")),
        401 | 403 => {
            let detail = answer["detail"].as_str().unwrap_or_default();
            Err(runtime(format!("authentik refused the API token in {TOKEN_ENV} (HTTP {status}: {detail})")))
        }
        _ => {
            let logs: Vec<String> = answer["logs"]
                .as_array()
                .map(|l| l.iter().filter_map(|e| e["event"].as_str().map(String::from)).collect())
                .unwrap_or_default();
            Err(runtime(format!("authentik did not import {shown} (HTTP {status}): {}", logs.join("; "))))
        }
    }
}

/// Fixture user `name`'s password, which enrolling `what` signs in with.
fn password_to_enroll<'e>(
    name: &str,
    user: &crate::config::UserConfig,
    env: &'e HashMap<String, String>,
    what: &str,
) -> Result<&'e String, ProvisionError> {
    env.get(&user.password.env).filter(|p| !p.is_empty()).ok_or_else(|| {
        config(format!("user `{name}`'s password is not set: export {} to enroll {what}", user.password.env))
    })
}

/// For each fixture user (not a mirrored one: a copy made per run, never provisioned, nor is the
/// person it copies): their TOTP device (left alone when its variable is set, else a fresh one
/// with its secret kept in the `file:`), passkey (kept in its `file:`) and recovery codes (kept in
/// theirs), each enrolled through authentik's own setup flow; appends one line for each.
///
/// The kinds enrolled anew are deleted first (admin API; this user's only), then one sign-in with
/// the password enrolls them all: once one device is there, authentik would ask for it.
async fn enroll_devices(
    settings: &Settings,
    env: &HashMap<String, String>,
    base: &Url,
    token: &str,
    lines: &mut Vec<String>,
) -> Result<(), ProvisionError> {
    use ak_protocol::authentik::admin::path;
    let timeout = settings.request_timeout;
    for (name, user) in settings.users.iter().filter(|(_, u)| u.mirror_of.is_none()) {
        let totp = match &user.totp_secret {
            Some(totp) if env.get(&totp.env).is_some_and(|v| !v.is_empty()) => {
                lines.push(format!("left `{name}`'s TOTP devices as they are ({} is set)", totp.env));
                None
            }
            Some(totp) => Some(totp.file.as_ref().ok_or_else(|| {
                config(format!(
                    "user `{name}` needs a TOTP device: add `file:` to its `totp_secret` (where provision keeps the \
                     secret of the device it enrolls), or enroll one by hand and export {}",
                    totp.env
                ))
            })?),
            None => None,
        };
        let kinds = [
            (totp.is_some(), path::TOTP_DEVICES),
            (user.passkey.is_some(), path::WEBAUTHN_DEVICES),
            (user.recovery_codes.is_some(), path::STATIC_DEVICES),
        ];
        if !kinds.iter().any(|(wanted, _)| *wanted) {
            continue;
        }
        let password = password_to_enroll(name, user, env, "their devices")?;
        for (_, collection) in kinds.iter().filter(|(wanted, _)| *wanted) {
            delete_devices(base, token, &user.username, collection, timeout).await?;
        }
        let mut session = signed_in(base, (&user.username, password), timeout, "its devices").await.map_err(runtime)?;
        if let Some(file) = totp {
            let secret = confirm_totp(&mut session).await.map_err(runtime)?;
            crate::files::write_private(file, format!("{}\n", ak_protocol::totp::encode_base32(&secret)).as_bytes())
                .map_err(|e| config(format!("cannot write {}: {e}", file.display())))?;
            lines.push(format!(
                "enrolled a TOTP device for `{name}` ({}); its secret is in {} (mode 0600)",
                user.username,
                file.display()
            ));
        }
        if let Some(passkey) = &user.passkey {
            let made = register_passkey(&mut session, base).await.map_err(runtime)?;
            crate::drive::passkey::keep(&passkey.file, &made).map_err(config)?;
            lines.push(format!(
                "enrolled a passkey for `{name}` ({}, RP ID {}); it is in {} (mode 0600)",
                user.username,
                made.rp_id,
                passkey.file.display()
            ));
        }
        if let Some(codes) = &user.recovery_codes {
            let made = confirm_static(&mut session).await.map_err(runtime)?;
            let count = made.len();
            let kept = crate::drive::recovery::Codes { codes: made, spent: Vec::new() };
            crate::drive::recovery::keep(&codes.file, &kept).map_err(config)?;
            lines.push(format!(
                "enrolled {count} recovery codes for `{name}` ({}); they are in {} (mode 0600)",
                user.username,
                codes.file.display()
            ));
        }
    }
    Ok(())
}

/// Deletes `username`'s devices of one kind (`collection`, an admin device list), never
/// anyone else's.
async fn delete_devices(
    base: &Url,
    token: &str,
    username: &str,
    collection: &str,
    timeout: std::time::Duration,
) -> Result<(), ProvisionError> {
    use ak_protocol::authentik::admin::{OwnedDevice, path};
    let api = crate::environment::admin_api::AdminApi::new(base, ak_protocol::secret::Secret::new(token), timeout)
        .map_err(runtime)?;
    let api_error = |e: crate::environment::admin_api::ApiError| runtime(e.message);
    let user = api.user(username).await.map_err(api_error)?;
    let pk = user
        .map(|u| u.pk)
        .ok_or_else(|| runtime(format!("authentik has no user `{username}`: did the blueprint import?")))?;
    // The admin lists have no user filter (authentik 2026.2 filters by `name` only): read every
    // page and keep this user's devices.
    let devices: Vec<OwnedDevice> = api.all(collection, &[]).await.map_err(api_error)?;
    for device in devices.iter().filter(|d| d.user.as_ref().map(|u| u.pk) == Some(pk)) {
        api.delete(&path::one(collection, device.pk)).await.map_err(api_error)?;
    }
    Ok(())
}

/// A session with authentik signed in as `username` with their password, to enroll `what` in it
/// (a user already asked for a second factor cannot be, and the error says which stage asked).
pub(crate) async fn signed_in(
    base: &Url,
    (username, password): (&str, &str),
    timeout: std::time::Duration,
    what: &str,
) -> Result<crate::environment::flow_client::FlowClient, String> {
    let mut session = crate::environment::flow_client::FlowClient::new(base, timeout)?;
    match session.sign_in(username, password).await? {
        crate::environment::flow_client::SignIn::Done => Ok(session),
        other => Err(format!("`{username}` cannot sign in to enroll {what}: {other:?}")),
    }
}

/// Enrolls a passkey for `username` as authentik's own setup flow does with a browser: the user
/// signs in with their password, runs `default-authenticator-webauthn-setup`, and answers its
/// registration options with a new credential of the software authenticator, at authentik's
/// origin. Returns the credential.
pub async fn enroll_passkey(
    base: &Url,
    username: &str,
    password: &str,
    timeout: std::time::Duration,
) -> Result<ak_protocol::webauthn::Passkey, String> {
    let mut session = signed_in(base, (username, password), timeout, "a passkey").await?;
    register_passkey(&mut session, base).await
}

/// [`enroll_passkey`] in a session signed in already, with authentik at `base`.
pub(crate) async fn register_passkey(
    session: &mut crate::environment::flow_client::FlowClient,
    base: &Url,
) -> Result<ak_protocol::webauthn::Passkey, String> {
    const SETUP: &str = ak_protocol::authentik::flows::WEBAUTHN_SETUP;
    let challenge = session.challenge(SETUP, None).await?;
    let ChallengeKind::AuthenticatorWebAuthn { registration } = &challenge.kind else {
        let answered = crate::environment::flow_client::shown_component(&challenge);
        return Err(format!("flow `{SETUP}` did not ask for a passkey (answered `{answered}`)"));
    };
    let origin = base.origin().ascii_serialization();
    let (passkey, response) = ak_protocol::webauthn::Passkey::create(registration, &origin)
        .map_err(|e| format!("flow `{SETUP}`: the authenticator cannot register: {e}"))?;
    let done = session.challenge(SETUP, Some(&Answer::AuthenticatorWebAuthn { response })).await?;
    if done.component() != component::REDIRECT {
        let errors = ak_protocol::authentik::flow_errors(&done);
        return Err(format!("flow `{SETUP}` did not register the passkey: {}", errors.join("; ")));
    }
    Ok(passkey)
}

/// Enrolls recovery codes for `username` as authentik's own setup flow does: the user signs in
/// with their password, runs `default-authenticator-static-setup`, and confirms the codes it
/// shows. Returns the codes.
pub async fn enroll_recovery_codes(
    base: &Url,
    username: &str,
    password: &str,
    timeout: std::time::Duration,
) -> Result<Vec<String>, String> {
    let mut session = signed_in(base, (username, password), timeout, "recovery codes").await?;
    confirm_static(&mut session).await
}

/// [`enroll_recovery_codes`] in a session signed in already.
pub(crate) async fn confirm_static(
    session: &mut crate::environment::flow_client::FlowClient,
) -> Result<Vec<String>, String> {
    const SETUP: &str = ak_protocol::authentik::flows::STATIC_SETUP;
    let challenge = session.challenge(SETUP, None).await?;
    let ChallengeKind::AuthenticatorStatic { codes } = &challenge.kind else {
        let answered = crate::environment::flow_client::shown_component(&challenge);
        return Err(format!("flow `{SETUP}` did not show recovery codes (answered `{answered}`)"));
    };
    let codes: Vec<String> = codes.iter().map(|c| c.expose().to_string()).collect();
    let done = session.challenge(SETUP, Some(&Answer::AuthenticatorStatic)).await?;
    if done.component() != component::REDIRECT {
        let errors = ak_protocol::authentik::flow_errors(&done);
        return Err(format!("flow `{SETUP}` did not confirm the recovery codes: {}", errors.join("; ")));
    }
    Ok(codes)
}

/// Enrolls a TOTP device for the user signed in to `session` as authentik's own setup flow does:
/// `default-authenticator-totp-setup`, its secret confirmed with a current code. Returns the
/// secret.
pub(crate) async fn confirm_totp(session: &mut crate::environment::flow_client::FlowClient) -> Result<Vec<u8>, String> {
    const SETUP: &str = ak_protocol::authentik::flows::TOTP_SETUP;
    let challenge = session.challenge(SETUP, None).await?;
    let uri = match &challenge.kind {
        ChallengeKind::AuthenticatorTotp { config_url } => config_url.expose(),
        _ => "",
    };
    let secret = ak_protocol::totp::secret_of_uri(uri).ok_or_else(|| {
        let answered = crate::environment::flow_client::shown_component(&challenge);
        format!("flow `{SETUP}` did not offer a TOTP secret (answered `{answered}`)")
    })?;
    let step = ak_protocol::totp::current_step();
    let code = ak_protocol::secret::Secret::new(ak_protocol::totp::code_at_step(&secret, step, 6));
    let done = session.challenge(SETUP, Some(&Answer::AuthenticatorTotp { code })).await?;
    if done.component() != component::REDIRECT {
        let errors = ak_protocol::authentik::flow_errors(&done);
        return Err(format!("flow `{SETUP}` did not confirm the device: {}", errors.join("; ")));
    }
    // The device has accepted this step: the next run starts after it instead of waiting.
    crate::drive::totp::remember(&secret, step);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn env_tags_become_quoted_values() {
        let text = "a: !Env X\nb: !Env [Y, \"fallback\"]\nc: !Env [Z, plain]\n";
        let lookup = |n: &str| Ok(if n == "X" { Some("va\"lue".to_string()) } else { None });
        assert_eq!(
            render("f.yaml", text, &lookup).expect("render"),
            "a: \"va\\\"lue\"\nb: \"fallback\"\nc: \"plain\"\n"
        );
        let err = render("f.yaml", "x: 1\ny: !Env MISSING\n", &lookup).expect_err("missing");
        assert_eq!(err, "f.yaml:2: `!Env MISSING` is not set: export MISSING");
    }
}
