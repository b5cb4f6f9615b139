//! Recovery codes (authentik's static device): a fixture user's, kept in a file (mode 0600) that
//! `ak-e2e provision` writes with the codes authentik's `default-authenticator-static-setup` flow
//! gave. authentik accepts each code once and then deletes it, so a sign-in takes the first code
//! not spent yet and moves it to `spent`, under the passkey files' kind of lock (a file beside
//! it), before typing it: two runs never type the same code. The spent codes stay in the file,
//! for a scenario that checks authentik refuses one used before.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Codes {
    /// Codes not typed yet.
    pub codes: Vec<String>,
    /// Codes typed, oldest first.
    #[serde(default)]
    pub spent: Vec<String>,
}

/// The codes in `file`.
pub fn read(file: &Path) -> Result<Codes, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read the recovery codes in {}: {e} (`ak-e2e provision` enrolls them and writes them there)",
            file.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a file of recovery codes ak-e2e wrote (line {}, column {})",
            file.display(),
            e.line(),
            e.column()
        )
    })
}

/// Keeps `codes` in `file` (mode 0600), replacing what was there in one step.
pub fn write(file: &Path, codes: &Codes) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(codes).map_err(|e| format!("cannot write recovery codes: {e}"))?;
    let mut fresh = file.as_os_str().to_owned();
    fresh.push(format!(".new-{}", std::process::id()));
    let fresh = std::path::PathBuf::from(fresh);
    crate::files::write_private(&fresh, &text)
        .and_then(|()| std::fs::rename(&fresh, file))
        .map_err(|e| format!("cannot write the recovery codes to {}: {e}", file.display()))
}

/// Takes the first code of `file` not spent yet, recording it as spent; off the async threads,
/// the lock waited for within twice `request_deadline` (a holder holds it for one file write).
pub async fn take(file: &Path, user: &str, request_deadline: std::time::Duration) -> Result<String, super::DriveError> {
    let shown = file.display().to_string();
    let owned = file.to_path_buf();
    let wait = request_deadline * 2;
    let taken = tokio::time::timeout(wait, tokio::task::spawn_blocking(move || take_now(&owned))).await;
    taken
        .map_err(|_| format!("another run held the recovery codes in {shown} for over {wait:?} (timed out)"))
        .and_then(|joined| joined.map_err(|e| e.to_string()))
        .and_then(|t| t)
        .map_err(|e| super::DriveError(format!("`{user}` has no recovery code to type: {e}")))
}

fn take_now(file: &Path) -> Result<String, String> {
    let _turn = super::passkey::lock_beside(file, "recovery codes", || read(file).map(drop))?;
    let mut codes = read(file)?;
    if codes.codes.is_empty() {
        return Err(format!("every code in {} is spent: `ak-e2e provision` enrolls new ones", file.display()));
    }
    let code = codes.codes.remove(0);
    codes.spent.push(code.clone());
    write(file, &codes)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::{Codes, read, take, write};

    /// Codes are taken once each, oldest first, from many tasks at once; the spent ones stay,
    /// and the last one taken says to provision again.
    #[test]
    fn each_code_is_taken_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("ak-e2e-codes-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("rex.codes");
        let all: Vec<String> = (0..6).map(|i| format!("code{i}")).collect();
        write(&file, &Codes { codes: all.clone(), spent: Vec::new() }).expect("write");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let deadline = std::time::Duration::from_secs(5);
        let mut taken: Vec<String> = runtime.block_on(async {
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    tokio::spawn({
                        let file = file.clone();
                        async move { take(&file, "ak-e2e-rex", deadline).await.expect("take") }
                    })
                })
                .collect();
            let mut taken = Vec::new();
            for t in tasks {
                taken.push(t.await.expect("join"));
            }
            taken
        });
        taken.sort();
        assert_eq!(taken, all);
        let left = read(&file).expect("read");
        assert!(left.codes.is_empty());
        assert_eq!(left.spent.len(), 6);
        let none = runtime.block_on(take(&file, "ak-e2e-rex", deadline)).expect_err("none left");
        assert!(none.0.contains("every code in") && none.0.contains("`ak-e2e provision` enrolls new ones"), "{none}");
        let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
