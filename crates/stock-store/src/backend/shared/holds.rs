//! Holds, orders and transfers: the commands and their reads.
//!
//! Every function here runs inside the write transaction of
//! `executor::run_job`, in the command's savepoint. Decisions come from
//! `stock-core`; this module only reads what they need and writes what they
//! decide.

use std::collections::BTreeSet;

use sqlx::Row;
use stock_core::{
    allocate, commit, give_back, release, reserve, transfer, HoldAction, HoldStatus, Item, ItemId,
    Level, LocationId, Operation, OrderAction, OrderEffect, OrderStatus, Shortage, Step,
    StockError,
};

use super::contract::{Conn, Db, DbRow};
use super::levels::{
    fetch_level, fetch_view, lock_items, require_item, require_location, write_change, Change,
};
use super::rows::{corrupt, item_id_at, location_id_at, IN_LIST_MAX};
use crate::model::*;

/// What a create asked for, so that a retry can be told from a different
/// request that reuses the id. The time to live is not part of it.
pub(crate) fn request_hash(kind: &str, order_id: &str, lines: &[HoldLineRequest]) -> String {
    let mut text = format!("{kind}\u{1f}{order_id}");
    for line in lines {
        let location = line
            .location
            .as_ref()
            .map(LocationId::as_str)
            .unwrap_or("*");
        text.push_str(&format!("\u{1f}{}@{location}:{}", line.item, line.quantity));
    }
    text
}

pub(crate) fn hold_status(row: &DbRow) -> Result<HoldStatus, sqlx::Error> {
    let raw: String = row.try_get("status")?;
    HoldStatus::parse(&raw).ok_or_else(|| corrupt("hold status", &raw))
}

/// Whether a hold or an order is read to show it or to change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    /// Locked until the transaction ends, where the backend has row locks.
    Change,
}

pub(crate) async fn fetch_hold(
    conn: &mut Conn,
    id: &str,
    access: Access,
) -> Result<Option<(HoldView, String)>, sqlx::Error> {
    let sql = match access {
        Access::Read => "SELECT * FROM holds WHERE id = $1",
        Access::Change => concat!("SELECT * FROM holds WHERE id = $1", dialect_lock!()),
    };
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT item_id, location_id, quantity FROM hold_lines WHERE hold_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|line| {
        Ok(HoldLine {
            item: item_id_at(line, 0)?,
            location: location_id_at(line, 1)?,
            quantity: line.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let view = HoldView {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        status: hold_status(&row)?,
        expires_at_ms: row.try_get("expires_at")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        lines,
    };
    Ok(Some((view, row.try_get("request_hash")?)))
}

pub(crate) async fn fetch_order(
    conn: &mut Conn,
    id: &str,
    access: Access,
) -> Result<Option<(OrderView, String)>, sqlx::Error> {
    let sql = match access {
        Access::Read => "SELECT * FROM orders WHERE id = $1",
        Access::Change => concat!("SELECT * FROM orders WHERE id = $1", dialect_lock!()),
    };
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let hold_id: String = row.try_get("hold_id")?;
    let (hold, _) = fetch_hold(conn, &hold_id, access)
        .await?
        .ok_or_else(|| corrupt("order's hold", &hold_id))?;
    let raw: String = row.try_get("status")?;
    let view = OrderView {
        id: row.try_get("id")?,
        status: OrderStatus::parse(&raw).ok_or_else(|| corrupt("order status", &raw))?,
        hold,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    };
    Ok(Some((view, row.try_get("request_hash")?)))
}

async fn require_hold(conn: &mut Conn, id: &str) -> Result<HoldView, WriteError> {
    match fetch_hold(conn, id, Access::Change).await? {
        Some((hold, _)) => Ok(hold),
        None => Err(WriteError::NotFound {
            entity: "reservation",
            id: id.to_owned(),
        }),
    }
}

async fn require_order(conn: &mut Conn, id: &str) -> Result<OrderView, WriteError> {
    match fetch_order(conn, id, Access::Change).await? {
        Some((order, _)) => Ok(order),
        None => Err(WriteError::NotFound {
            entity: "order",
            id: id.to_owned(),
        }),
    }
}

/// Expires every active hold past its time that holds any of these items,
/// so that a change to them sees the stock those holds gave back.
pub(crate) async fn expire_due_for_items<'a>(
    conn: &mut Conn,
    items: impl IntoIterator<Item = &'a ItemId>,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    for id in due_for_items(conn, items, now).await? {
        expire_if_due(conn, &id, meta, now).await?;
    }
    Ok(())
}

/// The active holds past their time at `now` that hold any of these items.
pub(crate) async fn due_for_items<'a>(
    conn: &mut Conn,
    items: impl IntoIterator<Item = &'a ItemId>,
    now: i64,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let items: BTreeSet<&ItemId> = items.into_iter().collect();
    let mut due = BTreeSet::new();
    for chunk in items.into_iter().collect::<Vec<_>>().chunks(IN_LIST_MAX) {
        // Driven by the index of due holds, which is small, rather than by
        // the items' hold lines, which grow with every sale; the unary `+`
        // keeps SQLite on the hold's primary key for the lines.
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "SELECT h.id FROM holds h WHERE h.status = 'active' AND h.expires_at <= ",
        );
        query.push_bind(now);
        query.push(concat!(
            " AND EXISTS (SELECT 1 FROM hold_lines l WHERE l.hold_id = h.id AND ",
            dialect_no_index!(),
            "l.item_id IN ("
        ));
        let mut list = query.separated(", ");
        for item in chunk {
            list.push_bind(item.as_str());
        }
        query.push("))");
        let ids: Vec<String> = query.build_query_scalar().fetch_all(&mut *conn).await?;
        due.extend(ids);
    }
    Ok(due)
}

/// Expires one hold if it is active and past its time; returns whether it did.
pub(crate) async fn expire_if_due(
    conn: &mut Conn,
    id: &str,
    meta: &WriteMeta,
    now: i64,
) -> Result<bool, WriteError> {
    let Some((hold, _)) = fetch_hold(conn, id, Access::Change).await? else {
        return Ok(false);
    };
    if hold.status != HoldStatus::Active || hold.expires_at_ms > now {
        return Ok(false);
    }
    finish_hold(conn, &hold, HoldStatus::Expired, Some("expired"), meta, now).await?;
    Ok(true)
}

/// Moves a hold to `status`, writing what that does to stock: a commit
/// takes its lines off on-hand and reserved, a release or an expiry gives
/// them back. An order on the hold follows it.
async fn finish_hold(
    conn: &mut Conn,
    hold: &HoldView,
    status: HoldStatus,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    assert_eq!(
        hold.status,
        HoldStatus::Active,
        "only an active hold finishes"
    );
    for line in &hold.lines {
        let item = require_item(conn, &line.item).await?;
        let level = fetch_level(conn, &line.item, &line.location)
            .await?
            .unwrap_or_default();
        let (operation, transition) = match status {
            HoldStatus::Committed => (Operation::Commit, commit(&item, &level, line.quantity)?),
            HoldStatus::Released | HoldStatus::Expired => {
                (Operation::Release, release(&item, &level, line.quantity)?)
            }
            HoldStatus::Active => unreachable!("finishing moves a hold out of active"),
        };
        let change = Change {
            item: &line.item,
            location: &line.location,
            operation,
            transition,
            order_id: Some(&hold.order_id),
            reservation_id: Some(&hold.id),
            reason,
        };
        write_change(conn, &change, meta, now).await?;
    }
    sqlx::query("UPDATE holds SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(&hold.id)
        .execute(&mut *conn)
        .await?;
    let order_status = match status {
        HoldStatus::Committed => OrderStatus::Paid,
        HoldStatus::Released => OrderStatus::Cancelled,
        HoldStatus::Expired => OrderStatus::Expired,
        HoldStatus::Active => unreachable!("finishing moves a hold out of active"),
    };
    sqlx::query(
        "UPDATE orders SET status = $1, updated_at = $2 WHERE hold_id = $3 AND status = 'pending'",
    )
    .bind(order_status.as_str())
    .bind(now)
    .bind(&hold.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The levels of an item at every location, in fill order.
async fn levels_in_fill_order(
    conn: &mut Conn,
    item: &ItemId,
) -> Result<Vec<(LocationId, Level)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.id, COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0), COALESCE(l.version, 0)
         FROM locations o LEFT JOIN levels l ON l.location_id = o.id AND l.item_id = $1
         ORDER BY o.priority, o.id",
    )
    .bind(item.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                location_id_at(row, 0)?,
                Level {
                    on_hand: row.try_get(1)?,
                    reserved: row.try_get(2)?,
                    version: row.try_get(3)?,
                },
            ))
        })
        .collect()
}

/// A hold to create, and what its request looked like.
struct NewHold<'a> {
    id: &'a str,
    order_id: &'a str,
    lines: &'a [HoldLineRequest],
    ttl_ms: i64,
    hash: &'a str,
}

/// The answer to creating a hold that exists already: its first result if
/// the request is the same, a mismatch if not; `None` if there is no such hold.
async fn existing_hold(
    conn: &mut Conn,
    id: &str,
    hash: &str,
) -> Result<Option<Result<Outcome, WriteError>>, WriteError> {
    let Some((hold, first_hash)) = fetch_hold(conn, id, Access::Change).await? else {
        return Ok(None);
    };
    if first_hash != hash {
        return Ok(Some(Err(WriteError::RetryMismatch {
            message: format!("reservation {id} exists with other lines or another order"),
        })));
    }
    Ok(Some(Ok(Outcome::Hold {
        hold,
        replayed: true,
    })))
}

/// Creates a hold for an order's lines: every line or none.
pub(crate) async fn create(
    conn: &mut Conn,
    id: &str,
    order_id: &str,
    lines: &[HoldLineRequest],
    ttl_ms: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let hash = request_hash("hold", order_id, lines);
    let hold = NewHold {
        id,
        order_id,
        lines,
        ttl_ms,
        hash: &hash,
    };
    create_hold(conn, &hold, meta, now).await
}

/// Creates a hold: every line or none. Lines that lack stock are all named.
/// A hold with this id already: the first result if the request is the same.
async fn create_hold(
    conn: &mut Conn,
    new: &NewHold<'_>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let NewHold {
        id,
        order_id,
        lines,
        ttl_ms,
        hash,
    } = *new;
    if let Some(outcome) = existing_hold(conn, id, hash).await? {
        return outcome;
    }
    expire_due_for_items(conn, lines.iter().map(|l| &l.item), meta, now).await?;
    let items = lock_items(conn, lines.iter().map(|l| &l.item)).await?;
    let expires_at = now
        .checked_add(ttl_ms)
        .expect("the edge caps the time to live");
    let inserted = sqlx::query(
        "INSERT INTO holds (id, order_id, status, request_hash, expires_at, created_at, updated_at)
         VALUES ($1, $2, 'active', $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(order_id)
    .bind(hash)
    .bind(expires_at)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another writer (another replica) made it meanwhile: a retry that
        // raced its first attempt. Answer as the retry it is.
        if let Some(outcome) = existing_hold(conn, id, hash).await? {
            return outcome;
        }
    }
    let mut shortages: Vec<Shortage> = Vec::new();
    let mut line_no = 0i64;
    for (line, item) in lines.iter().zip(&items) {
        let parts = match &line.location {
            Some(location) => {
                require_location(conn, location).await?;
                vec![(location.clone(), line.quantity)]
            }
            None => match allocate(
                item,
                line.quantity,
                &levels_in_fill_order(conn, &item.id).await?,
            ) {
                Ok(parts) => parts,
                Err(StockError::InsufficientStock {
                    shortages: mut found,
                }) => {
                    shortages.append(&mut found);
                    continue;
                }
                Err(other) => return Err(other.into()),
            },
        };
        for (location, quantity) in parts {
            match hold_part(conn, item, &location, quantity, id, order_id, meta, now).await {
                Ok(()) => {}
                Err(WriteError::Stock(StockError::InsufficientStock {
                    shortages: mut found,
                })) => {
                    shortages.append(&mut found);
                    continue;
                }
                Err(other) => return Err(other),
            }
            line_no += 1;
            sqlx::query(
                "INSERT INTO hold_lines (hold_id, line_no, item_id, location_id, quantity) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(line_no)
            .bind(item.id.as_str())
            .bind(location.as_str())
            .bind(quantity)
            .execute(&mut *conn)
            .await?;
        }
    }
    if !shortages.is_empty() {
        return Err(WriteError::Stock(StockError::InsufficientStock {
            shortages,
        }));
    }
    let (hold, _) = fetch_hold(conn, id, Access::Change)
        .await?
        .expect("the hold was just written");
    Ok(Outcome::Hold {
        hold,
        replayed: false,
    })
}

#[allow(clippy::too_many_arguments)]
async fn hold_part(
    conn: &mut Conn,
    item: &Item,
    location: &LocationId,
    quantity: i64,
    hold_id: &str,
    order_id: &str,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    let level = fetch_level(conn, &item.id, location)
        .await?
        .unwrap_or_default();
    let transition = reserve(item, location, &level, quantity)?;
    let change = Change {
        item: &item.id,
        location,
        operation: Operation::Reserve,
        transition,
        order_id: Some(order_id),
        reservation_id: Some(hold_id),
        reason: None,
    };
    write_change(conn, &change, meta, now).await?;
    Ok(())
}

/// Extends, commits or releases a hold, if its state allows.
pub(crate) async fn step_hold(
    conn: &mut Conn,
    id: &str,
    action: HoldAction,
    ttl_ms: i64,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    expire_if_due(conn, id, meta, now).await?;
    let hold = require_hold(conn, id).await?;
    let step = hold
        .status
        .step(action)
        .map_err(|refused| WriteError::HoldState {
            id: id.to_owned(),
            refused,
        })?;
    match step {
        Step::Already => {
            return Ok(Outcome::Hold {
                hold,
                replayed: true,
            })
        }
        Step::Move(HoldStatus::Active) => {
            let expires_at = now
                .checked_add(ttl_ms)
                .expect("the edge caps the time to live");
            sqlx::query("UPDATE holds SET expires_at = $1, updated_at = $2 WHERE id = $3")
                .bind(expires_at)
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Step::Move(status) => finish_hold(conn, &hold, status, reason, meta, now).await?,
    }
    let hold = require_hold(conn, id).await?;
    Ok(Outcome::Hold {
        hold,
        replayed: false,
    })
}

/// Expires the holds among `ids` that are still active and due at `now`.
pub(crate) async fn expire_holds(
    conn: &mut Conn,
    ids: &[String],
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let mut expired = 0;
    for id in ids {
        if expire_if_due(conn, id, meta, now).await? {
            expired += 1;
        }
    }
    Ok(Outcome::Expired { holds: expired })
}

/// Creates an order and its hold at once. An order with this id already:
/// the first result if the request is the same.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn create_order(
    conn: &mut Conn,
    id: &str,
    hold_id: &str,
    lines: &[HoldLineRequest],
    ttl_ms: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let hash = request_hash("order", id, lines);
    if let Some((order, first_hash)) = fetch_order(conn, id, Access::Change).await? {
        if first_hash != hash {
            return Err(WriteError::RetryMismatch {
                message: format!("order {id} exists with other lines"),
            });
        }
        return Ok(Outcome::Order {
            order,
            replayed: true,
        });
    }
    let hold_hash = request_hash("hold", id, lines);
    let hold = NewHold {
        id: hold_id,
        order_id: id,
        lines,
        ttl_ms,
        hash: &hold_hash,
    };
    create_hold(conn, &hold, meta, now).await?;
    let inserted = sqlx::query(
        "INSERT INTO orders (id, status, hold_id, request_hash, created_at, updated_at)
         VALUES ($1, 'pending', $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(hold_id)
    .bind(&hash)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another writer (another replica) created it meanwhile; this
        // attempt's hold is undone with its savepoint.
        return Err(WriteError::InProgress {
            message: format!(
                "order {id} was being created by another request; retry to get its result"
            ),
        });
    }
    let order = require_order(conn, id).await?;
    Ok(Outcome::Order {
        order,
        replayed: false,
    })
}

/// Pays or cancels an order, if its state allows.
pub(crate) async fn step_order(
    conn: &mut Conn,
    id: &str,
    action: OrderAction,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let order = require_order(conn, id).await?;
    // An unpaid order whose hold ran out has expired, whether or not the
    // expiry task has got to it yet.
    expire_if_due(conn, &order.hold.id, meta, now).await?;
    let order = require_order(conn, id).await?;
    let (step, effect) = order
        .status
        .step(action)
        .map_err(|refused| WriteError::OrderState {
            id: id.to_owned(),
            refused,
        })?;
    let Step::Move(status) = step else {
        return Ok(Outcome::Order {
            order,
            replayed: true,
        });
    };
    match effect {
        OrderEffect::CommitHold => {
            finish_hold(conn, &order.hold, HoldStatus::Committed, reason, meta, now).await?
        }
        OrderEffect::ReleaseHold => {
            finish_hold(
                conn,
                &order.hold,
                HoldStatus::Released,
                reason.or(Some("order cancelled")),
                meta,
                now,
            )
            .await?
        }
        OrderEffect::ReturnStock => return_stock(conn, &order, reason, meta, now).await?,
        OrderEffect::None => {}
    }
    sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let order = require_order(conn, id).await?;
    Ok(Outcome::Order {
        order,
        replayed: false,
    })
}

/// Puts a paid order's stock back where its hold took it from.
async fn return_stock(
    conn: &mut Conn,
    order: &OrderView,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    for line in &order.hold.lines {
        let item = require_item(conn, &line.item).await?;
        let level = fetch_level(conn, &line.item, &line.location)
            .await?
            .unwrap_or_default();
        let change = Change {
            item: &line.item,
            location: &line.location,
            operation: Operation::Return,
            transition: give_back(&item, &level, line.quantity)?,
            order_id: Some(&order.id),
            reservation_id: Some(&order.hold.id),
            reason: reason.or(Some("order cancelled after payment")),
        };
        write_change(conn, &change, meta, now).await?;
    }
    Ok(())
}

/// Moves stock between two locations, with a `transfer` row on each side.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_stock(
    conn: &mut Conn,
    item_id: &ItemId,
    source: &LocationId,
    target: &LocationId,
    quantity: i64,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    assert_ne!(
        source, target,
        "the edge refuses a transfer to the same location"
    );
    expire_due_for_items(conn, [item_id], meta, now).await?;
    let item = require_item(conn, item_id).await?;
    require_location(conn, source).await?;
    require_location(conn, target).await?;
    let from = fetch_level(conn, item_id, source)
        .await?
        .unwrap_or_default();
    let to = fetch_level(conn, item_id, target)
        .await?
        .unwrap_or_default();
    let (out, into) = transfer(&item, source, &from, &to, quantity)?;
    let mut entries = Vec::with_capacity(2);
    for (location, transition) in [(source, out), (target, into)] {
        let change = Change {
            item: item_id,
            location,
            operation: Operation::Transfer,
            transition,
            order_id: None,
            reservation_id: None,
            reason,
        };
        entries.push(write_change(conn, &change, meta, now).await?);
    }
    let view = fetch_view(conn, item_id).await?.expect("the item exists");
    Ok(Outcome::Transferred { view, entries })
}
