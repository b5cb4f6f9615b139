//! authentik's admin API (`/api/v3/…`) as typed values: what the harness's client reads and
//! sends, and what the stand-in serves. Field names are authentik's (2026.2). Each type reads
//! what ak-e2e uses and tolerates what it does not (unknown fields are ignored, most fields
//! default), so a newer authentik with more fields still reads.
//!
//! A provider's settings that ak-e2e does not model are kept whole in
//! [`OAuth2Provider::other`], so a twin of a provider copies them as authentik gave them. Its
//! client secret is a [`Secret`]: read, never shown, never copied.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::Secret;

/// The paths of the admin API, relative to authentik's base URL.
pub mod path {
    /// Users (`?username=`), `POST` to create one.
    pub const USERS: &str = "api/v3/core/users/";
    /// The user the API token belongs to.
    pub const ME: &str = "api/v3/core/users/me/";
    /// Groups.
    pub const GROUPS: &str = "api/v3/core/groups/";
    /// Applications (by slug), `POST` to create one. The list shows only those the token's user
    /// may open, unless `superuser_full_list=true`.
    pub const APPLICATIONS: &str = "api/v3/core/applications/";
    /// OAuth2/OpenID providers (by pk), `POST` to create one.
    pub const OAUTH2_PROVIDERS: &str = "api/v3/providers/oauth2/";
    /// Every kind of property mapping (by pk).
    pub const PROPERTY_MAPPINGS: &str = "api/v3/propertymappings/all/";
    /// Certificate-key pairs (by pk).
    pub const KEYPAIRS: &str = "api/v3/crypto/certificatekeypairs/";
    /// Policy bindings (`?target=`), `POST` to create one.
    pub const BINDINGS: &str = "api/v3/policies/bindings/";
    /// Every kind of policy (by pk).
    pub const POLICIES: &str = "api/v3/policies/all/";
    /// Flows (by slug; `?flow_uuid=` finds one by its UUID, `?pk=` is ignored).
    pub const FLOWS: &str = "api/v3/flows/instances/";
    /// A user's devices of every kind (`?user=`).
    pub const ALL_DEVICES: &str = "api/v3/authenticators/admin/all/";
    /// TOTP devices (admin view).
    pub const TOTP_DEVICES: &str = "api/v3/authenticators/admin/totp/";
    /// WebAuthn devices, passkeys (admin view).
    pub const WEBAUTHN_DEVICES: &str = "api/v3/authenticators/admin/webauthn/";
    /// Every user's static devices (recovery codes).
    pub const STATIC_DEVICES: &str = "api/v3/authenticators/admin/static/";
    /// Blueprint import.
    pub const IMPORT: &str = "api/v3/flows/instances/import/";
    /// authentik's version.
    pub const VERSION: &str = "api/v3/admin/version/";

    /// One object of a collection: `<collection><key>/`.
    pub fn one(collection: &str, key: impl std::fmt::Display) -> String {
        format!("{collection}{key}/")
    }

    /// An action on one object: `<collection><key>/<action>/`.
    pub fn action(collection: &str, key: impl std::fmt::Display, action: &str) -> String {
        format!("{collection}{key}/{action}/")
    }
}

/// A page of a list answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    /// Where this page stands.
    #[serde(default)]
    pub pagination: Pagination,
    /// The objects on it.
    pub results: Vec<T>,
}

/// A list answer's paging.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pagination {
    /// The next page's number, 0 on the last.
    #[serde(default)]
    pub next: u64,
    /// Objects in all pages.
    #[serde(default)]
    pub count: u64,
}

impl<T> Page<T> {
    /// One page holding everything (how the stand-in answers).
    pub fn whole(results: Vec<T>) -> Self {
        Self { pagination: Pagination { next: 0, count: results.len() as u64 }, results }
    }
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Primary key (what `for_user=` and bindings name).
    pub pk: u64,
    /// UUID.
    #[serde(default)]
    pub uuid: String,
    /// Username.
    pub username: String,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Whether the user may sign in.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// Whether the user is a superuser (through a group).
    #[serde(default)]
    pub is_superuser: bool,
    /// The groups' primary keys.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Free-form attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// `internal`, `external`, `service_account`, …
    #[serde(rename = "type", default = "internal")]
    pub kind: String,
    /// The folder it is shown in.
    #[serde(default)]
    pub path: String,
}

fn yes() -> bool {
    true
}

fn internal() -> String {
    "internal".into()
}

/// A user to create (`POST` [`path::USERS`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    /// Username (unique).
    pub username: String,
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Whether the user may sign in.
    pub is_active: bool,
    /// The folder it is shown in.
    pub path: String,
    /// `internal`, `external`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The groups' primary keys.
    pub groups: Vec<String>,
    /// Free-form attributes.
    pub attributes: Map<String, Value>,
}

/// A password to set (`POST …/users/<pk>/set_password/`).
#[derive(Debug, Clone, Serialize)]
pub struct SetPassword {
    /// The new password (serialised: it is the request).
    #[serde(serialize_with = "expose")]
    pub password: Secret,
}

fn expose<S: serde::Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// A group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// Primary key (a UUID).
    pub pk: String,
    /// Name.
    pub name: String,
}

/// How an application combines its bindings' results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEngineMode {
    /// Any binding passing lets the user in (authentik's default).
    #[default]
    Any,
    /// Every binding must pass.
    All,
}

/// An application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    /// Primary key (a UUID; what bindings target).
    pub pk: String,
    /// Display name.
    pub name: String,
    /// Slug (in the issuer and discovery URLs).
    pub slug: String,
    /// The provider's primary key.
    #[serde(default)]
    pub provider: Option<u64>,
    /// How bindings combine.
    #[serde(default)]
    pub policy_engine_mode: PolicyEngineMode,
    /// Launch URL.
    #[serde(default)]
    pub meta_launch_url: Option<String>,
}

/// An application to create (`POST` [`path::APPLICATIONS`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApplication {
    /// Display name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// The provider's primary key.
    pub provider: u64,
    /// How bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
}

/// How a redirect URI is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchingMode {
    /// Byte for byte (what the guide says).
    Strict,
    /// A regular expression, matched whole.
    Regex,
}

/// One allowed redirect URI of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectUri {
    /// How it is compared.
    pub matching_mode: MatchingMode,
    /// The URI or pattern.
    pub url: String,
}

/// An OAuth2/OpenID provider as authentik shows it.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuth2Provider {
    /// Primary key.
    pub pk: u64,
    /// Name.
    pub name: String,
    /// `confidential` or `public`.
    #[serde(default)]
    pub client_type: String,
    /// Client ID.
    #[serde(default)]
    pub client_id: String,
    /// Client secret: read (authentik shows it to admins), never shown or copied.
    #[serde(default = "no_secret", skip_serializing)]
    pub client_secret: Secret,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    /// The property (scope) mappings' primary keys.
    #[serde(default)]
    pub property_mappings: Vec<String>,
    /// The signing key's primary key; none means HS256 with the client secret.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// The encryption key's primary key; set, authentik encrypts its tokens (JWE).
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// The authorization flow's primary key (UUID).
    #[serde(default)]
    pub authorization_flow: Option<String>,
    /// The invalidation flow's primary key (UUID).
    #[serde(default)]
    pub invalidation_flow: Option<String>,
    /// `hashed_user_id`, `user_id`, `user_uuid`, `user_username`, `user_email`, `user_upn`.
    #[serde(default)]
    pub sub_mode: String,
    /// `per_provider` or `global`.
    #[serde(default)]
    pub issuer_mode: String,
    /// How long a code is valid (`minutes=1`).
    #[serde(default)]
    pub access_code_validity: String,
    /// How long an access token (and the ID token) is valid (`minutes=5`).
    #[serde(default)]
    pub access_token_validity: String,
    /// How long a refresh token is valid.
    #[serde(default)]
    pub refresh_token_validity: String,
    /// Whether the scopes' claims go into the ID token.
    #[serde(default = "yes")]
    pub include_claims_in_id_token: bool,
    /// Every other setting, as authentik gave it (a twin copies these too).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn no_secret() -> Secret {
    Secret::new("")
}

impl std::fmt::Debug for OAuth2Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Provider")
            .field("pk", &self.pk)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

/// The fields of a provider's answer that authentik computes; a copy sent back leaves them out.
pub const PROVIDER_READ_ONLY: &[&str] = &[
    "pk",
    "component",
    "assigned_application_slug",
    "assigned_application_name",
    "assigned_backchannel_application_slug",
    "assigned_backchannel_application_name",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
];

impl OAuth2Provider {
    /// The body that creates a copy of this provider under another name, client id, secret and
    /// redirect URIs: every other setting as it is (the production secret is not in it).
    pub fn copy_as(
        &self,
        name: &str,
        client_id: &str,
        client_secret: &Secret,
        redirect_uris: Vec<RedirectUri>,
    ) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = body.as_object_mut() {
            for key in PROVIDER_READ_ONLY {
                map.remove(*key);
            }
            map.insert("name".into(), name.into());
            map.insert("client_id".into(), client_id.into());
            map.insert("client_secret".into(), client_secret.expose().into());
            map.insert("redirect_uris".into(), serde_json::to_value(redirect_uris).unwrap_or_default());
            // Logging a twin's session out must not call the production relying party's URL.
            if map.contains_key("logout_uri") {
                map.insert("logout_uri".into(), "".into());
            }
        }
        body
    }
}

/// A property mapping (for OAuth2: a scope mapping).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PropertyMapping {
    /// Primary key (a UUID).
    pub pk: String,
    /// Name.
    pub name: String,
    /// The managed id of a built-in mapping (`goauthentik.io/providers/oauth2/scope-email`).
    #[serde(default)]
    pub managed: Option<String>,
    /// The scope it serves (scope mappings only).
    #[serde(default)]
    pub scope_name: Option<String>,
    /// Its Python expression.
    #[serde(default)]
    pub expression: String,
    /// The model (`authentik_providers_oauth2.scopemapping`).
    #[serde(default)]
    pub meta_model_name: String,
}

/// The answer of `POST …/propertymappings/all/<pk>/test/` and of a policy test.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TestResult {
    /// What the mapping returned, as JSON text (or the error).
    #[serde(default)]
    pub result: String,
    /// Whether it ran without raising.
    #[serde(default)]
    pub successful: bool,
}

/// What a mapping test is run for (`{"user": pk}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestFor {
    /// The user's primary key.
    pub user: u64,
}

/// A certificate-key pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateKeyPair {
    /// Primary key (a UUID).
    pub pk: String,
    /// Name.
    pub name: String,
    /// When the certificate expires (ISO 8601), if it has one.
    #[serde(default)]
    pub cert_expiry: Option<String>,
    /// Whether authentik holds the private key (it cannot sign without).
    #[serde(default)]
    pub private_key_available: bool,
    /// `rsa`, `ec`, `ed25519`, `ed448`.
    #[serde(default)]
    pub key_type: Option<String>,
}

/// A flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    /// Primary key (a UUID).
    pub pk: String,
    /// Slug.
    pub slug: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// What it is for (`authorization`, `invalidation`, …).
    #[serde(default)]
    pub designation: String,
}

/// The policy a binding binds, as the binding shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Primary key.
    #[serde(default)]
    pub pk: String,
    /// Name.
    pub name: String,
    /// Its kind, e.g. `ak-policy-expression-form`.
    #[serde(default)]
    pub component: String,
}

/// The group a binding binds, as the binding shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRef {
    /// Name.
    pub name: String,
}

/// The user a binding binds, as the binding shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRef {
    /// Username.
    pub username: String,
}

/// A policy binding on an application (or a flow, a stage).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyBinding {
    /// Primary key (a UUID).
    pub pk: String,
    /// The bound policy's primary key.
    #[serde(default)]
    pub policy: Option<String>,
    /// The bound group's primary key.
    #[serde(default)]
    pub group: Option<String>,
    /// The bound user's primary key.
    #[serde(default)]
    pub user: Option<u64>,
    /// The bound policy, shown.
    #[serde(default)]
    pub policy_obj: Option<PolicyRef>,
    /// The bound group, shown.
    #[serde(default)]
    pub group_obj: Option<GroupRef>,
    /// The bound user, shown.
    #[serde(default)]
    pub user_obj: Option<UserRef>,
    /// The object it is bound to (an application's pk).
    pub target: String,
    /// Where it stands among the target's bindings.
    #[serde(default)]
    pub order: i64,
    /// Inverts the result.
    #[serde(default)]
    pub negate: bool,
    /// Disabled bindings are not evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds before the policy's evaluation is abandoned.
    #[serde(default)]
    pub timeout: u64,
    /// The result when the policy fails to run.
    #[serde(default)]
    pub failure_result: bool,
}

impl PolicyBinding {
    /// What it binds, as the admin interface names it: `group chatgpt-users`, `user ann`,
    /// `policy only-staff`.
    pub fn subject(&self) -> String {
        if let Some(p) = &self.policy_obj {
            return format!("policy `{}`", p.name);
        }
        if let Some(g) = &self.group_obj {
            return format!("group `{}`", g.name);
        }
        if let Some(u) = &self.user_obj {
            return format!("user `{}`", u.username);
        }
        "nothing".into()
    }

    /// The body that binds the same policy, group or user the same way to another target.
    pub fn copy_to(&self, target: &str) -> NewBinding {
        NewBinding {
            policy: self.policy.clone(),
            group: self.group.clone(),
            user: self.user,
            target: target.into(),
            order: self.order,
            negate: self.negate,
            enabled: self.enabled,
            timeout: self.timeout,
            failure_result: self.failure_result,
        }
    }
}

/// A binding to create (`POST` [`path::BINDINGS`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewBinding {
    /// The policy's primary key.
    pub policy: Option<String>,
    /// The group's primary key.
    pub group: Option<String>,
    /// The user's primary key.
    pub user: Option<u64>,
    /// What it binds to.
    pub target: String,
    /// Order.
    pub order: i64,
    /// Inverts the result.
    pub negate: bool,
    /// Evaluated or not.
    pub enabled: bool,
    /// Seconds.
    pub timeout: u64,
    /// The result when the policy fails to run.
    pub failure_result: bool,
}

/// A policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// Primary key.
    pub pk: String,
    /// Name.
    pub name: String,
    /// Its kind, e.g. `ak-policy-expression-form`.
    #[serde(default)]
    pub component: String,
}

/// The answer of `GET …/applications/<slug>/check_access/?for_user=<pk>`: authentik's own
/// evaluation of the application's bindings for a user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccessCheck {
    /// Whether the user may use the application.
    pub passing: bool,
    /// The policies' messages (`ak_message`), in order.
    #[serde(default)]
    pub messages: Vec<String>,
}

/// The answer of `GET …/providers/oauth2/<pk>/preview_user/?for_user=<pk>`: the claims authentik
/// would put in the user's ID token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserPreview {
    /// The claims.
    pub preview: Map<String, Value>,
}

/// A device of a user, of any kind (`GET` [`path::ALL_DEVICES`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// Primary key (as text: kinds differ).
    #[serde(default, deserialize_with = "any_text")]
    pub pk: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// The model (`authentik_stages_authenticator_totp.TOTPDevice`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Whether the device finished its setup.
    #[serde(default = "yes")]
    pub confirmed: bool,
}

/// A TOTP or WebAuthn device in the admin view of its kind, with its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnedDevice {
    /// Primary key.
    pub pk: u64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Its owner.
    #[serde(default)]
    pub user: Option<UserRefPk>,
}

/// A static device (recovery codes) in its admin view: its owner and the codes it still holds.
#[derive(Debug, Clone, Deserialize)]
pub struct StaticDevice {
    /// Primary key.
    pub pk: u64,
    /// Its owner.
    #[serde(default)]
    pub user: Option<UserRefPk>,
    /// The codes not used yet.
    #[serde(default)]
    pub token_set: Vec<StaticToken>,
}

/// One code of a static device.
#[derive(Debug, Clone, Deserialize)]
pub struct StaticToken {
    /// The code (a secret: never shown).
    pub token: crate::secret::Secret,
}

/// A device's owner, as the admin view shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRefPk {
    /// Primary key.
    pub pk: u64,
}

/// authentik's version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Version {
    /// `2026.2.2`.
    #[serde(default)]
    pub version_current: String,
}

fn any_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_provider_copy_keeps_its_settings_but_not_its_secret_or_computed_fields() {
        let provider: OAuth2Provider = serde_json::from_value(json!({
            "pk": 7, "name": "ChatGPT", "client_type": "confidential", "client_id": "prod",
            "client_secret": "prod-secret", "redirect_uris": [{"matching_mode": "strict", "url": "https://x/cb"}],
            "property_mappings": ["m1"], "signing_key": "k1", "sub_mode": "user_email",
            "assigned_application_slug": "chatgpt", "logout_method": "backchannel", "jwt_federation_sources": [],
            "logout_uri": "https://chatgpt.example/backchannel-logout"
        }))
        .expect("provider");
        assert!(!format!("{provider:?}").contains("prod-secret"));
        let copy = provider.copy_as(
            "ak-e2e-twin-x",
            "ak-e2e-twin-x",
            &Secret::new("twin-secret"),
            vec![RedirectUri { matching_mode: MatchingMode::Strict, url: "http://127.0.0.1:1/cb".into() }],
        );
        assert_eq!(copy["client_secret"], "twin-secret");
        assert_eq!(copy["client_id"], "ak-e2e-twin-x");
        assert_eq!(copy["sub_mode"], "user_email");
        assert_eq!(copy["logout_method"], "backchannel", "unmodelled settings are copied");
        assert_eq!(copy["logout_uri"], "", "no logout of the production relying party");
        assert_eq!(copy["property_mappings"], json!(["m1"]));
        assert_eq!(copy["redirect_uris"][0]["url"], "http://127.0.0.1:1/cb");
        assert!(copy.get("pk").is_none() && copy.get("assigned_application_slug").is_none());
        assert!(!copy.to_string().contains("prod-secret"));
    }

    #[test]
    fn a_binding_names_what_it_binds_and_copies_to_another_target() {
        let binding: PolicyBinding = serde_json::from_value(json!({
            "pk": "b1", "policy": null, "group": "g1", "user": null, "group_obj": {"name": "staff"},
            "target": "app1", "order": 3, "negate": true, "enabled": false, "timeout": 30, "failure_result": true
        }))
        .expect("binding");
        assert_eq!(binding.subject(), "group `staff`");
        let copy = binding.copy_to("app2");
        assert_eq!((copy.target.as_str(), copy.order, copy.negate, copy.enabled), ("app2", 3, true, false));
        assert_eq!((copy.timeout, copy.failure_result, copy.group.as_deref()), (30, true, Some("g1")));
    }

    #[test]
    fn devices_read_numeric_and_text_keys() {
        let devices: Vec<Device> =
            serde_json::from_value(json!([{"pk": 3, "type": "t"}, {"pk": "a-b", "type": "w", "confirmed": false}]))
                .expect("devices");
        assert_eq!((devices[0].pk.as_str(), devices[0].confirmed), ("3", true));
        assert_eq!((devices[1].pk.as_str(), devices[1].confirmed), ("a-b", false));
    }
}
