//! Fulfilling an authorization request once the user is signed in (and has consented): the
//! code is issued and the relying party is sent back to its redirect URI with it. The request's
//! checks are in `oauth`; the flows that lead here are in `flow`.

use ak_protocol::jose::random_token;
use ak_protocol::time::now_secs;
use url::Url;

use crate::directory::{Provider, hex_sha256};
use crate::plan::AuthorizeParams;
use crate::shared::Shared;
use crate::state::{Code, Grant};

/// The relying party's callback URL with a code.
pub(crate) fn code_redirect(redirect_uri: &str, code: &str, state: Option<&str>) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("code", code).append_pair("state", state.unwrap_or(""));
            url.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

/// Creates an authorization code for a signed-in user.
pub(crate) fn issue_code(
    shared: &Shared,
    provider: &Provider,
    user: u64,
    params: &AuthorizeParams,
    sid: String,
    auth_time: u64,
    amr: Vec<String>,
) -> String {
    let code: String = random_token(24).chars().filter(char::is_ascii_alphanumeric).collect();
    let grant = Grant {
        provider: provider.name.clone(),
        user,
        scopes: params.scopes.clone(),
        nonce: params.nonce.clone(),
        auth_time,
        amr,
        sid,
        expires: now_secs() + provider.access_code_validity.as_secs().max(1),
    };
    let entry = Code { grant, challenge: params.code_challenge.clone() };
    shared.state().codes.insert(code.clone(), entry);
    code
}

/// The callback URL for a finished authorization flow.
pub(crate) fn callback_url(
    shared: &Shared,
    params: &AuthorizeParams,
    user: u64,
    session_id: &str,
    auth_time: u64,
    amr: Vec<String>,
) -> Option<String> {
    let provider = shared.directory().provider_by_client_id(&params.client_id).cloned()?;
    let code = issue_code(shared, &provider, user, params, hex_sha256(session_id), auth_time, amr);
    Some(code_redirect(&params.redirect_uri, &code, params.state.as_deref()))
}
