//! The store, written once for every backend.
//!
//! This folder is compiled inside each backend module (`sqlite.rs`,
//! `postgres.rs` say `#[path = "shared/mod.rs"] mod shared;`), which
//! supplies the types, functions and SQL fragments that differ, as
//! `contract.rs` lists them. The SQL here means the same on every backend.

/// What the backend supplies to the files below.
mod contract;

// The write path: batches, and the command families `executor::apply`
// hands each command to.
mod executor;
// `effective_levels!` (levels as reads see them) serves the files after it.
#[macro_use]
mod levels;
mod rows;
/// How bulk values travel (`dialect_json_rows!`), for a backend's bulk writes.
#[allow(unused_imports)] // PostgreSQL binds its bulk rows as arrays instead
pub(super) use rows::json;

mod alerts;
mod channel_listings;
mod health;
mod holds;
mod items;
/// Its bulk rows are what a backend's bulk writes take.
pub(super) mod runs;
mod sales;
mod supplier_links;

// Reads, and what is written directly rather than in a batch.
mod events;
mod keys_users_cursors;
mod reads;
mod webhooks;

/// `Store` on the backend.
mod store;
