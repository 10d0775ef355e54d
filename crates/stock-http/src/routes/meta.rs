//! Statistics, locations and the health check.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use stock_core::LocationId;
use stock_store::{Command, Outcome};

use super::{optional_text, render, to_json, NAME_LENGTH_MAX};
use crate::auth::{AdminRole, Authorized, StorefrontRole, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::wire::*;
use crate::AppState;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Counts and totals across the inventory.
#[utoipa::path(get, path = "/api/v1/stats/inventory", tag = "reports",
    responses((status = 200, body = InventoryStatsOut)), security(("api_key" = ["storefront"])))]
pub async fn inventory_stats(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
) -> Result<Json<InventoryStatsOut>, ApiError> {
    let threshold = state.config.low_stock_threshold;
    let stats = state.store.inventory_stats(threshold).await?;
    Ok(Json(InventoryStatsOut {
        total_items: stats.items,
        total_on_hand: stats.on_hand,
        total_reserved: stats.reserved,
        total_available: stats.available,
        low_stock_items: stats.low_stock,
        out_of_stock_items: stats.out_of_stock,
        low_stock_threshold: threshold,
        locations: stats.locations,
        ledger_entries: stats.ledger_entries,
    }))
}

/// Uptime, requests and errors by route, and write latency percentiles.
#[utoipa::path(get, path = "/api/v1/stats/service", tag = "reports",
    responses((status = 200, body = ServiceStatsOut)), security(("api_key" = ["storefront"])))]
pub async fn service_stats(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
) -> Result<Json<ServiceStatsOut>, ApiError> {
    let routes: Vec<RouteStatsOut> = state
        .stats
        .routes()
        .into_iter()
        .map(|((method, route), counters)| RouteStatsOut {
            method,
            route,
            requests: counters.requests,
            client_errors: counters.client_errors,
            server_errors: counters.server_errors,
        })
        .collect();
    let latency = state.engine.write_latency();
    let sync = routes
        .iter()
        .find(|r| r.method == "POST" && r.route == "/api/v1/sync-stock");
    let sync_stock = SyncStatsOut {
        requests: sync.map_or(0, |r| r.requests),
        succeeded: sync.map_or(0, |r| r.requests - r.client_errors - r.server_errors),
        success_rate: sync
            .filter(|r| r.requests > 0)
            .map(|r| (r.requests - r.client_errors - r.server_errors) as f64 / r.requests as f64),
    };
    let report = state.store.health_report(0).await?;
    let tried = report.auto_fixed + report.auto_fix_failed;
    let health = HealthStatsOut {
        runs: report.runs,
        diffs_found: report.diffs_found,
        diffs_pending: report.pending_total,
        auto_fixed: report.auto_fixed,
        auto_fix_failed: report.auto_fix_failed,
        auto_fix_success_rate: (tried > 0).then(|| report.auto_fixed as f64 / tried as f64),
        cache: state.cache.as_ref().map(|cache| cache.state().as_str()),
    };
    let [synced, skipped, failed] = state.stats.channel_listings();
    let channel_sync = ChannelSyncStatsOut {
        synced,
        skipped,
        failed,
        success_rate: (synced + failed > 0).then(|| synced as f64 / (synced + failed) as f64),
    };
    Ok(Json(ServiceStatsOut {
        sync_stock,
        channel_sync,
        health,
        version: VERSION,
        started_at: timestamp(state.stats.started_at_ms),
        uptime_seconds: state.stats.started.elapsed().as_secs(),
        requests_total: routes.iter().map(|r| r.requests).sum(),
        client_errors_total: routes.iter().map(|r| r.client_errors).sum(),
        server_errors_total: routes.iter().map(|r| r.server_errors).sum(),
        routes,
        write_latency: LatencyOut {
            count: latency.count,
            p50_ms: latency.p50_ms,
            p90_ms: latency.p90_ms,
            p99_ms: latency.p99_ms,
            max_ms: latency.max_ms,
        },
    }))
}

/// Every location, in fill order.
#[utoipa::path(get, path = "/api/v1/locations", tag = "locations",
    responses((status = 200, body = LocationListOut)), security(("api_key" = ["storefront"])))]
pub async fn list_locations(
    State(state): State<AppState>,
    _: Authorized<StorefrontRole>,
) -> Result<Json<LocationListOut>, ApiError> {
    let locations = state.store.locations().await?;
    Ok(Json(LocationListOut {
        locations: locations.iter().map(LocationOut::from).collect(),
    }))
}

/// Add a location (warehouse).
#[utoipa::path(post, path = "/api/v1/locations", tag = "locations", request_body = CreateLocationRequest,
    responses((status = 201, body = LocationOut), (status = 400, body = ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_location(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    ApiJson(body): ApiJson<CreateLocationRequest>,
) -> Result<Response, ApiError> {
    let id = LocationId::parse(&body.id).map_err(|error| ApiError::field("id", error))?;
    let name = optional_text("name", body.name.as_deref(), NAME_LENGTH_MAX)?
        .unwrap_or_else(|| id.to_string());
    let command = Command::CreateLocation {
        id,
        name,
        priority: body.priority.unwrap_or(0),
    };
    let render = render(StatusCode::CREATED, |outcome| match outcome {
        Outcome::Location(location) => to_json(&LocationOut::from(location)),
        other => unreachable!("create_location yields Outcome::Location, not {other:?}"),
    });
    Ok(state.write(command, writer, render).await)
}

/// `GET /health`: no key needed; 503 when the database does not answer.
pub fn health_route() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}

/// Writes one metric's HELP and TYPE lines.
fn describe(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Prometheus metrics (text format 0.0.4), for this process; no key needed.
async fn metrics(State(state): State<AppState>) -> Response {
    use std::fmt::Write;
    let mut out = String::new();
    describe(
        &mut out,
        "stockd_http_requests_total",
        "counter",
        "Requests answered, by route and status class.",
    );
    for ((method, route), counters) in state.stats.routes() {
        let ok = counters.requests - counters.client_errors - counters.server_errors;
        for (class, count) in [
            ("2xx", ok),
            ("4xx", counters.client_errors),
            ("5xx", counters.server_errors),
        ] {
            let _ = writeln!(
                out,
                "stockd_http_requests_total{{method=\"{method}\",route=\"{route}\",class=\"{class}\"}} {count}"
            );
        }
    }
    describe(
        &mut out,
        "stockd_http_request_duration_seconds",
        "histogram",
        "Time to answer a request.",
    );
    let (buckets, sum) = state.stats.durations();
    let mut cumulative = 0;
    for (bound, count) in crate::stats::DURATION_BUCKETS_S.iter().zip(buckets) {
        cumulative += count;
        let _ = writeln!(
            out,
            "stockd_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += buckets[buckets.len() - 1];
    let _ = writeln!(
        out,
        "stockd_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(out, "stockd_http_request_duration_seconds_sum {sum}");
    let _ = writeln!(
        out,
        "stockd_http_request_duration_seconds_count {cumulative}"
    );

    let latency = state.engine.write_latency();
    describe(
        &mut out,
        "stockd_write_latency_seconds",
        "summary",
        "Time from submitting a write to its durable answer, recent writes.",
    );
    for (quantile, ms) in [
        ("0.5", latency.p50_ms),
        ("0.9", latency.p90_ms),
        ("0.99", latency.p99_ms),
    ] {
        let _ = writeln!(
            out,
            "stockd_write_latency_seconds{{quantile=\"{quantile}\"}} {}",
            ms / 1000.0
        );
    }
    let _ = writeln!(out, "stockd_write_latency_seconds_count {}", latency.count);
    let activity = state.engine.store_activity();
    describe(
        &mut out,
        "stockd_write_batches_total",
        "counter",
        "Write batches (one transaction each).",
    );
    let _ = writeln!(out, "stockd_write_batches_total {}", activity.batches);
    describe(
        &mut out,
        "stockd_writes_total",
        "counter",
        "Writes committed in batches.",
    );
    let _ = writeln!(out, "stockd_writes_total {}", activity.writes);
    describe(
        &mut out,
        "stockd_store_busy_seconds_total",
        "counter",
        "Time the store spent running batches.",
    );
    let _ = writeln!(
        out,
        "stockd_store_busy_seconds_total {}",
        activity.busy.as_secs_f64()
    );
    describe(
        &mut out,
        "stockd_write_batch_size",
        "histogram",
        "Writes per batch.",
    );
    let mut cumulative = 0;
    for (bound, count) in stock_engine::BATCH_SIZE_BUCKETS
        .iter()
        .zip(activity.batch_sizes)
    {
        cumulative += count;
        let _ = writeln!(
            out,
            "stockd_write_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "stockd_write_batch_size_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(out, "stockd_write_batch_size_sum {}", activity.writes);
    let _ = writeln!(out, "stockd_write_batch_size_count {}", activity.batches);

    describe(
        &mut out,
        "stockd_webhook_deliveries_total",
        "counter",
        "Webhook delivery attempts by this process, by outcome.",
    );
    for (slot, outcome) in ["delivered", "retrying", "failed"].into_iter().enumerate() {
        let count = state.stats.deliveries[slot].load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "stockd_webhook_deliveries_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    describe(
        &mut out,
        "stockd_channel_listings_total",
        "counter",
        "Channel listings handled by syncs on this process, by outcome.",
    );
    for (outcome, count) in ["synced", "skipped", "failed"]
        .into_iter()
        .zip(state.stats.channel_listings())
    {
        let _ = writeln!(
            out,
            "stockd_channel_listings_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    describe(
        &mut out,
        "stockd_event_streams",
        "gauge",
        "Live event streams open on this process.",
    );
    let _ = writeln!(
        out,
        "stockd_event_streams {}",
        state.streams.load(std::sync::atomic::Ordering::Relaxed)
    );

    if let Some(cache) = &state.cache {
        let counters = cache.counters();
        describe(
            &mut out,
            "stockd_cache_up",
            "gauge",
            "Whether storefront reads are served from Redis (0 while it is down or filling).",
        );
        let up = u8::from(cache.state() == crate::cache::CacheState::Up);
        let _ = writeln!(out, "stockd_cache_up {up}");
        for (name, help, value) in [
            (
                "stockd_cache_hits_total",
                "Items read from Redis.",
                counters.hits,
            ),
            (
                "stockd_cache_misses_total",
                "Items Redis did not hold, read from the database.",
                counters.misses,
            ),
            (
                "stockd_cache_errors_total",
                "Calls to Redis that failed.",
                counters.errors,
            ),
            (
                "stockd_cache_writes_total",
                "Items written to Redis.",
                counters.writes,
            ),
        ] {
            describe(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
    let up = match state.store.gauges().await {
        Ok(gauges) => {
            describe(
                &mut out,
                "stockd_holds_active",
                "gauge",
                "Holds (reservations) active now.",
            );
            let _ = writeln!(out, "stockd_holds_active {}", gauges.active_holds);
            describe(
                &mut out,
                "stockd_alerts_open",
                "gauge",
                "Open (pending or sent) alerts, by type.",
            );
            for kind in stock_store::AlertKind::ALL {
                let count = gauges
                    .open_alerts
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(0, |(_, c)| *c);
                let _ = writeln!(
                    out,
                    "stockd_alerts_open{{type=\"{}\"}} {count}",
                    kind.as_str()
                );
            }
            describe(
                &mut out,
                "stockd_diffs_pending",
                "gauge",
                "Cache-vs-database diffs found by the health checker and not yet fixed.",
            );
            let _ = writeln!(out, "stockd_diffs_pending {}", gauges.pending_diffs);
            describe(&mut out, "stockd_webhooks", "gauge", "Webhooks registered.");
            let _ = writeln!(out, "stockd_webhooks {}", gauges.webhooks);
            describe(
                &mut out,
                "stockd_events_last_id",
                "gauge",
                "The newest event's id in the outbox.",
            );
            let _ = writeln!(out, "stockd_events_last_id {}", gauges.last_event_id);
            1
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "reading gauges for /metrics failed"
            );
            0
        }
    };
    describe(
        &mut out,
        "stockd_database_up",
        "gauge",
        "Whether the database answered this scrape.",
    );
    let _ = writeln!(out, "stockd_database_up {up}");
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let database_ok = state.store.locations().await.is_ok();
    let body = HealthOut {
        status: if database_ok { "ok" } else { "unavailable" },
        database: if database_ok { "ok" } else { "unavailable" },
        version: VERSION,
        uptime_seconds: state.stats.started.elapsed().as_secs(),
    };
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
