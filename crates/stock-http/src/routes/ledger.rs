//! Reading the ledger.

use axum::extract::{Path, State};
use axum::Json;
use stock_core::Operation;
use stock_store::LedgerFilter;

use super::inventory::item_id;
use super::{optional_text, page, total_pages, REFERENCE_LENGTH_MAX};
use crate::auth::{Authorized, StorefrontRole};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::wire::{Id, ItemLedgerQuery, LedgerOut, LedgerPageOut, LedgerQuery};
use crate::AppState;

fn operation(raw: Option<&str>) -> Result<Option<Operation>, ApiError> {
    raw.map(|raw| {
        Operation::parse(raw).ok_or_else(|| {
            let names: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
            ApiError::field("operation", format!("must be one of {}", names.join(", ")))
        })
    })
    .transpose()
}

async fn ledger_page(
    state: &AppState,
    filter: LedgerFilter,
    number: Option<u32>,
    size: Option<u32>,
) -> Result<Json<LedgerPageOut>, ApiError> {
    let page = page(state, number, size)?;
    let paged = state.store.ledger(&filter, page).await?;
    Ok(Json(LedgerPageOut {
        entries: paged.rows.iter().map(LedgerOut::from).collect(),
        page: page.number,
        page_size: page.size,
        total: paged.total,
        total_pages: total_pages(paged.total, page.size),
    }))
}

/// An item's ledger, newest first.
#[utoipa::path(get, path = "/api/v1/inventory/{product_id}/logs", tag = "ledger",
    params(("product_id" = Id, Path, example = "1001"), ItemLedgerQuery),
    responses((status = 200, body = LedgerPageOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn item_ledger(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    Path(product_id): Path<String>,
    ApiQuery(query): ApiQuery<ItemLedgerQuery>,
) -> Result<Json<LedgerPageOut>, ApiError> {
    let id = item_id(&product_id)?;
    if state.store.item(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("item {id} not found")));
    }
    let filter = LedgerFilter {
        item: Some(id),
        operation: operation(query.operation.as_deref())?,
        ..LedgerFilter::default()
    };
    ledger_page(&state, filter, query.page, query.page_size).await
}

/// The ledger across items, newest first, by order id, trace id, item or operation.
#[utoipa::path(get, path = "/api/v1/logs", tag = "ledger", params(LedgerQuery),
    responses((status = 200, body = LedgerPageOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn ledger(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<LedgerPageOut>, ApiError> {
    let filter = LedgerFilter {
        item: query.product_id.as_deref().map(item_id).transpose()?,
        order_id: optional_text("order_id", query.order_id.as_deref(), REFERENCE_LENGTH_MAX)?,
        trace_id: optional_text("trace_id", query.trace_id.as_deref(), REFERENCE_LENGTH_MAX)?,
        operation: operation(query.operation.as_deref())?,
    };
    ledger_page(&state, filter, query.page, query.page_size).await
}
