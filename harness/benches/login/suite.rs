//! The ak-e2e binary as a user runs it: the whole suite at a given `--jobs`, and the time from
//! start to the first verdict. Peak memory is the process's own high-water mark (`VmHWM`), read
//! while it runs; browsers are processes of their own and not in it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run of the binary.
pub(crate) struct Measured {
    pub(crate) wall: Duration,
    pub(crate) peak_rss_kib: u64,
    pub(crate) exit: Option<i32>,
    /// How busy the machine's CPUs were meanwhile, 0 to 1 (everything on it: ak-e2e, the
    /// browsers, a local authentik).
    pub(crate) cpu_busy: f64,
}

/// (busy, idle) jiffies of all CPUs since boot (`/proc/stat`).
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (fields.iter().sum::<u64>().saturating_sub(idle), idle)
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ak-e2e")
}

/// `ak-e2e run ARGS --artifacts DIR`, as on CI (no live progress line).
fn command(args: &[&str], artifacts: &Path) -> Command {
    let mut command = Command::new(binary());
    command.arg("run").args(args).arg("--artifacts").arg(artifacts).env("CI", "true").stderr(Stdio::inherit());
    command
}

fn high_water_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `ak-e2e run ARGS`, timed, its peak memory sampled every 10 ms.
pub(crate) fn run(args: &[&str], artifacts: &Path) -> Measured {
    let start = Instant::now();
    let before = cpu_jiffies();
    let mut child = command(args, artifacts).stdout(Stdio::null()).spawn().expect("ak-e2e starts");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = high_water_kib(child.id()) {
            peak = peak.max(kib);
        }
        match child.try_wait().expect("wait") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let after = cpu_jiffies();
    let (busy, idle) = (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1));
    let cpu_busy = busy as f64 / (busy + idle).max(1) as f64;
    Measured { wall: start.elapsed(), peak_rss_kib: peak, exit: status.code(), cpu_busy }
}

/// The time from starting `ak-e2e run ARGS` to its first verdict line.
pub(crate) fn first_verdict(args: &[&str], artifacts: &Path) -> Option<Duration> {
    let start = Instant::now();
    let mut child = command(args, artifacts).stdout(Stdio::piped()).spawn().ok()?;
    let stdout = child.stdout.take()?;
    let mut first = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if first.is_none() && line.starts_with("[1/") {
            first = Some(start.elapsed());
        }
    }
    let _ = child.wait();
    first
}

/// The fixture users' TOTP secrets, from their variables or files.
pub(crate) fn totp_secrets(
    settings: &ak_e2e::config::Settings,
    env: &std::collections::HashMap<String, String>,
) -> Vec<Vec<u8>> {
    settings
        .users
        .values()
        .filter_map(|user| user.totp_secret.as_ref())
        .filter_map(|secret| {
            env.get(&secret.env).cloned().or_else(|| std::fs::read_to_string(secret.file.as_ref()?).ok())
        })
        .filter_map(|text| ak_protocol::totp::decode_hex(&text).or_else(|| ak_protocol::totp::decode_base32(&text)))
        .collect()
}

/// Waits until no process has used a code of the current 30-second step for these devices, so
/// that a suite starts with both usable codes of each (authentik takes at most the current step's
/// and the next one's): otherwise whichever suite runs second waits for the clock.
pub(crate) fn fresh_totp_codes(secrets: &[Vec<u8>]) {
    while secrets
        .iter()
        .any(|s| ak_e2e::drive::totp::recall(s).is_some_and(|last| last >= ak_protocol::totp::current_step()))
    {
        std::thread::sleep(Duration::from_secs(1));
    }
}
