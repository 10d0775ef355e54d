//! Supplier calls made for a request: within the request's time, with the
//! supplier's failure as the request's answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stock_jobs::supplier_registry::within;
use stock_jobs::SupplierEntry;
use stock_store::HoldLineRequest;
use stock_supplier::SupplierError;

use crate::error::ApiError;
use crate::region_input::RegionInput;
use crate::AppState;

impl AppState {
    /// The time a request may spend waiting for a supplier: its own timeout
    /// less a margin to write the answer.
    pub(crate) fn supplier_budget(&self) -> Duration {
        let timeout = self.config.request_timeout;
        timeout
            .saturating_sub(timeout / 10)
            .max(Duration::from_millis(100))
    }

    /// A supplier call made for a request, so that a slow supplier is a 504
    /// `SUPPLIER_TIMEOUT` naming it, not a bare timeout.
    pub(crate) async fn ask_supplier<T>(
        &self,
        supplier: &str,
        call: impl Future<Output = Result<T, SupplierError>>,
    ) -> Result<T, ApiError> {
        within(self.supplier_budget(), supplier, call)
            .await
            .map_err(ApiError::from)
    }

    /// The supplier a route names, or a 404.
    pub(crate) fn named_supplier(&self, name: &str) -> Result<&Arc<SupplierEntry>, ApiError> {
        self.jobs.suppliers.get(name).ok_or_else(|| {
            let name = crate::error::quoted(name);
            ApiError::not_found(format!("supplier {name} is not configured"))
                .with_details(json!({ "entity": "supplier", "id": name }))
        })
    }

    /// Before an order or a hold: a bad region is a 400 whether or not a
    /// supplier is configured; then each line linked with
    /// `check_before_order` is asked about at its supplier (see
    /// `Jobs::check_before_order`).
    pub(crate) async fn check_before_order(
        &self,
        lines: &[HoldLineRequest],
        region: &RegionInput,
        placed: impl Future<Output = anyhow::Result<bool>>,
    ) -> Result<(), ApiError> {
        let resolved = region.resolve(&self.jobs.suppliers.default_county_code)?;
        self.jobs
            .check_before_order(
                lines,
                resolved.map(|r| r.county_code),
                self.supplier_budget(),
                placed,
            )
            .await
            .map_err(ApiError::from)
    }
}
