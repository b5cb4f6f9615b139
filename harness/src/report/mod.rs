//! Reporters read [`RunReport`](crate::result::RunReport) only and write to an injected writer:
//! the console (progress and diagnoses), JSON (the source of truth), JUnit XML, HTML, and the
//! trace bundles' HAR files.
//! Every text they produce goes through [`Redactor`] first.

pub mod console;
pub mod har;
pub mod html;
pub mod json;
pub mod junit;

/// Replaces known secret values (passwords, client secrets, TOTP seeds) with `[redacted]`, and
/// so are values that are secret by their shape wherever they appear in free text (a browser's
/// console line, a page): the value of a `code=`, `access_token=`, `id_token=`, … parameter of
/// a URL, and anything shaped like a signed JWT.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    params: regex_lite::Regex,
    jwt: regex_lite::Regex,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Redactor {
    /// A redactor for these values.
    pub fn new(mut secrets: Vec<String>) -> Self {
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let names = ak_protocol::redact::SECRET_PARAMS.join("|");
        Self {
            secrets,
            params: regex_lite::Regex::new(&format!(r#"(?i)([?&#;](?:{names})=)[^&#\s"'<>]+"#))
                .unwrap_or_else(|_| unreachable!("a fixed pattern")),
            jwt: regex_lite::Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
                .unwrap_or_else(|_| unreachable!("a fixed pattern")),
        }
    }

    /// The text with every secret replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        let out = self.params.replace_all(&out, "${1}[redacted]");
        self.jwt.replace_all(&out, "[redacted-jwt]").into_owned()
    }
}

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
mod tests {
    use super::Redactor;

    #[test]
    fn replaces_every_secret() {
        let r = Redactor::new(vec!["hunter2".into(), "hunter2-long".into()]);
        assert_eq!(r.apply("pw hunter2-long and hunter2"), "pw [redacted] and [redacted]");
    }

    #[test]
    fn replaces_codes_and_tokens_by_their_shape() {
        let r = Redactor::default();
        let console = "SEVERE http://127.0.0.1:4/callback?code=abc123XYZ&state=s1 - Failed to load resource";
        assert_eq!(
            r.apply(console),
            "SEVERE http://127.0.0.1:4/callback?code=[redacted]&state=s1 - Failed to load resource"
        );
        assert_eq!(r.apply("#id_token=x.y.z&access_token=t0k"), "#id_token=[redacted]&access_token=[redacted]");
        assert_eq!(r.apply("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln end"), "Bearer [redacted-jwt] end");
        assert_eq!(r.apply("?state=keep&scope=openid"), "?state=keep&scope=openid");
    }
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
