//! `ak-e2e compare` on runs of the embedded target: two clean runs compare clean; a stand-in
//! defect, a changed subject mode, an explicit-consent authorization flow and a changed discovery
//! document are each reported as the regression they are.

use std::path::{Path, PathBuf};

use crate::{root, run_args};

/// Runs `login.yaml` under the api driver, optionally with a changed default provider (an edit
/// of `blueprints/chatgpt.yaml`) or defects, and returns its JSON report.
fn login_report(dir: &Path, name: &str, provider_edit: Option<(&str, &str)>, defects: &str) -> PathBuf {
    let report = dir.join(format!("{name}.json"));
    let mut args = vec!["run".to_string()];
    if let Some((from, to)) = provider_edit {
        let blueprint = std::fs::read_to_string(root().join("blueprints/chatgpt.yaml")).expect("blueprint");
        assert!(blueprint.contains(from), "the blueprint has `{from}`");
        let edited = dir.join(format!("{name}-chatgpt.yaml"));
        std::fs::write(&edited, blueprint.replacen(from, to, 1)).expect("write");
        let config = std::fs::read_to_string(root().join("ak-e2e.yaml")).expect("config");
        let config_file = dir.join(format!("{name}-ak-e2e.yaml"));
        std::fs::write(&config_file, config.replacen("blueprints/chatgpt.yaml", &edited.display().to_string(), 1))
            .expect("write");
        args.extend(["--config".to_string(), config_file.display().to_string()]);
    }
    args.extend(["--driver", "api", "scenarios/chatgpt/login.yaml", "--report-json"].map(String::from));
    args.push(report.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, output) = run_args(&args, &[("AK_E2E_DEFECTS", defects)]);
    assert!(report.is_file(), "{output}");
    report
}

fn compare(base: &Path, candidate: &Path, extra: &[&str]) -> (i32, String) {
    let (base, candidate) = (base.display().to_string(), candidate.display().to_string());
    run_args(&[&["compare", base.as_str(), candidate.as_str()][..], extra].concat(), &[])
}

#[test]
fn compare_names_each_change_and_nothing_for_two_clean_runs() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-compare-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let base = login_report(&dir, "base", None, "");

    let again = login_report(&dir, "again", None, "");
    let (code, output) = compare(&base, &again, &[]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.ends_with("no regression; 0 scenario run(s) with changes, 1 unchanged, 0 discovery change(s)\n"),
        "{output}"
    );

    let dropped = login_report(&dir, "dropped", None, "drop-claim=family_name");
    let (html, json) = (dir.join("compare.html"), dir.join("compare.json"));
    let (code, output) =
        compare(&base, &dropped, &["--html", &html.display().to_string(), "--json", &json.display().to_string()]);
    assert_eq!(code, 4, "{output}");
    assert!(output.contains("regressed: verdict passed → failed"), "{output}");
    assert!(output.contains("regressed: ID token claim `family_name`: \"Lee\" → (absent)"), "{output}");
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("ID token claim `family_name`: &quot;Lee&quot; → (absent)"), "{page}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    assert!(written["regressions"].as_u64().unwrap_or(0) >= 2, "{written}");

    let email_subject = login_report(
        &dir,
        "email-subject",
        Some(("client_type: confidential", "client_type: confidential\n      sub_mode: user_email")),
        "",
    );
    let (code, output) = compare(&base, &email_subject, &[]);
    assert_eq!(code, 4, "{output}");
    assert!(output.contains("regressed: the subject (`sub` in the ID token) changed: "), "{output}");
    assert!(output.contains("→ \"ann@example.com\"; ChatGPT keys accounts by it"), "{output}");
    assert!(!output.contains("verdict"), "the login still passes: {output}");

    let consent = login_report(
        &dir,
        "consent",
        Some(("default-provider-authorization-implicit-consent", "default-provider-authorization-explicit-consent")),
        "",
    );
    let (code, output) = compare(&base, &consent, &[]);
    assert_eq!(code, 4, "{output}");
    assert!(
        output
            .contains("regressed: authentik stages: [identification, password] → [identification, password, consent]"),
        "{output}"
    );

    let scheme = login_report(&dir, "scheme", None, "issuer-other-scheme");
    let (code, output) = compare(&base, &scheme, &[]);
    assert_eq!(code, 4, "{output}");
    assert!(
        output.contains("discovery of `chatgpt`: `issuer`: \"<authentik>/application/o/chatgpt/\" → \"https://"),
        "{output}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_reads_older_reports_and_says_a_repeated_change_once() {
    let dir = std::env::temp_dir().join(format!("ak-e2e-compare-{}", ak_protocol::jose::random_token(6)));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let base = login_report(&dir, "base", None, "");
    let again = login_report(&dir, "again", None, "");
    // An older report (no schema, no stages) against a new one: its stages are unknown, not a
    // change; a claim's new presence in every run is said once, a volatile one by presence.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).expect("base")).expect("JSON");
    old.as_object_mut().expect("report").remove("schema");
    for run in old["scenarios"].as_array_mut().expect("runs") {
        run.as_object_mut().expect("run").remove("stages");
    }
    let old_file = dir.join("old.json");
    std::fs::write(&old_file, old.to_string()).expect("write");
    let (code, output) = compare(&old_file, &again, &[]);
    assert_eq!(code, 0, "{output}");
    let mut doubled: serde_json::Value = old.clone();
    let runs = doubled["scenarios"].as_array_mut().expect("runs");
    let mut second = runs[0].clone();
    second["file"] = serde_json::json!("scenarios/chatgpt/login-again.yaml");
    runs.push(second);
    for run in runs.iter_mut() {
        run["claims"]["id_token"].as_object_mut().expect("claims").remove("jti");
    }
    let mut new = doubled.clone();
    for run in new["scenarios"].as_array_mut().expect("runs") {
        run["claims"]["id_token"]["jti"] = serde_json::json!("a-random-value-of-this-login");
    }
    let (doubled_file, new_file) = (dir.join("doubled.json"), dir.join("new.json"));
    std::fs::write(&doubled_file, doubled.to_string()).expect("write");
    std::fs::write(&new_file, new.to_string()).expect("write");
    let (code, output) = compare(&doubled_file, &new_file, &[]);
    assert_eq!(code, 4, "{output}");
    assert_eq!(output.matches("ID token claim `jti`").count(), 1, "said once: {output}");
    assert!(output.contains("  in 2 runs: [api] "), "{output}");
    assert!(output.contains("ID token claim `jti`: (absent) → \"<volatile>\""), "{output}");
    assert!(!output.contains("a-random-value-of-this-login"), "{output}");

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_says_which_file_it_cannot_read() {
    let missing = std::env::temp_dir().join("ak-e2e-no-such-report.json");
    let (code, output) = compare(&missing, &missing, &[]);
    assert_eq!(code, 1, "{output}");
    assert!(output.starts_with(&format!("ak-e2e: error: cannot read {}", missing.display())), "{output}");
    // A pipe nobody writes to is refused at once, never waited on.
    let fifo = std::env::temp_dir().join(format!("ak-e2e-fifo-{}", ak_protocol::jose::random_token(6)));
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let (code, output) = compare(&fifo, &fifo, &[]);
    let _ = std::fs::remove_file(&fifo);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("is not a file (a JSON report is one)"), "{output}");
}
