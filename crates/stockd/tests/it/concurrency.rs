//! Never oversell: seed 004's three scenarios and more, over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, ADMIN_KEY};
use crate::idempotency::futures_join_all;

#[tokio::test]
async fn two_buyers_of_six_out_of_ten_one_wins() {
    let app = spawn_app().await;
    let service = app.key("service");
    for round in 0..10 {
        let id = format!("six-{round}");
        app.create_item(&id, 10).await;
        let buy =
            json!({"items": [{"product_id": id, "quantity": 6}], "order_id": format!("{id}-a")});
        let sync = json!({"product_id": id, "delta": -6, "order_id": format!("{id}-b")});
        let (a, b) = tokio::join!(
            app.post(&service, "/api/v1/inventory/decrease", buy),
            app.post(&service, "/api/v1/sync-stock", sync),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}: {a:?} {b:?}"
        );
        assert_eq!(app.available(&id).await, 4, "round {round}");
    }
    app.assert_verified();
}

#[tokio::test]
async fn create_and_cancel_racing_with_a_third_buyer_keep_stock_right() {
    let app = spawn_app().await;
    let service = app.key("service");
    for round in 0..10 {
        let id = format!("race-{round}");
        app.create_item(&id, 10).await;
        let first =
            json!({"items": [{"product_id": id, "quantity": 5}], "order_id": format!("{id}-a")});
        let buyer_a = async {
            let (status, body) = app
                .post(&service, "/api/v1/inventory/decrease", first.clone())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let (status, body) = app
                .post(&service, "/api/v1/inventory/increase", first.clone())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        };
        let buyer_b = app.post(
            &service,
            "/api/v1/inventory/decrease",
            json!({"items": [{"product_id": id, "quantity": 5}], "order_id": format!("{id}-b")}),
        );
        let ((), (status, body)) = tokio::join!(buyer_a, buyer_b);
        assert_eq!(
            status,
            StatusCode::OK,
            "there were always 5 for the third buyer: {body}"
        );
        assert_eq!(app.available(&id).await, 5, "round {round}");
        let (_, logs) = app
            .get(ADMIN_KEY, &format!("/api/v1/inventory/{id}/logs"))
            .await;
        assert_eq!(logs["total"], 4, "init, two deducts and one add");
    }
    app.assert_verified();
}

#[tokio::test]
async fn a_hundred_buyers_of_one_out_of_a_hundred_all_win_and_the_next_loses() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("hundred", 100).await;
    let buyers = (0..100).map(|n| {
        app.post(
            &service,
            "/api/v1/inventory/decrease",
            json!({"items": [{"product_id": "hundred", "quantity": 1}], "order_id": format!("buyer-{n}")}),
        )
    });
    let answers = futures_join_all(buyers).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    assert_eq!(app.available("hundred").await, 0);
    let (status, body) = app
        .post(
            &service,
            "/api/v1/inventory/decrease",
            json!({"items": [{"product_id": "hundred", "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(app.available("hundred").await, 0);
    app.assert_verified();
}

#[tokio::test]
async fn two_hundred_buyers_of_fifty_exactly_fifty_win() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("fifty", 50).await;
    let buyers = (0..200).map(|n| {
        app.post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "fifty", "delta": -1, "order_id": format!("b{n}")}),
        )
    });
    let answers = futures_join_all(buyers).await;
    let won = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let lost = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (50, 150));
    assert_eq!(app.available("fifty").await, 0);
    let (_, logs) = app
        .get(ADMIN_KEY, "/api/v1/logs?product_id=fifty&operation=deduct")
        .await;
    assert_eq!(logs["total"], 50);
    app.assert_verified();
}
