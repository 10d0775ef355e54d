//! `Store` on this backend: each method takes a connection (a reader, or the
//! writer for what changes) and calls the file that does the work. Changes
//! to stock arrive in batches through `execute` (see `executor.rs`).

use anyhow::Context;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use stock_core::{HoldStatus, ItemId, LocationId, Role};

use super::contract::{self, BackendStore, Db};
use super::levels::fetch_view;
use super::{
    alerts, channel_listings, events, executor, health, holds, keys_users_cursors, reads,
    supplier_links, webhooks,
};
use crate::model::*;
use crate::{Store, StoreResult};

impl BackendStore {
    async fn read(&self) -> StoreResult<PoolConnection<Db>> {
        self.reader
            .acquire()
            .await
            .context("acquiring a read connection")
    }

    async fn write(&self) -> StoreResult<PoolConnection<Db>> {
        self.writer
            .acquire()
            .await
            .context("acquiring the write connection")
    }
}

#[async_trait]
impl Store for BackendStore {
    async fn migrate(&self) -> StoreResult<usize> {
        contract::migrate(&mut *self.write().await?).await
    }

    async fn execute(&self, batch: &[WriteJob]) -> Vec<Reply> {
        self.run_batch(batch).await
    }

    async fn item(&self, id: &ItemId) -> StoreResult<Option<ItemView>> {
        Ok(fetch_view(&mut *self.read().await?, id).await?)
    }

    async fn items(&self, ids: &[ItemId]) -> StoreResult<Vec<ItemView>> {
        reads::items(&mut *self.read().await?, ids).await
    }

    async fn list_items(&self, filter: &ItemFilter, page: Page) -> StoreResult<Paged<ItemView>> {
        reads::list_items(&mut *self.read().await?, filter, page).await
    }

    async fn low_stock_report(
        &self,
        threshold: i64,
        items_max: u32,
    ) -> StoreResult<LowStockReport> {
        reads::low_stock_report(&mut *self.read().await?, threshold, items_max).await
    }

    async fn inventory_stats(&self, low_stock_threshold: i64) -> StoreResult<InventoryStats> {
        reads::inventory_stats(&mut *self.read().await?, low_stock_threshold).await
    }

    async fn locations(&self) -> StoreResult<Vec<Location>> {
        reads::locations(&mut *self.read().await?).await
    }

    async fn location(&self, id: &LocationId) -> StoreResult<Option<Location>> {
        reads::location_by_id(&mut *self.read().await?, id).await
    }

    async fn ledger(&self, filter: &LedgerFilter, page: Page) -> StoreResult<Paged<LedgerEntry>> {
        reads::ledger(&mut *self.read().await?, filter, page).await
    }

    async fn verify(&self) -> StoreResult<VerifyReport> {
        reads::verify(&mut *self.read().await?).await
    }

    async fn holds(&self, status: Option<HoldStatus>, page: Page) -> StoreResult<Paged<HoldView>> {
        reads::holds(&mut *self.read().await?, status, page).await
    }

    async fn hold(&self, id: &str) -> StoreResult<Option<HoldView>> {
        let hold = holds::fetch_hold(&mut *self.read().await?, id, holds::Access::Read).await?;
        Ok(hold.map(|(hold, _)| hold))
    }

    async fn order(&self, id: &str) -> StoreResult<Option<OrderView>> {
        let order = holds::fetch_order(&mut *self.read().await?, id, holds::Access::Read).await?;
        Ok(order.map(|(order, _)| order))
    }

    async fn orders(&self, filter: &OrderFilter, page: Page) -> StoreResult<Paged<OrderView>> {
        reads::orders(&mut *self.read().await?, filter, page).await
    }

    async fn alerts(&self, filter: &AlertFilter, page: Page) -> StoreResult<Paged<AlertView>> {
        Ok(alerts::list(&mut *self.read().await?, filter, page).await?)
    }

    async fn sink_cursor(&self, name: &str, initial: i64) -> StoreResult<i64> {
        keys_users_cursors::sink_cursor(&mut *self.write().await?, name, initial).await
    }

    async fn advance_sink_cursor(&self, name: &str, cursor: i64) -> StoreResult<()> {
        keys_users_cursors::advance_sink_cursor(&mut *self.write().await?, name, cursor).await
    }

    async fn put_channel(
        &self,
        id: &str,
        endpoint: Option<&str>,
        secret: Option<&str>,
    ) -> StoreResult<Channel> {
        let mut conn = self.write().await?;
        Ok(channel_listings::put_channel(&mut conn, id, endpoint, secret, now_ms()).await?)
    }

    async fn channel(&self, id: &str) -> StoreResult<Option<Channel>> {
        Ok(channel_listings::channel(&mut *self.read().await?, id).await?)
    }

    async fn channels(&self) -> StoreResult<Vec<String>> {
        Ok(channel_listings::channels(&mut *self.read().await?).await?)
    }

    async fn put_listing(
        &self,
        channel: &str,
        listing_id: &str,
        item: &ItemId,
        location: Option<&LocationId>,
        buffer: i64,
    ) -> StoreResult<Listing> {
        let mut conn = self.write().await?;
        let now = now_ms();
        Ok(channel_listings::put_listing(
            &mut conn, channel, listing_id, item, location, buffer, now,
        )
        .await?)
    }

    async fn delete_listing(&self, channel: &str, listing_id: &str) -> StoreResult<bool> {
        let mut conn = self.write().await?;
        Ok(channel_listings::delete_listing(&mut conn, channel, listing_id).await?)
    }

    async fn listings(&self, channel: &str, items: Option<&[ItemId]>) -> StoreResult<Vec<Listing>> {
        Ok(channel_listings::listings(&mut *self.read().await?, channel, items).await?)
    }

    async fn record_publish(
        &self,
        channel: &str,
        listing_id: &str,
        outcome: &PublishOutcome,
    ) -> StoreResult<()> {
        let mut conn = self.write().await?;
        let now = now_ms();
        Ok(channel_listings::record_publish(&mut conn, channel, listing_id, outcome, now).await?)
    }

    async fn put_supplier_link(
        &self,
        item: &ItemId,
        supplier: &str,
        product_code: &str,
        check_before_order: bool,
    ) -> StoreResult<PutSupplierLink> {
        let mut conn = self.write().await?;
        let now = now_ms();
        supplier_links::put_link(
            &mut conn,
            item,
            supplier,
            product_code,
            check_before_order,
            now,
        )
        .await
        .context("linking an item to a supplier")
    }

    async fn supplier_link(&self, item: &ItemId) -> StoreResult<Option<SupplierLink>> {
        Ok(supplier_links::link(&mut *self.read().await?, item).await?)
    }

    async fn supplier_links(&self, supplier: &str) -> StoreResult<Vec<SupplierLink>> {
        Ok(supplier_links::links(&mut *self.read().await?, supplier).await?)
    }

    async fn supplier_link_counts(&self) -> StoreResult<Vec<(String, u64)>> {
        Ok(supplier_links::link_counts(&mut *self.read().await?).await?)
    }

    async fn supplier_links_for(&self, items: &[ItemId]) -> StoreResult<Vec<SupplierLink>> {
        Ok(supplier_links::links_for(&mut *self.read().await?, items).await?)
    }

    async fn delete_supplier_link(&self, item: &ItemId) -> StoreResult<bool> {
        Ok(supplier_links::delete_link(&mut *self.write().await?, item).await?)
    }

    async fn health_report(&self, pending_max: u32) -> StoreResult<HealthReport> {
        Ok(health::report(&mut *self.read().await?, pending_max).await?)
    }

    async fn diff(&self, id: i64) -> StoreResult<Option<DiffView>> {
        Ok(health::fetch(&mut *self.read().await?, id).await?)
    }

    async fn changed_items_after(&self, after: i64, limit: u32) -> StoreResult<ChangedItems> {
        Ok(events::changed_items_after(&mut *self.read().await?, after, limit).await?)
    }

    async fn item_ids_after(&self, after: Option<&ItemId>, limit: u32) -> StoreResult<Vec<ItemId>> {
        Ok(health::item_ids_after(&mut *self.read().await?, after, limit).await?)
    }

    async fn events(
        &self,
        after: i64,
        kinds: &[EventKind],
        limit: u32,
    ) -> StoreResult<Vec<EventView>> {
        Ok(events::after(&mut *self.read().await?, after, kinds, limit).await?)
    }

    async fn last_event_id(&self) -> StoreResult<i64> {
        Ok(events::last_id(&mut *self.read().await?).await?)
    }

    async fn purge_events(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(events::purge(&mut *self.write().await?, before_ms).await?)
    }

    async fn mark_alert_sent(&self, id: i64) -> StoreResult<bool> {
        Ok(alerts::mark_sent(&mut *self.write().await?, id, now_ms()).await?)
    }

    async fn create_webhook(
        &self,
        id: &str,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        cursor: i64,
    ) -> StoreResult<Webhook> {
        let mut conn = self.write().await?;
        Ok(webhooks::create(&mut conn, id, url, secret, kinds, cursor, now_ms()).await?)
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        Ok(webhooks::list(&mut *self.read().await?).await?)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        Ok(webhooks::delete(&mut *self.write().await?, id, now_ms()).await?)
    }

    async fn lease_webhooks(&self, owner: &str, until_ms: i64) -> StoreResult<Vec<Webhook>> {
        Ok(webhooks::lease(&mut *self.write().await?, owner, now_ms(), until_ms).await?)
    }

    async fn record_delivery(
        &self,
        owner: &str,
        attempt: &Delivery,
        next_try_at_ms: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.write().await?;
        Ok(webhooks::record(&mut conn, owner, attempt, next_try_at_ms).await?)
    }

    async fn deliveries(&self, webhook_id: &str, page: Page) -> StoreResult<Paged<Delivery>> {
        Ok(webhooks::deliveries(&mut *self.read().await?, webhook_id, page).await?)
    }

    async fn gauges(&self) -> StoreResult<Gauges> {
        reads::gauges(&mut *self.read().await?).await
    }

    async fn due_holds(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<String>> {
        reads::due_holds(&mut *self.read().await?, now_ms, limit).await
    }

    async fn create_key(
        &self,
        id: &str,
        name: &str,
        role: Role,
        secret_hash: &str,
    ) -> StoreResult<ApiKey> {
        keys_users_cursors::create_key(&mut *self.write().await?, id, name, role, secret_hash).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        keys_users_cursors::keys(&mut *self.read().await?).await
    }

    async fn ledger_activity(&self, since_ms: i64, bucket_ms: i64) -> StoreResult<Vec<Activity>> {
        reads::ledger_activity(&mut *self.read().await?, since_ms, bucket_ms).await
    }

    async fn create_user(&self, name: &str, password_hash: &str) -> StoreResult<bool> {
        keys_users_cursors::create_user(&mut *self.write().await?, name, password_hash).await
    }

    async fn user_password_hash(&self, name: &str) -> StoreResult<Option<String>> {
        keys_users_cursors::user_password_hash(&mut *self.read().await?, name).await
    }

    async fn replace_user_password_hash(
        &self,
        name: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        keys_users_cursors::replace_user_password_hash(&mut *self.write().await?, name, old, new)
            .await
    }

    async fn live_key_with_hash(&self, id: &str) -> StoreResult<Option<(ApiKey, String)>> {
        keys_users_cursors::live_key_with_hash(&mut *self.read().await?, id).await
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        keys_users_cursors::revoke_key(&mut *self.write().await?, id).await
    }

    async fn key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        keys_users_cursors::key_by_hash(&mut *self.read().await?, secret_hash).await
    }

    async fn key_count(&self) -> StoreResult<u64> {
        keys_users_cursors::key_count(&mut *self.read().await?).await
    }

    async fn idempotent_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        let mut conn = self.read().await?;
        Ok(executor::stored_response(&mut conn, key_id, idempotency_key).await?)
    }

    async fn purge_retry_keys(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(executor::purge_retry_keys(&mut *self.write().await?, before_ms).await?)
    }

    async fn durability(&self) -> StoreResult<Durability> {
        contract::durability(&mut *self.write().await?).await
    }
}
