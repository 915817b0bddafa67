//! Sessions: is the session id rotated at sign-in, and does the old cookie still work after
//! sign-out?

use url::Url;

use super::{Probe, form_request, refresh};
use crate::auth::{self, SignIn};
use crate::client::{Exchange, Request};
use crate::cookie::{Jar, SetCookie};
use crate::finding::{Evidence, Finding};
use crate::html::{self, Form};
use crate::mask;
use crate::rules::catalog;

/// Words of sign-out links and forms.
const LOGOUT_WORDS: [&str; 6] = [
    "logout", "log-out", "log_out", "signout", "sign-out", "sign_out",
];

/// Session cookies kept with the same value across sign-in.
pub(crate) fn not_rotated(sign_in: &SignIn) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (name, before) in &sign_in.before {
        let probe = SetCookie {
            name: name.clone(),
            value: before.clone(),
            ..SetCookie::default()
        };
        let lower = name.to_ascii_lowercase();
        if !probe.is_session_like() || lower.contains("csrf") || lower.contains("xsrf") {
            continue;
        }
        if sign_in.after.get(name) == Some(before) {
            let post = &sign_in.exchanges[sign_in.post_index];
            let detail = format!(
                "cookie {name} has the same value before and after signing in: a session id planted \
                 before sign-in (session fixation) becomes signed in"
            );
            let evidence = Evidence {
                request: format!(
                    "Cookie before sign-in: {}",
                    mask::cookie_header(&format!("{name}={before}"))
                ),
                response: post.evidence(&["set-cookie", "location"], None).response,
            };
            findings.push(Finding::new(
                &catalog::SESSION_NOT_ROTATED,
                post.url.as_str(),
                name,
                detail,
                evidence,
            ));
        }
    }
    findings
}

/// How to sign out, as found on the crawled pages.
#[derive(Debug, Clone)]
enum Logout {
    Link(Url),
    Form(Form),
}

fn find_logout(probe: &Probe) -> Option<Logout> {
    let is_logout = |url: &Url| {
        let path = url.path().to_ascii_lowercase();
        LOGOUT_WORDS.iter().any(|w| path.contains(w))
    };
    if let Some(form) = probe.forms().into_iter().find(|f| is_logout(&f.action)) {
        return Some(Logout::Form(form));
    }
    probe
        .pages
        .iter()
        .filter_map(|p| p.document.as_ref())
        .flat_map(|d| d.links.iter())
        .find(|l| is_logout(l) && probe.client.in_scope(l))
        .map(|l| Logout::Link(l.clone()))
}

/// Signs in afresh (or uses the given cookie), signs out, then replays the old cookies on a
/// private page. Returns the finding, or a note saying why the check could not run.
pub(crate) async fn after_logout(
    probe: &Probe,
    private: Option<Url>,
) -> Result<Option<Finding>, String> {
    let Some(logout) = find_logout(probe) else {
        return Err(
            "no sign-out link or form was found; session-after-sign-out not tested".to_owned(),
        );
    };
    let client = &probe.client;

    let (jar, landing) = match &probe.credentials {
        Some(credentials) => {
            let jar = Jar::default();
            let signed = auth::sign_in(client, credentials, &jar, None)
                .await
                .map_err(|e| e.to_string())?;
            (jar, signed.landing)
        }
        None => (probe.jar.fork(), client_target(probe)),
    };
    let page = private.unwrap_or(landing);
    let before = client
        .get_final(&page, Some(&jar))
        .await
        .map_err(|e| e.to_string())?;
    if !signed_in_view(&before, &page) {
        return Err(format!(
            "{} does not look private; session-after-sign-out not tested",
            page.path()
        ));
    }
    let old_cookies = jar.header().unwrap_or_default();

    let logout_exchange = match &logout {
        Logout::Link(url) => client.send(Request::get(url.clone()), Some(&jar)).await,
        Logout::Form(form) => {
            let form = refresh(client, &jar, form)
                .await
                .unwrap_or_else(|| form.clone());
            client
                .send(form_request(&form, form.pairs()), Some(&jar))
                .await
        }
    }
    .map_err(|e| e.to_string())?;

    let replay = Request::get(page.clone()).header("Cookie", old_cookies.clone());
    let after = client.send(replay, None).await.map_err(|e| e.to_string())?;
    if !signed_in_view(&after, &page) {
        return Ok(None);
    }
    let detail = format!(
        "after signing out ({} {} → {}), the old cookies still open {} (status {})",
        logout_exchange.method,
        logout_exchange.url.path(),
        logout_exchange.status,
        page.path(),
        after.status
    );
    let evidence = after.evidence(&["cache-control"], Some(""));
    Ok(Some(Finding::new(
        &catalog::SESSION_AFTER_LOGOUT,
        page.as_str(),
        "",
        detail,
        evidence,
    )))
}

fn client_target(probe: &Probe) -> Url {
    probe
        .pages
        .first()
        .map(|p| p.url.clone())
        .unwrap_or_else(|| Url::parse("http://invalid./").expect("static URL"))
}

/// Whether a response shows the page itself to a signed-in user (not a redirect to sign-in,
/// not a refusal, not a sign-in form).
fn signed_in_view(ex: &Exchange, page: &Url) -> bool {
    if ex.status != 200 || ex.url.path() != page.path() {
        return false;
    }
    !html::parse(&ex.url, &ex.body)
        .forms
        .iter()
        .any(Form::has_password)
}
