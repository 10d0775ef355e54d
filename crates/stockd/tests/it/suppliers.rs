//! Supplier stock (seed 003): region codes, a supplier's stock, catalogue,
//! balance and logistics through the API, linking items and writing the
//! supplier's figure, asking the supplier before an order, the sync command
//! and the schedule, failures with their codes, and secrets kept out of
//! answers and logs. The mock supplier runs in this process, one per
//! configured supplier, so faults stay where a test puts them.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use stock_supplier_mock::{
    MockOptions, MockSupplier, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, MOCK_CUSTOMER_CODE,
    MOCK_TOKEN_PATH,
};

use crate::events::{Received, Stream};
use crate::helpers::{code, spawn_with, stockd_command, Spawn, TestApp, Workspace, ADMIN_KEY};

/// The wrong secret a test configures; it must never be seen again.
const WRONG_SECRET: &str = "not-the-secret-7f3a9c";

struct Mock {
    mock: MockSupplier,
    address: SocketAddr,
}

async fn mock() -> Mock {
    let mock = MockSupplier::new(MockOptions::default());
    let address = mock
        .clone()
        .spawn(([127, 0, 0, 1], 0).into())
        .await
        .expect("the mock supplier starts");
    Mock { mock, address }
}

/// A `suppliers.<name>` section for a mock, with fast retries and a timeout
/// that an answer over 127.0.0.1 comes nowhere near, even on a busy machine.
fn section(name: &str, mock: &Mock, secret: &str, extra: &str) -> String {
    let base = format!("http://{}", mock.address);
    format!(
        "  {name}:\n    base_url: {base}\n    token_url: {base}{MOCK_TOKEN_PATH}\n    client_id: {MOCK_CLIENT_ID}\n    client_secret: {secret}\n    customer_code: {MOCK_CUSTOMER_CODE}\n    timeout_ms: 2000\n    retry: {{attempts_max: 3, base_delay_ms: 5, max_delay_ms: 20}}\n{extra}"
    )
}

/// A server whose ./config.yaml holds `config`; CLI commands run beside it read it too.
async fn app_with(config: &str) -> TestApp {
    let workspace = Workspace::new();
    std::fs::write(workspace.dir.path().join("config.yaml"), config).expect("config.yaml");
    spawn_with(Spawn {
        dir: Some(workspace),
        ..Spawn::default()
    })
    .await
}

/// One supplier, `acme`, on its own mock.
async fn acme() -> (TestApp, Mock) {
    let mock = mock().await;
    let config = format!(
        "suppliers:\n{}",
        section("acme", &mock, MOCK_CLIENT_SECRET, "")
    );
    (app_with(&config).await, mock)
}

async fn link(app: &TestApp, item: &str, product_code: &str, check: bool) -> (StatusCode, Value) {
    app.put(
        ADMIN_KEY,
        &format!("/api/v1/inventory/{item}/supplier"),
        json!({"supplier": "acme", "product_code": product_code, "check_before_order": check}),
    )
    .await
}

async fn level_at(app: &TestApp, item: &str, location: &str) -> Option<(i64, i64)> {
    let (status, body) = app
        .get(ADMIN_KEY, &format!("/api/v1/inventory/{item}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .find(|l| l["location"] == location)
        .map(|l| {
            (
                l["on_hand"].as_i64().unwrap(),
                l["reserved"].as_i64().unwrap(),
            )
        })
}

async fn sync_item(app: &TestApp, item: &str, body: Value) -> (StatusCode, Value) {
    app.post(
        ADMIN_KEY,
        &format!("/api/v1/inventory/{item}/sync-supplier-stock"),
        body,
    )
    .await
}

/// Runs a stockd command in the app's directory (so it reads its
/// config.yaml) off the runtime, since the mock answers on it meanwhile.
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut command = stockd_command(app.dir.path());
    command.args(args).args(["--database", &app.database_url]);
    let output = tokio::task::spawn_blocking(move || command.output().expect("stockd runs"))
        .await
        .expect("the command ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_resolve_as_the_seed_says() {
    let mock = mock().await;
    let config = format!(
        "regions:\n  default_county_code: \"310101\"\nsuppliers:\n{}",
        section("acme", &mock, MOCK_CLIENT_SECRET, "")
    );
    let app = app_with(&config).await;
    let storefront = app.key("storefront");
    let check = |query: &'static str, expect: (&'static str, &'static str)| {
        let app = &app;
        let storefront = storefront.clone();
        async move {
            let (status, body) = app
                .get(&storefront, &format!("/api/v1/regions/resolve?{query}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            assert_eq!(
                (
                    body["county_code"].as_str().unwrap(),
                    body["matched_level"].as_str().unwrap()
                ),
                expect,
                "{query}: {body}"
            );
        }
    };
    check("province=北京市&district=朝阳区", ("110105", "district")).await;
    check(
        "province=北京市&city=北京市&district=朝阳区",
        ("110105", "district"),
    )
    .await;
    check("province=北京市", ("110100", "city")).await;
    check("province=北京", ("110100", "city")).await;
    check("district=朝阳区", ("110100", "city")).await;
    check(
        "province=广东&city=深圳&district=不存在区",
        ("440300", "city"),
    )
    .await;
    check("address=广东省深圳市南山区科技园", ("440305", "district")).await;
    check("address=北京市朝阳区", ("110105", "district")).await;
    // Nothing matches: the configured default, not the built-in one.
    check("address=无效地址", ("310101", "default")).await;
    check("province=asdf", ("310101", "default")).await;
    check("county_code=440305", ("440305", "given")).await;

    for query in [
        "",
        "county_code=44030",
        "county_code=44030x",
        "county_code=440305&province=广东",
        "address=北京&province=北京",
        "postcode=100000",
    ] {
        let (status, body) = app
            .get(&storefront, &format!("/api/v1/regions/resolve?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(code(&body), "VALIDATION_FAILED", "{query}");
    }
    let long = "北".repeat(400);
    let (status, _) = app
        .get(
            &storefront,
            &format!("/api/v1/regions/resolve?address={long}"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppliers_stock_catalogue_prices_balance_and_logistics() {
    let (app, mock) = acme().await;
    let service = app.key("service");
    mock.mock.set_stock("GA0SZC00U", Some("440305"), 17);

    let (status, body) = app
        .get(
            &service,
            "/api/v1/suppliers/acme/stock?product_code=GA0SZC00U&county_code=440305",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stock"], 17);
    assert_eq!(body["county_code"], "440305");
    assert_eq!(body["matched_level"], "given");
    assert!(body["sec_code"].is_string(), "{body}");
    assert!(body["timeliness_data"].is_object(), "{body}");
    // The same region from an address.
    let (status, body) = app
        .get(&service, "/api/v1/suppliers/acme/stock?product_code=GA0SZC00U&province=广东省&city=深圳市&district=南山区")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["stock"].as_i64(), body["matched_level"].as_str()),
        (Some(17), Some("district"))
    );

    // The catalogue, filtered, as the supplier has it.
    let fridges: Vec<String> = mock
        .mock
        .products()
        .into_iter()
        .filter(|p| p.category.as_deref() == Some("冰箱"))
        .map(|p| p.product_code)
        .collect();
    assert!(!fridges.is_empty());
    let (status, body) = app
        .get(&service, "/api/v1/suppliers/acme/products?category=冰箱")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: Vec<&str> = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_code"].as_str().unwrap())
        .collect();
    assert_eq!(listed, fridges);
    assert_eq!(body["total"], fridges.len());

    let (status, body) = app
        .get(
            &service,
            "/api/v1/suppliers/acme/prices?product_codes=GA0SZC00U",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["prices"][0]["product_code"], "GA0SZC00U");
    assert!(body["prices"][0]["price"].as_str().unwrap().contains('.'));

    // The balance is the shop's money: admins only.
    let (status, _) = app.get(&service, "/api/v1/suppliers/acme/balance").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/suppliers/acme/balance").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["balance"].is_string() && body["currency"] == "CNY",
        "{body}"
    );

    let (status, body) = app
        .get(
            &service,
            "/api/v1/suppliers/acme/logistics?order_code=SO20250601",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order_code"], "SO20250601");
    assert!(!body["events"].as_array().unwrap().is_empty());

    // Missing and wrong input, unknown things.
    for (path, status_expected, code_expected) in [
        (
            "/api/v1/suppliers/acme/stock?county_code=110101",
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/suppliers/acme/stock?product_code=GA0SZC00U",
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/suppliers/acme/stock?product_code=GA0SZC00U&county_code=1101",
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/suppliers/acme/prices",
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/suppliers/acme/logistics",
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/suppliers/nobody/stock?product_code=GA0SZC00U&county_code=110101",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            "/api/v1/suppliers/acme/stock?product_code=NOSUCH000&county_code=110101",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            "/api/v1/suppliers/acme/logistics?order_code=XX1",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
    ] {
        let (status, body) = app.get(&service, path).await;
        assert_eq!(
            (status, code(&body)),
            (status_expected, code_expected),
            "{path}: {body}"
        );
    }
    let storefront = app.key("storefront");
    let (status, _) = app
        .get(
            &storefront,
            "/api/v1/suppliers/acme/stock?product_code=GA0SZC00U&county_code=110101",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = app.get(&service, "/api/v1/suppliers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["suppliers"][0]["name"], "acme");
    assert_eq!(body["suppliers"][0]["circuit"], "closed");
    assert_eq!(body["suppliers"][0]["location"], "supplier-acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplier_failures_have_their_codes_and_a_dead_supplier_is_not_called() {
    let flaky = mock().await;
    let good = mock().await;
    let config = format!(
        "suppliers:\n{}{}",
        section(
            "flaky",
            &flaky,
            MOCK_CLIENT_SECRET,
            "    breaker: {failures_max: 3, open_ms: 600000}\n"
        ),
        section("wrong", &good, WRONG_SECRET, ""),
    );
    let app = app_with(&config).await;
    let service = app.key("service");
    let stock = |supplier: &str| {
        format!("/api/v1/suppliers/{supplier}/stock?product_code=GA0SZC00U&county_code=110101")
    };

    // A burst of 5xx shorter than the retries is not seen at all.
    flaky.mock.fail_next(2, 503);
    let (status, body) = app.get(&service, &stock("flaky")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Each failure, after its retries, with its own code.
    flaky.mock.fail_next(3, 503);
    let before = flaky.mock.counters().api_calls;
    let (status, body) = app.get(&service, &stock("flaky")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "SUPPLIER_UNAVAILABLE"),
        "{body}"
    );
    assert_eq!(
        flaky.mock.counters().api_calls - before,
        3,
        "three attempts in all"
    );
    assert_eq!(body["error"]["details"]["supplier"], "flaky");

    flaky.mock.delay_next(3, Duration::from_secs(10));
    let (status, body) = app.get(&service, &stock("flaky")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "SUPPLIER_TIMEOUT"),
        "{body}"
    );

    flaky.mock.malformed_next(1);
    let (status, body) = app.get(&service, &stock("flaky")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "SUPPLIER_BAD_RESPONSE"),
        "{body}"
    );

    // Three failures in a row: the circuit is open and the supplier is left alone.
    let before = flaky.mock.counters().api_calls;
    let (status, body) = app.get(&service, &stock("flaky")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "SUPPLIER_CIRCUIT_OPEN"),
        "{body}"
    );
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(flaky.mock.counters().api_calls, before, "refused uncalled");
    let (_, body) = app.get(&service, "/api/v1/suppliers").await;
    let flaky_out = body["suppliers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "flaky")
        .unwrap()
        .clone();
    assert_eq!(flaky_out["circuit"], "open");

    // Wrong credentials: 502 SUPPLIER_AUTH_FAILED, asked once, the secret nowhere.
    let (status, body) = app.get(&service, &stock("wrong")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "SUPPLIER_AUTH_FAILED"),
        "{body}"
    );
    assert_eq!(
        good.mock.counters().token_requests,
        1,
        "a refused client is not retried"
    );
    assert_eq!(good.mock.counters().api_calls, 0);
    let token = flaky.mock.last_authorization().expect("a token was used");
    let token = token.trim_start_matches("Bearer ").to_owned();
    assert_no_secret(
        &body.to_string(),
        &[WRONG_SECRET, MOCK_CLIENT_SECRET, &token],
    );
    let log = std::fs::read_to_string(app.log_path()).expect("the log");
    assert!(log.contains("supplier"), "the log has supplier lines");
    assert_no_secret(&log, &[WRONG_SECRET, MOCK_CLIENT_SECRET, &token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_item_gets_the_suppliers_figure_at_the_suppliers_location() {
    let (app, mock) = acme().await;
    app.create_item("fridge", 5).await;
    app.create_item("other", 0).await;

    let (status, body) = link(&app, "fridge", "GA0SZC00U", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["supplier"].as_str(),
            body["check_before_order"].as_bool()
        ),
        (Some("acme"), Some(true))
    );
    let (status, body) = link(&app, "other", "GA0SZC00U", true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "ALREADY_EXISTS"),
        "{body}"
    );
    let (status, _) = link(&app, "ghost", "GA0SZB00K", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/other/supplier",
            json!({"supplier": "nobody", "product_code": "X"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND"),
        "{body}"
    );
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/other/supplier",
            json!({"supplier": "acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    mock.mock.set_stock("GA0SZC00U", Some("110105"), 40);
    let (status, body) = sync_item(
        &app,
        "fridge",
        json!({"province": "北京市", "district": "朝阳区"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["county_code"], "110105");
    assert_eq!(body["supplier_stock"], 40);
    assert_eq!(body["changed"], true);
    let entry = &body["entries"][0];
    assert_eq!(
        (entry["operation"].as_str(), entry["location"].as_str()),
        (Some("sync"), Some("supplier-acme"))
    );
    assert_eq!(
        (
            entry["before_stock"].as_i64(),
            entry["after_stock"].as_i64()
        ),
        (Some(0), Some(40))
    );
    assert_eq!(
        level_at(&app, "fridge", "supplier-acme").await,
        Some((40, 0))
    );
    assert_eq!(
        app.available("fridge").await,
        45,
        "own stock and the supplier's"
    );

    // The same figure again changes nothing and writes no row.
    let ledger = app.ledger_total().await;
    let (status, body) = sync_item(&app, "fridge", json!({"county_code": "110105"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["changed"].as_bool(),
            body["entries"].as_array().map(Vec::len)
        ),
        (Some(false), Some(0))
    );
    assert_eq!(app.ledger_total().await, ledger);

    // Held stock stays held when the supplier's figure drops below it.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/reservations",
            json!({
            "reservation_id": "h1", "order_id": "o-h1",
            "items": [{"product_id": "fridge", "quantity": 30, "location": "supplier-acme"}],
            "region": {"county_code": "110105"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    mock.mock.set_stock("GA0SZC00U", Some("110105"), 12);
    let (status, body) = sync_item(&app, "fridge", json!({"county_code": "110105"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shortfall"], 18);
    assert_eq!(
        level_at(&app, "fridge", "supplier-acme").await,
        Some((30, 30))
    );

    let (status, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory/fridge/supplier")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["last_stock"].as_i64(),
            body["last_county_code"].as_str()
        ),
        (Some(12), Some("110105"))
    );
    app.assert_verified();

    // Unlinked: nothing more to sync.
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            Some(ADMIN_KEY),
            "/api/v1/inventory/fridge/supplier",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = sync_item(&app, "fridge", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND"),
        "{body}"
    );
    let (status, body) = sync_item(&app, "other", json!({"county_code": "12"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_asks_the_supplier_for_the_customers_region_first() {
    let (app, mock) = acme().await;
    let service = app.key("service");
    app.create_item("fridge", 0).await;
    app.create_item("washer", 0).await;
    app.create_item("kettle", 50).await;
    assert_eq!(
        link(&app, "fridge", "GA0SZC00U", true).await.0,
        StatusCode::OK
    );
    assert_eq!(
        link(&app, "washer", "GA0SZB00K", false).await.0,
        StatusCode::OK
    );
    mock.mock.set_stock("GA0SZC00U", None, 10);
    mock.mock.set_stock("GA0SZC00U", Some("440305"), 0);
    mock.mock.set_stock("GA0SZB00K", None, 10);
    for item in ["fridge", "washer"] {
        let (status, body) = sync_item(&app, item, json!({"county_code": "110101"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let order = |id: &str, item: &str, quantity: i64, region: Value| json!({"order_id": id, "items": [{"product_id": item, "quantity": quantity}], "region": region});

    // The supplier has none in Shenzhen Nanshan: refused, nothing held.
    let (status, body) = app
        .post(
            &service,
            "/api/v1/orders",
            order(
                "o1",
                "fridge",
                1,
                json!({"address": "广东省深圳市南山区科技园"}),
            ),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "SUPPLIER_INSUFFICIENT_STOCK"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["county_code"], "440305");
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["available"],
        0
    );
    assert_eq!(
        app.get(&service, "/api/v1/orders/o1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        level_at(&app, "fridge", "supplier-acme").await,
        Some((10, 0))
    );

    // More than the supplier has anywhere, with the kettle beside it: the whole order is refused.
    let (status, body) = app
        .post(&service, "/api/v1/orders", json!({"order_id": "o2",
            "items": [{"product_id": "kettle", "quantity": 1}, {"product_id": "fridge", "quantity": 11}],
            "region": {"county_code": "110101"}}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "SUPPLIER_INSUFFICIENT_STOCK"),
        "{body}"
    );
    assert_eq!(app.available("kettle").await, 50);

    // Enough in Beijing: placed. Its retry is not asked about again.
    let beijing = order(
        "o3",
        "fridge",
        2,
        json!({"province": "北京", "district": "东城区"}),
    );
    let (status, body) = app.post(&service, "/api/v1/orders", beijing.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let calls = mock.mock.counters().api_calls;
    let (status, _) = app.post(&service, "/api/v1/orders", beijing).await;
    assert_eq!(status, StatusCode::OK, "a retry answers with the order");
    assert_eq!(mock.mock.counters().api_calls, calls);

    // An item linked without check_before_order, and one not linked: no call.
    let (status, body) = app
        .post(&service, "/api/v1/orders", json!({"order_id": "o4",
            "items": [{"product_id": "washer", "quantity": 1}, {"product_id": "kettle", "quantity": 1}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(mock.mock.counters().api_calls, calls);

    // Holds ask too; no region given means the default region (110101).
    let (status, body) = app
        .post(
            &service,
            "/api/v1/reservations",
            json!({"reservation_id": "r1", "order_id": "o5",
            "items": [{"product_id": "fridge", "quantity": 11}]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "SUPPLIER_INSUFFICIENT_STOCK"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["county_code"], "110101");

    // A supplier that fails: the order is refused with the failure, nothing held.
    mock.mock.fail_next(3, 500);
    let (status, body) = app
        .post(
            &service,
            "/api/v1/orders",
            order("o6", "fridge", 1, json!({"county_code": "110101"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "SUPPLIER_UNAVAILABLE"),
        "{body}"
    );
    assert_eq!(
        app.get(&service, "/api/v1/orders/o6").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        level_at(&app, "fridge", "supplier-acme").await,
        Some((10, 2)),
        "only o3 holds"
    );

    // A bad region is a 400 before anything is asked.
    let (status, body) = app
        .post(
            &service,
            "/api/v1/orders",
            order("o7", "fridge", 1, json!({"county_code": "abc"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
        "{body}"
    );
    app.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_command_reports_every_item_and_fails_when_one_fails() {
    let (app, mock) = acme().await;
    let products = mock.mock.products();
    let washers: Vec<_> = products
        .iter()
        .filter(|p| p.category.as_deref() == Some("洗衣机"))
        .collect();
    let fridge = products
        .iter()
        .find(|p| p.category.as_deref() == Some("冰箱"))
        .unwrap();
    for (item, product) in [("w1", washers[0]), ("w2", washers[1]), ("f1", fridge)] {
        app.create_item(item, 0).await;
        assert_eq!(
            link(&app, item, &product.product_code, true).await.0,
            StatusCode::OK
        );
        mock.mock.set_stock(&product.product_code, None, 7);
    }
    app.create_item("lost", 0).await;
    assert_eq!(
        link(&app, "lost", "NOSUCH000", true).await.0,
        StatusCode::OK
    );

    // A dry run asks, reports, writes nothing; one item fails, so it exits 1.
    let ledger = app.ledger_total().await;
    let (exit, out) = cli(
        &app,
        &[
            "supplier",
            "sync",
            "--supplier",
            "acme",
            "--county-code",
            "110101",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(exit, 1, "{out}");
    assert!(
        out.contains("3 would update, 0 unchanged, 1 failed"),
        "{out}"
    );
    assert!(
        out.contains("lost (NOSUCH000)") && out.contains("not found"),
        "{out}"
    );
    assert_eq!(app.ledger_total().await, ledger);

    let (exit, out) = cli(&app, &["supplier", "sync", "--county-code", "110101"]).await;
    assert_eq!(exit, 1, "{out}");
    assert!(out.contains("3 updated, 0 unchanged, 1 failed"), "{out}");
    assert!(out.contains("w1 (") && out.contains("0 -> 7"), "{out}");
    assert_eq!(app.ledger_total().await, ledger + 3);
    assert_eq!(level_at(&app, "w2", "supplier-acme").await, Some((7, 0)));

    // Only the washers, after one changed at the supplier; the fridge is left alone.
    mock.mock.set_stock(&washers[0].product_code, None, 3);
    mock.mock.set_stock(&fridge.product_code, None, 99);
    let (exit, out) = cli(
        &app,
        &[
            "supplier",
            "sync",
            "--county-code",
            "110101",
            "--category",
            "洗衣机",
        ],
    )
    .await;
    assert_eq!(exit, 0, "{out}");
    let others = washers.len() - 2;
    assert!(out.contains("1 updated, 1 unchanged, 0 failed"), "{out}");
    if others > 0 {
        assert!(
            out.contains(&format!("{others} supplier products linked to no item")),
            "{out}"
        );
    }
    assert_eq!(level_at(&app, "w1", "supplier-acme").await, Some((3, 0)));
    assert_eq!(level_at(&app, "f1", "supplier-acme").await, Some((7, 0)));

    // Mistakes are refused before anything is asked.
    let calls = mock.mock.counters().api_calls;
    for args in [
        vec!["supplier", "sync", "--county-code", "1101"],
        vec!["supplier", "sync", "--supplier", "nobody"],
        vec!["supplier", "sync", "--concurrency", "0"],
    ] {
        let (exit, out) = cli(&app, &args).await;
        assert_eq!(exit, 2, "{args:?}: {out}");
    }
    assert_eq!(mock.mock.counters().api_calls, calls);
    app.assert_verified();
}

/// Whether an event is the schedule writing `stock` as the fridge's
/// figure at the supplier's location.
fn is_supplier_sync_to(event: &Received, stock: i64) -> bool {
    let data = &event.data;
    event.kind == "stock"
        && data["product_id"] == "fridge"
        && data["location"] == "supplier-acme"
        && data["operation"] == "sync"
        && data["operator"] == "supplier-sync"
        && data["after_stock"] == stock
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_sync_follows_the_supplier() {
    let mock = mock().await;
    let config = format!(
        "suppliers:\n{}",
        section(
            "acme",
            &mock,
            MOCK_CLIENT_SECRET,
            "    sync: {enable: true, interval: 1s, county_code: \"320106\"}\n"
        )
    );
    let app = app_with(&config).await;
    app.create_item("fridge", 0).await;
    let mut events = Stream::open(&app, "", None).await;
    assert_eq!(
        link(&app, "fridge", "GA0SZC00U", true).await.0,
        StatusCode::OK
    );
    for stock in [21, 4] {
        mock.mock.set_stock("GA0SZC00U", Some("320106"), stock);
        // A run before the figure was set may have written the sample one.
        while !is_supplier_sync_to(&events.take(1).await[0], stock) {}
        assert_eq!(
            level_at(&app, "fridge", "supplier-acme").await,
            Some((stock, 0))
        );
    }
    let (_, logs) = app.get(ADMIN_KEY, "/api/v1/inventory/fridge/logs").await;
    let last = &logs["entries"][0];
    assert_eq!(
        (last["operation"].as_str(), last["operator"].as_str()),
        (Some("sync"), Some("supplier-sync")),
        "{logs}"
    );
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/suppliers").await;
    assert_eq!(body["suppliers"][0]["sync_interval_seconds"], 1);
    assert!(
        body["suppliers"][0]["last_sync"]["finished_at"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_mock_supplier_in_process() {
    let app = spawn_with(Spawn {
        demo: true,
        ..Spawn::default()
    })
    .await;
    assert!(
        app.banner.contains("Mock supplier (--demo)"),
        "{}",
        app.banner
    );
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/suppliers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mock = &body["suppliers"][0];
    assert_eq!(
        (mock["name"].as_str(), mock["linked_items"].as_u64()),
        (Some("mock"), Some(3)),
        "{body}"
    );
    assert_eq!(mock["last_sync"]["failed"], 0, "{body}");
    let (status, body) = app
        .get(
            ADMIN_KEY,
            "/api/v1/suppliers/mock/stock?product_code=GA0SZC00U&address=北京市朝阳区",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["county_code"], "110105");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_supplier_command_serves_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = stockd_command(dir.path())
        .args(["mock-supplier", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("stockd mock-supplier starts");
    let stdout = child.stdout.take().unwrap();
    let base = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().expect("a line").expect("utf-8");
        let base = first
            .strip_prefix("Mock supplier listening on ")
            .and_then(|rest| rest.split(". ").next())
            .map(str::to_owned);
        // Keep reading so the pipe never fills.
        std::thread::spawn(move || for _ in lines {});
        base
    })
    .await
    .unwrap()
    .expect("the banner names the address");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}{MOCK_TOKEN_PATH}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", MOCK_CLIENT_ID),
            ("client_secret", MOCK_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().expect("a token");
    let answer: Value = client
        .post(format!("{base}{}", stock_supplier::protocol::STOCK_PATH))
        .bearer_auth(access)
        .json(&json!({"productCode": "GA0SZC00U", "countyCode": "110101", "source": "JSH-B", "customerCode": MOCK_CUSTOMER_CODE}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    assert!(answer["data"]["stock"].is_i64(), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
}
