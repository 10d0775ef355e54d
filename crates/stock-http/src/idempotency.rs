//! `Idempotency-Key`: the same key and body return the first response.
//!
//! The response is kept in the same transaction as the change it describes
//! (see `stock_store::IdempotencyClaim`), so a crash can never leave a change
//! without its kept response, nor a kept response without its change.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use stock_store::StoredResponse;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::too_large;
use crate::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;

/// The idempotency key of the request being served, for its handler.
#[derive(Debug, Clone)]
pub struct IdempotencyRequest {
    pub key_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
}

/// Keys whose first request is still running in this process.
#[derive(Debug, Default)]
pub struct InFlight {
    keys: Mutex<HashSet<(String, String)>>,
}

/// Holds a key in flight until dropped.
pub struct InFlightGuard {
    in_flight: Arc<InFlight>,
    key: (String, String),
}

impl InFlight {
    /// Claims a key; `None` if a request with it is already running.
    pub fn claim(self: &Arc<Self>, key_id: &str, idempotency_key: &str) -> Option<InFlightGuard> {
        let key = (key_id.to_owned(), idempotency_key.to_owned());
        let inserted = self
            .keys
            .lock()
            .expect("in-flight lock")
            .insert(key.clone());
        inserted.then(|| InFlightGuard {
            in_flight: Arc::clone(self),
            key,
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.in_flight
            .keys
            .lock()
            .expect("in-flight lock")
            .remove(&self.key);
    }
}

fn request_hash(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_MISMATCH",
        "this Idempotency-Key was used before with a different request",
    )
}

/// Answers with a kept response, marked as replayed.
pub fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// For writes that carry an Idempotency-Key: replays a finished first
/// request, refuses a different body (422) or a first request still running
/// (409), and otherwise hands the key to the handler.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(IDEMPOTENCY_HEADER) else {
        return next.run(request).await;
    };
    let idempotency_key = match raw_key.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= IDEMPOTENCY_KEY_LENGTH_MAX
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            key.to_owned()
        }
        _ => {
            return ApiError::field(
                "Idempotency-Key",
                format!("must be 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} visible ASCII characters"),
            )
            .into_response()
        }
    };
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return ApiError::internal(&anyhow::anyhow!("idempotency ran before authentication"))
            .into_response();
    };
    let Some(guard) = state.in_flight.claim(&caller.key_id, &idempotency_key) else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_IN_PROGRESS",
            "a request with this Idempotency-Key is still running; retry when it has finished",
        )
        .into_response();
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.body_limit_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large().into_response(),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let request_hash = request_hash(&parts.method, path_and_query, &bytes);
    match state
        .store
        .idempotent_response(&caller.key_id, &idempotency_key)
        .await
    {
        Ok(Some(stored)) if stored.request_hash == request_hash => return replay(stored),
        Ok(Some(_)) => return mismatch().into_response(),
        Ok(None) => {}
        Err(error) => return ApiError::internal(&error).into_response(),
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(IdempotencyRequest {
        key_id: caller.key_id,
        idempotency_key,
        request_hash,
    });
    let response = next.run(request).await;
    drop(guard);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_flight_cannot_be_claimed_twice() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.claim("key_a", "k1").expect("a free key");
        assert!(in_flight.claim("key_a", "k1").is_none());
        assert!(
            in_flight.claim("key_b", "k1").is_some(),
            "keys are scoped to the API key"
        );
        drop(first);
        assert!(
            in_flight.claim("key_a", "k1").is_some(),
            "a finished request frees its key"
        );
    }

    #[test]
    fn the_hash_covers_method_path_and_body() {
        let base = request_hash(&Method::POST, "/a", b"{}");
        assert_ne!(base, request_hash(&Method::PUT, "/a", b"{}"));
        assert_ne!(base, request_hash(&Method::POST, "/b", b"{}"));
        assert_ne!(base, request_hash(&Method::POST, "/a", b"{ }"));
        assert_eq!(base, request_hash(&Method::POST, "/a", b"{}"));
    }
}
