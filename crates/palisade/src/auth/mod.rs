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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::auth::captcha::{self, Captcha, SqlUsedCaptchas};
    use crate::auth::email::Email;
    use crate::auth::password::{Hasher, PasswordParams};
    use crate::auth::tokens::{Subject, TokenKind, TokenStore};
    use crate::auth::totp::{self, TwoFactor};
    use crate::auth::users::{EventKind, NewEvent, SecurityEvents, UserStore};
    use crate::mail::Mailer;
    use crate::ratelimit::{MemoryRateLimiter, Throttle, ThrottleConfig};
    use crate::secret::KeyRing;
    use crate::test_support::CapturedLogs;

    #[tokio::test]
    async fn logs_never_contain_passwords_hashes_tokens_codes_or_mail_bodies() {
        let (logs, _guard) = CapturedLogs::start();

        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let mut secrets: Vec<String> = Vec::new();

        // Passwords and their hashes.
        let hasher = Hasher::new(PasswordParams::new(256, 1, 1).unwrap()).unwrap();
        let password = "tidal quartz lantern fog";
        let phc = hasher.hash(password).await.unwrap();
        hasher.verify("a wrong guess here", &phc).await.unwrap();
        hasher.verify_dummy("a dummy guess here").await;
        let users = UserStore::new(pool.clone());
        let bob = users
            .create(&Email::parse("bob@example.com").unwrap(), Some(&phc))
            .await
            .unwrap();
        secrets.extend([
            password.to_owned(),
            phc.clone(),
            "a wrong guess here".to_owned(),
        ]);
        let salt_and_hash = phc.rsplit('$').next().unwrap().to_owned();
        secrets.push(salt_and_hash);

        // Tokens, used, replayed and mangled.
        let tokens = TokenStore::new(pool.clone());
        let token = tokens
            .issue(
                TokenKind::PasswordReset,
                &Subject::User(bob.id),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        tokens
            .consume(TokenKind::PasswordReset, &token)
            .await
            .unwrap();
        let _ = tokens.consume(TokenKind::PasswordReset, &token).await;
        let mangled = format!("{}x", &token[..42]);
        let _ = tokens.consume(TokenKind::PasswordReset, &mangled).await;
        secrets.extend([token, mangled]);

        // TOTP secrets, codes and recovery codes.
        let two_factor = TwoFactor::new(pool.clone(), "Palisade").unwrap();
        let enrolment = two_factor.enrol("bob@example.com").unwrap();
        let code = totp::code_at(&enrolment.secret, totp::now()).unwrap();
        two_factor
            .confirm(bob.id, &enrolment.secret, &code)
            .await
            .unwrap();
        two_factor.verify(bob.id, &code).await.unwrap();
        let recovery = two_factor.generate_recovery_codes(bob.id).await.unwrap();
        two_factor
            .use_recovery_code(bob.id, &recovery[0])
            .await
            .unwrap();
        two_factor
            .use_recovery_code(bob.id, &recovery[0])
            .await
            .unwrap();
        secrets.push(enrolment.secret.clone());
        secrets.extend(recovery);

        // Captcha solutions, accepted and replayed.
        let keys = KeyRing::generate();
        let captcha = Captcha::new(&keys, SqlUsedCaptchas::new(pool.clone()))
            .with_max_number(1_000)
            .unwrap();
        let field = captcha::solve(&captcha.challenge()).unwrap();
        captcha.verify(Some(&field)).await.unwrap();
        let _ = captcha.verify(Some(&field)).await;
        secrets.push(field);
        secrets.push(keys.to_config_string());

        // Throttling, events and mail.
        let throttle = Throttle::new(MemoryRateLimiter::new(), ThrottleConfig::default());
        let ip = "192.0.2.1".parse().unwrap();
        for _ in 0..6 {
            throttle
                .record_failure("bob@example.com", ip)
                .await
                .unwrap();
        }
        throttle.check("bob@example.com", ip).await.unwrap();
        SecurityEvents::new(pool.clone())
            .record(NewEvent::new(EventKind::SignInFailed).user(bob.id).ip(ip))
            .await
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(data_dir.path(), "noreply@example.com").unwrap();
        let link = "https://files.example.com/reset?token=SECRET-LINK-TOKEN";
        mailer
            .send(&Email::parse("bob@example.com").unwrap(), "Reset", link)
            .await
            .unwrap();
        secrets.push("SECRET-LINK-TOKEN".to_owned());

        let logs = logs.text();
        assert!(
            logs.contains("token consumed") && logs.contains("sign-in throttled"),
            "{logs}"
        );
        assert!(
            logs.contains("TOTP code replayed") && logs.contains("mail sent"),
            "{logs}"
        );
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{secret} leaked into the logs:\n{logs}"
            );
        }
    }
}
