//! Server-side sessions with idle and absolute timeouts together, hashed ids, a per-user index,
//! and no fallback to "anonymous" when the store fails.
//!
//! The browser holds `__Host-palisade=<id>.<tag>`: 32 random bytes (base64url) and their HMAC
//! under the session key of the [`KeyRing`](crate::secret::KeyRing), which any key of the ring
//! verifies, so keys rotate without signing anyone out. The cookie is `Secure; HttpOnly;
//! SameSite=Lax; Path=/` with no `Domain` and no expiry of its own: the server decides when a
//! session ends. The store is keyed by the SHA-256 of the id and never sees the id itself.
//!
//! Per request, [`SessionLayer`]:
//!
//! - reads every value of its cookie across all `Cookie` headers. Values that do not verify are
//!   ignored; if more than one *different* session verifies, none is used (a planted cookie
//!   cannot choose which session a request runs in);
//! - touches the store only when a cookie was presented, or when a handler needs a session:
//!   anonymous pages cost nothing and cannot be used to fill the store;
//! - deletes an expired session (idle longer than [`SessionConfig::idle_timeout`], or older than
//!   [`SessionConfig::absolute_timeout`] however active) and lets the handler know through
//!   [`Session::is_expired_arrival`], so it can say "your session expired" instead of failing a
//!   form silently;
//! - never adopts an id it did not make: a new session always gets a fresh id;
//! - answers `503 Service Unavailable` when the store fails while loading or saving, never
//!   running the request as if the user were signed out;
//! - on the way out saves changed data, writes `last_seen` at most once per
//!   [`SessionConfig::touch_interval`], sets the cookie for new and rotated sessions, clears it
//!   for ended ones (signed out, expired; an unknown cookie is ignored, not deleted), and
//!   marks every response that involved a session `Cache-Control: no-store` and
//!   `Vary: Cookie`.
//!
//! Handlers use the [`Session`] extractor; [`SessionManager`] lists and revokes a user's
//! sessions ("sign out everywhere", password reset, an admin disabling an account).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use axum::{Router, routing::{get, post}};
//! use palisade::secret::{KeyRing, Purpose};
//! use palisade::session::{MemorySessionStore, Session, SessionConfig, SessionLayer};
//!
//! async fn sign_in(session: Session) -> Result<&'static str, palisade::session::StoreError> {
//!     // After checking the password: a new id, so a fixated id is worthless.
//!     session.sign_in(42).await?;
//!     Ok("welcome")
//! }
//!
//! async fn home(session: Session) -> String {
//!     match session.user_id() {
//!         Some(id) => format!("user {id}"),
//!         None if session.is_expired_arrival() => "your session expired".to_owned(),
//!         None => "hello, stranger".to_owned(),
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let keys = KeyRing::generate();
//! let layer = SessionLayer::new(
//!     Arc::new(MemorySessionStore::new()),
//!     keys.signer(Purpose::Session),
//!     SessionConfig::default(),
//! );
//! let _cleanup = layer.manager().spawn_cleanup(std::time::Duration::from_secs(600));
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/login", post(sign_in))
//!     // In a full application the CSRF layer sits inside this one; see `palisade::csrf`.
//!     .layer(layer);
//! # let _ = app;
//! # }
//! ```

mod handle;
mod manager;
mod service;
mod sqlite;
pub(crate) mod store;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

pub use handle::Session;
pub use manager::{SessionInfo, SessionManager, spawn_cleanup};
pub use service::{SessionLayer, SessionService};
pub use sqlite::SqliteSessionStore;
pub use store::{
    ExpiryCutoff, MemorySessionStore, SessionKey, SessionRecord, SessionStore, StoreError,
    USER_AGENT_MAX_CHARS,
};

use crate::secret::Signer;

/// The attributes of the session cookie, identical when setting and deleting it.
pub const COOKIE_ATTRIBUTES: &str = "Secure; HttpOnly; SameSite=Lax; Path=/";

/// Settings of [`SessionLayer`]. `Default` is the strict setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The cookie name; `__Host-palisade` by default. The `__Host-` prefix makes browsers
    /// refuse the cookie unless it is `Secure`, host-only and `Path=/`, so a sibling subdomain
    /// cannot plant one.
    pub cookie_name: String,
    /// A session unused for longer than this ends; 30 minutes by default.
    pub idle_timeout: Duration,
    /// A session ends this long after it started (or after its sign-in), however active;
    /// 12 hours by default.
    pub absolute_timeout: Duration,
    /// How often `last_seen` is written for a session that is only read. `None` (the default)
    /// means the lesser of 60 seconds and a tenth of the idle timeout.
    pub touch_interval: Option<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookie_name: "__Host-palisade".to_owned(),
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            touch_interval: None,
        }
    }
}

impl SessionConfig {
    /// The touch interval in force: [`SessionConfig::touch_interval`], or the lesser of 60
    /// seconds and a tenth of the idle timeout.
    pub fn touch_every(&self) -> Duration {
        self.touch_interval
            .unwrap_or_else(|| Duration::from_secs(60).min(self.idle_timeout / 10))
    }

    /// Checks that the cookie name is a valid cookie token and the timeouts make sense.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.cookie_name.is_empty()
            && self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !name_ok {
            return Err(ConfigError::CookieName(self.cookie_name.clone()));
        }
        if self.idle_timeout.is_zero() || self.absolute_timeout < self.idle_timeout {
            return Err(ConfigError::Timeouts);
        }
        if self.touch_every() >= self.idle_timeout {
            return Err(ConfigError::TouchInterval);
        }
        Ok(())
    }
}

/// Why a [`SessionConfig`] was refused.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The cookie name is not a valid cookie token.
    #[error("session cookie name `{0}` is not a valid cookie name")]
    CookieName(String),
    /// The idle timeout is zero or longer than the absolute timeout.
    #[error("the session idle timeout must be positive and no longer than the absolute timeout")]
    Timeouts,
    /// `last_seen` would be written less often than sessions go idle.
    #[error("the session touch interval must be shorter than the idle timeout")]
    TouchInterval,
}

/// A session id: 32 random bytes, base64url. The cookie carries it; nothing else does.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionId(String);

impl SessionId {
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The id inside a cookie value, when the value is well formed and its tag verifies.
    fn from_cookie(value: &str, signer: &Signer) -> Option<Self> {
        let id = signer.verify_string(value)?;
        let well_formed = id.len() == 43 && URL_SAFE_NO_PAD.decode(id).is_ok_and(|b| b.len() == 32);
        well_formed.then(|| Self(id.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn key(&self) -> SessionKey {
        SessionKey::of_id(&self.0)
    }

    fn cookie_value(&self, signer: &Signer) -> String {
        signer.sign_to_string(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// `Set-Cookie` for the session cookie.
fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; {COOKIE_ATTRIBUTES}")
}

/// `Set-Cookie` that deletes the session cookie: the same attributes, and `Max-Age=0`.
fn delete_cookie(name: &str) -> String {
    format!("{name}=; {COOKIE_ATTRIBUTES}; Max-Age=0")
}

/// Every value of cookie `name` across all `Cookie` headers, in order.
fn cookie_values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for header in headers.get_all(http::header::COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in text.split(';') {
            if let Some((n, v)) = pair.split_once('=')
                && n.trim() == name
            {
                values.push(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    values
}

#[cfg(test)]
mod tests;
