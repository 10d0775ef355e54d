//! The item commands: create an item with its opening stock, change its
//! details (and, with the expected version, set its stock at a location),
//! import it from a CSV row, and create a location.

use stock_core::{set_on_hand, Item, ItemId, Level, LocationId, Operation, Transition};

use super::contract::Conn;
use super::holds;
use super::levels::{
    fetch_level, fetch_view, location_exists, lock_item, require_item, require_location,
    write_change, Change,
};
use crate::model::*;

/// Creates an item and its level at `location` (an `init` ledger row).
pub(crate) async fn create(
    conn: &mut Conn,
    item: &Item,
    location: &LocationId,
    opening_stock: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    if lock_item(conn, &item.id).await?.is_some() {
        return Err(WriteError::AlreadyExists {
            entity: "item",
            id: item.id.to_string(),
        });
    }
    let entry = insert_item(conn, item, location, opening_stock, meta, now).await?;
    let view = fetch_view(conn, &item.id)
        .await?
        .expect("the item was just written");
    Ok(Outcome::Item {
        view,
        entries: vec![entry],
    })
}

/// Changes an item's details and, when asked, sets its stock at one
/// location if the level is still at the expected version.
pub(crate) async fn update(
    conn: &mut Conn,
    id: &ItemId,
    patch: &ItemPatch,
    set_stock: Option<&StockSet>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    if set_stock.is_some() {
        holds::expire_due_for_items(conn, [id], meta, now).await?;
    }
    let current = require_item(conn, id).await?;
    let item = patched(&current, patch);
    if item != current {
        update_item(conn, &item, now).await?;
    }
    let mut entries = Vec::new();
    if let Some(set) = set_stock {
        require_location(conn, &set.location).await?;
        let level = fetch_level(conn, id, &set.location)
            .await?
            .unwrap_or_default();
        let transition = set_on_hand(&item, &level, set.on_hand, set.expected_version)?;
        let change = Change {
            item: id,
            location: &set.location,
            operation: Operation::Set,
            transition,
            order_id: None,
            reservation_id: None,
            reason: set.reason.as_deref(),
        };
        entries.push(write_change(conn, &change, meta, now).await?);
    }
    let view = fetch_view(conn, id).await?.expect("the item exists");
    Ok(Outcome::Item { view, entries })
}

/// Creates the item of an imported row, or brings it and its stock at
/// `location` to what the row says.
pub(crate) async fn import(
    conn: &mut Conn,
    item: &Item,
    location: &LocationId,
    on_hand: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    require_location(conn, location).await?;
    holds::expire_due_for_items(conn, [&item.id], meta, now).await?;
    let Some((current, ..)) = lock_item(conn, &item.id).await? else {
        insert_item(conn, item, location, on_hand, meta, now).await?;
        let view = fetch_view(conn, &item.id)
            .await?
            .expect("the item was just written");
        return Ok(Outcome::Imported {
            kind: ImportKind::Created,
            view,
        });
    };
    let mut kind = ImportKind::Unchanged;
    if current != *item {
        update_item(conn, item, now).await?;
        kind = ImportKind::Updated;
    }
    let level = fetch_level(conn, &item.id, location)
        .await?
        .unwrap_or_default();
    if level.on_hand != on_hand {
        let transition = set_on_hand(item, &level, on_hand, level.version)?;
        let change = Change {
            item: &item.id,
            location,
            operation: Operation::Set,
            transition,
            order_id: None,
            reservation_id: None,
            reason: Some(IMPORT_REASON),
        };
        write_change(conn, &change, meta, now).await?;
        kind = ImportKind::Updated;
    }
    let view = fetch_view(conn, &item.id).await?.expect("the item exists");
    Ok(Outcome::Imported { kind, view })
}

/// Creates a location; its id is never reused.
pub(crate) async fn create_location(
    conn: &mut Conn,
    id: &LocationId,
    name: &str,
    priority: i64,
    now: i64,
) -> Result<Outcome, WriteError> {
    if location_exists(conn, id).await? {
        return Err(WriteError::AlreadyExists {
            entity: "location",
            id: id.to_string(),
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO locations (id, name, priority, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(name)
    .bind(priority)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another writer (another replica) made it meanwhile.
        return Err(WriteError::AlreadyExists {
            entity: "location",
            id: id.to_string(),
        });
    }
    Ok(Outcome::Location(Location {
        id: id.clone(),
        name: name.to_owned(),
        priority,
        created_at_ms: now,
    }))
}

/// The item with a patch's fields applied.
pub(crate) fn patched(item: &Item, patch: &ItemPatch) -> Item {
    Item {
        id: item.id.clone(),
        name: patch.name.clone().unwrap_or_else(|| item.name.clone()),
        status: patch.status.unwrap_or(item.status),
        min_stock: patch.min_stock.unwrap_or(item.min_stock),
        max_stock: patch.max_stock.unwrap_or(item.max_stock),
        allow_backorder: patch.allow_backorder.unwrap_or(item.allow_backorder),
    }
}

async fn insert_item(
    conn: &mut Conn,
    item: &Item,
    location: &LocationId,
    opening_stock: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<LedgerEntry, WriteError> {
    require_location(conn, location).await?;
    let inserted = sqlx::query(
        "INSERT INTO items (id, name, status, min_stock, max_stock, allow_backorder, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(item.id.as_str())
    .bind(&item.name)
    .bind(item.status.as_str())
    .bind(item.min_stock)
    .bind(item.max_stock)
    .bind(item.allow_backorder)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another writer (another replica) made it meanwhile.
        return Err(WriteError::AlreadyExists {
            entity: "item",
            id: item.id.to_string(),
        });
    }
    let change = Change {
        item: &item.id,
        location,
        operation: Operation::Init,
        transition: opening(opening_stock),
        order_id: None,
        reservation_id: None,
        reason: Some(OPENING_REASON),
    };
    write_change(conn, &change, meta, now).await
}

/// The reason of an item's first ledger row.
pub(crate) const OPENING_REASON: &str = "opening stock";

/// The reason of the row an import's stock is set with.
pub(crate) const IMPORT_REASON: &str = "import";

/// An item's first level: its opening stock, at version 1.
pub(crate) fn opening(opening_stock: i64) -> Transition {
    Transition {
        before: Level::default(),
        after: Level {
            on_hand: opening_stock,
            reserved: 0,
            version: 1,
        },
    }
}

async fn update_item(conn: &mut Conn, item: &Item, now: i64) -> Result<(), WriteError> {
    sqlx::query(
        "UPDATE items SET name = $1, status = $2, min_stock = $3, max_stock = $4, allow_backorder = $5,
            updated_at = $6 WHERE id = $7",
    )
    .bind(&item.name)
    .bind(item.status.as_str())
    .bind(item.min_stock)
    .bind(item.max_stock)
    .bind(item.allow_backorder)
    .bind(now)
    .bind(item.id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
