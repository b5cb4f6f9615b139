//! Reporters read [`RunReport`](crate::result::RunReport) only and write to an injected writer:
//! the console (progress and diagnoses), JSON (the source of truth), JUnit XML, HTML, and the
//! trace bundles' HAR files.
//! Every text they produce goes through [`Redactor`] first.

pub mod console;
pub mod har;
pub mod html;
pub mod json;
pub mod junit;
#[cfg(test)]
mod snapshot_tests;

pub use ak_protocol::redact::Redactor;

/// Writes a report whole or not at all: into a new file beside `path` (made with `create_new`,
/// never through a link), flushed and synced, then renamed over `path`. A write that fails (a
/// full disk) leaves `path` as it was and no half file.
pub fn write_whole(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "report".into());
    let temporary = path.with_file_name(format!(".{name}.{}.partial", ak_protocol::jose::random_token(6)));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        {
            let mut buffered = std::io::BufWriter::new(&mut file);
            write(&mut buffered)?;
            buffered.flush()?;
        }
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Seconds since the Unix epoch as a UTC civil date and time: (year, month, day, hour, minute,
/// second).
pub(crate) fn utc(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let (y, m, d, h, min, s) = ak_protocol::time::civil(i64::try_from(secs).unwrap_or(i64::MAX));
    let part = |v: i64| u64::try_from(v).unwrap_or(0);
    (y, m, d, part(h), part(min), part(s))
}

#[cfg(test)]
mod write_tests {
    #[test]
    fn a_report_is_written_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("ak-e2e-whole-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("report.json");
        std::fs::write(&path, "the earlier report").expect("write");
        let failed = super::write_whole(&path, |w: &mut dyn std::io::Write| {
            w.write_all(b"half a rep")?;
            Err(std::io::Error::other("No space left on device"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "the earlier report");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1, "no partial file is left");
        super::write_whole(&path, |w: &mut dyn std::io::Write| w.write_all(b"the new report")).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "the new report");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod secret_characters {
    use super::Redactor;
    use crate::result::{RunReport, ScenarioResult, Status, StepResult, StepStatus, Summary};

    /// Secrets with every character an encoder escapes, and non-ASCII.
    const SECRETS: &[&str] = &[r#"pa"ss\wörd"#, "tom&jerry<script>", "ünïcødé-sécret>1"];

    /// A failed run whose diagnosis, error, hint, name and claims carry each secret as an
    /// authentik page echoing it would.
    fn report() -> RunReport {
        let said = SECRETS.join(" | ");
        let step = StepResult {
            name: format!("sign_in {said}"),
            span: crate::diagnostic::Span { file: "s.yaml".into(), line: 1, col: 1, len: 1 },
            status: StepStatus::Errored,
            assertions: Vec::new(),
            error: Some(format!("authentik said: {said}")),
            hint: Some(format!("check {said}")),
            duration_ms: 1,
        };
        let scenario = ScenarioResult {
            name: format!("login {said}"),
            file: "s.yaml".into(),
            driver: crate::scenario::DriverKind::Api,
            tags: vec![said.clone()],
            status: Status::Errored,
            duration_ms: 1,
            waited_ms: 0,
            spent: Vec::new(),
            expected_failure: None,
            diagnosis: Some(format!("authentik said: {said}")),
            steps: vec![step],
            hops: Vec::new(),
            stages: Vec::new(),
            artifacts: Vec::new(),
            claims: Some(crate::result::ChatgptReceived {
                id_token: serde_json::json!({"name": said, said.clone(): 1}).as_object().cloned(),
                ..Default::default()
            }),
            trace: None,
        };
        RunReport {
            schema: crate::result::REPORT_SCHEMA,
            target: "embedded".into(),
            authentik: "http://127.0.0.1:1/".into(),
            started_at: 0,
            duration_ms: 1,
            discovery: Default::default(),
            scenarios: vec![scenario],
            summary: Summary { errored: 1, ..Summary::default() },
        }
    }

    /// Each secret, raw and as JSON, XML or HTML would escape it.
    fn traces(secret: &str) -> Vec<String> {
        let json = serde_json::to_string(secret).unwrap_or_default();
        let html = crate::report::html::esc(secret);
        vec![secret.to_string(), json.trim_matches('"').to_string(), html]
    }

    /// A page dump holds no secret, in a text node or in an attribute, as the browser driver's
    /// serialiser escapes them.
    #[test]
    fn a_page_dump_holds_no_secret_in_text_or_attribute() {
        let redactor = Redactor::new(SECRETS.iter().map(|s| s.to_string()).collect());
        for secret in SECRETS {
            let text = secret.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let attribute = secret.replace('"', "&quot;");
            let page = format!("<p>{text}</p><input value=\"{attribute}\"><i>{secret}</i>");
            let shown = redactor.apply_page(&page);
            assert_eq!(shown, "<p>[redacted]</p><input value=\"[redacted]\"><i>[redacted]</i>", "{secret}");
        }
    }

    /// No output of the JSON, JUnit and HTML reporters, nor of a trace bundle, holds a secret,
    /// however its characters were escaped.
    #[test]
    fn no_reporter_writes_a_secret_with_characters_it_escapes() {
        let redactor = Redactor::new(SECRETS.iter().map(|s| s.to_string()).collect());
        let report = report();
        let mut outputs = Vec::new();
        for write in [super::json::write, super::junit::write, super::html::write] {
            let mut out = Vec::new();
            write(&report, &redactor, &mut out).expect("write");
            outputs.push(String::from_utf8(out).expect("utf-8"));
        }
        let dir = std::env::temp_dir().join(format!("ak-e2e-secret-chars-{}", ak_protocol::jose::random_token(6)));
        let written =
            super::har::write_bundle(&dir, &report.scenarios[0], std::path::Path::new("/nonexistent"), &redactor)
                .expect("bundle");
        for file in written {
            outputs.push(std::fs::read_to_string(&file).expect("read"));
        }
        let _ = std::fs::remove_dir_all(&dir);
        for (i, output) in outputs.iter().enumerate() {
            for secret in SECRETS {
                for trace in traces(secret) {
                    assert!(!output.contains(&trace), "output {i} holds {trace:?}:\n{output}");
                }
            }
            assert!(output.contains("[redacted]"), "output {i} shows where a secret was:\n{output}");
        }
    }
}
