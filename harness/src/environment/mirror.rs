//! Copies of real users: a throwaway user (`ak-e2e-repro-…`) with the same name, groups,
//! attributes, type and active state as a real person, an address of its own at the same email
//! domain, a password ak-e2e chose, and a TOTP device, a passkey and recovery codes of its own
//! (each enrolled through authentik's own setup flow, as `provision` enrolls them) when the
//! person has them. `reproduce` makes one per run; `users.<name>.mirror_of`
//! makes fixture users of them (a canary for nightly runs). The person is only read: their
//! password and devices are never changed. Copies are deleted like every throwaway object
//! ([`crate::environment::throwaway`]).
//!
//! Why an address of its own: authentik's identification stage may look users up by email, and
//! two users with one address would change the real user's sign-in while the copy exists.
//! Other MFA kinds go without: Duo, SMS and email need the person's phone or mailbox. The copy
//! says so.

use std::collections::HashMap;
use std::time::Duration;

use ak_protocol::authentik::admin::{self, path};
use ak_protocol::secret::Secret;

use crate::config::{SecretRef, Settings};
use crate::environment::admin_api::AdminApi;
use crate::environment::throwaway::{self, Cleanup, Kind};

/// authentik's model label of a TOTP device.
pub const TOTP_DEVICE: &str = "authentik_stages_authenticator_totp.TOTPDevice";
/// authentik's model label of a passkey (a WebAuthn device).
pub const WEBAUTHN_DEVICE: &str = "authentik_stages_authenticator_webauthn.WebAuthnDevice";
/// authentik's model label of recovery codes (a static device).
pub const STATIC_DEVICE: &str = "authentik_stages_authenticator_static.StaticDevice";

/// A copy made.
#[derive(Debug)]
pub struct Copy {
    /// The copy's primary key.
    pub pk: u64,
    /// The copy's username.
    pub username: String,
    /// The copy's address (at the person's domain).
    pub email: String,
    /// The person's (and the copy's) full name.
    pub name: String,
    /// The TOTP secret of the copy's device, when the person has TOTP.
    pub totp: Option<Secret>,
    /// The copy's passkey, when the person has one (its RP ID: the host the API was reached at).
    pub passkey: Option<ak_protocol::webauthn::Passkey>,
    /// The copy's recovery codes, when the person has some.
    pub recovery_codes: Option<Vec<Secret>>,
    /// What the line saying so reads: groups, attributes, MFA, other devices not mirrored.
    pub lines: Vec<String>,
}

/// Why a copy could not be made: the person does not exist (a usage error), or authentik failed.
#[derive(Debug)]
pub enum CopyError {
    /// No user by that username.
    NoSuchUser(String),
    /// authentik refused or failed.
    Failed(String),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchUser(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

/// Makes `name`, a copy of `original` with `password`, adding it to `cleanup` as soon as it exists.
pub async fn copy(
    api: &AdminApi,
    original: &str,
    name: &str,
    password: &Secret,
    timeout: Duration,
    cleanup: &mut Cleanup,
) -> Result<Copy, CopyError> {
    let failed = |e: crate::environment::admin_api::ApiError| CopyError::Failed(e.message);
    let user = api.user(original).await.map_err(failed)?.ok_or_else(|| {
        CopyError::NoSuchUser(format!(
            "authentik has no user `{original}` (GET api/v3/core/users/?username={original})"
        ))
    })?;
    let devices: Vec<admin::Device> =
        api.get(path::ALL_DEVICES, &[("user", &user.pk.to_string())]).await.map_err(failed)?;
    let kinds: std::collections::BTreeSet<String> =
        devices.into_iter().filter(|d| d.confirmed).map(|d| d.kind).filter(|k| !k.is_empty()).collect();
    let totp = kinds.contains(TOTP_DEVICE);
    let passkey = kinds.contains(WEBAUTHN_DEVICE);
    let codes = kinds.contains(STATIC_DEVICE);
    let mirrored = [TOTP_DEVICE, WEBAUTHN_DEVICE, STATIC_DEVICE];
    let others: Vec<&str> =
        kinds.iter().filter(|k| !mirrored.contains(&k.as_str())).map(|k| k.rsplit('.').next().unwrap_or(k)).collect();
    let domain = user.email.rsplit_once('@').map_or("example.invalid", |(_, d)| d);
    let email = format!("{name}@{domain}");
    let new = admin::NewUser {
        username: name.to_string(),
        name: user.name.clone(),
        email: email.clone(),
        is_active: user.is_active,
        path: "ak-e2e/reproduce".into(),
        kind: user.kind.clone(),
        groups: user.groups.clone(),
        attributes: user.attributes.clone(),
    };
    let created: admin::User = api.post(path::USERS, &new).await.map_err(failed)?;
    cleanup.add(format!("the throwaway user {name}"), path::one(path::USERS, created.pk));
    let set = admin::SetPassword { password: password.clone() };
    api.act(&path::action(path::USERS, created.pk, "set_password"), &set).await.map_err(failed)?;
    let has = [(totp, "TOTP"), (passkey, "a passkey"), (codes, "recovery codes")];
    // An inactive person's copy is inactive too: it cannot sign in to enroll a device, nor use one.
    let enrolled = match user.is_active {
        true => enroll(api, name, password, timeout, (totp, passkey, codes)).await?,
        false => Enrolled::default(),
    };
    // What the person has (an inactive person's copy gets none: it cannot sign in to enroll).
    let given: Vec<&str> = has.into_iter().filter_map(|(has, what)| has.then_some(what)).collect();
    let mfa = match (given.as_slice(), others.is_empty()) {
        ([], true) => "none".to_string(),
        ([], false) => "none mirrored".to_string(),
        ([one], _) => one.to_string(),
        ([first @ .., last], _) => format!("{} and {last}", first.join(", ")),
    };
    let active = if user.is_active { "" } else { ", inactive like them" };
    let mut lines = vec![format!(
        "created the throwaway user {name} mirroring {original}: {} group(s), {} attribute(s), MFA {mfa}{active}",
        user.groups.len(),
        user.attributes.len()
    )];
    if !others.is_empty() {
        lines.push(format!(
            "note: {original} also has {} device(s); the throwaway user has none (ak-e2e cannot give a copy \
             these yet), so authentik may ask it for less than it asks them",
            others.join(", ")
        ));
    }
    Ok(Copy {
        pk: created.pk,
        username: name.to_string(),
        email,
        name: user.name,
        totp: enrolled.totp,
        passkey: enrolled.passkey,
        recovery_codes: enrolled.codes,
        lines,
    })
}

/// The devices given to a copy.
#[derive(Default)]
struct Enrolled {
    totp: Option<Secret>,
    passkey: Option<ak_protocol::webauthn::Passkey>,
    codes: Option<Vec<Secret>>,
}

/// Enrolls the wanted kinds (TOTP, a passkey, recovery codes) for copy `name` through
/// authentik's own setup flows: one sign-in enrolls them all, since once the first device is
/// there, authentik would ask for it.
async fn enroll(
    api: &AdminApi,
    name: &str,
    password: &Secret,
    timeout: Duration,
    (totp, passkey, codes): (bool, bool, bool),
) -> Result<Enrolled, CopyError> {
    use crate::commands::provision::{confirm_static, confirm_totp, register_passkey, signed_in};
    if !(totp || passkey || codes) {
        return Ok(Enrolled::default());
    }
    let failed = |what: &str, e: String| CopyError::Failed(format!("cannot give {name} {what}: {e}"));
    let signed = signed_in(api.base(), (name, password.expose()), timeout, "its devices").await;
    let mut session = signed.map_err(|e| failed("its devices", e))?;
    let mut enrolled = Enrolled::default();
    if totp {
        let secret = confirm_totp(&mut session).await.map_err(|e| failed("a TOTP device", e))?;
        enrolled.totp = Some(Secret::new(ak_protocol::totp::encode_hex(&secret)));
    }
    if passkey {
        enrolled.passkey = Some(register_passkey(&mut session, api.base()).await.map_err(|e| failed("a passkey", e))?);
    }
    if codes {
        let codes = confirm_static(&mut session).await.map_err(|e| failed("recovery codes", e))?;
        enrolled.codes = Some(codes.into_iter().map(Secret::new).collect());
    }
    Ok(enrolled)
}

/// The variables holding a mirrored fixture user's password and TOTP secret.
fn vars_of(name: &str) -> (String, String) {
    let stem = name.to_ascii_uppercase().replace(['-', '.'], "_");
    (format!("AK_E2E_MIRROR_{stem}_PASSWORD"), format!("AK_E2E_MIRROR_{stem}_TOTP_SECRET"))
}

/// Gives every fixture user that mirrors a person (`mirror_of`) the copy's name, a placeholder
/// address (the copy's is known once it is made), and a password and TOTP variable of its own,
/// added to `vars`; called before planning.
pub fn prepare(settings: &mut Settings, vars: &mut HashMap<String, String>) {
    for (name, user) in settings.users.iter_mut() {
        if user.mirror_of.is_none() {
            continue;
        }
        let (password, totp) = vars_of(name);
        vars.insert(password.clone(), ak_protocol::jose::random_token(24));
        // Replaced by the copy's own secret when the person has TOTP; never typed otherwise.
        vars.insert(totp.clone(), ak_protocol::totp::encode_hex(ak_protocol::jose::random_token(20).as_bytes()));
        user.username = throwaway::name(Kind::Copy);
        user.email = format!("{}@example.invalid", user.username);
        user.password = SecretRef { env: password, file: None };
        user.totp_secret = Some(SecretRef { env: totp, file: None });
    }
}
