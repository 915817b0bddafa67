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
use std::time::Duration;

use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

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
