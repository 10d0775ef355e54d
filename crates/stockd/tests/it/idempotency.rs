//! Idempotency-Key: the same key and body return the first response once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, TestApp, ADMIN_KEY};

async fn keyed(
    app: &TestApp,
    key: &str,
    idempotency_key: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency_key)
        .json(body)
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        replayed,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_same_key_and_body_apply_once_and_replay_the_first_response() {
    let app = spawn_app().await;
    app.create_item("i1", 10).await;
    let body = json!({"items": [{"product_id": "i1", "quantity": 3}]});
    let (status, replayed, first) =
        keyed(&app, ADMIN_KEY, "k-1", "/api/v1/inventory/decrease", &body).await;
    assert_eq!((status, replayed), (StatusCode::OK, None), "{first}");
    let (status, replayed, second) =
        keyed(&app, ADMIN_KEY, "k-1", "/api/v1/inventory/decrease", &body).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::OK, Some("true"))
    );
    assert_eq!(first, second);
    assert_eq!(app.available("i1").await, 7);

    let other = json!({"items": [{"product_id": "i1", "quantity": 4}]});
    let (status, _, response) =
        keyed(&app, ADMIN_KEY, "k-1", "/api/v1/inventory/decrease", &other).await;
    assert_eq!(
        (status, code(&response)),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_MISMATCH")
    );
    assert_eq!(app.available("i1").await, 7);

    // Keys are scoped to the API key that sent them.
    let service = app.key("service");
    let (status, replayed, _) =
        keyed(&app, &service, "k-1", "/api/v1/inventory/decrease", &body).await;
    assert_eq!((status, replayed), (StatusCode::OK, None));
    assert_eq!(app.available("i1").await, 4);
    app.assert_verified();
}

#[tokio::test]
async fn a_refusal_is_replayed_too_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_item("i2", 2).await;
    let body = json!({"product_id": "i2", "delta": -5});
    let (status, _, first) = keyed(&app, ADMIN_KEY, "k-2", "/api/v1/sync-stock", &body).await;
    assert_eq!(
        (status, code(&first)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK")
    );
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "i2", "delta": 10}),
    )
    .await;
    let (status, replayed, second) =
        keyed(&app, ADMIN_KEY, "k-2", "/api/v1/sync-stock", &body).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::CONFLICT, Some("true"))
    );
    assert_eq!(first, second);
    assert_eq!(app.available("i2").await, 12);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_apply_once() {
    let app = spawn_app().await;
    app.create_item("i3", 100).await;
    let body = json!({"product_id": "i3", "delta": -1});
    let requests = (0..20).map(|_| keyed(&app, ADMIN_KEY, "k-3", "/api/v1/sync-stock", &body));
    let answers = futures_join_all(requests).await;
    let mut applied = 0;
    for (status, replayed, response) in &answers {
        match (*status, replayed.as_deref()) {
            (StatusCode::OK, None) => applied += 1,
            (StatusCode::OK, Some("true")) => {}
            (StatusCode::CONFLICT, _) => assert_eq!(code(response), "IDEMPOTENCY_IN_PROGRESS"),
            other => panic!("unexpected answer {other:?}: {response}"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(app.available("i3").await, 99);
    app.assert_verified();
}

/// Runs futures concurrently and collects their outputs in order.
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(index, future)| match future.as_mut().poll(cx) {
            std::task::Poll::Ready(output) => {
                outputs[*index] = Some(output);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
