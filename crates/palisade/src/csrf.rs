//! Cross-site request forgery protection in two layers: where the request comes from, then a
//! token bound to the session.
//!
//! [`CsrfLayer`] checks every request whose method is not `GET`, `HEAD`, `OPTIONS` or `TRACE`
//! (so `POST`, `PUT`, `PATCH`, `DELETE` and any unknown method), on every route, unless the
//! route is on the reviewable [exemption list](CsrfConfig::exemptions). No request shape skips
//! it: not `X-Requested-With`, not a JSON or `text/plain` body, not a `_method` field.
//!
//! **Step 1, origin.** `Sec-Fetch-Site: same-origin` or `none` passes on; `cross-site` and
//! `same-site` fail unless `Origin` is a [trusted origin](CsrfConfig::trust_origin). Then an
//! `Origin` header, when present, must be the public origin or a trusted one; `Origin: null`
//! always fails. A request with neither header is checked by `Referer` when it has one (it must
//! be same-origin, hence HTTPS). A request with none of the three is left to the token alone:
//! every current browser sends `Origin` (and `Sec-Fetch-Site`) on unsafe requests, so such a
//! request cannot be a cross-site browser request, and scripts and command-line clients stay
//! usable.
//!
//! **Step 2, token.** The token is `HMAC(csrf key, session id)`: it needs a session, changes
//! whenever the id does (sign-in, sign-out, [`Session::rotate`]) and never expires on its own
//! while the session lives, so long forms are not lost. Each render masks it with fresh random
//! bytes (BREACH cannot recover it from compressed pages). It is read from the `X-CSRF-Token`
//! header, or from the `csrf_token` field of an `application/x-www-form-urlencoded` body, or
//! from the **first** part of a `multipart/form-data` body (read from the stream, at most
//! 8 KiB, and put back so uploads still stream). Any other body needs the header.
//!
//! A refused request gets `403`. JSON clients get `{"error":"csrf","reason":"…"}`; a form post
//! goes to the application's [`on_rejection`](CsrfLayer::on_rejection) hook with the fields it
//! sent (secrets removed), so the form can be shown again with the input kept and a fresh token.
//!
//! # Example
//!
//! The layers in order, outermost first: client address, security headers, sessions, CSRF.
//!
//! ```
//! use std::sync::Arc;
//!
//! use axum::{Form, Router, routing::get};
//! use palisade::csrf::{CsrfConfig, CsrfLayer, FormContext};
//! use palisade::headers::{SecureHeadersConfig, SecureHeadersLayer};
//! use palisade::proxy::{ClientIpLayer, TrustedProxies};
//! use palisade::secret::{KeyRing, Purpose};
//! use palisade::session::{MemorySessionStore, SessionConfig, SessionLayer};
//! use palisade::template::Templates;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let templates = Templates::from_sources([(
//!     "form.html",
//!     r#"<form method="post">{{ csrf_field() }}<input name="title"></form>"#,
//! )])?;
//!
//! let show = {
//!     let templates = templates.clone();
//!     move |cx: FormContext| async move {
//!         templates.render("form.html", &cx.render_context(), ()).unwrap_or_default()
//!     }
//! };
//! // The handler runs only when the origin and the token checked out.
//! let save = |Form(post): Form<std::collections::HashMap<String, String>>| async move {
//!     format!("saved {}", post.get("title").map_or("", String::as_str))
//! };
//!
//! let keys = KeyRing::generate();
//! let csrf = CsrfConfig::new("https://localhost:8443")?
//!     .trust_origin("https://admin.localhost:8443")?
//!     .exempt(http::Method::POST, "/webhooks/mail", "signed by the mail provider (HMAC header)");
//! let app: Router = Router::new()
//!     .route("/posts/new", get(show).post(save))
//!     .layer(CsrfLayer::new(keys.signer(Purpose::Csrf), csrf))
//!     .layer(SessionLayer::new(
//!         Arc::new(MemorySessionStore::new()),
//!         keys.signer(Purpose::Session),
//!         SessionConfig::default(),
//!     ))
//!     .layer(SecureHeadersLayer::new(SecureHeadersConfig::default()))
//!     .layer(ClientIpLayer::new(TrustedProxies::none()));
//! # let _ = app;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::BytesMut;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use rand::RngCore as _;
use subtle::{Choice, ConstantTimeEq as _};
use tower::{Layer, Service};

use crate::headers::CspNonce;
use crate::secret::Signer;
use crate::session::Session;
use crate::template::RenderContext;

/// The header that carries the token for scripts and API clients.
pub const HEADER_NAME: &str = "x-csrf-token";

/// The form field that carries the token (`csrf_field()` in templates renders it).
pub const FIELD_NAME: &str = "csrf_token";

/// The largest `application/x-www-form-urlencoded` body read for its token, by default.
pub const DEFAULT_FORM_LIMIT: usize = 1024 * 1024;

/// The most bytes read from a multipart body to find the token in its first part.
pub const MULTIPART_PREFIX_LIMIT: usize = 8 * 1024;

/// Field names containing any of these are never handed to the rejection hook.
const SECRET_FIELD_WORDS: &[&str] = &["password", "token", "captcha", "code", "secret", "totp"];

/// The application's hook for refused form posts; see [`CsrfLayer::on_rejection`].
pub type RejectionHook = Arc<dyn Fn(CsrfRejection) -> BoxFuture<'static, Response> + Send + Sync>;

/// Why a [`CsrfConfig`] was refused.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `null` or `*` can never be trusted: any sandboxed page or any site could use them.
    #[error("`{0}` can never be a trusted origin")]
    Wildcard(String),
    /// Not `scheme://host[:port]`.
    #[error("`{0}` is not an origin (scheme://host[:port], nothing after it)")]
    NotAnOrigin(String),
    /// Plain HTTP outside loopback development.
    #[error("`{0}` is not HTTPS; only localhost may use plain HTTP")]
    NotHttps(String),
}

/// One route that is not checked, and why; see [`CsrfConfig::exempt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exemption {
    /// The method.
    pub method: Method,
    /// The exact request path.
    pub path: String,
    /// Why this route is safe without the check, for the reviewer.
    pub reason: String,
}

impl fmt::Display for Exemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}  ({})", self.method, self.path, self.reason)
    }
}

/// Settings of [`CsrfLayer`].
#[derive(Clone, Debug)]
pub struct CsrfConfig {
    public_origin: String,
    trusted_origins: Vec<String>,
    exemptions: Vec<Exemption>,
    form_limit: usize,
}

impl CsrfConfig {
    /// Checks requests against the site's public origin, such as `https://example.com` or
    /// `https://localhost:8443`.
    ///
    /// # Errors
    ///
    /// When `public_origin` is not an HTTPS origin (plain HTTP is allowed for localhost).
    pub fn new(public_origin: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            public_origin: parse_origin(public_origin)?,
            trusted_origins: Vec::new(),
            exemptions: Vec::new(),
            form_limit: DEFAULT_FORM_LIMIT,
        })
    }

    /// Also accepts requests from `origin` (another front end of the same application).
    ///
    /// # Errors
    ///
    /// For `null`, `*`, anything that is not `scheme://host[:port]`, and plain HTTP outside
    /// localhost.
    pub fn trust_origin(mut self, origin: &str) -> Result<Self, ConfigError> {
        let origin = parse_origin(origin)?;
        if !self.trusted_origins.contains(&origin) {
            self.trusted_origins.push(origin);
        }
        Ok(self)
    }

    /// Leaves `method path` (an exact path) unchecked. Every exemption is listed by
    /// [`CsrfConfig::exemptions`] and printed by `palisade routes --csrf-exempt`.
    ///
    /// # Security
    ///
    /// The route must authenticate its requests some other way (a signature, a bearer token
    /// that browsers do not send on their own). A cookie-authenticated route must never be
    /// exempt.
    ///
    /// # Panics
    ///
    /// When `path` does not start with `/` or `reason` is empty: an exemption nobody can review
    /// is a configuration error.
    pub fn exempt(mut self, method: Method, path: &str, reason: &str) -> Self {
        assert!(
            path.starts_with('/'),
            "CSRF exemption path `{path}` must start with `/`"
        );
        assert!(
            !reason.trim().is_empty(),
            "CSRF exemption {method} {path} needs a reason"
        );
        self.exemptions.push(Exemption {
            method,
            path: path.to_owned(),
            reason: reason.trim().to_owned(),
        });
        self
    }

    /// Sets the largest form body read for its token (1 MiB by default); larger ones get 413.
    pub fn form_limit(mut self, bytes: usize) -> Self {
        self.form_limit = bytes;
        self
    }

    /// The routes that are not checked, for review.
    pub fn exemptions(&self) -> &[Exemption] {
        &self.exemptions
    }

    /// The public origin, serialized (`https://example.com`).
    pub fn public_origin(&self) -> &str {
        &self.public_origin
    }

    /// The trusted origins, serialized.
    pub fn trusted_origins(&self) -> &[String] {
        &self.trusted_origins
    }

    fn is_exempt(&self, method: &Method, path: &str) -> bool {
        self.exemptions
            .iter()
            .any(|e| e.method == method && e.path == path)
    }

    fn is_trusted(&self, origin: &str) -> bool {
        self.trusted_origins.iter().any(|o| o == origin)
    }

    fn is_allowed(&self, origin: &str) -> bool {
        origin == self.public_origin || self.is_trusted(origin)
    }
}

/// Why a request was refused. [`CsrfReason::as_str`] is the stable name used in logs and JSON.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrfReason {
    /// `Sec-Fetch-Site` said `cross-site` or `same-site` and `Origin` was not trusted.
    CrossSite,
    /// `Origin` was neither the public origin nor a trusted one.
    OriginMismatch,
    /// `Origin: null` (sandboxed frames, some redirects, `file:` pages).
    NullOrigin,
    /// Without `Origin` and `Sec-Fetch-Site`, `Referer` named another origin.
    RefererMismatch,
    /// The request has no session, so no token can be valid.
    NoSession,
    /// The request's session had expired, so its token is void.
    SessionExpired,
    /// No token in the header or the form.
    TokenMissing,
    /// A token that is not the session's.
    TokenInvalid,
    /// A multipart body whose first part is not the `csrf_token` field.
    MultipartTokenNotFirst,
    /// A form body larger than the limit (answered with 413).
    BodyTooLarge,
    /// A body that could not be read (answered with 400).
    BodyUnreadable,
}

impl CsrfReason {
    /// The reason's stable name: `cross-site`, `origin-mismatch`, `null-origin`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrossSite => "cross-site",
            Self::OriginMismatch => "origin-mismatch",
            Self::NullOrigin => "null-origin",
            Self::RefererMismatch => "referer-mismatch",
            Self::NoSession => "no-session",
            Self::SessionExpired => "session-expired",
            Self::TokenMissing => "token-missing",
            Self::TokenInvalid => "token-invalid",
            Self::MultipartTokenNotFirst => "multipart-token-not-first",
            Self::BodyTooLarge => "body-too-large",
            Self::BodyUnreadable => "body-unreadable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl fmt::Display for CsrfReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused form post, handed to the [`on_rejection`](CsrfLayer::on_rejection) hook.
///
/// `Debug` shows neither the request headers nor the field values.
pub struct CsrfRejection {
    /// The request method.
    pub method: Method,
    /// The request path.
    pub path: String,
    /// Why the request was refused.
    pub reason: CsrfReason,
    /// The urlencoded fields that were sent, without any whose name contains `password`,
    /// `token`, `captcha`, `code`, `secret` or `totp`. Empty for other bodies.
    pub fields: Vec<(String, String)>,
    /// The request head: its extensions hold the [`CspNonce`] and the [`Session`].
    pub parts: Parts,
    shared: Arc<CsrfShared>,
}

impl CsrfRejection {
    /// The response's CSP nonce, when [`SecureHeadersLayer`](crate::headers::SecureHeadersLayer)
    /// runs outside this layer.
    pub fn nonce(&self) -> Option<&CspNonce> {
        self.parts.extensions.get::<CspNonce>()
    }

    /// The request's session handle.
    pub fn session(&self) -> Option<&Session> {
        self.parts.extensions.get::<Session>()
    }

    /// True when the refusal is about where the request came from (another site, a foreign or
    /// `null` origin) rather than about its token.
    pub fn is_cross_origin(&self) -> bool {
        matches!(
            self.reason,
            CsrfReason::CrossSite
                | CsrfReason::OriginMismatch
                | CsrfReason::NullOrigin
                | CsrfReason::RefererMismatch
        )
    }

    /// What a template needs to show the form again: the nonce and a fresh token.
    ///
    /// For a same-origin refusal (an expired session, a stale token) it starts an anonymous
    /// session when there is none, so the next submission can succeed. For a cross-origin
    /// refusal it never starts one: a cross-site post carries no `SameSite=Lax` cookie, and a
    /// new session cookie in the answer would replace the user's real one, signing them out
    /// from another site. The token is then `None`; show a page without a form.
    pub fn render_context(&self) -> RenderContext {
        let cross_origin = self.is_cross_origin();
        let csrf_token = self.session().and_then(|s| {
            if cross_origin && !s.exists() {
                return None;
            }
            s.ensure();
            self.shared.token_for(s)
        });
        RenderContext {
            nonce: self
                .nonce()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            csrf_token,
        }
    }
}

impl fmt::Debug for CsrfRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfRejection")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("reason", &self.reason)
            .field(
                "fields",
                &self.fields.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Checks origins and tokens on unsafe requests; see the [module docs](self).
///
/// Install it inside [`SessionLayer`](crate::session::SessionLayer) (added to the router before
/// it), so it can see the session.
#[derive(Clone)]
pub struct CsrfLayer {
    shared: Arc<CsrfShared>,
}

struct CsrfShared {
    signer: Signer,
    config: CsrfConfig,
    on_rejection: RejectionHook,
}

impl CsrfLayer {
    /// A layer binding tokens with `signer` (use `keys.signer(Purpose::Csrf)`).
    pub fn new(signer: Signer, config: CsrfConfig) -> Self {
        tracing::debug!(
            public_origin = %config.public_origin,
            trusted = config.trusted_origins.len(),
            exemptions = config.exemptions.len(),
            "CSRF layer configured"
        );
        let on_rejection: RejectionHook = Arc::new(|r| Box::pin(default_rejection(r)));
        Self {
            shared: Arc::new(CsrfShared {
                signer,
                config,
                on_rejection,
            }),
        }
    }

    /// Shows refused form posts through `hook` (typically the form again, with
    /// [`CsrfRejection::fields`] filled in and "please submit again"). The status is forced to
    /// 403 whatever the hook returns. JSON clients never reach the hook.
    pub fn on_rejection(self, hook: RejectionHook) -> Self {
        let shared = &self.shared;
        let shared = CsrfShared {
            signer: shared.signer.clone(),
            config: shared.config.clone(),
            on_rejection: hook,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The configuration, for printing the exemptions.
    pub fn config(&self) -> &CsrfConfig {
        &self.shared.config
    }
}

impl fmt::Debug for CsrfLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`CsrfLayer`]; see the [module docs](self).
#[derive(Clone)]
pub struct CsrfService<S> {
    inner: S,
    shared: Arc<CsrfShared>,
}

impl<S: fmt::Debug> fmt::Debug for CsrfService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Service<Request> for CsrfService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        req.extensions_mut().insert(CsrfKeys(shared.clone()));

        let method = req.method().clone();
        if is_safe(&method) {
            return Box::pin(inner.call(req));
        }
        if shared.config.is_exempt(&method, req.uri().path()) {
            tracing::trace!(%method, route = %crate::request_log::loggable_path(req.uri().path()), "CSRF check skipped: exempt route");
            return Box::pin(inner.call(req));
        }

        Box::pin(async move {
            let (parts, body) = req.into_parts();
            match check(&shared, &parts, body).await {
                Ok(body) => inner.call(Request::from_parts(parts, body)).await,
                Err(failure) => Ok(reject(shared, parts, failure).await),
            }
        })
    }
}

/// A masked token for the current session, creating an anonymous session if there is none.
///
/// Use it for forms and for the `X-CSRF-Token` of scripts (render it with `csrf_meta()`).
/// Rejects with 500 when [`CsrfLayer`] or [`SessionLayer`](crate::session::SessionLayer) is
/// missing.
#[derive(Clone)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// The masked token text (base64url, 86 characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (keys, session) = layers(parts)?;
        session.ensure();
        let token = keys.0.token_for(session).ok_or(NOT_INSTALLED)?;
        Ok(Self(token))
    }
}

/// The render context of a page that may show a form: the nonce, and a token only when the
/// request already has a session. Never creates a session, so anonymous pages stay free of
/// store traffic; use [`FormContext`] for pages that always show a form.
#[derive(Clone)]
pub struct PageContext {
    nonce: String,
    csrf_token: Option<String>,
}

impl PageContext {
    /// The context for [`Templates::render`](crate::template::Templates::render).
    pub fn render_context(&self) -> RenderContext {
        RenderContext {
            nonce: self.nonce.clone(),
            csrf_token: self.csrf_token.clone(),
        }
    }
}

impl fmt::Debug for PageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageContext")
            .field("has_token", &self.csrf_token.is_some())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state).await?;
        let csrf_token = match (
            parts.extensions.get::<CsrfKeys>(),
            parts.extensions.get::<Session>(),
        ) {
            (Some(keys), Some(session)) => keys.0.token_for(session),
            _ => None,
        };
        Ok(Self {
            nonce: nonce.as_str().to_owned(),
            csrf_token,
        })
    }
}

/// The render context of a page with a form: the nonce and a token, creating an anonymous
/// session if needed (login and registration forms are protected too).
#[derive(Clone)]
pub struct FormContext {
    nonce: String,
    csrf_token: String,
}

impl FormContext {
    /// The context for [`Templates::render`](crate::template::Templates::render).
    pub fn render_context(&self) -> RenderContext {
        RenderContext {
            nonce: self.nonce.clone(),
            csrf_token: Some(self.csrf_token.clone()),
        }
    }

    /// The masked token.
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl fmt::Debug for FormContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormContext").finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FormContext {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state).await?;
        let token = CsrfToken::from_request_parts(parts, state).await?;
        Ok(Self {
            nonce: nonce.as_str().to_owned(),
            csrf_token: token.0,
        })
    }
}

const NOT_INSTALLED: (StatusCode, &str) = (
    StatusCode::INTERNAL_SERVER_ERROR,
    "CsrfLayer and SessionLayer must both be installed",
);

/// The layer's keys, in every request's extensions for the extractors.
#[derive(Clone)]
struct CsrfKeys(Arc<CsrfShared>);

fn layers(parts: &Parts) -> Result<(&CsrfKeys, &Session), (StatusCode, &'static str)> {
    let keys = parts.extensions.get::<CsrfKeys>().ok_or(NOT_INSTALLED)?;
    let session = parts.extensions.get::<Session>().ok_or(NOT_INSTALLED)?;
    Ok((keys, session))
}

impl CsrfShared {
    /// A freshly masked token for `session`, or `None` without a session.
    fn token_for(&self, session: &Session) -> Option<String> {
        let raw = session.with_raw_id(|id| self.signer.sign(id.as_bytes()))?;
        Some(mask(&raw))
    }
}

/// `base64url(mask || raw XOR mask)` with a fresh random mask.
fn mask(raw: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    rand::rng().fill_bytes(&mut out[..32]);
    for i in 0..32 {
        out[32 + i] = raw[i] ^ out[i];
    }
    URL_SAFE_NO_PAD.encode(out)
}

/// True when the masked `token` unmasks to one of `candidates`. Constant time in the token's
/// content.
fn verify_token(candidates: &[[u8; 32]], token: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(token.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    let mut raw = [0u8; 32];
    for i in 0..32 {
        raw[i] = bytes[i] ^ bytes[32 + i];
    }
    let mut ok = Choice::from(0);
    for candidate in candidates {
        ok |= candidate.ct_eq(&raw);
    }
    bool::from(ok)
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Why a check failed, with what the hook may show.
struct Failure {
    reason: CsrfReason,
    fields: Vec<(String, String)>,
}

impl From<CsrfReason> for Failure {
    fn from(reason: CsrfReason) -> Self {
        Self {
            reason,
            fields: Vec::new(),
        }
    }
}

/// Both steps. On success, returns the body to hand on: the same bytes, re-assembled.
async fn check(shared: &CsrfShared, parts: &Parts, body: Body) -> Result<Body, Failure> {
    if let Err(reason) = check_origin(&shared.config, &parts.headers) {
        // The form comes back with the input kept (secrets removed) here too: a privacy
        // extension or a sandboxed frame can send `Origin: null` for a person's own post.
        let fields = match body_kind(&parts.headers) {
            BodyKind::Form => read_limited(body, shared.config.form_limit)
                .await
                .map(|bytes| form_fields(&bytes).1)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        return Err(Failure { reason, fields });
    }

    let header_token = match parts
        .headers
        .get_all(HEADER_NAME)
        .iter()
        .collect::<Vec<_>>()[..]
    {
        [] => None,
        [one] => Some(String::from_utf8_lossy(one.as_bytes()).into_owned()),
        _ => return Err(CsrfReason::TokenInvalid.into()),
    };

    // Read the form token (and the fields, for the hook) before the session check, so a user
    // whose session expired gets the form back with their input.
    let (body, body_token, fields) = match (&header_token, body_kind(&parts.headers)) {
        (None, BodyKind::Form) => {
            let bytes = read_limited(body, shared.config.form_limit).await?;
            let (token, fields) = form_fields(&bytes);
            (Body::from(bytes), token, fields)
        }
        (None, BodyKind::Multipart(boundary)) => {
            let (token, body) = first_part(body, &boundary).await?;
            (body, Some(token), Vec::new())
        }
        _ => (body, None, Vec::new()),
    };
    let fail = |reason| Failure {
        reason,
        fields: fields.clone(),
    };

    let Some(session) = parts.extensions.get::<Session>() else {
        return Err(fail(CsrfReason::NoSession));
    };
    let Some(candidates) = session.with_raw_id(|id| shared.signer.candidates(id.as_bytes())) else {
        let reason = if session.is_expired_arrival() {
            CsrfReason::SessionExpired
        } else {
            CsrfReason::NoSession
        };
        return Err(fail(reason));
    };
    let Some(token) = header_token.or(body_token) else {
        return Err(fail(CsrfReason::TokenMissing));
    };
    if !verify_token(&candidates, &token) {
        return Err(fail(CsrfReason::TokenInvalid));
    }
    tracing::trace!(method = %parts.method, route = %crate::request_log::loggable_path(parts.uri.path()), "CSRF check passed");
    Ok(body)
}

/// Step 1: `Sec-Fetch-Site`, then `Origin`, then `Referer`.
fn check_origin(config: &CsrfConfig, headers: &HeaderMap) -> Result<(), CsrfReason> {
    let origins: Vec<_> = headers.get_all(header::ORIGIN).iter().collect();
    let origin = match origins[..] {
        [] => None,
        [one] => Some(one.to_str().map_err(|_| CsrfReason::OriginMismatch)?.trim()),
        _ => return Err(CsrfReason::OriginMismatch),
    };
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.as_bytes());

    match fetch_site {
        None | Some(b"same-origin" | b"none") => {}
        // `cross-site`, `same-site`, and any value browsers may add later.
        Some(_) => {
            if !origin.is_some_and(|o| config.is_trusted(o)) {
                return Err(CsrfReason::CrossSite);
            }
        }
    }
    if let Some(origin) = origin {
        return match origin {
            "null" => Err(CsrfReason::NullOrigin),
            o if config.is_allowed(o) => Ok(()),
            _ => Err(CsrfReason::OriginMismatch),
        };
    }
    if fetch_site.is_some() {
        return Ok(());
    }

    // Neither header: an old or non-browser client. A Referer must then be ours.
    let Some(referer) = headers.get(header::REFERER) else {
        return Ok(());
    };
    let referer_origin = referer
        .to_str()
        .ok()
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.origin().ascii_serialization());
    match referer_origin {
        Some(o) if config.is_allowed(&o) => Ok(()),
        _ => Err(CsrfReason::RefererMismatch),
    }
}

enum BodyKind {
    Form,
    Multipart(String),
    Other,
}

fn body_kind(headers: &HeaderMap) -> BodyKind {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return BodyKind::Other;
    };
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "multipart/form-data" => params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .filter(|b| (1..=70).contains(&b.len()))
            .map_or(BodyKind::Other, BodyKind::Multipart),
        _ => BodyKind::Other,
    }
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, CsrfReason> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(CsrfReason::BodyTooLarge)
        }
        Err(_) => Err(CsrfReason::BodyUnreadable),
    }
}

/// The first `csrf_token` value, and every field whose name does not suggest a secret.
fn form_fields(body: &[u8]) -> (Option<String>, Vec<(String, String)>) {
    let mut token = None;
    let mut fields = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == FIELD_NAME {
            token.get_or_insert_with(|| value.into_owned());
            continue;
        }
        let lower = name.to_lowercase();
        if !SECRET_FIELD_WORDS.iter().any(|w| lower.contains(w)) {
            fields.push((name.into_owned(), value.into_owned()));
        }
    }
    (token, fields)
}

/// Reads the first part of a multipart body, which must be the `csrf_token` field, and returns
/// its value with a body that yields exactly the bytes that were sent.
async fn first_part(body: Body, boundary: &str) -> Result<(String, Body), CsrfReason> {
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    let token = loop {
        let done = stream_done(&mut stream, &mut buffer).await?;
        if let Some(token) = parse_first_part(&buffer, boundary, done)? {
            break token;
        }
    };
    let prefix = buffer.freeze();
    let rest =
        futures_util::stream::once(async move { Ok::<_, axum::Error>(prefix) }).chain(stream);
    Ok((token, Body::from_stream(rest)))
}

/// Appends the next chunk to `buffer`; true when the body has ended.
async fn stream_done(
    stream: &mut axum::body::BodyDataStream,
    buffer: &mut BytesMut,
) -> Result<bool, CsrfReason> {
    match stream.next().await {
        Some(Ok(chunk)) => {
            buffer.extend_from_slice(&chunk);
            Ok(false)
        }
        Some(Err(_)) => Err(CsrfReason::BodyUnreadable),
        None => Ok(true),
    }
}

/// The token of a complete first part in `buffer`; `Ok(None)` when more bytes are needed.
fn parse_first_part(
    buffer: &[u8],
    boundary: &str,
    done: bool,
) -> Result<Option<String>, CsrfReason> {
    const NOT_FIRST: CsrfReason = CsrfReason::MultipartTokenNotFirst;
    let window = &buffer[..buffer.len().min(MULTIPART_PREFIX_LIMIT)];
    let need_more = || {
        if done || buffer.len() >= MULTIPART_PREFIX_LIMIT {
            Err(NOT_FIRST)
        } else {
            Ok(None)
        }
    };

    let opening = format!("--{boundary}\r\n");
    if window.len() < opening.len() {
        return if opening.as_bytes().starts_with(window) {
            need_more()
        } else {
            Err(NOT_FIRST)
        };
    }
    if !window.starts_with(opening.as_bytes()) {
        return Err(NOT_FIRST);
    }
    let rest = &window[opening.len()..];
    let Some(head_end) = find(rest, b"\r\n\r\n") else {
        return need_more();
    };
    let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| NOT_FIRST)?;
    if !is_token_field(head) {
        return Err(NOT_FIRST);
    }
    let value = &rest[head_end + 4..];
    let closing = format!("\r\n--{boundary}");
    let Some(value_end) = find(value, closing.as_bytes()) else {
        return need_more();
    };
    let token = std::str::from_utf8(&value[..value_end]).map_err(|_| CsrfReason::TokenInvalid)?;
    Ok(Some(token.to_owned()))
}

/// True when a part's headers say `Content-Disposition: form-data; name="csrf_token"` with no
/// file name.
fn is_token_field(head: &str) -> bool {
    let mut disposition = None;
    for line in head.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            if disposition.is_some() {
                return false;
            }
            disposition = Some(value.trim());
        }
    }
    let Some(disposition) = disposition else {
        return false;
    };
    let mut params = disposition.split(';').map(str::trim);
    if !params
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("form-data"))
    {
        return false;
    }
    let mut named = false;
    for param in params {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => named = value.trim().trim_matches('"') == FIELD_NAME,
            "filename" | "filename*" => return false,
            _ => {}
        }
    }
    named
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn reject(shared: Arc<CsrfShared>, parts: Parts, failure: Failure) -> Response {
    let Failure { reason, fields } = failure;
    // Runs before routing, so there is no route template: a reset or share token in the path
    // must not reach the log.
    let route = crate::request_log::loggable_path(parts.uri.path());
    tracing::warn!(reason = reason.as_str(), method = %parts.method, route = %route, "CSRF check refused the request");

    let status = reason.status();
    if status != StatusCode::FORBIDDEN {
        return (status, reason.as_str().to_owned()).into_response();
    }
    if wants_json(&parts.headers) {
        let body = serde_json::json!({ "error": "csrf", "reason": reason.as_str() });
        return (status, axum::Json(body)).into_response();
    }

    let hook = shared.on_rejection.clone();
    let rejection = CsrfRejection {
        method: parts.method.clone(),
        path: route,
        reason,
        fields,
        parts,
        shared,
    };
    let mut response = hook(rejection).await;
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn wants_json(headers: &HeaderMap) -> bool {
    let has_json = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"))
    };
    has_json(header::ACCEPT) || has_json(header::CONTENT_TYPE)
}

/// The default page for a refused form: self-contained, no script, status 403.
async fn default_rejection(rejection: CsrfRejection) -> Response {
    let expired = rejection.reason == CsrfReason::SessionExpired;
    let lead = if expired {
        "Your session expired before this form was sent."
    } else {
        "This form could not be verified."
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Form not accepted</title></head><body><h1>Form not accepted</h1>\
         <p>{lead} Go back, reload the page and submit it again.</p></body></html>"
    );
    (
        StatusCode::FORBIDDEN,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response()
}

/// Parses and serializes an origin, refusing wildcards, paths and plain HTTP outside localhost.
fn parse_origin(text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    if matches!(text, "null" | "*") || text.contains('*') {
        return Err(ConfigError::Wildcard(text.to_owned()));
    }
    let not_origin = || ConfigError::NotAnOrigin(text.to_owned());
    let url = url::Url::parse(text).map_err(|_| not_origin())?;
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && !text.trim_end_matches('/').ends_with('?');
    if !bare || !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(not_origin());
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "http" && !loopback {
        return Err(ConfigError::NotHttps(text.to_owned()));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{KeyRing, Purpose};

    fn config() -> CsrfConfig {
        CsrfConfig::new("https://localhost:8443")
            .unwrap()
            .trust_origin("https://admin.example.com")
            .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn origins_are_normalized_and_wildcards_paths_and_plain_http_refused() {
        assert_eq!(
            CsrfConfig::new("https://Example.COM:443/")
                .unwrap()
                .public_origin(),
            "https://example.com"
        );
        assert_eq!(
            CsrfConfig::new("http://localhost:8080")
                .unwrap()
                .public_origin(),
            "http://localhost:8080"
        );
        let c = CsrfConfig::new("https://a.example").unwrap();
        for bad in ["null", "*", "https://*.example.com"] {
            assert!(
                matches!(c.clone().trust_origin(bad), Err(ConfigError::Wildcard(_))),
                "{bad}"
            );
        }
        for bad in [
            "example.com",
            "https://example.com/path",
            "https://u@example.com",
            "https://example.com/?q",
            "ftp://example.com",
            "",
        ] {
            assert!(
                matches!(
                    c.clone().trust_origin(bad),
                    Err(ConfigError::NotAnOrigin(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            c.trust_origin("http://example.com"),
            Err(ConfigError::NotHttps(_))
        ));
    }

    #[test]
    fn exemptions_are_listed_for_review() {
        let c = config().exempt(
            Method::POST,
            "/webhooks/mail",
            "HMAC-signed by the provider",
        );
        assert_eq!(c.exemptions().len(), 1);
        assert_eq!(
            c.exemptions()[0].to_string(),
            "POST /webhooks/mail  (HMAC-signed by the provider)"
        );
        assert!(c.is_exempt(&Method::POST, "/webhooks/mail"));
        assert!(!c.is_exempt(&Method::PUT, "/webhooks/mail"));
        assert!(!c.is_exempt(&Method::POST, "/webhooks/mail/"));
    }

    #[test]
    #[should_panic(expected = "needs a reason")]
    fn an_exemption_without_a_reason_is_refused() {
        let _ = config().exempt(Method::POST, "/x", " ");
    }

    #[test]
    fn masked_tokens_differ_per_render_and_verify_under_any_ring_key() {
        let old = KeyRing::generate();
        let raw = old.signer(Purpose::Csrf).sign(b"session-id");
        let (a, b) = (mask(&raw), mask(&raw));
        assert_ne!(a, b);
        assert_eq!(a.len(), 86);
        let rotated =
            KeyRing::from_keys(vec![KeyRing::generate_key_string(), old.to_config_string()])
                .unwrap();
        let candidates = rotated.signer(Purpose::Csrf).candidates(b"session-id");
        assert!(verify_token(&candidates, &a) && verify_token(&candidates, &b));
        let other_session = rotated.signer(Purpose::Csrf).candidates(b"other-id");
        assert!(!verify_token(&other_session, &a));
        // The session purpose key makes no CSRF token.
        let wrong_purpose = mask(&old.signer(Purpose::Session).sign(b"session-id"));
        assert!(!verify_token(&candidates, &wrong_purpose));
        for junk in ["", "abc", &a[..85], &format!("{a}A"), "!!!!"] {
            assert!(!verify_token(&candidates, junk), "{junk}");
        }
    }

    #[test]
    fn the_origin_step_follows_fetch_metadata_then_origin_then_referer() {
        use CsrfReason::*;
        let c = config();
        type Case<'a> = (&'a [(&'static str, &'a str)], Result<(), CsrfReason>);
        let cases: &[Case<'_>] = &[
            (&[("sec-fetch-site", "same-origin")], Ok(())),
            (&[("sec-fetch-site", "none")], Ok(())),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://localhost:8443"),
                ],
                Ok(()),
            ),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://evil.example"),
                ],
                Err(OriginMismatch),
            ),
            (&[("sec-fetch-site", "cross-site")], Err(CrossSite)),
            (
                &[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "https://sub.localhost:8443"),
                ],
                Err(CrossSite),
            ),
            (
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://admin.example.com"),
                ],
                Ok(()),
            ),
            (&[("sec-fetch-site", "something-new")], Err(CrossSite)),
            (&[("origin", "https://localhost:8443")], Ok(())),
            (&[("origin", "https://admin.example.com")], Ok(())),
            (&[("origin", "https://evil.example")], Err(OriginMismatch)),
            (&[("origin", "http://localhost:8443")], Err(OriginMismatch)),
            (&[("origin", "null")], Err(NullOrigin)),
            (
                &[
                    ("origin", "https://localhost:8443"),
                    ("origin", "https://evil.example"),
                ],
                Err(OriginMismatch),
            ),
            (&[("referer", "https://localhost:8443/form?x=1")], Ok(())),
            (
                &[("referer", "http://localhost:8443/form")],
                Err(RefererMismatch),
            ),
            (
                &[("referer", "https://evil.example/")],
                Err(RefererMismatch),
            ),
            (&[("referer", "not a url")], Err(RefererMismatch)),
            (&[], Ok(())),
        ];
        for (pairs, expected) in cases {
            assert_eq!(check_origin(&c, &headers(pairs)), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn form_fields_keep_input_but_drop_anything_secret() {
        let (token, fields) =
            form_fields(b"title=Hi+there&csrf_token=t1&password=p&new_Password=p&totp_code=1&api_secret=s&Captcha=c&csrf_token=t2&body=x%26y");
        assert_eq!(token.as_deref(), Some("t1"));
        assert_eq!(
            fields,
            vec![
                ("title".into(), "Hi there".into()),
                ("body".into(), "x&y".into())
            ]
        );
    }

    #[test]
    fn the_first_multipart_part_is_found_across_chunk_boundaries() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nTOKEN\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\nDATA\r\n--XyZ--\r\n";
        let end = body.len();
        for cut in 1..end {
            let partial = parse_first_part(&body[..cut], "XyZ", false);
            match partial {
                Ok(Some(token)) => {
                    assert_eq!(token, "TOKEN");
                    assert!(cut >= 69, "found too early at {cut}");
                }
                Ok(None) => assert!(cut < 75),
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
    }

    #[test]
    fn a_multipart_body_whose_first_part_is_not_the_token_is_refused() {
        let not_first =
            b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nx\r\n--b\r\n";
        let file_named = b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"; filename=\"t\"\r\n\r\nx\r\n--b\r\n";
        let preamble = b"hello\r\n--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nx\r\n--b\r\n";
        let truncated = b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nx";
        for body in [&not_first[..], file_named, preamble] {
            assert_eq!(
                parse_first_part(body, "b", false),
                Err(CsrfReason::MultipartTokenNotFirst)
            );
        }
        assert_eq!(parse_first_part(truncated, "b", false), Ok(None));
        assert_eq!(
            parse_first_part(truncated, "b", true),
            Err(CsrfReason::MultipartTokenNotFirst)
        );
        let endless = [
            b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n".as_slice(),
            &[b'a'; 9000],
        ]
        .concat();
        assert_eq!(
            parse_first_part(&endless, "b", false),
            Err(CsrfReason::MultipartTokenNotFirst)
        );
    }

    #[test]
    fn content_types_decide_where_the_token_may_be() {
        let kind = |ct: &str| body_kind(&headers(&[("content-type", ct)]));
        assert!(matches!(
            kind("application/x-www-form-urlencoded; charset=UTF-8"),
            BodyKind::Form
        ));
        assert!(
            matches!(kind("Multipart/Form-Data; boundary=\"abc\""), BodyKind::Multipart(b) if b == "abc")
        );
        assert!(matches!(kind("multipart/form-data"), BodyKind::Other));
        for other in [
            "application/json",
            "text/plain",
            "multipart/mixed; boundary=a",
        ] {
            assert!(matches!(kind(other), BodyKind::Other), "{other}");
        }
    }
}

#[cfg(test)]
mod layer_tests {
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;
    use crate::secret::{KeyRing, Purpose};
    use crate::session::{MemorySessionStore, SessionConfig, SessionLayer};
    use crate::test_support::CapturedLogs;

    /// A cross-site post carries no `SameSite=Lax` cookie; if showing the refused form started
    /// a session, its cookie would replace the user's real one and sign them out from another
    /// site.
    #[tokio::test]
    async fn a_cross_site_refusal_never_starts_a_session() {
        let keys = KeyRing::generate();
        let hook: RejectionHook = Arc::new(|rejection: CsrfRejection| {
            Box::pin(async move {
                let cx = rejection.render_context();
                assert!(rejection.is_cross_origin());
                assert!(cx.csrf_token.is_none());
                "refused".into_response()
            })
        });
        let store = Arc::new(MemorySessionStore::new());
        let app = Router::new()
            .route("/logout", post(|| async { "signed out" }))
            .layer(
                CsrfLayer::new(
                    keys.signer(Purpose::Csrf),
                    CsrfConfig::new("https://localhost:8443").unwrap(),
                )
                .on_rejection(hook),
            )
            .layer(SessionLayer::new(
                store.clone(),
                keys.signer(Purpose::Session),
                SessionConfig::default(),
            ));
        let req = Request::post("/logout")
            .header("sec-fetch-site", "cross-site")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("a=b"))
            .unwrap();
        let r = app.oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get(header::SET_COOKIE).is_none());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_refusal_is_logged_with_reason_method_and_route_but_never_the_token() {
        let (logs, _guard) = CapturedLogs::start();

        let keys = KeyRing::generate();
        let app = Router::new()
            .route("/form", get_token())
            .route("/save", post(|| async { "saved" }))
            .layer(CsrfLayer::new(
                keys.signer(Purpose::Csrf),
                CsrfConfig::new("https://localhost:8443").unwrap(),
            ))
            .layer(SessionLayer::new(
                Arc::new(MemorySessionStore::new()),
                keys.signer(Purpose::Session),
                SessionConfig::default(),
            ));

        let r = app
            .clone()
            .oneshot(Request::get("/form").body(Body::empty()).unwrap())
            .await;
        let r = r.unwrap();
        let cookie = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let cookie = cookie.to_owned();
        let token = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        let token = String::from_utf8(token.to_vec()).unwrap();

        // A cross-site attempt carrying a real token (say, leaked through a referrer).
        let req = Request::post("/save")
            .header(header::COOKIE, &cookie)
            .header("sec-fetch-site", "cross-site")
            .header(HEADER_NAME, &token)
            .body(Body::empty())
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        assert!(String::from_utf8_lossy(&page).contains("could not be verified"));

        // A form post with a tampered token.
        let first = if token.starts_with('A') { "B" } else { "A" };
        let tampered = format!("csrf_token={first}{}&title=x", &token[1..]);
        let req = Request::post("/save")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(tampered))
            .unwrap();
        assert_eq!(
            app.oneshot(req).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );

        let logs = logs.text();
        assert!(
            logs.contains("reason=\"cross-site\"") || logs.contains("reason=cross-site"),
            "{logs}"
        );
        assert!(
            logs.contains("method=POST") && logs.contains("route=/save"),
            "{logs}"
        );
        assert!(logs.contains("token-invalid"), "{logs}");
        let session_id = cookie.split_once('=').unwrap().1.split_once('.').unwrap().0;
        assert!(!logs.contains(&token) && !logs.contains(&token[..20]));
        assert!(!logs.contains(session_id));
    }

    fn get_token() -> axum::routing::MethodRouter {
        axum::routing::get(|t: CsrfToken| async move { t.as_str().to_owned() })
    }
}
