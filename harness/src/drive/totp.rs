//! TOTP codes for fixture users' devices, typed as a person with an authenticator app would:
//! never a code the device has accepted before (authentik remembers the last step it accepted
//! and refuses that one and older ones).
//!
//! On a real target other processes use the same device: `ak-e2e provision` (which enrolls it)
//! and other runs, even at the same time. Each records the last step it handed out in a small
//! file named by a hash of the secret (`$XDG_CACHE_HOME/ak-e2e/totp-steps/`, else
//! `~/.cache/ak-e2e/totp-steps/`; the folder 0700, the files 0600), so that the next process
//! skips exactly those steps instead of waiting for a fresh 30-second step. A process holds the
//! file's lock from reading it until authentik has answered its code, so two processes never
//! hand out one step, nor submit out of order. Without a record (the first run on a machine, a
//! device also used elsewhere, no home folder) the current step and the next count as spent,
//! which may cost one wait of up to 30 s. The files hold a step number only, never the secret
//! or a code; one that is larger than a step number, or a symbolic link, is not read.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use crate::environment::Environment;

/// The codes this process has handed out, shared by both drivers.
static CODES: LazyLock<ak_protocol::totp::CodeBook> = LazyLock::new(Default::default);

/// One TOTP submission at a time: codes must reach authentik in the order they were handed out.
static TURN: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Default::default);

/// This run's turn to submit a TOTP code: the process's, and the device record's lock, which
/// other processes wait for. Released when dropped.
pub struct Turn {
    _process: tokio::sync::OwnedMutexGuard<()>,
    _record: Option<Record>,
}

/// A TOTP code, and this run's turn to submit one: hold it until authentik has answered.
pub struct TotpCode {
    /// The six digits.
    pub code: String,
    /// Released when dropped.
    pub turn: Turn,
}

/// The next TOTP code for `secret`.
pub async fn totp_code(env: &Environment, secret: &[u8]) -> TotpCode {
    // The embedded stand-in lives and dies with this process: nothing else used its devices.
    next_code(secret, env.standin.is_none()).await
}

/// The next TOTP code for `secret`, of a device other processes may use too when `shared` (on
/// a real target).
pub async fn next_code(secret: &[u8], shared: bool) -> TotpCode {
    let process = TURN.clone().lock_owned().await;
    if !shared {
        let (_, code) = CODES.next(secret, 6, None).await;
        return TotpCode { code, turn: Turn { _process: process, _record: None } };
    }
    let secret_owned = secret.to_vec();
    let record = tokio::task::spawn_blocking(move || Record::lock(&secret_owned)).await.ok().flatten();
    let spent = record.as_ref().and_then(Record::read).unwrap_or_else(|| ak_protocol::totp::current_step() + 1);
    let (step, code) = CODES.next(secret, 6, Some(spent)).await;
    if let Some(record) = &record {
        record.write(spent.max(step));
    }
    TotpCode { code, turn: Turn { _process: process, _record: record } }
}

/// The folder of the records: the user's cache folder, never a shared one.
fn record_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("ak-e2e").join("totp-steps"))
}

/// Where the last step handed out for `secret` is recorded.
fn record_file(secret: &[u8]) -> Option<PathBuf> {
    // A hash of the secret names the device without revealing it.
    Some(record_dir()?.join(ak_protocol::jose::pkce_s256(&ak_protocol::totp::encode_hex(secret))))
}

/// A device's record, opened and locked against the other processes on this machine.
struct Record(std::fs::File);

impl Record {
    /// Opens (making it, 0600, in a 0700 folder) and locks the record of `secret`; `None` when
    /// there is no home folder, or the record is a symbolic link or cannot be opened.
    fn lock(secret: &[u8]) -> Option<Self> {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
        let file = record_file(secret)?;
        let dir = file.parent()?;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).ok()?;
        // A folder made by an earlier version may be readable by others: no longer.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok()?;
        if std::fs::symlink_metadata(&file).is_ok_and(|m| !m.file_type().is_file()) {
            return None;
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&file)
            .ok()?;
        opened.set_permissions(std::fs::Permissions::from_mode(0o600)).ok()?;
        opened.lock().ok()?;
        Some(Self(opened))
    }

    /// The step recorded; a record from the future (a clock set back, a tampered file) or one
    /// longer than a step number is ignored.
    fn read(&self) -> Option<u64> {
        let mut text = String::new();
        (&self.0).take(32).read_to_string(&mut text).ok()?;
        text.trim().parse::<u64>().ok().filter(|step| *step <= ak_protocol::totp::current_step() + 1)
    }

    /// Records `step` (best effort: without a record the next process waits for a fresh step).
    fn write(&self, step: u64) {
        let mut file = &self.0;
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(step.to_string().as_bytes()));
    }
}

/// The last step a process on this machine handed out for `secret`.
pub fn recall(secret: &[u8]) -> Option<u64> {
    Record::lock(secret)?.read()
}

/// Records that `step` was handed out for `secret`, unless a later one is recorded.
pub fn remember(secret: &[u8], step: u64) {
    if let Some(record) = Record::lock(secret) {
        record.write(record.read().map_or(step, |known| known.max(step)));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_names_no_secret_and_keeps_the_latest_step() {
        let secret = ak_protocol::jose::random_token(20).into_bytes();
        let file = super::record_file(&secret).expect("a home folder");
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
        std::fs::write(&file, "7".repeat(1 << 20)).expect("write");
        assert_eq!(super::recall(&secret), None, "a record longer than a step number is not read");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!((mode(&file), mode(file.parent().expect("dir"))), (0o600, 0o700));
        let _ = std::fs::remove_file(&file);

        // A symbolic link planted as the record is neither read nor written through.
        let target = std::env::temp_dir().join(format!("ak-e2e-totp-target-{}", ak_protocol::jose::random_token(6)));
        std::fs::write(&target, "12").expect("target");
        std::os::unix::fs::symlink(&target, &file).expect("symlink");
        super::remember(&secret, now);
        assert_eq!(super::recall(&secret), None);
        assert_eq!(std::fs::read_to_string(&target).expect("target"), "12");
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&target);
    }

    #[test]
    fn a_record_is_held_by_one_process_at_a_time() {
        let secret = ak_protocol::jose::random_token(20).into_bytes();
        let held = super::Record::lock(&secret).expect("lock");
        let file = super::record_file(&secret).expect("file");
        let other = std::fs::OpenOptions::new().read(true).write(true).open(&file).expect("open");
        assert!(other.try_lock().is_err(), "another open file description waits for the lock");
        drop(held);
        assert!(other.try_lock().is_ok());
        let _ = std::fs::remove_file(&file);
    }
}
