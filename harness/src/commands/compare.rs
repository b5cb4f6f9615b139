//! `ak-e2e compare BASE.json CANDIDATE.json`: what changed between two runs, scenario by
//! scenario and driver by driver — the verdict, the claims ChatGPT received (the subject above
//! all), the authentik stages the login went through, the shape of the hop chain, the time — and
//! each application's discovery document. For an authentik upgrade (current vs candidate), a
//! configuration change (before vs after), or the stand-in vs real authentik.
//!
//! Every change is a regression but these notes: a scenario only one report has, and a run more
//! than twice as slow (one run's time is too noisy to fail on). The exit code is 4 when there is
//! a regression.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::result::{RunReport, ScenarioResult, Status};

/// A run this much slower (and by at least [`SLOWER_BY_MS`]) is noted.
const SLOWER_FACTOR: u64 = 2;
const SLOWER_BY_MS: u64 = 1000;

/// One thing that changed for a scenario under a driver.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Its verdict.
    Verdict { from: Status, to: Status },
    /// The `sub` ChatGPT received.
    Subject { source: String, from: Value, to: Value },
    /// Another claim: added, removed or with another value.
    Claim { source: String, claim: String, from: Option<Value>, to: Option<Value> },
    /// The authentik stages the login went through.
    Stages { from: Vec<String>, to: Vec<String> },
    /// The hop chain: method, what the URL is, status.
    Hops { from: Vec<String>, to: Vec<String> },
    /// The time it took.
    Slower { from_ms: u64, to_ms: u64 },
    /// Only the base has it.
    Gone,
    /// Only the candidate has it.
    New,
}

impl Change {
    /// Whether this change counts against the candidate.
    pub fn regression(&self) -> bool {
        match self {
            Change::Verdict { to, .. } => !matches!(to, Status::Passed | Status::ExpectedFailure),
            Change::Gone | Change::New | Change::Slower { .. } => false,
            _ => true,
        }
    }

    /// The change in one line.
    pub fn describe(&self) -> String {
        let shown = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_string(), Value::to_string);
        match self {
            Change::Verdict { from, to } => format!("verdict {} → {}", status(*from), status(*to)),
            Change::Subject { source, from, to } => format!(
                "the subject (`sub` in the {source}) changed: {from} → {to}; ChatGPT keys accounts by it (WorkOS's idp_id), so people would be detached from their accounts or get second ones"
            ),
            Change::Claim { source, claim, from, to } => {
                format!("{source} claim `{claim}`: {} → {}", shown(from), shown(to))
            }
            Change::Stages { from, to } => {
                format!("authentik stages: {} → {}", stages(from), stages(to))
            }
            Change::Hops { from, to } => {
                let at = from.iter().zip(to).position(|(a, b)| a != b).unwrap_or(from.len().min(to.len()));
                let hop = |list: &[String]| list.get(at).map_or_else(|| "(none)".to_string(), |h| format!("`{h}`"));
                format!(
                    "hop chain ({} → {} hops) first differs at hop {}: {} → {}",
                    from.len(),
                    to.len(),
                    at + 1,
                    hop(from),
                    hop(to)
                )
            }
            Change::Slower { from_ms, to_ms } => format!("slower: {from_ms} ms → {to_ms} ms"),
            Change::Gone => "only in the base run".to_string(),
            Change::New => "only in the candidate run".to_string(),
        }
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Errored => "errored",
        Status::ExpectedFailure => "expected failure",
        Status::UnexpectedPass => "unexpected pass",
    }
}

fn stages(list: &[String]) -> String {
    if list.is_empty() {
        return "(none)".to_string();
    }
    format!("[{}]", list.iter().map(|s| s.trim_start_matches("ak-stage-")).collect::<Vec<_>>().join(", "))
}

/// The changes of one scenario under one driver.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioChanges {
    /// The scenario file.
    pub file: String,
    /// `api` or `browser`.
    pub driver: String,
    /// Its name.
    pub name: String,
    /// What changed.
    pub changes: Vec<Change>,
}

impl ScenarioChanges {
    fn of(run: &ScenarioResult, changes: Vec<Change>) -> Self {
        Self { file: run.file.clone(), driver: run.driver.as_str().to_string(), name: run.name.clone(), changes }
    }
}

/// A change in an application's discovery document.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryChange {
    /// The application's slug.
    pub application: String,
    /// The member of the discovery document (`issuer`, `scopes_supported`, …).
    pub member: String,
    /// Its value in the base run.
    pub from: Option<Value>,
    /// Its value in the candidate run.
    pub to: Option<Value>,
}

/// Two runs compared.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The base run's target.
    pub base: String,
    /// The candidate run's target.
    pub candidate: String,
    /// Scenarios with a change, in the base run's order.
    pub scenarios: Vec<ScenarioChanges>,
    /// Discovery document changes.
    pub discovery: Vec<DiscoveryChange>,
    /// How many changes are regressions.
    pub regressions: usize,
    /// Scenario runs found in both with nothing changed.
    pub unchanged: usize,
}

/// The largest report read: a whole suite under both drivers is well under 10 MiB.
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a JSON report, or says which file and why not: only a regular file (a pipe or a device
/// would block or never end), at most [`MAX_REPORT_BYTES`].
pub fn read(path: &Path) -> Result<RunReport, String> {
    use std::io::Read as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file (a JSON report is one)"));
    }
    if meta.len() > MAX_REPORT_BYTES {
        return Err(format!("{shown} is larger than {} MiB: not an ak-e2e JSON report", MAX_REPORT_BYTES >> 20));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REPORT_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{shown} is not an ak-e2e JSON report: {e}"))
}

/// Compares two runs.
pub fn compare(base: &RunReport, candidate: &RunReport) -> Comparison {
    let key = |s: &ScenarioResult| (s.file.clone(), s.driver.as_str().to_string());
    let theirs: BTreeMap<_, _> = candidate.scenarios.iter().map(|s| (key(s), s)).collect();
    let ours: BTreeSet<_> = base.scenarios.iter().map(key).collect();
    let mut scenarios = Vec::new();
    let mut unchanged = 0;
    for b in &base.scenarios {
        // A report of a version without `stages` says nothing about them: not a change.
        let stages_known = base.schema >= 1 && candidate.schema >= 1;
        let changes = match theirs.get(&key(b)) {
            Some(c) => scenario_changes(b, c, &base.authentik, &candidate.authentik, stages_known),
            None => vec![Change::Gone],
        };
        if changes.is_empty() {
            unchanged += 1;
        } else {
            scenarios.push(ScenarioChanges::of(b, changes));
        }
    }
    for c in candidate.scenarios.iter().filter(|c| !ours.contains(&key(c))) {
        scenarios.push(ScenarioChanges::of(c, vec![Change::New]));
    }
    let discovery = discovery_changes(&base.discovery, &candidate.discovery);
    let regressions = scenarios.iter().flat_map(|s| &s.changes).filter(|c| c.regression()).count() + discovery.len();
    Comparison {
        base: base.target.clone(),
        candidate: candidate.target.clone(),
        scenarios,
        discovery,
        regressions,
        unchanged,
    }
}

fn scenario_changes(
    b: &ScenarioResult,
    c: &ScenarioResult,
    b_url: &str,
    c_url: &str,
    stages_known: bool,
) -> Vec<Change> {
    let mut changes = Vec::new();
    if b.status != c.status {
        changes.push(Change::Verdict { from: b.status, to: c.status });
    }
    if let (Some(bc), Some(cc)) = (&b.claims, &c.claims) {
        let set = |claims: &Option<Map<String, Value>>| claims.clone().map_or(Value::Null, Value::Object);
        for (b_set, c_set, source) in
            [(&bc.id_token, &cc.id_token, "ID token"), (&bc.userinfo, &cc.userinfo, "userinfo")]
        {
            claim_changes(&set(b_set), &set(c_set), source, (b_url, c_url), &mut changes);
        }
    }
    if stages_known && b.stages != c.stages {
        changes.push(Change::Stages { from: b.stages.clone(), to: c.stages.clone() });
    }
    let (bh, ch) = (hop_shape(&b.hops, b_url), hop_shape(&c.hops, c_url));
    if bh != ch {
        changes.push(Change::Hops { from: bh, to: ch });
    }
    if c.duration_ms > b.duration_ms.saturating_mul(SLOWER_FACTOR) && c.duration_ms - b.duration_ms >= SLOWER_BY_MS {
        changes.push(Change::Slower { from_ms: b.duration_ms, to_ms: c.duration_ms });
    }
    changes
}

/// The members of two objects whose values differ, by name, with the values (`None`: absent);
/// `same` says whether two values of a member count as equal.
fn differing(
    b: &Map<String, Value>,
    c: &Map<String, Value>,
    same: impl Fn(&str, Option<&Value>, Option<&Value>) -> bool,
) -> Vec<(String, Option<Value>, Option<Value>)> {
    let names: BTreeSet<&String> = b.keys().chain(c.keys()).collect();
    names
        .into_iter()
        .filter(|name| !same(name, b.get(*name), c.get(*name)))
        .map(|name| (name.clone(), b.get(name).cloned(), c.get(name).cloned()))
        .collect()
}

/// Claims with the run's authentik URL as a placeholder, and those that change on every login
/// (`jti`, `exp`, …) as `<volatile>`: they are compared, and shown, by presence only.
fn placeheld(claims: &Map<String, Value>, authentik: &str) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| {
            let value = if ak_protocol::placeholders::changes_every_login(k) {
                Value::String("<volatile>".into())
            } else {
                ak_protocol::placeholders::normalise(v, &[(authentik, "<authentik>/")])
            };
            (k.clone(), value)
        })
        .collect()
}

fn claim_changes(b: &Value, c: &Value, source: &str, (b_url, c_url): (&str, &str), out: &mut Vec<Change>) {
    let (Some(b), Some(c)) = (b.as_object(), c.as_object()) else { return };
    for (name, from, to) in differing(&placeheld(b, b_url), &placeheld(c, c_url), |_, from, to| from == to) {
        match (name.as_str(), from, to) {
            ("sub", Some(from), Some(to)) => out.push(Change::Subject { source: source.to_string(), from, to }),
            (_, from, to) => out.push(Change::Claim { source: source.to_string(), claim: name, from, to }),
        }
    }
}

/// Each hop as `METHOD what STATUS`: what the URL is (`authentik.authorize`), or its path.
fn hop_shape(hops: &[crate::result::Hop], authentik: &str) -> Vec<String> {
    hops.iter()
        .map(|h| {
            let what = h.kind.map(|k| k.as_str().to_string()).unwrap_or_else(|| {
                let bare = h.url.split('?').next().unwrap_or_default();
                match bare.strip_prefix(authentik).filter(|_| !authentik.is_empty()) {
                    Some(rest) => format!("<authentik>/{rest}"),
                    None => url::Url::parse(bare).map(|u| u.path().to_string()).unwrap_or_else(|_| bare.to_string()),
                }
            });
            format!("{} {what} {}", h.method, h.status)
        })
        .collect()
}

fn discovery_changes(b: &BTreeMap<String, Value>, c: &BTreeMap<String, Value>) -> Vec<DiscoveryChange> {
    let mut out = Vec::new();
    for (application, bd) in b {
        let Some(cd) = c.get(application) else { continue };
        let (Some(bm), Some(cm)) = (bd.as_object(), cd.as_object()) else { continue };
        for (member, from, to) in differing(bm, cm, |_, from, to| from == to) {
            out.push(DiscoveryChange { application: application.clone(), member, from, to });
        }
    }
    out
}

/// The comparison for the console.
pub fn render_text(c: &Comparison) -> String {
    let mut out = format!("ak-e2e compare: {} (base) → {} (candidate)\n", c.base, c.candidate);
    // A change seen in several runs (a new claim in every login) is said once, with how many.
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for s in &c.scenarios {
        for change in &s.changes {
            let mark = if change.regression() { "regressed" } else { "note" };
            let line = format!("{mark}: {}", change.describe());
            let run = format!("[{}] {} ({})", s.driver, s.name, s.file);
            match seen.iter_mut().find(|(l, _)| *l == line) {
                Some((_, runs)) => runs.push(run),
                None => seen.push((line, vec![run])),
            }
        }
    }
    for (line, runs) in &seen {
        match runs.as_slice() {
            [one] => out.push_str(&format!("  {one}\n    {line}\n")),
            many => {
                out.push_str(&format!("  in {} runs: {}\n    {line}\n", many.len(), many.join(", ")));
            }
        }
    }
    for d in &c.discovery {
        out.push_str(&format!("  discovery of `{}`: {}\n", d.application, discovery_line(d)));
    }
    let verdict = match c.regressions {
        0 => "no regression".to_string(),
        n => format!("{n} regression(s)"),
    };
    out.push_str(&format!(
        "{verdict}; {} scenario run(s) with changes, {} unchanged, {} discovery change(s)\n",
        c.scenarios.len(),
        c.unchanged,
        c.discovery.len()
    ));
    out
}

fn discovery_line(d: &DiscoveryChange) -> String {
    let shown = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_string(), Value::to_string);
    format!("`{}`: {} → {}", d.member, shown(&d.from), shown(&d.to))
}

/// The comparison as one self-contained HTML page.
pub fn render_html(c: &Comparison) -> String {
    use crate::report::html::esc;
    let mut rows = String::new();
    for s in &c.scenarios {
        for change in &s.changes {
            let class = if change.regression() { "regressed" } else { "note" };
            rows.push_str(&format!(
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{class}</td><td>{}</td></tr>\n",
                esc(&s.file),
                esc(&s.driver),
                esc(&change.describe())
            ));
        }
    }
    for d in &c.discovery {
        rows.push_str(&format!(
            "<tr class=\"regressed\"><td>discovery of {}</td><td></td><td>regressed</td><td>{}</td></tr>\n",
            esc(&d.application),
            esc(&discovery_line(d))
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ak-e2e compare</title><style>\
         body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}\
         .regressed td:nth-child(3){{color:#b00;font-weight:bold}}</style></head><body>\n\
         <h1>{} (base) → {} (candidate)</h1>\n<p data-testid=\"summary\">{} regression(s); {} unchanged</p>\n\
         <table><tr><th>scenario</th><th>driver</th><th></th><th>change</th></tr>\n{rows}</table></body></html>\n",
        esc(&c.base),
        esc(&c.candidate),
        c.regressions,
        c.unchanged
    )
}
