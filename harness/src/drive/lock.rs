//! A file kept under a lock held across processes: a `.lock` file beside it, taken before the
//! file is read and released once what was read has been used and written back. The fixture
//! users' passkeys (`drive::passkey`: a counter that must grow) and recovery codes
//! (`drive::recovery`: a code typed once) are kept so.

use std::path::{Path, PathBuf};

/// The lock file beside `file`.
pub(super) fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The lock, held; released when dropped.
pub struct Turn(#[allow(dead_code)] std::fs::File);

/// Takes the lock of `file` (the `what` in it, for errors), waiting for whoever holds it. A
/// missing `file` is `missing`'s error, and leaves no lock file behind.
pub fn hold(file: &Path, what: &str, missing: impl FnOnce() -> Result<(), String>) -> Result<Turn, String> {
    if !file.exists() {
        missing()?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(file))
        .map_err(|e| format!("cannot lock the {what} in {}: {e}", file.display()))?;
    lock.lock().map_err(|e| format!("cannot lock the {what} in {}: {e}", file.display()))?;
    Ok(Turn(lock))
}

/// Writes `file` with `write` under its lock when it is there (a new one needs none): a run
/// using it meanwhile never writes what it read back over what is written here.
pub fn replace(file: &Path, what: &str, write: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let _turn = if file.exists() { Some(hold(file, what, || Ok(()))?) } else { None };
    write()
}

/// How many request deadlines a wait for a lock lasts: a holder holds it for one assertion and
/// authentik's answer, in the browser the page's request for it, the click and the page's wait for
/// what follows (up to the browser's cap of six deadlines), plus a little.
const HOLD_DEADLINES: u32 = 8;

/// Runs `work` on `file` (holding `what`) off the async threads, within [`HOLD_DEADLINES`]
/// request deadlines; an error is said after `failed`. The work goes on when the wait gives up
/// (a thread cannot be stopped), and ends when the lock comes: what it then takes (a recovery
/// code) is spent for nothing, never typed twice.
pub(crate) async fn within_deadline<T: Send + 'static>(
    file: &Path,
    (what, failed): (&str, &str),
    request_deadline: std::time::Duration,
    work: impl FnOnce(&Path) -> Result<T, String> + Send + 'static,
) -> Result<T, super::DriveError> {
    let shown = file.display().to_string();
    let file = file.to_path_buf();
    let wait = request_deadline * HOLD_DEADLINES;
    let done = tokio::time::timeout(wait, tokio::task::spawn_blocking(move || work(&file))).await;
    done.map_err(|_| format!("another run held the {what} in {shown} for over {wait:?} (timed out)"))
        .and_then(|joined| joined.map_err(|e| e.to_string()))
        .and_then(|s| s)
        .map_err(|e| super::DriveError(format!("{failed}: {e}")))
}
