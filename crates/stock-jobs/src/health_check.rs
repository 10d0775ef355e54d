//! The health checker: compares every cached value with the database,
//! records what differs beyond the tolerance, raises a diff alert beyond the
//! alert threshold, and repairs automatically only when allowed and within
//! the maximum (by rewriting the cache from the database, never the other way).

use std::time::Duration;

use stock_core::ItemId;
use stock_store::{
    Command, DiffFix, DiffStatus, DiffView, HealthFinding, HealthRunRecord, HealthRunView, Outcome,
    WriteError,
};

use crate::cache::{stamp, Cache, CacheState};
use crate::schedule::{every, FirstRound};
use crate::{submit, JobError, JobResult, Jobs};

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

/// Why a check was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

impl Jobs {
    fn cache(&self) -> JobResult<&Cache> {
        self.cache.as_deref().ok_or(JobError::CacheNotConfigured)
    }

    /// Runs one check now and records it through the engine.
    pub async fn run_health_check(
        &self,
        trigger: Trigger,
        operator: &str,
    ) -> JobResult<(HealthRunView, Vec<DiffView>)> {
        let cache = self.cache()?;
        let settings = &self.settings.health;
        let mut record = HealthRunRecord {
            trigger: trigger.as_str(),
            checked: 0,
            missing: 0,
            findings: Vec::new(),
            alert_threshold: settings.alert_threshold,
            error: None,
            started_at_ms: stock_store::now_ms(),
        };
        if let Err(error) = self.compare(cache, &mut record).await {
            record.error = Some(format!("{error:#}"));
        }
        match submit(&self.engine, Command::RecordHealthRun(record), operator).await? {
            Outcome::HealthRun { run, diffs } => {
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
            other => Err(JobError::unexpected("a health run", &other)),
        }
    }

    async fn compare(&self, cache: &Cache, record: &mut HealthRunRecord) -> anyhow::Result<()> {
        if cache.state() == CacheState::Down {
            anyhow::bail!("the cache is down: nothing was compared");
        }
        let page = cache.settings().fill_batch;
        let mut after: Option<ItemId> = None;
        loop {
            let ids = self.store.item_ids_after(after.as_ref(), page).await?;
            let Some(last) = ids.last().cloned() else {
                return Ok(());
            };
            let views = self.store.items(&ids).await?;
            let ids: Vec<ItemId> = views.iter().map(|v| v.item.id.clone()).collect();
            let entries = cache.entries(&ids).await?;
            record.checked += views.len() as u64;
            let mut missing = Vec::new();
            let mut suspects = Vec::new();
            for (view, entry) in views.iter().zip(entries) {
                match (entry.value, entry.stamp) {
                    // No key, or a view older than the database (a write-through
                    // still on its way, or one missed while the cache was away):
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
                self.confirm(cache, suspects, record).await?;
            }
            after = Some(last);
        }
    }

    /// A commit between the two reads is not drift: reads both again and
    /// keeps only what differs while the item stood still.
    async fn confirm(
        &self,
        cache: &Cache,
        suspects: Vec<&stock_store::ItemView>,
        record: &mut HealthRunRecord,
    ) -> anyhow::Result<()> {
        let settings = &self.settings.health;
        let ids: Vec<ItemId> = suspects.iter().map(|v| v.item.id.clone()).collect();
        let again = self.store.items(&ids).await?;
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
        Ok(())
    }

    /// Checks that diff `id` may be repaired now and does the cache's part:
    /// `use_db` rewrites the cache from the database; `use_redis` reads the
    /// cache's value for the store to take. The caller then runs `FixDiff`.
    pub async fn prepare_fix(&self, id: i64, use_redis: bool) -> JobResult<DiffFix> {
        if !self.settings.health.compensation {
            return Err(JobError::CompensationDisabled);
        }
        let cache = self.cache()?;
        let diff = self
            .store
            .diff(id)
            .await?
            .ok_or_else(|| WriteError::NotFound {
                entity: "diff",
                id: id.to_string(),
            })?;
        if diff.status != DiffStatus::Pending {
            return Err(WriteError::DiffClosed {
                id,
                status: diff.status,
            }
            .into());
        }
        let unavailable = |error: anyhow::Error| JobError::CacheUnavailable(format!("{error:#}"));
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
                return Err(JobError::CacheValueMissing { item: diff.item });
            };
            Ok(DiffFix::UseRedis { cache_value })
        } else {
            let views = self.store.items(std::slice::from_ref(&diff.item)).await?;
            cache.write(&views, true).await.map_err(unavailable)?;
            Ok(DiffFix::UseDb)
        }
    }

    /// Runs the check every `interval` while `enable` is set. With several
    /// replicas each runs its own schedule; one pending diff per item keeps
    /// their findings from piling up. The first round waits one interval:
    /// the cache is still filling at start.
    pub(crate) fn spawn_health_checker(&self) -> Option<tokio::task::JoinHandle<()>> {
        let settings = &self.settings.health;
        if !settings.enable || self.cache.is_none() {
            return None;
        }
        let jobs = self.clone();
        Some(every(
            settings.interval,
            FirstRound::AfterInterval,
            move || {
                let jobs = jobs.clone();
                async move {
                    if let Err(error) = jobs.run_health_check(Trigger::Schedule, CHECKER).await {
                        tracing::warn!(error = %error, "the scheduled health check failed");
                    }
                }
            },
        ))
    }
}
