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

// The SQL that differs from PostgreSQL, for `shared.rs` and `holds.rs`.
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
/// SQLite's own write lock (`BEGIN IMMEDIATE`) already makes writers take turns.
macro_rules! dialect_writer_turn {
    () => {
        ""
    };
}
/// Row locks: SQLite has one writer, so none are needed.
macro_rules! dialect_lock {
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
/// A unary plus keeps SQLite off an index on the column that follows.
macro_rules! dialect_no_index {
    () => {
        "+"
    };
}

#[path = "holds.rs"]
mod holds;
#[path = "shared.rs"]
mod shared;

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
    /// How long a caller waits for a pooled connection.
    pub acquire_timeout: Duration,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> SqliteOptions {
        SqliteOptions {
            path: path.into(),
            synchronous: SqliteSynchronous::Full,
            read_pool_size: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .with_context(|| format!("opening {}", options.path.display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .with_context(|| format!("opening {} for reading", options.path.display()))?;
        Ok(SqliteStore { writer, reader })
    }
}

async fn migrate(conn: &mut Conn) -> anyhow::Result<usize> {
    crate::migrate::run_sqlite(conn).await
}

async fn durability(conn: &mut Conn) -> StoreResult<Durability> {
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
fn is_retryable(_error: &anyhow::Error) -> bool {
    false
}
