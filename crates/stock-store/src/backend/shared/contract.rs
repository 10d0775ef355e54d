//! The backend contract: everything the shared files take from the backend
//! module that includes them, listed, documented and checked in one place.
//!
//! A backend is a module (`backend/sqlite.rs`, `backend/postgres.rs`) that
//! defines the items below and then compiles this folder inside itself
//! (`#[path = "shared/mod.rs"] mod shared;`, after the macros). The shared
//! files reach their backend only through this module (`super::contract::…`)
//! and through the `dialect_*!` macros, so a third backend (MySQL, say) is a
//! matter of supplying what is listed here; until it does, this file fails
//! to compile and names what is missing or of the wrong shape. The SQL of the shared
//! files is written to mean the same on every backend: `$N` parameters,
//! `CAST` rather than `::`, no boolean arithmetic, `ON CONFLICT` upserts.
//!
//! # Types
//!
//! - `Db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`).
//! - `Conn`: its connection, `DbRow`: its row.
//! - `BackendStore`: the backend's store, a struct with at least `writer`
//!   (a pool of one connection: every write, batched or not, goes through
//!   it), `reader` (the pool reads use) and `write_path` ([`WritePath`]).
//!   It gets `Store` from `store.rs`.
//!
//! # SQL fragments
//!
//! Macros rather than constants, so that `concat!` can build whole
//! statements as `&'static str` (prepared once, cached by sqlx). Each
//! expands to a string literal:
//!
//! - `dialect_begin_write!()`: opens the transaction of a write batch, taking
//!   the write lock at once where the backend can (SQLite `BEGIN IMMEDIATE`).
//! - `dialect_begin_snapshot!()`: opens a read transaction that sees one
//!   instant (`verify`).
//! - `dialect_lock!()`: appended to a `SELECT` of the row a change will
//!   write (` FOR UPDATE`), or `""` for a backend with one writer.
//! - `dialect_skip_locked!()`: the same, passing over the rows another
//!   transaction holds locked instead of waiting for them (` FOR UPDATE
//!   SKIP LOCKED`), or `""`.
//! - `dialect_own_rows!()`: after a condition on ledger ids, the rows this
//!   transaction wrote (`""` where one writer at a time writes).
//! - `dialect_events_after!()`, `dialect_events_order!()`: the events after
//!   an event, on `events e`, as the two halves of a condition with the
//!   event's id bound between them (as `$1`), and the order the outbox is
//!   read in (`dialect_events_order_desc!()`, backwards);
//!   `dialect_events_bound!()`: how far the outbox may be read, as a query
//!   run first (`""` for no bound) and the two halves of a condition with
//!   its answer bound between them;
//!   `dialect_event_after_cursor!()`: the event `$1` comes after the one in
//!   the column `cursor`, in that order; `dialect_events_tx!()`: an event's
//!   transaction as a number to compare with the bound (`0` without one).
//! - `dialect_now_ms!()`: the database's clock in Unix milliseconds, as a
//!   64-bit integer.
//! - `dialect_due_join!()`: the join from due holds to their lines that
//!   makes the planner start from the (small) set of due holds.
//! - `dialect_no_index!()`: a prefix that keeps the planner off an index on
//!   the column that follows, or `""`.
//! - `dialect_json_in!()`: after a column, its membership in a JSON array of
//!   text bound as `$1` (`IN (…)`, or `= ANY(…)` where that plans better).
//! - `dialect_json_rows!()`: a `FROM` item over a JSON array of rows (each
//!   an array) bound as `$1`, whose column `value` is one row; `value->>N`
//!   is its Nth column as text or SQL's own type, `NULL` for JSON null.
//!   With these two, a statement over any number of values or rows is one
//!   statement, prepared once.
//!
//! # Functions
//!
//! - `migrate(conn)`: applies the backend's embedded migrations; returns
//!   how many ran.
//! - `durability(conn)`: the durability settings in force on the writer.
//! - `is_lock_unavailable(error)`: whether a failed write waited for a row
//!   lock longer than the lock timeout, and so did nothing.
//! - `is_retryable(error)`: whether a failed write lost a lock race (a
//!   deadlock, a serialization failure) and did nothing, so that it may run
//!   again.
//! - `insert_ledger_rows(conn, rows)`: inserts a run's ledger rows in as few
//!   statements as the backend allows; returns (id, item, location, version
//!   after) of each, in any order.
//! - `upsert_levels(conn, levels)`: writes a run's final levels (insert or
//!   update), likewise in bulk.

// `super::super` is the backend module that compiles `shared`.
pub(crate) use super::super::{
    durability, insert_ledger_rows, is_lock_unavailable, is_retryable, migrate, upsert_levels,
};
pub(crate) use super::super::{BackendStore, Conn, Db, DbRow};

use super::runs::{LedgerRow, LevelRow};
use crate::backend::WritePath;
use crate::model::Durability;

/// Every SQL fragment, so that a backend without one fails here.
const _FRAGMENTS: [&str; 19] = [
    dialect_begin_write!(),
    dialect_begin_snapshot!(),
    dialect_lock!(),
    dialect_skip_locked!(),
    dialect_own_rows!(),
    dialect_events_after!().0,
    dialect_events_after!().1,
    dialect_events_order!(),
    dialect_events_order_desc!(),
    dialect_events_bound!().0,
    dialect_events_bound!().1,
    dialect_events_bound!().2,
    dialect_event_after_cursor!(),
    dialect_events_tx!(),
    dialect_now_ms!(),
    dialect_due_join!(),
    dialect_no_index!(),
    dialect_json_in!(),
    dialect_json_rows!(),
];

/// The shape of every item above, checked by the compiler.
#[allow(dead_code)]
fn shapes(store: &BackendStore) {
    fn database<D: sqlx::Database<Connection = Conn, Row = DbRow>>() {}
    fn pools(_: &sqlx::Pool<Db>, _: &sqlx::Pool<Db>, _: &WritePath) {}
    fn migrates(_: impl AsyncFn(&mut Conn) -> anyhow::Result<usize>) {}
    fn reports(_: impl AsyncFn(&mut Conn) -> anyhow::Result<Durability>) {}
    fn retries(_: fn(&anyhow::Error) -> bool) {}
    fn inserts(
        _: impl AsyncFn(
            &mut Conn,
            &[LedgerRow<'_>],
        ) -> Result<Vec<(i64, String, String, i64)>, sqlx::Error>,
    ) {
    }
    fn upserts(_: impl AsyncFn(&mut Conn, &[LevelRow<'_>]) -> Result<(), sqlx::Error>) {}

    database::<Db>();
    pools(&store.writer, &store.reader, &store.write_path);
    migrates(migrate);
    reports(durability);
    retries(is_retryable);
    retries(is_lock_unavailable);
    inserts(insert_ledger_rows);
    upserts(upsert_levels);
}
