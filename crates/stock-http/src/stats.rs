//! Counters for `GET /api/v1/stats/service`.

use std::collections::BTreeMap;
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

/// Requests and errors by route. Keys are the route table's paths (plus
/// `unmatched`), so the map cannot grow past the number of routes.
#[derive(Debug)]
pub struct ServiceStats {
    pub started: Instant,
    pub started_at_ms: i64,
    routes: Mutex<BTreeMap<(String, String), RouteCounters>>,
}

impl ServiceStats {
    pub fn new() -> ServiceStats {
        ServiceStats {
            started: Instant::now(),
            started_at_ms: stock_store::now_ms(),
            routes: Mutex::new(BTreeMap::new()),
        }
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
    let response = next.run(request).await;
    stats.record(&method, &route, response.status().as_u16());
    response
}
