//! Masking of secrets in evidence: cookie values, tokens and passwords never reach a report.
//!
//! Masking works on names first (a `password` field, a `Cookie` header) and then on shape: any
//! long run of token-like characters mixing letters and digits is masked too, so a CSRF token
//! pasted into a page excerpt does not leak either.

use url::Url;

/// Whether a field or parameter name suggests a secret value.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass", "pwd", "csrf", "xsrf", "token", "secret", "key", "nonce", "otp", "auth",
    ]
    .iter()
    .any(|hint| name.contains(hint))
}

/// Whether a field name holds a password.
fn is_password_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("pass") || name.contains("pwd")
}

/// The replacement shown instead of a secret value.
pub(crate) fn masked(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        format!("[masked:{}]", value.chars().count())
    }
}

/// Masks the value of every `name=value` pair of a cookie header (`a=1; b=2`).
pub(crate) fn cookie_header(header: &str) -> String {
    header
        .split(';')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{}={}", name.trim(), masked(value.trim())),
            None => pair.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Masks the value of a `Set-Cookie` header, keeping its attributes.
pub(crate) fn set_cookie_header(header: &str) -> String {
    let (pair, attrs) = header.split_once(';').unwrap_or((header, ""));
    let pair = cookie_header(pair);
    if attrs.is_empty() {
        pair
    } else {
        format!("{pair};{attrs}")
    }
}

/// Masks a header value when the header carries credentials.
pub(crate) fn header(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "cookie" => cookie_header(value),
        "set-cookie" => set_cookie_header(value),
        "authorization" | "proxy-authorization" => masked(value),
        _ => text(value),
    }
}

/// Masks secret-looking pairs of a form body or query string (`a=1&password=x`).
pub(crate) fn form_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            // A password's length is a secret too.
            Some((name, _)) if is_password_name(name) => format!("{name}=[masked]"),
            Some((name, value)) if is_secret_name(name) => format!("{name}={}", masked(value)),
            _ => text(pair),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The path and query of a URL, with secret parameters masked.
pub(crate) fn url_path(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{}", url.path(), form_pairs(query)),
        None => url.path().to_owned(),
    }
}

/// A URL with secret query parameters masked.
pub(crate) fn url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(url.query().map(form_pairs).as_deref());
    shown.to_string()
}

/// Masks token-shaped runs in free text: 32 or more characters of `[A-Za-z0-9_+/=.-]` that
/// mix letters and digits.
pub(crate) fn text(input: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "_+/=.-".contains(c);
    let mut out = String::with_capacity(input.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let letters = run.chars().any(|c| c.is_ascii_alphabetic());
        let digits = run.chars().filter(char::is_ascii_digit).count();
        // Paths such as /static/app.js are runs too: only mask runs without many slashes.
        let slashes = run.matches('/').count();
        if run.len() >= 32 && letters && digits >= 2 && slashes <= 2 {
            out.push_str(&masked(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in input.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_are_masked_and_names_kept() {
        assert_eq!(
            cookie_header("session=abc; theme=dark"),
            "session=[masked:3]; theme=[masked:4]"
        );
        assert_eq!(
            set_cookie_header("sid=secretvalue; Path=/; HttpOnly"),
            "sid=[masked:11]; Path=/; HttpOnly"
        );
    }

    #[test]
    fn passwords_and_tokens_in_forms_are_masked() {
        assert_eq!(
            form_pairs("email=a%40b.test&password=hunter2&csrf_token=xyz"),
            "email=a%40b.test&password=[masked]&csrf_token=[masked:3]"
        );
    }

    #[test]
    fn token_shaped_text_is_masked_but_words_and_paths_are_not() {
        let s = text(r#"value="IjQ1ZmE2YjM5NzEwZGU0NGE4.ZxY1Ag.9bQ" href="/static/app-v2.js""#);
        assert!(s.contains("[masked:"), "{s}");
        assert!(s.contains("/static/app-v2.js"));
        assert_eq!(
            text("Traceback (most recent call last)"),
            "Traceback (most recent call last)"
        );
    }
}
