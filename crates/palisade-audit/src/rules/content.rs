//! Response bodies and pages: debug pages, stack traces, SQL errors, version disclosure,
//! forms without CSRF tokens, password forms on HTTP, mixed content.

use super::Context;
use super::catalog::{self, Rule};
use crate::client::Exchange;
use crate::finding::{Finding, Findings, Severity};

/// Error messages of database drivers, as (signature, database).
pub(crate) const SQL_ERRORS: [(&str, &str); 22] = [
    ("sqlite3.OperationalError", "SQLite"),
    ("sqlite3.ProgrammingError", "SQLite"),
    ("SQLITE_ERROR", "SQLite"),
    ("SQLite error", "SQLite"),
    ("unrecognized token:", "SQLite"),
    ("sqlx::sqlite", "SQLite"),
    ("psycopg2.errors", "PostgreSQL"),
    ("psycopg.errors", "PostgreSQL"),
    ("PG::SyntaxError", "PostgreSQL"),
    ("unterminated quoted string at or near", "PostgreSQL"),
    ("syntax error at or near", "PostgreSQL"),
    ("invalid input syntax for type", "PostgreSQL"),
    ("You have an error in your SQL syntax", "MySQL"),
    ("check the manual that corresponds to your MySQL", "MySQL"),
    (
        "check the manual that corresponds to your MariaDB",
        "MariaDB",
    ),
    ("MySQLSyntaxErrorException", "MySQL"),
    ("pymysql.err", "MySQL"),
    ("MySQLdb._exceptions", "MySQL"),
    ("Warning: mysql_", "MySQL"),
    ("SQLSTATE[", "PDO"),
    ("sqlalchemy.exc.", "SQLAlchemy"),
    ("ORA-01756", "Oracle"),
];

/// The first database error signature in `body`.
pub(crate) fn sql_error(body: &str) -> Option<(&'static str, &'static str)> {
    SQL_ERRORS
        .iter()
        .copied()
        .find(|(sig, _)| body.contains(sig))
}

/// Signatures of framework debug pages and stack traces, as (signature, what it is).
const TRACES: [(&str, &str); 9] = [
    ("Traceback (most recent call last)", "a Python traceback"),
    (
        "You're seeing this error because you have <code>DEBUG = True</code>",
        "the Django debug page",
    ),
    (
        "DEBUG = True</code> in your Django settings",
        "the Django debug page",
    ),
    (
        "Action Controller: Exception caught",
        "the Rails debug page",
    ),
    ("Whoops! There was an error", "the Laravel debug page"),
    ("Server Error in '/' Application", "an ASP.NET error page"),
    ("at java.base/", "a Java stack trace"),
    ("panicked at ", "a Rust panic message"),
    ("<b>Fatal error</b>:", "a PHP fatal error"),
];

/// Checks the body and page of one response.
pub(crate) fn check(ex: &Exchange, context: Context<'_>, out: &mut Findings) {
    disclosure_headers(ex, out);
    debug_pages(ex, out);
    if let Some((signature, db)) = sql_error(&ex.body) {
        let detail = format!(
            "{db} error message in the page (\"{signature}\"): queries may be built from input"
        );
        let evidence = ex.evidence(&["content-type"], Some(signature));
        let f = Finding::new(
            &catalog::SQL_ERROR,
            ex.url.as_str(),
            ex.url.path(),
            detail,
            evidence,
        );
        out.push(f.with_severity(Severity::Medium));
    }
    let Some(doc) = context.document else {
        return;
    };

    for form in &doc.forms {
        if form.is_post() && form.csrf_field().is_none() {
            let detail = format!(
                "POST form to {} has no CSRF token field",
                form.action.path()
            );
            let evidence = ex.evidence(&["content-type"], Some("<form"));
            out.push(Finding::new(
                &catalog::CSRF_NO_TOKEN_FIELD,
                ex.url.as_str(),
                form.action.path(),
                detail,
                evidence,
            ));
        }
        let plain = ex.url.scheme() == "http" || form.action.scheme() == "http";
        if form.has_password() && plain {
            let detail = format!("password form on {} posts to {}", ex.url, form.action);
            let evidence = ex.evidence(&[], Some("type=\"password\""));
            out.push(Finding::new(
                &catalog::PASSWORD_OVER_HTTP,
                ex.url.as_str(),
                form.action.path(),
                detail,
                evidence,
            ));
        }
    }
    if ex.url.scheme() == "https" {
        for (tag, raw) in &doc.subresources {
            if raw
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
            {
                let detail = format!("<{tag}> loads {raw} over plain HTTP");
                let evidence = ex.evidence(&[], Some(raw));
                out.push(Finding::new(
                    &catalog::MIXED_CONTENT,
                    ex.url.as_str(),
                    raw.as_str(),
                    detail,
                    evidence,
                ));
            }
        }
    }
}

fn push(
    out: &mut Findings,
    rule: &'static Rule,
    ex: &Exchange,
    detail: String,
    headers: &[&str],
    needle: Option<&str>,
) {
    out.push(Finding::new(
        rule,
        ex.url.as_str(),
        "",
        detail,
        ex.evidence(headers, needle),
    ));
}

fn disclosure_headers(ex: &Exchange, out: &mut Findings) {
    if let Some(server) = ex.header("server") {
        let detail = format!("Server: {server}");
        let finding = Finding::new(
            &catalog::SERVER_VERSION,
            ex.url.as_str(),
            "",
            detail,
            ex.evidence(&["server"], None),
        );
        let versioned = server.chars().any(|c| c.is_ascii_digit());
        out.push(if versioned {
            finding
        } else {
            finding.with_severity(Severity::Info)
        });
    }
    for name in ["x-powered-by", "x-aspnet-version", "x-generator"] {
        if let Some(value) = ex.header(name) {
            push(
                out,
                &catalog::POWERED_BY,
                ex,
                format!("{name}: {value}"),
                &[name],
                None,
            );
        }
    }
}

fn debug_pages(ex: &Exchange, out: &mut Findings) {
    let body = &ex.body;
    let werkzeug = body.contains("__debugger__")
        || body.contains("The debugger caught an exception in your WSGI application");
    if werkzeug {
        let needle = if body.contains("__debugger__") {
            "__debugger__"
        } else {
            "The debugger caught"
        };
        let detail =
            "the Werkzeug debugger is on: its console runs Python code for whoever can reach it"
                .to_owned();
        push(
            out,
            &catalog::WERKZEUG_DEBUGGER,
            ex,
            detail,
            &["server"],
            Some(needle),
        );
        return;
    }
    if let Some((signature, what)) = TRACES.iter().find(|(sig, _)| body.contains(sig)) {
        let detail = format!("the response shows {what} (\"{signature}\")");
        push(
            out,
            &catalog::STACK_TRACE,
            ex,
            detail,
            &["server"],
            Some(signature),
        );
    }
}
