//! Items: create, read, list, update, and the versioned absolute stock.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{code, spawn_app, ADMIN_KEY};

#[tokio::test]
async fn an_item_is_created_read_and_its_numeric_id_becomes_a_string() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory",
            json!({"product_id": 1001, "product_name": "Tea", "stock": 50, "min_stock": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["item"]["product_id"], "1001");
    assert_eq!(body["item"]["on_hand"], 50);
    assert_eq!(body["item"]["stock"], 50);
    assert_eq!(body["entries"][0]["operation"], "init");
    assert_eq!(body["entries"][0]["delta"], 50);

    let (status, item) = app.get(ADMIN_KEY, "/api/v1/inventory/1001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["name"], "Tea");
    assert_eq!(item["available"], 50);
    assert_eq!(item["reserved"], 0);
    assert_eq!(item["version"], 1);
    assert_eq!(item["status"], "active");
    assert_eq!(item["stock_status"], "in_stock");
    assert_eq!(item["locations"][0]["location"], "default");

    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory",
            json!({"product_id": "1001", "name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "ALREADY_EXISTS");

    let (status, body) = app.get(ADMIN_KEY, "/api/v1/inventory/404404").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "NOT_FOUND");
    app.assert_verified();
}

#[tokio::test]
async fn batch_returns_found_items_and_names_the_rest() {
    let app = spawn_app().await;
    app.create_item("1", 1).await;
    app.create_item("2", 2).await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/batch",
            json!({"product_ids": [1, "2", 3]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"]);
    assert_eq!(body["not_found"], json!(["3"]));
}

/// The ids of a page of items, in order.
fn ids(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_pages_and_filters() {
    let app = spawn_app().await;
    for (id, stock) in [("a1", 0), ("a2", 3), ("a3", 50), ("b1", 8), ("b2", 200)] {
        app.create_item(id, stock).await;
    }
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/b2",
            json!({"status": "inactive", "name": "Bee two"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?page=1&page_size=2")
        .await;
    assert_eq!(ids(&body), ["a1", "a2"]);
    assert_eq!(body["total"], 5);
    assert_eq!(body["total_pages"], 3);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?page=3&page_size=2")
        .await;
    assert_eq!(ids(&body), ["b2"]);
    // Low stock: 0 < available <= 10 (the default threshold).
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/inventory?low_stock=true").await;
    assert_eq!(ids(&body), ["a2", "b1"]);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?out_of_stock=true")
        .await;
    assert_eq!(ids(&body), ["a1"]);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?status=inactive")
        .await;
    assert_eq!(ids(&body), ["b2"]);
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/inventory?q=b").await;
    assert_eq!(ids(&body), ["b1", "b2"]);
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/inventory?q=Bee").await;
    assert_eq!(ids(&body), ["b2"]);
    // LIKE wildcards in q are matched literally.
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/inventory?q=%25").await;
    assert_eq!(ids(&body), Vec::<String>::new());
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/inventory?page_size=101").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
}

#[tokio::test]
async fn an_absolute_stock_needs_the_expected_version() {
    let app = spawn_app().await;
    app.create_item("c1", 10).await;
    let (status, body) = app
        .put(ADMIN_KEY, "/api/v1/inventory/c1", json!({"stock": 7}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "VERSION_CONFLICT");
    assert_eq!(body["error"]["details"]["current_version"], 1);

    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/c1",
            json!({"stock": 7, "expected_version": 5}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "VERSION_CONFLICT")
    );
    assert_eq!(app.available("c1").await, 10);

    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/c1",
            json!({"stock": 7, "expected_version": 1, "reason": "count"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["item"]["on_hand"], 7);
    assert_eq!(body["item"]["version"], 2);
    assert_eq!(body["entries"][0]["operation"], "set");
    assert_eq!(body["entries"][0]["delta"], -3);
    assert_eq!(body["entries"][0]["reason"], "count");

    // The same version a second time is stale now.
    let (status, _) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/c1",
            json!({"stock": 9, "expected_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Metadata alone needs no version, and clears with null.
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/c1",
            json!({"min_stock": 3, "max_stock": 100, "name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["item"]["min_stock"], 3);
    assert_eq!(body["item"]["low_stock_threshold"], 3);
    let (_, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/c1",
            json!({"min_stock": null}),
        )
        .await;
    assert_eq!(body["item"]["min_stock"], serde_json::Value::Null);
    assert_eq!(body["item"]["max_stock"], 100);
    assert_eq!(body["entries"], json!([]));
    app.assert_verified();
}

#[tokio::test]
async fn locations_hold_their_own_levels() {
    let app = spawn_app().await;
    app.create_item("l1", 5).await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/locations",
            json!({"id": "shanghai", "name": "Shanghai", "priority": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/locations", json!({"id": "shanghai"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "ALREADY_EXISTS")
    );
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "l1", "delta": 20, "location": "shanghai"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/l1").await;
    assert_eq!(item["on_hand"], 25);
    assert_eq!(item["locations"].as_array().unwrap().len(), 2);
    let (_, body) = app.get(ADMIN_KEY, "/api/v1/locations").await;
    assert_eq!(body["locations"][0]["id"], "default");
    assert_eq!(body["locations"][1]["id"], "shanghai");
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "l1", "delta": 1, "location": "nowhere"}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    app.assert_verified();
}

#[tokio::test]
async fn the_list_filters_by_location_and_names_an_unknown_one() {
    let app = spawn_app().await;
    app.create_item("here", 5).await;
    app.create_item("there", 5).await;
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/locations", json!({"id": "north"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "there", "delta": 2, "location": "north"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.get(ADMIN_KEY, "/api/v1/inventory?location=north").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["there"]);
    assert_eq!(body["total"], 1);
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?location=default")
        .await;
    assert_eq!(ids(&body), ["here", "there"]);
    // Low stock counts the location's level alone: 2 at north.
    let (_, body) = app
        .get(ADMIN_KEY, "/api/v1/inventory?location=north&low_stock=true")
        .await;
    assert_eq!(ids(&body), ["there"]);

    let (status, body) = app.get(ADMIN_KEY, "/api/v1/inventory?location=nope").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["entity"], "location", "{body}");
    assert_eq!(body["error"]["details"]["id"], "nope", "{body}");
}
