//! Command-line arguments of `palisade audit`, and their validation into a [`Config`].
//!
//! [`AuditArgs`] is what clap parses; [`Config`] is what the audit uses, with URLs parsed, the
//! scope fixed and the password read. Keeping the two apart means every check of a flag's value
//! happens once, here.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::error::{AuditError, Result};
use crate::finding::Severity;

/// Arguments of `palisade audit URL`.
///
/// The `palisade` binary embeds them as a subcommand: `Audit(palisade_audit::AuditArgs)`, then
/// calls [`crate::run`].
#[derive(Clone, clap::Args)]
pub struct AuditArgs {
    /// Base URL of the running application to audit (http:// or https://).
    #[arg(value_name = "URL")]
    pub url: String,

    /// URL of the sign-in page; with --user, the audit signs in and crawls as that user.
    #[arg(long, value_name = "URL")]
    pub login: Option<String>,

    /// Email address or user name to sign in with.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,

    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,

    /// Password for library callers that do not use stdin; never a command-line flag.
    #[arg(skip)]
    pub password: Option<String>,

    /// Cookie header of an already signed-in session, e.g. "session=…" (instead of --login).
    #[arg(long, value_name = "HEADER")]
    pub cookie: Option<String>,

    /// Also send attack probes (XSS, SQL injection, CSRF replays, open redirect, uploads,
    /// session and TLS checks). Only use against applications you are allowed to test.
    #[arg(long)]
    pub active: bool,

    /// With --active on an https:// target: the plain-HTTP URL to check for the redirect to
    /// HTTPS (default: port 80 of the same host).
    #[arg(long, value_name = "URL")]
    pub http_url: Option<String>,

    /// Maximum number of pages to crawl.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_pages: usize,

    /// Time budget of the whole audit, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_time: Duration,

    /// Request rate limit, e.g. 10/s or 120/m.
    #[arg(long, value_name = "N/s", default_value = "10/s")]
    pub rate: Rate,

    /// Accept any certificate presented by the target host (self-signed development
    /// certificates). Other hosts are never contacted anyway.
    #[arg(long)]
    pub insecure_tls_ok: bool,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with status 1 when a finding has this severity or more.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = Severity::Medium)]
    pub fail_on: Severity,
}

impl fmt::Debug for AuditArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |set: bool| if set { Some("[masked]") } else { None };
        f.debug_struct("AuditArgs")
            .field("url", &self.url)
            .field("login", &self.login)
            .field("user", &self.user)
            .field("password_stdin", &self.password_stdin)
            .field("password", &masked(self.password.is_some()))
            .field("cookie", &masked(self.cookie.is_some()))
            .field("active", &self.active)
            .field("http_url", &self.http_url)
            .field("max_pages", &self.max_pages)
            .field("max_time", &self.max_time)
            .field("rate", &self.rate)
            .field("insecure_tls_ok", &self.insecure_tls_ok)
            .field("format", &self.format)
            .field("output", &self.output)
            .field("fail_on", &self.fail_on)
            .finish()
    }
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain text for a terminal.
    Text,
    /// JSON following `schema/report.schema.json`.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// A self-contained HTML page.
    Html,
}

/// A request rate, parsed from `N/s`, `N/m` or a bare `N` (per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_second: f64,
}

impl Rate {
    /// The rate in requests per second.
    pub fn per_second(self) -> f64 {
        self.per_second
    }

    /// Time between two requests.
    pub(crate) fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim();
        let (number, per) = match s.split_once('/') {
            Some((n, unit)) => (n, unit.trim()),
            None => (s, "s"),
        };
        let seconds = match per {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            _ => return Err(format!("unknown rate unit {per:?}; use N/s or N/m")),
        };
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("invalid rate {s:?}; use N/s, e.g. 10/s"))?;
        let per_second = n / seconds;
        if !(per_second.is_finite() && (0.01..=10_000.0).contains(&per_second)) {
            return Err(format!("rate {s:?} out of range (0.01/s to 10000/s)"));
        }
        Ok(Self { per_second })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

/// Sign-in credentials.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) login_url: Url,
    pub(crate) user: String,
    pub(crate) password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login_url", &self.login_url.as_str())
            .field("user", &self.user)
            .field("password", &"[masked]")
            .finish()
    }
}

/// Validated settings of one audit.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) target: Url,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) cookie: Option<String>,
    pub(crate) active: bool,
    pub(crate) http_url: Option<Url>,
    pub(crate) max_pages: usize,
    pub(crate) max_time: Duration,
    pub(crate) rate: Rate,
    pub(crate) insecure_tls_ok: bool,
    pub(crate) fail_on: Severity,
}

impl Config {
    /// Validates `args`; reads the password from `stdin` when `--password-stdin` is given.
    pub(crate) fn from_args(args: &AuditArgs, stdin: impl Read) -> Result<Self> {
        let target = parse_http_url(&args.url, "URL")?;

        let credentials = match (&args.login, &args.user) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(AuditError::usage("--login and --user go together"));
            }
            (Some(login), Some(user)) => {
                let login_url = target
                    .join(login)
                    .map_err(|e| AuditError::usage(format!("invalid --login URL: {e}")))?;
                if login_url.origin() != target.origin() {
                    return Err(AuditError::usage(
                        "--login must be on the same origin as the audited URL",
                    ));
                }
                let password = read_password(args, stdin)?;
                Some(Credentials {
                    login_url,
                    user: user.clone(),
                    password,
                })
            }
        };
        if credentials.is_none() && (args.password_stdin || args.password.is_some()) {
            return Err(AuditError::usage("a password needs --login and --user"));
        }
        if credentials.is_some() && args.cookie.is_some() {
            return Err(AuditError::usage(
                "use either --cookie or --login/--user, not both",
            ));
        }

        let http_url = match &args.http_url {
            None => None,
            Some(raw) => {
                let url = parse_http_url(raw, "--http-url")?;
                if url.scheme() != "http" || url.host_str() != target.host_str() {
                    return Err(AuditError::usage(
                        "--http-url must be an http:// URL on the audited host",
                    ));
                }
                Some(url)
            }
        };
        if args.max_pages == 0 {
            return Err(AuditError::usage("--max-pages must be at least 1"));
        }

        Ok(Self {
            target,
            credentials,
            cookie: args.cookie.clone(),
            active: args.active,
            http_url,
            max_pages: args.max_pages,
            max_time: args.max_time,
            rate: args.rate,
            insecure_tls_ok: args.insecure_tls_ok,
            fail_on: args.fail_on,
        })
    }
}

fn parse_http_url(raw: &str, what: &str) -> Result<Url> {
    let url =
        Url::parse(raw).map_err(|e| AuditError::usage(format!("invalid {what} {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AuditError::usage(format!(
            "{what} must be an http:// or https:// URL with a host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuditError::usage(format!(
            "{what} must not contain credentials; use --user and --password-stdin"
        )));
    }
    Ok(url)
}

fn read_password(args: &AuditArgs, mut stdin: impl Read) -> Result<String> {
    if let Some(password) = &args.password {
        return Ok(password.clone());
    }
    if !args.password_stdin {
        return Err(AuditError::usage("--user needs --password-stdin"));
    }
    let mut input = String::new();
    stdin
        .read_to_string(&mut input)
        .map_err(|source| AuditError::Io {
            context: "reading the password from stdin".to_owned(),
            source,
        })?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(AuditError::usage(
            "--password-stdin: standard input is empty",
        ));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: AuditArgs,
    }

    fn parse(argv: &[&str]) -> std::result::Result<AuditArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("audit").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_are_polite_and_fail_on_medium() {
        let args = parse(&["https://example.test/"]).unwrap();
        assert_eq!(args.max_pages, 50);
        assert_eq!(args.max_time, Duration::from_secs(300));
        assert_eq!(args.rate.per_second(), 10.0);
        assert_eq!(args.fail_on, Severity::Medium);
        assert_eq!(args.format, Format::Text);
        assert!(!args.active);
    }

    #[test]
    fn rate_accepts_per_second_and_per_minute() {
        assert_eq!("5/s".parse::<Rate>().unwrap().per_second(), 5.0);
        assert_eq!("120/m".parse::<Rate>().unwrap().per_second(), 2.0);
        assert_eq!("3".parse::<Rate>().unwrap().per_second(), 3.0);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("ten/s".parse::<Rate>().is_err());
        assert!("1/h".parse::<Rate>().is_err());
    }

    #[test]
    fn every_format_and_severity_parses() {
        for f in ["text", "json", "sarif", "html"] {
            parse(&["http://a.test", "--format", f]).unwrap();
        }
        for s in ["info", "low", "medium", "high", "critical"] {
            parse(&["http://a.test", "--fail-on", s]).unwrap();
        }
        assert!(parse(&["http://a.test", "--format", "xml"]).is_err());
    }

    #[test]
    fn password_is_read_from_the_first_line_of_stdin() {
        let args = parse(&[
            "http://a.test/",
            "--login",
            "/login",
            "--user",
            "me@a.test",
            "--password-stdin",
        ])
        .unwrap();
        let config = Config::from_args(&args, &b"hunter2\nignored"[..]).unwrap();
        let creds = config.credentials.unwrap();
        assert_eq!(creds.password, "hunter2");
        assert_eq!(creds.login_url.as_str(), "http://a.test/login");
        assert!(!format!("{creds:?}").contains("hunter2"));
        let mut args = args;
        args.password = Some("hunter2".into());
        args.cookie = Some("sid=s3cr3t".into());
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn login_on_another_origin_is_refused() {
        let args = parse(&[
            "http://a.test/",
            "--login",
            "http://b.test/login",
            "--user",
            "u",
            "--password-stdin",
        ])
        .unwrap();
        let err = Config::from_args(&args, &b"pw\n"[..]).unwrap_err();
        assert!(err.to_string().contains("same origin"));
    }

    #[test]
    fn non_http_targets_and_lone_user_are_usage_errors() {
        for argv in [
            &["ftp://a.test/"][..],
            &["not a url"][..],
            &["http://a.test/", "--user", "u"][..],
            &["http://a.test/", "--max-pages", "0"][..],
            &["https://a.test/", "--http-url", "http://other.test/"][..],
        ] {
            let args = parse(argv).unwrap();
            assert!(matches!(
                Config::from_args(&args, &b""[..]),
                Err(AuditError::Usage(_))
            ));
        }
    }
}
