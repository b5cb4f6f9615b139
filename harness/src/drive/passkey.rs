//! The fixture users' passkeys: the credential of a software authenticator
//! (`ak_protocol::webauthn::Passkey`), kept in a file only its owner reads (`passkey: { file: … }`
//! in ak-e2e.yaml, written by `ak-e2e provision` when it enrolls one through authentik's own
//! setup flow).
//!
//! A passkey is a file, not a variable: each assertion raises its signature counter, and authentik
//! refuses a counter that does not grow past the last one it accepted. So a passkey signs under an
//! exclusive lock (a `.lock` file beside it, held across processes), the raised counter is written
//! back (to a new file renamed over the old, so that a crash never leaves half a key), and the
//! lock is held until authentik has answered the assertion ([`Signed`]): runs in parallel, and
//! runs of two processes, send their counters to authentik one at a time, in order. Whatever
//! else writes the file (`provision`, the fidelity recorder) takes the same lock ([`keep`]).

use std::path::Path;

use ak_protocol::webauthn::Passkey;
use serde_json::Value;

/// The passkey kept in `file`.
pub fn read(file: &Path) -> Result<Passkey, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read the passkey in {}: {e} (`ak-e2e provision` enrolls one and writes it there)",
            file.display()
        )
    })?;
    // The error says where, never what: the file holds a private key.
    serde_json::from_str(&text).map_err(|e| {
        format!("{} is not a passkey ak-e2e wrote (line {}, column {})", file.display(), e.line(), e.column())
    })
}

/// Keeps `passkey` in `file` (mode 0600), replacing what was there in one step.
pub fn write(file: &Path, passkey: &Passkey) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(passkey).map_err(|e| format!("cannot write a passkey: {e}"))?;
    crate::files::replace_private(file, &text)
        .map_err(|e| format!("cannot write the passkey to {}: {e}", file.display()))
}

/// The passkey's lock (see the module's doc); released when dropped.
pub use super::lock::Turn;

/// Takes the passkey's lock, waiting for whoever holds it. The passkey must be there: a missing
/// one says how to make it, and leaves no lock file behind.
pub fn hold(file: &Path) -> Result<Turn, String> {
    super::lock::hold(file, "passkey", || read(file).map(drop))
}

/// Keeps `passkey` in `file` under the passkey's lock, when the file is there (a new one needs
/// none).
pub fn keep(file: &Path, passkey: &Passkey) -> Result<(), String> {
    super::lock::replace(file, "passkey", || write(file, passkey))
}

/// An assertion, and the passkey's lock held until authentik has answered it.
pub struct Signed {
    /// What the page posts.
    pub assertion: Value,
    /// Dropped once authentik has answered.
    pub turn: Turn,
}

/// The assertion the passkey in `file` gives a page at `origin` asking with `options` (a
/// `PublicKeyCredentialRequestOptions` as JSON), its raised counter kept; the lock stays held
/// in the answer (see the module's doc).
pub fn sign(file: &Path, options: &Value, origin: &str) -> Result<Signed, String> {
    let turn = hold(file)?;
    let mut passkey = read(file)?;
    let assertion = passkey.get(options, origin).map_err(|e| e.to_string())?;
    write(file, &passkey)?;
    Ok(Signed { assertion, turn })
}

/// [`sign`] for a page of authentik at `authentik` (its origin), off the async threads: the lock
/// may wait for another run's signature, which holds it for one answer of authentik, so the wait
/// is bounded by twice `request_deadline`; the error names the user.
pub async fn sign_at(
    file: &Path,
    options: Value,
    authentik: &url::Url,
    user: &str,
    request_deadline: std::time::Duration,
) -> Result<Signed, super::DriveError> {
    let origin = authentik.origin().ascii_serialization();
    let failed = cannot_answer(user);
    super::lock::within_deadline(file, ("passkey", &failed), request_deadline, move |file| {
        sign(file, &options, &origin)
    })
    .await
}

/// Why a browser would refuse authentik's request for `user`'s passkey (`options`) on a page of
/// authentik at `authentik`, when it would: an RP ID that is neither that host nor a parent
/// domain of it. authentik's fault, not the passkey's: the `sign_in` step fails with it.
pub fn refusal(options: &Value, authentik: &url::Url, user: &str) -> Option<String> {
    let asked = options["rpId"].as_str()?;
    let origin = authentik.origin().ascii_serialization();
    let refused = ak_protocol::webauthn::rp_id_for(&origin, Some(asked)).err()?;
    let why = super::authenticator::misfit(asked, authentik).unwrap_or_else(|| refused.to_string());
    Some(format!("{}, which a browser refuses: {why}", cannot_answer(user)))
}

/// The passkey in `file` with its lock, for an authenticator that signs itself (the browser's):
/// the counter it reaches is written back with [`write`] before the lock goes. Bounded as
/// [`sign_at`].
pub async fn take(
    file: &Path,
    user: &str,
    request_deadline: std::time::Duration,
) -> Result<(Passkey, Turn), super::DriveError> {
    let failed = cannot_answer(user);
    super::lock::within_deadline(file, ("passkey", &failed), request_deadline, |file| {
        let turn = hold(file)?;
        Ok((read(file)?, turn))
    })
    .await
}

/// Why a `sign_in` with `user`'s passkey as the first factor cannot begin: authentik's
/// identification stage does not offer one. A failure of the step (authentik's setup).
pub fn not_offered(user: &str) -> String {
    format!(
        "authentik's identification stage offers no passkey sign-in, so `{user}` cannot sign in with a passkey first: \
         the flow's identification stage has no \"WebAuthn Authenticator Validation Stage\" (Passkey settings; \
         `webauthn_stage`)"
    )
}

/// How an error about `user`'s passkey at the MFA stage begins.
fn cannot_answer(user: &str) -> String {
    format!("`{user}`'s passkey cannot answer authentik's WebAuthn challenge")
}

#[cfg(test)]
mod tests {
    use super::{read, sign, write};
    use ak_protocol::webauthn::Passkey;
    use serde_json::json;

    /// Signs from many threads at once: every counter is sent once, the last one is kept, and
    /// the file stays readable by its owner only.
    #[test]
    fn parallel_signatures_never_repeat_a_counter() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("ak-e2e-passkey-{}", ak_protocol::jose::random_token(6)));
        let file = dir.join("pia.passkey");
        let options = json!({
            "rp": {"id": "localhost", "name": "authentik"}, "user": {"id": "dQ", "name": "pia", "displayName": "Pia"},
            "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        });
        let (passkey, _) = Passkey::create(&options, "http://localhost:9000").expect("create");
        write(&file, &passkey).expect("write");
        let counters: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let asked = json!({"challenge": "c2lnbg", "rpId": "localhost"});
                        let assertion = sign(&file, &asked, "http://localhost:9000").expect("sign").assertion;
                        let data = ak_protocol::webauthn::unb64(
                            assertion["response"]["authenticatorData"].as_str().expect("data"),
                        )
                        .expect("base64");
                        u32::from_be_bytes([data[33], data[34], data[35], data[36]])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let mut sorted = counters.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=8).collect::<Vec<u32>>(), "{counters:?}");
        assert_eq!(read(&file).expect("read").sign_count, 8);
        // The lock stays held while the assertion is on its way to authentik, and only then goes.
        let signed = sign(&file, &json!({"challenge": "c2lnbg", "rpId": "localhost"}), "http://localhost:9000");
        let signed = signed.expect("sign");
        let other =
            std::fs::OpenOptions::new().write(true).open(crate::drive::lock::lock_path(&file)).expect("lock file");
        assert!(other.try_lock().is_err(), "another signer waits while the assertion is out");
        drop(signed);
        assert!(other.try_lock().is_ok(), "and signs once authentik has answered");
        let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A signer waits for the passkey's lock within a deadline, then says who held it.
    #[test]
    fn a_lock_held_past_the_deadline_is_a_timeout() {
        let dir = std::env::temp_dir().join(format!("ak-e2e-passkey-{}", ak_protocol::jose::random_token(6)));
        let file = dir.join("pia.passkey");
        let options = json!({
            "rp": {"id": "localhost"}, "user": {"id": "dQ", "name": "pia"},
            "challenge": "cmVn", "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        });
        write(&file, &Passkey::create(&options, "http://localhost:9000").expect("create").0).expect("write");
        let held = super::hold(&file).expect("hold");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let authentik = url::Url::parse("http://localhost:9000/").expect("url");
        let deadline = std::time::Duration::from_millis(50);
        let asked = json!({"challenge": "c2lnbg", "rpId": "localhost"});
        let signed = runtime.block_on(super::sign_at(&file, asked, &authentik, "ak-e2e-pia", deadline));
        let error = signed.err().map(|e| e.0).unwrap_or_default();
        assert!(error.contains("another run held the passkey in") && error.contains("(timed out)"), "{error}");
        drop(held);
        drop(runtime);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_file_is_named_without_its_content() {
        let dir = std::env::temp_dir().join(format!("ak-e2e-passkey-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.passkey");
        std::fs::write(&file, "{\"private_key\": \"TOPSECRET\"").expect("write");
        let error = read(&file).expect_err("refused");
        assert!(error.contains("is not a passkey ak-e2e wrote") && !error.contains("TOPSECRET"), "{error}");
        let missing = read(&dir.join("none.passkey")).expect_err("refused");
        assert!(missing.contains("`ak-e2e provision` enrolls one"), "{missing}");
        // Signing with a passkey that is not there says the same, and leaves no lock file.
        let unsigned = sign(&dir.join("none.passkey"), &json!({"challenge": "eA"}), "http://localhost").err();
        assert!(unsigned.is_some_and(|e| e.contains("`ak-e2e provision` enrolls one")));
        assert!(!dir.join("none.passkey.lock").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
