//! The configured suppliers: which connector each one is, where its stock
//! goes, how it is synced, and what its last sync found.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stock_core::LocationId;
use stock_store::Store;
use stock_supplier::{Supplier, SupplierError};

use crate::supplier_sync::SyncSummary;

/// `suppliers.<name>.sync.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// How often the whole supplier is synced; `None`: only on request.
    pub interval: Option<Duration>,
    /// The region the scheduled sync (and a sync that names none) asks for.
    pub county_code: String,
    /// Supplier calls in flight at once.
    pub concurrency: usize,
    pub category: Option<String>,
    pub brand: Option<String>,
}

/// One configured supplier and where its stock goes.
#[derive(Debug)]
pub struct SupplierEntry {
    pub api: Arc<dyn Supplier>,
    /// `haier`, for status pages.
    pub kind: &'static str,
    /// The location the supplier's figures are written at.
    pub location: LocationId,
    pub location_name: String,
    /// Where it comes when a hold picks locations (higher comes later).
    pub location_priority: i64,
    pub sync: SyncSettings,
    /// What the last batch sync found, for status pages.
    pub last_sync: Mutex<Option<LastSync>>,
}

#[derive(Debug, Clone)]
pub struct LastSync {
    pub finished_at_ms: i64,
    pub summary: SyncSummary,
}

impl SupplierEntry {
    /// Keeps a sync's summary for status pages.
    pub fn record_sync(&self, summary: SyncSummary) {
        *self.last_sync.lock().expect("last sync lock") = Some(LastSync {
            finished_at_ms: stock_store::now_ms(),
            summary,
        });
    }
}

/// Every configured supplier, and the region used when a caller names none.
#[derive(Debug, Clone)]
pub struct Suppliers {
    entries: Arc<BTreeMap<String, Arc<SupplierEntry>>>,
    pub default_county_code: String,
}

impl Default for Suppliers {
    fn default() -> Self {
        Suppliers {
            entries: Arc::new(BTreeMap::new()),
            default_county_code: "110101".to_owned(),
        }
    }
}

impl Suppliers {
    pub fn new(entries: Vec<SupplierEntry>, default_county_code: String) -> Suppliers {
        let entries = entries
            .into_iter()
            .map(|entry| (entry.api.name().to_owned(), Arc::new(entry)))
            .collect();
        Suppliers {
            entries: Arc::new(entries),
            default_county_code,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<SupplierEntry>> {
        self.entries.get(name)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<SupplierEntry>> {
        self.entries.values()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each supplier with how many items are linked to it, in one read.
    pub async fn with_link_counts(
        &self,
        store: &dyn Store,
    ) -> anyhow::Result<Vec<(&Arc<SupplierEntry>, u64)>> {
        let counts: BTreeMap<String, u64> =
            store.supplier_link_counts().await?.into_iter().collect();
        Ok(self
            .entries()
            .map(|entry| (entry, counts.get(entry.api.name()).copied().unwrap_or(0)))
            .collect())
    }
}

/// Runs a supplier call within `budget`, so that a slow supplier is a
/// `Timeout` naming it rather than an anonymous one.
pub async fn within<T>(
    budget: Duration,
    supplier: &str,
    call: impl Future<Output = Result<T, SupplierError>>,
) -> Result<T, SupplierError> {
    match tokio::time::timeout(budget, call).await {
        Ok(result) => result,
        Err(_) => Err(SupplierError::Timeout {
            supplier: supplier.to_owned(),
            timeout_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}
