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
    code(secret, crate::record_time::now_secs(), digits)
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
    let step = now / 30;
    [step.saturating_sub(1), step, step + 1].iter().any(|s| code_at_step(secret, *s, digits) == candidate.trim())
}

/// Decodes a hex secret (how authentik stores TOTP keys).
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || text.is_empty() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
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
