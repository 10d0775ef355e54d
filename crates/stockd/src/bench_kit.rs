//! What the benchmarks share: choosing rows by name, the callers' loop and
//! its percentiles, the SQL and the Lua script of the usual shop code, the
//! bench items, their totals, and stockd's HTTP server on loopback.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection as Resp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use stock_core::{Item, ItemId, ItemStatus, LocationId, Role};
use stock_engine::Engine;
use stock_http::{AppState, HttpConfig};
use stock_store::{Command, Reply, Store, WriteMeta};
use tokio::task::JoinSet;

/// The most PostgreSQL connections one variant opens (the server allows 100).
pub const POSTGRES_CONNECTIONS_MAX: u32 = 48;
pub const UNIFORM_ITEMS: usize = 10_000;
/// Stock of the hot and uniform scenarios: more than any run can sell.
pub const PLENTY: i64 = 1_000_000_000;

/// What the benchmarks that compare stockd with the usual shop code take
/// alike: the servers, where the report goes, and which rows run.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// A PostgreSQL server (without a database); the benchmark makes and drops its own.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// A Redis server without persistence, as shops run it for this.
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub redis: String,
    /// Where the report goes (`bench sales`: sales.md and sales.svg;
    /// `bench paths`: paths.md).
    #[arg(long, default_value = "benchmarks")]
    pub out: PathBuf,
    /// Only the scenarios whose name contains one of these words (e.g. `hot`).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Only the variants (rows) whose name contains one of these words
    /// (e.g. `V1,engine` for `bench sales`, `no-op,SQLite` for `bench paths`).
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
}

impl Common {
    /// Checks the counts of callers, and takes a trailing `/` off the
    /// PostgreSQL server's address.
    pub fn checked(mut self, concurrency: &[usize]) -> anyhow::Result<Common> {
        anyhow::ensure!(
            !concurrency.is_empty() && !concurrency.contains(&0),
            "--concurrency takes counts above 0"
        );
        self.postgres = self.postgres.trim_end_matches('/').to_owned();
        Ok(self)
    }
}

/// Whether `name` is chosen by `words` (any of them, ignoring case).
pub fn chosen(name: &str, words: &[String]) -> bool {
    let name = name.to_lowercase();
    words.is_empty() || words.iter().any(|word| name.contains(&word.to_lowercase()))
}

/// The latency at `quantile` of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

/// The head of a Markdown table whose columns are named in `columns`,
/// separated by ` | `; a name ending in `:` is of a column of figures,
/// aligned right (the `:` is not shown).
pub fn table_head(columns: &str) -> String {
    let (mut names, mut rules) = (Vec::new(), Vec::new());
    for column in columns.split(" | ") {
        match column.strip_suffix(':') {
            Some(name) => {
                names.push(name);
                rules.push("---:");
            }
            None => {
                names.push(column);
                rules.push("---");
            }
        }
    }
    format!("| {} |\n| {} |\n", names.join(" | "), rules.join(" | "))
}

pub fn meta() -> WriteMeta {
    WriteMeta {
        operator: "bench".into(),
        trace_id: None,
        idempotency: None,
    }
}

/// One caller of a run: it makes one attempt at a time, on the item of the
/// index it is given.
pub trait Caller: Send + 'static {
    /// Ok(true): the attempt succeeded; Ok(false): it did not (refused, or
    /// answered otherwise than hoped). An error ends the run.
    fn attempt(&mut self, index: usize) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Whether the caller has nothing left to do before the run's end; asked
    /// before each attempt.
    fn exhausted(&mut self) -> bool {
        false
    }
}

/// What the callers of a run did, and the callers themselves.
pub struct Tally<C> {
    pub callers: Vec<C>,
    pub successes: u64,
    pub attempts: u64,
    /// From the start until the last caller stopped.
    pub elapsed: Duration,
    /// Every attempt's latency, sorted.
    pub latencies_us: Vec<u64>,
}

/// Runs every caller for `duration` (or until it is exhausted), each on a
/// task of its own, so that callers run on every core as a shop's clients
/// would and a reply wakes only its caller. Callers pick among `items`
/// uniformly.
pub async fn drive<C: Caller>(
    callers: Vec<C>,
    items: usize,
    duration: Duration,
) -> anyhow::Result<Tally<C>> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for (number, mut caller) in callers.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ (number as u64 + 1);
            let (mut successes, mut attempts, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline && !caller.exhausted() {
                // A small xorshift: uniform enough for picking items.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let index = (seed % items as u64) as usize;
                let sent = Instant::now();
                let succeeded = caller.attempt(index).await?;
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                attempts += 1;
                successes += u64::from(succeeded);
            }
            Ok::<_, anyhow::Error>((number, caller, successes, attempts, latencies))
        });
    }
    let mut finished = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        finished.push(joined.context("a caller panicked")??);
    }
    let elapsed = started.elapsed();
    finished.sort_by_key(|(number, ..)| *number);
    let mut tally = Tally {
        callers: Vec::with_capacity(finished.len()),
        successes: 0,
        attempts: 0,
        elapsed,
        latencies_us: Vec::new(),
    };
    for (_, caller, successes, attempts, mut latencies) in finished {
        tally.callers.push(caller);
        tally.successes += successes;
        tally.attempts += attempts;
        tally.latencies_us.append(&mut latencies);
    }
    tally.latencies_us.sort_unstable();
    Ok(tally)
}

/// A PostgreSQL database of the benchmark's own (`label` tells one from
/// another), on a server given without one; dropped by [`BenchDatabase::drop`].
pub struct BenchDatabase {
    admin: PgPool,
    name: String,
    pub url: String,
}

impl BenchDatabase {
    pub async fn create(server: &str, label: &str) -> anyhow::Result<BenchDatabase> {
        let name = format!("stockd_bench_{}_{label}", std::process::id());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{server}/postgres"))
            .await
            .with_context(|| format!("connecting to PostgreSQL at {server}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
        Ok(BenchDatabase {
            admin,
            url: format!("{server}/{name}"),
            name,
        })
    }

    /// Writes PostgreSQL's dirty pages, so that no row pays for the
    /// checkpoint of the one before.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        sqlx::query("CHECKPOINT").execute(&self.admin).await?;
        Ok(())
    }

    /// Brings the planner's statistics of this database up to date, as
    /// autovacuum keeps them on a database in use: a table the benchmark
    /// filled a moment ago would otherwise look empty, and be scanned
    /// whole rather than through its index.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    pub async fn drop(self) {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await
        .ok();
    }
}

/// How the usual shop code sells one unit in SQL, one transaction a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlSale {
    /// V1: `UPDATE … WHERE stock >= 1`, then a log row.
    ConditionalUpdate,
    /// V2: `SELECT … FOR UPDATE`, check, update, log.
    SelectForUpdate,
    /// V3: a version column, with bounded retries.
    VersionColumn,
}

/// Attempts of V3 before a sale is given up as a conflict.
const VERSION_RETRIES_MAX: u32 = 3;

/// The stock and log tables of V1–V3, made anew.
pub async fn sql_tables(postgres: &str) -> anyhow::Result<PgPool> {
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
    Ok(pool)
}

/// Items 0 to `items - 1` at `stock` each, and an empty log.
pub async fn sql_reset(pool: &PgPool, items: usize, stock: i64) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE bench_stock, bench_log")
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO bench_stock (id, stock, version) SELECT g, $1, 0 FROM generate_series(0, $2 - 1) g")
        .bind(stock)
        .bind(items as i64)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn sql_remaining(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(stock), 0) AS BIGINT) FROM bench_stock")
            .fetch_one(pool)
            .await?,
    )
}

/// One sale of item `id`: Ok(true) sold, Ok(false) refused.
pub async fn sql_sell(pool: &PgPool, way: SqlSale, id: i64) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let sold = match way {
        SqlSale::ConditionalUpdate => {
            sqlx::query("UPDATE bench_stock SET stock = stock - 1 WHERE id = $1 AND stock >= 1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        }
        SqlSale::SelectForUpdate => {
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
        SqlSale::VersionColumn => {
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

/// How long a benchmark caller waits to connect to Redis, and for a reply:
/// well beyond what a 1,024-caller run takes (a thousand connections at
/// once overflow the listen backlog; the crate's own defaults are 1 s and
/// 500 ms, which would count queueing as failures).
const REDIS_WAIT: Duration = Duration::from_secs(30);

/// A connection of one caller's own to the Redis at `host:port`.
pub async fn redis_connection(address: &str) -> anyhow::Result<Resp> {
    let client = redis::Client::open(format!("redis://{address}"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_WAIT))
        .set_response_timeout(Some(REDIS_WAIT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("connecting to Redis at {address}"))
}

/// V4: loads the check-and-decrement script; its SHA is what EVALSHA takes.
pub async fn lua_load(address: &str) -> anyhow::Result<String> {
    let mut connection = redis_connection(address).await?;
    let script = "local s = tonumber(redis.call('GET', KEYS[1])) \
                  if s and s >= tonumber(ARGV[1]) then redis.call('DECRBY', KEYS[1], ARGV[1]) return 1 end return 0";
    Ok(redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(script)
        .query_async(&mut connection)
        .await?)
}

fn lua_key(index: usize) -> String {
    format!("bench:{index}")
}

/// Keys `bench:0` to `bench:{items - 1}` at `stock` each.
pub async fn lua_reset(address: &str, items: usize, stock: i64) -> anyhow::Result<()> {
    let mut connection = redis_connection(address).await?;
    for chunk in (0..items).collect::<Vec<_>>().chunks(1000) {
        let pairs: Vec<(String, i64)> =
            chunk.iter().map(|&index| (lua_key(index), stock)).collect();
        let () = redis::cmd("MSET")
            .arg(&pairs)
            .query_async(&mut connection)
            .await?;
    }
    Ok(())
}

/// What is left over the scenario's keys.
pub async fn lua_remaining(address: &str, items: usize) -> anyhow::Result<i64> {
    let mut connection = redis_connection(address).await?;
    let mut total = 0i64;
    for chunk in (0..items).collect::<Vec<_>>().chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|&index| lua_key(index)).collect();
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

/// One sale of item `index` by the script: Ok(true) sold, Ok(false) refused.
/// Connects on first use.
pub async fn lua_sell(
    connection: &mut Option<Resp>,
    address: &str,
    sha: &str,
    index: usize,
) -> anyhow::Result<bool> {
    if connection.is_none() {
        *connection = Some(redis_connection(address).await?);
    }
    let connection = connection.as_mut().expect("connected above");
    let sold: i64 = redis::cmd("EVALSHA")
        .arg(sha)
        .arg(1)
        .arg(lua_key(index))
        .arg(1)
        .query_async(connection)
        .await?;
    Ok(sold == 1)
}

/// Creates an active item for each id, with `stock` at the default location;
/// an item that exists already is left as it is.
pub async fn create_items(engine: &Engine, ids: Vec<ItemId>, stock: i64) -> anyhow::Result<()> {
    let mut creating = JoinSet::new();
    for (index, id) in ids.into_iter().enumerate() {
        let engine = engine.clone();
        creating.spawn(async move {
            let item = Item {
                id,
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

/// Stock summed over some items, as the store has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockTotals {
    pub on_hand: i64,
    pub reserved: i64,
    /// Items with more reserved than on hand: sold or held beyond their stock.
    pub oversold: u64,
}

pub async fn stock_totals(store: &dyn Store, ids: &[ItemId]) -> anyhow::Result<StockTotals> {
    let mut totals = StockTotals::default();
    for chunk in ids.chunks(stock_core::LINES_MAX) {
        for view in store.items(chunk).await? {
            totals.on_hand += view.on_hand();
            totals.reserved += view.reserved();
            totals.oversold += u64::from(view.available() < 0 || view.on_hand() < 0);
        }
    }
    Ok(totals)
}

/// stockd's router on loopback, served as `stockd serve` serves it, with a
/// service key.
pub struct HttpServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The service key's secret.
    pub key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    pub async fn start(
        store: Arc<dyn Store>,
        engine: Engine,
        config: HttpConfig,
    ) -> anyhow::Result<HttpServer> {
        HttpServer::start_with(store, engine, config, None).await
    }

    /// The same, its reads served from `cache` (filled already).
    pub async fn start_with(
        store: Arc<dyn Store>,
        engine: Engine,
        config: HttpConfig,
        cache: Option<Arc<stock_jobs::cache::Cache>>,
    ) -> anyhow::Result<HttpServer> {
        let key = stock_http::generate_key();
        store
            .create_key(
                &key.id,
                "bench",
                Role::Service,
                &stock_http::hash_secret(&key.secret),
            )
            .await?;
        let mut jobs = stock_jobs::Jobs::new(store, engine, stock_jobs::JobSettings::default());
        if let Some(cache) = cache {
            jobs = jobs.with_cache(cache);
        }
        let state = AppState::new(jobs, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut limits = crate::serve::listener_limits(&crate::config::Config::default());
        // Every caller keeps its connection; none is refused for the limit.
        limits.connections_max = 1 << 16;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(crate::listener::serve(
            listener,
            stock_http::router(state),
            limits,
            async move {
                stopped.await.ok();
            },
        ));
        Ok(HttpServer {
            base,
            key: key.secret,
            stop,
            served,
        })
    }

    /// Stops accepting and waits until every connection has closed (drop
    /// the clients first).
    pub async fn stop(self) {
        self.stop.send(()).ok();
        tokio::time::timeout(Duration::from_secs(10), self.served)
            .await
            .ok();
    }
}
