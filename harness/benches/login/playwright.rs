//! The Playwright anchor: `playwright/login.mjs`, a hand-written Playwright script of the same
//! login (one browser, a new context per login), run by Node with the system's Chromium. Used
//! when Node and `playwright-core` are installed (`npm install --prefix
//! harness/benches/login/playwright`); skipped otherwise, saying so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A running Playwright script, one login per request.
pub(crate) struct Playwright {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Playwright {
    /// Starts the script for this login, or says why it cannot.
    pub(crate) fn start(login: &super::script::Login<'_>, chromium: &Path) -> Result<Self, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/login/playwright");
        if !dir.join("node_modules/playwright-core").is_dir() {
            return Err(format!("playwright-core is not installed: npm install --prefix {}", dir.display()));
        }
        let mut child = Command::new("node")
            .arg(dir.join("login.mjs"))
            .env("LOGIN_PAGE", login.login_page)
            .env("EMAIL", login.email)
            .env("USERNAME", login.username)
            .env("PASSWORD", login.password)
            .env("CHROMIUM", chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        Ok(Self { child, stdin, stdout })
    }

    /// One login; its time as the script measured it.
    pub(crate) async fn login(&mut self) -> Result<Duration, String> {
        self.stdin.write_all(b"login\n").await.map_err(|e| e.to_string())?;
        let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .map_err(|_| "the Playwright script did not answer within 60 s".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or("the Playwright script ended")?;
        match line.split_once(' ') {
            Some(("ok", ms)) => {
                ms.parse::<f64>().map(|ms| Duration::from_secs_f64(ms / 1000.0)).map_err(|e| e.to_string())
            }
            _ => Err(format!("the Playwright script: {line}")),
        }
    }

    /// Ends the script and its browser.
    pub(crate) async fn stop(mut self) {
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
