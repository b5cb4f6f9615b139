//! TOTP codes for fixture users' devices, typed as a person with an authenticator app would:
//! never a code the device has accepted before (authentik remembers the last step it accepted
//! and refuses that one and older ones).
//!
//! On a real target other processes use the same device: `ak-e2e provision` (which enrolls it)
//! and earlier runs. Each records the last step it handed out in a small file named by a hash of
//! the secret (`~/.cache/ak-e2e/totp-steps/`), so that the next process skips exactly those steps
//! instead of waiting for a fresh 30-second step. Without a record (the first run on a machine,
//! a device also used elsewhere) the current step and the next count as spent, which may cost
//! one wait of up to 30 s. The files hold a step number only, never the secret or a code.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use crate::environment::Environment;

/// The codes this process has handed out, shared by both drivers.
static CODES: LazyLock<ak_protocol::totp::CodeBook> = LazyLock::new(Default::default);

/// One TOTP submission at a time: codes must reach authentik in the order they were handed out.
static TURN: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Default::default);

/// A TOTP code, and this run's turn to submit one: hold it until authentik has answered.
pub struct TotpCode {
    /// The six digits.
    pub code: String,
    /// Released when dropped.
    pub turn: tokio::sync::OwnedMutexGuard<()>,
}

/// The next TOTP code for `secret`.
pub async fn totp_code(env: &Environment, secret: &[u8]) -> TotpCode {
    let turn = TURN.clone().lock_owned().await;
    let spent_elsewhere = match env.standin {
        // The embedded stand-in lives and dies with this process: nothing else used its devices.
        Some(_) => None,
        None => Some(recall(secret).unwrap_or_else(|| ak_protocol::totp::current_step() + 1)),
    };
    let (step, code) = CODES.next(secret, 6, spent_elsewhere).await;
    if env.standin.is_none() {
        remember(secret, step);
    }
    TotpCode { code, turn }
}

/// Where the last step handed out for `secret` is recorded.
fn record_file(secret: &[u8]) -> PathBuf {
    let base = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
        .join("ak-e2e")
        .join("totp-steps");
    // A hash of the secret names the device without revealing it.
    base.join(ak_protocol::jose::pkce_s256(&ak_protocol::totp::encode_hex(secret)))
}

/// The last step a process on this machine handed out for `secret`; a record from the future
/// (a clock set back, a tampered file) is ignored.
pub fn recall(secret: &[u8]) -> Option<u64> {
    let text = std::fs::read_to_string(record_file(secret)).ok()?;
    text.trim().parse::<u64>().ok().filter(|step| *step <= ak_protocol::totp::current_step() + 1)
}

/// Records that `step` was handed out for `secret` (best effort: without a record the next
/// process waits for a fresh step instead).
pub fn remember(secret: &[u8], step: u64) {
    let file = record_file(secret);
    let step = recall(secret).map_or(step, |known| known.max(step));
    if let Some(dir) = file.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = std::fs::write(file, step.to_string());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_names_no_secret_and_keeps_the_latest_step() {
        let secret = ak_protocol::jose::random_token(20).into_bytes();
        let file = super::record_file(&secret);
        let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        assert!(
            !name.contains(&ak_protocol::totp::encode_hex(&secret))
                && !name.contains(&ak_protocol::totp::encode_base32(&secret))
        );
        let now = ak_protocol::totp::current_step();
        super::remember(&secret, now);
        super::remember(&secret, now - 3);
        assert_eq!(super::recall(&secret), Some(now));
        std::fs::write(&file, (now + 100).to_string()).expect("write");
        assert_eq!(super::recall(&secret), None, "a step from the future is ignored");
        let _ = std::fs::remove_file(file);
    }
}
