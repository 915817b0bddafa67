//! Findings: what an audit reports, with its severity, practice and evidence.

use std::fmt;

use serde::Serialize;

use crate::rules::catalog::Rule;

/// How bad a finding is. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, not a weakness by itself.
    Info,
    /// Defence in depth is missing.
    Low,
    /// A weakness an attacker can use with some effort or luck.
    Medium,
    /// A weakness that leads to account or data compromise.
    High,
    /// A weakness that hands over the application (code execution, forged sessions).
    Critical,
}

impl Severity {
    /// The lowercase name used in every report format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// All severities, most severe first.
    pub const DESCENDING: [Severity; 5] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::Info,
    ];
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The practices of PRACTICES.md that findings are grouped under, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Practice {
    /// Cross-site scripting: escaping and CSP.
    Xss,
    /// Cross-site request forgery.
    Csrf,
    /// SQL injection.
    Sqli,
    /// Dependencies kept current, and what the site discloses about them.
    Disclosure,
    /// The secret key that signs sessions.
    SecretKey,
    /// Security headers and HTTPS.
    Headers,
    /// Cookie attributes.
    Cookies,
    /// File uploads.
    Uploads,
    /// Registration, sign-in and account management.
    Accounts,
    /// Session management.
    Sessions,
}

impl Practice {
    /// Every practice, in report order.
    pub const ALL: [Practice; 10] = [
        Self::Xss,
        Self::Csrf,
        Self::Sqli,
        Self::Disclosure,
        Self::SecretKey,
        Self::Headers,
        Self::Cookies,
        Self::Uploads,
        Self::Accounts,
        Self::Sessions,
    ];

    /// Stable identifier used in JSON and SARIF.
    pub fn id(self) -> &'static str {
        match self {
            Self::Xss => "xss",
            Self::Csrf => "csrf",
            Self::Sqli => "sqli",
            Self::Disclosure => "disclosure",
            Self::SecretKey => "secret-key",
            Self::Headers => "headers",
            Self::Cookies => "cookies",
            Self::Uploads => "uploads",
            Self::Accounts => "accounts",
            Self::Sessions => "sessions",
        }
    }

    /// Human title used in text and HTML reports.
    pub fn title(self) -> &'static str {
        match self {
            Self::Xss => "XSS (escaping, CSP)",
            Self::Csrf => "CSRF",
            Self::Sqli => "SQL injection",
            Self::Disclosure => "Dependencies and disclosure",
            Self::SecretKey => "Secret key",
            Self::Headers => "Security headers and HTTPS",
            Self::Cookies => "Cookies",
            Self::Uploads => "Uploads",
            Self::Accounts => "Registration and accounts",
            Self::Sessions => "Sessions",
        }
    }
}

/// The request and response that show a finding, with secrets masked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The request line, the headers that matter and the body, masked.
    pub request: String,
    /// The status line, the headers that matter and an excerpt of the body, masked.
    pub response: String,
}

/// One weakness found on the audited site.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable rule identifier, such as `PAL-HDR-001`.
    pub rule: &'static str,
    /// Short title of the rule.
    pub title: &'static str,
    /// Severity of this occurrence (usually the rule's default).
    pub severity: Severity,
    /// Practice the rule belongs to.
    pub practice: Practice,
    /// First URL where it was seen.
    pub url: String,
    /// What exactly is wrong here.
    pub detail: String,
    /// How many responses showed the same problem (1 or more).
    pub occurrences: usize,
    /// Request and response excerpts.
    pub evidence: Evidence,
    /// How to fix it in a Flask application.
    pub fix_flask: &'static str,
    /// How to fix it with Palisade.
    pub fix_palisade: &'static str,
    /// Findings of one rule with the same key are merged into one.
    #[serde(skip)]
    pub(crate) key: String,
}

impl Finding {
    /// A finding of `rule` at `url`; `key` distinguishes occurrences that must not be merged.
    pub(crate) fn new(
        rule: &'static Rule,
        url: impl Into<String>,
        key: impl Into<String>,
        detail: impl Into<String>,
        evidence: Evidence,
    ) -> Self {
        Self {
            rule: rule.id,
            title: rule.title,
            severity: rule.severity,
            practice: rule.practice,
            url: url.into(),
            detail: detail.into(),
            occurrences: 1,
            evidence,
            fix_flask: rule.fix_flask,
            fix_palisade: rule.fix_palisade,
            key: key.into(),
        }
    }

    /// Overrides the rule's default severity for this occurrence.
    pub(crate) fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// Collects findings, merging repeats of the same rule and key.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    items: Vec<Finding>,
}

impl Findings {
    /// Adds a finding, or counts it as one more occurrence of an earlier one.
    pub(crate) fn push(&mut self, finding: Finding) {
        let same = self
            .items
            .iter_mut()
            .find(|f| f.rule == finding.rule && f.key == finding.key);
        match same {
            Some(existing) => {
                existing.occurrences += 1;
                if finding.severity > existing.severity {
                    existing.severity = finding.severity;
                }
            }
            None => self.items.push(finding),
        }
    }

    /// Adds every finding of `more`.
    pub(crate) fn extend(&mut self, more: impl IntoIterator<Item = Finding>) {
        for finding in more {
            self.push(finding);
        }
    }

    /// The findings, most severe first, then by rule id.
    pub(crate) fn into_sorted(mut self) -> Vec<Finding> {
        self.items.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.practice.cmp(&b.practice))
                .then(a.rule.cmp(b.rule))
        });
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::catalog;

    #[test]
    fn repeats_of_a_rule_and_key_merge_into_one_finding() {
        let mut findings = Findings::default();
        for page in ["/a", "/b", "/c"] {
            let f = Finding::new(&catalog::HSTS_MISSING, page, "", "x", Evidence::default());
            findings.push(f);
        }
        let items = findings.into_sorted();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].occurrences, 3);
        assert_eq!(items[0].url, "/a");
    }

    #[test]
    fn severities_order_from_info_to_critical() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::High < Severity::Critical);
        assert_eq!(Severity::DESCENDING[0], Severity::Critical);
    }
}
