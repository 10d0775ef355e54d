//! `stockd bench imports`: the writes of a shop's upkeep per second through
//! the write path, in process: the rows of a CSV import (new items, then
//! their stock changed), a supplier's figures, a stock count at a version
//! and a change of details, each decided in runs and one command at a time,
//! side by side in one run, on SQLite and on PostgreSQL.
//!
//! Each way has a store of its own (a SQLite file, a PostgreSQL database)
//! and an engine with the defaults. Each step sends one command per item,
//! [`IN_FLIGHT`] at a time as `stockd import` does, and times the whole
//! step. After the steps every item's stock is checked at both locations
//! and the store's `verify` runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use stock_core::{Item, ItemId, ItemStatus, LocationId};
use stock_engine::{Engine, EngineConfig};
use stock_store::{
    Command, ImportKind, ItemPatch, Outcome, PostgresOptions, PostgresStore, Reply, SqliteOptions,
    SqliteStore, StockSet, Store,
};
use tokio::task::JoinSet;

use crate::bench_kit::{meta, BenchDatabase};

/// Commands in flight at once, as `stockd import` sends its rows.
const IN_FLIGHT: usize = 256;
/// Where the supplier's figures go: made by the first of them.
const SUPPLIER_LOCATION: &str = "supplier-bench";

/// The stock each step leaves at the default location and, after the
/// supplier's step, at the supplier's.
const OPENING: i64 = 100;
const IMPORTED: i64 = 90;
const SUPPLIED: i64 = 50;
const COUNTED: i64 = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ImportNew,
    ImportChanged,
    Figures,
    Count,
    Rename,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::ImportNew,
        Step::ImportChanged,
        Step::Figures,
        Step::Count,
        Step::Rename,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::ImportNew => "import row, new item",
            Step::ImportChanged => "import row, stock changed",
            Step::Figures => "supplier's figure",
            Step::Count => "count at a version",
            Step::Rename => "change of details",
        }
    }

    fn command(self, index: usize) -> Command {
        let item = |name: String| Item {
            id: item_id(index),
            name,
            status: ItemStatus::Active,
            min_stock: None,
            max_stock: None,
            allow_backorder: false,
        };
        match self {
            Step::ImportNew | Step::ImportChanged => Command::ImportItem {
                item: item(format!("Bench item {index}")),
                location: LocationId::default_location(),
                on_hand: if self == Step::ImportNew {
                    OPENING
                } else {
                    IMPORTED
                },
            },
            Step::Figures => Command::SyncSupplierStock {
                item: item_id(index),
                location: LocationId::parse(SUPPLIER_LOCATION).expect("a valid id"),
                location_name: "Bench supplier".into(),
                location_priority: 10,
                stock: SUPPLIED,
                supplier: "bench".into(),
                county_code: "110101".into(),
            },
            // Version 1 at the opening, 2 once the import changed it.
            Step::Count => Command::UpdateItem {
                id: item_id(index),
                patch: ItemPatch::default(),
                set_stock: Some(StockSet {
                    location: LocationId::default_location(),
                    on_hand: COUNTED,
                    expected_version: 2,
                    reason: Some("count".into()),
                }),
            },
            Step::Rename => Command::UpdateItem {
                id: item_id(index),
                patch: ItemPatch {
                    name: Some(format!("Bench item {index}, renamed")),
                    ..ItemPatch::default()
                },
                set_stock: None,
            },
        }
    }

    /// Whether the answer is the one this step hopes for.
    fn answered(self, reply: &Reply) -> bool {
        match (self, reply) {
            (Step::ImportNew, Reply::Fresh(Ok(Outcome::Imported { kind, .. }))) => {
                *kind == ImportKind::Created
            }
            (Step::ImportChanged, Reply::Fresh(Ok(Outcome::Imported { kind, .. }))) => {
                *kind == ImportKind::Updated
            }
            (Step::Figures, Reply::Fresh(Ok(Outcome::SupplierSynced { entry, .. }))) => {
                entry.is_some()
            }
            (Step::Count, Reply::Fresh(Ok(Outcome::Item { entries, .. }))) => entries.len() == 1,
            (Step::Rename, Reply::Fresh(Ok(Outcome::Item { entries, .. }))) => entries.is_empty(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

pub struct Options {
    pub items: usize,
    pub postgres: String,
    pub dir: Option<PathBuf>,
    pub sqlite_only: bool,
}

pub async fn imports(options: Options) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=1_000_000).contains(&options.items),
        "--items takes 1 to 1000000"
    );
    let base = match &options.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("making a directory for the benchmark databases")?;
    let backends: &[Backend] = if options.sqlite_only {
        &[Backend::Sqlite]
    } else {
        &[Backend::Sqlite, Backend::Postgres]
    };
    println!(
        "stockd bench imports: {} items, {IN_FLIGHT} commands in flight, SQLite in {}",
        options.items,
        base.path().display()
    );
    println!();
    println!("| backend | step | in runs, rows/s | one at a time, rows/s | × |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for &backend in backends {
        let mut ways = Vec::new();
        for in_runs in [true, false] {
            let tag = if in_runs { "runs" } else { "alone" };
            let (store, database) = match backend {
                Backend::Sqlite => {
                    let path = base.path().join(format!("imports-{tag}.db"));
                    let store = SqliteStore::open(&SqliteOptions::new(path)).await?;
                    let store = if in_runs {
                        store
                    } else {
                        store.one_command_at_a_time()
                    };
                    (Arc::new(store) as Arc<dyn Store>, None)
                }
                Backend::Postgres => {
                    let database =
                        BenchDatabase::create(&options.postgres, &format!("imports_{tag}")).await?;
                    let store = PostgresStore::open(&PostgresOptions::new(&database.url)).await?;
                    let store = if in_runs {
                        store
                    } else {
                        store.one_command_at_a_time()
                    };
                    (Arc::new(store) as Arc<dyn Store>, Some(database))
                }
            };
            let outcome = run(Arc::clone(&store), options.items).await;
            drop(store);
            if let Some(database) = database {
                database.drop().await;
            }
            ways.push(outcome.with_context(|| format!("{} ({tag})", backend.name()))?);
        }
        for (index, step) in Step::ALL.iter().enumerate() {
            let (together, alone) = (ways[0][index], ways[1][index]);
            let rate = |elapsed: Duration| options.items as f64 / elapsed.as_secs_f64();
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.2}× |",
                backend.name(),
                step.name(),
                rate(together),
                rate(alone),
                alone.as_secs_f64() / together.as_secs_f64(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every step in turn on one store; how long each took.
async fn run(store: Arc<dyn Store>, items: usize) -> anyhow::Result<Vec<Duration>> {
    store.migrate().await?;
    let engine = Engine::start(Arc::clone(&store), EngineConfig::default());
    let mut took = Vec::with_capacity(Step::ALL.len());
    for step in Step::ALL {
        took.push(run_step(&engine, step, items).await?);
    }
    let supplier = LocationId::parse(SUPPLIER_LOCATION).expect("a valid id");
    let ids: Vec<ItemId> = (0..items).map(item_id).collect();
    let views = store.items(&ids).await?;
    ensure!(
        views.len() == items,
        "{} bench items are gone",
        items - views.len()
    );
    for view in views {
        let id = &view.item.id;
        let at = |location: &LocationId| {
            view.levels
                .iter()
                .find(|level| level.location == *location)
                .map(|level| level.level.on_hand)
        };
        ensure!(
            at(&LocationId::default_location()) == Some(COUNTED) && at(&supplier) == Some(SUPPLIED),
            "item {id} has other stock than its steps left: {view:?}"
        );
    }
    let report = store.verify().await?;
    ensure!(
        report.is_clean(),
        "verify found the store inconsistent: {report:?}"
    );
    Ok(took)
}

async fn run_step(engine: &Engine, step: Step, items: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    for index in 0..items {
        let engine = engine.clone();
        in_flight.spawn(async move { engine.submit(step.command(index), meta()).await });
        if in_flight.len() >= IN_FLIGHT {
            let reply = in_flight.join_next().await.context("a step's task")??;
            check(step, &reply)?;
        }
    }
    while let Some(joined) = in_flight.join_next().await {
        check(step, &joined?)?;
    }
    Ok(started.elapsed())
}

fn check(step: Step, reply: &Reply) -> anyhow::Result<()> {
    if !step.answered(reply) {
        bail!("{}: an unexpected answer: {reply:?}", step.name());
    }
    Ok(())
}

fn item_id(index: usize) -> ItemId {
    ItemId::parse(&format!("sku-{index}")).expect("a valid id")
}
