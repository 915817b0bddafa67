//! Security headers on every response: HSTS, a strict CSP with a fresh nonce per response,
//! framing, nosniff, referrer and permissions policy, COOP and CORP; `Server` and `X-Powered-By`
//! removed.
//!
//! [`SecureHeadersLayer`] goes outermost (inside only the panic catcher and tracing), so that
//! 404s, 405s, 413s, CSRF refusals and error pages carry the same headers as pages.
//!
//! The nonce is in the request extensions as a [`CspNonce`] (also an extractor) for handlers and
//! templates: `<script nonce="{{ csp_nonce }}" src="/static/app.js">`.
//!
//! # Per-route changes
//!
//! A handler or a route layer that sets one of these headers itself wins: the layer only fills in
//! headers the response does not have yet. HSTS is the exception (always the layer's), and
//! `Server`/`X-Powered-By` are always removed. A download route can thus send
//! `Content-Security-Policy: sandbox; default-src 'none'` with [`relax`], which a reviewer finds
//! by name.
//!
//! ```
//! use axum::{Router, routing::get};
//! use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()));
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use tower::{Layer, Service};

/// The path of the built-in CSP violation report endpoint.
pub const CSP_REPORT_PATH: &str = "/csp-report";

/// Every powerful browser feature, switched off. A page that needs one relaxes it per route.
pub const DENY_ALL_PERMISSIONS: &str = "accelerometer=(), autoplay=(), camera=(), \
display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), \
magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

/// HTTP Strict Transport Security settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hsts {
    /// `max-age`; one year by default.
    pub max_age: Duration,
    /// `includeSubDomains`; on by default.
    pub include_subdomains: bool,
    /// `preload`; off unless asked, since preloading is hard to undo.
    pub preload: bool,
}

impl Default for Hsts {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(31_536_000),
            include_subdomains: true,
            preload: false,
        }
    }
}

impl Hsts {
    fn header_value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age.as_secs());
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

/// Settings of [`SecureHeadersLayer`]. `Default` is the strict setup.
#[derive(Clone, Debug)]
pub struct SecureHeadersConfig {
    /// HSTS, sent only when the responses travel over HTTPS. `None` disables it.
    pub hsts: Option<Hsts>,
    /// The CSP directives; `{nonce}` in them becomes `'nonce-…'` of the response's nonce.
    pub csp: String,
    /// Where violation reports go (`report-uri` and `Reporting-Endpoints`); `None` sends none.
    pub csp_report_path: Option<String>,
    /// `X-Frame-Options`.
    pub frame_options: &'static str,
    /// `Referrer-Policy`.
    pub referrer_policy: &'static str,
    /// `Permissions-Policy`.
    pub permissions_policy: String,
    /// `Cross-Origin-Opener-Policy`.
    pub cross_origin_opener_policy: &'static str,
    /// `Cross-Origin-Resource-Policy`.
    pub cross_origin_resource_policy: &'static str,
}

impl Default for SecureHeadersConfig {
    fn default() -> Self {
        Self {
            hsts: Some(Hsts::default()),
            csp: "default-src 'self'; script-src {nonce} 'strict-dynamic'; style-src 'self'; \
                  img-src 'self'; font-src 'self'; connect-src 'self'; worker-src 'self'; object-src 'none'; \
                  base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            csp_report_path: Some(CSP_REPORT_PATH.to_owned()),
            frame_options: "DENY",
            referrer_policy: "strict-origin-when-cross-origin",
            permissions_policy: DENY_ALL_PERMISSIONS.to_owned(),
            cross_origin_opener_policy: "same-origin",
            cross_origin_resource_policy: "same-origin",
        }
    }
}

impl SecureHeadersConfig {
    /// The same policy without HSTS, for plain-HTTP listeners and tests over HTTP.
    pub fn without_hsts(mut self) -> Self {
        self.hsts = None;
        self
    }
}

/// The per-response CSP nonce: 128 random bits, base64. Also an axum extractor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    /// A fresh random nonce.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(STANDARD.encode(bytes).into())
    }

    /// The nonce text, for a `nonce="…"` attribute.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CspNonce>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "SecureHeadersLayer is not installed",
        ))
    }
}

/// Adds the security headers; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct SecureHeadersLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    hsts: Option<HeaderValue>,
    /// The policy up to its `{nonce}`, or all of it when it has none.
    csp_before: String,
    /// The rest after `{nonce}`; `None` when the policy has no nonce.
    csp_after: Option<String>,
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl SecureHeadersLayer {
    /// A layer with the given settings.
    ///
    /// # Panics
    ///
    /// When a configured value is not a valid header value (a control character in it).
    pub fn new(config: SecureHeadersConfig) -> Self {
        let value = |s: &str| HeaderValue::from_str(s).expect("security header values are ASCII");
        let mut csp = config.csp.clone();
        if let Some(path) = &config.csp_report_path {
            csp.push_str(&format!("; report-uri {path}; report-to csp"));
        }
        let (csp_before, csp_after) = match csp.split_once("{nonce}") {
            Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
            None => (csp, None),
        };
        let mut fixed = vec![
            (header::X_FRAME_OPTIONS, value(config.frame_options)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::REFERRER_POLICY, value(config.referrer_policy)),
            (
                HeaderName::from_static("permissions-policy"),
                value(&config.permissions_policy),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                value(config.cross_origin_opener_policy),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                value(config.cross_origin_resource_policy),
            ),
        ];
        if let Some(path) = &config.csp_report_path {
            fixed.push((
                HeaderName::from_static("reporting-endpoints"),
                value(&format!("csp=\"{path}\"")),
            ));
        }
        let hsts = config.hsts.as_ref().map(|h| value(&h.header_value()));
        Self {
            shared: Arc::new(Shared {
                hsts,
                csp_before,
                csp_after,
                fixed,
            }),
        }
    }
}

impl<S> Layer<S> for SecureHeadersLayer {
    type Service = SecureHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecureHeaders {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`SecureHeadersLayer`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct SecureHeaders<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for SecureHeaders<S>
where
    S: Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let nonce = CspNonce::generate();
        req.extensions_mut().insert(nonce.clone());
        let shared = self.shared.clone();
        let future = self.inner.call(req);
        Box::pin(async move {
            let mut response = future.await?;
            shared.apply(&mut response, &nonce);
            Ok(response)
        })
    }
}

impl Shared {
    fn apply(&self, response: &mut Response, nonce: &CspNonce) {
        let headers = response.headers_mut();
        // Room for everything added below at once, instead of growing the map several times.
        headers.reserve(self.fixed.len() + 2);
        headers.remove(header::SERVER);
        headers.remove(&X_POWERED_BY);
        match &self.hsts {
            Some(hsts) => {
                headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
            }
            None => {
                headers.remove(header::STRICT_TRANSPORT_SECURITY);
            }
        }
        if let header::Entry::Vacant(slot) = headers.entry(header::CONTENT_SECURITY_POLICY) {
            let nonce_part = self
                .csp_after
                .as_ref()
                .map_or(0, |after| after.len() + nonce.as_str().len() + 8);
            let mut csp = String::with_capacity(self.csp_before.len() + nonce_part);
            csp.push_str(&self.csp_before);
            if let Some(after) = &self.csp_after {
                csp.push_str("'nonce-");
                csp.push_str(nonce.as_str());
                csp.push('\'');
                csp.push_str(after);
            }
            if let Ok(v) = HeaderValue::from_str(&csp) {
                slot.insert(v);
            }
        }
        // A route that set its own value (see `relax`) keeps it.
        for (name, value) in &self.fixed {
            headers.entry(name).or_insert_with(|| value.clone());
        }
    }
}

/// Frameworks' self-advertisement; never sent.
static X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// A route layer that sets `name: value` on its responses, replacing what
/// [`SecureHeadersLayer`] would add.
///
/// # Security
///
/// This weakens the default policy for the routes it wraps. Keep each use small and explained;
/// reviewers can find every one by searching for `relax(`.
pub fn relax(
    name: HeaderName,
    value: HeaderValue,
) -> tower_http::set_header::SetResponseHeaderLayer<HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::overriding(name, value)
}

/// The CSP report endpoint's handler: accepts `application/csp-report` and
/// `application/reports+json` bodies up to 16 KiB, logs each report as a warning, and answers
/// 204. At most 60 reports a minute are logged, process-wide, so a flood cannot fill the logs.
pub async fn csp_report(body: Bytes) -> Response {
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

    if body.len() > 16 * 1024 {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let minute = START.get_or_init(Instant::now).elapsed().as_secs() / 60;
    if WINDOW.swap(minute, Ordering::Relaxed) != minute {
        COUNT.store(0, Ordering::Relaxed);
    }
    if COUNT.fetch_add(1, Ordering::Relaxed) >= 60 {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let item = report
        .get("csp-report")
        .or_else(|| report.get(0).and_then(|r| r.get("body")));
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| item.and_then(|i| i.get(*n)).and_then(|v| v.as_str()))
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>()
    };
    tracing::warn!(
        directive = %field(&["violated-directive", "effectiveDirective"]),
        blocked = %field(&["blocked-uri", "blockedURL"]),
        document = %field(&["document-uri", "documentURL"]),
        "content security policy violation reported"
    );
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/",
                get(|nonce: CspNonce| async move { format!("nonce={}", nonce.as_str()) }),
            )
            .route(
                "/boom",
                get(|| async {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [("server", "nginx/1.2")],
                        "",
                    )
                }),
            )
            .route(
                "/download",
                get(|| async { "file" }).layer(relax(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("sandbox; default-src 'none'"),
                )),
            )
            .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
    }

    async fn get_path(path: &str) -> Response {
        app()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_header_is_present_on_pages_404s_and_errors() {
        for path in ["/", "/missing", "/boom"] {
            let r = get_path(path).await;
            let h = r.headers();
            assert_eq!(
                h["strict-transport-security"],
                "max-age=31536000; includeSubDomains"
            );
            assert_eq!(h.get_all("strict-transport-security").iter().count(), 1);
            let csp = h["content-security-policy"].to_str().unwrap();
            for directive in [
                "default-src 'self'",
                "'strict-dynamic'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
                "form-action 'self'",
                "report-uri /csp-report",
            ] {
                assert!(
                    csp.contains(directive),
                    "{path}: {directive} missing from {csp}"
                );
            }
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
            assert!(
                h["permissions-policy"]
                    .to_str()
                    .unwrap()
                    .contains("camera=()")
            );
            assert_eq!(h["cross-origin-opener-policy"], "same-origin");
            assert_eq!(h["cross-origin-resource-policy"], "same-origin");
            assert!(h.get("server").is_none());
            assert!(h.get("x-powered-by").is_none());
        }
    }

    #[tokio::test]
    async fn nonce_is_fresh_per_response_and_matches_the_page() {
        let a = get_path("/").await;
        let b = get_path("/").await;
        let nonce_of = |r: &Response| {
            let csp = r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned();
            let start = csp.find("'nonce-").unwrap() + 7;
            csp[start..start + csp[start..].find('\'').unwrap()].to_owned()
        };
        let (na, nb) = (nonce_of(&a), nonce_of(&b));
        assert_ne!(na, nb);
        assert_eq!(STANDARD.decode(&na).unwrap().len(), 16);
        let body = axum::body::to_bytes(a.into_body(), 1024).await.unwrap();
        assert_eq!(body, format!("nonce={na}").as_bytes());
    }

    #[tokio::test]
    async fn relaxed_route_keeps_its_own_csp() {
        let r = get_path("/download").await;
        assert_eq!(
            r.headers()["content-security-policy"],
            "sandbox; default-src 'none'"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn without_hsts_no_hsts_header_is_sent() {
        let app = Router::new()
            .route("/", get(|| async { "x" }))
            .layer(SecureHeadersLayer::new(
                SecureHeadersConfig::default().without_hsts(),
            ));
        let r = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(r.headers().get("strict-transport-security").is_none());
    }

    #[test]
    fn preload_only_when_asked() {
        assert!(!Hsts::default().header_value().contains("preload"));
        let h = Hsts {
            preload: true,
            ..Hsts::default()
        };
        assert_eq!(
            h.header_value(),
            "max-age=31536000; includeSubDomains; preload"
        );
    }
}
