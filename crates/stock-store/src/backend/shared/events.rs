//! Reading the outbox of live events (written by triggers, see the events
//! migration) and forgetting old ones.
//!
//! Readers follow the outbox with the id of the last event they saw. On
//! SQLite ids follow commits. On PostgreSQL, where replicas commit side by
//! side, an event with a lower id may commit after one with a higher id:
//! the outbox is read in the order of transactions and then ids, and only
//! as far as the oldest transaction still running (`dialect_events_after!`),
//! so no event is passed over, and each row's events come in the order of
//! its changes (migration 12).

use std::collections::HashMap;

use sqlx::Row;
use stock_core::{HoldStatus, OrderStatus};

use super::alerts::alert_view;
use super::contract::{Conn, Db};
use super::rows::{corrupt, fetch_in, fetch_in_values, item_id_at, ledger_entry, push_list};
use crate::model::*;

/// Events after `after`, oldest first, at most `limit`, of the given kinds
/// (all when empty).
pub(crate) async fn after(
    conn: &mut Conn,
    after: i64,
    kinds: &[EventKind],
    limit: u32,
) -> Result<Vec<EventView>, sqlx::Error> {
    let mut query = after_event(
        "e.id, e.kind, e.subject, e.status, e.ledger_id, e.created_at",
        after,
    );
    push_bound(conn, &mut query).await?;
    if !kinds.is_empty() {
        query.push(" AND e.kind IN ");
        let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        push_list(&mut query, &kinds);
    }
    query.push(concat!(" ORDER BY ", dialect_events_order!(), " LIMIT "));
    query.push_bind(i64::from(limit));
    let rows = query.build().fetch_all(&mut *conn).await?;

    // What the events point at, read once per kind.
    let refs = |kind: &str| -> Vec<String> {
        rows.iter()
            .filter(|row| row.try_get::<String, _>(1).is_ok_and(|k| k == kind))
            .filter_map(|row| row.try_get::<String, _>(2).ok())
            .collect()
    };
    let ledger_ids: Vec<i64> = rows
        .iter()
        .filter_map(|row| row.try_get::<Option<i64>, _>(4).ok().flatten())
        .collect();
    let mut entries = HashMap::new();
    for row in fetch_in_values(conn, "SELECT * FROM ledger WHERE id IN ", &ledger_ids, "").await? {
        let entry = ledger_entry(&row)?;
        entries.insert(entry.id, entry);
    }
    let mut hold_orders: HashMap<String, String> = HashMap::new();
    let hold_ids = refs("reservation");
    for row in fetch_in(
        conn,
        "SELECT id, order_id FROM holds WHERE id IN ",
        &hold_ids,
        "",
    )
    .await?
    {
        hold_orders.insert(row.try_get(0)?, row.try_get(1)?);
    }
    let alert_ids: Vec<i64> = refs("alert")
        .iter()
        .map(|id| id.parse().map_err(|_| corrupt("alert id", id)))
        .collect::<Result<_, _>>()?;
    let mut alerts = HashMap::new();
    for row in fetch_in_values(conn, "SELECT * FROM alerts WHERE id IN ", &alert_ids, "").await? {
        let alert = alert_view(&row)?;
        alerts.insert(alert.id, alert);
    }
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        let subject: String = row.try_get(2)?;
        let status: Option<String> = row.try_get(3)?;
        let status = status.unwrap_or_default();
        let body = match kind.as_str() {
            "stock" => {
                let ledger_id: Option<i64> = row.try_get(4)?;
                let Some(entry) = ledger_id.and_then(|id| entries.remove(&id)) else {
                    return Err(corrupt("stock event without its ledger row", &subject));
                };
                EventBody::Stock(entry)
            }
            "reservation" => EventBody::Reservation {
                order_id: hold_orders.get(&subject).cloned().unwrap_or_default(),
                status: HoldStatus::parse(&status)
                    .ok_or_else(|| corrupt("hold status", &status))?,
                id: subject,
            },
            "order" => EventBody::Order {
                status: OrderStatus::parse(&status)
                    .ok_or_else(|| corrupt("order status", &status))?,
                id: subject,
            },
            "alert" => {
                let alert = subject
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| alerts.get(&id).cloned())
                    .ok_or_else(|| corrupt("alert event without its alert", &subject))?;
                EventBody::Alert {
                    alert,
                    status: AlertStatus::parse(&status)
                        .ok_or_else(|| corrupt("alert status", &status))?,
                }
            }
            other => return Err(corrupt("event kind", other)),
        };
        events.push(EventView {
            id,
            created_at_ms: row.try_get(5)?,
            body,
        });
    }
    Ok(events)
}

/// The id of the last event in the order the outbox is read in (the
/// newest one, where one writer at a time writes), 0 when there is none.
pub(crate) async fn last_id(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    let mut query = sqlx::QueryBuilder::<Db>::new("SELECT e.id FROM events e WHERE true");
    push_bound(conn, &mut query).await?;
    query.push(concat!(
        " ORDER BY ",
        dialect_events_order_desc!(),
        " LIMIT 1"
    ));
    let newest: Option<i64> = query
        .build_query_scalar()
        .fetch_optional(&mut *conn)
        .await?;
    Ok(newest.unwrap_or(0))
}

/// `SELECT columns FROM events e WHERE` the events after the event `after`
/// (`dialect_events_after!`): in the outbox's order once ordered by
/// `dialect_events_order!`.
fn after_event<'a>(columns: &str, after: i64) -> sqlx::QueryBuilder<'a, Db> {
    let (head, tail) = dialect_events_after!();
    let mut query = sqlx::QueryBuilder::new(format!("SELECT {columns} FROM events e WHERE "));
    query.push(head);
    query.push_bind(after);
    query.push(tail);
    query
}

/// The items whose stock changed after outbox event `after` (each once), in
/// the outbox's order, and the event to read on from; at most `limit`
/// events are read. Every change the read sees is named, even one past how
/// far the outbox may be read yet (a cache must never be behind a commit
/// it has seen), but the cursor stops before the first of those, so that
/// no change committed later behind it is passed over.
pub(crate) async fn changed_items_after(
    conn: &mut Conn,
    after: i64,
    limit: u32,
) -> Result<ChangedItems, sqlx::Error> {
    let bound = bound(conn).await?;
    let mut query = after_event(
        concat!("e.id, e.subject, ", dialect_events_tx!(), " AS tx"),
        after,
    );
    query.push(concat!(
        " AND e.kind = 'stock' ORDER BY ",
        dialect_events_order!(),
        " LIMIT "
    ));
    query.push_bind(i64::from(limit));
    let rows = query.build().fetch_all(&mut *conn).await?;
    let mut newest = after;
    let mut unsettled = false;
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let tx: i64 = row.try_get("tx")?;
        unsettled |= bound.is_some_and(|bound| tx >= bound);
        if !unsettled {
            newest = row.try_get("id")?;
        }
        let item = item_id_at(row, "subject")?;
        if seen.insert(item.clone()) {
            items.push(item);
        }
    }
    Ok(ChangedItems {
        items,
        newest_event_id: newest,
        complete: unsettled || rows.len() < limit as usize,
    })
}

/// How far the outbox may be read now (see `dialect_events_bound!`): the
/// events of transactions below this one; `None` where there is no bound.
/// Found in a statement of its own, before the read it bounds.
pub(crate) async fn bound(conn: &mut Conn) -> Result<Option<i64>, sqlx::Error> {
    let (find, ..) = dialect_events_bound!();
    if find.is_empty() {
        return Ok(None);
    }
    Ok(Some(sqlx::query_scalar(find).fetch_one(&mut *conn).await?))
}

/// Bounds a read of the outbox to what may be read now.
async fn push_bound(
    conn: &mut Conn,
    query: &mut sqlx::QueryBuilder<'_, Db>,
) -> Result<(), sqlx::Error> {
    let (_, head, tail) = dialect_events_bound!();
    if let Some(bound) = bound(conn).await? {
        query.push(head);
        query.push_bind(bound);
        query.push(tail);
    }
    Ok(())
}

/// Rows deleted per statement while purging, oldest first.
const PURGE_CHUNK: i64 = 5_000;

/// Forgets events and webhook delivery attempts older than `before_ms`;
/// returns how many.
pub(crate) async fn purge(conn: &mut Conn, before_ms: i64) -> Result<u64, sqlx::Error> {
    let events = purge_oldest(conn, "events", before_ms).await?;
    let deliveries = purge_oldest(conn, "webhook_deliveries", before_ms).await?;
    Ok(events + deliveries)
}

/// Forgets the rows of `table` (events, webhook deliveries: an `id` that
/// grows with `created_at`) older than `before_ms`; returns how many. Works
/// from the oldest id on, a chunk at a time, so each statement stays short
/// and no index on time is needed.
async fn purge_oldest(
    conn: &mut Conn,
    table: &'static str,
    before_ms: i64,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (
            SELECT id FROM {table} WHERE created_at < $1 ORDER BY id LIMIT $2)"
    );
    let mut purged = 0;
    loop {
        let deleted = sqlx::query(&sql)
            .bind(before_ms)
            .bind(PURGE_CHUNK)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        purged += deleted;
        if deleted < PURGE_CHUNK as u64 {
            return Ok(purged);
        }
    }
}
