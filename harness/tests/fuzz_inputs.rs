//! A bounded, seeded fuzz of what users write: the scenario parser and the config loader get
//! thousands of mutants of the project's own files (`scenarios/`, `ak-e2e.yaml`) and of a few
//! hostile seeds (nested aliases, deep nesting, bad bytes). Whatever comes in: no panic, no
//! abort, every scenario error at a file:line:col inside the file, every config error naming the
//! config file, and memory bounded. `AK_E2E_FUZZ_CASES` raises the count for a longer run.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use ak_e2e::config::{Flags, Settings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cases(default: usize) -> usize {
    std::env::var("AK_E2E_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seeds_from(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            seeds_from(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(std::fs::read(&path).expect("read seed"));
        }
    }
}

/// Hostile inputs no real file looks like.
fn hostile() -> Vec<Vec<u8>> {
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        laughs.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
    }
    laughs.push_str("name: *a9\nsteps: *a9\n");
    vec![
        laughs.into_bytes(),
        format!("name: x\nsteps: {}1{}\n", "[".repeat(500), "]".repeat(500)).into_bytes(),
        format!("name: x\nsteps:\n{}", "  - expect_landing: conversation\n".repeat(2000)).into_bytes(),
        b"name: \xff\xfe\nsteps: []\n".to_vec(),
        b"\0\0\0".to_vec(),
        b"--- !!binary |\n  R0lGODlh\n---\n...\n".to_vec(),
        format!("name: {}\n", "x".repeat(300_000)).into_bytes(),
    ]
}

const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "\t",
    "\0",
    "---\n",
    "...\n",
    "!!binary ",
    "!Env ",
    "? ",
    "|\n",
    ">-\n",
    "'",
    "\"",
    "\\",
    "\u{feff}",
    "\u{10ffff}",
    "#",
    "%YAML 1.2\n",
    "<<: *a\n",
    "{{ users.",
    "}}",
    "\r",
    "~",
    "0x",
    "1e999",
    "-9223372036854775809",
];

/// One mutant of `seed`: a few random edits, or a splice of two seeds.
fn mutate(rng: &mut StdRng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = if out.is_empty() { 0 } else { rng.gen_range(0..=out.len()) };
        match rng.gen_range(0..6) {
            0 if !out.is_empty() => {
                let i = rng.gen_range(0..out.len());
                out[i] = rng.r#gen();
            }
            1 => {
                let end = (at + rng.gen_range(0..40)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.gen_range(0..200)).min(out.len());
                let copy: Vec<u8> = out[at..end].to_vec();
                let times = rng.gen_range(1..20);
                for _ in 0..times {
                    out.splice(at..at, copy.iter().copied());
                }
            }
            4 if !other.is_empty() => {
                let from = rng.gen_range(0..other.len());
                let end = (from + rng.gen_range(0..300)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn the_scenario_parser_survives_any_input() {
    let mut seeds = Vec::new();
    seeds_from(&root().join("scenarios"), &mut seeds);
    assert!(seeds.len() >= 10, "seeded from the suite");
    seeds.extend(hostile());
    let mut rng = StdRng::seed_from_u64(SEED);
    let dir = std::env::temp_dir().join(format!("ak-e2e-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("fuzzed.yaml");
    let n = cases(10_000);
    let mut errors = 0;
    for case in 0..n {
        let seed = &seeds[case % seeds.len()];
        let other = &seeds[rng.gen_range(0..seeds.len())];
        let input = if case < seeds.len() { seed.clone() } else { mutate(&mut rng, seed, other) };
        let text = String::from_utf8_lossy(&input).into_owned();
        let lines = ak_e2e::diagnostic::source_lines(&text).count() + 1;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let result = ak_e2e::scenario::parse::parse(&file, &text);
            if let Err(diagnostics) = &result {
                for d in diagnostics {
                    let _ = d.render(&text, false);
                }
            }
            result.err().unwrap_or_default()
        }));
        let diagnostics = outcome.unwrap_or_else(|_| {
            std::fs::write(dir.join("panic.yaml"), &input).expect("keep the input");
            panic!("case {case}: the parser panicked; input kept in {}", dir.join("panic.yaml").display())
        });
        for d in &diagnostics {
            assert_eq!(d.span.file, file, "case {case}");
            assert!(d.span.line >= 1 && d.span.line <= lines, "case {case}: line {} of {lines}", d.span.line);
            assert!(d.span.col >= 1, "case {case}");
        }
        errors += usize::from(!diagnostics.is_empty());
    }
    assert!(errors > n / 2, "most mutants are invalid and said so: {errors} of {n}");
    assert!(peak_rss_kib() < 512 * 1024, "peak memory {} KiB", peak_rss_kib());
    eprintln!("scenario parser: {n} cases, {errors} rejected with a location, 0 panics, peak {} KiB", peak_rss_kib());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_config_loader_survives_any_input() {
    let mut seeds = vec![std::fs::read(root().join("ak-e2e.yaml")).expect("config")];
    for extra in ["compose/ak-e2e.compose.yaml"] {
        if let Ok(bytes) = std::fs::read(root().join(extra)) {
            seeds.push(bytes);
        }
    }
    seeds.extend(hostile());
    let mut rng = StdRng::seed_from_u64(SEED ^ 0xC0F1);
    let dir = std::env::temp_dir().join(format!("ak-e2e-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let n = cases(2_000);
    let env = HashMap::new();
    for case in 0..n {
        let seed = &seeds[case % seeds.len()];
        let other = &seeds[rng.gen_range(0..seeds.len())];
        let input = if case < seeds.len() { seed.clone() } else { mutate(&mut rng, seed, other) };
        std::fs::write(dir.join("ak-e2e.yaml"), &input).expect("write");
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| Settings::resolve(&Flags::default(), &env, &dir).err()));
        let error = outcome.unwrap_or_else(|_| {
            std::fs::write(dir.join("panic.yaml"), &input).expect("keep the input");
            panic!("case {case}: the config loader panicked; input kept in {}", dir.join("panic.yaml").display())
        });
        if let Some(e) = error {
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains("<input>"), "case {case}: {text}");
            if text.contains(" --> ") {
                assert!(text.contains(" --> ak-e2e.yaml:"), "case {case}: {text}");
            }
        }
    }
    assert!(peak_rss_kib() < 512 * 1024, "peak memory {} KiB", peak_rss_kib());
    eprintln!("config loader: {n} cases, 0 panics, peak {} KiB", peak_rss_kib());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixed seed: runs are reproducible (change it to explore further).
const SEED: u64 = 0x5EED_AE2E;
