//! Accounts: the web-independent core that sign-up, sign-in, verification, password reset and
//! two-factor pages are built on.
//!
//! Each submodule does one job and is strict by default:
//!
//! - [`password`]: argon2id hashing (OWASP parameters or stronger) on a bounded thread pool, with
//!   rehash-on-login and a dummy verification of equal cost for unknown accounts;
//! - [`policy`]: the NIST SP 800-63B password rules: length, common and breached lists, a
//!   strength estimate, and no composition rules;
//! - [`email`]: address validation and normalisation, and the registration modes (open, invite,
//!   allowed domains, closed);
//! - [`captcha`]: a self-hosted, ALTCHA-compatible proof of work, and the honeypot field;
//! - [`tokens`]: single-use, expiring, hashed tokens for email verification, password reset and
//!   invitations;
//! - [`totp`]: TOTP two-factor authentication with replay protection and recovery codes;
//! - [`users`]: the user table and the security event log;
//! - [`next`]: `next` redirects that can only stay on this site.
//!
//! Throttling of sign-in attempts lives in [`crate::ratelimit`], and sending mail in
//! [`crate::mail`].
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::email::Email;
//! use palisade::auth::password::{Hasher, PasswordParams};
//! use palisade::auth::users::UserStore;
//!
//! let pool = palisade::db::connect_sqlite_memory().await?;
//! palisade::db::migrate(&pool).await?;
//! let users = UserStore::new(pool);
//! # let params = PasswordParams::new(1024, 1, 1)?;
//! let hasher = Hasher::new(params)?;
//!
//! let email = Email::parse("  Alice@Example.COM ")?;
//! let hash = hasher.hash("correct horse battery staple").await?;
//! let alice = users.create(&email, Some(&hash)).await?;
//!
//! let found = users.find_by_email(&email).await?.expect("just created");
//! assert_eq!(found.id, alice.id);
//! let stored = found.password_hash.as_deref().expect("has a password");
//! assert!(hasher.verify("correct horse battery staple", stored).await?.ok);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

pub mod captcha;
pub mod email;
pub mod next;
pub mod password;
pub mod policy;
pub mod tokens;
pub mod totp;
pub mod users;

/// The current time in whole seconds since the Unix epoch, as stored in every table here.
pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Seconds in `duration`, saturating at `i64::MAX`.
pub(crate) fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
