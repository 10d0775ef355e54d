//! The backend code SQLite and PostgreSQL share.
//!
//! This file is compiled twice, once inside `backend::sqlite` and once inside
//! `backend::postgres`, each of which supplies `Db`, `Conn`, `DbRow`,
//! `BackendStore` and the `dialect_*!` SQL fragments. The SQL here is written
//! to mean the same on both: `$N` parameters, `CAST` rather than `::`, no
//! boolean arithmetic.

use anyhow::Context;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::Row;
use stock_core::{
    apply_delta, apply_lines, set_on_hand, HoldAction, HoldStatus, Item, ItemId, ItemStatus, Level,
    LineRequest, LocationId, Operation, OrderAction, OrderStatus, Role, Transition,
};

use super::alerts::BatchChanges;
use super::{
    alerts, channels, events, health, holds, runs, suppliers, webhooks, BackendStore, Conn, Db,
    DbRow,
};
use crate::model::*;
use crate::{Store, StoreResult};

/// Levels as reads see them: a hold past its expiry no longer counts as
/// reserved, even before the expiry task has released it. The join starts
/// from the (small) index of due holds.
macro_rules! effective_levels {
    () => {
        concat!(
        "SELECT l.item_id, l.location_id, l.on_hand, l.reserved - COALESCE(o.overdue, 0) AS reserved,
                l.version, l.updated_at
         FROM levels l LEFT JOIN (
            SELECT hl.item_id, hl.location_id, CAST(SUM(hl.quantity) AS BIGINT) AS overdue
            FROM holds h ",
            dialect_due_join!(),
            " hold_lines hl ON hl.hold_id = h.id
            WHERE h.status = 'active' AND h.expires_at <= ",
            dialect_now_ms!(),
            "
            GROUP BY hl.item_id, hl.location_id
         ) o ON o.item_id = l.item_id AND o.location_id = l.location_id"
        )
    };
}

impl BackendStore {
    /// Runs every sale on its own, never in a run: the reference the runs
    /// are tested against.
    pub fn one_sale_at_a_time(mut self) -> BackendStore {
        self.write_path.sales_in_runs = false;
        self
    }

    /// How many runs of sales were undone and run one by one since start.
    pub fn runs_undone(&self) -> u64 {
        self.write_path
            .runs_undone
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn read(&self) -> StoreResult<PoolConnection<Db>> {
        self.reader
            .acquire()
            .await
            .context("acquiring a read connection")
    }

    async fn execute_batch(&self, batch: Vec<WriteJob>) -> anyhow::Result<Vec<Reply>> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .context("acquiring the write connection")?;
        sqlx::query(dialect_begin_write!())
            .execute(&mut *conn)
            .await
            .context("beginning a write transaction")?;
        if !dialect_writer_turn!().is_empty() {
            sqlx::query(dialect_writer_turn!())
                .execute(&mut *conn)
                .await
                .context("waiting for the writer's turn")?;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let outcome = async {
            // A batch of sales only, the common case under load, is one run
            // that reports its own changes: no ledger mark, no ledger scan.
            let changes = if self.write_path.sales_in_runs
                && batch.iter().all(|job| runs::is_sale(&job.command))
            {
                match runs::run_sales(&mut conn, &batch).await? {
                    Some(sold) => {
                        replies.extend(sold.replies);
                        sold.changes
                    }
                    None => {
                        let mark = alerts::ledger_mark(&mut conn).await?;
                        self.run_one_by_one(&mut conn, &batch, &mut replies).await?;
                        BatchChanges::InLedgerAfter(mark)
                    }
                }
            } else {
                let mark = alerts::ledger_mark(&mut conn).await?;
                self.run_jobs(&mut conn, &batch, &mut replies).await?;
                BatchChanges::InLedgerAfter(mark)
            };
            alerts::raise_for(
                &mut conn,
                changes,
                self.write_path.low_stock_threshold,
                now_ms(),
            )
            .await
            .context("raising alerts")?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        let outcome = match outcome {
            Ok(()) => sqlx::query("COMMIT")
                .execute(&mut *conn)
                .await
                .map(drop)
                .context("COMMIT"),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                // A connection in an unknown state must not serve the next batch.
                conn.close_on_drop();
            }
            return Err(error);
        }
        Ok(replies)
    }

    /// Runs a batch's jobs in arrival order: each run of consecutive sales
    /// together (see `runs.rs`), every other job on its own.
    async fn run_jobs(
        &self,
        conn: &mut Conn,
        batch: &[WriteJob],
        replies: &mut Vec<Reply>,
    ) -> anyhow::Result<()> {
        let mut rest = batch;
        while let Some(first) = rest.first() {
            let run = if self.write_path.sales_in_runs {
                rest.iter()
                    .take_while(|job| runs::is_sale(&job.command))
                    .count()
            } else {
                0
            };
            if run == 0 {
                replies.push(run_job(conn, first).await?);
                rest = &rest[1..];
                continue;
            }
            match runs::run_sales(conn, &rest[..run]).await? {
                Some(sold) => replies.extend(sold.replies),
                None => self.run_one_by_one(conn, &rest[..run], replies).await?,
            }
            rest = &rest[run..];
        }
        Ok(())
    }

    /// Runs the sales of a run that was undone, each on its own.
    async fn run_one_by_one(
        &self,
        conn: &mut Conn,
        sales: &[WriteJob],
        replies: &mut Vec<Reply>,
    ) -> anyhow::Result<()> {
        self.write_path
            .runs_undone
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for job in sales {
            replies.push(run_job(conn, job).await?);
        }
        Ok(())
    }
}

/// The most values one `IN (…)` list binds.
pub(crate) const IN_LIST_MAX: usize = 500;

/// Pushes `(value, value, …)` for an IN list.
pub(crate) fn push_list<'args, T>(query: &mut sqlx::QueryBuilder<'args, Db>, values: &[T])
where
    T: 'args + sqlx::Encode<'args, Db> + sqlx::Type<Db> + Clone,
{
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value.clone());
    }
    list.push_unseparated(")");
}

/// The rows of `select … IN (values) suffix`, at most [`IN_LIST_MAX`]
/// values a statement. `select` ends with `IN `.
pub(crate) async fn fetch_in<'v, T>(
    conn: &mut Conn,
    select: &str,
    values: &'v [T],
    suffix: &str,
) -> Result<Vec<DbRow>, sqlx::Error>
where
    T: 'v + sqlx::Encode<'v, Db> + sqlx::Type<Db> + Clone + Send + Sync,
{
    let mut rows = Vec::new();
    for chunk in values.chunks(IN_LIST_MAX) {
        let mut query = sqlx::QueryBuilder::<Db>::new(select);
        push_list(&mut query, chunk);
        query.push(suffix);
        rows.extend(query.build().fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// How often a write that lost a deadlock to another writer is tried.
const WRITE_ATTEMPTS_MAX: u32 = 3;

/// Runs one job inside its own savepoint and records its idempotency key.
async fn run_job(conn: &mut Conn, job: &WriteJob) -> anyhow::Result<Reply> {
    sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    let mut attempts = 1;
    let result = loop {
        let result = apply(conn, &job.command, &job.meta, now_ms()).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
        }
        match &result {
            Err(WriteError::Internal(error))
                if attempts < WRITE_ATTEMPTS_MAX && super::is_retryable(error) =>
            {
                tracing::info!(
                    attempts,
                    error = format!("{error:#}"),
                    "retrying a write that lost a lock race"
                );
                attempts += 1;
            }
            _ => break result,
        }
    };
    if let Err(WriteError::Internal(error)) = &result {
        tracing::error!(
            error = format!("{error:#}"),
            "a write failed inside the store"
        );
    }
    let reply = match &job.meta.idempotency {
        Some(claim) if !matches!(result, Err(WriteError::Internal(_))) => {
            // Rendering is the caller's code running inside our transaction:
            // a panic there must not leave the transaction open.
            let rendered =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (claim.render)(&result)));
            let Ok((status, body)) = rendered else {
                sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
                sqlx::query("RELEASE job").execute(&mut *conn).await?;
                return Ok(Reply::Fresh(Err(WriteError::Internal(anyhow::anyhow!(
                    "rendering the response for an idempotency key failed"
                )))));
            };
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys
                    (key_id, idempotency_key, request_hash, status_code, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (key_id, idempotency_key) DO NOTHING",
            )
            .bind(&claim.key_id)
            .bind(&claim.idempotency_key)
            .bind(&claim.request_hash)
            .bind(i64::from(status))
            .bind(body)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                Reply::Fresh(result)
            } else {
                // The key was used first by a request that finished meanwhile:
                // undo this one and answer with the first.
                sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
                let stored = stored_response(conn, &claim.key_id, &claim.idempotency_key)
                    .await?
                    .context("an idempotency key that conflicted is gone")?;
                let same_request = stored.request_hash == claim.request_hash;
                Reply::Replayed {
                    stored,
                    same_request,
                }
            }
        }
        _ => Reply::Fresh(result),
    };
    sqlx::query("RELEASE job").execute(&mut *conn).await?;
    Ok(reply)
}

async fn apply(
    conn: &mut Conn,
    command: &Command,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    match command {
        Command::CreateItem {
            item,
            location,
            opening_stock,
        } => {
            if lock_item(conn, &item.id).await?.is_some() {
                return Err(WriteError::AlreadyExists {
                    entity: "item",
                    id: item.id.to_string(),
                });
            }
            let entry = insert_item(conn, item, location, *opening_stock, meta, now).await?;
            let view = fetch_view(conn, &item.id)
                .await?
                .expect("the item was just written");
            Ok(Outcome::Item {
                view,
                entries: vec![entry],
            })
        }
        Command::UpdateItem {
            id,
            patch,
            set_stock,
        } => {
            if set_stock.is_some() {
                holds::expire_due_for_items(conn, [id], meta, now).await?;
            }
            let current = require_item(conn, id).await?;
            let item = patched(&current, patch);
            if item != current {
                update_item(conn, &item, now).await?;
            }
            let mut entries = Vec::new();
            if let Some(set) = set_stock {
                require_location(conn, &set.location).await?;
                let level = fetch_level(conn, id, &set.location)
                    .await?
                    .unwrap_or_default();
                let transition = set_on_hand(&item, &level, set.on_hand, set.expected_version)?;
                let change = Change {
                    item: id,
                    location: &set.location,
                    operation: Operation::Set,
                    transition,
                    order_id: None,
                    reservation_id: None,
                    reason: set.reason.as_deref(),
                };
                entries.push(write_change(conn, &change, meta, now).await?);
            }
            let view = fetch_view(conn, id).await?.expect("the item exists");
            Ok(Outcome::Item { view, entries })
        }
        Command::SyncStock {
            item,
            location,
            delta,
            order_id,
            reason,
            trace_id,
        } => {
            // The item is locked first, so that two writers retrying the same
            // order cannot both find its retry key missing.
            let found = require_item(conn, item).await?;
            let retry_keys =
                sync_retry_keys(item, *delta, order_id.as_deref(), trace_id.as_deref());
            for retry_key in &retry_keys {
                if let Some(entry) = retried_entry(conn, retry_key).await? {
                    if entry.item != *item
                        || entry.location != *location
                        || entry.on_hand_delta != *delta
                    {
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
            let transition = apply_delta(&found, location, &level, *delta)?;
            let operation = if *delta > 0 {
                Operation::Add
            } else {
                Operation::Deduct
            };
            let change = Change {
                item,
                location,
                operation,
                transition,
                order_id: order_id.as_deref(),
                reservation_id: None,
                reason: reason.as_deref(),
            };
            let meta = WriteMeta {
                trace_id: trace_id.clone().or(meta.trace_id.clone()),
                ..meta.clone()
            };
            let entry = write_change(conn, &change, &meta, now).await?;
            for retry_key in &retry_keys {
                sqlx::query("INSERT INTO sync_retry_keys (retry_key, ledger_id, created_at) VALUES ($1, $2, $3)")
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
        Command::ApplyLines {
            operation,
            lines,
            order_id,
            reason,
        } => {
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
            let changes = apply_lines(&requests)?;
            let mut entries = Vec::with_capacity(changes.len());
            for line in &changes {
                let change = Change {
                    item: &line.item,
                    location: &line.location,
                    operation: *operation,
                    transition: line.transition,
                    order_id: order_id.as_deref(),
                    reservation_id: None,
                    reason: reason.as_deref(),
                };
                entries.push(write_change(conn, &change, meta, now).await?);
            }
            let mut views = Vec::with_capacity(items.len());
            for item in &items {
                views.push(fetch_view(conn, &item.id).await?.expect("the item exists"));
            }
            Ok(Outcome::Lines { views, entries })
        }
        Command::ImportItem {
            item,
            location,
            on_hand,
        } => {
            require_location(conn, location).await?;
            holds::expire_due_for_items(conn, [&item.id], meta, now).await?;
            let Some((current, ..)) = lock_item(conn, &item.id).await? else {
                insert_item(conn, item, location, *on_hand, meta, now).await?;
                let view = fetch_view(conn, &item.id)
                    .await?
                    .expect("the item was just written");
                return Ok(Outcome::Imported {
                    kind: ImportKind::Created,
                    view,
                });
            };
            let mut kind = ImportKind::Unchanged;
            if current != *item {
                update_item(conn, item, now).await?;
                kind = ImportKind::Updated;
            }
            let level = fetch_level(conn, &item.id, location)
                .await?
                .unwrap_or_default();
            if level.on_hand != *on_hand {
                let transition = set_on_hand(item, &level, *on_hand, level.version)?;
                let change = Change {
                    item: &item.id,
                    location,
                    operation: Operation::Set,
                    transition,
                    order_id: None,
                    reservation_id: None,
                    reason: Some("import"),
                };
                write_change(conn, &change, meta, now).await?;
                kind = ImportKind::Updated;
            }
            let view = fetch_view(conn, &item.id).await?.expect("the item exists");
            Ok(Outcome::Imported { kind, view })
        }
        Command::CreateHold {
            id,
            order_id,
            lines,
            ttl_ms,
        } => {
            let hash = holds::request_hash("hold", order_id, lines);
            let hold = holds::NewHold {
                id,
                order_id,
                lines,
                ttl_ms: *ttl_ms,
                hash: &hash,
            };
            holds::create_hold(conn, &hold, meta, now).await
        }
        Command::ExtendHold { id, ttl_ms } => {
            holds::step_hold(conn, id, HoldAction::Extend, *ttl_ms, None, meta, now).await
        }
        Command::CommitHold { id } => {
            holds::step_hold(conn, id, HoldAction::Commit, 0, None, meta, now).await
        }
        Command::ReleaseHold { id, reason } => {
            let reason = reason.as_deref().or(Some("released"));
            holds::step_hold(conn, id, HoldAction::Release, 0, reason, meta, now).await
        }
        Command::CloseAlert { id, status } => alerts::close(conn, *id, *status, meta, now).await,
        Command::RecordHealthRun(record) => health::record_run(conn, record, meta, now).await,
        Command::FixDiff { id, fix } => health::fix(conn, *id, *fix, meta, now).await,
        Command::ExpireHolds { ids, now_ms } => holds::expire_holds(conn, ids, meta, *now_ms).await,
        Command::CreateOrder {
            id,
            hold_id,
            lines,
            ttl_ms,
        } => holds::create_order(conn, id, hold_id, lines, *ttl_ms, meta, now).await,
        Command::PayOrder { id } => {
            holds::step_order(conn, id, OrderAction::Pay, None, meta, now).await
        }
        Command::CancelOrder { id, reason } => {
            holds::step_order(conn, id, OrderAction::Cancel, reason.as_deref(), meta, now).await
        }
        Command::Transfer {
            item,
            source,
            target,
            quantity,
            reason,
        } => {
            holds::move_stock(
                conn,
                item,
                source,
                target,
                *quantity,
                reason.as_deref(),
                meta,
                now,
            )
            .await
        }
        Command::SyncSupplierStock {
            item,
            location,
            location_name,
            location_priority,
            stock,
            supplier,
            county_code,
        } => {
            let figure = suppliers::SupplierFigure {
                item,
                location,
                location_name,
                location_priority: *location_priority,
                stock: *stock,
                supplier,
                county_code,
            };
            suppliers::sync_stock(conn, &figure, meta, now).await
        }
        Command::CreateLocation { id, name, priority } => {
            if location_exists(conn, id).await? {
                return Err(WriteError::AlreadyExists {
                    entity: "location",
                    id: id.to_string(),
                });
            }
            let inserted = sqlx::query(
                "INSERT INTO locations (id, name, priority, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(name)
            .bind(priority)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Another writer (another replica) made it meanwhile.
                return Err(WriteError::AlreadyExists {
                    entity: "location",
                    id: id.to_string(),
                });
            }
            Ok(Outcome::Location(Location {
                id: id.clone(),
                name: name.clone(),
                priority: *priority,
                created_at_ms: now,
            }))
        }
    }
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

fn patched(item: &Item, patch: &ItemPatch) -> Item {
    Item {
        id: item.id.clone(),
        name: patch.name.clone().unwrap_or_else(|| item.name.clone()),
        status: patch.status.unwrap_or(item.status),
        min_stock: patch.min_stock.unwrap_or(item.min_stock),
        max_stock: patch.max_stock.unwrap_or(item.max_stock),
        allow_backorder: patch.allow_backorder.unwrap_or(item.allow_backorder),
    }
}

pub(crate) struct Change<'a> {
    pub item: &'a ItemId,
    pub location: &'a LocationId,
    pub operation: Operation,
    pub transition: Transition,
    pub order_id: Option<&'a str>,
    pub reservation_id: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Writes a decided transition: the level and its ledger row, together.
pub(crate) async fn write_change(
    conn: &mut Conn,
    change: &Change<'_>,
    meta: &WriteMeta,
    now: i64,
) -> Result<LedgerEntry, WriteError> {
    let after = change.transition.after;
    sqlx::query(
        "INSERT INTO levels (item_id, location_id, on_hand, reserved, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (item_id, location_id) DO UPDATE SET
            on_hand = excluded.on_hand, reserved = excluded.reserved,
            version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(change.item.as_str())
    .bind(change.location.as_str())
    .bind(after.on_hand)
    .bind(after.reserved)
    .bind(after.version)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let before = change.transition.before;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (item_id, location_id, operation, on_hand_delta, reserved_delta,
            on_hand_before, on_hand_after, reserved_before, reserved_after, version_after,
            order_id, reservation_id, reason, operator, trace_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
    )
    .bind(change.item.as_str())
    .bind(change.location.as_str())
    .bind(change.operation.as_str())
    .bind(change.transition.on_hand_delta())
    .bind(change.transition.reserved_delta())
    .bind(before.on_hand)
    .bind(after.on_hand)
    .bind(before.reserved)
    .bind(after.reserved)
    .bind(after.version)
    .bind(change.order_id)
    .bind(change.reservation_id)
    .bind(change.reason)
    .bind(&meta.operator)
    .bind(meta.trace_id.as_deref())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(LedgerEntry {
        id,
        item: change.item.clone(),
        location: change.location.clone(),
        operation: change.operation,
        on_hand_delta: change.transition.on_hand_delta(),
        reserved_delta: change.transition.reserved_delta(),
        on_hand_before: before.on_hand,
        on_hand_after: after.on_hand,
        reserved_before: before.reserved,
        reserved_after: after.reserved,
        version_after: after.version,
        order_id: change.order_id.map(str::to_owned),
        reservation_id: change.reservation_id.map(str::to_owned),
        reason: change.reason.map(str::to_owned),
        operator: meta.operator.clone(),
        trace_id: meta.trace_id.clone(),
        created_at_ms: now,
    })
}

async fn insert_item(
    conn: &mut Conn,
    item: &Item,
    location: &LocationId,
    opening_stock: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<LedgerEntry, WriteError> {
    require_location(conn, location).await?;
    let inserted = sqlx::query(
        "INSERT INTO items (id, name, status, min_stock, max_stock, allow_backorder, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(item.id.as_str())
    .bind(&item.name)
    .bind(item.status.as_str())
    .bind(item.min_stock)
    .bind(item.max_stock)
    .bind(item.allow_backorder)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another writer (another replica) made it meanwhile.
        return Err(WriteError::AlreadyExists {
            entity: "item",
            id: item.id.to_string(),
        });
    }
    let transition = Transition {
        before: Level::default(),
        after: Level {
            on_hand: opening_stock,
            reserved: 0,
            version: 1,
        },
    };
    let change = Change {
        item: &item.id,
        location,
        operation: Operation::Init,
        transition,
        order_id: None,
        reservation_id: None,
        reason: Some("opening stock"),
    };
    write_change(conn, &change, meta, now).await
}

async fn update_item(conn: &mut Conn, item: &Item, now: i64) -> Result<(), WriteError> {
    sqlx::query(
        "UPDATE items SET name = $1, status = $2, min_stock = $3, max_stock = $4, allow_backorder = $5,
            updated_at = $6 WHERE id = $7",
    )
    .bind(&item.name)
    .bind(item.status.as_str())
    .bind(item.min_stock)
    .bind(item.max_stock)
    .bind(item.allow_backorder)
    .bind(now)
    .bind(item.id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks every item a request names, in its order; a 404 names every one
/// that does not exist.
pub(crate) async fn lock_items<'a>(
    conn: &mut Conn,
    ids: impl Iterator<Item = &'a ItemId>,
) -> Result<Vec<Item>, WriteError> {
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match lock_item(conn, id).await? {
            Some((item, ..)) => items.push(item),
            None => missing.push(id.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(WriteError::NotFound {
            entity: "item",
            id: missing.join(", "),
        });
    }
    Ok(items)
}

pub(crate) async fn require_item(conn: &mut Conn, id: &ItemId) -> Result<Item, WriteError> {
    match lock_item(conn, id).await? {
        Some((item, ..)) => Ok(item),
        None => Err(WriteError::NotFound {
            entity: "item",
            id: id.to_string(),
        }),
    }
}

pub(crate) async fn require_location(conn: &mut Conn, id: &LocationId) -> Result<(), WriteError> {
    if location_exists(conn, id).await? {
        Ok(())
    } else {
        Err(WriteError::NotFound {
            entity: "location",
            id: id.to_string(),
        })
    }
}

pub(crate) async fn location_exists(conn: &mut Conn, id: &LocationId) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM locations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.is_some())
}

pub(crate) fn corrupt(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("the database holds an invalid {what}: {value:?}").into())
}

/// Reads an item id column; an invalid one means the database was edited by hand.
pub(crate) fn item_id_at<I: sqlx::ColumnIndex<DbRow>>(
    row: &DbRow,
    column: I,
) -> Result<ItemId, sqlx::Error> {
    let raw: String = row.try_get(column)?;
    ItemId::parse(&raw).map_err(|_| corrupt("item id", &raw))
}

pub(crate) fn location_id_at<I: sqlx::ColumnIndex<DbRow>>(
    row: &DbRow,
    column: I,
) -> Result<LocationId, sqlx::Error> {
    let raw: String = row.try_get(column)?;
    LocationId::parse(&raw).map_err(|_| corrupt("location id", &raw))
}

pub(crate) fn item_from_row(row: &DbRow) -> Result<(Item, i64, i64), sqlx::Error> {
    let status: String = row.try_get("status")?;
    let item = Item {
        id: item_id_at(row, "id")?,
        name: row.try_get("name")?,
        status: ItemStatus::parse(&status).ok_or_else(|| corrupt("item status", &status))?,
        min_stock: row.try_get("min_stock")?,
        max_stock: row.try_get("max_stock")?,
        allow_backorder: row.try_get("allow_backorder")?,
    };
    Ok((item, row.try_get("created_at")?, row.try_get("updated_at")?))
}

pub(crate) async fn fetch_item(
    conn: &mut Conn,
    id: &ItemId,
) -> Result<Option<(Item, i64, i64)>, sqlx::Error> {
    item_by(conn, "SELECT * FROM items WHERE id = $1", id).await
}

/// Reads an item for a change to it, locking it until the transaction ends
/// where the backend has row locks: every change to an item's stock goes
/// through here first, so two writers (two replicas) take turns per item.
pub(crate) async fn lock_item(
    conn: &mut Conn,
    id: &ItemId,
) -> Result<Option<(Item, i64, i64)>, sqlx::Error> {
    item_by(
        conn,
        concat!("SELECT * FROM items WHERE id = $1", dialect_lock!()),
        id,
    )
    .await
}

async fn item_by(
    conn: &mut Conn,
    sql: &'static str,
    id: &ItemId,
) -> Result<Option<(Item, i64, i64)>, sqlx::Error> {
    let row = sqlx::query(sql)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(item_from_row).transpose()
}

pub(crate) async fn fetch_level(
    conn: &mut Conn,
    item: &ItemId,
    location: &LocationId,
) -> Result<Option<Level>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT on_hand, reserved, version FROM levels WHERE item_id = $1 AND location_id = $2",
    )
    .bind(item.as_str())
    .bind(location.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Level {
            on_hand: row.try_get(0)?,
            reserved: row.try_get(1)?,
            version: row.try_get(2)?,
        })
    })
    .transpose()
}

pub(crate) async fn fetch_view(
    conn: &mut Conn,
    id: &ItemId,
) -> Result<Option<ItemView>, sqlx::Error> {
    let Some((item, created_at_ms, updated_at_ms)) = fetch_item(conn, id).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(concat!(
        "SELECT e.location_id, e.on_hand, e.reserved, e.version, e.updated_at FROM (",
        effective_levels!(),
        ") e JOIN locations o ON o.id = e.location_id
             WHERE e.item_id = $1 ORDER BY o.priority, o.id"
    ))
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut levels = Vec::with_capacity(rows.len());
    for row in rows {
        levels.push(LocationLevel {
            location: location_id_at(&row, 0)?,
            level: Level {
                on_hand: row.try_get(1)?,
                reserved: row.try_get(2)?,
                version: row.try_get(3)?,
            },
            updated_at_ms: row.try_get(4)?,
        });
    }
    Ok(Some(ItemView {
        item,
        levels,
        created_at_ms,
        updated_at_ms,
    }))
}

pub(crate) fn ledger_entry(row: &DbRow) -> Result<LedgerEntry, sqlx::Error> {
    let operation: String = row.try_get("operation")?;
    Ok(LedgerEntry {
        id: row.try_get("id")?,
        item: item_id_at(row, "item_id")?,
        location: location_id_at(row, "location_id")?,
        operation: Operation::parse(&operation).ok_or_else(|| corrupt("operation", &operation))?,
        on_hand_delta: row.try_get("on_hand_delta")?,
        reserved_delta: row.try_get("reserved_delta")?,
        on_hand_before: row.try_get("on_hand_before")?,
        on_hand_after: row.try_get("on_hand_after")?,
        reserved_before: row.try_get("reserved_before")?,
        reserved_after: row.try_get("reserved_after")?,
        version_after: row.try_get("version_after")?,
        order_id: row.try_get("order_id")?,
        reservation_id: row.try_get("reservation_id")?,
        reason: row.try_get("reason")?,
        operator: row.try_get("operator")?,
        trace_id: row.try_get("trace_id")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

fn api_key(row: &DbRow) -> Result<ApiKey, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        created_at_ms: row.try_get("created_at")?,
        revoked_at_ms: row.try_get("revoked_at")?,
    })
}

async fn stored_response(
    conn: &mut Conn,
    key_id: &str,
    idempotency_key: &str,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT request_hash, status_code, body FROM idempotency_keys
         WHERE key_id = $1 AND idempotency_key = $2",
    )
    .bind(key_id)
    .bind(idempotency_key)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let status: i64 = row.try_get(1)?;
        Ok(StoredResponse {
            request_hash: row.try_get(0)?,
            status: u16::try_from(status)
                .map_err(|_| corrupt("status code", &status.to_string()))?,
            body: row.try_get(2)?,
        })
    })
    .transpose()
}

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

macro_rules! item_list_where {
    () => {
        " WHERE ($2 IS NULL OR a.status = $2)
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

const INVENTORY_STATS: &str = concat!(
    "SELECT COUNT(*), CAST(COALESCE(SUM(a.on_hand), 0) AS BIGINT), CAST(COALESCE(SUM(a.reserved), 0) AS BIGINT),
        CAST(COALESCE(SUM(CASE WHEN a.available > 0 AND a.available <= COALESCE(a.min_stock, $2)
                               THEN 1 ELSE 0 END), 0) AS BIGINT),
        CAST(COALESCE(SUM(CASE WHEN a.available <= 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
        (SELECT COUNT(*) FROM locations),
        (SELECT COUNT(*) FROM ledger)
     FROM (",
    available_by_item!(),
    ") a"
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

#[async_trait]
impl Store for BackendStore {
    async fn migrate(&self) -> StoreResult<usize> {
        let mut conn = self.writer.acquire().await?;
        super::migrate(&mut conn).await
    }

    async fn execute(&self, batch: Vec<WriteJob>) -> Vec<Reply> {
        let count = batch.len();
        match self.execute_batch(batch).await {
            Ok(replies) => replies,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), count, "a write batch failed");
                (0..count)
                    .map(|_| Reply::Fresh(Err(WriteError::Internal(anyhow::anyhow!("{error:#}")))))
                    .collect()
            }
        }
    }

    async fn item(&self, id: &ItemId) -> StoreResult<Option<ItemView>> {
        let mut conn = self.read().await?;
        Ok(fetch_view(&mut conn, id).await?)
    }

    async fn items(&self, ids: &[ItemId]) -> StoreResult<Vec<ItemView>> {
        let mut conn = self.read().await?;
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(view) = fetch_view(&mut conn, id).await? {
                views.push(view);
            }
        }
        Ok(views)
    }

    async fn list_items(&self, filter: &ItemFilter, page: Page) -> StoreResult<Paged<ItemView>> {
        let mut conn = self.read().await?;
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
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let id = item_id_at(&row, 0)?;
            if let Some(view) = fetch_view(&mut conn, &id).await? {
                views.push(view);
            }
        }
        Ok(Paged {
            rows: views,
            total: total as u64,
            page,
        })
    }

    async fn low_stock_report(
        &self,
        threshold: i64,
        items_max: u32,
    ) -> StoreResult<LowStockReport> {
        let mut conn = self.read().await?;
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

    async fn inventory_stats(&self, low_stock_threshold: i64) -> StoreResult<InventoryStats> {
        let mut conn = self.read().await?;
        let row = sqlx::query(INVENTORY_STATS)
            .bind(None::<String>)
            .bind(low_stock_threshold)
            .fetch_one(&mut *conn)
            .await?;
        let on_hand: i64 = row.try_get(1)?;
        let reserved: i64 = row.try_get(2)?;
        let count = |index: usize| row.try_get::<i64, _>(index).map(|n| n as u64);
        Ok(InventoryStats {
            items: count(0)?,
            on_hand,
            reserved,
            available: on_hand.saturating_sub(reserved),
            low_stock: count(3)?,
            out_of_stock: count(4)?,
            locations: count(5)?,
            ledger_entries: count(6)?,
        })
    }

    async fn locations(&self) -> StoreResult<Vec<Location>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, priority, created_at FROM locations ORDER BY priority, id",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Location {
                    id: location_id_at(row, 0)?,
                    name: row.try_get(1)?,
                    priority: row.try_get(2)?,
                    created_at_ms: row.try_get(3)?,
                })
            })
            .collect()
    }

    async fn ledger(&self, filter: &LedgerFilter, page: Page) -> StoreResult<Paged<LedgerEntry>> {
        let mut conn = self.read().await?;
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

    async fn verify(&self) -> StoreResult<VerifyReport> {
        let mut conn = self.read().await?;
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

    async fn holds(&self, status: Option<HoldStatus>, page: Page) -> StoreResult<Paged<HoldView>> {
        let mut conn = self.read().await?;
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
            if let Some((hold, _)) = holds::fetch_hold(&mut conn, &id, holds::Access::Read).await? {
                rows.push(hold);
            }
        }
        Ok(Paged {
            rows,
            total: total as u64,
            page,
        })
    }

    async fn hold(&self, id: &str) -> StoreResult<Option<HoldView>> {
        let mut conn = self.read().await?;
        Ok(holds::fetch_hold(&mut conn, id, holds::Access::Read)
            .await?
            .map(|(hold, _)| hold))
    }

    async fn order(&self, id: &str) -> StoreResult<Option<OrderView>> {
        let mut conn = self.read().await?;
        Ok(holds::fetch_order(&mut conn, id, holds::Access::Read)
            .await?
            .map(|(order, _)| order))
    }

    async fn orders(&self, filter: &OrderFilter, page: Page) -> StoreResult<Paged<OrderView>> {
        let mut conn = self.read().await?;
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
            if let Some((order, _)) =
                holds::fetch_order(&mut conn, &id, holds::Access::Read).await?
            {
                rows.push(order);
            }
        }
        Ok(Paged {
            rows,
            total: total as u64,
            page,
        })
    }

    async fn alerts(&self, filter: &AlertFilter, page: Page) -> StoreResult<Paged<AlertView>> {
        let mut conn = self.read().await?;
        Ok(alerts::list(&mut conn, filter, page).await?)
    }

    async fn sink_cursor(&self, name: &str, initial: i64) -> StoreResult<i64> {
        let mut conn = self.writer.acquire().await?;
        sqlx::query(
            "INSERT INTO sink_cursors (name, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(initial)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT cursor FROM sink_cursors WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *conn)
                .await?,
        )
    }

    async fn advance_sink_cursor(&self, name: &str, cursor: i64) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        sqlx::query(
            "UPDATE sink_cursors SET cursor = $1, updated_at = $2 WHERE name = $3 AND cursor < $1",
        )
        .bind(cursor)
        .bind(now_ms())
        .bind(name)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn put_channel(
        &self,
        id: &str,
        endpoint: Option<&str>,
        secret: Option<&str>,
    ) -> StoreResult<Channel> {
        let mut conn = self.writer.acquire().await?;
        Ok(channels::put_channel(&mut conn, id, endpoint, secret, now_ms()).await?)
    }

    async fn channel(&self, id: &str) -> StoreResult<Option<Channel>> {
        let mut conn = self.read().await?;
        Ok(channels::channel(&mut conn, id).await?)
    }

    async fn channels(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.read().await?;
        Ok(channels::channels(&mut conn).await?)
    }

    async fn put_listing(
        &self,
        channel: &str,
        listing_id: &str,
        item: &ItemId,
        location: Option<&LocationId>,
        buffer: i64,
    ) -> StoreResult<Listing> {
        let mut conn = self.writer.acquire().await?;
        Ok(channels::put_listing(
            &mut conn,
            channel,
            listing_id,
            item,
            location,
            buffer,
            now_ms(),
        )
        .await?)
    }

    async fn delete_listing(&self, channel: &str, listing_id: &str) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(channels::delete_listing(&mut conn, channel, listing_id).await?)
    }

    async fn listings(&self, channel: &str, items: Option<&[ItemId]>) -> StoreResult<Vec<Listing>> {
        let mut conn = self.read().await?;
        Ok(channels::listings(&mut conn, channel, items).await?)
    }

    async fn record_publish(
        &self,
        channel: &str,
        listing_id: &str,
        outcome: &PublishOutcome,
    ) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        Ok(channels::record_publish(&mut conn, channel, listing_id, outcome, now_ms()).await?)
    }

    async fn put_supplier_link(
        &self,
        item: &ItemId,
        supplier: &str,
        product_code: &str,
        check_before_order: bool,
    ) -> StoreResult<PutSupplierLink> {
        let mut conn = self.writer.acquire().await?;
        suppliers::put_link(
            &mut conn,
            item,
            supplier,
            product_code,
            check_before_order,
            now_ms(),
        )
        .await
        .context("linking an item to a supplier")
    }

    async fn supplier_link(&self, item: &ItemId) -> StoreResult<Option<SupplierLink>> {
        let mut conn = self.read().await?;
        Ok(suppliers::link(&mut conn, item).await?)
    }

    async fn supplier_links(&self, supplier: &str) -> StoreResult<Vec<SupplierLink>> {
        let mut conn = self.read().await?;
        Ok(suppliers::links(&mut conn, supplier).await?)
    }

    async fn supplier_link_counts(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut conn = self.read().await?;
        Ok(suppliers::link_counts(&mut conn).await?)
    }

    async fn supplier_links_for(&self, items: &[ItemId]) -> StoreResult<Vec<SupplierLink>> {
        let mut conn = self.read().await?;
        Ok(suppliers::links_for(&mut conn, items).await?)
    }

    async fn delete_supplier_link(&self, item: &ItemId) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(suppliers::delete_link(&mut conn, item).await?)
    }

    async fn health_report(&self, pending_max: u32) -> StoreResult<HealthReport> {
        let mut conn = self.read().await?;
        Ok(health::report(&mut conn, pending_max).await?)
    }

    async fn diff(&self, id: i64) -> StoreResult<Option<DiffView>> {
        let mut conn = self.read().await?;
        Ok(health::fetch(&mut conn, id).await?)
    }

    async fn changed_items_after(&self, after: i64, limit: u32) -> StoreResult<ChangedItems> {
        let mut conn = self.read().await?;
        let (items, newest_event_id, events) =
            health::changed_items_after(&mut conn, after, limit).await?;
        Ok(ChangedItems {
            items,
            newest_event_id,
            complete: events < limit as usize,
        })
    }

    async fn item_ids_after(&self, after: Option<&ItemId>, limit: u32) -> StoreResult<Vec<ItemId>> {
        let mut conn = self.read().await?;
        Ok(health::item_ids_after(&mut conn, after, limit).await?)
    }

    async fn events(
        &self,
        after: i64,
        kinds: &[EventKind],
        limit: u32,
    ) -> StoreResult<Vec<EventView>> {
        let mut conn = self.read().await?;
        Ok(events::after(&mut conn, after, kinds, limit).await?)
    }

    async fn last_event_id(&self) -> StoreResult<i64> {
        let mut conn = self.read().await?;
        Ok(events::last_id(&mut conn).await?)
    }

    async fn purge_events(&self, before_ms: i64) -> StoreResult<u64> {
        let mut conn = self.writer.acquire().await?;
        let events = events::purge_oldest(&mut conn, "events", before_ms).await?;
        let deliveries = events::purge_oldest(&mut conn, "webhook_deliveries", before_ms).await?;
        Ok(events + deliveries)
    }

    async fn mark_alert_sent(&self, id: i64) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(alerts::mark_sent(&mut conn, id, now_ms()).await?)
    }

    async fn create_webhook(
        &self,
        id: &str,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        cursor: i64,
    ) -> StoreResult<Webhook> {
        let mut conn = self.writer.acquire().await?;
        Ok(webhooks::create(&mut conn, id, url, secret, kinds, cursor, now_ms()).await?)
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let mut conn = self.read().await?;
        Ok(webhooks::list(&mut conn).await?)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(webhooks::delete(&mut conn, id, now_ms()).await?)
    }

    async fn lease_webhooks(&self, owner: &str, until_ms: i64) -> StoreResult<Vec<Webhook>> {
        let mut conn = self.writer.acquire().await?;
        Ok(webhooks::lease(&mut conn, owner, now_ms(), until_ms).await?)
    }

    async fn record_delivery(
        &self,
        owner: &str,
        attempt: &Delivery,
        next_try_at_ms: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        sqlx::query(dialect_begin_write!())
            .execute(&mut *conn)
            .await?;
        match webhooks::record(&mut conn, owner, attempt, next_try_at_ms).await {
            Ok(moved) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(moved)
            }
            Err(error) => {
                sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
                Err(error.into())
            }
        }
    }

    async fn deliveries(&self, webhook_id: &str, page: Page) -> StoreResult<Paged<Delivery>> {
        let mut conn = self.read().await?;
        Ok(webhooks::deliveries(&mut conn, webhook_id, page).await?)
    }

    async fn gauges(&self) -> StoreResult<Gauges> {
        let mut conn = self.read().await?;
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
            last_event_id: events::last_id(&mut conn).await?,
        })
    }

    async fn due_holds(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<String>> {
        let mut conn = self.read().await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM holds WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn create_key(
        &self,
        id: &str,
        name: &str,
        role: Role,
        secret_hash: &str,
    ) -> StoreResult<ApiKey> {
        let mut conn = self.writer.acquire().await?;
        let row = sqlx::query(
            "INSERT INTO api_keys (id, name, role, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING *",
        )
        .bind(id)
        .bind(name)
        .bind(role.as_str())
        .bind(secret_hash)
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await
        .context("creating an API key")?;
        Ok(api_key(&row)?)
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.iter().map(api_key).collect::<Result<_, _>>()?)
    }

    async fn ledger_activity(&self, since_ms: i64, bucket_ms: i64) -> StoreResult<Vec<Activity>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT CAST(created_at / $2 AS BIGINT) AS bucket,
                CAST(COALESCE(SUM(CASE WHEN operation IN ('deduct', 'commit') THEN -on_hand_delta ELSE 0 END), 0) AS BIGINT) AS sold,
                CAST(COALESCE(SUM(CASE WHEN operation = 'reserve' THEN reserved_delta ELSE 0 END), 0) AS BIGINT) AS held
             FROM ledger WHERE created_at >= $1 GROUP BY CAST(created_at / $2 AS BIGINT) ORDER BY bucket",
        )
        .bind(since_ms)
        .bind(bucket_ms)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let bucket: i64 = row.try_get("bucket")?;
            out.push(Activity {
                from_ms: bucket * bucket_ms,
                sold: row.try_get("sold")?,
                held: row.try_get("held")?,
            });
        }
        Ok(out)
    }

    async fn create_user(&self, name: &str, password_hash: &str) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(sqlx::query(
            "INSERT INTO admin_users (name, password_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1)
    }

    async fn user_password_hash(&self, name: &str) -> StoreResult<Option<String>> {
        let mut conn = self.read().await?;
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM admin_users WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?,
        )
    }

    async fn replace_user_password_hash(
        &self,
        name: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        Ok(sqlx::query(
            "UPDATE admin_users SET password_hash = $3 WHERE name = $1 AND password_hash = $2",
        )
        .bind(name)
        .bind(old)
        .bind(new)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1)
    }

    async fn live_key_with_hash(&self, id: &str) -> StoreResult<Option<(ApiKey, String)>> {
        let mut conn = self.read().await?;
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match row {
            Some(row) => Some((api_key(&row)?, row.try_get("secret_hash")?)),
            None => None,
        })
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *conn)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        let mut conn = self.read().await?;
        let row =
            sqlx::query("SELECT * FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL")
                .bind(secret_hash)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row.as_ref().map(api_key).transpose()?)
    }

    async fn key_count(&self) -> StoreResult<u64> {
        let mut conn = self.read().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&mut *conn)
            .await?;
        Ok(count as u64)
    }

    async fn idempotent_response(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> StoreResult<Option<StoredResponse>> {
        let mut conn = self.read().await?;
        Ok(stored_response(&mut conn, key_id, idempotency_key).await?)
    }

    async fn purge_retry_keys(&self, before_ms: i64) -> StoreResult<u64> {
        let mut conn = self.writer.acquire().await?;
        let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before_ms)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let syncs = sqlx::query("DELETE FROM sync_retry_keys WHERE created_at < $1")
            .bind(before_ms)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        Ok(keys + syncs)
    }

    async fn durability(&self) -> StoreResult<Durability> {
        let mut conn = self.writer.acquire().await?;
        super::durability(&mut conn).await
    }
}
