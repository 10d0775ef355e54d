//! Reading the outbox of live events (written by triggers, see the events
//! migration) and forgetting old ones.

use std::collections::HashMap;

use sqlx::Row;
use stock_core::{HoldStatus, OrderStatus};

use super::alerts::alert_view;
use super::shared::{corrupt, ledger_entry};
use super::{Conn, Db};
use crate::model::*;

/// Events after `after`, oldest first, at most `limit`, of the given kinds
/// (all when empty).
pub(crate) async fn after(
    conn: &mut Conn,
    after: i64,
    kinds: &[EventKind],
    limit: u32,
) -> Result<Vec<EventView>, sqlx::Error> {
    let mut query = sqlx::QueryBuilder::<Db>::new(
        "SELECT id, kind, subject, status, ledger_id, created_at FROM events WHERE id > ",
    );
    query.push_bind(after);
    if !kinds.is_empty() {
        query.push(" AND kind IN (");
        let mut list = query.separated(", ");
        for kind in kinds {
            list.push_bind(kind.as_str());
        }
        query.push(")");
    }
    query.push(" ORDER BY id LIMIT ");
    query.push_bind(i64::from(limit));
    let rows = query.build().fetch_all(&mut *conn).await?;

    // What the events point at, read once per kind.
    let ledger_ids: Vec<i64> = rows
        .iter()
        .filter_map(|row| row.try_get::<Option<i64>, _>(4).ok().flatten())
        .collect();
    let mut entries = HashMap::new();
    for chunk in ledger_ids.chunks(super::shared::IN_LIST_MAX) {
        let mut query = sqlx::QueryBuilder::<Db>::new("SELECT * FROM ledger WHERE id IN (");
        let mut list = query.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            let entry = ledger_entry(&row)?;
            entries.insert(entry.id, entry);
        }
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
            "reservation" => {
                let order_id: Option<String> =
                    sqlx::query_scalar("SELECT order_id FROM holds WHERE id = $1")
                        .bind(&subject)
                        .fetch_optional(&mut *conn)
                        .await?;
                EventBody::Reservation {
                    order_id: order_id.unwrap_or_default(),
                    status: HoldStatus::parse(&status)
                        .ok_or_else(|| corrupt("hold status", &status))?,
                    id: subject,
                }
            }
            "order" => EventBody::Order {
                status: OrderStatus::parse(&status)
                    .ok_or_else(|| corrupt("order status", &status))?,
                id: subject,
            },
            "alert" => {
                let alert_id: i64 = subject.parse().map_err(|_| corrupt("alert id", &subject))?;
                let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
                    .bind(alert_id)
                    .fetch_one(&mut *conn)
                    .await?;
                EventBody::Alert {
                    alert: alert_view(&row)?,
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

/// The newest event's id, 0 when there is none.
pub(crate) async fn last_id(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT id FROM events ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(newest.unwrap_or(0))
}

/// Events deleted per statement while purging, oldest first.
const PURGE_CHUNK: i64 = 5_000;

/// Forgets events older than `before_ms`; returns how many. Works from the
/// oldest id on, a chunk at a time, so each statement stays short and no
/// index on time is needed.
pub(crate) async fn purge(conn: &mut Conn, before_ms: i64) -> Result<u64, sqlx::Error> {
    let mut purged = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM events WHERE id IN (
                SELECT id FROM events WHERE created_at < $1 ORDER BY id LIMIT $2)",
        )
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
