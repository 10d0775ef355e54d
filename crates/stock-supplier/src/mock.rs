//! A mock supplier: the API of [`crate::protocol`] with sample data.
//!
//! [`MockSupplier`] serves the Haier-style open platform API over real HTTP,
//! so a developer can try stockd without credentials and tests can provoke
//! every failure a real supplier shows. It runs three ways: alone
//! (`stockd mock-supplier --port P`, which calls [`MockSupplier::serve`]),
//! inside `stockd serve --demo`, and inside integration tests
//! ([`MockSupplier::spawn`] on `127.0.0.1:0`).
//!
//! It accepts the client [`MOCK_CLIENT_ID`] / [`MOCK_CLIENT_SECRET`] (unless
//! [`MockOptions`] says otherwise) at `POST` [`MOCK_TOKEN_PATH`], as a form
//! body or as HTTP Basic auth, and knows one customer, [`MOCK_CUSTOMER_CODE`].
//! The catalogue holds 24 appliances (冰箱, 洗衣机, 空调, 热水器 of 海尔,
//! 卡萨帝 and 统帅). Stock per product and region is a deterministic function
//! of both, so the same question always gets the same answer, unless a test
//! overrides it.
//!
//! # Faults
//!
//! Each fault applies to the next `count` API calls (token requests excepted;
//! those have their own). A call gets at most one fault, the first pending one
//! in this order: a delay (after which the call is answered normally), a
//! failure status with an error envelope, a malformed 200 answer. Setting a
//! fault replaces the pending one of its kind. Delays are capped at 120 s.
//!
//! # Control routes
//!
//! The same controls as the methods, over HTTP and without a token, so a mock
//! started on its own can be driven with curl. Bodies are JSON whatever the
//! `Content-Type` says; every field is optional; unknown fields are refused.
//!
//! - `POST /mock/faults` `{"fail_next": {"count": 3, "status": 503},
//!   "delay_next": {"count": 1, "delay_ms": 2000}, "malformed_next": 1,
//!   "fail_token_next": {"count": 1, "status": 500}, "revoke_tokens": true,
//!   "token_ttl_s": 5}` answers the faults now pending.
//! - `PUT /mock/stock` `{"product_code": "GA0SZC00U", "county_code": "110101",
//!   "stock": 5}`; without `county_code` the stock holds in every region.
//! - `GET /mock/counters` answers [`MockCounters`].
//!
//! ```text
//! stockd mock-supplier --port 8081 &
//! TOKEN=$(curl -s localhost:8081/oauth2/token -d grant_type=client_credentials \
//!     -d client_id=mock-client -d client_secret=mock-secret | jq -r .access_token)
//! curl -s localhost:8081/api/stock/check -H "Authorization: Bearer $TOKEN" \
//!     -H 'Content-Type: application/json' \
//!     -d '{"productCode": "GA0SZC00U", "countyCode": "110101", "source": "JSH-B", "customerCode": "C0001"}'
//! curl -s localhost:8081/mock/faults -d '{"fail_next": {"count": 3, "status": 503}}'
//! curl -s -X PUT localhost:8081/mock/stock -d '{"product_code": "GA0SZC00U", "stock": 0}'
//! curl -s localhost:8081/mock/counters
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Form, Json, Router};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::protocol::{
    BalanceData, BalanceRequest, Envelope, LogisticsData, LogisticsRequest, PriceData,
    PricesRequest, ProductData, ProductsPage, ProductsRequest, StockData, StockRequest,
    TokenResponse, PRODUCTS_PAGE_SIZE_MAX, PRODUCT_NOT_FOUND,
};

pub const MOCK_CLIENT_ID: &str = "mock-client";
pub const MOCK_CLIENT_SECRET: &str = "mock-secret";
/// The one customer the mock knows; every API body must name it.
pub const MOCK_CUSTOMER_CODE: &str = "C0001";
/// Where the mock answers token requests: its `token_url` is its address
/// followed by this path.
pub const MOCK_TOKEN_PATH: &str = "/oauth2/token";

const TOKEN_TTL_DEFAULT: Duration = Duration::from_secs(7200);
const TOKEN_RANDOM_BYTES: usize = 32;
/// Tokens remembered at once; a client that asks for a token per call must
/// not grow the mock without bound.
const TOKENS_LIVE_MAX: usize = 10_000;
const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
const FAULT_DELAY_MAX: Duration = Duration::from_secs(120);
/// Injected failures are errors a server can send, never 1xx to 3xx.
const FAULT_STATUS_RANGE: RangeInclusive<u16> = 400..=599;
const STOCK_OVERRIDES_MAX: usize = 10_000;
/// One region in this many has none of a product, as regional warehouses
/// really run dry.
const OUT_OF_STOCK_ONE_IN: u64 = 5;

const CODE_OK: &str = "0";
const CODE_UNAUTHORIZED: &str = "UNAUTHORIZED";
const CODE_INVALID_PARAMETER: &str = "INVALID_PARAMETER";
const CODE_CUSTOMER_NOT_FOUND: &str = "CUSTOMER_NOT_FOUND";
const CODE_ORDER_NOT_FOUND: &str = "ORDER_NOT_FOUND";
const CODE_MOCK_FAULT: &str = "MOCK_FAULT";
/// A 200 answer cut off mid-object, as a broken proxy would deliver it.
const MALFORMED_BODY: &str = r#"{"success": true, "code": "0", "data": {"stock": "#;

/// Who may ask for tokens, and for how long a token is good.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    /// Where the API is served, for trying a client configured with other paths.
    pub paths: crate::protocol::ApiPaths,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            client_id: MOCK_CLIENT_ID.to_owned(),
            client_secret: MOCK_CLIENT_SECRET.to_owned(),
            token_ttl: TOKEN_TTL_DEFAULT,
            paths: crate::protocol::ApiPaths::default(),
        }
    }
}

/// What the mock has seen since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MockCounters {
    /// Every request to the token endpoint, refused or not.
    pub token_requests: u64,
    pub tokens_issued: u64,
    /// Every request to an API path, whatever its answer.
    pub api_calls: u64,
    /// API calls answered 401 for want of a live token.
    pub unauthorized: u64,
    /// Calls (API or token) that got an injected fault.
    pub faults_served: u64,
}

/// The mock supplier. Clones share one state, so a test can keep a clone to
/// steer the one it spawned.
#[derive(Clone, Debug)]
pub struct MockSupplier {
    state: SharedState,
}

impl MockSupplier {
    /// A mock with the sample catalogue, no faults and no tokens.
    pub fn new(options: MockOptions) -> MockSupplier {
        MockSupplier {
            state: Arc::new(Mutex::new(MockState::new(options))),
        }
    }

    /// The token endpoint at [`MOCK_TOKEN_PATH`], the API at the protocol's
    /// paths, and the control routes under `/mock/`.
    pub fn router(&self) -> Router {
        let paths = lock(&self.state).options.paths.clone();
        router(self.state.clone(), &paths)
    }

    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds `address` (`127.0.0.1:0` for any free port), serves in a
    /// background task, and returns the address bound.
    pub async fn spawn(self, address: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(error) = self.serve(listener).await {
                tracing::error!(%error, "mock supplier stopped serving");
            }
        });
        Ok(bound)
    }

    /// The next `count` API calls get `status` (4xx or 5xx) and an error
    /// envelope with code `MOCK_FAULT`.
    ///
    /// # Panics
    /// If `status` is not 4xx or 5xx.
    pub fn fail_next(&self, count: u32, status: u16) {
        let fault = status_fault(count, status).unwrap_or_else(|message| panic!("{message}"));
        lock(&self.state).faults.fail_next = fault;
    }

    /// The next `count` API calls wait `delay` (at most 120 s) before they are
    /// answered.
    pub fn delay_next(&self, count: u32, delay: Duration) {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        lock(&self.state).faults.delay_next = DelayFault { count, delay_ms }.capped();
    }

    /// The next `count` API calls get 200 with a body that is not JSON.
    pub fn malformed_next(&self, count: u32) {
        lock(&self.state).faults.malformed_next = count;
    }

    /// The next `count` token requests get `status` (4xx or 5xx).
    ///
    /// # Panics
    /// If `status` is not 4xx or 5xx.
    pub fn fail_token_next(&self, count: u32, status: u16) {
        let fault = status_fault(count, status).unwrap_or_else(|message| panic!("{message}"));
        lock(&self.state).faults.fail_token_next = fault;
    }

    /// Every token issued so far becomes invalid.
    pub fn revoke_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// The lifetime of tokens issued from now on, both announced
    /// (`expires_in`, whole seconds) and enforced (exactly).
    pub fn set_token_ttl(&self, ttl: Duration) {
        lock(&self.state).options.token_ttl = ttl;
    }

    /// Fixes a product's stock in one region, or with `None` in every region
    /// (which also drops the product's per-region figures set before).
    ///
    /// # Panics
    /// If the product is not in the catalogue, the county code is not 6
    /// digits, or 10 000 figures are set already.
    pub fn set_stock(&self, product_code: &str, county_code: Option<&str>, stock: i64) {
        let result = lock(&self.state).set_stock(product_code, county_code, stock);
        if let Err(error) = result {
            panic!("set_stock: {}", error.message);
        }
    }

    pub fn counters(&self) -> MockCounters {
        lock(&self.state).counters
    }

    /// The catalogue, in the order the products endpoint pages through it.
    pub fn products(&self) -> Vec<ProductData> {
        CATALOGUE.iter().map(product_data).collect()
    }

    /// The `Authorization` header of the last API call, `None` if it had none.
    pub fn last_authorization(&self) -> Option<String> {
        lock(&self.state).last_authorization.clone()
    }

    /// The form pairs of the last token request as sent, `None` if its body
    /// was not a form.
    pub fn last_token_form(&self) -> Option<Vec<(String, String)>> {
        lock(&self.state).last_token_form.clone()
    }
}

type SharedState = Arc<Mutex<MockState>>;

/// A panic while the lock is held must not turn every later call into a
/// second panic. The state is still whole then, as no update of it can
/// panic halfway, so a poisoned lock is used as it is.
fn lock(state: &SharedState) -> MutexGuard<'_, MockState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

struct MockState {
    options: MockOptions,
    tokens: HashMap<String, IssuedToken>,
    faults: PendingFaults,
    stock_overrides: HashMap<StockKey, i64>,
    counters: MockCounters,
    last_authorization: Option<String>,
    last_token_form: Option<Vec<(String, String)>>,
}

/// A product code and a county code; no county code means every region.
type StockKey = (String, Option<String>);

/// Tokens and credentials stay out of debug output.
impl std::fmt::Debug for MockState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MockState")
            .field("tokens_live", &self.tokens.len())
            .field("faults", &self.faults)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

struct IssuedToken {
    issued_at: Instant,
    ttl: Duration,
}

impl IssuedToken {
    fn is_live(&self, now: Instant) -> bool {
        now.duration_since(self.issued_at) < self.ttl
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusFault {
    count: u32,
    status: u16,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayFault {
    count: u32,
    delay_ms: u64,
}

impl DelayFault {
    fn capped(self) -> DelayFault {
        let delay_max_ms = FAULT_DELAY_MAX.as_millis() as u64;
        DelayFault {
            count: self.count,
            delay_ms: self.delay_ms.min(delay_max_ms),
        }
    }
}

/// The faults still to be served; also the answer of `POST /mock/faults`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct PendingFaults {
    fail_next: StatusFault,
    delay_next: DelayFault,
    malformed_next: u32,
    fail_token_next: StatusFault,
}

enum ApiFault {
    Delay(Duration),
    Status(StatusCode),
    Malformed,
}

impl PendingFaults {
    fn take_api_fault(&mut self) -> Option<ApiFault> {
        if take_one(&mut self.delay_next.count) {
            return Some(ApiFault::Delay(Duration::from_millis(
                self.delay_next.delay_ms,
            )));
        }
        if take_one(&mut self.fail_next.count) {
            return Some(ApiFault::Status(fault_status(self.fail_next)));
        }
        if take_one(&mut self.malformed_next) {
            return Some(ApiFault::Malformed);
        }
        None
    }

    fn take_token_fault(&mut self) -> Option<StatusCode> {
        take_one(&mut self.fail_token_next.count).then(|| fault_status(self.fail_token_next))
    }
}

/// Counts one use down; false when none was left.
fn take_one(count: &mut u32) -> bool {
    let pending = *count > 0;
    if pending {
        *count -= 1;
    }
    pending
}

fn status_fault(count: u32, status: u16) -> Result<StatusFault, String> {
    if FAULT_STATUS_RANGE.contains(&status) {
        Ok(StatusFault { count, status })
    } else {
        Err(format!("a fault's status is 4xx or 5xx, not {status}"))
    }
}

fn fault_status(fault: StatusFault) -> StatusCode {
    StatusCode::from_u16(fault.status).expect("fault statuses are checked when they are set")
}

impl MockState {
    fn new(options: MockOptions) -> MockState {
        MockState {
            options,
            tokens: HashMap::new(),
            faults: PendingFaults::default(),
            stock_overrides: HashMap::new(),
            counters: MockCounters::default(),
            last_authorization: None,
            last_token_form: None,
        }
    }

    fn set_stock(
        &mut self,
        product_code: &str,
        county_code: Option<&str>,
        stock: i64,
    ) -> Result<(), ControlError> {
        if find_sample(product_code).is_none() {
            return Err(ControlError::not_found(format!(
                "unknown product {product_code}"
            )));
        }
        match county_code {
            Some(county_code) => check_county_code(county_code)
                .map_err(|error| ControlError::bad_request(error.message))?,
            // A figure for every region replaces the product's figures per region.
            None => self
                .stock_overrides
                .retain(|(product, _), _| product != product_code),
        }
        let key = (product_code.to_owned(), county_code.map(str::to_owned));
        let is_new = !self.stock_overrides.contains_key(&key);
        if is_new && self.stock_overrides.len() >= STOCK_OVERRIDES_MAX {
            let message = format!("at most {STOCK_OVERRIDES_MAX} stock figures can be set");
            return Err(ControlError::bad_request(message));
        }
        self.stock_overrides.insert(key, stock);
        Ok(())
    }

    /// A region's own figure wins over one for every region, which wins over
    /// the sample figure.
    fn stock(&self, product: &SampleProduct, county_code: &str) -> i64 {
        let region = (product.code.to_owned(), Some(county_code.to_owned()));
        let everywhere = (product.code.to_owned(), None);
        let set = self.stock_overrides.get(&region);
        let set = set.or_else(|| self.stock_overrides.get(&everywhere));
        set.copied()
            .unwrap_or_else(|| sample_stock(product, county_code))
    }

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

fn router(state: SharedState, paths: &crate::protocol::ApiPaths) -> Router {
    Router::new()
        .route(MOCK_TOKEN_PATH, post(token_route))
        .route(&paths.stock, api_route(answer_stock))
        .route(&paths.products, api_route(answer_products))
        .route(&paths.prices, api_route(answer_prices))
        .route(&paths.balance, api_route(answer_balance))
        .route(&paths.logistics, api_route(answer_logistics))
        .route("/mock/faults", post(faults_route))
        .route("/mock/stock", put(stock_route))
        .route("/mock/counters", get(counters_route))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(state)
}

// The token endpoint.

async fn token_route(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = form.map(|Form(pairs)| pairs);
    lock(&state).answer_token_request(&headers, form, Instant::now())
}

impl MockState {
    fn answer_token_request(
        &mut self,
        headers: &HeaderMap,
        form: Result<Vec<(String, String)>, FormRejection>,
        now: Instant,
    ) -> Response {
        self.counters.token_requests += 1;
        self.last_token_form = form.as_ref().ok().cloned();
        if let Some(status) = self.faults.take_token_fault() {
            self.counters.faults_served += 1;
            return OAuthError::injected(status).into_response();
        }
        match self.grant_token(headers, form, now) {
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
    client_id: String,
    client_secret: String,
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
    let decoded = String::from_utf8(BASE64.decode(encoded).ok()?).ok()?;
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
    status: StatusCode,
    error: &'static str,
    description: String,
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

// The API: every call goes through faults, then the token, then the body.

/// What an API path does with a request that passed the checks every path
/// shares.
type Answer<Request, Data> = fn(&MockState, Request) -> Result<Data, ApiError>;

/// Every API request names the customer it is made for.
trait ApiRequest: DeserializeOwned {
    fn customer_code(&self) -> &str;
}

impl ApiRequest for StockRequest {
    fn customer_code(&self) -> &str {
        &self.customer_code
    }
}

impl ApiRequest for ProductsRequest {
    fn customer_code(&self) -> &str {
        &self.customer_code
    }
}

impl ApiRequest for PricesRequest {
    fn customer_code(&self) -> &str {
        &self.customer_code
    }
}

impl ApiRequest for BalanceRequest {
    fn customer_code(&self) -> &str {
        &self.customer_code
    }
}

impl ApiRequest for LogisticsRequest {
    fn customer_code(&self) -> &str {
        &self.customer_code
    }
}

fn api_route<Request, Data>(answer: Answer<Request, Data>) -> MethodRouter<SharedState>
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
    let answered = lock(&state).answer_api_call(&headers, body, answer, Instant::now());
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
        now: Instant,
    ) -> Result<Data, ApiError> {
        if let Err(error) = self.authorize(headers, now) {
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

fn check_county_code(county_code: &str) -> Result<(), ApiError> {
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
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: CODE_UNAUTHORIZED,
            message: message.to_owned(),
        }
    }

    fn invalid_parameter(message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: CODE_INVALID_PARAMETER,
            message,
        }
    }

    fn not_found(code: &'static str, message: String) -> ApiError {
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

// What each API path answers.

fn answer_stock(state: &MockState, request: StockRequest) -> Result<StockData, ApiError> {
    check_county_code(&request.county_code)?;
    let product = find_product(&request.product_code)?;
    let stock = state.stock(product, &request.county_code);
    Ok(stock_data(product, &request.county_code, stock))
}

/// `0`: the county's own warehouse; `1`: the city's, one level up.
fn stock_data(product: &SampleProduct, county_code: &str, stock: i64) -> StockData {
    let is_city_warehouse = sample_hash(&[product.code, county_code, "grade"]) % 2 == 1;
    let (warehouse_grade, warehouse_region) = if is_city_warehouse {
        ("1", format!("{}00", &county_code[..4]))
    } else {
        ("0", county_code.to_owned())
    };
    StockData {
        stock,
        sec_code: Some(format!("WH{warehouse_region}-01")),
        warehouse_grade: Some(warehouse_grade.to_owned()),
        timeliness_data: json!({
            "cutTime": "18:00",
            "achieveUserOrderCut": "18:00前下单，24小时内送达",
            "hour": "24",
            "isTranfer": "0",
        }),
    }
}

fn answer_products(_: &MockState, request: ProductsRequest) -> Result<ProductsPage, ApiError> {
    check_page(request.page, request.page_size)?;
    let matching: Vec<&SampleProduct> = CATALOGUE
        .iter()
        .filter(|product| product_matches(product, &request))
        .collect();
    let skipped = (request.page as usize - 1).saturating_mul(request.page_size as usize);
    let items = matching
        .iter()
        .skip(skipped)
        .take(request.page_size as usize);
    Ok(ProductsPage {
        items: items.map(|product| product_data(product)).collect(),
        total: matching.len() as u64,
        page: request.page,
        page_size: request.page_size,
    })
}

fn check_page(page: u32, page_size: u32) -> Result<(), ApiError> {
    if page == 0 {
        return Err(ApiError::invalid_parameter("page counts from 1".to_owned()));
    }
    if page_size == 0 || page_size > PRODUCTS_PAGE_SIZE_MAX {
        let message = format!("pageSize must be 1 to {PRODUCTS_PAGE_SIZE_MAX}, not {page_size}");
        return Err(ApiError::invalid_parameter(message));
    }
    Ok(())
}

fn product_matches(product: &SampleProduct, request: &ProductsRequest) -> bool {
    let codes = &request.product_codes;
    let code_matches = codes.is_empty() || codes.iter().any(|code| code == product.code);
    let category_matches = request
        .category
        .as_deref()
        .is_none_or(|c| c == product.category);
    let brand_matches = request
        .brand
        .as_deref()
        .is_none_or(|brand| brand == product.brand);
    code_matches && category_matches && brand_matches
}

/// An unknown code fails the whole request, as it does for stock.
fn answer_prices(_: &MockState, request: PricesRequest) -> Result<Vec<PriceData>, ApiError> {
    let products = request.product_codes.iter().map(|code| find_product(code));
    let products = products.collect::<Result<Vec<_>, _>>()?;
    Ok(products.into_iter().map(price_data).collect())
}

/// The market price is the dealer price plus a fifth, ending in 99 as shop
/// prices do.
fn price_data(product: &SampleProduct) -> PriceData {
    let market_price_yuan = product.price_yuan * 6 / 5 / 100 * 100 + 99;
    PriceData {
        product_code: product.code.to_owned(),
        price: format!("{}.00", product.price_yuan),
        market_price: Some(format!("{market_price_yuan}.00")),
        currency: "CNY".to_owned(),
    }
}

fn answer_balance(_: &MockState, _: BalanceRequest) -> Result<BalanceData, ApiError> {
    Ok(BalanceData {
        balance: "128000.00".to_owned(),
        credit_limit: Some("50000.00".to_owned()),
        currency: "CNY".to_owned(),
    })
}

/// Sales orders (`SO…`) exist; any other code does not.
fn answer_logistics(_: &MockState, request: LogisticsRequest) -> Result<LogisticsData, ApiError> {
    let order_code = request.order_code;
    let is_sales_order = order_code.len() > 2 && order_code.starts_with("SO");
    if !is_sales_order {
        let message = format!("order {order_code} not found");
        return Err(ApiError::not_found(CODE_ORDER_NOT_FOUND, message));
    }
    Ok(logistics_data(order_code))
}

/// Three steps, the last of which is where the shipment is now.
fn logistics_data(order_code: String) -> LogisticsData {
    const LAST_STEPS: [(&str, &str); 3] = [
        ("运输中", "快件已从青岛分拨中心发出，正在运往目的地"),
        ("派送中", "快件已到达服务网点，日日顺师傅正在送货安装途中"),
        ("已签收", "快件已签收，签收人：本人"),
    ];
    let hash = sample_hash(&[&order_code]);
    // Days 1 to 27, so that the third step still falls in June.
    let day = 1 + hash % 27;
    let (status, last_step) = LAST_STEPS[(hash >> 8) as usize % LAST_STEPS.len()];
    let events = vec![
        logistics_event(day, "09:30", "订单已出库，仓库：WH370212-01"),
        logistics_event(day + 1, "07:45", "快件已到达青岛分拨中心"),
        logistics_event(day + 2, "14:20", last_step),
    ];
    LogisticsData {
        tracking_number: Some(format!("RRS{:010}", hash % 10_000_000_000)),
        order_code,
        status: status.to_owned(),
        carrier: Some("日日顺物流".to_owned()),
        events,
    }
}

fn logistics_event(june_day: u64, time: &str, description: &str) -> Value {
    json!({"time": format!("2025-06-{june_day:02} {time}:00"), "description": description})
}

// The sample catalogue.

struct SampleProduct {
    code: &'static str,
    name: &'static str,
    category: &'static str,
    brand: &'static str,
    model: &'static str,
    /// The most any region has; a region's figure lies between 0 and this.
    stock_base: u32,
    price_yuan: u32,
}

/// Arguments in the order of the table below, which reads better as rows.
const fn sample(
    code: &'static str,
    name: &'static str,
    category: &'static str,
    brand: &'static str,
    model: &'static str,
    stock_base: u32,
    price_yuan: u32,
) -> SampleProduct {
    SampleProduct {
        code,
        name,
        category,
        brand,
        model,
        stock_base,
        price_yuan,
    }
}

#[rustfmt::skip]
const CATALOGUE: [SampleProduct; 24] = [
    sample("GA0SZC00U", "海尔470升十字对开门风冷无霜变频冰箱", "冰箱", "海尔", "BCD-470WGHTDE9S9U1", 320, 3299),
    sample("GA0SZB00K", "海尔216升三门风冷无霜冰箱", "冰箱", "海尔", "BCD-216WMPT", 180, 1699),
    sample("GA0SY900J", "海尔601升嵌入式对开门冰箱", "冰箱", "海尔", "BCD-601WGHSS9N", 90, 5499),
    sample("GC0A1T00P", "卡萨帝650升原石系列对开门冰箱", "冰箱", "卡萨帝", "BCD-650WDCAU1", 45, 12999),
    sample("GC0B2T00Q", "卡萨帝520升揽光系列法式多门冰箱", "冰箱", "卡萨帝", "BCD-520WLCFDM4", 25, 15999),
    sample("GT0F5R00M", "统帅178升双门冰箱", "冰箱", "统帅", "BCD-178LTMPA", 0, 1099),
    sample("CEAB7T00A", "海尔10公斤滚筒洗衣机 精华洗", "洗衣机", "海尔", "EG100MATE28S", 500, 2199),
    sample("CEAB8J00B", "海尔10公斤直驱变频波轮洗衣机", "洗衣机", "海尔", "EB100B30Pro1", 260, 1599),
    sample("CEAH2N00E", "海尔10公斤洗烘一体滚筒洗衣机", "洗衣机", "海尔", "EG100HPLUS5", 120, 3499),
    sample("CEAC1K00C", "卡萨帝10公斤中子滚筒洗衣机", "洗衣机", "卡萨帝", "C1 HD10P3U1", 30, 8999),
    sample("CEAT3M00D", "统帅10公斤变频滚筒洗衣机", "洗衣机", "统帅", "@G1012B176", 150, 1399),
    sample("CEAT4P00F", "统帅8公斤全自动波轮洗衣机", "洗衣机", "统帅", "TQB80-@1", 60, 699),
    sample("AA0H1Q00G", "海尔1.5匹新一级能效变频挂式空调", "空调", "海尔", "KFR-35GW/B1KBB81U1", 400, 2699),
    sample("AA0H2R00H", "海尔3匹新一级能效变频立柜式空调", "空调", "海尔", "KFR-72LW/28LBA81U1", 75, 6999),
    sample("AA0H5U00L", "海尔2匹新一级能效变频立式空调", "空调", "海尔", "KFR-50LW/81@U1", 140, 4999),
    sample("AA0C3S00J", "卡萨帝1.5匹天玺系列变频挂式空调", "空调", "卡萨帝", "CAS358GAA(81)U1", 20, 7999),
    sample("AA0T4T00K", "统帅1匹变频挂式空调", "空调", "统帅", "KFR-26GW/02KBB83TU1", 210, 1799),
    sample("AA0T6V00M", "统帅1.5匹变频挂式空调", "空调", "统帅", "KFR-35GW/15DEC83TU1", 95, 2099),
    sample("GD0H1W00N", "海尔60升一级能效电热水器", "热水器", "海尔", "EC6001-MC3", 350, 1299),
    sample("GD0H2X00P", "海尔13升零冷水燃气热水器", "热水器", "海尔", "JSQ25-13WN5S", 160, 2599),
    sample("GD0H5A00S", "海尔80升速热电热水器", "热水器", "海尔", "ES80H-GD5(1)", 5, 1899),
    sample("GD0C3Y00Q", "卡萨帝60升晶彩系列电热水器", "热水器", "卡萨帝", "CEH-60V5U1", 40, 4999),
    sample("GD0T4Z00R", "统帅50升电热水器", "热水器", "统帅", "LEC5001-20X1", 230, 899),
    sample("GD0T6B00T", "统帅12升恒温燃气热水器", "热水器", "统帅", "JSQ24-12U1", 0, 1199),
];

fn find_sample(product_code: &str) -> Option<&'static SampleProduct> {
    CATALOGUE
        .iter()
        .find(|product| product.code == product_code)
}

fn find_product(product_code: &str) -> Result<&'static SampleProduct, ApiError> {
    find_sample(product_code).ok_or_else(|| {
        let message = format!("product {product_code} not found");
        ApiError::not_found(PRODUCT_NOT_FOUND, message)
    })
}

fn product_data(product: &SampleProduct) -> ProductData {
    ProductData {
        product_code: product.code.to_owned(),
        product_name: product.name.to_owned(),
        category: Some(product.category.to_owned()),
        brand: Some(product.brand.to_owned()),
        model: Some(product.model.to_owned()),
    }
}

#[allow(
    clippy::manual_is_multiple_of,
    reason = "is_multiple_of needs Rust 1.87 and the workspace allows 1.85"
)]
fn sample_stock(product: &SampleProduct, county_code: &str) -> i64 {
    let hash = sample_hash(&[product.code, county_code]);
    if product.stock_base == 0 || hash % OUT_OF_STOCK_ONE_IN == 0 {
        return 0;
    }
    let stock = (hash >> 8) % (u64::from(product.stock_base) + 1);
    i64::try_from(stock).expect("a stock below a u32 fits an i64")
}

/// FNV-1a over the parts, each ended by a zero byte so that ("ab", "c") and
/// ("a", "bc") differ, then mixed (MurmurHash3's finaliser) so that every bit
/// depends on every input byte. Stable across runs and builds, unlike std's
/// hasher.
fn sample_hash(parts: &[&str]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    for byte in parts.iter().flat_map(|part| part.bytes().chain([0])) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// Standard base64 (RFC 4648 section 4), padding optional, as clients send
/// it in Basic auth.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// The control routes.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsRequest {
    fail_next: Option<StatusFault>,
    delay_next: Option<DelayFault>,
    malformed_next: Option<u32>,
    fail_token_next: Option<StatusFault>,
    #[serde(default)]
    revoke_tokens: bool,
    token_ttl_s: Option<u64>,
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
struct StockOverride {
    product_code: String,
    #[serde(default)]
    county_code: Option<String>,
    stock: i64,
}

async fn faults_route(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PendingFaults>, ControlError> {
    let request: FaultsRequest = parse_control_body(body)?;
    request.check()?;
    let mut state = lock(&state);
    state.apply_faults(&request);
    Ok(Json(state.faults))
}

async fn stock_route(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StockOverride>, ControlError> {
    let request: StockOverride = parse_control_body(body)?;
    let county_code = request.county_code.as_deref();
    lock(&state).set_stock(&request.product_code, county_code, request.stock)?;
    Ok(Json(request))
}

async fn counters_route(State(state): State<SharedState>) -> Json<MockCounters> {
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
struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn bad_request(message: String) -> ControlError {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    fn not_found(message: String) -> ControlError {
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

#[cfg(test)]
mod tests {
    use crate::protocol::{BALANCE_PATH, LOGISTICS_PATH, PRICES_PATH, PRODUCTS_PATH, STOCK_PATH};
    use std::net::Ipv4Addr;

    use super::*;

    /// A running mock and a client for it.
    struct Harness {
        mock: MockSupplier,
        base_url: String,
        http: reqwest::Client,
    }

    /// Long enough for any answer the mock gives undelayed, short enough that
    /// a hung test fails instead of hanging.
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
    const COUNTY: &str = "110101";
    const PRODUCT: &str = "GA0SZC00U";

    async fn start() -> Harness {
        let mock = MockSupplier::new(MockOptions::default());
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let address = mock.clone().spawn(any_port).await.expect("the mock binds");
        let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build();
        Harness {
            mock,
            base_url: format!("http://{address}"),
            http: http.expect("the client builds"),
        }
    }

    fn good_form() -> [(&'static str, &'static str); 3] {
        [
            ("grant_type", "client_credentials"),
            ("client_id", MOCK_CLIENT_ID),
            ("client_secret", MOCK_CLIENT_SECRET),
        ]
    }

    fn stock_body(product_code: &str, county_code: &str) -> Value {
        json!({
            "productCode": product_code,
            "countyCode": county_code,
            "source": "JSH-B",
            "customerCode": MOCK_CUSTOMER_CODE,
        })
    }

    fn products_body(filter: Value) -> Value {
        let mut body = json!({"customerCode": MOCK_CUSTOMER_CODE, "page": 1, "pageSize": 100});
        let fields = filter.as_object().expect("a filter is an object").clone();
        body.as_object_mut()
            .expect("the body is an object")
            .extend(fields);
        body
    }

    async fn answer_of(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("the answer arrives");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, body)
    }

    impl Harness {
        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base_url)
        }

        async fn request_token(&self, form: &[(&str, &str)]) -> (u16, Value) {
            let request = self.http.post(self.url(MOCK_TOKEN_PATH)).form(form);
            answer_of(request.send().await.expect("the mock answers")).await
        }

        async fn token(&self) -> String {
            let (status, body) = self.request_token(&good_form()).await;
            assert_eq!(status, 200, "{body}");
            body["access_token"].as_str().expect("a token").to_owned()
        }

        fn api_request(
            &self,
            path: &str,
            token: Option<&str>,
            body: &Value,
        ) -> reqwest::RequestBuilder {
            let request = self.http.post(self.url(path)).json(body);
            match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        }

        async fn call_text(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
            let response = self
                .api_request(path, token, body)
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            (status, response.text().await.expect("the answer arrives"))
        }

        async fn call(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
            let response = self
                .api_request(path, token, body)
                .send()
                .await
                .expect("answered");
            answer_of(response).await
        }

        async fn stock(&self, token: &str, product_code: &str, county_code: &str) -> (u16, Value) {
            self.call(
                STOCK_PATH,
                Some(token),
                &stock_body(product_code, county_code),
            )
            .await
        }

        async fn control(&self, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
            let request = self
                .http
                .request(method, self.url(path))
                .body(body.to_owned());
            answer_of(request.send().await.expect("the mock answers")).await
        }
    }

    fn assert_refused(answer: &(u16, Value), status: u16, code: &str) {
        let (actual_status, body) = answer;
        assert_eq!(*actual_status, status, "{body}");
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["code"], code, "{body}");
    }

    fn assert_ok(answer: &(u16, Value)) -> Value {
        let (status, body) = answer;
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["code"], "0", "{body}");
        body["data"].clone()
    }

    #[tokio::test]
    async fn token_is_issued_for_good_credentials_in_the_form() {
        let harness = start().await;
        let (status, body) = harness.request_token(&good_form()).await;
        assert_eq!(status, 200, "{body}");
        let token: TokenResponse = serde_json::from_value(body).expect("a token response");
        assert_eq!(token.access_token.len(), 2 * TOKEN_RANDOM_BYTES);
        assert!(token
            .access_token
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(token.token_type, "Bearer");
        assert_eq!(token.expires_in, 7200);
        assert_ne!(
            harness.token().await,
            token.access_token,
            "tokens are random"
        );
        assert_eq!(harness.mock.counters().tokens_issued, 2);
    }

    #[tokio::test]
    async fn token_is_refused_for_wrong_credentials_grant_or_body() {
        let harness = start().await;
        let wrong_secret = [good_form()[0], good_form()[1], ("client_secret", "guess")];
        let (status, body) = harness.request_token(&wrong_secret).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_client")),
            "{body}"
        );
        let (status, body) = harness.request_token(&good_form()[1..]).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_request")),
            "{body}"
        );
        let password_grant = [("grant_type", "password"), good_form()[1], good_form()[2]];
        let (status, body) = harness.request_token(&password_grant).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("unsupported_grant_type")),
            "{body}"
        );
        let json_body = harness
            .http
            .post(harness.url(MOCK_TOKEN_PATH))
            .json(&json!({}));
        let (status, body) = answer_of(json_body.send().await.expect("answered")).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_request")),
            "{body}"
        );
        assert_eq!(harness.mock.counters().tokens_issued, 0);
    }

    #[tokio::test]
    async fn token_is_issued_for_good_credentials_in_basic_auth() {
        let harness = start().await;
        let grant = [("grant_type", "client_credentials")];
        let url = harness.url(MOCK_TOKEN_PATH);
        let good = harness
            .http
            .post(&url)
            .basic_auth(MOCK_CLIENT_ID, Some(MOCK_CLIENT_SECRET));
        let (status, body) = answer_of(good.form(&grant).send().await.expect("answered")).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().expect("a token");
        assert_ok(&harness.stock(token, PRODUCT, COUNTY).await);

        let wrong = harness
            .http
            .post(&url)
            .basic_auth(MOCK_CLIENT_ID, Some("guess"));
        let response = wrong.form(&grant).send().await.expect("answered");
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, body) = answer_of(response).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_client")),
            "{body}"
        );

        let garbage = harness
            .http
            .post(&url)
            .header(header::AUTHORIZATION, "Basic !!!");
        let (status, _) = answer_of(garbage.form(&grant).send().await.expect("answered")).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn api_refuses_calls_without_a_known_token() {
        let harness = start().await;
        let body = stock_body(PRODUCT, COUNTY);
        assert_refused(
            &harness.call(STOCK_PATH, None, &body).await,
            401,
            "UNAUTHORIZED",
        );
        let unknown = harness.call(STOCK_PATH, Some("0123abcd"), &body).await;
        assert_refused(&unknown, 401, "UNAUTHORIZED");
        let basic = harness
            .http
            .post(harness.url(STOCK_PATH))
            .basic_auth("a", Some("b"));
        let basic = answer_of(basic.json(&body).send().await.expect("answered")).await;
        assert_refused(&basic, 401, "UNAUTHORIZED");
        for path in [PRODUCTS_PATH, PRICES_PATH, BALANCE_PATH, LOGISTICS_PATH] {
            assert_refused(
                &harness.call(path, None, &json!({})).await,
                401,
                "UNAUTHORIZED",
            );
        }
        assert_eq!(harness.mock.counters().unauthorized, 7);
    }

    #[tokio::test]
    async fn revoked_tokens_are_refused() {
        let harness = start().await;
        let token = harness.token().await;
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        harness.mock.revoke_tokens();
        assert_refused(
            &harness.stock(&token, PRODUCT, COUNTY).await,
            401,
            "UNAUTHORIZED",
        );
        let fresh = harness.token().await;
        assert_ok(&harness.stock(&fresh, PRODUCT, COUNTY).await);
    }

    #[tokio::test]
    async fn tokens_expire_after_their_ttl() {
        let harness = start().await;
        let ttl = Duration::from_secs(1);
        harness.mock.set_token_ttl(ttl);
        let requested_at = Instant::now();
        let (status, body) = harness.request_token(&good_form()).await;
        assert_eq!((status, &body["expires_in"]), (200, &json!(1)), "{body}");
        let token = body["access_token"].as_str().expect("a token");
        assert_ok(&harness.stock(token, PRODUCT, COUNTY).await);

        let deadline = requested_at + 5 * ttl;
        loop {
            let answer = harness.stock(token, PRODUCT, COUNTY).await;
            if answer.0 == 401 {
                assert_refused(&answer, 401, "UNAUTHORIZED");
                break;
            }
            assert_ok(&answer);
            assert!(
                Instant::now() < deadline,
                "the token outlived its ttl fivefold"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(requested_at.elapsed() >= ttl, "the token expired early");
    }

    #[tokio::test]
    async fn fail_next_answers_that_status_then_recovers() {
        let harness = start().await;
        harness.mock.fail_next(2, 503);
        let token = harness.token().await;
        assert_refused(
            &harness.stock(&token, PRODUCT, COUNTY).await,
            503,
            "MOCK_FAULT",
        );
        let balance = json!({"customerCode": MOCK_CUSTOMER_CODE});
        let failed = harness.call(BALANCE_PATH, Some(&token), &balance).await;
        assert_refused(&failed, 503, "MOCK_FAULT");
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        harness.mock.fail_next(1, 500);
        assert_refused(
            &harness.stock(&token, PRODUCT, COUNTY).await,
            500,
            "MOCK_FAULT",
        );
        assert_eq!(harness.mock.counters().faults_served, 3);
    }

    #[tokio::test]
    async fn malformed_next_answers_200_that_is_not_json() {
        let harness = start().await;
        let token = harness.token().await;
        harness.mock.malformed_next(1);
        let body = stock_body(PRODUCT, COUNTY);
        let (status, text) = harness.call_text(STOCK_PATH, Some(&token), &body).await;
        assert_eq!(status, 200);
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
    }

    #[tokio::test]
    async fn delay_next_outlasts_a_client_timeout() {
        let harness = start().await;
        let token = harness.token().await;
        let body = stock_body(PRODUCT, COUNTY);
        harness.mock.delay_next(1, Duration::from_secs(2));
        let impatient = harness.api_request(STOCK_PATH, Some(&token), &body);
        let impatient = impatient.timeout(Duration::from_millis(200)).send().await;
        assert!(impatient.expect_err("the call times out").is_timeout());

        let delay = Duration::from_millis(300);
        harness.mock.delay_next(1, delay);
        let started = Instant::now();
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        assert!(started.elapsed() >= delay, "answered before the delay");
        let started = Instant::now();
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        assert!(started.elapsed() < delay, "the delay outlived its count");
    }

    #[tokio::test]
    async fn each_call_gets_one_fault_delay_first_then_failure_then_malformed() {
        let harness = start().await;
        let token = harness.token().await;
        let delay = Duration::from_millis(200);
        harness.mock.malformed_next(1);
        harness.mock.fail_next(1, 500);
        harness.mock.delay_next(1, delay);
        let started = Instant::now();
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        assert!(started.elapsed() >= delay);
        assert_refused(
            &harness.stock(&token, PRODUCT, COUNTY).await,
            500,
            "MOCK_FAULT",
        );
        let body = stock_body(PRODUCT, COUNTY);
        let (status, text) = harness.call_text(STOCK_PATH, Some(&token), &body).await;
        assert!(
            status == 200 && serde_json::from_str::<Value>(&text).is_err(),
            "{text}"
        );
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        assert_eq!(harness.mock.counters().faults_served, 3);
    }

    #[tokio::test]
    async fn fail_token_next_fails_token_requests_only() {
        let harness = start().await;
        harness.mock.fail_token_next(1, 500);
        harness.mock.fail_next(1, 503);
        let (status, body) = harness.request_token(&good_form()).await;
        assert_eq!(
            (status, &body["error"]),
            (500, &json!("server_error")),
            "{body}"
        );
        let token = harness.token().await;
        assert_refused(
            &harness.stock(&token, PRODUCT, COUNTY).await,
            503,
            "MOCK_FAULT",
        );
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        assert_eq!(harness.token().await.len(), 2 * TOKEN_RANDOM_BYTES);
    }

    #[tokio::test]
    async fn counters_count_every_kind_of_call() {
        let harness = start().await;
        let token = harness.token().await;
        let wrong_secret = [good_form()[0], good_form()[1], ("client_secret", "guess")];
        harness.request_token(&wrong_secret).await;
        harness
            .call(STOCK_PATH, None, &stock_body(PRODUCT, COUNTY))
            .await;
        harness.stock(&token, PRODUCT, COUNTY).await;
        harness.mock.fail_next(1, 503);
        harness.stock(&token, PRODUCT, COUNTY).await;
        let expected = MockCounters {
            token_requests: 2,
            tokens_issued: 1,
            api_calls: 3,
            unauthorized: 1,
            faults_served: 1,
        };
        assert_eq!(harness.mock.counters(), expected);
        let (status, body) = harness
            .control(reqwest::Method::GET, "/mock/counters", "")
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            serde_json::to_value(expected).expect("counters serialize")
        );
        assert_eq!(
            harness.mock.counters(),
            expected,
            "control routes are not counted"
        );
    }

    #[tokio::test]
    async fn set_stock_overrides_one_region_or_every_region() {
        let harness = start().await;
        let reference = MockState::new(MockOptions::default());
        let product = find_sample(PRODUCT).expect("in the catalogue");
        let token = harness.token().await;
        let stock_in = |county: &'static str| {
            let harness = &harness;
            let token = &token;
            async move { assert_ok(&harness.stock(token, PRODUCT, county).await)["stock"].clone() }
        };
        harness.mock.set_stock(PRODUCT, Some("110101"), 7);
        assert_eq!(stock_in("110101").await, 7);
        assert_eq!(stock_in("110102").await, reference.stock(product, "110102"));
        harness.mock.set_stock(PRODUCT, None, 3);
        assert_eq!(stock_in("110101").await, 3, "every region includes 110101");
        assert_eq!(stock_in("440305").await, 3);
        harness.mock.set_stock(PRODUCT, Some("110102"), 9);
        assert_eq!(stock_in("110102").await, 9);
        assert_eq!(stock_in("110105").await, 3);
        let other = assert_ok(&harness.stock(&token, "CEAB7T00A", "110102").await);
        let expected = reference.stock(find_sample("CEAB7T00A").expect("known"), "110102");
        assert_eq!(
            other["stock"], expected,
            "other products keep their figures"
        );
    }

    #[test]
    #[should_panic(expected = "unknown product")]
    fn set_stock_refuses_unknown_products() {
        MockSupplier::new(MockOptions::default()).set_stock("NOSUCH000", None, 1);
    }

    fn counties() -> impl Iterator<Item = String> {
        let beijing = (110101..110120).map(|code| code.to_string());
        let elsewhere = (0..200).map(|index| format!("{}", 310101 + index * 577));
        beijing.chain(elsewhere)
    }

    #[test]
    fn sample_stock_lies_between_zero_and_the_base_and_runs_out_somewhere() {
        for product in &CATALOGUE {
            let stocks: Vec<i64> = counties()
                .map(|county| sample_stock(product, &county))
                .collect();
            let base = i64::from(product.stock_base);
            assert!(
                stocks.iter().all(|stock| (0..=base).contains(stock)),
                "{}",
                product.code
            );
            assert!(
                stocks.contains(&0),
                "{} is in stock everywhere",
                product.code
            );
            let is_stocked = stocks.iter().any(|stock| *stock > 0);
            assert_eq!(is_stocked, base > 0, "{}", product.code);
        }
    }

    #[tokio::test]
    async fn stock_answers_are_the_same_from_any_mock() {
        let first = start().await;
        let second = start().await;
        let first_token = first.token().await;
        let second_token = second.token().await;
        let mut grades = Vec::new();
        for county in counties().take(20) {
            let answer = assert_ok(&first.stock(&first_token, PRODUCT, &county).await);
            let again = assert_ok(&second.stock(&second_token, PRODUCT, &county).await);
            assert_eq!(answer, again, "{county}");
            let data: StockData = serde_json::from_value(answer).expect("stock data");
            let sec_code = data.sec_code.expect("a secCode");
            let grade = data.warehouse_grade.expect("a warehouse grade");
            let region = if grade == "0" {
                county.clone()
            } else {
                format!("{}00", &county[..4])
            };
            assert_eq!(sec_code, format!("WH{region}-01"));
            assert_eq!(data.timeliness_data["cutTime"], "18:00");
            assert_eq!(data.timeliness_data["hour"], "24");
            assert_eq!(data.timeliness_data["isTranfer"], "0");
            assert!(data.timeliness_data["achieveUserOrderCut"].is_string());
            grades.push(grade);
        }
        assert!(grades.contains(&"0".to_owned()) && grades.contains(&"1".to_owned()));
        let empty = assert_ok(&first.stock(&first_token, "GT0F5R00M", COUNTY).await);
        assert_eq!(
            empty["stock"], 0,
            "a product with base stock 0 is out everywhere"
        );
    }

    #[tokio::test]
    async fn stock_refuses_unknown_products_and_bad_requests() {
        let harness = start().await;
        let token = harness.token().await;
        assert_refused(
            &harness.stock(&token, "NOSUCH000", COUNTY).await,
            404,
            PRODUCT_NOT_FOUND,
        );
        for county in ["11010", "1101011", "11010a", ""] {
            let answer = harness.stock(&token, PRODUCT, county).await;
            assert_refused(&answer, 400, "INVALID_PARAMETER");
        }
        let mut stranger = stock_body(PRODUCT, COUNTY);
        stranger["customerCode"] = json!("C9999");
        let answer = harness.call(STOCK_PATH, Some(&token), &stranger).await;
        assert_refused(&answer, 403, "CUSTOMER_NOT_FOUND");
        let no_county = json!({"productCode": PRODUCT, "source": "JSH-B", "customerCode": "C0001"});
        let answer = harness.call(STOCK_PATH, Some(&token), &no_county).await;
        assert_refused(&answer, 400, "INVALID_PARAMETER");
        let message = answer.1["message"].as_str().expect("a message");
        assert!(message.contains("countyCode"), "{message}");
        let not_json = harness
            .http
            .post(harness.url(STOCK_PATH))
            .bearer_auth(&token)
            .body("{");
        let answer = answer_of(not_json.send().await.expect("answered")).await;
        assert_refused(&answer, 400, "INVALID_PARAMETER");
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let harness = start().await;
        let token = harness.token().await;
        let mut body = stock_body(PRODUCT, COUNTY);
        body["sendToCode"] = json!("x".repeat(REQUEST_BODY_BYTES_MAX));
        let answer = harness.call(STOCK_PATH, Some(&token), &body).await;
        assert_refused(&answer, 413, "INVALID_PARAMETER");
        let faults = format!(
            r#"{{"revoke_tokens": true, "padding": "{}"}}"#,
            "x".repeat(70_000)
        );
        let (status, _) = harness
            .control(reqwest::Method::POST, "/mock/faults", &faults)
            .await;
        assert_eq!(status, 413);
    }

    #[tokio::test]
    async fn products_come_in_pages() {
        let harness = start().await;
        let token = harness.token().await;
        let mut codes = Vec::new();
        for (page, expected_items) in [(1, 10), (2, 10), (3, 4), (4, 0)] {
            let body = products_body(json!({"page": page, "pageSize": 10}));
            let data = assert_ok(&harness.call(PRODUCTS_PATH, Some(&token), &body).await);
            let page_data: ProductsPage = serde_json::from_value(data).expect("a page");
            assert_eq!(
                (page_data.page, page_data.page_size, page_data.total),
                (page, 10, 24)
            );
            assert_eq!(page_data.items.len(), expected_items, "page {page}");
            codes.extend(
                page_data
                    .items
                    .into_iter()
                    .map(|product| product.product_code),
            );
        }
        let catalogue: Vec<String> = harness
            .mock
            .products()
            .into_iter()
            .map(|p| p.product_code)
            .collect();
        assert_eq!(codes, catalogue);
        for bad in [
            json!({"page": 0}),
            json!({"pageSize": 0}),
            json!({"pageSize": 101}),
        ] {
            let answer = harness
                .call(PRODUCTS_PATH, Some(&token), &products_body(bad))
                .await;
            assert_refused(&answer, 400, "INVALID_PARAMETER");
        }
        let no_page = json!({"customerCode": MOCK_CUSTOMER_CODE, "pageSize": 10});
        let answer = harness.call(PRODUCTS_PATH, Some(&token), &no_page).await;
        assert_refused(&answer, 400, "INVALID_PARAMETER");
    }

    /// Asks for the products matching `filter` and compares them with the
    /// catalogue's products for which `expected` holds.
    async fn check_filter(
        harness: &Harness,
        filter: Value,
        expected: impl Fn(&ProductData) -> bool,
    ) {
        let token = harness.token().await;
        let body = products_body(filter.clone());
        let data = assert_ok(&harness.call(PRODUCTS_PATH, Some(&token), &body).await);
        let page: ProductsPage = serde_json::from_value(data).expect("a page");
        let codes: Vec<String> = page.items.into_iter().map(|p| p.product_code).collect();
        let wanted = harness.mock.products().into_iter().filter(|p| expected(p));
        let wanted: Vec<String> = wanted.map(|p| p.product_code).collect();
        assert_eq!(codes, wanted, "{filter}");
        assert_eq!(page.total, wanted.len() as u64, "{filter}");
    }

    fn is(field: &Option<String>, value: &str) -> bool {
        field.as_deref() == Some(value)
    }

    #[tokio::test]
    async fn products_are_filtered_by_code_category_and_brand() {
        let harness = &start().await;
        check_filter(harness, json!({"category": "冰箱"}), |p| {
            is(&p.category, "冰箱")
        })
        .await;
        check_filter(harness, json!({"brand": "卡萨帝"}), |p| {
            is(&p.brand, "卡萨帝")
        })
        .await;
        let both = json!({"category": "空调", "brand": "统帅"});
        check_filter(harness, both, |p| {
            is(&p.category, "空调") && is(&p.brand, "统帅")
        })
        .await;
        let codes = json!({"productCodes": [PRODUCT, "CEAB7T00A", "NOSUCH000"]});
        let listed = |p: &ProductData| [PRODUCT, "CEAB7T00A"].contains(&p.product_code.as_str());
        check_filter(harness, codes, listed).await;
        check_filter(harness, json!({"brand": "海"}), |_| false).await;
    }

    #[tokio::test]
    async fn prices_balance_and_logistics_answer_sample_data() {
        let harness = start().await;
        let token = Some(harness.token().await);
        let token = token.as_deref();
        let prices =
            json!({"customerCode": MOCK_CUSTOMER_CODE, "productCodes": [PRODUCT, "CEAT4P00F"]});
        let data = assert_ok(&harness.call(PRICES_PATH, token, &prices).await);
        let prices: Vec<PriceData> = serde_json::from_value(data).expect("prices");
        let quoted: Vec<(&str, &str, Option<&str>)> = prices
            .iter()
            .map(|p| {
                (
                    p.product_code.as_str(),
                    p.price.as_str(),
                    p.market_price.as_deref(),
                )
            })
            .collect();
        let expected = [
            (PRODUCT, "3299.00", Some("3999.00")),
            ("CEAT4P00F", "699.00", Some("899.00")),
        ];
        assert_eq!(quoted, expected);
        assert!(prices.iter().all(|price| price.currency == "CNY"));
        let unknown = json!({"customerCode": MOCK_CUSTOMER_CODE, "productCodes": ["NOSUCH000"]});
        assert_refused(
            &harness.call(PRICES_PATH, token, &unknown).await,
            404,
            PRODUCT_NOT_FOUND,
        );

        let balance = json!({"customerCode": MOCK_CUSTOMER_CODE, "password": "x"});
        let data = assert_ok(&harness.call(BALANCE_PATH, token, &balance).await);
        let expected =
            json!({"balance": "128000.00", "creditLimit": "50000.00", "currency": "CNY"});
        assert_eq!(data, expected);
        let stranger = json!({"customerCode": "C9999"});
        let answer = harness.call(BALANCE_PATH, token, &stranger).await;
        assert_refused(&answer, 403, "CUSTOMER_NOT_FOUND");

        let order = json!({"customerCode": MOCK_CUSTOMER_CODE, "orderCode": "SO20250601001"});
        let data = assert_ok(&harness.call(LOGISTICS_PATH, token, &order).await);
        assert_eq!(
            data,
            assert_ok(&harness.call(LOGISTICS_PATH, token, &order).await)
        );
        let logistics: LogisticsData = serde_json::from_value(data).expect("logistics");
        assert_eq!(logistics.order_code, "SO20250601001");
        assert!(["运输中", "派送中", "已签收"].contains(&logistics.status.as_str()));
        assert_eq!(logistics.events.len(), 3);
        assert!(logistics
            .events
            .iter()
            .all(|e| e["time"].is_string() && e["description"].is_string()));
        for order_code in ["PO20250601001", "SO", "so123"] {
            let order = json!({"customerCode": MOCK_CUSTOMER_CODE, "orderCode": order_code});
            let answer = harness.call(LOGISTICS_PATH, token, &order).await;
            assert_refused(&answer, 404, "ORDER_NOT_FOUND");
        }
    }

    #[tokio::test]
    async fn control_routes_steer_the_mock_over_http() {
        let harness = start().await;
        let faults = r#"{"fail_next": {"count": 1, "status": 503},
            "delay_next": {"count": 1, "delay_ms": 100}, "malformed_next": 1,
            "fail_token_next": {"count": 1, "status": 500}, "token_ttl_s": 5}"#;
        let (status, pending) = harness
            .control(reqwest::Method::POST, "/mock/faults", faults)
            .await;
        assert_eq!(status, 200, "{pending}");
        let expected = json!({"fail_next": {"count": 1, "status": 503},
            "delay_next": {"count": 1, "delay_ms": 100}, "malformed_next": 1,
            "fail_token_next": {"count": 1, "status": 500}});
        assert_eq!(pending, expected);

        assert_eq!(harness.request_token(&good_form()).await.0, 500);
        let (status, body) = harness.request_token(&good_form()).await;
        assert_eq!((status, &body["expires_in"]), (200, &json!(5)), "{body}");
        let token = body["access_token"].as_str().expect("a token");
        assert_ok(&harness.stock(token, PRODUCT, COUNTY).await);
        assert_refused(
            &harness.stock(token, PRODUCT, COUNTY).await,
            503,
            "MOCK_FAULT",
        );
        let body = stock_body(PRODUCT, COUNTY);
        assert_eq!(
            harness.call_text(STOCK_PATH, Some(token), &body).await.0,
            200
        );

        let stock = r#"{"product_code": "GA0SZC00U", "county_code": "110101", "stock": 5}"#;
        let (status, _) = harness
            .control(reqwest::Method::PUT, "/mock/stock", stock)
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            assert_ok(&harness.stock(token, PRODUCT, COUNTY).await)["stock"],
            5
        );
        let everywhere = r#"{"product_code": "GA0SZC00U", "stock": 2}"#;
        harness
            .control(reqwest::Method::PUT, "/mock/stock", everywhere)
            .await;
        assert_eq!(
            assert_ok(&harness.stock(token, PRODUCT, "440305").await)["stock"],
            2
        );

        let revoke = r#"{"revoke_tokens": true}"#;
        harness
            .control(reqwest::Method::POST, "/mock/faults", revoke)
            .await;
        assert_refused(
            &harness.stock(token, PRODUCT, COUNTY).await,
            401,
            "UNAUTHORIZED",
        );
        let (_, counters) = harness
            .control(reqwest::Method::GET, "/mock/counters", "")
            .await;
        assert_eq!(
            counters,
            serde_json::to_value(harness.mock.counters()).expect("serializes")
        );
    }

    #[tokio::test]
    async fn control_routes_refuse_bad_requests_whole() {
        let harness = start().await;
        let post =
            |body: &'static str| harness.control(reqwest::Method::POST, "/mock/faults", body);
        let half_bad = r#"{"fail_next": {"count": 1, "status": 503},
            "fail_token_next": {"count": 1, "status": 200}}"#;
        assert_eq!(post(half_bad).await.0, 400);
        assert_eq!(
            post(r#"{"fail_nxt": {"count": 1, "status": 503}}"#).await.0,
            400
        );
        assert_eq!(post("{").await.0, 400);
        let token = harness.token().await;
        assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
        let (status, pending) =
            post(r#"{"delay_next": {"count": 0, "delay_ms": 999999999}}"#).await;
        assert_eq!(
            (status, &pending["delay_next"]["delay_ms"]),
            (200, &json!(120_000))
        );

        let put = |body: &'static str| harness.control(reqwest::Method::PUT, "/mock/stock", body);
        assert_eq!(
            put(r#"{"product_code": "NOSUCH000", "stock": 1}"#).await.0,
            404
        );
        let bad_county = r#"{"product_code": "GA0SZC00U", "county_code": "1101", "stock": 1}"#;
        assert_eq!(put(bad_county).await.0, 400);
        assert_eq!(put(r#"{"product_code": "GA0SZC00U"}"#).await.0, 400);
    }

    #[tokio::test]
    async fn last_authorization_and_token_form_show_what_a_client_sent() {
        let harness = start().await;
        assert_eq!(harness.mock.last_authorization(), None);
        let token = harness.token().await;
        let form = harness.mock.last_token_form().expect("a form was sent");
        let expected: Vec<(String, String)> = good_form()
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        assert_eq!(form, expected);
        harness.stock(&token, PRODUCT, COUNTY).await;
        assert_eq!(
            harness.mock.last_authorization(),
            Some(format!("Bearer {token}"))
        );
        harness
            .call(STOCK_PATH, None, &stock_body(PRODUCT, COUNTY))
            .await;
        assert_eq!(harness.mock.last_authorization(), None);
    }

    #[test]
    fn catalogue_is_well_formed() {
        let products = MockSupplier::new(MockOptions::default()).products();
        assert_eq!(products.len(), 24);
        let mut codes: Vec<&str> = products.iter().map(|p| p.product_code.as_str()).collect();
        assert!(codes.iter().all(|code| code.len() == 9), "{codes:?}");
        let is_code_character = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
        assert!(
            codes.iter().all(|code| code.chars().all(is_code_character)),
            "{codes:?}"
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 24, "codes are unique");
        let first = &products[0];
        assert_eq!(first.product_code, "GA0SZC00U");
        assert_eq!(
            (first.brand.as_deref(), first.category.as_deref()),
            (Some("海尔"), Some("冰箱"))
        );
        for category in ["冰箱", "洗衣机", "空调", "热水器"] {
            assert!(
                products
                    .iter()
                    .any(|p| p.category.as_deref() == Some(category)),
                "{category}"
            );
        }
        for brand in ["海尔", "卡萨帝", "统帅"] {
            assert!(
                products.iter().any(|p| p.brand.as_deref() == Some(brand)),
                "{brand}"
            );
        }
        assert!(CATALOGUE.iter().all(|product| product.stock_base <= 500));
        assert!(CATALOGUE.iter().any(|product| product.stock_base == 0));
    }

    #[test]
    fn basic_credentials_decode_padded_or_not_and_refuse_garbage() {
        fn check(encoded: &str, expected: Option<(&str, &str)>) {
            let decoded = decode_basic(encoded);
            let decoded = decoded
                .as_ref()
                .map(|c| (c.client_id.as_str(), c.client_secret.as_str()));
            assert_eq!(decoded, expected, "{encoded}");
        }
        check(
            "bW9jay1jbGllbnQ6bW9jay1zZWNyZXQ=",
            Some(("mock-client", "mock-secret")),
        );
        check(
            "bW9jay1jbGllbnQ6bW9jay1zZWNyZXQ",
            Some(("mock-client", "mock-secret")),
        );
        check("YTpi", Some(("a", "b")));
        check("YWJj", None);
        check("YW*j", None);
    }
}
