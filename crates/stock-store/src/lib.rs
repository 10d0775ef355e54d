//! The stockd store: the only crate that knows SQL.
//!
//! Everything the service keeps lives behind [`Store`]. Reads are plain
//! queries; every write arrives as a [`Command`] in a batch through
//! [`Store::execute`], which runs the whole batch in one transaction and each
//! command inside its own savepoint, so one command's refusal never touches
//! its neighbours. The decisions themselves are made by `stock-core`.

// The shared backend files are compiled once per backend (see `backend/mod.rs`).
#[allow(clippy::duplicate_mod)]
mod backend;
mod migrate;
mod model;

pub use backend::postgres::{PostgresOptions, PostgresStore};
pub use backend::sqlite::{SqliteOptions, SqliteStore, SqliteSynchronous};
pub use migrate::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use model::*;

use async_trait::async_trait;
use stock_core::{ItemId, LocationId, Role};

/// Result type of store calls that can fail only by IO.
pub type StoreResult<T> = Result<T, anyhow::Error>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations; returns how many ran.
    async fn migrate(&self) -> StoreResult<usize>;

    /// Runs a batch of commands in one transaction, in order, each in its own
    /// savepoint. Returns one reply per command, in the same order. A 2xx-worthy
    /// reply is only returned once the transaction is durable.
    async fn execute(&self, batch: &[WriteJob]) -> Vec<Reply>;

    async fn item(&self, id: &ItemId) -> StoreResult<Option<ItemView>>;
    async fn items(&self, ids: &[ItemId]) -> StoreResult<Vec<ItemView>>;
    async fn list_items(&self, filter: &ItemFilter, page: Page) -> StoreResult<Paged<ItemView>>;
    async fn low_stock_report(&self, threshold: i64, items_max: u32)
        -> StoreResult<LowStockReport>;
    async fn inventory_stats(&self, low_stock_threshold: i64) -> StoreResult<InventoryStats>;
    async fn locations(&self) -> StoreResult<Vec<Location>>;
    async fn location(&self, id: &LocationId) -> StoreResult<Option<Location>>;

    async fn ledger(&self, filter: &LedgerFilter, page: Page) -> StoreResult<Paged<LedgerEntry>>;
    /// Every level whose quantities differ from the sum of its ledger, and
    /// every level whose reserved quantity differs from its active holds.
    async fn verify(&self) -> StoreResult<VerifyReport>;

    /// Holds, newest first, of one status (as stored) or all.
    async fn holds(
        &self,
        status: Option<stock_core::HoldStatus>,
        page: Page,
    ) -> StoreResult<Paged<HoldView>>;
    async fn hold(&self, id: &str) -> StoreResult<Option<HoldView>>;
    async fn order(&self, id: &str) -> StoreResult<Option<OrderView>>;
    async fn orders(&self, filter: &OrderFilter, page: Page) -> StoreResult<Paged<OrderView>>;
    /// Events after `after`, oldest first, of these kinds (all when empty).
    async fn events(
        &self,
        after: i64,
        kinds: &[EventKind],
        limit: u32,
    ) -> StoreResult<Vec<EventView>>;
    /// The newest event's id; 0 when there is none.
    async fn last_event_id(&self) -> StoreResult<i64>;
    /// Forgets events and webhook delivery attempts older than `before_ms`;
    /// returns how many.
    async fn purge_events(&self, before_ms: i64) -> StoreResult<u64>;
    /// A pending alert was delivered somewhere: it becomes `sent`.
    async fn mark_alert_sent(&self, id: i64) -> StoreResult<bool>;
    async fn create_webhook(
        &self,
        id: &str,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        cursor: i64,
    ) -> StoreResult<Webhook>;
    /// Webhooks not deleted, oldest first.
    async fn webhooks(&self) -> StoreResult<Vec<Webhook>>;
    /// `false` when there is no such webhook.
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;
    /// Takes or renews the lease on every webhook no other process holds;
    /// returns those `owner` delivers for until `until_ms`.
    async fn lease_webhooks(&self, owner: &str, until_ms: i64) -> StoreResult<Vec<Webhook>>;
    /// Logs a delivery attempt and moves the webhook on; `false` (and nothing
    /// logged) when `owner` no longer holds its lease or it moved already.
    async fn record_delivery(
        &self,
        owner: &str,
        attempt: &Delivery,
        next_try_at_ms: i64,
    ) -> StoreResult<bool>;
    /// A webhook's delivery attempts, newest first.
    async fn deliveries(&self, webhook_id: &str, page: Page) -> StoreResult<Paged<Delivery>>;
    /// Counts for metrics: active holds, open alerts, webhooks, the outbox.
    async fn gauges(&self) -> StoreResult<Gauges>;
    /// Alerts, newest first.
    async fn alerts(&self, filter: &AlertFilter, page: Page) -> StoreResult<Paged<AlertView>>;
    /// How far the outbox sink `name` has published; `initial` the first time.
    async fn sink_cursor(&self, name: &str, initial: i64) -> StoreResult<i64>;
    /// Moves the sink's cursor forward (never back).
    async fn advance_sink_cursor(&self, name: &str, cursor: i64) -> StoreResult<()>;
    /// Creates a channel or changes where a sync pushes to.
    async fn put_channel(
        &self,
        id: &str,
        endpoint: Option<&str>,
        secret: Option<&str>,
    ) -> StoreResult<Channel>;
    async fn channel(&self, id: &str) -> StoreResult<Option<Channel>>;
    /// Every channel's id.
    async fn channels(&self) -> StoreResult<Vec<String>>;
    /// Links a listing to an item (creating a channel that reads through the
    /// API if there is none); the item and location must exist.
    async fn put_listing(
        &self,
        channel: &str,
        listing_id: &str,
        item: &ItemId,
        location: Option<&LocationId>,
        buffer: i64,
    ) -> StoreResult<Listing>;
    async fn delete_listing(&self, channel: &str, listing_id: &str) -> StoreResult<bool>;
    /// A channel's listings by listing id; only those of `items` when given.
    async fn listings(&self, channel: &str, items: Option<&[ItemId]>) -> StoreResult<Vec<Listing>>;
    async fn record_publish(
        &self,
        channel: &str,
        listing_id: &str,
        outcome: &PublishOutcome,
    ) -> StoreResult<()>;
    /// Links an item (which the caller found to exist) to a supplier's
    /// product code, or changes its link; `CodeTaken` when the code is
    /// linked to another item. A link moved to another product forgets the
    /// last figure of the old one.
    async fn put_supplier_link(
        &self,
        item: &ItemId,
        supplier: &str,
        product_code: &str,
        check_before_order: bool,
    ) -> StoreResult<PutSupplierLink>;
    async fn supplier_link(&self, item: &ItemId) -> StoreResult<Option<SupplierLink>>;
    /// A supplier's links, by item id.
    async fn supplier_links(&self, supplier: &str) -> StoreResult<Vec<SupplierLink>>;
    /// How many items each supplier has linked (suppliers with none are left out).
    async fn supplier_link_counts(&self) -> StoreResult<Vec<(String, u64)>>;
    /// The links of these items (those that have one), by item id.
    async fn supplier_links_for(&self, items: &[ItemId]) -> StoreResult<Vec<SupplierLink>>;
    /// `false` when the item had no link.
    async fn delete_supplier_link(&self, item: &ItemId) -> StoreResult<bool>;
    /// What the health checker found: its last run, totals, pending diffs
    /// (newest first, at most `pending_max`).
    async fn health_report(&self, pending_max: u32) -> StoreResult<HealthReport>;
    async fn diff(&self, id: i64) -> StoreResult<Option<DiffView>>;
    /// The items whose stock changed after outbox event `after`, reading at
    /// most `limit` events.
    async fn changed_items_after(&self, after: i64, limit: u32) -> StoreResult<ChangedItems>;
    /// Item ids after `after` in id order, at most `limit`: the whole
    /// catalogue, a page at a time.
    async fn item_ids_after(&self, after: Option<&ItemId>, limit: u32) -> StoreResult<Vec<ItemId>>;
    /// Ids of active holds due at `now_ms`, soonest first, at most `limit`.
    async fn due_holds(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<String>>;

    async fn create_key(
        &self,
        id: &str,
        name: &str,
        role: Role,
        secret_hash: &str,
    ) -> StoreResult<ApiKey>;
    async fn keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Units sold (deducted or committed) and held, per `bucket_ms` since
    /// `since_ms`; buckets with nothing are left out.
    async fn ledger_activity(&self, since_ms: i64, bucket_ms: i64) -> StoreResult<Vec<Activity>>;
    /// A console user; `false` when the name is taken.
    async fn create_user(&self, name: &str, password_hash: &str) -> StoreResult<bool>;
    async fn user_password_hash(&self, name: &str) -> StoreResult<Option<String>>;
    /// Replaces a console user's password hash if it is still `old`;
    /// `false` when it was not (changed meanwhile, or no such user).
    async fn replace_user_password_hash(
        &self,
        name: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;
    /// A live (not revoked) key and the hash of its secret: what signs the
    /// admin console's sessions, so that revoking the key ends them.
    async fn live_key_with_hash(&self, id: &str) -> StoreResult<Option<(ApiKey, String)>>;
    /// Marks a key revoked; `false` if no such key or already revoked.
    async fn revoke_key(&self, id: &str) -> StoreResult<bool>;
    /// The live (not revoked) key with this secret hash.
    async fn key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn key_count(&self) -> StoreResult<u64>;

    async fn idempotent_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<StoredResponse>>;
    /// Forgets idempotency keys and sync-stock retry keys older than `before_ms`.
    async fn purge_retry_keys(&self, before_ms: i64) -> StoreResult<u64>;

    /// The durability settings actually in force on the write connection.
    async fn durability(&self) -> StoreResult<Durability>;
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;
