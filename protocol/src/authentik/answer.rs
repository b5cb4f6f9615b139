//! The answers ak-e2e sends to authentik's flow executor, typed: one per stage it can pass.
//!
//! An answer is written as authentik reads it, `{"component": "ak-stage-password",
//! "password": "…"}`, by hand so that the component comes from [`component`]. Passwords and
//! codes are [`Secret`]s: an answer's `Debug` shows `[redacted]` in their place. The consent
//! token is not a secret: authentik hands it to the browser in the challenge.

use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};

use super::component;
use crate::secret::Secret;

/// What a stage is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `ak-stage-identification`: who signs in.
    Identification {
        /// The username or email typed.
        uid_field: String,
    },
    /// `ak-stage-identification` answered with a passkey instead of an identifier (the first
    /// factor), as the flow interface posts what its conditional `navigator.credentials.get` gave.
    IdentificationPasskey {
        /// The assertion (see `webauthn::Passkey::get`).
        passkey: serde_json::Value,
    },
    /// `ak-stage-password`.
    Password {
        /// The password typed.
        password: Secret,
    },
    /// `ak-stage-authenticator-validate`: a code from the user's TOTP device, or one of their
    /// recovery codes.
    AuthenticatorValidate {
        /// The code.
        code: Secret,
    },
    /// `ak-stage-authenticator-static`: confirms the recovery codes shown.
    AuthenticatorStatic,
    /// `ak-stage-consent`: the user lets the application sign them in.
    Consent {
        /// The consent challenge's `token`, sent back (or another, to check authentik refuses it).
        token: String,
    },
    /// `ak-stage-authenticator-totp`: confirms the new TOTP secret.
    AuthenticatorTotp {
        /// A current code of that secret.
        code: Secret,
    },
    /// `ak-stage-authenticator-validate`: an assertion of the user's passkey, as the flow
    /// interface posts what `navigator.credentials.get` gave it.
    AuthenticatorValidateWebAuthn {
        /// The assertion (see `webauthn::Passkey::get`).
        webauthn: serde_json::Value,
    },
    /// `ak-stage-authenticator-webauthn`: the new credential, as the flow interface posts what
    /// `navigator.credentials.create` gave it.
    AuthenticatorWebAuthn {
        /// The credential (see `webauthn::Passkey::create`).
        response: serde_json::Value,
    },
}

impl Answer {
    /// The `component` of the stage this answers.
    pub fn component(&self) -> &'static str {
        match self {
            Self::Identification { .. } | Self::IdentificationPasskey { .. } => component::IDENTIFICATION,
            Self::Password { .. } => component::PASSWORD,
            Self::AuthenticatorValidate { .. } => component::AUTHENTICATOR_VALIDATE,
            Self::Consent { .. } => component::CONSENT,
            Self::AuthenticatorTotp { .. } => component::AUTHENTICATOR_TOTP,
            Self::AuthenticatorValidateWebAuthn { .. } => component::AUTHENTICATOR_VALIDATE,
            Self::AuthenticatorWebAuthn { .. } => component::AUTHENTICATOR_WEBAUTHN,
            Self::AuthenticatorStatic => component::AUTHENTICATOR_STATIC,
        }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = |t: &str| serde_json::Value::String(t.to_string());
        let entry = match self {
            Self::AuthenticatorStatic => None,
            Self::Identification { uid_field } => Some(("uid_field", text(uid_field))),
            Self::Password { password } => Some(("password", text(password.expose()))),
            Self::AuthenticatorValidate { code } | Self::AuthenticatorTotp { code } => {
                Some(("code", text(code.expose())))
            }
            Self::Consent { token } => Some(("token", text(token))),
            Self::AuthenticatorValidateWebAuthn { webauthn } => Some(("webauthn", webauthn.clone())),
            Self::IdentificationPasskey { passkey } => Some(("passkey", passkey.clone())),
            Self::AuthenticatorWebAuthn { response } => Some(("response", response.clone())),
        };
        let mut map = serializer.serialize_map(Some(1 + usize::from(entry.is_some())))?;
        map.serialize_entry("component", self.component())?;
        if let Some((key, value)) = entry {
            map.serialize_entry(key, &value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::Answer;
    use crate::secret::Secret;
    use serde_json::json;

    /// Each answer is the JSON authentik's `ChallengeResponse` serializers read.
    #[test]
    fn answers_are_the_json_authentik_reads() {
        let cases = [
            (
                Answer::Identification { uid_field: "ann@example.com".into() },
                json!({"component": "ak-stage-identification", "uid_field": "ann@example.com"}),
            ),
            (
                Answer::Password { password: Secret::new("hunter2") },
                json!({"component": "ak-stage-password", "password": "hunter2"}),
            ),
            (
                Answer::AuthenticatorValidate { code: Secret::new("123456") },
                json!({"component": "ak-stage-authenticator-validate", "code": "123456"}),
            ),
            (Answer::Consent { token: "t0k".into() }, json!({"component": "ak-stage-consent", "token": "t0k"})),
            (
                Answer::IdentificationPasskey { passkey: json!({"id": "cred"}) },
                json!({"component": "ak-stage-identification", "passkey": {"id": "cred"}}),
            ),
            (
                Answer::AuthenticatorTotp { code: Secret::new("654321") },
                json!({"component": "ak-stage-authenticator-totp", "code": "654321"}),
            ),
            (
                Answer::AuthenticatorValidateWebAuthn { webauthn: json!({"id": "Y3JlZA"}) },
                json!({"component": "ak-stage-authenticator-validate", "webauthn": {"id": "Y3JlZA"}}),
            ),
            (
                Answer::AuthenticatorWebAuthn { response: json!({"id": "Y3JlZA"}) },
                json!({"component": "ak-stage-authenticator-webauthn", "response": {"id": "Y3JlZA"}}),
            ),
        ];
        for (answer, expected) in cases {
            assert_eq!(serde_json::to_value(&answer).expect("serialise"), expected, "{answer:?}");
        }
        let text = serde_json::to_string(&Answer::Password { password: Secret::new("hunter2") }).expect("serialise");
        assert_eq!(text, r#"{"component":"ak-stage-password","password":"hunter2"}"#);
    }

    #[test]
    fn debug_never_shows_a_password_or_a_code() {
        let answers = [
            Answer::Password { password: Secret::new("hunter2") },
            Answer::AuthenticatorValidate { code: Secret::new("123456") },
            Answer::AuthenticatorTotp { code: Secret::new("654321") },
        ];
        let shown = format!("{answers:?}");
        for secret in ["hunter2", "123456", "654321"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(shown.matches("[redacted]").count(), 3, "{shown}");
    }
}
