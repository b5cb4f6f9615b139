//! Reading Chromium's performance log (`Network.*` events) into hops: requests as sent,
//! responses with their headers and timings, and the `ExtraInfo` events that carry the headers
//! really sent and received (cookies included).

use std::collections::HashMap;

use serde_json::Value;

use crate::result::{Hop, Timings};

pub(super) fn header(headers: &Value, name: &str) -> Option<String> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .map(String::from)
}

/// A request Chromium has sent and not yet finished loading: its answer's headers have not come
/// (`answered` false) or its body has not all come.
#[derive(Debug, Clone, Default)]
pub(super) struct Pending {
    pub(super) id: String,
    pub(super) method: String,
    /// Redacted, without its query (the state, nonce and challenge say nothing of a stall).
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) started_ms: f64,
    pub(super) answered: bool,
}

/// A logged header object as name and value pairs.
pub(super) fn header_pairs(headers: &Value) -> Vec<(String, String)> {
    let Some(map) = headers.as_object() else { return Vec::new() };
    map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
}

/// Chromium's `ResourceTiming` (milliseconds after `requestTime`, -1 for a phase that did not
/// happen) as HAR phases. The body's reading is not in it: `receive` stays 0.
pub(super) fn chrome_timings(timing: &Value) -> Timings {
    let at = |name: &str| timing[name].as_f64().filter(|v| *v >= 0.0);
    let span = |from: &str, to: &str| Some((at(to)? - at(from)?).max(0.0));
    let send_start = at("sendStart").unwrap_or(0.0);
    let first_phase = at("dnsStart").or(at("connectStart")).unwrap_or(send_start);
    Timings {
        blocked: Some(first_phase),
        dns: span("dnsStart", "dnsEnd"),
        connect: span("connectStart", "connectEnd"),
        ssl: span("sslStart", "sslEnd"),
        send: span("sendStart", "sendEnd").unwrap_or(0.0),
        wait: span("sendEnd", "receiveHeadersEnd").unwrap_or(0.0),
        receive: 0.0,
    }
}

/// Which headers an `ExtraInfo` event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Side {
    Sent,
    Received,
}

type Headers = Vec<(String, String)>;

/// Chromium logs the headers it really sent and received (cookies included) in `ExtraInfo`
/// events of their own, before or after the request and response they belong to. A redirect
/// chain shares one request id, so the n-th event of a side for an id belongs to the n-th hop
/// of that id: headers that come first wait here for their hop; later ones mend the hop.
#[derive(Debug, Default)]
pub(super) struct ExtraInfo {
    /// Events seen per id and side.
    seen: HashMap<(String, Side), usize>,
    /// Hops recorded per id.
    hops: HashMap<String, usize>,
    /// The index in the driver's hops of the n-th hop of an id.
    hop_at: HashMap<(String, usize), usize>,
    /// Headers that came before their hop.
    waiting: HashMap<(String, Side, usize), Headers>,
}

impl ExtraInfo {
    pub(super) fn arrived(&mut self, hops: &mut [Hop], id: String, side: Side, headers: Headers) {
        let n = self.seen.entry((id.clone(), side)).or_default();
        let nth = *n;
        *n += 1;
        let exchange = self.hop_at.get(&(id.clone(), nth)).and_then(|i| hops.get_mut(*i)?.exchange.as_mut());
        match (exchange, side) {
            (Some(e), Side::Sent) => e.request_headers = headers,
            (Some(e), Side::Received) => e.response_headers = headers,
            (None, _) => {
                self.waiting.insert((id, side, nth), headers);
            }
        }
    }

    /// A hop of `id` is being recorded at `index`: the headers that came before it, if any.
    pub(super) fn hop(&mut self, id: &str, index: usize) -> (Option<Headers>, Option<Headers>) {
        let n = self.hops.entry(id.to_string()).or_default();
        let nth = *n;
        *n += 1;
        self.hop_at.insert((id.to_string(), nth), index);
        let mut take = |side| self.waiting.remove(&(id.to_string(), side, nth));
        (take(Side::Sent), take(Side::Received))
    }
}
