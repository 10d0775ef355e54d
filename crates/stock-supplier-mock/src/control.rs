//! The control routes under `/mock/`: the methods of [`crate::MockSupplier`]
//! over HTTP, for a mock started on its own.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::{status_fault, DelayFault, PendingFaults, StatusFault};
use crate::{lock, MockCounters, MockState, SharedState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsRequest {
    pub(crate) fail_next: Option<StatusFault>,
    pub(crate) delay_next: Option<DelayFault>,
    pub(crate) malformed_next: Option<u32>,
    pub(crate) fail_token_next: Option<StatusFault>,
    #[serde(default)]
    pub(crate) revoke_tokens: bool,
    pub(crate) token_ttl_s: Option<u64>,
}

impl FaultsRequest {
    /// Checked as a whole before any of it applies, so a refused request
    /// changes nothing.
    fn check(&self) -> Result<(), ControlError> {
        let statuses = [self.fail_next, self.fail_token_next];
        for fault in statuses.into_iter().flatten() {
            status_fault(fault.count, fault.status).map_err(ControlError::bad_request)?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StockOverride {
    pub(crate) product_code: String,
    #[serde(default)]
    pub(crate) county_code: Option<String>,
    pub(crate) stock: i64,
}

pub(crate) async fn faults_route(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PendingFaults>, ControlError> {
    let request: FaultsRequest = parse_control_body(body)?;
    request.check()?;
    let mut state = lock(&state);
    state.apply_faults(&request);
    Ok(Json(state.faults))
}

pub(crate) async fn stock_route(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StockOverride>, ControlError> {
    let request: StockOverride = parse_control_body(body)?;
    let county_code = request.county_code.as_deref();
    lock(&state).set_stock(&request.product_code, county_code, request.stock)?;
    Ok(Json(request))
}

pub(crate) async fn counters_route(State(state): State<SharedState>) -> Json<MockCounters> {
    Json(lock(&state).counters)
}

/// JSON whatever the `Content-Type`, since `curl -d` sends a form type.
fn parse_control_body<Request: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Request, ControlError> {
    let body = body.map_err(|rejection| ControlError {
        status: rejection.status(),
        message: rejection.body_text(),
    })?;
    serde_json::from_slice(&body).map_err(|error| ControlError::bad_request(error.to_string()))
}

/// A refused control request: `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct ControlError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ControlError {
    pub(crate) fn bad_request(message: String) -> ControlError {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    pub(crate) fn not_found(message: String) -> ControlError {
        ControlError {
            status: StatusCode::NOT_FOUND,
            message,
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

impl MockState {
    fn apply_faults(&mut self, request: &FaultsRequest) {
        if let Some(fault) = request.fail_next {
            self.faults.fail_next = fault;
        }
        if let Some(fault) = request.delay_next {
            self.faults.delay_next = fault.capped();
        }
        if let Some(count) = request.malformed_next {
            self.faults.malformed_next = count;
        }
        if let Some(fault) = request.fail_token_next {
            self.faults.fail_token_next = fault;
        }
        if request.revoke_tokens {
            self.tokens.clear();
        }
        if let Some(ttl_s) = request.token_ttl_s {
            self.options.token_ttl = Duration::from_secs(ttl_s);
        }
    }
}
