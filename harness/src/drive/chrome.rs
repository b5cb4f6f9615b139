//! Chromium through WebDriver: starts chromedriver (or uses a given WebDriver URL), opens
//! sessions with a fresh profile, reads Chrome's performance and console logs, and cleans up —
//! no chromedriver or Chromium process outlives the run, also on a failed scenario, SIGINT or a
//! panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use ak_protocol::serve::free_port_on_both_loopbacks;

use super::DriveError;
use crate::config::BrowserSettings;

/// A started chromedriver (in its own process group) or a remote WebDriver, and the profile
/// folders of its sessions.
#[derive(Debug)]
pub struct BrowserHost {
    url: String,
    chromedriver_pid: Option<u32>,
    chromium: Option<PathBuf>,
    profiles: PathBuf,
    watchdog: Option<Watchdog>,
    /// Plain-http origins reached by a name other than `localhost`, which the sessions treat as
    /// secure contexts (see [`Self::treat_as_secure`]).
    secure_origins: Vec<String>,
}

/// What cleans up when ak-e2e cannot: a small `sh` in its own process group, deaf to Ctrl-C and
/// SIGTERM, that blocks reading a pipe only ak-e2e holds open. When ak-e2e ends in any way,
/// SIGKILL included, the pipe closes and the watchdog kills chromedriver's process group and
/// every process naming the profile folder (Chromium's crash handlers leave the group), then
/// removes the folder. A parent-death signal would need `unsafe`; a PID namespace, privileges.
#[derive(Debug)]
struct Watchdog {
    child: std::process::Child,
}

const WATCHDOG: &str = r#"trap '' INT TERM HUP
pgid=$1
profile=$2
case "$pgid" in ''|*[!0-9]*) exit 2 ;; esac
case "$profile" in /*/ak-e2e-browser-?*) ;; *) exit 2 ;; esac
read -r _
sweep() {
  found=
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$$" ] && continue
    case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
      *ak-e2e-watchdog*) ;;
      *"$profile"*) kill -KILL "$pid" 2>/dev/null && found=1 ;;
    esac
  done
}
# chromedriver's group, only while its leader is still chromedriver (a long-dead group's number
# could be someone else's by now); its Chromium processes name the profile and go in the sweep.
case "$(tr '\0' ' ' < "/proc/$pgid/cmdline" 2>/dev/null)" in
  *chromedriver*) kill -KILL "-$pgid" 2>/dev/null ;;
esac
i=0
while [ "$i" -lt 50 ]; do
  sweep
  rm -rf -- "$profile" 2>/dev/null
  [ -z "$found" ] && [ ! -e "$profile" ] && break
  i=$((i + 1))
  sleep 0.1
done
"#;

impl Watchdog {
    /// Starts the watchdog for chromedriver's process group `pgid` and the profile folder.
    fn start(pgid: u32, profiles: &Path) -> Result<Self, DriveError> {
        use std::os::unix::process::CommandExt as _;
        let child = std::process::Command::new("sh")
            .args(["-c", WATCHDOG, "ak-e2e-watchdog"])
            .arg(pgid.to_string())
            .arg(profiles)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| DriveError(format!("cannot start the browser cleanup watchdog (sh): {e}")))?;
        Ok(Self { child })
    }

    /// Ends the watchdog after ak-e2e's own cleanup (which, naming the profile folder, may already
    /// have ended it too), and reaps it.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

const START_DEADLINE: Duration = Duration::from_secs(20);

/// How many times chromedriver is started before its port collisions count as a failure.
///
/// chromedriver on Linux binds its port on `[::1]` and then the same number on `127.0.0.1`
/// (loopback ports of the two families are separate), and exits with "IPv4 port not available"
/// when the second is taken. Left to pick (`--port=0`), it takes the kernel's pick on `[::1]`,
/// which collides on `127.0.0.1` as often as that family's ports are in use: 26 of 60 starts
/// with 7000 of them held. So ak-e2e picks a port free on both families a moment before
/// chromedriver binds it (`free_port_on_both_loopbacks`), and starts it again on another port in
/// the rare case that the moment was enough for someone else to take it.
const PORT_ATTEMPTS: u32 = 5;

/// Why one start of chromedriver gave no WebDriver URL.
enum StartFailure {
    /// chromedriver's port was taken on one address family: another start may succeed.
    PortTaken(String),
    /// Anything else: reported as is.
    Other(DriveError),
}

impl BrowserHost {
    /// Starts chromedriver on a free port, or connects to the given WebDriver URL.
    pub async fn start(settings: &BrowserSettings) -> Result<Self, DriveError> {
        if let Some(url) = &settings.webdriver_url {
            return Ok(Self {
                url: url.clone(),
                chromedriver_pid: None,
                chromium: settings.chromium.clone(),
                profiles: Self::new_profiles()?,
                watchdog: None,
                secure_origins: Vec::new(),
            });
        }
        let program = settings.chromedriver.clone().unwrap_or_else(|| PathBuf::from("chromedriver"));
        let mut last_said = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_chromedriver(&program, settings).await {
                Ok(host) => return Ok(host),
                Err(StartFailure::PortTaken(said)) => last_said = said,
                Err(StartFailure::Other(e)) => return Err(e),
            }
        }
        Err(DriveError(format!(
            "{} found its port taken on each of {PORT_ATTEMPTS} starts; it said last: {}",
            program.display(),
            last_said
        )))
    }

    /// A fresh folder for this host's browser profiles, named so that the watchdog accepts it.
    fn new_profiles() -> Result<PathBuf, DriveError> {
        let profiles = std::env::temp_dir().join(format!(
            "ak-e2e-browser-{}-{}",
            std::process::id(),
            ak_protocol::jose::random_token(6)
        ));
        std::fs::create_dir_all(&profiles)
            .map_err(|e| DriveError(format!("cannot create {}: {e}", profiles.display())))?;
        Ok(profiles)
    }

    /// One start of chromedriver on a port free on both loopbacks, with its watchdog; a failed
    /// start leaves no process or folder behind.
    async fn start_chromedriver(program: &Path, settings: &BrowserSettings) -> Result<Self, StartFailure> {
        let profiles = Self::new_profiles().map_err(StartFailure::Other)?;
        let spawned = tokio::process::Command::new(program)
            .arg(format!("--port={}", free_port_on_both_loopbacks().unwrap_or(0)))
            // chromedriver and Chromium make temporary folders of their own
            // (`org.chromium.Chromium.*`) that a stopped run would leave: in the profile folder,
            // they go with it.
            .env("TMPDIR", &profiles)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profiles);
                return Err(StartFailure::Other(DriveError(format!(
                    "cannot start {} ({e}): the browser driver needs chromedriver and Chromium. On Debian or Ubuntu: \
                     `apt-get install -y chromium chromium-driver`; or set AK_E2E_CHROMEDRIVER to its path, or \
                     AK_E2E_WEBDRIVER_URL to a running WebDriver (Selenium Grid)",
                    program.display()
                ))));
            }
        };
        let pid = child.id();
        // From here on, dropping `host` kills the group and removes the folder.
        let mut host = Self {
            url: String::new(),
            chromedriver_pid: pid,
            chromium: settings.chromium.clone(),
            profiles,
            watchdog: None,
            secure_origins: Vec::new(),
        };
        match pid.map(|pgid| Watchdog::start(pgid, &host.profiles)) {
            Some(Ok(w)) => host.watchdog = Some(w),
            Some(Err(e)) => return Err(StartFailure::Other(e)),
            None => {}
        }
        let announced = read_port(&mut child).await;
        let ended = child.try_wait().ok().flatten();
        // The child handle is not needed any more: the process group is killed on shutdown.
        drop(child);
        let failure = match announced {
            Ok(Announced::Port(port)) => {
                host.url = format!("http://127.0.0.1:{port}");
                return Ok(host);
            }
            Ok(Announced::Nothing(said)) if said.iter().any(|l| l.contains("port not available")) => {
                StartFailure::PortTaken(said.join(" | "))
            }
            Ok(Announced::Nothing(said)) => StartFailure::Other(DriveError(format!(
                "{} ended its output without announcing its port ({}); it said: {}",
                program.display(),
                ended.map_or_else(|| "still running".to_string(), |s| s.to_string()),
                if said.is_empty() { "nothing".to_string() } else { said.join(" | ") }
            ))),
            Err(_) => StartFailure::Other(DriveError(format!(
                "{} did not announce its port within {START_DEADLINE:?}",
                program.display()
            ))),
        };
        drop(host);
        Err(failure)
    }

    /// Has the sessions treat the `http://` ones of `origins` as secure contexts, as browsers
    /// treat `http://localhost`: a page elsewhere over plain http (authentik at
    /// `http://server:9000` beside the harness in docker compose) has no WebAuthn, and the flow
    /// interface says "WebAuthn requires this page to be accessed via HTTPS". A person's browser
    /// would need https there; a test browser is told to trust the test's own origins.
    pub fn treat_as_secure(&mut self, origins: impl IntoIterator<Item = String>) {
        self.secure_origins = origins.into_iter().filter(|o| !secure_already(o)).collect();
    }

    /// A new browser session with a fresh profile.
    pub async fn session(&self) -> Result<Client, DriveError> {
        let profile = self.profiles.join(ak_protocol::jose::random_token(6));
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--disable-extensions", "--window-size=1280,900",
                // A headless page counts as hidden: its timers and frames would be throttled
                // while the driver waits in it.
                "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
                "--disable-renderer-backgrounding",
                // Work a test browser has no use for, on CPUs it shares with authentik: the
                // switches Playwright launches Chromium with for the same reason.
                "--disable-back-forward-cache", "--disable-breakpad", "--disable-client-side-phishing-detection",
                "--disable-default-apps", "--disable-hang-monitor", "--disable-ipc-flooding-protection",
                "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
                "--disable-features=Translate,MediaRouter,OptimizationHints,PaintHolding,AcceptCHFrame,CertificateTransparencyComponentUpdater",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if !self.secure_origins.is_empty()
            && let Some(args) = options["args"].as_array_mut()
        {
            args.push(json!(format!("--unsafely-treat-insecure-origin-as-secure={}", self.secure_origins.join(","))));
        }
        // The hop chain needs the network events only: the page domain's events would be
        // recorded, serialised and parsed on every page for nothing.
        options["perfLoggingPrefs"] = json!({"enableNetwork": true, "enablePage": false});
        if let Some(binary) = &self.chromium {
            options["binary"] = json!(binary.display().to_string());
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("goog:loggingPrefs".into(), json!({"performance": "ALL", "browser": "ALL"}));
        // No command waits for a page to load: the driver waits in the page for what it expects
        // (see `browser.rs`), within its own deadlines. With WebDriver's default (`normal`), a
        // click whose navigation starts after the click has answered makes the next command
        // wait for that page, up to the page-load timeout, for each command in turn.
        caps.insert("pageLoadStrategy".into(), json!("none"));
        // The whole session request is bounded: a WebDriver that accepts the connection and never
        // answers must not hold the run.
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let client = tokio::time::timeout(START_DEADLINE, builder.connect(&self.url))
            .await
            .map_err(|_| DriveError(format!("no browser session from {} within {START_DEADLINE:?}", self.url)))?
            .map_err(|e| DriveError(format!("no browser session from WebDriver at {}: {e}", self.url)))?;
        Ok(client)
    }

    /// Stops chromedriver and everything it started; removes the profiles.
    pub fn shutdown(&mut self) {
        if let Some(pid) = self.chromedriver_pid.take() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        // Chromium's crash handlers leave the process group; they name the profile folder.
        kill_processes_mentioning(&self.profiles);
        let _ = std::fs::remove_dir_all(&self.profiles);
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.finish();
        }
    }

    /// The folder holding this host's browser profiles.
    pub fn profiles(&self) -> &Path {
        &self.profiles
    }
}

impl Drop for BrowserHost {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Kills every process whose command line mentions `marker` (Linux `/proc`; elsewhere a no-op).
pub fn kill_processes_mentioning(marker: &Path) {
    let marker = marker.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let me = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) || name == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            let _ = std::process::Command::new("kill").args(["-KILL", &name]).stderr(Stdio::null()).status();
        }
    }
}

/// `POST /session/{id}/se/log`: chromedriver's log endpoint (performance, browser).
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": self.0}).to_string()))
    }
}

/// `POST /session/{id}/goog/cdp/execute`: a Chrome DevTools command.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"cmd": self.0, "params": self.1}).to_string()))
    }
}

/// Runs `source` in every document the session loads from now on, before the page's own scripts
/// (DevTools' `Page.addScriptToEvaluateOnNewDocument`); the identifier to stop it with.
pub async fn on_new_documents(client: &Client, source: &str) -> Result<String, fantoccini::error::CmdError> {
    let added = client.issue_cmd(Cdp("Page.addScriptToEvaluateOnNewDocument", json!({"source": source}))).await?;
    Ok(added["identifier"].as_str().unwrap_or_default().to_string())
}

/// Stops a script [`on_new_documents`] started.
pub async fn off_new_documents(client: &Client, identifier: String) -> Result<(), fantoccini::error::CmdError> {
    let removed = json!({"identifier": identifier});
    client.issue_cmd(Cdp("Page.removeScriptToEvaluateOnNewDocument", removed)).await.map(drop)
}

/// Whether browsers take `origin` for a secure context by themselves: https, or a loopback host
/// (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`).
fn secure_already(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else { return true };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || loopback
}

/// The entries of a Chrome log since the last read (none when it is not an array).
pub async fn read_log(client: &Client, kind: &'static str) -> Result<Vec<Value>, fantoccini::error::CmdError> {
    match client.issue_cmd(GetLog(kind)).await? {
        Value::Array(entries) => Ok(entries),
        _ => Ok(Vec::new()),
    }
}

/// How long clearing a session for the next scenario may take before the session is closed
/// instead.
const RESET_DEADLINE: Duration = Duration::from_secs(10);

/// Clears cookies and storage so the session can serve the next scenario as if new; false when
/// that failed or took longer than [`RESET_DEADLINE`]. Cookies go for every site; storage (local
/// storage, IndexedDB, caches, service workers) for each of `origins` (`http://host:port`): the
/// sites the scenario's pages came from. Clearing it for every origin at once (`*`) takes
/// Chromium 40–110 ms, one origin 5–10 ms. The HTTP cache stays, as a person's would between
/// two sign-ins: authentik's scripts and styles are not part of a login.
pub async fn reset_session(client: &Client, origins: &BTreeSet<String>) -> bool {
    let reset = async {
        let cookies = client.issue_cmd(Cdp("Network.clearBrowserCookies", json!({}))).await.is_ok();
        let _ = client.goto("about:blank").await;
        for origin in origins {
            let clear = json!({"origin": origin, "storageTypes": "all"});
            let _ = client.issue_cmd(Cdp("Storage.clearDataForOrigin", clear)).await;
        }
        cookies
    };
    tokio::time::timeout(RESET_DEADLINE, reset).await.unwrap_or(false)
}

/// The origin of `url` as storage is kept by (`http://127.0.0.1:9000`).
pub fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Chromium's DevTools address of a session (`goog:chromeOptions.debuggerAddress`, e.g.
/// `localhost:39651`), when WebDriver gave one.
pub fn devtools_address(client: &Client) -> Option<String> {
    let caps = client.capabilities()?;
    caps.get("goog:chromeOptions")?.get("debuggerAddress")?.as_str().map(String::from)
}

/// Stops the loading of the session's page through Chromium's DevTools, beside WebDriver.
///
/// chromedriver serves a session's commands one at a time and holds every one, with any
/// page-load strategy, while the page's navigation is pending: a navigation whose server never
/// answers holds the session until Chromium gives up, minutes later. DevTools answers
/// regardless; once the navigation is stopped (the request is aborted, the page stays where it
/// was), the held commands go on and the performance log still has the request that did not
/// answer. One message is all it takes, so the WebSocket is spoken here directly: the handshake,
/// one masked text frame, frames read until the answer with its id.
pub async fn stop_loading(address: &str, deadline: Duration) -> Result<(), String> {
    tokio::time::timeout(deadline, stop_loading_now(address))
        .await
        .map_err(|_| format!("DevTools at {address} did not answer within {deadline:?}"))?
}

async fn stop_loading_now(address: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // Chromium listens on IPv4 loopback; `localhost` might resolve to `::1` first.
    let address = address.replacen("localhost:", "127.0.0.1:", 1);
    let targets: Value = reqwest::get(format!("http://{address}/json/list"))
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("DevTools at {address}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("DevTools at {address}: {e}"))?;
    // Each session has a Chromium of its own, with one page.
    let page = targets
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["type"] == "page")
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or_else(|| format!("DevTools at {address} lists no page"))?;
    let mut stream =
        tokio::net::TcpStream::connect(&address).await.map_err(|e| format!("DevTools at {address}: {e}"))?;
    // 16 random bytes in base64 (URL-safe letters made standard, padding added).
    let key = ak_protocol::jose::random_token(16).replace('-', "+").replace('_', "/") + "==";
    let handshake = format!(
        "GET {} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        page.path()
    );
    stream.write_all(handshake.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.map_err(|e| format!("DevTools handshake: {e}"))?;
        head.push(byte);
        if head.len() > 8192 {
            return Err("DevTools handshake: an answer without end".into());
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "DevTools refused the WebSocket: {}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        ));
    }
    let message = json!({"id": 1, "method": "Page.stopLoading"}).to_string();
    stream.write_all(&masked_text_frame(message.as_bytes())).await.map_err(|e| e.to_string())?;
    // Frames until the answer to id 1 (no domain is enabled on this connection: no events come).
    for _ in 0..16 {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.map_err(|e| format!("DevTools: {e}"))?;
        let len = match header[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.map_err(|e| e.to_string())?),
            127 => stream.read_u64().await.map_err(|e| e.to_string())?,
            n => u64::from(n),
        };
        if len > 1 << 20 {
            return Err(format!("DevTools sent a frame of {len} bytes"));
        }
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await.map_err(|e| format!("DevTools: {e}"))?;
        let answer: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        if answer["id"] == 1 {
            return match answer.get("error") {
                Some(error) => Err(format!("DevTools refused Page.stopLoading: {error}")),
                None => Ok(()),
            };
        }
    }
    Err("DevTools did not answer Page.stopLoading".into())
}

/// A client's WebSocket text frame (final, masked, as RFC 6455 requires of clients).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let random = ak_protocol::jose::random_token(3).into_bytes();
    let mask = [random[0], random[1], random[2], random[3]];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend((n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend((n as u64).to_be_bytes());
        }
    }
    frame.extend(mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// What chromedriver printed before its output ended: the port it listens on, or every line.
enum Announced {
    Port(String),
    Nothing(Vec<String>),
}

/// Reads chromedriver's output until it announces its port, within [`START_DEADLINE`].
async fn read_port(child: &mut tokio::process::Child) -> Result<Announced, tokio::time::error::Elapsed> {
    let Some(stdout) = child.stdout.take() else {
        return Ok(Announced::Nothing(vec!["(no standard output)".into()]));
    };
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(START_DEADLINE, async {
        let mut said = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                return Announced::Port(rest.trim_end_matches('.').trim().to_string());
            }
            said.push(line);
        }
        Announced::Nothing(said)
    })
    .await
}

#[cfg(test)]
mod tests {

    /// Only plain-http origins elsewhere than the loopback get the switch that trusts them.
    #[test]
    fn only_insecure_origins_are_trusted_by_switch() {
        for secure in [
            "https://auth.example.com",
            "http://localhost:9000",
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "http://ak.localhost",
        ] {
            assert!(super::secure_already(secure), "{secure}");
        }
        for insecure in ["http://server:9000", "http://auth.example.com", "http://10.0.0.5:9000"] {
            assert!(!super::secure_already(insecure), "{insecure}");
        }
    }

    use std::process::{Command, Stdio};

    /// The watchdog kills by pattern: it must refuse arguments that would match what is not its.
    #[test]
    fn the_watchdog_refuses_an_empty_or_foreign_target() {
        for (pgid, profile) in
            [("1", ""), ("1", "/"), ("1", "/home/user"), ("", "/tmp/ak-e2e-browser-x"), ("-1", "/tmp/ak-e2e-browser-x")]
        {
            let status = Command::new("sh")
                .args(["-c", super::WATCHDOG, "ak-e2e-watchdog", pgid, profile])
                .stdin(Stdio::null())
                .status()
                .expect("sh");
            assert_eq!(status.code(), Some(2), "pgid {pgid:?}, profile {profile:?}");
        }
    }
}
