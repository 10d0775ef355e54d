//! Items, their stock, and the changes an order service makes to it.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use stock_core::{Item, ItemId, ItemStatus, LocationId, Operation, LINES_MAX};
use stock_store::{Command, ItemFilter, ItemPatch, LineDelta, Outcome, StockSet, WriteError};

use super::{
    optional_text, page, render, text, to_json, total_pages, NAME_LENGTH_MAX, QUERY_LENGTH_MAX,
    REASON_LENGTH_MAX, REFERENCE_LENGTH_MAX,
};
use crate::auth::{AdminRole, Authorized, ServiceRole, StorefrontRole, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire::*;
use crate::AppState;

pub(crate) fn item_id(raw: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(raw).map_err(|error| ApiError::field("product_id", error))
}

fn status(raw: Option<&str>) -> Result<Option<ItemStatus>, ApiError> {
    raw.map(|raw| {
        ItemStatus::parse(raw)
            .ok_or_else(|| ApiError::field("status", "must be active, inactive or locked"))
    })
    .transpose()
}

fn stock_bounds(min_stock: Option<i64>, max_stock: Option<i64>) -> Result<(), ApiError> {
    if min_stock.is_some_and(|v| v < 0) {
        return Err(ApiError::field("min_stock", "must not be negative"));
    }
    if max_stock.is_some_and(|v| v < 0) {
        return Err(ApiError::field("max_stock", "must not be negative"));
    }
    if let (Some(min), Some(max)) = (min_stock, max_stock) {
        if min > max {
            return Err(ApiError::field("min_stock", "must not be above max_stock"));
        }
    }
    Ok(())
}

fn threshold(state: &AppState) -> i64 {
    state.config.low_stock_threshold
}

/// List items, paged and filtered.
#[utoipa::path(get, path = "/api/v1/inventory", tag = "inventory", params(ItemListQuery),
    responses((status = 200, body = ItemPageOut), (status = 400, body = ErrorBody),
        (status = 404, description = "no such location", body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn list_items(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    ApiQuery(query): ApiQuery<ItemListQuery>,
) -> Result<Json<ItemPageOut>, ApiError> {
    let page = page(&state, query.page, query.page_size)?;
    let filter = ItemFilter {
        status: status(query.status.as_deref())?,
        low_stock: query.low_stock.unwrap_or(false),
        out_of_stock: query.out_of_stock.unwrap_or(false),
        query: optional_text("q", query.q.as_deref(), QUERY_LENGTH_MAX)?,
        location: query
            .location
            .as_deref()
            .map(|raw| location_or_default(Some(raw)))
            .transpose()?,
        low_stock_threshold: threshold(&state),
    };
    if let Some(location) = &filter.location {
        if state.store.location(location).await?.is_none() {
            return Err(ApiError::from(&WriteError::NotFound {
                entity: "location",
                id: location.to_string(),
            }));
        }
    }
    let paged = state.store.list_items(&filter, page).await?;
    Ok(Json(ItemPageOut {
        items: paged
            .rows
            .iter()
            .map(|view| ItemOut::from_view(view, threshold(&state)))
            .collect(),
        page: page.number,
        page_size: page.size,
        total: paged.total,
        total_pages: total_pages(paged.total, page.size),
    }))
}

/// Create an item with its opening stock (an `init` ledger row).
#[utoipa::path(post, path = "/api/v1/inventory", tag = "inventory", request_body = CreateItemRequest,
    responses((status = 201, body = ItemChangeOut), (status = 400, body = ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_item(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    ApiJson(body): ApiJson<CreateItemRequest>,
) -> Result<Response, ApiError> {
    stock_bounds(body.min_stock, body.max_stock)?;
    let opening_stock = body.stock.unwrap_or(state.config.default_stock);
    if opening_stock < 0 {
        return Err(ApiError::field("stock", "must not be negative"));
    }
    let item = Item {
        id: body.product_id.0,
        name: text("name", &body.name, NAME_LENGTH_MAX)?,
        status: status(body.status.as_deref())?.unwrap_or(ItemStatus::Active),
        min_stock: body.min_stock,
        max_stock: body.max_stock,
        allow_backorder: body.allow_backorder,
    };
    let location = location_or_default(body.location.as_deref())?;
    let command = Command::CreateItem {
        item,
        location,
        opening_stock,
    };
    Ok(state
        .write(command, writer, item_render(&state, StatusCode::CREATED))
        .await)
}

fn item_render(state: &AppState, success: StatusCode) -> stock_store::Render {
    let threshold = threshold(state);
    render(success, move |outcome| match outcome {
        Outcome::Item { view, entries } => to_json(&ItemChangeOut {
            item: ItemOut::from_view(view, threshold),
            entries: entries.iter().map(LedgerOut::from).collect(),
        }),
        other => unreachable!("item commands yield Outcome::Item, not {other:?}"),
    })
}

/// One item with its stock per location.
#[utoipa::path(get, path = "/api/v1/inventory/{product_id}", tag = "inventory",
    params(("product_id" = Id, Path, example = "1001")),
    responses((status = 200, body = ItemOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn get_item(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    Path(product_id): Path<String>,
) -> Result<Json<ItemOut>, ApiError> {
    let id = item_id(&product_id)?;
    let view = state
        .read_items(std::slice::from_ref(&id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("item {id} not found")))?;
    Ok(Json(ItemOut::from_view(&view, threshold(&state))))
}

/// Change an item's details; set its stock after a count with `stock` and
/// `expected_version` (a `set` ledger row).
#[utoipa::path(put, path = "/api/v1/inventory/{product_id}", tag = "inventory",
    params(("product_id" = Id, Path, example = "1001")), request_body = UpdateItemRequest,
    responses((status = 200, body = ItemChangeOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "VERSION_CONFLICT", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn update_item(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    Path(product_id): Path<String>,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> Result<Response, ApiError> {
    let id = item_id(&product_id)?;
    stock_bounds(body.min_stock.flatten(), body.max_stock.flatten())?;
    let patch = ItemPatch {
        name: optional_text("name", body.name.as_deref(), NAME_LENGTH_MAX)?,
        status: status(body.status.as_deref())?,
        min_stock: body.min_stock,
        max_stock: body.max_stock,
        allow_backorder: body.allow_backorder,
    };
    let location = location_or_default(body.location.as_deref())?;
    let reason = optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?;
    let set_stock = match (body.stock, body.expected_version) {
        (Some(on_hand), Some(expected_version)) => Some(StockSet {
            location,
            on_hand,
            expected_version,
            reason,
        }),
        (Some(_), None) => return Err(version_required(&state, &id, &location).await),
        (None, Some(_)) => return Err(ApiError::field("expected_version", "only goes with stock")),
        (None, None) => None,
    };
    if patch.is_empty() && set_stock.is_none() {
        return Err(ApiError::validation(
            "nothing to change: send at least one field",
        ));
    }
    let command = Command::UpdateItem {
        id,
        patch,
        set_stock,
    };
    Ok(state
        .write(command, writer, item_render(&state, StatusCode::OK))
        .await)
}

/// An absolute stock without the version it was counted against could undo
/// sales made since the count: refuse it, and say which version is current.
async fn version_required(state: &AppState, id: &ItemId, location: &LocationId) -> ApiError {
    let current = match state.store.item(id).await {
        Ok(Some(view)) => view
            .level_at(location)
            .map(|l| l.level.version)
            .unwrap_or(0),
        Ok(None) => return ApiError::not_found(format!("item {id} not found")),
        Err(error) => return ApiError::internal(&error),
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "VERSION_CONFLICT",
        "an absolute stock needs the expected_version it was counted against",
    )
    .with_details(json!({ "product_id": id.as_str(), "location": location.as_str(), "current_version": current }))
}

/// Several items at once.
#[utoipa::path(post, path = "/api/v1/inventory/batch", tag = "inventory", request_body = BatchRequest,
    responses((status = 200, body = BatchOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn batch(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<Json<BatchOut>, ApiError> {
    let ids: Vec<ItemId> = body.product_ids.into_iter().map(|id| id.0).collect();
    check_count("product_ids", ids.len())?;
    let mut seen = HashSet::new();
    if let Some(twice) = ids.iter().find(|id| !seen.insert(*id)) {
        return Err(ApiError::field(
            "product_ids",
            format!("names {twice} twice"),
        ));
    }
    let views = state.read_items(&ids).await?;
    let found: HashSet<&ItemId> = views.iter().map(|view| &view.item.id).collect();
    Ok(Json(BatchOut {
        not_found: ids
            .iter()
            .filter(|id| !found.contains(id))
            .map(ToString::to_string)
            .collect(),
        items: views
            .iter()
            .map(|view| ItemOut::from_view(view, threshold(&state)))
            .collect(),
    }))
}

fn check_count(field: &str, count: usize) -> Result<(), ApiError> {
    if count == 0 {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if count > LINES_MAX {
        return Err(ApiError::field(
            field,
            format!("may hold at most {LINES_MAX} entries"),
        ));
    }
    Ok(())
}

/// Add (positive delta) or deduct (negative delta) one item's stock.
/// A deduction beyond available stock is refused with 409. A retry with the
/// same `order_id` (and direction) or the same `trace_id` applies once.
#[utoipa::path(post, path = "/api/v1/sync-stock", tag = "stock", request_body = SyncStockRequest,
    responses((status = 200, body = SyncStockOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "INSUFFICIENT_STOCK", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_MISMATCH", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn sync_stock(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    ApiJson(body): ApiJson<SyncStockRequest>,
) -> Result<Response, ApiError> {
    if body.delta == 0 {
        return Err(ApiError::field("delta", "must not be zero"));
    }
    let trace_id = optional_text("trace_id", body.trace_id.as_deref(), REFERENCE_LENGTH_MAX)?;
    let command = Command::SyncStock {
        item: body.product_id.0,
        location: location_or_default(body.location.as_deref())?,
        delta: body.delta,
        order_id: optional_text("order_id", body.order_id.as_deref(), REFERENCE_LENGTH_MAX)?,
        reason: optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?,
        trace_id,
    };
    let threshold = threshold(&state);
    let render = render(StatusCode::OK, move |outcome| match outcome {
        Outcome::Synced {
            view,
            entry,
            replayed,
        } => to_json(&SyncStockOut {
            success: true,
            product_id: entry.item.to_string(),
            delta: entry.on_hand_delta,
            before_stock: entry.on_hand_before,
            after_stock: entry.on_hand_after,
            replayed: *replayed,
            item: ItemOut::from_view(view, threshold),
            entry: LedgerOut::from(entry),
        }),
        other => unreachable!("sync-stock yields Outcome::Synced, not {other:?}"),
    });
    Ok(state.write(command, writer, render).await)
}

/// A request's lines, checked: not empty, not too many, no item twice at one
/// location, every quantity at least 1.
fn lines(items: &[LineIn]) -> Result<Vec<(ItemId, LocationId, i64)>, ApiError> {
    check_count("items", items.len())?;
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(items.len());
    for (index, line) in items.iter().enumerate() {
        if line.quantity < 1 {
            return Err(ApiError::field(
                &format!("items[{index}].quantity"),
                "must be at least 1",
            ));
        }
        let location = location_or_default(line.location.as_deref())?;
        if !seen.insert((line.product_id.0.clone(), location.clone())) {
            return Err(ApiError::field(
                &format!("items[{index}].product_id"),
                format!("names {} at {} a second time", line.product_id.0, location),
            ));
        }
        lines.push((line.product_id.0.clone(), location, line.quantity));
    }
    Ok(lines)
}

/// Can every line be had now? Changes nothing.
#[utoipa::path(post, path = "/api/v1/inventory/check", tag = "stock", request_body = LinesRequest,
    responses((status = 200, body = CheckOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn check(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    ApiJson(body): ApiJson<LinesRequest>,
) -> Result<Json<CheckOut>, ApiError> {
    let lines = lines(&body.items)?;
    // Not kept, but checked as every route that takes them checks them.
    optional_text("order_id", body.order_id.as_deref(), REFERENCE_LENGTH_MAX)?;
    optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?;
    let ids: Vec<ItemId> = lines.iter().map(|(id, ..)| id.clone()).collect();
    let views = state.read_items(&ids).await?;
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !views.iter().any(|v| &v.item.id == *id))
        .map(ItemId::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(
            ApiError::not_found(format!("item {} not found", missing.join(", ")))
                .with_details(json!({ "entity": "item", "id": missing.join(", ") })),
        );
    }
    let mut unavailable = Vec::new();
    for (id, location, quantity) in &lines {
        let view = views
            .iter()
            .find(|v| &v.item.id == id)
            .expect("every item was found");
        let available = view
            .level_at(location)
            .map(|l| l.level.available())
            .unwrap_or(0);
        let reason = match view.item.status {
            ItemStatus::Locked => Some("locked"),
            ItemStatus::Inactive => Some("inactive"),
            ItemStatus::Active if available < *quantity && !view.item.allow_backorder => {
                Some("insufficient_stock")
            }
            ItemStatus::Active => None,
        };
        if let Some(reason) = reason {
            unavailable.push(UnavailableOut {
                product_id: id.to_string(),
                location: location.to_string(),
                requested: *quantity,
                available,
                reason,
            });
        }
    }
    Ok(Json(CheckOut {
        available: unavailable.is_empty(),
        unavailable_products: unavailable,
    }))
}

async fn apply_lines(
    state: AppState,
    writer: Writer<ServiceRole>,
    body: LinesRequest,
    operation: Operation,
) -> Result<Response, ApiError> {
    let sign = if operation == Operation::Deduct {
        -1
    } else {
        1
    };
    let lines = lines(&body.items)?
        .into_iter()
        .map(|(item, location, quantity)| LineDelta {
            item,
            location,
            delta: sign * quantity,
        })
        .collect();
    let command = Command::ApplyLines {
        operation,
        lines,
        order_id: optional_text("order_id", body.order_id.as_deref(), REFERENCE_LENGTH_MAX)?,
        reason: optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?,
    };
    let threshold = threshold(&state);
    let render = render(StatusCode::OK, move |outcome| match outcome {
        Outcome::Lines { views, entries } => to_json(&LinesOut {
            success: true,
            items: views
                .iter()
                .map(|view| ItemOut::from_view(view, threshold))
                .collect(),
            entries: entries.iter().map(LedgerOut::from).collect(),
        }),
        other => unreachable!("line commands yield Outcome::Lines, not {other:?}"),
    });
    Ok(state.write(command, writer, render).await)
}

/// Decrease several items: every line or none. A 409 names every line that
/// lacks stock, in `details.unavailable_products`.
#[utoipa::path(post, path = "/api/v1/inventory/decrease", tag = "stock", request_body = LinesRequest,
    responses((status = 200, body = LinesOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_STOCK", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn decrease(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    ApiJson(body): ApiJson<LinesRequest>,
) -> Result<Response, ApiError> {
    apply_lines(state, writer, body, Operation::Deduct).await
}

/// Increase several items (an order cancelled, goods received): every line or none.
#[utoipa::path(post, path = "/api/v1/inventory/increase", tag = "stock", request_body = LinesRequest,
    responses((status = 200, body = LinesOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn increase(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    ApiJson(body): ApiJson<LinesRequest>,
) -> Result<Response, ApiError> {
    apply_lines(state, writer, body, Operation::Add).await
}

/// Low and out-of-stock items (`lowStock`, `outOfStock`, `summary`).
#[utoipa::path(get, path = "/api/v1/admin/inventory/low-stock", tag = "reports", params(LowStockQuery),
    responses((status = 200, body = LowStockOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn low_stock(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    ApiQuery(query): ApiQuery<LowStockQuery>,
) -> Result<Response, ApiError> {
    let threshold = query.threshold.unwrap_or(10);
    if threshold < 0 {
        return Err(ApiError::field("threshold", "must not be negative"));
    }
    let report = state
        .store
        .low_stock_report(threshold, state.config.low_stock_report_items_max)
        .await?;
    let products = |lines: &[stock_store::StockLine]| {
        lines
            .iter()
            .map(|line| LowStockProduct {
                id: line.id.to_string(),
                name: line.name.clone(),
                stock: line.available,
                sku: line.id.to_string(),
            })
            .collect()
    };
    Ok(Json(LowStockOut {
        low_stock: LowStockSection {
            products: products(&report.low_stock),
            count: report.low_stock_count,
            threshold,
        },
        out_of_stock: OutOfStockSection {
            products: products(&report.out_of_stock),
            count: report.out_of_stock_count,
        },
        summary: LowStockSummary {
            total_low_stock: report.low_stock_count,
            total_out_of_stock: report.out_of_stock_count,
            needs_attention: report.low_stock_count + report.out_of_stock_count,
        },
    })
    .into_response())
}
