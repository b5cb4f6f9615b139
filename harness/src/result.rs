//! Results: their own model, the single source every reporter reads (JSON is its serialisation).

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};
use crate::scenario::DriverKind;

/// A whole run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
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
    /// Counts.
    pub summary: Summary,
}

/// Counts by status.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Passed.
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
    /// The file.
    pub file: String,
    /// The driver.
    pub driver: DriverKind,
    /// `tags:`.
    pub tags: Vec<String>,
    /// The outcome.
    pub status: Status,
    /// Wall time.
    pub duration_ms: u64,
    /// `expect_failure.reason`, when documented.
    pub expected_failure: Option<String>,
    /// The first failure's diagnosis, one line.
    pub diagnosis: Option<String>,
    /// The steps.
    pub steps: Vec<StepResult>,
    /// Every request the driver made, in order.
    pub hops: Vec<Hop>,
    /// The authentik stages the login went through (`ak-stage-identification`, …), in order.
    #[serde(default)]
    pub stages: Vec<String>,
    /// Screenshots, page dumps and console logs (browser driver).
    pub artifacts: Vec<String>,
    /// What ChatGPT received: ID token claims, userinfo, its verdict (no tokens).
    pub claims: Option<serde_json::Value>,
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
    /// The outcome.
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
    /// What was checked (`claim family_name`, `redirect to chatgpt.callback`).
    pub subject: String,
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
    pub kind: Option<String>,
    /// An API call (the flow executor, ChatGPT's record), not a browser navigation.
    pub api: bool,
}
