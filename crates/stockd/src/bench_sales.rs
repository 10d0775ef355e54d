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
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection as Resp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use stock_core::{Item, ItemId, ItemStatus, LocationId, Role};
use stock_engine::{Engine, EngineConfig};
use stock_store::{
    Command, ItemPatch, PostgresOptions, PostgresStore, Reply, SqliteOptions, SqliteStore,
    StockSet, Store, WriteMeta,
};
use tokio::task::JoinSet;

/// The most PostgreSQL connections one variant opens (the server allows 100).
const POSTGRES_CONNECTIONS_MAX: u32 = 48;
/// Attempts of V3 before a sale is given up as a conflict.
const VERSION_RETRIES_MAX: u32 = 3;
const UNIFORM_ITEMS: usize = 10_000;
const SELLOUT_STOCK: i64 = 10_000;
/// Stock of the hot and uniform scenarios: more than any run can sell.
const PLENTY: i64 = 1_000_000_000;

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
}

pub struct Options {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub postgres: String,
    pub redis: String,
    pub out: PathBuf,
    /// Words a scenario's name must contain one of; empty: every scenario.
    pub scenarios: Vec<String>,
    /// Words a variant's name must contain one of; empty: every variant.
    pub variants: Vec<String>,
}

/// Whether `name` is chosen by `words` (any of them, ignoring case).
fn chosen(name: &str, words: &[String]) -> bool {
    let name = name.to_lowercase();
    words.is_empty() || words.iter().any(|word| name.contains(&word.to_lowercase()))
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
        variant: Variant,
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
        key: String,
        store: Arc<dyn Store>,
        engine: Engine,
    },
}

pub async fn sales(options: Options) -> anyhow::Result<ExitCode> {
    let work = tempfile::tempdir().context("a directory for the benchmark")?;
    let database = format!("stockd_bench_{}", std::process::id());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{}/postgres", options.postgres))
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", options.postgres))?;
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&admin)
        .await?;
    let fsync_redis = FsyncRedis::start(work.path()).await?;
    let result = run_all(
        &admin,
        &options,
        &format!("{}/{database}", options.postgres),
        &fsync_redis.address,
        work.path(),
    )
    .await;
    drop(fsync_redis);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&admin)
        .await
        .ok();
    let rows = result?;
    let table = table(&rows);
    println!("{table}");
    std::fs::create_dir_all(&options.out)?;
    let chart = options.out.join("sales.svg");
    std::fs::write(&chart, chart_svg(&rows))?;
    std::fs::write(options.out.join("sales.md"), &table)?;
    println!(
        "Wrote {} and {}",
        options.out.join("sales.md").display(),
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
    admin: &sqlx::PgPool,
    options: &Options,
    postgres: &str,
    fsync_redis: &str,
    work: &Path,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for scenario in Scenario::ALL {
        if !chosen(scenario.name(), &options.scenarios) {
            continue;
        }
        for variant in Variant::ALL {
            if !chosen(variant.name(), &options.variants) {
                continue;
            }
            let seller = Arc::new(
                Seller::set_up(
                    variant,
                    scenario,
                    postgres,
                    &options.redis,
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
                // Every row starts with PostgreSQL's dirty pages on disk, so
                // that no row pays for the checkpoint of the one before.
                sqlx::query("CHECKPOINT").execute(admin).await?;
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

fn meta() -> WriteMeta {
    WriteMeta {
        operator: "bench".into(),
        trace_id: None,
        idempotency: None,
    }
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
        match variant {
            Variant::ConditionalUpdate | Variant::SelectForUpdate | Variant::VersionColumn => {
                let pool = PgPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS_MAX)
                    .connect(postgres)
                    .await?;
                sqlx::query("DROP TABLE IF EXISTS bench_log, bench_stock")
                    .execute(&pool)
                    .await?;
                sqlx::query("CREATE TABLE bench_stock (id BIGINT PRIMARY KEY, stock BIGINT NOT NULL, version BIGINT NOT NULL)")
                    .execute(&pool).await?;
                sqlx::query("CREATE TABLE bench_log (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item BIGINT NOT NULL, delta BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())")
                    .execute(&pool).await?;
                Ok(Seller::Postgres { pool, variant })
            }
            Variant::RedisLua | Variant::RedisLuaFsync => {
                let address = if variant == Variant::RedisLua {
                    redis
                } else {
                    fsync_redis
                }
                .to_owned();
                let mut connection = redis_connection(&address).await?;
                let script = "local s = tonumber(redis.call('GET', KEYS[1])) \
                              if s and s >= tonumber(ARGV[1]) then redis.call('DECRBY', KEYS[1], ARGV[1]) return 1 end return 0";
                let sha: String = redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(script)
                    .query_async(&mut connection)
                    .await?;
                Ok(Seller::Redis { address, sha })
            }
            Variant::EngineSqlite | Variant::EnginePostgres | Variant::Http => {
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
                create_items(&engine, scenario).await?;
                if variant != Variant::Http {
                    return Ok(Seller::Engine { engine, store });
                }
                let key = stock_http::generate_key();
                store
                    .create_key(
                        &key.id,
                        "bench",
                        Role::Service,
                        &stock_http::hash_secret(&key.secret),
                    )
                    .await?;
                let jobs = stock_jobs::Jobs::new(
                    Arc::clone(&store),
                    engine.clone(),
                    stock_jobs::JobSettings::default(),
                );
                let state = stock_http::AppState::new(jobs, stock_http::HttpConfig::default());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let url = format!("http://{}/api/v1/sync-stock", listener.local_addr()?);
                tokio::spawn(async move { axum::serve(listener, stock_http::router(state)).await });
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(2048)
                    .build()?;
                Ok(Seller::Http {
                    client,
                    url,
                    key: key.secret,
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
                sqlx::query("TRUNCATE bench_stock, bench_log")
                    .execute(pool)
                    .await?;
                sqlx::query("INSERT INTO bench_stock (id, stock, version) SELECT g, $1, 0 FROM generate_series(0, $2 - 1) g")
                    .bind(scenario.stock())
                    .bind(scenario.items() as i64)
                    .execute(pool)
                    .await?;
            }
            Seller::Redis { address, .. } => {
                let mut connection = redis_connection(address).await?;
                for chunk in (0..scenario.items()).collect::<Vec<_>>().chunks(1000) {
                    let pairs: Vec<(String, i64)> = chunk
                        .iter()
                        .map(|index| (format!("bench:{index}"), scenario.stock()))
                        .collect();
                    let () = redis::cmd("MSET")
                        .arg(&pairs)
                        .query_async(&mut connection)
                        .await?;
                }
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
        if let Seller::Postgres { pool, .. } = self {
            pool.close().await;
        }
    }

    /// What is left, summed over the scenario's items.
    async fn remaining(&self, scenario: Scenario) -> anyhow::Result<i64> {
        match self {
            Seller::Postgres { pool, .. } => Ok(sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(stock), 0) AS BIGINT) FROM bench_stock",
            )
            .fetch_one(pool)
            .await?),
            Seller::Redis { address, .. } => {
                let mut connection = redis_connection(address).await?;
                let mut total = 0i64;
                for chunk in (0..scenario.items()).collect::<Vec<_>>().chunks(1000) {
                    let keys: Vec<String> =
                        chunk.iter().map(|index| format!("bench:{index}")).collect();
                    let values: Vec<Option<i64>> = redis::cmd("MGET")
                        .arg(&keys)
                        .query_async(&mut connection)
                        .await?;
                    for value in values {
                        // A missing key is a lost item, not an empty one.
                        total += value.context("a bench item is missing from Redis")?;
                    }
                }
                Ok(total)
            }
            Seller::Engine { store, .. } | Seller::Http { store, .. } => {
                let ids: Vec<ItemId> = (0..scenario.items())
                    .map(|index| item_id(scenario, index))
                    .collect();
                let mut total = 0i64;
                for chunk in ids.chunks(stock_core::LINES_MAX) {
                    total += store
                        .items(chunk)
                        .await?
                        .iter()
                        .map(|view| view.on_hand())
                        .sum::<i64>();
                }
                Ok(total)
            }
        }
    }
}

async fn create_items(engine: &Engine, scenario: Scenario) -> anyhow::Result<()> {
    let mut creating = JoinSet::new();
    for index in 0..scenario.items() {
        let engine = engine.clone();
        let stock = scenario.stock();
        creating.spawn(async move {
            let item = Item {
                id: item_id(scenario, index),
                name: format!("Bench item {index}"),
                status: ItemStatus::Active,
                min_stock: None,
                max_stock: None,
                allow_backorder: false,
            };
            let command = Command::CreateItem {
                item,
                location: LocationId::default_location(),
                opening_stock: stock,
            };
            engine.submit(command, meta()).await
        });
        if creating.len() >= 512 {
            if let Some(joined) = creating.join_next().await {
                ensure_created(joined?)?;
            }
        }
    }
    while let Some(joined) = creating.join_next().await {
        ensure_created(joined?)?;
    }
    Ok(())
}

fn ensure_created(reply: Reply) -> anyhow::Result<()> {
    match reply {
        Reply::Fresh(Ok(_)) | Reply::Fresh(Err(stock_store::WriteError::AlreadyExists { .. })) => {
            Ok(())
        }
        other => bail!("creating a bench item failed: {other:?}"),
    }
}

/// How long a benchmark caller waits to connect to Redis, and for a reply:
/// well beyond what a 1,024-caller run takes (a thousand connections at
/// once overflow the listen backlog; the crate's own defaults are 1 s and
/// 500 ms, which would count queueing as failures).
const REDIS_WAIT: Duration = Duration::from_secs(30);

/// A connection of one caller's own to the Redis at `host:port`.
async fn redis_connection(address: &str) -> anyhow::Result<Resp> {
    let client = redis::Client::open(format!("redis://{address}"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_WAIT))
        .set_response_timeout(Some(REDIS_WAIT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("connecting to Redis at {address}"))
}

/// One caller's sale attempt: Ok(true) sold, Ok(false) refused.
async fn sell(
    seller: &Seller,
    scenario: Scenario,
    redis: &mut Option<Resp>,
    index: usize,
) -> anyhow::Result<bool> {
    match seller {
        Seller::Postgres { pool, variant } => sell_postgres(pool, *variant, index as i64).await,
        Seller::Redis { address, sha } => {
            if redis.is_none() {
                *redis = Some(redis_connection(address).await?);
            }
            let connection = redis.as_mut().expect("connected above");
            let sold: i64 = redis::cmd("EVALSHA")
                .arg(sha)
                .arg(1)
                .arg(format!("bench:{index}"))
                .arg(1)
                .query_async(connection)
                .await?;
            Ok(sold == 1)
        }
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
            client, url, key, ..
        } => {
            let body = format!(
                "{{\"product_id\":\"{}\",\"delta\":-1}}",
                item_id(scenario, index)
            );
            let response = client
                .post(url)
                .bearer_auth(key)
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

async fn sell_postgres(pool: &PgPool, variant: Variant, id: i64) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let sold = match variant {
        Variant::ConditionalUpdate => {
            sqlx::query("UPDATE bench_stock SET stock = stock - 1 WHERE id = $1 AND stock >= 1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        }
        Variant::SelectForUpdate => {
            let stock: i64 =
                sqlx::query_scalar("SELECT stock FROM bench_stock WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if stock >= 1 {
                sqlx::query("UPDATE bench_stock SET stock = stock - 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            stock >= 1
        }
        _ => {
            let mut sold = false;
            for _ in 0..VERSION_RETRIES_MAX {
                let (stock, version): (i64, i64) =
                    sqlx::query_as("SELECT stock, version FROM bench_stock WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                if stock < 1 {
                    break;
                }
                let updated = sqlx::query("UPDATE bench_stock SET stock = stock - 1, version = version + 1 WHERE id = $1 AND version = $2")
                    .bind(id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated == 1 {
                    sold = true;
                    break;
                }
            }
            sold
        }
    };
    if sold {
        sqlx::query("INSERT INTO bench_log (item, delta) VALUES ($1, -1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(sold)
}

async fn run(
    seller: &Arc<Seller>,
    variant: Variant,
    scenario: Scenario,
    callers: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let deadline = started + duration;
    // Each caller is a task of its own, so that callers run on every core
    // as a shop's clients would, and a reply wakes only its caller.
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let seller = Arc::clone(seller);
        tasks.spawn(async move {
            let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ (caller as u64 + 1);
            let (mut sales, mut attempts, mut latencies) = (0u64, 0u64, Vec::new());
            let mut redis = None;
            while Instant::now() < deadline {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let index = (seed % scenario.items() as u64) as usize;
                let sent = Instant::now();
                let sold = sell(&seller, scenario, &mut redis, index).await?;
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                attempts += 1;
                if sold {
                    sales += 1;
                }
            }
            Ok::<_, anyhow::Error>((sales, attempts, latencies))
        });
    }
    let mut results = Vec::with_capacity(callers);
    while let Some(result) = tasks.join_next().await {
        results.push(result.context("a caller panicked")?);
    }
    let elapsed = started.elapsed();
    let mut row = Row {
        scenario,
        variant,
        callers,
        sales: 0,
        attempts: 0,
        elapsed,
        latencies_us: Vec::new(),
        consistent: false,
    };
    for result in results {
        let (sales, attempts, mut latencies) = result?;
        row.sales += sales;
        row.attempts += attempts;
        row.latencies_us.append(&mut latencies);
    }
    row.latencies_us.sort_unstable();
    let remaining = seller.remaining(scenario).await?;
    row.consistent = row.sales as i64 + remaining == scenario.initial() && remaining >= 0;
    Ok(row)
}

fn percentile(sorted: &[u64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

fn table(rows: &[Row]) -> String {
    let mut text = String::new();
    writeln!(text, "| scenario | variant | callers | sales/s | attempts/s | p50 ms | p99 ms | p99.9 ms | durable | sold + left = initial |").ok();
    writeln!(
        text,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    )
    .ok();
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
