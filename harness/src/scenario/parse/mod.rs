//! Scenario YAML → [`Scenario`], strictly: an unknown key, a wrong type or a bad value is a
//! [`Diagnostic`] at its file:line:column with a hint. Errors in different steps are all reported.

use std::path::Path;

use ak_protocol::yaml::{self, Node, Value};

use super::{DriverKind, ExpectedFailure, Scenario, Step};
use crate::diagnostic::{Diagnostic, span_at, suggest};

mod steps;

/// Every step name, for "did you mean".
pub const STEPS: &[&str] = &[
    "start_login",
    "expect_redirect",
    "sign_in",
    "expect_authentik",
    "expect_claims",
    "expect_landing",
    "authorize",
    "exchange_code",
    "expect_snapshot",
];
const TOP_KEYS: &[&str] = &["name", "tags", "drivers", "application", "expect_failure", "steps"];
const MATCHER_KEYS: &[&str] = &["equals", "not_equals", "matches", "present", "non_empty"];

/// Parses one scenario file's text.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let (scenario, errors) = parse_partial(path, text);
    match scenario {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(errors),
    }
}

/// Parses as much as is valid: the scenario with its valid steps (if the file has a name and
/// steps at all) and every error, so that a plan can check the rest and report all together.
pub fn parse_partial(path: &Path, text: &str) -> (Option<Scenario>, Vec<Diagnostic>) {
    match parse_inner(path, text) {
        Ok((s, errors)) => (s, errors),
        Err(errors) => (None, errors),
    }
}

fn parse_inner(path: &Path, text: &str) -> Result<(Option<Scenario>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let docs = yaml::parse(text).map_err(|e| {
        vec![Diagnostic {
            message: format!("this is not valid YAML: {}", e.message),
            span: span_at(path, e.pos, 1),
            label: String::new(),
            help: None,
        }]
    })?;
    let mut p = Parser { path, errors: Vec::new() };
    let Some(root) = docs.first() else {
        return Err(vec![p.diag_at(
            ak_protocol::yaml::Pos { line: 1, col: 1 },
            1,
            "the file is empty",
            "",
            Some(help_root()),
        )]);
    };
    let scenario = p.scenario(root);
    if let Some(extra) = docs.get(1) {
        p.errors.push(p.diag_at(
            extra.pos,
            1,
            "a scenario file holds one YAML document; this is a second one",
            "move it to a file of its own",
            None,
        ));
    }
    Ok((scenario, p.errors))
}

fn help_root() -> String {
    "a scenario is a mapping with `name:` and `steps:` (see the scenario reference in README.md)".into()
}

struct Parser<'a> {
    path: &'a Path,
    errors: Vec<Diagnostic>,
}

fn node_len(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { text, plain } => text.chars().count() + if *plain { 0 } else { 2 },
        _ => 1,
    }
}

impl Parser<'_> {
    fn diag_at(
        &self,
        pos: ak_protocol::yaml::Pos,
        len: usize,
        message: &str,
        label: &str,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic { message: message.into(), span: span_at(self.path, pos, len), label: label.into(), help }
    }

    fn error(&mut self, node: &Node, message: impl Into<String>, label: impl Into<String>, help: Option<String>) {
        let d = self.diag_at(node.pos, node_len(node), &message.into(), &label.into(), help);
        self.errors.push(d);
    }

    fn unknown_key(&mut self, key: &Node, what: &str, known: &[&str]) {
        let name = key.as_str().unwrap_or("?");
        let label = match suggest(name, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        self.error(key, format!("unknown {what} `{name}`"), label, None);
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        if node.tag.is_some() {
            self.error(node, format!("{what} cannot carry a YAML tag"), "remove the tag", None);
            return None;
        }
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.error(node, format!("{what} must be a string, not {}", node.kind()), "expected a string", None);
                None
            }
        }
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match node.as_map() {
            Some(m) => Some(m),
            None => {
                self.error(
                    node,
                    format!("{what} must be a mapping, not {}", node.kind()),
                    "expected `key: value` pairs",
                    None,
                );
                None
            }
        }
    }

    fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        let entries = self.map(root, "a scenario")?;
        let (mut name, mut tags, mut drivers, mut expect_failure, mut steps) =
            (None, Vec::new(), vec![DriverKind::Api], None, None);
        let (mut application, mut application_span) = (crate::scenario::DEFAULT_APPLICATION.to_string(), None);
        for (key, value) in entries {
            match key.as_str() {
                Some("name") => name = self.string(value, "`name`"),
                Some("tags") => tags = self.string_list(value, "`tags`"),
                Some("drivers") => drivers = self.drivers(value),
                Some("application") => {
                    if let Some(a) = self.string(value, "`application`") {
                        application = a;
                        application_span = Some(span_at(self.path, value.pos, node_len(value)));
                    }
                }
                Some("expect_failure") => expect_failure = self.expect_failure(value),
                Some("steps") => steps = self.steps(value),
                _ => self.unknown_key(key, "key", TOP_KEYS),
            }
        }
        if name.is_none() && !entries.iter().any(|(k, _)| k.as_str() == Some("name")) {
            self.error(
                root,
                "the scenario has no `name:`",
                "add `name: <what this scenario proves>`",
                Some(help_root()),
            );
        }
        if steps.is_none() && !entries.iter().any(|(k, _)| k.as_str() == Some("steps")) {
            self.error(root, "the scenario has no `steps:`", "add a list of steps", Some(help_root()));
        }
        Some(Scenario {
            file: self.path.to_path_buf(),
            name: name?,
            tags,
            drivers,
            application,
            application_span,
            expect_failure,
            steps: steps?,
        })
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<String> {
        match node.as_seq() {
            Some(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            None => {
                self.error(node, format!("{what} must be a list"), "expected `[a, b]`", None);
                Vec::new()
            }
        }
    }

    fn drivers(&mut self, node: &Node) -> Vec<DriverKind> {
        let mut out = Vec::new();
        for item in node.as_seq().unwrap_or_default() {
            match item.as_str() {
                Some("api") => out.push(DriverKind::Api),
                Some("browser") => out.push(DriverKind::Browser),
                _ => self.error(item, "unknown driver", "expected `api` or `browser`", None),
            }
        }
        match node.as_seq() {
            None => {
                self.error(node, "`drivers` must be a list", "expected `[api]`, `[browser]` or `[api, browser]`", None)
            }
            Some([]) => self.error(
                node,
                "`drivers` is empty: the scenario would never run",
                "expected `[api]`, `[browser]` or `[api, browser]`",
                None,
            ),
            Some(_) => {}
        }
        out
    }

    fn expect_failure(&mut self, node: &Node) -> Option<ExpectedFailure> {
        let entries = self.map(node, "`expect_failure`")?;
        let (mut reason, mut contains) = (None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("reason") => reason = self.string(value, "`reason`"),
                Some("diagnosis_contains") => contains = self.string(value, "`diagnosis_contains`"),
                _ => self.unknown_key(key, "key of `expect_failure`", &["reason", "diagnosis_contains"]),
            }
        }
        if reason.is_none() || contains.is_none() {
            self.error(node, "`expect_failure` needs `reason` and `diagnosis_contains`", "", None);
            return None;
        }
        Some(ExpectedFailure { reason: reason?, diagnosis_contains: contains? })
    }

    fn steps(&mut self, node: &Node) -> Option<Vec<Step>> {
        let Some(items) = node.as_seq() else {
            self.error(node, "`steps` must be a list", "expected `- step: …` items", None);
            return None;
        };
        if items.is_empty() {
            self.error(node, "`steps` is empty: the scenario would prove nothing", "add at least one step", None);
            return None;
        }
        let mut steps = Vec::new();
        for item in items {
            let Some(entries) = item.as_map() else {
                self.error(
                    item,
                    format!("a step must be a one-key mapping, not {}", item.kind()),
                    "expected `- step_name: …`",
                    None,
                );
                continue;
            };
            if entries.len() != 1 {
                self.error(item, "a step must have exactly one key", "split this into separate `- …` items", None);
                continue;
            }
            let (key, value) = &entries[0];
            let name = key.as_str().unwrap_or("").to_string();
            let kind = match name.as_str() {
                "start_login" => self.start_login(value),
                "expect_redirect" => self.expect_redirect(value),
                "sign_in" => self.sign_in(value),
                "expect_authentik" => self.expect_authentik(value),
                "expect_claims" => self.expect_claims(value),
                "expect_landing" => self.expect_landing(value),
                "authorize" => self.authorize(value),
                "exchange_code" => self.exchange_code(value),
                "expect_snapshot" => self.expect_snapshot(value),
                _ => {
                    self.unknown_key(key, "step", STEPS);
                    None
                }
            };
            if let Some(kind) = kind {
                steps.push(Step { name, span: span_at(self.path, key.pos, node_len(key)), kind });
            }
        }
        // Steps that only act (start a login, sign in) pass whatever happened: one must check.
        if steps.len() == items.len() && !steps.iter().any(|s| s.kind.checks()) {
            self.error(
                node,
                "`steps` check nothing: the scenario would pass whatever happened",
                "add an `expect_…` step (or `exchange_code`, which checks the token endpoint's answer)",
                None,
            );
            return None;
        }
        Some(steps)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse;
    use crate::scenario::{HopKind, StepKind};

    #[test]
    fn a_scenario_parses_with_spans() {
        let text = "name: happy\ntags: [smoke]\nsteps:\n  - start_login: { email: a@example.com }\n  - expect_redirect:\n      to: authentik.authorize\n      query:\n        scope: openid profile email\n        nonce: { present: true }\n  - expect_landing: conversation\n";
        let s = parse(Path::new("s.yaml"), text).expect("valid");
        assert_eq!(s.steps.len(), 3);
        assert_eq!((s.steps[1].span.line, s.steps[1].span.col, s.steps[1].span.len), (5, 5, 15));
        let StepKind::ExpectRedirect { to, query } = &s.steps[1].kind else { panic!() };
        assert_eq!(*to, HopKind::AuthentikAuthorize);
        assert_eq!(query[1].matcher.present, Some(true));
    }

    #[test]
    fn a_scenario_that_would_test_nothing_is_an_error() {
        let cases = [
            ("name: x\nsteps: []\n", "s.yaml:2:8 `steps` is empty: the scenario would prove nothing"),
            (
                "name: x\ndrivers: []\nsteps:\n  - expect_landing: conversation\n",
                "s.yaml:2:10 `drivers` is empty: the scenario would never run",
            ),
            (
                "name: x\nsteps:\n  - start_login: { email: a@example.com }\n  - sign_in: { user: ann }\n",
                "s.yaml:3:3 `steps` check nothing: the scenario would pass whatever happened",
            ),
            (
                "name: x\nsteps:\n  - expect_landing: conversation\n---\nname: y\n",
                "s.yaml:5:1 a scenario file holds one YAML document; this is a second one",
            ),
        ];
        for (text, expected) in cases {
            let errors = parse(Path::new("s.yaml"), text).expect_err(text);
            let shown: Vec<String> = errors.iter().map(|e| format!("{} {}", e.span.location(), e.message)).collect();
            assert_eq!(shown, [expected], "{text}");
        }
    }

    /// Each error of an invalid file: its place, message and label.
    fn errors_of(text: &str) -> Vec<String> {
        let errors = parse(Path::new("s.yaml"), text).expect_err("invalid");
        errors.iter().map(|e| format!("{} {} {}", e.span.location(), e.message, e.label)).collect()
    }

    #[test]
    fn every_error_in_a_file_is_reported() {
        let text = "name: x\nstepz: []\nsteps:\n  - expect_redirct: {}\n  - expect_claims: { claims: { email: { equal: a } } }\n";
        assert_eq!(
            errors_of(text),
            [
                "s.yaml:2:1 unknown key `stepz` did you mean `steps`?",
                "s.yaml:4:5 unknown step `expect_redirct` did you mean `expect_redirect`?",
                "s.yaml:5:41 unknown matcher `equal` did you mean `equals`?",
            ]
        );
    }

    /// A ChatGPT error code is checked when the file is read, not when the run lands.
    #[test]
    fn an_unknown_chatgpt_error_code_is_an_error_of_the_file_with_a_suggestion() {
        let text = "name: x\nsteps:\n  - expect_landing: { error: misssing_claim_email }\n";
        assert_eq!(
            errors_of(text),
            ["s.yaml:3:30 unknown ChatGPT error code `misssing_claim_email` did you mean `missing_claim_email`?"]
        );
        let text = "name: x\nsteps:\n  - expect_landing: { error: missing_claim_email }\n";
        assert!(parse(Path::new("s.yaml"), text).is_ok());
    }
}
