//! Each step's syntax: its keys, their values and the errors a mistake gets.

use ak_protocol::yaml::{Node, Value};

use crate::diagnostic::{span_at, suggest};
use crate::scenario::{
    AuthentikExpectation, ClaimSource, Consent, FirstFactor, HopKind, Landing, Matcher, NamedMatcher, RecoveryCode,
    SnapshotOf, StepKind, Template, TokenAnswer,
};

use super::{MATCHER_KEYS, Parser, node_len};
use ak_protocol::authentik::component::Component;

impl Parser<'_> {
    pub(super) fn start_login(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`start_login`")?;
        let mut email = None;
        let mut direct = false;
        let mut new_session = false;
        for (key, value) in entries {
            match key.as_str() {
                Some("email") => email = self.string(value, "`email`").map(Template),
                Some("direct_link") => direct = value.as_bool().unwrap_or(false),
                Some("new_session") => match value.as_bool() {
                    Some(b) => new_session = b,
                    None => self.error(value, "`new_session` is `true` or `false`", "", None),
                },
                _ => self.unknown_key(key, "key of `start_login`", &["email", "direct_link", "new_session"]),
            }
        }
        if email.is_none() && !direct {
            self.error(node, "`start_login` needs `email` or `direct_link: true`", "", None);
            return None;
        }
        Some(StepKind::StartLogin { email, new_session })
    }

    pub(super) fn expect_redirect(&mut self, node: &Node) -> Option<StepKind> {
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

    pub(super) fn sign_in(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`sign_in`")?;
        let (mut user, mut password, mut consent, mut recovery_code) = (None, None, Consent::Accept, None);
        let mut first_factor = FirstFactor::Password;
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
                Some("recovery_code") => match value.as_str() {
                    Some("fresh") => recovery_code = Some(RecoveryCode::Fresh),
                    Some("spent") => recovery_code = Some(RecoveryCode::Spent),
                    _ => self.error(value, "`recovery_code` is `fresh` or `spent`", "", None),
                },
                Some("first_factor") => match value.as_str() {
                    Some("password") => first_factor = FirstFactor::Password,
                    Some("passkey") => first_factor = FirstFactor::Passkey,
                    _ => self.error(value, "`first_factor` is `password` or `passkey`", "", None),
                },
                _ => self.unknown_key(
                    key,
                    "key of `sign_in`",
                    &["user", "password", "consent", "recovery_code", "first_factor"],
                ),
            }
        }
        match user {
            Some(user) => Some(StepKind::SignIn { user, password, consent, recovery_code, first_factor }),
            None => {
                self.error(node, "`sign_in` needs `user:` (a fixture user)", "", None);
                None
            }
        }
    }

    pub(super) fn expect_authentik(&mut self, node: &Node) -> Option<StepKind> {
        let entries = self.map(node, "`expect_authentik`")?;
        let (mut stage, mut error, mut page, mut status) = (None, None, None, None);
        for (key, value) in entries {
            match key.as_str() {
                Some("stage") => {
                    // Given but unknown: `Some(None)`, an error of its own.
                    let s = self.string(value, "`stage`");
                    stage = s.as_deref().map(Component::named);
                    if let Some(s) = s.filter(|_| stage == Some(None)) {
                        let names = Component::names();
                        let label = suggest(&s, &names)
                            .map(|x| format!("did you mean `{x}`?"))
                            .unwrap_or(format!("expected one of: {}", names.join(", ")));
                        self.error(value, format!("unknown stage `{s}`"), label, None);
                    }
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
            (Some(Some(stage)), None) => Some(StepKind::ExpectAuthentik(AuthentikExpectation::Stage { stage, error })),
            (Some(None), None) => None,
            (None, Some(title)) => Some(StepKind::ExpectAuthentik(AuthentikExpectation::Page { title, status })),
            _ => {
                self.error(node, "`expect_authentik` needs exactly one of `stage:` or `page:`", "", None);
                None
            }
        }
    }

    pub(super) fn expect_claims(&mut self, node: &Node) -> Option<StepKind> {
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

    pub(super) fn expect_landing(&mut self, node: &Node) -> Option<StepKind> {
        if node.as_str() == Some("conversation") {
            return Some(StepKind::ExpectLanding(Landing::Conversation));
        }
        if let Some(entries) = node.as_map()
            && let [(key, value)] = entries
            && key.as_str() == Some("error")
        {
            let code = self.string(value, "`error`")?;
            if let Some(known) = chatgpt_rp::ErrorCode::parse(&code) {
                return Some(StepKind::ExpectLanding(Landing::Error(known)));
            }
            let codes: Vec<&str> = chatgpt_rp::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
            let label = match ak_protocol::suggest::suggest(&code, &codes) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", codes.join(", ")),
            };
            self.error(value, format!("unknown ChatGPT error code `{code}`"), label, None);
            return None;
        }
        self.error(node, "`expect_landing` is `conversation` or `{ error: <ChatGPT error code> }`", "", None);
        None
    }

    pub(super) fn authorize(&mut self, node: &Node) -> Option<StepKind> {
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

    pub(super) fn exchange_code(&mut self, node: &Node) -> Option<StepKind> {
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

    pub(super) fn expect_snapshot(&mut self, node: &Node) -> Option<StepKind> {
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
