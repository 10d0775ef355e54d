//! The backends: the same store on SQLite and on PostgreSQL.
//!
//! Written once and compiled twice: the files in `shared/` are compiled
//! inside `sqlite` and again inside `postgres`, each of which supplies the
//! types, functions and SQL fragments that differ, as `shared/contract.rs`
//! lists them. That is the point, not an accident, hence the allowance of
//! `clippy::duplicate_mod` on this module.

pub mod postgres;
pub mod sqlite;

/// How a store runs its write batches, the same on both backends.
pub(crate) struct WritePath {
    /// Consecutive stock commands in a batch are decided together (`runs/`).
    pub commands_in_runs: bool,
    /// Runs that had to run one by one instead.
    pub runs_undone: std::sync::atomic::AtomicU64,
    /// The low-stock line of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
    /// A statement run right after a write batch begins (the lock
    /// timeout), `""` for none.
    pub after_begin: String,
}

impl WritePath {
    pub fn new(low_stock_threshold: i64, after_begin: String) -> WritePath {
        WritePath {
            commands_in_runs: true,
            runs_undone: std::sync::atomic::AtomicU64::new(0),
            low_stock_threshold,
            after_begin,
        }
    }
}
