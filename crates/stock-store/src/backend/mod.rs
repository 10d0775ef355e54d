//! The backends: the same store on SQLite and on PostgreSQL.
//!
//! Written once and compiled twice: every file named in `shared_modules!`
//! is compiled inside `sqlite` and again inside `postgres`, each of which
//! supplies the types, functions and SQL fragments that differ, as
//! `contract.rs` lists them. That is the point, not an accident, hence the
//! allowance of `clippy::duplicate_mod` on this module.

/// Compiles the shared files inside the backend module that says
/// `shared_modules!();` (paths are relative to this folder).
macro_rules! shared_modules {
    () => {
        /// What the backend supplies to the files below.
        #[path = "contract.rs"]
        mod contract;

        #[path = "executor.rs"]
        mod executor;
        #[path = "store.rs"]
        mod store;

        // Its `effective_levels!` serves the files after it.
        #[macro_use]
        #[path = "levels.rs"]
        mod levels;
        #[path = "rows.rs"]
        mod rows;

        #[path = "alerts.rs"]
        mod alerts;
        #[path = "channel_listings.rs"]
        mod channel_listings;
        #[path = "health.rs"]
        mod health;
        #[path = "holds.rs"]
        mod holds;
        #[path = "items.rs"]
        mod items;
        #[path = "runs.rs"]
        mod runs;
        #[path = "sales.rs"]
        mod sales;
        #[path = "supplier_links.rs"]
        mod supplier_links;

        #[path = "events.rs"]
        mod events;
        #[path = "keys_users_cursors.rs"]
        mod keys_users_cursors;
        #[path = "reads.rs"]
        mod reads;
        #[path = "webhooks.rs"]
        mod webhooks;
    };
}

pub mod postgres;
pub mod sqlite;

/// How a store runs its write batches, the same on both backends.
pub(crate) struct WritePath {
    /// Consecutive sales in a batch are decided together (`runs.rs`).
    pub sales_in_runs: bool,
    /// Runs of sales that had to run one by one instead.
    pub runs_undone: std::sync::atomic::AtomicU64,
    /// The low-stock line of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
}

impl WritePath {
    pub fn new(low_stock_threshold: i64) -> WritePath {
        WritePath {
            sales_in_runs: true,
            runs_undone: std::sync::atomic::AtomicU64::new(0),
            low_stock_threshold,
        }
    }
}
