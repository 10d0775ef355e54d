//! Holds and orders: reserve on checkout, deduct on payment, give back on
//! cancel or timeout.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, spawn_with, Spawn, TestApp, ADMIN_KEY};

pub fn hold_body(order: &str, lines: &[(&str, i64)]) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(id, quantity)| json!({"product_id": id, "quantity": quantity}))
        .collect();
    json!({"order_id": order, "items": items})
}

async fn reserved(app: &TestApp, id: &str) -> i64 {
    let (_, item) = app.get(ADMIN_KEY, &format!("/api/v1/inventory/{id}")).await;
    item["reserved"].as_i64().expect("reserved is a number")
}

async fn on_hand(app: &TestApp, id: &str) -> i64 {
    let (_, item) = app.get(ADMIN_KEY, &format!("/api/v1/inventory/{id}")).await;
    item["on_hand"].as_i64().expect("on_hand is a number")
}

/// Operations on an item's ledger, newest first.
async fn operations(app: &TestApp, query: &str) -> Vec<(String, Option<String>)> {
    let (_, logs) = app
        .get(ADMIN_KEY, &format!("/api/v1/logs?page_size=100&{query}"))
        .await;
    logs["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Polls `condition` until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn expires_at_of(body: &Value) -> i64 {
    expires_at_ms(body)
}

fn expires_at_ms(body: &Value) -> i64 {
    let text = body["expires_at"].as_str().expect("an expiry");
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits until the wall clock is past `deadline_ms`.
pub async fn wait_past(deadline_ms: i64) {
    eventually(Duration::from_secs(30), "the deadline", || async move {
        now_ms() > deadline_ms
    })
    .await;
}

#[tokio::test]
async fn a_hold_reserves_then_commits_or_releases_once() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("h1", 10).await;

    let (status, hold) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-1", &[("h1", 4)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(hold["status"], "active");
    assert_eq!(
        hold["items"],
        json!([{"product_id": "h1", "location": "default", "quantity": 4}])
    );
    let id = hold["reservation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (reserved(&app, "h1").await, app.available("h1").await),
        (4, 6)
    );

    let (status, extended) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/extend"),
            json!({"ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    assert!(expires_at_ms(&extended) > expires_at_ms(&hold));

    let (status, committed) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, committed["status"].as_str()),
        (StatusCode::OK, Some("committed"))
    );
    assert_eq!(
        (on_hand(&app, "h1").await, reserved(&app, "h1").await),
        (6, 0)
    );
    let (status, again) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("committed")),
        "a commit twice is one commit"
    );
    assert_eq!(on_hand(&app, "h1").await, 6);
    let (status, body) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "RESERVATION_COMMITTED")
    );
    let (status, body) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/extend"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "RESERVATION_COMMITTED")
    );

    let (_, second) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-2", &[("h1", 5)]),
        )
        .await;
    let second = second["reservation_id"].as_str().unwrap().to_owned();
    let (status, released) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{second}/release"),
            json!({"reason": "customer left"}),
        )
        .await;
    assert_eq!(
        (status, released["status"].as_str()),
        (StatusCode::OK, Some("released"))
    );
    let (status, _) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{second}/release"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a release twice is one release");
    let (status, body) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{second}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "RESERVATION_RELEASED")
    );
    assert_eq!(
        (on_hand(&app, "h1").await, reserved(&app, "h1").await),
        (6, 0)
    );

    let ops = operations(&app, "product_id=h1").await;
    let names: Vec<&str> = ops.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(names, ["release", "reserve", "commit", "reserve", "init"]);
    assert_eq!(ops[0].1.as_deref(), Some("customer left"));
    let (_, logs) = app.get(ADMIN_KEY, "/api/v1/logs?order_id=o-1").await;
    assert!(logs["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["reservation_id"] == id.as_str()));
    let (status, _) = app.get(&service, "/api/v1/reservations/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.assert_verified();
}

#[tokio::test]
async fn a_hold_takes_every_line_or_none_and_names_what_lacks() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("a", 5).await;
    app.create_item("b", 2).await;
    app.create_item("c", 0).await;
    let (status, body) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o", &[("a", 5), ("b", 3), ("c", 1)]),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK"),
        "{body}"
    );
    let lacking = &body["error"]["details"]["unavailable_products"];
    assert_eq!(lacking.as_array().unwrap().len(), 2);
    assert_eq!(lacking[0]["product_id"], "b");
    assert_eq!(lacking[0]["available"], 2);
    assert_eq!(lacking[0]["requested"], 3);
    assert_eq!(lacking[1]["product_id"], "c");
    assert_eq!(
        reserved(&app, "a").await,
        0,
        "the line that could be held was not"
    );

    let cases = [
        (json!({"order_id": "o", "items": []}), "VALIDATION_FAILED"),
        (hold_body("o", &[("a", 0)]), "VALIDATION_FAILED"),
        (
            json!({"order_id": "o", "items": [{"product_id": "a", "quantity": 1}, {"product_id": "a", "quantity": 1}]}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"order_id": "o", "items": [{"product_id": "a", "quantity": 1}], "ttl_seconds": 0}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"order_id": "o", "items": [{"product_id": "a", "quantity": 1}], "ttl_seconds": 86_401}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"order_id": "bad id", "items": [{"product_id": "a", "quantity": 1}]}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"items": [{"product_id": "a", "quantity": 1}]}),
            "VALIDATION_FAILED",
        ),
        (hold_body("o", &[("ghost", 1)]), "NOT_FOUND"),
        (
            json!({"order_id": "o", "items": [{"product_id": "a", "quantity": 1, "location": "mars"}]}),
            "NOT_FOUND",
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = app
            .post(&service, "/api/v1/reservations", body.clone())
            .await;
        assert!(status.is_client_error(), "{body}: {response}");
        assert_eq!(code(&response), expected, "{body}: {response}");
    }
    assert_eq!(reserved(&app, "a").await, 0);
    app.assert_verified();
}

#[tokio::test]
async fn retries_of_a_hold_or_an_order_hold_once() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("r", 10).await;
    let mut body = hold_body("o-9", &[("r", 3)]);
    body["reservation_id"] = json!("cart-77");
    let (status, first) = app
        .post(&service, "/api/v1/reservations", body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = app
        .post(&service, "/api/v1/reservations", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, again);
    assert_eq!(reserved(&app, "r").await, 3);
    body["items"][0]["quantity"] = json!(4);
    let (status, response) = app.post(&service, "/api/v1/reservations", body).await;
    assert_eq!(
        (status, code(&response)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_MISMATCH")
    );

    let order = hold_body("ord-5", &[("r", 2)]);
    let (status, first) = app.post(&service, "/api/v1/orders", order.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = app.post(&service, "/api/v1/orders", order).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, again);
    assert_eq!(reserved(&app, "r").await, 5);

    // An Idempotency-Key works here as on every write.
    let keyed = || {
        app.client
            .post(app.url("/api/v1/reservations"))
            .bearer_auth(&service)
            .header("Idempotency-Key", "hold-key-1")
            .json(&hold_body("o-10", &[("r", 1)]))
            .send()
    };
    let first = keyed().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = keyed().await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(reserved(&app, "r").await, 6);
    app.assert_verified();
}

#[tokio::test]
async fn an_expired_hold_stops_counting_at_once_and_cannot_be_committed() {
    // The expiry task runs once at start and then not for an hour: what
    // happens here is the reads' and the writes' own doing.
    let app = crate::helpers::spawn_with(crate::helpers::Spawn::with_env(
        "STOCKD_HOLDS__EXPIRY_INTERVAL_MS",
        "3600000",
    ))
    .await;
    let service = app.key("service");
    app.create_item("e", 10).await;
    let mut body = hold_body("o-e", &[("e", 4)]);
    body["ttl_seconds"] = json!(1);
    let (_, hold) = app.post(&service, "/api/v1/reservations", body).await;
    let id = hold["reservation_id"].as_str().unwrap().to_owned();
    assert_eq!(reserved(&app, "e").await, 4);
    wait_past(expires_at_ms(&hold)).await;

    let (_, read) = app
        .get(&service, &format!("/api/v1/reservations/{id}"))
        .await;
    assert_eq!(read["status"], "expired");
    assert_eq!(
        (reserved(&app, "e").await, app.available("e").await),
        (0, 10)
    );
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(stats["total_reserved"], 0);
    let ops = operations(&app, "product_id=e").await;
    assert_eq!(ops.len(), 2, "nothing was written yet: {ops:?}");

    let (status, body) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "RESERVATION_EXPIRED")
    );
    assert_eq!(
        operations(&app, "product_id=e").await.len(),
        2,
        "a refused commit writes nothing"
    );
    // A release of a hold that ran out is not refused: it writes the expiry.
    let (status, body) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("expired"))
    );
    let ops = operations(&app, "product_id=e").await;
    assert_eq!(ops[0], ("release".to_owned(), Some("expired".to_owned())));
    assert_eq!(on_hand(&app, "e").await, 10);
    app.assert_verified();
}

#[tokio::test]
async fn the_expiry_task_releases_holds_and_survives_a_restart() {
    let fast = || vec![("STOCKD_HOLDS__EXPIRY_INTERVAL_MS", "50".to_string())];
    let app = spawn_with(Spawn {
        extra_env: fast(),
        ..Spawn::default()
    })
    .await;
    let service = app.key("service");
    app.create_item("x", 10).await;
    let mut body = hold_body("o-x", &[("x", 3)]);
    body["ttl_seconds"] = json!(1);
    let (_, hold) = app.post(&service, "/api/v1/reservations", body).await;
    let released = || async {
        operations(&app, "product_id=x")
            .await
            .first()
            .map(|(op, reason)| (op.as_str(), reason.as_deref()))
            == Some(("release", Some("expired")))
    };
    eventually(
        Duration::from_secs(10),
        "the expiry task releasing the hold",
        released,
    )
    .await;
    let (_, logs) = app
        .get(ADMIN_KEY, "/api/v1/logs?product_id=x&operation=release")
        .await;
    assert_eq!(logs["entries"][0]["operator"], "expiry");
    assert_eq!(logs["entries"][0]["reservation_id"], hold["reservation_id"]);

    // A hold that runs out while stockd is down is released soon after start.
    let mut body = hold_body("o-y", &[("x", 2)]);
    body["ttl_seconds"] = json!(1);
    let (_, hold) = app.post(&service, "/api/v1/reservations", body).await;
    let dir = app.stop();
    wait_past(expires_at_ms(&hold)).await;
    let app = spawn_with(Spawn {
        dir: Some(dir),
        extra_env: fast(),
        ..Spawn::default()
    })
    .await;
    let released_again = || async {
        let (_, logs) = app
            .get(ADMIN_KEY, "/api/v1/logs?product_id=x&operation=release")
            .await;
        logs["total"] == 2
    };
    eventually(
        Duration::from_secs(10),
        "the restarted expiry task",
        released_again,
    )
    .await;
    let (_, stored) = app
        .get(
            &service,
            &format!(
                "/api/v1/reservations/{}",
                hold["reservation_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(stored["status"], "expired");
    app.assert_verified();
}

#[tokio::test]
async fn orders_hold_then_pay_cancel_return_or_expire() {
    let app = crate::helpers::spawn_with(crate::helpers::Spawn::with_env(
        "STOCKD_HOLDS__EXPIRY_INTERVAL_MS",
        "50",
    ))
    .await;
    let service = app.key("service");
    app.create_item("p", 10).await;
    app.create_item("q", 10).await;

    let (status, order) = app
        .post(
            &service,
            "/api/v1/orders",
            hold_body("A", &[("p", 2), ("q", 1)]),
        )
        .await;
    assert_eq!(
        (status, order["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{order}"
    );
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(
        (reserved(&app, "p").await, reserved(&app, "q").await),
        (2, 1)
    );
    let (status, paid) = app.post(&service, "/api/v1/orders/A/pay", json!({})).await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("paid"))
    );
    assert_eq!(
        (on_hand(&app, "p").await, reserved(&app, "p").await),
        (8, 0)
    );
    let (status, _) = app.post(&service, "/api/v1/orders/A/pay", json!({})).await;
    assert_eq!(status, StatusCode::OK, "paying twice is paying once");
    assert_eq!(on_hand(&app, "p").await, 8);
    let (status, cancelled) = app
        .post(&service, "/api/v1/orders/A/cancel", json!({}))
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert_eq!(
        (on_hand(&app, "p").await, on_hand(&app, "q").await),
        (10, 10),
        "a paid order's stock came back"
    );
    let ops: Vec<String> = operations(&app, "order_id=A")
        .await
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert_eq!(
        ops,
        ["return", "return", "commit", "commit", "reserve", "reserve"]
    );
    let (status, body) = app.post(&service, "/api/v1/orders/A/pay", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "ORDER_CANCELLED")
    );

    let (_, _) = app
        .post(&service, "/api/v1/orders", hold_body("B", &[("p", 3)]))
        .await;
    let (status, cancelled) = app
        .request(
            reqwest::Method::POST,
            Some(&service),
            "/api/v1/orders/B/cancel",
            None,
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "a cancel needs no body"
    );
    assert_eq!(
        (on_hand(&app, "p").await, reserved(&app, "p").await),
        (10, 0)
    );

    let mut unpaid = hold_body("C", &[("q", 4)]);
    unpaid["ttl_seconds"] = json!(1);
    let (_, order) = app.post(&service, "/api/v1/orders", unpaid).await;
    wait_past(expires_at_ms(&order)).await;
    let (status, body) = app.post(&service, "/api/v1/orders/C/pay", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "ORDER_EXPIRED")
    );
    let (_, order) = app.get(&service, "/api/v1/orders/C").await;
    assert_eq!(order["status"], "expired");
    assert_eq!(reserved(&app, "q").await, 0);

    let (_, list) = app.get(&service, "/api/v1/orders?status=cancelled").await;
    let ids: Vec<&str> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"A") && ids.contains(&"B"));
    let (_, list) = app.get(&service, "/api/v1/orders?page_size=2").await;
    assert_eq!(
        (
            list["total"].as_u64(),
            list["orders"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let (status, _) = app.get(&service, "/api/v1/orders?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get(&service, "/api/v1/orders/none").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.assert_verified();
}

#[tokio::test]
async fn a_line_without_a_location_is_filled_by_priority_and_committed_from_there() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.post(
        ADMIN_KEY,
        "/api/v1/locations",
        json!({"id": "north", "priority": 1}),
    )
    .await;
    app.post(
        ADMIN_KEY,
        "/api/v1/locations",
        json!({"id": "south", "priority": 2}),
    )
    .await;
    app.create_item("m", 3).await;
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "m", "delta": 10, "location": "south"}),
    )
    .await;
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "m", "delta": 1, "location": "north"}),
    )
    .await;

    let (status, hold) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-m", &[("m", 6)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(
        hold["items"],
        json!([
            {"product_id": "m", "location": "default", "quantity": 3},
            {"product_id": "m", "location": "north", "quantity": 1},
            {"product_id": "m", "location": "south", "quantity": 2},
        ])
    );
    // Stock sold elsewhere meanwhile does not move where the commit takes from.
    let id = hold["reservation_id"].as_str().unwrap();
    app.post(
        &service,
        &format!("/api/v1/reservations/{id}/commit"),
        json!({}),
    )
    .await;
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/m").await;
    let at = |location: &str| {
        item["locations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["location"] == location)
            .unwrap()["on_hand"]
            .as_i64()
    };
    assert_eq!(
        (at("default"), at("north"), at("south")),
        (Some(0), Some(0), Some(8))
    );

    let (status, body) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-n", &[("m", 9)]),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK")
    );
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["available"],
        8
    );
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["location"],
        Value::Null
    );
    app.assert_verified();
}

#[tokio::test]
async fn transfers_move_stock_with_rows_on_both_sides() {
    let app = spawn_app().await;
    app.post(ADMIN_KEY, "/api/v1/locations", json!({"id": "north"}))
        .await;
    app.create_item("t", 10).await;
    let service = app.key("service");
    app.post(
        &service,
        "/api/v1/reservations",
        hold_body("o-t", &[("t", 4)]),
    )
    .await;
    let transfer = |quantity: i64| json!({"product_id": "t", "from_location": "default", "to_location": "north", "quantity": quantity});
    let (status, body) = app.post(ADMIN_KEY, "/api/v1/transfers", transfer(7)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK"),
        "held stock stays put"
    );
    let (status, body) = app.post(ADMIN_KEY, "/api/v1/transfers", transfer(6)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(
        (
            entries[0]["location"].as_str(),
            entries[0]["delta"].as_i64()
        ),
        (Some("default"), Some(-6))
    );
    assert_eq!(
        (
            entries[1]["location"].as_str(),
            entries[1]["delta"].as_i64()
        ),
        (Some("north"), Some(6))
    );
    assert!(entries.iter().all(|e| e["operation"] == "transfer"));
    assert_eq!(body["item"]["on_hand"], 10);
    let same =
        json!({"product_id": "t", "from_location": "north", "to_location": "north", "quantity": 1});
    let (status, _) = app.post(ADMIN_KEY, "/api/v1/transfers", same).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.post(&service, "/api/v1/transfers", transfer(1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.assert_verified();
}

#[tokio::test]
async fn only_a_backorder_item_is_held_below_zero() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.post(
        ADMIN_KEY,
        "/api/v1/inventory",
        json!({"product_id": "bo", "name": "Made to order", "stock": 1, "allow_backorder": true}),
    )
    .await;
    app.create_item("plain", 1).await;
    let (status, hold) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o", &[("bo", 5)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(app.available("bo").await, -4);
    let id = hold["reservation_id"].as_str().unwrap();
    app.post(
        &service,
        &format!("/api/v1/reservations/{id}/commit"),
        json!({}),
    )
    .await;
    assert_eq!(on_hand(&app, "bo").await, -4);
    let (status, _) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o", &[("plain", 2)]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.available("plain").await, 1);
    app.assert_verified();
}

#[tokio::test]
async fn verify_names_a_level_whose_reserved_differs_from_its_holds() {
    let app = spawn_app().await;
    app.create_item("v", 10).await;
    let service = app.key("service");
    app.post(
        &service,
        "/api/v1/reservations",
        hold_body("o", &[("v", 2)]),
    )
    .await;
    app.assert_verified();
    app.execute_sql("UPDATE holds SET status = 'released'")
        .await
        .unwrap();
    let output = app.cli(&["verify"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("MISMATCH item v at default: reserved 2 but its active holds add up to 0"),
        "{text}"
    );
}
