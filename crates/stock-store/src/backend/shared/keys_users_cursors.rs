//! API keys, console users and the outbox sinks' cursors: plain rows, not
//! stock, written directly on the write connection (never through a batch).

use anyhow::Context;
use sqlx::Row;
use stock_core::Role;

use super::contract::{Conn, DbRow};
use super::rows::corrupt;
use crate::model::*;
use crate::StoreResult;

pub(crate) async fn create_key(
    conn: &mut Conn,
    id: &str,
    name: &str,
    role: Role,
    secret_hash: &str,
) -> StoreResult<ApiKey> {
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

pub(crate) async fn keys(conn: &mut Conn) -> StoreResult<Vec<ApiKey>> {
    let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().map(api_key).collect::<Result<_, _>>()?)
}

pub(crate) async fn live_key_with_hash(
    conn: &mut Conn,
    id: &str,
) -> StoreResult<Option<(ApiKey, String)>> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => Some((api_key(&row)?, row.try_get("secret_hash")?)),
        None => None,
    })
}

pub(crate) async fn revoke_key(conn: &mut Conn, id: &str) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn key_by_hash(conn: &mut Conn, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL")
        .bind(secret_hash)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(api_key).transpose()?)
}

pub(crate) async fn key_count(conn: &mut Conn) -> StoreResult<u64> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
        .fetch_one(&mut *conn)
        .await?;
    Ok(count as u64)
}

pub(crate) async fn create_user(
    conn: &mut Conn,
    name: &str,
    password_hash: &str,
) -> StoreResult<bool> {
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

pub(crate) async fn user_password_hash(conn: &mut Conn, name: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM admin_users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Replaces a user's password hash only while it is still `old`.
pub(crate) async fn replace_user_password_hash(
    conn: &mut Conn,
    name: &str,
    old: &str,
    new: &str,
) -> StoreResult<bool> {
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

pub(crate) async fn sink_cursor(conn: &mut Conn, name: &str, initial: i64) -> StoreResult<i64> {
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

pub(crate) async fn advance_sink_cursor(
    conn: &mut Conn,
    name: &str,
    cursor: i64,
) -> StoreResult<()> {
    sqlx::query(concat!(
        "UPDATE sink_cursors SET cursor = $1, updated_at = $2 WHERE name = $3 AND ",
        dialect_event_after_cursor!()
    ))
    .bind(cursor)
    .bind(now_ms())
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
