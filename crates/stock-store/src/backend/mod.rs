//! The backends: the same store on SQLite and on PostgreSQL.

pub mod postgres;
pub mod sqlite;
