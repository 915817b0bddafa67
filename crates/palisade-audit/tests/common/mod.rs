//! Shared test support: fixture servers on 127.0.0.1:0 (HTTP and HTTPS with a certificate made
//! at test time) and a helper that runs an audit against them.

#![allow(dead_code, unreachable_pub)]

pub mod app;

use std::net::SocketAddr;
use std::sync::{Arc, Once};

use axum::Router;
use clap::Parser;
use palisade_audit::{AuditArgs, Report, Severity};

pub use app::{Flaws, PASSWORD, USER};

/// Installs the ring provider once for the whole test binary.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A running fixture.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Base URL of the app (https:// unless started with `plain_http`).
    pub url: String,
    /// The plain-HTTP listener that redirects to HTTPS, when there is one.
    pub http_url: Option<String>,
}

/// TLS protocol versions a fixture offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Modern,
    Tls12Only,
}

/// How the plain-HTTP listener next to an HTTPS fixture behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListener {
    RedirectToConfiguredHost,
    RedirectToHostHeader,
    ServesContent,
}

async fn bind() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `router` over plain HTTP.
pub async fn serve_http(router: Router) -> String {
    let (listener, addr) = bind().await;
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/")
}

/// Serves `router` over HTTPS with a fresh self-signed certificate.
pub async fn serve_https(router: Router, tls: Tls) -> String {
    init();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls {
        Tls::Modern => rustls::DEFAULT_VERSIONS,
        Tls::Tls12Only => &[&rustls::version::TLS12],
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (listener, addr) = bind().await;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
    let server = axum_server::from_tcp_rustls(listener, config).unwrap();
    tokio::spawn(async move { server.serve(router.into_make_service()).await.unwrap() });
    format!("https://{addr}/")
}

/// Starts the app with `flaws` over HTTPS, with a plain-HTTP listener that redirects.
pub async fn start(flaws: Flaws) -> Fixture {
    start_with(flaws, Tls::Modern, HttpListener::RedirectToConfiguredHost).await
}

/// Starts the app with every option.
pub async fn start_with(flaws: Flaws, tls: Tls, http: HttpListener) -> Fixture {
    let url = serve_https(app::app(flaws, "https"), tls).await;
    let origin = url.trim_end_matches('/').to_owned();
    let redirect = app::http_redirect_app(
        origin,
        http == HttpListener::RedirectToHostHeader,
        http == HttpListener::ServesContent,
    );
    let http_url = serve_http(redirect).await;
    Fixture {
        url,
        http_url: Some(http_url),
    }
}

/// Starts the app with `flaws` over plain HTTP.
pub async fn start_plain(flaws: Flaws) -> Fixture {
    let url = serve_http(app::app(flaws, "http")).await;
    Fixture {
        url,
        http_url: None,
    }
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: AuditArgs,
}

/// Arguments for auditing `fixture` quickly, plus `extra`.
pub fn args(fixture: &Fixture, extra: &[&str]) -> AuditArgs {
    let mut argv = vec![
        "audit",
        fixture.url.as_str(),
        "--rate",
        "2000/s",
        "--max-time",
        "90s",
        "--insecure-tls-ok",
    ];
    if let Some(http_url) = &fixture.http_url {
        argv.extend(["--http-url", http_url.as_str()]);
    }
    argv.extend(extra);
    let mut args = Cli::try_parse_from(argv).unwrap().args;
    if args.user.is_some() {
        args.password = Some(PASSWORD.to_owned());
    }
    args
}

/// Flags of a signed-in audit.
pub const SIGNED_IN: [&str; 4] = ["--login", "/login", "--user", USER];

/// Runs an audit and returns its report.
pub async fn audit(fixture: &Fixture, extra: &[&str]) -> Report {
    palisade_audit::audit(&args(fixture, extra))
        .await
        .expect("the audit runs")
}

/// Rule ids of the findings.
pub fn rule_ids(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.rule).collect()
}

/// Asserts that `rule` was found, printing the report otherwise.
#[track_caller]
pub fn assert_found(report: &Report, rule: &str) {
    assert!(
        report.findings.iter().any(|f| f.rule == rule),
        "{rule} not found; report:\n{}",
        report.render(palisade_audit::Format::Text)
    );
}

/// Asserts that `rule` was not found.
#[track_caller]
pub fn assert_not_found(report: &Report, rule: &str) {
    assert!(
        !report.findings.iter().any(|f| f.rule == rule),
        "{rule} unexpectedly found; report:\n{}",
        report.render(palisade_audit::Format::Text)
    );
}

/// Findings at or above `severity`, as `rule: detail` lines.
pub fn at_or_above(report: &Report, severity: Severity) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity >= severity)
        .map(|f| format!("{} ({}): {}", f.rule, f.severity, f.detail))
        .collect()
}
