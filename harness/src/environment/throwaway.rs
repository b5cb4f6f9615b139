//! What ak-e2e makes in an authentik for one run (twins of an application, copies of a user),
//! and how it is never left behind.
//!
//! Every such object is named `ak-e2e-<kind>-<host>-<pid>-<unix time>-<random>`: the host (a
//! hash of the machine's name) and the process that made it, and when. A [`Cleanup`] deletes a
//! run's objects when the run ends, passed or failed, on Ctrl-C and SIGTERM (the binary drops
//! the run) and on a panic (its `Drop`). After a SIGKILL nothing runs, so the next run
//! [`sweep`]s: an object of this host whose process is gone, or of another host and older than
//! a day, is deleted, and the run says so. An object of a process that still runs (a run going
//! on beside this one) is left alone.

use ak_protocol::authentik::admin::{self, path};

use crate::environment::admin_api::{AdminApi, ApiError};

/// The kind of a throwaway object: the word after `ak-e2e-` in its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A twin of a production application (an application and its provider).
    Twin,
    /// A copy of a user (`reproduce`, `mirror_of`).
    Copy,
}

impl Kind {
    /// The name's prefix, `ak-e2e-twin-` or `ak-e2e-repro-`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Twin => "ak-e2e-twin-",
            Self::Copy => "ak-e2e-repro-",
        }
    }
}

/// Objects of other hosts older than this are swept (their process cannot be looked at).
const FOREIGN_AGE_SECS: u64 = 24 * 3600;

/// Where this process's process ids mean something: four hex digits of a hash of the machine's
/// name, its boot and the process-id namespace. Two processes with one tag can look each other
/// up in `/proc`; a container with processes of its own, or another machine, has another tag.
/// Without `/proc` (not Linux) the tag is `0000`, whose objects are swept by age only.
fn host_tag() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let namespace = std::fs::read_link("/proc/self/ns/pid").map(|l| l.display().to_string()).unwrap_or_default();
    if namespace.is_empty() {
        return "0000".into();
    }
    let identity =
        format!("{}|{}|{namespace}", read("/proc/sys/kernel/hostname"), read("/proc/sys/kernel/random/boot_id"));
    let tag = authentik_standin::directory::hex_sha256(&identity)[..4].to_string();
    if tag == "0000" { "0001".into() } else { tag }
}

/// A new name of this kind, for this process, now.
pub fn name(kind: Kind) -> String {
    let random = ak_protocol::jose::random_token(4).to_ascii_lowercase().replace(['-', '_'], "x");
    format!("{}{}-{}-{}-{random}", kind.prefix(), host_tag(), std::process::id(), ak_protocol::time::now_secs())
}

/// The parts of a throwaway name: host tag, process id, time.
fn parts(name: &str, kind: Kind) -> Option<(&str, u32, u64)> {
    let rest = name.strip_prefix(kind.prefix())?;
    let mut it = rest.split('-');
    let (host, pid, time) = (it.next()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    Some((host, pid, time))
}

/// Why `name` is a leftover to sweep, or `None` when it is not one (another kind, not stamped,
/// or its process may still be using it).
pub fn stale(name: &str, kind: Kind, now: u64) -> Option<String> {
    let (host, pid, time) = parts(name, kind)?;
    if host != host_tag() || host == "0000" {
        let age = now.saturating_sub(time);
        return (age > FOREIGN_AGE_SECS).then(|| format!("made on another machine {} h ago", age / 3600));
    }
    if pid == std::process::id() {
        return None;
    }
    let running = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim().starts_with("ak-e2e"));
    (!running).then(|| format!("left by process {pid}, which is gone"))
}

/// Objects to delete when the run ends, newest first.
pub struct Cleanup {
    api: AdminApi,
    items: Vec<(String, String)>,
}

impl Cleanup {
    /// Nothing to delete yet.
    pub fn new(api: AdminApi) -> Self {
        Self { api, items: Vec::new() }
    }

    /// Adds an object: what it is (`application ak-e2e-twin-…`) and its API path.
    pub fn add(&mut self, what: String, path: String) {
        self.items.push((what, path));
    }

    /// Deletes everything, newest first; answers one line per object, and whether all went.
    pub async fn run(&mut self) -> (Vec<String>, bool) {
        self.run_saying(&mut |_| {}).await
    }

    /// [`Cleanup::run`], handing each line to `say` as soon as it is known. An object leaves the
    /// list only once its deletion has been tried, so a run dropped halfway (a second signal)
    /// still hands the rest to [`Drop`].
    async fn run_saying(&mut self, say: &mut dyn FnMut(&str)) -> (Vec<String>, bool) {
        let mut lines = Vec::new();
        let mut all = true;
        while let Some((what, path)) = self.items.last().cloned() {
            let line = match self.api.delete(&path).await {
                Ok(()) => format!("deleted {what}"),
                Err(e) => {
                    all = false;
                    failed(&what, &e)
                }
            };
            self.items.pop();
            say(&line);
            lines.push(line);
        }
        (lines, all)
    }
}

fn failed(what: &str, e: &ApiError) -> String {
    format!("could not delete {what}: {e}; delete it in authentik's admin interface (the next run sweeps it too)")
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.items.is_empty() {
            return;
        }
        // The run's runtime is going away: the requests get a thread and a runtime of their own.
        let mut rest = Cleanup { api: self.api.clone(), items: std::mem::take(&mut self.items) };
        let lines = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match runtime {
                Ok(runtime) => runtime.block_on(rest.run()).0,
                Err(e) => vec![format!("could not delete what this run made in authentik: {e}")],
            }
        })
        .join()
        .unwrap_or_else(|_| vec!["deleting what this run made in authentik panicked".into()]);
        for line in lines {
            crate::say!("ak-e2e: {line}");
        }
    }
}

/// Deletes the leftovers of earlier runs that were killed, of every kind: twins (application,
/// then provider) and copies of users. Answers one line per object swept.
pub async fn sweep(api: &AdminApi) -> Result<Vec<String>, ApiError> {
    let now = ak_protocol::time::now_secs();
    let mut lines = Vec::new();
    let mut sweep_one = async |what: &str, name: &str, path: String, why: String| {
        // One that cannot be deleted is said, and the sweep goes on.
        match api.delete(&path).await {
            Ok(()) => lines.push(format!("swept {what} {name}, {why}")),
            Err(e) => lines.push(format!("could not sweep {what} {name} ({why}): {e}")),
        }
    };
    let prefix = Kind::Twin.prefix();
    // Twin applications: those the list shows (all of them for a superuser's token) and those
    // twin providers name (a token of a role sees only the applications its user may open).
    let query = [("search", prefix), ("superuser_full_list", "true")];
    let apps: Vec<admin::Application> = api.all(path::APPLICATIONS, &query).await?;
    let providers: Vec<admin::OAuth2Provider> = api.all(path::OAUTH2_PROVIDERS, &[("search", prefix)]).await?;
    let mut slugs: Vec<String> = apps.into_iter().map(|a| a.slug).collect();
    slugs.extend(providers.iter().filter_map(|p| p.other.get("assigned_application_slug")?.as_str().map(String::from)));
    slugs.sort();
    slugs.dedup();
    for slug in slugs {
        if let Some(why) = stale(&slug, Kind::Twin, now) {
            sweep_one("the twin application", &slug, path::one(path::APPLICATIONS, &slug), why).await;
        }
    }
    for provider in providers {
        if let Some(why) = stale(&provider.name, Kind::Twin, now) {
            let path = path::one(path::OAUTH2_PROVIDERS, provider.pk);
            sweep_one("the twin provider", &provider.name, path, why).await;
        }
    }
    let users: Vec<admin::User> = api.all(path::USERS, &[("search", Kind::Copy.prefix())]).await?;
    for user in users {
        if let Some(why) = stale(&user.username, Kind::Copy, now) {
            sweep_one("the throwaway user", &user.username, path::one(path::USERS, user.pk), why).await;
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_host_process_and_time_and_only_dead_or_old_ones_are_stale() {
        let mine = name(Kind::Twin);
        assert!(mine.starts_with("ak-e2e-twin-"));
        assert!(mine.len() <= 50, "an application slug holds at most 50 characters: {mine}");
        let now = ak_protocol::time::now_secs();
        assert_eq!(stale(&mine, Kind::Twin, now), None, "this process's own");
        assert_eq!(stale(&mine, Kind::Copy, now), None, "another kind");
        assert_eq!(stale("ak-e2e-twin-by-hand", Kind::Twin, now), None, "not stamped");
        // A process id above the kernel's maximum is never running.
        let dead = format!("ak-e2e-twin-{}-4999999-{now}-abcd", host_tag());
        assert!(stale(&dead, Kind::Twin, now).is_some_and(|w| w.contains("4999999")));
        let foreign_new = format!("ak-e2e-repro-zzzz-1-{now}-abcd");
        assert_eq!(stale(&foreign_new, Kind::Copy, now), None);
        let foreign_old = format!("ak-e2e-repro-zzzz-1-{}-abcd", now - 2 * FOREIGN_AGE_SECS);
        assert!(stale(&foreign_old, Kind::Copy, now).is_some());
    }
}
