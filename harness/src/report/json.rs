//! The JSON report: the run's results as they are, secrets redacted.

use std::io::Write;

use super::Redactor;
use crate::result::RunReport;

/// Writes the report as pretty JSON.
pub fn write(report: &RunReport, redactor: &Redactor, out: &mut dyn Write) -> std::io::Result<()> {
    let mut value = serde_json::to_value(report).map_err(std::io::Error::other)?;
    redactor.value(&mut value);
    let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
    out.write_all(redactor.apply(&text).as_bytes())?;
    out.write_all(b"\n")
}
