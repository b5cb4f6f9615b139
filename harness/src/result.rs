//! Results: their own model, the single source every reporter reads (JSON is its serialisation).

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};
use crate::scenario::{ClaimSource, DriverKind, HopKind, SnapshotOf};

/// A whole run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    /// The report's version, [`REPORT_SCHEMA`] when written by this ak-e2e; 0 in a report of a
    /// version before it had one (which had no `stages`).
    #[serde(default)]
    pub schema: u32,
    /// `embedded` or the authentik URL.
    pub target: String,
    /// The base URL of the authentik the run used (the stand-in's, for the embedded target).
    #[serde(default)]
    pub authentik: String,
    /// Unix seconds.
    pub started_at: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// The discovery document of each application used, by slug, URLs as placeholders.
    #[serde(default)]
    pub discovery: std::collections::BTreeMap<String, serde_json::Value>,
    /// Each scenario under each driver, in file order.
    pub scenarios: Vec<ScenarioResult>,
    /// Counts by status.
    pub summary: Summary,
}

/// The version of the JSON report this ak-e2e writes: 1 has `stages`, `claims` and `discovery`.
pub const REPORT_SCHEMA: u32 = 1;

/// Counts by status.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Runs where every step passed.
    pub passed: usize,
    /// Failed an assertion.
    pub failed: usize,
    /// Could not run to the end (target, browser, network).
    pub errored: usize,
    /// Failed as documented by `expect_failure`.
    pub expected_failures: usize,
    /// Passed although documented to fail.
    pub unexpected_passes: usize,
}

impl Summary {
    /// The counts in words: `3 passed, 1 failed, 0 errored, 1 expected failures, 0 unexpected passes`.
    pub fn counts(&self) -> String {
        format!(
            "{} passed, {} failed, {} errored, {} expected failures, {} unexpected passes",
            self.passed, self.failed, self.errored, self.expected_failures, self.unexpected_passes
        )
    }

    /// Whether the run counts as green.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errored == 0 && self.unexpected_passes == 0
    }
}

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every step passed.
    Passed,
    /// An assertion failed.
    Failed,
    /// A runtime error stopped it.
    Errored,
    /// It failed as `expect_failure` documents.
    ExpectedFailure,
    /// It passed although `expect_failure` says it should not.
    UnexpectedPass,
}

/// One scenario under one driver.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScenarioResult {
    /// `name:`.
    pub name: String,
    /// The scenario file, as given.
    pub file: String,
    /// The driver it ran under.
    pub driver: DriverKind,
    /// `tags:`.
    pub tags: Vec<String>,
    /// The verdict, `expect_failure` taken into account.
    pub status: Status,
    /// Its own wall time, from its start (after any wait for a browser slot) to its end.
    pub duration_ms: u64,
    /// How long it waited for a browser slot before it started, when runs overlapped (`--jobs`):
    /// apart from its own time, so that a queue does not read as a slow authentik.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waited_ms: u64,
    /// Where its own time went, by part, in milliseconds (`runner/breakdown.rs`): the parts add
    /// up to `duration_ms`, except those starting with `within:`, which are inside another.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent: Vec<(String, f64)>,
    /// `expect_failure.reason`, when documented.
    pub expected_failure: Option<String>,
    /// The first failure's diagnosis, one line.
    pub diagnosis: Option<String>,
    /// Each step in file order (those after the first failure skipped).
    pub steps: Vec<StepResult>,
    /// Every request the driver made, in order.
    pub hops: Vec<Hop>,
    /// The authentik stages the login went through (`ak-stage-identification`, …), in order.
    #[serde(default)]
    pub stages: Vec<String>,
    /// Screenshots, page dumps and console logs (browser driver).
    pub artifacts: Vec<String>,
    /// What ChatGPT received: ID token claims, userinfo, its verdict (no tokens).
    pub claims: Option<ChatgptReceived>,
    /// The folder of this run's trace bundle (`--trace`, or a failed run's under `--artifacts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Done, every assertion held.
    Passed,
    /// An assertion failed.
    Failed,
    /// A runtime error.
    Errored,
    /// Not run: an earlier step failed.
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepResult {
    /// The step's key.
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// Passed, failed, errored or skipped.
    pub status: StepStatus,
    /// Its assertions (expectation steps).
    pub assertions: Vec<Assertion>,
    /// The runtime error or the action's failure, with the hop it happened at.
    pub error: Option<String>,
    /// A hint naming the setting to check.
    pub hint: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
}

impl StepResult {
    /// The one-line diagnosis of a failed or errored step.
    pub fn diagnosis(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        self.assertions
            .iter()
            .find(|a| !a.passed)
            .map(|a| format!("{}: expected {}, actual {}", a.subject, a.expected, a.actual))
    }

    /// The failure as a rustc-style diagnostic at the step.
    pub fn to_diagnostic(&self) -> Option<Diagnostic> {
        let label = self.diagnosis()?;
        let message = match self.status {
            StepStatus::Errored => format!("`{}` could not run", self.name),
            _ => format!("`{}` failed", self.name),
        };
        let span = self
            .assertions
            .iter()
            .find(|a| !a.passed)
            .and_then(|a| a.span.clone())
            .unwrap_or_else(|| self.span.clone());
        Some(Diagnostic { message, span, label, help: self.hint.clone() })
    }
}

/// One check: what, expected, actual.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Assertion {
    /// What was checked: the claim, the redirect, the stage a diagnosis names.
    pub subject: Subject,
    /// Expected, in words.
    pub expected: String,
    /// Actual, in words.
    pub actual: String,
    /// Whether it held.
    pub passed: bool,
    /// The hop it was checked at (index into the hops).
    pub hop: Option<usize>,
    /// Where the expectation is written (a claim or parameter name), if narrower than the step.
    pub span: Option<Span>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What ChatGPT received in a scenario's login, from its record of the attempt (never a token).
/// A report of an earlier version whose verdict or error this version does not know still reads,
/// without them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ChatgptReceived {
    /// The ID token's claims.
    pub id_token: Option<serde_json::Map<String, serde_json::Value>>,
    /// The userinfo answer.
    pub userinfo: Option<serde_json::Map<String, serde_json::Value>>,
    /// ChatGPT's verdict on the attempt.
    #[serde(default, deserialize_with = "known_or_none")]
    pub chatgpt_verdict: Option<chatgpt_rp::Verdict>,
    /// Why it refused, when it did.
    #[serde(default, deserialize_with = "known_or_none")]
    pub chatgpt_error: Option<chatgpt_rp::Failure>,
}

impl From<&chatgpt_rp::Attempt> for ChatgptReceived {
    fn from(attempt: &chatgpt_rp::Attempt) -> Self {
        Self {
            id_token: attempt.id_token_claims.clone(),
            userinfo: attempt.userinfo.clone(),
            chatgpt_verdict: Some(attempt.verdict),
            chatgpt_error: attempt.error.clone(),
        }
    }
}

/// A value this version reads, or none (an earlier or later version's that it does not).
fn known_or_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = <Option<serde_json::Value> as serde::Deserialize>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// What an assertion checked. Diagnoses name it in words (`ID token claim `email``, `redirect to
/// chatgpt.callback`); JSON reports hold it as a tagged object (`{"kind": "claim", "from":
/// "id_token", "name": "email"}`), and reports of earlier versions, which held the words, still
/// read (into the same value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(remote = "Self", tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A claim of an ID token or a userinfo answer: ChatGPT's, or, in `exchange_code`, the
    /// harness's own.
    Claim { from: ClaimSource, name: String },
    /// Whether the ID token the harness received is a JWT at all.
    IdToken,
    /// The ID token's `alg`, against the discovery document's.
    IdTokenAlg,
    /// The ID token's signature, against the JWKS key its `kid` names.
    IdTokenSignature,
    /// The ID token ChatGPT accepted, by a standard client's verifier (openidconnect's).
    IdTokenSecondOpinion,
    /// Whether the login left authentik with a redirect at all.
    Redirect,
    /// Where a redirect went.
    RedirectTo { to: HopKind },
    /// A query parameter of a redirect.
    RedirectParameter { to: HopKind, name: String },
    /// The flow stage authentik showed.
    AuthentikStage,
    /// The message authentik showed with its stage.
    AuthentikMessage,
    /// The title of the plain page authentik showed (*Redirect URI Error*, …).
    AuthentikPage,
    /// The HTTP status of that page.
    AuthentikPageStatus,
    /// Where the login ended in ChatGPT.
    Landing,
    /// A snapshot against its file.
    Snapshot { name: String, of: SnapshotOf },
    /// The token endpoint's answer to the code.
    CodeExchange,
    /// Words this version does not give a subject (read from another version's report, as
    /// `compare` reads reports): kept as they are, so that such a report still reads.
    Other { words: String },
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Claim { from, name } => write!(f, "{} claim `{name}`", from.words()),
            Subject::IdToken => f.write_str("ID token"),
            Subject::IdTokenAlg => f.write_str("ID token alg"),
            Subject::IdTokenSignature => f.write_str("ID token signature"),
            Subject::IdTokenSecondOpinion => f.write_str("ID token, by a standard client"),
            Subject::Redirect => f.write_str("redirect"),
            Subject::RedirectTo { to } => write!(f, "redirect to {}", to.as_str()),
            Subject::RedirectParameter { to, name } => {
                write!(f, "query parameter `{name}` of the redirect to {}", to.as_str())
            }
            Subject::AuthentikStage => f.write_str("authentik stage"),
            Subject::AuthentikMessage => f.write_str("authentik's message"),
            Subject::AuthentikPage => f.write_str("authentik page"),
            Subject::AuthentikPageStatus => f.write_str("HTTP status of the authentik page"),
            Subject::Landing => f.write_str("landing"),
            Subject::Snapshot { name, of } => write!(f, "snapshot `{name}` of the {}", of.as_str()),
            Subject::CodeExchange => f.write_str("code exchange"),
            Subject::Other { words } => f.write_str(words),
        }
    }
}

impl Subject {
    /// The subject these words name: the inverse of its `Display`.
    pub fn parse(words: &str) -> Self {
        let fixed = [
            Subject::IdToken,
            Subject::IdTokenAlg,
            Subject::IdTokenSignature,
            Subject::IdTokenSecondOpinion,
            Subject::Redirect,
            Subject::AuthentikStage,
            Subject::AuthentikMessage,
            Subject::AuthentikPage,
            Subject::AuthentikPageStatus,
            Subject::Landing,
            Subject::CodeExchange,
        ];
        if let Some(subject) = fixed.into_iter().find(|s| s.to_string() == words) {
            return subject;
        }
        Self::parse_named(words).unwrap_or_else(|| Subject::Other { words: words.to_string() })
    }

    /// The subjects whose words carry a name or a kind.
    fn parse_named(words: &str) -> Option<Self> {
        let hop = |name: &str| HopKind::NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
        for from in [ClaimSource::IdToken, ClaimSource::Userinfo] {
            if let Some(rest) = words.strip_prefix(from.words()).and_then(|r| r.strip_prefix(" claim "))
                && let Some((name, "")) = backquoted(rest)
            {
                return Some(Subject::Claim { from, name });
            }
        }
        if let Some(to) = words.strip_prefix("redirect to ") {
            return hop(to).map(|to| Subject::RedirectTo { to });
        }
        if let Some(rest) = words.strip_prefix("query parameter ") {
            let (name, after) = backquoted(rest)?;
            let to = hop(after.strip_prefix(" of the redirect to ")?)?;
            return Some(Subject::RedirectParameter { to, name });
        }
        let (name, after) = backquoted(words.strip_prefix("snapshot ")?)?;
        let of = after.strip_prefix(" of the ")?;
        let of = [SnapshotOf::IdToken, SnapshotOf::Userinfo, SnapshotOf::Discovery]
            .into_iter()
            .find(|o| o.as_str() == of)?;
        Some(Subject::Snapshot { name, of })
    }
}

/// A name in backquotes at the start of `words`, and what follows it.
fn backquoted(words: &str) -> Option<(String, &str)> {
    let (name, after) = words.strip_prefix('`')?.split_once('`')?;
    Some((name.to_string(), after))
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Subject::serialize(self, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Subject {
    /// The tagged object, or the words an earlier version wrote; a subject this version does
    /// not know (a later version's kind) is kept as its JSON text, so that the report still reads.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(words) => Ok(Subject::parse(&words)),
            tagged => {
                Ok(Subject::deserialize(&tagged).unwrap_or_else(|_| Subject::Other { words: tagged.to_string() }))
            }
        }
    }
}

/// One HTTP exchange the driver made.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Hop {
    /// `GET`, `POST`.
    pub method: String,
    /// The URL, secrets redacted.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// `Location`, secrets redacted.
    pub location: Option<String>,
    /// What the URL is (`authentik.authorize`, `chatgpt.callback`, …), if known.
    pub kind: Option<crate::scenario::HopKind>,
    /// An API call (the flow executor, ChatGPT's record), not a browser navigation.
    pub api: bool,
    /// Headers and timings, for trace bundles only: kept out of the JSON report, and redacted
    /// when a bundle is written (see `report::har`).
    #[serde(skip)]
    pub exchange: Option<Exchange>,
}

/// What a trace bundle records of a hop beyond the report's line: when it started, its headers
/// as sent and received (unredacted here; `report::har` redacts them), and where its time went.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// When the request started, in milliseconds since the Unix epoch.
    pub started_ms: f64,
    /// Request headers, in order.
    pub request_headers: Vec<(String, String)>,
    /// Response headers, in order.
    pub response_headers: Vec<(String, String)>,
    /// `HTTP/1.1`, `HTTP/2`, … (empty when unknown).
    pub http_version: String,
    /// The response's reason phrase (`OK`, `Found`).
    pub status_text: String,
    /// The response's media type.
    pub mime_type: String,
    /// Where the time went, in milliseconds; `None` where the driver cannot tell.
    pub timings: Timings,
}

/// A request's phases in milliseconds, as HAR 1.2 names them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Queued before the connection.
    pub blocked: Option<f64>,
    /// DNS lookup.
    pub dns: Option<f64>,
    /// TCP connect (TLS included).
    pub connect: Option<f64>,
    /// TLS handshake.
    pub ssl: Option<f64>,
    /// Sending the request.
    pub send: f64,
    /// Waiting for the first byte of the answer.
    pub wait: f64,
    /// Reading the answer.
    pub receive: f64,
}

impl Timings {
    /// The whole time: the sum of the phases known (HAR's `time`; `ssl` is inside `connect`).
    pub fn total(&self) -> f64 {
        [self.blocked, self.dns, self.connect].iter().flatten().sum::<f64>() + self.send + self.wait + self.receive
    }
}

/// Receives progress, one scenario at a time (the console reporter).
pub trait Progress {
    /// A scenario is about to run.
    fn started(&mut self, index: usize, total: usize, run: &crate::plan::Planned);
    /// It finished.
    fn finished(&mut self, index: usize, total: usize, result: &ScenarioResult);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report read back (by `compare`) holds the subjects it was written with.
    #[test]
    fn every_subject_reads_back_from_its_words() {
        let subjects = [
            Subject::Claim { from: ClaimSource::IdToken, name: "email".into() },
            Subject::Claim { from: ClaimSource::Userinfo, name: "groups".into() },
            Subject::IdToken,
            Subject::IdTokenAlg,
            Subject::IdTokenSignature,
            Subject::IdTokenSecondOpinion,
            Subject::Redirect,
            Subject::RedirectTo { to: HopKind::ChatgptCallback },
            Subject::RedirectParameter { to: HopKind::AuthentikAuthorize, name: "error".into() },
            Subject::AuthentikStage,
            Subject::AuthentikMessage,
            Subject::AuthentikPage,
            Subject::AuthentikPageStatus,
            Subject::Landing,
            Subject::Snapshot { name: "claims".into(), of: SnapshotOf::Userinfo },
            Subject::CodeExchange,
        ];
        for subject in subjects {
            // A new variant fails to compile here until it is in the list above (and in `parse`).
            match &subject {
                Subject::Claim { .. }
                | Subject::IdToken
                | Subject::IdTokenAlg
                | Subject::IdTokenSignature
                | Subject::IdTokenSecondOpinion
                | Subject::Redirect
                | Subject::RedirectTo { .. }
                | Subject::RedirectParameter { .. }
                | Subject::AuthentikStage
                | Subject::AuthentikMessage
                | Subject::AuthentikPage
                | Subject::AuthentikPageStatus
                | Subject::Landing
                | Subject::Snapshot { .. }
                | Subject::CodeExchange
                | Subject::Other { .. } => {}
            }
            let json = serde_json::to_string(&subject).expect("serialise");
            assert!(json.starts_with("{\"kind\":"), "a tagged object: {json}");
            let back: Subject = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, subject, "{json}");
            // A report of an earlier version held the words.
            let words = serde_json::to_string(&subject.to_string()).expect("serialise");
            let back: Subject = serde_json::from_str(&words).expect("deserialise");
            assert_eq!(back, subject, "{words}");
        }
    }

    /// A subject of a later version (a kind, or a claim source, this one does not know) still
    /// reads, as its JSON text.
    #[test]
    fn an_unknown_subject_kind_still_reads() {
        for json in [r#"{"kind":"passkey_assertion"}"#, r#"{"kind":"claim","from":"introspection","name":"sub"}"#] {
            let subject: Subject = serde_json::from_str(json).expect("a report still reads");
            assert!(matches!(&subject, Subject::Other { words } if words.contains("kind")), "{subject:?}");
        }
    }

    /// Words of another version's report stay words, shown as they were.
    #[test]
    fn unknown_words_are_kept() {
        for words in ["ID token claim `email", "redirect to somewhere", "snapshot `x` of the moon", "a new check"] {
            let subject = Subject::parse(words);
            assert_eq!(subject, Subject::Other { words: words.to_string() });
            assert_eq!(subject.to_string(), words);
        }
    }
}
