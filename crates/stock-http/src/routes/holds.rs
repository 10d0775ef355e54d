//! Holds (reservations), orders and transfers.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use stock_core::{ItemId, LocationId, OrderStatus, LINES_MAX};
use stock_store::{now_ms, Command, HoldLineRequest, OrderFilter, Outcome, Render};

use super::{optional_text, page, render, render_with, to_json, total_pages, REASON_LENGTH_MAX};
use crate::auth::{time_ordered_id, AdminRole, Authorized, ServiceRole, Writer};
use crate::error::{quoted, ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, OptionalJson};
use crate::region_input::RegionInput;
use crate::wire::*;
use crate::AppState;

/// A caller's id for a hold or an order: the same alphabet as item ids.
fn reference(field: &str, raw: &str) -> Result<String, ApiError> {
    ItemId::parse(raw)
        .map(|id| id.to_string())
        .map_err(|error| ApiError::field(field, error))
}

pub(crate) fn ttl_ms(state: &AppState, ttl_seconds: Option<u64>) -> Result<i64, ApiError> {
    let ttl = match ttl_seconds {
        None => state.config.hold_ttl_default,
        Some(0) => return Err(ApiError::field("ttl_seconds", "must be at least 1")),
        Some(seconds) => Duration::from_secs(seconds),
    };
    if ttl > state.config.hold_ttl_max {
        return Err(ApiError::field(
            "ttl_seconds",
            format!("may be at most {}", state.config.hold_ttl_max.as_secs()),
        ));
    }
    Ok(i64::try_from(ttl.as_millis()).expect("the maximum time to live fits"))
}

/// A hold's lines, checked: not empty, not too many, quantities at least 1,
/// no item twice with the same location (or twice without one).
fn hold_lines(items: &[HoldLineIn]) -> Result<Vec<HoldLineRequest>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::field("items", "must not be empty"));
    }
    if items.len() > LINES_MAX {
        return Err(ApiError::field(
            "items",
            format!("may hold at most {LINES_MAX} entries"),
        ));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(items.len());
    for (index, line) in items.iter().enumerate() {
        if line.quantity < 1 {
            return Err(ApiError::field(
                &format!("items[{index}].quantity"),
                "must be at least 1",
            ));
        }
        let location = line
            .location
            .as_deref()
            .map(|raw| {
                LocationId::parse(raw)
                    .map_err(|error| ApiError::field(&format!("items[{index}].location"), error))
            })
            .transpose()?;
        if !seen.insert((line.product_id.0.clone(), location.clone())) {
            return Err(ApiError::field(
                &format!("items[{index}].product_id"),
                format!("names {} a second time", line.product_id.0),
            ));
        }
        lines.push(HoldLineRequest {
            item: line.product_id.0.clone(),
            location,
            quantity: line.quantity,
        });
    }
    Ok(lines)
}

/// 201 for what a create made now, 200 for a retry that found it made.
fn created(replayed: bool) -> StatusCode {
    if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

fn hold_render() -> Render {
    render_with(|outcome| match outcome {
        Outcome::Hold { hold, replayed } => (
            created(*replayed),
            to_json(&ReservationOut::from_view(hold, now_ms())),
        ),
        other => unreachable!("a hold command yields Outcome::Hold, not {other:?}"),
    })
}

fn hold_step_render() -> Render {
    render(StatusCode::OK, |outcome| match outcome {
        Outcome::Hold { hold, .. } => to_json(&ReservationOut::from_view(hold, now_ms())),
        other => unreachable!("a hold command yields Outcome::Hold, not {other:?}"),
    })
}

pub(crate) fn order_render() -> Render {
    render_with(|outcome| match outcome {
        Outcome::Order { order, replayed } => (
            created(*replayed),
            to_json(&OrderOut::from_view(order, now_ms())),
        ),
        other => unreachable!("an order command yields Outcome::Order, not {other:?}"),
    })
}

fn order_step_render() -> Render {
    render(StatusCode::OK, |outcome| match outcome {
        Outcome::Order { order, .. } => to_json(&OrderOut::from_view(order, now_ms())),
        other => unreachable!("an order command yields Outcome::Order, not {other:?}"),
    })
}

/// Hold stock for an order: every line or none. A 409 names each line that
/// lacks stock and what is available. The same `reservation_id` twice holds once.
#[utoipa::path(post, path = "/api/v1/reservations", tag = "holds", request_body = CreateReservationRequest,
    responses((status = 201, body = ReservationOut), (status = 200, description = "a retry: the first result", body = ReservationOut),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_STOCK, or SUPPLIER_INSUFFICIENT_STOCK for an item its supplier is asked about", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, description = "SUPPLIER_AUTH_FAILED, SUPPLIER_UNAVAILABLE, …", body = ErrorBody), (status = 504, description = "SUPPLIER_TIMEOUT", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn create_reservation(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    ApiJson(body): ApiJson<CreateReservationRequest>,
) -> Result<Response, ApiError> {
    let id = match body.reservation_id.as_deref() {
        Some(raw) => reference("reservation_id", raw)?,
        None => format!("rsv_{}", time_ordered_id(8)),
    };
    let order_id = reference("order_id", &body.order_id)?;
    let lines = hold_lines(&body.items)?;
    let ttl_ms = ttl_ms(&state, body.ttl_seconds)?;
    let region = RegionInput::from(&body.region.unwrap_or_default());
    let placed = async { Ok(state.store.hold(&id).await?.is_some()) };
    state.check_before_order(&lines, &region, placed).await?;
    let command = Command::CreateHold {
        id,
        order_id,
        lines,
        ttl_ms,
    };
    Ok(state.write(command, writer, hold_render()).await)
}

/// One hold. A hold past its expiry reads as `expired` at once.
#[utoipa::path(get, path = "/api/v1/reservations/{reservation_id}", tag = "holds",
    params(("reservation_id" = Id, Path, example = "r-1001")),
    responses((status = 200, body = ReservationOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn get_reservation(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(id): Path<String>,
) -> Result<Json<ReservationOut>, ApiError> {
    let hold = state
        .store
        .hold(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("reservation {} not found", quoted(&id))))?;
    Ok(Json(ReservationOut::from_view(&hold, now_ms())))
}

/// Give an active hold more time: it now expires `ttl_seconds` from now.
#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/extend", tag = "holds",
    params(("reservation_id" = Id, Path, example = "r-1001")), request_body(content = ExtendRequest, description = "optional"),
    responses((status = 200, body = ReservationOut), (status = 404, body = ErrorBody),
        (status = 409, description = "RESERVATION_EXPIRED, RESERVATION_COMMITTED or RESERVATION_RELEASED", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn extend_reservation(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ExtendRequest>,
) -> Result<Response, ApiError> {
    let command = Command::ExtendHold {
        id,
        ttl_ms: ttl_ms(&state, body.ttl_seconds)?,
    };
    Ok(state.write(command, writer, hold_step_render()).await)
}

/// Turn a hold into a sale: on hand and reserved both drop. Committing twice
/// is fine; committing an expired or released hold is a 409.
#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/commit", tag = "holds",
    params(("reservation_id" = Id, Path, example = "r-1001")),
    responses((status = 200, body = ReservationOut), (status = 404, body = ErrorBody),
        (status = 409, description = "RESERVATION_EXPIRED or RESERVATION_RELEASED", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn commit_reservation(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = Command::CommitHold { id };
    Ok(state.write(command, writer, hold_step_render()).await)
}

/// Give a hold back: reserved drops. Releasing twice, or releasing an
/// expired hold, is fine; releasing a committed hold is a 409.
#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/release", tag = "holds",
    params(("reservation_id" = Id, Path, example = "r-1001")), request_body(content = ReasonRequest, description = "optional"),
    responses((status = 200, body = ReservationOut), (status = 404, body = ErrorBody),
        (status = 409, description = "RESERVATION_COMMITTED", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn release_reservation(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    let reason = optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?;
    let command = Command::ReleaseHold { id, reason };
    Ok(state.write(command, writer, hold_step_render()).await)
}

/// Place an order: check and hold every line at once, or none. An unpaid
/// order gives its stock back when its hold expires. The same `order_id`
/// twice creates and holds once.
#[utoipa::path(post, path = "/api/v1/orders", tag = "holds", request_body = CreateOrderRequest,
    responses((status = 201, body = OrderOut), (status = 200, description = "a retry: the first result", body = OrderOut),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_STOCK, or SUPPLIER_INSUFFICIENT_STOCK for an item its supplier is asked about", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, description = "SUPPLIER_AUTH_FAILED, SUPPLIER_UNAVAILABLE, …", body = ErrorBody), (status = 504, description = "SUPPLIER_TIMEOUT", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn create_order(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    ApiJson(body): ApiJson<CreateOrderRequest>,
) -> Result<Response, ApiError> {
    let id = reference("order_id", &body.order_id)?;
    let lines = hold_lines(&body.items)?;
    let ttl_ms = ttl_ms(&state, body.ttl_seconds)?;
    let region = RegionInput::from(&body.region.unwrap_or_default());
    let placed = async { Ok(state.store.order(&id).await?.is_some()) };
    state.check_before_order(&lines, &region, placed).await?;
    let command = Command::CreateOrder {
        id,
        hold_id: format!("rsv_{}", time_ordered_id(8)),
        lines,
        ttl_ms,
    };
    Ok(state.write(command, writer, order_render()).await)
}

/// One order.
#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = "holds", params(("order_id" = Id, Path, example = "o-1001")),
    responses((status = 200, body = OrderOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn get_order(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(id): Path<String>,
) -> Result<Json<OrderOut>, ApiError> {
    let order = state
        .store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {} not found", quoted(&id))))?;
    Ok(Json(OrderOut::from_view(&order, now_ms())))
}

/// Orders, newest first, by status.
#[utoipa::path(get, path = "/api/v1/orders", tag = "holds", params(OrderListQuery),
    responses((status = 200, body = OrderPageOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn list_orders(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    ApiQuery(query): ApiQuery<OrderListQuery>,
) -> Result<Json<OrderPageOut>, ApiError> {
    let page = page(&state, query.page, query.page_size)?;
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            OrderStatus::parse(raw).ok_or_else(|| {
                ApiError::field("status", "must be pending, paid, cancelled or expired")
            })
        })
        .transpose()?;
    let paged = state.store.orders(&OrderFilter { status }, page).await?;
    let now = now_ms();
    Ok(Json(OrderPageOut {
        orders: paged
            .rows
            .iter()
            .map(|order| OrderOut::from_view(order, now))
            .collect(),
        page: page.number,
        page_size: page.size,
        total: paged.total,
        total_pages: total_pages(paged.total, page.size),
    }))
}

/// Pay an order: its hold becomes a sale. Paying twice is fine; paying an
/// expired or cancelled order is a 409.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/pay", tag = "holds", params(("order_id" = Id, Path, example = "o-1001")),
    responses((status = 200, body = OrderOut), (status = 404, body = ErrorBody),
        (status = 409, description = "ORDER_EXPIRED or ORDER_CANCELLED", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn pay_order(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = Command::PayOrder { id };
    Ok(state.write(command, writer, order_step_render()).await)
}

/// Cancel an order: an unpaid one releases its hold; a paid one puts its
/// stock back where it came from (`return` ledger rows).
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/cancel", tag = "holds", params(("order_id" = Id, Path, example = "o-1001")),
    request_body(content = ReasonRequest, description = "optional"),
    responses((status = 200, body = OrderOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn cancel_order(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    let reason = optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?;
    let command = Command::CancelOrder { id, reason };
    Ok(state.write(command, writer, order_step_render()).await)
}

/// Move stock between locations: a `transfer` ledger row on each side, or none.
#[utoipa::path(post, path = "/api/v1/transfers", tag = "inventory", request_body = TransferRequest,
    responses((status = 200, body = ItemChangeOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_STOCK", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn transfer(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    ApiJson(body): ApiJson<TransferRequest>,
) -> Result<Response, ApiError> {
    let source = location_or_default(Some(&body.from_location))?;
    let target = location_or_default(Some(&body.to_location))?;
    if source == target {
        return Err(ApiError::field(
            "to_location",
            "must differ from from_location",
        ));
    }
    if body.quantity < 1 {
        return Err(ApiError::field("quantity", "must be at least 1"));
    }
    let command = Command::Transfer {
        item: body.product_id.0,
        source,
        target,
        quantity: body.quantity,
        reason: optional_text("reason", body.reason.as_deref(), REASON_LENGTH_MAX)?,
    };
    let threshold = state.config.low_stock_threshold;
    let render = render(StatusCode::OK, move |outcome| match outcome {
        Outcome::Transferred { view, entries } => to_json(&ItemChangeOut {
            item: ItemOut::from_view(view, threshold),
            entries: entries.iter().map(LedgerOut::from).collect(),
        }),
        other => unreachable!("a transfer yields Outcome::Transferred, not {other:?}"),
    });
    Ok(state.write(command, writer, render).await)
}
