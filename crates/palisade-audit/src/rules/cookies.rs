//! Cookie attributes of session-like cookies, cookies on cacheable responses, and Flask
//! session cookies signed with a known key.

use super::catalog::{self, Rule};
use super::headers::cache_control;
use crate::client::Exchange;
use crate::cookie::SetCookie;
use crate::finding::{Evidence, Finding, Findings, Severity};
use crate::flask_key::SignedCookie;
use crate::mask;

/// Thirty days, in seconds.
const THIRTY_DAYS: i64 = 30 * 86_400;

/// Checks every `Set-Cookie` of one response.
pub(crate) fn check(ex: &Exchange, out: &mut Findings) {
    let cookies: Vec<SetCookie> = SetCookie::all(&ex.headers)
        .into_iter()
        .filter(|c| !c.is_deletion())
        .collect();
    if cookies.is_empty() {
        return;
    }
    cacheable(ex, out);
    for cookie in &cookies {
        attributes(ex, cookie, out);
        flask_key(
            ex.url.as_str(),
            &cookie.name,
            &cookie.value,
            || ex.evidence(&["set-cookie"], None),
            out,
        );
    }
}

fn push(
    out: &mut Findings,
    rule: &'static Rule,
    ex: &Exchange,
    cookie: &SetCookie,
    detail: String,
) {
    let evidence = ex.evidence(&["set-cookie"], None);
    out.push(Finding::new(
        rule,
        ex.url.as_str(),
        &cookie.name,
        detail,
        evidence,
    ));
}

fn attributes(ex: &Exchange, c: &SetCookie, out: &mut Findings) {
    let name = &c.name;
    if name.starts_with("__Host-")
        && (!c.secure || c.domain.is_some() || c.path.as_deref() != Some("/"))
    {
        let detail = format!(
            "{name} has the __Host- prefix but lacks Secure, Path=/ or has a Domain: browsers drop it"
        );
        push(out, &catalog::COOKIE_PREFIX_BROKEN, ex, c, detail);
    } else if name.starts_with("__Secure-") && !c.secure {
        push(
            out,
            &catalog::COOKIE_PREFIX_BROKEN,
            ex,
            c,
            format!("{name} has the __Secure- prefix without Secure"),
        );
    }
    if !c.is_session_like() || is_csrf_cookie(name) {
        return;
    }
    if !c.secure {
        push(
            out,
            &catalog::COOKIE_SECURE,
            ex,
            c,
            format!("cookie {name} is sent over plain HTTP too (no Secure)"),
        );
    }
    if !c.http_only {
        push(
            out,
            &catalog::COOKIE_HTTPONLY,
            ex,
            c,
            format!("cookie {name} is readable by scripts (no HttpOnly)"),
        );
    }
    match c.same_site.as_deref() {
        Some("lax" | "strict") => {}
        Some(other) => push(
            out,
            &catalog::COOKIE_SAMESITE,
            ex,
            c,
            format!("cookie {name} has SameSite={other}"),
        ),
        None => push(
            out,
            &catalog::COOKIE_SAMESITE,
            ex,
            c,
            format!("cookie {name} has no SameSite attribute"),
        ),
    }
    if !name.starts_with("__Host-") {
        push(
            out,
            &catalog::COOKIE_PREFIX,
            ex,
            c,
            format!("cookie {name} is not named __Host-…, so a subdomain can overwrite it"),
        );
    }
    if let Some(domain) = &c.domain {
        push(
            out,
            &catalog::COOKIE_DOMAIN,
            ex,
            c,
            format!("cookie {name} is sent to every subdomain of {domain}"),
        );
    }
    if let Some(lifetime) = c.lifetime().filter(|l| *l > THIRTY_DAYS) {
        push(
            out,
            &catalog::COOKIE_LONG_LIVED,
            ex,
            c,
            format!("cookie {name} lives {} days", lifetime / 86_400),
        );
    }
}

/// Cookies that only carry a CSRF token are not sessions.
fn is_csrf_cookie(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("csrf") || name.contains("xsrf")
}

fn cacheable(ex: &Exchange, out: &mut Findings) {
    const CACHEABLE_STATUS: [u16; 10] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410];
    if !CACHEABLE_STATUS.contains(&ex.status) {
        return;
    }
    let cc = cache_control(ex);
    if cc
        .iter()
        .any(|d| d == "no-store" || d == "private" || d == "no-cache" || d.starts_with("private="))
    {
        return;
    }
    let explicit = cc.iter().any(|d| {
        d == "public"
            || d.strip_prefix("max-age=")
                .or_else(|| d.strip_prefix("s-maxage="))
                .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0))
    });
    let shown = ex.header("cache-control").unwrap_or("(absent)");
    let detail = format!(
        "response sets a cookie with Cache-Control: {shown}; a shared cache may hand it to other users"
    );
    let evidence = ex.evidence(&["set-cookie", "cache-control", "expires"], None);
    let finding = Finding::new(
        &catalog::COOKIE_CACHEABLE,
        ex.url.as_str(),
        "",
        detail,
        evidence,
    );
    out.push(if explicit {
        finding
    } else {
        finding.with_severity(Severity::Low)
    });
}

/// Reports a Flask session cookie signed with a known key, and what its payload reveals.
pub(crate) fn flask_key(
    url: &str,
    name: &str,
    value: &str,
    evidence: impl Fn() -> Evidence,
    out: &mut Findings,
) {
    let Some(signed) = SignedCookie::parse(value) else {
        return;
    };
    if let Some(key) = signed.find_known_key() {
        let detail = format!(
            "cookie {name} verifies with the secret key \"{}\" (from: {}); anyone can forge any session",
            key.shown, key.source
        );
        out.push(Finding::new(
            &catalog::WEAK_SECRET_KEY,
            url,
            name,
            detail,
            evidence(),
        ));
    }
    if let Some(json) = signed.payload_json() {
        let keys = payload_keys(&json);
        let detail =
            format!("cookie {name} is a Flask signed session; anyone can read its fields: {keys}");
        out.push(Finding::new(
            &catalog::FLASK_SESSION_READABLE,
            url,
            name,
            detail,
            evidence(),
        ));
    }
}

/// The top-level field names of a session payload, values masked.
fn payload_keys(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) if !map.is_empty() => map
            .keys()
            .map(|k| format!("{k}={}", mask::masked("…")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "(no fields)".to_owned(),
    }
}
