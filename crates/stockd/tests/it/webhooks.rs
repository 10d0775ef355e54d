//! Webhooks: signed deliveries in order, retried with backoff, given up
//! after their attempts, every attempt logged. A local HTTP server plays
//! the receiver; Python's hmac checks the signatures.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_with, Spawn, TestApp, ADMIN_KEY};
use crate::holds::hold_body;

const SECRET: &str = "whsec_0123456789abcdef";
/// The longest a test waits for deliveries it caused.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Received {
    signature: String,
    event_id: String,
    body: Vec<u8>,
    answered: u16,
}

#[derive(Default)]
struct Receiver {
    /// Requests to answer 500 before answering 200 again.
    fail_next: usize,
    received: Vec<Received>,
}

type Shared = Arc<(Mutex<Receiver>, tokio::sync::Notify)>;

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let (receiver, notify) = &*shared;
    let mut receiver = receiver.lock().unwrap();
    let status = if receiver.fail_next > 0 {
        receiver.fail_next -= 1;
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    };
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    receiver.received.push(Received {
        signature: header("stockd-signature"),
        event_id: header("stockd-event-id"),
        body: body.to_vec(),
        answered: status.as_u16(),
    });
    notify.notify_waiters();
    status
}

async fn start_receiver() -> (String, Shared) {
    let shared: Shared = Arc::new((Mutex::new(Receiver::default()), tokio::sync::Notify::new()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, shared)
}

/// Waits until the receiver has answered `count` requests 200.
async fn delivered(shared: &Shared, count: usize) -> Vec<Received> {
    let (receiver, notify) = &**shared;
    tokio::time::timeout(DELIVERY_WAIT, async {
        loop {
            let wait = notify.notified();
            {
                let receiver = receiver.lock().unwrap();
                let ok: Vec<Received> = receiver
                    .received
                    .iter()
                    .filter(|r| r.answered == 200)
                    .cloned()
                    .collect();
                if ok.len() >= count {
                    return ok;
                }
            }
            wait.await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} deliveries within {DELIVERY_WAIT:?}"))
}

/// The HMAC-SHA256 hex of `<t>.<body>`, computed by Python, not by stockd's code.
fn python_hmac(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let script = "import hmac, hashlib, sys\n\
        data = sys.argv[2].encode() + b'.' + sys.stdin.buffer.read()\n\
        print(hmac.new(sys.argv[1].encode(), data, hashlib.sha256).hexdigest())";
    let mut child = Command::new("python3")
        .args(["-c", script, secret, timestamp])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the machine has CPython 3.11)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn check_signature(received: &Received) {
    let (t, v1) = received.signature.split_once(',').expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let v1 = v1.strip_prefix("v1=").expect("v1=");
    assert_eq!(
        v1,
        python_hmac(SECRET, t, &received.body),
        "the signature verifies"
    );
    let sent: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - sent).abs() <= 300, "inside the replay window");
    // A changed body no longer verifies.
    let mut forged = received.body.clone();
    forged.push(b' ');
    assert_ne!(v1, python_hmac(SECRET, t, &forged));
}

async fn spawn_fast_retries() -> TestApp {
    spawn_with(Spawn {
        extra_env: vec![
            ("STOCKD_WEBHOOKS__POLL_INTERVAL_MS", "50".into()),
            ("STOCKD_WEBHOOKS__RETRY_BASE_MS", "50".into()),
            ("STOCKD_WEBHOOKS__RETRY_MAX_MS", "200".into()),
            ("STOCKD_WEBHOOKS__ATTEMPTS_MAX", "3".into()),
        ],
        ..Spawn::default()
    })
    .await
}

#[tokio::test]
async fn events_are_delivered_signed_in_order_with_retries_and_a_log() {
    let app = spawn_fast_retries().await;
    let (url, shared) = start_receiver().await;
    shared.0.lock().unwrap().fail_next = 2;
    let (status, hook) = app
        .post(
            ADMIN_KEY,
            "/api/v1/webhooks",
            json!({"url": url, "secret": SECRET, "events": ["stock", "alert"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert!(
        !hook.to_string().contains(SECRET),
        "the secret is never shown"
    );
    let hook_id = hook["id"].as_str().unwrap().to_owned();

    app.create_item("w1", 5).await;
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "w1", "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = delivered(&shared, 2).await;
    for received in &got {
        check_signature(received);
    }
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["type"], "stock");
    assert_eq!(bodies[0]["data"]["operation"], "init");
    assert_eq!(bodies[1]["data"]["operation"], "deduct");
    assert_eq!(bodies[0]["data"]["product_id"], "w1");
    assert!(
        bodies[0]["id"].as_i64() < bodies[1]["id"].as_i64(),
        "in order"
    );
    assert_eq!(got[0].event_id, bodies[0]["id"].to_string());
    {
        let receiver = shared.0.lock().unwrap();
        let first = &receiver.received[..3];
        assert!(
            first.iter().all(|r| r.event_id == got[0].event_id),
            "the first event was tried until it was taken"
        );
        assert_eq!(
            first.iter().map(|r| r.answered).collect::<Vec<_>>(),
            vec![500, 500, 200]
        );
    }

    // Reservations are not subscribed: the next stock event comes next.
    let service = app.key("service");
    let (status, _) = app
        .post(
            &service,
            "/api/v1/reservations",
            hold_body("o-w1", &[("w1", 1)]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = delivered(&shared, 3).await;
    let third: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(third["type"], "stock");
    assert_eq!(third["data"]["operation"], "reserve");

    // An event that fails every attempt is given up on; the next one goes.
    shared.0.lock().unwrap().fail_next = 3;
    for delta in [-1, -1] {
        let (status, _) = app
            .post(
                ADMIN_KEY,
                "/api/v1/sync-stock",
                json!({"product_id": "w1", "delta": delta}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let got = delivered(&shared, 4).await;
    let fourth: Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(
        fourth["data"]["after_stock"], 2,
        "the second of the two sales"
    );

    // The receiver answers before stockd logs the answer: wait for the log.
    let log_path = format!("/api/v1/webhooks/{hook_id}/deliveries?page_size=100");
    let outcomes = tokio::time::timeout(DELIVERY_WAIT, async {
        loop {
            let (status, log) = app.get(ADMIN_KEY, &log_path).await;
            assert_eq!(status, StatusCode::OK, "{log}");
            let outcomes: Vec<(i64, String)> = log["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .map(|d| {
                    (
                        d["attempt"].as_i64().unwrap(),
                        d["outcome"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            if outcomes.len() >= 9 {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("nine attempts logged");
    let expected: Vec<(i64, String)> = [
        (1, "retrying"),
        (2, "retrying"),
        (3, "delivered"),
        (1, "delivered"),
        (1, "delivered"),
        (1, "retrying"),
        (2, "retrying"),
        (3, "failed"),
        (1, "delivered"),
    ]
    .into_iter()
    .map(|(a, o)| (a, o.to_owned()))
    .collect();
    assert_eq!(outcomes, expected);

    // An alert that reached the receiver becomes `sent`.
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "w1", "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = delivered(&shared, 6).await;
    let kinds: Vec<String> = got[4..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["stock", "alert"],
        "the sale to zero, then its alert"
    );
    let sent = tokio::time::timeout(DELIVERY_WAIT, async {
        loop {
            let (_, alerts) = app.get(ADMIN_KEY, "/api/v1/alerts?type=out_of_stock").await;
            if alerts["alerts"][0]["status"] == "sent" {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(sent.is_ok(), "the delivered alert is marked sent");

    let metrics = app.metrics().await;
    let delivered_total: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("stockd_webhook_deliveries_total{outcome=\"delivered\"} "))
        .unwrap()
        .parse()
        .unwrap();
    // Six, and maybe the `sent` alert event by now.
    assert!((6..=7).contains(&delivered_total), "{metrics}");
    for line in [
        "stockd_webhook_deliveries_total{outcome=\"retrying\"} 4",
        "stockd_webhook_deliveries_total{outcome=\"failed\"} 1",
        "stockd_webhooks 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    let (status, list) = app.get(ADMIN_KEY, "/api/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["webhooks"][0]["id"], hook_id.as_str());
    assert_eq!(list["webhooks"][0]["events"], json!(["stock", "alert"]));
    let path = format!("/api/v1/webhooks/{hook_id}");
    let (status, _) = app
        .request(reqwest::Method::DELETE, Some(ADMIN_KEY), &path, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .request(reqwest::Method::DELETE, Some(ADMIN_KEY), &path, None)
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}

#[tokio::test]
async fn a_bad_webhook_is_refused() {
    let app = spawn_fast_retries().await;
    let storefront = app.key("storefront");
    let (status, body) = app.get(&storefront, "/api/v1/webhooks").await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    for (body, field) in [
        (json!({"url": "ftp://x/y", "secret": SECRET}), "url"),
        (json!({"url": "http://", "secret": SECRET}), "url"),
        (
            json!({"url": "http://127.0.0.1:9/h", "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": "http://127.0.0.1:9/h", "secret": SECRET, "events": ["all"]}),
            "events",
        ),
    ] {
        let (status, answer) = app.post(ADMIN_KEY, "/api/v1/webhooks", body).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            "{answer}"
        );
        assert!(answer.to_string().contains(field), "{answer}");
    }
    let (status, list) = app.get(ADMIN_KEY, "/api/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["webhooks"], json!([]), "nothing was made");
    let (status, body) = app
        .get(ADMIN_KEY, "/api/v1/webhooks/wh_none/deliveries")
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}
