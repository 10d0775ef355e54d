//! Reading rows, for every shared file: the one helper for `IN (…)` lists
//! (`fetch_in`), and the decoders of the columns many tables share (ids,
//! items, ledger rows), which refuse a value no stockd would have written.

use sqlx::Row;
use stock_core::{Item, ItemId, ItemStatus, LocationId, Operation};

use super::contract::{Conn, Db, DbRow};
use crate::model::*;

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

/// The rows of `select … IN (values) suffix`, for text values: the list is
/// one JSON parameter, so the statement is the same whatever its length
/// and is prepared once; at most [`IN_LIST_MAX`] values a statement.
/// `select` ends with `IN `.
pub(crate) async fn fetch_in<T: AsRef<str>>(
    conn: &mut Conn,
    select: &str,
    values: &[T],
    suffix: &str,
) -> Result<Vec<DbRow>, sqlx::Error> {
    let select = select
        .strip_suffix("IN ")
        .expect("a select for fetch_in ends with `IN `");
    let sql = format!("{select}{}{suffix}", dialect_json_in!());
    let mut rows = Vec::new();
    for chunk in values.chunks(IN_LIST_MAX) {
        let list: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
        rows.extend(
            sqlx::query(&sql)
                .bind(json(&list))
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(rows)
}

/// Values or rows as the JSON that `dialect_json_in!` and
/// `dialect_json_rows!` read (tuples are rows).
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain values always serialise")
}

/// The rows of `select … IN (values) suffix` for values of any type, bound
/// one by one: at most [`IN_LIST_MAX`] values a statement. `select` ends
/// with `IN `.
pub(crate) async fn fetch_in_values<'v, T>(
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
