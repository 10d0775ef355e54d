//! Crash safety: `stockd serve` killed with SIGKILL in the middle of load.
//!
//! Every cycle starts the server on the same database, has many callers send
//! a mix of two-item decreases, orders then their payment, and holds then
//! their commit, and kills the server once a varying number of them have
//! been answered. Afterwards every answered decrease is in the ledger
//! exactly once, every unanswered one is there whole or not at all, every
//! answered order and hold is there in the state its last answer gave or
//! later, the stock adds up, and `stockd verify` passes.
//! `STOCKD_CRASH_CYCLES` sets the number of cycles (20 by default).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Notify;

use crate::helpers::{spawn_with, Spawn, TestApp, ADMIN_KEY};

const CALLERS: usize = 32;
const OPENING_STOCK: i64 = 1_000_000;

/// What the callers learnt: order ids answered 2xx, and those sent but never answered.
#[derive(Default)]
struct Outcomes {
    /// Decreases.
    answered: HashSet<String>,
    unanswered: HashSet<String>,
    /// Orders made, and those of them paid.
    ordered: HashSet<String>,
    paid: HashSet<String>,
    /// Holds made, and those of them committed.
    held: HashSet<String>,
    committed: HashSet<String>,
}

/// What one caller's step sends: a decrease, an order and its payment, or
/// a hold and its commit.
#[derive(Clone, Copy)]
enum Step {
    Decrease,
    OrderAndPay,
    HoldAndCommit,
}

async fn load_until_killed(
    app: TestApp,
    cycle: usize,
    kill_after: usize,
    outcomes: &Arc<Mutex<Outcomes>>,
) -> crate::helpers::Workspace {
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let client = app.client.clone();
    let base = app.url("");
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let (client, base, outcomes) = (client.clone(), base.clone(), Arc::clone(outcomes));
        let (acknowledged, enough) = (Arc::clone(&acknowledged), Arc::clone(&enough));
        callers.spawn(async move {
            let post = |path: String, body: serde_json::Value| {
                client
                    .post(format!("{base}{path}"))
                    .bearer_auth(ADMIN_KEY)
                    .json(&body)
                    .send()
            };
            let answered = || {
                if acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                    enough.notify_one();
                }
            };
            for n in 0.. {
                let step = [Step::Decrease, Step::OrderAndPay, Step::HoldAndCommit][(n + caller) % 3];
                let order = format!("c{cycle}-{caller}-{n}");
                match step {
                    Step::Decrease => {
                        let body = json!({
                            "items": [{"product_id": "left", "quantity": 1}, {"product_id": "right", "quantity": 2}],
                            "order_id": order,
                        });
                        match post("/api/v1/inventory/decrease".into(), body).await {
                            Ok(response) if response.status() == StatusCode::OK => {
                                outcomes.lock().unwrap().answered.insert(order);
                                answered();
                            }
                            Ok(response) => {
                                panic!("a decrease was refused: {}", response.status())
                            }
                            Err(_) => {
                                // The server died with this request in flight.
                                outcomes.lock().unwrap().unanswered.insert(order);
                                return;
                            }
                        }
                    }
                    Step::OrderAndPay => {
                        let order = format!("{order}-o");
                        let body = json!({
                            "order_id": order,
                            "items": [{"product_id": "left", "quantity": 1}],
                        });
                        match post("/api/v1/orders".into(), body).await {
                            Ok(response) if response.status() == StatusCode::CREATED => {
                                outcomes.lock().unwrap().ordered.insert(order.clone());
                                answered();
                            }
                            Ok(response) => panic!("an order was refused: {}", response.status()),
                            Err(_) => return,
                        }
                        match post(format!("/api/v1/orders/{order}/pay"), json!({})).await {
                            Ok(response) if response.status() == StatusCode::OK => {
                                outcomes.lock().unwrap().paid.insert(order);
                                answered();
                            }
                            Ok(response) => panic!("a payment was refused: {}", response.status()),
                            Err(_) => return,
                        }
                    }
                    Step::HoldAndCommit => {
                        let body = json!({
                            "order_id": format!("{order}-h"),
                            "items": [{"product_id": "right", "quantity": 1}],
                        });
                        let id = match post("/api/v1/reservations".into(), body).await {
                            Ok(response) if response.status() == StatusCode::CREATED => {
                                let hold: serde_json::Value = match response.json().await {
                                    Ok(hold) => hold,
                                    Err(_) => return,
                                };
                                let id = hold["reservation_id"].as_str().unwrap().to_owned();
                                outcomes.lock().unwrap().held.insert(id.clone());
                                answered();
                                id
                            }
                            Ok(response) => panic!("a hold was refused: {}", response.status()),
                            Err(_) => return,
                        };
                        let path = format!("/api/v1/reservations/{id}/commit");
                        match post(path, json!({})).await {
                            Ok(response) if response.status() == StatusCode::OK => {
                                outcomes.lock().unwrap().committed.insert(id);
                                answered();
                            }
                            Ok(response) => panic!("a commit was refused: {}", response.status()),
                            Err(_) => return,
                        }
                    }
                }
            }
        });
    }
    enough.notified().await;
    let dir = app.stop();
    while let Some(joined) = callers.join_next().await {
        joined.expect("a caller panicked");
    }
    dir
}

#[tokio::test]
async fn a_killed_server_loses_no_answered_write_and_half_applies_none() {
    let cycles: usize = std::env::var("STOCKD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut dir = None;
    for cycle in 0..cycles {
        let app = spawn_with(Spawn {
            dir: dir.take(),
            ..Spawn::default()
        })
        .await;
        if cycle == 0 {
            app.create_item("left", OPENING_STOCK).await;
            app.create_item("right", OPENING_STOCK).await;
        }
        // Kill at a different point in every cycle.
        let kill_after = 5 + (cycle * 37) % 90;
        dir = Some(load_until_killed(app, cycle, kill_after, &outcomes).await);
    }

    let app = spawn_with(Spawn {
        dir: dir.take(),
        ..Spawn::default()
    })
    .await;
    // Decreases: every answered one exactly once, every other whole or not at all.
    let rows = app
        .fetch_pairs(
            "SELECT order_id, COUNT(*) FROM ledger WHERE order_id IS NOT NULL
             AND reservation_id IS NULL GROUP BY order_id",
        )
        .await;
    let applied: HashMap<String, i64> = rows.into_iter().collect();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    for order in &outcomes.answered {
        assert_eq!(
            applied.get(order),
            Some(&2),
            "answered decrease {order} is not in the ledger exactly once"
        );
    }
    for order in &outcomes.unanswered {
        let rows = applied.get(order).copied().unwrap_or(0);
        assert!(
            rows == 0 || rows == 2,
            "unanswered decrease {order} was half applied ({rows} rows)"
        );
    }
    for order in applied.keys() {
        assert!(
            outcomes.answered.contains(order) || outcomes.unanswered.contains(order),
            "{order} was applied but never sent"
        );
    }
    // Orders and holds: each answered one is there, in the state its last
    // answer gave.
    let orders: HashMap<String, String> = app
        .fetch_rows::<(String, String)>("SELECT id, status FROM orders")
        .await
        .into_iter()
        .collect();
    for order in &outcomes.ordered {
        let wanted = if outcomes.paid.contains(order) {
            &["paid"][..]
        } else {
            &["pending", "paid"][..]
        };
        let status = orders.get(order).map(String::as_str);
        assert!(
            status.is_some_and(|status| wanted.contains(&status)),
            "answered order {order} is {status:?}"
        );
    }
    let holds: HashMap<String, String> = app
        .fetch_rows::<(String, String)>("SELECT id, status FROM holds WHERE order_id LIKE '%-h'")
        .await
        .into_iter()
        .collect();
    for hold in &outcomes.held {
        let wanted = if outcomes.committed.contains(hold) {
            &["committed"][..]
        } else {
            &["active", "committed"][..]
        };
        let status = holds.get(hold).map(String::as_str);
        assert!(
            status.is_some_and(|status| wanted.contains(&status)),
            "answered hold {hold} is {status:?}"
        );
    }
    let unanswered_applied = outcomes
        .unanswered
        .iter()
        .filter(|o| applied.contains_key(*o))
        .count();
    eprintln!(
        "{cycles} kills: {} decreases answered, {} in flight at a kill ({} of those applied); {} orders ({} paid), {} holds ({} committed)",
        outcomes.answered.len(),
        outcomes.unanswered.len(),
        unanswered_applied,
        outcomes.ordered.len(),
        outcomes.paid.len(),
        outcomes.held.len(),
        outcomes.committed.len(),
    );
    // Stock adds up: every order takes one of the left item (held or sold),
    // every hold one of the right.
    let decreases = applied.len() as i64;
    assert!(decreases >= outcomes.answered.len() as i64);
    assert_eq!(
        app.available("left").await,
        OPENING_STOCK - decreases - orders.len() as i64
    );
    assert_eq!(
        app.available("right").await,
        OPENING_STOCK - 2 * decreases - holds.len() as i64
    );
    assert!(
        outcomes.answered.len() + outcomes.ordered.len() + outcomes.held.len() >= cycles * 5,
        "every cycle ran under load"
    );
    // No event lost and none for a change that was rolled back: the outbox
    // holds one stock event for every ledger row.
    let counts = app
        .fetch_pairs(
            "SELECT 'ledger', COUNT(*) FROM ledger
             UNION ALL SELECT 'events', COUNT(*) FROM events WHERE kind = 'stock'",
        )
        .await;
    assert_eq!(counts[0].1, counts[1].1, "{counts:?}");
    app.assert_verified();
}
