//! Reading what a run's commands touch, with a few set-based queries: the
//! orders and holds they name (and the holds that are due on their items),
//! the lines of those holds, every item any of them moves stock on (locked,
//! in id order), those items' levels, and the locations.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use sqlx::Row;
use stock_core::{ItemId, Level, OrderStatus};

use super::super::contract::{Conn, Db};
use super::super::holds::{due_for_items, hold_status};
use super::super::rows::{
    corrupt, fetch_in, item_from_row, item_id_at, ledger_entry, location_id_at, IN_LIST_MAX,
};
use super::super::sales::sync_retry_keys;
use super::decide::names;
use super::state::{Entry, HoldState, OrderState, State};
use crate::model::*;

pub(super) async fn read_state(
    conn: &mut Conn,
    jobs: &[WriteJob],
    now: i64,
) -> anyhow::Result<State> {
    let mut state = State::default();
    let mut item_ids: BTreeSet<ItemId> = BTreeSet::new();
    let mut hold_ids: BTreeSet<String> = BTreeSet::new();
    let mut order_ids: BTreeSet<String> = BTreeSet::new();
    for job in jobs {
        let named = names(&job.command);
        item_ids.extend(named.items.into_iter().cloned());
        hold_ids.extend(named.holds.into_iter().map(str::to_owned));
        order_ids.extend(named.orders.into_iter().map(str::to_owned));
    }

    let order_ids: Vec<String> = order_ids.into_iter().collect();
    for order in read_orders(conn, "SELECT * FROM orders WHERE id IN ", &order_ids).await? {
        hold_ids.insert(order.hold_id.clone());
        state.orders.insert(order.id.clone(), order);
    }
    state.due = due_for_items(conn, item_ids.iter(), now).await?;
    hold_ids.extend(state.due.iter().cloned());

    let hold_ids: Vec<String> = hold_ids.into_iter().collect();
    read_holds(conn, &hold_ids, &mut state).await?;
    for hold in state.holds.values() {
        item_ids.extend(hold.view.lines.iter().map(|line| line.item.clone()));
    }
    // The orders standing on these holds, so that finishing a hold moves
    // its order with it.
    let held: Vec<String> = state.holds.keys().cloned().collect();
    for order in read_orders(conn, "SELECT * FROM orders WHERE hold_id IN ", &held).await? {
        state.orders.entry(order.id.clone()).or_insert(order);
    }
    for order in state.orders.values() {
        state
            .order_of_hold
            .insert(order.hold_id.clone(), order.id.clone());
    }

    read_stock(conn, &item_ids, &mut state).await?;
    state.retried = read_retry_keys(conn, jobs).await?;
    Ok(state)
}

async fn read_orders(
    conn: &mut Conn,
    select: &str,
    ids: &[String],
) -> anyhow::Result<Vec<OrderState>> {
    let rows = fetch_in(conn, select, ids, dialect_lock!()).await?;
    rows.iter()
        .map(|row| {
            let raw: String = row.try_get("status")?;
            Ok(OrderState {
                id: row.try_get("id")?,
                status: OrderStatus::parse(&raw).ok_or_else(|| corrupt("order status", &raw))?,
                hold_id: row.try_get("hold_id")?,
                request_hash: row.try_get("request_hash")?,
                created_at_ms: row.try_get("created_at")?,
                updated_at_ms: row.try_get("updated_at")?,
                is_new: false,
                moves: Vec::new(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("reading a run's orders")
}

async fn read_holds(conn: &mut Conn, ids: &[String], state: &mut State) -> anyhow::Result<()> {
    for row in fetch_in(
        conn,
        "SELECT * FROM holds WHERE id IN ",
        ids,
        dialect_lock!(),
    )
    .await?
    {
        let view = HoldView {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            status: hold_status(&row)?,
            expires_at_ms: row.try_get("expires_at")?,
            created_at_ms: row.try_get("created_at")?,
            updated_at_ms: row.try_get("updated_at")?,
            lines: Vec::new(),
        };
        state.holds.insert(
            view.id.clone(),
            HoldState {
                view,
                request_hash: row.try_get("request_hash")?,
                is_new: false,
                changed: false,
            },
        );
    }
    let found: Vec<String> = state.holds.keys().cloned().collect();
    let rows = fetch_in(
        conn,
        "SELECT hold_id, item_id, location_id, quantity FROM hold_lines WHERE hold_id IN ",
        &found,
        " ORDER BY hold_id, line_no",
    )
    .await?;
    for row in rows {
        let hold: String = row.try_get(0)?;
        let line = HoldLine {
            item: item_id_at(&row, 1)?,
            location: location_id_at(&row, 2)?,
            quantity: row.try_get(3)?,
        };
        state
            .holds
            .get_mut(&hold)
            .context("a hold line of a hold not read")?
            .view
            .lines
            .push(line);
    }
    Ok(())
}

/// The items (locked, in id order, so that two writers lock them in the
/// same order), all their levels, and every location.
async fn read_stock(
    conn: &mut Conn,
    item_ids: &BTreeSet<ItemId>,
    state: &mut State,
) -> anyhow::Result<()> {
    let ids: Vec<&str> = item_ids.iter().map(|id| id.as_str()).collect();
    let lock = concat!(" ORDER BY id", dialect_lock!());
    for row in fetch_in(conn, "SELECT * FROM items WHERE id IN ", &ids, lock).await? {
        let (item, created, updated) = item_from_row(&row)?;
        state
            .items
            .insert(item.id.clone(), (item, created, updated));
    }
    let rows = sqlx::query("SELECT id, priority FROM locations ORDER BY priority, id")
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let id = location_id_at(&row, 0)?;
        let priority: i64 = row.try_get(1)?;
        state.priorities.insert(id.clone(), priority);
        state.locations.push((id, priority));
    }
    let rows = fetch_in(
        conn,
        "SELECT item_id, location_id, on_hand, reserved, version, updated_at FROM levels
         WHERE item_id IN ",
        &ids,
        "",
    )
    .await?;
    for row in rows {
        let location = location_id_at(&row, 1)?;
        let priority = *state
            .priorities
            .get(&location)
            .context("a level at a location that is not there")?;
        let level = LocationLevel {
            location: location.clone(),
            level: Level {
                on_hand: row.try_get(2)?,
                reserved: row.try_get(3)?,
                version: row.try_get(4)?,
            },
            updated_at_ms: row.try_get(5)?,
        };
        state
            .levels
            .entry(item_id_at(&row, 0)?)
            .or_default()
            .insert((priority, location), level);
    }
    Ok(())
}

/// The ledger rows that earlier sync-stocks with the run's retry keys made.
async fn read_retry_keys(
    conn: &mut Conn,
    jobs: &[WriteJob],
) -> anyhow::Result<HashMap<String, Entry>> {
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for job in jobs {
        if let Command::SyncStock {
            item,
            delta,
            order_id,
            trace_id,
            ..
        } = &job.command
        {
            keys.extend(sync_retry_keys(
                item,
                *delta,
                order_id.as_deref(),
                trace_id.as_deref(),
            ));
        }
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let rows = fetch_in(
        conn,
        "SELECT k.retry_key, g.* FROM sync_retry_keys k JOIN ledger g ON g.id = k.ledger_id
         WHERE k.retry_key IN ",
        &keys,
        "",
    )
    .await?;
    let mut found = HashMap::new();
    for row in rows {
        found.insert(
            row.try_get("retry_key")?,
            Entry::Stored(Box::new(ledger_entry(&row)?)),
        );
    }
    Ok(found)
}

/// The responses kept for idempotency keys the run's commands carry.
pub(super) async fn read_idempotency_keys<'a>(
    conn: &mut Conn,
    jobs: &'a [WriteJob],
) -> anyhow::Result<HashMap<(&'a str, &'a str), StoredResponse>> {
    let claims: Vec<&IdempotencyClaim> = jobs
        .iter()
        .filter_map(|job| job.meta.idempotency.as_ref())
        .collect();
    let mut found = HashMap::new();
    for chunk in claims.chunks(IN_LIST_MAX) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "SELECT key_id, idempotency_key, request_hash, status_code, body FROM idempotency_keys
             WHERE (key_id, idempotency_key) IN (VALUES ",
        );
        let mut list = query.separated(", ");
        for claim in chunk {
            list.push("(");
            list.push_bind_unseparated(claim.key_id.as_str());
            list.push_unseparated(", ");
            list.push_bind_unseparated(claim.idempotency_key.as_str());
            list.push_unseparated(")");
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            let key_id: String = row.try_get(0)?;
            let idempotency_key: String = row.try_get(1)?;
            let Some(claim) = chunk
                .iter()
                .find(|claim| claim.key_id == key_id && claim.idempotency_key == idempotency_key)
            else {
                anyhow::bail!("the database returned an idempotency key that was not asked for");
            };
            let status: i64 = row.try_get(3)?;
            found.insert(
                (claim.key_id.as_str(), claim.idempotency_key.as_str()),
                StoredResponse {
                    request_hash: row.try_get(2)?,
                    status: u16::try_from(status).context("a stored status code")?,
                    body: row.try_get(4)?,
                },
            );
        }
    }
    Ok(found)
}
