//! authentik's URL paths, relative to its base URL (which ends in `/`): each written once here.
//! The admin API's are in [`super::admin::path`].

/// The OAuth2 authorization endpoint.
pub const AUTHORIZE: &str = "application/o/authorize/";
/// The token endpoint.
pub const TOKEN: &str = "application/o/token/";
/// The userinfo endpoint.
pub const USERINFO: &str = "application/o/userinfo/";
/// Where flow pages are (`if/flow/<slug>/`).
pub const FLOW_PAGES: &str = "if/flow/";
/// Where the flow executor API is (`api/v3/flows/executor/<slug>/`).
pub const EXECUTOR: &str = "api/v3/flows/executor/";

/// An OAuth2/OpenID provider's issuer, by its application's slug.
pub fn issuer(slug: &str) -> String {
    format!("application/o/{slug}/")
}

/// Its discovery document.
pub fn discovery(slug: &str) -> String {
    format!("{}.well-known/openid-configuration", issuer(slug))
}

/// A flow's executor API.
pub fn executor(slug: &str) -> String {
    format!("{EXECUTOR}{slug}/")
}

/// The flow's slug, when `path` (a URL's path) is a flow page below `base_path` (authentik's
/// base URL's path).
pub fn flow_slug<'a>(base_path: &str, path: &'a str) -> Option<&'a str> {
    let slug = path.strip_prefix(base_path)?.strip_prefix(FLOW_PAGES)?.trim_end_matches('/');
    (!slug.is_empty() && !slug.contains('/')).then_some(slug)
}

/// Whether a URL (as text) is a call of the flow executor API.
pub fn is_executor(url: &str) -> bool {
    url.contains(&format!("/{EXECUTOR}"))
}

#[cfg(test)]
mod tests {
    use super::{discovery, executor, flow_slug, is_executor};

    #[test]
    fn paths_read_back() {
        assert_eq!(discovery("chatgpt"), "application/o/chatgpt/.well-known/openid-configuration");
        assert_eq!(executor("login"), "api/v3/flows/executor/login/");
        assert_eq!(flow_slug("/", "/if/flow/default-authentication-flow/"), Some("default-authentication-flow"));
        assert_eq!(flow_slug("/auth/", "/auth/if/flow/x/"), Some("x"));
        assert_eq!(flow_slug("/", "/if/flow/"), None);
        assert_eq!(flow_slug("/", "/application/o/authorize/"), None);
        assert!(is_executor("http://a/api/v3/flows/executor/login/?query="));
        assert!(!is_executor("http://a/if/flow/login/"));
    }
}
