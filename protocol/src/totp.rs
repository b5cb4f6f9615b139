//! RFC 6238 time-based one-time passwords, as authentik's TOTP devices compute them
//! (HMAC-SHA1, 30-second steps, 6 digits by default).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The code for `secret` at Unix time `now`.
pub fn code(secret: &[u8], now: u64, digits: u32) -> String {
    code_at_step(secret, now / 30, digits)
}

/// The code for `secret` now.
pub fn current(secret: &[u8], digits: u32) -> String {
    code(secret, crate::time::now_secs(), digits)
}

/// The code for a given 30-second step (RFC 4226 HOTP on the step counter).
pub fn code_at_step(secret: &[u8], step: u64, digits: u32) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    let modulus = 10u32.pow(digits.clamp(6, 8));
    format!("{:0width$}", binary % modulus, width = digits.clamp(6, 8) as usize)
}

/// Whether `candidate` is the code at `now` or one step either side (authentik's tolerance).
pub fn verify(secret: &[u8], candidate: &str, now: u64, digits: u32) -> bool {
    verify_after(secret, candidate, now, digits, None).is_some()
}

/// The step `candidate` is the code of, within one step of `now` and after `used` (a code is
/// accepted once: authentik's devices remember the last step they accepted, as django-otp's do).
pub fn verify_after(secret: &[u8], candidate: &str, now: u64, digits: u32, used: Option<u64>) -> Option<u64> {
    let step = now / 30;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .filter(|s| used.is_none_or(|u| *s > u))
        .find(|s| code_at_step(secret, *s, digits) == candidate.trim())
}

/// Hands out codes as a person with an authenticator app would: never one the device has
/// accepted before (it would refuse a replay). Codes of the current step and the next are
/// accepted; when both are spent, the next code is waited for (at most one 30-second step).
#[derive(Debug, Default)]
pub struct CodeBook {
    last: std::sync::Mutex<std::collections::HashMap<Vec<u8>, u64>>,
}

impl CodeBook {
    /// A fresh book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next unused code for `secret`, and its step. `spent_elsewhere` is the last step
    /// another process may have used on the same device (the enrollment, an earlier run): codes
    /// up to it count as spent. Codes of the current step and the next are accepted; when both
    /// are spent, the next code is waited for (at most one 30-second step).
    pub async fn next(&self, secret: &[u8], digits: u32, spent_elsewhere: Option<u64>) -> (u64, String) {
        if let Some(spent) = spent_elsewhere {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let entry = last.entry(secret.to_vec()).or_insert(spent);
            *entry = (*entry).max(spent);
        }
        loop {
            let now = crate::time::now_secs();
            let step = now / 30;
            let wait = {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                let pick = last.get(secret).map_or(step, |spent| (spent + 1).max(step));
                if pick <= step + 1 {
                    last.insert(secret.to_vec(), pick);
                    return (pick, code_at_step(secret, pick, digits));
                }
                // Both usable steps are spent: the next one opens at the next step boundary.
                (step + 1) * 30 - now
            };
            tokio::time::sleep(std::time::Duration::from_secs(wait.clamp(1, 30))).await;
        }
    }
}

/// The current 30-second step.
pub fn current_step() -> u64 {
    crate::time::now_secs() / 30
}

/// A TOTP secret as configured: hex (authentik's `key`) or base32 (an `otpauth://` secret).
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    decode_hex(text).or_else(|| decode_base32(text))
}

/// Decodes a hex secret (how authentik stores TOTP keys).
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || text.is_empty() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Encodes bytes as RFC 4648 base32 without padding (as `otpauth://` URIs carry secrets).
pub fn encode_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut bits, mut count) = (0u64, 0u32);
    for b in bytes {
        bits = (bits << 8) | u64::from(*b);
        count += 8;
        while count >= 5 {
            count -= 5;
            out.push(ALPHABET[((bits >> count) & 31) as usize] as char);
        }
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (5 - count)) & 31) as usize] as char);
    }
    out
}

/// Encodes bytes as lowercase hex (how authentik stores TOTP keys).
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret of an `otpauth://totp/…?secret=BASE32…` URI.
pub fn secret_of_uri(uri: &str) -> Option<Vec<u8>> {
    let query = uri.strip_prefix("otpauth://totp/")?.split_once('?')?.1;
    let secret = query.split('&').find_map(|pair| pair.strip_prefix("secret="))?;
    decode_base32(secret)
}

/// Decodes an RFC 4648 base32 secret (what authenticator apps and `otpauth://` URIs show).
pub fn decode_base32(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u64;
    let mut count = 0u32;
    let mut out = Vec::new();
    for c in text.trim().trim_end_matches('=').chars().filter(|c| *c != ' ') {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_code_is_accepted_once() {
        let secret = b"12345678901234567890";
        let now = 1_800_000_000;
        let code = super::code(secret, now, 6);
        let step = super::verify_after(secret, &code, now, 6, None).expect("fresh");
        assert_eq!(super::verify_after(secret, &code, now, 6, Some(step)), None, "a replay");
        let next = super::code(secret, now + 30, 6);
        assert_eq!(super::verify_after(secret, &next, now, 6, Some(step)), Some(step + 1), "the next step's code");
    }

    #[tokio::test]
    async fn the_code_book_never_hands_out_a_code_twice() {
        let book = super::CodeBook::new();
        let secret = b"12345678901234567890";
        let (a, b) = (book.next(secret, 6, None).await, book.next(secret, 6, None).await);
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_step_spent_elsewhere_is_skipped() {
        let book = super::CodeBook::new();
        let secret = b"12345678901234567890";
        let now = super::current_step();
        let (step, code) = book.next(secret, 6, Some(now)).await;
        assert_eq!(step, now + 1);
        assert_eq!(code, super::code_at_step(secret, now + 1, 6));
    }

    #[test]
    fn base32_and_otpauth_round_trip() {
        let secret = b"12345678901234567890";
        assert_eq!(super::encode_base32(secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(super::decode_base32(&super::encode_base32(b"\x01\xff\x10")), Some(b"\x01\xff\x10".to_vec()));
        let uri = "otpauth://totp/authentik%3Aann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1";
        assert_eq!(super::secret_of_uri(uri), Some(secret.to_vec()));
        assert_eq!(super::encode_hex(b"\x01\xab"), "01ab");
    }

    use super::{code, decode_base32, decode_hex, verify};

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code(secret, 59, 8), "94287082");
        assert_eq!(code(secret, 1_111_111_109, 8), "07081804");
        assert_eq!(code(secret, 1_234_567_890, 8), "89005924");
        assert_eq!(code(secret, 59, 6), "287082");
    }

    #[test]
    fn tolerance_is_one_step() {
        let secret = b"12345678901234567890";
        assert!(verify(secret, &code(secret, 1000, 6), 1030, 6));
        assert!(!verify(secret, &code(secret, 1000, 6), 1100, 6));
    }

    #[test]
    fn secrets_decode() {
        assert_eq!(decode_hex("3132").as_deref(), Some(&b"12"[..]));
        assert_eq!(decode_hex("313"), None);
        assert_eq!(decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").as_deref(), Some(&b"12345678901234567890"[..]));
        assert_eq!(decode_base32("1"), None);
    }
}
