//! Single-use, expiring tokens for the links that mail sends: email verification (24 hours),
//! password reset (1 hour) and invitations (7 days).
//!
//! A token is 32 random bytes in base64url (43 characters), given to the user once, inside a
//! link. The table `palisade_tokens` (migration `0012_tokens.sql`) stores only its SHA-256, so a
//! leaked database holds no usable link. [`TokenStore::consume`] marks a token used in the same
//! statement that checks it is unused and unexpired (`UPDATE … WHERE used_at IS NULL AND
//! expires_at > now RETURNING …`): two concurrent requests with one token cannot both succeed.
//!
//! A token belongs to an account ([`Subject::User`]) or, for an invitation, to an address
//! ([`Subject::Email`]). When a reset succeeds, [`TokenStore::revoke`] withdraws the account's
//! other reset links.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::tokens::{Subject, TokenError, TokenKind, TokenStore};
//!
//! let pool = palisade::db::connect_sqlite_memory().await?;
//! palisade::db::migrate(&pool).await?;
//! let tokens = TokenStore::new(pool);
//!
//! let kind = TokenKind::Invite;
//! let invite = tokens.issue(kind, &Subject::Email("new@example.com".into()), kind.default_ttl()).await?;
//! // … sent as https://site.example/register?invite=<token> …
//! assert_eq!(tokens.consume(kind, &invite).await?, Subject::Email("new@example.com".into()));
//! assert_eq!(tokens.consume(kind, &invite).await, Err(TokenError::Used));
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::SqlitePool;

use crate::auth::{secs, unix_now};

/// How many random bytes a token carries.
const TOKEN_BYTES: usize = 32;

/// What a token is for. A token of one kind is unknown to every other kind.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Confirms that the user receives mail at their address.
    EmailVerification,
    /// Lets the user set a new password.
    PasswordReset,
    /// Lets an invited address register.
    Invite,
}

impl TokenKind {
    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::Invite => "invite",
        }
    }

    /// The usual lifetime: 24 hours, 1 hour and 7 days.
    pub fn default_ttl(self) -> Duration {
        match self {
            Self::EmailVerification => Duration::from_secs(24 * 3600),
            Self::PasswordReset => Duration::from_secs(3600),
            Self::Invite => Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom a token was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An account.
    User(i64),
    /// An address without an account yet (invitations). Compare it with the address the
    /// registering user gives.
    Email(String),
}

/// Why a token was refused. Show the user one message for all of them ("this link is invalid or
/// has expired"), and let the log tell them apart.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No token was given.
    #[error("no token was given")]
    Empty,
    /// No token of this kind has this value.
    #[error("the token is unknown")]
    Unknown,
    /// The token's lifetime has passed.
    #[error("the token has expired")]
    Expired,
    /// The token was used already.
    #[error("the token was used already")]
    Used,
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl PartialEq for TokenError {
    /// Equal variants, with any two database errors unequal.
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Empty, Self::Empty)
                | (Self::Unknown, Self::Unknown)
                | (Self::Expired, Self::Expired)
                | (Self::Used, Self::Used)
        )
    }
}

/// `user_id, email, used_at, expires_at` of one token.
type PeekRow = (Option<i64>, Option<String>, Option<i64>, i64);

/// Tokens in `palisade_tokens`; see the [module docs](self). Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenStore {
    pool: SqlitePool,
}

#[derive(sqlx::FromRow)]
struct SubjectRow {
    user_id: Option<i64>,
    email: Option<String>,
}

impl TokenStore {
    /// A store over `pool`, whose migrations have run ([`crate::db::migrate`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Makes a token of `kind` for `subject`, valid for `ttl`, and returns it. The token is
    /// shown once: only its hash is kept.
    ///
    /// # Errors
    ///
    /// When the database fails (including for a [`Subject::User`] that does not exist).
    pub async fn issue(
        &self,
        kind: TokenKind,
        subject: &Subject,
        ttl: Duration,
    ) -> Result<String, sqlx::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);

        let now = unix_now();
        let (user_id, email) = match subject {
            Subject::User(id) => (Some(*id), None),
            Subject::Email(email) => (None, Some(email.as_str())),
        };
        sqlx::query(
            "INSERT INTO palisade_tokens (kind, token_hash, user_id, email, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(kind.as_str())
        .bind(hash(&bytes))
        .bind(user_id)
        .bind(email)
        .bind(now.saturating_add(secs(ttl)))
        .bind(now)
        .execute(&self.pool)
        .await?;

        tracing::debug!(
            kind = kind.as_str(),
            user_id,
            ttl_secs = ttl.as_secs(),
            "token issued"
        );
        Ok(token)
    }

    /// Uses up `token` as a token of `kind`, returning whom it was issued for.
    ///
    /// # Errors
    ///
    /// [`TokenError::Empty`] for an empty token, [`TokenError::Unknown`] for one that is
    /// malformed, never issued or of another kind, [`TokenError::Expired`], [`TokenError::Used`],
    /// and [`TokenError::Db`].
    pub async fn consume(&self, kind: TokenKind, token: &str) -> Result<Subject, TokenError> {
        self.consume_at(kind, token, unix_now()).await
    }

    /// Whom a token is valid for, without using it up: for forms that check a link before
    /// the action that consumes it (an invitation before the account exists).
    ///
    /// # Errors
    ///
    /// As [`TokenStore::consume`].
    pub async fn peek(&self, kind: TokenKind, token: &str) -> Result<Subject, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        let Some(bytes) = decode(token) else {
            return Err(TokenError::Unknown);
        };
        let row: Option<PeekRow> = sqlx::query_as(
            "SELECT user_id, email, used_at, expires_at FROM palisade_tokens \
             WHERE token_hash = ? AND kind = ?",
        )
        .bind(hash(&bytes))
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Err(TokenError::Unknown),
            Some((_, _, Some(_), _)) => Err(TokenError::Used),
            Some((_, _, None, expires)) if expires <= unix_now() => Err(TokenError::Expired),
            Some((Some(id), _, None, _)) => Ok(Subject::User(id)),
            Some((None, Some(email), None, _)) => Ok(Subject::Email(email)),
            Some((None, None, None, _)) => Err(TokenError::Unknown),
        }
    }

    async fn consume_at(
        &self,
        kind: TokenKind,
        token: &str,
        now: i64,
    ) -> Result<Subject, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        let Some(bytes) = decode(token) else {
            tracing::debug!(kind = kind.as_str(), "malformed token refused");
            return Err(TokenError::Unknown);
        };
        let token_hash = hash(&bytes);

        let row = sqlx::query_as::<_, SubjectRow>(
            "UPDATE palisade_tokens SET used_at = ? \
             WHERE token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ? \
             RETURNING user_id, email",
        )
        .bind(now)
        .bind(&token_hash)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            tracing::debug!(
                kind = kind.as_str(),
                user_id = row.user_id,
                "token consumed"
            );
            return match (row.user_id, row.email) {
                (Some(id), _) => Ok(Subject::User(id)),
                (None, Some(email)) => Ok(Subject::Email(email)),
                (None, None) => Err(TokenError::Unknown),
            };
        }

        // Refused: find out why, for the log and the caller.
        let state: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT used_at, expires_at FROM palisade_tokens WHERE token_hash = ? AND kind = ?",
        )
        .bind(&token_hash)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let err = match state {
            Some((Some(_), _)) => TokenError::Used,
            Some((None, _)) => TokenError::Expired,
            None => TokenError::Unknown,
        };
        tracing::info!(kind = kind.as_str(), reason = %err, "token refused");
        Err(err)
    }

    /// Withdraws every unused token of `kind` for `subject`, as after a successful password
    /// reset or when a newer link replaces older ones. Returns how many were withdrawn.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn revoke(&self, kind: TokenKind, subject: &Subject) -> Result<u64, sqlx::Error> {
        let now = unix_now();
        let done = match subject {
            Subject::User(id) => {
                sqlx::query(
                    "UPDATE palisade_tokens SET used_at = ? WHERE kind = ? AND user_id = ? AND used_at IS NULL",
                )
                .bind(now)
                .bind(kind.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?
            }
            Subject::Email(email) => {
                sqlx::query(
                    "UPDATE palisade_tokens SET used_at = ? WHERE kind = ? AND email = ? AND used_at IS NULL",
                )
                .bind(now)
                .bind(kind.as_str())
                .bind(email)
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected())
    }

    /// Deletes tokens that expired more than `keep` ago. Returns how many were deleted.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn purge_expired(&self, keep: Duration) -> Result<u64, sqlx::Error> {
        self.purge_before(unix_now().saturating_sub(secs(keep)))
            .await
    }

    async fn purge_before(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM palisade_tokens WHERE expires_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// The 32 bytes of a well-formed token.
fn decode(token: &str) -> Option<[u8; TOKEN_BYTES]> {
    if token.len() != 43 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(token).ok()?.try_into().ok()
}

/// The stored form: hex SHA-256 of the token's bytes.
fn hash(bytes: &[u8; TOKEN_BYTES]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::email::Email;
    use crate::auth::users::UserStore;

    async fn setup() -> (TokenStore, i64, SqlitePool) {
        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let user = UserStore::new(pool.clone())
            .create(&Email::parse("bob@example.com").unwrap(), None)
            .await
            .unwrap();
        (TokenStore::new(pool.clone()), user.id, pool)
    }

    #[tokio::test]
    async fn a_token_is_43_url_safe_characters_and_only_its_hash_is_stored() {
        let (tokens, bob, pool) = setup().await;
        let token = tokens
            .issue(
                TokenKind::EmailVerification,
                &Subject::User(bob),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );

        let stored: String = sqlx::query_scalar("SELECT token_hash FROM palisade_tokens")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&token));
        assert_eq!(
            stored,
            hex::encode(Sha256::digest(URL_SAFE_NO_PAD.decode(&token).unwrap()))
        );
    }

    #[tokio::test]
    async fn a_token_is_consumed_once_and_refused_the_second_time() {
        let (tokens, bob, _) = setup().await;
        let kind = TokenKind::PasswordReset;
        let token = tokens
            .issue(kind, &Subject::User(bob), kind.default_ttl())
            .await
            .unwrap();
        assert_eq!(
            tokens.consume(kind, &token).await.unwrap(),
            Subject::User(bob)
        );
        assert_eq!(tokens.consume(kind, &token).await, Err(TokenError::Used));
    }

    #[tokio::test]
    async fn concurrent_consumption_succeeds_exactly_once() {
        let (tokens, bob, _) = setup().await;
        let kind = TokenKind::PasswordReset;
        let token = tokens
            .issue(kind, &Subject::User(bob), kind.default_ttl())
            .await
            .unwrap();
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (tokens, token) = (tokens.clone(), token.clone());
                tokio::spawn(async move { tokens.consume(kind, &token).await })
            })
            .collect();
        let mut ok = 0;
        for attempt in attempts {
            if attempt.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 1);
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let (tokens, bob, _) = setup().await;
        let kind = TokenKind::EmailVerification;
        let token = tokens
            .issue(kind, &Subject::User(bob), Duration::from_secs(3600))
            .await
            .unwrap();
        let later = unix_now() + 3600;
        assert_eq!(
            tokens.consume_at(kind, &token, later).await,
            Err(TokenError::Expired)
        );
        // One second before the end it still works.
        assert_eq!(
            tokens.consume_at(kind, &token, later - 2).await.unwrap(),
            Subject::User(bob)
        );

        let instant = tokens
            .issue(kind, &Subject::User(bob), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            tokens.consume(kind, &instant).await,
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn an_empty_token_is_refused_as_empty() {
        let (tokens, _, _) = setup().await;
        assert_eq!(
            tokens.consume(TokenKind::Invite, "").await,
            Err(TokenError::Empty)
        );
        assert_eq!(
            tokens.consume(TokenKind::Invite, "  ").await,
            Err(TokenError::Empty)
        );
    }

    #[tokio::test]
    async fn unknown_and_malformed_tokens_are_refused_as_unknown() {
        let (tokens, _, _) = setup().await;
        let never_issued = URL_SAFE_NO_PAD.encode([7u8; 32]);
        for token in [
            never_issued.as_str(),
            "short",
            "' OR 1=1 --",
            &"A".repeat(44),
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(
                tokens.consume(TokenKind::PasswordReset, token).await,
                Err(TokenError::Unknown),
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_of_one_kind_is_unknown_to_another() {
        let (tokens, bob, _) = setup().await;
        let token = tokens
            .issue(
                TokenKind::EmailVerification,
                &Subject::User(bob),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(
            tokens.consume(TokenKind::PasswordReset, &token).await,
            Err(TokenError::Unknown)
        );
        assert!(
            tokens
                .consume(TokenKind::EmailVerification, &token)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn invitations_belong_to_an_address() {
        let (tokens, _, _) = setup().await;
        let subject = Subject::Email("new@example.com".into());
        let token = tokens
            .issue(TokenKind::Invite, &subject, TokenKind::Invite.default_ttl())
            .await
            .unwrap();
        assert_eq!(
            tokens.consume(TokenKind::Invite, &token).await.unwrap(),
            subject
        );
    }

    #[tokio::test]
    async fn revoking_withdraws_only_that_subjects_tokens_of_that_kind() {
        let (tokens, bob, _) = setup().await;
        let reset = TokenKind::PasswordReset;
        let a = tokens
            .issue(reset, &Subject::User(bob), reset.default_ttl())
            .await
            .unwrap();
        let b = tokens
            .issue(reset, &Subject::User(bob), reset.default_ttl())
            .await
            .unwrap();
        let verify = tokens
            .issue(
                TokenKind::EmailVerification,
                &Subject::User(bob),
                Duration::from_secs(60),
            )
            .await
            .unwrap();

        assert_eq!(tokens.revoke(reset, &Subject::User(bob)).await.unwrap(), 2);
        assert_eq!(tokens.consume(reset, &a).await, Err(TokenError::Used));
        assert_eq!(tokens.consume(reset, &b).await, Err(TokenError::Used));
        assert!(
            tokens
                .consume(TokenKind::EmailVerification, &verify)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn expired_tokens_are_purged() {
        let (tokens, bob, _) = setup().await;
        tokens
            .issue(
                TokenKind::PasswordReset,
                &Subject::User(bob),
                Duration::ZERO,
            )
            .await
            .unwrap();
        let live = tokens
            .issue(
                TokenKind::PasswordReset,
                &Subject::User(bob),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        // Nothing expired more than a day ago yet.
        assert_eq!(
            tokens
                .purge_expired(Duration::from_secs(86_400))
                .await
                .unwrap(),
            0
        );
        assert_eq!(tokens.purge_before(unix_now() + 1).await.unwrap(), 1);
        assert!(
            tokens
                .consume(TokenKind::PasswordReset, &live)
                .await
                .is_ok()
        );
    }

    #[test]
    fn default_lifetimes_match_the_practice() {
        assert_eq!(
            TokenKind::EmailVerification.default_ttl(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            TokenKind::PasswordReset.default_ttl(),
            Duration::from_secs(3_600)
        );
        assert_eq!(
            TokenKind::Invite.default_ttl(),
            Duration::from_secs(604_800)
        );
    }
}
