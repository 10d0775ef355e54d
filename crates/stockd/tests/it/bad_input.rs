//! Bad input gets a 4xx with a code and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, TestApp, ADMIN_KEY};

enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
    None,
}

async fn send(app: &TestApp, method: Method, path: &str, body: Body) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_KEY);
    request = match body {
        Body::Json(value) => request.json(&value),
        Body::Raw(content_type, bytes) => request.header("content-type", content_type).body(bytes),
        Body::None => request,
    };
    let response = request.send().await.expect("answered");
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Everything the tests below could have changed.
async fn snapshot(app: &TestApp) -> (u64, Value) {
    let (_, items) = app.get(ADMIN_KEY, "/api/v1/inventory?page_size=100").await;
    (app.ledger_total().await, items)
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_code_and_change_nothing() {
    let app = spawn_app().await;
    app.create_item("ok", 10).await;
    app.create_item("big", i64::MAX - 5).await;
    let before = snapshot(&app).await;
    let line = |product: Value, quantity: Value| json!({"items": [{"product_id": product, "quantity": quantity}]});
    let many: Vec<Value> = (0..101)
        .map(|n| json!({"product_id": format!("n{n}"), "quantity": 1}))
        .collect();

    use Method as M;
    let cases: Vec<(Method, &str, Body, StatusCode, &str)> = vec![
        // sync-stock
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": "5"})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": 0})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": 1.5})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": 1e30})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"delta": -1})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": -1, "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "a/b", "delta": -1})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": true, "delta": -1})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": -1, "order_id": "x".repeat(129)})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ghost", "delta": -1})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "ok", "delta": -11})),
            StatusCode::CONFLICT,
            "INSUFFICIENT_STOCK",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Json(json!({"product_id": "big", "delta": 10})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "QUANTITY_OVERFLOW",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Raw("application/json", b"{\"product_id\": ".to_vec()),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::Raw("text/plain", b"{}".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            M::POST,
            "/api/v1/sync-stock",
            Body::None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        // decrease and increase
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(json!({"items": []})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(json!({})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(line(json!("ok"), json!(0))),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(line(json!("ok"), json!(-2))),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(line(json!("ok"), json!("2"))),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(
                json!({"items": [{"product_id": "ok", "quantity": 1}, {"product_id": "ok", "quantity": 2}]}),
            ),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(json!({"items": many.clone()})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            Body::Json(
                json!({"items": [{"product_id": "ok", "quantity": 1}, {"product_id": "ghost", "quantity": 1}]}),
            ),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::POST,
            "/api/v1/inventory/increase",
            Body::Json(line(json!("big"), json!(10))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "QUANTITY_OVERFLOW",
        ),
        (
            M::POST,
            "/api/v1/inventory/increase",
            Body::Json(json!({"items": [{"product_id": "ok", "quantity": 1, "location": "mars"}]})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::POST,
            "/api/v1/inventory/check",
            Body::Json(line(json!("ghost"), json!(1))),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::POST,
            "/api/v1/inventory/check",
            Body::Json(
                json!({"items": [{"product_id": "ok", "quantity": 1}], "reason": "a\u{9b}b"}),
            ),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/batch",
            Body::Json(json!({"product_ids": []})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory/batch",
            Body::Json(json!({"product_ids": ["ok", "ok"]})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        // items
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "n1", "name": "N", "stock": -1})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "n1", "name": "  "})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "n1", "name": "N", "status": "sold"})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "n1", "name": "N", "min_stock": 9, "max_stock": 3})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "n1", "name": "N", "location": "mars"})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::POST,
            "/api/v1/inventory",
            Body::Json(json!({"product_id": "ok", "name": "Twice"})),
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ok",
            Body::Json(json!({})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ok",
            Body::Json(json!({"expected_version": 1})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ok",
            Body::Json(json!({"stock": 5})),
            StatusCode::CONFLICT,
            "VERSION_CONFLICT",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ok",
            Body::Json(json!({"stock": -5, "expected_version": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_CHANGE",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ghost",
            Body::Json(json!({"name": "G"})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::PUT,
            "/api/v1/inventory/ok",
            Body::Json(json!({"name": "N", "sku": "x"})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        // queries
        (
            M::GET,
            "/api/v1/inventory?page=0",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/inventory?page_size=0",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/inventory?status=gone",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/inventory?low_stock=maybe",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/inventory?sort=name",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/logs?operation=steal",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/admin/inventory/low-stock?threshold=-1",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/inventory/a%20b",
            Body::None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            M::GET,
            "/api/v1/nothing-here",
            Body::None,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            M::DELETE,
            "/api/v1/inventory",
            Body::None,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (method, path, body, status, expected_code) in cases {
        let label = format!("{method} {path}");
        let (got, response) = send(&app, method, path, body).await;
        assert_eq!(got, status, "{label}: {response}");
        assert_eq!(code(&response), expected_code, "{label}: {response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{label}"
        );
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed something"
    );
    app.assert_verified();
}

#[tokio::test]
async fn bad_input_is_counted_as_client_errors_never_server_errors() {
    let app = spawn_app().await;
    for _ in 0..20 {
        send(
            &app,
            Method::POST,
            "/api/v1/sync-stock",
            Body::Raw("application/json", b"[1,2".to_vec()),
        )
        .await;
    }
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    assert_eq!(stats["server_errors_total"], 0, "{stats}");
    assert_eq!(stats["client_errors_total"], 20, "{stats}");
}

/// Sends only the head of an over-limit request: the server must refuse it
/// by its declared length, without reading (or waiting for) the body.
async fn oversized(app: &TestApp, path: &str, idempotency_key: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let key_header = idempotency_key
        .map(|k| format!("Idempotency-Key: {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\n{key_header}Content-Length: {}\r\n\r\n{{",
        2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let read = stream.read(&mut response).await.unwrap();
    String::from_utf8_lossy(&response[..read]).into_owned()
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = spawn_app().await;
    app.create_item("ok", 10).await;
    for key in [None, Some("big-1")] {
        let response = oversized(&app, "/api/v1/sync-stock", key).await;
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
        assert!(response.contains("PAYLOAD_TOO_LARGE"), "{response}");
    }
    assert_eq!(app.available("ok").await, 10);
}

/// Sends `body` as it is, with these headers.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_KEY)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answered");
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_json_array_is_refused_wherever_an_object_is_expected() {
    let app = spawn_app().await;
    app.create_item("ht1", 10).await;
    let before = snapshot(&app).await;
    use Method as M;
    let cases = [
        (
            M::POST,
            "/api/v1/sync-stock",
            r#"["ht1",1,null,"r",null,null]"#,
        ),
        (M::POST, "/api/v1/inventory", r#"["n1","N",5]"#),
        (M::PUT, "/api/v1/inventory/ht1", r#"["N"]"#),
        (
            M::POST,
            "/api/v1/inventory/increase",
            r#"[[["ht1",1,null]],null,null]"#,
        ),
        // An array inside an object, where a line (an object) belongs.
        (
            M::POST,
            "/api/v1/inventory/increase",
            r#"{"items": [["ht1", 1, null]]}"#,
        ),
        (
            M::POST,
            "/api/v1/inventory/decrease",
            r#"{"items": [["ht1", 1, null]]}"#,
        ),
        (
            M::POST,
            "/api/v1/orders",
            r#"{"order_id": "o1", "items": [["ht1", 1, null]]}"#,
        ),
        (
            M::POST,
            "/api/v1/transfers",
            r#"["ht1","default","default",1,null]"#,
        ),
        (M::POST, "/api/v1/locations", r#"["north",null,null]"#),
        (M::POST, "/api/v1/reservations/r1/extend", r#"[60]"#),
        (M::POST, "/api/v1/sync-stock", r#"1"#),
        (M::POST, "/api/v1/sync-stock", r#""ht1""#),
        (M::POST, "/api/v1/sync-stock", r#"null"#),
    ];
    for (method, path, body) in cases {
        let label = format!("{method} {path} {body}");
        let (status, text) = send_raw(
            &app,
            method,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await;
        let response: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {response}");
        assert_eq!(code(&response), "VALIDATION_FAILED", "{label}: {response}");
    }
    assert_eq!(snapshot(&app).await, before, "an array changed something");
    // The same change as an object is taken.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "ht1", "delta": 1, "reason": "r"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.available("ht1").await, 11);
}

#[tokio::test]
async fn an_encoded_body_is_refused_unless_its_encoding_is_identity() {
    let app = spawn_app().await;
    app.create_item("ok", 10).await;
    let body = r#"{"product_id": "ok", "delta": 1}"#;
    for encoding in ["br", "x-evil", "gzip", "identity, gzip", "BR"] {
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
        ];
        let (status, text) =
            send_raw(&app, Method::POST, "/api/v1/sync-stock", &headers, body).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{encoding}: {text}"
        );
        let response: Value = serde_json::from_str(&text).expect("the error body");
        assert_eq!(code(&response), "UNSUPPORTED_MEDIA_TYPE", "{encoding}");
    }
    // Every route, not only the API's.
    let (status, _) = send_raw(
        &app,
        Method::GET,
        "/health",
        &[("content-encoding", "br")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.available("ok").await, 10, "an encoded body was applied");

    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "identity"),
    ];
    let (status, text) = send_raw(&app, Method::POST, "/api/v1/sync-stock", &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(app.available("ok").await, 11);
}

#[tokio::test]
async fn errors_quote_long_input_shortened() {
    let app = spawn_app().await;
    app.create_item("ok", 10).await;
    let long = "x".repeat(10_000);
    let json_type = [("content-type", "application/json")];
    let cases: Vec<(Method, String, String)> = vec![
        (
            Method::POST,
            "/api/v1/sync-stock".into(),
            json!({"product_id": long, "delta": 1}).to_string(),
        ),
        (
            Method::POST,
            "/api/v1/sync-stock".into(),
            json!({"product_id": "ok", "delta": long}).to_string(),
        ),
        (
            Method::POST,
            "/api/v1/sync-stock".into(),
            json!({"product_id": "ok", "delta": 1, long.clone(): 1}).to_string(),
        ),
        (
            Method::POST,
            "/api/v1/channels/shop/orders".into(),
            json!({"order_id": "o1", "items": [{"listing_id": long, "quantity": 1}]}).to_string(),
        ),
        (
            Method::GET,
            format!("/api/v1/reservations/{long}"),
            String::new(),
        ),
        (
            Method::POST,
            format!("/api/v1/reservations/{long}/commit"),
            String::new(),
        ),
        (Method::GET, format!("/api/v1/orders/{long}"), String::new()),
        (
            Method::POST,
            format!("/api/v1/orders/{long}/pay"),
            String::new(),
        ),
        (
            Method::GET,
            format!("/api/v1/webhooks/{long}/deliveries"),
            String::new(),
        ),
        (
            Method::GET,
            format!("/api/v1/suppliers/{long}/balance"),
            String::new(),
        ),
        (
            Method::GET,
            format!("/api/v1/inventory?{long}=1"),
            String::new(),
        ),
    ];
    let (status, _) = app.put(ADMIN_KEY, "/api/v1/channels/shop", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path, body) in cases {
        let label = format!("{method} {}", &path[..path.len().min(60)]);
        let (status, text) = send_raw(&app, method, &path, &json_type, &body).await;
        assert!(status.is_client_error(), "{label}: {status}");
        assert!(
            text.len() < 1024,
            "{label}: a {}-byte answer to a 10 kB value",
            text.len()
        );
        let response: Value = serde_json::from_str(&text).expect("the error body");
        assert!(
            response["error"]["message"].as_str().unwrap().contains('…'),
            "{label}: {response}"
        );
    }
}

#[tokio::test]
async fn the_largest_deduction_is_reported_as_the_number_asked_for() {
    let app = spawn_app().await;
    app.create_item("ok", 10).await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "ok", "delta": i64::MIN}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "INSUFFICIENT_STOCK");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("requested 9223372036854775808"),
        "{message}"
    );
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["requested"],
        json!(9_223_372_036_854_775_808u64)
    );
    assert_eq!(app.available("ok").await, 10);
}
