//! Errors with a place in a file, rendered the way rustc and hurl render them:
//!
//! ```text
//! error: unknown step `expect_redirct`
//!   --> scenarios/chatgpt/login.yaml:7:5
//!    |
//!  7 |   - expect_redirct:
//!    |     ^^^^^^^^^^^^^^ did you mean `expect_redirect`?
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A place in a file: line and column from 1, and how many characters to underline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Span {
    /// The file as given on the command line.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
    /// Characters to underline (at least 1).
    pub len: usize,
}

impl Span {
    /// `file:line:col`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A problem at a span, with the label under the carets and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The headline (`` `expect_claims` failed ``).
    pub message: String,
    /// Where in the scenario file it points.
    pub span: Span,
    /// Written after the carets.
    pub label: String,
    /// A following `= help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Renders with the source line, read from `source` (the file's text).
    pub fn render(&self, source: &str, color: bool) -> String {
        let (red, blue, bold, reset) =
            if color { ("\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "") };
        let whole = source_lines(source).nth(self.span.line.saturating_sub(1)).unwrap_or("");
        // A long line is shown as a window around the column, never whole.
        let skip = self.span.col.saturating_sub(1).saturating_sub(WINDOW / 3);
        let total = whole.chars().count();
        let mut line_text: String = whole.chars().skip(skip).take(WINDOW).collect();
        let lead = if skip > 0 { "…" } else { "" };
        if skip + WINDOW < total {
            line_text.push('…');
        }
        let number = self.span.line.to_string();
        let gutter = " ".repeat(number.len());
        let mut out = String::new();
        let _ = writeln!(out, "{red}{bold}error{reset}{bold}: {}{reset}", clip(&self.message));
        let _ = writeln!(out, "{gutter}{blue}-->{reset} {}", self.span.location());
        let _ = writeln!(out, "{gutter} {blue}|{reset}");
        let _ = writeln!(out, "{blue}{number} |{reset} {lead}{line_text}");
        let pad: String = lead
            .chars()
            .map(|_| ' ')
            .chain(
                whole
                    .chars()
                    .skip(skip)
                    .take(self.span.col.saturating_sub(1) - skip)
                    .map(|c| if c == '\t' { '\t' } else { ' ' }),
            )
            .collect();
        let carets = "^".repeat(self.span.len.clamp(1, WINDOW));
        let label = if self.label.is_empty() { String::new() } else { format!(" {}", clip(&self.label)) };
        let _ = writeln!(out, "{gutter} {blue}|{reset} {pad}{red}{carets}{label}{reset}");
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{gutter} {blue}={reset} {bold}help{reset}: {help}");
        }
        out
    }

    /// Renders, reading the source line from the file (or without it if unreadable).
    pub fn render_from_file(&self, color: bool) -> String {
        use std::io::Read as _;
        // Never more than a scenario file may hold (the file may be why it failed).
        let mut bytes = Vec::new();
        if let Ok(file) = std::fs::File::open(&self.span.file) {
            let _ = file.take(ak_protocol::yaml::MAX_BYTES as u64).read_to_end(&mut bytes);
        }
        self.render(&String::from_utf8_lossy(&bytes), color)
    }
}

/// The lines of a text as YAML counts them: `\n`, `\r\n` and a lone `\r` each end a line.
pub fn source_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\n', '\r']) {
            Some(i) => {
                let skip = if text[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[i + skip..]).filter(|r| !r.is_empty());
                Some(&text[..i])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The most characters of a source line shown.
const WINDOW: usize = 120;

/// A message or label cut to a readable length (it may quote a long value from the file).
fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX).collect();
    out.push('…');
    out
}

pub use ak_protocol::suggest::suggest;

/// A span at a YAML node of a file.
pub(crate) fn span_at(file: &Path, pos: ak_protocol::yaml::Pos, len: usize) -> Span {
    Span { file: file.to_path_buf(), line: pos.line, col: pos.col, len: len.max(1) }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Diagnostic, Span};

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic {
            message: "unknown step `expect_redirct`".into(),
            span: Span { file: PathBuf::from("s.yaml"), line: 2, col: 5, len: 14 },
            label: "did you mean `expect_redirect`?".into(),
            help: Some("steps are listed in the README".into()),
        };
        let text = d.render("steps:\n  - expect_redirct:\n", false);
        assert_eq!(
            text,
            "error: unknown step `expect_redirct`\n --> s.yaml:2:5\n  |\n2 |   - expect_redirct:\n  |     ^^^^^^^^^^^^^^ did you mean `expect_redirect`?\n  = help: steps are listed in the README\n"
        );
    }

    #[test]
    fn lines_end_as_in_yaml() {
        let lines: Vec<&str> = super::source_lines("a\nb\r\nc\rd\n").collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
        assert_eq!(super::source_lines("").count(), 1);
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let line = format!("name: {}bad{}", "x".repeat(1_000_000), "y".repeat(1_000_000));
        let d = Diagnostic {
            message: format!("unknown value `{}`", "z".repeat(5_000)),
            span: Span { file: PathBuf::from("s.yaml"), line: 1, col: 1_000_007, len: 3 },
            label: String::new(),
            help: None,
        };
        let text = d.render(&line, false);
        assert!(text.len() < 1_000, "{} bytes", text.len());
        let lines: Vec<&str> = text.lines().collect();
        let source = lines[3].trim_start_matches("1 | ");
        let carets = lines[4].trim_start_matches("  | ");
        let at = carets.find('^').expect("carets");
        assert_eq!(&source.chars().skip(at).take(3).collect::<String>(), "bad", "{text}");
        assert!(source.starts_with('…') && source.ends_with('…'), "{source}");
    }
}
