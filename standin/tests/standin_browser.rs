//! The stand-in's flow page in real Chromium (chromedriver): from the mock ChatGPT's "Log in"
//! through identification and password, both inside nested open shadow roots, back to ChatGPT
//! with a code, to the conversation page.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ak_protocol::secret::Secret;
use authentik_standin::{AuthentikStandIn, Options};
use chatgpt_rp::{Config, MockChatGpt, Verdict};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

const FIXTURE: &str = include_str!("fixtures/chatgpt.yaml");
const DEADLINE: Duration = Duration::from_secs(15);

/// chromedriver on a free port, killed when dropped.
struct Driver {
    /// Held so that dropping the driver kills the process.
    _child: Child,
    url: String,
}

async fn chromedriver() -> Driver {
    // chromedriver binds its port on [::1] and on 127.0.0.1, so it gets one free on both; should
    // another program take it meanwhile, it says "port not available" and exits, and a new start
    // takes another port.
    let mut last_said = Vec::new();
    for _ in 0..5 {
        let port = ak_protocol::serve::free_port_on_both_loopbacks().unwrap_or(0);
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}); install it: apt-get install -y chromium chromium-driver")
            });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let announced = tokio::time::timeout(DEADLINE, async {
            let mut said = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return Ok(rest.trim_end_matches('.').trim().to_string());
                }
                said.push(line);
            }
            Err(said)
        })
        .await
        .expect("chromedriver announces its port");
        match announced {
            Ok(port) => return Driver { _child: child, url: format!("http://127.0.0.1:{port}") },
            Err(said) if said.iter().any(|l| l.contains("port not available")) => last_said = said,
            Err(said) => panic!("chromedriver exited without announcing its port: {said:?}"),
        }
    }
    panic!("chromedriver found its port taken on 5 starts; it said last: {last_said:?}")
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
        ]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Finds `css` inside the shadow root of each host in `hosts`, in order, retrying until the
/// deadline: hosts are re-rendered between stages.
async fn in_shadow(client: &Client, hosts: &[&str], css: &str) -> Element {
    let start = Instant::now();
    loop {
        let attempt = async {
            let mut root = client.find(Locator::Css(hosts[0])).await?.shadow_root().await?;
            for host in &hosts[1..] {
                root = root.find(Locator::Css(host)).await?.shadow_root().await?;
            }
            root.find(Locator::Css(css)).await
        };
        match attempt.await {
            Ok(element) => return element,
            Err(e) if start.elapsed() > DEADLINE => {
                panic!("{} {css} not found within {DEADLINE:?}: {e}", hosts.join(" > "))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn wait_for_url(client: &Client, predicate: impl Fn(&Url) -> bool) -> Url {
    let start = Instant::now();
    loop {
        let url = client.current_url().await.expect("url");
        if predicate(&url) {
            return url;
        }
        assert!(start.elapsed() < DEADLINE, "still at {url} after {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn chromium_signs_in_through_the_shadow_roots() {
    // The stand-in's port first (the relying party needs its discovery URL), then the relying
    // party (the stand-in's blueprint needs its redirect URI).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let idp = format!("http://{}", listener.local_addr().expect("addr"));
    let discovery = Url::parse(&format!("{idp}/application/o/chatgpt/.well-known/openid-configuration")).expect("url");
    let rp = MockChatGpt::start(Config::new("chatgpt", Secret::new("chatgpt-secret"), discovery, &["example.com"]))
        .await
        .expect("mock chatgpt");
    let corrected = FIXTURE
        .replace("url: https://chatgpt.test/sso/oidc/conn_test/callback", "url: !Env REDIRECT_URI")
        .replace(
            "  - model: authentik_providers_oauth2.oauth2provider",
            "  - model: authentik_providers_oauth2.scopemapping\n    id: profile\n    identifiers:\n      name: split profile\n    attrs:\n      scope_name: profile\n      expression: |\n        return {\n            \"name\": request.user.name,\n            \"given_name\": request.user.name.split()[0],\n            \"family_name\": request.user.name.split()[-1],\n        }\n  - model: authentik_providers_oauth2.oauth2provider",
        )
        .replace("        - !Find [authentik_providers_oauth2.scopemapping, [managed, goauthentik.io/providers/oauth2/scope-profile]]", "        - !KeyOf profile");
    let env = [("REDIRECT_URI".to_string(), rp.redirect_uri().to_string())].into();
    let standin =
        AuthentikStandIn::start_on_listener(Options::new().blueprint("chatgpt.yaml", corrected).env(env), listener)
            .await
            .expect("stand-in");

    let driver = chromedriver().await;
    let profile = std::env::temp_dir().join(format!("standin-browser-{}", std::process::id()));
    let client = browser(&driver, &profile).await;
    let outcome = async {
        client.goto(rp.url().join("auth/login").expect("url").as_str()).await.expect("goto");
        client
            .find(Locator::Css("[data-testid=email-input]"))
            .await
            .expect("email")
            .send_keys("ann@example.com")
            .await
            .expect("type");
        client.find(Locator::Css("[data-testid=continue-button]")).await.expect("button").click().await.expect("click");

        let url = wait_for_url(&client, |u| u.path() == "/if/flow/default-authentication-flow/").await;
        assert!(url.as_str().starts_with(standin.url().as_str()));
        let uid = in_shadow(&client, &["ak-flow-executor", "ak-stage-identification"], "input[name=uidField]").await;
        assert_eq!(uid.attr("id").await.expect("id").as_deref(), Some("ak-identifier-input"));
        // The decoy: a document-level search finds authentik's hidden password-manager form.
        let decoy = client.find(Locator::Css("input[name=password]")).await.expect("decoy");
        assert!(
            !decoy.is_displayed().await.expect("displayed"),
            "the document-level password input is the hidden decoy"
        );
        uid.send_keys("ann").await.expect("type uid");
        in_shadow(&client, &["ak-flow-executor", "ak-stage-identification"], "button[type=submit]")
            .await
            .click()
            .await
            .expect("click");

        let password = in_shadow(&client, &["ak-flow-executor", "ak-stage-password"], "input[name=password]").await;
        assert_eq!(password.attr("id").await.expect("id").as_deref(), Some("ak-stage-password-input"));
        password.send_keys("wrong").await.expect("type");
        in_shadow(&client, &["ak-flow-executor", "ak-stage-password"], "button[name=continue]")
            .await
            .click()
            .await
            .expect("click");
        let invalid = in_shadow(&client, &["ak-flow-executor", "ak-stage-password"], "input[aria-invalid=true]").await;
        invalid.send_keys("ann-password").await.expect("type");
        in_shadow(&client, &["ak-flow-executor", "ak-stage-password"], "button[name=continue]")
            .await
            .click()
            .await
            .expect("click");

        wait_for_url(&client, |u| u.as_str() == rp.url().as_str()).await;
        let email = client.find(Locator::Css("[data-testid=user-email]")).await.expect("conversation page");
        assert_eq!(email.text().await.expect("text"), "ann@example.com");
        let name = client.find(Locator::Css("[data-testid=user-name]")).await.expect("name");
        assert_eq!(name.text().await.expect("text"), "Ann Lee");
    };
    let result = tokio::time::timeout(Duration::from_secs(60), outcome).await;
    client.close().await.expect("close the session");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    result.expect("the browser login finishes within 60 s");

    let attempt = rp.latest_attempt().expect("attempt");
    assert_eq!(attempt.verdict, Verdict::Success, "{:#?}", attempt.checks);
    let callback = attempt.callback_query.expect("callback");
    assert_eq!(callback["code"], "[redacted]", "the stand-in redirected back with a code");
}
