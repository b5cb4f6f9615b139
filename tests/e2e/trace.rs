//! Trace bundles: `--trace DIR` writes one folder per scenario run, whose HAR file holds every
//! hop with headers and timings and validates against the HAR 1.2 structure, and in which no
//! secret appears (cookies, codes, tokens, passwords, the client secret).

use serde_json::Value;

use crate::{run_args, walk};

/// Secrets set for the run, so that the bundle can be searched for them.
const SECRETS: &[(&str, &str)] = &[
    ("AK_E2E_CLIENT_SECRET", "trace-test-client-secret-0451"),
    ("AK_E2E_WRONG_CLIENT_SECRET", "trace-test-wrong-secret-0451"),
    ("AK_E2E_ANN_PASSWORD", "trace-test-ann-password-0451"),
    ("AK_E2E_BOB_PASSWORD", "trace-test-bob-password-0451"),
    ("AK_E2E_TIA_PASSWORD", "trace-test-tia-password-0451"),
    ("AK_E2E_PIA_PASSWORD", "trace-test-pia-password-0452"),
    ("AK_E2E_REX_PASSWORD", "trace-test-rex-password-0453"),
];

/// `v[member]` is of JSON type `kind`, else a problem naming where.
fn need(problems: &mut Vec<String>, at: &str, v: &Value, member: &str, kind: &str) {
    let ok = match (kind, &v[member]) {
        ("string", Value::String(_)) | ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    };
    if !ok {
        problems.push(format!("{at}.{member}: not a {kind} ({})", v[member]));
    }
}

/// Checks `value` against the HAR 1.2 structure (softwareishard.com/blog/har-12-spec): every
/// required member there with its type. Returns the problems, each with its JSON path.
fn har_problems(har: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let log = &har["log"];
    need(&mut problems, "", har, "log", "object");
    need(&mut problems, "log", log, "version", "string");
    need(&mut problems, "log", log, "creator", "object");
    need(&mut problems, "log.creator", &log["creator"], "name", "string");
    need(&mut problems, "log.creator", &log["creator"], "version", "string");
    need(&mut problems, "log", log, "entries", "array");
    for (i, page) in log["pages"].as_array().into_iter().flatten().enumerate() {
        let at = format!("log.pages[{i}]");
        for (member, kind) in [("startedDateTime", "string"), ("id", "string"), ("title", "string")] {
            need(&mut problems, &at, page, member, kind);
        }
        need(&mut problems, &at, page, "pageTimings", "object");
    }
    let date = regex_lite::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$").expect("regex");
    for (i, e) in log["entries"].as_array().into_iter().flatten().enumerate() {
        let at = format!("log.entries[{i}]");
        need(&mut problems, &at, e, "startedDateTime", "string");
        if !date.is_match(e["startedDateTime"].as_str().unwrap_or_default()) {
            problems.push(format!("{at}.startedDateTime is not ISO 8601: {}", e["startedDateTime"]));
        }
        for (member, kind) in [("time", "number"), ("request", "object"), ("response", "object")] {
            need(&mut problems, &at, e, member, kind);
        }
        need(&mut problems, &at, e, "cache", "object");
        need(&mut problems, &at, e, "timings", "object");
        let rq = &e["request"];
        for (member, kind) in [
            ("method", "string"),
            ("url", "string"),
            ("httpVersion", "string"),
            ("cookies", "array"),
            ("headers", "array"),
            ("queryString", "array"),
            ("headersSize", "integer"),
            ("bodySize", "integer"),
        ] {
            need(&mut problems, &format!("{at}.request"), rq, member, kind);
        }
        let rs = &e["response"];
        for (member, kind) in [
            ("status", "integer"),
            ("statusText", "string"),
            ("httpVersion", "string"),
            ("cookies", "array"),
            ("headers", "array"),
            ("content", "object"),
            ("redirectURL", "string"),
            ("headersSize", "integer"),
            ("bodySize", "integer"),
        ] {
            need(&mut problems, &format!("{at}.response"), rs, member, kind);
        }
        need(&mut problems, &format!("{at}.response.content"), &rs["content"], "size", "integer");
        need(&mut problems, &format!("{at}.response.content"), &rs["content"], "mimeType", "string");
        for list in ["headers", "cookies", "queryString"] {
            for (part, v) in [("request", rq), ("response", rs)] {
                for (j, pair) in v[list].as_array().into_iter().flatten().enumerate() {
                    need(&mut problems, &format!("{at}.{part}.{list}[{j}]"), pair, "name", "string");
                    need(&mut problems, &format!("{at}.{part}.{list}[{j}]"), pair, "value", "string");
                }
            }
        }
        let t = &e["timings"];
        for member in ["send", "wait", "receive"] {
            need(&mut problems, &format!("{at}.timings"), t, member, "number");
        }
        for member in ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"] {
            if let Some(v) = t[member].as_f64()
                && v < 0.0
                && v != -1.0
            {
                problems.push(format!("{at}.timings.{member} is {v}: a time or -1"));
            }
        }
    }
    problems
}

/// What a bundle's HAR file says about cookies and credentials: only redacted values.
fn leaks(har: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for e in har["log"]["entries"].as_array().into_iter().flatten() {
        for part in ["request", "response"] {
            for h in e[part]["headers"].as_array().into_iter().flatten() {
                let (name, value) = (h["name"].as_str().unwrap_or_default(), h["value"].as_str().unwrap_or_default());
                let lower = name.to_ascii_lowercase();
                let credential =
                    ["cookie", "set-cookie", "authorization", "x-authentik-csrf"].contains(&lower.as_str());
                if credential {
                    let values = value.split(';').filter_map(|p| p.split_once('=')).filter(|(k, _)| {
                        !["path", "expires", "max-age", "domain", "samesite"]
                            .contains(&k.trim().to_ascii_lowercase().as_str())
                    });
                    if values.clone().any(|(_, v)| v != "[redacted]") || (!value.contains('=') && value != "[redacted]")
                    {
                        out.push(format!("{name}: {value}"));
                    }
                }
            }
            for c in e[part]["cookies"].as_array().into_iter().flatten() {
                if c["value"] != "[redacted]" {
                    out.push(format!("cookie {c}"));
                }
            }
        }
        for q in e["request"]["queryString"].as_array().into_iter().flatten() {
            if q["name"] == "code" && q["value"] != "[redacted]" {
                out.push(format!("code {q}"));
            }
        }
    }
    out
}

#[test]
fn every_run_gets_a_bundle_whose_har_validates_and_holds_no_secret() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-trace-{}", ak_protocol::jose::random_token(6)));
    let (trace, html) = (dir.join("trace"), dir.join("report.html"));
    let (trace_arg, html_arg) = (trace.display().to_string(), html.display().to_string());
    let args = ["run", "scenarios/chatgpt/login.yaml", "--driver", "both", "--trace", &trace_arg];
    let (code, output) = run_args(&[&args[..], &["--report-html", &html_arg]].concat(), SECRETS);
    assert_eq!(code, 0, "{output}");
    // The run's own folder below --trace's: a second run into the same folder gets another.
    let runs = || -> Vec<std::path::PathBuf> {
        let mut runs: Vec<_> = std::fs::read_dir(&trace).expect("trace folder").flatten().map(|e| e.path()).collect();
        runs.sort();
        runs
    };
    let first = runs();
    assert_eq!(first.len(), 1, "{first:?}");
    let run_folder = first[0].clone();
    let run_arg = run_folder.display().to_string();
    assert!(run_folder.file_name().is_some_and(|n| n.to_string_lossy().starts_with("run-")), "{run_arg}");
    assert!(output.contains(&format!("ak-e2e: trace bundles in {run_arg}\n")), "{output}");
    let trace = run_folder;

    for (folder, driver) in [("01-login-api", "api"), ("02-login-browser", "browser")] {
        let bundle = trace.join(folder);
        let har: Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("trace.har")).expect("HAR written"))
            .expect("the HAR file is JSON");
        assert_eq!(har_problems(&har), Vec::<String>::new(), "{driver}: not HAR 1.2");
        assert_eq!(har["log"]["version"], "1.2");
        assert_eq!(leaks(&har), Vec::<String>::new(), "{driver}: credentials in the HAR file");
        let entries = har["log"]["entries"].as_array().expect("entries");
        let result: Value =
            serde_json::from_str(&std::fs::read_to_string(bundle.join("result.json")).expect("result")).expect("json");
        assert_eq!(entries.len(), result["hops"].as_array().expect("hops").len(), "{driver}: one entry per hop");
        // The authorize request went out with headers and came back as a redirect with a
        // Location, in measured time.
        let authorize = entries
            .iter()
            .find(|e| e["comment"] == "authentik.authorize" && e["response"]["status"] == 302)
            .unwrap_or_else(|| panic!("{driver}: no authorize redirect in {har:#}"));
        assert!(!authorize["request"]["headers"].as_array().expect("headers").is_empty(), "{driver}: {authorize:#}");
        assert!(
            authorize["response"]["redirectURL"].as_str().is_some_and(|l| l.contains("/if/flow/")),
            "{authorize:#}"
        );
        assert!(authorize["timings"]["wait"].as_f64().is_some_and(|w| w > 0.0), "{driver}: {authorize:#}");
        // authentik set its session cookie: the name is shown, the value is not.
        let set = entries.iter().flat_map(|e| e["response"]["cookies"].as_array().cloned().unwrap_or_default());
        assert!(set.clone().any(|c| c["name"] == "authentik_session"), "{driver}: no session cookie named");
        // ChatGPT's callback got a code: redacted.
        let callback = entries.iter().find(|e| e["comment"] == "chatgpt.callback").expect("callback");
        assert!(callback["request"]["url"].as_str().is_some_and(|u| u.contains("code=[redacted]&")), "{callback:#}");

        let claims: Value =
            serde_json::from_str(&std::fs::read_to_string(bundle.join("claims.json")).expect("claims")).expect("json");
        assert_eq!(claims["id_token"]["email"], "ann@example.com");
        assert!(bundle.join("scenario-login.yaml").is_file());
        for file in walk(&bundle) {
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            for (var, secret) in SECRETS {
                assert!(!text.contains(secret), "{var}'s value in {}", file.display());
            }
            assert!(!text.contains("eyJ"), "a token in {}", file.display());
        }
    }
    // The browser's bundle has its stage screenshots, the final page and the console.
    let names: Vec<String> = walk(&trace.join("02-login-browser"))
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for wanted in ["final.html", "console.log"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    assert!(names.iter().filter(|n| n.ends_with(".png")).count() >= 3, "{names:?}");
    // The HTML report links each bundle and its HAR file.
    let page = std::fs::read_to_string(&html).expect("html report");
    assert!(page.contains(&format!("{run_arg}/01-login-api/trace.har")), "no link in the HTML report");

    // Again into the same folder: a new run folder, the first one's files as they were.
    let before = std::fs::read(trace.join("01-login-api/trace.har")).expect("first HAR");
    let (code, output) =
        run_args(&["run", "scenarios/chatgpt/login.yaml", "--driver", "api", "--trace", &trace_arg], SECRETS);
    assert_eq!(code, 0, "{output}");
    assert_eq!(runs().len(), 2, "a second run folder");
    assert_eq!(std::fs::read(trace.join("01-login-api/trace.har")).expect("first HAR"), before);
    let _ = std::fs::remove_dir_all(&dir);
}
