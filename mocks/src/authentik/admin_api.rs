//! The few admin API endpoints ak-e2e uses against authentik, with the same token rule
//! (`Authorization: Bearer <API token>`): users by username, and the admin view of TOTP devices
//! (list a user's, delete one), so that provisioning can enroll the MFA fixture user afresh.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::server::Shared;

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

/// A page of results, shaped as authentik's paginated lists.
fn page(results: Vec<Value>) -> Response {
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
fn listing(shared: &Shared, headers: &HeaderMap, list: impl FnOnce(&super::Directory) -> Vec<Value>) -> Response {
    match refuse(shared, headers) {
        Some(refused) => refused,
        None => page(list(&shared.directory())),
    }
}

fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A user as the admin API shows one.
fn user_json(u: &super::directory::User) -> Value {
    json!({"pk": u.pk, "username": u.username, "name": u.name, "email": u.email, "is_active": u.is_active})
}

/// `GET /api/v3/core/users/?username=…`.
pub(crate) async fn users(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let wanted = param(query.as_deref(), "username");
    listing(&shared, &headers, |dir| {
        dir.users.iter().filter(|u| wanted.as_ref().is_none_or(|w| *w == u.username)).map(user_json).collect()
    })
}

/// `GET /api/v3/authenticators/admin/totp/`: every user's devices, each with its owner, in one
/// page. Like authentik 2026.2, it filters by `name` only: a `user` parameter is ignored.
pub(crate) async fn totp_devices(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let name = param(query.as_deref(), "name");
    listing(&shared, &headers, |dir| {
        dir.totp_devices
            .iter()
            .filter(|d| name.as_ref().is_none_or(|n| *n == d.name))
            .map(|d| {
                let owner = dir.users.iter().find(|u| u.username == d.user);
                json!({"pk": d.pk, "name": d.name, "user": owner.map(user_json)})
            })
            .collect()
    })
}

/// `DELETE /api/v3/authenticators/admin/totp/<pk>/`.
pub(crate) async fn delete_totp_device(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> Response {
    if let Some(refused) = refuse(&shared, &headers) {
        return refused;
    }
    let mut dir = shared.directory();
    let before = dir.totp_devices.len();
    dir.totp_devices.retain(|d| Some(d.pk) != pk.parse().ok());
    if dir.totp_devices.len() == before {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "No TOTPDevice matches the given query."})))
            .into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
