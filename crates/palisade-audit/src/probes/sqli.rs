//! SQL injection: database error messages provoked by a quote, and boolean differentials
//! (`' AND '1'='1` against `' AND '1'='2`, checked twice with different literals).

use futures_util::stream::{self, StreamExt};

use super::{CONCURRENCY, Point, Probe};
use crate::client::Exchange;
use crate::finding::Finding;
use crate::mask;
use crate::rules::catalog;
use crate::rules::content::sql_error;

/// Runs the probe on every injection point.
pub(crate) async fn run(probe: &Probe) -> Vec<Finding> {
    let points = probe.points();
    stream::iter(points)
        .map(|point| async move { check_point(probe, &point).await })
        .buffer_unordered(CONCURRENCY)
        .flat_map(stream::iter)
        .collect()
        .await
}

async fn check_point(probe: &Probe, point: &Point) -> Vec<Finding> {
    let mut findings = Vec::new();
    let original = point.original();
    let send = |value: String| async move {
        point
            .submit(&probe.client, &probe.jar, &value)
            .await
            .ok()
            .and_then(|mut c| c.pop())
    };

    let Some(base) = send(original.clone()).await else {
        return findings;
    };
    let base_error = sql_error(&base.body).is_some();

    for suffix in ["'", "\""] {
        let Some(ex) = send(format!("{original}{suffix}")).await else {
            continue;
        };
        if let (false, Some((signature, db))) = (base_error, sql_error(&ex.body)) {
            let detail = format!(
                "{}: a {suffix} makes {db} fail (\"{signature}\")",
                point.describe()
            );
            let evidence = ex.evidence(&["content-type"], Some(signature));
            findings.push(Finding::new(
                &catalog::SQL_ERROR,
                point.url().as_str(),
                point.key(),
                detail,
                evidence,
            ));
            break;
        }
    }

    let Some(base2) = send(original.clone()).await else {
        return findings;
    };
    if normalise(&base, &original) != normalise(&base2, &original) {
        return findings; // the page changes by itself: differentials mean nothing
    }
    let numeric = !original.is_empty() && original.bytes().all(|b| b.is_ascii_digit());
    let pairs: Vec<(String, String)> = if numeric {
        vec![
            (format!("{original} AND 1=1"), format!("{original} AND 1=2")),
            (format!("{original} AND 7=7"), format!("{original} AND 7=8")),
        ]
    } else {
        vec![
            (
                format!("{original}' AND '1'='1"),
                format!("{original}' AND '1'='2"),
            ),
            (
                format!("{original}' AND 'a'='a"),
                format!("{original}' AND 'a'='b"),
            ),
        ]
    };
    let mut observed = Vec::new();
    for (truthy, falsy) in &pairs {
        let (Some(t), Some(f)) = (send(truthy.clone()).await, send(falsy.clone()).await) else {
            return findings;
        };
        observed.push((normalise(&t, truthy), normalise(&f, falsy), f));
    }
    let differs = observed.iter().all(|(t, f, _)| t != f);
    let consistent = observed
        .windows(2)
        .all(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1);
    let true_is_base = observed[0].0.status == base.status;
    if differs && consistent && true_is_base {
        let (t, f, falsy_ex) = &observed[0];
        let detail = format!(
            "{}: \"{}\" and \"{}\" give different pages (status {} / {}, {} / {} bytes)",
            point.describe(),
            pairs[0].0,
            pairs[0].1,
            t.status,
            f.status,
            t.text.len(),
            f.text.len()
        );
        let evidence = falsy_ex.evidence(&["content-type"], Some(""));
        findings.push(Finding::new(
            &catalog::SQL_BOOLEAN,
            point.url().as_str(),
            point.key(),
            detail,
            evidence,
        ));
    }
    findings
}

/// A response reduced to what a differential should compare: status and body with the
/// payload's reflections and token-like values removed.
#[derive(Debug, PartialEq, Eq)]
struct Normalised {
    status: u16,
    text: String,
}

fn normalise(ex: &Exchange, payload: &str) -> Normalised {
    let unescaped = ex
        .body
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"");
    let encoded: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
    let mut text = unescaped;
    for variant in [
        payload.to_owned(),
        encoded.clone(),
        encoded.replace('+', "%20"),
    ] {
        if !variant.is_empty() {
            text = text.replace(&variant, "");
        }
    }
    Normalised {
        status: ex.status,
        text: mask::text(&text),
    }
}
