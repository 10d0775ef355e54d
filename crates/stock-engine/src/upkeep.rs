//! Scheduled upkeep: forgetting retry keys once their window has passed.

use std::sync::Arc;
use std::time::Duration;

use stock_store::{now_ms, Store};

#[derive(Debug, Clone, Copy)]
pub struct RetryKeyPurge {
    /// How long idempotency keys and sync-stock retry keys are kept.
    pub retention: Duration,
    /// How often old keys are looked for.
    pub interval: Duration,
}

/// Purges old retry keys every `interval`, for as long as the runtime runs.
pub fn spawn_retry_key_purge(
    store: Arc<dyn Store>,
    purge: RetryKeyPurge,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(purge.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let retention_ms = i64::try_from(purge.retention.as_millis()).unwrap_or(i64::MAX);
            match store
                .purge_retry_keys(now_ms().saturating_sub(retention_ms))
                .await
            {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "forgot expired retry keys"),
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "purging retry keys failed")
                }
            }
        }
    })
}
