//! The console, JUnit and HTML reporters on one hand-built run with every status, as snapshots
//! (`src/report/snapshots/`): a change to what users read shows in review.

use crate::result::{Assertion, RunReport, ScenarioResult, Status, StepResult, StepStatus, Subject, Summary};
use crate::scenario::{ClaimSource, DriverKind};

use super::Redactor;

fn span(line: usize) -> crate::diagnostic::Span {
    crate::diagnostic::Span { file: "scenarios/example.yaml".into(), line, col: 5, len: 13 }
}

fn step(name: &str, line: usize, status: StepStatus) -> StepResult {
    StepResult {
        name: name.into(),
        span: span(line),
        status,
        assertions: Vec::new(),
        error: None,
        hint: None,
        duration_ms: 5,
    }
}

fn scenario(name: &str, driver: DriverKind, status: Status, steps: Vec<StepResult>) -> ScenarioResult {
    let diagnosis = steps.iter().find_map(|s| s.diagnosis());
    ScenarioResult {
        name: name.into(),
        file: "scenarios/example.yaml".into(),
        driver,
        tags: vec!["chatgpt".into()],
        status,
        duration_ms: 1234,
        waited_ms: 0,
        spent: Vec::new(),
        expected_failure: (status == Status::ExpectedFailure || status == Status::UnexpectedPass)
            .then(|| "the guide's mapping sends no family_name".to_string()),
        diagnosis,
        steps,
        hops: Vec::new(),
        stages: vec!["ak-stage-identification".into(), "ak-stage-password".into()],
        artifacts: Vec::new(),
        claims: None,
        trace: None,
    }
}

/// One run of each status.
fn report() -> RunReport {
    let passed =
        scenario("A member signs in", DriverKind::Api, Status::Passed, vec![step("sign_in", 3, StepStatus::Passed)]);
    let mut claim = step("expect_claims", 4, StepStatus::Failed);
    claim.assertions.push(Assertion {
        subject: Subject::Claim { from: ClaimSource::IdToken, name: "family_name".into() },
        expected: "\"Lee\"".into(),
        actual: "absent".into(),
        passed: false,
        hop: None,
        span: Some(span(6)),
    });
    claim.hint = Some("attach a custom `profile` mapping that returns family_name".into());
    let failed = scenario(
        "The ID token names the user",
        DriverKind::Browser,
        Status::Failed,
        vec![step("sign_in", 3, StepStatus::Passed), claim.clone(), step("expect_landing", 8, StepStatus::Skipped)],
    );
    let mut timeout = step("start_login", 2, StepStatus::Errored);
    timeout.error =
        Some("browser: GET http://127.0.0.1:9000/application/o/authorize/ did not answer (timed out)".into());
    let errored = scenario("authentik answers", DriverKind::Browser, Status::Errored, vec![timeout]);
    let expected = scenario("The guide's exact configuration", DriverKind::Api, Status::ExpectedFailure, vec![claim]);
    let unexpected = scenario(
        "The guide's exact configuration, fixed upstream",
        DriverKind::Api,
        Status::UnexpectedPass,
        vec![step("expect_landing", 8, StepStatus::Passed)],
    );
    RunReport {
        schema: crate::result::REPORT_SCHEMA,
        target: "http://127.0.0.1:9000/".into(),
        authentik: "http://127.0.0.1:9000/".into(),
        started_at: 1_796_300_000,
        duration_ms: 9876,
        discovery: Default::default(),
        scenarios: vec![passed, failed, errored, expected, unexpected],
        summary: Summary { passed: 1, failed: 1, errored: 1, expected_failures: 1, unexpected_passes: 1 },
    }
}

fn written(write: fn(&RunReport, &Redactor, &mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&report(), &Redactor::default(), &mut out).expect("write");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_console_summary() {
    let mut out = Vec::new();
    let style = super::console::Style { color: false, live: false };
    super::console::summary(&report(), style, &Redactor::default(), &mut out).expect("write");
    insta::assert_snapshot!("console", String::from_utf8(out).expect("utf-8"));
}

#[test]
fn the_junit_report() {
    insta::assert_snapshot!("junit", written(super::junit::write));
}

#[test]
fn the_html_report() {
    insta::assert_snapshot!("html", written(super::html::write));
}
