//! The console: a line per scenario as it finishes, then each failure as a rustc-style
//! diagnosis, then the totals. Colour only on a terminal and without `NO_COLOR`.

use std::io::Write;

use super::Redactor;
use crate::plan::Planned;
use crate::result::Progress;
use crate::result::{RunReport, ScenarioResult, Status, StepStatus};

/// Console output settings.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// A terminal: show a live "running" line that the result line replaces.
    pub live: bool,
}

/// Prints progress lines as scenarios finish.
pub struct ConsoleProgress<'w> {
    out: &'w mut dyn Write,
    style: Style,
    redactor: Redactor,
}

impl<'w> ConsoleProgress<'w> {
    /// Progress to `out`.
    pub fn new(out: &'w mut dyn Write, style: Style, redactor: Redactor) -> Self {
        Self { out, style, redactor }
    }
}

fn label(status: Status, color: bool) -> String {
    let (text, code) = match status {
        Status::Passed => ("PASS ", "32"),
        Status::Failed => ("FAIL ", "31"),
        Status::Errored => ("ERROR", "31"),
        Status::ExpectedFailure => ("XFAIL", "33"),
        Status::UnexpectedPass => ("XPASS", "31"),
    };
    if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
}

impl Progress for ConsoleProgress<'_> {
    fn started(&mut self, index: usize, total: usize, run: &Planned) {
        if self.style.live {
            let bar = progress_bar(index, total);
            let line = format!(
                "\r\x1b[2K{bar} [{}/{total}] running [{}] {}",
                index + 1,
                run.driver.as_str(),
                run.scenario.name
            );
            let _ = self.out.write_all(self.redactor.apply(&line).as_bytes());
            let _ = self.out.flush();
        }
    }

    fn finished(&mut self, index: usize, total: usize, r: &ScenarioResult) {
        if self.style.live {
            let _ = self.out.write_all(b"\r\x1b[2K");
        }
        let line = format!(
            "[{}/{total}] {} [{}] {} ({}) {} ms\n",
            index + 1,
            label(r.status, self.style.color),
            r.driver.as_str(),
            r.name,
            r.file,
            r.duration_ms
        );
        let _ = self.out.write_all(self.redactor.apply(&line).as_bytes());
        let _ = self.out.flush();
    }
}

/// `[#####-----]`: how many of `total` are done.
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 20;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(WIDTH - filled))
}

/// Prints the failures and the totals.
pub fn summary(report: &RunReport, style: Style, redactor: &Redactor, out: &mut dyn Write) -> std::io::Result<()> {
    let mut text = String::new();
    let bad: Vec<&ScenarioResult> = report
        .scenarios
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::Errored | Status::UnexpectedPass))
        .collect();
    if !bad.is_empty() {
        text.push_str("\nfailures:\n");
    }
    for r in bad {
        text.push_str(&format!("\n{} [{}] {}\n", label(r.status, style.color), r.driver.as_str(), r.name));
        if r.status == Status::UnexpectedPass {
            text.push_str(&format!(
                "passed, but `expect_failure` says it should fail: {}\nremove `expect_failure` if the cause is fixed\n",
                r.expected_failure.as_deref().unwrap_or_default()
            ));
        }
        for step in r.steps.iter().filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::Errored)) {
            if let Some(d) = step.to_diagnostic() {
                text.push_str(&d.render_from_file(style.color));
            }
        }
    }
    text.push_str(&format!(
        "\n{} scenarios on {}: {} ({} ms)\n",
        report.scenarios.len(),
        report.target,
        report.summary.counts(),
        report.duration_ms
    ));
    out.write_all(redactor.apply(&text).as_bytes())
}
