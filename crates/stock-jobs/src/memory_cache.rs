//! The read model in memory: the same read cache as with Redis
//! ([`Cache`](crate::cache::Cache): filled at start, written through after
//! every durable commit and before its answers go out, following other
//! replicas' commits through the outbox), held in this process.
//!
//! A read of one item is then a map lookup: no connection, no thread of a
//! database driver to hand the query to and back. Each entry keeps the
//! stamp of the view written (the sum of its level versions, then its
//! update time), and an older one never replaces a newer one, so a fill
//! racing a commit only moves an item forward.

use std::collections::HashMap;
use std::sync::RwLock;

use stock_core::ItemId;
use stock_store::ItemView;

use crate::cache::{stamp, CacheBackend, CachedEntry};

#[derive(Default)]
pub struct MemoryCache {
    items: RwLock<HashMap<ItemId, ItemView>>,
}

impl MemoryCache {
    pub fn new() -> MemoryCache {
        MemoryCache::default()
    }
}

#[async_trait::async_trait]
impl CacheBackend for MemoryCache {
    fn address(&self) -> String {
        "memory".to_owned()
    }

    fn key_format(&self) -> &str {
        "-"
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn read(&self, ids: &[ItemId]) -> anyhow::Result<Vec<Option<ItemView>>> {
        let items = self.items.read().expect("not poisoned");
        Ok(ids.iter().map(|id| items.get(id).cloned()).collect())
    }

    async fn write(&self, views: &[ItemView], force: bool) -> anyhow::Result<()> {
        let mut items = self.items.write().expect("not poisoned");
        for view in views {
            match items.get(&view.item.id) {
                Some(held) if !force && stamp(held) > stamp(view) => {}
                _ => {
                    items.insert(view.item.id.clone(), view.clone());
                }
            }
        }
        Ok(())
    }

    async fn entries(&self, ids: &[ItemId]) -> anyhow::Result<Vec<CachedEntry>> {
        let items = self.items.read().expect("not poisoned");
        Ok(ids
            .iter()
            .map(|id| match items.get(id) {
                Some(view) => CachedEntry {
                    value: Some(view.available()),
                    stamp: Some(stamp(view)),
                },
                None => CachedEntry {
                    value: None,
                    stamp: None,
                },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stock_core::{Item, ItemStatus, Level, LocationId};
    use stock_store::LocationLevel;

    fn view(on_hand: i64, version: i64) -> ItemView {
        ItemView {
            item: Item {
                id: ItemId::parse("a").unwrap(),
                name: "a".into(),
                status: ItemStatus::Active,
                min_stock: None,
                max_stock: None,
                allow_backorder: false,
            },
            levels: vec![LocationLevel {
                location: LocationId::default_location(),
                level: Level {
                    on_hand,
                    reserved: 0,
                    version,
                },
                updated_at_ms: 0,
            }],
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn an_older_view_never_replaces_a_newer_one_unless_forced() {
        let cache = MemoryCache::new();
        let id = ItemId::parse("a").unwrap();
        assert_eq!(cache.read(std::slice::from_ref(&id)).await.unwrap(), [None]);
        cache.write(&[view(5, 2)], false).await.unwrap();
        cache.write(&[view(9, 1)], false).await.unwrap();
        let held = cache.read(std::slice::from_ref(&id)).await.unwrap();
        assert_eq!(held[0].as_ref().map(ItemView::available), Some(5));
        cache.write(&[view(9, 1)], true).await.unwrap();
        let entries = cache.entries(&[id]).await.unwrap();
        assert_eq!(entries[0].value, Some(9));
        assert_eq!(entries[0].stamp, Some((1, 0)));
    }
}
