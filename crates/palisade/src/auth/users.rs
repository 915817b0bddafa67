//! The user table and the security event log.
//!
//! [`UserStore`] keeps accounts in `palisade_users` (migration `0010_users.sql`): the address as
//! typed and its lower-cased key (unique), an argon2id PHC string or nothing, the verification and
//! disabling times, the admin flag, and the TOTP secret with the last accepted step.
//! [`SecurityEvents`] appends to `palisade_security_events` (`0011_security_events.sql`) what a
//! user or an administrator should be able to review: sign-ins, failures, throttling, password and
//! two-factor changes, revoked sessions. Times are Unix seconds (UTC).
//!
//! Never put a password, token, code or secret in an event's detail: the log is shown in pages.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use palisade::auth::email::Email;
//! use palisade::auth::users::{EventKind, NewEvent, SecurityEvents, UserStore};
//!
//! let pool = palisade::db::connect_sqlite_memory().await?;
//! palisade::db::migrate(&pool).await?;
//! let users = UserStore::new(pool.clone());
//! let events = SecurityEvents::new(pool);
//!
//! let bob = users.create(&Email::parse("bob@example.com")?, None).await?;
//! users.mark_verified(bob.id).await?;
//! events
//!     .record(NewEvent::new(EventKind::Verified).user(bob.id).ip("192.0.2.7".parse()?))
//!     .await?;
//!
//! let recent = events.recent(bob.id, 10).await?;
//! assert_eq!(recent[0].kind, EventKind::Verified);
//! assert_eq!(recent[0].ip.as_deref(), Some("192.0.2.7"));
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sqlx::SqlitePool;

use crate::auth::email::Email;
use crate::auth::unix_now;
use crate::db::ReadConnections;

/// The most rows [`UserStore::list`] and the event queries return at once.
pub const MAX_PAGE: u32 = 1000;

/// The longest user agent kept in an event, in characters.
const MAX_USER_AGENT_CHARS: usize = 512;

/// The longest event detail kept, in characters.
const MAX_DETAIL_CHARS: usize = 1024;

/// An account as stored. `Debug` hides the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The account's id.
    pub id: i64,
    /// The address as the user typed it (domain lower-cased).
    pub email: String,
    /// The argon2id PHC string, or `None` when no password is set yet.
    pub password_hash: Option<String>,
    /// When the address was verified.
    pub verified_at: Option<i64>,
    /// When the account was disabled.
    pub disabled_at: Option<i64>,
    /// Whether the user administers the site.
    pub is_admin: bool,
    /// When the account was created.
    pub created_at: i64,
    /// Whether TOTP two-factor authentication is on.
    pub totp_enabled: bool,
}

impl User {
    /// The address has been verified.
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// The account is disabled and must not sign in.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .field("verified_at", &self.verified_at)
            .field("disabled_at", &self.disabled_at)
            .field("is_admin", &self.is_admin)
            .field("created_at", &self.created_at)
            .field("totp_enabled", &self.totp_enabled)
            .finish()
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    password_hash: Option<String>,
    verified_at: Option<i64>,
    disabled_at: Option<i64>,
    is_admin: bool,
    created_at: i64,
    totp_enabled: bool,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            password_hash: row.password_hash,
            verified_at: row.verified_at,
            disabled_at: row.disabled_at,
            is_admin: row.is_admin,
            created_at: row.created_at,
            totp_enabled: row.totp_enabled,
        }
    }
}

/// The columns of [`UserRow`], in order.
const USER_COLUMNS: &str = "id, email, password_hash, verified_at, disabled_at, is_admin, \
     created_at, (totp_secret IS NOT NULL) AS totp_enabled";

/// Why a user operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// An account with this address (in any letter case) exists already.
    #[error("an account with this email address exists already")]
    Duplicate,
    /// No account has this id.
    #[error("no such account")]
    NotFound,
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Accounts in `palisade_users`; see the [module docs](self). Cheap to clone.
#[derive(Clone, Debug)]
pub struct UserStore {
    pool: SqlitePool,
    reads: Option<ReadConnections>,
}

impl UserStore {
    /// A store over `pool`, whose migrations have run ([`crate::db::migrate`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, reads: None }
    }

    /// Looks accounts up by id through `reads` instead of the pool: the signed-in user is
    /// loaded on every request.
    #[must_use]
    pub fn with_reads(mut self, reads: ReadConnections) -> Self {
        self.reads = Some(reads);
        self
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates an unverified, enabled, non-admin account.
    ///
    /// # Errors
    ///
    /// [`UserError::Duplicate`] when the address is taken (in any letter case), and
    /// [`UserError::Db`].
    pub async fn create(
        &self,
        email: &Email,
        password_hash: Option<&str>,
    ) -> Result<User, UserError> {
        let sql = format!(
            "INSERT INTO palisade_users (email, email_key, password_hash, created_at) \
             VALUES (?, ?, ?, ?) RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query_as::<_, UserRow>(&sql)
            .bind(email.as_str())
            .bind(email.key())
            .bind(password_hash)
            .bind(unix_now())
            .fetch_one(&self.pool)
            .await;
        match row {
            Ok(row) => {
                tracing::info!(user_id = row.id, "account created");
                Ok(row.into())
            }
            Err(err) if is_unique_violation(&err) => Err(UserError::Duplicate),
            Err(err) => Err(err.into()),
        }
    }

    /// The account with this address, in any letter case.
    ///
    /// # Errors
    ///
    /// [`UserError::Db`].
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, UserError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM palisade_users WHERE email_key = ?");
        let row = sqlx::query_as::<_, UserRow>(&sql)
            .bind(email.key())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(User::from))
    }

    /// The account with this id.
    ///
    /// # Errors
    ///
    /// [`UserError::Db`].
    pub async fn find_by_id(&self, id: i64) -> Result<Option<User>, UserError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM palisade_users WHERE id = ?");
        let query = sqlx::query_as::<_, UserRow>(&sql).bind(id);
        let row = match &self.reads {
            Some(reads) => query.fetch_optional(&mut *reads.acquire().await?).await?,
            None => query.fetch_optional(&self.pool).await?,
        };
        Ok(row.map(User::from))
    }

    /// Accounts in id order, `limit` (at most [`MAX_PAGE`]) from `offset`.
    ///
    /// # Errors
    ///
    /// [`UserError::Db`].
    pub async fn list(&self, limit: u32, offset: u32) -> Result<Vec<User>, UserError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM palisade_users ORDER BY id LIMIT ? OFFSET ?");
        let rows = sqlx::query_as::<_, UserRow>(&sql)
            .bind(i64::from(limit.clamp(1, MAX_PAGE)))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// How many accounts exist.
    ///
    /// # Errors
    ///
    /// [`UserError::Db`].
    pub async fn count(&self) -> Result<i64, UserError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM palisade_users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Stores a new password hash (a PHC string from [`crate::auth::password::Hasher::hash`]).
    /// Ending the account's other sessions is the caller's job.
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn set_password(&self, id: i64, password_hash: &str) -> Result<(), UserError> {
        self.update(
            id,
            "UPDATE palisade_users SET password_hash = ? WHERE id = ?",
            password_hash,
        )
        .await
    }

    /// Marks the address verified (keeping the first verification time).
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn mark_verified(&self, id: i64) -> Result<(), UserError> {
        self.update(
            id,
            "UPDATE palisade_users SET verified_at = COALESCE(verified_at, ?) WHERE id = ?",
            unix_now(),
        )
        .await
    }

    /// Disables (`true`) or re-enables (`false`) the account.
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn set_disabled(&self, id: i64, disabled: bool) -> Result<(), UserError> {
        let at = disabled.then(unix_now);
        self.update(
            id,
            "UPDATE palisade_users SET disabled_at = ? WHERE id = ?",
            at,
        )
        .await
    }

    /// Grants or removes administration rights.
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn set_admin(&self, id: i64, is_admin: bool) -> Result<(), UserError> {
        self.update(
            id,
            "UPDATE palisade_users SET is_admin = ? WHERE id = ?",
            is_admin,
        )
        .await
    }

    /// Turns TOTP on with `secret` (base32), recording `step` as already used: the code that
    /// confirmed the enrolment cannot be used again. See [`crate::auth::totp`].
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn set_totp(&self, id: i64, secret: &str, step: i64) -> Result<(), UserError> {
        let done = sqlx::query(
            "UPDATE palisade_users SET totp_secret = ?, totp_last_step = ? WHERE id = ?",
        )
        .bind(secret)
        .bind(step)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound);
        }
        Ok(())
    }

    /// Turns TOTP off and deletes the account's recovery codes.
    ///
    /// # Errors
    ///
    /// [`UserError::NotFound`] and [`UserError::Db`].
    pub async fn clear_totp(&self, id: i64) -> Result<(), UserError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE palisade_users SET totp_secret = NULL, totp_last_step = NULL WHERE id = ?",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound);
        }
        sqlx::query("DELETE FROM palisade_recovery_codes WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs an `UPDATE … SET x = ? WHERE id = ?`.
    async fn update<'q, T>(&self, id: i64, sql: &'q str, value: T) -> Result<(), UserError>
    where
        T: sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + 'q,
    {
        let done = sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound);
        }
        Ok(())
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// What happened, in a security event.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A successful sign-in.
    SignInOk,
    /// A sign-in with a wrong password or code.
    SignInFailed,
    /// A sign-in attempt slowed down or asked for a captcha by the throttle.
    Throttled,
    /// The user changed their password.
    PasswordChanged,
    /// The password was reset through an emailed link.
    PasswordReset,
    /// Two-factor authentication was turned on.
    TotpEnabled,
    /// Two-factor authentication was turned off.
    TotpDisabled,
    /// A recovery code was used instead of a TOTP code.
    RecoveryCodeUsed,
    /// One session was ended from the sessions page.
    SessionRevoked,
    /// All other sessions were ended.
    SessionsRevoked,
    /// The account was disabled.
    Disabled,
    /// The account was re-enabled.
    Enabled,
    /// The account was created.
    Registered,
    /// The email address was verified.
    Verified,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::SignInOk,
        Self::SignInFailed,
        Self::Throttled,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::TotpEnabled,
        Self::TotpDisabled,
        Self::RecoveryCodeUsed,
        Self::SessionRevoked,
        Self::SessionsRevoked,
        Self::Disabled,
        Self::Enabled,
        Self::Registered,
        Self::Verified,
    ];

    /// The name stored in the table, such as `sign_in_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInOk => "sign_in_ok",
            Self::SignInFailed => "sign_in_failed",
            Self::Throttled => "throttled",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpDisabled => "totp_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::SessionRevoked => "session_revoked",
            Self::SessionsRevoked => "sessions_revoked",
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::Registered => "registered",
            Self::Verified => "verified",
        }
    }

    /// Whether the event may be an attack in progress (logged at `warn`).
    pub fn is_suspicious(self) -> bool {
        matches!(self, Self::SignInFailed | Self::Throttled)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`EventKind`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown security event kind {0:?}")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// An event to record; built with [`NewEvent::new`] and its setters.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    kind: EventKind,
    user_id: Option<i64>,
    ip: Option<IpAddr>,
    user_agent: Option<&'a str>,
    detail: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event of `kind` about no account in particular.
    pub fn new(kind: EventKind) -> Self {
        Self {
            kind,
            user_id: None,
            ip: None,
            user_agent: None,
            detail: None,
        }
    }

    /// The account concerned.
    pub fn user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The client address (as decided by [`crate::proxy`]).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// The client's `User-Agent` (cut to 512 characters, control characters removed).
    pub fn user_agent(mut self, user_agent: &'a str) -> Self {
        self.user_agent = Some(user_agent);
        self
    }

    /// A short free-text note (cut to 1024 characters). Never a password, token or code.
    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A recorded security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    /// The event's id; later events have larger ids.
    pub id: i64,
    /// The account concerned, if any (and if it still exists).
    pub user_id: Option<i64>,
    /// What happened.
    pub kind: EventKind,
    /// The client address.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The note recorded with it.
    pub detail: Option<String>,
    /// When, in Unix seconds.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    user_id: Option<i64>,
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
    created_at: i64,
}

/// The security event log in `palisade_security_events`; see the [module docs](self). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct SecurityEvents {
    pool: SqlitePool,
    reads: Option<ReadConnections>,
}

impl SecurityEvents {
    /// A log over `pool`, whose migrations have run ([`crate::db::migrate`]).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, reads: None }
    }

    /// Reads a user's recent events through `reads` instead of the pool (an account page
    /// shows them on every visit).
    #[must_use]
    pub fn with_reads(mut self, reads: ReadConnections) -> Self {
        self.reads = Some(reads);
        self
    }

    /// Appends `event` and logs it (at `warn` for [`EventKind::is_suspicious`] kinds).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn record(&self, event: NewEvent<'_>) -> Result<i64, sqlx::Error> {
        let ip = event.ip.map(|ip| ip.to_string());
        let user_agent = event.user_agent.map(|ua| clean(ua, MAX_USER_AGENT_CHARS));
        let detail = event.detail.map(|d| clean(d, MAX_DETAIL_CHARS));
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO palisade_security_events (user_id, kind, ip, user_agent, detail, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(event.user_id)
        .bind(event.kind.as_str())
        .bind(ip.as_deref())
        .bind(user_agent.as_deref())
        .bind(detail.as_deref())
        .bind(unix_now())
        .fetch_one(&self.pool)
        .await?;

        let kind = event.kind.as_str();
        if event.kind.is_suspicious() {
            tracing::warn!(
                event = kind,
                user_id = event.user_id,
                ip = ip.as_deref(),
                "security event"
            );
        } else {
            tracing::info!(
                event = kind,
                user_id = event.user_id,
                ip = ip.as_deref(),
                "security event"
            );
        }
        Ok(id)
    }

    /// The `limit` (at most [`MAX_PAGE`]) latest events of one account, newest first.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn recent(
        &self,
        user_id: i64,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>, sqlx::Error> {
        let query = sqlx::query_as::<_, EventRow>(
            "SELECT id, user_id, kind, ip, user_agent, detail, created_at \
             FROM palisade_security_events WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user_id)
        .bind(i64::from(limit.clamp(1, MAX_PAGE)));
        let rows = match &self.reads {
            Some(reads) => query.fetch_all(&mut *reads.acquire().await?).await?,
            None => query.fetch_all(&self.pool).await?,
        };
        Ok(to_events(rows))
    }

    /// The `limit` (at most [`MAX_PAGE`]) latest events of all accounts, newest first: the
    /// administrator's view.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn recent_all(&self, limit: u32) -> Result<Vec<SecurityEvent>, sqlx::Error> {
        let rows = sqlx::query_as::<_, EventRow>(
            "SELECT id, user_id, kind, ip, user_agent, detail, created_at \
             FROM palisade_security_events ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit.clamp(1, MAX_PAGE)))
        .fetch_all(&self.pool)
        .await?;
        Ok(to_events(rows))
    }
}

/// Rows to events, skipping (and logging) kinds this version does not know.
fn to_events(rows: Vec<EventRow>) -> Vec<SecurityEvent> {
    rows.into_iter()
        .filter_map(|row| match row.kind.parse() {
            Ok(kind) => Some(SecurityEvent {
                id: row.id,
                user_id: row.user_id,
                kind,
                ip: row.ip,
                user_agent: row.user_agent,
                detail: row.detail,
                created_at: row.created_at,
            }),
            Err(UnknownEventKind(kind)) => {
                tracing::warn!(
                    event_id = row.id,
                    kind,
                    "security event of unknown kind skipped"
                );
                None
            }
        })
        .collect()
}

/// `text` without control characters, cut to `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool() -> SqlitePool {
        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        pool
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_created_account_is_found_by_email_in_any_case_and_by_id() {
        let users = UserStore::new(pool().await);
        let bob = users
            .create(&email("Bob@Example.com"), Some("$argon2id$fake"))
            .await
            .unwrap();
        assert_eq!(bob.email, "Bob@example.com");
        assert!(!bob.is_verified() && !bob.is_disabled() && !bob.is_admin && !bob.totp_enabled);

        let by_email = users
            .find_by_email(&email("BOB@example.COM"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_email, bob);
        assert_eq!(users.find_by_id(bob.id).await.unwrap().unwrap(), bob);
        assert!(
            users
                .find_by_email(&email("alice@example.com"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(users.find_by_id(bob.id + 1).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_address_differing_only_in_case_is_a_duplicate() {
        let users = UserStore::new(pool().await);
        users.create(&email("bob@example.com"), None).await.unwrap();
        let again = users.create(&email("BOB@example.com"), None).await;
        assert!(matches!(again, Err(UserError::Duplicate)), "{again:?}");
        assert_eq!(users.count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn password_verification_disabling_and_admin_are_updated() {
        let users = UserStore::new(pool().await);
        let bob = users.create(&email("bob@example.com"), None).await.unwrap();

        users.set_password(bob.id, "$argon2id$new").await.unwrap();
        users.mark_verified(bob.id).await.unwrap();
        users.set_disabled(bob.id, true).await.unwrap();
        users.set_admin(bob.id, true).await.unwrap();
        let updated = users.find_by_id(bob.id).await.unwrap().unwrap();
        assert_eq!(updated.password_hash.as_deref(), Some("$argon2id$new"));
        assert!(updated.is_verified() && updated.is_disabled() && updated.is_admin);

        let first_verified = updated.verified_at;
        users.mark_verified(bob.id).await.unwrap();
        users.set_disabled(bob.id, false).await.unwrap();
        let updated = users.find_by_id(bob.id).await.unwrap().unwrap();
        assert_eq!(updated.verified_at, first_verified);
        assert!(!updated.is_disabled());
    }

    #[tokio::test]
    async fn updating_a_missing_account_is_not_found() {
        let users = UserStore::new(pool().await);
        assert!(matches!(
            users.set_password(42, "x").await,
            Err(UserError::NotFound)
        ));
        assert!(matches!(
            users.mark_verified(42).await,
            Err(UserError::NotFound)
        ));
        assert!(matches!(
            users.set_totp(42, "S", 1).await,
            Err(UserError::NotFound)
        ));
        assert!(matches!(
            users.clear_totp(42).await,
            Err(UserError::NotFound)
        ));
    }

    #[tokio::test]
    async fn totp_is_set_and_cleared_with_its_recovery_codes() {
        let pool = pool().await;
        let users = UserStore::new(pool.clone());
        let bob = users.create(&email("bob@example.com"), None).await.unwrap();
        users
            .set_totp(bob.id, "JBSWY3DPEHPK3PXP", 100)
            .await
            .unwrap();
        assert!(
            users
                .find_by_id(bob.id)
                .await
                .unwrap()
                .unwrap()
                .totp_enabled
        );
        sqlx::query("INSERT INTO palisade_recovery_codes (user_id, code_hash, created_at) VALUES (?, 'h', 0)")
            .bind(bob.id)
            .execute(&pool)
            .await
            .unwrap();

        users.clear_totp(bob.id).await.unwrap();
        assert!(
            !users
                .find_by_id(bob.id)
                .await
                .unwrap()
                .unwrap()
                .totp_enabled
        );
        let codes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM palisade_recovery_codes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(codes, 0);
    }

    #[tokio::test]
    async fn accounts_are_listed_in_pages() {
        let users = UserStore::new(pool().await);
        for i in 0..5 {
            users
                .create(&email(&format!("user{i}@example.com")), None)
                .await
                .unwrap();
        }
        let first = users.list(2, 0).await.unwrap();
        let second = users.list(2, 2).await.unwrap();
        assert_eq!(
            first.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
            ["user0@example.com", "user1@example.com"]
        );
        assert_eq!(second[0].email, "user2@example.com");
        assert_eq!(users.list(100, 4).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn injection_probes_in_addresses_change_nothing() {
        let users = UserStore::new(pool().await);
        let probe = email("x'or'1'='1@example.com");
        users.create(&probe, None).await.unwrap();
        assert_eq!(
            users.find_by_email(&probe).await.unwrap().unwrap().email,
            "x'or'1'='1@example.com"
        );
        assert!(
            users
                .find_by_email(&email("x@example.com"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(users.count().await.unwrap(), 1);
    }

    #[test]
    fn debug_output_hides_the_password_hash() {
        let user = User {
            id: 1,
            email: "bob@example.com".into(),
            password_hash: Some("$argon2id$v=19$secret-hash".into()),
            verified_at: None,
            disabled_at: None,
            is_admin: false,
            created_at: 0,
            totp_enabled: false,
        };
        let text = format!("{user:?}");
        assert!(
            !text.contains("secret-hash") && text.contains("has_password: true"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn events_are_listed_newest_first_per_user_and_for_all() {
        let pool = pool().await;
        let users = UserStore::new(pool.clone());
        let events = SecurityEvents::new(pool);
        let bob = users.create(&email("bob@example.com"), None).await.unwrap();
        let ann = users.create(&email("ann@example.com"), None).await.unwrap();

        events
            .record(NewEvent::new(EventKind::Registered).user(bob.id))
            .await
            .unwrap();
        events
            .record(
                NewEvent::new(EventKind::SignInFailed)
                    .user(bob.id)
                    .ip("2001:db8::1".parse().unwrap())
                    .user_agent("Mozilla/5.0\r\nX-Injected: 1")
                    .detail("wrong password"),
            )
            .await
            .unwrap();
        events
            .record(NewEvent::new(EventKind::SignInOk).user(ann.id))
            .await
            .unwrap();
        events
            .record(NewEvent::new(EventKind::Throttled).ip("192.0.2.1".parse().unwrap()))
            .await
            .unwrap();

        let bobs = events.recent(bob.id, 10).await.unwrap();
        assert_eq!(
            bobs.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::SignInFailed, EventKind::Registered]
        );
        assert_eq!(bobs[0].ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(
            bobs[0].user_agent.as_deref(),
            Some("Mozilla/5.0X-Injected: 1")
        );
        assert_eq!(bobs[0].detail.as_deref(), Some("wrong password"));

        let all = events.recent_all(3).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [
                EventKind::Throttled,
                EventKind::SignInOk,
                EventKind::SignInFailed
            ]
        );
        assert_eq!(all[0].user_id, None);
    }

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert_eq!(EventKind::SessionsRevoked.to_string(), "sessions_revoked");
        assert!("sign_in".parse::<EventKind>().is_err());
    }
}
