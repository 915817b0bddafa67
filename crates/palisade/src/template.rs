//! Templates: Jinja2-compatible (minijinja), autoescaped for HTML whatever the file name.
//!
//! Every template autoescapes; there is no per-extension opt-in to forget. Each render receives
//! `csp_nonce` (for `<script nonce="…">`) and, when the request has a session, the CSRF token
//! behind `csrf_field()` (a hidden input) and `csrf_meta()` (a meta tag for scripts). A form
//! rendered without a token is an error, not a silent unprotected form.
//!
//! Helpers for the contexts that escaping alone does not cover:
//! - `value|tojson` inside `<script type="application/json">` escapes `<`, `>`, `&` and `'`, so
//!   user text can never close the script element;
//! - `url|safe_url` turns any URL that is not `http(s):`, `mailto:` or a relative path into `#`,
//!   so `javascript:` and `data:` links from users are inert;
//! - `static_url("app.css")` gives the fingerprinted URL of an asset.
//!
//! ```
//! use palisade::template::{RenderContext, Templates};
//!
//! let templates = Templates::from_sources([("hello.txt", "Hi {{ name }}!")]).unwrap();
//! let cx = RenderContext { nonce: "n0nce".into(), csrf_token: None };
//! let html = templates
//!     .render("hello.txt", &cx, minijinja::context! { name => "<b>Bob</b>" })
//!     .unwrap();
//! assert_eq!(html, "Hi &lt;b&gt;Bob&lt;&#x2f;b&gt;!");
//! ```

use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::assets::StaticAssets;

/// What a render needs from the request: the CSP nonce and the masked CSRF token.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    /// The response's CSP nonce.
    pub nonce: String,
    /// A freshly masked CSRF token, when the request has a session.
    pub csrf_token: Option<String>,
}

/// A set of templates sharing one environment. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl Templates {
    /// Templates from `(name, source)` pairs, typically `include_str!`ed into the binary.
    ///
    /// # Errors
    ///
    /// A syntax error in any template.
    pub fn from_sources<I>(sources: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (&'static str, &'static str)>,
    {
        Self::build(sources, None)
    }

    /// Like [`Templates::from_sources`], with `static_url()` resolving through `assets`.
    ///
    /// # Errors
    ///
    /// A syntax error in any template.
    pub fn with_assets<I>(sources: I, assets: StaticAssets) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (&'static str, &'static str)>,
    {
        Self::build(sources, Some(assets))
    }

    fn build<I>(sources: I, assets: Option<StaticAssets>) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (&'static str, &'static str)>,
    {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in sources {
            env.add_template(name, source)?;
        }
        env.add_function("csrf_field", csrf_field);
        env.add_function("csrf_meta", csrf_meta);
        env.add_filter("safe_url", safe_url);
        let assets = assets.unwrap_or_default();
        env.add_function("static_url", move |name: &str| -> Result<String, Error> {
            assets.url(name).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("no static asset named {name}"),
                )
            })
        });
        Ok(Self { env: Arc::new(env) })
    }

    /// Renders `name` with `context` plus the request's `csp_nonce` and CSRF token.
    ///
    /// # Errors
    ///
    /// An unknown template, an undefined variable, or `csrf_field()` without a token.
    pub fn render<S: serde::Serialize>(
        &self,
        name: &str,
        cx: &RenderContext,
        context: S,
    ) -> Result<String, Error> {
        let template = self.env.get_template(name)?;
        let ctx = minijinja::context! {
            csp_nonce => cx.nonce.as_str(),
            __csrf_token => cx.csrf_token.as_deref(),
            ..Value::from(minijinja::value::Serde(context))
        };
        template.render(ctx)
    }
}

fn csrf_token(state: &State) -> Result<String, Error> {
    state
        .lookup("__csrf_token")
        .filter(|v| !v.is_none() && !v.is_undefined())
        .map(|v| v.to_string())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "csrf_field() needs a session: render through a CSRF-protected route",
            )
        })
}

fn csrf_field(state: &State) -> Result<Value, Error> {
    let token = csrf_token(state)?;
    Ok(Value::from_safe_string(format!(
        r#"<input type="hidden" name="csrf_token" value="{}">"#,
        escape_attr(&token)
    )))
}

fn csrf_meta(state: &State) -> Result<Value, Error> {
    let token = csrf_token(state)?;
    Ok(Value::from_safe_string(format!(
        r#"<meta name="csrf-token" content="{}">"#,
        escape_attr(&token)
    )))
}

/// `#` for any URL a browser could run or that could leave the page's safe schemes.
fn safe_url(url: &str) -> String {
    if is_safe_url(url) {
        url.to_owned()
    } else {
        "#".to_owned()
    }
}

/// True for `http:`, `https:` and `mailto:` URLs and for relative references that a browser
/// cannot read as another scheme.
pub fn is_safe_url(url: &str) -> bool {
    let trimmed: String = url
        .chars()
        .filter(|c| !c.is_ascii_control() && !c.is_whitespace())
        .collect();
    let lower = trimmed.to_ascii_lowercase();
    match lower.find(':') {
        Some(colon) if !lower[..colon].contains(['/', '?', '#']) => {
            matches!(&lower[..colon], "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Escapes text for a double-quoted HTML attribute.
pub fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &'static str, ctx: Value) -> String {
        let t = Templates::from_sources([("t", source)]).unwrap();
        let cx = RenderContext {
            nonce: "abc".into(),
            csrf_token: Some("tok\"en".into()),
        };
        t.render("t", &cx, ctx).unwrap()
    }

    #[test]
    fn script_tags_are_escaped_in_text() {
        let out = render(
            "<p>{{ x }}</p>",
            minijinja::context! { x => "<script>alert(1)</script>" },
        );
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"));
    }

    #[test]
    fn quotes_cannot_break_out_of_attributes() {
        let out = render(
            r#"<a title="{{ x }}">"#,
            minijinja::context! { x => "\" onmouseover=\"alert(1)" },
        );
        assert!(!out.contains("\" onmouseover"), "{out}");
        assert!(out.contains("&quot; onmouseover=&quot;alert(1)"), "{out}");
    }

    #[test]
    fn json_in_a_script_cannot_close_the_script() {
        let out = render(
            r#"<script type="application/json" nonce="{{ csp_nonce }}">{{ x|tojson }}</script>"#,
            minijinja::context! { x => "</script><script>alert(1)</script>" },
        );
        assert_eq!(out.matches("</script>").count(), 1, "{out}");
        assert!(out.contains("\\u003c/script\\u003e"), "{out}");
        assert!(out.contains(r#"nonce="abc""#));
    }

    #[test]
    fn templates_named_txt_or_anything_still_escape() {
        let t = Templates::from_sources([("mail.txt", "{{ x }}"), ("x.js", "{{ x }}")]).unwrap();
        let cx = RenderContext::default();
        for name in ["mail.txt", "x.js"] {
            let out = t
                .render(name, &cx, minijinja::context! { x => "<i>" })
                .unwrap();
            assert_eq!(out, "&lt;i&gt;");
        }
    }

    #[test]
    fn csrf_field_renders_an_escaped_hidden_input() {
        let out = render("{{ csrf_field() }}", minijinja::context! {});
        assert_eq!(
            out,
            r#"<input type="hidden" name="csrf_token" value="tok&quot;en">"#
        );
        let meta = render("{{ csrf_meta() }}", minijinja::context! {});
        assert_eq!(meta, r#"<meta name="csrf-token" content="tok&quot;en">"#);
    }

    #[test]
    fn csrf_field_without_a_session_is_an_error() {
        let t = Templates::from_sources([("t", "{{ csrf_field() }}")]).unwrap();
        let err = t
            .render("t", &RenderContext::default(), minijinja::context! {})
            .unwrap_err();
        assert!(err.to_string().contains("needs a session"), "{err}");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = Templates::from_sources([("t", "{{ nope }}")]).unwrap();
        assert!(
            t.render("t", &RenderContext::default(), minijinja::context! {})
                .is_err()
        );
    }

    #[test]
    fn unsafe_urls_become_inert() {
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>",
            "vbscript:x",
        ] {
            assert!(!is_safe_url(bad), "{bad}");
        }
        for good in [
            "https://example.com/",
            "/files/1",
            "files/1?a=b:c",
            "#top",
            "mailto:a@b.c",
        ] {
            assert!(is_safe_url(good), "{good}");
        }
        let out = render(
            r#"<a href="{{ u|safe_url }}">"#,
            minijinja::context! { u => "javascript:x" },
        );
        assert_eq!(out, r##"<a href="#">"##);
    }
}
