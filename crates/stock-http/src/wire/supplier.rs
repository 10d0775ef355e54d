//! Bodies of the supplier routes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    timestamp, AddressLine, AddressPart, Code, CodeFilter, CodeList, CountyCode, ItemOut, LedgerOut,
};
use stock_jobs::supplier_sync::{ItemSync, ItemSyncResult, SyncSummary};

use crate::region_input::{RegionInput, ResolvedRegion};

/// A customer's region: a 6-digit county code, or an address as parts or as
/// one line. Give one of the three shapes.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegionIn {
    /// The 6-digit administrative code, e.g. `110105`; not with an address.
    #[schema(value_type = Option<CountyCode>)]
    #[param(value_type = Option<CountyCode>)]
    pub county_code: Option<String>,
    /// e.g. `北京市` or `北京`; not with `address`.
    #[schema(value_type = Option<AddressPart>)]
    #[param(value_type = Option<AddressPart>)]
    pub province: Option<String>,
    #[schema(value_type = Option<AddressPart>)]
    #[param(value_type = Option<AddressPart>)]
    pub city: Option<String>,
    #[schema(value_type = Option<AddressPart>)]
    #[param(value_type = Option<AddressPart>)]
    pub district: Option<String>,
    /// One free-text line, e.g. `广东省深圳市南山区科技园`.
    #[schema(value_type = Option<AddressLine>)]
    #[param(value_type = Option<AddressLine>)]
    pub address: Option<String>,
}

impl From<&RegionIn> for RegionInput {
    fn from(region: &RegionIn) -> Self {
        let part = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        RegionInput {
            county_code: part(&region.county_code),
            province: part(&region.province),
            city: part(&region.city),
            district: part(&region.district),
            address: part(&region.address),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionOut {
    pub county_code: String,
    /// `given`, `district`, `city`, `province`, or `default` (nothing matched:
    /// the configured default region).
    pub matched_level: &'static str,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
}

impl From<ResolvedRegion> for RegionOut {
    fn from(region: ResolvedRegion) -> Self {
        RegionOut {
            county_code: region.county_code,
            matched_level: region.matched_level,
            province: region.province,
            city: region.city,
            district: region.district,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierOut {
    pub name: String,
    /// The API it speaks: `haier`.
    pub kind: &'static str,
    /// Where its figures are written.
    pub location: String,
    /// `closed` (calls go through), `open` (failing: refused at once) or `half_open`.
    pub circuit: &'static str,
    /// Seconds between scheduled syncs; null: only on request.
    pub sync_interval_seconds: Option<u64>,
    pub sync_county_code: String,
    /// Items linked to its products.
    pub linked_items: u64,
    pub last_sync: Option<SyncSummaryOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierListOut {
    pub suppliers: Vec<SupplierOut>,
    /// The region used when a caller names none.
    pub default_county_code: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SupplierStockQuery {
    /// The supplier's product code, e.g. `GA0SZC00U`.
    #[param(value_type = Code, required = true)]
    pub product_code: Option<String>,
    /// Stock source; the supplier's configured one if absent.
    #[param(value_type = Option<Code>)]
    pub source: Option<String>,
    #[param(value_type = Option<CountyCode>)]
    pub county_code: Option<String>,
    #[param(value_type = Option<AddressPart>)]
    pub province: Option<String>,
    #[param(value_type = Option<AddressPart>)]
    pub city: Option<String>,
    #[param(value_type = Option<AddressPart>)]
    pub district: Option<String>,
    #[param(value_type = Option<AddressLine>)]
    pub address: Option<String>,
}

impl SupplierStockQuery {
    pub fn region(&self) -> RegionIn {
        RegionIn {
            county_code: self.county_code.clone(),
            province: self.province.clone(),
            city: self.city.clone(),
            district: self.district.clone(),
            address: self.address.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierStockOut {
    pub supplier: String,
    pub product_code: String,
    pub county_code: String,
    pub matched_level: &'static str,
    pub stock: i64,
    /// The supplier's location code (`secCode`).
    pub sec_code: Option<String>,
    /// `0`: the region's own warehouse; `1`: one above it.
    pub warehouse_grade: Option<String>,
    /// Cut-off and delivery times, as the supplier gives them.
    #[schema(value_type = Object)]
    pub timeliness_data: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SupplierProductsQuery {
    /// Comma-separated product codes.
    #[param(value_type = Option<CodeFilter>)]
    pub product_codes: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierProductOut {
    pub product_code: String,
    pub name: String,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub model: Option<String>,
    /// The stockd item linked to it, if any.
    pub product_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierProductsOut {
    pub supplier: String,
    pub products: Vec<SupplierProductOut>,
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PricesQuery {
    /// Comma-separated product codes.
    #[param(value_type = CodeList, required = true)]
    pub product_codes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceOut {
    pub product_code: String,
    /// A decimal string, e.g. `3299.00`.
    pub price: String,
    pub market_price: Option<String>,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PricesOut {
    pub supplier: String,
    pub prices: Vec<PriceOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceOut {
    pub supplier: String,
    pub balance: String,
    pub credit_limit: Option<String>,
    pub currency: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogisticsQueryIn {
    /// The supplier's order code.
    #[param(value_type = Code, required = true)]
    pub order_code: Option<String>,
    #[param(value_type = Option<Code>)]
    pub delivery_record_code: Option<String>,
    #[param(value_type = Option<Code>)]
    pub member_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogisticsOut {
    pub supplier: String,
    pub order_code: String,
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// `{time, description}`, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierLinkIn {
    /// A configured supplier.
    pub supplier: String,
    /// The supplier's code for this item.
    #[schema(value_type = Code)]
    pub product_code: String,
    /// Ask the supplier before an order or hold of this item (default true).
    pub check_before_order: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierLinkOut {
    pub product_id: String,
    pub supplier: String,
    pub product_code: String,
    pub check_before_order: bool,
    /// The supplier's last figure and its region.
    pub last_stock: Option<i64>,
    pub last_county_code: Option<String>,
    pub last_synced_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&stock_store::SupplierLink> for SupplierLinkOut {
    fn from(link: &stock_store::SupplierLink) -> Self {
        SupplierLinkOut {
            product_id: link.item.to_string(),
            supplier: link.supplier.clone(),
            product_code: link.product_code.clone(),
            check_before_order: link.check_before_order,
            last_stock: link.last_stock,
            last_county_code: link.last_county_code.clone(),
            last_synced_at: link.last_synced_at_ms.map(timestamp),
            created_at: timestamp(link.created_at_ms),
            updated_at: timestamp(link.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierSyncOut {
    pub item: ItemOut,
    /// The `sync` ledger row, when the level moved.
    pub entries: Vec<LedgerOut>,
    pub supplier: String,
    pub product_code: String,
    pub county_code: String,
    pub matched_level: &'static str,
    /// The supplier's figure.
    pub supplier_stock: i64,
    /// Whether the level moved.
    pub changed: bool,
    /// How far the figure is below what is held at the supplier's location
    /// (held stock stays held; on hand went no lower than reserved).
    pub shortfall: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemSyncOut {
    pub product_id: String,
    pub product_code: String,
    /// `updated`, `unchanged` or `failed`.
    pub result: &'static str,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub reason: Option<String>,
}

impl From<&ItemSync> for ItemSyncOut {
    fn from(item: &ItemSync) -> Self {
        let (result, before, after, reason) = match &item.result {
            ItemSyncResult::Updated { before, after, .. } => {
                ("updated", Some(*before), Some(*after), None)
            }
            ItemSyncResult::Unchanged { on_hand } => {
                ("unchanged", Some(*on_hand), Some(*on_hand), None)
            }
            ItemSyncResult::Failed { reason } => ("failed", None, None, Some(reason.clone())),
        };
        ItemSyncOut {
            product_id: item.product_id.to_string(),
            product_code: item.product_code.clone(),
            result,
            before,
            after,
            reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncSummaryOut {
    pub supplier: String,
    pub county_code: String,
    pub dry_run: bool,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub not_linked: u64,
    pub failures: Vec<ItemSyncOut>,
    pub finished_at: Option<String>,
}

impl SyncSummaryOut {
    pub fn new(summary: &SyncSummary, finished_at_ms: Option<i64>) -> SyncSummaryOut {
        SyncSummaryOut {
            supplier: summary.supplier.clone(),
            county_code: summary.county_code.clone(),
            dry_run: summary.dry_run,
            updated: summary.updated,
            unchanged: summary.unchanged,
            failed: summary.failed(),
            not_linked: summary.not_linked,
            failures: summary.failures.iter().map(ItemSyncOut::from).collect(),
            finished_at: finished_at_ms.map(timestamp),
        }
    }
}
