//! Reflected XSS: a unique marker followed by quotes and a tag, sent into every query parameter
//! and form field; the reflection is then classified by context (text, attribute, script).

use futures_util::stream::{self, StreamExt};

use super::{CONCURRENCY, Point, Probe};
use crate::client::Exchange;
use crate::finding::Finding;
use crate::rules::catalog::{self, Rule};

/// Where a reflection landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Text,
    /// Inside a tag; the char is the attribute's quote (`"`, `'`) or `' '` when unquoted.
    Attribute(char),
    Script,
}

/// Runs the probe on every injection point.
pub(crate) async fn run(probe: &Probe) -> Vec<Finding> {
    let points = probe.points();
    stream::iter(points)
        .map(|point| async move { check_point(probe, &point).await })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|f| async move { f })
        .collect()
        .await
}

async fn check_point(probe: &Probe, point: &Point) -> Option<Finding> {
    let mark = super::marker();
    let payload = format!("{mark}'\"></script><{mark}x>");
    let chain = point
        .submit(&probe.client, &probe.jar, &payload)
        .await
        .ok()?;
    super::bodies(&chain)
        .filter(|ex| ex.is_html())
        .find_map(|ex| analyse(ex, &mark).map(|(rule, detail)| (ex, rule, detail)))
        .map(|(ex, rule, detail)| {
            let detail = format!("{}: {detail}", point.describe());
            Finding::new(
                rule,
                point.url().as_str(),
                point.key(),
                detail,
                ex.evidence(&["content-type", "content-security-policy"], Some(&mark)),
            )
        })
}

/// Classifies each reflection of `mark` in the body; returns the first exploitable one.
fn analyse(ex: &Exchange, mark: &str) -> Option<(&'static Rule, String)> {
    let body = &ex.body;
    let tag = format!("<{mark}x>");
    for (at, _) in body.match_indices(mark) {
        let after = &body[at + mark.len()..];
        if after.starts_with('x') {
            continue; // the marker inside the injected tag, not the start of the payload
        }
        match context(body, at) {
            Context::Script => {
                if after.starts_with(['\'', '"']) {
                    return Some((
                        &catalog::XSS_SCRIPT,
                        "quotes reach a <script> unescaped".to_owned(),
                    ));
                }
                if head(after, 40).contains(&format!("</script><{mark}x>")) {
                    return Some((
                        &catalog::XSS_SCRIPT,
                        "</script> reaches a script unescaped".to_owned(),
                    ));
                }
            }
            Context::Attribute(quote) => {
                let breaks = match quote {
                    ' ' => after.starts_with(['>', '\'', '"']),
                    q => head(after, 2).contains(q),
                };
                if breaks {
                    return Some((
                        &catalog::XSS_ATTR,
                        format!("the value breaks out of an attribute quoted with {quote:?}"),
                    ));
                }
            }
            Context::Text => {
                if head(after, 40).contains(&tag) {
                    return Some((
                        &catalog::XSS_HTML,
                        "an injected tag is rendered as HTML".to_owned(),
                    ));
                }
            }
        }
    }
    None
}

/// The first `n` bytes of `s` (fewer at the end or to keep a char whole).
fn head(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The context of the byte offset `at` in an HTML body.
fn context(body: &str, at: usize) -> Context {
    let before = &body[..at];
    let lower = before.to_ascii_lowercase();
    let open_script = lower.rfind("<script");
    let close_script = lower.rfind("</script");
    if let Some(open) = open_script {
        let tag_end = before[open..].find('>').map(|i| open + i);
        if tag_end.is_some() && close_script.is_none_or(|c| c < open) {
            return Context::Script;
        }
    }
    let last_open = before.rfind('<');
    let last_close = before.rfind('>');
    match (last_open, last_close) {
        (Some(o), c) if c.is_none_or(|c| c < o) => {
            Context::Attribute(attribute_quote(&before[o..]))
        }
        _ => Context::Text,
    }
}

/// The quote of the attribute value the tag text ends in.
fn attribute_quote(tag: &str) -> char {
    let mut quote = None;
    let mut after_equals = false;
    for c in tag.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '=' => after_equals = true,
            None if (c == '"' || c == '\'') && after_equals => {
                quote = Some(c);
                after_equals = false;
            }
            None if !c.is_whitespace() => after_equals = false,
            None => {}
        }
    }
    quote.unwrap_or(' ')
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use url::Url;

    use super::*;

    fn exchange(body: String) -> Exchange {
        Exchange {
            method: "GET".into(),
            url: Url::parse("http://a.test/").unwrap(),
            request_headers: Vec::new(),
            request_body: None,
            status: 200,
            headers: HeaderMap::new(),
            body,
        }
    }

    const M: &str = "pal0123456789ab";

    fn payload() -> String {
        format!("{M}'\"></script><{M}x>")
    }

    fn escaped() -> String {
        format!("{M}&#39;&#34;&gt;&lt;/script&gt;&lt;{M}x&gt;")
    }

    #[test]
    fn raw_reflection_in_text_is_html_xss() {
        let ex = exchange(format!("<p>Results for {}</p>", payload()));
        assert_eq!(analyse(&ex, M).unwrap().0.id, "PAL-XSS-001");
    }

    #[test]
    fn quote_breaking_out_of_an_attribute_is_attribute_xss() {
        let ex = exchange(format!("<input value=\"{}\">", payload()));
        assert_eq!(analyse(&ex, M).unwrap().0.id, "PAL-XSS-002");
        let ex = exchange(format!("<input value='{M}&#39;&quot;&gt;'>"));
        assert!(analyse(&ex, M).is_none());
    }

    #[test]
    fn reflection_inside_a_script_string_is_script_xss() {
        let ex = exchange(format!("<script>var q = '{}';</script>", payload()));
        assert_eq!(analyse(&ex, M).unwrap().0.id, "PAL-XSS-003");
        let ex = exchange(format!(
            "<script>var q = \"{M}\\u0027\\u0022\\u003e\";</script>"
        ));
        assert!(analyse(&ex, M).is_none());
    }

    #[test]
    fn escaped_reflections_are_not_reported() {
        let ex = exchange(format!(
            "<p>{}</p><a title=\"{}\">x</a>",
            escaped(),
            escaped()
        ));
        assert!(analyse(&ex, M).is_none());
    }
}
