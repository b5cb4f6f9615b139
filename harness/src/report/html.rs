//! One self-contained HTML page per run, generated from the results: scenarios, steps, verdicts,
//! the hop chain, the claims ChatGPT received, and the screenshots (embedded as data URIs).

use std::fmt::Write as _;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Redactor;
use crate::result::{RunReport, ScenarioResult, Status, StepStatus};

pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn badge(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Passed => ("passed", "pass"),
        Status::Failed => ("failed", "fail"),
        Status::Errored => ("error", "fail"),
        Status::ExpectedFailure => ("expected failure", "xfail"),
        Status::UnexpectedPass => ("unexpected pass", "fail"),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}h1{margin-bottom:0}\
table{border-collapse:collapse;margin:.5rem 0;width:100%}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}\
.pass{background:#dff5e1}.fail{background:#fde2e1}.xfail{background:#fff3cd}.badge{padding:.1rem .5rem;border-radius:.5rem}\
section{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}pre{background:#f6f6f6;padding:.5rem;overflow:auto}\
img{max-width:32rem;border:1px solid #ccc;margin:.25rem}code{font-size:.85rem}";

fn scenario(r: &ScenarioResult, out: &mut String) {
    let (label, class) = badge(r.status);
    let _ = write!(
        out,
        "<section data-testid=\"scenario\"><h2>{} <span class=\"badge {class}\" data-testid=\"status\">{label}</span></h2>\
<p><code>{}</code> · driver <b>{}</b> · {} ms{}</p>",
        esc(&r.name),
        esc(&r.file),
        r.driver.as_str(),
        r.duration_ms,
        if r.waited_ms > 0 { format!(" (after {} ms waiting for a browser slot)", r.waited_ms) } else { String::new() }
    );
    if let Some(reason) = &r.expected_failure {
        let _ = write!(out, "<p><b>Documented failure:</b> {}</p>", esc(reason));
    }
    if let Some(d) = &r.diagnosis {
        let _ = write!(out, "<p data-testid=\"diagnosis\"><b>Diagnosis:</b> {}</p>", esc(d));
    }
    steps_table(r, out);
    if let Some(claims) = &r.claims {
        let _ = write!(
            out,
            "<details><summary>What ChatGPT received</summary><pre>{}</pre></details>",
            esc(&serde_json::to_string_pretty(claims).unwrap_or_default())
        );
    }
    hop_chain(r, out);
    if let Some(dir) = &r.trace {
        let har = std::path::Path::new(dir).join(super::har::HAR_FILE).display().to_string();
        let _ = write!(
            out,
            "<p>trace bundle: <a href=\"{}\">{}</a> (<a href=\"{}\">HAR</a>: import it in the browser's network panel)</p>",
            esc(dir),
            esc(dir),
            esc(&har)
        );
    }
    artifacts(r, out);
    out.push_str("</section>");
}

/// The steps table: one row per step, coloured by its status, with its diagnosis and hint.
fn steps_table(r: &ScenarioResult, out: &mut String) {
    out.push_str("<table><tr><th>step</th><th>where</th><th>status</th><th>detail</th></tr>");
    for s in &r.steps {
        let class = match s.status {
            StepStatus::Passed => "pass",
            StepStatus::Failed | StepStatus::Errored => "fail",
            StepStatus::Skipped => "",
        };
        let detail = s.diagnosis().unwrap_or_default();
        let hint = s.hint.as_deref().map(|h| format!("<br><i>{}</i>", esc(h))).unwrap_or_default();
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td><td>{:?}</td><td>{}{hint}</td></tr>",
            esc(&s.name),
            esc(&s.span.location()),
            s.status,
            esc(&detail)
        );
    }
    out.push_str("</table>");
}

/// Every HTTP hop of the run, collapsed: method, status, URL, Location and what the hop was.
fn hop_chain(r: &ScenarioResult, out: &mut String) {
    out.push_str("<details><summary>Hop chain</summary><table><tr><th>#</th><th>method</th><th>status</th><th>URL</th><th>Location</th><th>what</th></tr>");
    for (i, h) in r.hops.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td>{i}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td></tr>",
            esc(&h.method),
            h.status,
            esc(&h.url),
            esc(h.location.as_deref().unwrap_or("")),
            esc(h.kind.map(|k| k.as_str()).unwrap_or("")),
            if h.api { " (api)" } else { "" }
        );
    }
    out.push_str("</table></details>");
}

/// Screenshots embedded as data URIs when the scenario did not pass; other artifacts as links.
fn artifacts(r: &ScenarioResult, out: &mut String) {
    // A passing run's screenshots (`--screenshots all`, `--trace`) are linked, not embedded:
    // a suite's worth of them would make the page tens of megabytes.
    let embed = r.status != crate::result::Status::Passed;
    for a in &r.artifacts {
        if a.ends_with(".png") && embed {
            if let Ok(bytes) = std::fs::read(a) {
                let _ = write!(
                    out,
                    "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
                    esc(a),
                    STANDARD.encode(bytes),
                    esc(a)
                );
            }
        } else {
            let _ = write!(out, "<p>artifact: <a href=\"{}\">{}</a></p>", esc(a), esc(a));
        }
    }
}

/// Writes the page.
pub fn write(report: &RunReport, redactor: &Redactor, out: &mut dyn Write) -> std::io::Result<()> {
    // Redacted as data, before the text is escaped.
    let report = &redactor.data(report)?;
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ak-e2e report</title><style>{STYLE}</style></head><body>\
<h1>ak-e2e report</h1><p data-testid=\"summary\">{} scenario runs on <code>{}</code>: {} · {} ms</p>",
        report.scenarios.len(),
        esc(&report.target),
        report.summary.counts(),
        report.duration_ms
    );
    for r in &report.scenarios {
        scenario(r, &mut html);
    }
    html.push_str("</body></html>\n");
    out.write_all(redactor.apply(&html).as_bytes())
}
