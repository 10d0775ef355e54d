//! Sales decided together in a run answer and write exactly what the same
//! sales run one by one do.
//!
//! Random batches of sales (known and unknown items and locations, increases
//! and decreases, repeated order ids and trace ids, repeated idempotency keys
//! with the same or another body) with holds in between go to two stores:
//! one that decides runs of sales in memory, one that runs every sale on its
//! own. Every reply, the ledger and every level must be the same.
//!
//! On SQLite by default; on PostgreSQL with `STOCKD_TEST_DATABASE=postgres`
//! (the server at `STOCKD_TEST_POSTGRES`), each case on fresh databases. On
//! PostgreSQL ledger ids are left out of the comparison: a sale run on its
//! own that turns out to be a replay takes a sequence number it gives back
//! only on SQLite.

use std::sync::Arc;

use proptest::prelude::*;
use stock_core::{Item, ItemId, ItemStatus, LocationId};

use crate::*;

const ITEMS: [&str; 4] = ["apple", "pear", "plum", "ghost"];
const LOCATIONS: [&str; 3] = ["default", "north", "nowhere"];

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
    Hold {
        item: usize,
        quantity: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let sale = (
        0..ITEMS.len(),
        prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)],
        -4..4i64,
        proptest::option::weighted(0.3, 0..3u8),
        proptest::option::weighted(0.2, 0..3u8),
        proptest::option::weighted(0.3, 0..3u8),
        proptest::option::weighted(0.3, (0..4u8, 0..2u8)),
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
    prop_oneof![
        8 => sale,
        1 => (0..2usize, 1..4i64).prop_map(|(item, quantity)| Op::Hold { item, quantity }),
    ]
}

/// What a reply says, without the times that differ between two runs.
fn seen(reply: Reply) -> String {
    match reply {
        Reply::Fresh(Ok(Outcome::Synced {
            mut view,
            mut entry,
            replayed,
        })) => {
            view.created_at_ms = 0;
            view.updated_at_ms = 0;
            for level in &mut view.levels {
                level.updated_at_ms = 0;
            }
            entry.created_at_ms = 0;
            entry.id = shown_id(entry.id);
            format!("synced {view:?} {entry:?} {replayed}")
        }
        Reply::Fresh(Ok(_)) => "done".into(),
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
        Ok(Outcome::Synced {
            entry, replayed, ..
        }) => (
            200,
            format!("{} {} {replayed}", shown_id(entry.id), entry.on_hand_after).into_bytes(),
        ),
        Ok(_) => (200, b"other".to_vec()),
        Err(error) => (409, format!("{error:?}").into_bytes()),
    })
}

fn job(op: &Op, n: usize) -> WriteJob {
    let id = |index: usize| ItemId::parse(ITEMS[index]).unwrap();
    match op {
        Op::Sale {
            item,
            location,
            delta,
            order,
            trace,
            request_trace,
            claim,
        } => WriteJob {
            command: Command::SyncStock {
                item: id(*item),
                location: LocationId::parse(LOCATIONS[*location]).unwrap(),
                delta: *delta,
                order_id: order.map(|o| format!("order-{o}")),
                reason: None,
                trace_id: trace.map(|t| format!("trace-{t}")),
            },
            meta: WriteMeta {
                operator: "runs".into(),
                trace_id: request_trace.map(|t| format!("request-{t}")),
                idempotency: claim.map(|(key, body)| IdempotencyClaim {
                    key_id: "k1".into(),
                    idempotency_key: format!("key-{key}"),
                    request_hash: format!("body-{body}"),
                    render: render(),
                }),
            },
        },
        Op::Hold { item, quantity } => WriteJob {
            command: Command::CreateHold {
                id: format!("hold-{n}"),
                order_id: format!("hold-order-{n}"),
                lines: vec![HoldLineRequest {
                    item: id(*item),
                    location: None,
                    quantity: *quantity,
                }],
                ttl_ms: 600_000,
            },
            meta: WriteMeta {
                operator: "runs".into(),
                trace_id: None,
                idempotency: None,
            },
        },
    }
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
    pub(crate) fn one_sale_at_a_time(self) -> Under {
        match self {
            Under::Sqlite(store) => Under::Sqlite(store.one_sale_at_a_time()),
            Under::Postgres(store, name) => Under::Postgres(store.one_sale_at_a_time(), name),
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
            store.one_sale_at_a_time()
        };
        Under::Postgres(store, database)
    } else {
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join(format!("{name}.db"))))
            .await
            .unwrap();
        Under::Sqlite(if in_runs {
            store
        } else {
            store.one_sale_at_a_time()
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
    for reply in store.store().execute(setup).await {
        assert!(matches!(reply, Reply::Fresh(Ok(_))), "{reply:?}");
    }
    store
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

async fn scenario(batches: Vec<Vec<Op>>) {
    let dir = tempfile::tempdir().unwrap();
    let together_store = store(&dir, "together", true).await;
    let alone_store = store(&dir, "alone", false).await;
    let (together, alone) = (together_store.store(), alone_store.store());
    let mut n = 0;
    for batch in &batches {
        let jobs = || {
            batch
                .iter()
                .enumerate()
                .map(|(offset, op)| job(op, n + offset))
                .collect::<Vec<_>>()
        };
        let left: Vec<String> = together
            .execute(jobs())
            .await
            .into_iter()
            .map(seen)
            .collect();
        let right: Vec<String> = alone.execute(jobs()).await.into_iter().map(seen).collect();
        for (index, (left, right)) in left.iter().zip(&right).enumerate() {
            assert_eq!(left, right, "reply {index} of {batch:?}");
        }
        n += batch.len();
    }
    assert_eq!(ledger(together).await, ledger(alone).await);
    assert_eq!(alerts(together).await, alerts(alone).await);
    for raw in &ITEMS[..3] {
        let id = ItemId::parse(raw).unwrap();
        let left = together.item(&id).await.unwrap().unwrap();
        let right = alone.item(&id).await.unwrap().unwrap();
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
    fn sales_in_a_run_answer_and_write_as_sales_one_by_one(
        batches in proptest::collection::vec(proptest::collection::vec(op(), 1..16), 1..5),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(scenario(batches));
    }
}
