//! The health checker: compares every cached value with the database,
//! records what differs beyond the tolerance, raises a diff alert beyond the
//! alert threshold, and repairs automatically only when allowed and within
//! the maximum (by rewriting the cache from the database, never the other way).

use std::time::Duration;

use stock_core::ItemId;
use stock_store::{
    Command, DiffView, HealthFinding, HealthRunRecord, HealthRunView, Outcome, Reply, WriteMeta,
};

use crate::cache::{stamp, Cache, CacheState};
use crate::error::ApiError;
use crate::AppState;

/// `inventory.health_check` and `inventory.compensation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// Whether the checker runs on its own; a manual trigger always works.
    pub enable: bool,
    pub interval: Duration,
    /// Differences up to this are not recorded.
    pub tolerance: i64,
    /// Differences beyond this raise a diff alert.
    pub alert_threshold: i64,
    /// Whether diffs may be repaired at all.
    pub compensation: bool,
    /// Repair as found, by rewriting the cache from the database.
    pub auto_fix: bool,
    /// Automatic repair only up to this difference.
    pub max_fix_amount: i64,
    /// Pending diffs listed by `GET /api/v1/health/check`.
    pub pending_listed_max: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            enable: true,
            interval: Duration::from_secs(300),
            tolerance: 10,
            alert_threshold: 50,
            compensation: true,
            auto_fix: false,
            max_fix_amount: 1000,
            pending_listed_max: 100,
        }
    }
}

/// Who the checker writes as when nobody asked for the run.
pub const CHECKER: &str = "health-check";

/// Runs one check now and records it. `trigger` is `schedule` or `manual`.
pub async fn run_check(
    state: &AppState,
    trigger: &'static str,
    operator: &str,
) -> Result<(HealthRunView, Vec<DiffView>), ApiError> {
    let Some(cache) = state.cache.as_ref() else {
        return Err(cache_not_configured());
    };
    let settings = &state.config.health;
    let started_at_ms = stock_store::now_ms();
    let mut record = HealthRunRecord {
        trigger,
        checked: 0,
        missing: 0,
        findings: Vec::new(),
        alert_threshold: settings.alert_threshold,
        error: None,
        started_at_ms,
    };
    if let Err(error) = compare(state, cache, &mut record).await {
        record.error = Some(format!("{error:#}"));
    }
    let meta = WriteMeta {
        operator: operator.to_owned(),
        trace_id: None,
        idempotency: None,
    };
    match state
        .engine
        .submit(Command::RecordHealthRun(record), meta)
        .await
    {
        Reply::Fresh(Ok(Outcome::HealthRun { run, diffs })) => {
            if run.diffs_found > 0 {
                tracing::warn!(
                    run = run.id,
                    diffs = run.diffs_found,
                    alerts = run.alerts_raised,
                    auto_fixed = run.auto_fixed,
                    "the health check found the cache apart from the database"
                );
            }
            Ok((run, diffs))
        }
        Reply::Fresh(Err(error)) => Err(ApiError::from(error)),
        other => Err(ApiError::internal(&anyhow::anyhow!(
            "a health run was answered with {other:?}"
        ))),
    }
}

async fn compare(
    state: &AppState,
    cache: &Cache,
    record: &mut HealthRunRecord,
) -> anyhow::Result<()> {
    if cache.state() == CacheState::Down {
        anyhow::bail!("Redis is down: nothing was compared");
    }
    let settings = &state.config.health;
    let page = cache.config().fill_batch;
    let mut after: Option<ItemId> = None;
    loop {
        let ids = state.store.item_ids_after(after.as_ref(), page).await?;
        let Some(last) = ids.last().cloned() else {
            return Ok(());
        };
        let views = state.store.items(&ids).await?;
        let ids: Vec<ItemId> = views.iter().map(|v| v.item.id.clone()).collect();
        let entries = cache.entries(&ids).await?;
        record.checked += views.len() as u64;
        let mut missing = Vec::new();
        let mut suspects = Vec::new();
        for (view, entry) in views.iter().zip(entries) {
            match (entry.value, entry.stamp) {
                // No key, or a view older than the database (a write-through
                // still on its way, or one missed while Redis was away):
                // filled, not drift.
                (None, _) | (_, None) => missing.push(view.clone()),
                (Some(_), Some(cached)) if cached < stamp(view) => missing.push(view.clone()),
                (Some(value), Some(_)) if value != view.available() => suspects.push(view),
                (Some(_), Some(_)) => {}
            }
        }
        if !missing.is_empty() {
            record.missing += missing.len() as u64;
            cache.write(&missing, false).await?;
        }
        if !suspects.is_empty() {
            // A commit between the two reads is not drift: read both again
            // and keep only what differs while the item stood still.
            let ids: Vec<ItemId> = suspects.iter().map(|v| v.item.id.clone()).collect();
            let again = state.store.items(&ids).await?;
            let entries = cache.entries(&ids).await?;
            for (before, entry) in suspects.into_iter().zip(entries) {
                let Some(now) = again.iter().find(|v| v.item.id == before.item.id) else {
                    continue;
                };
                let (Some(cache_value), true) = (entry.value, stamp(now) == stamp(before)) else {
                    continue;
                };
                let db_value = now.available();
                let apart = cache_value.saturating_sub(db_value).unsigned_abs();
                if apart <= settings.tolerance.unsigned_abs() {
                    continue;
                }
                let mut finding = HealthFinding {
                    item: now.item.id.clone(),
                    db_value,
                    cache_value,
                    fixed_in_cache: false,
                    fix_failed: false,
                };
                if settings.compensation
                    && settings.auto_fix
                    && apart <= settings.max_fix_amount.unsigned_abs()
                {
                    match cache.write(std::slice::from_ref(now), true).await {
                        Ok(()) => finding.fixed_in_cache = true,
                        Err(error) => {
                            tracing::warn!(item = %now.item.id, error = %format!("{error:#}"),
                                "an automatic repair of the cache failed");
                            finding.fix_failed = true;
                        }
                    }
                }
                record.findings.push(finding);
            }
        }
        after = Some(last);
    }
}

/// Checks that diff `id` may be repaired now and does the cache's part:
/// `use_db` rewrites the cache from the database; `use_redis` reads the
/// cache's value for the store to take. The caller then runs `FixDiff`.
pub async fn prepare_fix(
    state: &AppState,
    id: i64,
    use_redis: bool,
) -> Result<stock_store::DiffFix, ApiError> {
    use axum::http::StatusCode;
    use stock_store::{DiffFix, DiffStatus};
    if !state.config.health.compensation {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "COMPENSATION_DISABLED",
            "inventory.compensation.enable is off: diffs are not repaired here",
        ));
    }
    let Some(cache) = state.cache.as_ref() else {
        return Err(cache_not_configured());
    };
    let diff = state
        .store
        .diff(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("diff {id} not found")))?;
    if diff.status != DiffStatus::Pending {
        return Err(ApiError::from(stock_store::WriteError::DiffClosed {
            id,
            status: diff.status,
        }));
    }
    let unavailable = |error: anyhow::Error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CACHE_UNAVAILABLE",
            format!("Redis could not be reached: {error:#}"),
        )
    };
    if cache.state() == CacheState::Down {
        return Err(unavailable(anyhow::anyhow!("the cache is down")));
    }
    if use_redis {
        let entry = cache
            .entries(std::slice::from_ref(&diff.item))
            .await
            .map_err(unavailable)?
            .pop()
            .expect("one entry per id");
        let Some(cache_value) = entry.value else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "CACHE_VALUE_MISSING",
                format!("Redis holds no value for item {}", diff.item),
            ));
        };
        Ok(DiffFix::UseRedis { cache_value })
    } else {
        let views = state.store.items(std::slice::from_ref(&diff.item)).await?;
        cache.write(&views, true).await.map_err(unavailable)?;
        Ok(DiffFix::UseDb)
    }
}

pub(crate) fn cache_not_configured() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "CACHE_NOT_CONFIGURED",
        "no Redis cache is configured (--redis, STOCKD_REDIS_URL or redis: in config.yaml)",
    )
}

/// Runs the check every `interval` while `enable` is set. With several
/// replicas each runs its own schedule; one pending diff per item keeps
/// their findings from piling up.
pub fn spawn_health_checker(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let settings = state.config.health.clone();
    if !settings.enable || state.cache.is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is now: the cache is still filling; skip it.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(error) = run_check(&state, "schedule", CHECKER).await {
                tracing::warn!(error = %error.message, "the scheduled health check failed");
            }
        }
    }))
}
