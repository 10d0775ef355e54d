//! Configuration: defaults, then `config.yaml`, then environment, then flags.
//!
//! The file has the sections of the common inventory-service `config.yaml`
//! (`server`, `database`, `redis`, `inventory`). Any key can be set from
//! the environment as `STOCKD_` + its path in capitals with `__` between
//! levels (`STOCKD_INVENTORY__LOW_STOCK_THRESHOLD=5`); a few have short
//! names: `STOCKD_PORT`, `STOCKD_DATABASE_URL`, `STOCKD_ADMIN_KEY`,
//! `STOCKD_LOG_FORMAT`. Unknown keys and unknown `STOCKD_` names are refused.
//!
//! `schema.rs` holds the sections and their defaults, `load.rs` the layers
//! and the environment's names, `checks.rs` what a configuration must
//! satisfy, `addresses.rs` where the database and Redis are,
//! `duration.rs` durations as text, `suppliers.rs` the `regions` and
//! `suppliers` sections.

mod addresses;
mod checks;
mod duration;
mod load;
mod schema;
mod suppliers;
#[cfg(test)]
mod tests;

pub use addresses::DatabaseTarget;
pub use duration::parse_duration;
pub use load::{read_file, resolve, Flags};
pub use schema::*;
pub use suppliers::{SecretText, SupplierConfig, SupplierSyncConfig};
