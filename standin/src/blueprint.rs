//! authentik blueprints as the stand-in reads them: the same YAML files a real authentik applies
//! from `/blueprints`. Supported models, fields and tags are listed in `standin/README.md`; anything
//! else is refused with file:line:column and its name, so a blueprint never means one thing here
//! and another in authentik.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::directory::{
    Application, Binding, BindingSubject, Directory, FLOWS, Group, IssuerMode, MappingKind, MatchingMode, Provider,
    RedirectUri, SELF_SIGNED_KEY, ScopeMapping, SubMode, User, parse_timedelta,
};
use crate::expr::Mapping;
use ak_protocol::secret::Secret;
use ak_protocol::suggest::suggest;
use ak_protocol::yaml::{self, Node, Pos};

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
const MODELS: &[&str] = &[USER, GROUP, APPLICATION, PROVIDER, SCOPE_MAPPING, BINDING];

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
        let key = match model {
            USER => self.user(&fields, state, entry.pos)?,
            GROUP => self.group(&fields, state, entry.pos)?,
            SCOPE_MAPPING => self.scope_mapping(&fields, state, entry.pos)?,
            PROVIDER => self.provider(&fields, state, entry.pos)?,
            APPLICATION => self.application(&fields, state, entry.pos)?,
            BINDING => self.binding(&fields, state, entry.pos)?,
            _ => unreachable!("MODELS lists only handled models"),
        };
        if let Some(id) = entry.get("id") {
            let id = self.string(id)?;
            self.ids.insert(id, (model, key));
        }
        Ok(())
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
        if !crate::directory::is_flow(&slug) {
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

    fn user(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        self.check_fields(
            USER,
            f,
            &["username", "name", "email", "password", "groups", "attributes", "is_active"],
            &["path", "type"],
        )?;
        let username = self.string(self.required(f, "username", at, USER)?)?;
        let existing = self.dir.users.iter().position(|u| u.username == username);
        if !self.proceed(state, existing.is_some(), at, USER, &username)? {
            if state == State::Absent
                && let Some(i) = existing
            {
                self.dir.users.remove(i);
            }
            return Ok(username);
        }
        let mut user = match existing {
            Some(i) => self.dir.users[i].clone(),
            None => {
                let pk = self.dir.users.iter().map(|u| u.pk).max().unwrap_or(0) + 1;
                User {
                    pk,
                    uuid: uuid_for(&username),
                    username: username.clone(),
                    name: String::new(),
                    email: String::new(),
                    password: None,
                    groups: Vec::new(),
                    attributes: Default::default(),
                    is_active: true,
                }
            }
        };
        if let Some(n) = f.get("name") {
            user.name = self.string(n)?;
        }
        if let Some(n) = f.get("email") {
            user.email = self.string(n)?;
        }
        if let Some(n) = f.get("password") {
            user.password = Some(Secret::new(self.string(n)?));
        }
        if let Some(n) = f.get("is_active") {
            user.is_active = self.boolean(n)?;
        }
        if let Some(n) = f.get("attributes") {
            user.attributes = self.json(n)?;
        }
        if let Some(n) = f.get("groups") {
            let Some(items) = n.as_seq() else { return self.err(n.pos, "`groups` must be a list") };
            user.groups = items.iter().map(|g| self.group_ref(g)).collect::<Result<_, _>>()?;
        }
        match existing {
            Some(i) => self.dir.users[i] = user,
            None => self.dir.users.push(user),
        }
        Ok(username)
    }

    /// Whether to create or update, per `state`; errors for `must_created` on an existing object.
    fn proceed(&self, state: State, exists: bool, at: Pos, model: &str, key: &str) -> Result<bool, BlueprintError> {
        match (state, exists) {
            (State::Absent, _) => Ok(false),
            (State::Created, true) => Ok(false),
            (State::MustCreated, true) => {
                self.err(at, format!("`{model}` `{key}` already exists (state: must_created)"))
            }
            _ => Ok(true),
        }
    }

    fn group(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        self.check_fields(GROUP, f, &["name", "attributes"], &["is_superuser"])?;
        let name = self.string(self.required(f, "name", at, GROUP)?)?;
        let existing = self.dir.groups.iter().position(|g| g.name == name);
        if !self.proceed(state, existing.is_some(), at, GROUP, &name)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.groups.remove(i);
            }
            return Ok(name);
        }
        let attributes = match f.get("attributes") {
            Some(n) => self.json(n)?,
            None => Default::default(),
        };
        let group = Group { name: name.clone(), attributes };
        match existing {
            Some(i) => self.dir.groups[i] = group,
            None => self.dir.groups.push(group),
        }
        Ok(name)
    }

    fn scope_mapping(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        self.check_fields(SCOPE_MAPPING, f, &["name", "managed", "scope_name", "expression", "description"], &[])?;
        let name = self.string(self.required(f, "name", at, SCOPE_MAPPING)?)?;
        let managed = f.get("managed").map(|n| self.string(n)).transpose()?;
        let existing = self.dir.mappings.iter().position(|m| match &managed {
            Some(id) => m.managed.as_deref() == Some(id.as_str()),
            None => m.name == name,
        });
        if !self.proceed(state, existing.is_some(), at, SCOPE_MAPPING, &name)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.mappings.remove(i);
            }
            return Ok(name);
        }
        let scope_name = self.string(self.required(f, "scope_name", at, SCOPE_MAPPING)?)?;
        let expression_node = self.required(f, "expression", at, SCOPE_MAPPING)?;
        let expression = self.string(expression_node)?;
        let kind = match Mapping::parse(&expression) {
            Ok(m) => MappingKind::Custom(m),
            Err(e) => {
                // A block scalar's position is its first content line.
                let line = expression_node.pos.line + e.line - 1;
                let pos = Pos { line, col: expression_node.pos.col };
                return self.err(
                    pos,
                    format!("scope mapping `{name}`: {}; see the recognised form in standin/README.md", e.message),
                );
            }
        };
        let description = f.get("description").map(|n| self.string(n)).transpose()?.unwrap_or_default();
        let mapping = ScopeMapping { name: name.clone(), managed, scope_name, description, kind };
        match existing {
            Some(i) => self.dir.mappings[i] = mapping,
            None => self.dir.mappings.push(mapping),
        }
        Ok(name)
    }

    fn provider(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        const KNOWN: &[&str] = &[
            "name",
            "authorization_flow",
            "invalidation_flow",
            "client_type",
            "client_id",
            "client_secret",
            "redirect_uris",
            "property_mappings",
            "signing_key",
            "sub_mode",
            "issuer_mode",
            "access_code_validity",
            "access_token_validity",
            "refresh_token_validity",
            "include_claims_in_id_token",
        ];
        self.check_fields(PROVIDER, f, KNOWN, &["authentication_flow", "logout_method", "backchannel_logout_uri"])?;
        let name = self.string(self.required(f, "name", at, PROVIDER)?)?;
        let existing = self.dir.providers.iter().position(|p| p.name == name);
        if !self.proceed(state, existing.is_some(), at, PROVIDER, &name)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.providers.remove(i);
            }
            return Ok(name);
        }
        let mut p = match existing {
            Some(i) => self.dir.providers[i].clone(),
            None => Provider::new(name.clone()),
        };
        if existing.is_none() {
            self.required(f, "authorization_flow", at, PROVIDER)?;
            self.required(f, "client_id", at, PROVIDER)?;
        }
        if let Some(n) = f.get("authorization_flow") {
            p.authorization_flow = self.flow_ref(n)?;
            if p.authorization_flow == crate::directory::AUTHENTICATION_FLOW {
                return self.err(n.pos, "`authorization_flow` must be an authorization flow");
            }
        }
        if let Some(n) = f.get("invalidation_flow") {
            p.invalidation_flow = Some(self.flow_ref(n)?);
        }
        if let Some(n) = f.get("client_type") {
            p.confidential = match self.string(n)?.as_str() {
                "confidential" => true,
                "public" => false,
                other => return self.err(n.pos, format!("client_type `{other}` is not confidential or public")),
            };
        }
        if let Some(n) = f.get("client_id") {
            p.client_id = self.string(n)?;
        }
        if let Some(n) = f.get("client_secret") {
            p.client_secret = Secret::new(self.string(n)?);
        }
        if let Some(n) = f.get("redirect_uris") {
            p.redirect_uris = self.redirect_uris(n)?;
        }
        if let Some(n) = f.get("property_mappings") {
            let Some(items) = n.as_seq() else { return self.err(n.pos, "`property_mappings` must be a list") };
            p.mappings = items.iter().map(|m| self.mapping_ref(m)).collect::<Result<_, _>>()?;
        }
        if let Some(n) = f.get("signing_key") {
            p.signing_key = if n.is_null() {
                None
            } else {
                let (_, key) = self.reference(n, KEYPAIR, &["name"])?;
                if key != SELF_SIGNED_KEY {
                    return self.err(n.pos, format!("the stand-in has one key pair, `{SELF_SIGNED_KEY}`; not `{key}`"));
                }
                Some(key)
            };
        }
        if let Some(n) = f.get("sub_mode") {
            p.sub_mode = match self.string(n)?.as_str() {
                "hashed_user_id" => SubMode::HashedUserId,
                "user_id" => SubMode::UserId,
                "user_uuid" => SubMode::UserUuid,
                "user_username" => SubMode::UserUsername,
                "user_email" => SubMode::UserEmail,
                "user_upn" => SubMode::UserUpn,
                other => return self.err(n.pos, format!("sub_mode `{other}` is not one of authentik's")),
            };
        }
        if let Some(n) = f.get("issuer_mode") {
            p.issuer_mode = match self.string(n)?.as_str() {
                "per_provider" => IssuerMode::PerProvider,
                "global" => IssuerMode::Global,
                other => return self.err(n.pos, format!("issuer_mode `{other}` is not per_provider or global")),
            };
        }
        for (field, slot) in [
            ("access_code_validity", &mut p.access_code_validity),
            ("access_token_validity", &mut p.access_token_validity),
            ("refresh_token_validity", &mut p.refresh_token_validity),
        ] {
            if let Some(n) = f.get(field) {
                let text = self.string(n)?;
                *slot = match parse_timedelta(&text) {
                    Some(d) => d,
                    None => {
                        return self
                            .err(n.pos, format!("`{field}` `{text}` is not like `minutes=1` or `hours=1;minutes=30`"));
                    }
                };
            }
        }
        if let Some(n) = f.get("include_claims_in_id_token") {
            p.include_claims_in_id_token = self.boolean(n)?;
        }
        if self.dir.providers.iter().enumerate().any(|(i, o)| Some(i) != existing && o.client_id == p.client_id) {
            return self.err(at, format!("another provider already has client_id `{}`", p.client_id));
        }
        match existing {
            Some(i) => self.dir.providers[i] = p,
            None => self.dir.providers.push(p),
        }
        Ok(name)
    }

    fn redirect_uris(&self, node: &Node) -> Result<Vec<RedirectUri>, BlueprintError> {
        let Some(items) = node.as_seq() else {
            return self
                .err(node.pos, "`redirect_uris` is a list of {matching_mode, url} (authentik 2024.12 and later)");
        };
        let mut out = Vec::new();
        for item in items {
            for (k, _) in item.as_map().unwrap_or_default() {
                if !matches!(k.as_str(), Some("matching_mode" | "url" | "redirect_uri_type")) {
                    return self.err(k.pos, format!("unknown redirect URI field `{}`", k.as_str().unwrap_or("?")));
                }
            }
            let (Some(mode), Some(url)) = (item.get("matching_mode"), item.get("url")) else {
                return self.err(item.pos, "a redirect URI needs `matching_mode` and `url`");
            };
            if let Some(kind) = item.get("redirect_uri_type")
                && self.string(kind)? == "logout"
            {
                continue;
            }
            let mode = match self.string(mode)?.as_str() {
                "strict" => MatchingMode::Strict,
                "regex" => MatchingMode::Regex,
                other => return self.err(mode.pos, format!("matching_mode `{other}` is not strict or regex")),
            };
            let url_text = self.string(url)?;
            if mode == MatchingMode::Regex
                && let Err(e) = regex_lite::Regex::new(&url_text)
            {
                return self.err(url.pos, format!("`{url_text}` is not a regular expression: {e}"));
            }
            out.push(RedirectUri { mode, url: url_text });
        }
        Ok(out)
    }

    fn application(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        const IGNORED: &[&str] = &["meta_description", "meta_publisher", "meta_icon", "open_in_new_tab", "group"];
        self.check_fields(
            APPLICATION,
            f,
            &["slug", "name", "provider", "meta_launch_url", "policy_engine_mode"],
            IGNORED,
        )?;
        let slug = self.string(self.required(f, "slug", at, APPLICATION)?)?;
        let existing = self.dir.applications.iter().position(|a| a.slug == slug);
        if !self.proceed(state, existing.is_some(), at, APPLICATION, &slug)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.applications.remove(i);
            }
            return Ok(slug);
        }
        let mut app = match existing {
            Some(i) => self.dir.applications[i].clone(),
            None => Application {
                slug: slug.clone(),
                name: slug.clone(),
                provider: None,
                meta_launch_url: None,
                policy_mode_all: false,
            },
        };
        if let Some(n) = f.get("name") {
            app.name = self.string(n)?;
        }
        if let Some(n) = f.get("provider") {
            let (_, name) = self.reference(n, PROVIDER, &["name"])?;
            if self.dir.provider(&name).is_none() {
                return self.err(n.pos, format!("no provider `{name}`"));
            }
            app.provider = Some(name);
        }
        if let Some(n) = f.get("meta_launch_url") {
            app.meta_launch_url = Some(self.string(n)?);
        }
        if let Some(n) = f.get("policy_engine_mode") {
            app.policy_mode_all = match self.string(n)?.as_str() {
                "any" => false,
                "all" => true,
                other => return self.err(n.pos, format!("policy_engine_mode `{other}` is not any or all")),
            };
        }
        match existing {
            Some(i) => self.dir.applications[i] = app,
            None => self.dir.applications.push(app),
        }
        Ok(slug)
    }

    fn binding(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        self.check_fields(
            BINDING,
            f,
            &["target", "order", "user", "group", "negate", "enabled"],
            &["timeout", "failure_result"],
        )?;
        if let Some(policy) = f.get("policy") {
            return self.err(
                policy.pos,
                "policy bindings to policies are not supported by the stand-in; bind a user or group",
            );
        }
        let target_node = self.required(f, "target", at, BINDING)?;
        let (_, target) = self.reference(target_node, APPLICATION, &["slug"])?;
        if self.dir.application(&target).is_none() {
            return self.err(target_node.pos, format!("no application `{target}`"));
        }
        let order_node = self.required(f, "order", at, BINDING)?;
        let Some(order) = order_node.as_i64() else { return self.err(order_node.pos, "`order` must be a number") };
        let key = format!("{target}#{order}");
        let existing = self.dir.bindings.iter().position(|b| b.target == target && b.order == order);
        if !self.proceed(state, existing.is_some(), at, BINDING, &key)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.bindings.remove(i);
            }
            return Ok(key);
        }
        let subject = match (f.get("user"), f.get("group")) {
            (Some(u), None) => BindingSubject::User(self.user_ref(u)?),
            (None, Some(g)) => BindingSubject::Group(self.group_ref(g)?),
            _ => return self.err(at, "a policy binding needs exactly one of `user` or `group`"),
        };
        let negate = f.get("negate").map(|n| self.boolean(n)).transpose()?.unwrap_or(false);
        let enabled = f.get("enabled").map(|n| self.boolean(n)).transpose()?.unwrap_or(true);
        let binding = Binding { target, order, subject, negate, enabled };
        match existing {
            Some(i) => self.dir.bindings[i] = binding,
            None => self.dir.bindings.push(binding),
        }
        Ok(key)
    }
}

/// A stable UUID-shaped id for a username (the stand-in has no database).
pub(crate) fn uuid_for(username: &str) -> String {
    let h = crate::directory::hex_sha256(username);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
