//! Stock changes: sync-stock, check, decrease, increase, the ledger and reports.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{code, spawn_app, ADMIN_KEY};

#[tokio::test]
async fn sync_stock_adds_deducts_and_refuses_beyond_available() {
    let app = spawn_app().await;
    app.create_item("1001", 10).await;
    let service = app.key("service");
    let (status, body) = app
        .post(&service, "/api/v1/sync-stock", json!({"product_id": 1001, "delta": -5, "order_id": "order_1", "reason": "订单扣减", "trace_id": "trace_1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["before_stock"], 10);
    assert_eq!(body["after_stock"], 5);
    assert_eq!(body["replayed"], false);
    assert_eq!(body["entry"]["operation"], "deduct");
    assert_eq!(body["entry"]["order_id"], "order_1");
    assert_eq!(body["entry"]["reason"], "订单扣减");
    assert_eq!(body["entry"]["trace_id"], "trace_1");
    assert!(body["entry"]["operator"]
        .as_str()
        .unwrap()
        .starts_with("key_"));

    let (status, body) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "1001", "delta": -6}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "INSUFFICIENT_STOCK");
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["available"],
        5
    );
    assert_eq!(
        body["error"]["details"]["unavailable_products"][0]["requested"],
        6
    );
    assert_eq!(app.available("1001").await, 5);

    let (status, body) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "1001", "delta": 100, "reason": "restock"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entry"]["operation"], "add");
    assert_eq!(app.available("1001").await, 105);
    app.assert_verified();
}

#[tokio::test]
async fn sync_stock_retries_without_a_key_apply_once() {
    let app = spawn_app().await;
    app.create_item("r1", 10).await;
    app.create_item("r2", 10).await;
    let service = app.key("service");
    let deduct = json!({"product_id": "r1", "delta": -3, "order_id": "o-77"});
    let (_, first) = app
        .post(&service, "/api/v1/sync-stock", deduct.clone())
        .await;
    let (status, again) = app.post(&service, "/api/v1/sync-stock", deduct).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["entry"]["id"], first["entry"]["id"]);
    assert_eq!(app.available("r1").await, 7);

    // The same order restocking after a cancel is a second change.
    let (status, body) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "r1", "delta": 3, "order_id": "o-77"}),
        )
        .await;
    assert_eq!(
        (status, body["replayed"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(app.available("r1").await, 10);

    // The same order with another quantity is refused, not applied.
    let (status, body) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "r1", "delta": -4, "order_id": "o-77"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_MISMATCH")
    );

    // A trace id applies once per item; the same trace id may cover another item.
    let traced = json!({"product_id": "r2", "delta": -2, "trace_id": "trace-x"});
    app.post(&service, "/api/v1/sync-stock", traced.clone())
        .await;
    let (_, body) = app.post(&service, "/api/v1/sync-stock", traced).await;
    assert_eq!(body["replayed"], true);
    let (status, _) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "r1", "delta": -1, "trace_id": "trace-x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.available("r2").await, 8);
    assert_eq!(app.available("r1").await, 9);
    app.assert_verified();
}

#[tokio::test]
async fn check_decrease_and_increase_are_all_or_nothing() {
    let app = spawn_app().await;
    app.create_item("p1", 5).await;
    app.create_item("p2", 1).await;
    app.create_item("p3", 0).await;
    let service = app.key("service");
    let basket = json!({"items": [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 2}, {"product_id": "p3", "quantity": 1}]});

    let (status, body) = app
        .post(&service, "/api/v1/inventory/check", basket.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["available"], false);
    let lacking: Vec<&str> = body["unavailable_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(lacking, ["p2", "p3"]);

    let ledger_before = app.ledger_total().await;
    let (status, body) = app
        .post(&service, "/api/v1/inventory/decrease", basket)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK")
    );
    let lacking: Vec<&str> = body["error"]["details"]["unavailable_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(lacking, ["p2", "p3"]);
    assert_eq!(app.available("p1").await, 5, "nothing was taken from p1");
    assert_eq!(app.ledger_total().await, ledger_before);

    let fine = json!({"items": [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}], "order_id": "ord-9"});
    let (status, body) = app
        .post(&service, "/api/v1/inventory/check", fine.clone())
        .await;
    assert_eq!(
        (status, body["available"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, body) = app
        .post(&service, "/api/v1/inventory/decrease", fine.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(app.available("p1").await, 3);
    assert_eq!(app.available("p2").await, 0);

    let (status, body) = app.post(&service, "/api/v1/inventory/increase", fine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.available("p1").await, 5);
    assert_eq!(app.available("p2").await, 1);

    let (status, body) = app.get(&service, "/api/v1/logs?order_id=ord-9").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 4);
    let operations: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        ["add", "add", "deduct", "deduct"],
        "newest first"
    );
    app.assert_verified();
}

#[tokio::test]
async fn inactive_and_locked_items_do_not_sell() {
    let app = spawn_app().await;
    app.create_item("s1", 5).await;
    app.put(
        ADMIN_KEY,
        "/api/v1/inventory/s1",
        json!({"status": "inactive"}),
    )
    .await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "s1", "delta": -1}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "ITEM_INACTIVE")
    );
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "s1", "delta": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "an inactive item may be restocked");
    app.put(
        ADMIN_KEY,
        "/api/v1/inventory/s1",
        json!({"status": "locked"}),
    )
    .await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "s1", "delta": 1}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "ITEM_LOCKED"));
    let (_, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/check",
            json!({"items": [{"product_id": "s1", "quantity": 1}]}),
        )
        .await;
    assert_eq!(body["unavailable_products"][0]["reason"], "locked");
    assert_eq!(app.available("s1").await, 6);
}

#[tokio::test]
async fn backorder_goes_below_zero_only_when_allowed() {
    let app = spawn_app().await;
    let (status, _) = app
        .post(ADMIN_KEY, "/api/v1/inventory", json!({"product_id": "bo", "name": "Made to order", "stock": 1, "allow_backorder": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/decrease",
            json!({"items": [{"product_id": "bo", "quantity": 4}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.available("bo").await, -3);
    app.assert_verified();
}

#[tokio::test]
async fn the_ledger_answers_by_item_order_and_trace() {
    let app = spawn_app().await;
    app.create_item("g1", 100).await;
    for n in 0..25 {
        let (status, body) = app
            .post(ADMIN_KEY, "/api/v1/sync-stock", json!({"product_id": "g1", "delta": -1, "order_id": format!("o{n}"), "trace_id": format!("t{n}")}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory/g1/logs?page_size=10&page=3")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 26);
    assert_eq!(body["total_pages"], 3);
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries.last().unwrap()["operation"], "init");
    // Each row explains the one before it.
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory/g1/logs?page_size=100")
        .await;
    let entries = body["entries"].as_array().unwrap();
    for pair in entries.windows(2) {
        assert_eq!(pair[0]["before_stock"], pair[1]["after_stock"]);
    }
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/logs?trace_id=t7").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["entries"][0]["order_id"], "o7");
    assert_eq!(body["entries"][0]["after_stock"], 92);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/logs?order_id=o3&trace_id=t3")
        .await;
    assert_eq!(body["total"], 1);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/logs?order_id=o3&trace_id=t4")
        .await;
    assert_eq!(body["total"], 0);
    let (status, _) = app.get(ADMIN_KEY, "/api/v1/inventory/nope/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_low_stock_report_has_seed_004s_shape() {
    let app = spawn_app().await;
    for (id, stock) in [("x1", 0), ("x2", 4), ("x3", 10), ("x4", 11)] {
        app.create_item(id, stock).await;
    }
    let (status, body) = app
        .get(ADMIN_KEY, "/api/v1/admin/inventory/low-stock")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lowStock"]["threshold"], 10);
    assert_eq!(body["lowStock"]["count"], 2);
    assert_eq!(
        body["lowStock"]["products"][0],
        json!({"id": "x2", "name": "Item x2", "stock": 4, "sku": "x2"})
    );
    assert_eq!(body["lowStock"]["products"][1]["id"], "x3");
    assert_eq!(body["outOfStock"]["count"], 1);
    assert_eq!(body["outOfStock"]["products"][0]["id"], "x1");
    assert_eq!(
        body["summary"],
        json!({"totalLowStock": 2, "totalOutOfStock": 1, "needsAttention": 3})
    );
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/admin/inventory/low-stock?threshold=4")
        .await;
    assert_eq!(body["lowStock"]["count"], 1);
}
