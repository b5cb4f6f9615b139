//! The protocol toolkit ak-e2e, the ChatGPT relying party (`chatgpt-rp`) and the authentik
//! stand-in (`authentik-standin`) share: secrets that never print, JOSE and PKCE, TOTP, a YAML
//! tree with positions, did-you-mean suggestions, reading HTTP answers within a cap and a
//! deadline, and serving a router with a header deadline and graceful shutdown.

pub mod authentik;
pub mod html;
pub mod http;
pub mod id_token;
pub mod jose;
pub mod placeholders;
pub mod redact;
pub mod secret;
pub mod serve;
pub mod suggest;
pub mod time;
pub mod totp;
pub mod webauthn;
pub mod yaml;

/// Resolves on Ctrl-C or SIGTERM: how the binaries know to stop.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
