//! SARIF 2.1.0 rendering: one run, every rule of the catalogue as a reporting descriptor, one
//! result per finding with the URL as its artifact location.

use serde_json::{Value, json};

use super::Report;
use crate::finding::Severity;
use crate::rules::catalog;

/// The `$schema` URI written into the log.
pub(crate) const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF `level` of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The `security-severity` score code-scanning dashboards sort by (CVSS-like, 0–10).
fn score(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Renders the report as a SARIF 2.1.0 log.
pub(crate) fn render(report: &Report) -> String {
    let rules: Vec<Value> = catalog::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id.replace('-', ""),
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": format!("{} ({}).", r.title, r.practice.title()) },
                "help": {
                    "text": format!("Flask: {}\nPalisade: {}", r.fix_flask, r.fix_palisade),
                    "markdown": format!("**Flask:** {}\n\n**Palisade:** {}", r.fix_flask, r.fix_palisade),
                },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": {
                    "tags": ["security", r.practice.id()],
                    "security-severity": score(r.severity),
                    "precision": "high",
                },
            })
        })
        .collect();

    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = catalog::ALL
                .iter()
                .position(|r| r.id == f.rule)
                .unwrap_or(0);
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{}: {}", f.title, f.detail) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": f.url } },
                }],
                "partialFingerprints": { "palisadeKey/v1": format!("{}|{}", f.rule, f.url) },
                "properties": {
                    "severity": f.severity,
                    "practice": f.practice,
                    "occurrences": f.occurrences,
                    "evidence": { "request": f.evidence.request, "response": f.evidence.response },
                },
            })
        })
        .collect();

    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": report.tool.name,
                    "version": report.tool.version,
                    "semanticVersion": report.tool.version,
                    "informationUri": "https://example.invalid/palisade",
                    "rules": rules,
                },
            },
            "invocations": [{
                "executionSuccessful": true,
                "startTimeUtc": report.started_at,
            }],
            "properties": { "target": report.target, "notes": report.notes },
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}
