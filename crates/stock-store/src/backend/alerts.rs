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

use sqlx::Row;
use stock_core::ItemId;

use super::shared::{corrupt, item_id_at};
use super::{Conn, DbRow};
use crate::model::*;

/// The newest ledger row when a batch begins: the batch's changes come after it.
pub(crate) async fn ledger_mark(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM ledger")
        .fetch_one(&mut *conn)
        .await
}

/// Raises the alerts of the changes written since `mark`, in this transaction.
pub(crate) async fn raise(
    conn: &mut Conn,
    mark: i64,
    default_threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.item_id, c.change, c.last_id, i.name, COALESCE(i.min_stock, $2),
            (SELECT CAST(COALESCE(SUM(l.on_hand - l.reserved), 0) AS BIGINT)
             FROM levels l WHERE l.item_id = c.item_id)
         FROM (
            SELECT item_id, CAST(SUM(on_hand_delta - reserved_delta) AS BIGINT) AS change,
                MAX(id) AS last_id
            FROM ledger WHERE id > $1 GROUP BY item_id
         ) c JOIN items i ON i.id = c.item_id
         WHERE NOT EXISTS (
            SELECT 1 FROM ledger n WHERE n.item_id = c.item_id AND n.id > $1 AND n.operation = 'init')",
    )
    .bind(mark)
    .bind(default_threshold)
    .fetch_all(&mut *conn)
    .await?;
    let mut raised = 0;
    for row in rows {
        let change: i64 = row.try_get(1)?;
        let threshold: i64 = row.try_get(4)?;
        let after: i64 = row.try_get(5)?;
        let Some(kind) = AlertKind::crossed(after - change, after, threshold) else {
            continue;
        };
        let item = item_id_at(&row, 0)?;
        let name: String = row.try_get(3)?;
        let message = match kind {
            AlertKind::LowStock => {
                format!("{name} ({item}): {after} available, at or below {threshold}")
            }
            AlertKind::OutOfStock => format!("{name} ({item}) is out of stock"),
            AlertKind::BackInStock => {
                format!("{name} ({item}) is back in stock: {after} available")
            }
        };
        raised += sqlx::query(
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
        .bind(row.try_get::<i64, _>(2)?)
        .bind(message)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(raised)
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
