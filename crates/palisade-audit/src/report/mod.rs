//! The audit report and its four renderings: [`text`], [`json`], [`sarif`] and [`html`].
//!
//! A [`Report`] is plain data; every format is rendered from it, so the formats cannot disagree.

pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod sarif;
pub(crate) mod text;

use serde::Serialize;

use crate::args::Format;
use crate::finding::{Finding, Practice, Severity};

/// Version of the JSON report layout (`schema/report.schema.json`).
pub const SCHEMA_VERSION: u32 = 1;

/// The result of one audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of the JSON layout.
    pub schema_version: u32,
    /// The tool that wrote the report.
    pub tool: Tool,
    /// The audited URL.
    pub target: String,
    /// When the audit started (RFC 3339, UTC).
    pub started_at: String,
    /// How long the audit took, in milliseconds.
    pub duration_ms: u64,
    /// Whether active probes ran.
    pub active: bool,
    /// Whether the audit was signed in.
    pub signed_in: bool,
    /// Pages fetched by the crawls.
    pub pages_crawled: usize,
    /// Requests sent in total.
    pub requests_sent: usize,
    /// Severity from which a finding fails the audit.
    pub fail_on: Severity,
    /// Whether no finding reaches `fail_on`.
    pub passed: bool,
    /// Findings per severity.
    pub summary: Summary,
    /// One line per practice.
    pub practices: Vec<PracticeResult>,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    /// What could not be checked, budgets reached, forms skipped.
    pub notes: Vec<String>,
}

/// Name and version of the tool.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// Always `palisade-audit`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Self {
            name: "palisade-audit",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Number of findings per severity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Critical findings.
    pub critical: usize,
    /// High findings.
    pub high: usize,
    /// Medium findings.
    pub medium: usize,
    /// Low findings.
    pub low: usize,
    /// Informational findings.
    pub info: usize,
}

impl Summary {
    fn of(findings: &[Finding]) -> Self {
        let mut s = Self::default();
        for f in findings {
            *match f.severity {
                Severity::Critical => &mut s.critical,
                Severity::High => &mut s.high,
                Severity::Medium => &mut s.medium,
                Severity::Low => &mut s.low,
                Severity::Info => &mut s.info,
            } += 1;
        }
        s
    }

    /// Count for one severity.
    pub fn count(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }
}

/// Pass or fail of one practice.
#[derive(Debug, Clone, Serialize)]
pub struct PracticeResult {
    /// Practice id, such as `csrf`.
    pub id: &'static str,
    /// Practice title.
    pub title: &'static str,
    /// `pass` or `fail` (a finding at or above `fail_on`).
    pub status: &'static str,
    /// Number of findings of any severity.
    pub findings: usize,
    /// Highest severity among them.
    pub highest: Option<Severity>,
    /// Which checks ran: `passive` or `passive+active`.
    pub coverage: &'static str,
}

/// Facts about the run, gathered by the engine.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunFacts {
    pub(crate) target: String,
    pub(crate) started_at: String,
    pub(crate) duration_ms: u64,
    pub(crate) active: bool,
    pub(crate) signed_in: bool,
    pub(crate) pages_crawled: usize,
    pub(crate) requests_sent: usize,
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// Assembles a report from sorted findings.
    pub(crate) fn new(facts: RunFacts, findings: Vec<Finding>, fail_on: Severity) -> Self {
        let practices = Practice::ALL
            .iter()
            .map(|&practice| {
                let mine: Vec<&Finding> =
                    findings.iter().filter(|f| f.practice == practice).collect();
                let failing = mine.iter().any(|f| f.severity >= fail_on);
                let has_active = crate::rules::catalog::ALL
                    .iter()
                    .any(|r| r.practice == practice && r.active);
                PracticeResult {
                    id: practice.id(),
                    title: practice.title(),
                    status: if failing { "fail" } else { "pass" },
                    findings: mine.len(),
                    highest: mine.iter().map(|f| f.severity).max(),
                    coverage: if facts.active && has_active {
                        "passive+active"
                    } else {
                        "passive"
                    },
                }
            })
            .collect();
        Self {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            target: facts.target,
            started_at: facts.started_at,
            duration_ms: facts.duration_ms,
            active: facts.active,
            signed_in: facts.signed_in,
            pages_crawled: facts.pages_crawled,
            requests_sent: facts.requests_sent,
            fail_on,
            passed: !findings.iter().any(|f| f.severity >= fail_on),
            summary: Summary::of(&findings),
            practices,
            findings,
            notes: facts.notes,
        }
    }

    /// Exit status: 0 when no finding reaches `fail_on`, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.passed { 0 } else { 1 }
    }

    /// Findings of one practice, most severe first.
    pub fn findings_of(&self, practice: Practice) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.practice == practice)
    }

    /// Renders the report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => text::render(self),
            Format::Json => json::render(self),
            Format::Sarif => sarif::render(self),
            Format::Html => html::render(self),
        }
    }
}

/// One line summing up the findings, e.g. `1 critical, 2 high, 0 medium, 3 low, 1 info`.
pub(crate) fn summary_line(report: &Report) -> String {
    Severity::DESCENDING
        .iter()
        .map(|&s| format!("{} {s}", report.summary.count(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::finding::{Evidence, Findings};
    use crate::rules::catalog;

    /// A small report with hostile strings in every field, for the format tests.
    pub(crate) fn sample() -> Report {
        let mut findings = Findings::default();
        let evil = "<script>alert(\"x\")</script> & 'quotes'";
        findings.push(Finding::new(
            &catalog::XSS_HTML,
            "http://127.0.0.1:1/search?q=<x>",
            "k",
            format!("query parameter q: {evil}"),
            Evidence {
                request: format!("GET /search?q={evil} HTTP/1.1"),
                response: format!("HTTP/1.1 200\n\n…{evil}…"),
            },
        ));
        findings.push(Finding::new(
            &catalog::CORP,
            "http://127.0.0.1:1/",
            "",
            "no CORP",
            Evidence::default(),
        ));
        let facts = RunFacts {
            target: "http://127.0.0.1:1/".into(),
            started_at: "2026-12-04T16:00:00Z".into(),
            duration_ms: 1234,
            active: true,
            signed_in: false,
            pages_crawled: 3,
            requests_sent: 40,
            notes: vec![format!("note with {evil}")],
        };
        Report::new(facts, findings.into_sorted(), Severity::Medium)
    }

    #[test]
    fn practices_fail_only_at_or_above_fail_on() {
        let report = sample();
        let xss = report.practices.iter().find(|p| p.id == "xss").unwrap();
        assert_eq!((xss.status, xss.findings), ("fail", 1));
        let headers = report.practices.iter().find(|p| p.id == "headers").unwrap();
        assert_eq!(
            (headers.status, headers.highest),
            ("pass", Some(Severity::Info))
        );
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            summary_line(&report),
            "0 critical, 1 high, 0 medium, 0 low, 1 info"
        );
    }
}
