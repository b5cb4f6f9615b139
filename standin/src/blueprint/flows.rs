//! The flow models a blueprint entry may create: authentication flows, the stages the stand-in
//! runs in them (identification, authenticator validation as an identification stage's passkey
//! settings, deny, user login), their bindings, and expression policies of the form
//! [`crate::expr::FlowTest`] recognises. A flow is run by [`crate::login_flow`].

use crate::directory::{LoginFlow, StageBinding, StageDef, StagePolicy, StageTest};
use crate::expr::FlowTest;
use ak_protocol::yaml::{Node, Pos};

use super::{
    BlueprintError, Ctx, DENY_STAGE, EXPRESSION_POLICY, FLOW, Fields, IDENTIFICATION_STAGE, STAGE_BINDING, State,
    USER_LOGIN_STAGE, VALIDATE_STAGE,
};

/// The stage models, for references to "a stage".
const STAGE_MODELS: &[&str] = &[IDENTIFICATION_STAGE, VALIDATE_STAGE, DENY_STAGE, USER_LOGIN_STAGE];

impl Ctx<'_> {
    pub(super) fn flow(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        const IGNORED: &[&str] =
            &["authentication", "layout", "background", "compatibility_mode", "denied_action", "policy_engine_mode"];
        self.check_fields(FLOW, f, &["slug", "name", "title", "designation"], IGNORED)?;
        let slug_node = self.required(f, "slug", at, FLOW)?;
        let slug = self.string(slug_node)?;
        if crate::directory::is_flow(&slug) {
            return self.err(
                slug_node.pos,
                format!("`{slug}` is built into the stand-in as authentik ships it; a blueprint's flow needs a slug of its own"),
            );
        }
        let existing = self.dir.login_flows.iter().position(|f| f.slug == slug);
        if !self.proceed(state, existing.is_some(), at, FLOW, &slug)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.login_flows.remove(i);
            }
            return Ok(slug);
        }
        if let Some(n) = f.get("designation") {
            let designation = self.string(n)?;
            if designation != "authentication" {
                return self.err(
                    n.pos,
                    format!("the stand-in runs a blueprint's flows of designation `authentication` only, not `{designation}`"),
                );
            }
        } else if existing.is_none() {
            self.required(f, "designation", at, FLOW)?;
        }
        let mut flow = match existing {
            Some(i) => self.dir.login_flows[i].clone(),
            None => LoginFlow { slug: slug.clone(), title: slug.clone(), bindings: Vec::new() },
        };
        if let Some(n) = f.get("title") {
            flow.title = self.string(n)?;
        }
        match existing {
            Some(i) => self.dir.login_flows[i] = flow,
            None => self.dir.login_flows.push(flow),
        }
        Ok(slug)
    }

    /// Any of the stage models: `model` says which.
    pub(super) fn stage(
        &mut self,
        model: &str,
        f: &Fields<'_>,
        state: State,
        at: Pos,
    ) -> Result<String, BlueprintError> {
        let (known, ignored): (&[&str], &[&str]) = match model {
            IDENTIFICATION_STAGE => (
                &["name", "user_fields", "pretend_user_exists", "webauthn_stage"],
                &["case_insensitive_matching", "show_matched_user", "show_source_labels", "enable_remember_me"],
            ),
            VALIDATE_STAGE => (
                &["name", "device_classes", "webauthn_user_verification", "not_configured_action"],
                &["last_auth_threshold"],
            ),
            DENY_STAGE => (&["name", "deny_message"], &[]),
            _ => (&["name"], &["session_duration", "remember_me_offset", "terminate_other_sessions"]),
        };
        self.check_fields(model, f, known, ignored)?;
        let name = self.string(self.required(f, "name", at, model)?)?;
        let existing = self.dir.stages.iter().position(|(n, _)| *n == name);
        if !self.proceed(state, existing.is_some(), at, model, &name)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.stages.remove(i);
            }
            return Ok(name);
        }
        let def = match model {
            IDENTIFICATION_STAGE => self.identification_stage(f, at)?,
            VALIDATE_STAGE => {
                if let Some(n) = f.get("device_classes") {
                    let classes = self.strings(n)?;
                    if !classes.iter().any(|c| c == "webauthn") {
                        return self.err(
                            n.pos,
                            "the stand-in runs an authenticator validation stage as an identification stage's \
                             `webauthn_stage` only, so its `device_classes` must hold `webauthn`",
                        );
                    }
                }
                let user_verification = match f.get("webauthn_user_verification") {
                    Some(n) => self.one_of(n, &["required", "preferred", "discouraged"])?,
                    None => "preferred".into(),
                };
                if let Some(n) = f.get("not_configured_action") {
                    self.one_of(n, &["skip", "deny", "configure"])?;
                }
                StageDef::AuthenticatorValidate { user_verification }
            }
            DENY_STAGE => StageDef::Deny { message: f.get("deny_message").map(|n| self.string(n)).transpose()? },
            _ => StageDef::UserLogin,
        };
        match existing {
            Some(i) => self.dir.stages[i] = (name.clone(), def),
            None => self.dir.stages.push((name.clone(), def)),
        }
        Ok(name)
    }

    fn identification_stage(&self, f: &Fields<'_>, at: Pos) -> Result<StageDef, BlueprintError> {
        let user_fields = match f.get("user_fields") {
            Some(n) => {
                let fields = self.strings(n)?;
                if let Some(bad) = fields.iter().find(|x| !matches!(x.as_str(), "email" | "username")) {
                    return self.err(n.pos, format!("the stand-in matches `email` and `username`, not `{bad}`"));
                }
                if fields.is_empty() {
                    // As authentik's serializer: "When no user fields are selected, at least one
                    // source must be selected" (the stand-in has no sources).
                    return self.err(
                        n.pos,
                        "`user_fields` is empty: authentik then needs a source, which the stand-in has none of",
                    );
                }
                fields
            }
            None => return self.err(at, format!("`{IDENTIFICATION_STAGE}` needs `user_fields`")),
        };
        let pretend_user_exists = f.get("pretend_user_exists").map(|n| self.boolean(n)).transpose()?.unwrap_or(true);
        let webauthn_stage = match f.get("webauthn_stage") {
            Some(n) if n.is_null() => None,
            Some(n) => {
                let name = self.stage_ref(n)?;
                if !matches!(self.dir.stage(&name), Some(StageDef::AuthenticatorValidate { .. })) {
                    return self.err(
                        n.pos,
                        format!("`webauthn_stage` must be an authenticator validation stage; `{name}` is not"),
                    );
                }
                Some(name)
            }
            None => None,
        };
        Ok(StageDef::Identification { user_fields, pretend_user_exists, webauthn_stage })
    }

    pub(super) fn expression_policy(
        &mut self,
        f: &Fields<'_>,
        state: State,
        at: Pos,
    ) -> Result<String, BlueprintError> {
        self.check_fields(EXPRESSION_POLICY, f, &["name", "expression"], &["execution_logging"])?;
        let name = self.string(self.required(f, "name", at, EXPRESSION_POLICY)?)?;
        let existing = self.dir.policies.iter().position(|(n, _)| *n == name);
        if !self.proceed(state, existing.is_some(), at, EXPRESSION_POLICY, &name)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.policies.remove(i);
            }
            return Ok(name);
        }
        let node = self.required(f, "expression", at, EXPRESSION_POLICY)?;
        let test = FlowTest::parse(&self.string(node)?).or_else(|e| {
            // A block scalar's position is its first content line.
            let pos = Pos { line: node.pos.line + e.line - 1, col: node.pos.col };
            self.err(
                pos,
                format!("expression policy `{name}`: {}; see the recognised form in standin/README.md", e.message),
            )
        })?;
        match existing {
            Some(i) => self.dir.policies[i] = (name.clone(), test),
            None => self.dir.policies.push((name.clone(), test)),
        }
        Ok(name)
    }

    pub(super) fn stage_binding(&mut self, f: &Fields<'_>, state: State, at: Pos) -> Result<String, BlueprintError> {
        const IGNORED: &[&str] = &["invalid_response_action"];
        let known = &["target", "stage", "order", "re_evaluate_policies", "evaluate_on_plan", "policy_engine_mode"];
        self.check_fields(STAGE_BINDING, f, known, IGNORED)?;
        let target_node = self.required(f, "target", at, STAGE_BINDING)?;
        let (_, flow) = self.reference(target_node, FLOW, &["slug"])?;
        let Some(index) = self.dir.login_flows.iter().position(|x| x.slug == flow) else {
            return self.err(
                target_node.pos,
                format!("no flow `{flow}` from a blueprint: the stand-in binds stages to its blueprints' flows only"),
            );
        };
        let order_node = self.required(f, "order", at, STAGE_BINDING)?;
        let Some(order) = order_node.as_i64() else { return self.err(order_node.pos, "`order` must be a number") };
        let key = format!("{flow}#{order}");
        let existing = self.dir.login_flows[index].bindings.iter().position(|b| b.order == order);
        if !self.proceed(state, existing.is_some(), at, STAGE_BINDING, &key)? {
            if let (State::Absent, Some(i)) = (state, existing) {
                self.dir.login_flows[index].bindings.remove(i);
            }
            return Ok(key);
        }
        let stage_node = self.required(f, "stage", at, STAGE_BINDING)?;
        let stage = self.stage_ref(stage_node)?;
        if matches!(self.dir.stage(&stage), Some(StageDef::AuthenticatorValidate { .. })) {
            return self.err(
                stage_node.pos,
                "the stand-in runs an authenticator validation stage as an identification stage's `webauthn_stage` only",
            );
        }
        if let Some(n) = f.get("evaluate_on_plan")
            && self.boolean(n)?
        {
            return self.err(n.pos, "the stand-in judges a binding's policies when its stage comes (`re_evaluate_policies`), not at planning");
        }
        if let Some(n) = f.get("re_evaluate_policies")
            && !self.boolean(n)?
        {
            return self.err(
                n.pos,
                "the stand-in judges a binding's policies when its stage comes: `re_evaluate_policies: true`",
            );
        }
        let mode_all = match f.get("policy_engine_mode") {
            Some(n) => self.one_of(n, &["any", "all"])? == "all",
            None => false,
        };
        let policies = existing.map(|i| self.dir.login_flows[index].bindings[i].policies.clone()).unwrap_or_default();
        let binding = StageBinding { order, stage, policies, mode_all };
        let bindings = &mut self.dir.login_flows[index].bindings;
        match existing {
            Some(i) => bindings[i] = binding,
            None => bindings.push(binding),
        }
        bindings.sort_by_key(|b| b.order);
        Ok(key)
    }

    /// A policy binding whose target is a stage binding (`!KeyOf` its entry): a user, a group or
    /// an expression policy.
    pub(super) fn stage_policy(
        &mut self,
        f: &Fields<'_>,
        state: State,
        at: Pos,
        target: &str,
    ) -> Result<String, BlueprintError> {
        let Some((flow, order)) =
            target.rsplit_once('#').and_then(|(f, o)| Some((f.to_string(), o.parse::<i64>().ok()?)))
        else {
            return self.err(at, format!("no stage binding `{target}`"));
        };
        let order_node = self.required(f, "order", at, super::BINDING)?;
        let Some(policy_order) = order_node.as_i64() else {
            return self.err(order_node.pos, "`order` must be a number");
        };
        let test = match (f.get("user"), f.get("group"), f.get("policy")) {
            (Some(u), None, None) => StageTest::Subject(crate::directory::BindingSubject::User(self.user_ref(u)?)),
            (None, Some(g), None) => StageTest::Subject(crate::directory::BindingSubject::Group(self.group_ref(g)?)),
            (None, None, Some(p)) => {
                let (_, name) = self.reference(p, EXPRESSION_POLICY, &["name"])?;
                match self.dir.policies.iter().find(|(n, _)| *n == name) {
                    Some((_, test)) => StageTest::Expression(*test),
                    None => return self.err(p.pos, format!("no expression policy `{name}`")),
                }
            }
            _ => return self.err(at, "a policy binding needs exactly one of `user`, `group` or `policy`"),
        };
        let negate = f.get("negate").map(|n| self.boolean(n)).transpose()?.unwrap_or(false);
        let enabled = f.get("enabled").map(|n| self.boolean(n)).transpose()?.unwrap_or(true);
        let key = format!("{target}#{policy_order}");
        let Some(binding) = self
            .dir
            .login_flows
            .iter_mut()
            .find(|x| x.slug == flow)
            .and_then(|x| x.bindings.iter_mut().find(|b| b.order == order))
        else {
            return self.err(at, format!("no stage binding `{target}`"));
        };
        let existing = binding.policies.iter().position(|p| p.order == policy_order);
        match (state, existing) {
            (State::Absent, Some(i)) => {
                binding.policies.remove(i);
            }
            (State::Absent, None) | (State::Created, Some(_)) => {}
            (State::MustCreated, Some(_)) => {
                return self.err(at, format!("`{}` `{key}` already exists (state: must_created)", super::BINDING));
            }
            (_, Some(i)) => binding.policies[i] = StagePolicy { order: policy_order, test, negate, enabled },
            (_, None) => binding.policies.push(StagePolicy { order: policy_order, test, negate, enabled }),
        }
        binding.policies.sort_by_key(|p| p.order);
        Ok(key)
    }

    /// A stage, by `!KeyOf` its entry or `!Find [<stage model>, [name, …]]`.
    fn stage_ref(&self, node: &Node) -> Result<String, BlueprintError> {
        let model = match node.tag.as_deref() {
            Some("!KeyOf") => node.as_str().and_then(|id| self.ids.get(id)).map(|(m, _)| *m),
            Some("!Find") => node
                .as_seq()
                .and_then(|items| items.first())
                .and_then(|m| m.as_str())
                .and_then(|m| STAGE_MODELS.iter().copied().find(|s| *s == m)),
            _ => None,
        }
        .unwrap_or(STAGE_MODELS[0]);
        let (_, name) = self.reference(node, model, &["name"])?;
        if self.dir.stage(&name).is_none() {
            return self.err(node.pos, format!("no stage `{name}` (a stage must come before what refers to it)"));
        }
        Ok(name)
    }

    fn strings(&self, node: &Node) -> Result<Vec<String>, BlueprintError> {
        let Some(items) = node.as_seq() else { return self.err(node.pos, "expected a list") };
        items.iter().map(|n| self.string(n)).collect()
    }

    fn one_of(&self, node: &Node, allowed: &[&str]) -> Result<String, BlueprintError> {
        let value = self.string(node)?;
        if allowed.contains(&value.as_str()) {
            Ok(value)
        } else {
            self.err(node.pos, format!("`{value}` is not one of {}", allowed.join(", ")))
        }
    }
}
