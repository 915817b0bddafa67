//! Open redirect through next-like parameters, including the sign-in form's `next`.
//!
//! Only the `Location` header is read: the client follows redirects on the audited origin only,
//! so a redirect to the foreign host ends the chain without any request to it.

use super::{Point, Probe};
use crate::auth;
use crate::client::Exchange;
use crate::cookie::Jar;
use crate::finding::Finding;
use crate::rules::catalog;

/// Parameter names that usually carry a redirect target.
const NEXT_NAMES: [&str; 14] = [
    "next",
    "url",
    "redirect",
    "redirect_to",
    "redirect_uri",
    "redirecturl",
    "return",
    "return_to",
    "returnto",
    "returnurl",
    "continue",
    "dest",
    "destination",
    "goto",
];

/// The foreign host of the payloads; never contacted.
const EVIL_HOST: &str = "evil.example";

/// Targets that browsers resolve to another host.
const PAYLOADS: [&str; 5] = [
    "//evil.example/",
    "/\\evil.example/",
    "https://evil.example/",
    "\\/\\/evil.example/",
    "/%2F%2Fevil.example/",
];

/// Runs the probe.
pub(crate) async fn run(probe: &Probe) -> Vec<Finding> {
    let mut findings = Vec::new();
    let points = probe.points().into_iter().filter(is_next_like);
    for point in points {
        for payload in PAYLOADS {
            let Ok(chain) = point.submit(&probe.client, &probe.jar, payload).await else {
                break;
            };
            if let Some(ex) = leaves(&chain) {
                let detail = format!(
                    "{} = {payload} redirects to {}",
                    point.describe(),
                    ex.header("location").unwrap_or_default()
                );
                findings.push(Finding::new(
                    &catalog::OPEN_REDIRECT,
                    point.url().as_str(),
                    point.key(),
                    detail,
                    ex.evidence(&["location"], None),
                ));
                break;
            }
        }
    }

    let Some(credentials) = &probe.credentials else {
        return findings;
    };
    for payload in PAYLOADS {
        let jar = Jar::default();
        let Ok(sign_in) = auth::sign_in(&probe.client, credentials, &jar, Some(payload)).await
        else {
            break;
        };
        if let Some(ex) = leaves(&sign_in.exchanges) {
            let detail = format!(
                "signing in with next={payload} redirects to {}",
                ex.header("location").unwrap_or_default()
            );
            let key = format!("sign-in {}", credentials.login_url.path());
            findings.push(Finding::new(
                &catalog::OPEN_REDIRECT,
                credentials.login_url.as_str(),
                key,
                detail,
                ex.evidence(&["location"], None),
            ));
            break;
        }
    }
    findings
}

fn is_next_like(point: &Point) -> bool {
    let name = match point {
        Point::Query { param, .. } => param,
        Point::Form { field, .. } => field,
    };
    NEXT_NAMES.contains(&name.to_ascii_lowercase().as_str())
}

/// The first redirect of `chain` whose target, as a browser resolves it, is the foreign host.
fn leaves(chain: &[Exchange]) -> Option<&Exchange> {
    chain.iter().find(|ex| {
        ex.is_redirect()
            && ex
                .location()
                .and_then(|l| l.host_str().map(str::to_ascii_lowercase))
                .as_deref()
                == Some(EVIL_HOST)
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, LOCATION};
    use url::Url;

    use super::*;

    fn redirect_to(location: &'static str) -> Exchange {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static(location));
        Exchange {
            method: "GET".into(),
            url: Url::parse("http://a.test/login?next=x").unwrap(),
            request_headers: Vec::new(),
            request_body: None,
            status: 302,
            headers,
            body: String::new(),
        }
    }

    #[test]
    fn locations_are_resolved_like_a_browser() {
        for location in [
            "//evil.example/",
            "/\\evil.example/",
            "https://EVIL.example/x",
            "\\/\\/evil.example/",
        ] {
            assert!(leaves(&[redirect_to(location)]).is_some(), "{location}");
        }
        for location in [
            "/home",
            "/%2F%2Fevil.example/",
            "http://a.test//evil.example",
        ] {
            assert!(leaves(&[redirect_to(location)]).is_none(), "{location}");
        }
    }
}
