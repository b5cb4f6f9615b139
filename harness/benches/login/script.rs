//! The baseline for the browser driver: the same login as a minimal hand-written fantoccini
//! script — ChatGPT's login page, the email, authentik's identification and password stages
//! through their shadow roots, then the conversation page — polling every 25 ms for what it
//! waits on, in a fresh browser session per login (as a script with a fresh context would).

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

const POLL: Duration = Duration::from_millis(25);

/// What the script needs to know.
pub(crate) struct Login<'a> {
    pub(crate) login_page: &'a str,
    pub(crate) email: &'a str,
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
}

async fn retry<T, F, Fut>(deadline: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > deadline => return Err(e.to_string()),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// `css` inside authentik's `stage` (executor → stage → element).
async fn in_stage(c: &Client, stage: &str, css: &str) -> Result<Element, String> {
    retry(Duration::from_secs(10), || async {
        let root = c.find(Locator::Css("ak-flow-executor")).await?.shadow_root().await?;
        root.find(Locator::Css(stage)).await?.shadow_root().await?.find(Locator::Css(css)).await
    })
    .await
}

/// Logs in; the session is the caller's.
pub(crate) async fn login(c: &Client, l: &Login<'_>) -> Result<(), String> {
    let deadline = Duration::from_secs(10);
    c.goto(l.login_page).await.map_err(|e| e.to_string())?;
    retry(deadline, || c.find(Locator::Css("[data-testid=email-input]")))
        .await?
        .send_keys(l.email)
        .await
        .map_err(|e| e.to_string())?;
    c.find(Locator::Css("[data-testid=continue-button]"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let stage = "ak-stage-identification";
    in_stage(c, stage, "input[name=uidField]").await?.send_keys(l.username).await.map_err(|e| e.to_string())?;
    in_stage(c, stage, "button[type=submit]").await?.click().await.map_err(|e| e.to_string())?;
    let stage = "ak-stage-password";
    in_stage(c, stage, "input[name=password]").await?.send_keys(l.password).await.map_err(|e| e.to_string())?;
    in_stage(c, stage, "button[type=submit]").await?.click().await.map_err(|e| e.to_string())?;
    retry(deadline, || c.find(Locator::Css("[data-testid=conversation]"))).await?;
    Ok(())
}
