//! The audit engine: first contact, file probes, crawls (anonymous, then signed in), passive
//! rules on every crawled response, then the active probes, and the report.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;
use url::Url;

use crate::args::{AuditArgs, Config};
use crate::auth;
use crate::client::{Client, ClientOptions};
use crate::cookie::Jar;
use crate::crawl::{self, Crawl, Page};
use crate::error::Result;
use crate::finding::{Finding, Findings};
use crate::probes::{self, Probe};
use crate::report::{Report, RunFacts};
use crate::rules::{self, catalog, cookies};

/// Most anonymous re-fetches made to decide whether signed-in pages are personal.
const MAX_PERSONAL_CHECKS: usize = 25;

/// Runs an audit and returns its report. Reads the password from stdin when
/// `--password-stdin` is given.
///
/// # Errors
///
/// [`AuditError::Usage`](crate::AuditError::Usage) for invalid arguments, [`AuditError::Connection`](crate::AuditError::Connection) when the target
/// cannot be reached, [`AuditError::Login`](crate::AuditError::Login) when signing in fails.
pub async fn audit(args: &AuditArgs) -> Result<Report> {
    let config = Config::from_args(args, std::io::stdin().lock())?;
    Engine::new(config)?.run().await
}

struct Engine {
    config: Config,
    client: Client,
    findings: Findings,
    notes: Vec<String>,
    started: SystemTime,
    start: Instant,
}

impl Engine {
    fn new(config: Config) -> Result<Self> {
        let start = Instant::now();
        let extra_origins = http_url(&config)
            .map(|u| vec![u.origin()])
            .unwrap_or_default();
        let options = ClientOptions {
            target: config.target.clone(),
            extra_origins,
            rate_interval: config.rate.interval(),
            deadline: start + config.max_time,
            insecure_tls_ok: config.insecure_tls_ok,
        };
        let client = Client::new(options, progress_bar())?;
        Ok(Self {
            config,
            client,
            findings: Findings::default(),
            notes: Vec::new(),
            started: SystemTime::now(),
            start,
        })
    }

    async fn run(mut self) -> Result<Report> {
        let target = self.config.target.clone();
        let anonymous = Jar::default();
        self.client.progress().set_message("first contact");
        let first = self
            .client
            .follow(
                crate::client::Request::get(target.clone()),
                Some(&anonymous),
            )
            .await?;
        if target.scheme() == "http" {
            let ex = &first[0];
            let detail = format!(
                "{target} is plain HTTP: passwords and cookies cross the network in clear text"
            );
            self.findings.push(Finding::new(
                &catalog::PLAIN_HTTP,
                target.as_str(),
                "",
                detail,
                ex.evidence(&["location"], None),
            ));
        }

        self.client
            .progress()
            .set_message("sensitive files, anonymous crawl");
        let (files, anon_crawl) = tokio::join!(
            probes::files::run(&self.client, &target),
            crawl::crawl(
                &self.client,
                std::slice::from_ref(&target),
                &anonymous,
                self.config.max_pages
            ),
        );
        self.findings.extend(files);
        self.note_crawl("anonymous", &anon_crawl);

        let (jar, signed_crawl) = self.signed_in_crawl().await?;
        let signed_in = signed_crawl.is_some();
        let personal = match &signed_crawl {
            Some(c) => self.personal_pages(c, &anon_crawl).await,
            None => Vec::new(),
        };

        self.client.progress().set_message("passive rules");
        for page in &anon_crawl.pages {
            self.passive(page, false);
        }
        for (i, page) in signed_crawl.iter().flat_map(|c| c.pages.iter()).enumerate() {
            self.passive(page, personal.contains(&i));
        }

        let mut pages: Vec<Page> = signed_crawl
            .as_ref()
            .map(|c| c.pages.clone())
            .unwrap_or_default();
        pages.extend(anon_crawl.pages.iter().cloned());
        if self.config.active {
            let private = personal
                .first()
                .and_then(|&i| signed_crawl.as_ref().map(|c| c.pages[i].last().url.clone()));
            let probe = Probe {
                client: self.client.clone(),
                jar: jar.clone().unwrap_or_else(|| anonymous.clone()),
                pages,
                credentials: self.config.credentials.clone(),
                signed_in,
            };
            self.active(&probe, private).await;
        }

        if self.client.out_of_time() {
            self.notes.push(format!(
                "the time budget ({}) ran out: the audit is incomplete",
                humantime::format_duration(self.config.max_time)
            ));
        }
        if !self.config.active {
            self.notes.push(
                "active probes did not run (use --active on an application you may test)"
                    .to_owned(),
            );
        }
        if !signed_in {
            self.notes.push("the audit was not signed in (use --login/--user or --cookie): session checks did not run".to_owned());
        }
        self.client.progress().finish_and_clear();

        let facts = RunFacts {
            target: crate::mask::url(&target),
            started_at: humantime::format_rfc3339_seconds(self.started).to_string(),
            duration_ms: u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            active: self.config.active,
            signed_in,
            pages_crawled: anon_crawl.pages.len()
                + signed_crawl.as_ref().map_or(0, |c| c.pages.len()),
            requests_sent: self.client.requests(),
            notes: self.notes,
        };
        Ok(Report::new(
            facts,
            self.findings.into_sorted(),
            self.config.fail_on,
        ))
    }

    /// Signs in (or uses `--cookie`) and crawls as that user.
    async fn signed_in_crawl(&mut self) -> Result<(Option<Jar>, Option<Crawl>)> {
        let target = self.config.target.clone();
        let (jar, start) = if let Some(credentials) = self.config.credentials.clone() {
            self.client.progress().set_message("signing in");
            let jar = Jar::default();
            let sign_in = auth::sign_in(&self.client, &credentials, &jar, None).await?;
            for ex in &sign_in.exchanges {
                rules::check(ex, rules::Context::default(), &mut self.findings);
            }
            self.findings.extend(probes::session::not_rotated(&sign_in));
            (jar, vec![sign_in.landing, target])
        } else if let Some(header) = self.config.cookie.clone() {
            let jar = Jar::from_header(&header);
            for (name, value) in jar.snapshot() {
                cookies::flask_key(
                    target.as_str(),
                    &name,
                    &value,
                    || crate::finding::Evidence {
                        request: format!(
                            "Cookie: {}",
                            crate::mask::cookie_header(&format!("{name}={value}"))
                        ),
                        response: "(cookie given with --cookie)".to_owned(),
                    },
                    &mut self.findings,
                );
            }
            (jar, vec![target])
        } else {
            return Ok((None, None));
        };
        self.client.progress().set_message("signed-in crawl");
        let crawl = crawl::crawl(&self.client, &start, &jar, self.config.max_pages).await;
        self.note_crawl("signed-in", &crawl);
        Ok((Some(jar), Some(crawl)))
    }

    /// Indices of signed-in pages that an anonymous visitor cannot see.
    async fn personal_pages(&self, signed: &Crawl, anon: &Crawl) -> Vec<usize> {
        let seen: HashMap<String, (u16, String)> = anon
            .pages
            .iter()
            .map(|p| {
                (
                    p.url.to_string(),
                    (p.last().status, p.last().url.path().to_owned()),
                )
            })
            .collect();
        let user = self.config.credentials.as_ref().map(|c| c.user.clone());
        let mut personal = Vec::new();
        let mut checks = 0;
        for (i, page) in signed.pages.iter().enumerate() {
            let last = page.last();
            if last.status != 200 || !last.is_html() {
                continue;
            }
            if user.as_deref().is_some_and(|u| last.body.contains(u)) {
                personal.push(i);
                continue;
            }
            let anon_view = match seen.get(page.url.as_str()) {
                Some(view) => Some(view.clone()),
                None if checks < MAX_PERSONAL_CHECKS => {
                    checks += 1;
                    let ex = self
                        .client
                        .get_final(&last.url, Some(&Jar::default()))
                        .await
                        .ok();
                    ex.map(|ex| (ex.status, ex.url.path().to_owned()))
                }
                None => None,
            };
            if anon_view.is_some_and(|(status, path)| status != 200 || path != last.url.path()) {
                personal.push(i);
            }
        }
        personal
    }

    fn passive(&mut self, page: &Page, personal: bool) {
        let n = page.chain.len();
        for (i, ex) in page.chain.iter().enumerate() {
            let context = if i + 1 == n {
                rules::Context {
                    document: page.document.as_ref(),
                    personal,
                }
            } else {
                rules::Context::default()
            };
            rules::check(ex, context, &mut self.findings);
        }
    }

    async fn active(&mut self, probe: &Probe, private: Option<Url>) {
        let target = self.config.target.clone();
        if target.scheme() == "https" {
            self.client.progress().set_message("TLS versions");
            let tls = probes::tls::run(&self.client, &target).await;
            self.findings.extend(tls);
            if let Some(http_url) = http_url(&self.config) {
                self.client.progress().set_message("HTTP to HTTPS redirect");
                let https = probes::https::run(&self.client, &http_url).await;
                self.findings.extend(https);
            }
        }
        self.client.progress().set_message("XSS probes");
        let xss = probes::xss::run(probe).await;
        self.findings.extend(xss);
        self.client.progress().set_message("SQL injection probes");
        let sqli = probes::sqli::run(probe).await;
        self.findings.extend(sqli);
        self.client.progress().set_message("CSRF replays");
        let (csrf, skipped) = probes::csrf::run(probe).await;
        self.findings.extend(csrf);
        if !skipped.is_empty() {
            self.notes.push(format!(
                "forms that look destructive were not replayed for CSRF: {}",
                skipped.join(", ")
            ));
        }
        self.client.progress().set_message("open redirect probes");
        let redirects = probes::redirect::run(probe).await;
        self.findings.extend(redirects);
        self.client.progress().set_message("upload probes");
        let uploads = probes::upload::run(probe).await;
        self.findings.extend(uploads);

        if probe.signed_in {
            self.client.progress().set_message("session after sign-out");
            match probes::session::after_logout(probe, private).await {
                Ok(finding) => self.findings.extend(finding),
                Err(note) => self.notes.push(note),
            }
        }
    }

    fn note_crawl(&mut self, which: &str, crawl: &Crawl) {
        for (url, error) in crawl.errors.iter().take(5) {
            self.notes.push(format!(
                "{which} crawl: {} failed: {error}",
                crate::mask::url(&Url::parse(url).unwrap_or_else(|_| self.config.target.clone()))
            ));
        }
        if crawl.errors.len() > 5 {
            self.notes.push(format!(
                "{which} crawl: {} more requests failed",
                crawl.errors.len() - 5
            ));
        }
    }
}

/// The plain-HTTP URL checked for the redirect to HTTPS, for active audits of https targets.
fn http_url(config: &Config) -> Option<Url> {
    if !config.active || config.target.scheme() != "https" {
        return None;
    }
    if let Some(url) = &config.http_url {
        return Some(url.clone());
    }
    let mut url = config.target.clone();
    url.set_scheme("http").ok()?;
    url.set_port(Some(80)).ok()?;
    url.set_path("/");
    url.set_query(None);
    Some(url)
}

/// A spinner on stderr when it is a terminal, hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({pos} requests, {elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
