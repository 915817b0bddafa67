//! Two-factor authentication with TOTP (RFC 6238), and single-use recovery codes.
//!
//! - **Codes.** HMAC-SHA-1, 6 digits, 30-second steps, accepting one step of clock drift either
//!   way: the settings every authenticator app supports.
//! - **Enrolment.** [`TwoFactor::enrol`] makes a 160-bit secret and shows it three ways: base32
//!   text, an `otpauth://` URL and a QR code as inline SVG (drawn here: no script, no style, no
//!   external reference). Keep the pending secret on the server side of the session until
//!   [`TwoFactor::confirm`] sees a correct code; only then is it stored.
//! - **No replay.** The last accepted step is stored per user, and a code is accepted only for a
//!   later step, in one `UPDATE … WHERE totp_last_step < ?`: a code seen over a shoulder or
//!   captured by a phishing proxy cannot be used a second time, even concurrently.
//! - **Recovery codes.** Ten codes of the form `xxxxx-xxxxx` (Crockford base32: 50 random bits
//!   each; `i`, `l`, `o` read as `1`, `1`, `0`, dashes and spaces ignored), each usable once. Only
//!   their SHA-256 is stored, in `palisade_recovery_codes`: at 50 bits of randomness a slow hash
//!   adds little, and whoever can read the table can read the TOTP secrets next to it anyway.
//! - **Guessing.** A 6-digit code falls to about a million guesses; count failed codes with
//!   [`crate::ratelimit::Throttle`] like failed passwords.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::email::Email;
//! use palisade::auth::totp::TwoFactor;
//! use palisade::auth::users::UserStore;
//!
//! let pool = palisade::db::connect_sqlite_memory().await?;
//! palisade::db::migrate(&pool).await?;
//! let bob = UserStore::new(pool.clone()).create(&Email::parse("bob@example.com")?, None).await?;
//! let two_factor = TwoFactor::new(pool, "Palisade")?;
//!
//! let enrolment = two_factor.enrol("bob@example.com")?;
//! assert!(enrolment.url.starts_with("otpauth://totp/Palisade:bob%40example.com?"));
//! assert!(enrolment.qr_svg.starts_with("<svg "));
//!
//! // The user scans the code and types what the app shows.
//! let code = palisade::auth::totp::code_at(&enrolment.secret, palisade::auth::totp::now())?;
//! assert!(two_factor.confirm(bob.id, &enrolment.secret, &code).await?);
//! let recovery = two_factor.generate_recovery_codes(bob.id).await?;
//! assert_eq!(recovery.len(), 10);
//!
//! // The confirming code cannot be used again to sign in.
//! assert!(!two_factor.verify(bob.id, &code).await?);
//! assert!(two_factor.use_recovery_code(bob.id, &recovery[0]).await?);
//! assert!(!two_factor.use_recovery_code(bob.id, &recovery[0]).await?);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::fmt;
use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use sqlx::SqlitePool;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::auth::unix_now;
use crate::auth::users::{UserError, UserStore};

/// How many recovery codes a user gets.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Seconds per TOTP step.
const STEP_SECS: u64 = 30;

/// Bytes of TOTP secret (RFC 4226 recommends 160 bits).
const SECRET_BYTES: usize = 20;

/// Crockford's base32 alphabet, lower-case: no `i`, `l`, `o`, `u`.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Characters in a recovery code, without the dash.
const RECOVERY_CHARS: usize = 10;

/// Why a two-factor operation failed. A wrong code is not an error: it is `Ok(false)`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The issuer or account name holds a `:`, or is empty.
    #[error("invalid TOTP issuer or account name: {0}")]
    Name(String),
    /// The stored or pending secret is not valid base32 of the right length.
    #[error("the TOTP secret is malformed")]
    Secret,
    /// The QR code could not be drawn.
    #[error("the QR code could not be drawn: {0}")]
    Qr(String),
    /// The account does not exist.
    #[error("no such account")]
    NotFound,
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<UserError> for TotpError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::Db(err) => Self::Db(err),
            _ => Self::NotFound,
        }
    }
}

/// A new secret and the ways to show it. `Debug` hides the secret and the URL.
#[derive(Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand and for [`TwoFactor::confirm`].
    pub secret: String,
    /// The `otpauth://totp/…` URL that the QR code holds.
    pub url: String,
    /// The QR code as an `<svg>` element to insert into the page as it is.
    pub qr_svg: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

/// TOTP and recovery codes for the accounts in a database; see the [module docs](self). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct TwoFactor {
    pool: SqlitePool,
    issuer: String,
}

impl TwoFactor {
    /// Two-factor over `pool` (migrated), naming the site `issuer` in authenticator apps.
    ///
    /// # Errors
    ///
    /// [`TotpError::Name`] when `issuer` is empty or holds a `:`.
    pub fn new(pool: SqlitePool, issuer: &str) -> Result<Self, TotpError> {
        let issuer = issuer.trim();
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(TotpError::Name(format!("issuer {issuer:?}")));
        }
        Ok(Self {
            pool,
            issuer: issuer.to_owned(),
        })
    }

    /// A fresh secret for `account` (usually the email address) with its URL and QR code.
    ///
    /// # Errors
    ///
    /// [`TotpError::Name`] for an account name with a `:`, and [`TotpError::Qr`].
    pub fn enrol(&self, account: &str) -> Result<Enrolment, TotpError> {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill(&mut bytes);
        self.enrolment(&Secret::from(bytes).to_base32(), account)
    }

    /// The URL and QR code of an existing pending `secret`, for showing the enrolment page again.
    ///
    /// # Errors
    ///
    /// [`TotpError::Secret`], [`TotpError::Name`] and [`TotpError::Qr`].
    pub fn enrolment(&self, secret: &str, account: &str) -> Result<Enrolment, TotpError> {
        if account.is_empty() || account.contains(':') || account.chars().any(char::is_control) {
            return Err(TotpError::Name(format!("account {account:?}")));
        }
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(STEP_SECS)
            .with_skew(1)
            .with_secret(decode_secret(secret)?)
            .with_account_name(account)
            .with_issuer(Some(self.issuer.as_str()))
            .build()
            .map_err(|err| TotpError::Name(err.to_string()))?;
        let url = totp
            .to_url()
            .map_err(|err| TotpError::Name(err.to_string()))?;
        let qr_svg = qr_svg(&url)?;
        Ok(Enrolment {
            secret: secret.to_owned(),
            url,
            qr_svg,
        })
    }

    /// Turns TOTP on for `user_id` with the pending `secret` when `code` is correct for it now.
    /// The step of `code` counts as used. Returns whether it was turned on.
    ///
    /// # Errors
    ///
    /// [`TotpError::Secret`], [`TotpError::NotFound`] and [`TotpError::Db`].
    pub async fn confirm(&self, user_id: i64, secret: &str, code: &str) -> Result<bool, TotpError> {
        let Some(step) = check_code(secret, code, now())? else {
            tracing::info!(user_id, "TOTP enrolment code refused");
            return Ok(false);
        };
        UserStore::new(self.pool.clone())
            .set_totp(user_id, secret, step)
            .await?;
        tracing::info!(user_id, "TOTP enabled");
        Ok(true)
    }

    /// Whether `code` is a correct, unused TOTP code for `user_id` now; a correct code marks
    /// its step used. `false` as well when the account has no TOTP.
    ///
    /// # Errors
    ///
    /// [`TotpError::Secret`] for a corrupt stored secret, and [`TotpError::Db`].
    pub async fn verify(&self, user_id: i64, code: &str) -> Result<bool, TotpError> {
        self.verify_at(user_id, code, now()).await
    }

    async fn verify_at(&self, user_id: i64, code: &str, unix_time: u64) -> Result<bool, TotpError> {
        let secret: Option<Option<String>> =
            sqlx::query_scalar("SELECT totp_secret FROM palisade_users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(Some(secret)) = secret else {
            return Ok(false);
        };
        let Some(step) = check_code(&secret, code, unix_time)? else {
            tracing::info!(user_id, "TOTP code refused");
            return Ok(false);
        };

        let done = sqlx::query(
            "UPDATE palisade_users SET totp_last_step = ? \
             WHERE id = ? AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < ?)",
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            tracing::warn!(user_id, step, "TOTP code replayed");
            return Ok(false);
        }
        Ok(true)
    }

    /// Makes ten new recovery codes for `user_id`, replacing any earlier ones, and returns them
    /// for showing once.
    ///
    /// # Errors
    ///
    /// [`TotpError::NotFound`] and [`TotpError::Db`].
    pub async fn generate_recovery_codes(&self, user_id: i64) -> Result<Vec<String>, TotpError> {
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
            .map(|_| new_recovery_code())
            .collect();
        let now = unix_now();

        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM palisade_users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(TotpError::NotFound);
        }
        sqlx::query("DELETE FROM palisade_recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for code in &codes {
            let canonical = canonical_recovery_code(code).ok_or(TotpError::Secret)?;
            sqlx::query("INSERT INTO palisade_recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)")
                .bind(user_id)
                .bind(hash_recovery_code(&canonical))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(user_id, "recovery codes generated");
        Ok(codes)
    }

    /// Uses up one recovery code of `user_id`. Returns whether it was valid and unused.
    ///
    /// # Errors
    ///
    /// [`TotpError::Db`].
    pub async fn use_recovery_code(&self, user_id: i64, code: &str) -> Result<bool, TotpError> {
        let Some(canonical) = canonical_recovery_code(code) else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE palisade_recovery_codes SET used_at = ? \
             WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        )
        .bind(unix_now())
        .bind(user_id)
        .bind(hash_recovery_code(&canonical))
        .execute(&self.pool)
        .await?;
        let used = done.rows_affected() == 1;
        if used {
            tracing::info!(user_id, "recovery code used");
        } else {
            tracing::info!(user_id, "recovery code refused");
        }
        Ok(used)
    }

    /// How many unused recovery codes `user_id` has left.
    ///
    /// # Errors
    ///
    /// [`TotpError::Db`].
    pub async fn remaining_recovery_codes(&self, user_id: i64) -> Result<i64, TotpError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM palisade_recovery_codes WHERE user_id = ? AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// The current Unix time in seconds, as TOTP counts it.
pub fn now() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}

/// The step (Unix time / 30) whose code `code` is, within one step of `unix_time`, or `None`.
/// Spaces in `code` are ignored.
///
/// # Errors
///
/// [`TotpError::Secret`] when `secret` is not valid base32 of at least 128 bits.
pub fn check_code(secret: &str, code: &str, unix_time: u64) -> Result<Option<i64>, TotpError> {
    let totp = totp(secret)?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(totp
        .check(&code, unix_time)
        .and_then(|step| i64::try_from(step).ok()))
}

/// The code for `secret` at `unix_time`: what an authenticator app shows. For tests and scripts.
///
/// # Errors
///
/// [`TotpError::Secret`] when `secret` is not valid base32 of at least 128 bits.
pub fn code_at(secret: &str, unix_time: u64) -> Result<String, TotpError> {
    Ok(totp(secret)?.generate(unix_time).to_string())
}

fn totp(secret: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_SECS)
        .with_skew(1)
        .with_secret(decode_secret(secret)?)
        .build()
        .map_err(|_| TotpError::Secret)
}

fn decode_secret(secret: &str) -> Result<Secret, TotpError> {
    let secret = Secret::try_from_base32(secret.trim().trim_end_matches('='))
        .map_err(|_| TotpError::Secret)?;
    if secret.as_ref().len() < 16 {
        return Err(TotpError::Secret);
    }
    Ok(secret)
}

/// `text` as a QR code in an `<svg>` element: black modules on white with a four-module quiet
/// zone, 4 pixels per module, and nothing but a `<rect>` and a `<path>` inside.
///
/// # Errors
///
/// [`TotpError::Qr`] when `text` is too long for a QR code.
pub fn qr_svg(text: &str) -> Result<String, TotpError> {
    const QUIET: usize = 4;
    const PIXELS_PER_MODULE: usize = 4;

    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|err| TotpError::Qr(err.to_string()))?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    let pixels = size * PIXELS_PER_MODULE;

    // One rectangle per horizontal run of dark modules.
    let mut path = String::new();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] == Color::Dark {
                x += 1;
            }
            let run = x - start;
            let _ = write!(path, "M{},{}h{run}v1h-{run}z", start + QUIET, y + QUIET);
        }
    }

    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{pixels}\" \
         height=\"{pixels}\" shape-rendering=\"crispEdges\" role=\"img\" \
         aria-label=\"QR code for your authenticator app\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// A random code `xxxxx-xxxxx` of the Crockford alphabet.
fn new_recovery_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..RECOVERY_CHARS)
        .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// The ten significant characters of a typed code: lower-cased, dashes and spaces dropped,
/// `i`/`l` read as `1` and `o` as `0`; `None` when it is not a code.
fn canonical_recovery_code(code: &str) -> Option<String> {
    let canonical: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect();
    let valid = canonical.len() == RECOVERY_CHARS
        && canonical.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then_some(canonical)
}

fn hash_recovery_code(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::email::Email;

    async fn setup() -> (TwoFactor, i64) {
        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let user = UserStore::new(pool.clone())
            .create(&Email::parse("bob@example.com").unwrap(), None)
            .await
            .unwrap();
        (TwoFactor::new(pool, "Palisade Test").unwrap(), user.id)
    }

    /// Enrols `user` with a fresh secret, confirmed by the code of `at`.
    async fn enrolled(two_factor: &TwoFactor, user: i64, at: u64) -> String {
        let enrolment = two_factor.enrol("bob@example.com").unwrap();
        let code = code_at(&enrolment.secret, at).unwrap();
        let step = check_code(&enrolment.secret, &code, at).unwrap().unwrap();
        UserStore::new(two_factor.pool.clone())
            .set_totp(user, &enrolment.secret, step)
            .await
            .unwrap();
        enrolment.secret
    }

    #[tokio::test]
    async fn the_enrolment_url_names_issuer_account_and_secret() {
        let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
        let two_factor = TwoFactor::new(pool, "Palisade").unwrap();
        let enrolment = two_factor.enrol("bob@example.com").unwrap();
        assert_eq!(enrolment.secret.len(), 32);
        assert!(
            enrolment
                .url
                .starts_with("otpauth://totp/Palisade:bob%40example.com?"),
            "{}",
            enrolment.url
        );
        assert!(
            enrolment
                .url
                .contains(&format!("secret={}", enrolment.secret))
        );
        assert!(enrolment.url.contains("issuer=Palisade"));
        assert!(!format!("{enrolment:?}").contains(&enrolment.secret));
    }

    #[tokio::test]
    async fn names_with_a_colon_are_refused() {
        let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
        assert!(matches!(
            TwoFactor::new(pool.clone(), "a:b"),
            Err(TotpError::Name(_))
        ));
        assert!(matches!(
            TwoFactor::new(pool.clone(), " "),
            Err(TotpError::Name(_))
        ));
        let two_factor = TwoFactor::new(pool, "Palisade").unwrap();
        assert!(matches!(two_factor.enrol("bob:x"), Err(TotpError::Name(_))));
    }

    #[test]
    fn the_qr_code_is_a_plain_svg_without_scripts_styles_or_links() {
        let svg = qr_svg(
            "otpauth://totp/Palisade:bob%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Palisade",
        )
        .unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" "));
        assert!(svg.ends_with("</svg>"));
        let lowered = svg.to_lowercase();
        for forbidden in [
            "<script",
            "style",
            "href",
            "<image",
            "<foreignobject",
            "url(",
            " on",
        ] {
            assert!(!lowered.contains(forbidden), "{forbidden} in {svg}");
        }
        // The drawn modules match the encoder's.
        let code = QrCode::with_error_correction_level(b"abc".as_slice(), EcLevel::M).unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        let svg = qr_svg("abc").unwrap();
        let drawn: usize = svg
            .split('h')
            .skip(1)
            .filter_map(|part| part.split('v').next()?.parse::<usize>().ok())
            .sum();
        assert_eq!(drawn, dark);
    }

    #[tokio::test]
    async fn a_code_one_step_early_or_late_is_accepted() {
        let (two_factor, bob) = setup().await;
        let t0 = 1_700_000_000 - (1_700_000_000 % 30);
        let secret = enrolled(&two_factor, bob, t0 - 300).await;
        assert!(
            two_factor
                .verify_at(bob, &code_at(&secret, t0 - 30).unwrap(), t0)
                .await
                .unwrap()
        );
        assert!(
            two_factor
                .verify_at(bob, &code_at(&secret, t0 + 30).unwrap(), t0 + 1)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_code_two_steps_away_is_refused() {
        let (two_factor, bob) = setup().await;
        let t0 = 1_700_000_000 - (1_700_000_000 % 30);
        let secret = enrolled(&two_factor, bob, t0 - 300).await;
        assert!(
            !two_factor
                .verify_at(bob, &code_at(&secret, t0 - 60).unwrap(), t0)
                .await
                .unwrap()
        );
        assert!(
            !two_factor
                .verify_at(bob, &code_at(&secret, t0 + 60).unwrap(), t0)
                .await
                .unwrap()
        );
        assert!(
            two_factor
                .verify_at(bob, &code_at(&secret, t0).unwrap(), t0)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_used_code_is_refused_when_replayed() {
        let (two_factor, bob) = setup().await;
        let t0 = 1_700_000_000 - (1_700_000_000 % 30);
        let secret = enrolled(&two_factor, bob, t0 - 300).await;
        let code = code_at(&secret, t0).unwrap();
        assert!(two_factor.verify_at(bob, &code, t0).await.unwrap());
        assert!(!two_factor.verify_at(bob, &code, t0 + 5).await.unwrap());
        // An older step is refused once a newer one was used.
        let earlier = code_at(&secret, t0 - 30).unwrap();
        assert!(!two_factor.verify_at(bob, &earlier, t0).await.unwrap());
        // The next step works.
        assert!(
            two_factor
                .verify_at(bob, &code_at(&secret, t0 + 30).unwrap(), t0 + 30)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_confirming_code_cannot_sign_in() {
        let (two_factor, bob) = setup().await;
        let enrolment = two_factor.enrol("bob@example.com").unwrap();
        let code = code_at(&enrolment.secret, now()).unwrap();
        assert!(
            !two_factor
                .confirm(bob, &enrolment.secret, "000000x")
                .await
                .unwrap()
        );
        assert!(
            two_factor
                .confirm(bob, &enrolment.secret, &code)
                .await
                .unwrap()
        );
        assert!(!two_factor.verify(bob, &code).await.unwrap());
    }

    #[tokio::test]
    async fn malformed_codes_and_accounts_without_totp_are_refused() {
        let (two_factor, bob) = setup().await;
        assert!(!two_factor.verify(bob, "123456").await.unwrap());
        let secret = enrolled(&two_factor, bob, 1_000_000).await;
        for code in ["", "12345", "1234567", "abcdef", "+12345", "12 34 5"] {
            assert!(!two_factor.verify(bob, code).await.unwrap(), "{code}");
        }
        let spaced = code_at(&secret, now()).unwrap();
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert!(two_factor.verify(bob, &spaced).await.unwrap());
    }

    #[test]
    fn a_malformed_secret_is_an_error() {
        assert!(matches!(
            check_code("not base32!", "123456", 0),
            Err(TotpError::Secret)
        ));
        assert!(matches!(
            check_code("JBSWY3DP", "123456", 0),
            Err(TotpError::Secret)
        ));
    }

    #[tokio::test]
    async fn recovery_codes_are_ten_distinct_single_use_codes() {
        let (two_factor, bob) = setup().await;
        let codes = two_factor.generate_recovery_codes(bob).await.unwrap();
        assert_eq!(codes.len(), 10);
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(
                code.bytes()
                    .all(|b| b == b'-' || RECOVERY_ALPHABET.contains(&b)),
                "{code}"
            );
        }

        assert!(two_factor.use_recovery_code(bob, &codes[3]).await.unwrap());
        assert!(!two_factor.use_recovery_code(bob, &codes[3]).await.unwrap());
        assert_eq!(two_factor.remaining_recovery_codes(bob).await.unwrap(), 9);
    }

    #[tokio::test]
    async fn recovery_codes_are_read_leniently() {
        let (two_factor, bob) = setup().await;
        let codes = two_factor.generate_recovery_codes(bob).await.unwrap();
        let typed = format!(
            " {} ",
            codes[0]
                .to_uppercase()
                .replace('-', " ")
                .replace('1', "l")
                .replace('0', "O")
        );
        assert!(
            two_factor.use_recovery_code(bob, &typed).await.unwrap(),
            "{typed}"
        );
        assert!(
            !two_factor
                .use_recovery_code(bob, "not-a-code")
                .await
                .unwrap()
        );
        assert!(!two_factor.use_recovery_code(bob, "").await.unwrap());
    }

    #[tokio::test]
    async fn new_recovery_codes_replace_the_old_ones() {
        let (two_factor, bob) = setup().await;
        let old = two_factor.generate_recovery_codes(bob).await.unwrap();
        let new = two_factor.generate_recovery_codes(bob).await.unwrap();
        assert!(!two_factor.use_recovery_code(bob, &old[0]).await.unwrap());
        assert!(two_factor.use_recovery_code(bob, &new[0]).await.unwrap());
        assert_eq!(two_factor.remaining_recovery_codes(bob).await.unwrap(), 9);
    }

    #[tokio::test]
    async fn recovery_codes_of_one_user_do_not_work_for_another() {
        let (two_factor, bob) = setup().await;
        let ann = UserStore::new(two_factor.pool.clone())
            .create(&Email::parse("ann@example.com").unwrap(), None)
            .await
            .unwrap();
        let codes = two_factor.generate_recovery_codes(bob).await.unwrap();
        assert!(
            !two_factor
                .use_recovery_code(ann.id, &codes[0])
                .await
                .unwrap()
        );
        assert!(matches!(
            two_factor.generate_recovery_codes(9999).await,
            Err(TotpError::NotFound)
        ));
    }
}
