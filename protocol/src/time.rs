//! Wall-clock helpers shared by the mocks.

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Seconds since the Unix epoch, with their fraction.
pub fn now_secs_f64() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Days since the epoch of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Seconds since the epoch of an ISO 8601 time as authentik writes them
/// (`2027-01-02T03:04:05.123456Z`, `…+02:00`); `None` when it does not read.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T').unwrap_or((text, ""));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let clock: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ':').collect();
    let mut t = clock.split(':').map(|p| p.parse::<i64>().unwrap_or(0));
    let (h, min, s) = (t.next().unwrap_or(0), t.next().unwrap_or(0), t.next().unwrap_or(0));
    let zone = &rest[clock.len()..];
    let offset = match zone.find(['+', '-']) {
        Some(i) => {
            let sign = if zone[i..].starts_with('-') { -1 } else { 1 };
            let mut o = zone[i + 1..].split(':').map(|p| p.parse::<i64>().unwrap_or(0));
            sign * (o.next().unwrap_or(0) * 3600 + o.next().unwrap_or(0) * 60)
        }
        None => 0,
    };
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s - offset)
}

/// Seconds since the epoch as a UTC civil date and time: (year, month, day, hour, minute,
/// second), by Howard Hinnant's `civil_from_days`.
pub fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// An ISO 8601 UTC time (`2027-01-02T03:04:05Z`) of seconds since the epoch.
pub fn iso8601(secs: i64) -> String {
    let (y, m, d, h, min, s) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::{iso8601, parse_iso8601};

    #[test]
    fn iso8601_both_ways() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_798_761_600), "2027-01-01T00:00:00Z");
        assert_eq!(parse_iso8601("2027-01-01T00:00:00Z"), Some(1_798_761_600));
        assert_eq!(parse_iso8601("2027-01-01T02:00:00.123456+02:00"), Some(1_798_761_600));
        assert_eq!(parse_iso8601("2024-02-29T12:00:00Z").map(iso8601).as_deref(), Some("2024-02-29T12:00:00Z"));
        assert_eq!(parse_iso8601("yesterday"), None);
        assert_eq!(parse_iso8601("99999999999999-01-01T00:00:00Z"), None, "no overflow");
    }
}
