//! The admin API's applications, OAuth2 providers, scope mappings, certificate-key pairs,
//! flows and policy bindings, served as the types of [`ak_protocol::authentik::admin`] (what
//! `ak-e2e doctor` reads and a twin copies), with authentik's own evaluations:
//! `…/applications/<slug>/check_access/?for_user=`, `…/providers/oauth2/<pk>/preview_user/?for_user=`
//! and `…/propertymappings/all/<pk>/test/`. Twins are made and deleted here too: providers,
//! applications (deleting one deletes its bindings, as in authentik) and bindings.
//!
//! Keys: a provider's pk comes from its name, other objects' UUIDs from their names
//! (`uuid_for`); groups are also accepted by name. Bindings bind users and groups only (the
//! stand-in has no policies), so `check_access` never has a policy's message.

use std::sync::Arc;

use ak_protocol::authentik::admin::{self, MatchingMode as Mode, PolicyEngineMode};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::admin_api::{listing, not_found, param, with_directory};
use crate::blueprint::uuid_for;
use crate::directory::{
    Application, Binding, BindingSubject, Directory, FLOWS, IssuerMode, MatchingMode, Provider, RedirectUri,
    SELF_SIGNED_KEY, SubMode, User, parse_timedelta, timedelta,
};
use crate::shared::Shared;

type Shared_ = State<Arc<Shared>>;

fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(serde_json::to_value(value).unwrap_or_default()).into_response()
}

fn bad(field: &str, why: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ field: [why] }))).into_response()
}

/// A provider as the admin API shows it.
fn provider_view(dir: &Directory, p: &Provider) -> admin::OAuth2Provider {
    let flow = |slug: &str| uuid_for(slug);
    let mut other = serde_json::Map::new();
    other.insert("assigned_application_slug".into(), json!(dir.application_of(&p.name).map(|a| a.slug.clone())));
    admin::OAuth2Provider {
        pk: p.pk(),
        name: p.name.clone(),
        client_type: if p.confidential { "confidential" } else { "public" }.into(),
        client_id: p.client_id.clone(),
        client_secret: p.client_secret.clone(),
        redirect_uris: p
            .redirect_uris
            .iter()
            .map(|u| admin::RedirectUri {
                matching_mode: if u.mode == MatchingMode::Regex { Mode::Regex } else { Mode::Strict },
                url: u.url.clone(),
            })
            .collect(),
        property_mappings: p.mappings.iter().map(|m| uuid_for(m)).collect(),
        signing_key: p.signing_key.as_deref().map(uuid_for),
        encryption_key: None,
        authorization_flow: Some(flow(&p.authorization_flow)),
        invalidation_flow: p.invalidation_flow.as_deref().map(flow),
        sub_mode: p.sub_mode.as_str().into(),
        issuer_mode: p.issuer_mode.as_str().into(),
        access_code_validity: timedelta(p.access_code_validity),
        access_token_validity: timedelta(p.access_token_validity),
        refresh_token_validity: timedelta(p.refresh_token_validity),
        include_claims_in_id_token: p.include_claims_in_id_token,
        other,
    }
}

fn application_view(dir: &Directory, a: &Application) -> admin::Application {
    admin::Application {
        pk: uuid_for(&a.slug),
        name: a.name.clone(),
        slug: a.slug.clone(),
        provider: a.provider.as_deref().and_then(|p| dir.provider(p)).map(Provider::pk),
        policy_engine_mode: if a.policy_mode_all { PolicyEngineMode::All } else { PolicyEngineMode::Any },
        meta_launch_url: a.meta_launch_url.clone(),
    }
}

fn binding_view(dir: &Directory, b: &Binding) -> admin::PolicyBinding {
    let (user, group) = match &b.subject {
        BindingSubject::User(name) => (dir.users.iter().find(|u| u.username == *name), None),
        BindingSubject::Group(name) => (None, Some(name)),
    };
    admin::PolicyBinding {
        pk: uuid_for(&format!("{}#{}", b.target, b.order)),
        policy: None,
        group: group.map(|g| uuid_for(g)),
        user: user.map(|u| u.pk),
        policy_obj: None,
        group_obj: group.map(|g| admin::GroupRef { name: g.clone() }),
        user_obj: user.map(|u| admin::UserRef { username: u.username.clone() }),
        target: uuid_for(&b.target),
        order: b.order,
        negate: b.negate,
        enabled: b.enabled,
        timeout: 30,
        failure_result: false,
    }
}

/// authentik's self-signed pair; its expiry a year on, or as `certificate-expires` says.
fn keypair_view(shared: &Shared) -> admin::CertificateKeyPair {
    let days = shared
        .defects
        .iter()
        .find_map(|d| match d {
            crate::Defect::CertificateExpires(days) => Some(*days),
            _ => None,
        })
        .unwrap_or(365);
    let expiry = i64::try_from(ak_protocol::time::now_secs()).unwrap_or(0) + days * 86_400;
    admin::CertificateKeyPair {
        pk: uuid_for(SELF_SIGNED_KEY),
        name: SELF_SIGNED_KEY.into(),
        cert_expiry: Some(ak_protocol::time::iso8601(expiry)),
        private_key_available: true,
        key_type: Some("rsa".into()),
    }
}

/// `GET /api/v3/core/applications/?search=`.
pub(crate) async fn applications(State(shared): Shared_, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let search = param(q.as_deref(), "search").unwrap_or_default();
    listing(&shared, &headers, |dir| {
        let found = dir.applications.iter().filter(|a| a.slug.contains(&search) || a.name.contains(&search));
        found.map(|a| serde_json::to_value(application_view(dir, a)).unwrap_or_default()).collect()
    })
}

/// `GET /api/v3/core/applications/<slug>/`.
pub(crate) async fn application(State(shared): Shared_, headers: HeaderMap, Path(slug): Path<String>) -> Response {
    with_directory(&shared, &headers, |dir| match dir.application(&slug) {
        Some(a) => json(&application_view(dir, a)),
        None => not_found("Application"),
    })
}

/// `POST /api/v3/core/applications/`: name, slug (unique), provider, policy engine mode.
pub(crate) async fn create_application(
    State(shared): Shared_,
    headers: HeaderMap,
    axum::Json(body): axum::Json<admin::NewApplication>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        if dir.application(&body.slug).is_some() {
            return bad("slug", "Application with this slug already exists.".into());
        }
        let Some(provider) = dir.providers.iter().find(|p| p.pk() == body.provider).map(|p| p.name.clone()) else {
            return bad("provider", format!("Invalid pk \"{}\" - object does not exist.", body.provider));
        };
        let app = Application {
            slug: body.slug,
            name: body.name,
            provider: Some(provider),
            meta_launch_url: None,
            policy_mode_all: body.policy_engine_mode == PolicyEngineMode::All,
        };
        let shown = application_view(dir, &app);
        dir.applications.push(app);
        (StatusCode::CREATED, json(&shown)).into_response()
    })
}

/// `DELETE /api/v3/core/applications/<slug>/`: the application and its bindings.
pub(crate) async fn delete_application(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(i) = dir.applications.iter().position(|a| a.slug == slug) else { return not_found("Application") };
        dir.applications.remove(i);
        dir.bindings.retain(|b| b.target != slug);
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `GET /api/v3/core/applications/<slug>/check_access/?for_user=<pk>`.
pub(crate) async fn check_access(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(slug): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(app) = dir.application(&slug) else { return not_found("Application") };
        let Some(user) = for_user(dir, q.as_deref()) else { return bad("for_user", "User not found".into()) };
        json(&admin::AccessCheck { passing: dir.has_access(user, app), messages: Vec::new() })
    })
}

fn for_user<'d>(dir: &'d Directory, query: Option<&str>) -> Option<&'d User> {
    param(query, "for_user").and_then(|pk| pk.parse().ok()).and_then(|pk| dir.user(pk))
}

/// `GET /api/v3/providers/oauth2/?search=`.
pub(crate) async fn providers(State(shared): Shared_, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let search = param(q.as_deref(), "search").unwrap_or_default();
    listing(&shared, &headers, |dir| {
        let found = dir.providers.iter().filter(|p| p.name.contains(&search));
        found.map(|p| serde_json::to_value(provider_view(dir, p)).unwrap_or_default()).collect()
    })
}

/// `GET /api/v3/providers/oauth2/<pk>/`.
pub(crate) async fn provider(State(shared): Shared_, headers: HeaderMap, Path(pk): Path<u64>) -> Response {
    with_directory(&shared, &headers, |dir| match dir.providers.iter().find(|p| p.pk() == pk) {
        Some(p) => json(&provider_view(dir, p)),
        None => not_found("OAuth2Provider"),
    })
}

/// `DELETE /api/v3/providers/oauth2/<pk>/`: an application using it is left without one.
pub(crate) async fn delete_provider(State(shared): Shared_, headers: HeaderMap, Path(pk): Path<u64>) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(i) = dir.providers.iter().position(|p| p.pk() == pk) else { return not_found("OAuth2Provider") };
        let gone = dir.providers.remove(i);
        for app in dir.applications.iter_mut().filter(|a| a.provider.as_deref() == Some(gone.name.as_str())) {
            app.provider = None;
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `POST /api/v3/providers/oauth2/`: a provider from the fields a twin sends.
pub(crate) async fn create_provider(
    State(shared): Shared_,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_directory(&shared, &headers, |dir| match provider_from(dir, &body) {
        Ok(p) => {
            let shown = provider_view(dir, &p);
            dir.providers.push(p);
            (StatusCode::CREATED, json(&shown)).into_response()
        }
        Err((field, why)) => bad(field, why),
    })
}

fn provider_from(dir: &Directory, body: &Value) -> Result<Provider, (&'static str, String)> {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let name = text("name");
    if name.is_empty() {
        return Err(("name", "This field is required.".into()));
    }
    if dir.provider(&name).is_some() {
        return Err(("name", "Provider with this name already exists.".into()));
    }
    let mut p = Provider::new(name);
    p.client_id = text("client_id");
    p.client_secret = ak_protocol::secret::Secret::new(text("client_secret"));
    p.confidential = text("client_type") != "public";
    let uris: Vec<admin::RedirectUri> = serde_json::from_value(body["redirect_uris"].clone()).unwrap_or_default();
    p.redirect_uris = uris
        .into_iter()
        .map(|u| RedirectUri {
            mode: if u.matching_mode == Mode::Regex { MatchingMode::Regex } else { MatchingMode::Strict },
            url: u.url,
        })
        .collect();
    for pk in body["property_mappings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let m = dir.mappings.iter().find(|m| uuid_for(&m.name) == pk);
        p.mappings.push(
            m.ok_or(("property_mappings", format!("Invalid pk \"{pk}\" - object does not exist.")))?.name.clone(),
        );
    }
    p.signing_key = match body["signing_key"].as_str() {
        Some(pk) if pk == uuid_for(SELF_SIGNED_KEY) => Some(SELF_SIGNED_KEY.into()),
        Some(pk) => return Err(("signing_key", format!("Invalid pk \"{pk}\" - object does not exist."))),
        None => None,
    };
    let flow = |field: &'static str| -> Result<Option<String>, (&'static str, String)> {
        match body[field].as_str() {
            Some(pk) => FLOWS
                .iter()
                .find(|(slug, _, _)| uuid_for(slug) == pk)
                .map(|(slug, _, _)| Some(slug.to_string()))
                .ok_or((field, format!("Invalid pk \"{pk}\" - object does not exist."))),
            None => Ok(None),
        }
    };
    p.authorization_flow =
        flow("authorization_flow")?.ok_or(("authorization_flow", "This field is required.".into()))?;
    p.invalidation_flow = flow("invalidation_flow")?;
    p.sub_mode = SubMode::parse(&text("sub_mode")).unwrap_or(SubMode::HashedUserId);
    p.issuer_mode = IssuerMode::parse(&text("issuer_mode")).unwrap_or(IssuerMode::PerProvider);
    for (field, slot) in [
        ("access_code_validity", &mut p.access_code_validity),
        ("access_token_validity", &mut p.access_token_validity),
        ("refresh_token_validity", &mut p.refresh_token_validity),
    ] {
        if let Some(d) = body[field].as_str().and_then(parse_timedelta) {
            *slot = d;
        }
    }
    p.include_claims_in_id_token = body["include_claims_in_id_token"].as_bool().unwrap_or(true);
    Ok(p)
}

/// `GET /api/v3/providers/oauth2/<pk>/preview_user/?for_user=<pk>`: the claims the user's ID
/// token would carry, every scope of the provider granted.
pub(crate) async fn preview_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(pk): Path<u64>,
    RawQuery(q): RawQuery,
) -> Response {
    let shared2 = shared.clone();
    with_directory(&shared, &headers, |dir| {
        let Some(p) = dir.providers.iter().find(|p| p.pk() == pk) else { return not_found("OAuth2Provider") };
        let Some(user) = for_user(dir, q.as_deref()) else { return bad("for_user", "User not found".into()) };
        let slug = dir.application_of(&p.name).map(|a| a.slug.clone()).unwrap_or_default();
        let scopes = dir.provider_scopes(p);
        let mut preview = serde_json::Map::new();
        preview.insert("iss".into(), json!(shared2.issuer(p, &slug)));
        preview.insert("sub".into(), json!(dir.subject(p, user, &shared2.install_id)));
        preview.insert("aud".into(), json!(p.client_id));
        let now = ak_protocol::time::now_secs();
        preview.insert("exp".into(), json!(now + p.access_token_validity.as_secs()));
        preview.insert("iat".into(), json!(now));
        preview.insert("auth_time".into(), json!(now));
        preview.insert("acr".into(), json!("goauthentik.io/providers/oauth2/default"));
        preview.insert("jti".into(), json!(ak_protocol::jose::random_token(30)));
        preview.extend(dir.scope_claims(p, user, &scopes, &shared2.install_id));
        json(&admin::UserPreview { preview })
    })
}

/// `GET /api/v3/propertymappings/provider/scope/<pk>/`.
pub(crate) async fn scope_mapping(State(shared): Shared_, headers: HeaderMap, Path(pk): Path<String>) -> Response {
    with_directory(&shared, &headers, |dir| match dir.mappings.iter().find(|m| uuid_for(&m.name) == pk) {
        Some(m) => json(&admin::PropertyMapping {
            pk: pk.clone(),
            name: m.name.clone(),
            managed: m.managed.clone(),
            scope_name: Some(m.scope_name.clone()),
            expression: String::new(),
            meta_model_name: "authentik_providers_oauth2.scopemapping".into(),
        }),
        None => not_found("ScopeMapping"),
    })
}

/// `POST /api/v3/propertymappings/all/<pk>/test/` with `{"user": pk}`: what the mapping
/// returns for the user, as JSON text. User 0 is the token's own (`users/me`).
pub(crate) async fn test_mapping(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(pk): Path<String>,
    axum::Json(body): axum::Json<admin::TestFor>,
) -> Response {
    let install = shared.install_id.clone();
    with_directory(&shared, &headers, |dir| {
        let Some(m) = dir.mappings.iter().find(|m| uuid_for(&m.name) == pk).cloned() else {
            return not_found("PropertyMapping");
        };
        let admin_user = token_user();
        let user = if body.user == 0 { Some(&admin_user) } else { dir.user(body.user) };
        let Some(user) = user else { return bad("user", "User not found".into()) };
        let mut provider = Provider::new("test");
        provider.mappings = vec![m.name.clone()];
        let claims = dir.scope_claims(&provider, user, std::slice::from_ref(&m.scope_name), &install);
        let result = serde_json::to_string_pretty(&claims).unwrap_or_default();
        json(&admin::TestResult { result, successful: true })
    })
}

/// The user the API token belongs to (authentik's bootstrap admin).
fn token_user() -> User {
    User {
        pk: 0,
        uuid: uuid_for("akadmin"),
        username: "akadmin".into(),
        name: "authentik Default Admin".into(),
        email: "root@localhost".into(),
        password: None,
        groups: Vec::new(),
        attributes: Default::default(),
        is_active: true,
    }
}

/// `GET /api/v3/core/users/me/`.
pub(crate) async fn me(State(shared): Shared_, headers: HeaderMap) -> Response {
    with_directory(&shared, &headers, |_| {
        // The token is the bootstrap admin's: a superuser, in `authentik Admins`. Here, as in
        // authentik, groups are shown as objects, not keys.
        let mut user = crate::admin_api::user_json(&token_user());
        user["is_superuser"] = json!(true);
        user["groups"] = json!([{"pk": uuid_for("authentik Admins"), "name": "authentik Admins"}]);
        axum::Json(json!({"user": user})).into_response()
    })
}

/// `GET /api/v3/crypto/certificatekeypairs/<pk>/`.
pub(crate) async fn keypair(State(shared): Shared_, headers: HeaderMap, Path(pk): Path<String>) -> Response {
    let view = keypair_view(&shared);
    with_directory(&shared, &headers, |_| if view.pk == pk { json(&view) } else { not_found("CertificateKeyPair") })
}

/// `GET /api/v3/flows/instances/?flow_uuid=` (authentik ignores `pk=` here).
pub(crate) async fn flows(State(shared): Shared_, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let pk = param(q.as_deref(), "flow_uuid");
    listing(&shared, &headers, |_| {
        FLOWS
            .iter()
            .filter(|(slug, _, _)| pk.as_ref().is_none_or(|pk| *pk == uuid_for(slug)))
            .map(|(slug, designation, title)| {
                let flow = admin::Flow {
                    pk: uuid_for(slug),
                    slug: slug.to_string(),
                    name: title.to_string(),
                    designation: designation.to_string(),
                };
                serde_json::to_value(flow).unwrap_or_default()
            })
            .collect()
    })
}

/// `GET /api/v3/policies/bindings/?target=<application pk>`.
pub(crate) async fn bindings(State(shared): Shared_, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let target = param(q.as_deref(), "target");
    listing(&shared, &headers, |dir| {
        let found = dir.bindings.iter().filter(|b| target.as_ref().is_none_or(|t| *t == uuid_for(&b.target)));
        found.map(|b| serde_json::to_value(binding_view(dir, b)).unwrap_or_default()).collect()
    })
}

/// `POST /api/v3/policies/bindings/`: a user or group bound to an application.
pub(crate) async fn create_binding(
    State(shared): Shared_,
    headers: HeaderMap,
    axum::Json(body): axum::Json<admin::NewBinding>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(target) = dir.applications.iter().find(|a| uuid_for(&a.slug) == body.target).map(|a| a.slug.clone())
        else {
            return bad("target", format!("Invalid pk \"{}\" - object does not exist.", body.target));
        };
        let subject = match (&body.policy, &body.group, body.user) {
            (None, Some(g), None) => match dir.groups.iter().find(|x| x.name == *g || uuid_for(&x.name) == *g) {
                Some(group) => BindingSubject::Group(group.name.clone()),
                None => return bad("group", format!("Invalid pk \"{g}\" - object does not exist.")),
            },
            (None, None, Some(pk)) => match dir.user(pk) {
                Some(user) => BindingSubject::User(user.username.clone()),
                None => return bad("user", format!("Invalid pk \"{pk}\" - object does not exist.")),
            },
            (Some(_), None, None) => return bad("policy", "the stand-in binds users and groups only".into()),
            _ => return bad("non_field_errors", "Only one of 'group', 'policy', 'user' can be set.".into()),
        };
        if dir.bindings.iter().any(|b| b.target == target && b.order == body.order) {
            return bad("non_field_errors", "The fields target, order must make a unique set.".into());
        }
        let binding = Binding { target, order: body.order, subject, negate: body.negate, enabled: body.enabled };
        let shown = binding_view(dir, &binding);
        dir.bindings.push(binding);
        (StatusCode::CREATED, json(&shown)).into_response()
    })
}
