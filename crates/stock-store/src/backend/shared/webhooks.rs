//! Webhooks: registrations, leases (one process delivers for a webhook at a
//! time), and the log of every delivery attempt.

use sqlx::Row;

use super::contract::{Conn, DbRow};
use super::rows::corrupt;
use crate::model::*;

fn kinds_text(kinds: &[EventKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn webhook(row: &DbRow) -> Result<Webhook, sqlx::Error> {
    let kinds: String = row.try_get("kinds")?;
    let kinds = kinds
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| EventKind::parse(k).ok_or_else(|| corrupt("event kind", k)))
        .collect::<Result<_, _>>()?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        kinds,
        cursor: row.try_get("cursor")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("attempts", &attempts.to_string()))?,
        next_try_at_ms: row.try_get("next_try_at")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

pub(crate) async fn create(
    conn: &mut Conn,
    id: &str,
    url: &str,
    secret: &str,
    kinds: &[EventKind],
    cursor: i64,
    now: i64,
) -> Result<Webhook, sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhooks (id, url, secret, kinds, cursor, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(url)
    .bind(secret)
    .bind(kinds_text(kinds))
    .bind(cursor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    webhook(&row)
}

pub(crate) async fn list(conn: &mut Conn) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id")
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(webhook).collect()
}

pub(crate) async fn delete(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Takes (or keeps) the lease on every webhook no other process holds, until
/// `until`; returns the webhooks this process now delivers for.
pub(crate) async fn lease(
    conn: &mut Conn,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query(
        "UPDATE webhooks SET leased_by = $1, lease_until = $2
         WHERE deleted_at IS NULL AND (leased_by = $1 OR leased_by IS NULL OR lease_until < $3)",
    )
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT * FROM webhooks WHERE deleted_at IS NULL AND leased_by = $1 ORDER BY id",
    )
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(webhook).collect()
}

/// Logs an attempt and moves the webhook on: past the event when it was
/// delivered or given up on, to its next try otherwise, in a transaction of
/// its own. Only the lease holder moves it; returns whether it did.
pub(crate) async fn record(
    conn: &mut Conn,
    owner: &str,
    attempt: &Delivery,
    next_try_at: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(dialect_begin_write!())
        .execute(&mut *conn)
        .await?;
    match record_in(conn, owner, attempt, next_try_at).await {
        Ok(moved) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(moved)
        }
        Err(error) => {
            sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
            Err(error)
        }
    }
}

async fn record_in(
    conn: &mut Conn,
    owner: &str,
    attempt: &Delivery,
    next_try_at: i64,
) -> Result<bool, sqlx::Error> {
    let (cursor_sql, attempts_sql) = match attempt.outcome {
        DeliveryOutcome::Delivered | DeliveryOutcome::Failed => ("$1", "0"),
        DeliveryOutcome::Retrying => ("cursor", "attempts + 1"),
    };
    let moved = sqlx::query(&format!(
        "UPDATE webhooks SET cursor = {cursor_sql}, attempts = {attempts_sql}, next_try_at = $2
         WHERE id = $3 AND leased_by = $4 AND deleted_at IS NULL AND {}",
        dialect_event_after_cursor!()
    ))
    .bind(attempt.event_id)
    .bind(next_try_at)
    .bind(&attempt.webhook_id)
    .bind(owner)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if moved {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, outcome, status_code,
                error, duration_ms, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&attempt.webhook_id)
        .bind(attempt.event_id)
        .bind(i64::from(attempt.attempt))
        .bind(attempt.outcome.as_str())
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.duration_ms)
        .bind(attempt.created_at_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(moved)
}

pub(crate) async fn deliveries(
    conn: &mut Conn,
    webhook_id: &str,
    page: Page,
) -> Result<Paged<Delivery>, sqlx::Error> {
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(webhook_id)
            .fetch_one(&mut *conn)
            .await?;
    let rows = sqlx::query(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(webhook_id)
    .bind(i64::from(page.size))
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let outcome: String = row.try_get("outcome")?;
        let attempt: i64 = row.try_get("attempt")?;
        let status: Option<i64> = row.try_get("status_code")?;
        out.push(Delivery {
            id: row.try_get("id")?,
            webhook_id: row.try_get("webhook_id")?,
            event_id: row.try_get("event_id")?,
            attempt: u32::try_from(attempt)
                .map_err(|_| corrupt("attempt", &attempt.to_string()))?,
            outcome: DeliveryOutcome::parse(&outcome)
                .ok_or_else(|| corrupt("delivery outcome", &outcome))?,
            status_code: status.and_then(|s| u16::try_from(s).ok()),
            error: row.try_get("error")?,
            duration_ms: row.try_get("duration_ms")?,
            created_at_ms: row.try_get("created_at")?,
        });
    }
    Ok(Paged {
        rows: out,
        total: total as u64,
        page,
    })
}
