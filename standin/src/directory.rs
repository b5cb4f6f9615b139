//! What authentik knows: users, groups, scope mappings, OAuth2 providers, applications, policy
//! bindings and TOTP devices, with authentik's built-in defaults. Filled from blueprints.

use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::expr;
use ak_protocol::secret::Secret;

/// The built-in flows: slug, designation, title.
pub const FLOWS: &[(&str, &str, &str)] = &[
    (AUTHENTICATION_FLOW, "authentication", "Welcome to authentik!"),
    (IMPLICIT_CONSENT_FLOW, "authorization", "Redirecting to %(app)s"),
    (EXPLICIT_CONSENT_FLOW, "authorization", "Redirecting to %(app)s"),
    (INVALIDATION_FLOW, "invalidation", "Logout"),
    (TOTP_SETUP_FLOW, "stage_configuration", "Set up Two-Factor authentication"),
    (WEBAUTHN_SETUP_FLOW, "stage_configuration", "Setup WebAuthn"),
    (STATIC_SETUP_FLOW, "stage_configuration", "Setup Static OTP Tokens"),
];
/// Whether `slug` is one of the built-in flows.
pub fn is_flow(slug: &str) -> bool {
    FLOWS.iter().any(|(s, _, _)| *s == slug)
}

impl Directory {
    /// Whether `slug` is a built-in flow or one a blueprint made.
    pub fn has_flow(&self, slug: &str) -> bool {
        is_flow(slug) || self.login_flow(slug).is_some()
    }

    /// The authentication flow a blueprint made with this slug.
    pub fn login_flow(&self, slug: &str) -> Option<&LoginFlow> {
        self.login_flows.iter().find(|f| f.slug == slug)
    }

    /// The stage a blueprint made with this name.
    pub fn stage(&self, name: &str) -> Option<&StageDef> {
        self.stages.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// `default-authentication-flow`: identification → password → authenticator-validate → login.
pub const AUTHENTICATION_FLOW: &str = ak_protocol::authentik::flows::AUTHENTICATION;
/// `default-provider-authorization-implicit-consent`: no stages; a silent redirect.
pub const IMPLICIT_CONSENT_FLOW: &str = "default-provider-authorization-implicit-consent";
/// `default-provider-authorization-explicit-consent`: a consent stage, remembered.
pub const EXPLICIT_CONSENT_FLOW: &str = "default-provider-authorization-explicit-consent";
/// `default-authenticator-totp-setup`: enrolls a TOTP device for the signed-in user.
pub const TOTP_SETUP_FLOW: &str = ak_protocol::authentik::flows::TOTP_SETUP;
/// `default-authenticator-webauthn-setup`: registers a passkey for the signed-in user.
pub const WEBAUTHN_SETUP_FLOW: &str = ak_protocol::authentik::flows::WEBAUTHN_SETUP;
/// `default-authenticator-static-setup`: gives the signed-in user recovery codes.
pub const STATIC_SETUP_FLOW: &str = ak_protocol::authentik::flows::STATIC_SETUP;
/// `default-provider-invalidation-flow`.
pub const INVALIDATION_FLOW: &str = "default-provider-invalidation-flow";
/// The name of authentik's self-signed certificate-key pair, the only signing key here.
pub const SELF_SIGNED_KEY: &str = "authentik Self-signed Certificate";

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    /// Primary key, from 1 in creation order.
    pub pk: u64,
    /// UUID.
    pub uuid: String,
    /// Username (unique; what identification matches).
    pub username: String,
    /// Full name.
    pub name: String,
    /// Email (identification matches it too).
    pub email: String,
    /// Password, if one is set.
    pub password: Option<Secret>,
    /// Group names.
    pub groups: Vec<String>,
    /// Free-form attributes.
    pub attributes: Map<String, Value>,
    /// Whether the user may log in.
    pub is_active: bool,
}

/// A group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Name (what bindings and the `groups` claim use).
    pub name: String,
    /// Free-form attributes.
    pub attributes: Map<String, Value>,
}

/// What a scope mapping returns.
#[derive(Debug, Clone)]
pub enum MappingKind {
    /// `scope-openid`: nothing.
    OpenId,
    /// `scope-email`: `email`, `email_verified` (false since 2025.10).
    Email,
    /// `scope-profile`: `name`, `given_name` (= the full name), `preferred_username`,
    /// `nickname`, `groups`. No `family_name`.
    Profile,
    /// `scope-offline_access`: nothing; enables refresh tokens.
    OfflineAccess,
    /// A custom mapping in the recognised expression form.
    Custom(expr::Mapping),
}

/// A scope mapping.
#[derive(Debug, Clone)]
pub struct ScopeMapping {
    /// Name (what providers list it by).
    pub name: String,
    /// The managed id of a default mapping.
    pub managed: Option<String>,
    /// The scope it serves.
    pub scope_name: String,
    /// Shown on the consent page.
    pub description: String,
    /// What it returns.
    pub kind: MappingKind,
}

/// Redirect URI matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchingMode {
    /// Exact string equality.
    Strict,
    /// Full regular-expression match.
    Regex,
}

/// One allowed redirect URI.
#[derive(Debug, Clone)]
pub struct RedirectUri {
    /// How it matches.
    pub mode: MatchingMode,
    /// The URI or pattern.
    pub url: String,
}

/// How `sub` is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubMode {
    /// SHA-256 hex of `"<pk>-<install id>"` (the default).
    HashedUserId,
    /// The user's pk.
    UserId,
    /// The user's UUID.
    UserUuid,
    /// Identification by the username.
    UserUsername,
    /// Identification by the email.
    UserEmail,
    /// The `upn` attribute (falls back to the hashed id).
    UserUpn,
}

/// Issuer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerMode {
    /// `<base>/application/o/<slug>/` (the default).
    PerProvider,
    /// `<base>/`.
    Global,
}

/// An OAuth2/OpenID provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Name (what applications name it by).
    pub name: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Whether a client secret is required at the token endpoint.
    pub confidential: bool,
    /// Allowed redirect URIs (an empty list learns the first one it sees).
    pub redirect_uris: Vec<RedirectUri>,
    /// Names of attached scope mappings.
    pub mappings: Vec<String>,
    /// Signing key name; `None` means HS256 with the client secret.
    pub signing_key: Option<String>,
    /// The authorization flow's slug.
    pub authorization_flow: String,
    /// The invalidation flow's slug.
    pub invalidation_flow: Option<String>,
    /// The flow a visitor who is not signed in goes through (`authentication_flow`); none:
    /// `default-authentication-flow`.
    pub authentication_flow: Option<String>,
    /// `sub` mode.
    pub sub_mode: SubMode,
    /// Issuer mode.
    pub issuer_mode: IssuerMode,
    /// Code lifetime.
    pub access_code_validity: Duration,
    /// Access token (and ID token) lifetime.
    pub access_token_validity: Duration,
    /// Refresh token lifetime.
    pub refresh_token_validity: Duration,
    /// Whether scope claims go into the ID token.
    pub include_claims_in_id_token: bool,
}

impl Provider {
    /// A provider with authentik's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            client_id: String::new(),
            client_secret: Secret::new(""),
            confidential: true,
            redirect_uris: Vec::new(),
            mappings: Vec::new(),
            signing_key: None,
            authorization_flow: IMPLICIT_CONSENT_FLOW.into(),
            invalidation_flow: Some(INVALIDATION_FLOW.into()),
            authentication_flow: None,
            sub_mode: SubMode::HashedUserId,
            issuer_mode: IssuerMode::PerProvider,
            access_code_validity: Duration::from_secs(60),
            access_token_validity: Duration::from_secs(300),
            refresh_token_validity: Duration::from_secs(30 * 86400),
            include_claims_in_id_token: true,
        }
    }
}

/// An application.
#[derive(Debug, Clone)]
pub struct Application {
    /// Slug (in the issuer and discovery URLs).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Provider name.
    pub provider: Option<String>,
    /// Launch URL.
    pub meta_launch_url: Option<String>,
    /// `true`: every binding must pass ("all"); `false`: any ("any", the default).
    pub policy_mode_all: bool,
}

/// Who a binding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingSubject {
    /// A user, by username.
    User(String),
    /// A group, by name.
    Group(String),
}

/// A policy binding on an application.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Application slug.
    pub target: String,
    /// Order among the target's bindings (lowest first).
    pub order: i64,
    /// The user or group it binds.
    pub subject: BindingSubject,
    /// Inverts the result.
    pub negate: bool,
    /// Disabled bindings are ignored.
    pub enabled: bool,
}

/// An authentication flow a blueprint made (`authentik_flows.flow`), run by
/// [`crate::login_flow`]: its stages in the order of their bindings.
#[derive(Debug, Clone)]
pub struct LoginFlow {
    /// Slug (`/if/flow/<slug>/`).
    pub slug: String,
    /// The title its pages show.
    pub title: String,
    /// Its stage bindings, lowest `order` first.
    pub bindings: Vec<StageBinding>,
}

/// A stage bound to a [`LoginFlow`] (`authentik_flows.flowstagebinding`).
#[derive(Debug, Clone)]
pub struct StageBinding {
    /// Order in the flow.
    pub order: i64,
    /// The stage's name.
    pub stage: String,
    /// The policies bound to the binding, judged when the stage comes (`re_evaluate_policies`)
    /// about the pending user; none: the stage always runs.
    pub policies: Vec<StagePolicy>,
    /// `true`: every policy must pass ("all"); `false`: any ("any", the default).
    pub mode_all: bool,
}

/// A policy binding on a [`StageBinding`].
#[derive(Debug, Clone)]
pub struct StagePolicy {
    /// Order among the binding's policies.
    pub order: i64,
    /// What it tests.
    pub test: StageTest,
    /// Inverts the result.
    pub negate: bool,
    /// Disabled bindings are ignored.
    pub enabled: bool,
}

/// What a [`StagePolicy`] tests.
#[derive(Debug, Clone)]
pub enum StageTest {
    /// The pending user is this user, or in this group.
    Subject(BindingSubject),
    /// An expression policy (see [`crate::expr::FlowTest`]).
    Expression(expr::FlowTest),
}

/// A stage a blueprint made, by kind, with the fields the stand-in runs.
#[derive(Debug, Clone)]
pub enum StageDef {
    /// `authentik_stages_identification.identificationstage`.
    Identification {
        /// What a typed identifier is matched against (`email`, `username`), case-insensitively.
        user_fields: Vec<String>,
        /// An unknown identifier goes on as if it were someone (`true`, authentik's default), or
        /// is refused with "Failed to authenticate.".
        pretend_user_exists: bool,
        /// The authenticator validation stage whose settings a passkey sign-in on this stage
        /// follows (`webauthn_stage`); none: the stage offers no passkey.
        webauthn_stage: Option<String>,
    },
    /// `authentik_stages_authenticator_validate.authenticatorvalidatestage`, as an
    /// identification stage's `webauthn_stage`.
    AuthenticatorValidate {
        /// `webauthn_user_verification`: `required`, `preferred` or `discouraged`.
        user_verification: String,
    },
    /// `authentik_stages_deny.denystage`: access denied, with its message.
    Deny {
        /// `deny_message`.
        message: Option<String>,
    },
    /// `authentik_stages_user_login.userloginstage`: the pending user is signed in.
    UserLogin,
}

/// django-otp's throttling of a code-based device (TOTP, static), as authentik 2026.2 has it:
/// after `failures` failed attempts in a row, no code is checked (and none counts) until
/// 2^(failures - 1) seconds after the last one; an accepted code resets it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttle {
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the last one was (Unix seconds, fractional).
    pub failed_at: f64,
}

impl Throttle {
    /// Whether a code may be checked at `now` (Unix seconds).
    pub fn allows(&self, now: f64) -> bool {
        self.failures == 0 || now - self.failed_at >= 2f64.powi(self.failures.saturating_sub(1).min(62) as i32)
    }

    /// A failed attempt at `now`.
    pub fn failed(self, now: f64) -> Self {
        Self { failures: self.failures.saturating_add(1), failed_at: now }
    }
}

/// A TOTP device.
#[derive(Debug, Clone)]
pub struct TotpDevice {
    /// Primary key (the admin API's id).
    pub pk: u64,
    /// Owner's username.
    pub user: String,
    /// Device name.
    pub name: String,
    /// The shared secret (authentik stores it hex-encoded).
    pub key: Secret,
    /// Only confirmed devices are challenged.
    pub confirmed: bool,
    /// Code length.
    pub digits: u32,
    /// The last step whose code the device accepted (a code is accepted once).
    pub last_step: Option<u64>,
    /// When it last signed the user in (ISO 8601).
    pub last_used: Option<String>,
    /// Its throttling after failed codes.
    pub throttle: Throttle,
}

/// A WebAuthn device: a passkey's registered credential (its id, public key and counter).
#[derive(Debug, Clone)]
pub struct WebAuthnDevice {
    /// Primary key (the admin API's id).
    pub pk: u64,
    /// Owner's username.
    pub user: String,
    /// Device name.
    pub name: String,
    /// The credential as registered; its counter is the last one accepted.
    pub credential: ak_protocol::webauthn::Registered,
    /// When it last signed the user in (ISO 8601).
    pub last_used: Option<String>,
}

/// A static device: recovery codes, each accepted once (authentik deletes a code it accepts).
#[derive(Debug, Clone)]
pub struct StaticDevice {
    /// Primary key (the admin API's id).
    pub pk: u64,
    /// Owner's username.
    pub user: String,
    /// Device name.
    pub name: String,
    /// The codes not used yet.
    pub tokens: Vec<Secret>,
    /// When a code of it last signed the user in (ISO 8601).
    pub last_used: Option<String>,
    /// Its throttling after failed codes.
    pub throttle: Throttle,
}

/// What one flow-executor step did to the users' devices, recorded once the step is over.
#[derive(Debug, Default)]
pub(crate) struct DeviceChanges {
    /// A TOTP device the setup flow confirmed.
    pub(crate) totp_enrolled: Option<TotpDevice>,
    /// A passkey the setup flow registered.
    pub(crate) passkey_registered: Option<WebAuthnDevice>,
    /// A TOTP device (pk) and the step whose code it accepted: it will not accept it again.
    pub(crate) code_used: Option<(u64, u64)>,
    /// A passkey (pk) and the counter of the assertion it accepted: the device's counter now.
    pub(crate) passkey_used: Option<(u64, u32)>,
    /// Recovery codes the setup flow confirmed.
    pub(crate) static_enrolled: Option<StaticDevice>,
    /// A static device (pk) and the code it accepted: gone from it.
    pub(crate) static_used: Option<(u64, String)>,
    /// What a code did to the code-based devices it was checked against.
    pub(crate) throttles: Vec<(CodeDevice, Checked)>,
}

/// What checking a code did to a device's throttling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Checked {
    /// Refused at this time (counted if the device, as it is when recorded, checks codes then).
    Refused(f64),
    /// Accepted: the throttling ends.
    Accepted,
}

/// A code-based device, by kind and primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeDevice {
    Totp(u64),
    Static(u64),
}

impl DeviceChanges {
    /// The devices the session's last step used (and, with `reusable-recovery-codes`, a recovery
    /// code kept).
    pub(crate) fn used_in(&mut self, sess: &mut crate::state::Session, defects: &crate::defects::Defects) {
        self.code_used = sess.totp_used.take();
        self.passkey_used = sess.webauthn_used.take();
        self.static_used = sess.static_used.take();
        self.throttles = std::mem::take(&mut sess.throttles);
        if defects.has(&crate::defects::Defect::ReusableRecoveryCodes) {
            self.static_used = self.static_used.take().map(|(pk, _)| (pk, String::new()));
        }
    }

    /// Records the changes in `dir`, at `now` (Unix seconds).
    pub(crate) fn apply(self, dir: &mut Directory, now: u64) {
        if let Some(device) = self.totp_enrolled {
            dir.add_totp_device(device);
        }
        if let Some(device) = self.passkey_registered {
            dir.add_webauthn_device(device);
        }
        if let Some(device) = self.static_enrolled {
            dir.add_static_device(device);
        }
        if let Some((pk, code)) = self.static_used
            && let Some(device) = dir.static_devices.iter_mut().find(|d| d.pk == pk)
        {
            device.tokens.retain(|t| t.expose() != code);
            device.last_used = Some(ak_protocol::time::iso8601(now as i64));
        }
        if let Some((pk, count)) = self.passkey_used
            && let Some(device) = dir.webauthn_devices.iter_mut().find(|d| d.pk == pk)
        {
            device.credential.sign_count = device.credential.sign_count.max(count);
            device.last_used = Some(ak_protocol::time::iso8601(now as i64));
        }
        // Recorded against the device as it is now, not as the step read it: two answers for one
        // user at once are counted as authentik, which checks them one after the other, would.
        for (device, checked) in self.throttles {
            let apply = |throttle: &mut Throttle| match checked {
                Checked::Accepted => *throttle = Throttle::default(),
                Checked::Refused(at) if throttle.allows(at) => *throttle = throttle.failed(at),
                Checked::Refused(_) => {}
            };
            match device {
                CodeDevice::Totp(pk) => {
                    dir.totp_devices.iter_mut().filter(|d| d.pk == pk).for_each(|d| apply(&mut d.throttle))
                }
                CodeDevice::Static(pk) => {
                    dir.static_devices.iter_mut().filter(|d| d.pk == pk).for_each(|d| apply(&mut d.throttle))
                }
            }
        }
        if let Some((pk, step)) = self.code_used
            && let Some(device) = dir.totp_devices.iter_mut().find(|d| d.pk == pk)
        {
            device.last_step = device.last_step.max(Some(step));
            device.last_used = Some(ak_protocol::time::iso8601(now as i64));
        }
    }
}

impl Directory {
    /// Adds a static device, giving it the next primary key.
    pub fn add_static_device(&mut self, mut device: StaticDevice) {
        device.pk = self.static_devices.iter().map(|d| d.pk).max().unwrap_or(0) + 1;
        self.static_devices.push(device);
    }

    /// A user's static devices.
    pub fn static_devices_of(&self, username: &str) -> Vec<&StaticDevice> {
        self.static_devices.iter().filter(|d| d.user == username).collect()
    }

    /// Adds a passkey, giving it the next primary key.
    pub fn add_webauthn_device(&mut self, mut device: WebAuthnDevice) {
        device.pk = self.webauthn_devices.iter().map(|d| d.pk).max().unwrap_or(0) + 1;
        self.webauthn_devices.push(device);
    }

    /// A user's passkeys.
    pub fn webauthn_devices_of(&self, username: &str) -> Vec<&WebAuthnDevice> {
        self.webauthn_devices.iter().filter(|d| d.user == username).collect()
    }

    /// Adds a device, giving it the next primary key.
    pub fn add_totp_device(&mut self, mut device: TotpDevice) {
        device.pk = self.totp_devices.iter().map(|d| d.pk).max().unwrap_or(0) + 1;
        self.totp_devices.push(device);
    }
}

impl TotpDevice {
    /// The secret bytes.
    pub fn key_bytes(&self) -> Vec<u8> {
        ak_protocol::totp::decode_hex(self.key.expose()).unwrap_or_default()
    }
}

/// Everything provisioned.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Users, from the blueprints and the admin API.
    pub users: Vec<User>,
    /// Groups, by name.
    pub groups: Vec<Group>,
    /// Scope mappings (the four defaults first).
    pub mappings: Vec<ScopeMapping>,
    /// OAuth2 providers.
    pub providers: Vec<Provider>,
    /// Applications, each with its provider.
    pub applications: Vec<Application>,
    /// Policy bindings.
    pub bindings: Vec<Binding>,
    /// TOTP devices.
    pub totp_devices: Vec<TotpDevice>,
    /// WebAuthn devices (passkeys).
    pub webauthn_devices: Vec<WebAuthnDevice>,
    /// Static devices (recovery codes).
    pub static_devices: Vec<StaticDevice>,
    /// Authentication flows from the blueprints.
    pub login_flows: Vec<LoginFlow>,
    /// Stages from the blueprints, by name.
    pub stages: Vec<(String, StageDef)>,
    /// Expression policies from the blueprints, by name.
    pub policies: Vec<(String, expr::FlowTest)>,
}

/// The managed-id prefix of the default scope mappings.
pub const MANAGED_PREFIX: &str = "goauthentik.io/providers/oauth2/scope-";

impl Default for Directory {
    fn default() -> Self {
        let default = |scope: &str, description: &str, kind| ScopeMapping {
            name: format!("authentik default OAuth Mapping: OpenID '{scope}'"),
            managed: Some(format!("{MANAGED_PREFIX}{scope}")),
            scope_name: scope.into(),
            description: description.into(),
            kind,
        };
        Self {
            users: Vec::new(),
            groups: Vec::new(),
            mappings: vec![
                default("openid", "", MappingKind::OpenId),
                default("email", "Email address", MappingKind::Email),
                default("profile", "General Profile Information", MappingKind::Profile),
                default(
                    "offline_access",
                    "Access to request new tokens without interaction",
                    MappingKind::OfflineAccess,
                ),
            ],
            providers: Vec::new(),
            applications: Vec::new(),
            bindings: Vec::new(),
            totp_devices: Vec::new(),
            webauthn_devices: Vec::new(),
            static_devices: Vec::new(),
            login_flows: Vec::new(),
            stages: Vec::new(),
            policies: Vec::new(),
        }
    }
}

impl Directory {
    /// The user whose email or username equals `uid`, case-insensitively (the default
    /// identification stage's user fields).
    pub fn user_by_uid(&self, uid: &str) -> Option<&User> {
        self.user_by_fields(uid, &["email", "username"])
    }

    /// The user one of whose `fields` (`email`, `username`) equals `uid`, case-insensitively, as
    /// an identification stage matches a typed identifier.
    pub fn user_by_fields(&self, uid: &str, fields: &[impl AsRef<str>]) -> Option<&User> {
        self.users.iter().find(|u| {
            fields.iter().any(|f| match f.as_ref() {
                "email" => u.email.eq_ignore_ascii_case(uid),
                "username" => u.username.eq_ignore_ascii_case(uid),
                _ => false,
            })
        })
    }

    /// The user with this pk.
    pub fn user(&self, pk: u64) -> Option<&User> {
        self.users.iter().find(|u| u.pk == pk)
    }

    /// The provider with this client id.
    pub fn provider_by_client_id(&self, client_id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.client_id == client_id)
    }

    /// The application a provider is attached to.
    pub fn application_of(&self, provider: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.provider.as_deref() == Some(provider))
    }

    /// The application with this slug.
    pub fn application(&self, slug: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.slug == slug)
    }

    /// The provider with this name.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The mapping with this name.
    pub fn mapping(&self, name: &str) -> Option<&ScopeMapping> {
        self.mappings.iter().find(|m| m.name == name)
    }

    /// The user's confirmed TOTP devices.
    pub fn totp_devices_of(&self, username: &str) -> Vec<&TotpDevice> {
        self.totp_devices.iter().filter(|d| d.user == username && d.confirmed).collect()
    }

    /// Whether the user may use the application: no enabled bindings means open to all;
    /// otherwise any (or, in "all" mode, every) binding must pass.
    pub fn has_access(&self, user: &User, app: &Application) -> bool {
        let bindings: Vec<&Binding> = self.bindings.iter().filter(|b| b.target == app.slug && b.enabled).collect();
        if bindings.is_empty() {
            return true;
        }
        let passes = |b: &&Binding| {
            let hit = match &b.subject {
                BindingSubject::User(name) => *name == user.username,
                BindingSubject::Group(name) => user.groups.contains(name),
            };
            hit != b.negate
        };
        if app.policy_mode_all { bindings.iter().all(passes) } else { bindings.iter().any(passes) }
    }

    /// The user as a scope mapping sees it.
    pub fn user_json(&self, user: &User, install_id: &str) -> Value {
        json!({
            "pk": user.pk,
            "uid": hex_sha256(&format!("{}-{install_id}", user.pk)),
            "uuid": user.uuid,
            "username": user.username,
            "name": user.name,
            "email": user.email,
            "is_active": user.is_active,
            "attributes": user.attributes,
            "ak_groups": user.groups.iter().map(|g| json!({"name": g})).collect::<Vec<_>>(),
        })
    }

    /// The claims of the provider's mappings whose scope was granted, in attachment order.
    pub fn scope_claims(
        &self,
        provider: &Provider,
        user: &User,
        scopes: &[String],
        install_id: &str,
    ) -> Map<String, Value> {
        let mut claims = Map::new();
        for mapping in provider.mappings.iter().filter_map(|n| self.mapping(n)) {
            if !scopes.contains(&mapping.scope_name) {
                continue;
            }
            match &mapping.kind {
                MappingKind::OpenId | MappingKind::OfflineAccess => {}
                MappingKind::Email => {
                    claims.insert("email".into(), json!(user.email));
                    claims.insert("email_verified".into(), json!(false));
                }
                MappingKind::Profile => {
                    claims.insert("name".into(), json!(user.name));
                    claims.insert("given_name".into(), json!(user.name));
                    claims.insert("preferred_username".into(), json!(user.username));
                    claims.insert("nickname".into(), json!(user.username));
                    claims.insert("groups".into(), json!(user.groups));
                }
                MappingKind::Custom(m) => claims.extend(m.evaluate(&self.user_json(user, install_id))),
            }
        }
        claims
    }

    /// The scopes a provider can grant (its mappings' scope names).
    pub fn provider_scopes(&self, provider: &Provider) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        for m in provider.mappings.iter().filter_map(|n| self.mapping(n)) {
            if !scopes.contains(&m.scope_name) {
                scopes.push(m.scope_name.clone());
            }
        }
        scopes
    }

    /// The claim names the provider's mappings can return (for discovery's `claims_supported`).
    pub fn provider_claim_names(&self, provider: &Provider) -> Vec<String> {
        let mut names = Vec::new();
        for m in provider.mappings.iter().filter_map(|n| self.mapping(n)) {
            let claims: Vec<String> = match &m.kind {
                MappingKind::OpenId | MappingKind::OfflineAccess => Vec::new(),
                MappingKind::Email => vec!["email".into(), "email_verified".into()],
                MappingKind::Profile => {
                    ["name", "given_name", "preferred_username", "nickname", "groups"].map(String::from).to_vec()
                }
                MappingKind::Custom(c) => c.claim_names().map(String::from).collect(),
            };
            for c in claims {
                if !names.contains(&c) {
                    names.push(c);
                }
            }
        }
        names
    }

    /// The `sub` claim for this provider and user.
    pub fn subject(&self, provider: &Provider, user: &User, install_id: &str) -> String {
        let hashed = || hex_sha256(&format!("{}-{install_id}", user.pk));
        match provider.sub_mode {
            SubMode::HashedUserId => hashed(),
            SubMode::UserId => user.pk.to_string(),
            SubMode::UserUuid => user.uuid.clone(),
            SubMode::UserUsername => user.username.clone(),
            SubMode::UserEmail => user.email.clone(),
            SubMode::UserUpn => {
                user.attributes.get("upn").and_then(Value::as_str).map(String::from).unwrap_or_else(hashed)
            }
        }
    }
}

impl SubMode {
    /// Every mode with authentik's name for it.
    pub const NAMES: [(SubMode, &'static str); 6] = [
        (SubMode::HashedUserId, "hashed_user_id"),
        (SubMode::UserId, "user_id"),
        (SubMode::UserUuid, "user_uuid"),
        (SubMode::UserUsername, "user_username"),
        (SubMode::UserEmail, "user_email"),
        (SubMode::UserUpn, "user_upn"),
    ];

    /// authentik's name of the mode.
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(m, _)| *m == self).map_or("hashed_user_id", |(_, n)| n)
    }

    /// The mode authentik names so.
    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }
}

impl IssuerMode {
    /// authentik's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerProvider => "per_provider",
            Self::Global => "global",
        }
    }

    /// The mode authentik names so.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "per_provider" => Some(Self::PerProvider),
            "global" => Some(Self::Global),
            _ => None,
        }
    }
}

impl Provider {
    /// The provider's primary key in the admin API: stable, from its name.
    pub fn pk(&self) -> u64 {
        u64::from_str_radix(&hex_sha256(&self.name)[..7], 16).unwrap_or(0) + 1
    }
}

/// A duration as authentik writes one (`minutes=5`).
pub fn timedelta(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s > 0 && s % 86_400 == 0 => format!("days={}", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("hours={}", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("minutes={}", s / 60),
        s => format!("seconds={s}"),
    }
}

/// SHA-256 as lower-case hex.
pub fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses authentik's `timedelta_from_string` format: `hours=1;minutes=30` (also `days`,
/// `seconds`, `weeks`, `microseconds` ignored).
pub fn parse_timedelta(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (unit, amount) = part.split_once('=')?;
        let amount: f64 = amount.trim().parse().ok()?;
        total += amount
            * match unit.trim() {
                "weeks" => 604_800.0,
                "days" => 86_400.0,
                "hours" => 3_600.0,
                "minutes" => 60.0,
                "seconds" => 1.0,
                "milliseconds" => 0.001,
                "microseconds" => 0.000_001,
                _ => return None,
            };
    }
    (total > 0.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Application, Binding, BindingSubject, Directory, Provider, User, parse_timedelta};
    use ak_protocol::secret::Secret;

    fn user(groups: &[&str]) -> User {
        User {
            pk: 1,
            uuid: "u".into(),
            username: "ann".into(),
            name: "Ann Lee".into(),
            email: "ann@example.com".into(),
            password: Some(Secret::new("pw")),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            attributes: Default::default(),
            is_active: true,
        }
    }

    #[test]
    fn default_mappings_are_authentiks() {
        let dir = Directory::default();
        let mut provider = Provider::new("p");
        provider.mappings = dir.mappings.iter().map(|m| m.name.clone()).collect();
        let scopes = ["openid", "email", "profile"].map(String::from).to_vec();
        let claims = dir.scope_claims(&provider, &user(&["staff"]), &scopes, "install");
        assert_eq!(claims["email_verified"], false);
        assert_eq!(claims["given_name"], "Ann Lee");
        assert!(!claims.contains_key("family_name"));
        assert_eq!(claims["groups"], serde_json::json!(["staff"]));
        assert!(!dir.provider_claim_names(&provider).contains(&"family_name".to_string()));
    }

    #[test]
    fn bindings() {
        let mut dir = Directory::default();
        let app = Application {
            slug: "a".into(),
            name: "A".into(),
            provider: None,
            meta_launch_url: None,
            policy_mode_all: false,
        };
        assert!(dir.has_access(&user(&[]), &app), "no bindings: open");
        dir.bindings.push(Binding {
            target: "a".into(),
            order: 0,
            subject: BindingSubject::Group("g".into()),
            negate: false,
            enabled: true,
        });
        assert!(!dir.has_access(&user(&[]), &app));
        assert!(dir.has_access(&user(&["g"]), &app));
    }

    #[test]
    fn timedeltas() {
        assert_eq!(parse_timedelta("minutes=1"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timedelta("hours=1;minutes=30"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_timedelta("fortnights=1"), None);
    }
}
