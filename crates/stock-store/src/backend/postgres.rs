//! The PostgreSQL backend.
//!
//! One write connection per stockd process and a pool of readers. Several
//! processes (replicas) may share one database and write side by side:
//! every change locks the rows it reads (`SELECT … FOR UPDATE` on the item,
//! its levels, the hold, the order), in id order, so no write acts on a
//! stale level and two replicas selling different items never wait for
//! each other. A write that loses a lock race (a deadlock, a serialization
//! failure) is retried. No transaction changes a level, hold or order that
//! a younger one wrote (migration 12): so each row's changes are in the
//! order of their transactions' ids, the order the outbox is read in.
//!
//! A row another transaction holds locked (a script, a report, an admin's
//! open `psql`) never stalls the writer: runs pass over such rows (`SKIP
//! LOCKED`) and every other lock is waited for at most `lock_timeout`; the
//! commands that met one answer [`WriteError::Busy`](crate::WriteError)
//! and the engine runs them again while the rest of the batch commits.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::model::Durability;
use crate::StoreResult;

pub(crate) type Db = sqlx::Postgres;
pub(crate) type Conn = sqlx::PgConnection;
pub(crate) type DbRow = sqlx::postgres::PgRow;
pub(crate) type BackendStore = PostgresStore;

// The SQL that differs from SQLite (see `contract.rs`).
macro_rules! dialect_begin_write {
    () => {
        "BEGIN"
    };
}
macro_rules! dialect_begin_snapshot {
    () => {
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    };
}
/// The ledger rows this transaction wrote, after a mark (`alerts.rs`):
/// other replicas commit rows with higher ids meanwhile.
macro_rules! dialect_own_rows {
    () => {
        " AND tx = pg_current_xact_id()"
    };
}
/// Where the outbox is read from, after an event id bound between the two
/// halves (and then `$1`): in the order of transactions, then ids. When
/// the event is no longer there (purged), from the oldest left.
macro_rules! dialect_events_after {
    () => {
        (
            "(e.tx, e.id) > (COALESCE((SELECT tx FROM events WHERE id = ",
            "),
                (SELECT tx FROM events WHERE id > $1 ORDER BY tx, id LIMIT 1),
                '0'), $1)",
        )
    };
}
/// How far the outbox may be read: only the events of transactions older
/// than every transaction of this database still running, which no event
/// ordered before them will join. The first statement (run before the
/// read, so that a transaction it finds running is still invisible to the
/// read, or else committed and seen) finds that bound; the condition takes
/// it bound as the next parameter. Transactions are found in
/// `pg_stat_activity` (their 32-bit ids, widened with the current epoch);
/// should a session of this database hide them (another role, without
/// `pg_read_all_stats`), every running transaction of the server counts.
macro_rules! dialect_events_bound {
    () => {
        (
            "SELECT CASE
                WHEN bool_or(a.query = '<insufficient privilege>')
                    THEN CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)
                ELSE LEAST(n.next, MIN(n.next
                    - ((n.next - CAST(CAST(a.backend_xid AS TEXT) AS BIGINT)) % 4294967296
                        + 4294967296) % 4294967296))
             END
             FROM (SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS TEXT) AS BIGINT)
                AS next) n
             LEFT JOIN pg_stat_activity a
                ON a.datname = current_database() AND a.pid <> pg_backend_pid()
                AND (a.backend_xid IS NOT NULL OR a.query = '<insufficient privilege>')
             GROUP BY n.next",
            " AND e.tx < CAST(CAST(",
            " AS TEXT) AS xid8)",
        )
    };
}
/// The event `$1` comes after the event in the column `cursor`, in the
/// order the outbox is read in: a cursor never moves back.
macro_rules! dialect_event_after_cursor {
    () => {
        "((SELECT tx FROM events WHERE id = $1), $1)
            > (COALESCE((SELECT tx FROM events WHERE id = cursor), '0'), cursor)"
    };
}
macro_rules! dialect_events_tx {
    () => {
        "CAST(CAST(e.tx AS TEXT) AS BIGINT)"
    };
}
macro_rules! dialect_events_order {
    () => {
        "e.tx, e.id"
    };
}
macro_rules! dialect_events_order_desc {
    () => {
        "e.tx DESC, e.id DESC"
    };
}
macro_rules! dialect_lock {
    () => {
        " FOR UPDATE"
    };
}
/// Locks what it can and passes over rows another transaction holds, so
/// that one locked row never stalls the writer (runs, `runs/load.rs`).
macro_rules! dialect_skip_locked {
    () => {
        " FOR UPDATE SKIP LOCKED"
    };
}
/// `= ANY` of an array, not `IN` of a set: the planner then looks each
/// value up in the column's index instead of hashing the whole table.
macro_rules! dialect_json_in {
    () => {
        "= ANY(ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))"
    };
}
macro_rules! dialect_json_rows {
    () => {
        "json_array_elements(CAST($1 AS json)) AS rows (value)"
    };
}
/// The statement's start, not `clock_timestamp()`: a stable value, so that
/// the planner can bound the index of due holds with it rather than read
/// every active hold.
macro_rules! dialect_now_ms {
    () => {
        "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)"
    };
}
macro_rules! dialect_due_join {
    () => {
        "JOIN"
    };
}
macro_rules! dialect_no_index {
    () => {
        ""
    };
}

#[path = "shared/mod.rs"]
mod shared;

use shared::runs;

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`
    pub url: String,
    pub read_pool_size: u32,
    /// How long a caller waits for a pooled connection.
    pub acquire_timeout: Duration,
    /// The longest a single statement may run before the server stops it.
    pub statement_timeout: Duration,
    /// The low-stock line of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
    /// The longest a write waits for a row another transaction holds
    /// locked before it gives up and is run again later (writes in runs
    /// never wait).
    pub lock_timeout: Duration,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            read_pool_size: 8,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            low_stock_threshold: 10,
            lock_timeout: Duration::from_millis(20),
        }
    }
}

pub struct PostgresStore {
    writer: PgPool,
    reader: PgPool,
    write_path: super::WritePath,
}

impl PostgresStore {
    /// Connects to the database, which must exist. Does not migrate.
    pub async fn open(options: &PostgresOptions) -> anyhow::Result<PostgresStore> {
        assert!(options.read_pool_size > 0);
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(&options.url)
            .context("the PostgreSQL URL is not valid")?
            .options([("statement_timeout", timeout_ms.as_str())]);
        let writer = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .context("connecting to PostgreSQL")?;
        let reader = PgPoolOptions::new()
            .max_connections(options.read_pool_size)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .context("connecting to PostgreSQL for reading")?;
        // How long a write may wait for a row lock, until its batch ends.
        // And no sequential scans in a write batch, which reads and locks
        // every row it changes by its key: a table the planner has no
        // statistics for yet (autovacuum has not analysed it, or is off)
        // looks like a few pages to it, and a plan that scans it whole is
        // kept for the statement and reused as it grows. A first import
        // of 20,000 items went from hundreds of rows a second to thousands.
        // No JIT either: the cost a disabled scan adds to a plan would
        // otherwise take every statement past `jit_above_cost`, and compile
        // it, at 10-25 ms, for a read of a few rows.
        let lock_timeout_ms = options.lock_timeout.as_millis().max(1);
        let after_begin = format!(
            "SELECT set_config('lock_timeout', '{lock_timeout_ms}', true),
                set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
        );
        Ok(PostgresStore {
            writer,
            reader,
            write_path: super::WritePath::new(options.low_stock_threshold, after_begin),
        })
    }
}

pub(crate) async fn migrate(conn: &mut Conn) -> anyhow::Result<usize> {
    crate::migrate::run_postgres(conn).await
}

pub(crate) async fn durability(conn: &mut Conn) -> StoreResult<Durability> {
    let synchronous: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut *conn)
        .await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Durability {
        journal_mode: format!("wal (fsync {fsync})"),
        synchronous,
    })
}

/// A row lock not granted within `lock_timeout` (or at once, `NOWAIT`).
pub(crate) fn is_lock_unavailable(error: &anyhow::Error) -> bool {
    has_code(error, "55P03")
}

fn has_code(error: &anyhow::Error, wanted: &str) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .and_then(|database| database.code())
            .is_some_and(|code| code == wanted)
    })
}

/// A deadlock with another replica, or a serialization failure: the write
/// did nothing and may simply run again.
pub(crate) fn is_retryable(error: &anyhow::Error) -> bool {
    has_code(error, "40P01") || has_code(error, "40001")
}

/// Inserts ledger rows with one statement, however many (one prepared plan
/// for every run); returns (id, item, location, version after) of each.
pub(crate) async fn insert_ledger_rows(
    conn: &mut Conn,
    rows: &[runs::LedgerRow<'_>],
) -> Result<Vec<(i64, String, String, i64)>, sqlx::Error> {
    fn column<'a, T>(
        rows: &'a [runs::LedgerRow<'_>],
        f: impl Fn(&'a runs::LedgerRow<'_>) -> T,
    ) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query_as(
        "INSERT INTO ledger (item_id, location_id, operation, on_hand_delta, reserved_delta,
            on_hand_before, on_hand_after, reserved_before, reserved_after, version_after,
            order_id, reservation_id, reason, operator, trace_id, created_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
            $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
            $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[])
         RETURNING id, item_id, location_id, version_after",
    )
    .bind(column(rows, |r| r.item))
    .bind(column(rows, |r| r.location))
    .bind(column(rows, |r| r.operation))
    .bind(column(rows, |r| r.on_hand_delta))
    .bind(column(rows, |r| r.reserved_delta))
    .bind(column(rows, |r| r.on_hand_before))
    .bind(column(rows, |r| r.on_hand_after))
    .bind(column(rows, |r| r.reserved_before))
    .bind(column(rows, |r| r.reserved_after))
    .bind(column(rows, |r| r.version_after))
    .bind(column(rows, |r| r.order_id))
    .bind(column(rows, |r| r.reservation_id))
    .bind(column(rows, |r| r.reason))
    .bind(column(rows, |r| r.operator))
    .bind(column(rows, |r| r.trace_id))
    .bind(column(rows, |r| r.created_at))
    .fetch_all(&mut *conn)
    .await
}

/// Writes levels with one upsert, however many.
pub(crate) async fn upsert_levels(
    conn: &mut Conn,
    levels: &[runs::LevelRow<'_>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO levels (item_id, location_id, on_hand, reserved, version, updated_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
            $6::bigint[])
         ON CONFLICT (item_id, location_id) DO UPDATE SET
            on_hand = excluded.on_hand, reserved = excluded.reserved,
            version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(levels.iter().map(|l| l.item).collect::<Vec<_>>())
    .bind(levels.iter().map(|l| l.location).collect::<Vec<_>>())
    .bind(levels.iter().map(|l| l.level.on_hand).collect::<Vec<_>>())
    .bind(levels.iter().map(|l| l.level.reserved).collect::<Vec<_>>())
    .bind(levels.iter().map(|l| l.level.version).collect::<Vec<_>>())
    .bind(levels.iter().map(|l| l.updated_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_tests::{on_postgres, postgres_admin, postgres_base};
    use crate::Store;

    /// The locking read of runs, as `runs/load.rs` builds it for items.
    const LOCKING_READ: &str = "EXPLAIN WITH mine AS MATERIALIZED (
            SELECT ctid FROM items WHERE id = ANY(ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
            ORDER BY id FOR UPDATE SKIP LOCKED)
         SELECT t.*, (t.ctid IN (SELECT ctid FROM mine)) AS mine
         FROM items t WHERE t.id = ANY(ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))";

    /// The plan of the locking read, and the settings it was planned
    /// under, in a transaction begun as `after_begin` says.
    async fn plan(conn: &mut Conn, after_begin: Option<&str>) -> (String, String) {
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        if let Some(sql) = after_begin {
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
        }
        let lines: Vec<String> = sqlx::query_scalar(LOCKING_READ)
            .bind(r#"["sku-1","sku-2"]"#)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let settings: String = sqlx::query_scalar(
            "SELECT current_setting('enable_seqscan') || ' ' || current_setting('jit')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
        (lines.join("\n"), settings)
    }

    /// A write batch plans without sequential scans and without JIT: it
    /// reads what it changes by key, and a table the planner has no
    /// statistics for yet (just made; autovacuum not yet by, or off) would
    /// otherwise get a plan that scans it whole, kept for the statement as
    /// the table grows (`stockd bench imports` on PostgreSQL: 300 rows/s
    /// rather than 10,000). JIT off, because the cost a disabled scan adds
    /// would take every plan past `jit_above_cost`. Only the batch's own
    /// transaction is changed. In the PostgreSQL pass of the test command
    /// (`STOCKD_TEST_DATABASE=postgres`).
    #[tokio::test]
    async fn a_write_batch_reads_by_index_without_jit() {
        if !on_postgres() {
            return;
        }
        let database = format!("stockd_plans_{}", std::process::id());
        let mut admin = postgres_admin().await;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let store = PostgresStore::open(&PostgresOptions::new(format!(
            "{}/{database}",
            postgres_base()
        )))
        .await
        .unwrap();
        store.migrate().await.unwrap();
        let mut conn = store.writer.acquire().await.unwrap();
        let (within, batch_settings) = plan(&mut conn, Some(&store.write_path.after_begin)).await;
        let (_, other_settings) = plan(&mut conn, None).await;
        drop(conn);
        drop(store);
        sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        assert_eq!(batch_settings, "off off");
        assert_eq!(other_settings, "on on", "only the batch is changed");
        assert!(!within.contains("Seq Scan"), "{within}");
        assert!(within.contains("items_pkey"), "{within}");
    }
}
