//! The models a blueprint entry may create: users, groups, scope mappings, OAuth2 providers,
//! applications and policy bindings, each with the fields authentik 2026.x takes.

use crate::directory::{
    Application, Binding, BindingSubject, Group, IssuerMode, MappingKind, MatchingMode, Provider, RedirectUri,
    SELF_SIGNED_KEY, ScopeMapping, SubMode, User, parse_timedelta,
};
use crate::expr::Mapping;
use ak_protocol::secret::Secret;
use ak_protocol::yaml::{Node, Pos};

use super::{
    APPLICATION, BINDING, BlueprintError, Ctx, Fields, GROUP, KEYPAIR, PROVIDER, SCOPE_MAPPING, STAGE_BINDING, State,
    USER,
};

impl Ctx<'_> {
    pub(super) fn user(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
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
    pub(super) fn proceed(
        &self,
        state: State,
        exists: bool,
        at: Pos,
        model: &str,
        key: &str,
    ) -> Result<bool, BlueprintError> {
        match (state, exists) {
            (State::Absent, _) => Ok(false),
            (State::Created, true) => Ok(false),
            (State::MustCreated, true) => {
                self.err(at, format!("`{model}` `{key}` already exists (state: must_created)"))
            }
            _ => Ok(true),
        }
    }

    pub(super) fn group(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
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

    pub(super) fn scope_mapping(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
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

    pub(super) fn provider(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
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
            "authentication_flow",
        ];
        self.check_fields(PROVIDER, f, KNOWN, &["logout_method", "backchannel_logout_uri"])?;
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
        self.provider_client_fields(f, &mut p)?;
        self.provider_token_fields(f, &mut p)?;
        if self.dir.providers.iter().enumerate().any(|(i, o)| Some(i) != existing && o.client_id == p.client_id) {
            return self.err(at, format!("another provider already has client_id `{}`", p.client_id));
        }
        match existing {
            Some(i) => self.dir.providers[i] = p,
            None => self.dir.providers.push(p),
        }
        Ok(name)
    }

    /// Sets the provider fields a blueprint gives about the client: its flows, type, credentials and mappings.
    fn provider_client_fields(&self, f: &Fields<'_>, p: &mut Provider) -> Result<(), BlueprintError> {
        if let Some(n) = f.get("authorization_flow") {
            p.authorization_flow = self.flow_ref(n)?;
            if p.authorization_flow == crate::directory::AUTHENTICATION_FLOW
                || self.dir.login_flow(&p.authorization_flow).is_some()
            {
                return self.err(n.pos, "`authorization_flow` must be an authorization flow");
            }
        }
        if let Some(n) = f.get("invalidation_flow") {
            p.invalidation_flow = Some(self.flow_ref(n)?);
        }
        if let Some(n) = f.get("authentication_flow") {
            p.authentication_flow = if n.is_null() { None } else { Some(self.flow_ref(n)?) };
            let slug = p.authentication_flow.as_deref().unwrap_or(crate::directory::AUTHENTICATION_FLOW);
            if slug != crate::directory::AUTHENTICATION_FLOW && self.dir.login_flow(slug).is_none() {
                return self.err(n.pos, "`authentication_flow` must be an authentication flow");
            }
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
        Ok(())
    }

    /// Sets the provider fields a blueprint gives about its tokens: key, `sub` and issuer modes, lifetimes, claims.
    fn provider_token_fields(&self, f: &Fields<'_>, p: &mut Provider) -> Result<(), BlueprintError> {
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
            let name = self.string(n)?;
            p.sub_mode = match SubMode::parse(&name) {
                Some(mode) => mode,
                None => return self.err(n.pos, format!("sub_mode `{name}` is not one of authentik's")),
            };
        }
        if let Some(n) = f.get("issuer_mode") {
            let name = self.string(n)?;
            p.issuer_mode = match IssuerMode::parse(&name) {
                Some(mode) => mode,
                None => return self.err(n.pos, format!("issuer_mode `{name}` is not per_provider or global")),
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
        Ok(())
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

    pub(super) fn application(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
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

    pub(super) fn binding(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        self.check_fields(
            BINDING,
            f,
            &["target", "order", "user", "group", "policy", "negate", "enabled"],
            &["timeout", "failure_result"],
        )?;
        let target_node = self.required(f, "target", at, BINDING)?;
        if let Some((STAGE_BINDING, target)) = target_node
            .as_str()
            .filter(|_| target_node.tag.as_deref() == Some("!KeyOf"))
            .and_then(|id| self.ids.get(id))
            .map(|(m, k)| (*m, k.clone()))
        {
            return self.stage_policy(f, state, at, &target);
        }
        if let Some(policy) = f.get("policy") {
            return self.err(
                policy.pos,
                "the stand-in binds a policy to a flow's stage binding only; bind a user or group to an application",
            );
        }
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
