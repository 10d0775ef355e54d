//! A mock supplier: the API of [`stock_supplier::protocol`] with sample data.
//!
//! [`MockSupplier`] serves the Haier-style open platform API over real HTTP,
//! so a developer can try stockd without credentials and tests can provoke
//! every failure a real supplier shows. It is a test double, so it lives
//! apart from the connectors that call real suppliers; the wire types it
//! answers with are theirs. It runs three ways: alone (`stockd mock-supplier
//! --port P`, which calls [`MockSupplier::serve`]), inside `stockd serve
//! --demo`, and inside integration tests ([`MockSupplier::spawn`] on
//! `127.0.0.1:0`).
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

mod answers;
mod api;
mod catalogue;
mod clock;
mod control;
mod faults;
mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Serialize;
use stock_supplier::clock::{Clock, SystemClock};
use stock_supplier::protocol::{ApiPaths, ProductData};
use tokio::net::TcpListener;

use crate::answers::{
    answer_balance, answer_logistics, answer_prices, answer_products, answer_stock,
};
use crate::api::{api_route, check_county_code};
use crate::catalogue::{find_sample, product_data, sample_stock, SampleProduct, CATALOGUE};
use crate::control::{counters_route, faults_route, stock_route, ControlError};
use crate::faults::{status_fault, DelayFault, PendingFaults};
use crate::token::{token_route, IssuedToken};

pub use crate::clock::ManualClock;

pub const MOCK_CLIENT_ID: &str = "mock-client";
pub const MOCK_CLIENT_SECRET: &str = "mock-secret";
/// The one customer the mock knows; every API body must name it.
pub const MOCK_CUSTOMER_CODE: &str = "C0001";
/// Where the mock answers token requests: its `token_url` is its address
/// followed by this path.
pub const MOCK_TOKEN_PATH: &str = "/oauth2/token";

const TOKEN_TTL_DEFAULT: Duration = Duration::from_secs(7200);
const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
const STOCK_OVERRIDES_MAX: usize = 10_000;

/// Who may ask for tokens, and for how long a token is good.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    /// Where the API is served, for trying a client configured with other paths.
    pub paths: ApiPaths,
    /// What a token's age is reckoned on: a [`ManualClock`] in tests that
    /// let tokens expire.
    pub clock: Arc<dyn Clock>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            client_id: MOCK_CLIENT_ID.to_owned(),
            client_secret: MOCK_CLIENT_SECRET.to_owned(),
            token_ttl: TOKEN_TTL_DEFAULT,
            paths: ApiPaths::default(),
            clock: Arc::new(SystemClock),
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

    /// The catalogue's product codes, in the same order.
    pub fn product_codes(&self) -> Vec<String> {
        CATALOGUE
            .iter()
            .map(|product| product.code.to_owned())
            .collect()
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
}

fn router(state: SharedState, paths: &ApiPaths) -> Router {
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

#[cfg(test)]
mod tests;
