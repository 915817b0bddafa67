//! Plain-text rendering for terminals: a pass/fail line per practice, then the findings
//! grouped by practice with evidence and fixes.

use std::fmt::Write;

use super::{Report, summary_line};
use crate::finding::Practice;

/// Renders the report as text.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let mode = match (report.active, report.signed_in) {
        (true, true) => "active, signed in",
        (true, false) => "active, anonymous",
        (false, true) => "passive, signed in",
        (false, false) => "passive, anonymous",
    };
    let _ = writeln!(out, "palisade audit of {} ({mode})", report.target);
    let _ = writeln!(
        out,
        "{} pages, {} requests, {:.1} s\n",
        report.pages_crawled,
        report.requests_sent,
        report.duration_ms as f64 / 1000.0
    );

    let _ = writeln!(out, "Practices (fail on {} and above):", report.fail_on);
    for p in &report.practices {
        let worst = p
            .highest
            .map(|s| format!(", worst {s}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<4}  {:<30} {:>2} finding(s){worst}  [{}]",
            p.status.to_uppercase(),
            p.title,
            p.findings,
            p.coverage
        );
    }

    for practice in Practice::ALL {
        let findings: Vec<_> = report.findings_of(practice).collect();
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {} ==", practice.title());
        for f in findings {
            let _ = writeln!(
                out,
                "\n[{}] {} {}",
                f.severity.as_str().to_uppercase(),
                f.rule,
                f.title
            );
            let _ = writeln!(out, "  URL:      {}", f.url);
            let _ = writeln!(out, "  Detail:   {}", f.detail);
            if f.occurrences > 1 {
                let _ = writeln!(out, "  Seen:     {} times", f.occurrences);
            }
            if !f.evidence.request.is_empty() {
                let _ = writeln!(out, "  Request:\n{}", indent(&f.evidence.request));
            }
            if !f.evidence.response.is_empty() {
                let _ = writeln!(out, "  Response:\n{}", indent(&f.evidence.response));
            }
            let _ = writeln!(out, "  Fix (Flask):    {}", f.fix_flask);
            let _ = writeln!(out, "  Fix (Palisade): {}", f.fix_palisade);
        }
    }

    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &report.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    let verdict = if report.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(out, "\n{verdict}: {}", summary_line(report));
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn text_has_a_line_per_practice_and_a_verdict() {
        let text = render(&sample());
        assert!(text.contains("FAIL  XSS (escaping, CSP)"));
        assert!(text.contains("PASS  CSRF"));
        assert!(text.contains("PAL-XSS-001"));
        assert!(
            text.trim_end()
                .ends_with("FAIL: 0 critical, 1 high, 0 medium, 0 low, 1 info")
        );
    }
}
