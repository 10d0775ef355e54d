//! The mock over HTTP on 127.0.0.1, asked as a client would.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::{json, Value};
use stock_supplier::protocol::{
    LogisticsData, PriceData, ProductData, ProductsPage, StockData, TokenResponse, BALANCE_PATH,
    LOGISTICS_PATH, PRICES_PATH, PRODUCTS_PATH, PRODUCT_NOT_FOUND, STOCK_PATH,
};

use crate::catalogue::{find_sample, sample_stock, CATALOGUE};
use crate::token::{decode_base64, TOKEN_RANDOM_BYTES};
use crate::{
    ManualClock, MockCounters, MockOptions, MockState, MockSupplier, MOCK_CLIENT_ID,
    MOCK_CLIENT_SECRET, MOCK_CUSTOMER_CODE, MOCK_TOKEN_PATH, REQUEST_BODY_BYTES_MAX,
};

/// A running mock on a clock of the test's, and a client for it.
struct Harness {
    mock: MockSupplier,
    clock: ManualClock,
    base_url: String,
    http: reqwest::Client,
}

/// Long enough for any answer the mock gives undelayed, short enough that
/// a hung test fails instead of hanging.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
const COUNTY: &str = "110101";
const PRODUCT: &str = "GA0SZC00U";

async fn start() -> Harness {
    let clock = ManualClock::new();
    let mock = MockSupplier::new(MockOptions {
        clock: Arc::new(clock.clone()),
        ..MockOptions::default()
    });
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let address = mock.clone().spawn(any_port).await.expect("the mock binds");
    let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build();
    Harness {
        mock,
        clock,
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

    async fn send(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let request = self.api_request(path, token, body);
        request.send().await.expect("answered")
    }

    async fn call_text(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, String) {
        let response = self.send(path, token, body).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("the answer arrives"))
    }

    async fn call(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        answer_of(self.send(path, token, body).await).await
    }

    async fn stock(&self, token: &str, product_code: &str, county_code: &str) -> (u16, Value) {
        self.call(
            STOCK_PATH,
            Some(token),
            &stock_body(product_code, county_code),
        )
        .await
    }

    /// Asks the stock of [`PRODUCT`] in [`COUNTY`] and checks the refusal.
    async fn assert_stock_refused(&self, token: &str, status: u16, code: &str) {
        assert_refused(&self.stock(token, PRODUCT, COUNTY).await, status, code);
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

/// An OAuth2 error answer (RFC 6749 section 5.2) with `status` and `error`.
fn assert_oauth_error(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(
        (status, &body["error"]),
        (expected_status, &json!(error)),
        "{body}"
    );
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
    assert_oauth_error(status, &body, 401, "invalid_client");
    let (status, body) = harness.request_token(&good_form()[1..]).await;
    assert_oauth_error(status, &body, 400, "invalid_request");
    let password_grant = [("grant_type", "password"), good_form()[1], good_form()[2]];
    let (status, body) = harness.request_token(&password_grant).await;
    assert_oauth_error(status, &body, 400, "unsupported_grant_type");
    let json_body = harness
        .http
        .post(harness.url(MOCK_TOKEN_PATH))
        .json(&json!({}));
    let (status, body) = answer_of(json_body.send().await.expect("answered")).await;
    assert_oauth_error(status, &body, 400, "invalid_request");
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
    assert_oauth_error(status, &body, 401, "invalid_client");

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
    harness
        .assert_stock_refused(&token, 401, "UNAUTHORIZED")
        .await;
    let fresh = harness.token().await;
    assert_ok(&harness.stock(&fresh, PRODUCT, COUNTY).await);
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let harness = start().await;
    let ttl = Duration::from_secs(1);
    harness.mock.set_token_ttl(ttl);
    let (status, body) = harness.request_token(&good_form()).await;
    assert_eq!((status, &body["expires_in"]), (200, &json!(1)), "{body}");
    let token = body["access_token"].as_str().expect("a token");
    assert_ok(&harness.stock(token, PRODUCT, COUNTY).await);

    let just_before = ttl - Duration::from_millis(1);
    harness.clock.advance(just_before);
    assert_ok(&harness.stock(token, PRODUCT, COUNTY).await);
    harness.clock.advance(ttl - just_before);
    let answer = harness.stock(token, PRODUCT, COUNTY).await;
    assert_refused(&answer, 401, "UNAUTHORIZED");
    assert_eq!(answer.1["message"], "the token has expired");
}

#[tokio::test]
async fn fail_next_answers_that_status_then_recovers() {
    let harness = start().await;
    harness.mock.fail_next(2, 503);
    let token = harness.token().await;
    harness
        .assert_stock_refused(&token, 503, "MOCK_FAULT")
        .await;
    let balance = json!({"customerCode": MOCK_CUSTOMER_CODE});
    let failed = harness.call(BALANCE_PATH, Some(&token), &balance).await;
    assert_refused(&failed, 503, "MOCK_FAULT");
    assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
    harness.mock.fail_next(1, 500);
    harness
        .assert_stock_refused(&token, 500, "MOCK_FAULT")
        .await;
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
    let delay = Duration::from_millis(300);
    harness.mock.delay_next(1, delay);
    let started = Instant::now();
    assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
    assert!(started.elapsed() >= delay, "answered before the delay");
    assert_eq!(harness.mock.counters().faults_served, 1);
    assert_ok(&harness.stock(&token, PRODUCT, COUNTY).await);
    let faults_served = harness.mock.counters().faults_served;
    assert_eq!(faults_served, 1, "the delay outlived its count");

    // Last, as a call the client gave up on may reach the mock late.
    let body = stock_body(PRODUCT, COUNTY);
    harness.mock.delay_next(1, Duration::from_secs(2));
    let impatient = harness.api_request(STOCK_PATH, Some(&token), &body);
    let impatient = impatient.timeout(Duration::from_millis(200)).send().await;
    assert!(impatient.expect_err("the call times out").is_timeout());
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
    harness
        .assert_stock_refused(&token, 500, "MOCK_FAULT")
        .await;
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
    assert_oauth_error(status, &body, 500, "server_error");
    let token = harness.token().await;
    harness
        .assert_stock_refused(&token, 503, "MOCK_FAULT")
        .await;
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
    assert_eq!(codes, harness.mock.product_codes());
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
async fn check_filter(harness: &Harness, filter: Value, expected: impl Fn(&ProductData) -> bool) {
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
    let expected = json!({"balance": "128000.00", "creditLimit": "50000.00", "currency": "CNY"});
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
    harness.assert_stock_refused(token, 503, "MOCK_FAULT").await;
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
    harness
        .assert_stock_refused(token, 401, "UNAUTHORIZED")
        .await;
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
    let post = |body: &'static str| harness.control(reqwest::Method::POST, "/mock/faults", body);
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
    let (status, pending) = post(r#"{"delay_next": {"count": 0, "delay_ms": 999999999}}"#).await;
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
fn base64_decodes_padded_unpadded_and_refuses_garbage() {
    fn check(encoded: &str, expected: Option<&str>) {
        let decoded = decode_base64(encoded).map(|bytes| String::from_utf8(bytes).expect("utf-8"));
        assert_eq!(decoded.as_deref(), expected, "{encoded}");
    }
    check(
        "bW9jay1jbGllbnQ6bW9jay1zZWNyZXQ=",
        Some("mock-client:mock-secret"),
    );
    check("YQ==", Some("a"));
    check("YQ", Some("a"));
    check("YWI=", Some("ab"));
    check("YWJj", Some("abc"));
    check("", Some(""));
    check("YW*j", None);
}
