//! The embedded SQLite backend.
//!
//! One write connection and a small pool of readers. SQLite admits one writer
//! at a time anyway; giving it exactly one connection, and opening every
//! write transaction with `BEGIN IMMEDIATE`, means a write never fails half
//! way for want of a lock. WAL mode lets readers run beside it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::model::Durability;
use crate::StoreResult;

pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Conn = sqlx::SqliteConnection;
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
pub(crate) type BackendStore = SqliteStore;

// The SQL that differs from PostgreSQL (see `contract.rs`).
macro_rules! dialect_begin_write {
    () => {
        "BEGIN IMMEDIATE"
    };
}
macro_rules! dialect_begin_snapshot {
    () => {
        "BEGIN"
    };
}
/// One writer at a time: every ledger row after a mark is this
/// transaction's, and ids follow commits.
macro_rules! dialect_own_rows {
    () => {
        ""
    };
}
macro_rules! dialect_events_after {
    () => {
        ("e.id > ", "")
    };
}
macro_rules! dialect_event_after_cursor {
    () => {
        "cursor < $1"
    };
}
macro_rules! dialect_events_tx {
    () => {
        "0"
    };
}
macro_rules! dialect_events_order {
    () => {
        "e.id"
    };
}
/// Ids follow commits: no bound.
macro_rules! dialect_events_bound {
    () => {
        ("", "", "")
    };
}
macro_rules! dialect_events_order_desc {
    () => {
        "e.id DESC"
    };
}
/// Row locks: SQLite has one writer, so none are needed.
macro_rules! dialect_lock {
    () => {
        ""
    };
}
macro_rules! dialect_skip_locked {
    () => {
        ""
    };
}
macro_rules! dialect_now_ms {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}
/// CROSS JOIN makes SQLite start from its left side: the due holds.
macro_rules! dialect_due_join {
    () => {
        "CROSS JOIN"
    };
}
/// Membership in a JSON array of text bound as `$1`.
macro_rules! dialect_json_in {
    () => {
        "IN (SELECT value FROM json_each($1))"
    };
}
/// A JSON array of rows (each an array) bound as `$1`, as a `FROM` whose
/// `value` is one row.
macro_rules! dialect_json_rows {
    () => {
        "json_each($1)"
    };
}
/// A unary plus keeps SQLite off an index on the column that follows.
macro_rules! dialect_no_index {
    () => {
        "+"
    };
}

#[path = "shared/mod.rs"]
mod shared;

use shared::runs;

/// How hard SQLite works to put a commit on disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// Every commit is on disk before it returns (the default).
    Full,
    /// A commit may be lost on power failure, never on a process crash.
    Normal,
}

impl SqliteSynchronous {
    pub fn parse(raw: &str) -> Option<SqliteSynchronous> {
        match raw.to_ascii_lowercase().as_str() {
            "full" => Some(SqliteSynchronous::Full),
            "normal" => Some(SqliteSynchronous::Normal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub synchronous: SqliteSynchronous,
    pub read_pool_size: u32,
    /// How long a statement waits for another process's lock.
    pub busy_timeout: Duration,
    /// The write connection's page cache, in MiB. A batch of a few hundred
    /// holds changes more pages than SQLite's default 2 MiB keeps, and it
    /// would spill them to the WAL and read them back mid-transaction.
    pub writer_cache_mb: u32,
    /// How long a caller waits for a pooled connection.
    pub acquire_timeout: Duration,
    /// The low-stock line of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> SqliteOptions {
        SqliteOptions {
            path: path.into(),
            synchronous: SqliteSynchronous::Full,
            read_pool_size: 8,
            busy_timeout: Duration::from_secs(5),
            writer_cache_mb: 64,
            acquire_timeout: Duration::from_secs(30),
            low_stock_threshold: 10,
        }
    }
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    write_path: super::WritePath,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(options: &SqliteOptions) -> anyhow::Result<SqliteStore> {
        assert!(options.read_pool_size > 0);
        let synchronous = match options.synchronous {
            SqliteSynchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
            SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
        };
        let connect = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        // The writer's statement and savepoint journals (every page a run
        // changes inside its savepoint is copied there first) are kept in
        // memory rather than in a temporary file: they never outlive the
        // transaction, and the WAL is what makes it durable.
        let writer_connect = connect
            .clone()
            .pragma(
                "cache_size",
                format!("-{}", u64::from(options.writer_cache_mb) * 1024),
            )
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings a connection as it goes back to the pool, and an
            // idle SQLite connection cannot break: no second ping as the
            // next batch takes it.
            .test_before_acquire(false)
            .connect_with(writer_connect)
            .await
            .with_context(|| format!("opening {}", options.path.display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .with_context(|| format!("opening {} for reading", options.path.display()))?;
        Ok(SqliteStore {
            writer,
            reader,
            write_path: super::WritePath::new(options.low_stock_threshold, String::new()),
        })
    }
}

pub(crate) async fn migrate(conn: &mut Conn) -> anyhow::Result<usize> {
    crate::migrate::run_sqlite(conn).await
}

pub(crate) async fn durability(conn: &mut Conn) -> StoreResult<Durability> {
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous = match synchronous {
        0 => "off",
        1 => "normal",
        2 => "full",
        3 => "extra",
        _ => "unknown",
    };
    Ok(Durability {
        journal_mode,
        synchronous: synchronous.to_owned(),
    })
}

/// SQLite never aborts a write for another's sake: one writer, locks taken up front.
pub(crate) fn is_retryable(_error: &anyhow::Error) -> bool {
    false
}

/// SQLite has no row locks to wait for.
pub(crate) fn is_lock_unavailable(_error: &anyhow::Error) -> bool {
    false
}

/// Inserts ledger rows from one JSON parameter per 500 (one prepared
/// statement whatever their number); returns (id, item, location, version
/// after) of each.
pub(crate) async fn insert_ledger_rows(
    conn: &mut Conn,
    rows: &[runs::LedgerRow<'_>],
) -> Result<Vec<(i64, String, String, i64)>, sqlx::Error> {
    use sqlx::Row;
    let mut returned = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(runs::ROWS_PER_STATEMENT) {
        let values: Vec<_> = chunk
            .iter()
            .map(|row| {
                (
                    row.item,
                    row.location,
                    row.operation,
                    row.on_hand_delta,
                    row.reserved_delta,
                    row.on_hand_before,
                    row.on_hand_after,
                    row.reserved_before,
                    row.reserved_after,
                    row.version_after,
                    row.order_id,
                    row.reservation_id,
                    row.reason,
                    row.operator,
                    row.trace_id,
                    row.created_at,
                )
            })
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO ledger (item_id, location_id, operation, on_hand_delta, reserved_delta,
                on_hand_before, on_hand_after, reserved_before, reserved_after, version_after,
                order_id, reservation_id, reason, operator, trace_id, created_at)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
                value->>6, value->>7, value->>8, value->>9, value->>10, value->>11,
                value->>12, value->>13, value->>14, value->>15
             FROM json_each($1)
             RETURNING id, item_id, location_id, version_after",
        )
        .bind(shared::json(&values))
        .fetch_all(&mut *conn)
        .await?;
        for row in inserted {
            returned.push((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ));
        }
    }
    Ok(returned)
}

/// Writes levels with one upsert per 500, from one JSON parameter.
pub(crate) async fn upsert_levels(
    conn: &mut Conn,
    levels: &[runs::LevelRow<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in levels.chunks(runs::ROWS_PER_STATEMENT) {
        let values: Vec<_> = chunk
            .iter()
            .map(|row| {
                (
                    row.item,
                    row.location,
                    row.level.on_hand,
                    row.level.reserved,
                    row.level.version,
                    row.updated_at,
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO levels (item_id, location_id, on_hand, reserved, version, updated_at)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5
             FROM json_each($1) WHERE true
             ON CONFLICT (item_id, location_id) DO UPDATE SET
                on_hand = excluded.on_hand, reserved = excluded.reserved,
                version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(shared::json(&values))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_keeps_its_journals_in_memory_the_cache_it_was_given_and_one_ping() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SqliteOptions::new(dir.path().join("w.db"));
        options.writer_cache_mb = 3;
        let store = SqliteStore::open(&options).await.unwrap();
        let mut writer = store.writer.acquire().await.unwrap();
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *writer)
            .await
            .unwrap();
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&mut *writer)
            .await
            .unwrap();
        // Negative: KiB rather than pages. 2: memory.
        assert_eq!((cache, temp_store), (-3 * 1024, 2));
        let mut reader = store.reader.acquire().await.unwrap();
        let reader_cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        assert_ne!(reader_cache, cache, "readers keep SQLite's default");
        // The writer's connection is pinged on its way back, not again on
        // its way out; readers keep sqlx's check.
        assert!(!store.writer.options().get_test_before_acquire());
        assert!(store.reader.options().get_test_before_acquire());
    }
}
