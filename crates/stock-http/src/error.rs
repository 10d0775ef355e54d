//! The one place where what went wrong becomes a status and a JSON body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use stock_core::{HoldStatus, OrderStatus, StockError};
use stock_jobs::JobError;
use stock_store::WriteError;
use stock_supplier::SupplierError;
use utoipa::ToSchema;

/// The most characters of a caller's value that an error message or its
/// details quote; a longer value is cut, and the cut marked with `…`.
pub const QUOTED_LENGTH_MAX: usize = 64;

/// A caller's value as an error quotes it: whole when short, else its first
/// [`QUOTED_LENGTH_MAX`] characters and an ellipsis, so that an answer never
/// grows with the input it refuses.
pub fn quoted(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(QUOTED_LENGTH_MAX) {
        None => std::borrow::Cow::Borrowed(value),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &value[..cut])),
    }
}

/// The error body every route answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A machine-readable code such as `INSUFFICIENT_STOCK`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", message)
    }

    /// A validation failure naming the field at fault.
    pub fn field(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::validation(format!("{field} {message}")).with_details(json!({ "field": field }))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// A failure that is ours, not the caller's: logged with its causes, and
    /// answered with an opaque body.
    pub fn internal(error: &anyhow::Error) -> ApiError {
        tracing::error!(error = format!("{error:#}"), "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; see the service log",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, axum::Json(self.body())).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::internal(&error)
    }
}

impl From<&StockError> for ApiError {
    fn from(error: &StockError) -> Self {
        let message = error.to_string();
        match error {
            StockError::InsufficientStock { shortages } => {
                let lines: Vec<Value> = shortages
                    .iter()
                    .map(|s| {
                        json!({
                            "product_id": s.item.as_str(),
                            "location": s.location.as_ref().map(|l| l.as_str()),
                            "requested": s.requested,
                            "available": s.available,
                        })
                    })
                    .collect();
                ApiError::new(StatusCode::CONFLICT, "INSUFFICIENT_STOCK", message)
                    .with_details(json!({ "unavailable_products": lines }))
            }
            StockError::ItemLocked { item } => {
                ApiError::new(StatusCode::CONFLICT, "ITEM_LOCKED", message)
                    .with_details(json!({ "product_id": item.as_str() }))
            }
            StockError::ItemInactive { item } => {
                ApiError::new(StatusCode::CONFLICT, "ITEM_INACTIVE", message)
                    .with_details(json!({ "product_id": item.as_str() }))
            }
            StockError::Overflow { item } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "QUANTITY_OVERFLOW",
                message,
            )
            .with_details(json!({ "product_id": item.as_str() })),
            StockError::VersionConflict {
                item,
                expected,
                actual,
            } => ApiError::new(StatusCode::CONFLICT, "VERSION_CONFLICT", message).with_details(
                json!({
                    "product_id": item.as_str(),
                    "expected_version": expected,
                    "current_version": actual,
                }),
            ),
            StockError::InvalidChange { item, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CHANGE", message)
                    .with_details(json!({ "product_id": item.as_str() }))
            }
        }
    }
}

impl From<&WriteError> for ApiError {
    fn from(error: &WriteError) -> Self {
        match error {
            WriteError::Stock(stock) => ApiError::from(stock),
            // The id may be a caller's, unchecked (a path segment): quoted.
            WriteError::NotFound { entity, id } => {
                let id = quoted(id);
                ApiError::not_found(format!("{entity} {id} not found"))
                    .with_details(json!({ "entity": entity, "id": id }))
            }
            WriteError::AlreadyExists { entity, id } => {
                let id = quoted(id);
                ApiError::new(
                    StatusCode::CONFLICT,
                    "ALREADY_EXISTS",
                    format!("{entity} {id} already exists"),
                )
                .with_details(json!({ "entity": entity, "id": id }))
            }
            WriteError::RetryMismatch { message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_MISMATCH",
                message.clone(),
            ),
            WriteError::InProgress { message } => ApiError::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_IN_PROGRESS",
                message.clone(),
            ),
            WriteError::HoldState { id, refused } => {
                let code = match refused.state {
                    HoldStatus::Expired => "RESERVATION_EXPIRED",
                    HoldStatus::Committed => "RESERVATION_COMMITTED",
                    HoldStatus::Released => "RESERVATION_RELEASED",
                    HoldStatus::Active => "RESERVATION_ACTIVE",
                };
                ApiError::new(StatusCode::CONFLICT, code, error.to_string())
                    .with_details(json!({ "reservation_id": id, "status": refused.state.as_str() }))
            }
            WriteError::OrderState { id, refused } => {
                let code = match refused.state {
                    OrderStatus::Expired => "ORDER_EXPIRED",
                    OrderStatus::Cancelled => "ORDER_CANCELLED",
                    OrderStatus::Paid => "ORDER_PAID",
                    OrderStatus::Pending => "ORDER_PENDING",
                };
                ApiError::new(StatusCode::CONFLICT, code, error.to_string())
                    .with_details(json!({ "order_id": id, "status": refused.state.as_str() }))
            }
            WriteError::AlertClosed { id, status } => {
                ApiError::new(StatusCode::CONFLICT, "ALERT_CLOSED", error.to_string())
                    .with_details(json!({ "alert_id": id, "status": status.as_str() }))
            }
            WriteError::DiffClosed { id, status } => {
                ApiError::new(StatusCode::CONFLICT, "DIFF_CLOSED", error.to_string())
                    .with_details(json!({ "diff_id": id, "status": status.as_str() }))
            }
            WriteError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ROW_BUSY",
                "another database transaction has held a row this write needs for longer \
                 than engine.busy_wait_ms; nothing was changed, and the same request may be sent again",
            ),
            WriteError::Internal(error) => ApiError::internal(error),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        ApiError::from(&error)
    }
}

/// What a supplier call's failure is to a caller of stockd.
impl From<SupplierError> for ApiError {
    fn from(error: SupplierError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            SupplierError::Auth { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_AUTH_FAILED"),
            SupplierError::NotFound { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            SupplierError::Refused { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_REFUSED"),
            SupplierError::Unavailable { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_UNAVAILABLE"),
            SupplierError::Malformed { .. } => (StatusCode::BAD_GATEWAY, "SUPPLIER_BAD_RESPONSE"),
            SupplierError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "SUPPLIER_TIMEOUT"),
            SupplierError::CircuitOpen { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "SUPPLIER_CIRCUIT_OPEN")
            }
        };
        let mut details = json!({ "supplier": error.supplier() });
        if let SupplierError::CircuitOpen { retry_after_ms, .. } = error {
            details["retry_after_ms"] = json!(retry_after_ms);
        }
        ApiError::new(status, code, message).with_details(details)
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        let message = error.to_string();
        match error {
            JobError::CacheNotConfigured => {
                ApiError::new(StatusCode::CONFLICT, "CACHE_NOT_CONFIGURED", message)
            }
            JobError::CacheUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CACHE_UNAVAILABLE",
                message,
            ),
            JobError::CacheValueMissing { .. } => {
                ApiError::new(StatusCode::CONFLICT, "CACHE_VALUE_MISSING", message)
            }
            JobError::CompensationDisabled => {
                ApiError::new(StatusCode::CONFLICT, "COMPENSATION_DISABLED", message)
            }
            JobError::Write(error) => ApiError::from(error),
            JobError::Supplier(error) => ApiError::from(error),
            JobError::SupplierNotConfigured { item, supplier } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "SUPPLIER_NOT_CONFIGURED", message)
                    .with_details(json!({ "product_id": item.as_str(), "supplier": supplier }))
            }
            JobError::SupplierShortage {
                county_code,
                shortages,
            } => {
                let lines: Vec<Value> = shortages
                    .iter()
                    .map(|s| {
                        json!({
                            "product_id": s.item.as_str(),
                            "supplier": s.supplier,
                            "product_code": s.product_code,
                            "requested": s.requested,
                            "available": s.available,
                        })
                    })
                    .collect();
                ApiError::new(StatusCode::CONFLICT, "SUPPLIER_INSUFFICIENT_STOCK", message)
                    .with_details(
                        json!({ "county_code": county_code, "unavailable_products": lines }),
                    )
            }
            JobError::Internal(error) => ApiError::internal(&error),
        }
    }
}

/// The JSON bytes of an error body, for responses kept by idempotency keys.
pub fn error_bytes(error: &ApiError) -> Vec<u8> {
    serde_json::to_vec(&error.body()).expect("error bodies serialize")
}
