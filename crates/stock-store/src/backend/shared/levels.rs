//! An item and its levels as every stock command reads and writes them:
//! locking the item for a change, requiring it and its location, reading a
//! level, writing a decided change (the level and its ledger row together,
//! refused when it would take the item's totals over all its locations past
//! 64 bits), and the view of an item that answers and reads show.

use sqlx::Row;
use stock_core::{check_totals, Item, ItemId, Level, LocationId, Operation, Totals, Transition};

use super::contract::Conn;
use super::rows::{fetch_in, item_from_row, location_id_at};
use crate::model::*;

/// Levels as reads see them: a hold past its expiry no longer counts as
/// reserved, even before the expiry task has released it. The join starts
/// from the (small) index of due holds.
macro_rules! effective_levels {
    () => {
        concat!(
        "SELECT l.item_id, l.location_id, l.on_hand, l.reserved - COALESCE(o.overdue, 0) AS reserved,
                l.version, l.updated_at
         FROM levels l LEFT JOIN (
            SELECT hl.item_id, hl.location_id, CAST(SUM(hl.quantity) AS BIGINT) AS overdue
            FROM holds h ",
            dialect_due_join!(),
            " hold_lines hl ON hl.hold_id = h.id
            WHERE h.status = 'active' AND h.expires_at <= ",
            dialect_now_ms!(),
            "
            GROUP BY hl.item_id, hl.location_id
         ) o ON o.item_id = l.item_id AND o.location_id = l.location_id"
        )
    };
}

pub(crate) struct Change<'a> {
    pub item: &'a ItemId,
    pub location: &'a LocationId,
    pub operation: Operation,
    pub transition: Transition,
    pub order_id: Option<&'a str>,
    pub reservation_id: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Writes a decided transition: the level and its ledger row, together.
/// Refused (`Overflow`) when the item's totals over all its locations would
/// not fit in 64 bits with the level at its new quantities.
pub(crate) async fn write_change(
    conn: &mut Conn,
    change: &Change<'_>,
    meta: &WriteMeta,
    now: i64,
) -> Result<LedgerEntry, WriteError> {
    let after = change.transition.after;
    if change.transition.may_overflow_totals() {
        let others = totals_elsewhere(conn, change.item, change.location).await?;
        check_totals(change.item, others, &after)?;
    }
    sqlx::query(
        "INSERT INTO levels (item_id, location_id, on_hand, reserved, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (item_id, location_id) DO UPDATE SET
            on_hand = excluded.on_hand, reserved = excluded.reserved,
            version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(change.item.as_str())
    .bind(change.location.as_str())
    .bind(after.on_hand)
    .bind(after.reserved)
    .bind(after.version)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let before = change.transition.before;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (item_id, location_id, operation, on_hand_delta, reserved_delta,
            on_hand_before, on_hand_after, reserved_before, reserved_after, version_after,
            order_id, reservation_id, reason, operator, trace_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
    )
    .bind(change.item.as_str())
    .bind(change.location.as_str())
    .bind(change.operation.as_str())
    .bind(change.transition.on_hand_delta())
    .bind(change.transition.reserved_delta())
    .bind(before.on_hand)
    .bind(after.on_hand)
    .bind(before.reserved)
    .bind(after.reserved)
    .bind(after.version)
    .bind(change.order_id)
    .bind(change.reservation_id)
    .bind(change.reason)
    .bind(&meta.operator)
    .bind(meta.trace_id.as_deref())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(LedgerEntry {
        id,
        item: change.item.clone(),
        location: change.location.clone(),
        operation: change.operation,
        on_hand_delta: change.transition.on_hand_delta(),
        reserved_delta: change.transition.reserved_delta(),
        on_hand_before: before.on_hand,
        on_hand_after: after.on_hand,
        reserved_before: before.reserved,
        reserved_after: after.reserved,
        version_after: after.version,
        order_id: change.order_id.map(str::to_owned),
        reservation_id: change.reservation_id.map(str::to_owned),
        reason: change.reason.map(str::to_owned),
        operator: meta.operator.clone(),
        trace_id: meta.trace_id.clone(),
        created_at_ms: now,
    })
}

/// Locks every item a request names, in its order; a 404 names every one
/// that does not exist.
pub(crate) async fn lock_items<'a>(
    conn: &mut Conn,
    ids: impl Iterator<Item = &'a ItemId>,
) -> Result<Vec<Item>, WriteError> {
    let mut found = Vec::new();
    for id in ids {
        found.push((id, lock_item(conn, id).await?.map(|(item, ..)| item)));
    }
    every_item(found)
}

/// The items a request names, in its order, or a 404 naming every one
/// that was not found.
pub(crate) fn every_item<'a>(
    found: impl IntoIterator<Item = (&'a ItemId, Option<Item>)>,
) -> Result<Vec<Item>, WriteError> {
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for (id, item) in found {
        match item {
            Some(item) => items.push(item),
            None => missing.push(id.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(WriteError::NotFound {
            entity: "item",
            id: missing.join(", "),
        });
    }
    Ok(items)
}

pub(crate) async fn require_item(conn: &mut Conn, id: &ItemId) -> Result<Item, WriteError> {
    match lock_item(conn, id).await? {
        Some((item, ..)) => Ok(item),
        None => Err(WriteError::NotFound {
            entity: "item",
            id: id.to_string(),
        }),
    }
}

pub(crate) async fn require_location(conn: &mut Conn, id: &LocationId) -> Result<(), WriteError> {
    if location_exists(conn, id).await? {
        Ok(())
    } else {
        Err(WriteError::NotFound {
            entity: "location",
            id: id.to_string(),
        })
    }
}

pub(crate) async fn location_exists(conn: &mut Conn, id: &LocationId) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM locations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.is_some())
}

/// Reads an item for a change to it, locking it until the transaction ends
/// where the backend has row locks: every change to an item's stock goes
/// through here first, so two writers (two replicas) take turns per item.
pub(crate) async fn lock_item(
    conn: &mut Conn,
    id: &ItemId,
) -> Result<Option<(Item, i64, i64)>, sqlx::Error> {
    item_by(
        conn,
        concat!("SELECT * FROM items WHERE id = $1", dialect_lock!()),
        id,
    )
    .await
}

async fn item_by(
    conn: &mut Conn,
    sql: &'static str,
    id: &ItemId,
) -> Result<Option<(Item, i64, i64)>, sqlx::Error> {
    let row = sqlx::query(sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(item_from_row).transpose()
}

/// A level's quantities, for a condition on its location ($2) to follow.
macro_rules! level_columns {
    () => {
        "SELECT on_hand, reserved, version FROM levels WHERE item_id = $1"
    };
}

/// The item's totals over every location but `location`, as written so far
/// in this transaction.
async fn totals_elsewhere(
    conn: &mut Conn,
    item: &ItemId,
    location: &LocationId,
) -> Result<Totals, sqlx::Error> {
    let sql = concat!(level_columns!(), " AND location_id <> $2");
    Ok(Totals::of(&levels_where(conn, sql, item, location).await?))
}

pub(crate) async fn fetch_level(
    conn: &mut Conn,
    item: &ItemId,
    location: &LocationId,
) -> Result<Option<Level>, sqlx::Error> {
    let sql = concat!(level_columns!(), " AND location_id = $2");
    Ok(levels_where(conn, sql, item, location).await?.pop())
}

/// The levels of `item` that `sql` (`level_columns!` and a condition on
/// the location) selects.
async fn levels_where(
    conn: &mut Conn,
    sql: &'static str,
    item: &ItemId,
    location: &LocationId,
) -> Result<Vec<Level>, sqlx::Error> {
    let rows = sqlx::query(sql)
        .bind(item.as_str())
        .bind(location.as_str())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Level {
                on_hand: row.try_get(0)?,
                reserved: row.try_get(1)?,
                version: row.try_get(2)?,
            })
        })
        .collect()
}

pub(crate) async fn fetch_view(
    conn: &mut Conn,
    id: &ItemId,
) -> Result<Option<ItemView>, sqlx::Error> {
    Ok(fetch_views(conn, std::slice::from_ref(id)).await?.pop())
}

/// The views of these items (those that exist, in the order asked), with
/// one statement per [`IN_LIST_MAX`] items: each item's row joined with its
/// levels as reads see them.
pub(crate) async fn fetch_views(
    conn: &mut Conn,
    ids: &[ItemId],
) -> Result<Vec<ItemView>, sqlx::Error> {
    let raw: Vec<&str> = ids.iter().map(ItemId::as_str).collect();
    let rows = fetch_in(
        conn,
        concat!(
            "SELECT i.*, e.location_id AS level_location, e.on_hand AS level_on_hand,
                e.reserved AS level_reserved, e.version AS level_version,
                e.updated_at AS level_updated_at
             FROM items i LEFT JOIN (",
            effective_levels!(),
            // The levels of these items only: a join alone would read every
            // level before it matched them to the items.
            " WHERE l.item_id ",
            dialect_json_in!(),
            ") e ON e.item_id = i.id LEFT JOIN locations o ON o.id = e.location_id
             WHERE i.id IN "
        ),
        &raw,
        " ORDER BY i.id, o.priority, o.id",
    )
    .await?;
    let mut found: std::collections::HashMap<ItemId, ItemView> =
        std::collections::HashMap::with_capacity(ids.len());
    for row in rows {
        let (item, created_at_ms, updated_at_ms) = item_from_row(&row)?;
        let view = found.entry(item.id.clone()).or_insert_with(|| ItemView {
            item,
            levels: Vec::new(),
            created_at_ms,
            updated_at_ms,
        });
        let location: Option<String> = row.try_get("level_location")?;
        if location.is_some() {
            view.levels.push(LocationLevel {
                location: location_id_at(&row, "level_location")?,
                level: Level {
                    on_hand: row.try_get("level_on_hand")?,
                    reserved: row.try_get("level_reserved")?,
                    version: row.try_get("level_version")?,
                },
                updated_at_ms: row.try_get("level_updated_at")?,
            });
        }
    }
    Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
}
