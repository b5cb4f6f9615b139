//! authentik blueprints as the stand-in reads them: the same YAML files a real authentik applies
//! from `/blueprints`. Supported models, fields and tags are listed in `standin/README.md`; anything
//! else is refused with file:line:column and its name, so a blueprint never means one thing here
//! and another in authentik.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::directory::{Directory, FLOWS};
use ak_protocol::suggest::suggest;
use ak_protocol::yaml::{self, Node, Pos};

mod flows;
mod models;

pub(crate) use models::uuid_for;

/// A blueprint that cannot be applied, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{pos}: {message}")]
pub struct BlueprintError {
    /// The file as given.
    pub file: String,
    /// Where in it.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

const USER: &str = "authentik_core.user";
const GROUP: &str = "authentik_core.group";
const APPLICATION: &str = "authentik_core.application";
const PROVIDER: &str = "authentik_providers_oauth2.oauth2provider";
const SCOPE_MAPPING: &str = "authentik_providers_oauth2.scopemapping";
const BINDING: &str = "authentik_policies.policybinding";
const TOTP_DEVICE: &str = "authentik_stages_authenticator_totp.totpdevice";
const FLOW: &str = "authentik_flows.flow";
const KEYPAIR: &str = "authentik_crypto.certificatekeypair";
const IDENTIFICATION_STAGE: &str = "authentik_stages_identification.identificationstage";
const VALIDATE_STAGE: &str = "authentik_stages_authenticator_validate.authenticatorvalidatestage";
const DENY_STAGE: &str = "authentik_stages_deny.denystage";
const USER_LOGIN_STAGE: &str = "authentik_stages_user_login.userloginstage";
const EXPRESSION_POLICY: &str = "authentik_policies_expression.expressionpolicy";
const STAGE_BINDING: &str = "authentik_flows.flowstagebinding";
const MODELS: &[&str] = &[
    USER,
    GROUP,
    APPLICATION,
    PROVIDER,
    SCOPE_MAPPING,
    BINDING,
    FLOW,
    IDENTIFICATION_STAGE,
    VALIDATE_STAGE,
    DENY_STAGE,
    USER_LOGIN_STAGE,
    EXPRESSION_POLICY,
    STAGE_BINDING,
];

/// Applies blueprint files in order to a directory that starts with authentik's defaults.
pub fn load(files: &[(String, String)], env: &HashMap<String, String>) -> Result<Directory, BlueprintError> {
    let mut directory = Directory::default();
    for (name, text) in files {
        apply(&mut directory, name, text, env)?;
    }
    Ok(directory)
}

/// Applies one blueprint file.
pub fn apply(
    directory: &mut Directory,
    file: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<(), BlueprintError> {
    let documents =
        yaml::parse(text).map_err(|e| BlueprintError { file: file.into(), pos: e.pos, message: e.message })?;
    let mut ctx = Ctx { file, env, ids: HashMap::new(), dir: directory };
    for doc in &documents {
        ctx.document(doc)?;
    }
    Ok(())
}

struct Ctx<'a> {
    file: &'a str,
    env: &'a HashMap<String, String>,
    /// `id:` of applied entries → (model, the object's key).
    ids: HashMap<String, (&'static str, String)>,
    dir: &'a mut Directory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Present,
    Created,
    MustCreated,
    Absent,
}

/// An entry's fields: identifiers first, then attrs (attrs win).
struct Fields<'n> {
    /// (name, where the key is written, value)
    entries: Vec<(&'n str, Pos, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().rev().find(|(k, _, _)| *k == name).map(|(_, _, v)| *v)
    }
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(k, _, _)| k)).finish()
    }
}

impl Ctx<'_> {
    fn err<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, BlueprintError> {
        Err(BlueprintError { file: self.file.into(), pos, message: message.into() })
    }

    fn document(&mut self, doc: &Node) -> Result<(), BlueprintError> {
        let Some(entries) = doc.as_map() else {
            return self
                .err(doc.pos, format!("a blueprint is a mapping with `version` and `entries`, not {}", doc.kind()));
        };
        for (key, _) in entries {
            match key.as_str() {
                Some("version" | "metadata" | "entries" | "context") => {}
                other => return self.err(key.pos, format!("unknown blueprint key `{}`", other.unwrap_or("?"))),
            }
        }
        match doc.get("version") {
            Some(v) if v.as_i64() == Some(1) => {}
            Some(v) => return self.err(v.pos, "only blueprint `version: 1` exists"),
            None => return self.err(doc.pos, "a blueprint needs `version: 1`"),
        }
        if let Some(context) = doc.get("context")
            && context.as_map().is_some_and(|m| !m.is_empty())
        {
            return self.err(context.pos, "blueprint `context` is not supported by the stand-in");
        }
        let Some(entries) = doc.get("entries") else { return Ok(()) };
        let Some(list) = entries.as_seq() else {
            return self.err(entries.pos, format!("`entries` must be a list, not {}", entries.kind()));
        };
        for entry in list {
            self.entry(entry)?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &Node) -> Result<(), BlueprintError> {
        if entry.as_map().is_none() {
            return self.err(entry.pos, format!("an entry must be a mapping, not {}", entry.kind()));
        }
        for (key, _) in entry.as_map().unwrap_or_default() {
            match key.as_str() {
                Some("model" | "identifiers" | "attrs" | "id" | "state") => {}
                Some(other @ ("conditions" | "permissions")) => {
                    return self.err(key.pos, format!("entry `{other}` is not supported by the stand-in"));
                }
                other => return self.err(key.pos, format!("unknown entry key `{}`", other.unwrap_or("?"))),
            }
        }
        let Some(model_node) = entry.get("model") else { return self.err(entry.pos, "the entry has no `model`") };
        let model_name = self.string(model_node)?;
        if model_name == TOTP_DEVICE {
            return self.err(
                model_node.pos,
                "authentik's blueprints cannot set a TOTP device's user or key (its serializer takes only `name`), so \
                 a real authentik would not apply this entry; give the stand-in devices with --totp-device \
                 USERNAME=HEX (Options::totp_device) and enroll them by hand in a real authentik",
            );
        }
        let Some(model) = MODELS.iter().copied().find(|m| *m == model_name) else {
            let hint = suggest(&model_name, MODELS).map(|m| format!(" (did you mean `{m}`?)")).unwrap_or_default();
            return self.err(
                model_node.pos,
                format!(
                    "model `{model_name}` is not supported by the stand-in{hint}; supported: {}",
                    MODELS.join(", ")
                ),
            );
        };
        let state = match entry.get("state") {
            None => State::Present,
            Some(node) => match self.string(node)?.as_str() {
                "present" => State::Present,
                "created" => State::Created,
                "must_created" => State::MustCreated,
                "absent" => State::Absent,
                other => {
                    return self.err(
                        node.pos,
                        format!("state `{other}` is not one of present, created, must_created, absent"),
                    );
                }
            },
        };
        let mut fields = Fields { entries: Vec::new() };
        for part in ["identifiers", "attrs"] {
            if let Some(node) = entry.get(part) {
                let Some(map) = node.as_map() else {
                    if node.is_null() {
                        continue;
                    }
                    return self.err(node.pos, format!("`{part}` must be a mapping, not {}", node.kind()));
                };
                for (k, v) in map {
                    let Some(name) = k.as_str() else { return self.err(k.pos, "field names must be strings") };
                    fields.entries.push((name, k.pos, v));
                }
            }
        }
        if entry.get("identifiers").is_none() {
            return self.err(entry.pos, "the entry has no `identifiers`");
        }
        let key = self.model(model, &fields, state, entry.pos)?;
        if let Some(id) = entry.get("id") {
            let id = self.string(id)?;
            self.ids.insert(id, (model, key));
        }
        Ok(())
    }

    /// Creates, updates or deletes the object of one entry; its key.
    fn model(&mut self, model: &str, fields: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        Ok(match model {
            USER => self.user(fields, state, at)?,
            GROUP => self.group(fields, state, at)?,
            SCOPE_MAPPING => self.scope_mapping(fields, state, at)?,
            PROVIDER => self.provider(fields, state, at)?,
            APPLICATION => self.application(fields, state, at)?,
            BINDING => self.binding(fields, state, at)?,
            FLOW => self.flow(fields, state, at)?,
            IDENTIFICATION_STAGE | VALIDATE_STAGE | DENY_STAGE | USER_LOGIN_STAGE => {
                self.stage(model, fields, state, at)?
            }
            EXPRESSION_POLICY => self.expression_policy(fields, state, at)?,
            STAGE_BINDING => self.stage_binding(fields, state, at)?,
            _ => unreachable!("MODELS lists only handled models"),
        })
    }

    fn check_fields(
        &self,
        model: &str,
        fields: &Fields<'_>,
        known: &[&str],
        ignored: &[&str],
    ) -> Result<(), BlueprintError> {
        for (name, at, _) in &fields.entries {
            if !known.contains(name) && !ignored.contains(name) {
                let hint = suggest(name, known).map(|m| format!(" (did you mean `{m}`?)")).unwrap_or_default();
                return self.err(*at, format!("field `{name}` of `{model}` is not supported by the stand-in{hint}"));
            }
        }
        Ok(())
    }

    fn required<'n>(&self, fields: &Fields<'n>, name: &str, at: Pos, model: &str) -> Result<&'n Node, BlueprintError> {
        match fields.get(name) {
            Some(node) => Ok(node),
            None => self.err(at, format!("`{model}` needs `{name}`")),
        }
    }

    /// A scalar, or `!Env NAME` / `!Env [NAME, default]`.
    fn string(&self, node: &Node) -> Result<String, BlueprintError> {
        match node.tag.as_deref() {
            Some("!Env") => {
                let (name, default) = match (node.as_str(), node.as_seq()) {
                    (Some(name), _) => (name.to_string(), None),
                    (_, Some([name, default])) => (self.string(name)?, Some(self.string(default)?)),
                    _ => return self.err(node.pos, "`!Env` takes a variable name or [name, default]"),
                };
                match self.env.get(&name).cloned().or(default) {
                    Some(value) => Ok(value),
                    None => self.err(node.pos, format!("`!Env {name}`: the environment variable is not set")),
                }
            }
            Some("!!str") | None => match node.as_str() {
                Some(s) => Ok(s.to_string()),
                None => self.err(node.pos, format!("expected a string, found {}", node.kind())),
            },
            Some(tag) => self.err(node.pos, format!("tag `{tag}` is not supported here by the stand-in")),
        }
    }

    fn boolean(&self, node: &Node) -> Result<bool, BlueprintError> {
        match node.as_bool() {
            Some(b) => Ok(b),
            None => self.err(node.pos, format!("expected true or false, found {}", node.kind())),
        }
    }

    fn json(&self, node: &Node) -> Result<serde_json::Map<String, Value>, BlueprintError> {
        if let Some(tag) = &node.tag {
            return self.err(node.pos, format!("tag `{tag}` is not supported in attributes by the stand-in"));
        }
        match node.to_json() {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Default::default()),
            _ => self.err(node.pos, "expected a mapping"),
        }
    }

    /// Resolves `!KeyOf id` or `!Find [model, [field, value]]` to the key of an object of `model`
    /// (`field` must be one of `fields`), returning the key field's value.
    fn reference(&self, node: &Node, model: &str, find_fields: &[&str]) -> Result<(String, String), BlueprintError> {
        match node.tag.as_deref() {
            Some("!KeyOf") => {
                let id = node.as_str().ok_or(()).or_else(|_| self.err(node.pos, "`!KeyOf` takes an entry id"))?;
                match self.ids.get(id) {
                    Some((m, key)) if *m == model => Ok((find_fields[0].to_string(), key.clone())),
                    Some((m, _)) => self.err(node.pos, format!("`!KeyOf {id}` is a `{m}`, expected a `{model}`")),
                    None => self.err(node.pos, format!("`!KeyOf {id}`: no earlier entry in this file has `id: {id}`")),
                }
            }
            Some("!Find") => {
                let items = node.as_seq().unwrap_or_default();
                let (Some(model_node), Some(query)) = (items.first(), items.get(1)) else {
                    return self.err(node.pos, "`!Find` takes [model, [field, value]]");
                };
                if items.len() > 2 {
                    return self.err(items[2].pos, "the stand-in's `!Find` takes one [field, value] pair");
                }
                let found_model = self.string(model_node)?;
                if found_model != model {
                    return self.err(model_node.pos, format!("expected a `{model}` here, found `{found_model}`"));
                }
                let [field, value] = query.as_seq().unwrap_or_default() else {
                    return self.err(query.pos, "`!Find` takes [model, [field, value]]");
                };
                let field_name = self.string(field)?;
                if !find_fields.contains(&field_name.as_str()) {
                    return self
                        .err(field.pos, format!("the stand-in finds a `{model}` by {}", find_fields.join(" or ")));
                }
                Ok((field_name, self.string(value)?))
            }
            Some(tag) => self.err(node.pos, format!("tag `{tag}` is not supported here by the stand-in")),
            None => self.err(node.pos, format!("expected `!KeyOf id` or `!Find [{model}, [field, value]]`")),
        }
    }

    fn group_ref(&self, node: &Node) -> Result<String, BlueprintError> {
        let (_, name) = self.reference(node, GROUP, &["name"])?;
        if !self.dir.groups.iter().any(|g| g.name == name) {
            return self.err(node.pos, format!("no group `{name}` (groups must come before their users)"));
        }
        Ok(name)
    }

    fn user_ref(&self, node: &Node) -> Result<String, BlueprintError> {
        let (field, value) = self.reference(node, USER, &["username", "email"])?;
        let user =
            self.dir.users.iter().find(|u| if field == "email" { u.email == value } else { u.username == value });
        match user {
            Some(u) => Ok(u.username.clone()),
            None => self.err(node.pos, format!("no user with {field} `{value}`")),
        }
    }

    fn flow_ref(&self, node: &Node) -> Result<String, BlueprintError> {
        let (_, slug) = self.reference(node, FLOW, &["slug"])?;
        if !self.dir.has_flow(&slug) {
            let known: Vec<&str> = FLOWS.iter().map(|f| f.0).collect();
            return self
                .err(node.pos, format!("flow `{slug}` is not one of the stand-in's flows: {}", known.join(", ")));
        }
        Ok(slug)
    }

    fn mapping_ref(&self, node: &Node) -> Result<String, BlueprintError> {
        let (field, value) = self.reference(node, SCOPE_MAPPING, &["name", "managed", "scope_name"])?;
        let found = self.dir.mappings.iter().find(|m| match field.as_str() {
            "managed" => m.managed.as_deref() == Some(value.as_str()),
            "scope_name" => m.scope_name == value,
            _ => m.name == value,
        });
        match found {
            Some(m) => Ok(m.name.clone()),
            None => self.err(node.pos, format!("no scope mapping with {field} `{value}`")),
        }
    }
}
