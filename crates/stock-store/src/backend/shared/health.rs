//! The health checker's records: its runs, the diffs it found between the
//! cache and the database, the diff alerts, and the repair of a diff.
//!
//! The checker itself (reading the cache, deciding what differs) lives with
//! the cache; the store only keeps what it found, in the write path like any
//! other change, so that a diff alert reaches the outbox with its run.

use sqlx::Row;
use stock_core::{apply_delta, ItemId, LocationId, Operation};

use super::contract::{Conn, DbRow};
use super::levels::{fetch_view, require_item, write_change, Change};
use super::rows::{corrupt, item_id_at};
use crate::model::*;

/// Records one run, its diffs and its diff alerts.
pub(crate) async fn record_run(
    conn: &mut Conn,
    record: &HealthRunRecord,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let auto_fixed = record.findings.iter().filter(|f| f.fixed_in_cache).count() as i64;
    let auto_fix_failed = record.findings.iter().filter(|f| f.fix_failed).count() as i64;
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO health_runs (trigger, checked, missing, diffs_found, alerts_raised,
            auto_fixed, auto_fix_failed, error, operator, started_at, finished_at)
         VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(record.trigger)
    .bind(record.checked as i64)
    .bind(record.missing as i64)
    .bind(record.findings.len() as i64)
    .bind(auto_fixed)
    .bind(auto_fix_failed)
    .bind(record.error.as_deref())
    .bind(&meta.operator)
    .bind(record.started_at_ms)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let mut diffs = Vec::with_capacity(record.findings.len());
    let mut alerts_raised = 0u64;
    for finding in &record.findings {
        // A finding for an item that is gone from the database (it never is:
        // items are not deleted) would break the foreign key; skip it.
        if require_item(conn, &finding.item).await.is_err() {
            continue;
        }
        let diff = finding.cache_value.saturating_sub(finding.db_value);
        let (status, fix_type, fixed_by, fixed_at) = if finding.fixed_in_cache {
            (
                "fixed",
                Some("use_db"),
                Some(meta.operator.as_str()),
                Some(now),
            )
        } else {
            ("pending", None, None, None)
        };
        // An item already pending keeps its one pending diff, brought up to date.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO diffs (item_id, run_id, db_value, cache_value, diff, status, fix_type,
                fixed_by, fixed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (item_id) WHERE status = 'pending' DO UPDATE SET
                run_id = excluded.run_id, db_value = excluded.db_value,
                cache_value = excluded.cache_value, diff = excluded.diff,
                status = excluded.status, fix_type = excluded.fix_type,
                fixed_by = excluded.fixed_by, fixed_at = excluded.fixed_at,
                updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(finding.item.as_str())
        .bind(run_id)
        .bind(finding.db_value)
        .bind(finding.cache_value)
        .bind(diff)
        .bind(status)
        .bind(fix_type)
        .bind(fixed_by)
        .bind(fixed_at)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        if diff.unsigned_abs() > record.alert_threshold.unsigned_abs() {
            alerts_raised +=
                raise_diff_alert(conn, finding, diff, record.alert_threshold, now).await?;
        }
        diffs.push(fetch(conn, id).await?.expect("the diff was just written"));
    }
    sqlx::query("UPDATE health_runs SET alerts_raised = $1, diffs_found = $2 WHERE id = $3")
        .bind(alerts_raised as i64)
        .bind(diffs.len() as i64)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    let run = fetch_run(conn, run_id)
        .await?
        .expect("the run was just written");
    Ok(Outcome::HealthRun { run, diffs })
}

async fn raise_diff_alert(
    conn: &mut Conn,
    finding: &HealthFinding,
    diff: i64,
    threshold: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let message = format!(
        "{}: the cache says {} available, the database {} (apart by {diff}, alert threshold {threshold})",
        finding.item, finding.cache_value, finding.db_value
    );
    Ok(sqlx::query(
        "INSERT INTO alerts (item_id, kind, level, status, available, threshold, ledger_id,
            message, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, NULL, $6, $7, $7)
         ON CONFLICT (item_id, kind) WHERE status IN ('pending', 'sent') DO NOTHING",
    )
    .bind(finding.item.as_str())
    .bind(AlertKind::DiffAlert.as_str())
    .bind(AlertKind::DiffAlert.level())
    .bind(finding.db_value)
    .bind(threshold)
    .bind(message)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Repairs a pending diff. `UseRedis` writes a `sync` ledger row at the
/// default location taking the item's available stock to the cache's value.
pub(crate) async fn fix(
    conn: &mut Conn,
    id: i64,
    fix: DiffFix,
    meta: &WriteMeta,
    now: i64,
) -> Result<Outcome, WriteError> {
    let Some(diff) = fetch(conn, id).await? else {
        return Err(WriteError::NotFound {
            entity: "diff",
            id: id.to_string(),
        });
    };
    if diff.status != DiffStatus::Pending {
        return Err(WriteError::DiffClosed {
            id,
            status: diff.status,
        });
    }
    let mut entries = Vec::new();
    if let DiffFix::UseRedis { cache_value } = fix {
        let item = require_item(conn, &diff.item).await?;
        let view = fetch_view(conn, &diff.item)
            .await?
            .expect("a locked item has a view");
        let delta = cache_value.saturating_sub(view.available());
        if delta != 0 {
            let location = LocationId::default_location();
            let level = view
                .level_at(&location)
                .map(|l| l.level)
                .unwrap_or_default();
            let transition = apply_delta(&item, &location, &level, delta)?;
            let reason = format!("health diff {id}: the cache's {cache_value} taken as right");
            let change = Change {
                item: &diff.item,
                location: &location,
                operation: Operation::Sync,
                transition,
                order_id: None,
                reservation_id: None,
                reason: Some(&reason),
            };
            entries.push(write_change(conn, &change, meta, now).await?);
        }
    }
    sqlx::query(
        "UPDATE diffs SET status = 'fixed', fix_type = $1, fixed_by = $2, fixed_at = $3,
            updated_at = $3 WHERE id = $4",
    )
    .bind(fix.as_str())
    .bind(&meta.operator)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let diff = fetch(conn, id).await?.expect("the diff was just updated");
    Ok(Outcome::DiffFixed { diff, entries })
}

pub(crate) async fn fetch(conn: &mut Conn, id: i64) -> Result<Option<DiffView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM diffs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(diff_view).transpose()
}

async fn fetch_run(conn: &mut Conn, id: i64) -> Result<Option<HealthRunView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM health_runs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(run_view).transpose()
}

fn diff_view(row: &DbRow) -> Result<DiffView, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(DiffView {
        id: row.try_get("id")?,
        item: item_id_at(row, "item_id")?,
        run_id: row.try_get("run_id")?,
        db_value: row.try_get("db_value")?,
        cache_value: row.try_get("cache_value")?,
        diff: row.try_get("diff")?,
        status: DiffStatus::parse(&status).ok_or_else(|| corrupt("diff status", &status))?,
        fix_type: row.try_get("fix_type")?,
        fixed_by: row.try_get("fixed_by")?,
        fixed_at_ms: row.try_get("fixed_at")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

fn run_view(row: &DbRow) -> Result<HealthRunView, sqlx::Error> {
    let count =
        |name: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(HealthRunView {
        id: row.try_get("id")?,
        trigger: row.try_get("trigger")?,
        checked: count("checked")?,
        missing: count("missing")?,
        diffs_found: count("diffs_found")?,
        alerts_raised: count("alerts_raised")?,
        auto_fixed: count("auto_fixed")?,
        auto_fix_failed: count("auto_fix_failed")?,
        error: row.try_get("error")?,
        operator: row.try_get("operator")?,
        started_at_ms: row.try_get("started_at")?,
        finished_at_ms: row.try_get("finished_at")?,
    })
}

/// The last run, totals over every run, and the newest pending diffs.
pub(crate) async fn report(conn: &mut Conn, pending_max: u32) -> Result<HealthReport, sqlx::Error> {
    let last = sqlx::query("SELECT * FROM health_runs ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let totals = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(diffs_found), 0) AS BIGINT),
            CAST(COALESCE(SUM(auto_fixed), 0) AS BIGINT),
            CAST(COALESCE(SUM(auto_fix_failed), 0) AS BIGINT) FROM health_runs",
    )
    .fetch_one(&mut *conn)
    .await?;
    let pending_total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM diffs WHERE status = 'pending'")
            .fetch_one(&mut *conn)
            .await?;
    let rows =
        sqlx::query("SELECT * FROM diffs WHERE status = 'pending' ORDER BY id DESC LIMIT $1")
            .bind(i64::from(pending_max))
            .fetch_all(&mut *conn)
            .await?;
    let total =
        |i: usize| -> Result<u64, sqlx::Error> { Ok(totals.try_get::<i64, _>(i)?.max(0) as u64) };
    Ok(HealthReport {
        last_run: last.as_ref().map(run_view).transpose()?,
        runs: total(0)?,
        diffs_found: total(1)?,
        auto_fixed: total(2)?,
        auto_fix_failed: total(3)?,
        pending: rows.iter().map(diff_view).collect::<Result<_, _>>()?,
        pending_total: pending_total.max(0) as u64,
    })
}

/// Items with ids after `after`, in id order, at most `limit`: a scan of the
/// whole catalogue a page at a time.
pub(crate) async fn item_ids_after(
    conn: &mut Conn,
    after: Option<&ItemId>,
    limit: u32,
) -> Result<Vec<ItemId>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM items WHERE $1 IS NULL OR id > $1 ORDER BY id LIMIT $2")
        .bind(after.map(ItemId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|row| item_id_at(row, "id")).collect()
}
