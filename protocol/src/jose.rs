//! The small part of JOSE both mocks need: base64url, RS256/HS256 JWTs, JWKs and `at_hash`.
//!
//! Written out rather than taken from a JWT crate because the relying party must tell *which*
//! check failed (malformed, alg, kid, signature), and the stand-in must be able to produce broken
//! tokens (alg `none`, unpublished key) on purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// base64url without padding, as JOSE uses it.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, tolerating trailing padding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Random bytes as base64url: state, nonce, PKCE verifiers, codes, session ids.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::thread_rng(), buf.as_mut_slice());
    b64url(buf)
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    b64url(Sha256::digest(verifier.as_bytes()))
}

/// `at_hash` for an RS256/HS256 ID token: the left half of SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    b64url(&digest[..16])
}

/// An RSA signing key with its key id.
#[derive(Clone)]
pub struct RsaKey {
    kid: String,
    private: RsaPrivateKey,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl RsaKey {
    /// Generates a fresh 2048-bit key with the given key id.
    pub fn generate(kid: impl Into<String>) -> Result<Self, rsa::Error> {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
        Ok(Self { kid: kid.into(), private })
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The same key material under another key id.
    pub fn with_kid(&self, kid: impl Into<String>) -> Self {
        Self { kid: kid.into(), private: self.private.clone() }
    }

    /// The public half as a JWK (kty, use, alg, kid, n, e).
    pub fn public_jwk(&self) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64url(public.n().to_bytes_be()),
            "e": b64url(public.e().to_bytes_be()),
        })
    }

    /// Signs `claims` as an RS256 JWT. `extra_header` entries are added to (or override) the
    /// header `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub fn sign_rs256(&self, claims: &Value, extra_header: &Map<String, Value>) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        header.insert("kid".into(), json!(self.kid));
        header.insert("typ".into(), json!("JWT"));
        header.extend(extra_header.clone());
        let input = signing_input(&Value::Object(header), claims);
        let key = SigningKey::<Sha256>::new(self.private.clone());
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64url(signature.to_bytes()))
    }
}

/// Signs `claims` as an HS256 JWT with `secret` (authentik's choice when a provider has no key).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), claims);
    format!("{input}.{}", b64url(hmac_sha256(secret, input.as_bytes())))
}

/// An unsigned JWT (`alg: none`), which no relying party may accept.
pub fn unsigned(claims: &Value) -> String {
    format!("{}.", signing_input(&json!({"alg": "none", "typ": "JWT"}), claims))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64url(header.to_string()), b64url(claims.to_string()))
}

fn hmac_sha256(secret: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A JWT split into its parts, not yet verified.
#[derive(Debug, Clone)]
pub struct Jwt {
    /// The decoded header.
    pub header: Map<String, Value>,
    /// The decoded claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Splits and decodes a compact JWS. The error says what is wrong with it.
    pub fn parse(token: &str) -> Result<Self, String> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(format!("a JWT has 3 dot-separated parts; this one has {}", parts.len()));
        }
        let decode = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
            let bytes = b64url_decode(part).ok_or_else(|| format!("the {what} is not base64url"))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(format!("the {what} is not a JSON object")),
            }
        };
        let header = decode(parts[0], "header")?;
        let claims = decode(parts[1], "payload")?;
        let signature = b64url_decode(parts[2]).ok_or("the signature is not base64url")?;
        Ok(Self { header, claims, signing_input: format!("{}.{}", parts[0], parts[1]), signature })
    }

    /// The header's `alg`, or `""` when absent.
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// The header's `kid`, when present.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Verifies an RS256 signature with `key`.
    pub fn verify_rs256(&self, key: &RsaPublicKey) -> bool {
        let Ok(signature) = Signature::try_from(self.signature.as_slice()) else {
            return false;
        };
        VerifyingKey::<Sha256>::new(key.clone()).verify(self.signing_input.as_bytes(), &signature).is_ok()
    }

    /// Verifies an HS256 signature with `secret`.
    pub fn verify_hs256(&self, secret: &[u8]) -> bool {
        let expected = hmac_sha256(secret, self.signing_input.as_bytes());
        constant_time_eq(&expected, &self.signature)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads an RSA public key from a JWK object; the error names the bad member.
pub fn rsa_public_key_from_jwk(jwk: &Value) -> Result<RsaPublicKey, String> {
    let member = |name: &str| -> Result<BigUint, String> {
        let text = jwk.get(name).and_then(Value::as_str).ok_or(format!("JWK has no `{name}`"))?;
        let bytes = b64url_decode(text).ok_or(format!("JWK `{name}` is not base64url"))?;
        Ok(BigUint::from_bytes_be(&bytes))
    };
    RsaPublicKey::new(member("n")?, member("e")?).map_err(|e| format!("JWK is not a usable RSA key: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::{Jwt, RsaKey, at_hash, pkce_s256, rsa_public_key_from_jwk, sign_hs256, unsigned};

    #[test]
    fn rs256_round_trip_through_the_jwk() {
        let key = RsaKey::generate("k1").expect("keygen");
        let token = key.sign_rs256(&json!({"sub": "a"}), &Map::new());
        let jwt = Jwt::parse(&token).expect("parse");
        assert_eq!((jwt.alg(), jwt.kid()), ("RS256", Some("k1")));
        let public = rsa_public_key_from_jwk(&key.public_jwk()).expect("jwk");
        assert!(jwt.verify_rs256(&public));
        let other = RsaKey::generate("k2").expect("keygen");
        let other_public = rsa_public_key_from_jwk(&other.public_jwk()).expect("jwk");
        assert!(!jwt.verify_rs256(&other_public));
    }

    #[test]
    fn hs256_and_none() {
        let jwt = Jwt::parse(&sign_hs256(b"s3cret", &json!({"a": 1}))).expect("parse");
        assert!(jwt.verify_hs256(b"s3cret"));
        assert!(!jwt.verify_hs256(b"other"));
        assert_eq!(Jwt::parse(&unsigned(&json!({}))).expect("parse").alg(), "none");
    }

    #[test]
    fn malformed_tokens_say_why() {
        assert_eq!(Jwt::parse("a.b").expect_err("must fail"), "a JWT has 3 dot-separated parts; this one has 2");
        assert_eq!(Jwt::parse("!!.e30.").expect_err("must fail"), "the header is not base64url");
        assert_eq!(Jwt::parse("e30.WzFd.").expect_err("must fail"), "the payload is not a JSON object");
    }

    #[test]
    fn rfc_vectors() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(at_hash("x").len(), 22);
    }
}
