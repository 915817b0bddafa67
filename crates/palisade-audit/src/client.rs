//! The HTTP client: scope enforcement, rate limiting, the time budget, and evidence capture.
//!
//! Every request of the audit goes through [`Client::send`], which refuses any URL outside the
//! audited origins before a byte is sent, waits for its slot under `--rate`, and records the
//! exchange so rules can quote it. Redirects are never followed by the HTTP library: callers
//! follow them with [`Client::follow`], which stays on the audited origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::redirect;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::{Origin, Url};

use crate::cookie::Jar;
use crate::error::{AuditError, Result};
use crate::finding::Evidence;
use crate::mask;

/// Largest body kept from a response; the rest is dropped.
const MAX_BODY: usize = 2 * 1024 * 1024;
/// Most requests in flight at once, whatever the rate.
const MAX_IN_FLIGHT: usize = 8;
/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Identifies the audit in the target's logs.
pub(crate) const USER_AGENT: &str = concat!("palisade-audit/", env!("CARGO_PKG_VERSION"));

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: reqwest::Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Body>,
}

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
    /// Any other body, with its content type.
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl Request {
    /// A GET of `url`.
    pub(crate) fn get(url: Url) -> Self {
        Self {
            method: reqwest::Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A POST of form pairs to `url`, with `Origin` and `Referer` as a browser sends them.
    pub(crate) fn post_form(url: Url, referer: &Url, pairs: Vec<(String, String)>) -> Self {
        Self {
            method: reqwest::Method::POST,
            headers: browser_post_headers(&url, referer),
            url,
            body: Some(Body::Form(pairs)),
        }
    }

    /// Adds or replaces a header.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Removes a header.
    pub(crate) fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
}

/// `Origin`, `Referer` and `Sec-Fetch-Site` of a same-origin form submission.
fn browser_post_headers(url: &Url, referer: &Url) -> Vec<(String, String)> {
    vec![
        ("Origin".to_owned(), url.origin().ascii_serialization()),
        ("Referer".to_owned(), referer.to_string()),
        ("Sec-Fetch-Site".to_owned(), "same-origin".to_owned()),
        ("Sec-Fetch-Mode".to_owned(), "navigate".to_owned()),
    ]
}

/// A request and its response, as rules and reports see them.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) method: String,
    pub(crate) url: Url,
    pub(crate) request_headers: Vec<(String, String)>,
    pub(crate) request_body: Option<String>,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Exchange {
    /// First value of a response header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a response header.
    pub(crate) fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The media type, lowercased, without parameters.
    pub(crate) fn media_type(&self) -> String {
        self.header(CONTENT_TYPE.as_str())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// Whether the response is an HTML document.
    pub(crate) fn is_html(&self) -> bool {
        let media = self.media_type();
        media == "text/html" || media == "application/xhtml+xml"
    }

    /// Whether the response is a redirect with a `Location`.
    pub(crate) fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.headers.contains_key(LOCATION)
    }

    /// The redirect target, resolved against the request URL as a browser does.
    pub(crate) fn location(&self) -> Option<Url> {
        let raw = self.header(LOCATION.as_str())?;
        self.url.join(raw).ok()
    }

    /// Evidence quoting the request, the named response headers and a body excerpt around
    /// `needle` (or the start of the body when `needle` is empty or absent).
    pub(crate) fn evidence(&self, response_headers: &[&str], needle: Option<&str>) -> Evidence {
        Evidence {
            request: self.request_text(),
            response: self.response_text(response_headers, needle),
        }
    }

    fn request_text(&self) -> String {
        let mut text = format!("{} {} HTTP/1.1\n", self.method, mask::url_path(&self.url));
        if let Some(host) = self.url.host_str() {
            let port = self.url.port().map(|p| format!(":{p}")).unwrap_or_default();
            text.push_str(&format!("Host: {host}{port}\n"));
        }
        for (name, value) in &self.request_headers {
            text.push_str(&format!("{name}: {}\n", mask::header(name, value)));
        }
        if let Some(body) = &self.request_body {
            text.push('\n');
            text.push_str(&mask::form_pairs(&truncate(body, 600)));
        }
        text.trim_end().to_owned()
    }

    fn response_text(&self, names: &[&str], needle: Option<&str>) -> String {
        let mut text = format!("HTTP/1.1 {}\n", self.status);
        for name in names {
            for value in self.header_all(name) {
                text.push_str(&format!("{name}: {}\n", mask::header(name, value)));
            }
        }
        if let Some(needle) = needle {
            let excerpt = excerpt(&self.body, needle, 160);
            if !excerpt.is_empty() {
                text.push_str("\n…");
                text.push_str(&mask::text(&excerpt));
                text.push('…');
            }
        }
        text.trim_end().to_owned()
    }
}

/// Up to `radius` characters either side of the first occurrence of `needle` (case-insensitive),
/// or the start of `body` when `needle` is empty.
pub(crate) fn excerpt(body: &str, needle: &str, radius: usize) -> String {
    let at = if needle.is_empty() {
        Some(0)
    } else {
        body.to_ascii_lowercase().find(&needle.to_ascii_lowercase())
    };
    let Some(at) = at else {
        return String::new();
    };
    let start = floor_char_boundary(body, at.saturating_sub(radius));
    let end = floor_char_boundary(body, (at + needle.len() + radius).min(body.len()));
    body[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_owned()
    } else {
        format!("{}…", &s[..floor_char_boundary(s, max)])
    }
}

/// Paces requests: one slot every `interval`, shared by all tasks.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) target: Url,
    pub(crate) extra_origins: Vec<Origin>,
    pub(crate) rate_interval: Duration,
    pub(crate) deadline: Instant,
    pub(crate) insecure_tls_ok: bool,
}

/// The audit's HTTP client. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    origins: Vec<Origin>,
    limiter: RateLimiter,
    in_flight: Semaphore,
    deadline: Instant,
    requests: AtomicUsize,
    progress: ProgressBar,
}

impl Client {
    /// Builds the client; the TLS configuration uses the ring provider and, with
    /// `insecure_tls_ok`, accepts any certificate of the target host (and only that host).
    pub(crate) fn new(options: ClientOptions, progress: ProgressBar) -> Result<Self> {
        let host = options.target.host_str().unwrap_or_default().to_owned();
        let tls = tls_config(options.insecure_tls_ok.then_some(host.as_str()), true)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| AuditError::usage(format!("cannot build the HTTP client: {e}")))?;
        let mut origins = vec![options.target.origin()];
        origins.extend(options.extra_origins);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                origins,
                limiter: RateLimiter::new(options.rate_interval),
                in_flight: Semaphore::new(MAX_IN_FLIGHT),
                deadline: options.deadline,
                requests: AtomicUsize::new(0),
                progress,
            }),
        })
    }

    /// Number of requests sent so far.
    pub(crate) fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Whether the time budget is spent.
    pub(crate) fn out_of_time(&self) -> bool {
        Instant::now() >= self.inner.deadline
    }

    /// The progress bar (hidden when stderr is not a terminal).
    pub(crate) fn progress(&self) -> &ProgressBar {
        &self.inner.progress
    }

    /// Waits for a request slot without sending through HTTP (used by raw TLS probes).
    pub(crate) async fn pace(&self) -> Result<()> {
        if self.out_of_time() {
            return Err(AuditError::OutOfTime);
        }
        self.inner.limiter.wait().await;
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.progress.inc(1);
        Ok(())
    }

    /// Whether `url` is inside the audit's scope.
    pub(crate) fn in_scope(&self, url: &Url) -> bool {
        self.inner.origins.contains(&url.origin())
    }

    /// Sends one request with the cookies of `jar` (if any), and stores the cookies the response
    /// sets in `jar`.
    pub(crate) async fn send(&self, request: Request, jar: Option<&Jar>) -> Result<Exchange> {
        if !self.in_scope(&request.url) {
            return Err(AuditError::OutOfScope(request.url.to_string()));
        }
        if self.out_of_time() {
            return Err(AuditError::OutOfTime);
        }
        let _permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| AuditError::OutOfTime)?;
        self.inner.limiter.wait().await;
        if self.out_of_time() {
            return Err(AuditError::OutOfTime);
        }

        let mut request_headers = request.headers.clone();
        let has_cookie = request_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        if let (false, Some(cookie)) = (has_cookie, jar.and_then(Jar::header)) {
            request_headers.push((COOKIE.to_string(), cookie));
        }
        let (body_bytes, body_text, content_type) = match &request.body {
            None => (None, None, None),
            Some(Body::Form(pairs)) => {
                let encoded = form_urlencode(pairs);
                let ct = "application/x-www-form-urlencoded".to_owned();
                (Some(encoded.clone().into_bytes()), Some(encoded), Some(ct))
            }
            Some(Body::Raw {
                content_type,
                bytes,
            }) => {
                let shown = format!("[{} bytes of {content_type}]", bytes.len());
                (Some(bytes.clone()), Some(shown), Some(content_type.clone()))
            }
        };
        if let Some(ct) = &content_type {
            request_headers.push((CONTENT_TYPE.to_string(), ct.clone()));
        }

        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone());
        for (name, value) in &request_headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) else {
                continue;
            };
            builder = builder.header(name, value);
        }
        if let Some(bytes) = body_bytes {
            builder = builder.body(bytes);
        }

        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.progress.inc(1);
        let connection_error = |e: reqwest::Error| AuditError::Connection {
            url: mask::url(&request.url),
            message: error_chain(&e),
        };
        let mut response = builder.send().await.map_err(connection_error)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(connection_error)? {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_BODY {
                body.truncate(MAX_BODY);
                break;
            }
        }
        if let Some(jar) = jar {
            jar.store(&headers);
        }
        Ok(Exchange {
            method: request.method.to_string(),
            url: request.url,
            request_headers,
            request_body: body_text,
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Sends `request` and follows up to five same-origin redirects (303 and 301/302 after a
    /// POST become GETs, as browsers do). Returns every exchange, the final one last.
    pub(crate) async fn follow(
        &self,
        request: Request,
        jar: Option<&Jar>,
    ) -> Result<Vec<Exchange>> {
        let mut chain = Vec::new();
        let mut next = Some(request);
        while let Some(request) = next.take() {
            let exchange = self.send(request.clone(), jar).await?;
            let location = exchange.location().filter(|_| exchange.is_redirect());
            if let Some(location) = location.filter(|l| self.in_scope(l) && chain.len() < 5) {
                let keep_method = matches!(exchange.status, 307 | 308);
                next = Some(if keep_method {
                    Request {
                        url: location,
                        ..request
                    }
                } else {
                    Request::get(location)
                });
            }
            chain.push(exchange);
        }
        Ok(chain)
    }

    /// GETs `url`, following same-origin redirects, and returns the final exchange.
    pub(crate) async fn get_final(&self, url: &Url, jar: Option<&Jar>) -> Result<Exchange> {
        let mut chain = self.follow(Request::get(url.clone()), jar).await?;
        chain
            .pop()
            .ok_or_else(|| AuditError::usage("empty redirect chain"))
    }
}

/// `application/x-www-form-urlencoded` serialisation.
pub(crate) fn form_urlencode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The error and its causes, joined, as the user should see them.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// A rustls client configuration using the ring provider.
///
/// With `insecure_host`, certificates presented for that host are accepted unverified (the
/// handshake signature is still checked); every other host gets normal webpki verification.
/// `alpn` offers HTTP/2 and HTTP/1.1 for the HTTP client.
pub(crate) fn tls_config(insecure_host: Option<&str>, alpn: bool) -> Result<rustls::ClientConfig> {
    tls_config_with(insecure_host, rustls::DEFAULT_VERSIONS, alpn)
}

/// [`tls_config`] restricted to the given protocol versions.
pub(crate) fn tls_config_with(
    insecure_host: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: bool,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| AuditError::usage(format!("TLS setup: {e}")))?;
    let mut config = match insecure_host {
        None => builder.with_root_certificates(roots).with_no_client_auth(),
        Some(host) => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| AuditError::usage(format!("TLS setup: {e}")))?;
            let verifier = TargetHostVerifier {
                host: host.to_owned(),
                webpki,
                provider,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    if alpn {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(config)
}

/// Accepts any certificate for one host (`--insecure-tls-ok`), verifies all others.
#[derive(Debug)]
struct TargetHostVerifier {
    host: String,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for TargetHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = match server_name {
            ServerName::DnsName(dns) => dns.as_ref().to_owned(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        };
        if name.eq_ignore_ascii_case(self.host.trim_start_matches('[').trim_end_matches(']')) {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(target: &str) -> Client {
        let options = ClientOptions {
            target: Url::parse(target).unwrap(),
            extra_origins: Vec::new(),
            rate_interval: Duration::from_millis(1),
            deadline: Instant::now() + Duration::from_secs(60),
            insecure_tls_ok: false,
        };
        Client::new(options, ProgressBar::hidden()).unwrap()
    }

    #[tokio::test]
    async fn requests_outside_the_origin_are_refused_before_sending() {
        let client = client("http://127.0.0.1:9/");
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:10/",
            "https://127.0.0.1:9/",
            "http://evil.example/",
        ] {
            let err = client
                .send(Request::get(Url::parse(url).unwrap()), None)
                .await;
            assert!(matches!(err, Err(AuditError::OutOfScope(_))), "{url}");
        }
        assert_eq!(client.requests(), 0);
    }

    #[test]
    fn evidence_masks_passwords_tokens_and_cookies() {
        let ex = Exchange {
            method: "POST".into(),
            url: Url::parse("http://a.test/login?next=/home&token=abc").unwrap(),
            request_headers: vec![("Cookie".into(), "sid=s3cr3t-value".into())],
            request_body: Some("email=a%40b.test&password=hunter2&csrf_token=t0k3n".into()),
            status: 302,
            headers: HeaderMap::new(),
            body: String::new(),
        };
        let evidence = ex.evidence(&[], None);
        for secret in ["hunter2", "t0k3n", "s3cr3t-value", "abc"] {
            assert!(
                !evidence.request.contains(secret),
                "{secret} in {}",
                evidence.request
            );
        }
        assert!(
            evidence
                .request
                .starts_with("POST /login?next=/home&token=[masked:3] HTTP/1.1")
        );
        assert!(evidence.request.contains("password=[masked]&"));
    }

    #[test]
    fn excerpts_surround_the_needle() {
        let body = "aaaa bbbb NEEDLE cccc dddd";
        assert_eq!(excerpt(body, "needle", 5), "bbbb NEEDLE cccc");
        assert_eq!(excerpt(body, "absent", 5), "");
    }

    #[tokio::test]
    async fn the_rate_limiter_spaces_requests() {
        let limiter = RateLimiter::new(Duration::from_millis(20));
        let start = Instant::now();
        for _ in 0..4 {
            limiter.wait().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(60));
    }
}
