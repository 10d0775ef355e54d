//! The batch executor: one write transaction per batch, runs of stock
//! commands or one job at a time in arrival order, each job in its own
//! savepoint, retried when it lost a lock race, its idempotency key
//! claimed and its rendered answer stored with its change. `apply` hands
//! each command to the file of its family.

use anyhow::Context;
use sqlx::Row;
use stock_core::{HoldAction, OrderAction};

use super::alerts::{self, BatchChanges};
use super::contract::{self, BackendStore, Conn};
use super::rows::corrupt;
use super::{health, holds, items, runs, sales, supplier_links};
use crate::model::*;

impl BackendStore {
    /// Runs every command on its own, never in a run: the reference the runs
    /// are tested against.
    pub fn one_command_at_a_time(mut self) -> BackendStore {
        self.write_path.commands_in_runs = false;
        self
    }

    /// How many runs were undone and run one by one since start.
    pub fn runs_undone(&self) -> u64 {
        self.write_path
            .runs_undone
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs a batch in one transaction; every job fails when the batch does.
    pub(crate) async fn run_batch(&self, batch: &[WriteJob]) -> Vec<Reply> {
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

    async fn execute_batch(&self, batch: &[WriteJob]) -> anyhow::Result<Vec<Reply>> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .context("acquiring the write connection")?;
        sqlx::query(dialect_begin_write!())
            .execute(&mut *conn)
            .await
            .context("beginning a write transaction")?;
        if !self.write_path.after_begin.is_empty() {
            sqlx::query(&self.write_path.after_begin)
                .execute(&mut *conn)
                .await
                .context("setting up a write transaction")?;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let outcome = async {
            // A batch of stock commands only, the common case under load, is one run
            // that reports its own changes: no ledger mark, no ledger scan.
            let changes = if self.write_path.commands_in_runs
                && batch.iter().all(|job| runs::in_runs(&job.command))
            {
                match runs::run_commands(&mut conn, batch).await? {
                    Some(decided) => {
                        replies.extend(decided.replies);
                        decided.changes
                    }
                    None => {
                        let mark = alerts::ledger_mark(&mut conn).await?;
                        self.run_one_by_one(&mut conn, batch, &mut replies).await?;
                        BatchChanges::InLedgerAfter(mark)
                    }
                }
            } else {
                let mark = alerts::ledger_mark(&mut conn).await?;
                self.run_jobs(&mut conn, batch, &mut replies).await?;
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

    /// Runs a batch's jobs in arrival order: each run of consecutive stock
    /// commands together (see `runs/`), every other job on its own.
    async fn run_jobs(
        &self,
        conn: &mut Conn,
        batch: &[WriteJob],
        replies: &mut Vec<Reply>,
    ) -> anyhow::Result<()> {
        let mut rest = batch;
        while let Some(first) = rest.first() {
            let run = if self.write_path.commands_in_runs {
                rest.iter()
                    .take_while(|job| runs::in_runs(&job.command))
                    .count()
            } else {
                0
            };
            if run == 0 {
                replies.push(run_job(conn, first).await?);
                rest = &rest[1..];
                continue;
            }
            match runs::run_commands(conn, &rest[..run]).await? {
                Some(decided) => replies.extend(decided.replies),
                None => self.run_one_by_one(conn, &rest[..run], replies).await?,
            }
            rest = &rest[run..];
        }
        Ok(())
    }

    /// Runs the commands of a run that was undone, each on its own.
    async fn run_one_by_one(
        &self,
        conn: &mut Conn,
        jobs: &[WriteJob],
        replies: &mut Vec<Reply>,
    ) -> anyhow::Result<()> {
        self.write_path
            .runs_undone
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for job in jobs {
            replies.push(run_job(conn, job).await?);
        }
        Ok(())
    }
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
                if attempts < WRITE_ATTEMPTS_MAX && contract::is_retryable(error) =>
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
    // A row another transaction held locked for longer than the lock
    // timeout: nothing was done, and the engine runs the command again.
    let result = match result {
        Err(WriteError::Internal(error)) if contract::is_lock_unavailable(&error) => {
            Err(WriteError::Busy)
        }
        other => other,
    };
    if let Err(WriteError::Internal(error)) = &result {
        tracing::error!(
            error = format!("{error:#}"),
            "a write failed inside the store"
        );
    }
    let reply = match &job.meta.idempotency {
        Some(claim) if !matches!(result, Err(WriteError::Internal(_) | WriteError::Busy)) => {
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

/// Hands a command to the file of its family.
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
        } => items::create(conn, item, location, *opening_stock, meta, now).await,
        Command::UpdateItem {
            id,
            patch,
            set_stock,
        } => items::update(conn, id, patch, set_stock.as_ref(), meta, now).await,
        Command::ImportItem {
            item,
            location,
            on_hand,
        } => items::import(conn, item, location, *on_hand, meta, now).await,
        Command::CreateLocation { id, name, priority } => {
            items::create_location(conn, id, name, *priority, now).await
        }
        Command::SyncStock {
            item,
            location,
            delta,
            order_id,
            reason,
            trace_id,
        } => {
            let (order_id, reason, trace_id) =
                (order_id.as_deref(), reason.as_deref(), trace_id.as_deref());
            sales::sync_stock(
                conn, item, location, *delta, order_id, reason, trace_id, meta, now,
            )
            .await
        }
        Command::ApplyLines {
            operation,
            lines,
            order_id,
            reason,
        } => {
            let (order_id, reason) = (order_id.as_deref(), reason.as_deref());
            sales::apply_lines(conn, *operation, lines, order_id, reason, meta, now).await
        }
        Command::CreateHold {
            id,
            order_id,
            lines,
            ttl_ms,
        } => holds::create(conn, id, order_id, lines, *ttl_ms, meta, now).await,
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
            let reason = reason.as_deref();
            holds::move_stock(conn, item, source, target, *quantity, reason, meta, now).await
        }
        Command::CloseAlert { id, status } => alerts::close(conn, *id, *status, meta, now).await,
        Command::RecordHealthRun(record) => health::record_run(conn, record, meta, now).await,
        Command::FixDiff { id, fix } => health::fix(conn, *id, *fix, meta, now).await,
        Command::SyncSupplierStock { .. } => {
            let figure = supplier_links::SupplierFigure::of(command).expect("a supplier's figure");
            supplier_links::sync_stock(conn, &figure, meta, now).await
        }
    }
}

pub(crate) async fn stored_response(
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

/// Forgets idempotency keys and sync-stock retry keys older than `before_ms`.
pub(crate) async fn purge_retry_keys(conn: &mut Conn, before_ms: i64) -> Result<u64, sqlx::Error> {
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
