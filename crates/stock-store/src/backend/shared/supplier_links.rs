//! Items whose stock lives at a supplier: their links to the supplier's
//! product codes (plain writes, not stock), and the sync that writes a
//! supplier's figure into an item's level (a change of stock, through the
//! engine like any other).

use std::collections::BTreeSet;

use sqlx::Row;
use stock_core::{sync_on_hand, ItemId, LocationId, Operation};

use super::contract::{Conn, DbRow};
use super::holds;
use super::levels::{fetch_level, fetch_view, require_item, write_change, Change};
use super::rows::{fetch_in, item_id_at};
use crate::model::*;

/// Links an item to a supplier's product code, or changes its link, in one
/// transaction: the code is looked up first, and another item's claim on it
/// (a writer that linked it meanwhile trips the unique index) is `CodeTaken`.
pub(crate) async fn put_link(
    conn: &mut Conn,
    item: &ItemId,
    supplier: &str,
    product_code: &str,
    check_before_order: bool,
    now: i64,
) -> anyhow::Result<PutSupplierLink> {
    sqlx::query(dialect_begin_write!())
        .execute(&mut *conn)
        .await?;
    let result = put_link_in(conn, item, supplier, product_code, check_before_order, now).await;
    match result {
        Ok(put) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(put)
        }
        Err(error) => {
            sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
            if is_unique_violation(&error) {
                if let Some(holder) = link_by_code(conn, supplier, product_code).await? {
                    if holder.item != *item {
                        return Ok(PutSupplierLink::CodeTaken { item: holder.item });
                    }
                }
            }
            Err(error.into())
        }
    }
}

async fn put_link_in(
    conn: &mut Conn,
    item: &ItemId,
    supplier: &str,
    product_code: &str,
    check_before_order: bool,
    now: i64,
) -> Result<PutSupplierLink, sqlx::Error> {
    let holder = sqlx::query(concat!(
        "SELECT * FROM supplier_links WHERE supplier = $1 AND product_code = $2",
        dialect_lock!()
    ))
    .bind(supplier)
    .bind(product_code)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(holder) = holder.as_ref().map(supplier_link).transpose()? {
        if holder.item != *item {
            return Ok(PutSupplierLink::CodeTaken { item: holder.item });
        }
    }
    // The last figure belongs to the product it came from: a link moved to
    // another product (or supplier) forgets it.
    sqlx::query(
        "INSERT INTO supplier_links (item_id, supplier, product_code, check_before_order,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (item_id) DO UPDATE SET
            last_stock = CASE WHEN supplier_links.supplier = excluded.supplier
                AND supplier_links.product_code = excluded.product_code
                THEN supplier_links.last_stock END,
            last_county_code = CASE WHEN supplier_links.supplier = excluded.supplier
                AND supplier_links.product_code = excluded.product_code
                THEN supplier_links.last_county_code END,
            last_synced_at = CASE WHEN supplier_links.supplier = excluded.supplier
                AND supplier_links.product_code = excluded.product_code
                THEN supplier_links.last_synced_at END,
            supplier = excluded.supplier, product_code = excluded.product_code,
            check_before_order = excluded.check_before_order, updated_at = excluded.updated_at",
    )
    .bind(item.as_str())
    .bind(supplier)
    .bind(product_code)
    .bind(check_before_order)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let linked = link(conn, item).await?.expect("the link was just written");
    Ok(PutSupplierLink::Linked(linked))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database| database.is_unique_violation())
}

pub(crate) async fn link(
    conn: &mut Conn,
    item: &ItemId,
) -> Result<Option<SupplierLink>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM supplier_links WHERE item_id = $1")
        .bind(item.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(supplier_link).transpose()
}

async fn link_by_code(
    conn: &mut Conn,
    supplier: &str,
    product_code: &str,
) -> Result<Option<SupplierLink>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM supplier_links WHERE supplier = $1 AND product_code = $2")
        .bind(supplier)
        .bind(product_code)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(supplier_link).transpose()
}

/// A supplier's links in item id order.
pub(crate) async fn links(
    conn: &mut Conn,
    supplier: &str,
) -> Result<Vec<SupplierLink>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM supplier_links WHERE supplier = $1 ORDER BY item_id")
        .bind(supplier)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(supplier_link).collect()
}

/// Items linked per supplier, by supplier name.
pub(crate) async fn link_counts(conn: &mut Conn) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT supplier, COUNT(*) FROM supplier_links GROUP BY supplier ORDER BY supplier",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(supplier, count)| (supplier, u64::try_from(count).unwrap_or(0)))
        .collect())
}

/// The links of these items, each once, in item id order.
pub(crate) async fn links_for(
    conn: &mut Conn,
    items: &[ItemId],
) -> Result<Vec<SupplierLink>, sqlx::Error> {
    let ids: BTreeSet<&str> = items.iter().map(ItemId::as_str).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let rows = fetch_in(
        conn,
        "SELECT * FROM supplier_links WHERE item_id IN ",
        &ids,
        "",
    )
    .await?;
    let mut found = rows
        .iter()
        .map(supplier_link)
        .collect::<Result<Vec<_>, _>>()?;
    // Sorted here, not by SQL: the IN list may take several statements.
    found.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(found)
}

pub(crate) async fn delete_link(conn: &mut Conn, item: &ItemId) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM supplier_links WHERE item_id = $1")
        .bind(item.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

fn supplier_link(row: &DbRow) -> Result<SupplierLink, sqlx::Error> {
    Ok(SupplierLink {
        item: item_id_at(row, "item_id")?,
        supplier: row.try_get("supplier")?,
        product_code: row.try_get("product_code")?,
        check_before_order: row.try_get("check_before_order")?,
        last_stock: row.try_get("last_stock")?,
        last_county_code: row.try_get("last_county_code")?,
        last_synced_at_ms: row.try_get("last_synced_at")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

/// A supplier's figure for an item, as `Command::SyncSupplierStock` gives it.
pub(crate) struct SupplierFigure<'a> {
    pub item: &'a ItemId,
    pub location: &'a LocationId,
    pub location_name: &'a str,
    pub location_priority: i64,
    pub stock: i64,
    pub supplier: &'a str,
    pub county_code: &'a str,
}

impl<'a> SupplierFigure<'a> {
    /// The figure a `SyncSupplierStock` carries; `None` for other commands.
    pub(crate) fn of(command: &'a Command) -> Option<SupplierFigure<'a>> {
        let Command::SyncSupplierStock {
            item,
            location,
            location_name,
            location_priority,
            stock,
            supplier,
            county_code,
        } = command
        else {
            return None;
        };
        Some(SupplierFigure {
            item,
            location,
            location_name,
            location_priority: *location_priority,
            stock: *stock,
            supplier,
            county_code,
        })
    }
}

/// Writes a supplier's figure into the item's level at the supplier's
/// location (made if missing), and records it on the item's link to that
/// supplier, whether or not the level moved.
pub(crate) async fn sync_stock(
    conn: &mut Conn,
    figure: &SupplierFigure<'_>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let item = require_item(conn, figure.item).await?;
    // What is held decides how low on hand may go: due holds go first.
    holds::expire_due_for_items(conn, [figure.item], meta, now).await?;
    let level = fetch_level(conn, figure.item, figure.location)
        .await?
        .unwrap_or_default();
    let transition = sync_on_hand(&item, &level, figure.stock)?;
    ensure_location(conn, figure, now).await?;
    let mut entry = None;
    if let Some(transition) = transition {
        let reason = figure_reason(figure.supplier, figure.stock, figure.county_code);
        let change = Change {
            item: figure.item,
            location: figure.location,
            operation: Operation::Sync,
            transition,
            order_id: None,
            reservation_id: None,
            reason: Some(&reason),
        };
        entry = Some(write_change(conn, &change, meta, now).await?);
    }
    let on_hand = transition.map_or(level.on_hand, |t| t.after.on_hand);
    // The rule never leaves on hand below the figure (both are at least 0
    // here), only above it when held stock keeps it up.
    assert!(
        on_hand >= figure.stock,
        "a sync keeps on hand at the figure or above"
    );
    let shortfall = on_hand - figure.stock;
    sqlx::query(
        "UPDATE supplier_links SET last_stock = $1, last_county_code = $2, last_synced_at = $3
         WHERE item_id = $4 AND supplier = $5",
    )
    .bind(figure.stock)
    .bind(figure.county_code)
    .bind(now)
    .bind(figure.item.as_str())
    .bind(figure.supplier)
    .execute(&mut *conn)
    .await?;
    let view = fetch_view(conn, figure.item)
        .await?
        .expect("a locked item has a view");
    Ok(Outcome::SupplierSynced {
        view,
        entry,
        shortfall,
    })
}

/// The reason of the ledger row a supplier's figure moves a level with.
pub(crate) fn figure_reason(supplier: &str, stock: i64, county_code: &str) -> String {
    format!("supplier {supplier}: {stock} for {county_code}")
}

/// Creates the supplier's location unless it exists; one that exists keeps
/// its name and priority.
async fn ensure_location(
    conn: &mut Conn,
    figure: &SupplierFigure<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO locations (id, name, priority, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(figure.location.as_str())
    .bind(figure.location_name)
    .bind(figure.location_priority)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
