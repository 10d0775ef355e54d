//! Upkeep: expiring holds whose time ran out, and forgetting retry keys,
//! old events and old delivery attempts once their window has passed.

use std::sync::Arc;
use std::time::Duration;

use stock_engine::Engine;
use stock_store::{now_ms, Command, Outcome, Store};

use crate::schedule::{every, FirstRound};
use crate::{submit, JobError, JobResult};

#[derive(Debug, Clone, Copy)]
pub struct HoldExpiry {
    /// How often due holds are looked for.
    pub interval: Duration,
    /// The most holds expired in one write.
    pub batch_max: u32,
}

/// Who the expiry writes as.
pub const EXPIRY: &str = "expiry";

/// Releases holds past their expiry, through the write path, in batches of
/// at most `batch_max`. The first pass runs at once, so holds that expired
/// while the service was down are released soon after it starts.
pub fn spawn_hold_expiry(
    store: Arc<dyn Store>,
    engine: Engine,
    expiry: HoldExpiry,
) -> tokio::task::JoinHandle<()> {
    assert!(expiry.batch_max > 0);
    every(expiry.interval, FirstRound::Now, move || {
        let (store, engine) = (Arc::clone(&store), engine.clone());
        async move {
            if let Err(error) = expire_due(store.as_ref(), &engine, expiry.batch_max).await {
                tracing::warn!(
                    error = %error,
                    "expiring holds failed; trying again next tick"
                );
            }
        }
    })
}

/// Expires every hold due now; returns how many it expired.
pub async fn expire_due(store: &dyn Store, engine: &Engine, batch_max: u32) -> JobResult<u64> {
    let mut expired = 0;
    loop {
        let now = now_ms();
        let ids = store.due_holds(now, batch_max).await?;
        let found = ids.len();
        if found == 0 {
            return Ok(expired);
        }
        match submit(engine, Command::ExpireHolds { ids, now_ms: now }, EXPIRY).await? {
            Outcome::Expired { holds } => {
                expired += holds;
                tracing::info!(holds, "expired holds past their time");
            }
            other => return Err(JobError::unexpected("expiry", &other)),
        }
        if found < batch_max as usize {
            return Ok(expired);
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Purge {
    /// How long idempotency keys and sync-stock retry keys are kept.
    pub retention: Duration,
    /// How long live events (and delivery attempts) are kept for consumers that resume.
    pub event_retention: Duration,
    /// How often old rows are looked for.
    pub interval: Duration,
}

/// Purges old retry keys and old events every `interval`, for as long as the runtime runs.
pub fn spawn_purge(store: Arc<dyn Store>, purge: Purge) -> tokio::task::JoinHandle<()> {
    every(purge.interval, FirstRound::Now, move || {
        let store = Arc::clone(&store);
        async move {
            let before = |retention: Duration| {
                now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
            };
            match store.purge_retry_keys(before(purge.retention)).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "forgot expired retry keys"),
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "purging retry keys failed")
                }
            }
            match store.purge_events(before(purge.event_retention)).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "forgot old events"),
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "purging events failed")
                }
            }
        }
    })
}
