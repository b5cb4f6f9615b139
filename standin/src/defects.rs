//! Switches that make the stand-in behave like a misconfigured or regressed authentik, so the
//! harness's tests can prove each check catches what it claims to. Given as `--defect NAME` or
//! `--defect NAME=ARG` on the command line, or through [`Defects::parse`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// `drop-claim=NAME`: the claim is left out of the ID token and userinfo.
    DropClaim(String),
    /// `rename-claim=FROM:TO`: the claim is emitted under another name.
    RenameClaim(String, String),
    /// `issuer-no-trailing-slash`: issuer (discovery and `iss`) without its trailing slash.
    IssuerNoTrailingSlash,
    /// `issuer-other-scheme`: issuer with `https` for `http` (or the reverse), as behind a
    /// proxy whose forwarded headers are not trusted.
    IssuerOtherScheme,
    /// `unpublished-key`: ID tokens signed with a key that is not in the JWKS.
    UnpublishedKey,
    /// `alg-none`: unsigned ID tokens.
    AlgNone,
    /// `hs256`: ID tokens signed HS256 with the client secret while discovery says RS256.
    Hs256,
    /// `expired-id-token`: ID tokens that expired an hour ago.
    ExpiredIdToken,
    /// `no-nonce`: the nonce is not echoed in the ID token.
    NoNonce,
    /// `accept-any-redirect-uri`: no redirect URI check at all.
    AcceptAnyRedirectUri,
    /// `access-denied`: authorize answers `error=access_denied` to the relying party after login.
    AccessDenied,
    /// `delay=ENDPOINT:MILLIS`: the endpoint (`discovery`, `jwks`, `authorize`, `token`,
    /// `userinfo`, `executor`) answers after a delay.
    Delay(Endpoint, Duration),
    /// `token-500`: the token endpoint fails with 500.
    Token500,
    /// `executor-502`: the flow executor answers 502, as authentik behind its proxy does while
    /// its workers restart.
    Executor502,
    /// `malformed-discovery`: the discovery document is not valid JSON.
    MalformedDiscovery,
    /// `reusable-codes`: authorization codes can be exchanged more than once.
    ReusableCodes,
    /// `consent-token-ignored`: the consent stage accepts any token.
    ConsentTokenIgnored,
    /// `drip-flow-page`: the flow page sends its headers, then its body one byte every 100 ms
    /// (a proxy buffering badly, a server starved of CPU).
    DripFlowPage,
    /// `passkey-counter-ignored`: a passkey stage (MFA, or identification) accepts an assertion
    /// whose signature counter did not grow (a cloned authenticator, a replay, goes unnoticed).
    PasskeyCounterIgnored,
    /// `host-not-forwarded`: a reverse proxy before authentik does not pass the browser's `Host`
    /// header on, so authentik's WebAuthn stages take the proxy's upstream name for the site
    /// (origin `http://authentik-server:9000`, RP ID `authentik-server`) and no browser's
    /// passkey works.
    HostNotForwarded,
    /// `reusable-recovery-codes`: the MFA stage accepts a recovery code it accepted before (the
    /// static device keeps it).
    ReusableRecoveryCodes,
    /// `throttled-recovery-codes`: every static device is throttled, as after 17 refused codes in a
    /// row (17 TOTP sign-ins of its user, say, which lock it for 2^16 s): no recovery code is
    /// checked.
    ThrottledRecoveryCodes,
    /// `no-passkey-login`: the identification stages of a blueprint's flows offer no passkey sign-in
    /// (as if their `webauthn_stage` were unset, or gone after an upgrade).
    NoPasskeyLogin,
    /// `digits-only-codes`: the flow interface's code field takes digits only, a recovery code's
    /// too (a TOTP code's pattern for a static device): no recovery code can be typed.
    DigitsOnlyCodes,
    /// `cover-flow`: a layer lies over the flow page's forms, as a brand's custom CSS can lay
    /// one: the stages show, and nothing on them can be clicked.
    CoverFlow,
    /// `certificate-expires=DAYS`: the signing certificate expires in DAYS days (negative: it
    /// expired that long ago), as the admin API shows it.
    CertificateExpires(i64),
}

/// An endpoint a delay applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The discovery document.
    Discovery,
    /// The JWKS.
    Jwks,
    /// `/application/o/authorize/`.
    Authorize,
    /// `/application/o/token/`.
    Token,
    /// `/application/o/userinfo/`.
    Userinfo,
    /// The flow executor API.
    Executor,
}

impl Endpoint {
    const ALL: &'static [(&'static str, Endpoint)] = &[
        ("discovery", Endpoint::Discovery),
        ("jwks", Endpoint::Jwks),
        ("authorize", Endpoint::Authorize),
        ("token", Endpoint::Token),
        ("userinfo", Endpoint::Userinfo),
        ("executor", Endpoint::Executor),
    ];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, e)| *e == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// Every defect name with a one-line description, for `--help` and the README.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("drop-claim=NAME", "leave claim NAME out of the ID token and userinfo"),
    ("rename-claim=FROM:TO", "emit claim FROM under the name TO"),
    ("issuer-no-trailing-slash", "issuer without its trailing slash (discovery and iss)"),
    ("issuer-other-scheme", "issuer with the other scheme (http↔https), discovery and iss"),
    ("unpublished-key", "sign ID tokens with a key that is not in the JWKS"),
    ("alg-none", "unsigned ID tokens (alg none)"),
    ("hs256", "ID tokens signed HS256 with the client secret; discovery still says RS256"),
    ("expired-id-token", "ID tokens that expired an hour ago"),
    ("no-nonce", "do not echo the nonce in the ID token"),
    ("accept-any-redirect-uri", "skip the redirect URI check"),
    ("access-denied", "answer error=access_denied to the relying party after login"),
    ("delay=ENDPOINT:MILLIS", "delay discovery|jwks|authorize|token|userinfo|executor"),
    ("token-500", "the token endpoint answers 500"),
    ("executor-502", "the flow executor answers 502 (a proxy while authentik's workers restart)"),
    ("malformed-discovery", "the discovery document is not valid JSON"),
    ("reusable-codes", "authorization codes can be exchanged more than once"),
    ("consent-token-ignored", "the consent stage accepts any token"),
    ("drip-flow-page", "the flow page's body comes one byte every 100 ms after its headers"),
    (
        "passkey-counter-ignored",
        "a passkey stage (MFA, or identification) accepts an assertion whose counter did not grow",
    ),
    ("host-not-forwarded", "a proxy does not pass the Host header on: WebAuthn takes `authentik-server` for the site"),
    ("reusable-recovery-codes", "the MFA stage accepts a recovery code again"),
    ("no-passkey-login", "the identification stage of a blueprint's flow offers no passkey sign-in"),
    (
        "throttled-recovery-codes",
        "every static device starts throttled, as after 17 refused codes (TOTP sign-ins count)",
    ),
    ("digits-only-codes", "the flow page's code field takes digits only: no recovery code can be typed"),
    ("cover-flow", "a layer (a brand's custom CSS) lies over the flow page: nothing can be clicked"),
    ("certificate-expires=DAYS", "the signing certificate expires in DAYS days (negative: expired), in the admin API"),
];

/// A bad `--defect` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or malformed defect `{given}`: {reason}")]
pub struct DefectError {
    given: String,
    reason: String,
}

impl FromStr for Defect {
    type Err = DefectError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| DefectError { given: text.into(), reason: reason.into() };
        let (name, arg) = match text.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let plain = |d: Defect| if arg.is_some() { Err(err("this defect takes no argument")) } else { Ok(d) };
        match name {
            "drop-claim" => match arg {
                Some(claim) if !claim.is_empty() => Ok(Defect::DropClaim(claim.into())),
                _ => Err(err("write drop-claim=NAME")),
            },
            "rename-claim" => match arg.and_then(|a| a.split_once(':')) {
                Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                    Ok(Defect::RenameClaim(from.into(), to.into()))
                }
                _ => Err(err("write rename-claim=FROM:TO")),
            },
            "certificate-expires" => match arg.and_then(|a| a.parse().ok()) {
                Some(days) => Ok(Defect::CertificateExpires(days)),
                None => Err(err("write certificate-expires=DAYS (a whole number, negative for expired)")),
            },
            "delay" => {
                let (endpoint, millis) =
                    arg.and_then(|a| a.split_once(':')).ok_or_else(|| err("write delay=ENDPOINT:MILLIS"))?;
                let endpoint = Endpoint::ALL
                    .iter()
                    .find(|(n, _)| *n == endpoint)
                    .map(|(_, e)| *e)
                    .ok_or_else(|| err("ENDPOINT is discovery, jwks, authorize, token, userinfo or executor"))?;
                let millis: u64 = millis.parse().map_err(|_| err("MILLIS is a whole number"))?;
                Ok(Defect::Delay(endpoint, Duration::from_millis(millis)))
            }
            "issuer-no-trailing-slash" => plain(Defect::IssuerNoTrailingSlash),
            "issuer-other-scheme" => plain(Defect::IssuerOtherScheme),
            "unpublished-key" => plain(Defect::UnpublishedKey),
            "alg-none" => plain(Defect::AlgNone),
            "hs256" => plain(Defect::Hs256),
            "expired-id-token" => plain(Defect::ExpiredIdToken),
            "no-nonce" => plain(Defect::NoNonce),
            "accept-any-redirect-uri" => plain(Defect::AcceptAnyRedirectUri),
            "access-denied" => plain(Defect::AccessDenied),
            "token-500" => plain(Defect::Token500),
            "executor-502" => plain(Defect::Executor502),
            "malformed-discovery" => plain(Defect::MalformedDiscovery),
            "reusable-codes" => plain(Defect::ReusableCodes),
            "consent-token-ignored" => plain(Defect::ConsentTokenIgnored),
            "drip-flow-page" => plain(Defect::DripFlowPage),
            "cover-flow" => plain(Defect::CoverFlow),
            "passkey-counter-ignored" => plain(Defect::PasskeyCounterIgnored),
            "host-not-forwarded" => plain(Defect::HostNotForwarded),
            "digits-only-codes" => plain(Defect::DigitsOnlyCodes),
            "reusable-recovery-codes" => plain(Defect::ReusableRecoveryCodes),
            "no-passkey-login" => plain(Defect::NoPasskeyLogin),
            "throttled-recovery-codes" => plain(Defect::ThrottledRecoveryCodes),
            _ => {
                let names: Vec<&str> = CATALOGUE.iter().map(|(n, _)| n.split('=').next().unwrap_or(n)).collect();
                let hint = ak_protocol::suggest::suggest(name, &names)
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                Err(err(&format!("{hint}known defects: {}", names.join(", "))))
            }
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::DropClaim(c) => write!(f, "drop-claim={c}"),
            Defect::RenameClaim(a, b) => write!(f, "rename-claim={a}:{b}"),
            Defect::Delay(e, d) => write!(f, "delay={}:{}", e.name(), d.as_millis()),
            Defect::IssuerNoTrailingSlash => f.write_str("issuer-no-trailing-slash"),
            Defect::IssuerOtherScheme => f.write_str("issuer-other-scheme"),
            Defect::UnpublishedKey => f.write_str("unpublished-key"),
            Defect::AlgNone => f.write_str("alg-none"),
            Defect::Hs256 => f.write_str("hs256"),
            Defect::ExpiredIdToken => f.write_str("expired-id-token"),
            Defect::NoNonce => f.write_str("no-nonce"),
            Defect::AcceptAnyRedirectUri => f.write_str("accept-any-redirect-uri"),
            Defect::AccessDenied => f.write_str("access-denied"),
            Defect::Token500 => f.write_str("token-500"),
            Defect::Executor502 => f.write_str("executor-502"),
            Defect::MalformedDiscovery => f.write_str("malformed-discovery"),
            Defect::ReusableCodes => f.write_str("reusable-codes"),
            Defect::ConsentTokenIgnored => f.write_str("consent-token-ignored"),
            Defect::DripFlowPage => f.write_str("drip-flow-page"),
            Defect::CoverFlow => f.write_str("cover-flow"),
            Defect::PasskeyCounterIgnored => f.write_str("passkey-counter-ignored"),
            Defect::HostNotForwarded => f.write_str("host-not-forwarded"),
            Defect::DigitsOnlyCodes => f.write_str("digits-only-codes"),
            Defect::ReusableRecoveryCodes => f.write_str("reusable-recovery-codes"),
            Defect::NoPasskeyLogin => f.write_str("no-passkey-login"),
            Defect::ThrottledRecoveryCodes => f.write_str("throttled-recovery-codes"),
            Defect::CertificateExpires(days) => write!(f, "certificate-expires={days}"),
        }
    }
}

/// The defects switched on for one stand-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects(Vec<Defect>);

impl Defects {
    /// None: a faithful authentik.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a list of `NAME[=ARG]`.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, DefectError> {
        names.iter().map(|n| n.as_ref().parse()).collect::<Result<_, _>>().map(Self)
    }

    /// Adds one.
    pub fn with(mut self, defect: Defect) -> Self {
        self.0.push(defect);
        self
    }

    /// Whether a defect is on.
    pub fn has(&self, defect: &Defect) -> bool {
        self.0.contains(defect)
    }

    /// All of them.
    pub fn iter(&self) -> impl Iterator<Item = &Defect> {
        self.0.iter()
    }

    /// The delay for an endpoint, if any.
    pub fn delay(&self, endpoint: Endpoint) -> Option<Duration> {
        self.0.iter().find_map(|d| match d {
            Defect::Delay(e, millis) if *e == endpoint => Some(*millis),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{CATALOGUE, Defect, Defects, Endpoint};

    #[test]
    fn names_round_trip() {
        for text in [
            "drop-claim=family_name",
            "rename-claim=a:b",
            "delay=token:1500",
            "alg-none",
            "consent-token-ignored",
            "executor-502",
            "certificate-expires=-3",
            "drip-flow-page",
            "cover-flow",
            "passkey-counter-ignored",
            "host-not-forwarded",
            "digits-only-codes",
            "reusable-recovery-codes",
            "no-passkey-login",
            "throttled-recovery-codes",
        ] {
            let d: Defect = text.parse().expect("parse");
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(CATALOGUE.len(), 26);
        let d = Defects::parse(&["delay=jwks:20"]).expect("parse");
        assert_eq!(d.delay(Endpoint::Jwks), Some(Duration::from_millis(20)));
    }

    #[test]
    fn bad_names_say_what_exists() {
        let err = "alg-nine".parse::<Defect>().expect_err("unknown").to_string();
        assert!(err.starts_with("unknown or malformed defect `alg-nine`: did you mean `alg-none`?"), "{err}");
        let err = "delay=token".parse::<Defect>().expect_err("bad").to_string();
        assert!(err.ends_with("write delay=ENDPOINT:MILLIS"), "{err}");
    }
}
