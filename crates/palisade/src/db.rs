//! The embedded database: SQLite in the data directory, with the toolkit's migrations.
//!
//! Every query in Palisade binds its values; identifiers such as sort columns come only from
//! allow-lists in code. The toolkit's tables (sessions, users, tokens, security events) are
//! created by [`migrate`]; an application adds its own migrations numbered from 1000 up, so the
//! two sets never collide (both run with missing versions ignored).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sqlx::Error> {
//! let pool = palisade::db::connect_sqlite(std::path::Path::new("./palisade-data/palisade.db")).await?;
//! palisade::db::migrate(&pool).await?;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use tokio::sync::{Mutex, MutexGuard};

/// Opens (creating if needed) the SQLite database at `path`: WAL journal, foreign keys on,
/// a 5-second busy timeout.
///
/// # Errors
///
/// When the file cannot be opened or created.
pub async fn connect_sqlite(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(8)
        // The pool's default pings every connection before handing it out. An SQLite
        // connection lives in this process and cannot drop like a socket; the ping would only
        // double the hand-offs to the connection's worker thread on every query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// An in-memory SQLite database for tests and examples: one shared connection.
///
/// # Errors
///
/// When SQLite cannot be initialised.
pub async fn connect_sqlite_memory() -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
}

/// Creates or updates the toolkit's tables.
///
/// # Errors
///
/// When a migration fails; the failed migration is rolled back.
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// A few dedicated read-only connections for the reads made on every request (the session,
/// the signed-in user), beside the pool that does everything else.
///
/// An SQLite connection runs its statements on a worker thread of its own, so every query is
/// a hand-off to that thread and back. The general pool adds a second round trip when a
/// connection comes back (it pings it, from a spawned task), which on a small machine doubles
/// the context switches of a query. These connections are checked out with a plain async
/// mutex and returned without the ping: they only ever run single `SELECT`s in autocommit mode
/// (`PRAGMA query_only` refuses anything else), so a cancelled read cannot leave a transaction
/// open behind it. They close with the pool: once it is closed, [`acquire`](Self::acquire)
/// fails as a query on the pool would. Open them only on a file database: each `:memory:`
/// connection would be a database of its own.
#[derive(Clone)]
pub struct ReadConnections {
    pool: SqlitePool,
    conns: Arc<[Mutex<SqliteConnection>]>,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ReadConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadConnections")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl ReadConnections {
    /// Opens `count` (at least one) query-only connections to the database of `pool`, with
    /// the pool's settings.
    ///
    /// # Errors
    ///
    /// When a connection cannot be opened.
    pub async fn open(pool: &SqlitePool, count: usize) -> Result<Self, sqlx::Error> {
        let options = pool
            .connect_options()
            .as_ref()
            .clone()
            .pragma("query_only", "ON");
        let mut conns = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            conns.push(Mutex::new(options.connect().await?));
        }
        Ok(Self {
            pool: pool.clone(),
            conns: conns.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A connection: an idle one if there is one, else the next in turn once it is free.
    ///
    /// # Errors
    ///
    /// [`sqlx::Error::PoolClosed`] once the pool has been closed.
    pub async fn acquire(&self) -> Result<MutexGuard<'_, SqliteConnection>, sqlx::Error> {
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        for conn in self.conns.iter() {
            if let Ok(guard) = conn.try_lock() {
                return Ok(guard);
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        Ok(self.conns[turn].lock().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_connections_refuse_writes_and_see_the_pools_commits() {
        let dir = tempfile::tempdir().unwrap();
        let pool = connect_sqlite(&dir.path().join("t.db")).await.unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        let reads = ReadConnections::open(&pool, 2).await.unwrap();

        let refused = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *reads.acquire().await.unwrap())
            .await;
        assert!(refused.is_err(), "a read connection accepted a write");

        sqlx::query("INSERT INTO t VALUES (7)")
            .execute(&pool)
            .await
            .unwrap();
        let (seen,): (i64,) = sqlx::query_as("SELECT v FROM t")
            .fetch_one(&mut *reads.acquire().await.unwrap())
            .await
            .unwrap();
        assert_eq!(seen, 7);

        pool.close().await;
        assert!(matches!(
            reads.acquire().await,
            Err(sqlx::Error::PoolClosed)
        ));
    }

    #[tokio::test]
    async fn a_busy_read_connection_is_passed_over_for_an_idle_one() {
        let dir = tempfile::tempdir().unwrap();
        let pool = connect_sqlite(&dir.path().join("t.db")).await.unwrap();
        let reads = ReadConnections::open(&pool, 2).await.unwrap();
        let first = reads.acquire().await.unwrap();
        // With the first one held, a second acquire must not wait for it.
        let second = tokio::time::timeout(Duration::from_secs(5), reads.acquire())
            .await
            .expect("acquire waited for a busy connection while another was idle")
            .unwrap();
        drop((first, second));
    }
}
