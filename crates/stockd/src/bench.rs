//! `stockd bench holds`: holds created, and holds created and committed,
//! per second through the write path, in process.
//!
//! Each run starts from a fresh SQLite file (durable: WAL, synchronous=FULL)
//! and its own engine, creates the items, then has `concurrency` callers
//! create one-line holds (or create one and commit it, a pair) for a fixed
//! time. It reports successful holds or pairs per second, latency
//! percentiles (of each command), the mean batch the writer committed, the
//! share of the run's time the store was busy (the rest is waiting for
//! work: queueing, scheduling, the callers themselves), and checks the
//! store with `verify` after the run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use stock_core::ItemId;
use stock_engine::{Engine, EngineConfig};
use stock_store::{Command, HoldLineRequest, Reply, SqliteOptions, SqliteStore, Store};
use tokio::task::JoinSet;

use crate::bench_kit::{create_items, meta, percentile};

const CONCURRENCIES: [usize; 3] = [1, 16, 256];

#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// Every hold is for one item.
    HotItem,
    /// Holds pick uniformly among many items.
    ManyItems(usize),
}

impl Scenario {
    fn name(self) -> String {
        match self {
            Scenario::HotItem => "one hot item".to_owned(),
            Scenario::ManyItems(items) => format!("{items} items, uniform"),
        }
    }

    fn items(self) -> usize {
        match self {
            Scenario::HotItem => 1,
            Scenario::ManyItems(items) => items,
        }
    }
}

/// What each caller does in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Hold,
    HoldAndCommit,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Hold => "hold",
            Work::HoldAndCommit => "hold + commit",
        }
    }
}

struct Run {
    holds: u64,
    /// Commands sent: a hold, or a hold and its commit.
    commands: u64,
    refused: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    batches: u64,
    store_busy: Duration,
}

pub async fn holds(
    duration: Duration,
    items: usize,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(items > 0, "--items must be above 0");
    let base = match dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("making a directory for the benchmark databases")?;
    println!(
        "stockd bench holds: {} s per run, SQLite in {}",
        duration.as_secs_f64(),
        base.path().display()
    );
    println!();
    println!(
        "| work | scenario | callers | holds or pairs/s | p50 ms | p99 ms | p99.9 ms | mean batch | store busy |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for work in [Work::Hold, Work::HoldAndCommit] {
        for scenario in [Scenario::HotItem, Scenario::ManyItems(items)] {
            for concurrency in CONCURRENCIES {
                let tag = match work {
                    Work::Hold => "hold",
                    Work::HoldAndCommit => "pair",
                };
                let path = base
                    .path()
                    .join(format!("bench-{tag}-{}-{concurrency}.db", scenario.items()));
                let run = run(work, scenario, concurrency, duration, path).await?;
                print_row(work, scenario, concurrency, &run);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_row(work: Work, scenario: Scenario, concurrency: usize, run: &Run) {
    let seconds = run.elapsed.as_secs_f64();
    println!(
        "| {} | {} | {concurrency} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0}% |",
        work.name(),
        scenario.name(),
        run.holds as f64 / seconds,
        percentile(&run.latencies_us, 0.50),
        percentile(&run.latencies_us, 0.99),
        percentile(&run.latencies_us, 0.999),
        run.commands as f64 / run.batches.max(1) as f64,
        100.0 * run.store_busy.as_secs_f64() / seconds,
    );
}

async fn run(
    work: Work,
    scenario: Scenario,
    concurrency: usize,
    duration: Duration,
    path: PathBuf,
) -> anyhow::Result<Run> {
    let store = SqliteStore::open(&SqliteOptions::new(path)).await?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let engine = Engine::start(Arc::clone(&store), EngineConfig::default());
    create_items(
        &engine,
        (0..scenario.items()).map(item_id).collect(),
        1_000_000_000_000,
    )
    .await?;

    let before = engine.store_activity();
    let started = Instant::now();
    let deadline = started + duration;
    let mut callers = JoinSet::new();
    for caller in 0..concurrency {
        let engine = engine.clone();
        callers.spawn(async move {
            // A small xorshift: uniform enough for picking items, no dependency.
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (caller as u64 + 1);
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let (mut holds, mut refused, mut latencies) = (0u64, 0u64, Vec::new());
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                let item = (next() % scenario.items() as u64) as usize;
                sequence += 1;
                let command = Command::CreateHold {
                    id: format!("b{caller}-{sequence}"),
                    order_id: format!("o{caller}-{sequence}"),
                    lines: vec![HoldLineRequest {
                        item: item_id(item),
                        location: None,
                        quantity: 1,
                    }],
                    ttl_ms: 3_600_000,
                };
                let sent = Instant::now();
                let held = matches!(engine.submit(command, meta()).await, Reply::Fresh(Ok(_)));
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                if !held {
                    refused += 1;
                    continue;
                }
                if work == Work::HoldAndCommit {
                    let sent = Instant::now();
                    let command = Command::CommitHold {
                        id: format!("b{caller}-{sequence}"),
                    };
                    let committed =
                        matches!(engine.submit(command, meta()).await, Reply::Fresh(Ok(_)));
                    latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                    if !committed {
                        refused += 1;
                        continue;
                    }
                }
                holds += 1;
            }
            (holds, refused, latencies)
        });
    }
    let mut run = Run {
        holds: 0,
        commands: 0,
        refused: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        batches: 0,
        store_busy: Duration::ZERO,
    };
    while let Some(joined) = callers.join_next().await {
        let (holds, refused, mut latencies) = joined.context("a benchmark caller failed")?;
        run.holds += holds;
        run.refused += refused;
        run.latencies_us.append(&mut latencies);
    }
    run.elapsed = started.elapsed();
    run.commands = run.latencies_us.len() as u64;
    run.latencies_us.sort_unstable();
    let after = engine.store_activity();
    run.batches = after.batches - before.batches;
    run.store_busy = after.busy - before.busy;
    anyhow::ensure!(
        run.refused == 0,
        "{} holds or commits were refused; the items have stock for every hold",
        run.refused
    );
    let report = store.verify().await?;
    anyhow::ensure!(
        report.is_clean(),
        "verify found the store inconsistent: {report:?}"
    );
    Ok(run)
}

fn item_id(index: usize) -> ItemId {
    ItemId::parse(&format!("sku-{index}")).expect("a valid id")
}
