//! What to check when authentik shows one of its plain pages instead of the login: each page
//! title mapped to the provider or application setting that usually causes it. (ChatGPT's
//! error codes carry their own hint: `chatgpt_rp::ErrorCode::hint`.)

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
