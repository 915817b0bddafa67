//! Uploads: does a file form accept HTML or SVG (also disguised as a PNG), and is the stored
//! file then served inline, where its script would run on the site's origin?

use url::Url;

use super::{Probe, refresh};
use crate::client::{Body, Exchange, Request};
use crate::finding::{Finding, Severity};
use crate::html::{self, Form};
use crate::rules::catalog;

/// Media types a browser renders as active documents.
const ACTIVE_TYPES: [&str; 5] = [
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
];

/// Runs the probe on every upload form.
pub(crate) async fn run(probe: &Probe) -> Vec<Finding> {
    let mut findings = Vec::new();
    for form in probe.forms() {
        if !form.has_file() || form.looks_destructive() || !probe.client.in_scope(&form.action) {
            continue;
        }
        findings.extend(check_form(probe, &form).await);
    }
    findings
}

async fn check_form(probe: &Probe, form: &Form) -> Option<Finding> {
    let mut accepted: Option<Finding> = None;
    for (ext, content_type) in [
        ("html", "text/html"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
    ] {
        let mark = super::marker();
        let name = format!("audit-{mark}.{ext}");
        // Found only in the file's content: listing pages show the name, never this.
        let content_mark = format!("/*{mark}*/");
        let content = if ext == "svg" {
            format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>/*{mark}*/</script><text>{mark}</text></svg>"
            )
        } else {
            format!(
                "<!doctype html><html><body><script>/*{mark}*/</script><p>{mark}</p></body></html>"
            )
        };
        let fresh = refresh(&probe.client, &probe.jar, form)
            .await
            .unwrap_or_else(|| form.clone());
        let Ok(chain) = probe
            .client
            .follow(
                upload_request(&fresh, &name, content_type, content.as_bytes()),
                Some(&probe.jar),
            )
            .await
        else {
            continue;
        };
        let Some(last) = chain.last() else { continue };
        if last.status >= 400 {
            continue;
        }

        let mut candidates: Vec<Url> = chain.iter().filter_map(Exchange::location).collect();
        for ex in chain.iter().filter(|e| e.is_html()) {
            candidates.extend(
                html::parse(&ex.url, &ex.body)
                    .links
                    .into_iter()
                    .filter(|l| l.as_str().contains(&mark)),
            );
        }
        if let Ok(page) = probe.client.get_final(&form.page, Some(&probe.jar)).await {
            candidates.extend(
                html::parse(&page.url, &page.body)
                    .links
                    .into_iter()
                    .filter(|l| l.as_str().contains(&mark)),
            );
        }

        for url in candidates.into_iter().filter(|u| probe.client.in_scope(u)) {
            let Ok(served) = probe.client.get_final(&url, Some(&probe.jar)).await else {
                continue;
            };
            if served.status != 200 || !served.body.contains(&content_mark) {
                continue;
            }
            let headers = [
                "content-type",
                "content-disposition",
                "x-content-type-options",
                "content-security-policy",
            ];
            if served_inline(&served) {
                let detail = format!(
                    "{name} ({content_type}) uploaded through {} is served inline as {} at {}",
                    form.action.path(),
                    served.media_type(),
                    served.url.path()
                );
                return Some(Finding::new(
                    &catalog::UPLOAD_SERVED_INLINE,
                    form.page.as_str(),
                    form.action.path(),
                    detail,
                    served.evidence(&headers, Some(&content_mark)),
                ));
            }
            let detail = format!(
                "{name} with HTML/SVG content was stored as {} (served safely)",
                served.url.path()
            );
            let f = Finding::new(
                &catalog::UPLOAD_ACTIVE_ACCEPTED,
                form.page.as_str(),
                form.action.path(),
                detail,
                served.evidence(&headers, None),
            );
            accepted.get_or_insert(f.with_severity(Severity::Low));
        }
    }
    accepted
}

/// Whether a browser would run the response as a document of the site.
fn served_inline(ex: &Exchange) -> bool {
    let attachment = ex
        .header("content-disposition")
        .is_some_and(|d| d.trim().to_ascii_lowercase().starts_with("attachment"));
    let sandboxed = ex.header_all("content-security-policy").iter().any(|p| {
        p.to_ascii_lowercase()
            .split(';')
            .any(|d| d.trim().starts_with("sandbox"))
    });
    let media = ex.media_type();
    let sniffable = media.is_empty() && ex.header("x-content-type-options").is_none();
    !attachment && !sandboxed && (ACTIVE_TYPES.contains(&media.as_str()) || sniffable)
}

/// A multipart submission of `form` with one file.
fn upload_request(form: &Form, filename: &str, content_type: &str, content: &[u8]) -> Request {
    let boundary = format!("----palisade-audit-{}", super::marker());
    let mut body = Vec::new();
    for (name, value) in form.pairs() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                quote(&name)
            )
            .as_bytes(),
        );
    }
    let file_field = form
        .fields
        .iter()
        .find(|f| f.kind == "file")
        .map_or("file", |f| f.name.as_str());
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
            quote(file_field),
            quote(filename)
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let mut request = Request::post_form(form.action.clone(), &form.page, Vec::new());
    request.body = Some(Body::Raw {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        bytes: body,
    });
    request
}

fn quote(s: &str) -> String {
    s.replace(['"', '\r', '\n'], "_")
}
