//! # Palisade: secure-by-default building blocks for axum
//!
//! Each module implements one practice of securing a web application, is usable on its own, and
//! is strict by default. In the order a request meets them:
//!
//! 1. [`https`] and [`server`]: rustls with TLS 1.2 and 1.3 only, a development certificate, the
//!    plain-HTTP listener that only redirects to the public HTTPS origin, graceful shutdown.
//! 2. [`proxy`]: the client address, believing forwarding headers only from trusted proxies.
//! 3. [`request_log`]: a request id and one log line per request, with no secrets in it.
//! 4. [`headers`]: HSTS, a strict CSP with a per-response nonce, framing, nosniff, referrer and
//!    permissions policy, COOP/CORP, on every response including errors.
//! 5. [`session`]: server-side sessions in `__Host-` cookies, idle and absolute timeouts, id
//!    rotation, real sign-out, a per-user index to list and revoke sessions; fails closed.
//! 6. [`csrf`]: Origin and Fetch-Metadata checks, then a session-bound, per-render masked token
//!    on every unsafe method, with a reviewable list of exemptions.
//! 7. [`auth`]: argon2id passwords, a NIST-style policy, registration modes, email
//!    verification and reset tokens, a self-hosted proof-of-work captcha, TOTP with recovery
//!    codes, safe `next` redirects and a security event log; [`ratelimit`] throttles sign-in
//!    and registration, [`mail`] sends through SMTP or a file outbox.
//! 8. [`upload`]: streaming multipart with limits enforced while reading, type by content,
//!    safe display names, atomic storage under random names, safe download responses.
//! 9. [`template`] and [`assets`]: autoescaping templates with CSP-nonce and CSRF helpers, and
//!    fingerprinted static files.
//!
//! Underneath them all, [`secret`] holds the key ring: every signature in Palisade uses a key
//! derived for its own purpose from it, and weak keys are refused. [`db`] opens the embedded
//! SQLite database and runs the toolkit's migrations; every query binds its values.
//!
//! ## Escape hatches
//!
//! Weakening a default is always explicit and searchable:
//! - [`headers::relax`] replaces a security header for the routes it wraps;
//! - [`csrf::CsrfConfig::exempt`] exempts one method and path from CSRF checks, with a reason
//!   that `palisade routes --csrf-exempt` prints for review;
//! - [`csrf::CsrfConfig::trust_origin`] accepts unsafe requests from another origin.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assets;
pub mod auth;
pub mod csrf;
pub mod db;
pub mod headers;
pub mod https;
pub mod mail;
pub mod proxy;
pub mod ratelimit;
pub mod request_log;
pub mod secret;
pub mod server;
pub mod session;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod text;
pub mod upload;
