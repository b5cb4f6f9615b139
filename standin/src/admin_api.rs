//! The few admin API endpoints ak-e2e uses against authentik, with the same token rule
//! (`Authorization: Bearer <API token>`): users (by username; create one, set its password,
//! delete it), every device of a user, and the admin view of TOTP devices (list, delete one),
//! so that provisioning can enroll the MFA fixture user afresh and `reproduce` can mirror a user.
//!
//! Groups are shown by their UUIDs (made from their names), as authentik shows them, and taken
//! by UUID or by name.

use std::sync::Arc;

use ak_protocol::authentik::admin;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::shared::Shared;

/// `None` when the request carries the API token; otherwise authentik's 403 answer.
pub(crate) fn refuse(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if matches!((&shared.api_token, presented), (Some(t), Some(p)) if t.expose() == p) {
        return None;
    }
    let detail =
        if presented.is_none() { "Authentication credentials were not provided." } else { "Token invalid/expired" };
    Some((StatusCode::FORBIDDEN, axum::Json(json!({"detail": detail}))).into_response())
}

/// `answer` over the directory, for a request carrying the API token; otherwise authentik's 403.
pub(crate) fn with_directory(
    shared: &Shared,
    headers: &HeaderMap,
    answer: impl FnOnce(&mut crate::Directory) -> Response,
) -> Response {
    match refuse(shared, headers) {
        Some(refused) => refused,
        None => answer(&mut shared.directory()),
    }
}

/// A page of results, shaped as authentik's paginated lists.
pub(crate) fn page(results: Vec<Value>) -> Response {
    let count = results.len();
    axum::Json(json!({
        "pagination": {"next": 0, "previous": 0, "count": count, "current": 1, "total_pages": 1,
                       "start_index": usize::from(count > 0), "end_index": count},
        "results": results,
        "autocomplete": {},
    }))
    .into_response()
}

/// A listing for a request carrying the API token (otherwise authentik's 403): `list` picks
/// the results from the directory as it is now and the query.
pub(crate) fn listing(
    shared: &Shared,
    headers: &HeaderMap,
    list: impl FnOnce(&crate::Directory) -> Vec<Value>,
) -> Response {
    with_directory(shared, headers, |dir| page(list(dir)))
}

pub(crate) fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A user as the admin API shows one: groups by their primary keys, as authentik does.
pub(crate) fn user_json(u: &crate::directory::User) -> Value {
    let shown = admin::User {
        pk: u.pk,
        uuid: u.uuid.clone(),
        username: u.username.clone(),
        name: u.name.clone(),
        email: u.email.clone(),
        is_active: u.is_active,
        is_superuser: false,
        groups: u.groups.iter().map(|g| crate::blueprint::uuid_for(g)).collect(),
        attributes: u.attributes.clone(),
        kind: "internal".into(),
        path: "users".into(),
    };
    serde_json::to_value(shown).unwrap_or_default()
}

pub(crate) fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"detail": format!("No {what} matches the given query.")})))
        .into_response()
}

/// `POST /api/v3/core/users/`: `username` (unique), `name`, `email`, `groups`, `attributes`,
/// `is_active`; answers 201 with the user, or 400 with the field's errors as authentik does.
pub(crate) async fn create_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let username = body["username"].as_str().unwrap_or_default().to_string();
        let bad = |field: &str, why: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({field: [why]}))).into_response();
        if username.is_empty() {
            return bad("username", "This field is required.");
        }
        if dir.users.iter().any(|u| u.username == username) {
            return bad("username", "This field must be unique.");
        }
        // Groups by primary key, as authentik takes them (their names too, for hand-written calls).
        let mut groups = Vec::new();
        for key in body["groups"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let known = dir.groups.iter().find(|g| g.name == key || crate::blueprint::uuid_for(&g.name) == key);
            match known {
                Some(group) => groups.push(group.name.clone()),
                None => return bad("groups", &format!("Invalid pk \"{key}\" - object does not exist.")),
            }
        }
        let user = crate::directory::User {
            pk: dir.users.iter().map(|u| u.pk).max().unwrap_or(0) + 1,
            uuid: crate::blueprint::uuid_for(&username),
            username,
            name: body["name"].as_str().unwrap_or_default().to_string(),
            email: body["email"].as_str().unwrap_or_default().to_string(),
            password: None,
            groups,
            attributes: body["attributes"].as_object().cloned().unwrap_or_default(),
            is_active: body["is_active"].as_bool().unwrap_or(true),
        };
        let shown = user_json(&user);
        dir.users.push(user);
        (StatusCode::CREATED, axum::Json(shown)).into_response()
    })
}

/// `POST /api/v3/core/users/<pk>/set_password/` with `{"password": …}`: 204.
pub(crate) async fn set_password(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(pk): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(user) = dir.users.iter_mut().find(|u| Some(u.pk) == pk.parse().ok()) else { return not_found("User") };
        match body["password"].as_str() {
            Some(p) => {
                user.password = Some(ak_protocol::secret::Secret::new(p));
                StatusCode::NO_CONTENT.into_response()
            }
            None => StatusCode::BAD_REQUEST.into_response(),
        }
    })
}

/// `DELETE /api/v3/core/users/<pk>/`: the user and their devices go; 204.
pub(crate) async fn delete_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(index) = dir.users.iter().position(|u| Some(u.pk) == pk.parse().ok()) else {
            return not_found("User");
        };
        let user = dir.users.remove(index);
        dir.totp_devices.retain(|d| d.user != user.username);
        dir.webauthn_devices.retain(|d| d.user != user.username);
        dir.static_devices.retain(|d| d.user != user.username);
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `GET /api/v3/authenticators/admin/all/?user=<pk>`: the user's devices of every kind, as a
/// plain list (authentik does not paginate this one), `type` naming the device model.
pub(crate) async fn all_devices(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let user = param(query.as_deref(), "user").and_then(|pk| dir.users.iter().find(|u| u.pk.to_string() == pk));
        let owned = |owner: &str| user.is_none_or(|u| u.username == owner);
        let totp = dir.totp_devices.iter().filter(|d| owned(&d.user)).map(|d| admin::Device {
            pk: d.pk.to_string(),
            name: d.name.clone(),
            kind: "authentik_stages_authenticator_totp.TOTPDevice".into(),
            confirmed: d.confirmed,
        });
        let passkeys = dir.webauthn_devices.iter().filter(|d| owned(&d.user)).map(|d| admin::Device {
            pk: d.pk.to_string(),
            name: d.name.clone(),
            kind: "authentik_stages_authenticator_webauthn.WebAuthnDevice".into(),
            confirmed: true,
        });
        let statics = dir.static_devices.iter().filter(|d| owned(&d.user)).map(|d| admin::Device {
            pk: d.pk.to_string(),
            name: d.name.clone(),
            kind: "authentik_stages_authenticator_static.StaticDevice".into(),
            confirmed: true,
        });
        let devices: Vec<Value> =
            totp.chain(passkeys).chain(statics).map(|d| serde_json::to_value(d).unwrap_or_default()).collect();
        axum::Json(Value::Array(devices)).into_response()
    })
}

/// `GET /api/v3/core/users/?username=…&search=…`.
pub(crate) async fn users(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let wanted = param(query.as_deref(), "username");
    let search = param(query.as_deref(), "search").unwrap_or_default().to_lowercase();
    let found = move |u: &&crate::directory::User| {
        [&u.username, &u.name, &u.email].iter().any(|f| f.to_lowercase().contains(&search))
    };
    listing(&shared, &headers, |dir| {
        let named = dir.users.iter().filter(|u| wanted.as_ref().is_none_or(|w| *w == u.username));
        named.filter(found).map(user_json).collect()
    })
}

/// The device kinds the admin API lists and deletes one by one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DeviceKind {
    Totp,
    WebAuthn,
    Static,
}

impl DeviceKind {
    /// Every device of this kind: its pk, name and owner's username.
    fn devices(self, dir: &crate::directory::Directory) -> Vec<(u64, String, String)> {
        match self {
            Self::Totp => dir.totp_devices.iter().map(|d| (d.pk, d.name.clone(), d.user.clone())).collect(),
            Self::WebAuthn => dir.webauthn_devices.iter().map(|d| (d.pk, d.name.clone(), d.user.clone())).collect(),
            Self::Static => dir.static_devices.iter().map(|d| (d.pk, d.name.clone(), d.user.clone())).collect(),
        }
    }

    /// Removes device `pk`; whether there was one.
    fn remove(self, dir: &mut crate::directory::Directory, pk: u64) -> bool {
        let before = self.devices(dir).len();
        match self {
            Self::Totp => dir.totp_devices.retain(|d| d.pk != pk),
            Self::WebAuthn => dir.webauthn_devices.retain(|d| d.pk != pk),
            Self::Static => dir.static_devices.retain(|d| d.pk != pk),
        }
        self.devices(dir).len() != before
    }

    /// authentik's model name, in its "not found" message.
    fn model(self) -> &'static str {
        match self {
            Self::Totp => "TOTPDevice",
            Self::WebAuthn => "WebAuthnDevice",
            Self::Static => "StaticDevice",
        }
    }
}

/// `GET /api/v3/authenticators/admin/{totp,webauthn}/`: every user's devices of a kind, each
/// with its owner, in one page. Like authentik 2026.2, it filters by `name` only: a `user`
/// parameter is ignored.
async fn devices(shared: Arc<Shared>, headers: HeaderMap, query: Option<String>, kind: DeviceKind) -> Response {
    let name = param(query.as_deref(), "name");
    listing(&shared, &headers, |dir| {
        kind.devices(dir)
            .into_iter()
            .filter(|(_, n, _)| name.as_ref().is_none_or(|wanted| wanted == n))
            .map(|(pk, name, user)| {
                let owner = dir.users.iter().find(|u| u.username == user).map(|u| admin::UserRefPk { pk: u.pk });
                let mut device = serde_json::to_value(admin::OwnedDevice { pk, name, user: owner }).unwrap_or_default();
                // As authentik's: an admin sees the codes a static device still holds.
                if let (DeviceKind::Static, Some(d)) = (&kind, dir.static_devices.iter().find(|d| d.pk == pk)) {
                    let tokens: Vec<Value> = d.tokens.iter().map(|t| json!({"token": t.expose()})).collect();
                    device["token_set"] = Value::Array(tokens);
                }
                device
            })
            .collect()
    })
}

/// `DELETE /api/v3/authenticators/admin/{totp,webauthn}/<pk>/`.
async fn delete_device(shared: Arc<Shared>, headers: HeaderMap, pk: String, kind: DeviceKind) -> Response {
    with_directory(&shared, &headers, |dir| {
        if !pk.parse().is_ok_and(|pk| kind.remove(dir, pk)) {
            let detail = format!("No {} matches the given query.", kind.model());
            return (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": detail }))).into_response();
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `GET /api/v3/authenticators/admin/totp/`.
pub(crate) async fn totp_devices(State(s): State<Arc<Shared>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    devices(s, h, q, DeviceKind::Totp).await
}

/// `DELETE /api/v3/authenticators/admin/totp/<pk>/`.
pub(crate) async fn delete_totp_device(State(s): State<Arc<Shared>>, h: HeaderMap, Path(pk): Path<String>) -> Response {
    delete_device(s, h, pk, DeviceKind::Totp).await
}

/// `GET /api/v3/authenticators/admin/webauthn/`.
pub(crate) async fn webauthn_devices(State(s): State<Arc<Shared>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    devices(s, h, q, DeviceKind::WebAuthn).await
}

/// `DELETE /api/v3/authenticators/admin/webauthn/<pk>/`.
pub(crate) async fn delete_webauthn_device(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(pk): Path<String>,
) -> Response {
    delete_device(s, h, pk, DeviceKind::WebAuthn).await
}

/// `GET /api/v3/authenticators/admin/static/`.
pub(crate) async fn static_devices(State(s): State<Arc<Shared>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    devices(s, h, q, DeviceKind::Static).await
}

/// `GET /api/v3/authenticators/admin/static/<pk>/`: one static device, with the codes it holds.
pub(crate) async fn static_device(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> Response {
    with_directory(&shared, &headers, |dir| {
        let Some(device) = dir.static_devices.iter().find(|d| d.pk.to_string() == pk) else {
            return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "No StaticDevice matches the given query."})))
                .into_response();
        };
        let owner = dir.users.iter().find(|u| u.username == device.user).map(|u| json!({"pk": u.pk}));
        let tokens: Vec<Value> = device.tokens.iter().map(|t| json!({"token": t.expose()})).collect();
        axum::Json(json!({"pk": device.pk, "name": device.name, "user": owner, "token_set": tokens})).into_response()
    })
}

/// `DELETE /api/v3/authenticators/admin/static/<pk>/`.
pub(crate) async fn delete_static_device(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(pk): Path<String>,
) -> Response {
    delete_device(s, h, pk, DeviceKind::Static).await
}
