//! The SQLite session store: table `palisade_sessions` from migration `0002_sessions.sql`.

use std::net::IpAddr;

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;

use crate::db::ReadConnections;

use super::store::{ExpiryCutoff, SessionKey, SessionRecord, SessionStore, StoreError};

const COLUMNS: &str = "key, user_id, data, created_at, last_seen, ip, user_agent";

/// Sessions in the application's SQLite database. Run [`crate::db::migrate`] first.
///
/// Every query binds its values. Times are kept as Unix milliseconds.
#[derive(Clone, Debug)]
pub struct SqliteSessionStore {
    pool: SqlitePool,
    reads: Option<ReadConnections>,
}

impl SqliteSessionStore {
    /// A store on `pool`, whose database has the toolkit's migrations applied.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, reads: None }
    }

    /// Loads sessions through `reads` instead of the pool: the lookup every request makes.
    #[must_use]
    pub fn with_reads(mut self, reads: ReadConnections) -> Self {
        self.reads = Some(reads);
        self
    }
}

const LOAD: &str = concat!(
    "SELECT key, user_id, data, created_at, last_seen, ip, user_agent ",
    "FROM palisade_sessions WHERE key = ?1"
);

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let query = sqlx::query(LOAD).bind(key.as_str());
        let row = match &self.reads {
            Some(reads) => match reads.acquire().await {
                Ok(mut conn) => query.fetch_optional(&mut *conn).await,
                Err(err) => Err(err),
            },
            None => query.fetch_optional(&self.pool).await,
        }
        .map_err(StoreError::backend)?;
        row.as_ref().map(decode).transpose()
    }

    async fn save(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT OR REPLACE INTO palisade_sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        bind_record(sqlx::query(&sql), record)?
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn update(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        let sql = "UPDATE palisade_sessions SET user_id = ?2, data = ?3, created_at = ?4, \
                   last_seen = ?5, ip = ?6, user_agent = ?7 WHERE key = ?1";
        let done = bind_record(sqlx::query(sql), record)?
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch(&self, key: &SessionKey, last_seen: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE palisade_sessions SET last_seen = ?2 WHERE key = ?1")
            .bind(key.as_str())
            .bind(millis(last_seen))
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM palisade_sessions WHERE key = ?1")
            .bind(key.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_for_user(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM palisade_sessions WHERE user_id = ?1 ORDER BY created_at, key"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(decode).collect()
    }

    async fn delete_for_user(
        &self,
        user_id: i64,
        except: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        // `IS NOT` treats a NULL ?2 as "no exception", where `<>` would match no row at all.
        let done =
            sqlx::query("DELETE FROM palisade_sessions WHERE user_id = ?1 AND key IS NOT ?2")
                .bind(user_id)
                .bind(except.map(SessionKey::as_str))
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn delete_expired(&self, cutoff: ExpiryCutoff) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM palisade_sessions WHERE last_seen < ?1 OR created_at < ?2")
                .bind(millis(cutoff.last_seen_before))
                .bind(millis(cutoff.created_before))
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the record's columns as ?1..?7 in [`COLUMNS`] order.
fn bind_record<'q>(query: Query<'q>, r: &SessionRecord) -> Result<Query<'q>, StoreError> {
    let data = serde_json::to_string(&r.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(query
        .bind(r.key.as_str().to_owned())
        .bind(r.user_id)
        .bind(data)
        .bind(millis(r.created_at))
        .bind(millis(r.last_seen))
        .bind(r.ip.to_string())
        .bind(r.user_agent.clone()))
}

fn decode(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let get_err = |e: sqlx::Error| StoreError::Corrupt(e.to_string());

    let key: String = row.try_get("key").map_err(get_err)?;
    let key = SessionKey::parse(&key).ok_or_else(|| corrupt("key is not 64 hex digits"))?;
    let data: String = row.try_get("data").map_err(get_err)?;
    let data: Map<String, Value> =
        serde_json::from_str(&data).map_err(|_| corrupt("data is not a JSON object"))?;
    let ip: String = row.try_get("ip").map_err(get_err)?;
    let ip: IpAddr = ip.parse().map_err(|_| corrupt("ip is not an address"))?;

    Ok(SessionRecord {
        key,
        user_id: row.try_get("user_id").map_err(get_err)?,
        data,
        created_at: from_millis(row.try_get("created_at").map_err(get_err)?)?,
        last_seen: from_millis(row.try_get("last_seen").map_err(get_err)?)?,
        ip,
        user_agent: row.try_get("user_agent").map_err(get_err)?,
    })
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| StoreError::Corrupt("timestamp out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::store::session_store_suite;

    async fn store() -> SqliteSessionStore {
        let pool = crate::db::connect_sqlite_memory().await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        SqliteSessionStore::new(pool)
    }

    session_store_suite!(sqlite_store, store());

    /// A file database (read connections need one), deleted when the store is dropped.
    struct OnFile {
        store: SqliteSessionStore,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for OnFile {
        type Target = SqliteSessionStore;

        fn deref(&self) -> &SqliteSessionStore {
            &self.store
        }
    }

    async fn store_with_reads() -> OnFile {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect_sqlite(&dir.path().join("sessions.db"))
            .await
            .unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let reads = ReadConnections::open(&pool, 2).await.unwrap();
        OnFile {
            store: SqliteSessionStore::new(pool).with_reads(reads),
            _dir: dir,
        }
    }

    // Loads go through the read connections, writes through the pool: every write must be
    // seen by the next load (a revoked session must not load once more).
    session_store_suite!(sqlite_store_with_read_connections, store_with_reads());

    #[tokio::test]
    async fn a_deleted_session_is_gone_for_every_read_connection_at_once() {
        let store = store_with_reads().await;
        let key = SessionKey::of_id("revoked");
        store
            .save(&SessionRecord::new(
                key.clone(),
                [127, 0, 0, 1].into(),
                "ua",
            ))
            .await
            .unwrap();
        // Load often enough to use both read connections, each with a warm statement cache.
        for _ in 0..4 {
            assert!(store.load(&key).await.unwrap().is_some());
        }
        assert!(store.delete(&key).await.unwrap());
        for _ in 0..4 {
            assert!(store.load(&key).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn a_closed_pool_is_a_backend_error_not_an_empty_result() {
        let store = store().await;
        store.pool.close().await;
        let err = store.load(&SessionKey::of_id("x")).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_corrupt_row_is_reported_not_guessed() {
        let store = store().await;
        let key = SessionKey::of_id("x");
        sqlx::query(
            "INSERT INTO palisade_sessions (key, user_id, data, created_at, last_seen, ip, \
             user_agent) VALUES (?1, NULL, '[1]', 0, 0, '127.0.0.1', '')",
        )
        .bind(key.as_str())
        .execute(&store.pool)
        .await
        .unwrap();
        assert!(matches!(
            store.load(&key).await.unwrap_err(),
            StoreError::Corrupt(_)
        ));
    }

    #[tokio::test]
    async fn the_id_itself_is_never_stored() {
        let store = store().await;
        let id = "the-raw-session-id-from-the-cookie";
        let r = SessionRecord::new(SessionKey::of_id(id), [127, 0, 0, 1].into(), "ua");
        store.save(&r).await.unwrap();
        let rows =
            sqlx::query("SELECT key || data || ip || user_agent AS t FROM palisade_sessions")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        for row in rows {
            let text: String = row.get("t");
            assert!(!text.contains(id));
        }
    }
}
