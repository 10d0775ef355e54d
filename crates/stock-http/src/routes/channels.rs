//! Channels (seed 000): listings linked to warehouse items, publishing their
//! sellable quantity, the status report, and orders placed through a listing.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stock_core::{ItemId, LINES_MAX};
use stock_store::{Channel, Command, HoldLineRequest, Listing};
use utoipa::ToSchema;

use super::webhooks::{checked_url, SECRET_LENGTH_MAX, SECRET_LENGTH_MIN};
use crate::auth::{time_ordered_id, AdminRole, Authorized, ServiceRole, Writer};
use crate::error::{quoted, ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::wire::{location_or_default, timestamp, Id};
use crate::AppState;
use stock_jobs::channel_sync::{sellable, SyncReport};

/// A channel or listing id: the same characters as an item id.
fn name(field: &str, raw: &str) -> Result<String, ApiError> {
    ItemId::parse(raw)
        .map(|id| id.to_string())
        .map_err(|error| ApiError::field(field, error))
}

async fn existing_channel(state: &AppState, raw: &str) -> Result<Channel, ApiError> {
    let id = name("channel", raw)?;
    state
        .store
        .channel(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("channel {id} not found")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    /// Where a sync POSTs each listing's quantity; null: the channel reads
    /// `GET …/listings` instead.
    #[schema(value_type = Option<crate::wire::Url>)]
    pub endpoint: Option<String>,
    /// Signs every push (`Stockd-Signature`, as webhooks); needed with an endpoint.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOut {
    pub channel: String,
    /// `push` (to `endpoint`) or `pull` (read through the API).
    pub mode: &'static str,
    pub endpoint: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Channel> for ChannelOut {
    fn from(channel: &Channel) -> ChannelOut {
        ChannelOut {
            channel: channel.id.clone(),
            mode: if channel.endpoint.is_some() {
                "push"
            } else {
                "pull"
            },
            endpoint: channel.endpoint.clone(),
            created_at: timestamp(channel.created_at_ms),
            updated_at: timestamp(channel.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelListOut {
    pub channels: Vec<ChannelOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingRequest {
    #[schema(value_type = crate::wire::Id)]
    pub listing_id: String,
    pub product_id: crate::wire::ProductId,
    /// Held back from the channel (default 0).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub buffer: i64,
    /// Count stock at this location only; default: every location.
    #[schema(value_type = Option<crate::wire::Id>)]
    pub location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingOut {
    pub channel: String,
    pub listing_id: String,
    pub product_id: String,
    pub location: Option<String>,
    pub buffer: i64,
    /// What the channel was last told; null before the first sync.
    pub published_quantity: Option<i64>,
    pub published_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// Why the last attempt failed; null after a success.
    pub last_error: Option<String>,
}

impl From<&Listing> for ListingOut {
    fn from(listing: &Listing) -> ListingOut {
        ListingOut {
            channel: listing.channel.clone(),
            listing_id: listing.listing_id.clone(),
            product_id: listing.item.to_string(),
            location: listing.location.as_ref().map(ToString::to_string),
            buffer: listing.buffer,
            published_quantity: listing.published_quantity,
            published_at: listing.published_at_ms.map(timestamp),
            last_attempt_at: listing.last_attempt_at_ms.map(timestamp),
            last_error: listing.last_error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingListOut {
    pub listings: Vec<ListingOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncFailureOut {
    pub listing_id: String,
    pub product_id: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOut {
    pub channel: String,
    pub synced: u64,
    pub skipped: u64,
    pub failed: u64,
    /// One entry per listing that could not be published, with the reason.
    pub failures: Vec<SyncFailureOut>,
}

impl SyncOut {
    fn new(channel: &str, report: SyncReport) -> SyncOut {
        SyncOut {
            channel: channel.to_owned(),
            synced: report.synced,
            skipped: report.skipped,
            failed: report.failures.len() as u64,
            failures: report
                .failures
                .into_iter()
                .map(|f| SyncFailureOut {
                    listing_id: f.listing_id,
                    product_id: f.product_id,
                    reason: f.reason,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingStatusOut {
    pub listing_id: String,
    pub product_id: String,
    pub buffer: i64,
    pub published_quantity: Option<i64>,
    pub published_at: Option<String>,
    /// What the listing may be offered now: available minus the buffer.
    pub sellable_quantity: i64,
    /// True when the channel shows something else (or nothing yet).
    pub differs: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatusOut {
    pub channel: String,
    pub mode: &'static str,
    pub listings: Vec<ListingStatusOut>,
    pub total: u64,
    pub in_step: u64,
    pub differing: u64,
}

/// Create a channel, or change where its syncs go.
#[utoipa::path(put, path = "/api/v1/channels/{channel}", tag = "channels",
    params(("channel" = Id, Path, example = "shop")), request_body = ChannelRequest,
    responses((status = 200, body = ChannelOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn put_channel(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<ChannelRequest>,
) -> Result<Json<ChannelOut>, ApiError> {
    let id = name("channel", &channel)?;
    let endpoint = body
        .endpoint
        .as_deref()
        .map(checked_url)
        .transpose()
        .map_err(|_| ApiError::field("endpoint", "must be an http:// or https:// URL"))?;
    if let Some(secret) = &body.secret {
        let length = secret.chars().count();
        if !(SECRET_LENGTH_MIN..=SECRET_LENGTH_MAX).contains(&length) {
            return Err(ApiError::field(
                "secret",
                format!("must be {SECRET_LENGTH_MIN} to {SECRET_LENGTH_MAX} characters"),
            ));
        }
    }
    if endpoint.is_some() && body.secret.is_none() {
        return Err(ApiError::field(
            "secret",
            "is needed with an endpoint: every push is signed",
        ));
    }
    let channel = state
        .store
        .put_channel(&id, endpoint.as_deref(), body.secret.as_deref())
        .await?;
    Ok(Json(ChannelOut::from(&channel)))
}

/// Every channel.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = ChannelListOut)), security(("api_key" = ["service"])))]
pub async fn list_channels(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
) -> Result<Json<ChannelListOut>, ApiError> {
    let mut channels = Vec::new();
    for id in state.store.channels().await? {
        if let Some(channel) = state.store.channel(&id).await? {
            channels.push(ChannelOut::from(&channel));
        }
    }
    Ok(Json(ChannelListOut { channels }))
}

/// Link a channel's listing to an item, with an optional safety buffer. A
/// channel named for the first time reads its quantities through the API
/// until `PUT /api/v1/channels/{channel}` gives it an endpoint.
#[utoipa::path(post, path = "/api/v1/channels/{channel}/listings", tag = "channels",
    params(("channel" = Id, Path, example = "shop")), request_body = ListingRequest,
    responses((status = 201, body = ListingOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "TOO_MANY_LISTINGS", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn link_listing(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<ListingRequest>,
) -> Result<(StatusCode, Json<ListingOut>), ApiError> {
    let channel = name("channel", &channel)?;
    let listing_id = name("listing_id", &body.listing_id)?;
    if body.buffer < 0 {
        return Err(ApiError::field("buffer", "must not be negative"));
    }
    let item = body.product_id.0;
    if state.store.item(&item).await?.is_none() {
        return Err(ApiError::not_found(format!("item {item} not found")));
    }
    let location = match body.location.as_deref() {
        Some(raw) => {
            let location = location_or_default(Some(raw))?;
            let known = state.store.locations().await?;
            if !known.iter().any(|l| l.id == location) {
                return Err(ApiError::not_found(format!(
                    "location {location} not found"
                )));
            }
            Some(location)
        }
        None => None,
    };
    let listings = state.store.listings(&channel, None).await?;
    let limit = state.jobs.settings.channels.listings_max;
    if listings.len() >= limit && !listings.iter().any(|l| l.listing_id == listing_id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TOO_MANY_LISTINGS",
            format!("a channel has at most {limit} listings (channels.listings_max)"),
        ));
    }
    let listing = state
        .store
        .put_listing(&channel, &listing_id, &item, location.as_ref(), body.buffer)
        .await?;
    Ok((StatusCode::CREATED, Json(ListingOut::from(&listing))))
}

/// A channel's listings and what each was last told: what a channel without
/// an endpoint reads.
#[utoipa::path(get, path = "/api/v1/channels/{channel}/listings", tag = "channels",
    params(("channel" = Id, Path, example = "shop")),
    responses((status = 200, body = ListingListOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn list_listings(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(channel): Path<String>,
) -> Result<Json<ListingListOut>, ApiError> {
    let channel = existing_channel(&state, &channel).await?;
    let listings = state.store.listings(&channel.id, None).await?;
    Ok(Json(ListingListOut {
        listings: listings.iter().map(ListingOut::from).collect(),
    }))
}

/// Unlink a listing.
#[utoipa::path(delete, path = "/api/v1/channels/{channel}/listings/{listing_id}", tag = "channels",
    params(("channel" = Id, Path, example = "shop"), ("listing_id" = Id, Path, example = "l-1001")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn unlink_listing(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path((channel, listing_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let channel = name("channel", &channel)?;
    let listing_id = name("listing_id", &listing_id)?;
    if state.store.delete_listing(&channel, &listing_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "listing {listing_id} of channel {channel} not found"
        )))
    }
}

/// Publish the sellable quantity of every linked listing (available minus
/// its buffer) and nothing else. Listings already showing it are skipped;
/// a listing that fails is reported with its reason and the rest go on.
#[utoipa::path(post, path = "/api/v1/channels/{channel}/sync", tag = "channels",
    params(("channel" = Id, Path, example = "shop")),
    responses((status = 200, body = SyncOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn sync(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(channel): Path<String>,
) -> Result<Json<SyncOut>, ApiError> {
    let channel = existing_channel(&state, &channel).await?;
    let report = state.jobs.sync_channel(&channel, None).await?;
    Ok(Json(SyncOut::new(&channel.id, report)))
}

/// Each listing's last published quantity against what it may be offered
/// now, and whether they differ.
#[utoipa::path(get, path = "/api/v1/channels/{channel}/status", tag = "channels",
    params(("channel" = Id, Path, example = "shop")),
    responses((status = 200, body = ChannelStatusOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn status(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    Path(channel): Path<String>,
) -> Result<Json<ChannelStatusOut>, ApiError> {
    let channel = existing_channel(&state, &channel).await?;
    let listings = state.store.listings(&channel.id, None).await?;
    let mut ids: Vec<ItemId> = listings.iter().map(|l| l.item.clone()).collect();
    ids.sort();
    ids.dedup();
    let views = state.store.items(&ids).await?;
    let mut out = Vec::with_capacity(listings.len());
    for listing in &listings {
        let now = views
            .iter()
            .find(|v| v.item.id == listing.item)
            .map_or(0, |view| sellable(listing, view));
        out.push(ListingStatusOut {
            listing_id: listing.listing_id.clone(),
            product_id: listing.item.to_string(),
            buffer: listing.buffer,
            published_quantity: listing.published_quantity,
            published_at: listing.published_at_ms.map(timestamp),
            sellable_quantity: now,
            differs: listing.published_quantity != Some(now),
            last_error: listing.last_error.clone(),
        });
    }
    let differing = out.iter().filter(|l| l.differs).count() as u64;
    Ok(Json(ChannelStatusOut {
        channel: channel.id.clone(),
        mode: ChannelOut::from(&channel).mode,
        total: out.len() as u64,
        in_step: out.len() as u64 - differing,
        differing,
        listings: out,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelOrderLineIn {
    /// A listing of this channel.
    pub listing_id: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelOrderRequest {
    #[schema(value_type = crate::wire::Id)]
    pub order_id: String,
    /// 1 to 100 lines, no listing twice.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<ChannelOrderLineIn>,
    /// How long an unpaid order holds its stock; the configured default if absent.
    #[schema(minimum = 1)]
    pub ttl_seconds: Option<u64>,
    /// The customer's region, for items whose supplier is asked before an order.
    pub region: Option<crate::wire::RegionIn>,
}

/// Place an order through a channel's listings: it holds warehouse stock
/// like `POST /api/v1/orders` (pay and cancel it there), and before it is
/// answered, the channel's listings of the ordered items are published again.
#[utoipa::path(post, path = "/api/v1/channels/{channel}/orders", tag = "channels",
    params(("channel" = Id, Path, example = "shop")), request_body = ChannelOrderRequest,
    responses((status = 201, body = crate::wire::OrderOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "INSUFFICIENT_STOCK", body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn place_order(
    State(state): State<AppState>,
    writer: Writer<ServiceRole>,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<ChannelOrderRequest>,
) -> Result<Response, ApiError> {
    let channel = existing_channel(&state, &channel).await?;
    if body.items.is_empty() || body.items.len() > LINES_MAX {
        return Err(ApiError::field(
            "items",
            format!("must hold 1 to {LINES_MAX} entries"),
        ));
    }
    let listings = state.store.listings(&channel.id, None).await?;
    let mut seen = HashSet::new();
    let mut items_seen = HashSet::new();
    let mut lines = Vec::with_capacity(body.items.len());
    for (index, line) in body.items.iter().enumerate() {
        if line.quantity < 1 {
            return Err(ApiError::field(
                &format!("items[{index}].quantity"),
                "must be at least 1",
            ));
        }
        if !seen.insert(line.listing_id.as_str()) {
            return Err(ApiError::field(
                "items",
                format!("names listing {} twice", quoted(&line.listing_id)),
            ));
        }
        let listing = listings
            .iter()
            .find(|l| l.listing_id == line.listing_id)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "listing {} of channel {} not found",
                    quoted(&line.listing_id),
                    channel.id
                ))
            })?;
        if !items_seen.insert((listing.item.clone(), listing.location.clone())) {
            return Err(ApiError::field(
                "items",
                format!(
                    "listing {} names item {} a second time; order it once",
                    line.listing_id, listing.item
                ),
            ));
        }
        lines.push(HoldLineRequest {
            item: listing.item.clone(),
            location: listing.location.clone(),
            quantity: line.quantity,
        });
    }
    let order_id = name("order_id", &body.order_id)?;
    let ttl_ms = super::holds::ttl_ms(&state, body.ttl_seconds)?;
    let region = crate::region_input::RegionInput::from(&body.region.unwrap_or_default());
    let placed = async { Ok(state.store.order(&order_id).await?.is_some()) };
    state.check_before_order(&lines, &region, placed).await?;
    let command = Command::CreateOrder {
        id: order_id,
        hold_id: format!("rsv_{}", time_ordered_id(8)),
        lines,
        ttl_ms,
    };
    let items: Vec<ItemId> = body
        .items
        .iter()
        .filter_map(|line| listings.iter().find(|l| l.listing_id == line.listing_id))
        .map(|l| l.item.clone())
        .collect();
    let response = state
        .write(command, writer, super::holds::order_render())
        .await;
    if response.status().is_success() {
        if let Err(error) = state.jobs.sync_channel(&channel, Some(&items)).await {
            tracing::warn!(channel = %channel.id, error = %error,
                "publishing the listings of a channel order failed; the next sync retries");
        }
    }
    Ok(response)
}
