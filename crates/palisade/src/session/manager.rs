//! [`SessionManager`]: a user's sessions, listed and revoked.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use super::SessionConfig;
use super::store::{ExpiryCutoff, SessionKey, SessionStore, StoreError, now};

/// Lists and revokes sessions through the per-user index. Cheap to clone.
///
/// Get one from [`SessionLayer::manager`](super::SessionLayer::manager), from
/// [`Session::manager`](super::Session::manager), or by extracting it in a handler behind the
/// layer. Every method takes the user id and acts only on that user's sessions, so a public id
/// from a URL can never reach another user's session.
#[derive(Clone)]
pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    config: Arc<SessionConfig>,
}

/// One of a user's sessions, as shown on an "your sessions" page.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The id to show and to revoke by; see [`SessionKey::public_id`].
    pub public_id: String,
    /// When the session started (or signed in).
    #[serde(serialize_with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last request seen, to within the touch interval.
    #[serde(serialize_with = "rfc3339")]
    pub last_seen: OffsetDateTime,
    /// The client address when the session started.
    pub ip: IpAddr,
    /// The browser's `User-Agent` when the session started (escape it when rendering).
    pub user_agent: String,
    /// True for the session of the request that asked.
    pub current: bool,
}

impl SessionManager {
    /// A manager for `store` with the timeouts of `config`, for code outside a request (a
    /// command-line tool disabling an account, a cleanup job).
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self::from_parts(store, Arc::new(config))
    }

    pub(crate) fn from_parts(store: Arc<dyn SessionStore>, config: Arc<SessionConfig>) -> Self {
        Self { store, config }
    }

    /// The live sessions of `user_id`, oldest first, with `current` marking the one under
    /// `current_key` (pass [`Session::key`](super::Session::key)). Expired sessions that the
    /// cleanup has not removed yet are left out.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn list(
        &self,
        user_id: i64,
        current_key: Option<&SessionKey>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let now = now();
        let records = self.store.list_for_user(user_id).await?;
        Ok(records
            .into_iter()
            .filter(|r| !r.is_expired(now, self.config.idle_timeout, self.config.absolute_timeout))
            .map(|r| SessionInfo {
                public_id: r.key.public_id().to_owned(),
                current: Some(&r.key) == current_key,
                created_at: r.created_at,
                last_seen: r.last_seen,
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// Ends the session of `user_id` whose public id is `public_id`; false when that user has
    /// no such session (another user's public id included).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn revoke(&self, user_id: i64, public_id: &str) -> Result<bool, StoreError> {
        let records = self.store.list_for_user(user_id).await?;
        let Some(record) = records.iter().find(|r| r.key.public_id() == public_id) else {
            return Ok(false);
        };
        let deleted = self.store.delete(&record.key).await?;
        tracing::info!(
            user_id,
            public_id = record.key.public_id(),
            "session revoked"
        );
        Ok(deleted)
    }

    /// Ends every session of `user_id` but the one under `current_key` ("sign out everywhere
    /// else", and after a password change); returns how many ended.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn revoke_others(
        &self,
        user_id: i64,
        current_key: &SessionKey,
    ) -> Result<u64, StoreError> {
        let count = self
            .store
            .delete_for_user(user_id, Some(current_key))
            .await?;
        tracing::info!(user_id, count, "other sessions revoked");
        Ok(count)
    }

    /// Ends every session of `user_id` (password reset, account disabled); returns how many.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn revoke_all(&self, user_id: i64) -> Result<u64, StoreError> {
        let count = self.store.delete_for_user(user_id, None).await?;
        tracing::info!(user_id, count, "all sessions revoked");
        Ok(count)
    }

    /// Deletes every expired record now; returns how many.
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        let cutoff = ExpiryCutoff::at(
            now(),
            self.config.idle_timeout,
            self.config.absolute_timeout,
        );
        self.store.delete_expired(cutoff).await
    }

    /// Starts a background task that calls [`SessionManager::delete_expired`] every `every`
    /// (the first run is immediate). Failures are logged and retried at the next tick. Abort
    /// the returned handle to stop it.
    pub fn spawn_cleanup(&self, every: Duration) -> JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match manager.delete_expired().await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "expired sessions deleted"),
                    Err(err) => {
                        tracing::error!(error = %err, "session cleanup failed; retrying later");
                    }
                }
            }
        })
    }
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionManager {
    type Rejection = (axum::http::StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<SessionManager>().cloned().ok_or((
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "SessionLayer is not installed",
        ))
    }
}

/// Deletes expired records of `store` every `every`, with the timeouts of `config`; the free
/// form of [`SessionManager::spawn_cleanup`].
pub fn spawn_cleanup(
    store: Arc<dyn SessionStore>,
    config: SessionConfig,
    every: Duration,
) -> JoinHandle<()> {
    SessionManager::new(store, config).spawn_cleanup(every)
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    let text = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}
