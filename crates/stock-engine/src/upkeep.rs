//! Scheduled upkeep: expiring holds whose time ran out, and forgetting retry
//! keys once their window has passed.

use std::sync::Arc;
use std::time::Duration;

use stock_store::{now_ms, Command, Outcome, Reply, Store, WriteMeta};

use crate::Engine;

#[derive(Debug, Clone, Copy)]
pub struct HoldExpiry {
    /// How often due holds are looked for.
    pub interval: std::time::Duration,
    /// The most holds expired in one write.
    pub batch_max: u32,
}

/// Releases holds past their expiry, through the write path, in batches of
/// at most `batch_max`. The first pass runs at once, so holds that expired
/// while the service was down are released soon after it starts.
pub fn spawn_hold_expiry(
    store: Arc<dyn Store>,
    engine: Engine,
    expiry: HoldExpiry,
) -> tokio::task::JoinHandle<()> {
    assert!(expiry.batch_max > 0);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(expiry.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = expire_due(store.as_ref(), &engine, expiry.batch_max).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "expiring holds failed; trying again next tick"
                );
            }
        }
    })
}

/// Expires every hold due now; returns how many it expired.
pub async fn expire_due(store: &dyn Store, engine: &Engine, batch_max: u32) -> anyhow::Result<u64> {
    let mut expired = 0;
    loop {
        let now = now_ms();
        let ids = store.due_holds(now, batch_max).await?;
        let found = ids.len();
        if found == 0 {
            return Ok(expired);
        }
        let meta = WriteMeta {
            operator: "expiry".into(),
            trace_id: None,
            idempotency: None,
        };
        match engine
            .submit(Command::ExpireHolds { ids, now_ms: now }, meta)
            .await
        {
            Reply::Fresh(Ok(Outcome::Expired { holds })) => {
                expired += holds;
                tracing::info!(holds, "expired holds past their time");
            }
            Reply::Fresh(Ok(other)) => {
                unreachable!("expiry yields Outcome::Expired, not {other:?}")
            }
            Reply::Fresh(Err(error)) => anyhow::bail!("{error}"),
            Reply::Replayed { .. } => unreachable!("expiry carries no idempotency key"),
        }
        if found < batch_max as usize {
            return Ok(expired);
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryKeyPurge {
    /// How long idempotency keys and sync-stock retry keys are kept.
    pub retention: Duration,
    /// How long live events are kept for consumers that resume.
    pub event_retention: Duration,
    /// How often old keys are looked for.
    pub interval: Duration,
}

/// Purges old retry keys and old events every `interval`, for as long as the runtime runs.
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
            let retention_ms = i64::try_from(purge.event_retention.as_millis()).unwrap_or(i64::MAX);
            match store
                .purge_events(now_ms().saturating_sub(retention_ms))
                .await
            {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "forgot old events"),
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "purging events failed")
                }
            }
        }
    })
}
