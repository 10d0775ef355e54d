//! Live events: Server-Sent Events from the outbox, in commit order,
//! resumable with Last-Event-ID.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, TestApp, ADMIN_KEY};
use crate::holds::hold_body;

/// The longest a test waits for events it caused.
const EVENTS_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) data: Value,
}

/// An open event stream and what it has sent so far.
pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(app: &TestApp, query: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/events{query}")))
            .bearer_auth(ADMIN_KEY);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next `count` events (keep-alive comments skipped).
    pub(crate) async fn take(&mut self, count: usize) -> Vec<Received> {
        let mut events = Vec::new();
        tokio::time::timeout(EVENTS_WAIT, async {
            while events.len() < count {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut kind, mut data) = (None, None, None);
                    for line in frame.lines() {
                        if let Some(value) = line.strip_prefix("id:") {
                            id = Some(value.trim().parse::<i64>().unwrap());
                        } else if let Some(value) = line.strip_prefix("event:") {
                            kind = Some(value.trim().to_owned());
                        } else if let Some(value) = line.strip_prefix("data:") {
                            data = Some(serde_json::from_str(value.trim()).unwrap());
                        }
                    }
                    if let (Some(id), Some(kind), Some(data)) = (id, kind, data) {
                        events.push(Received { id, kind, data });
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .expect("the stream stays open")
                    .expect("the stream has not ended");
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{count} events within {EVENTS_WAIT:?}; got {events:?}"));
        events
    }
}

fn summary(events: &[Received]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.kind.as_str() {
            "stock" => format!(
                "stock {} {}",
                e.data["operation"].as_str().unwrap(),
                e.data["delta"]
            ),
            "reservation" | "order" | "alert" => {
                format!("{} {}", e.kind, e.data["status"].as_str().unwrap())
            }
            other => panic!("unknown event {other}"),
        })
        .collect()
}

#[tokio::test]
async fn changes_stream_in_commit_order_and_resume_after_the_last_id() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("e1", 10).await;

    // A stream without Last-Event-ID starts with the next event.
    let mut stream = Stream::open(&app, "", None).await;
    let (status, _) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "e1", "delta": -2, "order_id": "so-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, hold) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-e1", &[("e1", 3)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let hold_id = hold["reservation_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &service,
            &format!("/api/v1/reservations/{hold_id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let events = stream.take(5).await;
    assert_eq!(
        summary(&events),
        vec![
            "stock deduct -2",
            "reservation active",
            "stock reserve 0",
            "stock commit -3",
            "reservation committed",
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    let sale = &events[0].data;
    assert_eq!(sale["product_id"], "e1");
    assert_eq!(sale["order_id"], "so-1");
    assert_eq!(sale["after_stock"], 8);
    assert_eq!(events[1].data["reservation_id"], hold_id.as_str());
    assert_eq!(events[1].data["order_id"], "o-e1");

    // Resuming after the first event sends exactly the rest.
    let mut resumed = Stream::open(&app, "", Some(events[0].id)).await;
    let rest = resumed.take(4).await;
    let ids: Vec<i64> = rest.iter().map(|e| e.id).collect();
    let expected: Vec<i64> = events[1..].iter().map(|e| e.id).collect();
    assert_eq!(ids, expected);
    let mut by_query = Stream::open(&app, &format!("?after={}", events[3].id), None).await;
    assert_eq!(by_query.take(1).await[0].id, events[4].id);

    // Filters: kinds and one item.
    app.create_item("e2", 1).await;
    let mut alerts_only =
        Stream::open(&app, &format!("?types=alert&after={}", events[4].id), None).await;
    let mut e2_only = Stream::open(
        &app,
        &format!("?product_id=e2&after={}", events[4].id),
        None,
    )
    .await;
    let (status, _) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "e2", "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let alert = alerts_only.take(1).await;
    assert_eq!(alert[0].kind, "alert");
    assert_eq!(alert[0].data["type"], "out_of_stock");
    assert_eq!(alert[0].data["product_id"], "e2");
    let about_e2 = e2_only.take(3).await;
    assert_eq!(
        summary(&about_e2),
        vec!["stock init 1", "stock deduct -1", "alert pending"]
    );
}

#[tokio::test]
async fn a_bad_stream_request_is_refused() {
    let app = spawn_app().await;
    let storefront = app.key("storefront");
    let (status, body) = app
        .get(&storefront, "/api/v1/events?types=stock,alert")
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    for query in [
        "?types=everything",
        "?after=-1",
        "?product_id=a%20b",
        "?since=3",
    ] {
        let (status, body) = app.get(ADMIN_KEY, &format!("/api/v1/events{query}")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            "{query}"
        );
    }
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(ADMIN_KEY)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_storefront_key_streams_stock_events_only() {
    let app = spawn_app().await;
    let storefront = app.key("storefront");
    let service = app.key("service");
    app.create_item("e3", 1).await;
    let response = app
        .client
        .get(app.url("/api/v1/events?after=0"))
        .bearer_auth(&storefront)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = Stream {
        response,
        buffer: String::new(),
    };
    let (status, _) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-e3", &[("e3", 1)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(
            &service,
            "/api/v1/sync-stock",
            json!({"product_id": "e3", "delta": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The hold's reservation event and the alerts are left out.
    let events = stream.take(3).await;
    assert_eq!(
        summary(&events),
        vec!["stock init 1", "stock reserve 0", "stock add 2"]
    );
}
