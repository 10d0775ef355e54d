//! The store on a real SQLite file: batches, savepoints and idempotency claims;
//! and supplier links and syncs on either backend (PostgreSQL with
//! `STOCKD_TEST_DATABASE=postgres`, each test on a database of its own).

use std::sync::Arc;

use stock_core::{Item, ItemId, ItemStatus, Level, LocationId, Operation, StockError};

use crate::*;

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("t.db")))
        .await
        .unwrap();
    assert_eq!(store.migrate().await.unwrap(), SQLITE_MIGRATIONS.len());
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
    let replies = store.execute(&[create("a", 5)]).await;
    assert!(is_ok(&replies[0]));
    let replies = store
        .execute(&[
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
    store.execute(&[create("b", 5)]).await;
    let replies = store
        .execute(&[
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
    store.execute(&[create("c", 1)]).await;
    let replies = store.execute(&[claimed(deduct("c", 5), "r", "h")]).await;
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
    store.execute(&[create("d", 5)]).await;
    let mut bad = deduct("d", 1);
    bad.meta.idempotency = Some(IdempotencyClaim {
        key_id: "key_test".into(),
        idempotency_key: "p".into(),
        request_hash: "h".into(),
        render: Arc::new(|_| panic!("a renderer bug")),
    });
    let replies = store.execute(&[bad, deduct("d", 2)]).await;
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
        .execute(&[create("e", 5), deduct("e", 2), deduct("e", 9)])
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
        for reply in store.execute(&batch).await {
            assert!(matches!(reply, Reply::Fresh(Ok(_))), "{reply:?}");
        }
    }
    // Wait for the clock, not for another task: the hold is due 1 ms on.
    while store.due_holds(now_ms(), 10).await.unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let replies = store.execute(&[deduct("x", 1)]).await;
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

// ---------------------------------------------------------------------------
// Supplier links and syncs, on either backend.

/// A migrated store on the backend `STOCKD_TEST_DATABASE` names.
async fn open_either() -> (tempfile::TempDir, crate::run_tests::Under) {
    use crate::run_tests::{on_postgres, postgres_admin, postgres_base, Under};
    let dir = tempfile::tempdir().unwrap();
    let under = if on_postgres() {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let database = format!(
            "stockd_store_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut admin = postgres_admin().await;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let options = PostgresOptions::new(format!("{}/{database}", postgres_base()));
        Under::Postgres(PostgresStore::open(&options).await.unwrap(), database)
    } else {
        let options = SqliteOptions::new(dir.path().join("t.db"));
        Under::Sqlite(SqliteStore::open(&options).await.unwrap())
    };
    let expected = if on_postgres() {
        POSTGRES_MIGRATIONS.len()
    } else {
        SQLITE_MIGRATIONS.len()
    };
    assert_eq!(under.store().migrate().await.unwrap(), expected);
    (dir, under)
}

fn item_with(raw: &str, min_stock: Option<i64>, allow_backorder: bool) -> Item {
    Item {
        id: id(raw),
        name: raw.into(),
        status: ItemStatus::Active,
        min_stock,
        max_stock: None,
        allow_backorder,
    }
}

fn create_item(item: Item, stock: i64) -> WriteJob {
    job(Command::CreateItem {
        item,
        location: LocationId::default_location(),
        opening_stock: stock,
    })
}

fn warehouse() -> LocationId {
    LocationId::parse("acme-wh").unwrap()
}

fn supplier_sync(raw: &str, stock: i64) -> WriteJob {
    job(Command::SyncSupplierStock {
        item: id(raw),
        location: warehouse(),
        location_name: "Acme warehouse".into(),
        location_priority: 5,
        stock,
        supplier: "acme".into(),
        county_code: "110000".into(),
    })
}

/// Runs one command in a batch of its own and returns what it did.
async fn run(store: &dyn Store, job: WriteJob) -> Result<Outcome, WriteError> {
    let mut replies = store.execute(&[job]).await;
    assert_eq!(replies.len(), 1);
    match replies.remove(0) {
        Reply::Fresh(result) => result,
        other => panic!("no idempotency key, no replay: {other:?}"),
    }
}

async fn applied(store: &dyn Store, job: WriteJob) -> Outcome {
    run(store, job).await.unwrap()
}

/// What a supplier sync answered: the level at the supplier's location, its
/// ledger row, the shortfall.
async fn synced(store: &dyn Store, raw: &str, stock: i64) -> (Level, Option<LedgerEntry>, i64) {
    match applied(store, supplier_sync(raw, stock)).await {
        Outcome::SupplierSynced {
            view,
            entry,
            shortfall,
        } => {
            let level = view.level_at(&warehouse()).map(|l| l.level);
            (level.unwrap_or_default(), entry, shortfall)
        }
        other => panic!("a supplier sync yields SupplierSynced, not {other:?}"),
    }
}

async fn ledger_rows(store: &dyn Store, raw: &str) -> Vec<LedgerEntry> {
    let filter = LedgerFilter {
        item: Some(id(raw)),
        ..LedgerFilter::default()
    };
    let page = Page {
        number: 1,
        size: 100,
    };
    store.ledger(&filter, page).await.unwrap().rows
}

async fn link(store: &dyn Store, raw: &str) -> SupplierLink {
    store.supplier_link(&id(raw)).await.unwrap().unwrap()
}

fn linked(put: PutSupplierLink) -> SupplierLink {
    match put {
        PutSupplierLink::Linked(link) => link,
        other => panic!("expected a link, got {other:?}"),
    }
}

fn items_of(links: &[SupplierLink]) -> Vec<&str> {
    links.iter().map(|link| link.item.as_str()).collect()
}

#[tokio::test]
async fn supplier_links_are_put_found_listed_and_deleted() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    for raw in ["a", "b", "c"] {
        applied(store, create(raw, 1)).await;
    }
    let before = now_ms();
    let a = linked(
        store
            .put_supplier_link(&id("a"), "acme", "P-1", false)
            .await
            .unwrap(),
    );
    assert_eq!(
        (
            a.item.as_str(),
            a.supplier.as_str(),
            a.product_code.as_str()
        ),
        ("a", "acme", "P-1")
    );
    assert!(!a.check_before_order);
    assert_eq!(
        (
            a.last_stock,
            a.last_county_code.as_deref(),
            a.last_synced_at_ms
        ),
        (None, None, None)
    );
    assert!(a.created_at_ms >= before && a.updated_at_ms == a.created_at_ms);
    assert_eq!(link(store, "a").await, a);
    assert_eq!(store.supplier_links("acme").await.unwrap(), vec![a.clone()]);
    assert_eq!(store.supplier_links("other").await.unwrap(), Vec::new());
    assert_eq!(
        store.supplier_link_counts().await.unwrap(),
        vec![("acme".to_owned(), 1)]
    );
    assert_eq!(store.supplier_link(&id("b")).await.unwrap(), None);

    assert_eq!(
        store
            .put_supplier_link(&id("b"), "acme", "P-1", true)
            .await
            .unwrap(),
        PutSupplierLink::CodeTaken { item: id("a") },
        "the code is a's"
    );
    assert_eq!(
        store.supplier_link(&id("b")).await.unwrap(),
        None,
        "nothing written"
    );
    linked(
        store
            .put_supplier_link(&id("b"), "acme", "P-2", true)
            .await
            .unwrap(),
    );
    linked(
        store
            .put_supplier_link(&id("c"), "other", "P-1", false)
            .await
            .unwrap(),
    );
    let again = linked(
        store
            .put_supplier_link(&id("a"), "acme", "P-1", true)
            .await
            .unwrap(),
    );
    assert!(again.check_before_order, "a link is changed in place");
    assert_eq!(again.created_at_ms, a.created_at_ms);

    assert_eq!(
        items_of(&store.supplier_links("acme").await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        items_of(&store.supplier_links("other").await.unwrap()),
        ["c"]
    );
    assert!(store.supplier_links("nobody").await.unwrap().is_empty());
    let wanted = [id("c"), id("ghost"), id("a"), id("c")];
    assert_eq!(
        items_of(&store.supplier_links_for(&wanted).await.unwrap()),
        ["a", "c"]
    );
    assert!(store.supplier_links_for(&[]).await.unwrap().is_empty());

    assert!(store.delete_supplier_link(&id("a")).await.unwrap());
    assert!(!store.delete_supplier_link(&id("a")).await.unwrap());
    assert_eq!(store.supplier_link(&id("a")).await.unwrap(), None);
    let moved = linked(
        store
            .put_supplier_link(&id("b"), "acme", "P-1", false)
            .await
            .unwrap(),
    );
    assert_eq!(
        moved.product_code, "P-1",
        "a's code is free once a's link is gone"
    );
    assert_eq!(
        items_of(&store.supplier_links("acme").await.unwrap()),
        ["b"]
    );
    under.drop_database().await;
}

#[tokio::test]
async fn a_supplier_sync_writes_its_figure_once() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    applied(store, create("s", 3)).await;
    linked(
        store
            .put_supplier_link(&id("s"), "acme", "P-1", false)
            .await
            .unwrap(),
    );
    let events_before = store.last_event_id().await.unwrap();

    let (level, entry, shortfall) = synced(store, "s", 20).await;
    assert_eq!((level.on_hand, level.reserved, shortfall), (20, 0, 0));
    let entry = entry.expect("the level moved");
    assert_eq!(entry.operation, Operation::Sync);
    assert_eq!(entry.location, warehouse());
    assert_eq!(
        (
            entry.on_hand_before,
            entry.on_hand_after,
            entry.on_hand_delta
        ),
        (0, 20, 20)
    );
    assert_eq!(
        entry.reason.as_deref(),
        Some("supplier acme: 20 for 110000")
    );
    let location = store
        .locations()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.id == warehouse())
        .expect("the sync made the supplier's location");
    assert_eq!(
        (location.name.as_str(), location.priority),
        ("Acme warehouse", 5)
    );
    let stock_events: Vec<LedgerEntry> = store
        .events(events_before, &[EventKind::Stock], 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|event| match event.body {
            EventBody::Stock(entry) => Some(entry),
            _ => None,
        })
        .collect();
    assert_eq!(
        stock_events,
        vec![entry.clone()],
        "one stock event, its ledger row"
    );
    let first = link(store, "s").await;
    assert_eq!(first.last_stock, Some(20));
    assert_eq!(first.last_county_code.as_deref(), Some("110000"));
    let synced_at = first.last_synced_at_ms.expect("the sync was recorded");
    assert!(synced_at >= entry.created_at_ms);

    let view = store.item(&id("s")).await.unwrap().unwrap();
    let (level, again, shortfall) = synced(store, "s", 20).await;
    assert_eq!((level.on_hand, again, shortfall), (20, None, 0));
    assert_eq!(ledger_rows(store, "s").await.len(), 2, "init and one sync");
    assert_eq!(
        store.item(&id("s")).await.unwrap().unwrap().version(),
        view.version(),
        "nothing written, no version moved"
    );
    assert_eq!(
        store.last_event_id().await.unwrap(),
        stock_events.len() as i64 + events_before,
        "no event either"
    );
    let second = link(store, "s").await;
    assert!(
        second.last_synced_at_ms.unwrap() >= synced_at,
        "recorded again"
    );

    // The location exists now: a sync that names it otherwise leaves it be.
    let renamed = job(Command::SyncSupplierStock {
        item: id("s"),
        location: warehouse(),
        location_name: "Renamed".into(),
        location_priority: 9,
        stock: 7,
        supplier: "acme".into(),
        county_code: "310000".into(),
    });
    applied(store, renamed).await;
    let location = store
        .locations()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.id == warehouse())
        .unwrap();
    assert_eq!(
        (location.name.as_str(), location.priority),
        ("Acme warehouse", 5)
    );
    let third = link(store, "s").await;
    assert_eq!(
        (third.last_stock, third.last_county_code.as_deref()),
        (Some(7), Some("310000"))
    );
    let view = store.item(&id("s")).await.unwrap().unwrap();
    assert_eq!(
        view.on_hand(),
        3 + 7,
        "the default location's stock is its own"
    );

    // Linked again to the same product: the last figure stays; to another: gone.
    let same = linked(
        store
            .put_supplier_link(&id("s"), "acme", "P-1", true)
            .await
            .unwrap(),
    );
    assert_eq!(same.last_stock, Some(7));
    let other = linked(
        store
            .put_supplier_link(&id("s"), "acme", "P-9", true)
            .await
            .unwrap(),
    );
    assert_eq!(
        (
            other.last_stock,
            other.last_county_code,
            other.last_synced_at_ms
        ),
        (None, None, None)
    );
    // A sync of another supplier's figure is not recorded on this link.
    let foreign = job(Command::SyncSupplierStock {
        item: id("s"),
        location: LocationId::parse("other-wh").unwrap(),
        location_name: "Other".into(),
        location_priority: 6,
        stock: 1,
        supplier: "other".into(),
        county_code: "110000".into(),
    });
    applied(store, foreign).await;
    assert_eq!(link(store, "s").await.last_stock, None);
    assert!(store.verify().await.unwrap().is_clean());
    under.drop_database().await;
}

#[tokio::test]
async fn a_supplier_sync_below_what_is_held_keeps_the_hold() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    applied(store, create("h", 0)).await;
    applied(store, create_item(item_with("back", None, true), 0)).await;
    synced(store, "h", 10).await;
    synced(store, "back", 10).await;
    for (raw, hold) in [("h", "hold-h"), ("back", "hold-back")] {
        let hold = job(Command::CreateHold {
            id: hold.into(),
            order_id: format!("order-{hold}"),
            lines: vec![HoldLineRequest {
                item: id(raw),
                location: Some(warehouse()),
                quantity: 6,
            }],
            ttl_ms: 600_000,
        });
        applied(store, hold).await;
    }

    let (level, entry, shortfall) = synced(store, "h", 2).await;
    assert_eq!(
        (level.on_hand, level.reserved),
        (6, 6),
        "held stock stays held"
    );
    assert_eq!((level.available(), shortfall), (0, 4));
    let entry = entry.expect("on hand fell to what is held");
    assert_eq!((entry.on_hand_before, entry.on_hand_after), (10, 6));
    assert_eq!(entry.reason.as_deref(), Some("supplier acme: 2 for 110000"));

    let (level, entry, shortfall) = synced(store, "h", 1).await;
    assert_eq!((level.on_hand, entry, shortfall), (6, None, 5));

    let (level, _, shortfall) = synced(store, "back", 2).await;
    assert_eq!(
        (level.on_hand, level.available(), shortfall),
        (2, -4, 0),
        "backorder lets on hand fall below what is held"
    );

    let report = store.verify().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.active_holds, 2);
    under.drop_database().await;
}

#[tokio::test]
async fn a_supplier_sync_raises_alerts_like_any_change() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    // Apart: an item created in a batch raises no alert in it.
    applied(store, create_item(item_with("m", Some(5), false), 0)).await;
    let (_, into_stock, _) = synced(store, "m", 20).await;
    let (_, low, _) = synced(store, "m", 3).await;
    let (_, out, _) = synced(store, "m", 0).await;
    let page = Page {
        number: 1,
        size: 10,
    };
    let filter = AlertFilter {
        item: Some(id("m")),
        ..AlertFilter::default()
    };
    let alerts = store.alerts(&filter, page).await.unwrap().rows;
    let seen: Vec<(AlertKind, i64, Option<i64>)> = alerts
        .iter()
        .rev()
        .map(|alert| (alert.kind, alert.available, alert.ledger_id))
        .collect();
    assert_eq!(
        seen,
        vec![
            (AlertKind::BackInStock, 20, into_stock.map(|e| e.id)),
            (AlertKind::LowStock, 3, low.map(|e| e.id)),
            (AlertKind::OutOfStock, 0, out.map(|e| e.id)),
        ]
    );
    assert_eq!(
        store
            .events(0, &[EventKind::Alert], 100)
            .await
            .unwrap()
            .len(),
        3,
        "each alert reached the outbox"
    );
    under.drop_database().await;
}

#[tokio::test]
async fn a_supplier_sync_is_refused_whole() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    let refused = run(store, supplier_sync("ghost", 5)).await;
    assert!(
        matches!(&refused, Err(WriteError::NotFound { entity: "item", .. })),
        "{refused:?}"
    );
    applied(store, create("n", 1)).await;
    let refused = run(store, supplier_sync("n", -1)).await;
    assert!(
        matches!(
            &refused,
            Err(WriteError::Stock(StockError::InvalidChange { .. }))
        ),
        "{refused:?}"
    );
    let locations = store.locations().await.unwrap();
    assert!(
        locations.iter().all(|l| l.id != warehouse()),
        "a refused sync makes no location"
    );
    // A locked item takes a sync: it records a fact, it sells nothing.
    let lock = job(Command::UpdateItem {
        id: id("n"),
        patch: ItemPatch {
            status: Some(ItemStatus::Locked),
            ..ItemPatch::default()
        },
        set_stock: None,
    });
    applied(store, lock).await;
    let (level, entry, _) = synced(store, "n", 4).await;
    assert_eq!(level.on_hand, 4);
    assert!(entry.is_some());
    assert!(store.verify().await.unwrap().is_clean());
    under.drop_database().await;
}

/// Another writer links the code while `put_supplier_link` is on its way: on
/// PostgreSQL the link trips the unique index (the other writer's row was
/// not there to read yet), on SQLite it waits for the other's write lock and
/// then reads the other's row. `CodeTaken` either way, and nothing written.
#[tokio::test]
async fn a_code_linked_meanwhile_by_another_writer_is_taken() {
    use crate::run_tests::{postgres_base, Under};
    use sqlx::Connection;
    let (dir, under) = open_either().await;
    let store = under.store();
    applied(store, create("a", 1)).await;
    applied(store, create("b", 1)).await;
    const LINK_B: &str = "INSERT INTO supplier_links (item_id, supplier, product_code,
        check_before_order, created_at, updated_at) VALUES ('b', 'acme', 'P-1', FALSE, 0, 0)";
    let a = id("a");
    let put = store.put_supplier_link(&a, "acme", "P-1", false);
    let put = match &under {
        Under::Sqlite(_) => {
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut other)
                .await
                .unwrap();
            sqlx::query(LINK_B).execute(&mut other).await.unwrap();
            let commit = async {
                tokio::task::yield_now().await;
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
            };
            tokio::join!(put, commit).0
        }
        Under::Postgres(_, database) => {
            let url = format!("{}/{database}", postgres_base());
            let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut other).await.unwrap();
            sqlx::query(LINK_B).execute(&mut other).await.unwrap();
            let commit = async {
                // Until the put waits on the other's row in the unique index.
                loop {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .fetch_one(&mut watch)
                    .await
                    .unwrap();
                    if waiting > 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
            };
            tokio::join!(put, commit).0
        }
    };
    assert_eq!(put.unwrap(), PutSupplierLink::CodeTaken { item: id("b") });
    assert_eq!(store.supplier_link(&id("a")).await.unwrap(), None);
    assert_eq!(link(store, "b").await.product_code, "P-1");
    under.drop_database().await;
}

// ---------------------------------------------------------------------------
// Quantities at the edge of 64 bits, on either backend.

const MAX: i64 = i64::MAX;

fn second() -> LocationId {
    LocationId::parse("second").unwrap()
}

fn add_at(raw: &str, location: LocationId, delta: i64) -> WriteJob {
    job(Command::SyncStock {
        item: id(raw),
        location,
        delta,
        order_id: None,
        reason: None,
        trace_id: None,
    })
}

/// `x` with the largest stock there is, all of it at `second`.
async fn spread_the_maximum(store: &dyn Store, allow_backorder: bool) {
    applied(
        store,
        create_item(item_with("x", None, allow_backorder), MAX),
    )
    .await;
    let location = Command::CreateLocation {
        id: second(),
        name: "Second".into(),
        priority: 1,
    };
    applied(store, job(location)).await;
    let transfer = Command::Transfer {
        item: id("x"),
        source: LocationId::default_location(),
        target: second(),
        quantity: MAX,
        reason: None,
    };
    applied(store, job(transfer)).await;
}

fn is_overflow(result: &Result<Outcome, WriteError>) -> bool {
    matches!(result, Err(WriteError::Stock(StockError::Overflow { item })) if item.as_str() == "x")
}

fn hold_at(hold_id: &str, location: LocationId, quantity: i64) -> WriteJob {
    job(Command::CreateHold {
        id: hold_id.into(),
        order_id: hold_id.into(),
        lines: vec![HoldLineRequest {
            item: id("x"),
            location: Some(location),
            quantity,
        }],
        ttl_ms: 60_000,
    })
}

/// Every kind of change that raises an item's stock at one location, when
/// the item has the maximum at another: each is refused and writes nothing.
async fn no_change_takes_an_items_totals_past_64_bits(commands_in_runs: bool) {
    let (_dir, under) = open_either().await;
    let under = if commands_in_runs {
        under
    } else {
        under.one_command_at_a_time()
    };
    let store = under.store();
    spread_the_maximum(store, true).await;
    let default = LocationId::default_location;
    let before = store.item(&id("x")).await.unwrap().unwrap();
    let lines = Command::ApplyLines {
        operation: Operation::Add,
        lines: vec![LineDelta {
            item: id("x"),
            location: default(),
            delta: 1,
        }],
        order_id: None,
        reason: None,
    };
    let set = Command::UpdateItem {
        id: id("x"),
        patch: ItemPatch::default(),
        set_stock: Some(StockSet {
            location: default(),
            on_hand: 1,
            expected_version: before.level_at(&default()).unwrap().level.version,
            reason: None,
        }),
    };
    let import = Command::ImportItem {
        item: item_with("x", None, true),
        location: default(),
        on_hand: 1,
    };
    let refusals = [
        add_at("x", default(), 1),
        add_at("x", second(), 1),
        job(lines),
        job(set),
        job(import),
        supplier_sync("x", 1),
    ];
    for change in refusals {
        let command = change.command.clone();
        let refused = run(store, change).await;
        assert!(is_overflow(&refused), "{command:?}: {refused:?}");
    }
    let after = store.item(&id("x")).await.unwrap().unwrap();
    assert_eq!(after.levels, before.levels, "nothing was written");

    // What stays in range is applied, to the last unit.
    applied(store, add_at("x", second(), -1)).await;
    applied(store, add_at("x", default(), 1)).await;
    assert_eq!(store.item(&id("x")).await.unwrap().unwrap().on_hand(), MAX);
    // Reserved over two locations, as backorder allows it to grow.
    applied(store, hold_at("h-1", default(), MAX)).await;
    let refused = run(store, hold_at("h-2", second(), 1)).await;
    assert!(is_overflow(&refused), "{refused:?}");
    let view = store.item(&id("x")).await.unwrap().unwrap();
    assert_eq!((view.on_hand(), view.reserved()), (MAX, MAX));
    let report = store.verify().await.unwrap();
    assert!(report.mismatches.is_empty(), "{report:?}");
    assert!(report.hold_mismatches.is_empty(), "{report:?}");
    under.drop_database().await;
}

#[tokio::test]
async fn no_sale_in_a_run_takes_an_items_totals_past_64_bits() {
    no_change_takes_an_items_totals_past_64_bits(true).await;
}

#[tokio::test]
async fn no_change_one_by_one_takes_an_items_totals_past_64_bits() {
    no_change_takes_an_items_totals_past_64_bits(false).await;
}

#[tokio::test]
async fn totals_over_many_items_are_summed_past_64_bits() {
    let (_dir, under) = open_either().await;
    let store = under.store();
    let since = now_ms();
    for raw in ["a", "b"] {
        applied(store, create_item(item_with(raw, None, false), MAX)).await;
    }
    let stats = store.inventory_stats(10).await.unwrap();
    assert_eq!((stats.items, stats.on_hand, stats.available), (2, MAX, MAX));
    applied(store, deduct("a", MAX)).await;
    applied(store, deduct("b", 3)).await;
    let stats = store.inventory_stats(10).await.unwrap();
    assert_eq!((stats.on_hand, stats.available), (MAX - 3, MAX - 3));
    applied(store, deduct("b", MAX - 3)).await;
    let stats = store.inventory_stats(10).await.unwrap();
    assert_eq!((stats.on_hand, stats.out_of_stock), (0, 2));
    // Twice the maximum sold within the hour.
    let activity = store.ledger_activity(since, 3_600_000).await.unwrap();
    let sold: i64 = activity.iter().map(|bucket| bucket.sold).max().unwrap();
    assert_eq!(sold, MAX);
    under.drop_database().await;
}

// ---------------------------------------------------------------------------
// A row another transaction holds, on either backend.

fn hold(hold_id: &str, items: &[&str]) -> WriteJob {
    job(Command::CreateHold {
        id: hold_id.into(),
        order_id: format!("order-{hold_id}"),
        lines: items
            .iter()
            .map(|raw| HoldLineRequest {
                item: id(raw),
                location: None,
                quantity: 1,
            })
            .collect(),
        ttl_ms: 600_000,
    })
}

fn commit(hold_id: &str) -> WriteJob {
    job(Command::CommitHold { id: hold_id.into() })
}

/// On PostgreSQL, a transaction outside stockd holds the level of `a` and
/// the hold `h-b` locked. A batch goes on without waiting: what would
/// change them (a sale of `a`, a hold on `a` and `b`, the commit of a hold
/// on `a`, the commit of `h-b`) answers `Busy` having done nothing, the
/// rest commits, and the run is not undone. Once the lock goes, the same
/// commands apply. On SQLite, which has no row locks, an outside reader
/// holds a snapshot of the same rows and stalls nothing.
#[tokio::test]
async fn a_batch_goes_on_past_rows_another_transaction_holds() {
    use crate::run_tests::{postgres_base, Under};
    use sqlx::Connection;
    let (dir, under) = open_either().await;
    let store = under.store();
    for raw in ["a", "b", "c"] {
        applied(store, create(raw, 10)).await;
    }
    applied(store, hold("h-a", &["a"])).await;
    applied(store, hold("h-b", &["b"])).await;
    let batch = || {
        vec![
            deduct("a", 1),
            deduct("b", 1),
            hold("h-ab", &["a", "b"]),
            hold("h-c", &["c"]),
            commit("h-a"),
            commit("h-b"),
            deduct("c", 1),
        ]
    };
    let oks = |replies: &[Reply]| replies.iter().map(is_ok).collect::<Vec<_>>();
    match &under {
        Under::Sqlite(_) => {
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut other).await.unwrap();
            sqlx::query("SELECT * FROM levels WHERE item_id = 'a'")
                .fetch_all(&mut other)
                .await
                .unwrap();
            let replies = store.execute(&batch()).await;
            assert_eq!(oks(&replies), [true; 7]);
            sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        }
        Under::Postgres(postgres, database) => {
            let url = format!("{}/{database}", postgres_base());
            let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut other).await.unwrap();
            sqlx::query("SELECT * FROM levels WHERE item_id = 'a' FOR UPDATE")
                .fetch_all(&mut other)
                .await
                .unwrap();
            sqlx::query("SELECT * FROM holds WHERE id = 'h-b' FOR UPDATE")
                .fetch_all(&mut other)
                .await
                .unwrap();
            let undone = postgres.runs_undone();
            let replies = store.execute(&batch()).await;
            let busy: Vec<bool> = replies
                .iter()
                .map(|reply| matches!(reply, Reply::Fresh(Err(WriteError::Busy))))
                .collect();
            assert_eq!(busy, [true, false, true, false, true, true, false]);
            assert_eq!(
                oks(&replies),
                [false, true, false, true, false, false, true]
            );
            assert_eq!(postgres.runs_undone(), undone, "the run was not undone");
            let levels = |raw: &'static str| async move {
                let view = store.item(&id(raw)).await.unwrap().unwrap();
                (view.on_hand(), view.reserved())
            };
            assert_eq!(levels("a").await, (10, 1), "nothing changed on a");
            assert_eq!(levels("b").await, (9, 1), "b sold once, h-b still held");
            assert_eq!(levels("c").await, (9, 1));
            sqlx::query("COMMIT").execute(&mut other).await.unwrap();
            let retried = vec![
                deduct("a", 1),
                hold("h-ab", &["a", "b"]),
                commit("h-a"),
                commit("h-b"),
            ];
            assert_eq!(oks(&store.execute(&retried).await), [true; 4]);
            assert_eq!(levels("a").await, (8, 1));
            assert_eq!(levels("b").await, (8, 1));
        }
    }
    under.drop_database().await;
}

/// The outbox as a reader sees it after `after`: (id, what it is about).
async fn outbox(store: &dyn Store, after: i64) -> Vec<(i64, String)> {
    store
        .events(after, &[], 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| {
            let about = match event.body {
                EventBody::Stock(entry) => format!("stock {}", entry.item),
                EventBody::Order { id, .. } => format!("order {id}"),
                other => format!("{other:?}"),
            };
            (event.id, about)
        })
        .collect()
}

/// Replicas commit side by side, so on PostgreSQL an event with a lower id
/// may commit after one with a higher id. Another writer's transaction,
/// older than the store's, writes its event before the store's sale (then
/// after it): while it runs, readers see neither (nothing is passed over);
/// once it commits, they see it first (the order of transactions), and a
/// cursor on either event resumes after it in that order. On SQLite, one
/// writer at a time, the outbox is in id order.
#[tokio::test]
async fn the_outbox_passes_over_no_event_that_commits_late() {
    use crate::run_tests::{postgres_base, Under};
    use sqlx::Connection;
    const OTHER_EVENT: &str = "INSERT INTO events (kind, subject, status, created_at)
        VALUES ('order', 'other', 'pending', 0) RETURNING id";
    let (_dir, under) = open_either().await;
    let store = under.store();
    applied(store, create("b", 10)).await;
    for other_first in [true, false] {
        let start = store.last_event_id().await.unwrap();
        let Under::Postgres(_, database) = &under else {
            applied(store, deduct("b", 1)).await;
            let seen = outbox(store, start).await;
            assert_eq!(seen.len(), 1);
            assert_eq!(outbox(store, seen[0].0).await, []);
            let changed = store.changed_items_after(start, 100).await.unwrap();
            assert_eq!(
                (changed.items, changed.newest_event_id),
                (vec![id("b")], seen[0].0)
            );
            continue;
        };
        let url = format!("{}/{database}", postgres_base());
        let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut other).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut other)
            .await
            .unwrap();
        let mut other_id = 0;
        if other_first {
            other_id = sqlx::query_scalar(OTHER_EVENT)
                .fetch_one(&mut other)
                .await
                .unwrap();
        }
        applied(store, deduct("b", 1)).await;
        if !other_first {
            other_id = sqlx::query_scalar(OTHER_EVENT)
                .fetch_one(&mut other)
                .await
                .unwrap();
        }
        assert_eq!(
            outbox(store, start).await,
            [],
            "held back by the older writer"
        );
        assert_eq!(store.last_event_id().await.unwrap(), start);
        // A cache sees the sale at once, but its cursor stays behind the
        // older writer's place.
        let changed = store.changed_items_after(start, 100).await.unwrap();
        assert_eq!(changed.items, [id("b")]);
        assert_eq!(changed.newest_event_id, start);
        assert!(changed.complete);
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        let seen = outbox(store, start).await;
        let about: Vec<&str> = seen.iter().map(|(_, about)| about.as_str()).collect();
        assert_eq!(about, ["order other", "stock b"], "{seen:?}");
        assert_eq!(seen[0].0, other_id);
        assert_eq!(seen[0].0 < seen[1].0, other_first, "{seen:?}");
        assert_eq!(outbox(store, seen[0].0).await, seen[1..]);
        assert_eq!(outbox(store, seen[1].0).await, []);
        assert_eq!(store.last_event_id().await.unwrap(), seen[1].0);
        let changed = store.changed_items_after(start, 100).await.unwrap();
        assert_eq!(changed.items, [id("b")]);
        assert_eq!(changed.newest_event_id, seen[1].0);
    }
    under.drop_database().await;
}

/// On PostgreSQL no transaction changes a level, hold or order that a
/// younger one wrote: it gives way, as if the row were locked, so each
/// row's changes (and events) are in the order of their transactions.
/// SQLite has one writer at a time.
#[tokio::test]
async fn an_older_transaction_never_overwrites_a_younger_ones_row() {
    use crate::run_tests::{postgres_base, Under};
    use sqlx::Connection;
    let (_dir, under) = open_either().await;
    let store = under.store();
    applied(store, create("a", 10)).await;
    applied(store, hold("h-a", &["a"])).await;
    let order = job(Command::CreateOrder {
        id: "o-a".into(),
        hold_id: "h-o".into(),
        lines: vec![HoldLineRequest {
            item: id("a"),
            location: None,
            quantity: 1,
        }],
        ttl_ms: 600_000,
    });
    applied(store, order).await;
    let pay = || job(Command::PayOrder { id: "o-a".into() });
    if let Under::Postgres(_, database) = &under {
        let url = format!("{}/{database}", postgres_base());
        let mut older = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut older).await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut older)
            .await
            .unwrap();
        applied(store, deduct("a", 1)).await;
        applied(store, commit("h-a")).await;
        applied(store, pay()).await;
        for write in [
            "UPDATE levels SET on_hand = on_hand WHERE item_id = 'a'",
            "UPDATE holds SET updated_at = updated_at WHERE id = 'h-a'",
            "UPDATE orders SET updated_at = updated_at WHERE id = 'o-a'",
        ] {
            sqlx::query("SAVEPOINT s")
                .execute(&mut older)
                .await
                .unwrap();
            let refused = sqlx::query(write).execute(&mut older).await.unwrap_err();
            let code = refused.as_database_error().and_then(|e| e.code());
            assert_eq!(code.as_deref(), Some("55P03"), "{write}: {refused}");
            sqlx::query("ROLLBACK TO s")
                .execute(&mut older)
                .await
                .unwrap();
        }
        sqlx::query("ROLLBACK").execute(&mut older).await.unwrap();
        // A younger transaction writes them.
        let written = sqlx::query("UPDATE levels SET on_hand = on_hand WHERE item_id = 'a'")
            .execute(&mut older)
            .await
            .unwrap();
        assert_eq!(written.rows_affected(), 1);
    } else {
        applied(store, deduct("a", 1)).await;
        applied(store, commit("h-a")).await;
        applied(store, pay()).await;
    }
    let view = store.item(&id("a")).await.unwrap().unwrap();
    assert_eq!((view.on_hand(), view.reserved()), (7, 0));
    under.drop_database().await;
}
