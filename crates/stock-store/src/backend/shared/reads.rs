//! The reads behind the API's lists and reports: items (several, or a
//! filtered page), the low-stock report and the inventory's totals,
//! locations, the ledger, `verify`, holds and orders, the gauges for
//! metrics, due holds and the ledger's activity over time. None of them
//! writes; each runs on a connection of the read pool.

use sqlx::Row;
use stock_core::{saturate, HoldStatus, ItemId, ItemStatus, LocationId, Operation, OrderStatus};

use super::contract::{Conn, DbRow};
use super::levels::fetch_views;
use super::rows::{corrupt, item_id_at, ledger_entry, location_id_at};
use super::{events, holds};
use crate::model::*;
use crate::StoreResult;

/// A LIKE pattern that matches `query` anywhere, with its wildcards escaped.
fn contains_pattern(query: &str) -> String {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Items with their available stock, optionally at one location (?1).
macro_rules! available_by_item {
    () => {
        concat!(
            "SELECT i.id, i.name, i.status, i.min_stock,
                   COALESCE(s.on_hand, 0) AS on_hand, COALESCE(s.reserved, 0) AS reserved,
                   COALESCE(s.on_hand, 0) - COALESCE(s.reserved, 0) AS available
            FROM items i LEFT JOIN (
                SELECT item_id, CAST(SUM(on_hand) AS BIGINT) AS on_hand, CAST(SUM(reserved) AS BIGINT) AS reserved
                FROM (",
            effective_levels!(),
            ") e WHERE ($1 IS NULL OR e.location_id = $1) GROUP BY e.item_id
            ) s ON s.item_id = i.id"
        )
    };
}

/// With a location ($1), only items with a level there.
macro_rules! item_list_where {
    () => {
        " WHERE ($1 IS NULL OR EXISTS (
                SELECT 1 FROM levels l WHERE l.item_id = a.id AND l.location_id = $1))
            AND ($2 IS NULL OR a.status = $2)
            AND ($3 IS NULL OR a.id LIKE $3 ESCAPE '\\' OR a.name LIKE $3 ESCAPE '\\')
            AND (NOT $4 OR (a.available > 0 AND a.available <= COALESCE(a.min_stock, $5)))
            AND (NOT $6 OR a.available <= 0)"
    };
}

const ITEM_LIST_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM (",
    available_by_item!(),
    ") a",
    item_list_where!()
);
const ITEM_LIST_PAGE: &str = concat!(
    "SELECT a.id FROM (",
    available_by_item!(),
    ") a",
    item_list_where!(),
    " ORDER BY a.id LIMIT $7 OFFSET $8"
);

macro_rules! low_stock {
    () => {
        " WHERE a.available > 0 AND a.available <= $2"
    };
}
macro_rules! out_of_stock {
    () => {
        " WHERE a.available <= 0 AND $2 = $2"
    };
}
const LOW_STOCK_ROWS: &str = concat!(
    "SELECT a.id, a.name, a.available FROM (",
    available_by_item!(),
    ") a",
    low_stock!(),
    " ORDER BY a.available, a.id LIMIT $3"
);
const LOW_STOCK_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM (",
    available_by_item!(),
    ") a",
    low_stock!(),
    " AND $3 = $3"
);
const OUT_OF_STOCK_ROWS: &str = concat!(
    "SELECT a.id, a.name, a.available FROM (",
    available_by_item!(),
    ") a",
    out_of_stock!(),
    " ORDER BY a.available, a.id LIMIT $3"
);
const OUT_OF_STOCK_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM (",
    available_by_item!(),
    ") a",
    out_of_stock!(),
    " AND $3 = $3"
);

/// The sum of a 64-bit column over many rows, as two columns that cannot
/// overflow where a plain `SUM` would (SQLite fails, PostgreSQL's numeric
/// does not fit back in a `BIGINT`): the sum of the column's high 32 bits
/// (an arithmetic shift, so negative values keep their sign) and the sum of
/// its low 32 bits. [`wide_sum`] puts them back together; exact for up to
/// 2^31 rows.
macro_rules! split_sum {
    ($column:literal) => {
        concat!(
            "CAST(COALESCE(SUM((",
            $column,
            ") >> 32), 0) AS BIGINT), CAST(COALESCE(SUM((",
            $column,
            ") & 4294967295), 0) AS BIGINT)"
        )
    };
}

/// The sum that `split_sum!` left at columns `high` and `high + 1`.
fn wide_sum(row: &DbRow, high: usize) -> Result<i128, sqlx::Error> {
    let high_bits: i64 = row.try_get(high)?;
    let low_bits: i64 = row.try_get(high + 1)?;
    Ok((i128::from(high_bits) << 32) + i128::from(low_bits))
}

const INVENTORY_STATS: &str = concat!(
    "SELECT COUNT(*), ",
    split_sum!("a.on_hand"),
    ", ",
    split_sum!("a.reserved"),
    ",
        CAST(COALESCE(SUM(CASE WHEN a.available > 0 AND a.available <= COALESCE(a.min_stock, $2)
                               THEN 1 ELSE 0 END), 0) AS BIGINT),
        CAST(COALESCE(SUM(CASE WHEN a.available <= 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
        (SELECT COUNT(*) FROM locations),
        (SELECT COUNT(*) FROM ledger)
     FROM (",
    available_by_item!(),
    ") a"
);

/// Units sold (a negative sum: deducted or committed) and held per bucket
/// of time.
const LEDGER_ACTIVITY: &str = concat!(
    "SELECT CAST(created_at / $2 AS BIGINT) AS bucket, ",
    split_sum!("CASE WHEN operation IN ('deduct', 'commit') THEN on_hand_delta ELSE 0 END"),
    ", ",
    split_sum!("CASE WHEN operation = 'reserve' THEN reserved_delta ELSE 0 END"),
    " FROM ledger WHERE created_at >= $1 GROUP BY CAST(created_at / $2 AS BIGINT) ORDER BY bucket"
);

macro_rules! ledger_where {
    () => {
        " WHERE ($1 IS NULL OR item_id = $1) AND ($2 IS NULL OR order_id = $2)
            AND ($3 IS NULL OR trace_id = $3) AND ($4 IS NULL OR operation = $4)"
    };
}
const LEDGER_COUNT: &str = concat!("SELECT COUNT(*) FROM ledger", ledger_where!());
const LEDGER_PAGE: &str = concat!(
    "SELECT * FROM ledger",
    ledger_where!(),
    " ORDER BY id DESC LIMIT $5 OFFSET $6"
);

fn stock_lines(rows: &[DbRow]) -> Result<Vec<StockLine>, sqlx::Error> {
    rows.iter()
        .map(|row| {
            Ok(StockLine {
                id: item_id_at(row, 0)?,
                name: row.try_get(1)?,
                available: row.try_get(2)?,
            })
        })
        .collect()
}

pub(crate) async fn items(conn: &mut Conn, ids: &[ItemId]) -> StoreResult<Vec<ItemView>> {
    Ok(fetch_views(conn, ids).await?)
}

pub(crate) async fn list_items(
    conn: &mut Conn,
    filter: &ItemFilter,
    page: Page,
) -> StoreResult<Paged<ItemView>> {
    let pattern = filter.query.as_deref().map(contains_pattern);
    let location = filter.location.as_ref().map(|l| l.as_str().to_owned());
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(location.clone())
            .bind(filter.status.map(ItemStatus::as_str))
            .bind(pattern.clone())
            .bind(filter.low_stock)
            .bind(filter.low_stock_threshold)
            .bind(filter.out_of_stock)
    };
    let total: i64 = bind(ITEM_LIST_COUNT)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let rows = bind(ITEM_LIST_PAGE)
        .bind(i64::from(page.size))
        .bind(page.offset())
        .fetch_all(&mut *conn)
        .await?;
    let ids = rows
        .iter()
        .map(|row| item_id_at(row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paged {
        rows: fetch_views(conn, &ids).await?,
        total: total as u64,
        page,
    })
}

pub(crate) async fn low_stock_report(
    conn: &mut Conn,
    threshold: i64,
    items_max: u32,
) -> StoreResult<LowStockReport> {
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(None::<String>)
            .bind(threshold)
            .bind(i64::from(items_max))
    };
    let low_stock = stock_lines(&bind(LOW_STOCK_ROWS).fetch_all(&mut *conn).await?)?;
    let out_of_stock = stock_lines(&bind(OUT_OF_STOCK_ROWS).fetch_all(&mut *conn).await?)?;
    let low_stock_count: i64 = bind(LOW_STOCK_COUNT)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let out_of_stock_count: i64 = bind(OUT_OF_STOCK_COUNT)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(LowStockReport {
        low_stock,
        low_stock_count: low_stock_count as u64,
        out_of_stock,
        out_of_stock_count: out_of_stock_count as u64,
    })
}

pub(crate) async fn inventory_stats(
    conn: &mut Conn,
    low_stock_threshold: i64,
) -> StoreResult<InventoryStats> {
    let row = sqlx::query(INVENTORY_STATS)
        .bind(None::<String>)
        .bind(low_stock_threshold)
        .fetch_one(&mut *conn)
        .await?;
    let on_hand = wide_sum(&row, 1)?;
    let reserved = wide_sum(&row, 3)?;
    let count = |index: usize| row.try_get::<i64, _>(index).map(|n| n as u64);
    Ok(InventoryStats {
        items: count(0)?,
        on_hand: saturate(on_hand),
        reserved: saturate(reserved),
        available: saturate(on_hand - reserved),
        low_stock: count(5)?,
        out_of_stock: count(6)?,
        locations: count(7)?,
        ledger_entries: count(8)?,
    })
}

pub(crate) async fn locations(conn: &mut Conn) -> StoreResult<Vec<Location>> {
    let rows =
        sqlx::query("SELECT id, name, priority, created_at FROM locations ORDER BY priority, id")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.iter().map(location).collect::<Result<_, _>>()?)
}

pub(crate) async fn location_by_id(
    conn: &mut Conn,
    id: &LocationId,
) -> StoreResult<Option<Location>> {
    let row = sqlx::query("SELECT id, name, priority, created_at FROM locations WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(location).transpose()?)
}

/// A location from the columns `id, name, priority, created_at`.
fn location(row: &DbRow) -> Result<Location, sqlx::Error> {
    Ok(Location {
        id: location_id_at(row, 0)?,
        name: row.try_get(1)?,
        priority: row.try_get(2)?,
        created_at_ms: row.try_get(3)?,
    })
}

pub(crate) async fn ledger(
    conn: &mut Conn,
    filter: &LedgerFilter,
    page: Page,
) -> StoreResult<Paged<LedgerEntry>> {
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(filter.item.as_ref().map(|i| i.as_str().to_owned()))
            .bind(filter.order_id.clone())
            .bind(filter.trace_id.clone())
            .bind(filter.operation.map(Operation::as_str))
    };
    let total: i64 = bind(LEDGER_COUNT).fetch_one(&mut *conn).await?.try_get(0)?;
    let rows = bind(LEDGER_PAGE)
        .bind(i64::from(page.size))
        .bind(page.offset())
        .fetch_all(&mut *conn)
        .await?;
    let rows = rows.iter().map(ledger_entry).collect::<Result<_, _>>()?;
    Ok(Paged {
        rows,
        total: total as u64,
        page,
    })
}

pub(crate) async fn verify(conn: &mut Conn) -> StoreResult<VerifyReport> {
    // One read transaction, so levels and ledger are seen at one instant.
    sqlx::query(dialect_begin_snapshot!())
        .execute(&mut *conn)
        .await?;
    let result = async {
        let levels_checked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM levels")
            .fetch_one(&mut *conn)
            .await?;
        let ledger_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger")
            .fetch_one(&mut *conn)
            .await?;
        let rows = sqlx::query(
            "SELECT l.item_id, l.location_id, l.on_hand, l.reserved,
                COALESCE(g.on_hand, 0), COALESCE(g.reserved, 0)
             FROM levels l LEFT JOIN (
                SELECT item_id, location_id, CAST(SUM(on_hand_delta) AS BIGINT) AS on_hand,
                    CAST(SUM(reserved_delta) AS BIGINT) AS reserved
                FROM ledger GROUP BY item_id, location_id
             ) g ON g.item_id = l.item_id AND g.location_id = l.location_id
             WHERE l.on_hand != COALESCE(g.on_hand, 0) OR l.reserved != COALESCE(g.reserved, 0)
             ORDER BY l.item_id, l.location_id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mismatches = rows
            .iter()
            .map(|row| {
                Ok(LevelMismatch {
                    item: item_id_at(row, 0)?,
                    location: location_id_at(row, 1)?,
                    on_hand: row.try_get(2)?,
                    reserved: row.try_get(3)?,
                    on_hand_from_ledger: row.try_get(4)?,
                    reserved_from_ledger: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let active_holds: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE status = 'active'")
                .fetch_one(&mut *conn)
                .await?;
        let rows = sqlx::query(
            "SELECT l.item_id, l.location_id, l.reserved, COALESCE(h.held, 0)
             FROM levels l LEFT JOIN (
                SELECT hl.item_id, hl.location_id, CAST(SUM(hl.quantity) AS BIGINT) AS held
                FROM hold_lines hl JOIN holds h ON h.id = hl.hold_id
                WHERE h.status = 'active' GROUP BY hl.item_id, hl.location_id
             ) h ON h.item_id = l.item_id AND h.location_id = l.location_id
             WHERE l.reserved != COALESCE(h.held, 0)
             ORDER BY l.item_id, l.location_id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let hold_mismatches = rows
            .iter()
            .map(|row| {
                Ok(HoldMismatch {
                    item: item_id_at(row, 0)?,
                    location: location_id_at(row, 1)?,
                    reserved: row.try_get(2)?,
                    held: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let orphan_entries: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ledger g WHERE NOT EXISTS (
                SELECT 1 FROM levels l WHERE l.item_id = g.item_id AND l.location_id = g.location_id)",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok::<_, sqlx::Error>(VerifyReport {
            levels_checked: levels_checked as u64,
            ledger_entries: ledger_entries as u64,
            active_holds: active_holds as u64,
            mismatches,
            hold_mismatches,
            orphan_entries: orphan_entries as u64,
        })
    }
    .await;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(result?)
}

pub(crate) async fn holds(
    conn: &mut Conn,
    status: Option<HoldStatus>,
    page: Page,
) -> StoreResult<Paged<HoldView>> {
    let status = status.map(HoldStatus::as_str);
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE $1 IS NULL OR status = $1")
            .bind(status)
            .fetch_one(&mut *conn)
            .await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM holds WHERE $1 IS NULL OR status = $1
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(status)
    .bind(i64::from(page.size))
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some((hold, _)) = holds::fetch_hold(&mut *conn, &id, holds::Access::Read).await? {
            rows.push(hold);
        }
    }
    Ok(Paged {
        rows,
        total: total as u64,
        page,
    })
}

pub(crate) async fn orders(
    conn: &mut Conn,
    filter: &OrderFilter,
    page: Page,
) -> StoreResult<Paged<OrderView>> {
    // The status filter sees a pending order whose hold ran out as
    // expired, as every read does.
    const ORDERS: &str = "FROM orders o JOIN holds h ON h.id = o.hold_id
        WHERE ($1 IS NULL OR (CASE WHEN o.status = 'pending' AND h.expires_at <= $2
                                   THEN 'expired' ELSE o.status END) = $1)";
    let status = filter.status.map(OrderStatus::as_str);
    let now = now_ms();
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {ORDERS}"))
        .bind(status)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT o.id {ORDERS} ORDER BY o.created_at DESC, o.id LIMIT $3 OFFSET $4"
    ))
    .bind(status)
    .bind(now)
    .bind(i64::from(page.size))
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some((order, _)) = holds::fetch_order(&mut *conn, &id, holds::Access::Read).await? {
            rows.push(order);
        }
    }
    Ok(Paged {
        rows,
        total: total as u64,
        page,
    })
}

pub(crate) async fn gauges(conn: &mut Conn) -> StoreResult<Gauges> {
    // Driven by the index of active holds.
    let active_holds: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM holds WHERE status = 'active' AND expires_at > -1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT kind, COUNT(*) FROM alerts WHERE status IN ('pending', 'sent') GROUP BY kind",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut open_alerts = Vec::new();
    for row in rows {
        let kind: String = row.try_get(0)?;
        let count: i64 = row.try_get(1)?;
        let kind = AlertKind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?;
        open_alerts.push((kind, count as u64));
    }
    let webhooks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE deleted_at IS NULL")
            .fetch_one(&mut *conn)
            .await?;
    let pending_diffs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM diffs WHERE status = 'pending'")
            .fetch_one(&mut *conn)
            .await?;
    Ok(Gauges {
        active_holds: active_holds as u64,
        pending_diffs: pending_diffs as u64,
        open_alerts,
        webhooks: webhooks as u64,
        last_event_id: events::last_id(&mut *conn).await?,
    })
}

pub(crate) async fn due_holds(
    conn: &mut Conn,
    now_ms: i64,
    limit: u32,
) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM holds WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?)
}

pub(crate) async fn ledger_activity(
    conn: &mut Conn,
    since_ms: i64,
    bucket_ms: i64,
) -> StoreResult<Vec<Activity>> {
    let rows = sqlx::query(LEDGER_ACTIVITY)
        .bind(since_ms)
        .bind(bucket_ms)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let bucket: i64 = row.try_get("bucket")?;
        out.push(Activity {
            from_ms: bucket * bucket_ms,
            sold: saturate(-wide_sum(&row, 1)?),
            held: saturate(wide_sum(&row, 3)?),
        });
    }
    Ok(out)
}
