//! Route handlers, grouped by what they serve.

mod alerts;
mod channels;
pub mod docs;
mod events;
mod health;
pub(crate) use health::FIX_TYPES;
mod holds;
mod inventory;
mod ledger;
pub mod meta;
mod suppliers;
pub(crate) use suppliers::{CODES_MAX, CODE_LENGTH_MAX};
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::http::StatusCode;
use stock_store::{Outcome, Page, Render};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{error_bytes, ApiError};
use crate::AppState;

/// Every `/api/v1` route, with its OpenAPI description.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(inventory::list_items, inventory::create_item))
        .routes(routes!(inventory::get_item, inventory::update_item))
        .routes(routes!(inventory::batch))
        .routes(routes!(inventory::sync_stock))
        .routes(routes!(inventory::check))
        .routes(routes!(inventory::decrease))
        .routes(routes!(inventory::increase))
        .routes(routes!(inventory::low_stock))
        .routes(routes!(ledger::item_ledger))
        .routes(routes!(ledger::ledger))
        .routes(routes!(meta::inventory_stats))
        .routes(routes!(meta::service_stats))
        .routes(routes!(meta::list_locations, meta::create_location))
        .routes(routes!(holds::create_reservation))
        .routes(routes!(holds::get_reservation))
        .routes(routes!(holds::extend_reservation))
        .routes(routes!(holds::commit_reservation))
        .routes(routes!(holds::release_reservation))
        .routes(routes!(holds::list_orders, holds::create_order))
        .routes(routes!(holds::get_order))
        .routes(routes!(holds::pay_order))
        .routes(routes!(holds::cancel_order))
        .routes(routes!(holds::transfer))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::ack_alert))
        .routes(routes!(alerts::ignore_alert))
        .routes(routes!(events::events))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(health::health_check))
        .routes(routes!(health::trigger))
        .routes(routes!(health::fix))
        .routes(routes!(channels::list_channels))
        .routes(routes!(channels::put_channel))
        .routes(routes!(channels::link_listing, channels::list_listings))
        .routes(routes!(channels::unlink_listing))
        .routes(routes!(channels::sync))
        .routes(routes!(channels::status))
        .routes(routes!(channels::place_order))
        .routes(routes!(suppliers::list_suppliers))
        .routes(routes!(suppliers::resolve_region))
        .routes(routes!(suppliers::supplier_stock))
        .routes(routes!(suppliers::supplier_products))
        .routes(routes!(suppliers::supplier_prices))
        .routes(routes!(suppliers::supplier_balance))
        .routes(routes!(suppliers::supplier_logistics))
        .routes(routes!(
            suppliers::link_supplier,
            suppliers::get_supplier_link,
            suppliers::unlink_supplier
        ))
        .routes(routes!(suppliers::sync_supplier_stock))
}

/// Checks a page request against the configured limits.
pub(crate) fn page(
    state: &AppState,
    number: Option<u32>,
    size: Option<u32>,
) -> Result<Page, ApiError> {
    let number = number.unwrap_or(1);
    if number == 0 {
        return Err(ApiError::field("page", "starts at 1"));
    }
    let size = size.unwrap_or(state.config.page_size_default);
    if size == 0 || size > state.config.page_size_max {
        return Err(ApiError::field(
            "page_size",
            format!("must be from 1 to {}", state.config.page_size_max),
        ));
    }
    Ok(Page { number, size })
}

pub(crate) fn total_pages(total: u64, size: u32) -> u64 {
    total.div_ceil(u64::from(size))
}

/// Longest accepted lengths of free-text fields, in characters.
pub(crate) const NAME_LENGTH_MAX: usize = 200;
pub(crate) const REASON_LENGTH_MAX: usize = 500;
pub(crate) const REFERENCE_LENGTH_MAX: usize = 128;
pub(crate) const QUERY_LENGTH_MAX: usize = 100;
/// The longest webhook or channel URL accepted, in characters.
pub(crate) const URL_LENGTH_MAX: usize = 2048;

/// Checks a free-text field: not blank, not too long, no control characters.
pub(crate) fn text(field: &str, value: &str, length_max: usize) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::field(field, "must not be blank"));
    }
    if value.chars().count() > length_max {
        return Err(ApiError::field(
            field,
            format!("must be at most {length_max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    length_max: usize,
) -> Result<Option<String>, ApiError> {
    value
        .map(|value| text(field, value, length_max))
        .transpose()
}

/// A renderer: `success` and the body built by `body` for a result, or the
/// error body for a refusal.
pub(crate) fn render<F>(success: StatusCode, body: F) -> Render
where
    F: Fn(&Outcome) -> Vec<u8> + Send + Sync + 'static,
{
    Arc::new(move |result| match result {
        Ok(outcome) => (success.as_u16(), body(outcome)),
        Err(error) => {
            let error = ApiError::from(error);
            (error.status.as_u16(), error_bytes(&error))
        }
    })
}

/// Like [`render`], for commands whose success status depends on the outcome
/// (201 for a new hold, 200 for a retry that found it).
pub(crate) fn render_with<F>(body: F) -> Render
where
    F: Fn(&Outcome) -> (StatusCode, Vec<u8>) + Send + Sync + 'static,
{
    Arc::new(move |result| match result {
        Ok(outcome) => {
            let (status, bytes) = body(outcome);
            (status.as_u16(), bytes)
        }
        Err(error) => {
            let error = ApiError::from(error);
            (error.status.as_u16(), error_bytes(&error))
        }
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("response bodies serialize")
}
