//! Stock commands decided together in a run answer and write exactly what
//! the same commands run one by one do.
//!
//! Random batches of every command a run decides (sync-stocks on known and
//! unknown items and locations, with repeated order ids, trace ids and
//! idempotency keys; decreases and increases of several lines; holds made,
//! extended, committed, released and expired, some already past their
//! time; orders made, paid and cancelled before and after payment;
//! transfers; items made, changed with and without their stock set at a
//! version, and imported; locations made; a supplier's figures, at its
//! location made on first use) go to two stores: one that decides runs in memory, one that
//! runs every command on its own. Every reply, the ledger, every level,
//! hold and order, the alerts and the outbox's events must be the same.
//!
//! On SQLite by default; on PostgreSQL with `STOCKD_TEST_DATABASE=postgres`
//! (the server at `STOCKD_TEST_POSTGRES`), each case on fresh databases. On
//! PostgreSQL ledger ids are left out of the comparison: a command run on
//! its own that turns out to be a replay takes a sequence number it gives
//! back only on SQLite.

use std::sync::Arc;

use proptest::prelude::*;
use stock_core::{Item, ItemId, ItemStatus, LocationId, Operation};

/// Suppliers a figure comes from: items 0 and 2 are linked to the first.
const SUPPLIERS: [&str; 2] = ["acme", "other"];
/// Where a supplier's figures go: made by the first figure for it.
const SUPPLIER_LOCATION: &str = "supplier-acme";

use crate::*;

const ITEMS: [&str; 4] = ["apple", "pear", "plum", "ghost"];
const LOCATIONS: [&str; 3] = ["default", "north", "nowhere"];
/// Ids holds and orders are drawn from, so that commands meet again.
const IDS: u8 = 4;

#[derive(Debug, Clone)]
enum Op {
    Sale {
        item: usize,
        location: usize,
        delta: i64,
        order: Option<u8>,
        trace: Option<u8>,
        request_trace: Option<u8>,
        claim: Option<(u8, u8)>,
    },
    Lines {
        increase: bool,
        lines: Vec<(usize, usize, i64)>,
        claim: Option<(u8, u8)>,
    },
    Hold {
        id: u8,
        item: usize,
        location: Option<usize>,
        quantity: i64,
        /// Made already past its time (in a batch of its own).
        past: bool,
    },
    Extend(u8),
    Commit(u8),
    Release(u8),
    /// The expiry task's command, at a time after every hold's.
    Expire(Vec<u8>),
    Order {
        id: u8,
        lines: Vec<(usize, i64)>,
    },
    Pay(u8),
    Cancel(u8),
    Transfer {
        item: usize,
        from: usize,
        quantity: i64,
    },
    /// Makes an item (the fourth does not exist until then).
    NewItem {
        item: usize,
        location: usize,
        opening: i64,
        backorder: bool,
    },
    /// Changes an item's details, and maybe sets its stock at a version.
    Update {
        item: usize,
        status: Option<ItemStatus>,
        min_stock: Option<Option<i64>>,
        backorder: Option<bool>,
        set: Option<(usize, i64, i64)>,
    },
    /// A CSV row: the item as it says, and its stock at a location.
    Import {
        item: usize,
        location: usize,
        on_hand: i64,
        min_stock: Option<i64>,
        backorder: bool,
    },
    /// Makes a location (some exist already).
    Location {
        location: usize,
        priority: i64,
    },
    /// A supplier's figure for an item.
    Figure {
        item: usize,
        supplier: usize,
        stock: i64,
    },
}

fn claim() -> impl Strategy<Value = Option<(u8, u8)>> {
    proptest::option::weighted(0.3, (0..4u8, 0..2u8))
}

fn op() -> impl Strategy<Value = Op> {
    let sale = (
        0..ITEMS.len(),
        prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)],
        -4..4i64,
        proptest::option::weighted(0.3, 0..3u8),
        proptest::option::weighted(0.2, 0..3u8),
        proptest::option::weighted(0.3, 0..3u8),
        claim(),
    )
        .prop_map(
            |(item, location, delta, order, trace, request_trace, claim)| Op::Sale {
                item,
                location,
                delta,
                order,
                trace,
                request_trace,
                claim,
            },
        );
    let lines = (
        any::<bool>(),
        proptest::collection::vec((0..ITEMS.len(), 0..LOCATIONS.len(), 1..4i64), 1..4),
        claim(),
    )
        .prop_map(|(increase, lines, claim)| Op::Lines {
            increase,
            lines,
            claim,
        });
    let hold = (
        0..IDS,
        0..ITEMS.len(),
        proptest::option::weighted(0.3, 0..LOCATIONS.len()),
        1..4i64,
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(id, item, location, quantity, past)| Op::Hold {
            id,
            item,
            location,
            quantity,
            past,
        });
    let order = (
        0..IDS,
        proptest::collection::vec((0..ITEMS.len(), 1..4i64), 1..3),
    )
        .prop_map(|(id, lines)| Op::Order { id, lines });
    prop_oneof![
        6 => sale,
        2 => lines,
        3 => hold,
        1 => (0..IDS).prop_map(Op::Extend),
        2 => (0..IDS).prop_map(Op::Commit),
        1 => (0..IDS).prop_map(Op::Release),
        1 => proptest::collection::vec(0..IDS, 1..3).prop_map(Op::Expire),
        3 => order,
        2 => (0..IDS).prop_map(Op::Pay),
        2 => (0..IDS).prop_map(Op::Cancel),
        1 => (0..ITEMS.len(), 0..2usize, 1..4i64)
            .prop_map(|(item, from, quantity)| Op::Transfer { item, from, quantity }),
        1 => (0..ITEMS.len(), 0..LOCATIONS.len(), 0..6i64, any::<bool>()).prop_map(
            |(item, location, opening, backorder)| Op::NewItem {
                item,
                location,
                opening,
                backorder,
            }
        ),
        2 => (
            0..ITEMS.len(),
            proptest::option::weighted(0.3, proptest::sample::select(ItemStatus::ALL.to_vec())),
            proptest::option::weighted(0.4, proptest::option::of(0..6i64)),
            proptest::option::weighted(0.3, any::<bool>()),
            proptest::option::weighted(
                0.6,
                (0..LOCATIONS.len(), 0..8i64, 0..5i64)
            ),
        )
            .prop_map(|(item, status, min_stock, backorder, set)| Op::Update {
                item,
                status,
                min_stock,
                backorder,
                set,
            }),
        2 => (
            0..ITEMS.len(),
            0..LOCATIONS.len(),
            0..8i64,
            proptest::option::of(0..6i64),
            any::<bool>(),
        )
            .prop_map(|(item, location, on_hand, min_stock, backorder)| Op::Import {
                item,
                location,
                on_hand,
                min_stock,
                backorder,
            }),
        1 => (0..LOCATIONS.len(), -2..3i64)
            .prop_map(|(location, priority)| Op::Location { location, priority }),
        2 => (0..ITEMS.len(), 0..SUPPLIERS.len(), 0..8i64)
            .prop_map(|(item, supplier, stock)| Op::Figure { item, supplier, stock }),
    ]
}

fn quiet_view(view: &mut ItemView) {
    view.created_at_ms = 0;
    view.updated_at_ms = 0;
    for level in &mut view.levels {
        level.updated_at_ms = 0;
    }
}

fn quiet_entry(entry: &mut LedgerEntry) {
    entry.created_at_ms = 0;
    entry.id = shown_id(entry.id);
}

fn quiet_hold(hold: &mut HoldView) {
    hold.created_at_ms = 0;
    hold.updated_at_ms = 0;
    hold.expires_at_ms = 0;
}

fn quiet_order(order: &mut OrderView) {
    order.created_at_ms = 0;
    order.updated_at_ms = 0;
    quiet_hold(&mut order.hold);
}

/// What a reply says, without the times that differ between two runs.
fn seen(reply: Reply) -> String {
    match reply {
        Reply::Fresh(Ok(outcome)) => format!("{:?}", quiet(outcome)),
        Reply::Fresh(Err(error)) => format!("refused {error:?}"),
        Reply::Replayed {
            stored,
            same_request,
        } => format!(
            "replayed {} {} {same_request}",
            stored.status,
            String::from_utf8_lossy(&stored.body)
        ),
    }
}

fn quiet(mut outcome: Outcome) -> Outcome {
    match &mut outcome {
        Outcome::Synced { view, entry, .. } => {
            quiet_view(view);
            quiet_entry(entry);
        }
        Outcome::Lines { views, entries } => {
            views.iter_mut().for_each(quiet_view);
            entries.iter_mut().for_each(quiet_entry);
        }
        Outcome::Transferred { view, entries } => {
            quiet_view(view);
            entries.iter_mut().for_each(quiet_entry);
        }
        Outcome::Item { view, entries } => {
            quiet_view(view);
            entries.iter_mut().for_each(quiet_entry);
        }
        Outcome::Imported { view, .. } => quiet_view(view),
        Outcome::SupplierSynced { view, entry, .. } => {
            quiet_view(view);
            entry.iter_mut().for_each(quiet_entry);
        }
        Outcome::Location(location) => location.created_at_ms = 0,
        Outcome::Hold { hold, .. } => quiet_hold(hold),
        Outcome::Order { order, .. } => quiet_order(order),
        _ => {}
    }
    outcome
}

pub(crate) fn on_postgres() -> bool {
    std::env::var("STOCKD_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// A ledger id as the comparison sees it.
fn shown_id(id: i64) -> i64 {
    if on_postgres() {
        0
    } else {
        id
    }
}

fn render() -> Render {
    Arc::new(|result| match result {
        Ok(outcome) => (200, format!("{:?}", quiet(outcome.clone())).into_bytes()),
        Err(error) => (409, format!("{error:?}").into_bytes()),
    })
}

fn meta(claim: Option<(u8, u8)>, request_trace: Option<u8>) -> WriteMeta {
    WriteMeta {
        operator: "runs".into(),
        trace_id: request_trace.map(|t| format!("request-{t}")),
        idempotency: claim.map(|(key, body)| IdempotencyClaim {
            key_id: "k1".into(),
            idempotency_key: format!("key-{key}"),
            request_hash: format!("body-{body}"),
            render: render(),
        }),
    }
}

fn item_id(index: usize) -> ItemId {
    ItemId::parse(ITEMS[index]).unwrap()
}

fn location_id(index: usize) -> LocationId {
    LocationId::parse(LOCATIONS[index]).unwrap()
}

/// Holds live ten minutes, or ended a minute ago.
const TTL_MS: i64 = 600_000;

fn job(op: &Op) -> WriteJob {
    let command = match op {
        Op::Sale {
            item,
            location,
            delta,
            order,
            trace,
            request_trace,
            claim,
        } => {
            return WriteJob {
                command: Command::SyncStock {
                    item: item_id(*item),
                    location: location_id(*location),
                    delta: *delta,
                    order_id: order.map(|o| format!("order-{o}")),
                    reason: None,
                    trace_id: trace.map(|t| format!("trace-{t}")),
                },
                meta: meta(*claim, *request_trace),
            }
        }
        Op::Lines {
            increase,
            lines,
            claim,
        } => {
            return WriteJob {
                command: Command::ApplyLines {
                    operation: if *increase {
                        Operation::Add
                    } else {
                        Operation::Deduct
                    },
                    lines: lines
                        .iter()
                        .map(|(item, location, quantity)| LineDelta {
                            item: item_id(*item),
                            location: location_id(*location),
                            delta: if *increase { *quantity } else { -quantity },
                        })
                        .collect(),
                    order_id: None,
                    reason: Some("lines".into()),
                },
                meta: meta(*claim, None),
            }
        }
        Op::Hold {
            id,
            item,
            location,
            quantity,
            past,
        } => Command::CreateHold {
            id: format!("hold-{id}"),
            order_id: format!("hold-order-{id}"),
            lines: vec![HoldLineRequest {
                item: item_id(*item),
                location: location.map(location_id),
                quantity: *quantity,
            }],
            ttl_ms: if *past { -60_000 } else { TTL_MS },
        },
        Op::Extend(id) => Command::ExtendHold {
            id: format!("hold-{id}"),
            ttl_ms: TTL_MS,
        },
        Op::Commit(id) => Command::CommitHold {
            id: format!("hold-{id}"),
        },
        Op::Release(id) => Command::ReleaseHold {
            id: format!("hold-{id}"),
            reason: None,
        },
        Op::Expire(ids) => Command::ExpireHolds {
            ids: ids.iter().map(|id| format!("hold-{id}")).collect(),
            now_ms: now_ms() + 2 * TTL_MS,
        },
        Op::Order { id, lines } => Command::CreateOrder {
            id: format!("order-{id}"),
            hold_id: format!("order-hold-{id}"),
            lines: lines
                .iter()
                .map(|(item, quantity)| HoldLineRequest {
                    item: item_id(*item),
                    location: None,
                    quantity: *quantity,
                })
                .collect(),
            ttl_ms: TTL_MS,
        },
        Op::Pay(id) => Command::PayOrder {
            id: format!("order-{id}"),
        },
        Op::Cancel(id) => Command::CancelOrder {
            id: format!("order-{id}"),
            reason: None,
        },
        Op::Transfer {
            item,
            from,
            quantity,
        } => Command::Transfer {
            item: item_id(*item),
            source: location_id(*from),
            target: location_id(1 - from),
            quantity: *quantity,
            reason: None,
        },
        Op::NewItem {
            item,
            location,
            opening,
            backorder,
        } => Command::CreateItem {
            item: Item {
                id: item_id(*item),
                name: format!("new {}", ITEMS[*item]),
                status: ItemStatus::Active,
                min_stock: Some(2),
                max_stock: None,
                allow_backorder: *backorder,
            },
            location: location_id(*location),
            opening_stock: *opening,
        },
        Op::Update {
            item,
            status,
            min_stock,
            backorder,
            set,
        } => Command::UpdateItem {
            id: item_id(*item),
            patch: ItemPatch {
                name: None,
                status: *status,
                min_stock: *min_stock,
                max_stock: None,
                allow_backorder: *backorder,
            },
            set_stock: set.map(|(location, on_hand, version)| StockSet {
                location: location_id(location),
                on_hand,
                expected_version: version,
                reason: Some("count".into()),
            }),
        },
        Op::Import {
            item,
            location,
            on_hand,
            min_stock,
            backorder,
        } => Command::ImportItem {
            item: Item {
                id: item_id(*item),
                name: ITEMS[*item].to_string(),
                status: ItemStatus::Active,
                min_stock: *min_stock,
                max_stock: None,
                allow_backorder: *backorder,
            },
            location: location_id(*location),
            on_hand: *on_hand,
        },
        Op::Location { location, priority } => Command::CreateLocation {
            id: location_id(*location),
            name: format!("made {}", LOCATIONS[*location]),
            priority: *priority,
        },
        Op::Figure {
            item,
            supplier,
            stock,
        } => Command::SyncSupplierStock {
            item: item_id(*item),
            location: LocationId::parse(SUPPLIER_LOCATION).unwrap(),
            location_name: "Acme".into(),
            location_priority: 5,
            stock: *stock,
            supplier: SUPPLIERS[*supplier].into(),
            county_code: format!("11010{supplier}"),
        },
    };
    WriteJob {
        command,
        meta: meta(None, None),
    }
}

/// A batch as it is sent: a hold made past its time goes in a batch of its
/// own, since a run (one time for all its commands) never sees a hold it
/// makes come due, while one by one a later command might.
fn sent(batch: &[Op]) -> Vec<Vec<&Op>> {
    let mut sent: Vec<Vec<&Op>> = vec![Vec::new()];
    for op in batch {
        if matches!(op, Op::Hold { past: true, .. }) {
            sent.push(vec![op]);
            sent.push(Vec::new());
        } else {
            sent.last_mut().expect("never empty").push(op);
        }
    }
    sent.retain(|batch| !batch.is_empty());
    sent
}

/// One store under test, on either backend.
pub(crate) enum Under {
    Sqlite(SqliteStore),
    Postgres(PostgresStore, String),
}

impl Under {
    pub(crate) fn store(&self) -> &dyn Store {
        match self {
            Under::Sqlite(store) => store,
            Under::Postgres(store, _) => store,
        }
    }

    fn runs_undone(&self) -> u64 {
        match self {
            Under::Sqlite(store) => store.runs_undone(),
            Under::Postgres(store, _) => store.runs_undone(),
        }
    }

    /// The same store, with every sale run on its own.
    pub(crate) fn one_command_at_a_time(self) -> Under {
        match self {
            Under::Sqlite(store) => Under::Sqlite(store.one_command_at_a_time()),
            Under::Postgres(store, name) => Under::Postgres(store.one_command_at_a_time(), name),
        }
    }

    pub(crate) async fn drop_database(self) {
        if let Under::Postgres(store, name) = self {
            drop(store);
            let mut admin = postgres_admin().await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

pub(crate) fn postgres_base() -> String {
    std::env::var("STOCKD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub(crate) async fn postgres_admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&format!("{}/postgres", postgres_base()))
        .await
        .expect("PostgreSQL is reachable (STOCKD_TEST_POSTGRES)")
}

async fn store(dir: &tempfile::TempDir, name: &str, in_runs: bool) -> Under {
    let store = if on_postgres() {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let database = format!(
            "stockd_runs_{}_{}_{name}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut admin = postgres_admin().await;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let options = PostgresOptions::new(format!("{}/{database}", postgres_base()));
        let store = PostgresStore::open(&options).await.unwrap();
        let store = if in_runs {
            store
        } else {
            store.one_command_at_a_time()
        };
        Under::Postgres(store, database)
    } else {
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join(format!("{name}.db"))))
            .await
            .unwrap();
        Under::Sqlite(if in_runs {
            store
        } else {
            store.one_command_at_a_time()
        })
    };
    store.store().migrate().await.unwrap();
    let meta = || WriteMeta {
        operator: "setup".into(),
        trace_id: None,
        idempotency: None,
    };
    let mut setup = vec![WriteJob {
        command: Command::CreateLocation {
            id: LocationId::parse("north").unwrap(),
            name: "North".into(),
            priority: -1,
        },
        meta: meta(),
    }];
    for (index, raw) in ITEMS[..3].iter().enumerate() {
        setup.push(WriteJob {
            command: Command::CreateItem {
                item: Item {
                    id: ItemId::parse(raw).unwrap(),
                    name: raw.to_string(),
                    status: if index == 1 {
                        ItemStatus::Inactive
                    } else {
                        ItemStatus::Active
                    },
                    min_stock: None,
                    max_stock: None,
                    allow_backorder: index == 2,
                },
                location: LocationId::default_location(),
                opening_stock: 5,
            },
            meta: meta(),
        });
    }
    for reply in store.store().execute(&setup).await {
        assert!(matches!(reply, Reply::Fresh(Ok(_))), "{reply:?}");
    }
    for index in [0, 2] {
        store
            .store()
            .put_supplier_link(&item_id(index), SUPPLIERS[0], ITEMS[index], false)
            .await
            .unwrap();
    }
    store
}

/// The supplier links as the comparison sees them, without their times.
async fn links(store: &dyn Store) -> Vec<String> {
    let mut seen = Vec::new();
    for supplier in SUPPLIERS {
        for mut link in store.supplier_links(supplier).await.unwrap() {
            link.created_at_ms = 0;
            link.updated_at_ms = 0;
            link.last_synced_at_ms = link.last_synced_at_ms.map(|_| 1);
            seen.push(format!("{link:?}"));
        }
    }
    seen
}

/// The locations as the comparison sees them, without their times.
async fn locations(store: &dyn Store) -> Vec<String> {
    store
        .locations()
        .await
        .unwrap()
        .into_iter()
        .map(|location| format!("{} {} {}", location.id, location.name, location.priority))
        .collect()
}

async fn ledger(store: &dyn Store) -> Vec<String> {
    let page = Page {
        number: 1,
        size: 10_000,
    };
    let rows = store
        .ledger(&LedgerFilter::default(), page)
        .await
        .unwrap()
        .rows;
    rows.into_iter()
        .map(|mut entry| {
            entry.created_at_ms = 0;
            entry.id = shown_id(entry.id);
            format!("{entry:?}")
        })
        .collect()
}

async fn alerts(store: &dyn Store) -> Vec<String> {
    let page = Page {
        number: 1,
        size: 10_000,
    };
    let rows = store
        .alerts(&AlertFilter::default(), page)
        .await
        .unwrap()
        .rows;
    rows.into_iter()
        .map(|mut alert| {
            alert.created_at_ms = 0;
            alert.updated_at_ms = 0;
            alert.ledger_id = alert.ledger_id.map(shown_id);
            format!("{alert:?}")
        })
        .collect()
}

async fn holds_and_orders(store: &dyn Store) -> Vec<String> {
    let mut seen = Vec::new();
    for id in 0..IDS {
        if let Some(mut hold) = store.hold(&format!("hold-{id}")).await.unwrap() {
            quiet_hold(&mut hold);
            seen.push(format!("{hold:?}"));
        }
        if let Some(mut order) = store.order(&format!("order-{id}")).await.unwrap() {
            quiet_order(&mut order);
            seen.push(format!("{order:?}"));
        }
    }
    seen
}

/// The outbox's events of each subject, in order: a run writes its holds',
/// orders' and stock's events table by table, one by one they interleave.
async fn events(store: &dyn Store) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = store
        .events(0, &[], 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| match event.body {
            EventBody::Stock(mut entry) => {
                quiet_entry(&mut entry);
                (format!("stock {}", entry.item), format!("{entry:?}"))
            }
            EventBody::Reservation { ref id, .. } => {
                (format!("hold {id}"), format!("{:?}", event.body))
            }
            EventBody::Order { ref id, .. } => (format!("order {id}"), format!("{:?}", event.body)),
            EventBody::Alert { mut alert, status } => {
                alert.created_at_ms = 0;
                alert.updated_at_ms = 0;
                alert.ledger_id = alert.ledger_id.map(shown_id);
                (
                    format!("alert {}", alert.item),
                    format!("{alert:?} {status:?}"),
                )
            }
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen
}

async fn scenario(batches: Vec<Vec<Op>>) {
    let dir = tempfile::tempdir().unwrap();
    let together_store = store(&dir, "together", true).await;
    let alone_store = store(&dir, "alone", false).await;
    let (together, alone) = (together_store.store(), alone_store.store());
    for batch in batches.iter().flat_map(|batch| sent(batch)) {
        let jobs = || batch.iter().map(|op| job(op)).collect::<Vec<_>>();
        let left: Vec<String> = together
            .execute(&jobs())
            .await
            .into_iter()
            .map(seen)
            .collect();
        let right: Vec<String> = alone.execute(&jobs()).await.into_iter().map(seen).collect();
        for (index, (left, right)) in left.iter().zip(&right).enumerate() {
            assert_eq!(left, right, "reply {index} of {batch:?}");
        }
    }
    assert_eq!(ledger(together).await, ledger(alone).await);
    assert_eq!(alerts(together).await, alerts(alone).await);
    assert_eq!(
        holds_and_orders(together).await,
        holds_and_orders(alone).await
    );
    assert_eq!(events(together).await, events(alone).await);
    assert_eq!(links(together).await, links(alone).await);
    assert_eq!(locations(together).await, locations(alone).await);
    for raw in ITEMS {
        let id = ItemId::parse(raw).unwrap();
        let (left, right) = match (
            together.item(&id).await.unwrap(),
            alone.item(&id).await.unwrap(),
        ) {
            (Some(left), Some(right)) => (left, right),
            (None, None) => continue,
            (left, right) => panic!("{raw}: {left:?} against {right:?}"),
        };
        assert_eq!(left.item, right.item, "{raw}");
        let levels = |view: ItemView| -> Vec<(LocationId, i64, i64, i64)> {
            view.levels
                .into_iter()
                .map(|l| {
                    (
                        l.location,
                        l.level.on_hand,
                        l.level.reserved,
                        l.level.version,
                    )
                })
                .collect()
        };
        assert_eq!(levels(left), levels(right), "{raw}");
    }
    assert_eq!(
        together_store.runs_undone(),
        0,
        "every run was decided in memory"
    );
    for store in [together, alone] {
        let report = store.verify().await.unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
    together_store.drop_database().await;
    alone_store.drop_database().await;
}

proptest! {
    // Each case on PostgreSQL makes two databases: fewer cases there.
    #![proptest_config(ProptestConfig {
        cases: if on_postgres() { 24 } else { 64 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn commands_in_a_run_answer_and_write_as_commands_one_by_one(
        batches in proptest::collection::vec(proptest::collection::vec(op(), 1..16), 1..5),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(scenario(batches));
    }
}
