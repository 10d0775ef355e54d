//! An item as the view key holds it: the cache's own storage format, read
//! back into what reads return.

use serde::{Deserialize, Serialize};
use stock_core::{Item, ItemId, ItemStatus, Level, LocationId};
use stock_store::{ItemView, LocationLevel};

/// An item as the view key holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CachedItem {
    id: String,
    name: String,
    status: String,
    min_stock: Option<i64>,
    max_stock: Option<i64>,
    allow_backorder: bool,
    levels: Vec<CachedLevel>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedLevel {
    location: String,
    on_hand: i64,
    reserved: i64,
    version: i64,
    updated_at: i64,
}

impl From<&ItemView> for CachedItem {
    fn from(view: &ItemView) -> Self {
        CachedItem {
            id: view.item.id.to_string(),
            name: view.item.name.clone(),
            status: view.item.status.as_str().to_owned(),
            min_stock: view.item.min_stock,
            max_stock: view.item.max_stock,
            allow_backorder: view.item.allow_backorder,
            levels: view
                .levels
                .iter()
                .map(|l| CachedLevel {
                    location: l.location.to_string(),
                    on_hand: l.level.on_hand,
                    reserved: l.level.reserved,
                    version: l.level.version,
                    updated_at: l.updated_at_ms,
                })
                .collect(),
            created_at: view.created_at_ms,
            updated_at: view.updated_at_ms,
        }
    }
}

impl CachedItem {
    /// `None` for anything that does not parse: it is read as a miss.
    pub(crate) fn into_view(self) -> Option<ItemView> {
        let mut levels = Vec::with_capacity(self.levels.len());
        for level in self.levels {
            levels.push(LocationLevel {
                location: LocationId::parse(&level.location).ok()?,
                level: Level {
                    on_hand: level.on_hand,
                    reserved: level.reserved,
                    version: level.version,
                },
                updated_at_ms: level.updated_at,
            });
        }
        Some(ItemView {
            item: Item {
                id: ItemId::parse(&self.id).ok()?,
                name: self.name,
                status: ItemStatus::parse(&self.status)?,
                min_stock: self.min_stock,
                max_stock: self.max_stock,
                allow_backorder: self.allow_backorder,
            },
            levels,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}
