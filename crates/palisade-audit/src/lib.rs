//! `palisade audit URL`: checks a running web application — a Palisade app, a Flask app, any
//! site you are allowed to test — against the practices of Palisade's PRACTICES.md, and reports
//! each weakness with evidence and a fix for Flask and for Palisade.
//!
//! The audit crawls the site (signed in when given credentials), applies passive rules to every
//! response (headers, cookies, debug pages, forms, Flask keys), probes a few sensitive files,
//! and with `--active` sends attack probes (XSS, SQL injection, CSRF replays, open redirect,
//! uploads, session and TLS checks). It never sends a request outside the audited origin.
//!
//! The `palisade` binary embeds [`AuditArgs`] as a clap subcommand and calls [`run`]:
//!
//! ```no_run
//! # async fn cli(args: palisade_audit::AuditArgs) {
//! let status = palisade_audit::run(args).await;
//! std::process::exit(status);
//! # }
//! ```
//!
//! Library callers that want the findings themselves use [`audit`] and [`Report::render`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod audit;
mod auth;
mod client;
mod cookie;
mod crawl;
mod error;
mod finding;
mod flask_key;
mod html;
mod mask;
mod probes;
mod report;
mod rules;

use std::io::{self, Write};
use std::path::Path;

pub use args::{AuditArgs, Format, Rate};
pub use audit::audit;
pub use error::AuditError;
pub use finding::{Evidence, Finding, Practice, Severity};
pub use report::{PracticeResult, Report, SCHEMA_VERSION, Summary, Tool};
pub use rules::catalog::Rule;

/// Every rule the audit checks, in catalogue order.
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    rules::catalog::ALL.iter().copied()
}

/// The rule with this id, such as `PAL-HDR-001`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    rules::catalog::by_id(id)
}

/// Runs `palisade audit` and returns the process exit status: 0 when no finding reaches
/// `--fail-on`, 1 when one does, 2 on usage or connection errors (reported on stderr with the
/// prefix `palisade audit: `).
pub async fn run(args: AuditArgs) -> i32 {
    let report = match audit(&args).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("palisade audit: {error}");
            return 2;
        }
    };
    let rendered = report.render(args.format);
    if let Err(error) = write_output(args.output.as_deref(), &rendered) {
        eprintln!("palisade audit: {error}");
        return 2;
    }
    if let Some(path) = &args.output {
        let verdict = if report.passed { "pass" } else { "fail" };
        eprintln!(
            "palisade audit: {verdict} ({}); report written to {}",
            report::summary_line(&report),
            path.display()
        );
    }
    report.exit_code()
}

/// Writes the report to `path`, or to stdout; a closed stdout (broken pipe) is not an error.
fn write_output(path: Option<&Path>, rendered: &str) -> Result<(), AuditError> {
    let io_error = |context: String| move |source| AuditError::Io { context, source };
    match path {
        Some(path) => std::fs::write(path, rendered)
            .map_err(io_error(format!("cannot write {}", path.display()))),
        None => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(io_error("cannot write to stdout".to_owned())),
            }
        }
    }
}
