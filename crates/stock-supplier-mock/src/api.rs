//! The path every API call takes: its fault if one is pending, then the
//! token, then the body and the customer, then the path's own answer; and
//! the envelope it is answered in.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use stock_supplier::protocol::{
    BalanceRequest, Envelope, LogisticsRequest, PricesRequest, ProductsRequest, StockRequest,
};

use crate::faults::ApiFault;
use crate::{lock, MockState, SharedState, MOCK_CUSTOMER_CODE};

const CODE_OK: &str = "0";
const CODE_UNAUTHORIZED: &str = "UNAUTHORIZED";
const CODE_INVALID_PARAMETER: &str = "INVALID_PARAMETER";
const CODE_CUSTOMER_NOT_FOUND: &str = "CUSTOMER_NOT_FOUND";
pub(crate) const CODE_ORDER_NOT_FOUND: &str = "ORDER_NOT_FOUND";
const CODE_MOCK_FAULT: &str = "MOCK_FAULT";
/// A 200 answer cut off mid-object, as a broken proxy would deliver it.
const MALFORMED_BODY: &str = r#"{"success": true, "code": "0", "data": {"stock": "#;

/// What an API path does with a request that passed the checks every path
/// shares.
pub(crate) type Answer<Request, Data> = fn(&MockState, Request) -> Result<Data, ApiError>;

/// Every API request names the customer it is made for.
pub(crate) trait ApiRequest: DeserializeOwned {
    fn customer_code(&self) -> &str;
}

/// Each request type of the protocol has a `customer_code` field.
macro_rules! api_requests {
    ($($request:ty),+) => {
        $(impl ApiRequest for $request {
            fn customer_code(&self) -> &str {
                &self.customer_code
            }
        })+
    };
}

api_requests!(
    StockRequest,
    ProductsRequest,
    PricesRequest,
    BalanceRequest,
    LogisticsRequest
);

pub(crate) fn api_route<Request, Data>(answer: Answer<Request, Data>) -> MethodRouter<SharedState>
where
    Request: ApiRequest + Send + 'static,
    Data: Serialize + Send + 'static,
{
    post(
        move |State(state): State<SharedState>,
              headers: HeaderMap,
              body: Result<Bytes, BytesRejection>| async move {
            serve_api_call(state, headers, body, answer).await
        },
    )
}

async fn serve_api_call<Request: ApiRequest, Data: Serialize>(
    state: SharedState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    answer: Answer<Request, Data>,
) -> Response {
    let fault = lock(&state).begin_api_call(&headers);
    match fault {
        Some(ApiFault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(ApiFault::Status(status)) => return ApiError::injected(status).into_response(),
        Some(ApiFault::Malformed) => return malformed_response(),
        None => {}
    }
    let answered = lock(&state).answer_api_call(&headers, body, answer);
    match answered {
        Ok(data) => success_response(data),
        Err(error) => error.into_response(),
    }
}

impl MockState {
    /// Counts the call, notes what it carried, and takes its fault if one is
    /// pending.
    fn begin_api_call(&mut self, headers: &HeaderMap) -> Option<ApiFault> {
        self.counters.api_calls += 1;
        let authorization = headers.get(header::AUTHORIZATION);
        self.last_authorization =
            authorization.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let fault = self.faults.take_api_fault();
        if fault.is_some() {
            self.counters.faults_served += 1;
        }
        fault
    }

    fn answer_api_call<Request: ApiRequest, Data>(
        &mut self,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        answer: Answer<Request, Data>,
    ) -> Result<Data, ApiError> {
        if let Err(error) = self.authorize(headers, self.options.clock.now()) {
            self.counters.unauthorized += 1;
            return Err(error);
        }
        let request: Request = parse_body(body)?;
        check_customer_code(request.customer_code())?;
        answer(self, request)
    }

    fn authorize(&self, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
        let Some(token) = bearer_token(headers) else {
            return Err(ApiError::unauthorized("a bearer token is required"));
        };
        match self.tokens.get(token) {
            None => Err(ApiError::unauthorized("the token is unknown or revoked")),
            Some(issued) if !issued.is_live(now) => {
                Err(ApiError::unauthorized("the token has expired"))
            }
            Some(_) => Ok(()),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Parsed whatever the `Content-Type` says, as clients of such platforms are
/// not always careful with it.
fn parse_body<Request: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Request, ApiError> {
    let body = body.map_err(|rejection| ApiError {
        status: rejection.status(),
        code: CODE_INVALID_PARAMETER,
        message: rejection.body_text(),
    })?;
    serde_json::from_slice(&body)
        .map_err(|error| ApiError::invalid_parameter(format!("invalid request body: {error}")))
}

fn check_customer_code(customer_code: &str) -> Result<(), ApiError> {
    if customer_code == MOCK_CUSTOMER_CODE {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: CODE_CUSTOMER_NOT_FOUND,
            message: format!("customerCode {customer_code} is not a customer"),
        })
    }
}

pub(crate) fn check_county_code(county_code: &str) -> Result<(), ApiError> {
    let is_six_digits = county_code.len() == 6 && county_code.bytes().all(|b| b.is_ascii_digit());
    if is_six_digits {
        Ok(())
    } else {
        let message = format!("countyCode must be 6 digits, not {county_code:?}");
        Err(ApiError::invalid_parameter(message))
    }
}

fn success_response<Data: Serialize>(data: Data) -> Response {
    let envelope = Envelope {
        success: true,
        code: Some(CODE_OK.to_owned()),
        message: Some("ok".to_owned()),
        data: Some(data),
    };
    Json(envelope).into_response()
}

fn malformed_response() -> Response {
    let json = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )];
    (StatusCode::OK, json, MALFORMED_BODY).into_response()
}

/// An API answer with `success: false`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: CODE_UNAUTHORIZED,
            message: message.to_owned(),
        }
    }

    pub(crate) fn invalid_parameter(message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: CODE_INVALID_PARAMETER,
            message,
        }
    }

    pub(crate) fn not_found(code: &'static str, message: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code,
            message,
        }
    }

    fn injected(status: StatusCode) -> ApiError {
        ApiError {
            status,
            code: CODE_MOCK_FAULT,
            message: format!(
                "fault injected by the mock supplier: HTTP {}",
                status.as_u16()
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let envelope: Envelope<Value> = Envelope {
            success: false,
            code: Some(self.code.to_owned()),
            message: Some(self.message),
            data: None,
        };
        (self.status, Json(envelope)).into_response()
    }
}
