//! Never oversell: seed 004's three scenarios and more, over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, ADMIN_KEY};
use crate::holds::hold_body;
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

#[tokio::test]
async fn two_hundred_checkouts_for_fifty_hold_exactly_fifty() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("hot", 50).await;
    let checkouts = (0..200).map(|n| {
        app.post(
            &service,
            "/api/v1/reservations",
            hold_body(&format!("c{n}"), &[("hot", 1)]),
        )
    });
    let answers = futures_join_all(checkouts).await;
    let held = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::CONFLICT && body["error"]["code"] == "INSUFFICIENT_STOCK"
        })
        .count();
    assert_eq!((held, refused), (50, 150));
    assert_eq!(app.available("hot").await, 0);
    app.assert_verified();
}

#[tokio::test]
async fn commit_and_release_racing_on_one_hold_one_wins() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("duel", 1000).await;
    let mut commits = 0;
    for round in 0..20 {
        let (_, hold) = app
            .post(
                &service,
                "/api/v1/reservations",
                hold_body(&format!("d{round}"), &[("duel", 5)]),
            )
            .await;
        let id = hold["reservation_id"].as_str().unwrap().to_owned();
        let (commit_path, release_path) = (
            format!("/api/v1/reservations/{id}/commit"),
            format!("/api/v1/reservations/{id}/release"),
        );
        let (commit, release) = tokio::join!(
            app.post(&service, &commit_path, json!({})),
            app.post(&service, &release_path, json!({})),
        );
        match (commit.0, release.0) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(release.1["error"]["code"], "RESERVATION_COMMITTED");
                commits += 1;
            }
            (StatusCode::CONFLICT, StatusCode::OK) => {
                assert_eq!(commit.1["error"]["code"], "RESERVATION_RELEASED")
            }
            other => panic!("round {round}: both or neither won: {other:?} {commit:?} {release:?}"),
        }
    }
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/duel").await;
    assert_eq!(item["on_hand"], 1000 - 5 * commits);
    assert_eq!(item["reserved"], 0);
    app.assert_verified();
}

#[tokio::test]
async fn expiry_racing_with_commit_one_wins() {
    let app = crate::helpers::spawn_with(crate::helpers::Spawn::with_env(
        "STOCKD_HOLDS__EXPIRY_INTERVAL_MS",
        "10",
    ))
    .await;
    let service = app.key("service");
    app.create_item("race", 1000).await;
    let mut holds = Vec::new();
    for n in 0..12 {
        let mut body = hold_body(&format!("x{n}"), &[("race", 1)]);
        body["ttl_seconds"] = json!(1);
        let (status, hold) = app.post(&service, "/api/v1/reservations", body).await;
        assert_eq!(status, StatusCode::CREATED);
        holds.push(hold);
    }
    // Each commit is aimed at a moment around its hold's expiry, from 60 ms
    // before to 50 ms after; which side wins is the clock's business, that
    // exactly one does is ours.
    let attempts = holds.iter().enumerate().map(|(n, hold)| {
        let id = hold["reservation_id"].as_str().unwrap().to_owned();
        let aim = crate::holds::expires_at_of(hold) - 60 + 10 * n as i64;
        let app = &app;
        let service = &service;
        async move {
            crate::holds::wait_past(aim).await;
            let answer = app
                .post(
                    service,
                    &format!("/api/v1/reservations/{id}/commit"),
                    json!({}),
                )
                .await;
            (id, answer)
        }
    });
    let answers = futures_join_all(attempts).await;
    let mut committed = 0;
    for (id, (status, body)) in &answers {
        let expected = match *status {
            StatusCode::OK => {
                committed += 1;
                "committed"
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "RESERVATION_EXPIRED", "{body}");
                "expired"
            }
            other => panic!("{other}: {body}"),
        };
        crate::holds::eventually(
            std::time::Duration::from_secs(10),
            "the hold settling",
            || async {
                let (_, hold) = app
                    .get(&service, &format!("/api/v1/reservations/{id}"))
                    .await;
                hold["status"] == expected
            },
        )
        .await;
        let finish = if expected == "committed" {
            "commit"
        } else {
            "release"
        };
        crate::holds::eventually(
            std::time::Duration::from_secs(10),
            "the finishing ledger row",
            || async {
                let (_, logs) = app
                    .get(ADMIN_KEY, "/api/v1/logs?product_id=race&page_size=100")
                    .await;
                logs["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["reservation_id"] == id.as_str() && e["operation"] == finish)
            },
        )
        .await;
        let (_, logs) = app
            .get(ADMIN_KEY, "/api/v1/logs?product_id=race&page_size=100")
            .await;
        let mine: Vec<&str> = logs["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reservation_id"] == id.as_str())
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert!(
            !(mine.contains(&"commit") && mine.contains(&"release")),
            "hold {id} was both committed and released"
        );
    }
    eprintln!("expiry race: {committed} of {} commits won", answers.len());
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/race").await;
    assert_eq!(item["on_hand"], 1000 - committed);
    assert_eq!(item["reserved"], 0);
    app.assert_verified();
}

#[tokio::test]
async fn a_two_item_hold_racing_single_item_buyers_is_never_half_held() {
    let app = spawn_app().await;
    let service = app.key("service");
    app.create_item("left", 10).await;
    app.create_item("right", 10).await;
    let mut requests = Vec::new();
    for n in 0..15 {
        requests.push((
            "pair",
            hold_body(&format!("pair{n}"), &[("left", 1), ("right", 1)]),
        ));
        requests.push(("left", hold_body(&format!("left{n}"), &[("left", 1)])));
        requests.push(("right", hold_body(&format!("right{n}"), &[("right", 1)])));
    }
    let (app_ref, service_ref) = (&app, &service);
    let answers = futures_join_all(requests.iter().map(|(kind, body)| async move {
        (
            *kind,
            app_ref
                .post(service_ref, "/api/v1/reservations", body.clone())
                .await,
        )
    }))
    .await;
    let mut held = std::collections::HashMap::new();
    for (kind, (status, body)) in &answers {
        match *status {
            StatusCode::CREATED => {
                let lines = body["items"].as_array().unwrap().len();
                assert_eq!(
                    lines,
                    if *kind == "pair" { 2 } else { 1 },
                    "a hold holds all its lines: {body}"
                );
                *held.entry(*kind).or_insert(0) += 1;
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "INSUFFICIENT_STOCK"),
            other => panic!("{other}: {body}"),
        }
    }
    let pairs = held.get("pair").copied().unwrap_or(0);
    let lefts = held.get("left").copied().unwrap_or(0);
    let rights = held.get("right").copied().unwrap_or(0);
    let (_, left) = app.get(ADMIN_KEY, "/api/v1/inventory/left").await;
    let (_, right) = app.get(ADMIN_KEY, "/api/v1/inventory/right").await;
    assert_eq!(left["reserved"], pairs + lefts);
    assert_eq!(right["reserved"], pairs + rights);
    assert_eq!(
        (left["available"].as_i64(), right["available"].as_i64()),
        (Some(0), Some(0)),
        "all 10 of each were sold"
    );
    app.assert_verified();
}

#[tokio::test]
async fn three_replicas_on_one_database_never_oversell() {
    let first = spawn_app().await;
    first.create_item("shared", 100).await;
    first.create_item("pair-a", 60).await;
    first.create_item("pair-b", 60).await;
    first.create_item("held", 50).await;
    let replica = || {
        crate::helpers::spawn_with(crate::helpers::Spawn {
            shared_database: Some(first.database_url.clone()),
            ..crate::helpers::Spawn::default()
        })
    };
    let (second, third) = tokio::join!(replica(), replica());
    let replicas = [&first, &second, &third];
    let service = first.key("service");

    // Single-item buyers, two-item buyers taking their items in opposite
    // orders (so replicas lock them in opposite orders), and checkouts.
    let mut requests = Vec::new();
    for n in 0..300usize {
        let body = json!({"items": [{"product_id": "shared", "quantity": 1}], "order_id": format!("s{n}")});
        requests.push(("shared", "/api/v1/inventory/decrease", body));
    }
    for n in 0..90usize {
        let (first_item, second_item) = if n % 2 == 0 {
            ("pair-a", "pair-b")
        } else {
            ("pair-b", "pair-a")
        };
        let body = json!({
            "items": [{"product_id": first_item, "quantity": 1}, {"product_id": second_item, "quantity": 1}],
            "order_id": format!("p{n}"),
        });
        requests.push(("pair", "/api/v1/inventory/decrease", body));
    }
    for n in 0..150usize {
        requests.push((
            "held",
            "/api/v1/reservations",
            hold_body(&format!("h{n}"), &[("held", 1)]),
        ));
    }
    let service = &service;
    let answers = futures_join_all(requests.iter().enumerate().map(
        |(n, (kind, path, body))| async move {
            let replica = replicas[n % replicas.len()];
            (*kind, replica.post(service, path, body.clone()).await)
        },
    ))
    .await;
    let mut won = std::collections::HashMap::new();
    for (kind, (status, body)) in &answers {
        match *status {
            StatusCode::OK | StatusCode::CREATED => *won.entry(*kind).or_insert(0) += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "INSUFFICIENT_STOCK", "{body}")
            }
            other => {
                for replica in replicas {
                    let log = std::fs::read_to_string(replica.log_path()).unwrap_or_default();
                    for line in log
                        .lines()
                        .filter(|l| l.contains("ERROR") || l.contains("\"level\":\"ERROR\""))
                        .take(5)
                    {
                        eprintln!("{line}");
                    }
                }
                panic!("{kind}: {other}: {body}")
            }
        }
    }
    assert_eq!(won.get("shared"), Some(&100));
    assert_eq!(won.get("pair"), Some(&60));
    assert_eq!(won.get("held"), Some(&50));
    for (item, expected) in [("shared", 0), ("pair-a", 0), ("pair-b", 0), ("held", 0)] {
        assert_eq!(second.available(item).await, expected, "{item}");
    }
    let (_, logs) = third
        .get(ADMIN_KEY, "/api/v1/logs?product_id=shared&operation=deduct")
        .await;
    assert_eq!(logs["total"], 100);
    first.assert_verified();

    // The replicas wrote side by side, and yet each row's changes reach the
    // outbox in the order they were made: read in the outbox's order (by
    // transaction, then id, on PostgreSQL), each level's versions go up
    // one at a time, and each hold's first event is its making.
    let order = match crate::helpers::backend() {
        crate::helpers::Backend::Postgres => "tx, id",
        crate::helpers::Backend::Sqlite => "id",
    };
    let out_of_order = first
        .fetch_pairs(&format!(
            "SELECT item_id, version_after FROM (
                SELECT item_id, version_after,
                    LAG(version_after) OVER (PARTITION BY item_id, location_id ORDER BY {order})
                        AS previous
                FROM ledger) s
             WHERE previous IS NOT NULL AND version_after <> previous + 1"
        ))
        .await;
    assert_eq!(out_of_order, []);
    let holds_out_of_order = first
        .fetch_pairs(&format!(
            "SELECT subject, n FROM (
                SELECT subject, status, ROW_NUMBER() OVER (PARTITION BY subject ORDER BY {order}) AS n
                FROM events WHERE kind = 'reservation') s
             WHERE n = 1 AND status <> 'active'"
        ))
        .await;
    assert_eq!(holds_out_of_order, []);
    let hold_events = first
        .fetch_pairs("SELECT kind, COUNT(*) FROM events WHERE kind = 'reservation' GROUP BY kind")
        .await;
    assert_eq!(hold_events, [("reservation".to_owned(), 50)]);
}

/// A transaction outside stockd (a script, an open `psql`).
enum Outside {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Outside {
    /// Holds the level of `item` locked (PostgreSQL) or a snapshot of it
    /// (SQLite, which has no row locks), until `end`.
    async fn hold(database_url: &str, item: &str) -> Outside {
        use sqlx::Connection;
        match crate::helpers::backend() {
            crate::helpers::Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                let locked = sqlx::query("SELECT * FROM levels WHERE item_id = $1 FOR UPDATE")
                    .bind(item)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(locked.len(), 1);
                Outside::Postgres(conn)
            }
            crate::helpers::Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT * FROM levels WHERE item_id = $1")
                    .bind(item)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                Outside::Sqlite(conn)
            }
        }
    }

    async fn end(self) {
        match self {
            Outside::Postgres(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            }
            Outside::Sqlite(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// The retries `/metrics` counts of writes that met a row held elsewhere.
async fn busy_retries(app: &crate::helpers::TestApp) -> u64 {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("stockd_write_busy_retries_total "))
        .unwrap_or_else(|| panic!("no busy retries in {metrics}"))
        .parse()
        .unwrap()
}

/// A transaction outside stockd holds one item's level row locked. Sales
/// of another item, through the other replica and through the same one,
/// answer while it does; the sales of the locked item wait, through either
/// replica, and answer once it ends. On SQLite, without row locks, an
/// outside reader's snapshot stalls no sale at all.
#[tokio::test]
async fn a_row_locked_outside_stockd_stalls_only_its_own_sales() {
    use crate::helpers::{backend, spawn_with, Backend, Spawn};
    // Longer than the test: a sale of the locked item never gives up.
    const BUSY_WAIT: (&str, &str) = ("STOCKD_ENGINE__BUSY_WAIT_MS", "600000");
    let first = spawn_with(Spawn::with_vars(&[BUSY_WAIT])).await;
    first.create_item("locked", 10).await;
    first.create_item("free", 10).await;
    let second = spawn_with(Spawn {
        shared_database: Some(first.database_url.clone()),
        ..Spawn::with_vars(&[BUSY_WAIT])
    })
    .await;
    let service = first.key("service");
    let sale = |item: &str, n: usize| json!({"items": [{"product_id": item, "quantity": 1}], "order_id": format!("{item}-{n}")});
    let bound = std::time::Duration::from_secs(60);

    let outside = Outside::hold(&first.database_url, "locked").await;
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let locked_sales = async {
        let sales = tokio::join!(
            first.post(&service, "/api/v1/inventory/decrease", sale("locked", 1)),
            second.post(&service, "/api/v1/inventory/decrease", sale("locked", 2)),
        );
        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        sales
    };
    let meanwhile = async {
        if backend() == Backend::Postgres {
            // Until both replicas' sales of the locked item have met the lock.
            tokio::time::timeout(bound, async {
                while busy_retries(&first).await == 0 || busy_retries(&second).await == 0 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("both sales of the locked item reach the lock");
        }
        for (n, replica) in [&first, &second, &first, &second].into_iter().enumerate() {
            let (status, body) = tokio::time::timeout(
                bound,
                replica.post(&service, "/api/v1/inventory/decrease", sale("free", n)),
            )
            .await
            .expect("a sale of another item is not held up by the lock");
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        if backend() == Backend::Postgres {
            assert_eq!(
                answered.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "the sales of the locked item wait while it is locked"
            );
        }
        outside.end().await;
    };
    let (locked, ()) = tokio::time::timeout(bound, async { tokio::join!(locked_sales, meanwhile) })
        .await
        .expect("the sales of the locked item answer once the lock goes");
    for (status, body) in [locked.0, locked.1] {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(second.available("locked").await, 8);
    assert_eq!(first.available("free").await, 6);
    first.assert_verified();
}

/// A write whose row stays locked longer than `engine.busy_wait_ms` answers
/// 503 `ROW_BUSY` and changes nothing (PostgreSQL; SQLite has no row locks,
/// and the sale goes through).
#[tokio::test]
async fn a_write_on_a_row_locked_too_long_answers_row_busy() {
    use crate::helpers::{backend, code, spawn_with, Backend, Spawn};
    let app = spawn_with(Spawn::with_vars(&[("STOCKD_ENGINE__BUSY_WAIT_MS", "200")])).await;
    app.create_item("locked", 10).await;
    let service = app.key("service");
    let outside = Outside::hold(&app.database_url, "locked").await;
    let sale = json!({"items": [{"product_id": "locked", "quantity": 1}], "order_id": "long"});
    let (status, body) = app.post(&service, "/api/v1/inventory/decrease", sale).await;
    outside.end().await;
    match backend() {
        Backend::Postgres => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(code(&body), "ROW_BUSY", "{body}");
            assert!(busy_retries(&app).await > 0);
            assert_eq!(app.available("locked").await, 10, "nothing changed");
        }
        Backend::Sqlite => {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(app.available("locked").await, 9);
        }
    }
    app.assert_verified();
}
