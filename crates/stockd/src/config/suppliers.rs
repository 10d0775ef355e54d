//! `regions` and `suppliers.<name>`: where a supplier's API is, how it is
//! called, where its figures go and when it is synced.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use stock_core::LocationId;
use stock_jobs::supplier_registry::{SupplierEntry, Suppliers, SyncSettings};
use stock_supplier::breaker::BreakerPolicy;
use stock_supplier::haier::{HaierConfig, HaierSupplier, Secret};
use stock_supplier::protocol::ApiPaths;
use stock_supplier::regions::is_county_code;
use stock_supplier::retry::RetryPolicy;
use stock_supplier::CallPolicy;

use super::duration::parse_duration;
use super::schema::Config;

/// Suppliers one service may have.
const SUPPLIERS_MAX: usize = 16;
const SUPPLIER_NAME_LENGTH_MAX: usize = 32;
/// The most calls (first included) one supplier call may make.
const ATTEMPTS_LIMIT: u32 = 10;
/// The most supplier calls a sync keeps in flight.
const SYNC_CONCURRENCY_LIMIT: usize = 64;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegionsConfig {
    /// The region asked for when an address matches nothing and a caller
    /// names none (seed default: 110101, Beijing Dongcheng).
    pub default_county_code: String,
}

impl Default for RegionsConfig {
    fn default() -> Self {
        RegionsConfig {
            default_county_code: "110101".into(),
        }
    }
}

/// A secret in the configuration: read as text, never printed.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SupplierConfig {
    /// The API it speaks: `haier` (the Haier-style open platform).
    pub kind: String,
    pub base_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretText,
    pub customer_code: String,
    pub send_to_code: Option<String>,
    /// Sent with balance queries.
    pub password: Option<SecretText>,
    /// The stock source asked for (`JSH-B`).
    pub source: String,
    /// Where each call goes under `base_url`.
    pub paths: PathsConfig,
    /// One HTTP call, connect to last byte.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// A token is renewed this long before it expires.
    pub token_refresh_margin_s: u64,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    /// Where its figures are written (default `supplier-<name>`).
    pub location: Option<String>,
    pub location_name: Option<String>,
    /// Holds take from locations in priority order; a supplier comes last by default.
    pub location_priority: i64,
    pub products_page_size: u32,
    /// The most products a catalogue read accepts.
    pub products_max: usize,
    pub sync: SupplierSyncConfig,
}

impl Default for SupplierConfig {
    fn default() -> Self {
        SupplierConfig {
            kind: "haier".into(),
            base_url: String::new(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: SecretText::default(),
            customer_code: String::new(),
            send_to_code: None,
            password: None,
            source: "JSH-B".into(),
            paths: PathsConfig::default(),
            timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            token_refresh_margin_s: 60,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            location: None,
            location_name: None,
            location_priority: 1000,
            products_page_size: 100,
            products_max: 100_000,
            sync: SupplierSyncConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    pub stock: String,
    pub products: String,
    pub prices: String,
    pub balance: String,
    pub logistics: String,
}

impl Default for PathsConfig {
    fn default() -> Self {
        let paths = ApiPaths::default();
        PathsConfig {
            stock: paths.stock,
            products: paths.products,
            prices: paths.prices,
            balance: paths.balance,
            logistics: paths.logistics,
        }
    }
}

impl PathsConfig {
    fn each(&self) -> [(&'static str, &str); 5] {
        [
            ("stock", &self.stock),
            ("products", &self.products),
            ("prices", &self.prices),
            ("balance", &self.balance),
            ("logistics", &self.logistics),
        ]
    }

    fn api_paths(&self) -> ApiPaths {
        ApiPaths {
            stock: self.stock.clone(),
            products: self.products.clone(),
            prices: self.prices.clone(),
            balance: self.balance.clone(),
            logistics: self.logistics.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Calls in all, the first included (1: no retry). Only network
    /// errors, timeouts and 5xx are retried.
    pub attempts_max: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts_max: 3,
            base_delay_ms: 200,
            max_delay_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failed calls in a row that open the circuit.
    pub failures_max: u32,
    /// How long an open circuit refuses calls before one may try.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures_max: 5,
            open_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SupplierSyncConfig {
    /// Sync every linked item on a schedule.
    pub enable: bool,
    /// `1h`, `30m`, `600s`.
    pub interval: String,
    /// The region asked for (default: `regions.default_county_code`).
    pub county_code: Option<String>,
    /// Supplier calls in flight at once.
    pub concurrency: usize,
    pub category: Option<String>,
    pub brand: Option<String>,
}

impl Default for SupplierSyncConfig {
    fn default() -> Self {
        SupplierSyncConfig {
            enable: false,
            interval: "1h".into(),
            county_code: None,
            concurrency: 4,
            category: None,
            brand: None,
        }
    }
}

fn http_url(name: &str, field: &str, url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("suppliers.{name}.{field} must be an http:// or https:// URL, not {url:?}");
    }
    Ok(())
}

pub fn check(
    regions: &RegionsConfig,
    suppliers: &BTreeMap<String, SupplierConfig>,
) -> anyhow::Result<()> {
    if !is_county_code(&regions.default_county_code) {
        bail!(
            "regions.default_county_code must be 6 digits, not {:?}",
            regions.default_county_code
        );
    }
    if suppliers.len() > SUPPLIERS_MAX {
        bail!("at most {SUPPLIERS_MAX} suppliers may be configured");
    }
    for (name, supplier) in suppliers {
        check_one(name, supplier).with_context(|| format!("suppliers.{name}"))?;
    }
    Ok(())
}

fn check_one(name: &str, supplier: &SupplierConfig) -> anyhow::Result<()> {
    let good_name = !name.is_empty()
        && name.len() <= SUPPLIER_NAME_LENGTH_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !good_name {
        bail!("a supplier's name must be 1 to {SUPPLIER_NAME_LENGTH_MAX} of a-z, 0-9, - and _");
    }
    if supplier.kind != "haier" {
        bail!(
            "kind must be haier (the only supplier API so far), not {:?}",
            supplier.kind
        );
    }
    http_url(name, "base_url", &supplier.base_url)?;
    http_url(name, "token_url", &supplier.token_url)?;
    for (field, value) in [
        ("client_id", &supplier.client_id),
        ("client_secret", &supplier.client_secret.0),
        ("customer_code", &supplier.customer_code),
        ("source", &supplier.source),
    ] {
        if value.trim().is_empty() {
            bail!("{field} must be set");
        }
    }
    for (field, value) in [
        ("timeout_ms", supplier.timeout_ms),
        ("connect_timeout_ms", supplier.connect_timeout_ms),
        ("breaker.open_ms", supplier.breaker.open_ms),
        ("retry.max_delay_ms", supplier.retry.max_delay_ms),
    ] {
        if value == 0 {
            bail!("{field} must be above 0");
        }
    }
    for (call, path) in supplier.paths.each() {
        let plain = path.starts_with('/')
            && !path.contains("//")
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
        if !plain {
            bail!("paths.{call} must be a path such as /api/stock/check, not {path:?}");
        }
    }
    if !(1..=ATTEMPTS_LIMIT).contains(&supplier.retry.attempts_max) {
        bail!("retry.attempts_max must be 1 to {ATTEMPTS_LIMIT}");
    }
    if supplier.retry.base_delay_ms > supplier.retry.max_delay_ms {
        bail!("retry.base_delay_ms must not be above retry.max_delay_ms");
    }
    if supplier.breaker.failures_max == 0 {
        bail!("breaker.failures_max must be above 0");
    }
    if !(1..=stock_supplier::protocol::PRODUCTS_PAGE_SIZE_MAX)
        .contains(&supplier.products_page_size)
    {
        bail!(
            "products_page_size must be 1 to {}",
            stock_supplier::protocol::PRODUCTS_PAGE_SIZE_MAX
        );
    }
    if supplier.products_max == 0 {
        bail!("products_max must be above 0");
    }
    location(name, supplier)?;
    let sync = &supplier.sync;
    let interval = parse_duration(&sync.interval).context("sync.interval")?;
    if interval < Duration::from_secs(1) {
        bail!("sync.interval must be at least 1s");
    }
    if !(1..=SYNC_CONCURRENCY_LIMIT).contains(&sync.concurrency) {
        bail!("sync.concurrency must be 1 to {SYNC_CONCURRENCY_LIMIT}");
    }
    if let Some(code) = &sync.county_code {
        if !is_county_code(code) {
            bail!("sync.county_code must be 6 digits, not {code:?}");
        }
    }
    Ok(())
}

fn location(name: &str, supplier: &SupplierConfig) -> anyhow::Result<LocationId> {
    let raw = supplier
        .location
        .clone()
        .unwrap_or_else(|| format!("supplier-{name}"));
    LocationId::parse(&raw).map_err(|error| anyhow::anyhow!("location {raw:?} {error}"))
}

/// The client and settings of one configured supplier.
pub fn entry(
    name: &str,
    supplier: &SupplierConfig,
    regions: &RegionsConfig,
) -> anyhow::Result<SupplierEntry> {
    let mut haier = HaierConfig::new(
        name,
        &supplier.base_url,
        &supplier.token_url,
        &supplier.client_id,
        &supplier.client_secret.0,
    );
    haier.customer_code = supplier.customer_code.clone();
    haier.send_to_code = supplier.send_to_code.clone();
    haier.password = supplier.password.as_ref().map(|p| Secret::new(p.0.clone()));
    haier.source = supplier.source.clone();
    haier.paths = supplier.paths.api_paths();
    haier.policy = CallPolicy {
        timeout: Duration::from_millis(supplier.timeout_ms),
        connect_timeout: Duration::from_millis(supplier.connect_timeout_ms),
        retry: RetryPolicy {
            attempts_max: supplier.retry.attempts_max,
            base_delay: Duration::from_millis(supplier.retry.base_delay_ms),
            max_delay: Duration::from_millis(supplier.retry.max_delay_ms),
        },
        breaker: BreakerPolicy {
            failures_max: supplier.breaker.failures_max,
            open_for: Duration::from_millis(supplier.breaker.open_ms),
        },
    };
    haier.token_refresh_margin = Duration::from_secs(supplier.token_refresh_margin_s);
    haier.products_page_size = supplier.products_page_size;
    haier.products_max = supplier.products_max;
    let sync = &supplier.sync;
    Ok(SupplierEntry {
        api: Arc::new(HaierSupplier::new(haier)?),
        kind: "haier",
        location: location(name, supplier)?,
        location_name: supplier
            .location_name
            .clone()
            .unwrap_or_else(|| format!("Supplier {name}")),
        location_priority: supplier.location_priority,
        sync: SyncSettings {
            interval: sync
                .enable
                .then(|| parse_duration(&sync.interval))
                .transpose()?,
            county_code: sync
                .county_code
                .clone()
                .unwrap_or_else(|| regions.default_county_code.clone()),
            concurrency: sync.concurrency,
            category: sync.category.clone(),
            brand: sync.brand.clone(),
        },
        last_sync: Mutex::new(None),
    })
}

/// Every configured supplier, ready to call.
pub fn suppliers(
    regions: &RegionsConfig,
    suppliers: &BTreeMap<String, SupplierConfig>,
) -> anyhow::Result<Suppliers> {
    let entries = suppliers
        .iter()
        .map(|(name, supplier)| entry(name, supplier, regions))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Suppliers::new(entries, regions.default_county_code.clone()))
}

impl Config {
    /// The configured suppliers, ready to call.
    pub fn build_suppliers(&self) -> anyhow::Result<Suppliers> {
        suppliers(&self.regions, &self.suppliers)
    }
}
