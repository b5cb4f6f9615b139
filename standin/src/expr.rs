//! Custom scope mappings. In authentik a scope mapping is a Python expression; the stand-in
//! cannot run Python, so it recognises one documented form and refuses everything else at load,
//! naming the line:
//!
//! ```python
//! return {
//!     "given_name": request.user.name.split(" ", 1)[0],
//!     "family_name": request.user.attributes.get("family_name", ""),
//!     "groups": [group.name for group in request.user.ak_groups.all()],
//! }
//! ```
//!
//! Values are built from string/number/`True`/`False`/`None` literals and `request.user` (or
//! `user`) with its fields `name`, `email`, `username`, `pk`, `uid`, `is_active`, `attributes`,
//! `ak_groups.all()`; then any chain of `.get(key[, default])`, `[index]` (negative too),
//! `.split()`, `.rsplit()` (with an optional separator and maxsplit), `.partition(sep)`,
//! `.strip()`, `.lower()`, `.upper()`, `.title()`; `a or b` with Python truthiness; and the one
//! comprehension `[g.name for g in request.user.ak_groups.all()]`. Comments and blank lines are
//! ignored. The same text runs unchanged in a real authentik.

use serde_json::{Map, Value, json};

/// A parsed mapping: claim name → expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    entries: Vec<(String, Expr)>,
}

/// Why an expression is not in the recognised form; `line` counts from 1 within the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the expression: {message}")]
pub struct ExprError {
    /// Line within the expression, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Lit(Value),
    Var(String),
    Attr(Box<Expr>, String),
    Call(Box<Expr>, String, Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Comp { field: String, var: String, iter: Box<Expr> },
}

const METHODS: &[&str] = &["get", "split", "rsplit", "partition", "strip", "lower", "upper", "title", "all"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Int(i64),
    Ident(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => return Err(ExprError { line, message: "unterminated string".into() }),
                        Some(&ch) if ch == quote => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&other) => s.push(other),
                                None => return Err(ExprError { line, message: "unterminated string".into() }),
                            }
                        }
                        Some(&ch) => s.push(ch),
                    }
                    i += 1;
                }
                out.push((Tok::Str(s), line));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i + 1 < chars.len() && chars[i + 1].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..=i].iter().collect();
                let n =
                    text.parse().map_err(|_| ExprError { line, message: format!("number `{text}` is too large") })?;
                out.push((Tok::Int(n), line));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..=i].iter().collect()), line));
            }
            '.' | ',' | '(' | ')' | '[' | ']' | '{' | '}' | ':' | '-' | '=' => out.push((Tok::Punct(c), line)),
            other => return Err(ExprError { line, message: format!("`{other}` is outside the recognised form") }),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    vars: Vec<String>,
}

impl Parser {
    fn line(&self) -> usize {
        self.toks.get(self.at).or(self.toks.last()).map(|t| t.1).unwrap_or(1)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError { line: self.line(), message: message.into() })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ExprError> {
        if self.eat(&Tok::Punct(c)) { Ok(()) } else { self.err(format!("expected `{c}`")) }
    }

    fn ident(&mut self) -> Result<String, ExprError> {
        match self.peek().cloned() {
            Some(Tok::Ident(name)) => {
                self.at += 1;
                Ok(name)
            }
            _ => self.err("expected a name"),
        }
    }

    fn program(&mut self) -> Result<Mapping, ExprError> {
        if !self.eat(&Tok::Ident("return".into())) {
            return self.err("the recognised form is `return {\"claim\": value, …}`; it must start with `return {`");
        }
        self.expect('{')?;
        let mut entries = Vec::new();
        while !self.eat(&Tok::Punct('}')) {
            let key = match self.peek().cloned() {
                Some(Tok::Str(key)) => key,
                _ => return self.err("expected a quoted claim name"),
            };
            self.at += 1;
            self.expect(':')?;
            let value = self.expr()?;
            entries.push((key, value));
            if !self.eat(&Tok::Punct(',')) {
                self.expect('}')?;
                break;
            }
        }
        if self.at < self.toks.len() {
            return self.err("nothing may follow the returned dictionary");
        }
        Ok(Mapping { entries })
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.postfix()?;
        while self.eat(&Tok::Ident("or".into())) {
            let right = self.postfix()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.atom()?;
        loop {
            if self.eat(&Tok::Punct('.')) {
                let name = self.ident()?;
                if self.eat(&Tok::Punct('(')) {
                    if !METHODS.contains(&name.as_str()) {
                        return self.err(format!("method `{name}` is not one of {}", METHODS.join(", ")));
                    }
                    let mut args = Vec::new();
                    while !self.eat(&Tok::Punct(')')) {
                        args.push(self.expr()?);
                        if !self.eat(&Tok::Punct(',')) {
                            self.expect(')')?;
                            break;
                        }
                    }
                    e = Expr::Call(Box::new(e), name, args);
                } else {
                    e = Expr::Attr(Box::new(e), name);
                }
            } else if self.eat(&Tok::Punct('[')) {
                let index = self.expr()?;
                self.expect(']')?;
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                return Ok(e);
            }
        }
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(Expr::Lit(json!(s)))
            }
            Some(Tok::Int(n)) => {
                self.at += 1;
                Ok(Expr::Lit(json!(n)))
            }
            Some(Tok::Punct('-')) => {
                self.at += 1;
                match self.peek().cloned() {
                    Some(Tok::Int(n)) => {
                        self.at += 1;
                        Ok(Expr::Lit(json!(-n)))
                    }
                    _ => self.err("`-` must precede a number"),
                }
            }
            Some(Tok::Punct('(')) => {
                self.at += 1;
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Punct('[')) => {
                self.at += 1;
                // [g.name for g in <expr>]
                let var = self.ident()?;
                self.expect('.')?;
                let field = self.ident()?;
                if !self.eat(&Tok::Ident("for".into())) {
                    return self
                        .err("the only list form recognised is `[g.name for g in request.user.ak_groups.all()]`");
                }
                let bound = self.ident()?;
                if bound != var {
                    return self.err(format!("the comprehension binds `{bound}` but reads `{var}`"));
                }
                if !self.eat(&Tok::Ident("in".into())) {
                    return self.err("expected `in`");
                }
                self.vars.push(var.clone());
                let iter = self.expr();
                self.vars.pop();
                self.expect(']')?;
                Ok(Expr::Comp { field, var, iter: Box::new(iter?) })
            }
            Some(Tok::Ident(name)) => {
                self.at += 1;
                match name.as_str() {
                    "True" => Ok(Expr::Lit(json!(true))),
                    "False" => Ok(Expr::Lit(json!(false))),
                    "None" => Ok(Expr::Lit(Value::Null)),
                    "request" | "user" => Ok(Expr::Var(name)),
                    _ if self.vars.contains(&name) => Ok(Expr::Var(name)),
                    _ => self.err(format!(
                        "`{name}` is not known here; values start from `request.user`, `user` or a literal"
                    )),
                }
            }
            _ => self.err("expected a value"),
        }
    }
}

impl Mapping {
    /// Parses an expression in the recognised form.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let toks = tokenize(text)?;
        Parser { toks, at: 0, vars: Vec::new() }.program()
    }

    /// Evaluates against a user (`{name, email, username, pk, uid, is_active, attributes,
    /// ak_groups: [{name}]}`). A failing lookup yields `null` for that claim, as an exception in
    /// an authentik mapping drops its result.
    pub fn evaluate(&self, user: &Value) -> Map<String, Value> {
        let request = json!({ "user": user });
        self.entries.iter().map(|(k, e)| (k.clone(), eval(e, &request, &[]).unwrap_or(Value::Null))).collect()
    }

    /// The claim names this mapping returns.
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn eval(e: &Expr, request: &Value, scope: &[(&str, &Value)]) -> Option<Value> {
    Some(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(name) if name == "request" => request.clone(),
        Expr::Var(name) if name == "user" => request.get("user")?.clone(),
        Expr::Var(name) => scope.iter().rev().find(|(n, _)| n == name)?.1.clone(),
        Expr::Attr(base, name) => eval(base, request, scope)?.get(name)?.clone(),
        Expr::Index(base, index) => {
            let base = eval(base, request, scope)?;
            match (base, eval(index, request, scope)?) {
                (Value::Array(items), Value::Number(n)) => {
                    let n = n.as_i64()?;
                    let at = if n < 0 { items.len().checked_sub(n.unsigned_abs() as usize)? } else { n as usize };
                    items.get(at)?.clone()
                }
                (Value::Object(map), Value::String(k)) => map.get(&k)?.clone(),
                _ => return None,
            }
        }
        Expr::Or(a, b) => {
            let a = eval(a, request, scope).unwrap_or(Value::Null);
            if truthy(&a) { a } else { eval(b, request, scope)? }
        }
        Expr::Comp { field, var, iter } => {
            let items = eval(iter, request, scope)?;
            let items = items.as_array()?;
            let mut out = Vec::new();
            for item in items {
                let scope2: Vec<(&str, &Value)> = scope.iter().copied().chain([(var.as_str(), item)]).collect();
                out.push(eval(&Expr::Attr(Box::new(Expr::Var(var.clone())), field.clone()), request, &scope2)?);
            }
            Value::Array(out)
        }
        Expr::Call(base, method, args) => {
            let base = eval(base, request, scope)?;
            let args: Vec<Value> = args.iter().map(|a| eval(a, request, scope)).collect::<Option<_>>()?;
            call(&base, method, &args)?
        }
    })
}

fn call(base: &Value, method: &str, args: &[Value]) -> Option<Value> {
    let text = || base.as_str();
    Some(match (method, args) {
        ("all", []) => base.as_array().map(|_| base.clone())?,
        ("get", [key]) => base.as_object()?.get(key.as_str()?).cloned().unwrap_or(Value::Null),
        ("get", [key, default]) => base.as_object()?.get(key.as_str()?).cloned().unwrap_or_else(|| default.clone()),
        ("strip", []) => json!(text()?.trim()),
        ("lower", []) => json!(text()?.to_lowercase()),
        ("upper", []) => json!(text()?.to_uppercase()),
        ("title", []) => json!(title_case(text()?)),
        ("partition", [sep]) => {
            let (s, sep) = (text()?, sep.as_str()?);
            match s.split_once(sep) {
                Some((a, b)) => json!([a, sep, b]),
                None => json!([s, "", ""]),
            }
        }
        ("split" | "rsplit", _) => {
            let s = text()?;
            let sep = match args.first() {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_str()?),
            };
            let max = match args.get(1) {
                None => None,
                Some(v) => Some(v.as_i64()?).filter(|n| *n >= 0).map(|n| n as usize),
            };
            json!(split(s, sep, max, method == "rsplit"))
        }
        _ => return None,
    })
}

/// Python's str.split / str.rsplit.
fn split(s: &str, sep: Option<&str>, max: Option<usize>, from_right: bool) -> Vec<String> {
    let parts: Vec<String> = match sep {
        Some(sep) if !sep.is_empty() => s.split(sep).map(String::from).collect(),
        _ => s.split_whitespace().map(String::from).collect(),
    };
    let Some(max) = max else { return parts };
    if parts.len() <= max + 1 {
        return parts;
    }
    let joiner = sep.unwrap_or(" ");
    if from_right {
        let cut = parts.len() - max;
        let mut out = vec![parts[..cut].join(joiner)];
        out.extend(parts[cut..].iter().cloned());
        out
    } else {
        let mut out: Vec<String> = parts[..max].to_vec();
        out.push(parts[max..].join(joiner));
        out
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_alphabetic() {
            if start {
                out.extend(c.to_uppercase())
            } else {
                out.extend(c.to_lowercase())
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// An expression policy bound in a flow. The stand-in recognises one test, written as
/// authentik's default authentication flow writes it: whether the login so far used a passkey as
/// its first factor (`auth_method` `auth_webauthn_pwl`, set by an identification stage's passkey
/// sign-in):
///
/// ```python
/// flow_plan = request.context.get("flow_plan")
/// if not flow_plan:
///     return True
/// return flow_plan.context.get("auth_method") != "auth_webauthn_pwl"
/// ```
///
/// with `!=` ([`FlowTest::PasskeyNotUsed`]), `==` ([`FlowTest::PasskeyUsed`]), or authentik's own
/// `return not (flow_plan.context.get("auth_method") == "auth_webauthn_pwl")`. Comments, blank
/// lines, indentation and the kind of quotes do not matter; anything else is refused at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowTest {
    /// Passes when the login did not use a passkey as its first factor.
    PasskeyNotUsed,
    /// Passes when it did.
    PasskeyUsed,
}

impl FlowTest {
    /// Recognises `text`, or says which line is outside the form.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        // (line number, indentation, the line with its inner spaces collapsed and `"` quotes)
        let lines: Vec<(usize, usize, String)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let indent = l.len() - l.trim_start().len();
                (i + 1, indent, l.split_whitespace().collect::<Vec<_>>().join(" ").replace('\'', "\""))
            })
            .filter(|(_, _, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        const PREAMBLE: [&str; 3] =
            ["flow_plan = request.context.get(\"flow_plan\")", "if not flow_plan:", "return True"];
        const METHOD: &str = "flow_plan.context.get(\"auth_method\")";
        for (i, want) in PREAMBLE.iter().enumerate() {
            match lines.get(i) {
                Some((_, _, got)) if got == want => {}
                Some((line, _, _)) => {
                    return Err(ExprError { line: *line, message: format!("expected `{want}` here") });
                }
                None => {
                    return Err(ExprError { line: text.lines().count().max(1), message: format!("expected `{want}`") });
                }
            }
        }
        // As Python reads it: `return True` inside the `if`, the test after it, at the top.
        let top = lines[0].1;
        if lines[1].1 != top || lines[2].1 <= top {
            return Err(ExprError {
                line: lines[2].0,
                message: "`return True` belongs inside `if not flow_plan:`".into(),
            });
        }
        if let Some((line, indent, _)) = lines.get(3)
            && *indent != top
        {
            return Err(ExprError {
                line: *line,
                message: "the test's `return` must be outside the `if`, where the expression starts".into(),
            });
        }
        let Some((line, _, last)) = lines.get(3) else {
            return Err(ExprError {
                line: text.lines().count().max(1),
                message: "expected the `return` of the test".into(),
            });
        };
        if let Some((extra, _, _)) = lines.get(4) {
            return Err(ExprError { line: *extra, message: "nothing may follow the test's `return`".into() });
        }
        let test = last.replace(' ', "");
        let pwl = "\"auth_webauthn_pwl\"";
        let compact = METHOD.replace(' ', "");
        if test == format!("return{compact}!={pwl}") || test == format!("returnnot({compact}=={pwl})") {
            Ok(Self::PasskeyNotUsed)
        } else if test == format!("return{compact}=={pwl}") {
            Ok(Self::PasskeyUsed)
        } else {
            Err(ExprError {
                line: *line,
                message: format!("expected `return {METHOD} != \"auth_webauthn_pwl\"` (or `==`)"),
            })
        }
    }

    /// Whether the test passes for a login that did (`passkey`) or did not use a passkey first.
    pub fn passes(self, passkey: bool) -> bool {
        match self {
            Self::PasskeyNotUsed => !passkey,
            Self::PasskeyUsed => passkey,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Mapping;

    fn ann() -> serde_json::Value {
        json!({
            "name": "Ann Marie Lee", "email": "ann@example.com", "username": "ann", "pk": 7,
            "attributes": {"family_name": "Lee-Smith"}, "ak_groups": [{"name": "staff"}, {"name": "chatgpt"}],
        })
    }

    #[test]
    fn the_documented_form_evaluates() {
        let m = Mapping::parse(
            r#"# split the full name
return {
    "name": request.user.name,
    "given_name": request.user.name.split(" ", 1)[0],
    "family_name": request.user.name.rsplit(" ", 1)[-1],
    "from_attr": user.attributes.get("family_name", ""),
    "missing": request.user.attributes.get("nope") or "fallback",
    "groups": [g.name for g in request.user.ak_groups.all()],
    "verified": True,
    "first": request.user.name.partition(" ")[0].lower(),
}"#,
        )
        .expect("parse");
        let claims = m.evaluate(&ann());
        assert_eq!(claims["given_name"], "Ann");
        assert_eq!(claims["family_name"], "Lee");
        assert_eq!(claims["from_attr"], "Lee-Smith");
        assert_eq!(claims["missing"], "fallback");
        assert_eq!(claims["groups"], json!(["staff", "chatgpt"]));
        assert_eq!(claims["verified"], true);
        assert_eq!(claims["first"], "ann");
    }

    #[test]
    fn failing_lookups_yield_null() {
        let m = Mapping::parse(r#"return {"x": request.user.name.split()[5]}"#).expect("parse");
        assert_eq!(m.evaluate(&ann())["x"], serde_json::Value::Null);
    }

    #[test]
    fn other_forms_are_refused_with_a_line() {
        let err = Mapping::parse("x = 1\nreturn {}").expect_err("refused");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("must start with `return {`"), "{err}");
        let err =
            Mapping::parse("return {\n  \"a\": request.user.name.replace(\"a\", \"b\"),\n}").expect_err("refused");
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("method `replace` is not one of"), "{err}");
        let err = Mapping::parse("return {\"a\": os.environ}").expect_err("refused");
        assert!(err.message.starts_with("`os` is not known here"), "{err}");
    }

    /// The flow test in authentik's own words and in ak-e2e's, with either quotes and comments;
    /// anything else is refused naming its line.
    #[test]
    fn the_flow_test_is_recognised_in_its_forms_only() {
        use super::FlowTest;
        let preamble = "flow_plan = request.context.get(\"flow_plan\")\nif not flow_plan:\n    return True\n";
        let form = |last: &str| format!("{preamble}{last}\n");
        let cases = [
            (form("return flow_plan.context.get(\"auth_method\") != \"auth_webauthn_pwl\""), FlowTest::PasskeyNotUsed),
            (
                form("return not (flow_plan.context.get(\"auth_method\") == \"auth_webauthn_pwl\")"),
                FlowTest::PasskeyNotUsed,
            ),
            (form("return flow_plan.context.get('auth_method') == 'auth_webauthn_pwl'"), FlowTest::PasskeyUsed),
            (
                format!(
                    "# skip after a passkey\n\n{}",
                    form("return flow_plan.context.get(\"auth_method\")!=\"auth_webauthn_pwl\"")
                ),
                FlowTest::PasskeyNotUsed,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(FlowTest::parse(&text), Ok(expected), "{text}");
        }
        assert!(FlowTest::PasskeyNotUsed.passes(false) && !FlowTest::PasskeyNotUsed.passes(true));
        assert!(FlowTest::PasskeyUsed.passes(true) && !FlowTest::PasskeyUsed.passes(false));
        let err =
            FlowTest::parse(&form("return flow_plan.context.get(\"auth_method\") != \"password\"")).expect_err("other");
        assert_eq!(err.line, 4);
        let err = FlowTest::parse("return ak_is_group_member(request.user, name=\"x\")").expect_err("other");
        assert_eq!(
            (err.line, err.message.as_str()),
            (1, "expected `flow_plan = request.context.get(\"flow_plan\")` here")
        );
        let err = FlowTest::parse(&format!(
            "{}x = 1\n",
            form("return flow_plan.context.get(\"auth_method\") == \"auth_webauthn_pwl\"")
        ))
        .expect_err("extra");
        assert_eq!(err.line, 5);
        // Under the `if`, the test is dead code in Python (the policy returns None, a failure):
        // refused, as is a `return True` outside it.
        let dead = format!("{preamble}    return flow_plan.context.get(\"auth_method\") != \"auth_webauthn_pwl\"\n");
        assert_eq!(FlowTest::parse(&dead).expect_err("inside the if").line, 4);
        let flat = preamble.replace("    return True", "return True");
        let flat = format!("{flat}return flow_plan.context.get(\"auth_method\") != \"auth_webauthn_pwl\"\n");
        assert_eq!(FlowTest::parse(&flat).expect_err("flat").line, 3);
        let indented: String = form("return flow_plan.context.get(\"auth_method\") != \"auth_webauthn_pwl\"")
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect();
        assert_eq!(FlowTest::parse(&indented), Ok(FlowTest::PasskeyNotUsed), "a block indented as a whole");
    }
}
