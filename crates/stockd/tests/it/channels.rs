//! Channels (seed 000): listings linked to items, only the sellable quantity
//! published, partial success reported per listing, a status report, and an
//! order through a listing that holds warehouse stock. A local HTTP server
//! plays the channel.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_with, Spawn, TestApp, ADMIN_KEY};

const SECRET: &str = "channel-secret-0123456789";

/// What the channel received: (listing id, quantity, whole body).
type Received = Arc<Mutex<Vec<(String, i64, Value)>>>;

/// A channel endpoint: records every push whose signature is right, answers
/// 500 for the listing `broken`, 401 for a bad signature.
async fn channel_server() -> (String, Received) {
    let received: Received = Arc::default();
    async fn push(
        State(received): State<Received>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> AxumStatus {
        let header = headers
            .get("stockd-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let t: i64 = header
            .split(',')
            .find_map(|part| part.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        if stock_push::signature(SECRET, t, &body) != header {
            return AxumStatus::UNAUTHORIZED;
        }
        let body: Value = serde_json::from_slice(&body).unwrap();
        let listing = body["listing_id"].as_str().unwrap().to_owned();
        if listing == "broken" {
            return AxumStatus::INTERNAL_SERVER_ERROR;
        }
        let quantity = body["quantity"].as_i64().unwrap();
        received.lock().unwrap().push((listing, quantity, body));
        AxumStatus::NO_CONTENT
    }
    let app = axum::Router::new()
        .route("/push", axum::routing::post(push))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/push"), received)
}

async fn app() -> TestApp {
    // No scheduled sync: every sync in these tests is asked for.
    spawn_with(Spawn::with_env("STOCKD_CHANNELS__SYNC_INTERVAL_S", "0")).await
}

async fn link(app: &TestApp, channel: &str, listing: &str, item: &str, buffer: i64) {
    let (status, body) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/channels/{channel}/listings"),
            json!({"listing_id": listing, "product_id": item, "buffer": buffer}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn sync(app: &TestApp, channel: &str) -> Value {
    let (status, body) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/channels/{channel}/sync"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn channel_status(app: &TestApp, channel: &str) -> Value {
    let (status, body) = app
        .get(ADMIN_KEY, &format!("/api/v1/channels/{channel}/status"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn listing<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["listings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["listing_id"] == id)
        .unwrap_or_else(|| panic!("listing {id} in {report}"))
}

fn pushes(received: &Received) -> Vec<(String, i64)> {
    let mut pushes: Vec<(String, i64)> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(l, q, _)| (l.clone(), *q))
        .collect();
    pushes.sort();
    pushes
}

#[tokio::test]
async fn a_sync_pushes_only_the_sellable_quantity_and_reports_each_failure() {
    let app = app().await;
    let (endpoint, received) = channel_server().await;
    app.create_item("tea", 50).await;
    app.create_item("cup", 10).await;
    // Held stock is not sellable: 3 of the cups are held.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/reservations",
            json!({"order_id": "o-0", "items": [{"product_id": "cup", "quantity": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    link(&app, "tmall", "tea-250g", "tea", 5).await;
    link(&app, "tmall", "cup-white", "cup", 0).await;
    link(&app, "tmall", "broken", "tea", 0).await;
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/channels/tmall",
            json!({"endpoint": endpoint, "secret": SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mode"], "push");

    let report = sync(&app, "tmall").await;
    assert_eq!(
        (
            report["synced"].as_u64(),
            report["skipped"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(2), Some(0), Some(1)),
        "{report}"
    );
    assert_eq!(report["failures"][0]["listing_id"], "broken");
    assert!(
        report["failures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{report}"
    );
    assert_eq!(
        pushes(&received),
        [("cup-white".to_owned(), 7), ("tea-250g".to_owned(), 45)]
    );
    let body = received.lock().unwrap()[0].2.clone();
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["channel", "listing_id", "product_id", "quantity"],
        "only the quantity, nothing else"
    );

    // Nothing changed: the published listings are skipped, the broken one tried again.
    let report = sync(&app, "tmall").await;
    assert_eq!(
        (
            report["synced"].as_u64(),
            report["skipped"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(0), Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(received.lock().unwrap().len(), 2);

    // Stock moves: the status report sees the difference before the next sync.
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "tea", "delta": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let report = channel_status(&app, "tmall").await;
    let tea = listing(&report, "tea-250g");
    assert_eq!(
        (
            tea["published_quantity"].as_i64(),
            tea["sellable_quantity"].as_i64(),
            tea["differs"].as_bool()
        ),
        (Some(45), Some(55), Some(true)),
        "{report}"
    );
    assert_eq!(listing(&report, "cup-white")["differs"], false);
    assert_eq!(
        listing(&report, "broken")["published_quantity"],
        Value::Null
    );
    assert!(listing(&report, "broken")["last_error"].as_str().is_some());
    assert_eq!(
        (
            report["total"].as_u64(),
            report["in_step"].as_u64(),
            report["differing"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    let report = sync(&app, "tmall").await;
    assert_eq!(report["synced"], 1, "{report}");
    assert_eq!(
        listing(&channel_status(&app, "tmall").await, "tea-250g")["differs"],
        false
    );

    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    let channel = &stats["channel_sync"];
    assert_eq!(
        (
            channel["synced"].as_u64(),
            channel["skipped"].as_u64(),
            channel["failed"].as_u64()
        ),
        (Some(3), Some(3), Some(3)),
        "{stats}"
    );
    assert_eq!(channel["success_rate"], 0.5);
}

#[tokio::test]
async fn an_order_through_a_listing_holds_warehouse_stock_and_the_listing_follows() {
    let app = app().await;
    let (endpoint, received) = channel_server().await;
    app.create_item("tea", 20).await;
    link(&app, "mini", "t1", "tea", 2).await;
    link(&app, "pos", "t9", "tea", 0).await; // another channel, read through the API
    app.put(
        ADMIN_KEY,
        "/api/v1/channels/mini",
        json!({"endpoint": endpoint, "secret": SECRET}),
    )
    .await;
    sync(&app, "mini").await;
    assert_eq!(pushes(&received), [("t1".to_owned(), 18)]);

    let (status, order) = app
        .post(
            ADMIN_KEY,
            "/api/v1/channels/mini/orders",
            json!({"order_id": "mini-1", "items": [{"listing_id": "t1", "quantity": 5}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "pending");
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/tea").await;
    assert_eq!(
        (item["on_hand"].as_i64(), item["reserved"].as_i64()),
        (Some(20), Some(5)),
        "one truth: the warehouse holds it"
    );
    assert_eq!(
        pushes(&received),
        [("t1".to_owned(), 13), ("t1".to_owned(), 18)],
        "published again before the answer"
    );

    // The pull channel reads its listings; a sync records what it may show.
    let report = sync(&app, "pos").await;
    assert_eq!(report["synced"], 1);
    let (_, listings) = app.get(ADMIN_KEY, "/api/v1/channels/pos/listings").await;
    assert_eq!(
        listings["listings"][0]["published_quantity"], 15,
        "{listings}"
    );

    // Paying goes through the order as usual; cancelling gives it back.
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/orders/mini-1/cancel", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        listing(&channel_status(&app, "mini").await, "t1")["sellable_quantity"],
        18
    );

    // More than the warehouse has is refused, and nothing is held.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/channels/mini/orders",
            json!({"order_id": "mini-2", "items": [{"listing_id": "t1", "quantity": 21}]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_channel_requests_are_refused_and_change_nothing() {
    let app = app().await;
    app.create_item("tea", 5).await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.post(ADMIN_KEY, path, body).await }
    };
    let (status, body) = post(
        "/api/v1/channels/tmall/listings",
        json!({"listing_id": "x", "product_id": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = post(
        "/api/v1/channels/tmall/listings",
        json!({"listing_id": "x", "product_id": "tea", "buffer": -1}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
    let (status, body) = post(
        "/api/v1/channels/tmall/listings",
        json!({"listing_id": "x y", "product_id": "tea"}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
    let (status, body) = post(
        "/api/v1/channels/tmall/listings",
        json!({"listing_id": "x", "product_id": "tea", "location": "nowhere"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app.get(ADMIN_KEY, "/api/v1/channels/tmall/status").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no listing was linked, so no channel exists"
    );
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/channels/tmall",
            json!({"endpoint": "ftp://shop"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/channels/tmall",
            json!({"endpoint": "http://127.0.0.1:9/push"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
        "a push needs a secret"
    );
    link(&app, "tmall", "x", "tea", 0).await;
    let (status, body) = post(
        "/api/v1/channels/tmall/orders",
        json!({"order_id": "o", "items": [{"listing_id": "y", "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = post(
        "/api/v1/channels/tmall/orders",
        json!({"order_id": "o", "items": [{"listing_id": "x", "quantity": 0}]}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/tea").await;
    assert_eq!(item["reserved"], 0);
    let storefront = app.key("storefront");
    let (status, _) = app
        .post(&storefront, "/api/v1/channels/tmall/sync", json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            Some(ADMIN_KEY),
            "/api/v1/channels/tmall/listings/x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            Some(ADMIN_KEY),
            "/api/v1/channels/tmall/listings/x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_scheduled_sync_publishes_without_being_asked() {
    let app = spawn_with(Spawn::with_env("STOCKD_CHANNELS__SYNC_INTERVAL_S", "1")).await;
    let (endpoint, received) = channel_server().await;
    app.create_item("tea", 9).await;
    link(&app, "tmall", "t", "tea", 1).await;
    app.put(
        ADMIN_KEY,
        "/api/v1/channels/tmall",
        json!({"endpoint": endpoint, "secret": SECRET}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while received.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled sync came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pushes(&received), [("t".to_owned(), 8)]);
}
