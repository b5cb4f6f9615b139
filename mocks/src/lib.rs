//! Mock servers for hermetic runs of `ak-e2e`: the ChatGPT relying party ([`chatgpt`]) and the
//! authentik stand-in ([`authentik`]), with the pieces they share (secrets, JOSE, TOTP, a YAML
//! tree with positions).

pub mod authentik;
pub mod chatgpt;
mod html;
pub mod http;
pub mod jose;
mod record_time;
pub mod secret;
mod serve;
pub mod suggest;
pub mod totp;
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
