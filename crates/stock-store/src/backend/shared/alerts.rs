//! Alerts: raised by the writes that take an item's available stock across a
//! line, closed by staff.
//!
//! A batch is one transaction, and nobody sees stock between its writes, so
//! an item's available stock is compared as it was before the batch and as
//! it is at its end: an item that runs out and is restocked within one batch
//! was never out of stock for anyone. The alert names the batch's last change
//! of the item. At most one alert per item and kind is open (pending or sent);
//! a crossing while one is open raises nothing new. An item created in the
//! batch had no stock before to cross from: its opening stock raises nothing.

use std::collections::BTreeMap;

use sqlx::Row;
use stock_core::ItemId;

use super::contract::{Conn, DbRow};
use super::rows::{corrupt, fetch_in, item_id_at};
use crate::model::*;

/// The newest ledger row when a batch begins: the batch's changes come after it.
pub(crate) async fn ledger_mark(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    // Not MAX(id) inside COALESCE: SQLite answers only a bare MAX from the
    // index, anything around it scans the whole ledger.
    let newest: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(newest.unwrap_or(0))
}

/// Raises the alerts of the changes written since `mark`, in this transaction.
/// Ledger rows read per statement while raising a batch's alerts.
const ROWS_PER_READ: i64 = 10_000;

/// What a batch did to one item's available stock (all locations).
pub(crate) struct ItemChange {
    pub item: ItemId,
    pub name: String,
    pub min_stock: Option<i64>,
    pub before: i64,
    pub after: i64,
    /// The batch's last ledger row for the item.
    pub last_id: i64,
}

/// What a batch changed, as far as alerts are concerned.
pub(crate) enum BatchChanges {
    /// Reported by the batch itself (a run of sales that knows).
    Known(Vec<ItemChange>),
    /// Every ledger row after this mark.
    InLedgerAfter(i64),
}

/// Raises the alerts of a batch's changes, in this transaction.
pub(crate) async fn raise_for(
    conn: &mut Conn,
    changes: BatchChanges,
    default_threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    match changes {
        BatchChanges::Known(changes) => raise_changes(conn, &changes, default_threshold, now).await,
        BatchChanges::InLedgerAfter(mark) => raise(conn, mark, default_threshold, now).await,
    }
}

/// Raises the alerts of changes a run of sales reports itself.
async fn raise_changes(
    conn: &mut Conn,
    changes: &[ItemChange],
    default_threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    // In the order the changes happened, whichever path reports them.
    let mut ordered: Vec<&ItemChange> = changes.iter().collect();
    ordered.sort_by_key(|change| change.last_id);
    let mut raised = 0;
    for change in ordered {
        let threshold = change.min_stock.unwrap_or(default_threshold);
        raised += raise_one(conn, change, threshold, now).await?;
    }
    Ok(raised)
}

/// What a batch did to one item, as its ledger rows tell.
struct Changed {
    /// Net change of available stock over the batch.
    change: i64,
    /// The batch's last ledger row for the item.
    last_id: i64,
    /// The item was created in the batch.
    created: bool,
}

async fn raise(
    conn: &mut Conn,
    mark: i64,
    default_threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    // Pages in id order with a LIMIT: a prepared `id > $1` alone may get a
    // generic plan that scans the whole ledger.
    let mut changed: BTreeMap<String, Changed> = BTreeMap::new();
    let mut after = mark;
    loop {
        let rows = sqlx::query(concat!(
            "SELECT id, item_id, on_hand_delta - reserved_delta, operation FROM ledger
             WHERE id > $1",
            dialect_own_rows!(),
            " ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(ROWS_PER_READ)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let operation: String = row.try_get(3)?;
            let entry = changed.entry(row.try_get(1)?).or_insert(Changed {
                change: 0,
                last_id: id,
                created: false,
            });
            entry.change += row.try_get::<i64, _>(2)?;
            entry.last_id = id;
            entry.created |= operation == "init";
            after = id;
        }
        if (rows.len() as i64) < ROWS_PER_READ {
            break;
        }
    }
    changed.retain(|_, item| !item.created);
    let ids: Vec<&str> = changed.keys().map(String::as_str).collect();
    let rows = fetch_in(
        conn,
        "SELECT i.id, i.name, i.min_stock,
            (SELECT CAST(COALESCE(SUM(l.on_hand - l.reserved), 0) AS BIGINT)
             FROM levels l WHERE l.item_id = i.id)
         FROM items i WHERE i.id IN ",
        &ids,
        "",
    )
    .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let item = item_id_at(&row, 0)?;
        let after: i64 = row.try_get(3)?;
        let batch = &changed[item.as_str()];
        changes.push(ItemChange {
            name: row.try_get(1)?,
            min_stock: row.try_get(2)?,
            before: after - batch.change,
            after,
            last_id: batch.last_id,
            item,
        });
    }
    raise_changes(conn, &changes, default_threshold, now).await
}

async fn raise_one(
    conn: &mut Conn,
    change: &ItemChange,
    threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let Some(kind) = AlertKind::crossed(change.before, change.after, threshold) else {
        return Ok(0);
    };
    let (item, name, after) = (&change.item, &change.name, change.after);
    let message = match kind {
        AlertKind::LowStock => {
            format!("{name} ({item}): {after} available, at or below {threshold}")
        }
        AlertKind::OutOfStock => format!("{name} ({item}) is out of stock"),
        AlertKind::BackInStock => {
            format!("{name} ({item}) is back in stock: {after} available")
        }
        AlertKind::DiffAlert => unreachable!("a change of stock raises no diff alert"),
    };
    Ok(sqlx::query(
        "INSERT INTO alerts (item_id, kind, level, status, available, threshold, ledger_id,
            message, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $8)
         ON CONFLICT (item_id, kind) WHERE status IN ('pending', 'sent') DO NOTHING",
    )
    .bind(item.as_str())
    .bind(kind.as_str())
    .bind(kind.level())
    .bind(after)
    .bind(threshold)
    .bind(change.last_id)
    .bind(message)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Acknowledges or ignores an open alert.
pub(crate) async fn close(
    conn: &mut Conn,
    id: i64,
    status: AlertStatus,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let Some(alert) = fetch(conn, id).await? else {
        return Err(WriteError::NotFound {
            entity: "alert",
            id: id.to_string(),
        });
    };
    if !alert.status.is_open() {
        return Err(WriteError::AlertClosed {
            id,
            status: alert.status,
        });
    }
    sqlx::query("UPDATE alerts SET status = $1, handled_by = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(&meta.operator)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let alert = fetch(conn, id).await?.expect("the alert was just updated");
    Ok(Outcome::Alert(alert))
}

/// Marks a pending alert as sent (someone was told); `false` if it was not pending.
pub(crate) async fn mark_sent(conn: &mut Conn, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE alerts SET status = 'sent', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub(crate) async fn fetch(conn: &mut Conn, id: i64) -> Result<Option<AlertView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(alert_view).transpose()
}

pub(crate) fn alert_view(row: &DbRow) -> Result<AlertView, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(AlertView {
        id: row.try_get("id")?,
        item: item_id_at(row, "item_id")?,
        kind: AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("alert status", &status))?,
        available: row.try_get("available")?,
        threshold: row.try_get("threshold")?,
        ledger_id: row.try_get("ledger_id")?,
        message: row.try_get("message")?,
        handled_by: row.try_get("handled_by")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

/// Alerts newest first, filtered; and how many there are in all.
pub(crate) async fn list(
    conn: &mut Conn,
    filter: &AlertFilter,
    page: Page,
) -> Result<Paged<AlertView>, sqlx::Error> {
    const WHERE: &str = "WHERE ($1 IS NULL OR item_id = $1) AND ($2 IS NULL OR kind = $2)
        AND ($3 IS NULL OR status = $3) AND ($4 = 0 OR status IN ('pending', 'sent'))";
    let item = filter.item.as_ref().map(ItemId::as_str);
    let kind = filter.kind.map(AlertKind::as_str);
    let status = filter.status.map(AlertStatus::as_str);
    let open = i64::from(filter.open);
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM alerts {WHERE}"))
        .bind(item)
        .bind(kind)
        .bind(status)
        .bind(open)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT * FROM alerts {WHERE} ORDER BY id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(item)
    .bind(kind)
    .bind(status)
    .bind(open)
    .bind(i64::from(page.size))
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Paged {
        rows: rows.iter().map(alert_view).collect::<Result<_, _>>()?,
        total: total as u64,
        page,
    })
}
