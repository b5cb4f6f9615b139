//! What to check when ChatGPT refuses a login: each error code of the mock ChatGPT mapped to the
//! authentik (or ChatGPT) setting that usually causes it.

/// The hint for a ChatGPT error code.
pub fn for_chatgpt_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "missing_claim_family_name" | "missing_claim_given_name" => {
            "authentik's default `profile` scope mapping emits no `family_name` and puts the full name in \
             `given_name`; attach a custom `profile` mapping that returns both (blueprints/chatgpt.yaml has one)"
        }
        "missing_claim_email" => "attach the `email` scope mapping to the provider (Property mappings / Scopes)",
        "missing_claim_sub" => "check the provider's Subject mode",
        "email_domain_not_verified" | "claim_email_domain_not_verified" => {
            "the user's email domain is not a verified domain of the ChatGPT workspace"
        }
        "discovery_unreachable" | "discovery_malformed" => {
            "check the discovery URL ChatGPT was given: https://<authentik>/application/o/<slug>/.well-known/openid-configuration"
        }
        "discovery_issuer_mismatch" | "issuer_mismatch" => {
            "the issuer must be byte-equal to `<authentik>/application/o/<slug>/` (trailing slash, scheme): check the \
             provider's issuer mode and, behind a proxy, AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"
        }
        "token_invalid_client" => {
            "the client secret (or client id) ChatGPT was given differs from the provider's, or the redirect URI \
             is not registered"
        }
        "token_invalid_grant" => "the code was refused: reused, expired, or a PKCE mismatch",
        "token_endpoint_error" | "token_response_malformed" => "authentik's token endpoint failed; check its logs",
        "id_token_alg_not_allowed" | "id_token_alg_none" => {
            "select a signing key (certificate) on the provider: without one authentik signs HS256 with the client secret"
        }
        "id_token_unknown_kid" | "id_token_bad_signature" | "jwks_unreachable" => {
            "the ID token is not signed by the key the provider's JWKS publishes; check the provider's signing key"
        }
        "audience_mismatch" => "the client id ChatGPT was given differs from the provider's",
        "id_token_expired" | "id_token_iat_in_future" => {
            "check the clocks of authentik and ChatGPT, and the token validity"
        }
        "nonce_mismatch" => "authentik did not echo the nonce ChatGPT sent",
        "email_not_verified" => {
            "authentik's default `email` mapping sends email_verified: false since 2025.10; the workspace requires true"
        }
        "user_not_in_workspace" => "add the user to the ChatGPT workspace or turn automatic account creation on",
        "idp_error" => "authentik answered with an OAuth error; its description says why",
        "state_mismatch" | "state_missing" | "state_replayed" => "the callback did not come from this browser's login",
        _ => return None,
    })
}

/// The hint for an authentik page title.
pub fn for_authentik_page(title: &str) -> Option<&'static str> {
    Some(match title {
        "Redirect URI Error" => {
            "the provider's redirect URIs must contain ChatGPT's Login redirect URI exactly (Strict), byte for byte"
        }
        "Client ID Error" => "the client id ChatGPT sends is not a provider's client id in authentik",
        "Permission denied" => "the user is outside the application's policy bindings (bind their group or user)",
        _ => return None,
    })
}
