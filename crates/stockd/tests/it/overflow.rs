//! Quantities at the edge of 64 bits: an item's totals over its locations
//! are checked on every change, and totals over many items never fail.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, TestApp, ADMIN_KEY};

const MAX: i64 = i64::MAX;

async fn create_location(app: &TestApp, id: &str) {
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/locations", json!({"id": id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The item `x` with the largest stock there is, all of it at `second`.
async fn spread_the_maximum(app: &TestApp) {
    app.create_item("x", MAX).await;
    create_location(app, "second").await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/transfers",
            json!({"product_id": "x", "from_location": "default", "to_location": "second", "quantity": MAX}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A sync-stock of `x` at `location`.
async fn sync(app: &TestApp, delta: i64, location: &str) -> (StatusCode, Value) {
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "x", "delta": delta, "location": location}),
    )
    .await
}

fn assert_overflow(status: StatusCode, body: &Value) {
    assert_eq!(
        (status, code(body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "QUANTITY_OVERFLOW"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["product_id"], "x", "{body}");
}

#[tokio::test]
async fn inventory_stats_sum_past_64_bits_without_failing() {
    let app = spawn_app().await;
    app.create_item("x", MAX).await;
    app.create_item("y", 5).await;
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_items"], 2);
    // The true total does not fit: it saturates, as documented.
    assert_eq!(body["total_on_hand"], MAX, "{body}");
    assert_eq!(body["total_available"], MAX, "{body}");
    assert_eq!(body["total_reserved"], 0, "{body}");

    // A total that does fit is exact, however large its parts.
    let (status, body) = sync(&app, -10, "default").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_on_hand"], MAX - 5, "{body}");
}

#[tokio::test]
async fn a_change_past_an_items_total_over_its_locations_is_refused() {
    let app = spawn_app().await;
    spread_the_maximum(&app).await;

    // A sale run on its own and the same change in a batch of lines.
    let (status, body) = sync(&app, MAX, "default").await;
    assert_overflow(status, &body);
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/increase",
            json!({"items": [{"product_id": "x", "quantity": 1}]}),
        )
        .await;
    assert_overflow(status, &body);
    // A counted figure at the first location.
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/x").await;
    let version = item["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|level| level["location"] == "default")
        .unwrap()["version"]
        .clone();
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/x",
            json!({"stock": 1, "expected_version": version, "location": "default"}),
        )
        .await;
    assert_overflow(status, &body);

    // Nothing was written, and every read of the item still answers.
    let (status, item) = app.get(ADMIN_KEY, "/api/v1/inventory/x").await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["on_hand"], MAX);
    assert_eq!(item["available"], MAX);
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["on_hand"], MAX);
    let (status, body) = app
        .get(ADMIN_KEY, "/api/v1/admin/inventory/low-stock")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total_on_hand"], MAX);
    app.assert_verified();
}

#[tokio::test]
async fn a_change_that_keeps_the_total_in_range_is_applied() {
    let app = spawn_app().await;
    spread_the_maximum(&app).await;
    let (status, body) = sync(&app, -1, "second").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = sync(&app, 1, "default").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["item"]["on_hand"], MAX, "{body}");
    let (status, body) = sync(&app, 1, "default").await;
    assert_overflow(status, &body);
    app.assert_verified();
}
