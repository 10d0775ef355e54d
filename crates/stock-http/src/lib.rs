//! The stockd HTTP API: the only crate that knows HTTP and JSON.
//!
//! Routes, authentication, idempotency, the error body, trace ids, service
//! statistics and the OpenAPI document. Handlers parse and check their input,
//! turn it into a `stock_store::Command`, hand it to the engine and render
//! what comes back; they decide nothing about stock themselves.

pub mod admin;
pub mod auth;
pub mod error;
mod extract;
pub mod idempotency;
mod metrics;
mod openapi;
pub mod rate_limit;
pub mod region_input;
mod routes;
pub mod stats;
mod supplier_calls;
pub mod trace;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::Router;
use stock_engine::Engine;
use stock_jobs::Jobs;
use stock_store::{IdempotencyClaim, Render, Reply, Store, WriteMeta};

pub use auth::{generate_key, hash_secret, Caller, NewKey, Writer};
use error::ApiError;
use idempotency::{mismatch, replay, InFlight};
use stats::ServiceStats;

/// Limits and defaults of the HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// A request that takes longer is answered 503 `TIMEOUT`.
    pub request_timeout: Duration,
    /// Larger request bodies are refused with 413.
    pub body_limit_bytes: usize,
    pub page_size_default: u32,
    /// Larger page sizes are refused with 400.
    pub page_size_max: u32,
    /// The low-stock threshold of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
    /// The most items each section of the low-stock report lists.
    pub low_stock_report_items_max: u32,
    /// Opening stock of an item created without `stock`.
    pub default_stock: i64,
    /// How long a hold lasts when the caller does not say.
    pub hold_ttl_default: Duration,
    /// How long a found API key is trusted without reading it again; a key
    /// revoked elsewhere is refused at most this much later. Zero: never cached.
    pub key_cache_ttl: Duration,
    /// The longest hold a caller may ask for.
    pub hold_ttl_max: Duration,
    /// How often an event stream looks for other replicas' events.
    pub event_poll_interval: Duration,
    /// Events read from the outbox at a time.
    pub event_batch_max: u32,
    /// Event streams open at once; more get 503.
    pub event_streams_max: usize,
    /// How long an admin console sign-in lasts.
    pub admin_session_ttl: Duration,
    /// Requests per API key, and per client address without a valid key.
    pub rate_limits: rate_limit::RateLimits,
    /// Failed sign-ins to the admin console allowed per user name and per address.
    pub admin_sign_in: admin::SignInLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout: Duration::from_secs(30),
            body_limit_bytes: 1024 * 1024,
            page_size_default: 20,
            page_size_max: 100,
            low_stock_threshold: 10,
            low_stock_report_items_max: 1000,
            default_stock: 0,
            hold_ttl_default: Duration::from_secs(15 * 60),
            hold_ttl_max: Duration::from_secs(24 * 3600),
            key_cache_ttl: Duration::from_secs(1),
            event_poll_interval: Duration::from_secs(1),
            event_batch_max: 500,
            event_streams_max: 256,
            admin_session_ttl: Duration::from_secs(8 * 3600),
            rate_limits: rate_limit::RateLimits::default(),
            admin_sign_in: admin::SignInLimits::default(),
        }
    }
}

/// Everything a handler can reach; cheap to clone (every middleware and
/// extractor takes its own copy, so it is one reference count).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What an [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    /// The cache, the suppliers, pushes, and the jobs a caller may start.
    pub jobs: Jobs,
    pub config: Arc<HttpConfig>,
    pub stats: Arc<ServiceStats>,
    pub in_flight: Arc<InFlight>,
    pub keys: Arc<auth::KeyCache>,
    /// What each API key and client address has used of its rate limit.
    pub limits: Arc<rate_limit::Limiters>,
    /// Event streams open now.
    pub streams: Arc<std::sync::atomic::AtomicUsize>,
    /// Failed sign-ins to the admin console, per user name and address.
    pub sign_in: Arc<admin::SignInThrottle>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(jobs: Jobs, config: HttpConfig) -> AppState {
        AppState(Arc::new(Shared {
            store: Arc::clone(&jobs.store),
            engine: jobs.engine.clone(),
            jobs,
            keys: Arc::new(auth::KeyCache::new(config.key_cache_ttl)),
            limits: Arc::new(rate_limit::Limiters::new(&config.rate_limits)),
            streams: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            sign_in: Arc::new(admin::SignInThrottle::new(config.admin_sign_in)),
            config: Arc::new(config),
            stats: Arc::new(ServiceStats::new()),
            in_flight: Arc::new(InFlight::default()),
        }))
    }

    /// Items as storefront reads return them: from the cache when there is
    /// one and it is up, else from the database. In `ids` order; unknown
    /// items are left out.
    pub(crate) async fn read_items(
        &self,
        ids: &[stock_core::ItemId],
    ) -> anyhow::Result<Vec<stock_store::ItemView>> {
        match &self.jobs.cache {
            Some(cache) => cache.items(ids).await,
            None => self.store.items(ids).await,
        }
    }

    /// Runs a command through the write path and renders its answer. With an
    /// Idempotency-Key, `render` also produces the response kept for the key,
    /// inside the same transaction as the change.
    pub(crate) async fn write<R: auth::NeededRole>(
        &self,
        command: stock_store::Command,
        writer: Writer<R>,
        render: Render,
    ) -> Response {
        let Writer {
            caller,
            trace,
            idempotency,
            ..
        } = writer;
        let claim = idempotency.map(|request| IdempotencyClaim {
            key_id: request.key_id,
            idempotency_key: request.idempotency_key,
            request_hash: request.request_hash,
            render: Arc::clone(&render),
        });
        let meta = WriteMeta {
            operator: caller.key_id.clone(),
            trace_id: Some(trace.0.clone()),
            idempotency: claim,
        };
        match self.engine.submit(command, meta).await {
            Reply::Fresh(result) => {
                let (status, body) = render(&result);
                json_bytes(status, body)
            }
            Reply::Replayed {
                stored,
                same_request: true,
            } => replay(stored),
            Reply::Replayed {
                same_request: false,
                ..
            } => mismatch().into_response(),
        }
    }
}

fn json_bytes(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The whole service: `/api/v1`, `/health`, `/docs`.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = routes::api_router().split_for_parts();
    let openapi = Arc::new(openapi::document(openapi, &state.config));
    let api = api
        .merge(routes::docs::openapi_route(Arc::clone(&openapi)))
        .layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(from_fn_with_state(state.clone(), auth::authenticate));
    // Routes that need no key are limited per client address; the API's
    // routes per key, or per address when the key is not valid (`authenticate`).
    let by_address = from_fn_with_state(Arc::clone(&state.limits), rate_limit::by_address);
    let open = Router::new()
        .merge(routes::meta::health_route())
        .merge(routes::docs::docs_routes(openapi))
        .merge(admin::routes())
        .layer(by_address.clone());
    Router::new()
        .merge(open)
        .merge(api)
        .fallback(not_found.layer(by_address))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .layer(from_fn_with_state(
            state.config.body_limit_bytes,
            extract::refuse_oversized,
        ))
        .layer(from_fn(extract::refuse_encoded))
        .layer(from_fn_with_state(
            state.config.request_timeout,
            trace::time_limit,
        ))
        .layer(from_fn_with_state(
            Arc::clone(&state.stats),
            stats::count_requests,
        ))
        .layer(from_fn(trace::trace_requests))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /docs")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not take that method",
    )
}

/// Events as webhooks and sinks send them: `{id, type, created_at, data}`.
pub struct WireEvents;

impl stock_jobs::EventEncoder for WireEvents {
    fn encode(&self, event: &stock_store::EventView) -> stock_jobs::EncodedEvent {
        let (kind, data) = event_payload(event);
        let body = serde_json::json!({
            "id": event.id,
            "type": kind,
            "created_at": wire::timestamp(event.created_at_ms),
            "data": data,
        });
        stock_jobs::EncodedEvent {
            kind,
            body: serde_json::to_vec(&body).expect("event bodies serialize"),
        }
    }
}

/// What an event says, as SSE and webhooks send it: its kind and its data.
pub fn event_payload(event: &stock_store::EventView) -> (&'static str, serde_json::Value) {
    use stock_store::EventBody;
    use wire::{AlertOut, LedgerOut, OrderEventOut, ReservationEventOut};
    let (kind, data) = match &event.body {
        EventBody::Stock(entry) => ("stock", serde_json::to_value(LedgerOut::from(entry))),
        EventBody::Reservation {
            id,
            order_id,
            status,
        } => (
            "reservation",
            serde_json::to_value(ReservationEventOut {
                reservation_id: id.clone(),
                order_id: order_id.clone(),
                status: status.as_str(),
            }),
        ),
        EventBody::Order { id, status } => (
            "order",
            serde_json::to_value(OrderEventOut {
                order_id: id.clone(),
                status: status.as_str(),
            }),
        ),
        EventBody::Alert { alert, status } => {
            let mut out = AlertOut::from(alert);
            out.status = status.as_str();
            ("alert", serde_json::to_value(out))
        }
    };
    (kind, data.expect("event bodies serialize"))
}
