//! Supplier stock: the configured suppliers, the supplier's figure written
//! into an item's level at the supplier's location, batch syncs (for the
//! CLI, the schedule and the API), and asking the supplier before an order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use stock_core::{ItemId, LocationId};
use stock_engine::Engine;
use stock_store::{
    Command, HoldLineRequest, ItemView, Outcome, Reply, Store, SupplierLink, WriteMeta,
};
use stock_supplier::regions::{is_county_code, RegionQuery, Regions};
use stock_supplier::{ProductQuery, StockQuote, Supplier, SupplierError};

use crate::error::ApiError;
use crate::AppState;

/// The longest address part or line a caller may send.
pub const ADDRESS_PART_LENGTH_MAX: usize = 100;
pub const ADDRESS_LINE_LENGTH_MAX: usize = 300;
/// Supplier calls in flight at once for one order's lines.
const ORDER_CHECK_CONCURRENCY: usize = 8;

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

    /// The supplier a route names, or a 404.
    pub fn named(&self, name: &str) -> Result<&Arc<SupplierEntry>, ApiError> {
        self.get(name).ok_or_else(|| {
            let name = crate::error::quoted(name);
            ApiError::not_found(format!("supplier {name} is not configured"))
                .with_details(json!({ "entity": "supplier", "id": name }))
        })
    }
}

/// A region as a caller gives it: a county code, or an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionInput {
    pub county_code: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub address: Option<String>,
}

/// A county code and how it was found: `given`, or the resolver's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRegion {
    pub county_code: String,
    pub matched_level: &'static str,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
}

impl RegionInput {
    fn has_address(&self) -> bool {
        self.province.is_some()
            || self.city.is_some()
            || self.district.is_some()
            || self.address.is_some()
    }

    /// The county code: given, resolved from the address, or `None` when the
    /// caller said nothing. Bad or conflicting input is a 400.
    pub fn resolve(&self, default_code: &str) -> Result<Option<ResolvedRegion>, ApiError> {
        self.check()?;
        if let Some(code) = &self.county_code {
            return Ok(Some(ResolvedRegion {
                county_code: code.clone(),
                matched_level: "given",
                province: None,
                city: None,
                district: None,
            }));
        }
        let query = match (&self.address, self.has_address()) {
            (Some(line), _) => RegionQuery::Address(line.clone()),
            (None, true) => RegionQuery::Parts {
                province: self.province.clone(),
                city: self.city.clone(),
                district: self.district.clone(),
            },
            (None, false) => return Ok(None),
        };
        let found = Regions::builtin().resolve(&query, default_code);
        Ok(Some(ResolvedRegion {
            county_code: found.county_code,
            matched_level: found.matched_level.as_str(),
            province: found.province,
            city: found.city,
            district: found.district,
        }))
    }

    fn check(&self) -> Result<(), ApiError> {
        if let Some(code) = &self.county_code {
            if !is_county_code(code) {
                return Err(ApiError::field("county_code", "must be 6 digits"));
            }
            if self.has_address() {
                return Err(ApiError::field(
                    "county_code",
                    "comes instead of an address, not with one",
                ));
            }
        }
        if self.address.is_some()
            && (self.province.is_some() || self.city.is_some() || self.district.is_some())
        {
            return Err(ApiError::field(
                "address",
                "comes instead of province, city and district, not with them",
            ));
        }
        for (field, value) in [
            ("province", &self.province),
            ("city", &self.city),
            ("district", &self.district),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > ADDRESS_PART_LENGTH_MAX)
            {
                return Err(ApiError::field(
                    field,
                    format!("may be at most {ADDRESS_PART_LENGTH_MAX} characters"),
                ));
            }
        }
        if self
            .address
            .as_ref()
            .is_some_and(|v| v.chars().count() > ADDRESS_LINE_LENGTH_MAX)
        {
            return Err(ApiError::field(
                "address",
                format!("may be at most {ADDRESS_LINE_LENGTH_MAX} characters"),
            ));
        }
        Ok(())
    }
}

/// What a supplier call's failure is to a caller of stockd.
pub fn supplier_error(error: &SupplierError) -> ApiError {
    use axum::http::StatusCode;
    let message = error.to_string();
    let (status, code) = match error {
        SupplierError::Auth { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_AUTH_FAILED"),
        SupplierError::NotFound { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        SupplierError::Refused { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_REFUSED"),
        SupplierError::Unavailable { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_UNAVAILABLE"),
        SupplierError::Malformed { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_BAD_RESPONSE"),
        SupplierError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "SUPPLIER_TIMEOUT"),
        SupplierError::CircuitOpen { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "SUPPLIER_CIRCUIT_OPEN")
        }
    };
    let mut details = json!({ "supplier": error.supplier() });
    if let SupplierError::CircuitOpen { retry_after_ms, .. } = error {
        details["retry_after_ms"] = json!(retry_after_ms);
    }
    ApiError::new(status, code, message).with_details(details)
}

/// Runs a supplier call inside what is left of a request's time, so that a
/// slow supplier is a 504 `SUPPLIER_TIMEOUT` naming it, not a bare timeout.
async fn within<T>(
    budget: Duration,
    supplier: &str,
    call: impl std::future::Future<Output = Result<T, SupplierError>>,
) -> Result<T, SupplierError> {
    match tokio::time::timeout(budget, call).await {
        Ok(result) => result,
        Err(_) => Err(SupplierError::Timeout {
            supplier: supplier.to_owned(),
            timeout_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// A supplier call made for a request: within the request's time, and its
/// failure as the request's answer.
pub async fn ask<T>(
    state: &AppState,
    supplier: &str,
    call: impl std::future::Future<Output = Result<T, SupplierError>>,
) -> Result<T, ApiError> {
    within(request_budget(state), supplier, call)
        .await
        .map_err(|error| supplier_error(&error))
}

/// The time a request may spend waiting for a supplier: its own timeout
/// less a margin to write the answer.
fn request_budget(state: &AppState) -> Duration {
    let timeout = state.config.request_timeout;
    timeout
        .saturating_sub(timeout / 10)
        .max(Duration::from_millis(100))
}

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

/// Why a whole sync could not run (one item's failure is in its summary).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Asking the supplier for its catalogue (for a category or brand).
    #[error(transparent)]
    Supplier(#[from] SupplierError),
    #[error("reading the supplier's links: {0:#}")]
    Store(anyhow::Error),
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Supplier(error) => supplier_error(&error),
            SyncError::Store(error) => ApiError::internal(&error),
        }
    }
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
) -> Result<SyncSummary, SyncError> {
    let mut summary = SyncSummary {
        supplier: entry.api.name().to_owned(),
        county_code: request.county_code.clone(),
        dry_run: request.dry_run,
        ..SyncSummary::default()
    };
    let mut links = store
        .supplier_links(entry.api.name())
        .await
        .map_err(SyncError::Store)?;
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
    let meta = WriteMeta {
        operator: operator.to_owned(),
        trace_id: None,
        idempotency: None,
    };
    match engine.submit(sync_command(entry, item, quote), meta).await {
        Reply::Fresh(Ok(Outcome::SupplierSynced {
            view,
            entry: synced,
            shortfall,
        })) => match synced {
            Some(row) => ItemSyncResult::Updated {
                before: row.on_hand_before,
                after: row.on_hand_after,
                shortfall,
            },
            None => ItemSyncResult::Unchanged {
                on_hand: level_at(&view, &entry.location).0,
            },
        },
        Reply::Fresh(Err(error)) => ItemSyncResult::Failed {
            reason: error.to_string(),
        },
        other => ItemSyncResult::Failed {
            reason: format!("unexpected answer from the write path: {other:?}"),
        },
    }
}

/// Runs every supplier's scheduled sync, each at its own interval. The
/// first round waits one interval, so a start is not slowed by it.
pub fn spawn_supplier_sync(state: AppState) {
    for entry in state.suppliers.entries() {
        let Some(interval) = entry.sync.interval else {
            continue;
        };
        let entry = Arc::clone(entry);
        let state = state.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                scheduled_round(&state, &entry).await;
            }
        });
    }
}

async fn scheduled_round(state: &AppState, entry: &SupplierEntry) {
    let request = SyncRequest {
        county_code: entry.sync.county_code.clone(),
        category: entry.sync.category.clone(),
        brand: entry.sync.brand.clone(),
        dry_run: false,
        concurrency: entry.sync.concurrency,
    };
    let started = std::time::Instant::now();
    match sync_supplier(
        &state.engine,
        state.store.as_ref(),
        entry,
        &request,
        "supplier-sync",
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
            record_sync(entry, summary);
        }
        Err(error) => {
            tracing::warn!(supplier = %entry.api.name(), error = %error, "scheduled supplier sync failed")
        }
    }
}

/// Keeps a sync's summary for status pages.
pub fn record_sync(entry: &SupplierEntry, summary: SyncSummary) {
    *entry.last_sync.lock().expect("last sync lock") = Some(LastSync {
        finished_at_ms: stock_store::now_ms(),
        summary,
    });
}

/// One line an order would take from a supplier, and what the supplier said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierShortage {
    pub item: ItemId,
    pub supplier: String,
    pub product_code: String,
    pub requested: i64,
    pub available: i64,
}

/// Before an order or a hold: asks the supplier of each line whose item is
/// linked with `check_before_order`, for the customer's region (the default
/// region when the caller named none). Refuses with 409
/// `SUPPLIER_INSUFFICIENT_STOCK` naming every short line, or with the
/// supplier's failure (502/503/504). Lines of other items are not asked
/// about, and nothing is asked without a configured supplier; a bad region
/// is a 400 either way. `placed` says whether the order or hold exists
/// already: a retry replays its first answer, so its supplier is asked only
/// the first time (and that is looked up only when someone would be asked).
pub async fn check_before_order(
    state: &AppState,
    lines: &[HoldLineRequest],
    region: &RegionInput,
    placed: impl std::future::Future<Output = anyhow::Result<bool>>,
) -> Result<(), ApiError> {
    let resolved = region.resolve(&state.suppliers.default_county_code)?;
    if state.suppliers.is_empty() {
        return Ok(());
    }
    let items: Vec<ItemId> = lines.iter().map(|line| line.item.clone()).collect();
    let links = state.store.supplier_links_for(&items).await?;
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
    let county_code = resolved
        .map(|r| r.county_code)
        .unwrap_or_else(|| state.suppliers.default_county_code.clone());
    let budget = request_budget(state);
    let answers: Vec<Result<Option<SupplierShortage>, ApiError>> = stream::iter(asked)
        .map(|(quantity, link)| {
            let suppliers = state.suppliers.clone();
            let county_code = county_code.clone();
            async move { ask_for_line(&suppliers, quantity, &link, &county_code, budget).await }
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
    Err(insufficient(&shortages, &county_code))
}

async fn ask_for_line(
    suppliers: &Suppliers,
    quantity: i64,
    link: &SupplierLink,
    county_code: &str,
    budget: Duration,
) -> Result<Option<SupplierShortage>, ApiError> {
    let entry = suppliers.get(&link.supplier).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "SUPPLIER_NOT_CONFIGURED",
            format!(
                "item {} is linked to supplier {}, which is not configured",
                link.item, link.supplier
            ),
        )
        .with_details(json!({ "product_id": link.item.as_str(), "supplier": link.supplier }))
    })?;
    let quote = within(
        budget,
        &link.supplier,
        entry.api.check_stock(&link.product_code, county_code, None),
    )
    .await
    .map_err(|error| supplier_error(&error))?;
    Ok((quote.stock < quantity).then(|| SupplierShortage {
        item: link.item.clone(),
        supplier: link.supplier.clone(),
        product_code: link.product_code.clone(),
        requested: quantity,
        available: quote.stock,
    }))
}

fn insufficient(shortages: &[SupplierShortage], county_code: &str) -> ApiError {
    let named: Vec<String> = shortages
        .iter()
        .map(|s| {
            format!(
                "{} ({} at {}: requested {}, available {})",
                s.item, s.product_code, s.supplier, s.requested, s.available
            )
        })
        .collect();
    let lines: Vec<serde_json::Value> = shortages
        .iter()
        .map(|s| {
            json!({
                "product_id": s.item.as_str(),
                "supplier": s.supplier,
                "product_code": s.product_code,
                "requested": s.requested,
                "available": s.available,
            })
        })
        .collect();
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "SUPPLIER_INSUFFICIENT_STOCK",
        format!(
            "the supplier has too little stock for region {county_code}: {}",
            named.join("; ")
        ),
    )
    .with_details(json!({ "county_code": county_code, "unavailable_products": lines }))
}
