//! authentik's throttling of code-based devices, as this process's own codes meet it, so that a
//! sign-in does not type a code authentik would not even check.
//!
//! authentik 2026.2 checks a code typed at the MFA stage against every code-based device of the
//! user, static devices (recovery codes) first, then TOTP, until one accepts it; each device is
//! throttled as django-otp's are: after `n` refusals in a row it checks no code (and counts none)
//! until 2^(n-1) s after the last, and an accepted code resets it. So a TOTP sign-in counts as a
//! refusal on the user's static device: right after it, a recovery code is refused (seen on
//! authentik 2026.2.2: a recovery code 0.6 s after the second TOTP sign-in, refused; 4.5 s later,
//! accepted). A refused code counts on both devices. This module keeps, per user, the throttling
//! the codes this process typed caused, and says how long to wait before the next code of a
//! kind; what happened outside this process is not known here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a sign-in types at the MFA stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A TOTP code.
    Totp,
    /// A recovery code (a static device's).
    Recovery,
}

/// The user's code-based devices, as far as the harness knows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Devices {
    /// A TOTP device.
    pub totp: bool,
    /// A static device (recovery codes).
    pub recovery: bool,
}

/// One device's throttling: refusals in a row, and when the last was.
#[derive(Debug, Clone, Copy, Default)]
struct Throttle {
    failures: u32,
    failed_at: Option<Instant>,
}

impl Throttle {
    /// How long from `now` until the device checks a code again.
    fn remaining(&self, now: Instant) -> Duration {
        let Some(at) = self.failed_at.filter(|_| self.failures > 0) else { return Duration::ZERO };
        let lock = Duration::from_secs(1u64 << self.failures.saturating_sub(1).min(40));
        (at + lock).saturating_duration_since(now)
    }

    /// A refusal at `now`, counted when the device checked the code.
    fn refused(&mut self, now: Instant) {
        if self.remaining(now).is_zero() {
            self.failures = self.failures.saturating_add(1);
            self.failed_at = Some(now);
        }
    }
}

/// The throttling of one user's static and TOTP devices.
#[derive(Debug, Clone, Copy, Default)]
struct UserThrottles {
    recovery: Throttle,
    totp: Throttle,
}

static THROTTLES: Mutex<Option<HashMap<String, UserThrottles>>> = Mutex::new(None);

fn with<T>(user: &str, f: impl FnOnce(&mut UserThrottles) -> T) -> T {
    let mut all = THROTTLES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(all.get_or_insert_with(HashMap::new).entry(user.to_string()).or_default())
}

/// How long until authentik checks a `code` typed for `user` (the username), by what this
/// process's own codes caused; zero when it checks it now.
pub fn wait_before(user: &str, code: Code) -> Duration {
    let now = Instant::now();
    with(user, |t| match code {
        Code::Recovery => t.recovery.remaining(now),
        Code::Totp => t.totp.remaining(now),
    })
}

/// A user's turn to have a code checked: one code of a user at a time in this process, from the
/// wait to the answer, so that a code's refusal is known before the next code's wait.
pub struct Turn(#[allow(dead_code)] Option<tokio::sync::OwnedMutexGuard<()>>);

static TURNS: Mutex<Option<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>> = Mutex::new(None);

/// Takes `user`'s turn (given up after eight `cap`s: a run holds it for one code and authentik's
/// answer), then waits, when a `code` would meet a throttled device, until authentik checks it
/// again; not when that is further than `cap` away (the code is typed, and its refusal named).
/// The turn ends with [`answered`].
pub async fn until_checked(user: &str, code: Code, cap: Duration) -> Turn {
    let lock = {
        let mut all = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.get_or_insert_with(HashMap::new).entry(user.to_string()).or_default().clone()
    };
    let turn = tokio::time::timeout(cap * 8, lock.lock_owned()).await.ok();
    let wait = wait_before(user, code);
    if !wait.is_zero() && wait <= cap {
        tokio::time::sleep(wait).await;
    }
    Turn(turn)
}

/// Records authentik's answer to a `code` typed for `user`, whose devices are `devices`, and
/// ends the user's turn.
pub fn answered(turn: Turn, user: &str, devices: Devices, code: Code, accepted: bool) {
    let now = Instant::now();
    with(user, |t| match (code, accepted) {
        (Code::Recovery, true) => t.recovery = Throttle::default(),
        (Code::Totp, true) => {
            if devices.recovery {
                t.recovery.refused(now);
            }
            t.totp = Throttle::default();
        }
        (_, false) => {
            if devices.recovery {
                t.recovery.refused(now);
            }
            if devices.totp {
                t.totp.refused(now);
            }
        }
    });
    drop(turn);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_sign_in_throttles_the_recovery_codes_and_a_refusal_both_devices() {
        let user = "throttle-test-ann";
        let both = Devices { totp: true, recovery: true };
        assert_eq!(wait_before(user, Code::Recovery), Duration::ZERO);
        answered(Turn(None), user, both, Code::Totp, true);
        let wait = wait_before(user, Code::Recovery);
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(wait_before(user, Code::Totp), Duration::ZERO, "the TOTP device was reset");
        // A refusal while the static device is locked counts on TOTP only.
        answered(Turn(None), user, both, Code::Recovery, false);
        assert!(wait_before(user, Code::Recovery) <= Duration::from_secs(1), "not counted while locked");
        assert!(wait_before(user, Code::Totp) > Duration::ZERO);
        // Without recovery codes, a TOTP sign-in throttles nothing.
        let totp_only = "throttle-test-tia";
        answered(Turn(None), totp_only, Devices { totp: true, recovery: false }, Code::Totp, true);
        assert_eq!(wait_before(totp_only, Code::Recovery), Duration::ZERO);
    }

    #[test]
    fn the_lock_doubles_with_each_refusal_and_an_accepted_code_ends_it() {
        let mut t = Throttle::default();
        let start = Instant::now();
        t.refused(start);
        assert_eq!(t.remaining(start), Duration::from_secs(1));
        t.refused(start + Duration::from_millis(500));
        assert_eq!(t.failures, 1, "a refusal while locked is not counted");
        t.refused(start + Duration::from_secs(1));
        assert_eq!(t.remaining(start + Duration::from_secs(1)), Duration::from_secs(2));
        t.refused(start + Duration::from_secs(3));
        assert_eq!(t.remaining(start + Duration::from_secs(3)), Duration::from_secs(4));
        let user = "throttle-test-rex";
        answered(Turn(None), user, Devices { totp: false, recovery: true }, Code::Recovery, false);
        answered(Turn(None), user, Devices { totp: false, recovery: true }, Code::Recovery, true);
        assert_eq!(wait_before(user, Code::Recovery), Duration::ZERO);
    }
}
