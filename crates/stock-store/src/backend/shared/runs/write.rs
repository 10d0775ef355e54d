//! Writing a run's result with a few multi-row statements: new locations,
//! new and changed items (before any row names them), new holds and their
//! lines, the ledger rows (learning their ids), new orders, the states
//! holds and orders moved to (each state an order took in its own
//! statement, so that the outbox's triggers see every one), the final state
//! of each level, the retry keys, the suppliers' figures and the responses
//! kept for idempotency keys. In that order, the outbox's events of one command come as they do
//! one by one: a hold made before its stock is held, an order after; the
//! stock of a commit, a release or a return before the hold or order moves.

use std::collections::HashMap;

use anyhow::{bail, Context};
use stock_core::HoldStatus;

use super::super::contract::{self, Conn, Db};
use stock_core::OrderStatus;

use super::super::rows::json;
use super::state::{Entry, HoldState, ItemWrite, NewRow, OrderState, State};
use super::{LedgerRow, LevelRow, ROWS_PER_STATEMENT};
use crate::model::*;

pub(super) async fn write_state(
    conn: &mut Conn,
    state: &mut State,
    now: i64,
) -> anyhow::Result<()> {
    insert_locations(conn, state, now).await?;
    write_items(conn, state).await?;
    insert_holds(conn, state).await?;
    write_ledger(conn, &mut state.rows, now).await?;
    insert_orders(conn, state).await?;
    move_holds(conn, state).await?;
    move_orders(conn, state).await?;
    write_levels(conn, state).await?;
    write_retry_keys(conn, state, now).await?;
    write_figures(conn, state, now).await?;
    Ok(())
}

/// The locations the run made, before any level or ledger row names them.
async fn insert_locations(conn: &mut Conn, state: &State, now: i64) -> anyhow::Result<()> {
    let mut locations: Vec<&(stock_core::LocationId, String, i64)> =
        state.new_locations.iter().collect();
    locations.sort_by(|a, b| a.0.cmp(&b.0));
    for chunk in locations.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO locations (id, name, priority, created_at) ",
        );
        query.push_values(chunk.iter(), |mut values, (id, name, priority)| {
            values
                .push_bind(id.as_str())
                .push_bind(name.as_str())
                .push_bind(*priority)
                .push_bind(now);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        if query.build().execute(&mut *conn).await?.rows_affected() != chunk.len() as u64 {
            bail!("a location of the run was made by another writer meanwhile");
        }
    }
    Ok(())
}

/// The items the run made (inserted) and those whose details it changed
/// (updated), as they stand at its end.
async fn write_items(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let mut writes: Vec<(&stock_core::ItemId, ItemWrite)> = state
        .item_writes
        .iter()
        .map(|(id, write)| (id, *write))
        .collect();
    writes.sort_by(|a, b| a.0.cmp(b.0));
    for (kind, tail) in [
        (ItemWrite::New, "DO NOTHING"),
        (
            ItemWrite::Changed,
            "DO UPDATE SET name = excluded.name, status = excluded.status,
                min_stock = excluded.min_stock, max_stock = excluded.max_stock,
                allow_backorder = excluded.allow_backorder, updated_at = excluded.updated_at",
        ),
    ] {
        let rows: Vec<&(stock_core::Item, i64, i64)> = writes
            .iter()
            .filter(|(_, write)| *write == kind)
            .map(|(id, _)| &state.items[*id])
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO items (id, name, status, min_stock, max_stock, allow_backorder,
                    created_at, updated_at) ",
            );
            query.push_values(
                chunk.iter(),
                |mut values, (item, created_at, updated_at)| {
                    values
                        .push_bind(item.id.as_str())
                        .push_bind(item.name.as_str())
                        .push_bind(item.status.as_str())
                        .push_bind(item.min_stock)
                        .push_bind(item.max_stock)
                        .push_bind(item.allow_backorder)
                        .push_bind(*created_at)
                        .push_bind(*updated_at);
                },
            );
            query.push(" ON CONFLICT (id) ");
            query.push(tail);
            let written = query.build().execute(&mut *conn).await?.rows_affected();
            if kind == ItemWrite::New && written != chunk.len() as u64 {
                bail!("an item of the run was made by another writer meanwhile");
            }
        }
    }
    Ok(())
}

/// The last figure of each supplier link the run's supplier syncs name.
async fn write_figures(conn: &mut Conn, state: &State, now: i64) -> anyhow::Result<()> {
    let mut rows: Vec<(&str, &str, i64, &str, i64)> = state
        .figures
        .iter()
        .map(|((item, supplier), figure)| {
            (
                item.as_str(),
                supplier.as_str(),
                figure.stock,
                figure.county_code.as_str(),
                now,
            )
        })
        .collect();
    rows.sort_unstable();
    write_rows(
        conn,
        concat!(
            "UPDATE supplier_links SET last_stock = CAST(value->>2 AS BIGINT),
                last_county_code = value->>3, last_synced_at = CAST(value->>4 AS BIGINT)
             FROM ",
            dialect_json_rows!(),
            " WHERE item_id = value->>0 AND supplier = value->>1"
        ),
        &rows,
    )
    .await?;
    Ok(())
}

/// A hold's row as written.
type HoldRow<'a> = (&'a str, &'a str, &'a str, &'a str, i64, i64, i64);

fn hold_row<'a>(hold: &'a HoldState, status: HoldStatus) -> HoldRow<'a> {
    let view = &hold.view;
    (
        &view.id,
        &view.order_id,
        status.as_str(),
        &hold.request_hash,
        view.expires_at_ms,
        view.created_at_ms,
        view.updated_at_ms,
    )
}

/// Writes rows to a holds or orders statement over `dialect_json_rows!`,
/// [`ROWS_PER_STATEMENT`] at a time; returns how many it wrote.
async fn write_rows<R: serde::Serialize>(
    conn: &mut Conn,
    sql: &'static str,
    rows: &[R],
) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        written += sqlx::query(sql)
            .bind(json(chunk))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(written)
}

macro_rules! hold_rows {
    () => {
        concat!(
            "INSERT INTO holds (id, order_id, status, request_hash, expires_at, created_at,
                updated_at)
             SELECT value->>0, value->>1, value->>2, value->>3, CAST(value->>4 AS BIGINT),
                CAST(value->>5 AS BIGINT), CAST(value->>6 AS BIGINT) FROM ",
            dialect_json_rows!(),
            " WHERE true ON CONFLICT (id) "
        )
    };
}

macro_rules! order_rows {
    () => {
        concat!(
            "INSERT INTO orders (id, status, hold_id, request_hash, created_at, updated_at)
             SELECT value->>0, value->>1, value->>2, value->>3, CAST(value->>4 AS BIGINT),
                CAST(value->>5 AS BIGINT) FROM ",
            dialect_json_rows!(),
            " WHERE true ON CONFLICT (id) "
        )
    };
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
    let new: Vec<&HoldState> = holds_by_id(state)
        .into_iter()
        .filter(|hold| hold.is_new)
        .collect();
    // Made active: a move out of active is written next, as an update.
    let rows: Vec<HoldRow> = new
        .iter()
        .map(|hold| hold_row(hold, HoldStatus::Active))
        .collect();
    let inserted = write_rows(conn, concat!(hold_rows!(), "DO NOTHING"), &rows).await?;
    if inserted != rows.len() as u64 {
        bail!("a hold of the run was made by another writer meanwhile");
    }
    let lines: Vec<(&str, i64, &str, &str, i64)> = new
        .iter()
        .flat_map(|hold| {
            let id = hold.view.id.as_str();
            hold.view
                .lines
                .iter()
                .zip(1i64..)
                .map(move |(line, line_no)| {
                    (
                        id,
                        line_no,
                        line.item.as_str(),
                        line.location.as_str(),
                        line.quantity,
                    )
                })
        })
        .collect();
    write_rows(
        conn,
        concat!(
            "INSERT INTO hold_lines (hold_id, line_no, item_id, location_id, quantity)
             SELECT value->>0, CAST(value->>1 AS BIGINT), value->>2, value->>3,
                CAST(value->>4 AS BIGINT) FROM ",
            dialect_json_rows!()
        ),
        &lines,
    )
    .await?;
    Ok(())
}

async fn move_holds(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let moved: Vec<HoldRow> = holds_by_id(state)
        .into_iter()
        .filter(|hold| {
            if hold.is_new {
                hold.view.status != HoldStatus::Active
            } else {
                hold.changed
            }
        })
        .map(|hold| hold_row(hold, hold.view.status))
        .collect();
    write_rows(
        conn,
        concat!(
            hold_rows!(),
            "DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at,
                updated_at = excluded.updated_at"
        ),
        &moved,
    )
    .await?;
    Ok(())
}

async fn insert_orders(conn: &mut Conn, state: &State) -> anyhow::Result<()> {
    let rows: Vec<(&str, &str, &str, &str, i64, i64)> = orders_by_id(state)
        .into_iter()
        .filter(|order| order.is_new)
        .map(|order| {
            (
                order.id.as_str(),
                OrderStatus::Pending.as_str(),
                order.hold_id.as_str(),
                order.request_hash.as_str(),
                order.created_at_ms,
                order.created_at_ms,
            )
        })
        .collect();
    let inserted = write_rows(conn, concat!(order_rows!(), "DO NOTHING"), &rows).await?;
    if inserted != rows.len() as u64 {
        bail!("an order of the run was made by another writer meanwhile");
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
        let moved: Vec<(&str, &str, &str, &str, i64, i64)> = orders
            .iter()
            .filter_map(|order| {
                let (status, at) = order.moves.get(wave)?;
                Some((
                    order.id.as_str(),
                    status.as_str(),
                    order.hold_id.as_str(),
                    order.request_hash.as_str(),
                    order.created_at_ms,
                    *at,
                ))
            })
            .collect();
        write_rows(
            conn,
            concat!(
                order_rows!(),
                "DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at"
            ),
            &moved,
        )
        .await?;
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
    let mut keys: Vec<(&str, i64, i64)> = state
        .retried
        .iter()
        .filter_map(|(key, entry)| match entry {
            Entry::New(row) => Some((key.as_str(), state.rows[*row].id, now)),
            Entry::Stored(_) => None,
        })
        .collect();
    keys.sort_unstable();
    write_rows(
        conn,
        concat!(
            "INSERT INTO sync_retry_keys (retry_key, ledger_id, created_at)
             SELECT value->>0, CAST(value->>1 AS BIGINT), CAST(value->>2 AS BIGINT) FROM ",
            dialect_json_rows!()
        ),
        &keys,
    )
    .await?;
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
