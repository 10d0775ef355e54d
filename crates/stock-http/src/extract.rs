//! Extractors whose rejections speak the API's error body.

mod json;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{quoted, ApiError};
use json::Json;

/// A JSON body: always an object. Wrong types, unknown fields, an array where
/// an object belongs, a wrong content type and bodies over the limit all
/// become a 4xx with a code.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::validation(format!("the body could not be read: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "the request body is over the size limit",
    )
}

/// Reads a body into `T`, a struct: from a JSON object only (see [`json`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let body: Json = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::validation(format!("invalid JSON body: {error}"))
            .with_details(json!({ "line": error.line(), "column": error.column() }))
    })?;
    if !matches!(body, Json::Object(_)) {
        return Err(ApiError::validation(
            "invalid JSON body: the body must be a JSON object",
        ));
    }
    json::from_json(&body).map_err(|error| {
        let field = field(error.path());
        refusal("invalid JSON body", field, error.into_inner())
    })
}

/// A deserialization failure as a 400 naming the field at fault.
fn refusal(what: &str, field: Option<String>, error: impl std::fmt::Display) -> ApiError {
    match field {
        Some(field) => ApiError::validation(format!("{what}: {field}: {error}"))
            .with_details(json!({ "field": field })),
        None => ApiError::validation(format!("{what}: {error}")),
    }
}

/// Where in the input a value was refused, as `items[0].quantity`, names
/// shortened (an unknown one is the caller's); `None` for the input itself.
fn field(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path.iter() {
        let name = match segment {
            Segment::Seq { index } => {
                field.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } => quoted(key).into_owned(),
            Segment::Enum { variant } => quoted(variant).into_owned(),
            Segment::Unknown => "?".to_owned(),
        };
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(&name);
    }
    (!field.is_empty()).then_some(field)
}

/// A query string; unknown parameters are refused where the type says so.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // As axum's `Query` reads it, with errors of our own shape.
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let field = field(error.path());
                refusal("invalid query", field, QueryError(error.into_inner()))
            })
    }
}

/// serde_urlencoded's error, with the names it quotes from the input (an
/// unknown parameter, between backquotes) shortened.
struct QueryError(serde_urlencoded::de::Error);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, part) in self.0.to_string().split('`').enumerate() {
            if index > 0 {
                f.write_str("`")?;
            }
            if index % 2 == 1 {
                f.write_str(&quoted(part))?;
            } else {
                f.write_str(part)?;
            }
        }
        Ok(())
    }
}

/// Refuses a request whose body is declared encoded (any `Content-Encoding`
/// but `identity`) with 415: bodies are read as they come, so a compressed
/// body, or one in a coding nobody knows, would otherwise be taken for plain.
pub async fn refuse_encoded(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    for value in request.headers().get_all(CONTENT_ENCODING) {
        let identity = value.to_str().is_ok_and(|codings| {
            codings
                .split(',')
                .map(str::trim)
                .filter(|coding| !coding.is_empty())
                .all(|coding| coding.eq_ignore_ascii_case("identity"))
        });
        if !identity {
            let shown = String::from_utf8_lossy(value.as_bytes());
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                format!(
                    "Content-Encoding {} is not supported: send the body unencoded (identity)",
                    quoted(&shown)
                ),
            )
            .with_details(json!({ "header": "Content-Encoding" }))
            .into_response();
        }
    }
    next.run(request).await
}

/// Refuses a body whose declared length is over the limit at once, before
/// any of it is read. Bodies without a length are cut off at the limit by
/// the extractors instead.
pub async fn refuse_oversized(
    axum::extract::State(limit_bytes): axum::extract::State<usize>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit_bytes as u64) {
        return too_large().into_response();
    }
    next.run(request).await
}

/// A JSON body that may be left out entirely (no body, or an empty one):
/// then it is `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_empty = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim() == "0");
        let has_type = request.headers().contains_key(CONTENT_TYPE);
        if declared_empty || !has_type {
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(|_| too_large())?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(request, state).await?;
        Ok(OptionalJson(value))
    }
}
