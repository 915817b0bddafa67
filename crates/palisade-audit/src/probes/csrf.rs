//! CSRF enforcement: each unsafe form is submitted once normally, then replayed without its
//! token from a foreign origin, with `Origin: null`, and with its token from a foreign origin.
//!
//! Choice: forms that look destructive (delete, sign out, disable, revoke, …) are never
//! replayed, because a successful replay would do what it says; they are listed in the report
//! notes as not tested. Every other form is submitted up to four times, so a form that creates
//! something (a comment, a post) will create it several times: run `--active` against a test
//! instance.

use super::{Probe, form_request, refresh};
use crate::client::{Exchange, Request};
use crate::finding::Finding;
use crate::html::{Form, is_csrf_name};
use crate::rules::catalog::{self, Rule};

/// A foreign origin used in replays; it is only ever sent as a header value.
const FOREIGN: &str = "https://evil.example";

/// Runs the probe; returns findings and the forms it skipped as destructive.
pub(crate) async fn run(probe: &Probe) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut skipped = Vec::new();
    for form in probe.forms() {
        if !form.is_post() || form.has_file() || !probe.client.in_scope(&form.action) {
            continue;
        }
        if form.looks_destructive() {
            skipped.push(format!("POST {}", form.action.path()));
            continue;
        }
        findings.extend(check_form(probe, &form).await);
    }
    (findings, skipped)
}

async fn check_form(probe: &Probe, form: &Form) -> Vec<Finding> {
    let mut findings = Vec::new();
    let client = &probe.client;
    // Sign-in and sign-up forms are replayed without the session so they cannot end it.
    let jar = if form.has_password() {
        crate::cookie::Jar::default()
    } else {
        probe.jar.clone()
    };

    let Some(fresh) = refresh(client, &jar, form).await else {
        return findings;
    };
    let Ok(baseline) = client
        .send(form_request(&fresh, fresh.pairs()), Some(&jar))
        .await
    else {
        return findings;
    };
    if rejected(&baseline) {
        return findings; // even a normal submission fails: nothing to compare with
    }

    let without_token: Vec<(String, String)> = fresh
        .pairs()
        .into_iter()
        .filter(|(name, _)| !is_csrf_name(name))
        .collect();
    let has_token = fresh.csrf_field().is_some();
    let cross_site = |request: Request, origin: &str| {
        request
            .header("Origin", origin)
            .header("Sec-Fetch-Site", "cross-site")
            .header("Referer", format!("{FOREIGN}/"))
    };

    let replay = cross_site(form_request(&fresh, without_token.clone()), FOREIGN);
    if let Some(f) = judge(
        probe,
        &jar,
        &baseline,
        replay,
        &catalog::CSRF_NOT_ENFORCED,
        form,
        "without its token, from Origin https://evil.example",
    )
    .await
    {
        findings.push(f);
        return findings;
    }

    let Some(fresh) = refresh(client, &jar, form).await else {
        return findings;
    };
    let without_token: Vec<(String, String)> = fresh
        .pairs()
        .into_iter()
        .filter(|(name, _)| !is_csrf_name(name))
        .collect();
    let replay = cross_site(form_request(&fresh, without_token), "null").without_header("Referer");
    if let Some(f) = judge(
        probe,
        &jar,
        &baseline,
        replay,
        &catalog::CSRF_NULL_ORIGIN,
        form,
        "without its token, with Origin: null",
    )
    .await
    {
        findings.push(f);
    }

    if has_token {
        let Some(fresh) = refresh(client, &jar, form).await else {
            return findings;
        };
        let replay = cross_site(form_request(&fresh, fresh.pairs()), FOREIGN);
        if let Some(f) = judge(
            probe,
            &jar,
            &baseline,
            replay,
            &catalog::CSRF_NO_ORIGIN_CHECK,
            form,
            "with a valid token but from Origin https://evil.example",
        )
        .await
        {
            findings.push(f);
        }
    }
    findings
}

async fn judge(
    probe: &Probe,
    jar: &crate::cookie::Jar,
    baseline: &Exchange,
    request: Request,
    rule: &'static Rule,
    form: &Form,
    how: &str,
) -> Option<Finding> {
    let ex = probe.client.send(request, Some(jar)).await.ok()?;
    if rejected(&ex) || !same_outcome(baseline, &ex) {
        return None;
    }
    let detail = format!(
        "POST {} was accepted {how} (status {})",
        form.action.path(),
        ex.status
    );
    let key = form.action.path().to_owned();
    Some(Finding::new(
        rule,
        form.page.as_str(),
        key,
        detail,
        ex.evidence(&["location", "content-type"], Some("")),
    ))
}

/// Whether a replay ended like the normal submission: same redirect target, or same status.
fn same_outcome(baseline: &Exchange, replay: &Exchange) -> bool {
    if baseline.is_redirect() {
        let path = |ex: &Exchange| ex.location().map(|l| l.path().to_owned());
        replay.is_redirect() && path(baseline) == path(replay)
    } else {
        replay.status == baseline.status
    }
}

/// Whether a response refuses the submission.
pub(crate) fn rejected(ex: &Exchange) -> bool {
    if ex.status >= 400 {
        return true;
    }
    let body = ex.body.to_ascii_lowercase();
    let mentions_csrf = body.contains("csrf") || body.contains("xsrf");
    let complaint = [
        "missing",
        "invalid",
        "expired",
        "mismatch",
        "does not match",
        "failed",
        "forbidden",
    ]
    .iter()
    .any(|w| body.contains(w));
    mentions_csrf && complaint
}
