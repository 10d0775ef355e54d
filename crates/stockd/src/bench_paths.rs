//! `stockd bench paths`: every path a shop calls, over HTTP on both
//! backends, beside the ceiling of HTTP itself and the usual shop code, in
//! one run on one machine.
//!
//! Rows, for each scenario (one hot item; 10,000 items picked uniformly) and
//! each number of connections:
//! - the no-op ceiling: `GET /bench/no-such-route`, which the router answers
//!   404 after its outer middleware (trace id, request count, time limit,
//!   body checks, the per-address rate limit, off here), without a key or
//!   the database: the cheapest request stockd answers;
//! - V1: the conditional `UPDATE … WHERE stock >= 1` plus a log insert of
//!   `stockd bench sales`, from Rust (sqlx), one transaction a sale, at most
//!   48 PostgreSQL connections shared by the callers;
//! - V4: the Redis Lua check-and-decrement of `stockd bench sales`, on the
//!   given Redis (no persistence), one connection per caller;
//! - stockd over HTTP, on SQLite and on PostgreSQL, for each path: a read of
//!   one item, sync-stock, decrease (1 line), hold (1 line), the commit of a
//!   hold, and an order with its payment (the pair counted as one).
//!
//! stockd runs in this process as `stockd serve` does with its defaults
//! (its listener, its router, a service key), rate limits off. Each caller
//! is an HTTP client of its own with one kept-alive connection, opened
//! before the row's clock starts. The holds that a commit row commits are
//! made beforehand through the engine, in process, into one supply that
//! its callers take from; only the commits are timed.
//!
//! Each scenario has a store of its own (a SQLite file, a PostgreSQL
//! database) that its rows share, in the order of [`Path::ALL`]: the holds
//! that the commit rows leave over and that the hold rows make stay active
//! (for an hour), so those rows run last.
//!
//! After each row that writes: the stock taken and held by the row's
//! successes must account exactly for what the store shows (sold + left =
//! initial, reserved = held, no item with more reserved than on hand), and
//! the store's verify (that of `stockd verify`) must find every level equal
//! to its ledger and its holds.

use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection as Resp;
use reqwest::{Method, StatusCode};
use sqlx::postgres::PgPool;
use stock_core::ItemId;
use stock_engine::Engine;
use stock_http::HttpConfig;
use stock_store::{
    Command, HoldLineRequest, PostgresOptions, PostgresStore, Reply, SqliteOptions, SqliteStore,
    Store,
};

use crate::bench_kit::{
    chosen, create_items, drive, lua_load, lua_remaining, lua_reset, lua_sell, meta, percentile,
    redis_connection, sql_remaining, sql_reset, sql_sell, sql_tables, stock_totals, table_head,
    BenchDatabase, Caller, Common, HttpServer, SqlSale, StockTotals, PLENTY, UNIFORM_ITEMS,
};
use crate::config::Config;

/// The route no one serves: the no-op ceiling's request.
const NO_OP_ROUTE: &str = "/bench/no-such-route";
/// How long holds and orders made by the benchmark last: beyond any run.
const HOLD_TTL_S: u64 = 3600;
/// The holds a commit row commits are made for this many times its
/// duration, so that its callers do not run out of them.
const HOLD_SUPPLY_RUNS: u32 = 2;
/// The fewest tasks that make those holds: the engine batches what arrives
/// together.
const HOLD_MAKERS_MIN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Hot,
    Uniform,
}

impl Scenario {
    const ALL: [Scenario; 2] = [Scenario::Hot, Scenario::Uniform];

    fn name(self) -> &'static str {
        match self {
            Scenario::Hot => "hot item",
            Scenario::Uniform => "10,000 items",
        }
    }

    fn items(self) -> usize {
        match self {
            Scenario::Hot => 1,
            Scenario::Uniform => UNIFORM_ITEMS,
        }
    }

    /// Each scenario has items of its own, so that scenarios sharing a
    /// database never see each other's stock.
    fn prefix(self) -> &'static str {
        match self {
            Scenario::Hot => "hot",
            Scenario::Uniform => "uni",
        }
    }

    fn item_id(self, index: usize) -> String {
        format!("{}{index}", self.prefix())
    }

    fn ids(self) -> Vec<ItemId> {
        (0..self.items())
            .map(|index| ItemId::parse(&self.item_id(index)).expect("a valid id"))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// What a stockd row asks of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Read,
    /// The same read, served from the read model in memory (`reads.memory`).
    ReadMemory,
    SyncStock,
    Decrease,
    Hold,
    Commit,
    OrderPay,
}

impl Path {
    /// In the order they run: those that leave holds active (the holds
    /// made and not committed) last, so that fewer rows run beside them.
    const ALL: [Path; 7] = [
        Path::Read,
        Path::ReadMemory,
        Path::SyncStock,
        Path::Decrease,
        Path::OrderPay,
        Path::Commit,
        Path::Hold,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Read => "read one item",
            Path::ReadMemory => "read one item (in memory)",
            Path::SyncStock => "sync-stock",
            Path::Decrease => "decrease",
            Path::Hold => "hold",
            Path::Commit => "commit",
            Path::OrderPay => "order + pay",
        }
    }

    fn request(self) -> &'static str {
        match self {
            Path::Read => "GET /api/v1/inventory/{id}",
            Path::ReadMemory => "GET /api/v1/inventory/{id}, reads.memory on",
            Path::SyncStock => "POST /api/v1/sync-stock (delta -1)",
            Path::Decrease => "POST /api/v1/inventory/decrease (1 line)",
            Path::Hold => "POST /api/v1/reservations (1 line)",
            Path::Commit => "POST /api/v1/reservations/{id}/commit",
            Path::OrderPay => "POST /api/v1/orders (1 line) + POST /api/v1/orders/{id}/pay",
        }
    }

    /// A letter for the ids of the holds and orders a row makes.
    fn tag(self) -> &'static str {
        match self {
            Path::Read => "r",
            Path::ReadMemory => "m",
            Path::SyncStock => "s",
            Path::Decrease => "d",
            Path::Hold => "h",
            Path::Commit => "c",
            Path::OrderPay => "o",
        }
    }

    fn writes(self) -> bool {
        !matches!(self, Path::Read | Path::ReadMemory)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    NoOp,
    V1,
    V4,
    Stockd(Backend, Path),
}

impl Variant {
    fn all() -> Vec<Variant> {
        let mut all = vec![Variant::NoOp, Variant::V1, Variant::V4];
        for backend in Backend::ALL {
            all.extend(Path::ALL.map(|path| Variant::Stockd(backend, path)));
        }
        all
    }

    fn name(self) -> &'static str {
        match self {
            Variant::NoOp => "no-op ceiling",
            Variant::V1 => "V1 PG conditional UPDATE",
            Variant::V4 => "V4 Redis Lua, no persistence",
            Variant::Stockd(Backend::Sqlite, _) => "stockd on SQLite",
            Variant::Stockd(Backend::Postgres, _) => "stockd on PostgreSQL",
        }
    }

    fn request(self) -> &'static str {
        match self {
            Variant::NoOp => "GET /bench/no-such-route (404)",
            Variant::V1 => "sale: UPDATE … WHERE stock >= 1, INSERT log",
            Variant::V4 => "sale: EVALSHA check-and-decrement",
            Variant::Stockd(_, path) => path.request(),
        }
    }

    fn path(self) -> Option<Path> {
        match self {
            Variant::Stockd(_, path) => Some(path),
            _ => None,
        }
    }

    fn needs_postgres(self) -> bool {
        matches!(self, Variant::V1 | Variant::Stockd(Backend::Postgres, _))
    }
}

pub struct Options {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub common: Common,
    /// Words a stockd row's path must contain one of; empty: every path.
    pub paths: Vec<String>,
}

impl Options {
    fn chosen_variants(&self) -> Vec<Variant> {
        Variant::all()
            .into_iter()
            .filter(|variant| {
                chosen(variant.name(), &self.common.variants)
                    && variant
                        .path()
                        .is_none_or(|path| chosen(path.name(), &self.paths))
            })
            .collect()
    }
}

struct Row {
    scenario: Scenario,
    variant: Variant,
    callers: usize,
    successes: u64,
    attempts: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    /// Sold + left = initial (and, on stockd, reserved = held); None for a
    /// row that writes nothing.
    consistent: Option<bool>,
    /// The store's verify after the row; None for a row that writes nothing
    /// in stockd's store.
    verified: Option<bool>,
    /// What else a reader should know about the row.
    note: Option<String>,
}

impl Row {
    fn new<C>(
        scenario: Scenario,
        variant: Variant,
        callers: usize,
        tally: crate::bench_kit::Tally<C>,
    ) -> Row {
        Row {
            scenario,
            variant,
            callers,
            successes: tally.successes,
            attempts: tally.attempts,
            elapsed: tally.elapsed,
            latencies_us: tally.latencies_us,
            consistent: None,
            verified: None,
            note: None,
        }
    }

    fn per_second(&self) -> f64 {
        self.successes as f64 / self.elapsed.as_secs_f64()
    }

    fn errors(&self) -> u64 {
        self.attempts - self.successes
    }

    fn failed_checks(&self) -> bool {
        self.consistent == Some(false) || self.verified == Some(false)
    }
}

pub async fn paths(options: Options) -> anyhow::Result<ExitCode> {
    let work = tempfile::tempdir().context("a directory for the benchmark")?;
    let variants = options.chosen_variants();
    anyhow::ensure!(
        !variants.is_empty(),
        "--variants and --paths leave no row to run"
    );
    let database = if variants.iter().any(|v| v.needs_postgres()) {
        Some(BenchDatabase::create(&options.common.postgres, "paths").await?)
    } else {
        None
    };
    let result = run_all(database.as_ref(), &options, &variants, work.path()).await;
    if let Some(database) = database {
        database.drop().await;
    }
    let rows = result?;
    let report = format!("{}\n{}", table(&rows), targets(&rows));
    println!("{report}");
    std::fs::create_dir_all(&options.common.out)?;
    let file = options.common.out.join("paths.md");
    std::fs::write(&file, &report)?;
    println!("Wrote {}", file.display());
    let failed = rows.iter().filter(|r| r.failed_checks()).count();
    if failed > 0 {
        eprintln!("{failed} rows failed their checks (sold + left = initial, or verify)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// One run of the benchmark: what it was asked, and the rows so far.
struct Bench<'a> {
    options: &'a Options,
    database: Option<&'a BenchDatabase>,
    work: &'a FsPath,
    rows: Vec<Row>,
}

async fn run_all(
    database: Option<&BenchDatabase>,
    options: &Options,
    variants: &[Variant],
    work: &FsPath,
) -> anyhow::Result<Vec<Row>> {
    let mut bench = Bench {
        options,
        database,
        work,
        rows: Vec::new(),
    };
    for scenario in Scenario::ALL {
        if !chosen(scenario.name(), &options.common.scenarios) {
            continue;
        }
        if variants.contains(&Variant::NoOp) {
            bench.no_op(scenario).await?;
        }
        if variants.contains(&Variant::V1) {
            bench.sql(scenario).await?;
        }
        if variants.contains(&Variant::V4) {
            bench.lua(scenario).await?;
        }
        for backend in Backend::ALL {
            let paths: Vec<Path> = variants
                .iter()
                .filter_map(|variant| match variant {
                    Variant::Stockd(b, path) if *b == backend => Some(*path),
                    _ => None,
                })
                .collect();
            if !paths.is_empty() {
                bench.stockd(scenario, backend, &paths).await?;
            }
        }
    }
    Ok(bench.rows)
}

impl<'a> Bench<'a> {
    fn push(&mut self, row: Row) {
        eprintln!(
            "{:<13} {:<29} {:<14} {:>5} conns: {:>8.0}/s, {} errors{}",
            row.scenario.name(),
            row.variant.name(),
            row.variant.path().map_or("", Path::name),
            row.callers,
            row.per_second(),
            row.errors(),
            row.note
                .as_deref()
                .map(|note| format!(" ({note})"))
                .unwrap_or_default(),
        );
        self.rows.push(row);
    }

    fn database(&self) -> anyhow::Result<&'a BenchDatabase> {
        self.database
            .context("rows on PostgreSQL need the benchmark's database")
    }

    async fn no_op(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        let path = self.work.join(format!("no-op-{}.db", scenario.prefix()));
        let store = open_sqlite(path).await?;
        let engine = Engine::start(
            Arc::clone(&store),
            crate::serve::engine_config(&Config::default()),
        );
        let server = HttpServer::start(store, engine, http_config()).await?;
        for &callers in &self.options.concurrency {
            let tag = format!("{}-n{callers}", scenario.prefix());
            let clients = HttpCaller::many(&server, scenario, None, &tag, None, callers)?;
            let clients = warm_up(clients).await;
            let tally = drive(clients, scenario.items(), self.options.duration).await?;
            self.push(Row::new(scenario, Variant::NoOp, callers, tally));
        }
        server.stop().await;
        Ok(())
    }

    async fn sql(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        let database = self.database()?;
        let pool = sql_tables(&database.url).await?;
        let initial = PLENTY * scenario.items() as i64;
        for &callers in &self.options.concurrency {
            sql_reset(&pool, scenario.items(), PLENTY).await?;
            database.checkpoint().await?;
            let callers_of_row = (0..callers)
                .map(|_| SqlCaller { pool: pool.clone() })
                .collect();
            let tally = drive(callers_of_row, scenario.items(), self.options.duration).await?;
            let mut row = Row::new(scenario, Variant::V1, callers, tally);
            let remaining = sql_remaining(&pool).await?;
            row.consistent = Some(row.successes as i64 + remaining == initial);
            self.push(row);
        }
        pool.close().await;
        Ok(())
    }

    async fn lua(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        let address: Arc<str> = Arc::from(self.options.common.redis.as_str());
        let sha: Arc<str> = Arc::from(lua_load(&address).await?);
        let initial = PLENTY * scenario.items() as i64;
        for &callers in &self.options.concurrency {
            lua_reset(&address, scenario.items(), PLENTY).await?;
            // Every caller is connected before the clock starts.
            let connections = join_all((0..callers).map(|_| redis_connection(&address))).await;
            let callers_of_row = connections
                .into_iter()
                .map(|connection| {
                    Ok(LuaCaller {
                        address: Arc::clone(&address),
                        sha: Arc::clone(&sha),
                        connection: Some(connection?),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let tally = drive(callers_of_row, scenario.items(), self.options.duration).await?;
            let mut row = Row::new(scenario, Variant::V4, callers, tally);
            let remaining = lua_remaining(&address, scenario.items()).await?;
            row.consistent = Some(row.successes as i64 + remaining == initial);
            self.push(row);
        }
        Ok(())
    }

    async fn stockd(
        &mut self,
        scenario: Scenario,
        backend: Backend,
        paths: &[Path],
    ) -> anyhow::Result<()> {
        // Each scenario has a database of its own on PostgreSQL, as it has
        // a file of its own on SQLite: no row sees another scenario's holds.
        let own = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                self.database()?;
                let server = &self.options.common.postgres;
                Some(BenchDatabase::create(server, scenario.prefix()).await?)
            }
        };
        let stockd = Stockd::start(scenario, backend, own.as_ref(), self.work).await?;
        for &path in paths {
            for &callers in &self.options.concurrency {
                if let Some(database) = self.database {
                    database.checkpoint().await?;
                }
                let row = stockd
                    .run(path, callers, self.options.duration, own.as_ref())
                    .await?;
                self.push(row);
            }
        }
        stockd.stop().await;
        if let Some(own) = own {
            own.drop().await;
        }
        Ok(())
    }
}

/// The HTTP settings of `stockd serve` with its defaults, rate limits off.
fn http_config() -> HttpConfig {
    let mut config = crate::serve::http_config(&Config::default());
    config.rate_limits.per_key = None;
    config.rate_limits.per_address = None;
    config
}

async fn open_sqlite(path: PathBuf) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqliteStore::open(&SqliteOptions::new(path)).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

struct SqlCaller {
    pool: PgPool,
}

impl Caller for SqlCaller {
    async fn attempt(&mut self, index: usize) -> anyhow::Result<bool> {
        sql_sell(&self.pool, SqlSale::ConditionalUpdate, index as i64).await
    }
}

struct LuaCaller {
    address: Arc<str>,
    sha: Arc<str>,
    connection: Option<Resp>,
}

impl Caller for LuaCaller {
    async fn attempt(&mut self, index: usize) -> anyhow::Result<bool> {
        lua_sell(&mut self.connection, &self.address, &self.sha, index).await
    }
}

/// stockd on one backend, with the scenario's items, served on loopback.
struct Stockd {
    scenario: Scenario,
    backend: Backend,
    store: Arc<dyn Store>,
    engine: Engine,
    server: HttpServer,
    ids: Vec<ItemId>,
}

impl Stockd {
    async fn start(
        scenario: Scenario,
        backend: Backend,
        database: Option<&BenchDatabase>,
        work: &FsPath,
    ) -> anyhow::Result<Stockd> {
        let store: Arc<dyn Store> = match backend {
            Backend::Sqlite => {
                open_sqlite(work.join(format!("stockd-{}.db", scenario.prefix()))).await?
            }
            Backend::Postgres => {
                let database = database.context("stockd on PostgreSQL needs its database")?;
                let store = PostgresStore::open(&PostgresOptions::new(&database.url)).await?;
                store.migrate().await?;
                Arc::new(store)
            }
        };
        let engine = Engine::start(
            Arc::clone(&store),
            crate::serve::engine_config(&Config::default()),
        );
        let ids = scenario.ids();
        create_items(&engine, ids.clone(), PLENTY).await?;
        let server = HttpServer::start(Arc::clone(&store), engine.clone(), http_config()).await?;
        Ok(Stockd {
            scenario,
            backend,
            store,
            engine,
            server,
            ids,
        })
    }

    async fn stop(self) {
        self.server.stop().await;
    }

    /// One row; with `database`, its statistics are brought up to date
    /// once the row's holds are made, before the clock starts.
    async fn run(
        &self,
        path: Path,
        callers: usize,
        duration: Duration,
        database: Option<&BenchDatabase>,
    ) -> anyhow::Result<Row> {
        let scenario = self.scenario;
        let tag = format!("{}-{}{callers}", scenario.prefix(), path.tag());
        let before = stock_totals(self.store.as_ref(), &self.ids).await?;
        let supply = if path == Path::Commit {
            Some(
                self.make_holds(&tag, callers, duration * HOLD_SUPPLY_RUNS)
                    .await?,
            )
        } else {
            None
        };
        let made = supply
            .as_ref()
            .map_or(0, |s| s.lock().expect("not poisoned").len());
        if let Some(database) = database {
            database.analyze().await?;
        }
        let memory = match path {
            Path::ReadMemory => Some(self.memory_server().await?),
            _ => None,
        };
        let server = memory.as_ref().map_or(&self.server, |(server, _)| server);
        let clients =
            HttpCaller::many(server, scenario, Some(path), &tag, supply.clone(), callers)?;
        let clients = warm_up(clients).await;
        let tally = drive(clients, scenario.items(), duration).await?;
        if let Some((server, healer)) = memory {
            server.stop().await;
            healer.abort();
        }
        let sold: i64 = tally.callers.iter().map(|c| c.sold).sum();
        let held: i64 = made as i64 + tally.callers.iter().map(|c| c.held).sum::<i64>();
        let ran_out = supply.is_some_and(|s| s.lock().expect("not poisoned").is_empty());
        let mut row = Row::new(
            scenario,
            Variant::Stockd(self.backend, path),
            callers,
            tally,
        );
        if path == Path::Commit {
            let commits = row.successes;
            row.note = Some(if ran_out {
                format!("{commits} commits of {made} holds made beforehand; they ran out before the row's end")
            } else {
                format!("{commits} commits of {made} holds made beforehand")
            });
        }
        if path.writes() {
            let after = stock_totals(self.store.as_ref(), &self.ids).await?;
            let expected = StockTotals {
                on_hand: before.on_hand - sold,
                reserved: before.reserved + held,
                oversold: 0,
            };
            row.consistent = Some(after == expected);
            if after != expected {
                row.note = Some(format!(
                    "expected {expected:?} from {before:?}, found {after:?}"
                ));
            }
            row.verified = Some(self.store.verify().await?.is_clean());
        }
        Ok(row)
    }

    /// A server beside the row's, on the same store and engine, whose reads
    /// come from the read model in memory (`reads.memory`), once it has
    /// been filled; and the task that filled it. For rows that only read:
    /// the engine writes nothing through to it.
    async fn memory_server(&self) -> anyhow::Result<(HttpServer, tokio::task::JoinHandle<()>)> {
        use stock_jobs::cache::{Cache, CacheSettings, CacheState};
        let cache = Cache::new(
            Arc::clone(&self.store),
            Arc::new(stock_jobs::memory_cache::MemoryCache::new()),
            CacheSettings::default(),
        );
        let healer = cache.spawn_healer();
        let deadline = tokio::time::Instant::now() + MEMORY_FILL_MAX;
        while cache.state() != CacheState::Up {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the read model was not filled within {MEMORY_FILL_MAX:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let server = HttpServer::start_with(
            Arc::clone(&self.store),
            self.engine.clone(),
            http_config(),
            Some(cache),
        )
        .await?;
        Ok((server, healer))
    }

    /// One-line holds on the scenario's items, made through the engine for
    /// `duration`: the supply a commit row's callers take from.
    async fn make_holds(
        &self,
        tag: &str,
        callers: usize,
        duration: Duration,
    ) -> anyhow::Result<HoldSupply> {
        let makers = (0..callers.max(HOLD_MAKERS_MIN))
            .map(|number| HoldMaker {
                engine: self.engine.clone(),
                scenario: self.scenario,
                tag: format!("{tag}m{number}"),
                made: Vec::new(),
            })
            .collect();
        let tally = drive(makers, self.scenario.items(), duration).await?;
        let holds = tally.callers.into_iter().flat_map(|maker| maker.made);
        Ok(Arc::new(Mutex::new(holds.collect())))
    }
}

/// Holds still to commit, shared by a commit row's callers.
type HoldSupply = Arc<Mutex<Vec<String>>>;

/// Makes holds through the engine, for a commit row to commit.
struct HoldMaker {
    engine: Engine,
    scenario: Scenario,
    tag: String,
    made: Vec<String>,
}

impl Caller for HoldMaker {
    async fn attempt(&mut self, index: usize) -> anyhow::Result<bool> {
        let id = format!("{}-{}", self.tag, self.made.len());
        let command = Command::CreateHold {
            id: id.clone(),
            order_id: id.clone(),
            lines: vec![HoldLineRequest {
                item: ItemId::parse(&self.scenario.item_id(index))?,
                location: None,
                quantity: 1,
            }],
            ttl_ms: i64::try_from(HOLD_TTL_S * 1000)?,
        };
        match self.engine.submit(command, meta()).await {
            Reply::Fresh(Ok(_)) => {
                self.made.push(id);
                Ok(true)
            }
            other => anyhow::bail!("making a hold to commit failed: {other:?}"),
        }
    }
}

/// A client of stockd's with one kept-alive connection; it tallies the
/// stock its successes took (`sold`) and hold (`held`).
struct HttpCaller {
    client: reqwest::Client,
    base: Arc<str>,
    key: Arc<str>,
    scenario: Scenario,
    /// None: the no-op ceiling.
    path: Option<Path>,
    /// What the ids of this caller's holds and orders start with.
    tag: String,
    sequence: u64,
    /// For a commit row: the holds still to commit, and the one this
    /// caller commits next.
    holds: Option<HoldSupply>,
    next_hold: Option<String>,
    sold: i64,
    held: i64,
}

impl HttpCaller {
    fn many(
        server: &HttpServer,
        scenario: Scenario,
        path: Option<Path>,
        tag: &str,
        holds: Option<HoldSupply>,
        callers: usize,
    ) -> anyhow::Result<Vec<HttpCaller>> {
        let base: Arc<str> = Arc::from(server.base.as_str());
        let key: Arc<str> = Arc::from(server.key.as_str());
        (0..callers)
            .map(|number| {
                Ok(HttpCaller {
                    client: reqwest::Client::builder()
                        .pool_max_idle_per_host(1)
                        .no_proxy()
                        .build()?,
                    base: Arc::clone(&base),
                    key: Arc::clone(&key),
                    scenario,
                    path,
                    tag: format!("{tag}-{number}"),
                    sequence: 0,
                    holds: holds.clone(),
                    next_hold: None,
                    sold: 0,
                    held: 0,
                })
            })
            .collect()
    }

    /// The answer's status, its body read to the end (so the connection is
    /// kept); None when the request or the body failed on the way.
    async fn send(&self, method: Method, route: &str, body: Option<String>) -> Option<StatusCode> {
        let mut request = self
            .client
            .request(method, format!("{}{route}", self.base))
            .bearer_auth(&*self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.ok()?;
        let status = response.status();
        response.bytes().await.ok()?;
        Some(status)
    }

    fn next_reference(&mut self) -> String {
        self.sequence += 1;
        format!("{}-{}", self.tag, self.sequence)
    }

    /// An order of one unit of `item`, then its payment: true when both
    /// succeeded.
    async fn order_and_pay(&mut self, item: &str) -> bool {
        let id = self.next_reference();
        let body = format!(
            "{{\"order_id\":\"{id}\",\"items\":{},\"ttl_seconds\":{HOLD_TTL_S}}}",
            one_line(item)
        );
        let placed = self.send(Method::POST, "/api/v1/orders", Some(body)).await;
        if placed != Some(StatusCode::CREATED) {
            return false;
        }
        self.held += 1;
        let route = format!("/api/v1/orders/{id}/pay");
        if self.send(Method::POST, &route, None).await != Some(StatusCode::OK) {
            return false;
        }
        self.held -= 1;
        self.sold += 1;
        true
    }
}

/// One line of quantity 1, as holds, orders and decreases take it.
fn one_line(item: &str) -> String {
    format!("[{{\"product_id\":\"{item}\",\"quantity\":1}}]")
}

impl Caller for HttpCaller {
    async fn attempt(&mut self, index: usize) -> anyhow::Result<bool> {
        let item = self.scenario.item_id(index);
        let Some(path) = self.path else {
            let status = self.send(Method::GET, NO_OP_ROUTE, None).await;
            return Ok(status == Some(StatusCode::NOT_FOUND));
        };
        // The request, the answer hoped for, and the stock that answer
        // takes and holds.
        let (method, route, body, hoped, sold, held) = match path {
            Path::Read | Path::ReadMemory => (
                Method::GET,
                format!("/api/v1/inventory/{item}"),
                None,
                StatusCode::OK,
                0,
                0,
            ),
            Path::SyncStock => (
                Method::POST,
                "/api/v1/sync-stock".to_owned(),
                Some(format!("{{\"product_id\":\"{item}\",\"delta\":-1}}")),
                StatusCode::OK,
                1,
                0,
            ),
            Path::Decrease => (
                Method::POST,
                "/api/v1/inventory/decrease".to_owned(),
                Some(format!("{{\"items\":{}}}", one_line(&item))),
                StatusCode::OK,
                1,
                0,
            ),
            Path::Hold => {
                let id = self.next_reference();
                let body = format!(
                    "{{\"reservation_id\":\"{id}\",\"order_id\":\"{id}\",\"items\":{},\"ttl_seconds\":{HOLD_TTL_S}}}",
                    one_line(&item)
                );
                let route = "/api/v1/reservations".to_owned();
                (Method::POST, route, Some(body), StatusCode::CREATED, 0, 1)
            }
            Path::Commit => {
                let id = self.next_hold.take().context("no hold left to commit")?;
                let route = format!("/api/v1/reservations/{id}/commit");
                (Method::POST, route, None, StatusCode::OK, 1, -1)
            }
            Path::OrderPay => return Ok(self.order_and_pay(&item).await),
        };
        let succeeded = self.send(method, &route, body).await == Some(hoped);
        if succeeded {
            self.sold += sold;
            self.held += held;
        }
        Ok(succeeded)
    }

    /// A commit caller takes its next hold here, so that it stops only once
    /// the supply is empty and every hold it took is committed.
    fn exhausted(&mut self) -> bool {
        let Some(holds) = &self.holds else {
            return false;
        };
        if self.next_hold.is_none() {
            self.next_hold = holds.lock().expect("not poisoned").pop();
        }
        self.next_hold.is_none()
    }
}

/// Each caller's connection opened (a no-op request) before the clock
/// starts: a thousand connections at once overflow the listen backlog, and
/// their retries are not what a row measures.
async fn warm_up(callers: Vec<HttpCaller>) -> Vec<HttpCaller> {
    join_all(
        callers
            .iter()
            .map(|caller| caller.send(Method::GET, NO_OP_ROUTE, None)),
    )
    .await;
    callers
}

fn find(rows: &[Row], scenario: Scenario, variant: Variant, callers: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.scenario == scenario && r.variant == variant && r.callers == callers)
}

/// `rate` as a multiple of the same scenario's and concurrency's `base` row.
fn ratio(rows: &[Row], row: &Row, base: Variant) -> Option<f64> {
    find(rows, row.scenario, base, row.callers)
        .map(Row::per_second)
        .filter(|&rate| rate > 0.0)
        .map(|rate| row.per_second() / rate)
}

fn times(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.2}×"))
}

fn check(value: Option<bool>, yes: &str, no: &str) -> String {
    match value {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "-".to_owned(),
    }
}

fn table(rows: &[Row]) -> String {
    let mut text = table_head("scenario | row | request | conns: | ok/s: | attempts: | errors: | p50 ms: | p99 ms: | × V1: | × no-op: | sold + left = initial | verify");
    for row in rows {
        writeln!(
            text,
            "| {} | {} | {} | {} | {:.0} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} |",
            row.scenario.name(),
            match row.variant.path() {
                Some(path) => format!("{}: {}", row.variant.name(), path.name()),
                None => row.variant.name().to_owned(),
            },
            row.variant.request(),
            row.callers,
            row.per_second(),
            row.attempts,
            row.errors(),
            percentile(&row.latencies_us, 0.50),
            percentile(&row.latencies_us, 0.99),
            times(ratio(rows, row, Variant::V1)),
            times(ratio(rows, row, Variant::NoOp)),
            check(row.consistent, "yes", "NO"),
            check(row.verified, "clean", "MISMATCH"),
        )
        .ok();
    }
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let note = row.note.as_deref()?;
            Some(format!(
                "- {}, {}: {}, {} conns: {note}",
                row.scenario.name(),
                row.variant.name(),
                row.variant.path().map_or("", Path::name),
                row.callers,
            ))
        })
        .collect();
    if !notes.is_empty() {
        writeln!(text).ok();
        for note in notes {
            writeln!(text, "{note}").ok();
        }
    }
    text
}

/// The connections at which the targets are set.
const TARGET_CALLERS: usize = 256;
const WRITE_VS_V1_MIN: f64 = 20.0;
const WRITE_VS_NO_OP_MIN: f64 = 0.35;
const WRITE_P99_MAX_MS: f64 = 50.0;
const READ_VS_NO_OP_MIN: f64 = 0.6;

/// The longest the read model of a row may take to fill.
const MEMORY_FILL_MAX: Duration = Duration::from_secs(120);

/// Where each target stands in this run.
fn targets(rows: &[Row]) -> String {
    let mut text = format!(
        "Where the targets stand (hot item, {TARGET_CALLERS} connections; ratios to this run's V1 and no-op ceiling):\n"
    );
    let (mut met, mut measured) = (0, 0);
    for backend in Backend::ALL {
        for path in Path::ALL {
            let variant = Variant::Stockd(backend, path);
            let label = format!("{}, {}", variant.name(), path.name());
            let Some(row) = find(rows, Scenario::Hot, variant, TARGET_CALLERS) else {
                writeln!(text, "- {label}: not measured").ok();
                continue;
            };
            let vs_no_op = ratio(rows, row, Variant::NoOp);
            if !path.writes() {
                let reached = vs_no_op.is_some_and(|r| r >= READ_VS_NO_OP_MIN);
                writeln!(
                    text,
                    "- {label}: {:.0}/s, {} the no-op ceiling (target ≥ {READ_VS_NO_OP_MIN}×): {}",
                    row.per_second(),
                    times(vs_no_op),
                    if reached { "met" } else { "not met" }
                )
                .ok();
                continue;
            }
            let vs_v1 = ratio(rows, row, Variant::V1);
            let p99 = percentile(&row.latencies_us, 0.99);
            let reached = vs_v1.is_some_and(|r| r >= WRITE_VS_V1_MIN)
                && vs_no_op.is_some_and(|r| r >= WRITE_VS_NO_OP_MIN)
                && p99 <= WRITE_P99_MAX_MS;
            measured += 1;
            met += usize::from(reached);
            writeln!(
                text,
                "- {label}: {:.0}/s, {} V1 (target ≥ {WRITE_VS_V1_MIN}×), {} the no-op ceiling (target ≥ {WRITE_VS_NO_OP_MIN}×), p99 {p99:.1} ms (target ≤ {WRITE_P99_MAX_MS} ms): {}",
                row.per_second(),
                times(vs_v1),
                times(vs_no_op),
                if reached { "met" } else { "not met" }
            )
            .ok();
        }
    }
    writeln!(
        text,
        "- write paths that meet all three targets: {met} of {measured} measured"
    )
    .ok();
    let oversold = rows.iter().filter(|r| r.consistent == Some(false)).count();
    let unverified = rows.iter().filter(|r| r.verified == Some(false)).count();
    let writing = rows.iter().filter(|r| r.consistent.is_some()).count();
    writeln!(
        text,
        "- rows (of {writing} that write) where sold + left ≠ initial: {oversold}; where verify found a mismatch: {unverified} (target 0 and 0)"
    )
    .ok();
    text
}
