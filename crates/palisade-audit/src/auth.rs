//! Signing in like a browser: fetch the sign-in page, keep its hidden fields (CSRF token,
//! `next`), fill the identity and password fields, post with `Origin` and `Referer`, keep the
//! cookies.

use std::collections::BTreeMap;

use url::Url;

use crate::args::Credentials;
use crate::client::{Client, Exchange, Request};
use crate::cookie::Jar;
use crate::error::{AuditError, Result};
use crate::html::{self, Form};

/// Names of the field that takes the email address or user name, in order of preference.
const IDENTITY_NAMES: [&str; 8] = [
    "email",
    "username",
    "user",
    "login",
    "user_name",
    "email_address",
    "name",
    "identity",
];

/// The outcome of one sign-in.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    /// Cookies after loading the sign-in page, before posting it.
    pub(crate) before: BTreeMap<String, String>,
    /// Cookies after signing in.
    pub(crate) after: BTreeMap<String, String>,
    /// Every exchange of the sign-in, in order.
    pub(crate) exchanges: Vec<Exchange>,
    /// The page the application showed after signing in.
    pub(crate) landing: Url,
    /// Index in `exchanges` of the POST of the form.
    pub(crate) post_index: usize,
}

/// Signs in with `credentials`, storing the session in `jar`. With `next`, the form's (or the
/// page's) `next` parameter is set to that value first: used by the open-redirect probe.
pub(crate) async fn sign_in(
    client: &Client,
    credentials: &Credentials,
    jar: &Jar,
    next: Option<&str>,
) -> Result<SignIn> {
    let mut login_url = credentials.login_url.clone();
    if let Some(next) = next {
        login_url.query_pairs_mut().append_pair("next", next);
    }
    let mut exchanges = client.follow(Request::get(login_url), Some(jar)).await?;
    let page = exchanges
        .last()
        .expect("follow returns at least one exchange")
        .clone();
    let doc = html::parse(&page.url, &page.body);
    let Some(form) = doc.forms.iter().find(|f| f.has_password()) else {
        return Err(AuditError::Login(format!(
            "no form with a password field at {} (status {})",
            page.url, page.status
        )));
    };
    let before = jar.snapshot();

    let pairs = fill(form, credentials, next)?;
    let request = Request::post_form(form.action.clone(), &page.url, pairs);
    let post_index = exchanges.len();
    let chain = client.follow(request, Some(jar)).await?;
    exchanges.extend(chain);
    let last = exchanges.last().expect("non-empty");

    let shown_again = last.is_html()
        && html::parse(&last.url, &last.body)
            .forms
            .iter()
            .any(Form::has_password)
        && last.url.path() == form.action.path();
    if last.status >= 400 || shown_again {
        return Err(AuditError::Login(format!(
            "the application answered {} at {} and showed the sign-in form again; check --login, \
             --user and the password",
            last.status,
            last.url.path()
        )));
    }
    Ok(SignIn {
        before,
        after: jar.snapshot(),
        landing: last.url.clone(),
        exchanges,
        post_index,
    })
}

/// The pairs to post: hidden fields as given, identity and password filled in.
fn fill(
    form: &Form,
    credentials: &Credentials,
    next: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let identity = IDENTITY_NAMES
        .iter()
        .find_map(|n| form.fields.iter().find(|f| f.name.eq_ignore_ascii_case(n)))
        .or_else(|| form.fields.iter().find(|f| f.kind == "email"))
        .or_else(|| form.fields.iter().find(|f| f.kind == "text"))
        .map(|f| f.name.clone())
        .ok_or_else(|| {
            AuditError::Login("the sign-in form has no user name or email field".to_owned())
        })?;
    let mut pairs = Vec::new();
    for field in &form.fields {
        let value = if field.name == identity {
            credentials.user.clone()
        } else if field.kind == "password" {
            credentials.password.clone()
        } else if field.name.eq_ignore_ascii_case("next") && next.is_some() {
            next.unwrap_or_default().to_owned()
        } else if matches!(
            field.kind.as_str(),
            "hidden" | "checkbox" | "submit" | "button"
        ) {
            field.value.clone()
        } else {
            continue;
        };
        pairs.push((field.name.clone(), value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_filled_like_a_browser_would() {
        let page = Url::parse("http://a.test/login").unwrap();
        let doc = html::parse(
            &page,
            r#"<form method=post><input type=hidden name=csrf_token value=t>
               <input type=hidden name=next value=/home><input name=username>
               <input type=password name=password><input name=remember type=checkbox checked value=y></form>"#,
        );
        let creds = Credentials {
            login_url: page.clone(),
            user: "alice".into(),
            password: "pw".into(),
        };
        let pairs = fill(&doc.forms[0], &creds, None).unwrap();
        let expected = [
            ("csrf_token", "t"),
            ("next", "/home"),
            ("username", "alice"),
            ("password", "pw"),
            ("remember", "y"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        assert_eq!(pairs, expected);
        let pairs = fill(&doc.forms[0], &creds, Some("//evil.example/")).unwrap();
        assert_eq!(pairs[1].1, "//evil.example/");
    }
}
