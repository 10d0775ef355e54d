//! `stockd bench sales`: stockd against the ways shops sell stock today,
//! side by side, in one run, on the same servers.
//!
//! Variants: V1 a conditional `UPDATE … WHERE stock >= n` plus a log row, V2
//! `SELECT … FOR UPDATE` then update and log, V3 a version column with
//! bounded retries (all on PostgreSQL, one transaction per sale); V4 a Redis
//! Lua check-and-decrement, on the given Redis (no persistence) and on one
//! started here with `appendfsync always`; stockd's engine in process on
//! SQLite and on PostgreSQL; and stockd over HTTP on loopback. Scenarios: one
//! hot item, 10,000 items picked uniformly, and a sell-out of 10,000 units.
//! Each run lasts a fixed time; it reports successful sales per second apart
//! from attempts, latency percentiles, and checks sold + remaining = initial.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection as Resp;
use sqlx::postgres::PgPool;
use stock_core::{ItemId, LocationId};
use stock_engine::{Engine, EngineConfig};
use stock_store::{
    Command, ItemPatch, PostgresOptions, PostgresStore, Reply, SqliteOptions, SqliteStore,
    StockSet, Store,
};

use crate::bench_kit::{
    chosen, create_items, drive, lua_load, lua_remaining, lua_reset, lua_sell, meta, percentile,
    redis_connection, sql_remaining, sql_reset, sql_sell, sql_tables, stock_totals, table_head,
    BenchDatabase, Caller, Common, HttpServer, SqlSale, PLENTY, UNIFORM_ITEMS,
};

const SELLOUT_STOCK: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Hot,
    Uniform,
    Sellout,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Hot, Scenario::Uniform, Scenario::Sellout];

    fn name(self) -> &'static str {
        match self {
            Scenario::Hot => "hot item",
            Scenario::Uniform => "10,000 items",
            Scenario::Sellout => "sell-out of 10,000",
        }
    }

    fn items(self) -> usize {
        match self {
            Scenario::Uniform => UNIFORM_ITEMS,
            Scenario::Hot | Scenario::Sellout => 1,
        }
    }

    fn stock(self) -> i64 {
        match self {
            Scenario::Sellout => SELLOUT_STOCK,
            Scenario::Hot | Scenario::Uniform => PLENTY,
        }
    }

    fn initial(self) -> i64 {
        self.stock() * self.items() as i64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    ConditionalUpdate,
    SelectForUpdate,
    VersionColumn,
    RedisLua,
    RedisLuaFsync,
    EngineSqlite,
    EnginePostgres,
    Http,
}

impl Variant {
    const ALL: [Variant; 8] = [
        Variant::ConditionalUpdate,
        Variant::SelectForUpdate,
        Variant::VersionColumn,
        Variant::RedisLua,
        Variant::RedisLuaFsync,
        Variant::EngineSqlite,
        Variant::EnginePostgres,
        Variant::Http,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::ConditionalUpdate => "V1 PG conditional UPDATE",
            Variant::SelectForUpdate => "V2 PG SELECT FOR UPDATE",
            Variant::VersionColumn => "V3 PG version column",
            Variant::RedisLua => "V4 Redis Lua, no persistence",
            Variant::RedisLuaFsync => "V4 Redis Lua, appendfsync always",
            Variant::EngineSqlite => "stockd engine, SQLite",
            Variant::EnginePostgres => "stockd engine, PostgreSQL",
            Variant::Http => "stockd over HTTP (SQLite)",
        }
    }

    /// Whether every answered sale is on disk when it is answered.
    fn durable(self) -> bool {
        self != Variant::RedisLua
    }

    /// The SQL of V1–V3.
    fn sql(self) -> Option<SqlSale> {
        match self {
            Variant::ConditionalUpdate => Some(SqlSale::ConditionalUpdate),
            Variant::SelectForUpdate => Some(SqlSale::SelectForUpdate),
            Variant::VersionColumn => Some(SqlSale::VersionColumn),
            _ => None,
        }
    }
}

pub struct Options {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub common: Common,
}

struct Row {
    scenario: Scenario,
    variant: Variant,
    callers: usize,
    sales: u64,
    attempts: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    consistent: bool,
}

impl Row {
    fn sales_per_second(&self) -> f64 {
        self.sales as f64 / self.elapsed.as_secs_f64()
    }
}

/// One way of selling, set up for one scenario.
enum Seller {
    Postgres {
        pool: PgPool,
        way: SqlSale,
    },
    Redis {
        address: String,
        sha: String,
    },
    Engine {
        engine: Engine,
        store: Arc<dyn Store>,
    },
    Http {
        client: reqwest::Client,
        url: String,
        server: HttpServer,
        store: Arc<dyn Store>,
        engine: Engine,
    },
}

pub async fn sales(options: Options) -> anyhow::Result<ExitCode> {
    let work = tempfile::tempdir().context("a directory for the benchmark")?;
    let database = BenchDatabase::create(&options.common.postgres, "sales").await?;
    let fsync_redis = FsyncRedis::start(work.path()).await?;
    let result = run_all(&database, &options, &fsync_redis.address, work.path()).await;
    drop(fsync_redis);
    database.drop().await;
    let rows = result?;
    let table = table(&rows);
    println!("{table}");
    std::fs::create_dir_all(&options.common.out)?;
    let chart = options.common.out.join("sales.svg");
    std::fs::write(&chart, chart_svg(&rows))?;
    std::fs::write(options.common.out.join("sales.md"), &table)?;
    println!(
        "Wrote {} and {}",
        options.common.out.join("sales.md").display(),
        chart.display()
    );
    println!();
    println!("{}", targets(&rows));
    let oversold = rows.iter().filter(|r| !r.consistent).count();
    if oversold > 0 {
        eprintln!("{oversold} runs failed the check sold + remaining = initial");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_all(
    database: &BenchDatabase,
    options: &Options,
    fsync_redis: &str,
    work: &Path,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for scenario in Scenario::ALL {
        if !chosen(scenario.name(), &options.common.scenarios) {
            continue;
        }
        for variant in Variant::ALL {
            if !chosen(variant.name(), &options.common.variants) {
                continue;
            }
            let seller = Arc::new(
                Seller::set_up(
                    variant,
                    scenario,
                    &database.url,
                    &options.common.redis,
                    fsync_redis,
                    work,
                )
                .await
                .with_context(|| {
                    format!("setting up {} for {}", variant.name(), scenario.name())
                })?,
            );
            for &callers in &options.concurrency {
                seller.reset(scenario).await?;
                // Every row starts with PostgreSQL's dirty pages on disk.
                database.checkpoint().await?;
                let before = seller.store_activity();
                let row = run(&seller, variant, scenario, callers, options.duration).await?;
                let batches = match (before, seller.store_activity()) {
                    (Some(before), Some(after)) if after.batches > before.batches => format!(
                        ", {:.0} writes a batch",
                        (after.writes - before.writes) as f64
                            / (after.batches - before.batches) as f64
                    ),
                    _ => String::new(),
                };
                eprintln!(
                    "{:<20} {:<34} {:>5} callers: {:>9.0} sales/s ({} attempts{batches})",
                    scenario.name(),
                    variant.name(),
                    callers,
                    row.sales_per_second(),
                    row.attempts
                );
                rows.push(row);
            }
            // Every caller task has ended, so this is the last handle.
            let seller = Arc::into_inner(seller).context("a caller outlived its run")?;
            seller.tear_down().await;
        }
    }
    Ok(rows)
}

impl Scenario {
    /// Each scenario has items of its own, so that scenarios sharing a
    /// database (stockd on PostgreSQL) never see each other's stock.
    fn prefix(self) -> &'static str {
        match self {
            Scenario::Hot => "hot",
            Scenario::Uniform => "uni",
            Scenario::Sellout => "out",
        }
    }
}

fn item_id(scenario: Scenario, index: usize) -> ItemId {
    ItemId::parse(&format!("{}{index}", scenario.prefix())).expect("a valid id")
}

impl Seller {
    async fn set_up(
        variant: Variant,
        scenario: Scenario,
        postgres: &str,
        redis: &str,
        fsync_redis: &str,
        work: &Path,
    ) -> anyhow::Result<Seller> {
        if let Some(way) = variant.sql() {
            let pool = sql_tables(postgres).await?;
            return Ok(Seller::Postgres { pool, way });
        }
        match variant {
            Variant::RedisLua | Variant::RedisLuaFsync => {
                let address = if variant == Variant::RedisLua {
                    redis
                } else {
                    fsync_redis
                }
                .to_owned();
                let sha = lua_load(&address).await?;
                Ok(Seller::Redis { address, sha })
            }
            _ => {
                let store: Arc<dyn Store> = if variant == Variant::EnginePostgres {
                    let store = PostgresStore::open(&PostgresOptions::new(postgres)).await?;
                    store.migrate().await?;
                    Arc::new(store)
                } else {
                    let path = work.join(format!("{}-{:?}.db", scenario.items(), variant));
                    let store = SqliteStore::open(&SqliteOptions::new(path)).await?;
                    store.migrate().await?;
                    Arc::new(store)
                };
                let engine = Engine::start(Arc::clone(&store), EngineConfig::default());
                create_items(&engine, item_ids(scenario), scenario.stock()).await?;
                if variant != Variant::Http {
                    return Ok(Seller::Engine { engine, store });
                }
                let server = HttpServer::start(
                    Arc::clone(&store),
                    engine.clone(),
                    stock_http::HttpConfig::default(),
                )
                .await?;
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(2048)
                    .build()?;
                Ok(Seller::Http {
                    client,
                    url: format!("{}/api/v1/sync-stock", server.base),
                    server,
                    store,
                    engine,
                })
            }
        }
    }

    /// Puts every item back at the scenario's opening stock.
    /// The engine's work so far, for stockd's variants.
    fn store_activity(&self) -> Option<stock_engine::StoreActivity> {
        match self {
            Seller::Engine { engine, .. } | Seller::Http { engine, .. } => {
                Some(engine.store_activity())
            }
            _ => None,
        }
    }

    async fn reset(&self, scenario: Scenario) -> anyhow::Result<()> {
        match self {
            Seller::Postgres { pool, .. } => {
                sql_reset(pool, scenario.items(), scenario.stock()).await?;
            }
            Seller::Redis { address, .. } => {
                lua_reset(address, scenario.items(), scenario.stock()).await?;
            }
            Seller::Engine { engine, store } | Seller::Http { engine, store, .. } => {
                for index in 0..scenario.items() {
                    let id = item_id(scenario, index);
                    let view = store.item(&id).await?.context("a bench item is missing")?;
                    let location = LocationId::default_location();
                    let level = view
                        .level_at(&location)
                        .map(|l| l.level)
                        .unwrap_or_default();
                    if level.on_hand == scenario.stock() {
                        continue;
                    }
                    let set_stock = Some(StockSet {
                        location,
                        on_hand: scenario.stock(),
                        expected_version: level.version,
                        reason: Some("bench reset".into()),
                    });
                    let command = Command::UpdateItem {
                        id,
                        patch: ItemPatch::default(),
                        set_stock,
                    };
                    match engine.submit(command, meta()).await {
                        Reply::Fresh(Ok(_)) => {}
                        other => bail!("resetting stock failed: {other:?}"),
                    }
                }
            }
        }
        Ok(())
    }

    async fn tear_down(self) {
        match self {
            Seller::Postgres { pool, .. } => pool.close().await,
            Seller::Http { client, server, .. } => {
                drop(client);
                server.stop().await;
            }
            _ => {}
        }
    }

    /// What is left, summed over the scenario's items.
    async fn remaining(&self, scenario: Scenario) -> anyhow::Result<i64> {
        match self {
            Seller::Postgres { pool, .. } => sql_remaining(pool).await,
            Seller::Redis { address, .. } => lua_remaining(address, scenario.items()).await,
            Seller::Engine { store, .. } | Seller::Http { store, .. } => {
                Ok(stock_totals(store.as_ref(), &item_ids(scenario))
                    .await?
                    .on_hand)
            }
        }
    }
}

fn item_ids(scenario: Scenario) -> Vec<ItemId> {
    (0..scenario.items())
        .map(|index| item_id(scenario, index))
        .collect()
}

/// One caller of a run: its sales go to `seller`.
struct SalesCaller {
    seller: Arc<Seller>,
    scenario: Scenario,
    redis: Option<Resp>,
}

impl Caller for SalesCaller {
    async fn attempt(&mut self, index: usize) -> anyhow::Result<bool> {
        let scenario = self.scenario;
        match self.seller.as_ref() {
            Seller::Postgres { pool, way } => sql_sell(pool, *way, index as i64).await,
            Seller::Redis { address, sha } => lua_sell(&mut self.redis, address, sha, index).await,
            Seller::Engine { engine, .. } => {
                let command = Command::SyncStock {
                    item: item_id(scenario, index),
                    location: LocationId::default_location(),
                    delta: -1,
                    order_id: None,
                    reason: None,
                    trace_id: None,
                };
                match engine.submit(command, meta()).await {
                    Reply::Fresh(Ok(_)) => Ok(true),
                    Reply::Fresh(Err(stock_store::WriteError::Stock(_))) => Ok(false),
                    other => bail!("a sale failed: {other:?}"),
                }
            }
            Seller::Http {
                client,
                url,
                server,
                ..
            } => {
                let body = format!(
                    "{{\"product_id\":\"{}\",\"delta\":-1}}",
                    item_id(scenario, index)
                );
                let response = client
                    .post(url)
                    .bearer_auth(&server.key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                match response.status().as_u16() {
                    200 => Ok(true),
                    409 => Ok(false),
                    other => bail!("a sale over HTTP answered {other}"),
                }
            }
        }
    }
}

async fn run(
    seller: &Arc<Seller>,
    variant: Variant,
    scenario: Scenario,
    callers: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let callers_of_run = (0..callers)
        .map(|_| SalesCaller {
            seller: Arc::clone(seller),
            scenario,
            redis: None,
        })
        .collect();
    let tally = drive(callers_of_run, scenario.items(), duration).await?;
    drop(tally.callers);
    let remaining = seller.remaining(scenario).await?;
    Ok(Row {
        scenario,
        variant,
        callers,
        sales: tally.successes,
        attempts: tally.attempts,
        elapsed: tally.elapsed,
        latencies_us: tally.latencies_us,
        consistent: tally.successes as i64 + remaining == scenario.initial() && remaining >= 0,
    })
}

fn table(rows: &[Row]) -> String {
    let mut text = table_head("scenario | variant | callers: | sales/s: | attempts/s: | p50 ms: | p99 ms: | p99.9 ms: | durable | sold + left = initial");
    for row in rows {
        let seconds = row.elapsed.as_secs_f64();
        writeln!(
            text,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            row.scenario.name(),
            row.variant.name(),
            row.callers,
            row.sales_per_second(),
            row.attempts as f64 / seconds,
            percentile(&row.latencies_us, 0.50),
            percentile(&row.latencies_us, 0.99),
            percentile(&row.latencies_us, 0.999),
            if row.variant.durable() { "yes" } else { "no" },
            if row.consistent { "yes" } else { "NO" },
        )
        .ok();
    }
    text
}

fn find(rows: &[Row], scenario: Scenario, variant: Variant, callers: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.scenario == scenario && r.variant == variant && r.callers == callers)
}

/// Where each target of the write path stands, from this run.
fn targets(rows: &[Row]) -> String {
    let rate =
        |variant, callers| find(rows, Scenario::Hot, variant, callers).map(Row::sales_per_second);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "not measured".to_owned(),
    };
    let mut text = String::from("Targets (hot item, 256 callers):\n");
    writeln!(
        text,
        "- engine on PostgreSQL vs V1: {} (target 50×)",
        ratio(
            rate(Variant::EnginePostgres, 256),
            rate(Variant::ConditionalUpdate, 256)
        )
    )
    .ok();
    writeln!(
        text,
        "- HTTP vs V4 without persistence: {} (target 1.0×)",
        ratio(rate(Variant::Http, 256), rate(Variant::RedisLua, 256))
    )
    .ok();
    writeln!(
        text,
        "- HTTP vs V4 with appendfsync always: {} (target 5×)",
        ratio(rate(Variant::Http, 256), rate(Variant::RedisLuaFsync, 256))
    )
    .ok();
    for variant in [
        Variant::EngineSqlite,
        Variant::EnginePostgres,
        Variant::Http,
    ] {
        let p99 = |callers| {
            find(rows, Scenario::Hot, variant, callers).map(|r| percentile(&r.latencies_us, 0.99))
        };
        writeln!(
            text,
            "- {} p99 at 256 / 1,024 callers: {} / {} ms (target within 25 ms)",
            variant.name(),
            p99(256).map_or("-".to_owned(), |v| format!("{v:.1}")),
            p99(1024).map_or("-".to_owned(), |v| format!("{v:.1}")),
        )
        .ok();
    }
    let inconsistent = rows.iter().filter(|r| !r.consistent).count();
    writeln!(
        text,
        "- runs where sold + remaining ≠ initial: {inconsistent} (target 0)"
    )
    .ok();
    text
}

/// A bar chart of sales per second for every variant, per scenario, at the
/// busiest concurrency measured; log scale, since the variants differ by
/// orders of magnitude.
fn chart_svg(rows: &[Row]) -> String {
    let callers = rows.iter().map(|r| r.callers).max().unwrap_or(1);
    let (width, bar_height, gap, left) = (900.0, 16.0, 4.0, 300.0);
    let max = rows
        .iter()
        .map(Row::sales_per_second)
        .fold(1.0f64, f64::max)
        .log10()
        .ceil()
        .max(1.0);
    let mut y = 40.0;
    let mut body = String::new();
    for scenario in Scenario::ALL {
        writeln!(
            body,
            r#"<text x="10" y="{y}" font-weight="bold">{} — {callers} callers</text>"#,
            scenario.name()
        )
        .ok();
        y += 8.0;
        for variant in Variant::ALL {
            let Some(row) = find(rows, scenario, variant, callers) else {
                continue;
            };
            let rate = row.sales_per_second().max(1.0);
            let length = (width - left - 80.0) * rate.log10() / max;
            let colour = if matches!(
                variant,
                Variant::EngineSqlite | Variant::EnginePostgres | Variant::Http
            ) {
                "#2b7a4b"
            } else {
                "#8a8f98"
            };
            writeln!(
                body,
                r#"<text x="{}" y="{}" text-anchor="end" font-size="12">{}</text>"#,
                left - 6.0,
                y + 12.0,
                variant.name()
            )
            .ok();
            writeln!(body, r#"<rect x="{left}" y="{y}" width="{length:.1}" height="{bar_height}" fill="{colour}"/>"#).ok();
            writeln!(
                body,
                r#"<text x="{:.1}" y="{}" font-size="12">{:.0}/s</text>"#,
                left + length + 4.0,
                y + 12.0,
                row.sales_per_second()
            )
            .ok();
            y += bar_height + gap;
        }
        y += 20.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="15">Successful sales per second (log scale), stockd bench sales</text>
{body}</svg>
"#,
        h = y + 10.0
    )
}

/// A Redis server of our own with every write fsynced before it answers.
struct FsyncRedis {
    child: std::process::Child,
    address: String,
}

impl FsyncRedis {
    async fn start(dir: &Path) -> anyhow::Result<FsyncRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting redis-server (appendfsync always); is Redis installed?")?;
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(mut connection) = redis_connection(&address).await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    break;
                }
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(FsyncRedis { child, address })
    }
}

impl Drop for FsyncRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
