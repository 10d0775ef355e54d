//! Reading what a run's commands touch, with a few set-based queries: the
//! orders and holds they name (and the holds that are due on their items),
//! the lines of those holds, every item any of them moves stock on (locked,
//! in id order), those items' levels, and the locations.
//!
//! Every row a run may change is locked as it is read, passing over the
//! rows another transaction holds (`SKIP LOCKED`): such a row is busy, and
//! so is what a change of it would move with it (`settle_busy`). The
//! commands that would change a busy row are left for a later batch; the
//! rest of the run goes on without waiting.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use sqlx::Row;
use stock_core::{ItemId, Level, OrderStatus};

use super::super::contract::DbRow;
use super::super::contract::{Conn, Db};
use super::super::holds::{due_for_items, hold_status};
use super::super::rows::{
    corrupt, fetch_in, item_from_row, item_id_at, json, ledger_entry, location_id_at, IN_LIST_MAX,
};
use super::super::sales::sync_retry_keys;
use super::decide::names;
use super::state::{Busy, Entry, HoldState, OrderState, State};
use crate::model::*;

pub(super) async fn read_state(
    conn: &mut Conn,
    jobs: &[WriteJob],
    now: i64,
) -> anyhow::Result<State> {
    let mut state = State::default();
    let mut locked = Busy::default();
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
    for (order, mine) in read_orders(conn, "id", &order_ids).await? {
        hold_ids.insert(order.hold_id.clone());
        keep_order(&mut state, &mut locked, order, mine);
    }
    state.due = due_for_items(conn, item_ids.iter(), now).await?;
    hold_ids.extend(state.due.iter().cloned());

    let hold_ids: Vec<String> = hold_ids.into_iter().collect();
    let locked_hold_lines = read_holds(conn, &hold_ids, &mut state, &mut locked).await?;
    for hold in state.holds.values() {
        item_ids.extend(hold.view.lines.iter().map(|line| line.item.clone()));
    }
    // The orders standing on these holds, so that finishing a hold moves
    // its order with it.
    let held: Vec<String> = state.holds.keys().cloned().collect();
    for (order, mine) in read_orders(conn, "hold_id", &held).await? {
        if !state.orders.contains_key(&order.id) {
            keep_order(&mut state, &mut locked, order, mine);
        }
    }
    for order in state.orders.values() {
        state
            .order_of_hold
            .insert(order.hold_id.clone(), order.id.clone());
    }

    read_stock(conn, &item_ids, &mut state, &mut locked).await?;
    state.retried = read_retry_keys(conn, jobs).await?;
    settle_busy(&mut state, locked, &locked_hold_lines);
    Ok(state)
}

fn keep_order(state: &mut State, locked: &mut Busy, order: OrderState, mine: bool) {
    if mine {
        state.orders.insert(order.id.clone(), order);
    } else {
        locked.orders.insert(order.id);
    }
}

/// From the rows another transaction holds (`locked`) to what the run must
/// leave alone: a hold is busy when it is locked, when one of its items is,
/// or when its order is busy; an order when it is locked or its hold is
/// busy; an item when it (or one of its levels) is locked, or when a hold
/// due on it is busy, since a change of the item expires its due holds.
/// The busy holds and orders, and the locked items, leave the run's state.
fn settle_busy(state: &mut State, locked: Busy, locked_hold_lines: &HashMap<String, Vec<ItemId>>) {
    if locked.is_empty() {
        return;
    }
    let mut busy = Busy {
        items: BTreeSet::new(),
        holds: locked.holds.clone(),
        orders: locked.orders.clone(),
    };
    loop {
        let before = (busy.holds.len(), busy.orders.len());
        for (id, hold) in &state.holds {
            let order_busy = state
                .order_of_hold
                .get(id)
                .is_some_and(|order| busy.orders.contains(order));
            let item_locked = hold
                .view
                .lines
                .iter()
                .any(|line| locked.items.contains(&line.item));
            if order_busy || item_locked {
                busy.holds.insert(id.clone());
            }
        }
        for (id, order) in &state.orders {
            if busy.holds.contains(&order.hold_id) {
                busy.orders.insert(id.clone());
            }
        }
        if before == (busy.holds.len(), busy.orders.len()) {
            break;
        }
    }
    busy.items.clone_from(&locked.items);
    for id in state.due.iter().filter(|id| busy.holds.contains(*id)) {
        let lines: Vec<&ItemId> = match state.holds.get(id) {
            Some(hold) => hold.view.lines.iter().map(|line| &line.item).collect(),
            None => locked_hold_lines
                .get(id)
                .map(|items| items.iter().collect())
                .unwrap_or_default(),
        };
        busy.items.extend(lines.into_iter().cloned());
    }
    state.holds.retain(|id, _| !busy.holds.contains(id));
    state.orders.retain(|id, _| !busy.orders.contains(id));
    state
        .order_of_hold
        .retain(|hold, _| !busy.holds.contains(hold));
    state.items.retain(|id, _| !locked.items.contains(id));
    state.levels.retain(|id, _| !locked.items.contains(id));
    state.busy = busy;
    state.locked = locked;
}

/// Waits for the rows another transaction held when the run was read, as
/// long as the lock timeout allows: for a run with nothing else to do, so
/// that replicas selling one item take turns on it rather than pass it
/// over. Whether every lock was granted; when not, the run holds none of
/// them.
pub(super) async fn wait_for_locked(conn: &mut Conn, locked: &Busy) -> anyhow::Result<bool> {
    if dialect_lock!().is_empty() || locked.is_empty() {
        return Ok(false);
    }
    let items: Vec<&str> = locked.items.iter().map(|id| id.as_str()).collect();
    let holds: Vec<&str> = locked.holds.iter().map(String::as_str).collect();
    let orders: Vec<&str> = locked.orders.iter().map(String::as_str).collect();
    sqlx::query("SAVEPOINT wait").execute(&mut *conn).await?;
    let granted = async {
        let lock = concat!(" ORDER BY 1", dialect_lock!());
        fetch_in(conn, "SELECT id FROM orders WHERE id IN ", &orders, lock).await?;
        fetch_in(conn, "SELECT id FROM holds WHERE id IN ", &holds, lock).await?;
        fetch_in(conn, "SELECT id FROM items WHERE id IN ", &items, lock).await?;
        let lock = concat!(" ORDER BY 1, 2", dialect_lock!());
        fetch_in(
            conn,
            "SELECT item_id, location_id FROM levels WHERE item_id IN ",
            &items,
            lock,
        )
        .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    match granted {
        Ok(()) => {
            sqlx::query("RELEASE wait").execute(&mut *conn).await?;
            Ok(true)
        }
        Err(error) => {
            sqlx::query("ROLLBACK TO wait").execute(&mut *conn).await?;
            sqlx::query("RELEASE wait").execute(&mut *conn).await?;
            let error = anyhow::Error::from(error);
            if super::super::contract::is_lock_unavailable(&error) {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

/// Whether a table's rows name the transaction that wrote them last
/// (`writer`, migration 12): levels, holds and orders, which a run changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stamped {
    Writer,
    No,
}

/// The rows of `SELECT columns FROM table t WHERE t.key IN (values) order`,
/// each locked for the run and with whether the run holds its lock: a row
/// another transaction holds is read but not waited for (`SKIP LOCKED`).
/// Where there are no row locks (SQLite), every row is the run's.
async fn fetch_locking<T: AsRef<str>>(
    conn: &mut Conn,
    columns: &str,
    (table, stamped): (&str, Stamped),
    key: &str,
    values: &[T],
    order: &str,
) -> Result<Vec<(DbRow, bool)>, sqlx::Error> {
    let list = dialect_json_in!();
    let sql = if dialect_skip_locked!().is_empty() {
        format!("SELECT {columns}, 1 AS mine FROM {table} t WHERE t.{key} {list}{order}")
    } else {
        // The lock in the key's order, so that two writers take their
        // locks in the same order; a row version the lock found newer than
        // the one read counts as another's, and so does a row a younger
        // transaction wrote (levels, holds and orders name their writer:
        // migration 12), which this one must not change.
        let younger = match stamped {
            Stamped::Writer => " AND t.writer <= pg_current_xact_id()",
            Stamped::No => "",
        };
        format!(
            "WITH mine AS MATERIALIZED (
                SELECT ctid FROM {table} WHERE {key} {list} ORDER BY {key}{skip})
             SELECT {columns}, (t.ctid IN (SELECT ctid FROM mine){younger}) AS mine
             FROM {table} t WHERE t.{key} {list}{order}",
            skip = dialect_skip_locked!()
        )
    };
    let mut rows = Vec::new();
    for chunk in values.chunks(IN_LIST_MAX) {
        let list: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
        for row in sqlx::query(&sql)
            .bind(json(&list))
            .fetch_all(&mut *conn)
            .await?
        {
            let mine: bool = row.try_get("mine")?;
            rows.push((row, mine));
        }
    }
    Ok(rows)
}

/// Orders whose `key` (id, hold id) is one of `ids`, with whether the run
/// holds each one's lock.
async fn read_orders(
    conn: &mut Conn,
    key: &str,
    ids: &[String],
) -> anyhow::Result<Vec<(OrderState, bool)>> {
    let rows = fetch_locking(conn, "t.*", ("orders", Stamped::Writer), key, ids, "").await?;
    rows.iter()
        .map(|(row, mine)| {
            let raw: String = row.try_get("status")?;
            let order = OrderState {
                id: row.try_get("id")?,
                status: OrderStatus::parse(&raw).ok_or_else(|| corrupt("order status", &raw))?,
                hold_id: row.try_get("hold_id")?,
                request_hash: row.try_get("request_hash")?,
                created_at_ms: row.try_get("created_at")?,
                updated_at_ms: row.try_get("updated_at")?,
                is_new: false,
                moves: Vec::new(),
            };
            Ok((order, *mine))
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("reading a run's orders")
}

/// The holds and their lines; the items of the holds another transaction
/// holds locked, by hold.
async fn read_holds(
    conn: &mut Conn,
    ids: &[String],
    state: &mut State,
    locked: &mut Busy,
) -> anyhow::Result<HashMap<String, Vec<ItemId>>> {
    for (row, mine) in fetch_locking(conn, "t.*", ("holds", Stamped::Writer), "id", ids, "").await?
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
        if !mine {
            locked.holds.insert(view.id);
            continue;
        }
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
    let found: Vec<&String> = state.holds.keys().chain(&locked.holds).collect();
    let rows = fetch_in(
        conn,
        "SELECT hold_id, item_id, location_id, quantity FROM hold_lines WHERE hold_id IN ",
        &found,
        " ORDER BY hold_id, line_no",
    )
    .await?;
    let mut locked_lines: HashMap<String, Vec<ItemId>> = HashMap::new();
    for row in rows {
        let hold: String = row.try_get(0)?;
        let line = HoldLine {
            item: item_id_at(&row, 1)?,
            location: location_id_at(&row, 2)?,
            quantity: row.try_get(3)?,
        };
        match state.holds.get_mut(&hold) {
            Some(held) => held.view.lines.push(line),
            None if locked.holds.contains(&hold) => {
                locked_lines.entry(hold).or_default().push(line.item);
            }
            None => anyhow::bail!("a hold line of a hold not read"),
        }
    }
    Ok(locked_lines)
}

/// The items and all their levels (locked, in id order, so that two
/// writers lock them in the same order), and every location.
async fn read_stock(
    conn: &mut Conn,
    item_ids: &BTreeSet<ItemId>,
    state: &mut State,
    locked: &mut Busy,
) -> anyhow::Result<()> {
    let ids: Vec<&str> = item_ids.iter().map(|id| id.as_str()).collect();
    for (row, mine) in fetch_locking(
        conn,
        "t.*",
        ("items", Stamped::No),
        "id",
        &ids,
        " ORDER BY t.id",
    )
    .await?
    {
        let (item, created, updated) = item_from_row(&row)?;
        if mine {
            state
                .items
                .insert(item.id.clone(), (item, created, updated));
        } else {
            locked.items.insert(item.id);
        }
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
    let rows = fetch_locking(
        conn,
        "t.item_id, t.location_id, t.on_hand, t.reserved, t.version, t.updated_at",
        ("levels", Stamped::Writer),
        "item_id",
        &ids,
        "",
    )
    .await?;
    for (row, mine) in rows {
        let item = item_id_at(&row, 0)?;
        if !mine {
            locked.items.insert(item);
            continue;
        }
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
            .entry(item)
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
