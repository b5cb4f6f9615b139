//! The challenges of authentik's flow executor (`/api/v3/flows/executor/<slug>/`), typed: what
//! the stand-in sends and what the harness reads.
//!
//! A [`Challenge`] is a struct of the fields every challenge carries (`flow_info`, the pending
//! user, `response_errors`, `error_message`) around a [`ChallengeKind`]: the stage, named by its
//! `component`, with the stage's own fields. This is how authentik builds them (its `Challenge`
//! serializer, `WithUserInfoChallenge`, then one subclass per stage), and it lets a stage this
//! module does not know (`ak-stage-captcha`, `ak-stage-prompt`, …) still show its component and
//! its errors: it is [`ChallengeKind::Other`], with only its component name.
//!
//! Both ways go through `serde_json::Value`, by hand rather than with serde's tagged enums: the
//! variant follows the `component`, whose values are spelled once, in [`component`], and serde's
//! tags take only literals. Reading never fails, because any JSON answer of the executor is a
//! challenge to show. A field that does not fit is left out, and a known stage whose own fields
//! do not fit becomes [`ChallengeKind::Other`], so its component is kept. Written, a challenge's
//! keys come sorted, as any `serde_json::Value`'s.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::component;
use crate::secret::Secret;

/// The errors a stage shows about an answer: for each field of the answer (or
/// `non_field_errors`), what was wrong with it.
pub type ResponseErrors = BTreeMap<String, Vec<ErrorDetail>>;

/// One error in `response_errors`, as Django REST framework words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The message shown under the field.
    pub string: String,
    /// Its machine-readable kind (`invalid`, `null`, `required`, …).
    #[serde(default)]
    pub code: String,
}

impl ErrorDetail {
    /// An error of kind `invalid`, the kind of every error a stage raises itself.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { string: message.into(), code: "invalid".into() }
    }
}

/// One message of the flow executor: a stage to show, or where to go when the flow is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The stage (or the redirect, or the error) and its own fields.
    pub kind: ChallengeKind,
    /// The flow's title, background and cancel link.
    pub flow_info: Option<FlowInfo>,
    /// The name of the user signing in, for stages that show it (absent before identification).
    pub pending_user: Option<String>,
    /// The URL of that user's avatar.
    pub pending_user_avatar: Option<String>,
    /// What the stage refused in the last answer; absent when it refused nothing.
    pub response_errors: Option<ResponseErrors>,
    /// Why access was denied (`ak-stage-access-denied`), when authentik says why.
    pub error_message: Option<String>,
}

/// A stage, by its `component`, with the fields only that stage sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `ak-stage-identification`: asks for a username or an email.
    Identification(Box<IdentificationFields>),
    /// `ak-stage-password`.
    Password {
        /// Whether the page offers to show the password as it is typed.
        allow_show_password: bool,
    },
    /// `ak-stage-authenticator-validate`: asks for a second factor.
    AuthenticatorValidate(AuthenticatorValidateFields),
    /// `ak-stage-consent`: asks the user to let an application sign them in.
    Consent(ConsentFields),
    /// `ak-stage-authenticator-totp`: offers a new TOTP secret, to confirm with a code.
    AuthenticatorTotp {
        /// The secret as an `otpauth://totp/…` URI, the content of the QR code (a `Secret`: it
        /// holds the TOTP seed).
        config_url: Secret,
    },
    /// `ak-stage-authenticator-webauthn`: asks for a new WebAuthn credential.
    AuthenticatorWebAuthn {
        /// The `PublicKeyCredentialCreationOptions`, as JSON (base64url binary fields).
        registration: Value,
    },
    /// `ak-stage-authenticator-static`: shows new recovery codes, confirmed by answering.
    AuthenticatorStatic {
        /// The codes (a `Secret`: each signs the user in once).
        codes: Vec<Secret>,
    },
    /// `ak-stage-access-denied`: the flow stops here (the reason is in `error_message`).
    AccessDenied,
    /// `xak-flow-redirect`: the flow is done and the browser goes on.
    Redirect {
        /// Where the browser goes, relative to authentik or absolute.
        to: String,
    },
    /// `ak-stage-flow-error`: authentik failed (an exception, a body it could not read).
    FlowError {
        /// The request's id in authentik's logs.
        request_id: String,
    },
    /// A stage this module does not model, or a known one whose fields did not fit.
    Other {
        /// Its `component` as sent (empty when the message had none).
        component: String,
    },
}

/// The title, background and cancel link of the flow a challenge belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    /// The flow's title, shown above the stage (`Welcome to authentik!`).
    #[serde(default)]
    pub title: String,
    /// The URL of the page's background image.
    #[serde(default)]
    pub background: String,
    /// Backgrounds for the light and dark themes, when the brand sets them.
    pub background_themed_urls: Option<ThemedUrls>,
    /// Where the page's "cancel" link goes.
    pub cancel_url: String,
    /// How the page lays out the stage and the background (`stacked`, `sidebar_left`, …).
    pub layout: String,
}

/// An image for each of the interface's themes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemedUrls {
    /// The URL for the light theme.
    pub light: Option<String>,
    /// The URL for the dark theme.
    pub dark: Option<String>,
}

/// What the identification stage shows: the fields it takes and the ways to sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentificationFields {
    /// The user attributes the typed identifier is matched against (`email`, `username`).
    pub user_fields: Option<Vec<String>>,
    /// Whether the password is asked on this stage too.
    pub password_fields: bool,
    /// Whether the page offers to show the password as it is typed.
    #[serde(default)]
    pub allow_show_password: bool,
    /// What the flow is for (`authentication`, `enrollment`, …).
    pub flow_designation: String,
    /// A captcha to solve on this stage, as authentik's captcha challenge; `null` for none.
    #[serde(default)]
    pub captcha_stage: Option<Value>,
    /// The submit button's label.
    pub primary_action: String,
    /// The other sources offered (social logins, LDAP…), as authentik describes them.
    #[serde(default)]
    pub sources: Vec<Value>,
    /// Whether those sources show their names beside their icons.
    pub show_source_labels: bool,
    /// Whether the page offers "remember me".
    #[serde(default)]
    pub enable_remember_me: bool,
    /// WebAuthn options for signing in with a passkey on this stage; `null` for none.
    #[serde(default)]
    pub passkey_challenge: Option<Value>,
    /// The identifier already typed, when the stage is shown again; `null` for none.
    #[serde(default)]
    pub pending_user_identifier: Option<String>,
    /// The name of the application the sign-in is for, when it started at one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_pre: Option<String>,
}

/// What the MFA validation stage shows: the user's devices and the ones they could set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatorValidateFields {
    /// One entry per device the user can answer with.
    pub device_challenges: Vec<DeviceChallenge>,
    /// The authenticator setup stages the user may pick instead, when they have no device.
    pub configuration_stages: Vec<SelectableStage>,
}

/// A device the MFA validation stage accepts an answer from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceChallenge {
    /// `totp`, `webauthn`, `static`, `email`, `sms` or `duo`.
    pub device_class: String,
    /// The device's id, as the page sends it back in `selected_challenge`.
    pub device_uid: String,
    /// The device's own challenge (WebAuthn options, a masked email); empty for TOTP.
    pub challenge: Map<String, Value>,
    /// When the device was last used (ISO 8601), `null` when never.
    pub last_used: Option<String>,
}

/// An authenticator setup stage offered by the MFA validation stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectableStage {
    /// The stage's UUID.
    pub pk: String,
    /// The stage's name in authentik.
    pub name: String,
    /// The kind of authenticator, in words (`TOTP Authenticator Setup Stage`).
    pub verbose_name: String,
    /// The stage's model (`authentik_stages_authenticator_totp.authenticatortotpstage`).
    pub meta_model_name: String,
}

/// What the consent stage shows, and the token its answer must carry back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentFields {
    /// The sentence above the permissions (`You're about to sign into ChatGPT.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<String>,
    /// The scopes asked for, as the user reads them.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// The scopes asked for beyond an earlier consent.
    #[serde(default)]
    pub additional_permissions: Vec<Permission>,
    /// The token the answer must send back, so an answer is tied to this showing of the stage.
    pub token: String,
}

/// A scope on the consent stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// The scope's name (`email`).
    pub id: String,
    /// What the user reads for it (`Email address`).
    pub name: String,
}

impl Challenge {
    /// A challenge of this kind with none of the shared fields.
    pub fn new(kind: ChallengeKind) -> Self {
        Self {
            kind,
            flow_info: None,
            pending_user: None,
            pending_user_avatar: None,
            response_errors: None,
            error_message: None,
        }
    }

    /// The `component` that names the stage.
    pub fn component(&self) -> &str {
        self.kind.component()
    }

    /// The MFA stage's WebAuthn request options (`PublicKeyCredentialRequestOptions` as JSON),
    /// when it offers the user's passkeys.
    pub fn webauthn_options(&self) -> Option<Value> {
        let ChallengeKind::AuthenticatorValidate(fields) = &self.kind else { return None };
        let device = fields.device_challenges.iter().find(|d| d.device_class == "webauthn")?;
        Some(Value::Object(device.challenge.clone()))
    }

    /// The identification stage's WebAuthn request options for signing in with a passkey as the
    /// first factor, when it offers that (its `webauthn_stage` is set).
    pub fn passkey_options(&self) -> Option<Value> {
        let ChallengeKind::Identification(fields) = &self.kind else { return None };
        fields.passkey_challenge.clone().filter(Value::is_object)
    }

    /// The same challenge, showing one error on `field` and no other.
    pub fn with_error(mut self, field: &str, error: ErrorDetail) -> Self {
        self.response_errors = Some(BTreeMap::from([(field.to_string(), vec![error])]));
        self
    }
}

impl ChallengeKind {
    /// The `component` that names the stage.
    pub fn component(&self) -> &str {
        match self {
            Self::Identification(_) => component::IDENTIFICATION,
            Self::Password { .. } => component::PASSWORD,
            Self::AuthenticatorValidate(_) => component::AUTHENTICATOR_VALIDATE,
            Self::Consent(_) => component::CONSENT,
            Self::AuthenticatorTotp { .. } => component::AUTHENTICATOR_TOTP,
            Self::AuthenticatorWebAuthn { .. } => component::AUTHENTICATOR_WEBAUTHN,
            Self::AuthenticatorStatic { .. } => component::AUTHENTICATOR_STATIC,
            Self::AccessDenied => component::ACCESS_DENIED,
            Self::Redirect { .. } => component::REDIRECT,
            Self::FlowError { .. } => component::FLOW_ERROR,
            Self::Other { component } => component,
        }
    }

    /// The stage's own fields as JSON object entries.
    fn fields(&self) -> Result<Map<String, Value>, serde_json::Error> {
        let value = match self {
            Self::Identification(fields) => serde_json::to_value(fields)?,
            Self::AuthenticatorValidate(fields) => serde_json::to_value(fields)?,
            Self::Consent(fields) => serde_json::to_value(fields)?,
            Self::Password { allow_show_password } => serde_json::json!({ "allow_show_password": allow_show_password }),
            Self::AuthenticatorTotp { config_url } => serde_json::json!({ "config_url": config_url.expose() }),
            Self::AuthenticatorWebAuthn { registration } => serde_json::json!({ "registration": registration }),
            Self::AuthenticatorStatic { codes } => {
                serde_json::json!({ "codes": codes.iter().map(Secret::expose).collect::<Vec<_>>() })
            }
            Self::Redirect { to } => serde_json::json!({ "to": to }),
            Self::FlowError { request_id } => serde_json::json!({ "request_id": request_id }),
            Self::AccessDenied | Self::Other { .. } => Value::Null,
        };
        Ok(match value {
            Value::Object(map) => map,
            _ => Map::new(),
        })
    }

    /// The stage a challenge named `component` shows, if this module knows it and its fields fit.
    fn read(component: &str, challenge: &Value) -> Option<Self> {
        Some(match component {
            component::IDENTIFICATION => Self::Identification(Box::new(parsed(challenge)?)),
            component::PASSWORD => {
                Self::Password { allow_show_password: field(challenge, "allow_show_password").unwrap_or_default() }
            }
            component::AUTHENTICATOR_VALIDATE => Self::AuthenticatorValidate(parsed(challenge)?),
            component::CONSENT => Self::Consent(parsed(challenge)?),
            component::AUTHENTICATOR_TOTP => Self::AuthenticatorTotp { config_url: field(challenge, "config_url")? },
            component::AUTHENTICATOR_WEBAUTHN => {
                Self::AuthenticatorWebAuthn { registration: field(challenge, "registration")? }
            }
            component::AUTHENTICATOR_STATIC => {
                let codes: Vec<String> = field(challenge, "codes")?;
                Self::AuthenticatorStatic { codes: codes.into_iter().map(Secret::new).collect() }
            }
            component::ACCESS_DENIED => Self::AccessDenied,
            component::REDIRECT => Self::Redirect { to: field(challenge, "to")? },
            component::FLOW_ERROR => Self::FlowError { request_id: field(challenge, "request_id")? },
            _ => return None,
        })
    }
}

/// `value` read as a `T`, or nothing when it does not fit.
fn parsed<T: DeserializeOwned>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

/// The field `key` of a JSON object read as a `T`, or nothing when it is absent or does not fit.
fn field<T: DeserializeOwned>(object: &Value, key: &str) -> Option<T> {
    parsed(object.get(key)?)
}

/// `response_errors` read entry by entry: an entry without a `string` is left out, not the rest.
fn response_errors(value: &Value) -> Option<ResponseErrors> {
    let fields = value.as_object()?;
    let read = |list: &Value| list.as_array().into_iter().flatten().filter_map(parsed).collect();
    Some(fields.iter().map(|(name, list)| (name.clone(), read(list))).collect())
}

impl From<Value> for Challenge {
    /// Reads any JSON answer of the executor: see the module's documentation.
    fn from(value: Value) -> Self {
        let component = value.get("component").and_then(Value::as_str).unwrap_or_default();
        let kind = ChallengeKind::read(component, &value)
            .unwrap_or_else(|| ChallengeKind::Other { component: component.into() });
        Self {
            kind,
            flow_info: field(&value, "flow_info"),
            pending_user: field(&value, "pending_user"),
            pending_user_avatar: field(&value, "pending_user_avatar"),
            response_errors: value.get("response_errors").and_then(response_errors),
            error_message: field(&value, "error_message"),
        }
    }
}

impl Serialize for Challenge {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = self.kind.fields().map_err(S::Error::custom)?;
        map.insert("component".into(), self.component().into());
        let mut shared = |key: &str, value: Result<Value, serde_json::Error>| -> Result<(), S::Error> {
            match value.map_err(S::Error::custom)? {
                Value::Null => {}
                value => {
                    map.insert(key.into(), value);
                }
            }
            Ok(())
        };
        shared("flow_info", serde_json::to_value(&self.flow_info))?;
        shared("pending_user", serde_json::to_value(&self.pending_user))?;
        shared("pending_user_avatar", serde_json::to_value(&self.pending_user_avatar))?;
        shared("response_errors", serde_json::to_value(&self.response_errors))?;
        shared("error_message", serde_json::to_value(&self.error_message))?;
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Challenge {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info() -> FlowInfo {
        FlowInfo {
            title: "Welcome to authentik!".into(),
            background: "/static/dist/assets/images/flow_background.jpg".into(),
            background_themed_urls: None,
            cancel_url: "/flows/-/cancel/".into(),
            layout: "stacked".into(),
        }
    }

    fn shown(kind: ChallengeKind) -> Challenge {
        Challenge {
            flow_info: Some(info()),
            pending_user: Some("ann".into()),
            pending_user_avatar: Some("/avatar.png".into()),
            ..Challenge::new(kind)
        }
    }

    /// An identification stage set otherwise than authentik's default one, so that every field
    /// round-trips with a value of its own.
    fn identification() -> ChallengeKind {
        ChallengeKind::Identification(Box::new(IdentificationFields {
            user_fields: Some(vec!["username".into()]),
            password_fields: true,
            allow_show_password: true,
            flow_designation: "enrollment".into(),
            captcha_stage: None,
            primary_action: "Continue".into(),
            sources: vec![json!({"name": "GitHub"})],
            show_source_labels: true,
            enable_remember_me: true,
            passkey_challenge: None,
            pending_user_identifier: Some("ann".into()),
            application_pre: Some("ChatGPT".into()),
        }))
    }

    /// Every kind of challenge the stand-in sends reads back as the same value.
    #[test]
    fn challenges_round_trip() {
        let device = DeviceChallenge {
            device_class: "totp".into(),
            device_uid: "1".into(),
            challenge: Map::new(),
            last_used: None,
        };
        let permission = Permission { id: "email".into(), name: "Email address".into() };
        let challenges = [
            Challenge { flow_info: Some(info()), ..Challenge::new(identification()) },
            shown(ChallengeKind::Password { allow_show_password: false })
                .with_error("password", ErrorDetail::invalid("Invalid password")),
            shown(ChallengeKind::AuthenticatorValidate(AuthenticatorValidateFields {
                device_challenges: vec![device],
                configuration_stages: Vec::new(),
            })),
            shown(ChallengeKind::Consent(ConsentFields {
                header_text: Some("You're about to sign into ChatGPT.".into()),
                permissions: vec![permission],
                additional_permissions: Vec::new(),
                token: "t0k".into(),
            })),
            shown(ChallengeKind::AuthenticatorTotp {
                config_url: Secret::new("otpauth://totp/authentik%3Aann?secret=AB"),
            }),
            Challenge {
                error_message: Some("Flow does not apply to current user.".into()),
                ..shown(ChallengeKind::AccessDenied)
            },
            Challenge::new(ChallengeKind::Redirect { to: "/".into() }),
            Challenge::new(ChallengeKind::FlowError { request_id: "0f".into() }),
        ];
        for challenge in challenges {
            let text = serde_json::to_string(&challenge).expect("serialise");
            let read: Challenge = serde_json::from_str(&text).expect("read");
            assert_eq!(read, challenge, "{text}");
        }
    }

    /// Absent stays absent, `null` stays `null`, and keys come sorted, as a `Value` writes them.
    #[test]
    fn absent_null_and_key_order_are_kept_when_written() {
        let password = shown(ChallengeKind::Password { allow_show_password: false })
            .with_error("password", ErrorDetail::invalid("Invalid password"));
        let expected = json!({
            "component": "ak-stage-password",
            "flow_info": {
                "title": "Welcome to authentik!",
                "background": "/static/dist/assets/images/flow_background.jpg",
                "background_themed_urls": null,
                "cancel_url": "/flows/-/cancel/",
                "layout": "stacked",
            },
            "pending_user": "ann",
            "pending_user_avatar": "/avatar.png",
            "allow_show_password": false,
            "response_errors": {"password": [{"string": "Invalid password", "code": "invalid"}]},
        });
        assert_eq!(serde_json::to_string(&password).expect("write"), expected.to_string());
        let redirect = Challenge::new(ChallengeKind::Redirect { to: "/".into() });
        assert_eq!(serde_json::to_string(&redirect).expect("write"), r#"{"component":"xak-flow-redirect","to":"/"}"#);
        let identification = serde_json::to_value(Challenge::new(identification())).expect("write");
        assert_eq!(identification["captcha_stage"], Value::Null);
        assert!(identification.get("captcha_stage").is_some() && identification.get("pending_user").is_none());
    }

    /// A stage the module does not model keeps its name and its shared fields, so the harness
    /// can say where a flow stopped.
    #[test]
    fn an_unknown_component_keeps_its_name() {
        let captcha: Challenge = serde_json::from_value(json!({
            "component": "ak-stage-captcha",
            "flow_info": {"title": "Welcome", "cancel_url": "/flows/-/cancel/", "layout": "stacked"},
            "pending_user": "ann",
            "pending_user_avatar": "/avatar.png",
            "js_url": "https://www.google.com/recaptcha/api.js",
            "response_errors": {"token": [{"string": "Invalid captcha response", "code": "invalid"}, {"code": "x"}]},
        }))
        .expect("read");
        assert_eq!(captcha.kind, ChallengeKind::Other { component: "ak-stage-captcha".into() });
        assert_eq!(captcha.flow_info.as_ref().map(|i| i.title.as_str()), Some("Welcome"));
        let token_errors = captcha.response_errors.as_ref().and_then(|e| e.get("token"));
        assert_eq!(
            token_errors,
            Some(&vec![ErrorDetail::invalid("Invalid captcha response")]),
            "the bad entry is left out"
        );
        assert_eq!(serde_json::to_value(&captcha).expect("write")["component"], "ak-stage-captcha");
    }

    /// A known stage whose fields do not fit, and JSON that is no challenge at all, still read.
    #[test]
    fn odd_challenges_still_read() {
        let redirect = Challenge::from(json!({"component": "xak-flow-redirect", "to": 5}));
        assert_eq!(redirect.component(), "xak-flow-redirect");
        assert_eq!(redirect.kind, ChallengeKind::Other { component: "xak-flow-redirect".into() });
        let denied = Challenge::from(json!({"component": "ak-stage-access-denied", "error_message": "Denied."}));
        assert_eq!((&denied.kind, denied.error_message.as_deref()), (&ChallengeKind::AccessDenied, Some("Denied.")));
        for odd in [json!([1]), json!(null), json!({"pending_user": 3})] {
            let challenge = Challenge::from(odd);
            assert_eq!((challenge.component(), challenge.pending_user.as_deref()), ("", None));
        }
    }

    /// Real authentik's identification challenge (more fields than the stand-in's) is typed.
    #[test]
    fn real_authentiks_identification_is_read() {
        let real: Challenge = serde_json::from_value(json!({
            "component": "ak-stage-identification",
            "flow_info": {"title": "Welcome to authentik!", "background": "/media/bg.jpg",
                "background_themed_urls": {"light": "/l.jpg", "dark": null},
                "cancel_url": "/flows/-/cancel/", "layout": "stacked"},
            "user_fields": null, "password_fields": true, "allow_show_password": false,
            "flow_designation": "authentication", "captcha_stage": null, "enroll_url": "/if/flow/enroll/",
            "primary_action": "Log in", "sources": [{"name": "GitHub", "challenge": {}}],
            "show_source_labels": false, "enable_remember_me": true, "passkey_challenge": null,
        }))
        .expect("read");
        let ChallengeKind::Identification(fields) = &real.kind else { panic!("{real:?}") };
        assert_eq!((fields.user_fields.as_ref(), fields.password_fields, fields.sources.len()), (None, true, 1));
        let themed = real.flow_info.and_then(|i| i.background_themed_urls).and_then(|t| t.light);
        assert_eq!(themed.as_deref(), Some("/l.jpg"));
    }
}
