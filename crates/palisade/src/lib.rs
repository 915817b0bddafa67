//! # Palisade: secure-by-default building blocks for axum
//!
//! Each module implements one practice of securing a web application, is usable on its own, and
//! is strict by default. In the order a request meets them:
//!
//! 1. [`https`]: rustls with TLS 1.2 and 1.3 only, a development certificate, and the plain-HTTP
//!    listener that only redirects to the public HTTPS origin.
//! 2. [`proxy`]: the client address, believing forwarding headers only from trusted proxies.
//! 3. [`request_log`]: a request id and one log line per request, with no secrets in it.
//! 4. [`headers`]: HSTS, a strict CSP with a per-response nonce, framing, nosniff, referrer and
//!    permissions policy, COOP/CORP.
//! 5. [`template`] and [`assets`]: autoescaping templates with CSP-nonce and CSRF helpers, and
//!    fingerprinted static files.
//!
//! Underneath them all, [`secret`] holds the key ring: every signature in Palisade uses a key
//! derived for its own purpose from it, and weak keys are refused.
//!
//! ## Escape hatches
//!
//! Weakening a default is always explicit and searchable: [`headers::relax`] replaces a header
//! for the routes it wraps.

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
pub mod upload;
