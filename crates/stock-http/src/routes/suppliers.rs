//! Suppliers: region codes, a supplier's stock, catalogue, prices, balance
//! and logistics, items linked to supplier products, and writing a
//! supplier's figure into an item's level.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use stock_core::ItemId;
use stock_store::{Outcome, PutSupplierLink};
use stock_supplier::{LogisticsQuery, ProductQuery};

use super::{render, to_json};
use crate::auth::{AdminRole, Authorized, ServiceRole, StorefrontRole, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, OptionalJson};
use crate::region_input::RegionInput;
use crate::wire::*;
use crate::AppState;
use stock_jobs::SupplierEntry;

/// The longest product code or order code accepted.
pub(crate) const CODE_LENGTH_MAX: usize = 64;
/// Product codes one catalogue or prices request may name.
pub(crate) const CODES_MAX: usize = 100;
/// The longest category or brand filter.
const FILTER_LENGTH_MAX: usize = 64;

fn code(field: &str, raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::field(field, "is required"));
    }
    if raw.chars().count() > CODE_LENGTH_MAX {
        return Err(ApiError::field(
            field,
            format!("may be at most {CODE_LENGTH_MAX} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::field(field, "must not hold control characters"));
    }
    Ok(raw.to_owned())
}

fn optional_code(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => code(field, Some(raw)).map(Some),
    }
}

fn codes(field: &str, raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let codes: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| code(field, Some(c)))
        .collect::<Result<_, _>>()?;
    if codes.len() > CODES_MAX {
        return Err(ApiError::field(
            field,
            format!("may name at most {CODES_MAX} codes"),
        ));
    }
    Ok(codes)
}

fn filter(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty());
    if value.is_some_and(|v| v.chars().count() > FILTER_LENGTH_MAX) {
        return Err(ApiError::field(
            field,
            format!("may be at most {FILTER_LENGTH_MAX} characters"),
        ));
    }
    Ok(value.map(str::to_owned))
}

fn supplier_out(entry: &SupplierEntry, linked_items: u64) -> SupplierOut {
    let last_sync = entry
        .last_sync
        .lock()
        .expect("last sync lock")
        .as_ref()
        .map(|last| SyncSummaryOut::new(&last.summary, Some(last.finished_at_ms)));
    SupplierOut {
        name: entry.api.name().to_owned(),
        kind: entry.kind,
        location: entry.location.to_string(),
        circuit: entry.api.circuit().as_str(),
        sync_interval_seconds: entry.sync.interval.map(|i| i.as_secs()),
        sync_county_code: entry.sync.county_code.clone(),
        linked_items,
        last_sync,
    }
}

/// The configured suppliers: where their stock goes, their circuit, their
/// schedule and what their last sync did.
#[utoipa::path(get, path = "/api/v1/suppliers", tag = "suppliers",
    responses((status = 200, body = SupplierListOut)), security(("api_key" = ["service"])))]
pub async fn list_suppliers(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
) -> Result<Json<SupplierListOut>, ApiError> {
    let counted = state
        .jobs
        .suppliers
        .with_link_counts(state.store.as_ref())
        .await?;
    Ok(Json(SupplierListOut {
        suppliers: counted
            .into_iter()
            .map(|(entry, linked)| supplier_out(entry, linked))
            .collect(),
        default_county_code: state.jobs.suppliers.default_county_code.clone(),
    }))
}

/// Turn an address into the 6-digit region code suppliers ask for: exact
/// province/city/district, else the city's code, else a parse of the free
/// text, else the configured default (`matched_level` says which).
#[utoipa::path(get, path = "/api/v1/regions/resolve", tag = "suppliers", params(RegionIn),
    responses((status = 200, body = RegionOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn resolve_region(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
    ApiQuery(query): ApiQuery<RegionIn>,
) -> Result<Json<RegionOut>, ApiError> {
    let region = RegionInput::from(&query);
    let resolved = region
        .resolve(&state.jobs.suppliers.default_county_code)?
        .ok_or_else(|| {
            ApiError::validation("give province, city and district, or address, or county_code")
                .with_details(serde_json::json!({ "field": "address" }))
        })?;
    Ok(Json(RegionOut::from(resolved)))
}

/// The supplier's stock of one product for one region (a county code, or an
/// address resolved to one), asked now.
#[utoipa::path(get, path = "/api/v1/suppliers/{supplier}/stock", tag = "suppliers",
    params(("supplier" = String, Path, example = "mock"), SupplierStockQuery),
    responses((status = 200, body = SupplierStockOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, description = "SUPPLIER_AUTH_FAILED, SUPPLIER_UNAVAILABLE, SUPPLIER_REFUSED, SUPPLIER_BAD_RESPONSE", body = ErrorBody),
        (status = 503, description = "SUPPLIER_CIRCUIT_OPEN", body = ErrorBody), (status = 504, description = "SUPPLIER_TIMEOUT", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn supplier_stock(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(supplier): Path<String>,
    ApiQuery(query): ApiQuery<SupplierStockQuery>,
) -> Result<Json<SupplierStockOut>, ApiError> {
    let entry = state.named_supplier(&supplier)?;
    let product_code = code("product_code", query.product_code.as_deref())?;
    let source = optional_code("source", query.source.as_deref())?;
    let region = RegionInput::from(&query.region())
        .resolve(&state.jobs.suppliers.default_county_code)?
        .ok_or_else(|| {
            ApiError::validation(
                "county_code (or province, city and district, or address) is required",
            )
            .with_details(serde_json::json!({ "field": "county_code" }))
        })?;
    let call = entry
        .api
        .check_stock(&product_code, &region.county_code, source.as_deref());
    let quote = state.ask_supplier(&supplier, call).await?;
    Ok(Json(SupplierStockOut {
        supplier,
        product_code,
        county_code: quote.county_code,
        matched_level: region.matched_level,
        stock: quote.stock,
        sec_code: quote.sec_code,
        warehouse_grade: quote.warehouse_grade,
        timeliness_data: quote.timeliness,
    }))
}

/// The supplier's catalogue (every page of it), by codes, category or
/// brand, each with the stockd item linked to it.
#[utoipa::path(get, path = "/api/v1/suppliers/{supplier}/products", tag = "suppliers",
    params(("supplier" = String, Path, example = "mock"), SupplierProductsQuery),
    responses((status = 200, body = SupplierProductsOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn supplier_products(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(supplier): Path<String>,
    ApiQuery(query): ApiQuery<SupplierProductsQuery>,
) -> Result<Json<SupplierProductsOut>, ApiError> {
    let entry = state.named_supplier(&supplier)?;
    let request = ProductQuery {
        product_codes: codes("product_codes", query.product_codes.as_deref())?,
        category: filter("category", query.category.as_deref())?,
        brand: filter("brand", query.brand.as_deref())?,
    };
    let products = state
        .ask_supplier(&supplier, entry.api.products(&request))
        .await?;
    let links = state.store.supplier_links(&supplier).await?;
    let products: Vec<SupplierProductOut> = products
        .into_iter()
        .map(|p| SupplierProductOut {
            product_id: links
                .iter()
                .find(|l| l.product_code == p.product_code)
                .map(|l| l.item.to_string()),
            product_code: p.product_code,
            name: p.name,
            category: p.category,
            brand: p.brand,
            model: p.model,
        })
        .collect();
    Ok(Json(SupplierProductsOut {
        supplier,
        total: products.len() as u64,
        products,
    }))
}

/// The supplier's prices of some products.
#[utoipa::path(get, path = "/api/v1/suppliers/{supplier}/prices", tag = "suppliers",
    params(("supplier" = String, Path, example = "mock"), PricesQuery),
    responses((status = 200, body = PricesOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn supplier_prices(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(supplier): Path<String>,
    ApiQuery(query): ApiQuery<PricesQuery>,
) -> Result<Json<PricesOut>, ApiError> {
    let entry = state.named_supplier(&supplier)?;
    let codes = codes("product_codes", query.product_codes.as_deref())?;
    if codes.is_empty() {
        return Err(ApiError::field("product_codes", "is required"));
    }
    let prices = state
        .ask_supplier(&supplier, entry.api.prices(&codes))
        .await?;
    Ok(Json(PricesOut {
        supplier,
        prices: prices
            .into_iter()
            .map(|p| PriceOut {
                product_code: p.product_code,
                price: p.price,
                market_price: p.market_price,
                currency: p.currency,
            })
            .collect(),
    }))
}

/// The shop's account balance at the supplier.
#[utoipa::path(get, path = "/api/v1/suppliers/{supplier}/balance", tag = "suppliers",
    params(("supplier" = String, Path, example = "mock")),
    responses((status = 200, body = BalanceOut), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn supplier_balance(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(supplier): Path<String>,
) -> Result<Json<BalanceOut>, ApiError> {
    let entry = state.named_supplier(&supplier)?;
    let balance = state.ask_supplier(&supplier, entry.api.balance()).await?;
    Ok(Json(BalanceOut {
        supplier,
        balance: balance.balance,
        credit_limit: balance.credit_limit,
        currency: balance.currency,
    }))
}

/// Where an order placed at the supplier is on its way.
#[utoipa::path(get, path = "/api/v1/suppliers/{supplier}/logistics", tag = "suppliers",
    params(("supplier" = String, Path, example = "mock"), LogisticsQueryIn),
    responses((status = 200, body = LogisticsOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn supplier_logistics(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(supplier): Path<String>,
    ApiQuery(query): ApiQuery<LogisticsQueryIn>,
) -> Result<Json<LogisticsOut>, ApiError> {
    let entry = state.named_supplier(&supplier)?;
    let request = LogisticsQuery {
        order_code: code("order_code", query.order_code.as_deref())?,
        delivery_record_code: optional_code(
            "delivery_record_code",
            query.delivery_record_code.as_deref(),
        )?,
        member_id: optional_code("member_id", query.member_id.as_deref())?,
    };
    let logistics = state
        .ask_supplier(&supplier, entry.api.logistics(&request))
        .await?;
    Ok(Json(LogisticsOut {
        supplier,
        order_code: logistics.order_code,
        status: logistics.status,
        carrier: logistics.carrier,
        tracking_number: logistics.tracking_number,
        events: logistics.events,
    }))
}

async fn existing_item(state: &AppState, raw: &str) -> Result<ItemId, ApiError> {
    let item = ItemId::parse(raw).map_err(|error| ApiError::field("product_id", error))?;
    if state.store.item(&item).await?.is_none() {
        return Err(ApiError::not_found(format!("item {item} not found"))
            .with_details(serde_json::json!({ "entity": "item", "id": item.as_str() })));
    }
    Ok(item)
}

/// Link an item to a supplier's product: its stock is then synced from the
/// supplier, and (with `check_before_order`, the default) an order or hold
/// of it asks the supplier for the customer's region first.
#[utoipa::path(put, path = "/api/v1/inventory/{product_id}/supplier", tag = "suppliers",
    params(("product_id" = Id, Path, example = "1001")), request_body = SupplierLinkIn,
    responses((status = 200, body = SupplierLinkOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "ALREADY_EXISTS: the product code is linked to another item", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn link_supplier(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(product_id): Path<String>,
    ApiJson(body): ApiJson<SupplierLinkIn>,
) -> Result<Json<SupplierLinkOut>, ApiError> {
    let item = existing_item(&state, &product_id).await?;
    state.named_supplier(&body.supplier)?;
    let product_code = code("product_code", Some(&body.product_code))?;
    let check = body.check_before_order.unwrap_or(true);
    match state
        .store
        .put_supplier_link(&item, &body.supplier, &product_code, check)
        .await?
    {
        PutSupplierLink::Linked(link) => Ok(Json(SupplierLinkOut::from(&link))),
        PutSupplierLink::CodeTaken { item: other } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            format!(
                "{} product {product_code} is already linked to item {other}",
                body.supplier
            ),
        )
        .with_details(serde_json::json!({
            "entity": "supplier_link", "id": product_code, "product_id": other.as_str(),
        }))),
    }
}

/// The supplier an item is linked to, and its last figure.
#[utoipa::path(get, path = "/api/v1/inventory/{product_id}/supplier", tag = "suppliers",
    params(("product_id" = Id, Path, example = "1001")),
    responses((status = 200, body = SupplierLinkOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn get_supplier_link(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(product_id): Path<String>,
) -> Result<Json<SupplierLinkOut>, ApiError> {
    let item = ItemId::parse(&product_id).map_err(|error| ApiError::field("product_id", error))?;
    let link =
        state.store.supplier_link(&item).await?.ok_or_else(|| {
            ApiError::not_found(format!("item {item} is not linked to a supplier"))
        })?;
    Ok(Json(SupplierLinkOut::from(&link)))
}

/// Unlink an item from its supplier. Its level at the supplier's location
/// stays as last synced.
#[utoipa::path(delete, path = "/api/v1/inventory/{product_id}/supplier", tag = "suppliers",
    params(("product_id" = Id, Path, example = "1001")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn unlink_supplier(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(product_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let item = ItemId::parse(&product_id).map_err(|error| ApiError::field("product_id", error))?;
    if state.store.delete_supplier_link(&item).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "item {item} is not linked to a supplier"
        )))
    }
}

/// Ask the item's supplier for its stock in a region (the supplier's sync
/// region if none is given) and write that figure into the item's level at
/// the supplier's location, with a `sync` ledger row when it moves.
#[utoipa::path(post, path = "/api/v1/inventory/{product_id}/sync-supplier-stock", tag = "suppliers",
    params(("product_id" = Id, Path, example = "1001")), request_body(content = RegionIn, description = "optional: county_code, or an address"),
    responses((status = 200, body = SupplierSyncOut), (status = 400, body = ErrorBody),
        (status = 404, description = "the item, or its link to a supplier", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn sync_supplier_stock(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(product_id): Path<String>,
    OptionalJson(body): OptionalJson<RegionIn>,
) -> Result<Response, ApiError> {
    let item = ItemId::parse(&product_id).map_err(|error| ApiError::field("product_id", error))?;
    let region = RegionInput::from(&body).resolve(&state.jobs.suppliers.default_county_code)?;
    let link = state.store.supplier_link(&item).await?.ok_or_else(|| {
        ApiError::not_found(format!("item {item} is not linked to a supplier"))
            .with_details(serde_json::json!({ "entity": "supplier_link", "id": item.as_str() }))
    })?;
    let entry = state.named_supplier(&link.supplier)?;
    let (county_code, matched_level) = match region {
        Some(resolved) => (resolved.county_code, resolved.matched_level),
        None => (entry.sync.county_code.clone(), "default"),
    };
    let quote = state
        .ask_supplier(
            &link.supplier,
            entry
                .api
                .check_stock(&link.product_code, &county_code, None),
        )
        .await?;
    let command = stock_jobs::supplier_sync::sync_command(entry, &item, &quote);
    let threshold = state.config.low_stock_threshold;
    let supplier = link.supplier.clone();
    let product_code = link.product_code.clone();
    let render = render(StatusCode::OK, move |outcome| match outcome {
        Outcome::SupplierSynced {
            view,
            entry,
            shortfall,
        } => to_json(&SupplierSyncOut {
            item: ItemOut::from_view(view, threshold),
            entries: entry.iter().map(LedgerOut::from).collect(),
            supplier: supplier.clone(),
            product_code: product_code.clone(),
            county_code: county_code.clone(),
            matched_level,
            supplier_stock: quote.stock,
            changed: entry.is_some(),
            shortfall: *shortfall,
        }),
        other => unreachable!("a supplier sync yields Outcome::SupplierSynced, not {other:?}"),
    });
    Ok(state.write(command, writer, render).await)
}
