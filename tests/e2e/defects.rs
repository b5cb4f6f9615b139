//! The defect matrix: the suite, run against the stand-in once per defect, must fail, and the
//! scenario expected to catch the defect must fail with a diagnosis naming its symptom. The clean
//! run must pass. Run with `--nocapture` to print the matrix.

use std::process::Command;

use super::{BIN, root};

/// (defect, the scenario that catches it, what its diagnosis must contain)
const MATRIX: &[(&str, &str, &str)] = &[
    ("drop-claim=family_name", "scenarios/chatgpt/login.yaml", "ID token claim `family_name`"),
    ("rename-claim=email:mail", "scenarios/chatgpt/login.yaml", "ID token claim `email`"),
    ("issuer-no-trailing-slash", "scenarios/chatgpt/login.yaml", "ID token claim `iss`"),
    ("issuer-other-scheme", "scenarios/chatgpt/login.yaml", "discovery_issuer_mismatch"),
    ("unpublished-key", "scenarios/chatgpt/login.yaml", "id_token_unknown_kid"),
    ("alg-none", "scenarios/chatgpt/login.yaml", "id_token_alg_none"),
    ("hs256", "scenarios/chatgpt/login.yaml", "id_token_alg_not_allowed"),
    ("expired-id-token", "scenarios/chatgpt/login.yaml", "id_token_expired"),
    ("no-nonce", "scenarios/chatgpt/login.yaml", "nonce_mismatch"),
    ("accept-any-redirect-uri", "scenarios/chatgpt/redirect-uri-not-registered.yaml", "expected no redirect"),
    ("access-denied", "scenarios/chatgpt/login.yaml", "error=`access_denied`"),
    // "authentik did not answer ChatGPT in time (timed out): POST …/token/ …"; on a machine too
    // busy for ChatGPT to answer its callback in the deadline's last third, the callback's own
    // timeout, which the diagnosis names instead.
    ("delay=token:5000", "scenarios/chatgpt/login.yaml", "timed out"),
    ("token-500", "scenarios/chatgpt/login.yaml", "token_endpoint_error"),
    ("executor-502", "scenarios/chatgpt/login.yaml", "authentik's flow executor answered 502"),
    ("malformed-discovery", "scenarios/chatgpt/login.yaml", "discovery_malformed"),
    ("reusable-codes", "scenarios/protocol/code-reuse.yaml", "invalid_grant"),
    ("consent-token-ignored", "scenarios/chatgpt/forged-consent.yaml", "expected ak-stage-consent"),
    ("host-not-forwarded", "scenarios/chatgpt/passkey.yaml", "RP ID `authentik-server`"),
    ("no-passkey-login", "scenarios/chatgpt/passkey-first-factor.yaml", "offers no passkey sign-in"),
    (
        "throttled-recovery-codes",
        "scenarios/chatgpt/recovery-code.yaml",
        "and which their static device still holds: the device is throttled",
    ),
    (
        "reusable-recovery-codes",
        "scenarios/chatgpt/recovery-code.yaml",
        "actual ChatGPT's conversation page, signed in",
    ),
];

/// Defects of what the admin API shows, not of the login: `doctor` catches them
/// (`own_application::doctor_finds_each_misconfiguration_of_the_variants_and_none_in_the_corrected_application`).
const DOCTOR: &[&str] = &["certificate-expires"];

/// Defects the fidelity corpus catches: an answer that drifts from real authentik's
/// (`fidelity::a_drifted_answer_is_caught_and_named`).
const FIDELITY: &[&str] = &["passkey-counter-ignored"];

/// Defects of what only a browser loads (the flow page's HTML): the browser driver catches them
/// (`browser::a_dripping_flow_page_ends_the_browser_run_naming_it`,
/// `browser::a_covered_button_is_named_with_what_covers_it`,
/// `browser::a_recovery_code_the_page_refuses_is_named_without_the_code`).
const BROWSER: &[&str] = &["drip-flow-page", "cover-flow", "digits-only-codes"];

/// Runs the whole suite (api driver) with these defects; returns the exit code and the report.
fn suite(defects: &[&str]) -> (i32, serde_json::Value) {
    let report = std::env::temp_dir().join(format!("ak-e2e-matrix-{}.json", ak_protocol::jose::random_token(6)));
    let artifacts = std::env::temp_dir().join(format!("ak-e2e-matrix-{}", ak_protocol::jose::random_token(6)));
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root())
        .args(["run", "--driver", "api"])
        .env("CI", "true")
        .env("AK_E2E_REQUEST_TIMEOUT_SECS", "2")
        .env("AK_E2E_REPORT_JSON", &report)
        .env("AK_E2E_ARTIFACTS", &artifacts);
    for d in defects {
        cmd.args(["--defect", d]);
    }
    let output = cmd.output().expect("run ak-e2e");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report; output:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_file(&report);
    let _ = std::fs::remove_dir_all(&artifacts);
    (output.status.code().unwrap_or(-1), serde_json::from_str(&text).expect("JSON report"))
}

#[test]
fn every_defect_is_caught_by_its_scenario_with_the_right_diagnosis() {
    // Every defect of the stand-in is in the matrix.
    let names: Vec<&str> =
        authentik_standin::defects::CATALOGUE.iter().map(|(n, _)| n.split('=').next().unwrap_or(n)).collect();
    for name in &names {
        assert!(
            MATRIX.iter().any(|(d, _, _)| d.split('=').next() == Some(name))
                || DOCTOR.contains(name)
                || FIDELITY.contains(name)
                || BROWSER.contains(name),
            "defect `{name}` is in no row of the matrix"
        );
    }

    let (code, clean) = suite(&[]);
    assert_eq!(code, 0, "the clean run passes: {}", clean["summary"]);

    let mut table = String::from("| defect | caught by | diagnosis |\n|---|---|---|\n");
    let mut missed = Vec::new();
    for (defect, file, symptom) in MATRIX {
        let (code, report) = suite(&[defect]);
        let scenario = report["scenarios"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["file"] == *file))
            .cloned()
            .unwrap_or_default();
        let diagnosis = scenario["diagnosis"].as_str().unwrap_or("").to_string();
        let caught = code != 0
            && matches!(scenario["status"].as_str(), Some("failed" | "errored"))
            && diagnosis.contains(symptom);
        if !caught {
            missed.push(format!("{defect}: exit {code}, {file} {} — {diagnosis}", scenario["status"]));
        }
        let short: String = diagnosis.chars().take(140).collect();
        table.push_str(&format!("| `{defect}` | `{file}` | {} |\n", short.replace('|', "\\|")));
    }
    println!("{table}");
    assert!(missed.is_empty(), "defects not caught as expected:\n{}", missed.join("\n"));
}

/// authentik's token endpoint does not answer ChatGPT: under both drivers the run is an error
/// of the target (exit 3) saying it timed out and where, not a verdict on the settings.
#[test]
fn a_token_endpoint_that_does_not_answer_chatgpt_is_a_timeout() {
    for case in ["pass", "browser-pass"] {
        let env = [("AK_E2E_DEFECTS", "delay=token:600000"), ("AK_E2E_REQUEST_TIMEOUT_SECS", "2")];
        let (code, output) = super::run(case, &env);
        assert_eq!(code, 3, "{case}: {output}");
        // ChatGPT's own deadline is shorter than the run's, so that it answers the callback in time.
        let said = "authentik did not answer ChatGPT in time (timed out): POST http://localhost:<port>/application/o/token/ \
                    failed: timed out after ";
        assert!(output.contains(said), "{case}: {output}");
        assert!(output.contains("without an answer (ChatGPT stopped at `token_endpoint_error`)"), "{case}: {output}");
    }
}

/// A recovery code no run typed before, refused: the admin API's view of the user's static device
/// tells the causes apart. Still held: the device is throttled; gone: it was used elsewhere;
/// without the admin API both are named, with what would tell them apart.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recovery_code_is_told_apart_by_the_codes_authentik_still_holds() {
    use ak_e2e::drive::recovery::refusal;
    use ak_protocol::secret::Secret;
    use authentik_standin::{AuthentikStandIn, Options};
    let env: std::collections::HashMap<String, String> = [
        ("AK_E2E_CLIENT_SECRET", "s"),
        ("AK_E2E_ANN_PASSWORD", "a"),
        ("AK_E2E_BOB_PASSWORD", "b"),
        ("AK_E2E_TIA_PASSWORD", "t"),
        ("AK_E2E_PIA_PASSWORD", "p"),
        ("AK_E2E_REX_PASSWORD", "r"),
        ("AK_E2E_CHATGPT_REDIRECT_URI", "http://127.0.0.1:1/callback"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let token = Secret::new("refusal-test-token");
    let options = Options::new()
        .env(env)
        .api_token(token.clone())
        .recovery_codes("ak-e2e-rex", vec![Secret::new("heldcode1")])
        .blueprint_file(root().join("blueprints/chatgpt.yaml"))
        .expect("blueprint");
    let server = AuthentikStandIn::start(options).await.expect("stand-in");
    let api = ak_e2e::environment::admin_api::AdminApi::new(server.url(), token, std::time::Duration::from_secs(10))
        .map(Some);
    let (held, hint, still) = refusal(&api, "ak-e2e-rex", "heldcode1").await;
    assert!(held.contains("which their static device still holds: the device is throttled"), "{held}");
    assert!(still && hint.contains("a new static device starts unlocked"), "{hint}");
    let (gone, hint, still) = refusal(&api, "ak-e2e-rex", "spentcode").await;
    assert!(gone.contains("which their static device no longer holds: it was used elsewhere"), "{gone}");
    assert!(!still && hint.contains("`ak-e2e provision` enrolls new codes"), "{hint}");
    let (unknown, hint, _) = refusal(&Ok(None), "ak-e2e-rex", "heldcode1").await;
    assert!(unknown.contains("the admin API tells the two apart, and could not be asked"), "{unknown}");
    assert!(hint.contains("AK_E2E_AUTHENTIK_TOKEN"), "{hint}");
    for said in [&held, &gone, &unknown] {
        assert!(!said.contains("heldcode1") && !said.contains("spentcode"), "no code in a diagnosis: {said}");
    }
}
