//! The backends: the same store on SQLite and on PostgreSQL.
//!
//! `shared.rs` and `holds.rs` are compiled once inside each backend module,
//! which supplies the types and SQL fragments that differ; that is the point,
//! not an accident, hence the allowance below.

pub mod postgres;
pub mod sqlite;
