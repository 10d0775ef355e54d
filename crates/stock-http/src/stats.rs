//! Counters for `GET /api/v1/stats/service`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteCounters {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

/// Upper bounds, in seconds, of the request-duration histogram.
pub const DURATION_BUCKETS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests and errors by route. Keys are the route table's paths (plus
/// `unmatched`), so the map cannot grow past the number of routes.
#[derive(Debug)]
pub struct ServiceStats {
    pub started: Instant,
    pub started_at_ms: i64,
    routes: Mutex<BTreeMap<(String, String), RouteCounters>>,
    /// Requests by duration: `durations[i]` counts those within
    /// `DURATION_BUCKETS_S[i]` and above the bucket before; the last slot
    /// counts the slower ones.
    durations: [AtomicU64; DURATION_BUCKETS_S.len() + 1],
    duration_sum_us: AtomicU64,
}

impl ServiceStats {
    pub fn new() -> ServiceStats {
        ServiceStats {
            started: Instant::now(),
            started_at_ms: stock_store::now_ms(),
            routes: Mutex::new(BTreeMap::new()),
            durations: Default::default(),
            duration_sum_us: AtomicU64::new(0),
        }
    }

    pub fn record_duration(&self, seconds: f64) {
        let bucket = DURATION_BUCKETS_S
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS_S.len());
        self.durations[bucket].fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Requests per duration bucket (not cumulative) and the sum in seconds.
    pub fn durations(&self) -> ([u64; DURATION_BUCKETS_S.len() + 1], f64) {
        (
            std::array::from_fn(|i| self.durations[i].load(Ordering::Relaxed)),
            self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }

    pub fn record(&self, method: &str, route: &str, status: u16) {
        let mut routes = self.routes.lock().expect("stats lock");
        let counters = routes
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        counters.requests += 1;
        if (400..500).contains(&status) {
            counters.client_errors += 1;
        } else if status >= 500 {
            counters.server_errors += 1;
        }
    }

    pub fn routes(&self) -> Vec<((String, String), RouteCounters)> {
        let routes = self.routes.lock().expect("stats lock");
        routes
            .iter()
            .map(|(key, counters)| (key.clone(), *counters))
            .collect()
    }
}

impl Default for ServiceStats {
    fn default() -> Self {
        ServiceStats::new()
    }
}

pub async fn count_requests(
    State(stats): State<Arc<ServiceStats>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    stats.record(&method, &route, response.status().as_u16());
    stats.record_duration(started.elapsed().as_secs_f64());
    response
}
