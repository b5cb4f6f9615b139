//! JUnit XML: one test case per scenario and driver. An assertion failure is a `<failure>`, a
//! runtime error an `<error>`; both carry the rendered diagnosis. Expected failures pass.

use std::fmt::Write as _;
use std::io::Write;

use super::Redactor;
use crate::result::{RunReport, Status, StepStatus};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes the report as JUnit XML.
pub fn write(report: &RunReport, redactor: &Redactor, out: &mut dyn Write) -> std::io::Result<()> {
    // Redacted as data, before the text is escaped.
    let report = &redactor.data(report)?;
    let s = &report.summary;
    let tests = report.scenarios.len();
    let failures = s.failed + s.unexpected_passes;
    let time = report.duration_ms as f64 / 1000.0;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"ak-e2e\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{}\" time=\"{time:.3}\">",
        s.errored
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"ak-e2e ({})\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{}\" skipped=\"0\" time=\"{time:.3}\">",
        escape(&report.target),
        s.errored
    );
    for r in &report.scenarios {
        let classname = r.file.trim_end_matches(".yaml").replace(['/', '\\'], ".");
        let _ = writeln!(
            xml,
            "    <testcase name=\"[{}] {}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\">",
            r.driver.as_str(),
            escape(&r.name),
            escape(&classname),
            escape(&r.file),
            r.duration_ms as f64 / 1000.0
        );
        let rendered: String = r
            .steps
            .iter()
            .filter(|st| matches!(st.status, StepStatus::Failed | StepStatus::Errored))
            .filter_map(|st| st.to_diagnostic())
            .map(|d| d.render_from_file(false))
            .collect();
        let message = escape(r.diagnosis.as_deref().unwrap_or_default());
        match r.status {
            Status::Failed => {
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{message}\" type=\"assertion\">{}</failure>",
                    escape(&rendered)
                );
            }
            Status::UnexpectedPass => {
                let reason = r.expected_failure.as_deref().unwrap_or_default();
                let _ = writeln!(
                    xml,
                    "      <failure message=\"passed, but documented to fail: {}\" type=\"unexpected-pass\"/>",
                    escape(reason)
                );
            }
            Status::Errored => {
                let _ =
                    writeln!(xml, "      <error message=\"{message}\" type=\"runtime\">{}</error>", escape(&rendered));
            }
            Status::ExpectedFailure => {
                let reason = r.expected_failure.as_deref().unwrap_or_default();
                let _ = writeln!(
                    xml,
                    "      <system-out>expected failure: {}\n{}</system-out>",
                    escape(reason),
                    escape(&rendered)
                );
            }
            Status::Passed => {}
        }
        let _ = writeln!(xml, "    </testcase>");
    }
    let _ = writeln!(xml, "  </testsuite>\n</testsuites>");
    out.write_all(redactor.apply(&xml).as_bytes())
}
