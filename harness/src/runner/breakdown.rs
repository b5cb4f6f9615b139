//! Where a scenario run's own time went, by part: what the benchmark prints per login, and what
//! a slow run's JSON report holds (`spent`). The parts add up to the run's time, except those
//! named `within: …`, which are inside another part (the browser waits while authentik answers).

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use crate::result::Hop;
use crate::scenario::HopKind;

/// What a run leaves for its breakdown.
#[derive(Default)]
pub(super) struct Clocked {
    /// The browser driver's WebDriver commands, by part.
    pub commands: BTreeMap<&'static str, Duration>,
    /// Clearing the browser session for the next scenario.
    pub reset: Option<Duration>,
    /// ChatGPT's parts at the callback (token request, ID token validation, userinfo request).
    pub chatgpt: Vec<(&'static str, f64)>,
}

/// The parts of a run of `total` that made `hops`: for the api driver, the time to each answer
/// by what answered and ChatGPT's parts at its callback; for the browser driver, its commands
/// and the session reset, with what authentik and ChatGPT took within them.
pub(super) fn parts(
    total: Duration,
    hops: &[Hop],
    clocked: &Clocked,
    classify: &dyn Fn(&Url) -> Option<HopKind>,
) -> Vec<(String, f64)> {
    let total = ms(total);
    let mut parts: Vec<(String, f64)> = Vec::new();
    let mut add = |part: &str, value: f64| match parts.iter_mut().find(|(p, _)| p == part) {
        Some((_, sum)) => *sum += value,
        None => parts.push((part.to_string(), value)),
    };
    let chatgpt_parts: f64 = clocked.chatgpt.iter().map(|(_, t)| t).sum();
    let browser = !clocked.commands.is_empty();
    let mut counted = 0.0;
    let answered: Vec<(&'static str, f64)> =
        hops.iter().map(|h| (part_of(h, classify), h.exchange.as_ref().map_or(0.0, |e| e.timings.wait))).collect();
    // ChatGPT's parts are inside the wait of the callback that made them: the last one.
    let last_callback = answered.iter().rposition(|(part, _)| *part == CALLBACK);
    for (index, &(part, wait)) in answered.iter().enumerate() {
        if browser {
            // The browser waits while a page loads: inside its commands, not beside them.
            if part.starts_with("authentik") {
                add("within: authentik answering the browser (time to first byte)", wait);
            }
        } else if part == CALLBACK {
            let own = if Some(index) == last_callback { wait - chatgpt_parts } else { wait };
            add("ChatGPT: its callback, besides its requests below", own);
            counted += own;
        } else {
            add(part, wait);
            counted += wait;
        }
    }
    for (part, spent) in &clocked.chatgpt {
        let named = format!("{}ChatGPT at its callback: {part}", if browser { "within: " } else { "" });
        add(&named, *spent);
        if !browser && last_callback.is_some() {
            counted += *spent;
        }
    }
    for (part, spent) in &clocked.commands {
        add(part, ms(*spent));
        counted += ms(*spent);
    }
    if let Some(reset) = clocked.reset {
        add("browser: clearing the session for the next scenario", ms(reset));
        counted += ms(reset);
    }
    let rest = if browser {
        "harness: the rest (starting the session, checks, ChatGPT's record)"
    } else {
        "harness: reading answers, checks, ChatGPT's record"
    };
    add(rest, (total - counted).max(0.0));
    parts.iter_mut().for_each(|(_, v)| *v = (*v * 10.0).round() / 10.0);
    parts
}

const CALLBACK: &str = "ChatGPT: callback";

/// What answered a request, as a part of the breakdown.
fn part_of(hop: &Hop, classify: &dyn Fn(&Url) -> Option<HopKind>) -> &'static str {
    if ak_protocol::authentik::paths::is_executor(&hop.url) {
        return "authentik: flow executor API";
    }
    match Url::parse(&hop.url).ok().and_then(|u| classify(&u)) {
        Some(HopKind::AuthentikAuthorize) => "authentik: authorize endpoint",
        Some(HopKind::AuthentikFlow) => "authentik: flow page",
        Some(HopKind::ChatgptCallback) => CALLBACK,
        Some(HopKind::ChatgptHome) => "ChatGPT: pages",
        Some(HopKind::Nowhere) | None if hop.api => "other requests (discovery, keys, token)",
        Some(HopKind::Nowhere) | None => "ChatGPT: pages",
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Clocked, parts};
    use crate::result::{Exchange, Hop, Timings};
    use crate::scenario::HopKind;

    fn hop(url: &str, wait: f64, api: bool) -> Hop {
        let timings = Timings { wait, ..Timings::default() };
        let exchange = Exchange {
            started_ms: 0.0,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            http_version: String::new(),
            status_text: String::new(),
            mime_type: String::new(),
            timings,
        };
        Hop {
            method: "GET".into(),
            url: url.into(),
            status: 200,
            location: None,
            kind: None,
            api,
            exchange: Some(exchange),
        }
    }

    fn classify(url: &url::Url) -> Option<HopKind> {
        match url.path() {
            "/application/o/authorize/" => Some(HopKind::AuthentikAuthorize),
            "/if/flow/login/" => Some(HopKind::AuthentikFlow),
            "/callback" => Some(HopKind::ChatgptCallback),
            _ => None,
        }
    }

    /// The api driver's parts add up to the run's time, the callback split into ChatGPT's parts.
    #[test]
    fn the_api_parts_add_up_and_split_the_callback() {
        let hops = [
            hop("http://c/auth/login", 1.0, false),
            hop("http://a/application/o/authorize/?x", 20.0, false),
            hop("http://a/if/flow/login/", 30.0, false),
            hop("http://a/api/v3/flows/executor/login/?query=", 100.0, true),
            hop("http://a/api/v3/flows/executor/login/?query=", 200.0, true),
            hop("http://c/callback?code=x", 90.0, false),
        ];
        let clocked =
            Clocked { chatgpt: vec![("token request", 50.0), ("userinfo request", 30.0)], ..Default::default() };
        let parts = parts(Duration::from_millis(500), &hops, &clocked, &classify);
        let get = |name: &str| parts.iter().find(|(p, _)| p == name).map(|(_, v)| *v);
        assert_eq!(get("authentik: flow executor API"), Some(300.0));
        assert_eq!(get("ChatGPT: its callback, besides its requests below"), Some(10.0));
        assert_eq!(get("ChatGPT at its callback: token request"), Some(50.0));
        assert_eq!(get("harness: reading answers, checks, ChatGPT's record"), Some(59.0));
        let sum: f64 = parts.iter().filter(|(p, _)| !p.starts_with("within:")).map(|(_, v)| v).sum();
        assert!((sum - 500.0).abs() < 0.5, "{parts:?}");
    }

    /// The browser driver's parts are its commands and the reset; authentik's answers are within.
    #[test]
    fn the_browser_parts_are_its_commands_with_authentik_within() {
        let hops =
            [hop("http://a/if/flow/login/", 30.0, false), hop("http://a/api/v3/flows/executor/login/", 70.0, true)];
        let clocked = Clocked {
            commands: [("browser: waiting in the page for what comes next", Duration::from_millis(300))].into(),
            reset: Some(Duration::from_millis(40)),
            chatgpt: Vec::new(),
        };
        let parts = parts(Duration::from_millis(400), &hops, &clocked, &classify);
        let get = |name: &str| parts.iter().find(|(p, _)| p == name).map(|(_, v)| *v);
        assert_eq!(get("within: authentik answering the browser (time to first byte)"), Some(100.0));
        assert_eq!(get("harness: the rest (starting the session, checks, ChatGPT's record)"), Some(60.0));
        let sum: f64 = parts.iter().filter(|(p, _)| !p.starts_with("within:")).map(|(_, v)| v).sum();
        assert!((sum - 400.0).abs() < 0.5, "{parts:?}");
    }
}
