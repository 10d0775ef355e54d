//! NATS JetStream as a further sink of the outbox, against the machine's
//! NATS server (JetStream enabled), each test with a stream of its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_with, Spawn, TestApp, ADMIN_KEY};

const MACHINE_NATS: &str = "127.0.0.1:4222";

/// A stream of one test, deleted when dropped.
struct Stream {
    name: String,
    prefix: String,
}

impl Stream {
    fn new() -> Stream {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}_{n}", std::process::id());
        Stream {
            name: format!("STOCKD_TEST_{id}"),
            prefix: format!("stockdtest.{id}"),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STOCKD_NATS_URL", format!("nats://{MACHINE_NATS}")),
            ("STOCKD_NATS__STREAM", self.name.clone()),
            ("STOCKD_NATS__SUBJECT_PREFIX", self.prefix.clone()),
        ]
    }

    /// Messages in the stream by subject; empty while there is no stream.
    async fn subjects(&self) -> BTreeMap<String, u64> {
        let jetstream = jetstream().await;
        let Ok(stream) = jetstream.get_stream(&self.name).await else {
            return BTreeMap::new();
        };
        let mut subjects = stream.info_with_subjects(">").await.unwrap();
        let mut counts = BTreeMap::new();
        while let Some(entry) = subjects.next().await {
            let (subject, count) = entry.unwrap();
            counts.insert(subject, count as u64);
        }
        counts
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _ = jetstream().await.delete_stream(&name).await;
            });
        })
        .join();
    }
}

/// The machine's JetStream, through a client that is not stockd's sink.
async fn jetstream() -> async_nats::jetstream::Context {
    let client = async_nats::connect(MACHINE_NATS)
        .await
        .expect("NATS with JetStream is needed at 127.0.0.1:4222");
    async_nats::jetstream::new(client)
}

/// Events in the outbox by subject, as the sink names them.
async fn outbox(app: &TestApp, stream: &Stream) -> BTreeMap<String, u64> {
    app.fetch_pairs("SELECT kind, COUNT(*) FROM events GROUP BY kind")
        .await
        .into_iter()
        .map(|(kind, count)| (format!("{}.{kind}", stream.prefix), count as u64))
        .collect()
}

/// Waits (polling, with a deadline) until the stream holds what the outbox does.
async fn caught_up(app: &TestApp, stream: &Stream) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let expected = outbox(app, stream).await;
        let published = stream.subjects().await;
        if published == expected {
            return published;
        }
        assert!(
            Instant::now() < deadline,
            "JetStream holds {published:?}, the outbox {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sell(app: &TestApp, item: &str, delta: i64) {
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": item, "delta": delta}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_event_reaches_jetstream_once_across_a_restart() {
    let stream = Stream::new();
    let app = spawn_with(Spawn {
        extra_env: stream.env(),
        ..Spawn::default()
    })
    .await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory",
            json!({"product_id": "tea", "name": "Tea", "stock": 3, "min_stock": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    sell(&app, "tea", -1).await;
    sell(&app, "tea", -2).await; // out of stock: an alert too
    let published = caught_up(&app, &stream).await;
    let stock = format!("{}.stock", stream.prefix);
    let alert = format!("{}.alert", stream.prefix);
    assert_eq!(published.get(&stock), Some(&3), "{published:?}");
    assert!(
        published.get(&alert).is_some_and(|n| *n >= 1),
        "{published:?}"
    );

    // Killed and started again: what follows is published, nothing twice.
    let workspace = app.stop();
    let app = spawn_with(Spawn {
        extra_env: stream.env(),
        dir: Some(workspace),
        ..Spawn::default()
    })
    .await;
    sell(&app, "tea", 5).await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/orders",
            json!({"order_id": "o-1", "items": [{"product_id": "tea", "quantity": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let published = caught_up(&app, &stream).await;
    assert_eq!(published.get(&stock), Some(&5), "{published:?}");
    assert_eq!(
        published.get(&format!("{}.order", stream.prefix)),
        Some(&1),
        "{published:?}"
    );
}
