//! What a job can fail with, in the words of the jobs; `stock-http` maps
//! each to a status and a code.

use stock_core::ItemId;
use stock_store::WriteError;
use stock_supplier::SupplierError;

use crate::order_check::SupplierShortage;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no Redis cache is configured (--redis, STOCKD_REDIS_URL or redis: in config.yaml)")]
    CacheNotConfigured,
    #[error("Redis could not be reached: {0}")]
    CacheUnavailable(String),
    #[error("Redis holds no value for item {item}")]
    CacheValueMissing { item: ItemId },
    #[error("inventory.compensation.enable is off: diffs are not repaired here")]
    CompensationDisabled,
    /// The write path refused the job's command.
    #[error("{0}")]
    Write(WriteError),
    /// A supplier call failed.
    #[error(transparent)]
    Supplier(#[from] SupplierError),
    #[error("item {item} is linked to supplier {supplier}, which is not configured")]
    SupplierNotConfigured { item: ItemId, supplier: String },
    #[error("{}", shortage_message(.county_code, .shortages))]
    SupplierShortage {
        county_code: String,
        shortages: Vec<SupplierShortage>,
    },
    /// The database failed, or the write path answered what it never should.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

fn shortage_message(county_code: &str, shortages: &[SupplierShortage]) -> String {
    let named: Vec<String> = shortages
        .iter()
        .map(|s| {
            format!(
                "{} ({} at {}: requested {}, available {})",
                s.item, s.product_code, s.supplier, s.requested, s.available
            )
        })
        .collect();
    format!(
        "the supplier has too little stock for region {county_code}: {}",
        named.join("; ")
    )
}

pub type JobResult<T> = Result<T, JobError>;

impl From<WriteError> for JobError {
    fn from(error: WriteError) -> Self {
        JobError::Write(error)
    }
}

impl JobError {
    /// The write path answered a job's command with what that command never yields.
    pub(crate) fn unexpected(job: &str, outcome: &dyn std::fmt::Debug) -> JobError {
        JobError::Internal(anyhow::anyhow!("{job} was answered with {outcome:?}"))
    }
}
