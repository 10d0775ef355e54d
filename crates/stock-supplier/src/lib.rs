//! Supplier connectors: a supplier's stock API behind one trait.
//!
//! A shop whose real stock lives at a supplier asks the supplier per product
//! and per region (a 6-digit administrative code, see [`regions`]) before an
//! order, and syncs the supplier's figures in batches. [`Supplier`] is what
//! stockd needs of any supplier; [`haier::HaierSupplier`] speaks the
//! Haier-style open platform API (OAuth2 client credentials, JSON over HTTPS,
//! described in [`protocol`]). The crate `stock-supplier-mock` serves that
//! same API with sample data, for trying stockd and for tests.
//!
//! Every call has a timeout, is retried with exponential backoff and jitter
//! on network errors and 5xx only (never on 4xx), and goes through a circuit
//! breaker, so a dead supplier answers at once instead of slowing every
//! request. Secrets (client secret, passwords, tokens) never appear in logs
//! or in error messages.

pub mod breaker;
pub mod clock;
pub mod haier;
pub mod protocol;
pub mod regions;
pub mod retry;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// What a supplier says about one product's stock in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct StockQuote {
    pub product_code: String,
    pub county_code: String,
    /// Units the supplier can deliver to that region now.
    pub stock: i64,
    /// The supplier's location code (`secCode`).
    pub sec_code: Option<String>,
    /// `0`: the region's own warehouse; `1`: a warehouse above it.
    pub warehouse_grade: Option<String>,
    /// Cut-off and delivery times, as the supplier gives them.
    pub timeliness: Value,
}

/// One product in the supplier's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierProduct {
    pub product_code: String,
    pub name: String,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub model: Option<String>,
}

/// Which products to list: all, or only some codes, a category, a brand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    pub product_codes: Vec<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
}

/// A product's price as the supplier quotes it. Money stays a decimal string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPrice {
    pub product_code: String,
    pub price: String,
    pub market_price: Option<String>,
    pub currency: String,
}

/// The shop's account at the supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub balance: String,
    pub credit_limit: Option<String>,
    pub currency: String,
}

/// Which shipment to trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogisticsQuery {
    pub order_code: String,
    pub delivery_record_code: Option<String>,
    pub member_id: Option<String>,
}

/// Where a shipment is.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistics {
    pub order_code: String,
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// `{time, description}` steps, oldest first.
    pub events: Vec<Value>,
}

/// What went wrong talking to a supplier. Messages never carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupplierError {
    /// The supplier refused our credentials (token request, or a 401 that a
    /// fresh token did not cure).
    #[error("supplier {supplier}: authentication failed ({detail})")]
    Auth { supplier: String, detail: String },
    /// The supplier does not know this product (or order).
    #[error("supplier {supplier}: {what} not found")]
    NotFound { supplier: String, what: String },
    /// The supplier refused the request as such (a 4xx other than 401/404,
    /// or `success: false`): not retried.
    #[error("supplier {supplier} refused the request: {detail}")]
    Refused { supplier: String, detail: String },
    /// 5xx or a broken connection, after every retry.
    #[error("supplier {supplier} failed: {detail}")]
    Unavailable { supplier: String, detail: String },
    /// No answer within the timeout, after every retry.
    #[error("supplier {supplier} did not answer within {timeout_ms} ms")]
    Timeout { supplier: String, timeout_ms: u64 },
    /// An answer that is not what the API describes.
    #[error("supplier {supplier} sent a malformed answer: {detail}")]
    Malformed { supplier: String, detail: String },
    /// The breaker is open after repeated failures: not called at all.
    #[error("supplier {supplier} is failing; calls resume in {retry_after_ms} ms")]
    CircuitOpen {
        supplier: String,
        retry_after_ms: u64,
    },
}

impl SupplierError {
    /// The supplier it is about.
    pub fn supplier(&self) -> &str {
        match self {
            SupplierError::Auth { supplier, .. }
            | SupplierError::NotFound { supplier, .. }
            | SupplierError::Refused { supplier, .. }
            | SupplierError::Unavailable { supplier, .. }
            | SupplierError::Timeout { supplier, .. }
            | SupplierError::Malformed { supplier, .. }
            | SupplierError::CircuitOpen { supplier, .. } => supplier,
        }
    }

    /// Whether this says the supplier is unwell (counts against the breaker),
    /// rather than that the request or the product was wrong.
    pub fn is_supplier_failure(&self) -> bool {
        matches!(
            self,
            SupplierError::Unavailable { .. }
                | SupplierError::Timeout { .. }
                | SupplierError::Malformed { .. }
        )
    }
}

pub type SupplierResult<T> = Result<T, SupplierError>;

/// What stockd needs of a supplier. Implementations retry, time out and
/// break the circuit on their own; callers just call.
#[async_trait]
pub trait Supplier: Send + Sync + std::fmt::Debug {
    /// The name it is configured under (`suppliers.<name>`).
    fn name(&self) -> &str;
    /// Stock of one product for one region (`county_code`, 6 digits).
    async fn check_stock(
        &self,
        product_code: &str,
        county_code: &str,
        source: Option<&str>,
    ) -> SupplierResult<StockQuote>;
    /// The catalogue, every page of it, filtered as asked.
    async fn products(&self, query: &ProductQuery) -> SupplierResult<Vec<SupplierProduct>>;
    async fn prices(&self, product_codes: &[String]) -> SupplierResult<Vec<ProductPrice>>;
    async fn balance(&self) -> SupplierResult<AccountBalance>;
    async fn logistics(&self, query: &LogisticsQuery) -> SupplierResult<Logistics>;
    /// The breaker's state now, for status pages.
    fn circuit(&self) -> breaker::CircuitState;
}

/// The timeouts, retries and breaker of one supplier (`suppliers.<name>.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPolicy {
    /// One HTTP call, connect to last byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: retry::RetryPolicy,
    pub breaker: breaker::BreakerPolicy,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: retry::RetryPolicy::default(),
            breaker: breaker::BreakerPolicy::default(),
        }
    }
}
