//! The doctor's checks: pure functions from what was read ([`Facts`]) to [`Finding`]s. Each
//! finding names the setting as authentik's admin interface names it, what ChatGPT does with it,
//! and the fix. No network here: `mod.rs` reads, these judge, and the tests give them values.

use std::collections::BTreeSet;

use ak_protocol::authentik::admin::{
    AccessCheck, Application, CertificateKeyPair, Flow, MatchingMode, OAuth2Provider, PolicyBinding, PolicyEngineMode,
    PropertyMapping, User, UserPreview,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// ChatGPT's login fails, or is unsafe, because of it.
    Error,
    /// It works today but breaks or surprises later.
    Warning,
    /// A setting worth knowing, with what changing it does.
    Info,
}

impl Level {
    /// `error`, `warning`, `info`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub level: Level,
    /// The object: `provider ChatGPT`, `application chatgpt`, `user ann`.
    pub object: String,
    /// The setting, as the admin interface names it (`Signing Key`, `Client type`).
    pub setting: String,
    /// What is wrong or worth knowing.
    pub message: String,
    /// What to do, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// What the doctor read of an application.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The application.
    pub application: Application,
    /// Its provider when it is an OAuth2/OpenID one (`None`: none, or another kind).
    pub provider: Option<OAuth2Provider>,
    /// The provider's scope mappings, each with what it returned for a test user, if evaluated.
    pub mappings: Vec<(PropertyMapping, Evaluated)>,
    /// The provider's property mappings that could not be read as scope mappings.
    pub unknown_mappings: Vec<String>,
    /// The signing key, when set: the pair, or why it could not be read.
    pub signing_key: Option<Result<CertificateKeyPair, String>>,
    /// The encryption key's name, when set.
    pub encryption_key: Option<String>,
    /// The authorization flow.
    pub authorization_flow: FlowRead,
    /// Whether the token's user is a superuser: authentik evaluates `check_access` for another
    /// user only then (for anyone else, silently for the token's own user).
    pub token_superuser: bool,
    /// The application's policy bindings.
    pub bindings: Vec<PolicyBinding>,
    /// The users asked about.
    pub users: Vec<UserFacts>,
    /// ChatGPT's verified email domains (from the config).
    pub verified_domains: Vec<String>,
    /// Now, in seconds since the epoch.
    pub now: u64,
}

impl Facts {
    /// What is known of an application before its provider and users are read.
    pub fn of(application: Application, verified_domains: Vec<String>, now: u64) -> Self {
        Self {
            application,
            provider: None,
            mappings: Vec::new(),
            unknown_mappings: Vec::new(),
            signing_key: None,
            encryption_key: None,
            authorization_flow: FlowRead::Unset,
            token_superuser: true,
            bindings: Vec::new(),
            users: Vec::new(),
            verified_domains,
            now,
        }
    }
}

/// The provider's authorization flow, as read.
#[derive(Debug, Clone)]
pub enum FlowRead {
    /// The provider names none.
    Unset,
    /// It names one the token may not view.
    NotVisible,
    /// The flow.
    Flow(Flow),
}

/// What a mapping returned when authentik evaluated it (its claims, or the error it raised), if
/// it was evaluated.
pub type Evaluated = Option<Result<Map<String, Value>, String>>;

/// What the doctor read of one user.
#[derive(Debug, Clone)]
pub struct UserFacts {
    /// The username asked about.
    pub username: String,
    /// The user, if authentik has one by that name.
    pub user: Option<User>,
    /// authentik's evaluation of the application's bindings for them.
    pub access: Option<AccessCheck>,
    /// The claims authentik would send for them.
    pub preview: Option<UserPreview>,
    /// The model of each of their MFA devices (`authentik_stages_authenticator_totp.totpdevice`…).
    pub devices: Vec<String>,
}

/// The claims ChatGPT requires, each with the error code its absence gives.
pub const REQUIRED_CLAIMS: [(&str, &str); 4] = [
    ("sub", "missing_claim_sub"),
    ("email", "missing_claim_email"),
    ("given_name", "missing_claim_given_name"),
    ("family_name", "missing_claim_family_name"),
];

/// The managed mappings' ids and the claims they return (authentik 2026.2).
const MANAGED: [(&str, &[&str]); 4] = [
    ("goauthentik.io/providers/oauth2/scope-openid", &[]),
    ("goauthentik.io/providers/oauth2/scope-email", &["email", "email_verified"]),
    (
        "goauthentik.io/providers/oauth2/scope-profile",
        &["name", "given_name", "preferred_username", "nickname", "groups"],
    ),
    ("goauthentik.io/providers/oauth2/scope-offline_access", &[]),
];

/// Every finding about the application, its provider and the users asked about.
pub fn check(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let app = format!("application {}", facts.application.slug);
    let Some(provider) = &facts.provider else {
        out.push(finding(
            Level::Error,
            &app,
            "Provider",
            "the application has no OAuth2/OpenID provider".into(),
            Some("create an OAuth2/OpenID Provider and select it as the application's Provider".into()),
        ));
        return out;
    };
    let p = format!("provider {}", provider.name);
    out.extend(client_type(provider, &p));
    out.extend(redirect_uris(provider, &p));
    out.extend(scopes(facts, &p));
    out.extend(signing_key(facts, &p));
    out.extend(modes_and_validity(provider, &p));
    out.extend(flow(facts, &p));
    out.extend(bindings(facts, &app));
    out.extend(limits(facts, &app));
    for user in &facts.users {
        out.extend(user_findings(user, facts));
    }
    out.sort_by_key(|f| f.level);
    out
}

/// What could not be judged for the users asked about, said once.
fn limits(facts: &Facts, app: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if facts.users.is_empty() {
        return out;
    }
    if !facts.token_superuser {
        out.push(finding(
            Level::Warning,
            app,
            "API token",
            "its user is not a superuser, and authentik evaluates an application's bindings for another user only for \
             a superuser: the users' access was not checked"
                .into(),
            Some("run doctor with a superuser's token (the bootstrap token's user is one)".into()),
        ));
    }
    if facts.verified_domains.is_empty() {
        out.push(finding(
            Level::Info,
            app,
            "ChatGPT's verified domains",
            "not configured (`chatgpt.verified_domains` in ak-e2e.yaml): the users' email domains were not checked"
                .into(),
            None,
        ));
    }
    out
}

fn finding(level: Level, object: &str, setting: &str, message: String, fix: Option<String>) -> Finding {
    Finding { level, object: object.into(), setting: setting.into(), message, fix }
}

fn client_type(provider: &OAuth2Provider, p: &str) -> Option<Finding> {
    (provider.client_type != "confidential").then(|| {
        finding(
            Level::Error,
            p,
            "Client type",
            format!(
                "`{}`: ChatGPT signs in with a client secret, which a public client does not check",
                provider.client_type
            ),
            Some("set Client type to Confidential and give ChatGPT the Client Secret".into()),
        )
    })
}

fn redirect_uris(provider: &OAuth2Provider, p: &str) -> Vec<Finding> {
    let setting = "Redirect URIs/Origins";
    if provider.redirect_uris.is_empty() {
        return vec![finding(
            Level::Error,
            p,
            setting,
            "none: authentik takes the first redirect URI it is sent and allows only that one afterwards".into(),
            Some("add ChatGPT's Login redirect URI, matching mode Strict".into()),
        )];
    }
    let mut out = Vec::new();
    for uri in provider.redirect_uris.iter().filter(|u| u.matching_mode == MatchingMode::Regex) {
        out.push(match open_redirect(&uri.url) {
            Some(host) => finding(
                Level::Error,
                p,
                setting,
                format!("the regular expression `{}` lets any host through (it matches {host}): an open redirect that hands authorization codes to whoever asks", uri.url),
                Some("replace it with ChatGPT's Login redirect URI, matching mode Strict".into()),
            ),
            None => finding(
                Level::Warning,
                p,
                setting,
                format!("`{}` is matched as a regular expression; the integration guide says Strict", uri.url),
                Some("use ChatGPT's Login redirect URI, matching mode Strict".into()),
            ),
        });
    }
    out
}

/// A URL of a host nobody registered that the pattern (matched whole, as authentik does)
/// accepts, if there is one.
fn open_redirect(pattern: &str) -> Option<String> {
    let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).ok()?;
    // The host names the pattern spells (`chatgpt\.com`, escaped or not), each tried with a
    // host of its own behind it (`chatgpt.com.evil.invalid`) and in a path (`evil.invalid/chatgpt.com`).
    let spelled = regex_lite::Regex::new(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").ok()?;
    let unescaped = pattern.replace("\\.", ".");
    let mut hosts = vec!["evil.invalid".to_string()];
    for literal in spelled.find_iter(&unescaped).map(|m| m.as_str()) {
        hosts.extend([
            format!("{literal}.evil.invalid"),
            format!("www.{literal}.evil.invalid"),
            format!("evil.invalid/{literal}"),
        ]);
    }
    let paths = ["", "/", "/sso/oidc/conn/callback", "/callback"];
    for scheme in ["https", "http"] {
        for host in &hosts {
            for path in paths {
                let candidate = format!("{scheme}://{host}{path}");
                if re.is_match(&candidate) {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

fn scopes(facts: &Facts, p: &str) -> Vec<Finding> {
    let setting = "Scopes";
    let mut out = Vec::new();
    for unknown in &facts.unknown_mappings {
        out.push(finding(
            Level::Warning,
            p,
            setting,
            format!("property mapping {unknown} is not a scope mapping; the doctor cannot judge what it returns"),
            None,
        ));
    }
    let scope_of = |m: &PropertyMapping| m.scope_name.clone().unwrap_or_default();
    for scope in ["openid", "email", "profile"] {
        if !facts.mappings.iter().any(|(m, _)| scope_of(m) == scope) {
            let effect = match scope {
                "openid" => "authentik issues no ID token".to_string(),
                "email" => "the ID token has no `email` (ChatGPT: missing_claim_email)".to_string(),
                _ => {
                    "the ID token has no `given_name` or `family_name` (ChatGPT: missing_claim_given_name)".to_string()
                }
            };
            out.push(finding(
                Level::Error,
                p,
                setting,
                format!("no mapping serves the scope `{scope}` ChatGPT asks for: {effect}"),
                Some(format!("add a scope mapping for `{scope}` (the default `authentik default OAuth Mapping: OpenID '{scope}'`)")),
            ));
        }
    }
    let Some(returned) = returned_claims(facts, &mut out) else { return out };
    let has_scope = |s: &str| facts.mappings.iter().any(|(m, _)| scope_of(m) == s);
    for (claim, code) in REQUIRED_CLAIMS.iter().skip(1) {
        let scope = if *claim == "email" { "email" } else { "profile" };
        if has_scope(scope) && !returned.contains(*claim) {
            out.push(missing_claim(facts, p, claim, code, scope));
        }
    }
    out
}

/// What the email and profile mappings return, by claim name; `None` when one could not be
/// judged (not evaluated, or it raised: that is a finding of its own).
fn returned_claims(facts: &Facts, out: &mut Vec<Finding>) -> Option<BTreeSet<String>> {
    let scope_of = |m: &PropertyMapping| m.scope_name.clone().unwrap_or_default();
    let mut returned: BTreeSet<String> = BTreeSet::new();
    let mut judged = true;
    for (mapping, output) in facts.mappings.iter().filter(|(m, _)| ["email", "profile"].contains(&scope_of(m).as_str()))
    {
        if let Some(managed) = mapping.managed.as_deref().and_then(|id| MANAGED.iter().find(|(m, _)| *m == id)) {
            returned.extend(managed.1.iter().map(|c| c.to_string()));
            continue;
        }
        match output {
            Some(Ok(claims)) => returned.extend(claims.keys().cloned()),
            Some(Err(e)) => {
                judged = false;
                out.push(finding(
                    Level::Error,
                    &format!("scope mapping {}", mapping.name),
                    "Expression",
                    format!("raised an error when authentik evaluated it: {e}"),
                    Some("fix the expression (Customization → Property Mappings → Test shows the error)".into()),
                ));
            }
            None => judged = false,
        }
    }
    judged.then_some(returned)
}

/// The error for a required claim no mapping returns.
fn missing_claim(facts: &Facts, p: &str, claim: &str, code: &str, scope: &str) -> Finding {
    let default_profile = facts
        .mappings
        .iter()
        .any(|(m, _)| m.managed.as_deref() == Some("goauthentik.io/providers/oauth2/scope-profile"));
    let why = if default_profile && claim == "family_name" {
        "authentik's default `profile` mapping returns no `family_name` and puts the full name in `given_name`"
            .to_string()
    } else {
        format!("no `{scope}` mapping returns it")
    };
    finding(
        Level::Error,
        p,
        "Scopes",
        format!("the ID token will have no `{claim}`: {why}; ChatGPT refuses the login ({code})"),
        Some(format!(
            "attach a custom `{scope}` scope mapping that returns `{claim}` (README: \"Checking your own ChatGPT application\" has one)"
        )),
    )
}

fn signing_key(facts: &Facts, p: &str) -> Vec<Finding> {
    let setting = "Signing Key";
    let mut out = Vec::new();
    if let Some(name) = &facts.encryption_key {
        out.push(finding(
            Level::Error,
            p,
            "Encryption Key",
            format!("`{name}`: authentik encrypts the ID token (JWE), which ChatGPT cannot read"),
            Some("clear the provider's Encryption Key".into()),
        ));
    }
    let key = match &facts.signing_key {
        None => {
            out.push(finding(
                Level::Error,
                p,
                setting,
                "none: authentik signs ID tokens with HS256 and the client secret, which ChatGPT does not accept \
                 (id_token_alg_not_allowed)"
                    .into(),
                Some("select a certificate as the Signing Key (e.g. `authentik Self-signed Certificate`); tokens are then RS256".into()),
            ));
            return out;
        }
        Some(Err(e)) => {
            out.push(finding(Level::Error, p, setting, format!("cannot be read: {e}"), None));
            return out;
        }
        Some(Ok(key)) => key,
    };
    let alg = match key.key_type.as_deref() {
        Some("rsa") => "RS256",
        Some("ec" | "ecdsa") => "ES256",
        Some(other) => {
            out.push(finding(
                Level::Error,
                p,
                setting,
                format!(
                    "`{}` is a {other} key: authentik would sign with EdDSA, which ChatGPT does not accept",
                    key.name
                ),
                Some("select an RSA certificate (RS256)".into()),
            ));
            return out;
        }
        None => "",
    };
    if !key.private_key_available {
        out.push(finding(
            Level::Error,
            p,
            setting,
            format!("`{}` has no private key in authentik, so nothing can be signed with it", key.name),
            Some("select a certificate-key pair that has its private key".into()),
        ));
    }
    out.push(expiry(key, alg, facts.now, p));
    out
}

/// The certificate's expiry: expired (error), within 30 days (warning), or when (info).
fn expiry(key: &CertificateKeyPair, alg: &str, now: u64, p: &str) -> Finding {
    let (setting, when) = ("Signing Key", date(key.cert_expiry.as_deref()));
    match key.cert_expiry.as_deref().and_then(unix_time) {
        Some(expiry) if expiry <= now => finding(
            Level::Error,
            p,
            setting,
            format!("the certificate of `{}` expired on {when}", key.name),
            Some("generate a new certificate (System → Certificates → Generate) and select it; ChatGPT reads the new key from the JWKS".into()),
        ),
        Some(expiry) if expiry <= now + 30 * 86_400 => finding(
            Level::Warning,
            p,
            setting,
            format!("the certificate of `{}` expires on {when} (in {} days)", key.name, (expiry - now) / 86_400),
            Some("generate a new certificate and select it before then".into()),
        ),
        _ => finding(Level::Info, p, setting, format!("`{}`: ID tokens are signed {alg}, valid until {when}", key.name), None),
    }
}

fn modes_and_validity(provider: &OAuth2Provider, p: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let (level, mode) = match provider.sub_mode.as_str() {
        "hashed_user_id" => (Level::Info, "based on the user's hashed ID (the default): stable for the user's life"),
        "user_id" => (Level::Info, "based on the user's ID: stable for the user's life"),
        "user_uuid" => (Level::Info, "based on the user's UUID: stable for the user's life"),
        "user_username" => {
            (Level::Warning, "based on the username: renaming a user gives them a new, empty ChatGPT account")
        }
        "user_email" => {
            (Level::Warning, "based on the email: a changed address gives the user a new, empty ChatGPT account")
        }
        "user_upn" => (
            Level::Warning,
            "based on the UPN attribute (the hashed ID where it is missing): a changed UPN gives a new ChatGPT account",
        ),
        _ => (Level::Info, "a mode this doctor does not know"),
    };
    out.push(finding(
        level,
        p,
        "Subject mode",
        format!(
            "`{}`, {mode}. ChatGPT keeps `sub` as the person's identity: changing this mode later gives every user a new ChatGPT account",
            provider.sub_mode
        ),
        None,
    ));
    let issuer = match provider.issuer_mode.as_str() {
        "global" => "the same issuer for every provider (authentik's base URL)",
        _ => {
            "each provider its own issuer, with the application's slug: renaming the slug changes the issuer and breaks ChatGPT's discovery URL"
        }
    };
    out.push(finding(
        Level::Info,
        p,
        "Issuer mode",
        format!(
            "`{}`: {issuer}. Changing it makes ChatGPT refuse every token until its discovery URL is updated",
            provider.issuer_mode
        ),
        None,
    ));
    let seconds = |text: &str| authentik_standin::directory::parse_timedelta(text).map(|d| d.as_secs());
    if let Some(s) = seconds(&provider.access_token_validity).filter(|s| *s < 60) {
        out.push(finding(
            Level::Warning,
            p,
            "Access token validity",
            format!(
                "`{}` ({s} s) also bounds the ID token: a clock a little off at ChatGPT rejects it as expired",
                provider.access_token_validity
            ),
            Some("use at least `minutes=5` (the default)".into()),
        ));
    }
    if let Some(s) = seconds(&provider.access_code_validity).filter(|s| *s < 30) {
        out.push(finding(
            Level::Warning,
            p,
            "Access code validity",
            format!(
                "`{}` ({s} s): a slow redirect back to ChatGPT finds the code expired (invalid_grant)",
                provider.access_code_validity
            ),
            Some("use at least `minutes=1` (the default)".into()),
        ));
    }
    if !provider.include_claims_in_id_token {
        out.push(finding(
            Level::Error,
            p,
            "Include claims in id_token",
            "off: the ID token carries no `email`, `given_name` or `family_name`, and ChatGPT reads them from the ID token".into(),
            Some("turn Include claims in id_token on".into()),
        ));
    }
    out
}

fn flow(facts: &Facts, p: &str) -> Option<Finding> {
    let flow = match &facts.authorization_flow {
        FlowRead::Flow(flow) => flow,
        FlowRead::Unset => {
            return Some(finding(
                Level::Error,
                p,
                "Authorization flow",
                "none: authentik cannot authorize the login".into(),
                Some("select an authorization flow (default-provider-authorization-implicit-consent)".into()),
            ));
        }
        FlowRead::NotVisible => {
            return Some(finding(
                Level::Info,
                p,
                "Authorization flow",
                "set, but the token may not view flows: not checked".into(),
                None,
            ));
        }
    };
    (flow.slug.contains("explicit-consent")).then(|| {
        finding(
            Level::Info,
            p,
            "Authorization flow",
            format!("`{}`: each user is asked to consent to ChatGPT on their first login", flow.slug),
            None,
        )
    })
}

fn bindings(facts: &Facts, app: &str) -> Vec<Finding> {
    let setting = "Policy / Group / User Bindings";
    let enabled: Vec<&PolicyBinding> = facts.bindings.iter().filter(|b| b.enabled).collect();
    let mut out = Vec::new();
    for b in facts.bindings.iter().filter(|b| !b.enabled) {
        out.push(finding(
            Level::Info,
            app,
            setting,
            format!("the binding of {} is disabled: it is not evaluated", b.subject()),
            None,
        ));
    }
    if enabled.is_empty() {
        out.push(finding(
            Level::Warning,
            app,
            setting,
            "none enabled: every user of this authentik may sign in to ChatGPT".into(),
            Some("bind the group of ChatGPT's users to the application".into()),
        ));
    } else {
        let mode = match facts.application.policy_engine_mode {
            PolicyEngineMode::Any => "any binding passing",
            PolicyEngineMode::All => "every binding passing",
        };
        let names: Vec<String> = enabled.iter().map(|b| b.subject()).collect();
        out.push(finding(Level::Info, app, setting, format!("{}; a user gets in with {mode}", names.join(", ")), None));
    }
    out
}

/// The findings about one user: active, let in by the bindings, and the claims ChatGPT needs.
pub fn user_findings(u: &UserFacts, facts: &Facts) -> Vec<Finding> {
    let object = format!("user {}", u.username);
    let Some(user) = &u.user else {
        return vec![finding(Level::Error, &object, "Username", "authentik has no user by this username".into(), None)];
    };
    let mut out = Vec::new();
    if !user.is_active {
        out.push(finding(
            Level::Error,
            &object,
            "Is active",
            "off: authentik refuses their sign-in".into(),
            Some("activate the user (Directory → Users)".into()),
        ));
    }
    if let Some(access) = u.access.as_ref().filter(|a| !a.passing) {
        let said = if access.messages.is_empty() {
            "no policy gave a message".to_string()
        } else {
            format!(
                "the policies said: {}",
                access.messages.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
            )
        };
        out.push(finding(
            Level::Error,
            &object,
            "Policy / Group / User Bindings",
            format!(
                "authentik's evaluation of application {} denies them ({said}): authentik shows \"Permission denied\" and ChatGPT gets no login",
                facts.application.slug
            ),
            Some("bind a group of theirs to the application, or fix the policy".into()),
        ));
    }
    if let Some(preview) = &u.preview {
        out.extend(claim_findings(&object, &preview.preview, &facts.verified_domains));
    }
    let has = |model: &str| u.devices.iter().any(|d| d.to_lowercase().ends_with(model));
    if has(".totpdevice") && has(".staticdevice") {
        out.push(finding(
            Level::Warning,
            &object,
            "MFA devices",
            "a TOTP device and recovery codes: authentik checks every code typed at the MFA stage against the \
             recovery codes first and counts a TOTP code as a refused one there (django-otp throttling: no code is \
             checked for 2^(n-1) s after the n-th refusal in a row; only an accepted recovery code resets it), so \
             each TOTP sign-in locks their recovery codes for longer, and after some days of TOTP sign-ins the \
             recovery code they need is refused (\"Invalid Token\")"
                .into(),
            Some(
                "no authentik setting changes it: when they need a recovery code, give them new ones (delete their \
                 static device, Directory → Users → MFA Authenticators, and let them set it up again: a new device \
                 starts unlocked)"
                    .into(),
            ),
        ));
    }
    out
}

/// The findings about the claims authentik would send for a user.
pub fn claim_findings(object: &str, claims: &Map<String, Value>, verified_domains: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().trim().to_string();
    for (claim, code) in REQUIRED_CLAIMS {
        let missing = match claims.get(claim) {
            None | Some(Value::Null) => Some("absent"),
            Some(Value::String(s)) if s.trim().is_empty() => Some("empty"),
            _ => None,
        };
        if let Some(how) = missing {
            out.push(finding(
                Level::Error,
                object,
                &format!("claim {claim}"),
                format!("{how} in the claims authentik would send: ChatGPT refuses the login ({code})"),
                Some(format!(
                    "make the scope mapping return a non-empty `{claim}` for this user (or fill in what it reads)"
                )),
            ));
        }
    }
    let (given, name) = (text("given_name"), text("name"));
    if !given.is_empty() && given == name && given.contains(' ') {
        out.push(finding(
            Level::Warning,
            object,
            "claim given_name",
            format!("\"{given}\" is the full name: ChatGPT shows it as the first name"),
            Some("return the first name in `given_name` (a custom profile mapping)".into()),
        ));
    }
    let email = text("email");
    if let Some((_, domain)) = email.rsplit_once('@') {
        let domain = domain.to_ascii_lowercase();
        if !verified_domains.is_empty() && !verified_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
            out.push(finding(
                Level::Error,
                object,
                "claim email",
                format!(
                    "{email} is not at a domain ChatGPT has verified ({}): ChatGPT sends the login elsewhere, never to authentik",
                    verified_domains.join(", ")
                ),
                Some("verify the domain in ChatGPT (or list it in `chatgpt.verified_domains` if it is)".into()),
            ));
        }
    }
    out
}

/// Seconds since the epoch of authentik's ISO 8601 time, if it reads and is after 1970.
fn unix_time(text: &str) -> Option<u64> {
    ak_protocol::time::parse_iso8601(text).and_then(|t| u64::try_from(t).ok())
}

/// The date part of an ISO 8601 time, or `no date`.
fn date(text: Option<&str>) -> String {
    text.map(|t| t.split('T').next().unwrap_or(t).to_string()).unwrap_or_else(|| "no date".into())
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
