//! HTTP → HTTPS: does the plain-HTTP listener redirect to HTTPS, and does the redirect trust the
//! `Host` header (a hostile `Host` must not appear in `Location`)?

use url::Url;

use crate::client::{Client, Request};
use crate::error::AuditError;
use crate::finding::{Evidence, Finding};
use crate::rules::catalog;

/// A hostile host name, sent only as a header value.
const HOSTILE_HOST: &str = "evil.example";

/// Runs the probe against `http_url` (an `http://` URL on the target host).
pub(crate) async fn run(client: &Client, http_url: &Url) -> Vec<Finding> {
    let mut findings = Vec::new();
    let first = match client.send(Request::get(http_url.clone()), None).await {
        Ok(ex) => ex,
        Err(AuditError::Connection { message, .. }) => {
            let detail = format!("nothing answered at {http_url} ({message})");
            let evidence = Evidence {
                request: format!("GET {http_url}"),
                response: message,
            };
            findings.push(Finding::new(
                &catalog::NO_HTTP_LISTENER,
                http_url.as_str(),
                "",
                detail,
                evidence,
            ));
            return findings;
        }
        Err(_) => return findings,
    };
    let to_https = first.is_redirect() && first.location().is_some_and(|l| l.scheme() == "https");
    if !to_https {
        let detail = format!(
            "{http_url} answered {} without redirecting to https://",
            first.status
        );
        findings.push(Finding::new(
            &catalog::NO_HTTPS_REDIRECT,
            http_url.as_str(),
            "",
            detail,
            first.evidence(&["location"], None),
        ));
        return findings;
    }

    let hostile = Request::get(http_url.clone()).header("Host", HOSTILE_HOST);
    if let Ok(ex) = client.send(hostile, None).await {
        let host = ex
            .location()
            .and_then(|l| l.host_str().map(str::to_ascii_lowercase));
        if ex.is_redirect() && host.as_deref() == Some(HOSTILE_HOST) {
            let detail = format!(
                "with Host: {HOSTILE_HOST}, the redirect goes to {}",
                ex.header("location").unwrap_or_default()
            );
            let mut evidence = ex.evidence(&["location"], None);
            evidence.request = evidence
                .request
                .replacen("\nHost:", "\n(connection host):", 1);
            findings.push(Finding::new(
                &catalog::HOST_REDIRECT,
                http_url.as_str(),
                "",
                detail,
                evidence,
            ));
        }
    }
    findings
}
