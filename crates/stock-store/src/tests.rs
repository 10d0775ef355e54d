//! The store on a real SQLite file: batches, savepoints and idempotency claims.

use std::sync::Arc;

use stock_core::{Item, ItemId, ItemStatus, LocationId, Operation, StockError};

use crate::*;

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("t.db")))
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), 9);
    assert_eq!(store.migrate().await.unwrap(), 0, "migrations run once");
    (dir, store)
}

fn id(raw: &str) -> ItemId {
    ItemId::parse(raw).unwrap()
}

fn job(command: Command) -> WriteJob {
    WriteJob {
        command,
        meta: WriteMeta {
            operator: "test".into(),
            trace_id: None,
            idempotency: None,
        },
    }
}

fn create(raw: &str, stock: i64) -> WriteJob {
    let item = Item {
        id: id(raw),
        name: raw.into(),
        status: ItemStatus::Active,
        min_stock: None,
        max_stock: None,
        allow_backorder: false,
    };
    job(Command::CreateItem {
        item,
        location: LocationId::default_location(),
        opening_stock: stock,
    })
}

fn deduct(raw: &str, quantity: i64) -> WriteJob {
    job(Command::SyncStock {
        item: id(raw),
        location: LocationId::default_location(),
        delta: -quantity,
        order_id: None,
        reason: None,
        trace_id: None,
    })
}

fn claimed(mut job: WriteJob, key: &str, hash: &str) -> WriteJob {
    job.meta.idempotency = Some(IdempotencyClaim {
        key_id: "key_test".into(),
        idempotency_key: key.into(),
        request_hash: hash.into(),
        render: Arc::new(|result| match result {
            Ok(_) => (200, b"applied".to_vec()),
            Err(_) => (409, b"refused".to_vec()),
        }),
    });
    job
}

fn is_ok(reply: &Reply) -> bool {
    matches!(reply, Reply::Fresh(Ok(_)))
}

#[tokio::test]
async fn a_refused_write_in_a_batch_leaves_its_neighbours_applied() {
    let (_dir, store) = open().await;
    let replies = store.execute(vec![create("a", 5)]).await;
    assert!(is_ok(&replies[0]));
    let replies = store
        .execute(vec![
            deduct("a", 2),
            deduct("a", 4),
            deduct("a", 3),
            deduct("ghost", 1),
        ])
        .await;
    assert!(is_ok(&replies[0]));
    assert!(matches!(
        &replies[1],
        Reply::Fresh(Err(WriteError::Stock(StockError::InsufficientStock { .. })))
    ));
    assert!(
        is_ok(&replies[2]),
        "the third sees the first's result: 5 - 2 - 3 = 0"
    );
    assert!(matches!(
        &replies[3],
        Reply::Fresh(Err(WriteError::NotFound { .. }))
    ));
    let view = store.item(&id("a")).await.unwrap().unwrap();
    assert_eq!(view.on_hand(), 0);
    assert_eq!(view.version(), 3);
    let ledger = store
        .ledger(
            &LedgerFilter::default(),
            Page {
                number: 1,
                size: 10,
            },
        )
        .await
        .unwrap();
    let operations: Vec<Operation> = ledger.rows.iter().map(|e| e.operation).collect();
    assert_eq!(
        operations,
        [Operation::Deduct, Operation::Deduct, Operation::Init]
    );
    assert!(store.verify().await.unwrap().mismatches.is_empty());
}

#[tokio::test]
async fn one_idempotency_key_twice_in_a_batch_applies_once() {
    let (_dir, store) = open().await;
    store.execute(vec![create("b", 5)]).await;
    let replies = store
        .execute(vec![
            claimed(deduct("b", 1), "k", "h1"),
            claimed(deduct("b", 1), "k", "h1"),
            claimed(deduct("b", 2), "k", "h2"),
        ])
        .await;
    assert!(is_ok(&replies[0]));
    match &replies[1] {
        Reply::Replayed {
            stored,
            same_request,
        } => {
            assert!(same_request);
            assert_eq!(
                (stored.status, stored.body.as_slice()),
                (200, b"applied".as_slice())
            );
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    assert!(matches!(
        &replies[2],
        Reply::Replayed {
            same_request: false,
            ..
        }
    ));
    assert_eq!(store.item(&id("b")).await.unwrap().unwrap().on_hand(), 4);
    let kept = store
        .idempotent_response("key_test", "k")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.request_hash, "h1");
}

#[tokio::test]
async fn a_refusal_is_kept_for_its_key() {
    let (_dir, store) = open().await;
    store.execute(vec![create("c", 1)]).await;
    let replies = store.execute(vec![claimed(deduct("c", 5), "r", "h")]).await;
    assert!(matches!(&replies[0], Reply::Fresh(Err(_))));
    let kept = store
        .idempotent_response("key_test", "r")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kept.status, kept.body.as_slice()),
        (409, b"refused".as_slice())
    );
    assert_eq!(store.purge_retry_keys(now_ms() + 1).await.unwrap(), 1);
    assert!(store
        .idempotent_response("key_test", "r")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_panicking_renderer_fails_its_write_only() {
    let (_dir, store) = open().await;
    store.execute(vec![create("d", 5)]).await;
    let mut bad = deduct("d", 1);
    bad.meta.idempotency = Some(IdempotencyClaim {
        key_id: "key_test".into(),
        idempotency_key: "p".into(),
        request_hash: "h".into(),
        render: Arc::new(|_| panic!("a renderer bug")),
    });
    let replies = store.execute(vec![bad, deduct("d", 2)]).await;
    assert!(matches!(
        &replies[0],
        Reply::Fresh(Err(WriteError::Internal(_)))
    ));
    assert!(is_ok(&replies[1]));
    assert_eq!(
        store.item(&id("d")).await.unwrap().unwrap().on_hand(),
        3,
        "only the second write applied"
    );
    assert!(store.verify().await.unwrap().mismatches.is_empty());
}

#[tokio::test]
async fn durability_is_wal_and_full_by_default() {
    let (_dir, store) = open().await;
    let durability = store.durability().await.unwrap();
    assert_eq!(
        durability,
        Durability {
            journal_mode: "wal".into(),
            synchronous: "full".into()
        }
    );
}

#[tokio::test(flavor = "current_thread")]
async fn events_follow_changes_and_are_purged_oldest_first() {
    let (_dir, store) = open().await;
    for reply in store
        .execute(vec![create("e", 5), deduct("e", 2), deduct("e", 9)])
        .await
    {
        let _ = reply;
    }
    let events = store.events(0, &[], 100).await.unwrap();
    let stock: Vec<i64> = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::Stock(entry) => Some(entry.on_hand_delta),
            _ => None,
        })
        .collect();
    assert_eq!(stock, vec![5, -2], "the refused sale left no event");
    assert_eq!(
        store.last_event_id().await.unwrap(),
        events.last().unwrap().id
    );
    let later = store.events(events[0].id, &[], 100).await.unwrap();
    assert_eq!(later.len(), events.len() - 1);
    assert_eq!(
        store
            .events(0, &[EventKind::Alert], 100)
            .await
            .unwrap()
            .len(),
        0
    );

    let hook = store
        .create_webhook("wh_1", "http://127.0.0.1:9/h", "0123456789abcdef", &[], 0)
        .await
        .unwrap();
    assert_eq!(
        store.lease_webhooks("me", now_ms() + 60_000).await.unwrap(),
        vec![hook]
    );
    assert!(
        store
            .lease_webhooks("other", now_ms() + 60_000)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let attempt = Delivery {
        id: 0,
        webhook_id: "wh_1".into(),
        event_id: events[0].id,
        attempt: 1,
        outcome: DeliveryOutcome::Delivered,
        status_code: Some(200),
        error: None,
        duration_ms: 1,
        created_at_ms: now_ms(),
    };
    assert!(store.record_delivery("me", &attempt, 0).await.unwrap());
    assert!(
        !store.record_delivery("other", &attempt, 0).await.unwrap(),
        "not its lease"
    );
    assert!(
        !store.record_delivery("me", &attempt, 0).await.unwrap(),
        "already past it"
    );
    let page = Page {
        number: 1,
        size: 10,
    };
    assert_eq!(store.deliveries("wh_1", page).await.unwrap().total, 1);

    assert_eq!(store.purge_events(0).await.unwrap(), 0, "nothing that old");
    let purged = store.purge_events(now_ms() + 1).await.unwrap();
    assert_eq!(
        purged as usize,
        events.len() + 1,
        "the events and the delivery"
    );
    assert_eq!(store.deliveries("wh_1", page).await.unwrap().total, 0);
    assert!(store.events(0, &[], 100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_expires_holds_judges_alerts_from_before_the_expiry() {
    let (_dir, store) = open().await;
    let hold = job(Command::CreateHold {
        id: "h1".into(),
        order_id: "o1".into(),
        lines: vec![HoldLineRequest {
            item: id("x"),
            location: None,
            quantity: 5,
        }],
        ttl_ms: 1,
    });
    // Apart: an item created in a batch raises no alert in it.
    for batch in [vec![create("x", 5)], vec![hold]] {
        for reply in store.execute(batch).await {
            assert!(matches!(reply, Reply::Fresh(Ok(_))), "{reply:?}");
        }
    }
    // Wait for the clock, not for another task: the hold is due 1 ms on.
    while store.due_holds(now_ms(), 10).await.unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let replies = store.execute(vec![deduct("x", 1)]).await;
    assert!(matches!(replies[0], Reply::Fresh(Ok(_))), "{replies:?}");
    assert_eq!(store.runs_undone(), 0, "the sale ran as a run");
    let page = Page {
        number: 1,
        size: 10,
    };
    let alerts = store
        .alerts(&AlertFilter::default(), page)
        .await
        .unwrap()
        .rows;
    let kinds: Vec<(AlertKind, i64)> = alerts.iter().rev().map(|a| (a.kind, a.available)).collect();
    // Held to zero, then given back by the expiry and sold down to 4 in one
    // batch: back in stock, judged from the 0 before the batch.
    assert_eq!(
        kinds,
        vec![(AlertKind::OutOfStock, 0), (AlertKind::BackInStock, 4)]
    );
}
