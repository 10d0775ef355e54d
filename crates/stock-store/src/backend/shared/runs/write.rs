//! Writing a run's result with a few multi-row statements: new holds and
//! their lines, the ledger rows (learning their ids), new orders, the
//! states holds and orders moved to (each state an order took in its own
//! statement, so that the outbox's triggers see every one), the final state
//! of each level, the retry keys and the responses kept for idempotency
//! keys. In that order, the outbox's events of one command come as they do
//! one by one: a hold made before its stock is held, an order after; the
//! stock of a commit, a release or a return before the hold or order moves.

use std::collections::HashMap;

use anyhow::{bail, Context};
use stock_core::HoldStatus;

use super::super::contract::{self, Conn, Db};
use super::state::{HoldState, NewRow, OrderState, State};
use super::{LedgerRow, LevelRow, ROWS_PER_STATEMENT};
use crate::model::*;

pub(super) async fn write_state(
    conn: &mut Conn,
    state: &mut State,
    now: i64,
) -> anyhow::Result<()> {
    insert_holds(conn, state).await?;
    write_ledger(conn, &mut state.rows, now).await?;
    insert_orders(conn, state).await?;
    move_holds(conn, state).await?;
    move_orders(conn, state).await?;
    write_levels(conn, state).await?;
    write_retry_keys(conn, state, now).await?;
    Ok(())
}

/// A hold's row as written.
fn push_hold(
    values: &mut sqlx::query_builder::Separated<'_, '_, Db, &str>,
    hold: &HoldView,
    hash: &str,
    status: HoldStatus,
) {
    values
        .push_bind(hold.id.clone())
        .push_bind(hold.order_id.clone())
        .push_bind(status.as_str())
        .push_bind(hash.to_owned())
        .push_bind(hold.expires_at_ms)
        .push_bind(hold.created_at_ms)
        .push_bind(hold.updated_at_ms);
}

fn holds_by_id(state: &State) -> Vec<&HoldState> {
    let mut holds: Vec<_> = state.holds.values().collect();
    holds.sort_by(|a, b| a.view.id.cmp(&b.view.id));
    holds
}

fn orders_by_id(state: &State) -> Vec<&OrderState> {
    let mut orders: Vec<_> = state.orders.values().collect();
    orders.sort_by(|a, b| a.id.cmp(&b.id));
    orders
}

async fn insert_holds(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let new: Vec<_> = holds_by_id(state)
        .into_iter()
        .filter(|hold| hold.is_new)
        .collect();
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO holds (id, order_id, status, request_hash, expires_at, created_at,
                updated_at) ",
        );
        // Made active: a move out of active is written next, as an update.
        query.push_values(chunk, |mut values, hold| {
            push_hold(
                &mut values,
                &hold.view,
                &hold.request_hash,
                HoldStatus::Active,
            )
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        let inserted = query.build().execute(&mut *conn).await?.rows_affected();
        if inserted != chunk.len() as u64 {
            bail!("a hold of the run was made by another writer meanwhile");
        }
    }
    let lines: Vec<(&str, i64, &HoldLine)> = new
        .iter()
        .flat_map(|hold| {
            let id = hold.view.id.as_str();
            hold.view
                .lines
                .iter()
                .zip(1i64..)
                .map(move |(line, line_no)| (id, line_no, line))
        })
        .collect();
    for chunk in lines.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO hold_lines (hold_id, line_no, item_id, location_id, quantity) ",
        );
        query.push_values(chunk, |mut values, (hold, line_no, line)| {
            values
                .push_bind(*hold)
                .push_bind(*line_no)
                .push_bind(line.item.as_str())
                .push_bind(line.location.as_str())
                .push_bind(line.quantity);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn move_holds(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let moved: Vec<_> = holds_by_id(state)
        .into_iter()
        .filter(|hold| {
            if hold.is_new {
                hold.view.status != HoldStatus::Active
            } else {
                hold.changed
            }
        })
        .collect();
    for chunk in moved.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO holds (id, order_id, status, request_hash, expires_at, created_at,
                updated_at) ",
        );
        query.push_values(chunk, |mut values, hold| {
            push_hold(
                &mut values,
                &hold.view,
                &hold.request_hash,
                hold.view.status,
            )
        });
        query.push(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        );
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_orders(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let new: Vec<_> = orders_by_id(state)
        .into_iter()
        .filter(|order| order.is_new)
        .collect();
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO orders (id, status, hold_id, request_hash, created_at, updated_at) ",
        );
        query.push_values(chunk, |mut values, order| {
            values
                .push_bind(order.id.as_str())
                .push_bind("pending")
                .push_bind(order.hold_id.as_str())
                .push_bind(order.request_hash.as_str())
                .push_bind(order.created_at_ms)
                .push_bind(order.created_at_ms);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        let inserted = query.build().execute(&mut *conn).await?.rows_affected();
        if inserted != chunk.len() as u64 {
            bail!("an order of the run was made by another writer meanwhile");
        }
    }
    Ok(())
}

async fn move_orders(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let orders = orders_by_id(state);
    // Each state in turn: an order paid and then cancelled in one run
    // is written paid, then cancelled.
    let waves = orders
        .iter()
        .map(|order| order.moves.len())
        .max()
        .unwrap_or(0);
    for wave in 0..waves {
        let moved: Vec<_> = orders
            .iter()
            .filter_map(|order| Some((*order, order.moves.get(wave)?)))
            .collect();
        for chunk in moved.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO orders (id, status, hold_id, request_hash, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut values, (order, (status, at))| {
                values
                    .push_bind(order.id.as_str())
                    .push_bind(status.as_str())
                    .push_bind(order.hold_id.as_str())
                    .push_bind(order.request_hash.as_str())
                    .push_bind(order.created_at_ms)
                    .push_bind(*at);
            });
            query.push(
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                    updated_at = excluded.updated_at",
            );
            query.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Inserts the run's ledger rows and learns their ids.
async fn write_ledger(conn: &mut Conn, rows: &mut [NewRow], now: i64) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let written: Vec<LedgerRow> = rows.iter().map(|row| LedgerRow::of(row, now)).collect();
    let returned = contract::insert_ledger_rows(conn, &written).await?;
    // A level's version grows by one with each change, so (item, location,
    // version after) names each new row.
    let mut by_change: HashMap<(&str, &str, i64), usize> = written
        .iter()
        .enumerate()
        .map(|(index, row)| ((row.item, row.location, row.version_after), index))
        .collect();
    if returned.len() != rows.len() {
        bail!(
            "the ledger returned {} rows for {}",
            returned.len(),
            rows.len()
        );
    }
    let mut ids = vec![0; rows.len()];
    for (id, item, location, version) in &returned {
        let index = by_change
            .remove(&(item.as_str(), location.as_str(), *version))
            .context("the ledger returned a row the run did not write")?;
        ids[index] = *id;
    }
    drop(written);
    for (row, id) in rows.iter_mut().zip(ids) {
        row.id = id;
    }
    Ok(())
}

/// Writes the final state of every level the run changed.
async fn write_levels(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let levels: Vec<LevelRow> = state
        .changed
        .iter()
        .map(|(item, priority, location)| {
            let level = &state.levels[item][&(*priority, location.clone())];
            LevelRow {
                item: item.as_str(),
                location: location.as_str(),
                level: level.level,
                updated_at: level.updated_at_ms,
            }
        })
        .collect();
    if !levels.is_empty() {
        contract::upsert_levels(conn, &levels).await?;
    }
    Ok(())
}

async fn write_retry_keys(conn: &mut Conn, state: &State, now: i64) -> anyhow::Result<()> {
    let mut keys: Vec<(&str, i64)> = state
        .retried
        .iter()
        .filter_map(|(key, entry)| match entry {
            super::state::Entry::New(row) => Some((key.as_str(), state.rows[*row].id)),
            super::state::Entry::Stored(_) => None,
        })
        .collect();
    keys.sort_unstable();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO sync_retry_keys (retry_key, ledger_id, created_at) ",
        );
        query.push_values(chunk.iter(), |mut values, (key, ledger_id)| {
            values.push_bind(*key).push_bind(*ledger_id).push_bind(now);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Keeps the rendered responses of the run's idempotency keys.
pub(super) async fn write_idempotency_keys(
    conn: &mut Conn,
    kept: &mut [(&IdempotencyClaim, &StoredResponse)],
    now: i64,
) -> anyhow::Result<()> {
    kept.sort_by(|a, b| {
        (&a.0.key_id, &a.0.idempotency_key).cmp(&(&b.0.key_id, &b.0.idempotency_key))
    });
    for chunk in kept.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO idempotency_keys
                (key_id, idempotency_key, request_hash, status_code, body, created_at) ",
        );
        query.push_values(chunk.iter(), |mut values, (claim, response)| {
            values
                .push_bind(claim.key_id.as_str())
                .push_bind(claim.idempotency_key.as_str())
                .push_bind(claim.request_hash.as_str())
                .push_bind(i64::from(response.status))
                .push_bind(response.body.as_slice())
                .push_bind(now);
        });
        query.push(" ON CONFLICT (key_id, idempotency_key) DO NOTHING");
        let inserted = query.build().execute(&mut *conn).await?.rows_affected();
        if inserted != chunk.len() as u64 {
            // Another writer kept one of these keys meanwhile.
            bail!("an idempotency key of the run was taken meanwhile");
        }
    }
    Ok(())
}
