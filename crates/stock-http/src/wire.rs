//! Request and response bodies: the only types that derive serde for the wire.

pub mod schema;
mod supplier;
pub use schema::*;
pub use supplier::*;

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use stock_core::{ItemId, LevelState, LocationId};
use stock_store::{ItemView, LedgerEntry, Location};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::error::quoted;

/// RFC 3339 in UTC with milliseconds.
pub fn timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An item id as a caller sends it: a string, or a JSON integer such as
/// `1001`, which becomes `"1001"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductId(pub ItemId);

impl<'de> Deserialize<'de> for ProductId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProductIdVisitor;

        impl Visitor<'_> for ProductIdVisitor {
            type Value = ProductId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a product id: a string or an integer")
            }

            fn visit_str<E: de::Error>(self, raw: &str) -> Result<ProductId, E> {
                ItemId::parse(raw)
                    .map(ProductId)
                    .map_err(|error| E::custom(format!("product id {:?} {error}", quoted(raw))))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<ProductId, E> {
                Ok(ProductId(ItemId::from_number(number)))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<ProductId, E> {
                self.visit_str(&number.to_string())
            }
        }

        deserializer.deserialize_any(ProductIdVisitor)
    }
}

/// Deserializes a field that may be absent (`None`), null (`Some(None)`) or a value.
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ---------------------------------------------------------------------------
// Items

/// Create an item with its opening stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItemRequest {
    pub product_id: ProductId,
    #[serde(alias = "product_name")]
    #[schema(value_type = Name)]
    pub name: String,
    /// Opening stock (on hand), the configured default if absent.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub stock: Option<i64>,
    /// Where the opening stock is; `default` if absent.
    #[schema(value_type = Option<Id>)]
    pub location: Option<String>,
    /// `active` (default), `inactive` or `locked`.
    #[schema(value_type = Option<ItemStatusName>)]
    pub status: Option<String>,
    /// The low-stock threshold; the configured default if absent. At most `max_stock`.
    #[schema(minimum = 0)]
    pub min_stock: Option<i64>,
    #[schema(minimum = 0)]
    pub max_stock: Option<i64>,
    #[serde(default)]
    pub allow_backorder: bool,
}

/// Change an item's details. `stock` sets the on-hand figure after a count,
/// and only together with the `expected_version` of that location's level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    #[serde(alias = "product_name")]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    #[schema(value_type = Option<ItemStatusName>)]
    pub status: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub min_stock: Option<Option<i64>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub max_stock: Option<Option<i64>>,
    pub allow_backorder: Option<bool>,
    /// The counted on-hand stock; needs `expected_version`.
    pub stock: Option<i64>,
    /// The version of the location's level that `stock` was counted at;
    /// only with `stock`.
    pub expected_version: Option<i64>,
    /// Where `stock` was counted; `default` if absent.
    #[schema(value_type = Option<Id>)]
    pub location: Option<String>,
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
}

/// One location's stock of an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationLevelOut {
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub version: i64,
    pub updated_at: String,
}

/// An item and its stock. `stock` is another name for `on_hand`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOut {
    pub product_id: String,
    pub name: String,
    pub status: &'static str,
    pub stock: i64,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// Moves on every change to any of the item's levels.
    pub version: i64,
    /// `in_stock`, `low_stock` or `out_of_stock`.
    pub stock_status: &'static str,
    pub min_stock: Option<i64>,
    pub max_stock: Option<i64>,
    /// The threshold in force: `min_stock`, or the configured default.
    pub low_stock_threshold: i64,
    pub allow_backorder: bool,
    pub locations: Vec<LocationLevelOut>,
    pub created_at: String,
    pub updated_at: String,
}

impl ItemOut {
    pub fn from_view(view: &ItemView, default_threshold: i64) -> ItemOut {
        let threshold = view.item.min_stock.unwrap_or(default_threshold);
        let available = view.available();
        ItemOut {
            product_id: view.item.id.to_string(),
            name: view.item.name.clone(),
            status: view.item.status.as_str(),
            stock: view.on_hand(),
            on_hand: view.on_hand(),
            reserved: view.reserved(),
            available,
            version: view.version(),
            stock_status: LevelState::of(available, threshold).as_str(),
            min_stock: view.item.min_stock,
            max_stock: view.item.max_stock,
            low_stock_threshold: threshold,
            allow_backorder: view.item.allow_backorder,
            locations: view
                .levels
                .iter()
                .map(|l| LocationLevelOut {
                    location: l.location.to_string(),
                    on_hand: l.level.on_hand,
                    reserved: l.level.reserved,
                    available: l.level.available(),
                    version: l.level.version,
                    updated_at: timestamp(l.updated_at_ms),
                })
                .collect(),
            created_at: timestamp(view.created_at_ms),
            updated_at: timestamp(
                view.levels
                    .iter()
                    .map(|l| l.updated_at_ms)
                    .fold(view.updated_at_ms, i64::max),
            ),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemChangeOut {
    pub item: ItemOut,
    /// The ledger rows the change wrote.
    pub entries: Vec<LedgerOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 100 ids, none twice.
    #[schema(schema_with = schema::product_id_list)]
    pub product_ids: Vec<ProductId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    pub items: Vec<ItemOut>,
    /// Requested ids that name no item.
    pub not_found: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemListQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
    /// `active`, `inactive` or `locked`.
    #[param(value_type = Option<ItemStatusName>)]
    pub status: Option<String>,
    pub low_stock: Option<bool>,
    pub out_of_stock: Option<bool>,
    /// A substring of the id or the name.
    #[param(value_type = Option<SearchText>)]
    pub q: Option<String>,
    /// Count only this location's stock.
    #[param(value_type = Option<Id>)]
    pub location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPageOut {
    pub items: Vec<ItemOut>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub total_pages: u64,
}

// ---------------------------------------------------------------------------
// Stock changes

/// A signed change to one item's stock, as an order service sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncStockRequest {
    pub product_id: ProductId,
    #[schema(value_type = Delta)]
    pub delta: i64,
    /// A deduction and a restock for the same order apply once each.
    #[schema(value_type = Option<Reference>)]
    pub order_id: Option<String>,
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
    /// The same trace id for the same item applies once.
    #[schema(value_type = Option<Reference>)]
    pub trace_id: Option<String>,
    /// `default` if absent.
    #[schema(value_type = Option<Id>)]
    pub location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStockOut {
    pub success: bool,
    pub product_id: String,
    pub delta: i64,
    pub before_stock: i64,
    pub after_stock: i64,
    /// True when this was a retry of a change already applied.
    pub replayed: bool,
    pub item: ItemOut,
    pub entry: LedgerOut,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    pub product_id: ProductId,
    #[schema(minimum = 1)]
    pub quantity: i64,
    /// `default` if absent.
    #[schema(value_type = Option<Id>)]
    pub location: Option<String>,
}

/// Several items at once: check, decrease or increase.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesRequest {
    /// 1 to 100 lines, no item twice at one location.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<LineIn>,
    #[schema(value_type = Option<Reference>)]
    pub order_id: Option<String>,
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnavailableOut {
    pub product_id: String,
    pub location: String,
    pub requested: i64,
    pub available: i64,
    /// `insufficient_stock`, `inactive` or `locked`.
    pub reason: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOut {
    /// True when every line can be had now.
    pub available: bool,
    pub unavailable_products: Vec<UnavailableOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinesOut {
    pub success: bool,
    pub items: Vec<ItemOut>,
    pub entries: Vec<LedgerOut>,
}

// ---------------------------------------------------------------------------
// Reports

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LowStockQuery {
    /// Items with 0 < available <= threshold are low; 10 if absent.
    #[param(minimum = 0)]
    pub threshold: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockProduct {
    pub id: String,
    pub name: String,
    pub stock: i64,
    pub sku: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockSection {
    pub products: Vec<LowStockProduct>,
    pub count: u64,
    pub threshold: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutOfStockSection {
    pub products: Vec<LowStockProduct>,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStockSummary {
    pub total_low_stock: u64,
    pub total_out_of_stock: u64,
    pub needs_attention: u64,
}

/// Low and out-of-stock items.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStockOut {
    pub low_stock: LowStockSection,
    pub out_of_stock: OutOfStockSection,
    pub summary: LowStockSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryStatsOut {
    pub total_items: u64,
    pub total_on_hand: i64,
    pub total_reserved: i64,
    pub total_available: i64,
    pub low_stock_items: u64,
    pub out_of_stock_items: u64,
    pub low_stock_threshold: i64,
    pub locations: u64,
    pub ledger_entries: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteStatsOut {
    pub method: String,
    pub route: String,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyOut {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceStatsOut {
    /// `POST /api/v1/sync-stock` on this process since start.
    pub sync_stock: SyncStatsOut,
    /// Channel syncs on this process since start, by listing.
    pub channel_sync: ChannelSyncStatsOut,
    /// The cache health checker, over every run (all replicas).
    pub health: HealthStatsOut,
    pub version: &'static str,
    pub started_at: String,
    pub uptime_seconds: u64,
    pub requests_total: u64,
    pub client_errors_total: u64,
    pub server_errors_total: u64,
    pub routes: Vec<RouteStatsOut>,
    /// Writes from submission to durable commit, over the last 10,000.
    pub write_latency: LatencyOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatsOut {
    pub requests: u64,
    /// Answered 2xx.
    pub succeeded: u64,
    /// `succeeded / requests`; null before the first.
    pub success_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelSyncStatsOut {
    pub synced: u64,
    /// Already showing their sellable quantity.
    pub skipped: u64,
    pub failed: u64,
    /// `synced / (synced + failed)`; null before the first.
    pub success_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatsOut {
    pub runs: u64,
    pub diffs_found: u64,
    pub diffs_pending: u64,
    pub auto_fixed: u64,
    pub auto_fix_failed: u64,
    /// `auto_fixed / (auto_fixed + auto_fix_failed)`; null before the first try.
    pub auto_fix_success_rate: Option<f64>,
    /// `up`, `warming` or `down`; null without Redis.
    pub cache: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

// ---------------------------------------------------------------------------
// Ledger

/// One ledger row. `delta`, `before_stock` and `after_stock` are on hand.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerOut {
    pub id: i64,
    pub product_id: String,
    pub location: String,
    pub operation: &'static str,
    pub delta: i64,
    pub reserved_delta: i64,
    pub before_stock: i64,
    pub after_stock: i64,
    pub reserved_before: i64,
    pub reserved_after: i64,
    pub version: i64,
    pub order_id: Option<String>,
    pub reservation_id: Option<String>,
    pub reason: Option<String>,
    pub operator: String,
    pub trace_id: Option<String>,
    pub created_at: String,
}

impl From<&LedgerEntry> for LedgerOut {
    fn from(entry: &LedgerEntry) -> Self {
        LedgerOut {
            id: entry.id,
            product_id: entry.item.to_string(),
            location: entry.location.to_string(),
            operation: entry.operation.as_str(),
            delta: entry.on_hand_delta,
            reserved_delta: entry.reserved_delta,
            before_stock: entry.on_hand_before,
            after_stock: entry.on_hand_after,
            reserved_before: entry.reserved_before,
            reserved_after: entry.reserved_after,
            version: entry.version_after,
            order_id: entry.order_id.clone(),
            reservation_id: entry.reservation_id.clone(),
            reason: entry.reason.clone(),
            operator: entry.operator.clone(),
            trace_id: entry.trace_id.clone(),
            created_at: timestamp(entry.created_at_ms),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
    #[param(value_type = Option<Reference>)]
    pub order_id: Option<String>,
    #[param(value_type = Option<Reference>)]
    pub trace_id: Option<String>,
    #[param(value_type = Option<Id>)]
    pub product_id: Option<String>,
    #[param(value_type = Option<OperationName>)]
    pub operation: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemLedgerQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
    #[param(value_type = Option<OperationName>)]
    pub operation: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPageOut {
    pub entries: Vec<LedgerOut>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub total_pages: u64,
}

// ---------------------------------------------------------------------------
// Locations

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocationRequest {
    #[schema(value_type = Id)]
    pub id: String,
    /// The id if absent.
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Lower fills first; 0 if absent.
    pub priority: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationOut {
    pub id: String,
    pub name: String,
    pub priority: i64,
    pub created_at: String,
}

impl From<&Location> for LocationOut {
    fn from(location: &Location) -> Self {
        LocationOut {
            id: location.id.to_string(),
            name: location.name.clone(),
            priority: location.priority,
            created_at: timestamp(location.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationListOut {
    pub locations: Vec<LocationOut>,
}

/// Parses an optional location, `default` when absent.
pub fn location_or_default(raw: Option<&str>) -> Result<LocationId, crate::error::ApiError> {
    match raw {
        None => Ok(LocationId::default_location()),
        Some(raw) => {
            LocationId::parse(raw).map_err(|error| crate::error::ApiError::field("location", error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_accept_strings_and_integers() {
        let check = |json: &str, expect: Result<&str, ()>| {
            let got = serde_json::from_str::<ProductId>(json)
                .map(|id| id.0.to_string())
                .map_err(|_| ());
            assert_eq!(got, expect.map(str::to_owned), "{json}");
        };
        check("1001", Ok("1001"));
        check("\"SKU-1\"", Ok("SKU-1"));
        check("\"\"", Err(()));
        check("1.5", Err(()));
        check("true", Err(()));
        check("null", Err(()));
        check("\"a/b\"", Err(()));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}

// ---------------------------------------------------------------------------
// Holds, orders and transfers

/// A line to hold. Without `location`, stock is taken from locations in
/// priority order, split across them if need be.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldLineIn {
    pub product_id: ProductId,
    #[schema(minimum = 1)]
    pub quantity: i64,
    #[schema(value_type = Option<Id>)]
    pub location: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservationRequest {
    /// Your id for the hold; one is made if absent. The same id twice holds once.
    #[schema(value_type = Option<Id>)]
    pub reservation_id: Option<String>,
    #[schema(value_type = Id)]
    pub order_id: String,
    /// 1 to 100 lines, no item twice with the same location (or twice without one).
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<HoldLineIn>,
    /// How long the hold lasts; the configured default if absent.
    #[schema(minimum = 1)]
    pub ttl_seconds: Option<u64>,
    /// The customer's region, for items whose supplier is asked before an
    /// order; the configured default region if absent.
    pub region: Option<RegionIn>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// The new time to live, counted from now; the configured default if absent.
    #[schema(minimum = 1)]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldLineOut {
    pub product_id: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationOut {
    pub reservation_id: String,
    pub order_id: String,
    /// `active`, `committed`, `released` or `expired`.
    pub status: &'static str,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    /// Where the stock is held: one entry per item and location.
    pub items: Vec<HoldLineOut>,
}

impl ReservationOut {
    pub fn from_view(hold: &stock_store::HoldView, now_ms: i64) -> ReservationOut {
        ReservationOut {
            reservation_id: hold.id.clone(),
            order_id: hold.order_id.clone(),
            status: hold.status_at(now_ms).as_str(),
            expires_at: timestamp(hold.expires_at_ms),
            created_at: timestamp(hold.created_at_ms),
            updated_at: timestamp(hold.updated_at_ms),
            items: hold
                .lines
                .iter()
                .map(|line| HoldLineOut {
                    product_id: line.item.to_string(),
                    location: line.location.to_string(),
                    quantity: line.quantity,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// Your order id. The same id twice creates and holds once.
    #[schema(value_type = Id)]
    pub order_id: String,
    /// 1 to 100 lines, no item twice with the same location (or twice without one).
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<HoldLineIn>,
    /// How long an unpaid order holds its stock; the configured default if absent.
    #[schema(minimum = 1)]
    pub ttl_seconds: Option<u64>,
    /// The customer's region, for items whose supplier is asked before an
    /// order; the configured default region if absent.
    pub region: Option<RegionIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineOut {
    pub product_id: String,
    pub quantity: i64,
    /// Where the stock was taken from.
    pub locations: Vec<HoldLineOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOut {
    pub order_id: String,
    /// `pending`, `paid`, `cancelled` or `expired`.
    pub status: &'static str,
    pub reservation_id: String,
    /// When an unpaid order gives its stock back.
    pub expires_at: String,
    pub items: Vec<OrderLineOut>,
    pub created_at: String,
    pub updated_at: String,
}

impl OrderOut {
    pub fn from_view(order: &stock_store::OrderView, now_ms: i64) -> OrderOut {
        let mut items: Vec<OrderLineOut> = Vec::new();
        for line in &order.hold.lines {
            let part = HoldLineOut {
                product_id: line.item.to_string(),
                location: line.location.to_string(),
                quantity: line.quantity,
            };
            match items.iter_mut().find(|i| i.product_id == part.product_id) {
                Some(item) => {
                    item.quantity += line.quantity;
                    item.locations.push(part);
                }
                None => items.push(OrderLineOut {
                    product_id: part.product_id.clone(),
                    quantity: line.quantity,
                    locations: vec![part],
                }),
            }
        }
        OrderOut {
            order_id: order.id.clone(),
            status: order.status_at(now_ms).as_str(),
            reservation_id: order.hold.id.clone(),
            expires_at: timestamp(order.hold.expires_at_ms),
            items,
            created_at: timestamp(order.created_at_ms),
            updated_at: timestamp(order.updated_at_ms),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
    /// `pending`, `paid`, `cancelled` or `expired`.
    #[param(value_type = Option<OrderStatusName>)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPageOut {
    pub orders: Vec<OrderOut>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub total_pages: u64,
}

/// Move stock of one item from one location to another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub product_id: ProductId,
    #[schema(value_type = Id)]
    pub from_location: String,
    /// Another location than `from_location`.
    #[schema(value_type = Id)]
    pub to_location: String,
    /// No more than is available at `from_location`.
    #[schema(minimum = 1)]
    pub quantity: i64,
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
}

/// An alert about an item's available stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: i64,
    pub product_id: String,
    /// `low_stock`, `out_of_stock`, `back_in_stock` or `diff_alert`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `warning` (low stock, diff), `error` (out of stock) or `info` (back in stock).
    pub level: &'static str,
    /// `pending` or `sent` (open), `acknowledged` or `ignored` (closed).
    pub status: &'static str,
    pub message: String,
    /// The item's available stock, all locations, right after the change.
    pub available: i64,
    /// The line it crossed: the item's `min_stock`, else the service's threshold.
    pub threshold: i64,
    /// The ledger row of the change that raised it; none for a diff alert.
    pub log_id: Option<i64>,
    /// Who acknowledged or ignored it.
    pub handled_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&stock_store::AlertView> for AlertOut {
    fn from(alert: &stock_store::AlertView) -> AlertOut {
        AlertOut {
            id: alert.id,
            product_id: alert.item.to_string(),
            kind: alert.kind.as_str(),
            level: alert.kind.level(),
            status: alert.status.as_str(),
            message: alert.message.clone(),
            available: alert.available,
            threshold: alert.threshold,
            log_id: alert.ledger_id,
            handled_by: alert.handled_by.clone(),
            created_at: timestamp(alert.created_at_ms),
            updated_at: timestamp(alert.updated_at_ms),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertListQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
    #[param(value_type = Option<Id>)]
    pub product_id: Option<String>,
    /// `low_stock`, `out_of_stock`, `back_in_stock` or `diff_alert`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<AlertKindName>)]
    pub kind: Option<String>,
    /// `pending`, `sent`, `acknowledged`, `ignored`, or `open` (pending or sent).
    #[param(value_type = Option<AlertStatusFilter>)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPageOut {
    pub alerts: Vec<AlertOut>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub total_pages: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Kinds to send, comma-separated: `stock`, `reservation`, `order`, `alert`. All by default.
    #[param(value_type = Option<EventKindList>)]
    pub types: Option<String>,
    /// Only events about this item (stock changes and alerts).
    #[param(value_type = Option<Id>)]
    pub product_id: Option<String>,
    /// Resume after this event id (as `Last-Event-ID` does). Without either,
    /// the stream starts with the next event.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// A hold that took a status, as an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationEventOut {
    pub reservation_id: String,
    pub order_id: String,
    pub status: &'static str,
}

/// An order that took a status, as an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventOut {
    pub order_id: String,
    pub status: &'static str,
}

/// Where to push events, signed with `secret`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    #[schema(value_type = Url)]
    pub url: String,
    /// Every delivery is signed with it.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: String,
    /// Kinds to send: `stock`, `reservation`, `order`, `alert`. All when absent.
    #[schema(value_type = Option<Vec<EventKindName>>)]
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    /// The last event delivered or given up on.
    pub last_event_id: i64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    pub created_at: String,
}

impl From<&stock_store::Webhook> for WebhookOut {
    fn from(hook: &stock_store::Webhook) -> WebhookOut {
        WebhookOut {
            id: hook.id.clone(),
            url: hook.url.clone(),
            events: hook.kinds.iter().map(|k| k.as_str()).collect(),
            last_event_id: hook.cursor,
            attempts: hook.attempts,
            created_at: timestamp(hook.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookListOut {
    pub webhooks: Vec<WebhookOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    pub event_id: i64,
    pub attempt: u32,
    /// `delivered`, `retrying` or `failed` (given up).
    pub outcome: &'static str,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: String,
}

impl From<&stock_store::Delivery> for DeliveryOut {
    fn from(d: &stock_store::Delivery) -> DeliveryOut {
        DeliveryOut {
            id: d.id,
            event_id: d.event_id,
            attempt: d.attempt,
            outcome: d.outcome.as_str(),
            status_code: d.status_code,
            error: d.error.clone(),
            duration_ms: d.duration_ms,
            created_at: timestamp(d.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPageOut {
    pub deliveries: Vec<DeliveryOut>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub total_pages: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(value_type = Option<PageNumber>)]
    pub page: Option<u32>,
    #[param(value_type = Option<PageSize>)]
    pub page_size: Option<u32>,
}
