//! Asking the supplier before an order or a hold: each line whose item is
//! linked with `check_before_order` is checked at its supplier for the
//! customer's region, before anything is held. It holds nothing itself.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use stock_core::ItemId;
use stock_store::{HoldLineRequest, SupplierLink};

use crate::supplier_registry::{within, Suppliers};
use crate::{JobError, JobResult, Jobs};

/// Supplier calls in flight at once for one order's lines.
const ORDER_CHECK_CONCURRENCY: usize = 8;

/// One line an order would take from a supplier, and what the supplier said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierShortage {
    pub item: ItemId,
    pub supplier: String,
    pub product_code: String,
    pub requested: i64,
    pub available: i64,
}

impl Jobs {
    /// Asks the supplier of each line whose item is linked with
    /// `check_before_order`, for `county_code` (the default region when the
    /// caller named none), each within `budget`. Refuses with
    /// `SupplierShortage` naming every short line, or with the supplier's
    /// failure. Lines of other items are not asked about, and nothing is
    /// asked without a configured supplier. `placed` says whether the order
    /// or hold exists already: a retry replays its first answer, so its
    /// supplier is asked only the first time (and that is looked up only
    /// when someone would be asked).
    pub async fn check_before_order(
        &self,
        lines: &[HoldLineRequest],
        county_code: Option<String>,
        budget: Duration,
        placed: impl Future<Output = anyhow::Result<bool>>,
    ) -> JobResult<()> {
        if self.suppliers.is_empty() {
            return Ok(());
        }
        let items: Vec<ItemId> = lines.iter().map(|line| line.item.clone()).collect();
        let links = self.store.supplier_links_for(&items).await?;
        let asked: Vec<(i64, SupplierLink)> = lines
            .iter()
            .filter_map(|line| {
                let link = links
                    .iter()
                    .find(|l| l.item == line.item && l.check_before_order)?;
                Some((line.quantity, link.clone()))
            })
            .collect();
        if asked.is_empty() || placed.await? {
            return Ok(());
        }
        let county_code = county_code.unwrap_or_else(|| self.suppliers.default_county_code.clone());
        let answers: Vec<JobResult<Option<SupplierShortage>>> =
            stream::iter(asked)
                .map(|(quantity, link)| {
                    let county_code = county_code.clone();
                    async move {
                        ask_for_line(&self.suppliers, quantity, &link, &county_code, budget).await
                    }
                })
                .buffered(ORDER_CHECK_CONCURRENCY)
                .collect()
                .await;
        let mut shortages = Vec::new();
        for answer in answers {
            if let Some(shortage) = answer? {
                shortages.push(shortage);
            }
        }
        if shortages.is_empty() {
            return Ok(());
        }
        Err(JobError::SupplierShortage {
            county_code,
            shortages,
        })
    }
}

async fn ask_for_line(
    suppliers: &Suppliers,
    quantity: i64,
    link: &SupplierLink,
    county_code: &str,
    budget: Duration,
) -> JobResult<Option<SupplierShortage>> {
    let entry = suppliers
        .get(&link.supplier)
        .ok_or_else(|| JobError::SupplierNotConfigured {
            item: link.item.clone(),
            supplier: link.supplier.clone(),
        })?;
    let quote = within(
        budget,
        &link.supplier,
        entry.api.check_stock(&link.product_code, county_code, None),
    )
    .await?;
    Ok((quote.stock < quantity).then(|| SupplierShortage {
        item: link.item.clone(),
        supplier: link.supplier.clone(),
        product_code: link.product_code.clone(),
        requested: quantity,
        available: quote.stock,
    }))
}
