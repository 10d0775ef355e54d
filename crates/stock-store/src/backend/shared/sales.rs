//! Sales and restocks one by one: a sync-stock (a signed delta, applied once
//! per order or trace: its retry keys) and a batch of lines that all apply
//! or none (decrease, increase). Runs of consecutive sync-stocks are decided
//! together in `runs.rs`; this is the path of the one left on its own.

use stock_core::{apply_delta, ItemId, LineRequest, LocationId, Operation};

use super::contract::Conn;
use super::holds;
use super::levels::{
    fetch_level, fetch_view, lock_items, require_item, require_location, write_change, Change,
};
use super::rows::ledger_entry;
use crate::model::*;

/// Applies a sync-stock's delta at a location, unless a retry key shows
/// it applied before: then the first change answers (and a different
/// change under the same key is refused).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sync_stock(
    conn: &mut Conn,
    item: &ItemId,
    location: &LocationId,
    delta: i64,
    order_id: Option<&str>,
    reason: Option<&str>,
    trace_id: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    // The item is locked first, so that two writers retrying the same
    // order cannot both find its retry key missing.
    let found = require_item(conn, item).await?;
    let retry_keys = sync_retry_keys(item, delta, order_id, trace_id);
    for retry_key in &retry_keys {
        if let Some(entry) = retried_entry(conn, retry_key).await? {
            if entry.item != *item || entry.location != *location || entry.on_hand_delta != delta {
                return Err(WriteError::RetryMismatch {
                        message: format!(
                            "sync-stock with this {} was applied before with delta {} for item {} at {}",
                            if retry_key.starts_with("o:") { "order_id" } else { "trace_id" },
                            entry.on_hand_delta,
                            entry.item,
                            entry.location
                        ),
                    });
            }
            let view = fetch_view(conn, item)
                .await?
                .expect("a ledger row's item exists");
            return Ok(Outcome::Synced {
                view,
                entry,
                replayed: true,
            });
        }
    }
    holds::expire_due_for_items(conn, [item], meta, now).await?;
    require_location(conn, location).await?;
    let level = fetch_level(conn, item, location).await?.unwrap_or_default();
    let transition = apply_delta(&found, location, &level, delta)?;
    let operation = if delta > 0 {
        Operation::Add
    } else {
        Operation::Deduct
    };
    let change = Change {
        item,
        location,
        operation,
        transition,
        order_id,
        reservation_id: None,
        reason,
    };
    let meta = WriteMeta {
        trace_id: trace_id.map(str::to_owned).or(meta.trace_id.clone()),
        ..meta.clone()
    };
    let entry = write_change(conn, &change, &meta, now).await?;
    for retry_key in &retry_keys {
        sqlx::query(
            "INSERT INTO sync_retry_keys (retry_key, ledger_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(retry_key)
        .bind(entry.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let view = fetch_view(conn, item).await?.expect("the item exists");
    Ok(Outcome::Synced {
        view,
        entry,
        replayed: false,
    })
}

/// Applies every line (each an item's delta at a location) or none.
pub(crate) async fn apply_lines(
    conn: &mut Conn,
    operation: Operation,
    lines: &[LineDelta],
    order_id: Option<&str>,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    holds::expire_due_for_items(conn, lines.iter().map(|l| &l.item), meta, now).await?;
    let items = lock_items(conn, lines.iter().map(|l| &l.item)).await?;
    let mut requests = Vec::with_capacity(lines.len());
    for (line, item) in lines.iter().zip(&items) {
        require_location(conn, &line.location).await?;
        let level = fetch_level(conn, &line.item, &line.location)
            .await?
            .unwrap_or_default();
        requests.push(LineRequest {
            item,
            location: &line.location,
            level,
            delta: line.delta,
        });
    }
    let changes = stock_core::apply_lines(&requests)?;
    let mut entries = Vec::with_capacity(changes.len());
    for line in &changes {
        let change = Change {
            item: &line.item,
            location: &line.location,
            operation,
            transition: line.transition,
            order_id,
            reservation_id: None,
            reason,
        };
        entries.push(write_change(conn, &change, meta, now).await?);
    }
    let mut views = Vec::with_capacity(items.len());
    for item in &items {
        views.push(fetch_view(conn, &item.id).await?.expect("the item exists"));
    }
    Ok(Outcome::Lines { views, entries })
}

/// The keys under which a sync-stock is remembered, so that an order
/// service's retry without an Idempotency-Key applies once. The order key
/// includes the direction: the restock after a cancel is a second change.
pub(crate) fn sync_retry_keys(
    item: &ItemId,
    delta: i64,
    order_id: Option<&str>,
    trace_id: Option<&str>,
) -> Vec<String> {
    let direction = if delta < 0 { '-' } else { '+' };
    let mut keys = Vec::with_capacity(2);
    if let Some(order_id) = order_id {
        keys.push(format!("o:{order_id}\u{1f}{item}\u{1f}{direction}"));
    }
    if let Some(trace_id) = trace_id {
        keys.push(format!("t:{trace_id}\u{1f}{item}"));
    }
    keys
}

async fn retried_entry(
    conn: &mut Conn,
    retry_key: &str,
) -> Result<Option<LedgerEntry>, WriteError> {
    let row = sqlx::query(
        "SELECT g.* FROM sync_retry_keys k JOIN ledger g ON g.id = k.ledger_id WHERE k.retry_key = $1",
    )
    .bind(retry_key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| ledger_entry(&row)).transpose()?)
}
