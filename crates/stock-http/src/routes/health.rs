//! The cache health checker: its report, a run on demand, and the repair
//! of one diff.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use stock_store::{Command, DiffView, HealthRunView, Outcome, Render};
use utoipa::ToSchema;

use super::{render, to_json};
use crate::auth::{AdminRole, Authorized, ServiceRole, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::wire::{timestamp, LedgerOut};
use crate::AppState;
use stock_jobs::health_check::Trigger;

/// A difference between the cache and the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffOut {
    pub id: i64,
    pub product_id: String,
    /// The run that found it last.
    pub run_id: i64,
    /// Available stock (all locations) in the database.
    pub db_stock: i64,
    /// The value of the item's number key in Redis.
    pub redis_stock: i64,
    /// `redis_stock - db_stock`.
    pub diff: i64,
    /// `pending`, `fixed` or `ignored`.
    pub status: &'static str,
    /// `use_db` or `use_redis`, once fixed.
    pub fix_type: Option<String>,
    pub fixed_by: Option<String>,
    pub fixed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&DiffView> for DiffOut {
    fn from(diff: &DiffView) -> DiffOut {
        DiffOut {
            id: diff.id,
            product_id: diff.item.to_string(),
            run_id: diff.run_id,
            db_stock: diff.db_value,
            redis_stock: diff.cache_value,
            diff: diff.diff,
            status: diff.status.as_str(),
            fix_type: diff.fix_type.clone(),
            fixed_by: diff.fixed_by.clone(),
            fixed_at: diff.fixed_at_ms.map(timestamp),
            created_at: timestamp(diff.created_at_ms),
            updated_at: timestamp(diff.updated_at_ms),
        }
    }
}

/// One run of the health checker.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthRunOut {
    pub id: i64,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Items compared.
    pub checked: u64,
    /// Items with no cached value, or an older one than the database's
    /// (a write still on its way): filled, not counted as diffs.
    pub missing: u64,
    /// Items apart by more than the tolerance.
    pub diffs_found: u64,
    pub alerts_raised: u64,
    pub auto_fixed: u64,
    pub auto_fix_failed: u64,
    /// Why the run stopped early (Redis down, say); diffs found before stand.
    pub error: Option<String>,
    pub operator: String,
    pub started_at: String,
    pub finished_at: String,
}

impl From<&HealthRunView> for HealthRunOut {
    fn from(run: &HealthRunView) -> HealthRunOut {
        HealthRunOut {
            id: run.id,
            trigger: run.trigger.clone(),
            checked: run.checked,
            missing: run.missing,
            diffs_found: run.diffs_found,
            alerts_raised: run.alerts_raised,
            auto_fixed: run.auto_fixed,
            auto_fix_failed: run.auto_fix_failed,
            error: run.error.clone(),
            operator: run.operator.clone(),
            started_at: timestamp(run.started_at_ms),
            finished_at: timestamp(run.finished_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheOut {
    pub configured: bool,
    /// `up` (reads served from Redis), `warming` (being filled) or `down`
    /// (everything from the database); absent without Redis.
    pub state: Option<&'static str>,
    /// Where Redis is (without its password).
    pub redis: Option<String>,
    pub key_format: Option<String>,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub fills: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSettingsOut {
    pub enable: bool,
    pub interval_s: u64,
    pub tolerance: i64,
    pub alert_threshold: i64,
    pub compensation: bool,
    pub auto_fix: bool,
    pub max_fix_amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthCheckOut {
    pub cache: CacheOut,
    pub settings: HealthSettingsOut,
    pub last_run: Option<HealthRunOut>,
    pub runs: u64,
    pub diffs_found: u64,
    pub auto_fixed: u64,
    pub auto_fix_failed: u64,
    /// Pending diffs, newest first (at most 100).
    pub pending_diffs: Vec<DiffOut>,
    pub pending_total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthRunResultOut {
    pub run: HealthRunOut,
    /// The diffs this run found, pending or (auto-)fixed.
    pub diffs: Vec<DiffOut>,
}

/// The ways a diff is repaired (`fix` reads them), for the document.
pub(crate) const FIX_TYPES: [&str; 2] = ["use_db", "use_redis"];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixRequest {
    /// `use_db`: the database is right, the cache is rewritten from it.
    /// `use_redis`: the cache is right, the database's available stock
    /// becomes its value (a `sync` ledger row at the default location).
    #[schema(value_type = crate::wire::FixTypeName)]
    pub fix_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FixOut {
    pub diff: DiffOut,
    /// The `sync` row a `use_redis` fix wrote, if the level moved.
    pub entries: Vec<LedgerOut>,
}

/// The cache, the checker's last run, its totals and the pending diffs.
#[utoipa::path(get, path = "/api/v1/health/check", tag = "health",
    responses((status = 200, body = HealthCheckOut)), security(("api_key" = ["service"])))]
pub async fn health_check(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
) -> Result<Json<HealthCheckOut>, ApiError> {
    let settings = &state.jobs.settings.health;
    let report = state
        .store
        .health_report(settings.pending_listed_max)
        .await?;
    let cache = match &state.jobs.cache {
        Some(cache) => {
            let counters = cache.counters();
            CacheOut {
                configured: true,
                state: Some(cache.state().as_str()),
                redis: Some(cache.address()),
                key_format: Some(cache.key_format().to_owned()),
                hits: counters.hits,
                misses: counters.misses,
                errors: counters.errors,
                fills: counters.fills,
            }
        }
        None => CacheOut {
            configured: false,
            state: None,
            redis: None,
            key_format: None,
            hits: 0,
            misses: 0,
            errors: 0,
            fills: 0,
        },
    };
    Ok(Json(HealthCheckOut {
        cache,
        settings: HealthSettingsOut {
            enable: settings.enable,
            interval_s: settings.interval.as_secs(),
            tolerance: settings.tolerance,
            alert_threshold: settings.alert_threshold,
            compensation: settings.compensation,
            auto_fix: settings.auto_fix,
            max_fix_amount: settings.max_fix_amount,
        },
        last_run: report.last_run.as_ref().map(HealthRunOut::from),
        runs: report.runs,
        diffs_found: report.diffs_found,
        auto_fixed: report.auto_fixed,
        auto_fix_failed: report.auto_fix_failed,
        pending_diffs: report.pending.iter().map(DiffOut::from).collect(),
        pending_total: report.pending_total,
    }))
}

/// Compare every cached value with the database now. A run that could not
/// reach Redis is recorded with its `error`.
#[utoipa::path(post, path = "/api/v1/health/trigger", tag = "health",
    responses((status = 200, body = HealthRunResultOut),
        (status = 409, description = "CACHE_NOT_CONFIGURED", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Authorized<AdminRole>,
) -> Result<Json<HealthRunResultOut>, ApiError> {
    let (run, diffs) = state
        .jobs
        .run_health_check(Trigger::Manual, &caller.0.key_id)
        .await?;
    Ok(Json(HealthRunResultOut {
        run: HealthRunOut::from(&run),
        diffs: diffs.iter().map(DiffOut::from).collect(),
    }))
}

fn fix_render() -> Render {
    render(StatusCode::OK, |outcome| match outcome {
        Outcome::DiffFixed { diff, entries } => to_json(&FixOut {
            diff: DiffOut::from(diff),
            entries: entries.iter().map(LedgerOut::from).collect(),
        }),
        other => unreachable!("a fix yields Outcome::DiffFixed, not {other:?}"),
    })
}

/// Repair one pending diff with `use_db` or `use_redis`.
#[utoipa::path(post, path = "/api/v1/health/fix/{diff_id}", tag = "health",
    params(("diff_id" = i64, Path, minimum = 1, example = 1)), request_body = FixRequest,
    responses((status = 200, body = FixOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "DIFF_CLOSED, COMPENSATION_DISABLED, CACHE_NOT_CONFIGURED, CACHE_VALUE_MISSING, INSUFFICIENT_STOCK", body = ErrorBody),
        (status = 503, description = "CACHE_UNAVAILABLE", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn fix(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FixRequest>,
) -> Result<Response, ApiError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::field("diff_id", "must be a positive whole number"))?;
    let use_redis = match body.fix_type.as_str() {
        "use_db" => false,
        "use_redis" => true,
        _ => return Err(ApiError::field("fix_type", "must be use_db or use_redis")),
    };
    let fix = state.jobs.prepare_fix(id, use_redis).await?;
    Ok(state
        .write(Command::FixDiff { id, fix }, writer, fix_render())
        .await)
}
