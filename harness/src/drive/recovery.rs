//! Recovery codes (authentik's static device): a fixture user's, kept in a file (mode 0600) that
//! `ak-e2e provision` writes with the codes authentik's `default-authenticator-static-setup` flow
//! gave. authentik accepts each code once and then deletes it, so a sign-in takes the first code
//! not spent yet and moves it to `spent`, under a lock beside the file (`drive::lock`), before
//! typing it: two runs never type the same code. The spent codes stay in the file, for a
//! scenario that checks authentik refuses one used before.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's content (never printed: its `Debug` counts the codes).
#[derive(Default, Serialize, Deserialize)]
pub struct Codes {
    /// Codes not typed yet.
    pub codes: Vec<String>,
    /// Codes typed, oldest first.
    #[serde(default)]
    pub spent: Vec<String>,
}

impl std::fmt::Debug for Codes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codes").field("codes", &self.codes.len()).field("spent", &self.spent.len()).finish()
    }
}

/// Keeps `codes` in `file` under its lock, when the file is there (a new one needs none): a run
/// taking a code meanwhile never writes the old codes back over new ones.
pub fn keep(file: &Path, codes: &Codes) -> Result<(), String> {
    super::lock::replace(file, "recovery codes", || write(file, codes))
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
    crate::files::replace_private(file, &text)
        .map_err(|e| format!("cannot write the recovery codes to {}: {e}", file.display()))
}

/// Takes the first code of `file` not spent yet, recording it as spent; off the async threads,
/// the lock waited for within a bound (see `lock::within_deadline`).
pub async fn take(file: &Path, user: &str, request_deadline: std::time::Duration) -> Result<String, super::DriveError> {
    let failed = format!("`{user}` has no recovery code to type");
    super::lock::within_deadline(file, ("recovery codes", &failed), request_deadline, take_now).await
}

fn take_now(file: &Path) -> Result<String, String> {
    change(file, |codes| {
        if codes.codes.is_empty() {
            return Err(format!("every code in {} is spent: `ak-e2e provision` enrolls new ones", file.display()));
        }
        let code = codes.codes.remove(0);
        codes.spent.push(code.clone());
        Ok(code)
    })
}

/// Changes the codes in `file` under its lock: read, changed by `f`, written back (not when `f`
/// fails).
fn change<T>(file: &Path, f: impl FnOnce(&mut Codes) -> Result<T, String>) -> Result<T, String> {
    let _turn = super::lock::hold(file, "recovery codes", || read(file).map(drop))?;
    let mut codes = read(file)?;
    let done = f(&mut codes)?;
    write(file, &codes)?;
    Ok(done)
}

/// Why authentik refused a recovery `code` of `username`'s that no run had typed before, and what
/// to do, found when the admin API is there with the request that tells the two causes apart: the
/// codes the user's static device still holds (authentik deletes a code it accepts; the device is
/// found among the user's devices first). Still held: the device is throttled. Gone: the code was
/// used elsewhere. Returns the diagnosis, its hint, and whether the code is still held.
pub async fn refusal(
    api: &Result<Option<crate::environment::admin_api::AdminApi>, String>,
    username: &str,
    code: &str,
) -> (String, String, bool) {
    let held = match api {
        Ok(Some(api)) => still_held(api, username, code).await,
        Ok(None) => Err("no admin API token (AK_E2E_AUTHENTIK_TOKEN)".into()),
        Err(e) => Err(e.clone()),
    };
    let refused = format!("authentik refused a recovery code of `{username}`'s that no run had typed before");
    match held {
        Ok(true) => (
            format!(
                "{refused}, and which their static device still holds: the device is throttled. authentik checks \
                 every code typed at the MFA stage against the static device first, a TOTP code too, and counts \
                 each refusal there: after n refusals in a row it checks no code for 2^(n-1) s (django-otp; an \
                 accepted recovery code resets it). So each TOTP sign-in of a user who also has recovery codes \
                 locks them for longer"
            ),
            "wait for the lock to end, or give the user new codes: a new static device starts unlocked (no \
             authentik setting changes the throttling)"
                .into(),
            true,
        ),
        Ok(false) => (
            format!("{refused}, and which their static device no longer holds: it was used elsewhere"),
            "`ak-e2e provision` enrolls new codes and writes them to the user's codes file".into(),
            false,
        ),
        Err(why) => (
            format!(
                "{refused}: it was used elsewhere, or the static device is throttled after refused codes (a TOTP \
                 sign-in counts as one); the admin API tells the two apart, and could not be asked: {why}"
            ),
            "export AK_E2E_AUTHENTIK_TOKEN (an API token that reads users and devices) to have the cause named".into(),
            false,
        ),
    }
}

/// Whether `username`'s static device still holds `code`: the user's devices
/// (`authenticators/admin/all/?user=`, no codes in it), then the static one's codes.
async fn still_held(api: &crate::environment::admin_api::AdminApi, username: &str, code: &str) -> Result<bool, String> {
    use ak_protocol::authentik::admin::{Device, StaticDevice, path};
    let user = api.user(username).await.map_err(|e| e.message)?.ok_or(format!("authentik has no user `{username}`"))?;
    let pk = user.pk.to_string();
    let devices: Vec<Device> = api.get(path::ALL_DEVICES, &[("user", pk.as_str())]).await.map_err(|e| e.message)?;
    let mut held = false;
    for device in devices.iter().filter(|d| d.kind.to_lowercase().ends_with(".staticdevice")) {
        let one: StaticDevice =
            api.get(&path::one(path::STATIC_DEVICES, &device.pk), &[]).await.map_err(|e| e.message)?;
        held |= one.token_set.iter().any(|t| t.token.expose() == code);
    }
    Ok(held)
}

/// Puts a code a sign-in took back among the unspent ones of `file`, under its lock (bounded as
/// [`take`]): authentik refused it without spending it (its device was throttled).
pub async fn unspend(file: &Path, code: &str, request_deadline: std::time::Duration) -> Result<(), super::DriveError> {
    let code = code.to_string();
    let failed = "the refused recovery code could not be put back".to_string();
    super::lock::within_deadline(file, ("recovery codes", &failed), request_deadline, move |file| {
        change(file, |codes| {
            if let Some(i) = codes.spent.iter().position(|c| *c == code) {
                codes.spent.remove(i);
                codes.codes.insert(0, code);
            }
            Ok(())
        })
    })
    .await
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
