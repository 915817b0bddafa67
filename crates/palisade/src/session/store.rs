//! Where sessions live: the [`SessionStore`] trait, its record, and the in-memory store.
//!
//! A store never sees a session id. Records are keyed by [`SessionKey`], the SHA-256 of the id,
//! so a leaked table or backup holds nothing that can be replayed as a cookie. Stores know
//! nothing of timeouts either: the layer decides expiry from its [`SessionConfig`] and tells the
//! store what to delete through an [`ExpiryCutoff`].
//!
//! [`SessionConfig`]: super::SessionConfig

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// The most characters of a `User-Agent` that a record keeps.
pub const USER_AGENT_MAX_CHARS: usize = 200;

/// The key of a session record: the lower-case hex SHA-256 of the session id.
///
/// Knowing a key does not let anyone build a cookie, but it is still an internal handle: show
/// users [`SessionKey::public_id`] instead. `Debug` prints only the public id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    /// The key of the session whose id (the text before the `.` in the cookie) is `id`.
    pub(crate) fn of_id(id: &str) -> Self {
        Self(hex::encode(Sha256::digest(id.as_bytes())))
    }

    /// A key read back from a store: exactly 64 lower-case hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Self(text.to_owned()))
    }

    /// The 64 hex digits, for a store's primary key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 16 hex digits: safe to show and to put in URLs such as
    /// `/account/sessions/{public_id}/revoke`, useless for taking over the session.
    pub fn public_id(&self) -> &str {
        &self.0[..16]
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({}…)", self.public_id())
    }
}

/// One stored session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// SHA-256 of the session id.
    pub key: SessionKey,
    /// The signed-in user, or `None` for an anonymous session.
    pub user_id: Option<i64>,
    /// The application's values.
    pub data: Map<String, Value>,
    /// When the session started (or, after a sign-in, when the user signed in).
    pub created_at: OffsetDateTime,
    /// The last request seen, written at most once per touch interval.
    pub last_seen: OffsetDateTime,
    /// The client address when the session started.
    pub ip: IpAddr,
    /// The client's `User-Agent` when the session started, at most
    /// [`USER_AGENT_MAX_CHARS`] characters.
    pub user_agent: String,
}

impl SessionRecord {
    /// A fresh anonymous record created now.
    pub(crate) fn new(key: SessionKey, ip: IpAddr, user_agent: &str) -> Self {
        let now = now();
        Self {
            key,
            user_id: None,
            data: Map::new(),
            created_at: now,
            last_seen: now,
            ip,
            user_agent: user_agent.chars().take(USER_AGENT_MAX_CHARS).collect(),
        }
    }

    /// True when the record has been idle longer than `idle`, or lived longer than `absolute`
    /// whatever its activity.
    pub fn is_expired(&self, now: OffsetDateTime, idle: Duration, absolute: Duration) -> bool {
        ExpiryCutoff::at(now, idle, absolute).covers(self)
    }
}

/// Which records are expired: those last seen before `last_seen_before`, and those created
/// before `created_before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryCutoff {
    /// Records last seen before this instant have been idle too long.
    pub last_seen_before: OffsetDateTime,
    /// Records created before this instant have reached their absolute lifetime.
    pub created_before: OffsetDateTime,
}

impl ExpiryCutoff {
    /// The cutoff at `now` for the given idle and absolute timeouts.
    pub fn at(now: OffsetDateTime, idle: Duration, absolute: Duration) -> Self {
        Self {
            last_seen_before: now - idle,
            created_before: now - absolute,
        }
    }

    /// True when `record` is expired under this cutoff.
    pub fn covers(&self, record: &SessionRecord) -> bool {
        record.last_seen < self.last_seen_before || record.created_at < self.created_before
    }
}

/// Why a store operation failed. The layer answers 503 to the request and never falls back to
/// treating it as anonymous.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend (database, network) failed.
    #[error("session store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be read back.
    #[error("session record is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
}

/// A handler may return a `StoreError` with `?`: the answer is a bare 503 that shows nothing of
/// the error (the layer has logged it, and turns the response into its own 503 page anyway).
impl axum::response::IntoResponse for StoreError {
    fn into_response(self) -> axum::response::Response {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "session store unavailable",
        )
            .into_response()
    }
}

/// A place to keep session records.
///
/// Implementations must be safe to call concurrently. Every method is one operation on the
/// backend; none of them decides expiry (the caller does, with [`ExpiryCutoff`]).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The record stored under `key`, expired or not.
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Stores `record`, replacing any record with the same key.
    async fn save(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Replaces the record with `record`'s key only if it still exists, and says whether it did.
    /// A session revoked while a request was running is thus never brought back by that
    /// request's save.
    async fn update(&self, record: &SessionRecord) -> Result<bool, StoreError>;

    /// Sets `last_seen` of the record under `key`, if it exists; says whether it did.
    async fn touch(&self, key: &SessionKey, last_seen: OffsetDateTime) -> Result<bool, StoreError>;

    /// Deletes the record under `key`; says whether there was one.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Every record of `user_id`, expired or not, oldest first.
    async fn list_for_user(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes every record of `user_id` except the one under `except`; returns how many.
    async fn delete_for_user(
        &self,
        user_id: i64,
        except: Option<&SessionKey>,
    ) -> Result<u64, StoreError>;

    /// Deletes every record that `cutoff` covers; returns how many.
    async fn delete_expired(&self, cutoff: ExpiryCutoff) -> Result<u64, StoreError>;
}

/// A store in process memory, for tests and examples. Records vanish with the process.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    records: Mutex<HashMap<SessionKey, SessionRecord>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records the store holds, expired or not.
    pub fn len(&self) -> usize {
        self.records().len()
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, SessionRecord>> {
        // A panic while holding the lock cannot leave a half-written record: every operation
        // below is a single map call.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.records().get(key).cloned())
    }

    async fn save(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.records().insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn update(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        Ok(match self.records().get_mut(&record.key) {
            Some(stored) => {
                *stored = record.clone();
                true
            }
            None => false,
        })
    }

    async fn touch(&self, key: &SessionKey, last_seen: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self
            .records()
            .get_mut(key)
            .map(|r| r.last_seen = last_seen)
            .is_some())
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.records().remove(key).is_some())
    }

    async fn list_for_user(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let mut list: Vec<SessionRecord> = self
            .records()
            .values()
            .filter(|r| r.user_id == Some(user_id))
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(list)
    }

    async fn delete_for_user(
        &self,
        user_id: i64,
        except: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let mut records = self.records();
        let before = records.len();
        records.retain(|key, r| r.user_id != Some(user_id) || Some(key) == except);
        Ok((before - records.len()) as u64)
    }

    async fn delete_expired(&self, cutoff: ExpiryCutoff) -> Result<u64, StoreError> {
        let mut records = self.records();
        let before = records.len();
        records.retain(|_, r| !cutoff.covers(r));
        Ok((before - records.len()) as u64)
    }
}

/// The current time, to the millisecond: what every store can keep exactly.
pub(crate) fn now() -> OffsetDateTime {
    truncate_to_millis(OffsetDateTime::now_utc())
}

pub(crate) fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.unix_timestamp_nanos();
    OffsetDateTime::from_unix_timestamp_nanos(nanos - nanos.rem_euclid(1_000_000)).unwrap_or(t)
}

/// The shared behaviour every [`SessionStore`] must show. `session_store_suite!(name, expr)`
/// makes a test module `name` whose tests each build a fresh store with `expr` (an async block
/// yielding something that derefs to a store).
#[cfg(test)]
macro_rules! session_store_suite {
    ($suite:ident, $make:expr) => {
        mod $suite {
            use std::time::Duration;

            use serde_json::json;

            use super::*;
            use $crate::session::store::{
                ExpiryCutoff, SessionKey, SessionRecord, SessionStore, now,
            };

            fn record(id: &str, user_id: Option<i64>) -> SessionRecord {
                let mut r = SessionRecord::new(
                    SessionKey::of_id(id),
                    "192.0.2.7".parse().unwrap(),
                    &"Mozilla/5.0 ".repeat(40),
                );
                r.user_id = user_id;
                r.data.insert("theme".into(), json!("dark"));
                r.data.insert("cart".into(), json!([1, 2, {"n": null}]));
                r
            }

            #[tokio::test]
            async fn a_saved_record_loads_back_equal() {
                let store = $make.await;
                let r = record("a", Some(7));
                assert_eq!(r.user_agent.chars().count(), 200);
                store.save(&r).await.unwrap();
                assert_eq!(store.load(&r.key).await.unwrap(), Some(r));
                assert_eq!(store.load(&SessionKey::of_id("other")).await.unwrap(), None);
            }

            #[tokio::test]
            async fn save_replaces_and_update_never_resurrects() {
                let store = $make.await;
                let mut r = record("a", None);
                store.save(&r).await.unwrap();
                r.user_id = Some(3);
                store.save(&r).await.unwrap();
                assert_eq!(store.load(&r.key).await.unwrap().unwrap().user_id, Some(3));
                r.data.insert("k".into(), json!(1));
                assert!(store.update(&r).await.unwrap());
                assert_eq!(store.load(&r.key).await.unwrap(), Some(r.clone()));
                assert!(store.delete(&r.key).await.unwrap());
                assert!(!store.update(&r).await.unwrap());
                assert!(!store.touch(&r.key, now()).await.unwrap());
                assert_eq!(store.load(&r.key).await.unwrap(), None);
                assert!(!store.delete(&r.key).await.unwrap());
            }

            #[tokio::test]
            async fn touch_moves_only_last_seen() {
                let store = $make.await;
                let r = record("a", None);
                store.save(&r).await.unwrap();
                let later = r.last_seen + Duration::from_secs(90);
                assert!(store.touch(&r.key, later).await.unwrap());
                let back = store.load(&r.key).await.unwrap().unwrap();
                assert_eq!(back.last_seen, later);
                assert_eq!(SessionRecord { last_seen: r.last_seen, ..back }, r);
            }

            #[tokio::test]
            async fn the_user_index_lists_and_deletes_only_that_user() {
                let store = $make.await;
                let (a1, a2, a3) = (record("a1", Some(1)), record("a2", Some(1)), record("a3", Some(1)));
                let (b, anon) = (record("b", Some(2)), record("anon", None));
                for r in [&a1, &a2, &a3, &b, &anon] {
                    store.save(r).await.unwrap();
                }
                let mut keys: Vec<_> =
                    store.list_for_user(1).await.unwrap().into_iter().map(|r| r.key).collect();
                keys.sort();
                let mut expected = vec![a1.key.clone(), a2.key.clone(), a3.key.clone()];
                expected.sort();
                assert_eq!(keys, expected);
                assert_eq!(store.delete_for_user(1, Some(&a2.key)).await.unwrap(), 2);
                let left = store.list_for_user(1).await.unwrap();
                assert_eq!(left.len(), 1);
                assert_eq!(left[0].key, a2.key);
                assert_eq!(store.delete_for_user(1, None).await.unwrap(), 1);
                assert!(store.list_for_user(1).await.unwrap().is_empty());
                assert!(store.load(&b.key).await.unwrap().is_some());
                assert!(store.load(&anon.key).await.unwrap().is_some());
            }

            #[tokio::test]
            async fn delete_expired_removes_idle_and_too_old_records_only() {
                let store = $make.await;
                let t = now();
                let mut fresh = record("fresh", None);
                let mut idle = record("idle", Some(1));
                let mut old = record("old", Some(1));
                fresh.last_seen = t;
                idle.last_seen = t - Duration::from_secs(31 * 60);
                old.created_at = t - Duration::from_secs(13 * 3600);
                old.last_seen = t;
                for r in [&fresh, &idle, &old] {
                    store.save(r).await.unwrap();
                }
                let cutoff =
                    ExpiryCutoff::at(t, Duration::from_secs(30 * 60), Duration::from_secs(12 * 3600));
                assert_eq!(store.delete_expired(cutoff).await.unwrap(), 2);
                assert!(store.load(&fresh.key).await.unwrap().is_some());
                assert!(store.load(&idle.key).await.unwrap().is_none());
                assert!(store.load(&old.key).await.unwrap().is_none());
            }
        }
    };
}

#[cfg(test)]
pub(crate) use session_store_suite;

#[cfg(test)]
mod tests {
    use super::*;

    session_store_suite!(memory_store, async { MemorySessionStore::new() });

    #[test]
    fn keys_are_sha256_hex_and_debug_shows_only_the_public_id() {
        let key = SessionKey::of_id("abc");
        assert_eq!(
            key.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(key.public_id(), "ba7816bf8f01cfea");
        assert_eq!(format!("{key:?}"), "SessionKey(ba7816bf8f01cfea…)");
        assert_eq!(SessionKey::parse(key.as_str()), Some(key.clone()));
        assert_eq!(SessionKey::parse("BA7816BF"), None);
        assert_eq!(SessionKey::parse(&key.as_str().to_uppercase()), None);
    }

    #[test]
    fn activity_never_extends_past_the_absolute_timeout() {
        let idle = Duration::from_secs(60);
        let absolute = Duration::from_secs(600);
        let mut r = SessionRecord::new(SessionKey::of_id("x"), [127, 0, 0, 1].into(), "ua");
        let start = r.created_at;
        r.last_seen = start + Duration::from_secs(599);
        assert!(!r.is_expired(start + Duration::from_secs(600), idle, absolute));
        r.last_seen = start + Duration::from_secs(601);
        assert!(r.is_expired(start + Duration::from_secs(601), idle, absolute));
        r.last_seen = start;
        assert!(!r.is_expired(start + Duration::from_secs(60), idle, absolute));
        assert!(r.is_expired(start + Duration::from_secs(61), idle, absolute));
    }
}
