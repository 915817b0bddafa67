//! Security headers: HSTS, CSP, framing, nosniff, Referrer-Policy, Permissions-Policy,
//! COOP/CORP, and caching of personal pages.

use super::Context;
use super::catalog::{self, Rule};
use crate::client::Exchange;
use crate::finding::{Finding, Findings, Severity};

/// One year, the HSTS max-age below which browsers' preload lists refuse a site.
const ONE_YEAR: u64 = 31_536_000;

/// Checks the headers of one response.
pub(crate) fn check(ex: &Exchange, context: Context<'_>, out: &mut Findings) {
    if ex.url.scheme() == "https" {
        hsts(ex, out);
    }
    if ex.is_redirect() || ex.status == 304 {
        return;
    }
    if ex.header("x-content-type-options").map(str::trim) != Some("nosniff") {
        let shown = ex.header("x-content-type-options").unwrap_or("(absent)");
        push(
            out,
            &catalog::NOSNIFF,
            ex,
            "",
            format!("X-Content-Type-Options is {shown}"),
            &["content-type", "x-content-type-options"],
        );
    }
    if ex.header("cross-origin-resource-policy").is_none() {
        push(
            out,
            &catalog::CORP,
            ex,
            "",
            "no Cross-Origin-Resource-Policy header",
            &[],
        );
    }
    if context.personal && !cache_control(ex).iter().any(|d| d == "no-store") {
        let shown = ex.header("cache-control").unwrap_or("(absent)");
        let detail = format!("page shown to the signed-in user has Cache-Control: {shown}");
        push(
            out,
            &catalog::PERSONAL_CACHEABLE,
            ex,
            ex.url.path(),
            detail,
            &["cache-control", "vary"],
        );
    }
    if !ex.is_html() {
        return;
    }

    let csp = ex.header_all("content-security-policy");
    match csp.first() {
        None => {
            let detail = if ex.header("content-security-policy-report-only").is_some() {
                "only Content-Security-Policy-Report-Only is sent: nothing is enforced"
            } else {
                "HTML page without Content-Security-Policy"
            };
            push(
                out,
                &catalog::CSP_MISSING,
                ex,
                "",
                detail,
                &["content-security-policy-report-only"],
            );
        }
        Some(policy) => check_csp(ex, &Policy::parse(policy), out),
    }
    framing(ex, out);
    referrer_policy(ex, out);
    if ex.header("permissions-policy").is_none() && ex.header("feature-policy").is_none() {
        push(
            out,
            &catalog::PERMISSIONS_POLICY,
            ex,
            "",
            "no Permissions-Policy header",
            &[],
        );
    }
    match ex.header("cross-origin-opener-policy").map(str::trim) {
        None => push(
            out,
            &catalog::COOP,
            ex,
            "",
            "no Cross-Origin-Opener-Policy header",
            &[],
        ),
        Some(v) if v.eq_ignore_ascii_case("unsafe-none") => {
            push(
                out,
                &catalog::COOP,
                ex,
                "",
                "Cross-Origin-Opener-Policy is unsafe-none",
                &["cross-origin-opener-policy"],
            );
        }
        Some(_) => {}
    }
}

fn push(
    out: &mut Findings,
    rule: &'static Rule,
    ex: &Exchange,
    key: &str,
    detail: impl Into<String>,
    headers: &[&str],
) {
    out.push(Finding::new(
        rule,
        ex.url.as_str(),
        key,
        detail,
        ex.evidence(headers, None),
    ));
}

/// Lowercased Cache-Control directives.
pub(crate) fn cache_control(ex: &Exchange) -> Vec<String> {
    ex.header_all("cache-control")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

fn hsts(ex: &Exchange, out: &mut Findings) {
    let values = ex.header_all("strict-transport-security");
    let Some(first) = values.first() else {
        push(
            out,
            &catalog::HSTS_MISSING,
            ex,
            "",
            "HTTPS response without Strict-Transport-Security",
            &[],
        );
        return;
    };
    let names = ["strict-transport-security"];
    if values.len() > 1 {
        let detail = format!(
            "{} Strict-Transport-Security headers; browsers use only the first",
            values.len()
        );
        push(out, &catalog::HSTS_DUPLICATE, ex, "", detail, &names);
    }
    let directives: Vec<String> = first
        .split(';')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let max_age = directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse::<u64>().ok());
    match max_age {
        None => push(
            out,
            &catalog::HSTS_SHORT,
            ex,
            "",
            "HSTS without a valid max-age is ignored",
            &names,
        ),
        Some(0) => {
            let f = Finding::new(
                &catalog::HSTS_SHORT,
                ex.url.as_str(),
                "",
                "HSTS max-age=0 switches HSTS off",
                ex.evidence(&names, None),
            );
            out.push(f.with_severity(Severity::Medium));
        }
        Some(age) if age < ONE_YEAR => {
            let detail = format!(
                "HSTS max-age={age} ({} days), less than one year",
                age / 86_400
            );
            push(out, &catalog::HSTS_SHORT, ex, "", detail, &names);
        }
        Some(_) => {}
    }
    let has = |name: &str| directives.iter().any(|d| d == name);
    if has("preload") && !has("includesubdomains") {
        push(
            out,
            &catalog::HSTS_PRELOAD,
            ex,
            "",
            "HSTS asks for preload without includeSubDomains",
            &names,
        );
    }
}

/// A parsed Content-Security-Policy (the first policy of the header).
#[derive(Debug, Default)]
pub(crate) struct Policy {
    directives: Vec<(String, Vec<String>)>,
}

impl Policy {
    /// Parses a policy; directive names are lowercased, source expressions kept as written
    /// except keywords, which are lowercased.
    pub(crate) fn parse(header: &str) -> Self {
        let first = header.split(',').next().unwrap_or_default();
        let mut directives: Vec<(String, Vec<String>)> = Vec::new();
        for part in first.split(';') {
            let mut words = part.split_whitespace();
            let Some(name) = words.next() else { continue };
            let name = name.to_ascii_lowercase();
            if directives.iter().any(|(n, _)| *n == name) {
                continue; // browsers ignore repeated directives
            }
            let sources = words
                .map(|w| {
                    if w.starts_with('\'') {
                        w.to_ascii_lowercase()
                    } else {
                        w.to_owned()
                    }
                })
                .collect();
            directives.push((name, sources));
        }
        Self { directives }
    }

    /// Sources of a directive, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&[String]> {
        self.directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_slice())
    }

    /// Sources of `name`, falling back to `default-src`.
    fn effective<'a>(&'a self, name: &'a str) -> Option<(&'a str, &'a [String])> {
        self.get(name)
            .map(|s| (name, s))
            .or_else(|| self.get("default-src").map(|s| ("default-src", s)))
    }
}

/// Source expressions that allow scripts from anywhere.
fn is_wildcard(source: &str) -> bool {
    matches!(
        source.to_ascii_lowercase().as_str(),
        "*" | "http:" | "https:" | "data:" | "http://*" | "https://*" | "blob:"
    )
}

fn check_csp(ex: &Exchange, policy: &Policy, out: &mut Findings) {
    let names = ["content-security-policy"];
    let Some((directive, scripts)) = policy.effective("script-src") else {
        push(
            out,
            &catalog::CSP_WILDCARD,
            ex,
            "",
            "CSP has neither script-src nor default-src: scripts are not restricted",
            &names,
        );
        check_csp_other(ex, policy, out);
        return;
    };
    let has = |s: &str| scripts.iter().any(|x| x == s);
    let nonce_or_hash = scripts.iter().any(|s| {
        s.starts_with("'nonce-")
            || s.starts_with("'sha256-")
            || s.starts_with("'sha384-")
            || s.starts_with("'sha512-")
    });
    let strict_dynamic = has("'strict-dynamic'");
    if has("'unsafe-inline'") && !nonce_or_hash {
        push(
            out,
            &catalog::CSP_UNSAFE_INLINE,
            ex,
            "",
            format!("{directive} allows 'unsafe-inline' without a nonce or hash"),
            &names,
        );
    }
    if has("'unsafe-eval'") {
        push(
            out,
            &catalog::CSP_UNSAFE_EVAL,
            ex,
            "",
            format!("{directive} allows 'unsafe-eval'"),
            &names,
        );
    }
    if !strict_dynamic && let Some(wild) = scripts.iter().find(|s| is_wildcard(s)) {
        let detail = format!("{directive} allows scripts from {wild}");
        push(out, &catalog::CSP_WILDCARD, ex, "", detail, &names);
    }
    check_csp_other(ex, policy, out);
}

fn check_csp_other(ex: &Exchange, policy: &Policy, out: &mut Findings) {
    let names = ["content-security-policy"];
    match policy.effective("object-src") {
        None => push(
            out,
            &catalog::CSP_OBJECT_SRC,
            ex,
            "",
            "CSP has neither object-src nor default-src",
            &names,
        ),
        Some((d, sources)) if sources.iter().any(|s| is_wildcard(s)) => {
            push(
                out,
                &catalog::CSP_OBJECT_SRC,
                ex,
                "",
                format!("{d} allows plugins from anywhere"),
                &names,
            );
        }
        Some(_) => {}
    }
    if policy.get("base-uri").is_none() {
        push(
            out,
            &catalog::CSP_BASE_URI,
            ex,
            "",
            "CSP has no base-uri (it does not fall back to default-src)",
            &names,
        );
    }
}

fn framing(ex: &Exchange, out: &mut Findings) {
    let ancestors = ex
        .header("content-security-policy")
        .map(Policy::parse)
        .and_then(|p| p.get("frame-ancestors").map(<[String]>::to_vec));
    let ancestors_ok = ancestors
        .as_ref()
        .is_some_and(|s| !s.iter().any(|x| x == "*" || is_wildcard(x)));
    let xfo = ex
        .header("x-frame-options")
        .map(|v| v.trim().to_ascii_uppercase());
    let xfo_ok = matches!(xfo.as_deref(), Some("DENY" | "SAMEORIGIN"));
    let names = ["x-frame-options", "content-security-policy"];
    if let Some(value) = xfo.as_deref().filter(|_| !xfo_ok) {
        push(
            out,
            &catalog::XFO_INVALID,
            ex,
            "",
            format!("X-Frame-Options: {value} is not DENY or SAMEORIGIN"),
            &names,
        );
    }
    if !ancestors_ok && !xfo_ok {
        push(
            out,
            &catalog::FRAMING,
            ex,
            "",
            "neither CSP frame-ancestors nor X-Frame-Options forbids framing",
            &names,
        );
    }
}

fn referrer_policy(ex: &Exchange, out: &mut Findings) {
    let names = ["referrer-policy"];
    let Some(value) = ex.header("referrer-policy") else {
        push(
            out,
            &catalog::REFERRER_POLICY,
            ex,
            "",
            "no Referrer-Policy header",
            &names,
        );
        return;
    };
    // The last policy a browser understands wins.
    let last = value
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .next_back()
        .unwrap_or_default();
    if matches!(
        last.as_str(),
        "unsafe-url" | "no-referrer-when-downgrade" | "origin-when-cross-origin"
    ) {
        push(
            out,
            &catalog::REFERRER_POLICY,
            ex,
            "",
            format!("Referrer-Policy {last} leaks full URLs to other sites"),
            &names,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_parsing_keeps_the_first_of_repeated_directives() {
        let p = Policy::parse(
            "default-src 'self'; script-src 'NONCE-abc' 'strict-dynamic'; script-src *",
        );
        assert_eq!(
            p.get("script-src").unwrap(),
            ["'nonce-abc'", "'strict-dynamic'"]
        );
        assert_eq!(p.effective("object-src").unwrap().0, "default-src");
        assert!(p.get("base-uri").is_none());
    }
}
