//! `Set-Cookie` parsing and the small cookie jar the audit keeps per identity.
//!
//! The audit talks to one origin only, so the jar ignores Domain and Path and keeps one value
//! per name. That is all a crawl needs, and it lets probes copy, compare and replay cookies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, SET_COOKIE};

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SetCookie {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) max_age: Option<i64>,
    /// Expiry as seconds since the epoch, when `Expires` could be read.
    pub(crate) expires: Option<i64>,
}

impl SetCookie {
    /// Parses one header value; `None` when it has no `name=value` pair.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut cookie = SetCookie {
            name: name.to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            ..Self::default()
        };
        for attr in parts {
            let (key, val) = match attr.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (attr.trim(), None),
            };
            match key.to_ascii_lowercase().as_str() {
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = val.map(str::to_ascii_lowercase),
                "domain" => cookie.domain = val.filter(|v| !v.is_empty()).map(str::to_owned),
                "path" => cookie.path = val.map(str::to_owned),
                "max-age" => cookie.max_age = val.and_then(|v| v.parse().ok()),
                "expires" => cookie.expires = val.and_then(parse_http_date),
                _ => {}
            }
        }
        Some(cookie)
    }

    /// Every `Set-Cookie` of a response.
    pub(crate) fn all(headers: &HeaderMap) -> Vec<Self> {
        headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Self::parse)
            .collect()
    }

    /// Whether this header deletes the cookie rather than setting it.
    pub(crate) fn is_deletion(&self) -> bool {
        if self.max_age.is_some_and(|age| age <= 0) {
            return true;
        }
        self.max_age.is_none() && self.expires.is_some_and(|at| at <= now())
    }

    /// Lifetime in seconds for persistent cookies, `None` for session cookies.
    pub(crate) fn lifetime(&self) -> Option<i64> {
        self.max_age.or_else(|| self.expires.map(|at| at - now()))
    }

    /// Whether the name or value looks like a session or sign-in cookie.
    pub(crate) fn is_session_like(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        const HINTS: [&str; 11] = [
            "sess", "sid", "auth", "token", "remember", "login", "jwt", "user", "palisade",
            "identity", "connect",
        ];
        HINTS.iter().any(|h| name.contains(h)) || self.value.len() >= 24
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses the IMF-fixdate form of HTTP dates (`Sun, 06 Nov 1994 08:49:37 GMT`), also with
/// dashes between the date parts as old cookie dates have.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.replace('-', " ");
    let mut it = s.split_whitespace().skip_while(|p| p.ends_with(','));
    let day: i64 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let mut year: i64 = it.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = it
        .next()
        .unwrap_or("0:0:0")
        .split(':')
        .map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days between 1970-01-01 and the given date (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The cookies of one identity (anonymous, signed in, …), shared between concurrent requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jar {
    cookies: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Jar {
    /// A jar seeded from a `Cookie` request header value (`a=1; b=2`).
    pub(crate) fn from_header(header: &str) -> Self {
        let jar = Self::default();
        for pair in header.split(';') {
            if let Some((name, value)) = pair.split_once('=') {
                jar.set(name.trim(), value.trim());
            }
        }
        jar
    }

    /// An independent copy of this jar.
    pub(crate) fn fork(&self) -> Self {
        Self {
            cookies: Arc::new(Mutex::new(self.snapshot())),
        }
    }

    /// Applies the `Set-Cookie` headers of a response.
    pub(crate) fn store(&self, headers: &HeaderMap) {
        for cookie in SetCookie::all(headers) {
            if cookie.is_deletion() || cookie.value.is_empty() {
                self.lock().remove(&cookie.name);
            } else {
                self.set(&cookie.name, &cookie.value);
            }
        }
    }

    /// Sets one cookie.
    pub(crate) fn set(&self, name: &str, value: &str) {
        self.lock().insert(name.to_owned(), value.to_owned());
    }

    /// Value of one cookie.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }

    /// All cookies, by name.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, String> {
        self.lock().clone()
    }

    /// The `Cookie` request header, if the jar holds anything.
    pub(crate) fn header(&self) -> Option<String> {
        let cookies = self.lock();
        if cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(pairs.join("; "))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A poisoned jar still holds valid strings; keep using it.
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn set_cookie_attributes_are_read_case_insensitively() {
        let c = SetCookie::parse(
            "__Host-s=abc; path=/; SECURE; HttpOnly; SameSite=Lax; Max-Age=60; Domain=",
        )
        .unwrap();
        assert_eq!(c.name, "__Host-s");
        assert_eq!(c.value, "abc");
        assert!(c.secure && c.http_only);
        assert_eq!(c.same_site.as_deref(), Some("lax"));
        assert_eq!(c.path.as_deref(), Some("/"));
        assert_eq!(c.domain, None);
        assert_eq!(c.max_age, Some(60));
    }

    #[test]
    fn http_dates_parse_to_unix_time() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01-Jan-1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn deletions_remove_cookies_from_the_jar() {
        let jar = Jar::from_header("a=1; b=2");
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("a=; Max-Age=0"));
        headers.append(SET_COOKIE, HeaderValue::from_static("c=3; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("b=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        jar.store(&headers);
        assert_eq!(jar.header().as_deref(), Some("c=3"));
    }

    #[test]
    fn forked_jars_are_independent() {
        let jar = Jar::from_header("s=1");
        let copy = jar.fork();
        copy.set("s", "2");
        assert_eq!(jar.get("s").as_deref(), Some("1"));
    }
}
