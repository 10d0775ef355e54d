//! Alerts: raised by the change that crosses the line, one open per item and
//! type, listed with filters, closed by staff.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, spawn_with, Spawn, TestApp, ADMIN_KEY};
use crate::holds::hold_body;

async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(ADMIN_KEY, &format!("/api/v1/alerts{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().expect("a list of alerts").clone()
}

/// (type, status, available) of the alerts a query lists, oldest first.
async fn summary(app: &TestApp, query: &str) -> Vec<(String, String, i64)> {
    let mut rows: Vec<(String, String, i64)> = alerts(app, query)
        .await
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
                a["available"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.reverse();
    rows
}

async fn sync(app: &TestApp, item: &str, delta: i64) -> Value {
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": item, "delta": delta}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn crossing_a_line_raises_one_alert_until_it_is_closed() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory",
            json!({"product_id": "a1", "name": "Green tea", "stock": 12, "min_stock": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        alerts(&app, "").await.is_empty(),
        "opening stock is no alert"
    );

    sync(&app, "a1", -6).await; // 6 left: above the line
    assert!(alerts(&app, "").await.is_empty());
    let sale = sync(&app, "a1", -1).await; // 5 left: at the line
    let raised = alerts(&app, "").await;
    assert_eq!(raised.len(), 1);
    let low = &raised[0];
    assert_eq!(low["type"], "low_stock");
    assert_eq!(low["level"], "warning");
    assert_eq!(low["status"], "pending");
    assert_eq!(low["product_id"], "a1");
    assert_eq!(
        (low["available"].as_i64(), low["threshold"].as_i64()),
        (Some(5), Some(5))
    );
    assert_eq!(low["log_id"], sale["entry"]["id"], "it names the change");
    assert!(low["message"].as_str().unwrap().contains("Green tea"));

    sync(&app, "a1", -1).await; // still low: nothing new
    sync(&app, "a1", 3).await; // 7: above again
    sync(&app, "a1", -3).await; // 4: crosses again, but one is open
    assert_eq!(summary(&app, "").await.len(), 1);

    sync(&app, "a1", -4).await; // 0: out of stock
    sync(&app, "a1", 2).await; // 2: back in stock
    assert_eq!(
        summary(&app, "").await,
        vec![
            ("low_stock".into(), "pending".into(), 5),
            ("out_of_stock".into(), "pending".into(), 0),
            ("back_in_stock".into(), "pending".into(), 2),
        ]
    );

    // Filters.
    assert_eq!(alerts(&app, "?type=out_of_stock").await.len(), 1);
    assert_eq!(alerts(&app, "?product_id=a1&status=open").await.len(), 3);
    assert_eq!(alerts(&app, "?product_id=nope").await.len(), 0);

    // Closing: acknowledged once, then a 409; the next crossing raises anew.
    let id = low["id"].as_i64().unwrap();
    let (status, acked) = app
        .post(ADMIN_KEY, &format!("/api/v1/alerts/{id}/ack"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["handled_by"].is_string());
    let (status, again) = app
        .post(ADMIN_KEY, &format!("/api/v1/alerts/{id}/ignore"), json!({}))
        .await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::CONFLICT, "ALERT_CLOSED")
    );
    assert_eq!(alerts(&app, "?status=acknowledged").await.len(), 1);
    assert_eq!(alerts(&app, "?status=open").await.len(), 2);

    sync(&app, "a1", 10).await; // 12
    sync(&app, "a1", -8).await; // 4: low again, and the old one is closed
    assert_eq!(
        alerts(&app, "?type=low_stock&status=pending").await.len(),
        1
    );

    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/alerts/999999/ack", json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}

#[tokio::test]
async fn holds_and_releases_raise_alerts_on_available_stock() {
    // The service's threshold applies to items without min_stock.
    let app = spawn_with(Spawn::with_env(
        "STOCKD_INVENTORY__LOW_STOCK_THRESHOLD",
        "3",
    ))
    .await;
    let service = app.key("service");
    app.create_item("a2", 5).await;

    let (status, hold) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-a2", &[("a2", 5)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    // 5 → 0 available: out of stock (not also low: it went straight through).
    assert_eq!(
        summary(&app, "").await,
        vec![("out_of_stock".into(), "pending".into(), 0)]
    );
    let id = hold["reservation_id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows = summary(&app, "").await;
    assert_eq!(rows[1], ("back_in_stock".into(), "pending".into(), 5));

    let (status, _) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-a2b", &[("a2", 2)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let rows = summary(&app, "").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2], ("low_stock".into(), "pending".into(), 3));
    assert_eq!(alerts(&app, "").await[0]["threshold"], 3);
}

#[tokio::test]
async fn alerts_need_their_roles_and_valid_filters() {
    let app = spawn_app().await;
    let storefront = app.key("storefront");
    let service = app.key("service");
    let (status, body) = app.get(&storefront, "/api/v1/alerts").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    let (status, _) = app.get(&service, "/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&service, "/api/v1/alerts/1/ack", json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    for query in [
        "?type=loud",
        "?status=closed",
        "?page_size=0",
        "?product_id=a%20b",
    ] {
        let (status, body) = app.get(&service, &format!("/api/v1/alerts{query}")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            "{query}: {body}"
        );
    }
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/alerts/abc/ack", json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
}
