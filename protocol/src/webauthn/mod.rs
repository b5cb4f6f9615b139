//! WebAuthn (Level 2) as both ends speak it over JSON, without a browser: [`Passkey`] is a
//! software authenticator with the browser's part folded in (what `navigator.credentials.create`
//! and `get` hand to authentik's flow interface), and [`verify_registration`] /
//! [`verify_assertion`] are the relying party's checks, for the stand-in.
//!
//! The authenticator: ES256 (P-256) keys, `none` attestation, a zero AAGUID, user presence and
//! verification asserted, a signature counter that grows by one per assertion. Like a browser, it
//! refuses an RP ID that is not the origin's host or a parent domain of it, and an assertion
//! request whose allow-list does not name its credential (see [`rp_id_for`] for what it takes
//! that a browser would not). What it hands over is the JSON
//! authentik's flow interface posts (its `transformNewAssertionForServer` and
//! `transformAssertionForServer`): base64url fields, `id`/`rawId`/`type`/`response`.

pub mod cbor;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE as B64_PADDED, URL_SAFE_NO_PAD as B64};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::cbor::Value as Cbor;

/// COSE's algorithm number for ES256.
pub const ES256: i64 = -7;
/// Authenticator data flags (WebAuthn §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL: u8 = 0x40;

/// What went wrong, in the words a browser or a relying party would use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebAuthnError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, WebAuthnError> {
    Err(WebAuthnError(message.into()))
}

/// A credential of a software authenticator: its key, where it is valid, and its counter. Kept
/// as JSON in a file only its owner reads (it signs in as the user).
#[derive(Clone, Serialize, Deserialize)]
pub struct Passkey {
    /// The credential id (base64url).
    pub credential_id: String,
    /// The relying party it belongs to (authentik's host name).
    pub rp_id: String,
    /// The user handle the relying party gave at registration (base64url), if any.
    #[serde(default)]
    pub user_handle: Option<String>,
    /// The private key, PKCS#8 DER (base64url): the form WebDriver's virtual authenticators
    /// import.
    pub private_key: String,
    /// The signature counter of the last assertion.
    pub sign_count: u32,
}

impl std::fmt::Debug for Passkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkey")
            .field("credential_id", &self.credential_id)
            .field("rp_id", &self.rp_id)
            .field("private_key", &"<redacted>")
            .field("sign_count", &self.sign_count)
            .finish()
    }
}

/// The base64url text of `bytes`.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The bytes of base64url text (padding tolerated, as relying parties do).
pub fn unb64(text: &str) -> Result<Vec<u8>, WebAuthnError> {
    // The text is not repeated: it may be a key.
    B64.decode(text.trim_end_matches('='))
        .map_err(|_| WebAuthnError(format!("not base64url ({} characters)", text.len())))
}

/// The host of an origin (`http://localhost:9000` → `localhost`).
fn origin_host(origin: &str) -> Result<String, WebAuthnError> {
    let url = url::Url::parse(origin).map_err(|e| WebAuthnError(format!("origin `{origin}` is not a URL: {e}")))?;
    url.host_str().map(str::to_string).ok_or_else(|| WebAuthnError(format!("origin `{origin}` has no host")))
}

/// The RP ID for a page at `origin`: the one asked for when it is the origin's host or a parent
/// domain of it (never an IP address's "parent"), else an error, as a browser refuses it; the
/// host when none is asked for. Unlike a browser, it takes an IP address, plain `http` and a
/// public suffix: the api driver signs for authentik wherever the run reaches it.
pub fn rp_id_for(origin: &str, asked: Option<&str>) -> Result<String, WebAuthnError> {
    let host = origin_host(origin)?;
    let Some(asked) = asked.filter(|a| !a.is_empty()) else { return Ok(host) };
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    if asked == host || (!is_ip && host.ends_with(&format!(".{asked}"))) {
        Ok(asked.to_string())
    } else {
        err(format!("the RP ID `{asked}` is not valid for the origin {origin} (a browser refuses it: SecurityError)"))
    }
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    // The member order of the spec's serialisation: type, challenge, origin, crossOrigin.
    format!(
        "{{\"type\":{},\"challenge\":{},\"origin\":{},\"crossOrigin\":false}}",
        json!(kind),
        json!(challenge),
        json!(origin)
    )
    .into_bytes()
}

/// The COSE form of a P-256 public key (kty EC2, alg ES256, crv P-256, x, y).
fn cose_key(key: &VerifyingKey) -> Cbor {
    let point = key.to_encoded_point(false);
    let (x, y) = (point.x().map(|x| x.to_vec()).unwrap_or_default(), point.y().map(|y| y.to_vec()).unwrap_or_default());
    Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(2)),
        (Cbor::Int(3), Cbor::Int(ES256.into())),
        (Cbor::Int(-1), Cbor::Int(1)),
        (Cbor::Int(-2), Cbor::Bytes(x)),
        (Cbor::Int(-3), Cbor::Bytes(y)),
    ])
}

/// The public key of a COSE key, when it is an ES256 (P-256) one.
pub fn key_of_cose(cose: &Cbor) -> Result<VerifyingKey, WebAuthnError> {
    let int = |k| cose.int_key(k).and_then(Cbor::as_int);
    if int(1) != Some(2) || int(3) != Some(ES256.into()) || int(-1) != Some(1) {
        return err("the credential's public key is not an ES256 (P-256) key");
    }
    let coord = |k| cose.int_key(k).and_then(Cbor::as_bytes).filter(|b| b.len() == 32);
    let (Some(x), Some(y)) = (coord(-2), coord(-3)) else { return err("the credential's public key has no x or y") };
    let mut sec1 = vec![4u8];
    sec1.extend(x);
    sec1.extend(y);
    VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| WebAuthnError("the credential's public key is not on P-256".into()))
}

fn str_field<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, k| v.get(k)).and_then(Value::as_str)
}

impl Passkey {
    fn signing_key(&self) -> Result<SigningKey, WebAuthnError> {
        use p256::pkcs8::DecodePrivateKey as _;
        SigningKey::from_pkcs8_der(&unb64(&self.private_key)?)
            .map_err(|_| WebAuthnError("the passkey's private key is not a PKCS#8 P-256 key".into()))
    }

    /// The credential's public key.
    pub fn public_key(&self) -> Result<VerifyingKey, WebAuthnError> {
        Ok(*self.signing_key()?.verifying_key())
    }

    /// `navigator.credentials.create` at `origin` with authentik's `registration` options
    /// (`PublicKeyCredentialCreationOptions` as JSON): a new credential and what the page posts.
    pub fn create(options: &Value, origin: &str) -> Result<(Passkey, Value), WebAuthnError> {
        use p256::pkcs8::EncodePrivateKey as _;
        let algs: Vec<i64> =
            options["pubKeyCredParams"].as_array().into_iter().flatten().filter_map(|p| p["alg"].as_i64()).collect();
        if !algs.contains(&ES256) {
            return err(format!(
                "the relying party offers no ES256 (algorithms {algs:?}): this authenticator has no key for it"
            ));
        }
        let Some(challenge) = str_field(options, &["challenge"]) else { return err("the options have no challenge") };
        let rp_id = rp_id_for(origin, str_field(options, &["rp", "id"]))?;
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let mut id = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(USER_PRESENT | USER_VERIFIED | ATTESTED_CREDENTIAL);
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(id);
        auth_data.extend(cbor::encode(&cose_key(signing.verifying_key())));
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let private_key = p256::SecretKey::from(&signing)
            .to_pkcs8_der()
            .map_err(|_| WebAuthnError("the new key cannot be written as PKCS#8".into()))?;
        let passkey = Passkey {
            credential_id: b64(&id),
            rp_id,
            user_handle: str_field(options, &["user", "id"]).map(str::to_string),
            private_key: b64(private_key.as_bytes()),
            sign_count: 0,
        };
        // As authentik's flow interface posts it (`transformNewAssertionForServer`).
        let posted = json!({
            "id": passkey.credential_id,
            "rawId": passkey.credential_id,
            "type": "public-key",
            "registrationClientExtensions": "{}",
            "response": {
                "clientDataJSON": b64(&client_data("webauthn.create", challenge, origin)),
                "attestationObject": b64(&cbor::encode(&attestation)),
            },
        });
        Ok((passkey, posted))
    }

    /// `navigator.credentials.get` at `origin` with a relying party's
    /// `PublicKeyCredentialRequestOptions` (as JSON): the assertion the page posts. The counter
    /// grows by one (keep the passkey afterwards).
    pub fn get(&mut self, options: &Value, origin: &str) -> Result<Value, WebAuthnError> {
        let rp_id = rp_id_for(origin, str_field(options, &["rpId"]))?;
        if rp_id != self.rp_id {
            return err(format!(
                "this passkey is for `{}`, the page at {origin} asks for `{rp_id}`: the browser has no credential to offer",
                self.rp_id
            ));
        }
        self.sign(options, origin, USER_PRESENT | USER_VERIFIED)
    }

    /// What a client that lies about where it is would send: an assertion for this passkey's
    /// own RP ID whose client data claims `claimed_origin`, without the browser's check that the
    /// page is there. For checks that a relying party refuses it (a tampered origin).
    pub fn get_claiming(&mut self, options: &Value, claimed_origin: &str) -> Result<Value, WebAuthnError> {
        self.sign(options, claimed_origin, USER_PRESENT | USER_VERIFIED)
    }

    /// What an authenticator that did not verify its user (no PIN, no biometric) sends: user
    /// presence only. For checks that a relying party requiring user verification refuses it.
    pub fn get_unverified(&mut self, options: &Value, origin: &str) -> Result<Value, WebAuthnError> {
        self.sign(options, origin, USER_PRESENT)
    }

    /// Signs for `options` with the client data's origin `origin` (the RP ID checked by the
    /// caller): the allow-list checked, the counter raised.
    fn sign(&mut self, options: &Value, origin: &str, flags: u8) -> Result<Value, WebAuthnError> {
        let Some(challenge) = str_field(options, &["challenge"]) else { return err("the options have no challenge") };
        let rp_id = self.rp_id.clone();
        let allowed: Vec<&str> =
            options["allowCredentials"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
        if !allowed.is_empty() && !allowed.iter().any(|a| a.trim_end_matches('=') == self.credential_id) {
            return err(format!(
                "authentik does not list this passkey ({}) among the user's {} credential(s): it was removed or belongs to someone else",
                self.credential_id,
                allowed.len()
            ));
        }
        self.sign_count = self.sign_count.checked_add(1).ok_or_else(|| {
            WebAuthnError("the signature counter is at its end (2^32 - 1): enroll a new passkey".into())
        })?;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend(self.sign_count.to_be_bytes());
        let client_data = client_data("webauthn.get", challenge, origin);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = self.signing_key()?.sign(&signed);
        // As authentik's flow interface posts it (`transformAssertionForServer`: the response's
        // fields padded, no user handle).
        Ok(json!({
            "id": self.credential_id,
            "rawId": self.credential_id,
            "type": "public-key",
            "assertionClientExtensions": "{}",
            "response": {
                "clientDataJSON": B64_PADDED.encode(&client_data),
                "authenticatorData": B64_PADDED.encode(&auth_data),
                "signature": B64_PADDED.encode(signature.as_bytes()),
                "userHandle": null,
            },
        }))
    }
}

/// What a relying party expects of a response: the challenge it sent (base64url), its origin,
/// its RP ID.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub challenge: &'a str,
    pub origin: &'a str,
    pub rp_id: &'a str,
}

/// A credential a relying party has registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its id (base64url).
    pub credential_id: String,
    /// Its public key.
    pub public_key: VerifyingKey,
    /// The counter it was registered with.
    pub sign_count: u32,
}

/// Checks the client data: its type, challenge and origin.
fn check_client_data(response: &Value, kind: &str, expected: &Expected) -> Result<Vec<u8>, WebAuthnError> {
    let Some(text) = str_field(response, &["response", "clientDataJSON"]) else { return err("no clientDataJSON") };
    let bytes = unb64(text)?;
    let data: Value = serde_json::from_slice(&bytes).map_err(|_| WebAuthnError("clientDataJSON is not JSON".into()))?;
    if data["type"] != kind {
        return err(format!("client data of type {} where {kind} was expected", data["type"]));
    }
    if data["challenge"].as_str().map(|c| c.trim_end_matches('=')) != Some(expected.challenge.trim_end_matches('=')) {
        return err("the client data's challenge is not the one sent");
    }
    if data["origin"] != expected.origin {
        return err(format!("the client data's origin {} is not {}", data["origin"], expected.origin));
    }
    Ok(bytes)
}

/// The authenticator data's fixed part: the RP ID hash checked, the flags and the counter.
fn check_auth_data(auth_data: &[u8], expected: &Expected) -> Result<(u8, u32), WebAuthnError> {
    if auth_data.len() < 37 {
        return err("the authenticator data is shorter than 37 bytes");
    }
    if auth_data[..32] != Sha256::digest(expected.rp_id.as_bytes())[..] {
        return err(format!("the authenticator data is not for the RP ID `{}`", expected.rp_id));
    }
    let flags = auth_data[32];
    if flags & USER_PRESENT == 0 {
        return err("the user was not present (the UP flag is not set)");
    }
    Ok((flags, u32::from_be_bytes([auth_data[33], auth_data[34], auth_data[35], auth_data[36]])))
}

/// A relying party's checks of a registration (`none` attestation): client data, RP ID hash,
/// user presence, and the credential's ES256 key.
pub fn verify_registration(response: &Value, expected: &Expected) -> Result<Registered, WebAuthnError> {
    check_client_data(response, "webauthn.create", expected)?;
    let Some(text) = str_field(response, &["response", "attestationObject"]) else {
        return err("no attestationObject");
    };
    let (attestation, _) = cbor::decode(&unb64(text)?).map_err(WebAuthnError)?;
    if attestation.text_key("fmt").and_then(Cbor::as_text) != Some("none") {
        return err("only `none` attestation is taken");
    }
    let Some(auth_data) = attestation.text_key("authData").and_then(Cbor::as_bytes) else {
        return err("the attestation object has no authData");
    };
    let (flags, sign_count) = check_auth_data(auth_data, expected)?;
    if flags & ATTESTED_CREDENTIAL == 0 || auth_data.len() < 55 {
        return err("the authenticator data carries no credential");
    }
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let Some(id) = auth_data.get(55..55 + id_len) else { return err("the credential id runs past the data") };
    let (cose, _) = cbor::decode(&auth_data[55 + id_len..]).map_err(WebAuthnError)?;
    let credential_id = b64(id);
    if str_field(response, &["id"]).map(|i| i.trim_end_matches('=')) != Some(credential_id.as_str()) {
        return err("the response's id is not the credential's");
    }
    Ok(Registered { credential_id, public_key: key_of_cose(&cose)?, sign_count })
}

/// A relying party's checks of an assertion by `credential`: client data, RP ID hash, user
/// presence, a counter past the one stored (when either is not zero), and the signature.
/// Returns the new counter.
pub fn verify_assertion(response: &Value, expected: &Expected, credential: &Registered) -> Result<u32, WebAuthnError> {
    if str_field(response, &["id"]).map(|i| i.trim_end_matches('=')) != Some(credential.credential_id.as_str()) {
        return err("the assertion is by another credential");
    }
    let client_data = check_client_data(response, "webauthn.get", expected)?;
    let auth_data = unb64(str_field(response, &["response", "authenticatorData"]).unwrap_or_default())?;
    let (_, count) = check_auth_data(&auth_data, expected)?;
    if (count != 0 || credential.sign_count != 0) && count <= credential.sign_count {
        return err(format!(
            "the signature counter went from {} to {count}: the credential may have been cloned (or the assertion replayed)",
            credential.sign_count
        ));
    }
    let signature = unb64(str_field(response, &["response", "signature"]).unwrap_or_default())?;
    let signature =
        DerSignature::from_bytes(&signature).map_err(|_| WebAuthnError("the signature is not DER".into()))?;
    let mut signed = auth_data;
    signed.extend(Sha256::digest(&client_data));
    credential
        .public_key
        .verify(&signed, &signature)
        .map_err(|_| WebAuthnError("the assertion's signature does not verify with the credential's key".into()))?;
    Ok(count)
}

/// Whether an assertion's authenticator data says the user was verified (its UV flag), which a
/// relying party that requires user verification checks beside [`verify_assertion`].
pub fn user_verified(response: &Value) -> bool {
    let data = unb64(str_field(response, &["response", "authenticatorData"]).unwrap_or_default());
    data.ok().and_then(|d| d.get(32).copied()).is_some_and(|flags| flags & USER_VERIFIED != 0)
}

#[cfg(test)]
mod tests;
