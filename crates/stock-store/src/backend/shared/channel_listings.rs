//! Channels and their listings: what is linked to what, and what was last
//! published to each listing. Nothing here changes stock.

use sqlx::Row;
use stock_core::{ItemId, LocationId};

use super::contract::{Conn, DbRow};
use super::rows::{item_id_at, location_id_at};
use crate::model::*;

/// Creates the channel, or changes where it is pushed to.
pub(crate) async fn put_channel(
    conn: &mut Conn,
    id: &str,
    endpoint: Option<&str>,
    secret: Option<&str>,
    now: i64,
) -> Result<Channel, sqlx::Error> {
    sqlx::query(
        "INSERT INTO channels (id, endpoint, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET endpoint = excluded.endpoint,
            secret = excluded.secret, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(endpoint)
    .bind(secret)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(channel(conn, id)
        .await?
        .expect("the channel was just written"))
}

/// Creates the channel as one that reads through the API, unless it exists.
async fn ensure_channel(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO channels (id, endpoint, secret, created_at, updated_at)
         VALUES ($1, NULL, NULL, $2, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn channel(conn: &mut Conn, id: &str) -> Result<Option<Channel>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM channels WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        Ok(Channel {
            id: row.try_get("id")?,
            endpoint: row.try_get("endpoint")?,
            secret: row.try_get("secret")?,
            created_at_ms: row.try_get("created_at")?,
            updated_at_ms: row.try_get("updated_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn channels(conn: &mut Conn) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM channels ORDER BY id")
        .fetch_all(&mut *conn)
        .await
}

/// Links a listing to an item (again, with a new item or buffer: what was
/// published before stays on record until the next sync).
pub(crate) async fn put_listing(
    conn: &mut Conn,
    channel_id: &str,
    listing_id: &str,
    item: &ItemId,
    location: Option<&LocationId>,
    buffer: i64,
    now: i64,
) -> Result<Listing, sqlx::Error> {
    ensure_channel(conn, channel_id, now).await?;
    sqlx::query(
        "INSERT INTO listings (channel_id, listing_id, item_id, location_id, buffer,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (channel_id, listing_id) DO UPDATE SET item_id = excluded.item_id,
            location_id = excluded.location_id, buffer = excluded.buffer,
            updated_at = excluded.updated_at",
    )
    .bind(channel_id)
    .bind(listing_id)
    .bind(item.as_str())
    .bind(location.map(LocationId::as_str))
    .bind(buffer)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT * FROM listings WHERE channel_id = $1 AND listing_id = $2")
        .bind(channel_id)
        .bind(listing_id)
        .fetch_one(&mut *conn)
        .await?;
    listing(&row)
}

pub(crate) async fn delete_listing(
    conn: &mut Conn,
    channel_id: &str,
    listing_id: &str,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM listings WHERE channel_id = $1 AND listing_id = $2")
            .bind(channel_id)
            .bind(listing_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A channel's listings in listing id order; only those of `items` when given.
pub(crate) async fn listings(
    conn: &mut Conn,
    channel_id: &str,
    items: Option<&[ItemId]>,
) -> Result<Vec<Listing>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM listings WHERE channel_id = $1 ORDER BY listing_id")
        .bind(channel_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let listing = listing(row)?;
        if items.is_none_or(|items| items.contains(&listing.item)) {
            found.push(listing);
        }
    }
    Ok(found)
}

/// Records one publication of a listing (or a failed attempt at one).
pub(crate) async fn record_publish(
    conn: &mut Conn,
    channel_id: &str,
    listing_id: &str,
    outcome: &PublishOutcome,
    now: i64,
) -> Result<(), sqlx::Error> {
    match outcome {
        PublishOutcome::Published(quantity) => sqlx::query(
            "UPDATE listings SET published_quantity = $1, published_at = $2,
                last_attempt_at = $2, last_error = NULL
             WHERE channel_id = $3 AND listing_id = $4",
        )
        .bind(quantity)
        .bind(now)
        .bind(channel_id)
        .bind(listing_id),
        PublishOutcome::Failed(error) => sqlx::query(
            "UPDATE listings SET last_attempt_at = $1, last_error = $2
             WHERE channel_id = $3 AND listing_id = $4",
        )
        .bind(now)
        .bind(error.as_str())
        .bind(channel_id)
        .bind(listing_id),
    }
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn listing(row: &DbRow) -> Result<Listing, sqlx::Error> {
    let location: Option<String> = row.try_get("location_id")?;
    Ok(Listing {
        channel: row.try_get("channel_id")?,
        listing_id: row.try_get("listing_id")?,
        item: item_id_at(row, "item_id")?,
        location: match location {
            Some(_) => Some(location_id_at(row, "location_id")?),
            None => None,
        },
        buffer: row.try_get("buffer")?,
        published_quantity: row.try_get("published_quantity")?,
        published_at_ms: row.try_get("published_at")?,
        last_attempt_at_ms: row.try_get("last_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}
