//! Supplier syncs: asking a supplier for the stock of every linked item and
//! writing each figure through the engine (for the CLI, the console, the
//! API and the schedule).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use stock_core::{ItemId, LocationId};
use stock_engine::Engine;
use stock_store::{Command, ItemView, Outcome, Store, SupplierLink};
use stock_supplier::{ProductQuery, StockQuote};

use crate::schedule::{every, FirstRound};
use crate::supplier_registry::SupplierEntry;
use crate::{submit, JobResult, Jobs};

/// Who a scheduled sync writes as.
pub const SUPPLIER_SYNC: &str = "supplier-sync";

/// The command that writes a supplier's figure for one item.
pub fn sync_command(entry: &SupplierEntry, item: &ItemId, quote: &StockQuote) -> Command {
    Command::SyncSupplierStock {
        item: item.clone(),
        location: entry.location.clone(),
        location_name: entry.location_name.clone(),
        location_priority: entry.location_priority,
        stock: quote.stock,
        supplier: entry.api.name().to_owned(),
        county_code: quote.county_code.clone(),
    }
}

/// How one item of a sync went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemSyncResult {
    /// The level moved (or, in a dry run, would move) from `before` to `after`.
    Updated {
        before: i64,
        after: i64,
        shortfall: i64,
    },
    Unchanged {
        on_hand: i64,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSync {
    pub product_id: ItemId,
    pub product_code: String,
    pub result: ItemSyncResult,
}

/// What a batch sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub supplier: String,
    pub county_code: String,
    pub dry_run: bool,
    pub updated: u64,
    pub unchanged: u64,
    /// The supplier's products (of the category or brand asked for) that no
    /// item is linked to: nothing to write them into.
    pub not_linked: u64,
    pub failures: Vec<ItemSync>,
    pub changes: Vec<ItemSync>,
}

impl SyncSummary {
    pub fn failed(&self) -> u64 {
        self.failures.len() as u64
    }

    fn add(&mut self, outcome: ItemSync) {
        match &outcome.result {
            ItemSyncResult::Updated { .. } => {
                self.updated += 1;
                self.changes.push(outcome);
            }
            ItemSyncResult::Unchanged { .. } => self.unchanged += 1,
            ItemSyncResult::Failed { .. } => self.failures.push(outcome),
        }
    }
}

/// What to sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRequest {
    pub county_code: String,
    pub category: Option<String>,
    pub brand: Option<String>,
    /// Ask the supplier and report, but write nothing.
    pub dry_run: bool,
    pub concurrency: usize,
}

/// Told of a sync's progress: how many items in all, then each one done.
pub trait SyncProgress: Send + Sync {
    fn start(&self, total: u64);
    fn done(&self, item: &ItemSync);
}

/// A sync that reports to nobody.
pub struct Quiet;

impl SyncProgress for Quiet {
    fn start(&self, _: u64) {}
    fn done(&self, _: &ItemSync) {}
}

/// Syncs every item linked to the supplier (only those whose supplier
/// product is of `category` and `brand`, when given): asks the supplier for
/// each, at most `concurrency` at once, and writes each figure through the
/// engine. A failed item does not stop the others.
pub async fn sync_supplier(
    engine: &Engine,
    store: &dyn Store,
    entry: &SupplierEntry,
    request: &SyncRequest,
    operator: &str,
    progress: &dyn SyncProgress,
) -> JobResult<SyncSummary> {
    let mut summary = SyncSummary {
        supplier: entry.api.name().to_owned(),
        county_code: request.county_code.clone(),
        dry_run: request.dry_run,
        ..SyncSummary::default()
    };
    let mut links = store.supplier_links(entry.api.name()).await?;
    if request.category.is_some() || request.brand.is_some() {
        let products = entry
            .api
            .products(&ProductQuery {
                product_codes: Vec::new(),
                category: request.category.clone(),
                brand: request.brand.clone(),
            })
            .await?;
        let codes: std::collections::HashSet<&str> =
            products.iter().map(|p| p.product_code.as_str()).collect();
        let linked: std::collections::HashSet<&str> =
            links.iter().map(|l| l.product_code.as_str()).collect();
        summary.not_linked = codes.difference(&linked).count() as u64;
        links.retain(|link| codes.contains(link.product_code.as_str()));
    }
    progress.start(links.len() as u64);
    let concurrency = request.concurrency.max(1);
    let mut outcomes = stream::iter(links)
        .map(|link| async move { sync_one(engine, store, entry, &link, request, operator).await })
        .buffer_unordered(concurrency);
    while let Some(outcome) = outcomes.next().await {
        progress.done(&outcome);
        summary.add(outcome);
    }
    summary
        .failures
        .sort_by(|a, b| a.product_code.cmp(&b.product_code));
    summary
        .changes
        .sort_by(|a, b| a.product_code.cmp(&b.product_code));
    Ok(summary)
}

async fn sync_one(
    engine: &Engine,
    store: &dyn Store,
    entry: &SupplierEntry,
    link: &SupplierLink,
    request: &SyncRequest,
    operator: &str,
) -> ItemSync {
    let result = match entry
        .api
        .check_stock(&link.product_code, &request.county_code, None)
        .await
    {
        Err(error) => ItemSyncResult::Failed {
            reason: error.to_string(),
        },
        Ok(quote) if request.dry_run => preview(store, entry, &link.item, quote.stock).await,
        Ok(quote) => write(engine, entry, &link.item, &quote, operator).await,
    };
    ItemSync {
        product_id: link.item.clone(),
        product_code: link.product_code.clone(),
        result,
    }
}

/// What a sync would do, from the level as it is now: the same rule the
/// write applies, without writing.
async fn preview(
    store: &dyn Store,
    entry: &SupplierEntry,
    item: &ItemId,
    stock: i64,
) -> ItemSyncResult {
    let view = match store.item(item).await {
        Err(error) => {
            return ItemSyncResult::Failed {
                reason: format!("reading the item: {error:#}"),
            }
        }
        Ok(None) => {
            return ItemSyncResult::Failed {
                reason: format!("item {item} not found"),
            }
        }
        Ok(Some(view)) => view,
    };
    let level = view
        .level_at(&entry.location)
        .map(|l| l.level)
        .unwrap_or_default();
    match stock_core::sync_on_hand(&view.item, &level, stock) {
        Err(error) => ItemSyncResult::Failed {
            reason: error.to_string(),
        },
        Ok(None) => ItemSyncResult::Unchanged {
            on_hand: level.on_hand,
        },
        Ok(Some(transition)) => ItemSyncResult::Updated {
            before: transition.before.on_hand,
            after: transition.after.on_hand,
            shortfall: transition.after.on_hand - stock,
        },
    }
}

/// On hand and reserved at a location (0 and 0 where there is no level yet).
fn level_at(view: &ItemView, location: &LocationId) -> (i64, i64) {
    view.level_at(location)
        .map_or((0, 0), |l| (l.level.on_hand, l.level.reserved))
}

async fn write(
    engine: &Engine,
    entry: &SupplierEntry,
    item: &ItemId,
    quote: &StockQuote,
    operator: &str,
) -> ItemSyncResult {
    match submit(engine, sync_command(entry, item, quote), operator).await {
        Ok(Outcome::SupplierSynced {
            view,
            entry: synced,
            shortfall,
        }) => match synced {
            Some(row) => ItemSyncResult::Updated {
                before: row.on_hand_before,
                after: row.on_hand_after,
                shortfall,
            },
            None => ItemSyncResult::Unchanged {
                on_hand: level_at(&view, &entry.location).0,
            },
        },
        Err(error) => ItemSyncResult::Failed {
            reason: error.to_string(),
        },
        Ok(other) => ItemSyncResult::Failed {
            reason: format!("unexpected answer from the write path: {other:?}"),
        },
    }
}

impl Jobs {
    /// Runs every supplier's scheduled sync, each at its own interval. The
    /// first round waits one interval, so a start is not slowed by it.
    pub(crate) fn spawn_supplier_syncs(&self) {
        for entry in self.suppliers.entries() {
            let Some(interval) = entry.sync.interval else {
                continue;
            };
            let entry = Arc::clone(entry);
            let jobs = self.clone();
            every(interval, FirstRound::AfterInterval, move || {
                let (jobs, entry) = (jobs.clone(), Arc::clone(&entry));
                async move { jobs.scheduled_supplier_sync(&entry).await }
            });
        }
    }

    async fn scheduled_supplier_sync(&self, entry: &SupplierEntry) {
        let request = SyncRequest {
            county_code: entry.sync.county_code.clone(),
            category: entry.sync.category.clone(),
            brand: entry.sync.brand.clone(),
            dry_run: false,
            concurrency: entry.sync.concurrency,
        };
        let started = std::time::Instant::now();
        match sync_supplier(
            &self.engine,
            self.store.as_ref(),
            entry,
            &request,
            SUPPLIER_SYNC,
            &Quiet,
        )
        .await
        {
            Ok(summary) => {
                let failed = summary.failed();
                if failed > 0 {
                    tracing::warn!(supplier = %summary.supplier, updated = summary.updated, unchanged = summary.unchanged,
                        failed, "scheduled supplier sync: some items failed");
                } else {
                    tracing::info!(supplier = %summary.supplier, updated = summary.updated, unchanged = summary.unchanged,
                        elapsed_ms = started.elapsed().as_millis() as u64, "scheduled supplier sync done");
                }
                entry.record_sync(summary);
            }
            Err(error) => {
                tracing::warn!(supplier = %entry.api.name(), error = %error, "scheduled supplier sync failed")
            }
        }
    }
}
