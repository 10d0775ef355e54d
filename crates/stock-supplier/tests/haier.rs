//! [`HaierSupplier`] against the real mock supplier over HTTP on 127.0.0.1:
//! tokens, retries, timeouts, the breaker, what each call maps, and that no
//! secret ever shows in an error or in debug output.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use stock_supplier::breaker::{BreakerPolicy, CircuitState};
use stock_supplier::haier::{HaierConfig, HaierSupplier, Secret, PRICE_CODES_MAX};
use stock_supplier::protocol::{
    ApiPaths, BalanceData, LogisticsData, PriceData, StockData, TokenResponse, BALANCE_PATH,
    LOGISTICS_PATH, PRICES_PATH, STOCK_PATH,
};
use stock_supplier::retry::RetryPolicy;
use stock_supplier::{
    AccountBalance, CallPolicy, Logistics, LogisticsQuery, ProductPrice, ProductQuery, StockQuote,
    Supplier, SupplierError, SupplierProduct, SupplierResult,
};
use stock_supplier_mock::{
    ManualClock, MockCounters, MockOptions, MockSupplier, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET,
    MOCK_CUSTOMER_CODE, MOCK_TOKEN_PATH,
};

/// One HTTP call: far more than an answer over 127.0.0.1 takes, even on a
/// machine that is busy with other work.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The timeout of the tests that time calls out: what they wait for.
const SHORT_TIMEOUT: Duration = Duration::from_secs(1);
/// A delay the mock adds that no call waits out.
const SLOW: Duration = Duration::from_secs(60);
/// How long the circuit tests' breaker stays open, on the tests' clock.
const OPEN_FOR: Duration = Duration::from_secs(30);
const PRODUCT: &str = "GA0SZC00U";
const COUNTY: &str = "110101";
/// The balance password; it must not show anywhere either.
const PASSWORD: &str = "balance-password-7d1e";

/// A mock on a free port and a client configured for it, both on a clock
/// that moves only when the test moves it.
struct Fixture {
    mock: MockSupplier,
    clock: ManualClock,
    supplier: Arc<HaierSupplier>,
}

/// A mock whose tokens age on `clock`.
fn mock_on(clock: &ManualClock, options: MockOptions) -> MockSupplier {
    MockSupplier::new(MockOptions {
        clock: Arc::new(clock.clone()),
        ..options
    })
}

/// Quick retries; a breaker that stays out of the way unless a test
/// sets one of its own.
fn fast_policy() -> CallPolicy {
    CallPolicy {
        timeout: TIMEOUT,
        connect_timeout: TIMEOUT,
        retry: RetryPolicy {
            attempts_max: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        breaker: BreakerPolicy {
            failures_max: 100,
            open_for: Duration::from_secs(30),
        },
    }
}

/// The breaker of the circuit tests: one try per call, two failures open it.
fn breaking_policy(config: &mut HaierConfig) {
    config.policy.retry.attempts_max = 1;
    config.policy.breaker = BreakerPolicy {
        failures_max: 2,
        open_for: OPEN_FOR,
    };
}

fn config_for(base_url: &str) -> HaierConfig {
    let token_url = format!("{base_url}{MOCK_TOKEN_PATH}");
    let mut config = HaierConfig::new(
        "haier-test",
        base_url,
        &token_url,
        MOCK_CLIENT_ID,
        MOCK_CLIENT_SECRET,
    );
    config.customer_code = MOCK_CUSTOMER_CODE.to_owned();
    config.password = Some(Secret::new(PASSWORD));
    config.policy = fast_policy();
    config
}

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut HaierConfig)) -> Fixture {
    let clock = ManualClock::new();
    let (mock, address) = spawn_mock(&clock, MockOptions::default()).await;
    Fixture::new(mock, &clock, &format!("http://{address}"), adjust)
}

/// A mock on `clock`, serving on a free port.
async fn spawn_mock(clock: &ManualClock, options: MockOptions) -> (MockSupplier, SocketAddr) {
    let mock = mock_on(clock, options);
    let address = mock.clone().spawn(any_port()).await;
    (mock, address.expect("the mock binds"))
}

impl Fixture {
    fn new(
        mock: MockSupplier,
        clock: &ManualClock,
        base_url: &str,
        adjust: impl FnOnce(&mut HaierConfig),
    ) -> Fixture {
        let mut config = config_for(base_url);
        adjust(&mut config);
        let supplier = HaierSupplier::with_clock(config, Arc::new(clock.clone()));
        Fixture {
            mock,
            clock: clock.clone(),
            supplier: Arc::new(supplier.expect("the client builds")),
        }
    }

    fn counters(&self) -> MockCounters {
        self.mock.counters()
    }

    fn config(&self) -> &HaierConfig {
        self.supplier.config()
    }

    async fn stock(&self) -> SupplierResult<StockQuote> {
        self.supplier.check_stock(PRODUCT, COUNTY, None).await
    }

    /// The access token the client sent last.
    fn access_token(&self) -> Option<String> {
        let header = self.mock.last_authorization()?;
        let token = header.strip_prefix("Bearer ").expect("a bearer token");
        assert!(!token.is_empty(), "the token is not empty");
        Some(token.to_owned())
    }

    /// Every value that must never be printed.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            MOCK_CLIENT_SECRET.to_owned(),
            self.config().client_secret.expose().to_owned(),
            PASSWORD.to_owned(),
        ];
        secrets.extend(self.access_token());
        secrets
    }

    fn assert_hides_secrets(&self, text: &str) {
        for secret in self.secrets() {
            assert!(!text.contains(&secret), "a secret shows in {text:?}");
        }
    }

    /// The error of a call that must fail, checked to carry no secret.
    fn failure<T: std::fmt::Debug>(&self, result: SupplierResult<T>) -> SupplierError {
        let error = result.expect_err("the call fails");
        self.assert_hides_secrets(&error.to_string());
        self.assert_hides_secrets(&format!("{error:?}"));
        error
    }

    /// What the mock answers `path` for `body`, asked without the client.
    async fn served(&self, path: &str, body: Value) -> Value {
        let base_url = &self.config().base_url;
        let http = reqwest::Client::new();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", MOCK_CLIENT_ID),
            ("client_secret", MOCK_CLIENT_SECRET),
        ];
        let token = http.post(&self.config().token_url).form(&form).send();
        let token: TokenResponse = token.await.expect("a token").json().await.expect("JSON");
        let answer = http.post(format!("{base_url}{path}")).json(&body);
        let answer = answer.bearer_auth(token.access_token).send().await;
        let answer: Value = answer.expect("answered").json().await.expect("JSON");
        assert_eq!(answer["success"], true, "{answer}");
        answer["data"].clone()
    }
}

/// The counters that moved between two readings.
fn moved(before: MockCounters, after: MockCounters) -> MockCounters {
    MockCounters {
        token_requests: after.token_requests - before.token_requests,
        tokens_issued: after.tokens_issued - before.tokens_issued,
        api_calls: after.api_calls - before.api_calls,
        unauthorized: after.unauthorized - before.unauthorized,
        faults_served: after.faults_served - before.faults_served,
    }
}

/// Polls a call once: it has then passed the breaker and waits for the
/// supplier.
async fn begin<F: Future + Unpin>(call: &mut F) {
    std::future::poll_fn(|context| {
        let poll = Pin::new(&mut *call).poll(context);
        assert!(poll.is_pending(), "the call waits for the supplier");
        Poll::Ready(())
    })
    .await;
}

// Tokens.

#[tokio::test]
async fn one_token_serves_many_calls() {
    let fixture = start().await;
    for _ in 0..10 {
        fixture.stock().await.expect("stock");
    }
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 1);
    assert_eq!(counters.api_calls, 10);
    assert_eq!(counters.unauthorized, 0);
}

/// Eight stock calls at once, from tasks of their own; each must succeed.
async fn stock_at_once(fixture: &Fixture) {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let supplier = Arc::clone(&fixture.supplier);
        calls.spawn(async move { supplier.check_stock(PRODUCT, COUNTY, None).await });
    }
    let answers = calls.join_all().await;
    assert_eq!(answers.len(), 8);
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_calls_wait_for_one_token() {
    let fixture = start().await;
    stock_at_once(&fixture).await;
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 1);
    assert_eq!(counters.api_calls, 8);
}

/// A token that lives 1 s, with `margin`, is kept until just before
/// `renew_at` and renewed at it, before it expires.
async fn check_renewal(margin: Duration, renew_at: Duration) {
    let fixture = start_with(|config| config.token_refresh_margin = margin).await;
    fixture.mock.set_token_ttl(Duration::from_secs(1));
    fixture.stock().await.expect("stock");
    fixture.clock.advance(renew_at - Duration::from_millis(1));
    fixture.stock().await.expect("stock");
    assert_eq!(fixture.counters().token_requests, 1, "kept while fresh");
    fixture.clock.advance(Duration::from_millis(1));
    fixture.stock().await.expect("stock");
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 2, "renewed at {renew_at:?}");
    assert_eq!(counters.unauthorized, 0, "before it expired");
}

#[tokio::test]
async fn a_token_is_renewed_halfway_through_a_short_life() {
    // The default margin (60 s) is longer than the life. A client that
    // renewed only on expiry would still use the first token at 500 ms.
    check_renewal(Duration::from_secs(60), Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_margin_shorter_than_half_the_life_is_kept() {
    check_renewal(Duration::from_millis(100), Duration::from_millis(900)).await;
}

#[tokio::test]
async fn a_token_that_outlives_the_clock_is_kept() {
    let fixture = start().await;
    fixture.mock.set_token_ttl(Duration::MAX);
    fixture.stock().await.expect("stock");
    fixture.stock().await.expect("stock");
    assert_eq!(fixture.counters().token_requests, 1);
}

#[tokio::test]
async fn a_revoked_token_is_renewed_once() {
    let fixture = start().await;
    fixture.stock().await.expect("stock");
    let before = fixture.counters();
    fixture.mock.revoke_tokens();
    fixture.stock().await.expect("stock with a fresh token");
    let moved = moved(before, fixture.counters());
    assert_eq!(moved.token_requests, 1);
    assert_eq!(moved.unauthorized, 1);
    assert_eq!(moved.api_calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_refused_together_share_one_new_token() {
    let fixture = start().await;
    fixture.stock().await.expect("stock");
    let before = fixture.counters();
    fixture.mock.revoke_tokens();
    stock_at_once(&fixture).await;
    let moved = moved(before, fixture.counters());
    assert_eq!(moved.token_requests, 1, "one renewal for all of them");
}

#[tokio::test]
async fn an_answer_that_is_not_the_api_is_refused_not_not_found() {
    let clock = ManualClock::new();
    let (mock, address) = spawn_mock(&clock, MockOptions::default()).await;
    // A wrong base URL: every call meets a bare 404 page.
    let base_url = format!("http://{address}/wrong-root");
    let fixture = Fixture::new(mock, &clock, &base_url, |config| {
        config.token_url = format!("http://{address}{MOCK_TOKEN_PATH}");
    });
    let error = fixture.failure(fixture.stock().await);
    assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("HTTP 404"), "{error}");
}

#[tokio::test]
async fn a_secret_the_supplier_echoes_is_blanked() {
    // The supplier's message quotes what it was sent, secrets included.
    async fn echo() -> (axum::http::StatusCode, axum::Json<Value>) {
        let message = format!("bad request for client secret {MOCK_CLIENT_SECRET} and {PASSWORD}");
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"success": false, "code": "INVALID_PARAMETER", "message": message})),
        )
    }
    let clock = ManualClock::new();
    let mock = mock_on(&clock, MockOptions::default());
    let app = axum::Router::new()
        .route(BALANCE_PATH, axum::routing::post(echo))
        .fallback_service(mock.router());
    let listener = TcpListener::bind(any_port()).await.expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fixture = Fixture::new(mock, &clock, &format!("http://{address}"), |_| {});
    let error = fixture.failure(fixture.supplier.balance().await);
    assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("INVALID_PARAMETER"), "{error}");
}

#[tokio::test]
async fn a_platform_with_paths_of_its_own_is_reached_where_it_is_configured() {
    let paths = ApiPaths {
        stock: "/openapi/v2/stock/query".to_owned(),
        ..ApiPaths::default()
    };
    let clock = ManualClock::new();
    let options = MockOptions {
        paths: paths.clone(),
        ..MockOptions::default()
    };
    let (mock, address) = spawn_mock(&clock, options).await;
    mock.set_stock(PRODUCT, Some(COUNTY), 31);
    let base_url = format!("http://{address}");
    let configured = Fixture::new(mock.clone(), &clock, &base_url, |config| {
        config.paths = paths;
    });
    assert_eq!(configured.stock().await.expect("stock").stock, 31);
    // A client with the default paths meets a bare 404 there.
    let defaults = Fixture::new(mock, &clock, &base_url, |_| {});
    let error = defaults.failure(defaults.stock().await);
    assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
}

#[tokio::test]
async fn a_fresh_token_refused_too_is_an_auth_error() {
    let fixture = start().await;
    // Tokens that are dead when issued: renewing cannot help.
    fixture.mock.set_token_ttl(Duration::ZERO);
    let error = fixture.failure(fixture.stock().await);
    assert!(matches!(error, SupplierError::Auth { .. }), "{error:?}");
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 2, "renewed once, no more");
    assert_eq!(counters.unauthorized, 2);
    assert_eq!(counters.api_calls, 2, "not retried");
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_asked_once() {
    let wrong_secret = "wrong-secret-9b2f";
    let fixture = start_with(|config| {
        config.client_secret = Secret::new(wrong_secret);
    })
    .await;
    let error = fixture.failure(fixture.stock().await);
    assert!(matches!(error, SupplierError::Auth { .. }), "{error:?}");
    assert!(!error.to_string().contains(wrong_secret), "{error}");
    assert!(!format!("{error:?}").contains(wrong_secret), "{error:?}");
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 1, "a 4xx is not retried");
    assert_eq!(counters.tokens_issued, 0);
    assert_eq!(counters.api_calls, 0);
}

#[tokio::test]
async fn a_token_server_error_is_retried() {
    let fixture = start().await;
    fixture.mock.fail_token_next(1, 500);
    fixture.stock().await.expect("stock after a retry");
    let counters = fixture.counters();
    assert_eq!(counters.token_requests, 2);
    assert_eq!(counters.api_calls, 1);

    let fixture = start().await;
    fixture.mock.fail_token_next(3, 503);
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.counters().token_requests, 3);
    assert_eq!(fixture.counters().api_calls, 0);
}

// Retries and timeouts.

#[tokio::test]
async fn server_errors_are_retried_up_to_attempts_max() {
    let fixture = start().await;
    fixture.mock.fail_next(2, 503);
    fixture.stock().await.expect("a short burst is absorbed");
    assert_eq!(fixture.counters().api_calls, 3);

    fixture.mock.fail_next(3, 503);
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(fixture.counters().api_calls, 6, "exactly attempts_max more");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fixture = start_with(|config| config.customer_code = "C9999".to_owned()).await;
    let error = fixture.failure(fixture.stock().await);
    assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("403"), "{error}");
    assert_eq!(fixture.counters().api_calls, 1);

    let fixture = start().await;
    fixture.mock.fail_next(3, 400);
    let error = fixture.failure(fixture.stock().await);
    assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
    assert_eq!(fixture.counters().api_calls, 1);
}

#[tokio::test]
async fn an_unknown_product_is_not_found_by_its_code() {
    let fixture = start().await;
    let result = fixture.supplier.check_stock("NOSUCH000", COUNTY, None);
    let error = fixture.failure(result.await);
    match &error {
        SupplierError::NotFound { what, .. } => assert!(what.contains("NOSUCH000"), "{what}"),
        other => panic!("not NotFound: {other:?}"),
    }
    assert!(error.to_string().contains("NOSUCH000"), "{error}");
    assert_eq!(fixture.counters().api_calls, 1);
}

#[tokio::test]
async fn every_try_too_slow_is_a_timeout() {
    let fixture = start_with(|config| config.policy.timeout = SHORT_TIMEOUT).await;
    fixture.mock.delay_next(3, SLOW);
    let error = fixture.failure(fixture.stock().await);
    let expected = SupplierError::Timeout {
        supplier: "haier-test".to_owned(),
        timeout_ms: 1000,
    };
    assert_eq!(error, expected);
    assert_eq!(fixture.counters().api_calls, 3);
}

#[tokio::test]
async fn one_slow_try_then_a_fast_one_is_ok() {
    let fixture = start_with(|config| config.policy.timeout = SHORT_TIMEOUT).await;
    fixture.mock.delay_next(1, SLOW);
    fixture.stock().await.expect("the retry is fast");
    assert_eq!(fixture.counters().api_calls, 2);
}

#[tokio::test]
async fn a_malformed_answer_is_not_retried() {
    let fixture = start().await;
    fixture.mock.malformed_next(3);
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::Malformed { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.counters().api_calls, 1);
}

// The circuit breaker.

/// Two failed calls: the circuit is open, and the mock is not called.
async fn open_the_circuit(fixture: &Fixture) {
    fixture.mock.fail_next(2, 503);
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.supplier.circuit(), CircuitState::Closed);
    fixture.failure(fixture.stock().await);
    assert_eq!(fixture.supplier.circuit(), CircuitState::Open);

    let api_calls = fixture.counters().api_calls;
    let error = fixture.failure(fixture.stock().await);
    assert_eq!(retry_after_ms(&error), OPEN_FOR.as_millis() as u64);
    assert_eq!(fixture.counters().api_calls, api_calls, "not called");
}

fn retry_after_ms(error: &SupplierError) -> u64 {
    match error {
        SupplierError::CircuitOpen { retry_after_ms, .. } => *retry_after_ms,
        other => panic!("not CircuitOpen: {other:?}"),
    }
}

/// The circuit stays open for `open_for`, not a moment less.
async fn wait_out_the_open_circuit(fixture: &Fixture) {
    fixture.clock.advance(OPEN_FOR - Duration::from_millis(1));
    assert_eq!(fixture.supplier.circuit(), CircuitState::Open);
    let error = fixture.failure(fixture.stock().await);
    assert_eq!(retry_after_ms(&error), 1);
    fixture.clock.advance(Duration::from_millis(1));
    assert_eq!(fixture.supplier.circuit(), CircuitState::HalfOpen);
}

/// Opens the circuit, waits it out and starts the trial: a call past the
/// breaker that waits for the supplier, while every other call is refused.
/// Also the supplier's API calls before the trial.
async fn start_the_trial(
    fixture: &Fixture,
) -> (
    impl Future<Output = SupplierResult<StockQuote>> + Unpin + '_,
    u64,
) {
    open_the_circuit(fixture).await;
    wait_out_the_open_circuit(fixture).await;
    let api_calls = fixture.counters().api_calls;
    let mut trial = fixture.supplier.check_stock(PRODUCT, COUNTY, None);
    begin(&mut trial).await;
    let other = fixture.failure(fixture.stock().await);
    assert!(
        matches!(other, SupplierError::CircuitOpen { .. }),
        "one trial at a time: {other:?}"
    );
    assert_eq!(fixture.supplier.circuit(), CircuitState::HalfOpen);
    (trial, api_calls)
}

#[tokio::test]
async fn failures_open_the_circuit_and_one_good_trial_closes_it() {
    let fixture = start_with(breaking_policy).await;
    let (trial, api_calls) = start_the_trial(&fixture).await;
    trial.await.expect("the trial succeeds");
    assert_eq!(fixture.counters().api_calls, api_calls + 1);
    assert_eq!(fixture.supplier.circuit(), CircuitState::Closed);
    fixture.stock().await.expect("closed again");
}

#[tokio::test]
async fn a_trial_whose_caller_stops_waiting_leaves_the_next_call_to_try() {
    let fixture = start_with(breaking_policy).await;
    let (trial, api_calls) = start_the_trial(&fixture).await;
    // Dropped while it waits for the supplier, as a request whose time
    // runs out drops its call.
    drop(trial);
    assert_eq!(
        fixture.supplier.circuit(),
        CircuitState::HalfOpen,
        "a dropped trial says nothing of the supplier"
    );

    fixture.stock().await.expect("the next call is the trial");
    let asked = fixture.counters().api_calls - api_calls;
    // The dropped trial's request may have reached the supplier or not.
    assert!((1..=2).contains(&asked), "the supplier was asked: {asked}");
    assert_eq!(fixture.supplier.circuit(), CircuitState::Closed);
}

#[tokio::test]
async fn a_failed_trial_opens_the_circuit_again() {
    let fixture = start_with(breaking_policy).await;
    open_the_circuit(&fixture).await;
    wait_out_the_open_circuit(&fixture).await;

    fixture.mock.fail_next(1, 503);
    let api_calls = fixture.counters().api_calls;
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.counters().api_calls, api_calls + 1);
    assert_eq!(fixture.supplier.circuit(), CircuitState::Open);
    let error = fixture.failure(fixture.stock().await);
    assert!(
        matches!(error, SupplierError::CircuitOpen { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.counters().api_calls, api_calls + 1);
}

#[tokio::test]
async fn answers_that_blame_the_request_keep_the_circuit_closed() {
    let fixture = start_with(breaking_policy).await;
    for _ in 0..3 {
        let unknown = fixture.supplier.check_stock("NOSUCH000", COUNTY, None);
        let error = fixture.failure(unknown.await);
        assert!(matches!(error, SupplierError::NotFound { .. }), "{error:?}");
    }
    fixture.mock.fail_next(3, 400);
    for _ in 0..3 {
        let error = fixture.failure(fixture.stock().await);
        assert!(matches!(error, SupplierError::Refused { .. }), "{error:?}");
    }
    assert_eq!(fixture.supplier.circuit(), CircuitState::Closed);
    assert_eq!(fixture.counters().api_calls, 6);

    // A supplier that answers "not found" is up: the failures before it
    // are forgotten, the ones after it count afresh.
    fixture.mock.fail_next(1, 503);
    fixture.failure(fixture.stock().await);
    let unknown = fixture.supplier.check_stock("NOSUCH000", COUNTY, None);
    fixture.failure(unknown.await);
    fixture.mock.fail_next(2, 503);
    fixture.failure(fixture.stock().await);
    assert_eq!(fixture.supplier.circuit(), CircuitState::Closed);
    fixture.failure(fixture.stock().await);
    assert_eq!(fixture.supplier.circuit(), CircuitState::Open);
}

// Secrets.

#[tokio::test]
async fn debug_output_shows_neither_the_secret_nor_the_token() {
    let fixture = start().await;
    fixture.supplier.balance().await.expect("balance");
    let token = fixture.access_token().expect("a token was sent");
    let secrets = fixture.secrets();
    assert!(secrets.contains(&token));

    let supplier = format!("{:?}", fixture.supplier);
    let config = format!("{:?}", fixture.config());
    for text in [&supplier, &config] {
        assert!(
            text.contains(MOCK_CLIENT_ID),
            "debug output says something: {text}"
        );
        assert!(text.contains("***"), "secrets are masked: {text}");
        fixture.assert_hides_secrets(text);
    }
    assert!(
        supplier.contains("renew_at"),
        "the kept token is shown: {supplier}"
    );
}

// What the calls map.

#[tokio::test]
async fn the_catalogue_is_read_across_pages() {
    let fixture = start_with(|config| config.products_page_size = 5).await;
    let catalogue: Vec<SupplierProduct> = fixture
        .mock
        .products()
        .into_iter()
        .map(|product| SupplierProduct {
            product_code: product.product_code,
            name: product.product_name,
            category: product.category,
            brand: product.brand,
            model: product.model,
        })
        .collect();
    assert!(catalogue.len() > 10, "several pages");

    let everything = fixture.supplier.products(&ProductQuery::default()).await;
    assert_eq!(everything.expect("the catalogue"), catalogue);
    let pages = catalogue.len().div_ceil(5) as u64;
    assert_eq!(fixture.counters().api_calls, pages);

    let fridges = Some("冰箱".to_owned());
    let casarte = Some("卡萨帝".to_owned());
    let codes = vec![PRODUCT.to_owned(), "CEAT4P00F".to_owned()];
    let by_category = ProductQuery {
        category: fridges.clone(),
        ..ProductQuery::default()
    };
    let by_brand = ProductQuery {
        brand: casarte.clone(),
        ..ProductQuery::default()
    };
    let by_both = ProductQuery {
        category: fridges.clone(),
        brand: casarte.clone(),
        ..ProductQuery::default()
    };
    let by_code = ProductQuery {
        product_codes: codes.clone(),
        ..ProductQuery::default()
    };
    let supplier = &fixture.supplier;
    check_listing(supplier, &catalogue, by_category, |p| p.category == fridges).await;
    check_listing(supplier, &catalogue, by_brand, |p| p.brand == casarte).await;
    let both = |p: &SupplierProduct| p.category == fridges && p.brand == casarte;
    check_listing(supplier, &catalogue, by_both, both).await;
    let listed = |p: &SupplierProduct| codes.contains(&p.product_code);
    check_listing(supplier, &catalogue, by_code, listed).await;
}

/// `query` lists the products of the catalogue that `keep` keeps, in order:
/// some, not all.
async fn check_listing(
    supplier: &HaierSupplier,
    catalogue: &[SupplierProduct],
    query: ProductQuery,
    keep: impl Fn(&SupplierProduct) -> bool,
) {
    let expected: Vec<SupplierProduct> = catalogue.iter().filter(|p| keep(p)).cloned().collect();
    assert!(!expected.is_empty(), "{query:?} matches something");
    assert!(
        expected.len() < catalogue.len(),
        "{query:?} leaves something out"
    );
    let listed = supplier.products(&query).await.expect("products");
    assert_eq!(listed, expected, "{query:?}");
}

#[tokio::test]
async fn prices_are_asked_in_chunks_and_map_the_mock_prices() {
    let fixture = start().await;
    let catalogue = fixture.mock.product_codes();
    // More codes than one call takes.
    let codes: Vec<String> = catalogue
        .iter()
        .cycle()
        .take(PRICE_CODES_MAX + 20)
        .cloned()
        .collect();
    let prices = fixture.supplier.prices(&codes).await.expect("prices");
    assert_eq!(fixture.counters().api_calls, 2);

    let served = fixture
        .served(
            PRICES_PATH,
            json!({"customerCode": MOCK_CUSTOMER_CODE, "productCodes": catalogue}),
        )
        .await;
    let served: Vec<PriceData> = serde_json::from_value(served).expect("prices");
    let served: Vec<ProductPrice> = served
        .into_iter()
        .map(|p| ProductPrice {
            product_code: p.product_code,
            price: p.price,
            market_price: p.market_price,
            currency: p.currency,
        })
        .collect();
    let expected: Vec<ProductPrice> = served.iter().cycle().take(codes.len()).cloned().collect();
    assert_eq!(prices, expected);
    assert!(prices.iter().all(|p| p.market_price.is_some()));

    let unknown = fixture.supplier.prices(&["NOSUCH000".to_owned()]).await;
    let error = fixture.failure(unknown);
    assert!(matches!(error, SupplierError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn balance_and_logistics_map_the_mock_answers() {
    let fixture = start().await;
    let balance = fixture.supplier.balance().await.expect("balance");
    let served = fixture
        .served(BALANCE_PATH, json!({"customerCode": MOCK_CUSTOMER_CODE}))
        .await;
    let served: BalanceData = serde_json::from_value(served).expect("balance");
    let expected = AccountBalance {
        balance: served.balance,
        credit_limit: served.credit_limit,
        currency: served.currency,
    };
    assert_eq!(balance, expected);

    let query = LogisticsQuery {
        order_code: "SO20250601001".to_owned(),
        ..LogisticsQuery::default()
    };
    let logistics = fixture.supplier.logistics(&query).await.expect("logistics");
    let body = json!({"customerCode": MOCK_CUSTOMER_CODE, "orderCode": query.order_code});
    let served: LogisticsData =
        serde_json::from_value(fixture.served(LOGISTICS_PATH, body).await).expect("logistics");
    let expected = Logistics {
        order_code: served.order_code,
        status: served.status,
        carrier: served.carrier,
        tracking_number: served.tracking_number,
        events: served.events,
    };
    assert_eq!(logistics, expected);
    assert_eq!(logistics.events.len(), 3);

    let query = LogisticsQuery {
        order_code: "PO20250601001".to_owned(),
        ..LogisticsQuery::default()
    };
    let error = fixture.failure(fixture.supplier.logistics(&query).await);
    assert!(matches!(error, SupplierError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn check_stock_answers_the_mock_stock_for_the_region() {
    let fixture = start().await;
    let other_county = "310104";
    fixture.mock.set_stock(PRODUCT, Some(COUNTY), 7);
    fixture.mock.set_stock(PRODUCT, Some(other_county), 42);

    let quote = fixture.stock().await.expect("stock");
    let body = json!({
        "productCode": PRODUCT, "countyCode": COUNTY,
        "source": "JSH-B", "customerCode": MOCK_CUSTOMER_CODE,
    });
    let served: StockData =
        serde_json::from_value(fixture.served(STOCK_PATH, body).await).expect("stock");
    let expected = StockQuote {
        product_code: PRODUCT.to_owned(),
        county_code: COUNTY.to_owned(),
        stock: 7,
        sec_code: served.sec_code,
        warehouse_grade: served.warehouse_grade,
        timeliness: served.timeliness_data,
    };
    assert_eq!(quote, expected);
    assert!(quote.sec_code.is_some());

    let other = fixture
        .supplier
        .check_stock(PRODUCT, other_county, None)
        .await;
    let other = other.expect("stock");
    assert_eq!(
        (other.county_code.as_str(), other.stock),
        (other_county, 42)
    );
}

/// The stock requests a server saw, as JSON.
#[derive(Clone, Default)]
struct Recorder {
    stock_requests: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    fn sources(&self) -> Vec<String> {
        let requests = self.stock_requests.lock().expect("recorder lock");
        let sources = requests.iter().map(|request| request["source"].as_str());
        sources
            .map(|source| source.expect("a source").to_owned())
            .collect()
    }
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .expect("a small body");
    if parts.uri.path() == STOCK_PATH {
        let json = serde_json::from_slice(&bytes).expect("a JSON body");
        recorder
            .stock_requests
            .lock()
            .expect("recorder lock")
            .push(json);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The mock behind a layer that records what the client sends.
async fn start_recorded(clock: &ManualClock) -> (MockSupplier, String, Recorder) {
    let mock = mock_on(clock, MockOptions::default());
    let recorder = Recorder::default();
    let layer = middleware::from_fn_with_state(recorder.clone(), record);
    let router = mock.router().layer(layer);
    let listener = TcpListener::bind(any_port()).await.expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (mock, format!("http://{address}"), recorder)
}

#[tokio::test]
async fn the_source_sent_is_the_configured_one_unless_a_call_names_one() {
    let clock = ManualClock::new();
    let (mock, base_url, recorder) = start_recorded(&clock).await;
    let default = Fixture::new(mock.clone(), &clock, &base_url, |_| {});
    let configured = Fixture::new(mock, &clock, &base_url, |config| {
        config.source = "JSH-T".to_owned();
    });

    default.stock().await.expect("stock");
    configured.stock().await.expect("stock");
    let named = configured
        .supplier
        .check_stock(PRODUCT, COUNTY, Some("JSH-C"));
    named.await.expect("stock");
    assert_eq!(recorder.sources(), ["JSH-B", "JSH-T", "JSH-C"]);

    let requests = recorder
        .stock_requests
        .lock()
        .expect("recorder lock")
        .clone();
    for request in requests {
        assert_eq!(request["customerCode"], MOCK_CUSTOMER_CODE, "{request}");
        assert_eq!(request["productCode"], PRODUCT, "{request}");
        assert_eq!(request["countyCode"], COUNTY, "{request}");
    }
}
