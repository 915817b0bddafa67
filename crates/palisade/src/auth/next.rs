//! `next` redirects that can only stay on this site.
//!
//! A sign-in page that redirects to `?next=…` afterwards is an open redirect unless the target is
//! checked: `//evil.example`, `/\evil.example`, `https://evil.example` and their encoded and
//! whitespace-padded variants all leave the site in some browser. [`safe_next`] keeps only plain
//! absolute paths of this site and replaces everything else with [`DEFAULT_NEXT`].
//!
//! The rules, all of which must hold:
//!
//! - printable ASCII only: no whitespace (leading, trailing or inside), no control characters, no
//!   non-ASCII characters (a path this site produced is percent-encoded already);
//! - starts with exactly one `/`, never `//`, and contains no backslash;
//! - every `%` starts a valid escape, and after decoding once, twice and three times, the result
//!   still starts with a single `/` and holds no backslash and no control character;
//! - at most [`MAX_NEXT_LEN`] bytes.
//!
//! ```
//! use palisade::auth::next::safe_next;
//!
//! assert_eq!(safe_next("/files/42?view=grid"), "/files/42?view=grid");
//! assert_eq!(safe_next("//evil.example/"), "/files");
//! assert_eq!(safe_next("/%2F%2Fevil.example"), "/files");
//! assert_eq!(safe_next("https://evil.example/"), "/files");
//! ```

/// Where a refused or missing `next` goes.
pub const DEFAULT_NEXT: &str = "/files";

/// The longest `next` value kept.
pub const MAX_NEXT_LEN: usize = 2048;

/// How many rounds of percent-decoding are checked, for servers and proxies that decode again.
const DECODE_ROUNDS: usize = 3;

/// `raw` when it is a safe same-site path (see the [module docs](self)), else [`DEFAULT_NEXT`].
pub fn safe_next(raw: &str) -> String {
    safe_next_or(raw, DEFAULT_NEXT)
}

/// `raw` when it is a safe same-site path (see the [module docs](self)), else `default`.
pub fn safe_next_or(raw: &str, default: &str) -> String {
    if is_safe_next(raw) {
        raw.to_owned()
    } else {
        tracing::trace!(len = raw.len(), "next parameter refused");
        default.to_owned()
    }
}

/// True when `raw` passes every rule of the [module docs](self).
pub fn is_safe_next(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > MAX_NEXT_LEN {
        return false;
    }
    // Printable ASCII only: this refuses whitespace anywhere, control characters and any
    // Unicode look-alike of a slash.
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    if !is_single_slash_path(raw.as_bytes()) {
        return false;
    }

    let mut current = raw.as_bytes().to_vec();
    for _ in 0..DECODE_ROUNDS {
        let Some(decoded) = percent_decode(&current) else {
            return false;
        };
        if decoded == current {
            break;
        }
        if !is_single_slash_path(&decoded) || decoded.iter().any(|b| b.is_ascii_control()) {
            return false;
        }
        current = decoded;
    }
    true
}

/// Starts with one `/` and not two, and holds no backslash (which browsers read as `/`).
fn is_single_slash_path(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'/') && bytes.get(1) != Some(&b'/') && !bytes.contains(&b'\\')
}

/// Decodes `%XX` escapes once; `None` when a `%` does not start a valid escape.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_same_site_paths_are_kept() {
        for ok in [
            "/",
            "/files",
            "/files/42",
            "/files/42?view=grid&sort=name",
            "/files#top",
            "/files/a%20b",
            "/files/caf%C3%A9",
            "/search?q=a%2Fb",
            "/a/./b/../c",
            "/files?next=/other",
            "/.well-known/x",
            "/files:x",
        ] {
            assert_eq!(safe_next(ok), ok, "{ok}");
        }
    }

    #[test]
    fn protocol_relative_and_backslash_forms_fall_back() {
        for bad in [
            "//evil.example",
            "//evil.example/path",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/files\\..\\x",
            "/files/\\",
        ] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad}");
        }
    }

    #[test]
    fn absolute_urls_and_schemes_fall_back() {
        for bad in [
            "http://evil.example",
            "https://evil.example/files",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "mailto:a@b.c",
            "evil.example",
            "files",
            "?next=/x",
            "#frag",
            "",
        ] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad:?}");
        }
    }

    #[test]
    fn percent_encoded_escapes_fall_back() {
        for bad in [
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "%2F%2Fevil.example",
            "%2F",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/files%5C..",
            "/%252F%252Fevil.example",
            "/%25252Fevil.example",
            "/%09/evil.example",
            "/files%0d%0aSet-Cookie:x=1",
            "/files%00",
            "/files%7F",
        ] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad}");
        }
    }

    #[test]
    fn malformed_percent_escapes_fall_back() {
        for bad in ["/files%", "/files%2", "/files%zz", "/files%G0"] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad}");
        }
    }

    #[test]
    fn whitespace_and_control_characters_fall_back() {
        for bad in [
            " /files",
            "/files ",
            "\t/files",
            "/files\n",
            "/fi les",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/files\u{0}",
            "/files\u{7f}",
            "\u{b}/files",
            "\u{c}//evil.example",
            "/files\u{a0}",
            "/\u{2028}/evil.example",
        ] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad:?}");
        }
    }

    #[test]
    fn unicode_look_alikes_fall_back() {
        for bad in [
            "/\u{ff0f}evil.example",
            "\u{ff0f}\u{ff0f}evil.example",
            "/\u{2215}evil.example",
            "/files/caf\u{e9}",
        ] {
            assert_eq!(safe_next(bad), DEFAULT_NEXT, "{bad:?}");
        }
    }

    #[test]
    fn overlong_values_fall_back() {
        let long = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        assert_eq!(safe_next(&long), DEFAULT_NEXT);
        let limit = format!("/{}", "a".repeat(MAX_NEXT_LEN - 1));
        assert_eq!(safe_next(&limit), limit);
    }

    #[test]
    fn a_custom_default_is_used_for_refusals() {
        assert_eq!(safe_next_or("//x", "/home"), "/home");
        assert_eq!(safe_next_or("/ok", "/home"), "/ok");
    }
}
