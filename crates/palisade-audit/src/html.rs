//! HTML reading: links to crawl, forms to submit, subresources to check for mixed content.
//!
//! Parsing happens synchronously into owned values (scraper's tree cannot cross an `await`).

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

/// Names of fields that carry a CSRF token in common frameworks.
const CSRF_NAMES: [&str; 10] = [
    "csrf_token",
    "csrfmiddlewaretoken",
    "_csrf_token",
    "_csrf",
    "csrf",
    "authenticity_token",
    "__requestverificationtoken",
    "_token",
    "xsrf_token",
    "_xsrf",
];

/// Words in a form's action or buttons that mark it as destructive: such forms are never
/// submitted by probes.
const DESTRUCTIVE: [&str; 14] = [
    "delete",
    "remove",
    "logout",
    "log-out",
    "log_out",
    "signout",
    "sign-out",
    "sign_out",
    "disable",
    "destroy",
    "deactivate",
    "revoke",
    "unsubscribe",
    "close-account",
];

/// One form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    /// `type` of an input (lowercase), or `textarea`, `select`, `button`.
    pub(crate) kind: String,
    pub(crate) value: String,
}

/// One form of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    pub(crate) page: Url,
    pub(crate) action: Url,
    /// `GET` or `POST`.
    pub(crate) method: String,
    pub(crate) multipart: bool,
    pub(crate) fields: Vec<Field>,
    /// Text of the submit buttons, lowercased.
    pub(crate) buttons: String,
}

impl Form {
    /// Whether the form is submitted with POST.
    pub(crate) fn is_post(&self) -> bool {
        self.method == "POST"
    }

    /// Whether the form has a password field.
    pub(crate) fn has_password(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "password")
    }

    /// Whether the form uploads files.
    pub(crate) fn has_file(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "file")
    }

    /// The field that carries the CSRF token, if any.
    pub(crate) fn csrf_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| is_csrf_name(&f.name))
    }

    /// Whether submitting the form looks destructive (delete, sign out, disable, …).
    pub(crate) fn looks_destructive(&self) -> bool {
        let action = self.action.path().to_ascii_lowercase();
        DESTRUCTIVE
            .iter()
            .any(|w| action.contains(w) || self.buttons.contains(&w.replace(['-', '_'], " ")))
    }

    /// Fields a user types into (probe targets): text-like inputs, textareas, selects.
    pub(crate) fn user_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| {
            matches!(
                f.kind.as_str(),
                "text"
                    | "search"
                    | "email"
                    | "url"
                    | "tel"
                    | "textarea"
                    | "select"
                    | "number"
                    | "hidden"
            ) && !is_csrf_name(&f.name)
        })
    }

    /// Name/value pairs a browser would submit, with plausible values in empty fields.
    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|f| !matches!(f.kind.as_str(), "file" | "reset" | "image"))
            .map(|f| (f.name.clone(), default_value(f)))
            .collect()
    }

    /// [`Form::pairs`] with `name` set to `value`.
    pub(crate) fn pairs_with(&self, name: &str, value: &str) -> Vec<(String, String)> {
        let mut pairs = self.pairs();
        match pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value.to_owned(),
            None => pairs.push((name.to_owned(), value.to_owned())),
        }
        pairs
    }
}

/// Whether a field name is a CSRF token field.
pub(crate) fn is_csrf_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CSRF_NAMES.contains(&lower.as_str()) || lower.contains("csrf") || lower.contains("xsrf")
}

fn default_value(field: &Field) -> String {
    if !field.value.is_empty() {
        return field.value.clone();
    }
    match field.kind.as_str() {
        "email" => "audit@example.com",
        "password" => "Palisade-Audit-Pw-1",
        "number" | "range" => "1",
        "url" => "https://example.com/",
        "tel" => "5550100",
        "checkbox" | "radio" => "on",
        "date" => "2026-01-01",
        _ => "palisade",
    }
    .to_owned()
}

/// What the audit reads from an HTML page.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    /// Same-document links (`a`, `area`, `iframe`, `frame`), absolute, without fragment.
    pub(crate) links: Vec<Url>,
    pub(crate) forms: Vec<Form>,
    /// Subresources as written: (tag name, raw URL).
    pub(crate) subresources: Vec<(String, String)>,
}

macro_rules! selector {
    ($name:ident, $css:literal) => {
        static $name: LazyLock<Selector> =
            LazyLock::new(|| Selector::parse($css).expect("static selector"));
    };
}

selector!(LINKS, "a[href], area[href], iframe[src], frame[src]");
selector!(FORMS, "form");
selector!(
    FIELDS,
    "input[name], textarea[name], select[name], button[name]"
);
selector!(BUTTONS, "button, input[type=submit]");
selector!(OPTION, "option");
selector!(
    SUBRESOURCES,
    "script[src], link[rel~=stylesheet][href], img[src], iframe[src], audio[src], video[src], \
     source[src], object[data], embed[src]"
);

/// Parses `body`, fetched from `page`.
pub(crate) fn parse(page: &Url, body: &str) -> Document {
    let html = Html::parse_document(body);
    let mut doc = Document::default();

    for el in html.select(&LINKS) {
        let raw = el.value().attr("href").or_else(|| el.value().attr("src"));
        if let Some(mut url) = raw.and_then(|r| page.join(r.trim()).ok())
            && matches!(url.scheme(), "http" | "https")
        {
            url.set_fragment(None);
            doc.links.push(url);
        }
    }

    for form in html.select(&FORMS) {
        doc.forms.push(read_form(page, form));
    }

    for el in html.select(&SUBRESOURCES) {
        let tag = el.value().name().to_owned();
        let raw = match tag.as_str() {
            "link" => el.value().attr("href"),
            "object" => el.value().attr("data"),
            _ => el.value().attr("src"),
        };
        if let Some(raw) = raw {
            doc.subresources.push((tag, raw.trim().to_owned()));
        }
    }
    doc
}

fn read_form(page: &Url, form: ElementRef<'_>) -> Form {
    let attr = |name: &str| form.value().attr(name).map(str::trim).unwrap_or_default();
    let action = match attr("action") {
        "" => page.clone(),
        raw => page.join(raw).unwrap_or_else(|_| page.clone()),
    };
    // A missing or unknown method submits with GET, as in browsers.
    let method = if attr("method").eq_ignore_ascii_case("post") {
        "POST"
    } else {
        "GET"
    };
    let multipart = attr("enctype").eq_ignore_ascii_case("multipart/form-data");

    let mut fields = Vec::new();
    for el in form.select(&FIELDS) {
        let v = el.value();
        let name = v.attr("name").unwrap_or_default().to_owned();
        let (kind, value) = match v.name() {
            "textarea" => ("textarea".to_owned(), el.text().collect::<String>()),
            "select" => {
                let first = el.select(&OPTION).next();
                let value = first
                    .map(|o| {
                        o.value()
                            .attr("value")
                            .map(str::to_owned)
                            .unwrap_or_else(|| o.text().collect())
                    })
                    .unwrap_or_default();
                ("select".to_owned(), value)
            }
            "button" => (
                "button".to_owned(),
                v.attr("value").unwrap_or_default().to_owned(),
            ),
            _ => {
                let kind = v.attr("type").unwrap_or("text").to_ascii_lowercase();
                let unchecked =
                    matches!(kind.as_str(), "checkbox" | "radio") && v.attr("checked").is_none();
                if unchecked || kind == "submit" && v.attr("name").is_none() {
                    continue;
                }
                (kind, v.attr("value").unwrap_or_default().to_owned())
            }
        };
        if !name.is_empty() && !fields.iter().any(|f: &Field| f.name == name) {
            fields.push(Field { name, kind, value });
        }
    }

    let mut buttons = String::new();
    for el in form.select(&BUTTONS) {
        buttons.push_str(&el.text().collect::<String>());
        buttons.push(' ');
        buttons.push_str(el.value().attr("value").unwrap_or_default());
        buttons.push(' ');
    }

    Form {
        page: page.clone(),
        action,
        method: method.to_owned(),
        multipart,
        fields,
        buttons: buttons.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><body>
        <a href="/about#team">About</a> <a href="mailto:x@y">mail</a>
        <form method="post" action="/login">
          <input type="hidden" name="csrf_token" value="tok">
          <input type="hidden" name="next" value="/home">
          <input type="email" name="email"> <input type="password" name="password">
          <input type="checkbox" name="remember"> <button>Sign in</button>
        </form>
        <form action="/account/delete" method="POST"><button>Delete account</button></form>
        <form><input name="q"><select name="sort"><option value="name">Name</option></select></form>
        <script src="http://cdn.example/x.js"></script>
        </body></html>"#;

    fn doc() -> Document {
        parse(&Url::parse("https://app.test/start").unwrap(), PAGE)
    }

    #[test]
    fn links_are_absolute_and_without_fragment() {
        let doc = doc();
        let links: Vec<_> = doc.links.iter().map(Url::as_str).collect();
        assert_eq!(links, ["https://app.test/about"]);
    }

    #[test]
    fn login_form_fields_are_read_like_a_browser() {
        let doc = doc();
        let login = &doc.forms[0];
        assert!(login.is_post() && login.has_password());
        assert_eq!(login.action.as_str(), "https://app.test/login");
        assert_eq!(login.csrf_field().map(|f| f.value.as_str()), Some("tok"));
        let names: Vec<_> = login.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["csrf_token", "next", "email", "password"]);
    }

    #[test]
    fn destructive_forms_and_get_forms_are_recognised() {
        let doc = doc();
        assert!(doc.forms[1].looks_destructive());
        assert!(!doc.forms[0].looks_destructive());
        let search = &doc.forms[2];
        assert_eq!(search.method, "GET");
        assert_eq!(search.action.as_str(), "https://app.test/start");
        assert_eq!(
            search.pairs(),
            [
                ("q".into(), "palisade".into()),
                ("sort".into(), "name".into())
            ]
        );
    }

    #[test]
    fn subresources_are_listed_as_written() {
        assert_eq!(
            doc().subresources,
            [("script".to_owned(), "http://cdn.example/x.js".to_owned())]
        );
    }
}
