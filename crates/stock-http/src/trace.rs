//! Trace ids, request logs and the request timeout.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::auth::time_ordered_id;
use crate::error::ApiError;

pub const TRACE_HEADER: &str = "x-trace-id";
/// The longest trace id accepted from a caller.
pub const TRACE_ID_LENGTH_MAX: usize = 128;

/// The trace id of the request being served.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

fn acceptable(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= TRACE_ID_LENGTH_MAX
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Accepts the caller's `X-Trace-Id` (or makes one), logs the request under
/// it, and returns it on the response.
pub async fn trace_requests(mut request: Request, next: Next) -> Response {
    let trace_id = request
        .headers()
        .get(TRACE_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|raw| acceptable(raw))
        .map(str::to_owned)
        .unwrap_or_else(|| time_ordered_id(10));
    request.extensions_mut().insert(TraceId(trace_id.clone()));
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
    response.headers_mut().insert(
        TRACE_HEADER,
        HeaderValue::from_str(&trace_id).expect("trace ids are header-safe"),
    );
    response
}

/// Answers 503 `TIMEOUT` when a request takes longer than the limit. A write
/// that was already queued still completes; a retry with the same
/// Idempotency-Key then returns its result.
pub async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_ids_are_checked() {
        assert!(super::acceptable("trace_12345"));
        assert!(!super::acceptable(""));
        assert!(!super::acceptable("a b"));
        assert!(!super::acceptable(&"x".repeat(129)));
    }
}
