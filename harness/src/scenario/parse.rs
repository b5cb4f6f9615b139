//! Scenario YAML → [`Scenario`], strictly: an unknown key, a wrong type or a bad value is a
//! [`Diagnostic`] at its file:line:column with a hint. Errors in different steps are all reported.

use std::path::Path;

use ak_protocol::yaml::{self, Node, Value};

use super::{
    AuthentikExpectation, ClaimSource, Consent, DriverKind, ExpectedFailure, HopKind, Landing, Matcher, NamedMatcher,
    Scenario, SnapshotOf, Step, StepKind, Template, TokenAnswer,
};
use crate::diagnostic::{Diagnostic, span_at, suggest};

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
const STAGES: &[&str] = &["identification", "password", "authenticator_validate", "consent", "access_denied"];

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
        Some(steps)
    }

    fn start_login(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`start_login`")?;
        let mut email = None;
        let mut direct = false;
        for (key, value) in entries {
            match key.as_str() {
                Some("email") => email = self.string(value, "`email`").map(Template),
                Some("direct_link") => direct = value.as_bool().unwrap_or(false),
                _ => self.unknown_key(key, "key of `start_login`", &["email", "direct_link"]),
            }
        }
        if email.is_none() && !direct {
            self.error(node, "`start_login` needs `email` or `direct_link: true`", "", None);
            return None;
        }
        Some(StepKind::StartLogin { email })
    }

    fn expect_redirect(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`expect_redirect`")?;
        let (mut to, mut query) = (None, Vec::new());
        for (key, value) in entries {
            match key.as_str() {
                Some("to") => {
                    let names: Vec<&str> = HopKind::NAMES.iter().map(|(n, _)| *n).collect();
                    match value.as_str().and_then(|v| HopKind::NAMES.iter().find(|(n, _)| *n == v)) {
                        Some((_, kind)) => to = Some(*kind),
                        None => {
                            let given = value.as_str().unwrap_or("");
                            let label = match suggest(given, &names) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("expected one of: {}", names.join(", ")),
                            };
                            self.error(value, format!("unknown hop `{given}`"), label, None);
                        }
                    }
                }
                Some("query") => query = self.matchers(value, "query parameter"),
                _ => self.unknown_key(key, "key of `expect_redirect`", &["to", "query"]),
            }
        }
        match to {
            Some(to) => Some(StepKind::ExpectRedirect { to, query }),
            None => {
                if !entries.iter().any(|(k, _)| k.as_str() == Some("to")) {
                    self.error(node, "`expect_redirect` needs `to:`", "", None);
                }
                None
            }
        }
    }

    fn sign_in(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`sign_in`")?;
        let (mut user, mut password, mut consent) = (None, None, Consent::Accept);
        for (key, value) in entries {
            match key.as_str() {
                Some("user") => user = self.string(value, "`user`"),
                Some("password") => password = self.string(value, "`password`").map(Template),
                Some("consent") => match value.as_str() {
                    Some("accept") => consent = Consent::Accept,
                    Some("deny") => consent = Consent::Deny,
                    Some("forge") => consent = Consent::Forge,
                    _ => self.error(value, "`consent` is `accept`, `deny` or `forge`", "", None),
                },
                _ => self.unknown_key(key, "key of `sign_in`", &["user", "password", "consent"]),
            }
        }
        match user {
            Some(user) => Some(StepKind::SignIn { user, password, consent }),
            None => {
                self.error(node, "`sign_in` needs `user:` (a fixture user)", "", None);
                None
            }
        }
    }

    fn expect_authentik(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`expect_authentik`")?;
        let (mut stage, mut error, mut page, mut status) = (None, None, None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("stage") => {
                    let s = self.string(value, "`stage`");
                    if let Some(s) = &s
                        && !STAGES.contains(&s.as_str())
                    {
                        let label = suggest(s, STAGES)
                            .map(|x| format!("did you mean `{x}`?"))
                            .unwrap_or(format!("expected one of: {}", STAGES.join(", ")));
                        self.error(value, format!("unknown stage `{s}`"), label, None);
                    }
                    stage = s;
                }
                Some("error") => error = self.string(value, "`error`"),
                Some("page") => page = self.string(value, "`page`"),
                Some("status") => match value.as_i64() {
                    Some(n @ 100..=599) => status = Some(n as u16),
                    _ => self.error(value, "`status` must be an HTTP status", "expected e.g. 400", None),
                },
                _ => self.unknown_key(key, "key of `expect_authentik`", &["stage", "error", "page", "status"]),
            }
        }
        match (stage, page) {
            (Some(stage), None) => Some(StepKind::ExpectAuthentik(AuthentikExpectation::Stage { stage, error })),
            (None, Some(title)) => Some(StepKind::ExpectAuthentik(AuthentikExpectation::Page { title, status })),
            _ => {
                self.error(node, "`expect_authentik` needs exactly one of `stage:` or `page:`", "", None);
                None
            }
        }
    }

    fn expect_claims(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`expect_claims`")?;
        let (mut from, mut claims) = (ClaimSource::IdToken, Vec::new());
        for (key, value) in entries {
            match key.as_str() {
                Some("from") => match value.as_str() {
                    Some("id_token") => from = ClaimSource::IdToken,
                    Some("userinfo") => from = ClaimSource::Userinfo,
                    _ => self.error(value, "`from` is `id_token` or `userinfo`", "", None),
                },
                Some("claims") => claims = self.matchers(value, "claim"),
                _ => self.unknown_key(key, "key of `expect_claims`", &["from", "claims"]),
            }
        }
        if claims.is_empty() {
            self.error(node, "`expect_claims` needs `claims:` with at least one claim", "", None);
            return None;
        }
        Some(StepKind::ExpectClaims { from, claims })
    }

    fn expect_landing(&mut self, node: &Node) -> Option<StepKind> {
        if node.as_str() == Some("conversation") {
            return Some(StepKind::ExpectLanding(Landing::Conversation));
        }
        if let Some(entries) = node.as_map()
            && let [(key, value)] = entries
            && key.as_str() == Some("error")
        {
            return self.string(value, "`error`").map(|c| StepKind::ExpectLanding(Landing::Error(c)));
        }
        self.error(node, "`expect_landing` is `conversation` or `{ error: <ChatGPT error code> }`", "", None);
        None
    }

    fn authorize(&mut self, node: &Node) -> Option<StepKind> {
        if node.is_null() {
            return Some(StepKind::Authorize { set: Vec::new(), remove: Vec::new() });
        }
        let entries = self.map(node, "`authorize`")?;
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        for (key, value) in entries {
            match key.as_str() {
                Some("remove") => remove = self.string_list(value, "`remove`"),
                Some(name) => {
                    if let Some(v) = self.string(value, &format!("`{name}`")) {
                        set.push((name.to_string(), Template(v)));
                    }
                }
                None => self.error(key, "a parameter name must be a string", "", None),
            }
        }
        Some(StepKind::Authorize { set, remove })
    }

    fn exchange_code(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`exchange_code`")?;
        let (mut expect, mut client_secret, mut code_verifier) = (None, None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("expect") => expect = self.string(value, "`expect`"),
                Some("client_secret") => client_secret = self.string(value, "`client_secret`").map(Template),
                Some("code_verifier") => code_verifier = self.string(value, "`code_verifier`").map(Template),
                _ => self.unknown_key(key, "key of `exchange_code`", &["expect", "client_secret", "code_verifier"]),
            }
        }
        match expect {
            Some(expect) => {
                let expect = if expect == "ok" { TokenAnswer::Ok } else { TokenAnswer::Error(expect) };
                Some(StepKind::ExchangeCode { expect, client_secret, code_verifier })
            }
            None => {
                self.error(
                    node,
                    "`exchange_code` needs `expect:` (`ok` or the OAuth error, e.g. invalid_grant)",
                    "",
                    None,
                );
                None
            }
        }
    }

    fn expect_snapshot(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`expect_snapshot`")?;
        let (mut of, mut name) = (None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("of") => match value.as_str() {
                    Some("id_token") => of = Some(SnapshotOf::IdToken),
                    Some("userinfo") => of = Some(SnapshotOf::Userinfo),
                    Some("discovery") => of = Some(SnapshotOf::Discovery),
                    _ => self.error(value, "`of` is `id_token`, `userinfo` or `discovery`", "", None),
                },
                Some("name") => match value.as_str() {
                    Some(n)
                        if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                    {
                        name = Some(n.to_string())
                    }
                    _ => self.error(value, "`name` uses letters, digits, `-` and `_`", "it names the file", None),
                },
                _ => self.unknown_key(key, "key of `expect_snapshot`", &["of", "name"]),
            }
        }
        match (of, name) {
            (Some(of), Some(name)) => Some(StepKind::ExpectSnapshot { of, name }),
            _ => {
                self.error(node, "`expect_snapshot` needs `of:` and `name:`", "", None);
                None
            }
        }
    }

    fn matchers(&mut self, node: &Node, what: &str) -> Vec<NamedMatcher> {
        let Some(entries) = self.map(node, &format!("each {what}")) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_str().map(String::from) else {
                self.error(key, format!("a {what} name must be a string"), "", None);
                continue;
            };
            if let Some(matcher) = self.matcher(value) {
                out.push(NamedMatcher { name, matcher, span: span_at(self.path, key.pos, node_len(key)) });
            }
        }
        out
    }

    fn matcher(&mut self, node: &Node) -> Option<Matcher> {
        if let Value::Scalar { text, .. } = &node.value {
            if node.is_null() {
                self.error(node, "a matcher cannot be empty", "write a value, or `{ present: false }`", None);
                return None;
            }
            return Some(Matcher { equals: Some(Template(text.clone())), ..Matcher::default() });
        }
        let entries = self.map(node, "a matcher")?;
        let mut m = Matcher::default();
        for (key, value) in entries {
            match key.as_str() {
                Some("equals") => m.equals = self.string(value, "`equals`").map(Template),
                Some("not_equals") => m.not_equals = self.string(value, "`not_equals`").map(Template),
                Some("matches") => {
                    if let Some(re) = self.string(value, "`matches`") {
                        match regex_lite::Regex::new(&re) {
                            Ok(_) => m.matches = Some(re),
                            Err(e) => self.error(value, "invalid regular expression", e.to_string(), None),
                        }
                    }
                }
                Some(flag @ ("present" | "non_empty")) => match value.as_bool() {
                    Some(b) if flag == "present" => m.present = Some(b),
                    Some(b) => m.non_empty = Some(b),
                    None => self.error(value, format!("`{flag}` is true or false"), "", None),
                },
                _ => self.unknown_key(key, "matcher", MATCHER_KEYS),
            }
        }
        Some(m)
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

    #[test]
    fn every_error_in_a_file_is_reported() {
        let text = "name: x\nstepz: []\nsteps:\n  - expect_redirct: {}\n  - expect_claims: { claims: { email: { equal: a } } }\n";
        let errors = parse(Path::new("s.yaml"), text).expect_err("invalid");
        let shown: Vec<String> =
            errors.iter().map(|e| format!("{} {} {}", e.span.location(), e.message, e.label)).collect();
        assert_eq!(
            shown,
            [
                "s.yaml:2:1 unknown key `stepz` did you mean `steps`?",
                "s.yaml:4:5 unknown step `expect_redirct` did you mean `expect_redirect`?",
                "s.yaml:5:41 unknown matcher `equal` did you mean `equals`?",
            ]
        );
    }
}
