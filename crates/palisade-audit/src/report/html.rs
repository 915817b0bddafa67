//! Self-contained HTML rendering: inline CSS, no script, every value escaped.

use std::fmt::Write;

use super::{Report, summary_line};
use crate::finding::Practice;

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;\
padding:0 1rem;color:#1d1d1f}h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}\
.pass{color:#0a7b24;font-weight:600}.fail{color:#b3261e;font-weight:600}\
.finding{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}\
.sev{display:inline-block;border-radius:4px;padding:0 .4rem;color:#fff;font-size:.8rem;\
text-transform:uppercase}.critical{background:#6d0f0a}.high{background:#b3261e}\
.medium{background:#b36b00}.low{background:#546e7a}.info{background:#8a9ba8}\
pre{background:#f5f5f7;padding:.5rem;overflow-x:auto;white-space:pre-wrap;font-size:.85rem}\
code{font-size:.85rem}";

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders the report as one HTML page.
pub(crate) fn render(report: &Report) -> String {
    let e = escape;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>palisade audit of {}</title><style>{STYLE}</style></head><body>",
        e(&report.target)
    );
    let verdict = if report.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        out,
        "<h1>palisade audit of <code>{}</code></h1><p><span class=\"{}\">{}</span>: {}. \
         {} pages, {} requests, {:.1} s; {} checks, {}; fails on {} and above.</p>",
        e(&report.target),
        verdict.0,
        verdict.1,
        e(&summary_line(report)),
        report.pages_crawled,
        report.requests_sent,
        report.duration_ms as f64 / 1000.0,
        if report.active { "active" } else { "passive" },
        if report.signed_in {
            "signed in"
        } else {
            "anonymous"
        },
        report.fail_on
    );

    out.push_str("<table><tr><th>Practice</th><th>Status</th><th>Findings</th><th>Worst</th><th>Checks</th></tr>");
    for p in &report.practices {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(p.title),
            p.status,
            p.status.to_uppercase(),
            p.findings,
            p.highest.map(|s| s.as_str()).unwrap_or("–"),
            p.coverage
        );
    }
    out.push_str("</table>");

    for practice in Practice::ALL {
        let findings: Vec<_> = report.findings_of(practice).collect();
        if findings.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h2 id=\"{}\">{}</h2>",
            practice.id(),
            e(practice.title())
        );
        for f in findings {
            let _ = write!(
                out,
                "<div class=\"finding\"><p><span class=\"sev {sev}\">{sev}</span> <b>{}</b> {}</p>\
                 <p>URL: <code>{}</code>{}</p><p>{}</p>\
                 <details><summary>Evidence</summary><pre>{}</pre><pre>{}</pre></details>\
                 <p><b>Fix (Flask):</b> {}<br><b>Fix (Palisade):</b> {}</p></div>",
                e(f.rule),
                e(f.title),
                e(&f.url),
                if f.occurrences > 1 {
                    format!(" (seen {} times)", f.occurrences)
                } else {
                    String::new()
                },
                e(&f.detail),
                e(&f.evidence.request),
                e(&f.evidence.response),
                e(f.fix_flask),
                e(f.fix_palisade),
                sev = f.severity.as_str(),
            );
        }
    }
    if !report.notes.is_empty() {
        out.push_str("<h2>Notes</h2><ul>");
        for note in &report.notes {
            let _ = write!(out, "<li>{}</li>", e(note));
        }
        out.push_str("</ul>");
    }
    let _ = writeln!(
        out,
        "<p><small>{} {} — report started {}</small></p></body></html>",
        report.tool.name,
        report.tool.version,
        e(&report.started_at)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn every_value_is_escaped() {
        let page = render(&sample());
        assert!(!page.contains("<script>"), "unescaped script tag in report");
        assert!(
            page.contains(
                "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;"
            )
        );
        assert!(!page.contains("<script"));
        assert!(!page.contains(" src="), "the report loads nothing");
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render(&sample());
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<style>"));
        assert!(!page.contains("<link"));
    }
}
