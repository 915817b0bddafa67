//! Active probes (`--active`): requests crafted to show a flaw, sent only to the audited origin.
//!
//! Probes never submit forms that look destructive (delete, sign out, disable, …) except the
//! sign-out that the session probe is about, and never follow a redirect off the origin: the
//! open-redirect probe only reads `Location`.

pub(crate) mod csrf;
pub(crate) mod files;
pub(crate) mod https;
pub(crate) mod redirect;
pub(crate) mod session;
pub(crate) mod sqli;
pub(crate) mod tls;
pub(crate) mod upload;
pub(crate) mod xss;

use std::collections::HashSet;

use rand::Rng;
use url::Url;

use crate::args::Credentials;
use crate::client::{Client, Exchange, Request};
use crate::cookie::Jar;
use crate::crawl::Page;
use crate::error::Result;
use crate::html::{self, Form};

/// Points probed concurrently.
pub(crate) const CONCURRENCY: usize = 4;
/// Most injection points probed per audit.
const MAX_POINTS: usize = 40;

/// What every probe needs.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) client: Client,
    /// Cookies of the signed-in user, or the anonymous visitor without credentials.
    pub(crate) jar: Jar,
    /// Every page the crawls fetched.
    pub(crate) pages: Vec<Page>,
    pub(crate) credentials: Option<Credentials>,
    /// Whether `jar` holds a signed-in session.
    pub(crate) signed_in: bool,
}

impl Probe {
    /// Every distinct form of the crawled pages.
    pub(crate) fn forms(&self) -> Vec<Form> {
        let mut seen = HashSet::new();
        let mut forms = Vec::new();
        for page in &self.pages {
            for form in page.document.iter().flat_map(|d| d.forms.iter()) {
                let key = format!("{} {}", form.method, form.action.path());
                if seen.insert(key) {
                    forms.push(form.clone());
                }
            }
        }
        forms
    }

    /// Query parameters and form fields to inject into.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut seen = HashSet::new();
        let mut points = Vec::new();
        for page in &self.pages {
            let Some(doc) = &page.document else { continue };
            let mut urls = doc.links.clone();
            urls.push(page.last().url.clone());
            for url in urls
                .iter()
                .filter(|u| self.client.in_scope(u) && crate::crawl::crawlable(u))
            {
                for (param, _) in url.query_pairs() {
                    if seen.insert(format!("GET {} {param}", url.path())) {
                        points.push(Point::Query {
                            url: url.clone(),
                            param: param.into_owned(),
                        });
                    }
                }
            }
        }
        for form in self.forms() {
            if form.looks_destructive() || form.has_file() || !self.client.in_scope(&form.action) {
                continue;
            }
            for field in form.user_fields() {
                if seen.insert(format!(
                    "{} {} {}",
                    form.method,
                    form.action.path(),
                    field.name
                )) {
                    points.push(Point::Form {
                        form: form.clone(),
                        field: field.name.clone(),
                    });
                }
            }
        }
        points.truncate(MAX_POINTS);
        points
    }
}

/// A place where a probe puts its value.
#[derive(Debug, Clone)]
pub(crate) enum Point {
    /// A query parameter of a URL.
    Query { url: Url, param: String },
    /// A field of a form.
    Form { form: Form, field: String },
}

impl Point {
    /// Human description for findings.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Query { url, param } => format!("query parameter {param} of {}", url.path()),
            Self::Form { form, field } => {
                format!(
                    "field {field} of the {} form to {}",
                    form.method,
                    form.action.path()
                )
            }
        }
    }

    /// Stable key: one finding per point.
    pub(crate) fn key(&self) -> String {
        match self {
            Self::Query { url, param } => format!("GET {} {param}", url.path()),
            Self::Form { form, field } => format!("{} {} {field}", form.method, form.action.path()),
        }
    }

    /// The value the point has when nothing is injected.
    pub(crate) fn original(&self) -> String {
        match self {
            Self::Query { url, param } => url
                .query_pairs()
                .find(|(k, _)| k == param)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
            Self::Form { form, field } => form
                .pairs()
                .into_iter()
                .find(|(k, _)| k == field)
                .map(|(_, v)| v)
                .unwrap_or_default(),
        }
    }

    /// The URL shown for findings.
    pub(crate) fn url(&self) -> &Url {
        match self {
            Self::Query { url, .. } => url,
            Self::Form { form, .. } => &form.page,
        }
    }

    /// Sends `value` at this point and follows same-origin redirects. Forms are fetched again
    /// first so that their hidden fields (CSRF token) are fresh.
    pub(crate) async fn submit(
        &self,
        client: &Client,
        jar: &Jar,
        value: &str,
    ) -> Result<Vec<Exchange>> {
        match self {
            Self::Query { url, param } => {
                let mut url = url.clone();
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == *param {
                            value.to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
                client.follow(Request::get(url), Some(jar)).await
            }
            Self::Form { form, field } => {
                let jar = if form.has_password() {
                    Jar::default()
                } else {
                    jar.clone()
                };
                let form = refresh(client, &jar, form)
                    .await
                    .unwrap_or_else(|| form.clone());
                let pairs = form.pairs_with(field, value);
                client.follow(form_request(&form, pairs), Some(&jar)).await
            }
        }
    }
}

/// The request a browser sends to submit `form` with `pairs`.
pub(crate) fn form_request(form: &Form, pairs: Vec<(String, String)>) -> Request {
    if form.is_post() {
        Request::post_form(form.action.clone(), &form.page, pairs)
    } else {
        let mut url = form.action.clone();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        Request::get(url).header("Referer", form.page.to_string())
    }
}

/// Loads the form's page again and returns the same form with fresh hidden values.
pub(crate) async fn refresh(client: &Client, jar: &Jar, form: &Form) -> Option<Form> {
    let page = client.get_final(&form.page, Some(jar)).await.ok()?;
    let doc = html::parse(&page.url, &page.body);
    doc.forms
        .into_iter()
        .find(|f| f.action == form.action && f.method == form.method)
}

/// A random marker that cannot appear in a page by chance.
pub(crate) fn marker() -> String {
    let n: u64 = rand::rng().random();
    format!("pal{:012x}", n & 0xffff_ffff_ffff)
}

/// Every body of a redirect chain, final one last.
pub(crate) fn bodies(chain: &[Exchange]) -> impl Iterator<Item = &Exchange> {
    chain.iter().rev()
}
