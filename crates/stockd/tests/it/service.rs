//! The service around the API: trace ids, statistics, OpenAPI, docs, durability.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, ADMIN_KEY};

#[tokio::test]
async fn trace_ids_are_accepted_or_made_and_reach_the_ledger_and_the_log() {
    let app = spawn_app().await;
    app.create_item("tr", 5).await;
    let response = app
        .client
        .post(app.url("/api/v1/sync-stock"))
        .bearer_auth(ADMIN_KEY)
        .header("X-Trace-Id", "checkout-42")
        .json(&json!({"product_id": "tr", "delta": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-trace-id"], "checkout-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entry"]["trace_id"], "checkout-42");

    let response = app
        .client
        .get(app.url("/health"))
        .header("X-Trace-Id", "bad id!")
        .send()
        .await
        .unwrap();
    let made = response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 32);
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));

    // Logs are JSON lines carrying the trace id of their request.
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("checkout-42"))
        .expect("the request was logged");
    let record: Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(record["span"]["trace_id"], "checkout-42");
    assert_eq!(record["status"], 200);
}

#[tokio::test]
async fn statistics_count_items_requests_and_write_latency() {
    let app = spawn_app().await;
    app.create_item("st1", 5).await;
    app.create_item("st2", 0).await;
    app.create_item("st3", 500).await;
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "st3", "delta": -1}),
    )
    .await;
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "st2", "delta": -1}),
    )
    .await;
    let (status, stats) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["total_items"], 3);
    assert_eq!(stats["total_on_hand"], 504);
    assert_eq!(stats["total_reserved"], 0);
    assert_eq!(stats["low_stock_items"], 1);
    assert_eq!(stats["out_of_stock_items"], 1);
    assert_eq!(stats["ledger_entries"], 4);

    let (status, service) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    assert_eq!(status, StatusCode::OK, "{service}");
    let route = |method: &str, path: &str| {
        service["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["route"] == path)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(route("POST", "/api/v1/sync-stock")["requests"], 2);
    assert_eq!(route("POST", "/api/v1/sync-stock")["client_errors"], 1);
    assert_eq!(route("POST", "/api/v1/inventory")["requests"], 3);
    assert_eq!(route("GET", "/api/v1/stats/inventory")["requests"], 1);
    assert_eq!(service["write_latency"]["count"], 5);
    assert!(service["write_latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(
        service["write_latency"]["p50_ms"].as_f64().unwrap()
            <= service["write_latency"]["max_ms"].as_f64().unwrap()
    );
}

#[tokio::test]
async fn the_openapi_document_covers_the_api_and_docs_are_served() {
    let app = spawn_app().await;
    let (status, spec) = app.get(ADMIN_KEY, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/sync-stock", "post"),
        ("/api/v1/inventory", "get"),
        ("/api/v1/inventory", "post"),
        ("/api/v1/inventory/{product_id}", "get"),
        ("/api/v1/inventory/{product_id}", "put"),
        ("/api/v1/inventory/batch", "post"),
        ("/api/v1/inventory/check", "post"),
        ("/api/v1/inventory/decrease", "post"),
        ("/api/v1/inventory/increase", "post"),
        ("/api/v1/admin/inventory/low-stock", "get"),
        ("/api/v1/inventory/{product_id}/logs", "get"),
        ("/api/v1/logs", "get"),
        ("/api/v1/stats/inventory", "get"),
        ("/api/v1/stats/service", "get"),
        ("/api/v1/regions/resolve", "get"),
        ("/api/v1/suppliers", "get"),
        ("/api/v1/suppliers/{supplier}/stock", "get"),
        ("/api/v1/suppliers/{supplier}/products", "get"),
        ("/api/v1/suppliers/{supplier}/prices", "get"),
        ("/api/v1/suppliers/{supplier}/balance", "get"),
        ("/api/v1/suppliers/{supplier}/logistics", "get"),
        ("/api/v1/inventory/{product_id}/supplier", "put"),
        ("/api/v1/inventory/{product_id}/supplier", "get"),
        ("/api/v1/inventory/{product_id}/supplier", "delete"),
        ("/api/v1/inventory/{product_id}/sync-supplier-stock", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(spec["components"]["schemas"]["SyncStockRequest"].is_object());
    assert!(spec["components"]["securitySchemes"]["api_key"].is_object());

    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("\"/api/v1/sync-stock\""));
    let script = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn the_database_is_durable_by_default() {
    let app = spawn_app().await;
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("database open"))
        .expect("the start-up is logged");
    let record: Value = serde_json::from_str(line).unwrap();
    match crate::helpers::backend() {
        crate::helpers::Backend::Sqlite => {
            // WAL is a property of the file; synchronous is per connection,
            // so read what the server reported for its own write connection.
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            assert_eq!(record["synchronous"], "full");
            assert_eq!(record["journal_mode"], "wal");
        }
        crate::helpers::Backend::Postgres => {
            assert_eq!(record["synchronous"], "on", "synchronous_commit");
            assert_eq!(record["journal_mode"], "wal (fsync on)");
        }
    }
}

#[tokio::test]
async fn a_request_that_outlasts_the_timeout_gets_503() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_with(crate::helpers::Spawn::with_env(
        "STOCKD_SERVER__REQUEST_TIMEOUT_S",
        "1",
    ))
    .await;
    // A body that never finishes arriving holds the request open.
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/sync-stock HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"product_id\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let read = stream.read(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("\"TIMEOUT\""), "{response}");
}

/// The value of one sample line in a Prometheus text page.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} is not in:\n{page}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_batches_holds_and_alerts() {
    let app = spawn_app().await;
    app.create_item("m1", 2).await;
    for _ in 0..3 {
        // The third is refused: there are only two.
        app.post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "m1", "delta": -1}),
        )
        .await;
    }
    app.create_item("m2", 5).await;
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/reservations",
            json!({"order_id": "om", "items": [{"product_id": "m2", "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // No key needed, as scrapers expect.
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let page = response.text().await.unwrap();
    let route = "route=\"/api/v1/sync-stock\"";
    assert_eq!(
        sample(
            &page,
            &format!("stockd_http_requests_total{{method=\"POST\",{route},class=\"2xx\"}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &page,
            &format!("stockd_http_requests_total{{method=\"POST\",{route},class=\"4xx\"}}")
        ),
        1.0
    );
    let writes = sample(&page, "stockd_writes_total");
    assert!(
        writes >= 6.0,
        "two creates, three sales, one hold: {writes}"
    );
    assert_eq!(
        sample(&page, "stockd_write_batch_size_count"),
        sample(&page, "stockd_write_batches_total")
    );
    assert_eq!(
        sample(&page, "stockd_write_batch_size_bucket{le=\"+Inf\"}"),
        sample(&page, "stockd_write_batches_total")
    );
    assert_eq!(sample(&page, "stockd_holds_active"), 1.0);
    assert_eq!(
        sample(&page, "stockd_alerts_open{type=\"out_of_stock\"}"),
        1.0
    );
    assert_eq!(sample(&page, "stockd_alerts_open{type=\"low_stock\"}"), 0.0);
    assert_eq!(sample(&page, "stockd_database_up"), 1.0);
    assert!(sample(&page, "stockd_events_last_id") >= 7.0);
    assert!(sample(&page, "stockd_http_request_duration_seconds_count") >= 6.0);
}
