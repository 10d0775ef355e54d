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
        cache: state
            .jobs
            .cache
            .as_ref()
            .map(|cache| cache.state().as_str()),
    };
    let [synced, skipped, failed] = state.jobs.counters.channel_listings();
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

/// Prometheus metrics (text format 0.0.4), for this process; no key needed.
async fn metrics(State(state): State<AppState>) -> Response {
    let text = crate::metrics::Scrape::take(&state).await.render();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
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
