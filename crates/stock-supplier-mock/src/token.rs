//! The token endpoint: OAuth2 client credentials (RFC 6749 section 4.4), from
//! a form body or HTTP Basic auth, and the tokens it has issued.

use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::json;
use stock_supplier::protocol::TokenResponse;

use crate::{lock, MockState, SharedState};

pub(crate) const TOKEN_RANDOM_BYTES: usize = 32;
/// Tokens remembered at once; a client that asks for a token per call must
/// not grow the mock without bound.
const TOKENS_LIVE_MAX: usize = 10_000;

pub(crate) struct IssuedToken {
    issued_at: Instant,
    ttl: Duration,
}

impl IssuedToken {
    pub(crate) fn is_live(&self, now: Instant) -> bool {
        now.duration_since(self.issued_at) < self.ttl
    }
}

pub(crate) async fn token_route(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = form.map(|Form(pairs)| pairs);
    lock(&state).answer_token_request(&headers, form)
}

impl MockState {
    fn answer_token_request(
        &mut self,
        headers: &HeaderMap,
        form: Result<Vec<(String, String)>, FormRejection>,
    ) -> Response {
        self.counters.token_requests += 1;
        self.last_token_form = form.as_ref().ok().cloned();
        if let Some(status) = self.faults.take_token_fault() {
            self.counters.faults_served += 1;
            return OAuthError::injected(status).into_response();
        }
        match self.grant_token(headers, form, self.options.clock.now()) {
            Ok(token) => token_response(token),
            Err(error) => error.into_response(),
        }
    }

    /// The client is authenticated before the grant is looked at, so a
    /// stranger learns nothing about what the endpoint accepts.
    fn grant_token(
        &mut self,
        headers: &HeaderMap,
        form: Result<Vec<(String, String)>, FormRejection>,
        now: Instant,
    ) -> Result<TokenResponse, OAuthError> {
        let form = form.map_err(|rejection| OAuthError::invalid_request(rejection.body_text()))?;
        let credentials = client_credentials(headers, &form)?;
        let is_known = credentials.client_id == self.options.client_id
            && credentials.client_secret == self.options.client_secret;
        if !is_known {
            return Err(OAuthError::invalid_client(credentials.from_basic));
        }
        check_grant_type(form_value(&form, "grant_type"))?;
        self.issue_token(now)
    }

    fn issue_token(&mut self, now: Instant) -> Result<TokenResponse, OAuthError> {
        let access_token = random_token().map_err(|error| {
            tracing::error!(%error, "mock supplier found no randomness for a token");
            OAuthError::server_error()
        })?;
        self.make_room_for_token(now);
        let ttl = self.options.token_ttl;
        let issued = IssuedToken {
            issued_at: now,
            ttl,
        };
        self.tokens.insert(access_token.clone(), issued);
        self.counters.tokens_issued += 1;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: ttl.as_secs(),
        })
    }

    fn make_room_for_token(&mut self, now: Instant) {
        if self.tokens.len() < TOKENS_LIVE_MAX {
            return;
        }
        self.tokens.retain(|_, token| token.is_live(now));
        if self.tokens.len() < TOKENS_LIVE_MAX {
            return;
        }
        let oldest = self.tokens.iter().min_by_key(|(_, token)| token.issued_at);
        if let Some(oldest) = oldest.map(|(token, _)| token.clone()) {
            self.tokens.remove(&oldest);
        }
    }
}

struct ClientCredentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    from_basic: bool,
}

/// HTTP Basic auth when the request has it (RFC 6749 section 2.3.1), else
/// the form's `client_id` and `client_secret`.
fn client_credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<ClientCredentials, OAuthError> {
    if let Some(encoded) = basic_credentials(headers) {
        return decode_basic(encoded).ok_or(OAuthError::invalid_client(true));
    }
    let client_id = form_value(form, "client_id");
    let client_secret = form_value(form, "client_secret");
    match (client_id, client_secret) {
        (Some(client_id), Some(client_secret)) => Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            from_basic: false,
        }),
        _ => Err(OAuthError::invalid_client(false)),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then(|| encoded.trim())
}

/// The mock's own credentials need no escaping, so the form encoding that
/// RFC 6749 asks for inside Basic auth is not undone.
fn decode_basic(encoded: &str) -> Option<ClientCredentials> {
    let decoded = String::from_utf8(decode_base64(encoded)?).ok()?;
    let (client_id, client_secret) = decoded.split_once(':')?;
    Some(ClientCredentials {
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
        from_basic: true,
    })
}

fn check_grant_type(grant_type: Option<&str>) -> Result<(), OAuthError> {
    match grant_type {
        Some("client_credentials") => Ok(()),
        Some(_) => Err(OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "only client_credentials is supported".to_owned(),
            basic_challenge: false,
        }),
        None => Err(OAuthError::invalid_request(
            "grant_type is missing".to_owned(),
        )),
    }
}

fn form_value<'form>(form: &'form [(String, String)], name: &str) -> Option<&'form str> {
    let pair = form.iter().find(|(key, _)| key == name);
    pair.map(|(_, value)| value.as_str())
}

fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Tokens must not be kept by caches on the way (RFC 6749 section 5.1).
fn token_response(token: TokenResponse) -> Response {
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    (no_store, Json(token)).into_response()
}

/// An OAuth2 error answer (RFC 6749 section 5.2).
struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    /// Whether to ask for Basic auth again, as RFC 6749 requires when the
    /// client tried it.
    basic_challenge: bool,
}

impl OAuthError {
    fn invalid_request(description: String) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description,
            basic_challenge: false,
        }
    }

    fn invalid_client(basic_challenge: bool) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "unknown client or wrong secret".to_owned(),
            basic_challenge,
        }
    }

    fn server_error() -> OAuthError {
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "no token could be made".to_owned(),
            basic_challenge: false,
        }
    }

    fn injected(status: StatusCode) -> OAuthError {
        let error = match status {
            StatusCode::UNAUTHORIZED => "invalid_client",
            StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
            status if status.is_client_error() => "invalid_request",
            _ => "server_error",
        };
        OAuthError {
            status,
            error,
            description: "fault injected by the mock supplier".to_owned(),
            basic_challenge: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            let challenge = HeaderValue::from_static("Basic realm=\"mock-supplier\"");
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Standard base64 (RFC 4648 section 4) with its padding or without, as
/// clients send Basic credentials both ways.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `None` for anything that is not base64.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASIC_BASE64.decode(text).ok()
}
