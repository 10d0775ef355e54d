//! Configuration: defaults, then `config.yaml`, then environment, then flags.
//!
//! The file has the sections of the common inventory-service `config.yaml`
//! (`server`, `database`, `redis`, `inventory`). Any key can be set from
//! the environment as `STOCKD_` + its path in capitals with `__` between
//! levels (`STOCKD_INVENTORY__LOW_STOCK_THRESHOLD=5`); a few have short
//! names: `STOCKD_PORT`, `STOCKD_DATABASE_URL`, `STOCKD_ADMIN_KEY`,
//! `STOCKD_LOG_FORMAT`.

mod suppliers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

pub use suppliers::{RegionsConfig, SecretText, SupplierConfig, SupplierSyncConfig};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// The Redis read cache: on when `url` or `host` is set.
    pub redis: RedisConfig,
    pub inventory: InventoryConfig,
    pub engine: EngineConfig,
    pub holds: HoldsConfig,
    pub idempotency: IdempotencyConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub channels: ChannelsConfig,
    pub nats: NatsConfig,
    pub admin: AdminConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    /// Turning addresses into region codes.
    pub regions: RegionsConfig,
    /// Suppliers whose stock API is asked, by name.
    pub suppliers: BTreeMap<String, SupplierConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// A gRPC port. Read, but stockd serves HTTP only.
    pub grpc_port: Option<u16>,
    pub request_timeout_s: u64,
    pub body_limit_bytes: usize,
    /// How long a found API key is trusted before it is read again: a key
    /// revoked by `stockd keys revoke` or on another replica is refused at
    /// most this much later. 0: read the key on every request.
    pub key_cache_ms: u64,
    /// How long a stop waits for requests in flight.
    pub shutdown_timeout_s: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "0.0.0.0".into(),
            port: 8083,
            grpc_port: None,
            request_timeout_s: 30,
            body_limit_bytes: 1024 * 1024,
            key_cache_ms: 1000,
            shutdown_timeout_s: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`. When set, `driver` and its section are not used.
    pub url: Option<String>,
    /// `sqlite` (default) or `postgres`.
    pub driver: String,
    pub sqlite: SqliteConfig,
    pub postgres: Option<PostgresConfig>,
    /// Connections for reads (the writer has one of its own).
    pub read_pool_size: u32,
    /// How long a request waits for a free connection.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            driver: "sqlite".into(),
            sqlite: SqliteConfig::default(),
            postgres: None,
            read_pool_size: 8,
            acquire_timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    pub path: PathBuf,
    /// `full` (default: a 2xx answer is on disk) or `normal`.
    pub synchronous: String,
    pub busy_timeout_ms: u64,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("stockd.db"),
            synchronous: "full".into(),
            busy_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    pub host: String,
    #[serde(default = "postgres_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub password: String,
    pub dbname: String,
}

fn postgres_port() -> u16 {
    5432
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Opening stock of an item created without `stock`.
    pub default_stock: i64,
    /// The low-stock threshold of items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
    pub low_stock_report_items_max: u32,
    pub page_size_default: u32,
    pub page_size_max: u32,
    /// The scheduled comparison of the Redis cache with the database.
    pub health_check: HealthCheckConfig,
    /// Repair of what the health checker finds.
    pub compensation: CompensationConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host[:port][/db]`; wins over host, port, db, password.
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: u16,
    pub db: u32,
    pub password: Option<String>,
    /// The key holding an item's available stock; `{product_id}` is its id.
    pub key_format: String,
    /// The hash holding an item as reads return it.
    pub view_key_format: String,
    /// Every call to Redis; slower counts as Redis being down.
    pub timeout_ms: u64,
    pub pool_size: usize,
    /// How often a down cache tries Redis again.
    pub retry_interval_ms: u64,
    /// Items per pipeline when the cache is filled or checked.
    pub fill_batch: u32,
    /// How often the cache follows other replicas' commits on its own.
    pub follow_interval_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            host: None,
            port: 6379,
            db: 0,
            password: None,
            key_format: "seckill:stock:{product_id}".into(),
            view_key_format: "stockd:item:{product_id}".into(),
            timeout_ms: 200,
            pool_size: 8,
            retry_interval_ms: 1000,
            fill_batch: 500,
            follow_interval_ms: 1000,
        }
    }
}

impl RedisConfig {
    /// Where Redis is, if the cache is on.
    pub fn address(&self) -> anyhow::Result<Option<stock_http::resp::RedisAddress>> {
        if let Some(url) = &self.url {
            return stock_http::resp::RedisAddress::parse(url)
                .context("redis.url")
                .map(Some);
        }
        Ok(self
            .host
            .as_ref()
            .map(|host| stock_http::resp::RedisAddress {
                host: host.clone(),
                port: self.port,
                db: self.db,
                password: self.password.clone().filter(|p| !p.is_empty()),
            }))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub enable: bool,
    /// How often the checker runs: `300s`, `5m`, `1h`, `500ms` or seconds.
    #[serde(deserialize_with = "duration_text")]
    pub interval: String,
    /// Differences up to this are not recorded.
    pub tolerance: i64,
    /// Differences beyond this raise a diff alert.
    pub alert_threshold: i64,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            enable: true,
            interval: "300s".into(),
            tolerance: 10,
            alert_threshold: 50,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompensationConfig {
    /// Whether diffs may be repaired at all (by hand or automatically).
    pub enable: bool,
    /// Repair diffs as they are found by rewriting the cache from the database.
    pub auto_fix: bool,
    /// Automatic repair only for differences up to this.
    pub max_fix_amount: i64,
}

impl Default for CompensationConfig {
    fn default() -> Self {
        CompensationConfig {
            enable: true,
            auto_fix: false,
            max_fix_amount: 1000,
        }
    }
}

/// A duration given as text (`300s`) or as a number of seconds.
fn duration_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(n) => Ok(format!("{n}s")),
        other => Err(serde::de::Error::custom(format!(
            "expected a duration such as 300s, not {other:?}"
        ))),
    }
}

/// `500ms`, `300s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 300s"))?;
    let ms = match unit {
        "ms" => number,
        "" | "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        other => bail!("{text:?}: unknown unit {other:?} (ms, s, m or h)"),
    };
    Ok(std::time::Duration::from_millis(ms))
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            default_stock: 0,
            low_stock_threshold: 10,
            low_stock_report_items_max: 1000,
            page_size_default: 20,
            page_size_max: 100,
            health_check: HealthCheckConfig::default(),
            compensation: CompensationConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    pub queue_depth_max: usize,
    pub batch_ops_max: usize,
    /// How long the writer may wait for a batch to fill under load, in µs.
    pub batch_wait_us: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let defaults = stock_engine::EngineConfig::default();
        EngineConfig {
            queue_depth_max: defaults.queue_depth_max,
            batch_ops_max: defaults.batch_ops_max,
            batch_wait_us: u64::try_from(defaults.batch_wait.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HoldsConfig {
    /// How long a hold (or an unpaid order) lasts when the caller does not say.
    pub default_ttl_s: u64,
    /// The longest hold a caller may ask for.
    pub max_ttl_s: u64,
    /// How often holds past their time are looked for and released.
    pub expiry_interval_ms: u64,
    /// The most holds released in one write.
    pub expiry_batch_max: u32,
}

impl Default for HoldsConfig {
    fn default() -> Self {
        HoldsConfig {
            default_ttl_s: 900,
            max_ttl_s: 86_400,
            expiry_interval_ms: 1000,
            expiry_batch_max: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long Idempotency-Keys and sync-stock retry keys are kept (at least 24).
    pub retention_h: u64,
    pub purge_interval_s: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            retention_h: 48,
            purge_interval_s: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// How long live events are kept for consumers that resume (hours).
    pub retention_h: u64,
    /// How often a stream looks for events written by other replicas; its
    /// own replica's writes wake it at once.
    pub poll_interval_ms: u64,
    /// Events sent per read of the outbox.
    pub batch_max: u32,
    /// Streams open at once; more are refused with 503.
    pub streams_max: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            retention_h: 72,
            poll_interval_ms: 1000,
            batch_max: 500,
            streams_max: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// How often webhooks are looked at when no write wakes the sender.
    pub poll_interval_ms: u64,
    /// How long one process keeps a webhook to itself between rounds.
    pub lease_ms: u64,
    /// How long one delivery may take.
    pub timeout_ms: u64,
    /// Attempts per event before it is given up on (logged as failed).
    pub attempts_max: u32,
    /// The wait after the first failed attempt; it doubles up to retry_max_ms.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            poll_interval_ms: 1000,
            lease_ms: 30_000,
            timeout_ms: 10_000,
            attempts_max: 10,
            retry_base_ms: 1000,
            retry_max_ms: 300_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// How often every channel is synced (seconds); 0: only on request.
    pub sync_interval_s: u64,
    /// One push to a channel's endpoint.
    pub push_timeout_ms: u64,
    /// Pushes to one channel in flight at once.
    pub push_concurrency: usize,
    /// Listings one channel may have.
    pub listings_max: usize,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            sync_interval_s: 300,
            push_timeout_ms: 5000,
            push_concurrency: 8,
            listings_max: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// `nats://host[:port]`: events also go to JetStream when set.
    pub url: Option<String>,
    /// The stream (created when missing) that keeps them.
    pub stream: String,
    /// Events go to `<subject_prefix>.<type>`.
    pub subject_prefix: String,
    /// Every call to NATS.
    pub timeout_ms: u64,
    /// The wait after a failure.
    pub retry_interval_ms: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: None,
            stream: "STOCKD_EVENTS".into(),
            subject_prefix: "stockd".into(),
            timeout_ms: 2000,
            retry_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// How long a sign-in to the admin console lasts (seconds).
    pub session_ttl_s: u64,
    /// Failed sign-ins allowed per user name per minute (0: no limit).
    pub sign_in_failures_per_user_per_min: u32,
    /// Failed sign-ins allowed per client address per minute (0: no limit).
    pub sign_in_failures_per_address_per_min: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            session_ttl_s: 8 * 3600,
            sign_in_failures_per_user_per_min: 5,
            sign_in_failures_per_address_per_min: 20,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The first admin key, used only when the database has no key yet.
    pub admin_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `stockd=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub port: Option<u16>,
    pub database: Option<String>,
    pub redis: Option<String>,
}

/// Short environment names and the keys they set.
const ENV_ALIASES: &[(&str, &[&str])] = &[
    ("STOCKD_PORT", &["server", "port"]),
    ("STOCKD_HOST", &["server", "host"]),
    ("STOCKD_DATABASE_URL", &["database", "url"]),
    ("STOCKD_REDIS_URL", &["redis", "url"]),
    ("STOCKD_NATS_URL", &["nats", "url"]),
    ("STOCKD_ADMIN_KEY", &["auth", "admin_key"]),
    ("STOCKD_LOG_FORMAT", &["log", "format"]),
    ("STOCKD_LOG", &["log", "level"]),
];

/// Variables that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["STOCKD_CONFIG"];

/// Builds the configuration from a file's text (if any), environment
/// variables and flags, in rising precedence.
pub fn resolve(
    file: Option<&str>,
    env: &[(String, String)],
    flags: &Flags,
) -> anyhow::Result<Config> {
    let mut tree = match file {
        Some(text) if !text.trim().is_empty() => {
            serde_yaml_ng::from_str::<Value>(text).context("config file is not valid YAML")?
        }
        _ => Value::Mapping(Mapping::new()),
    };
    if !tree.is_mapping() {
        bail!("config file must be a mapping of sections (server, database, inventory, ...)");
    }
    let defaults = serde_yaml_ng::to_value(Config::default()).expect("the defaults serialize");
    for (name, raw) in env {
        let path: Vec<String> =
            if let Some((_, path)) = ENV_ALIASES.iter().find(|(alias, _)| alias == name) {
                path.iter().map(|s| s.to_string()).collect()
            } else if let Some(rest) = name.strip_prefix("STOCKD_") {
                if ENV_NOT_KEYS.contains(&name.as_str()) || !rest.contains("__") {
                    continue;
                }
                rest.split("__").map(str::to_ascii_lowercase).collect()
            } else {
                continue;
            };
        set_path(&mut tree, &path, typed(&defaults, &path, raw));
    }
    let mut config: Config = serde_yaml_ng::from_value(tree).context("invalid configuration")?;
    if let Some(port) = flags.port {
        config.server.port = port;
    }
    if let Some(url) = &flags.database {
        config.database.url = Some(url.clone());
    }
    if let Some(url) = &flags.redis {
        config.redis.url = Some(url.clone());
    }
    config.check()?;
    Ok(config)
}

/// An environment value as the key it sets expects it: a number or a boolean
/// where the default is one (`STOCKD_PORT=8083`), a string everywhere else,
/// so that an all-digit admin key or file name stays a string.
fn typed(defaults: &Value, path: &[String], raw: &str) -> Value {
    let supplier_defaults;
    let default = match path {
        // `suppliers.<name>.<key>`: every supplier has the same defaults.
        [section, _, rest @ ..] if section == "suppliers" && !rest.is_empty() => {
            supplier_defaults =
                serde_yaml_ng::to_value(SupplierConfig::default()).expect("the defaults serialize");
            rest.iter()
                .try_fold(&supplier_defaults, |node, key| node.get(key.as_str()))
        }
        _ => path
            .iter()
            .try_fold(defaults, |node, key| node.get(key.as_str())),
    };
    match (default, serde_yaml_ng::from_str::<Value>(raw)) {
        (Some(Value::Number(_)), Ok(value @ Value::Number(_))) => value,
        (Some(Value::Bool(_)), Ok(value @ Value::Bool(_))) => value,
        _ => Value::String(raw.to_owned()),
    }
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for key in parents {
        let mapping = node.as_mapping_mut().expect("only mappings are walked");
        let child = mapping
            .entry(Value::String(key.clone()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !child.is_mapping() {
            *child = Value::Mapping(Mapping::new());
        }
        node = child;
    }
    node.as_mapping_mut()
        .expect("only mappings are walked")
        .insert(Value::String(last.clone()), value);
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

/// The largest write batch accepted: one transaction, one commit.
const ENGINE_BATCH_OPS_LIMIT: usize = 8192;
/// The longest a found API key may be trusted without reading it again.
const KEY_CACHE_MS_LIMIT: u64 = 60_000;

impl Config {
    fn check(&self) -> anyhow::Result<()> {
        let positive = |name: &str, value: u64| {
            if value == 0 {
                bail!("{name} must be above 0");
            }
            Ok(())
        };
        positive("server.request_timeout_s", self.server.request_timeout_s)?;
        positive(
            "server.body_limit_bytes",
            self.server.body_limit_bytes as u64,
        )?;
        positive(
            "inventory.page_size_default",
            u64::from(self.inventory.page_size_default),
        )?;
        positive(
            "inventory.page_size_max",
            u64::from(self.inventory.page_size_max),
        )?;
        positive("engine.queue_depth_max", self.engine.queue_depth_max as u64)?;
        positive("engine.batch_ops_max", self.engine.batch_ops_max as u64)?;
        positive(
            "database.read_pool_size",
            u64::from(self.database.read_pool_size),
        )?;
        positive(
            "idempotency.purge_interval_s",
            self.idempotency.purge_interval_s,
        )?;
        if self.inventory.page_size_default > self.inventory.page_size_max {
            bail!("inventory.page_size_default must not be above inventory.page_size_max");
        }
        if self.engine.batch_ops_max > ENGINE_BATCH_OPS_LIMIT {
            bail!("engine.batch_ops_max must be at most {ENGINE_BATCH_OPS_LIMIT}: a batch is one transaction");
        }
        if self.server.key_cache_ms > KEY_CACHE_MS_LIMIT {
            bail!("server.key_cache_ms must be at most {KEY_CACHE_MS_LIMIT}: a revoked key is trusted that long");
        }
        if self.engine.batch_wait_us > 100_000 {
            bail!("engine.batch_wait_us must be at most 100000 (100 ms): every write under load waits up to it");
        }
        positive("events.retention_h", self.events.retention_h)?;
        positive("events.poll_interval_ms", self.events.poll_interval_ms)?;
        positive("events.batch_max", u64::from(self.events.batch_max))?;
        positive("events.streams_max", self.events.streams_max as u64)?;
        positive("webhooks.poll_interval_ms", self.webhooks.poll_interval_ms)?;
        positive("webhooks.timeout_ms", self.webhooks.timeout_ms)?;
        positive(
            "webhooks.attempts_max",
            u64::from(self.webhooks.attempts_max),
        )?;
        positive("webhooks.retry_base_ms", self.webhooks.retry_base_ms)?;
        if self.webhooks.lease_ms <= self.webhooks.timeout_ms.saturating_mul(2) {
            bail!("webhooks.lease_ms must be more than twice webhooks.timeout_ms: a lease must outlast a delivery");
        }
        if self.webhooks.retry_max_ms < self.webhooks.retry_base_ms {
            bail!("webhooks.retry_max_ms must be at least webhooks.retry_base_ms");
        }
        if self.events.batch_max > 10_000 {
            bail!("events.batch_max must be at most 10000");
        }
        if self.idempotency.retention_h < 24 {
            bail!("idempotency.retention_h must be at least 24: retried writes rely on it");
        }
        if self.inventory.low_stock_threshold < 0 || self.inventory.default_stock < 0 {
            bail!("inventory.low_stock_threshold and inventory.default_stock must not be negative");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format must be text or json, not {:?}", self.log.format);
        }
        stock_store::SqliteSynchronous::parse(&self.database.sqlite.synchronous).with_context(
            || {
                format!(
                    "database.sqlite.synchronous must be full or normal, not {:?}",
                    self.database.sqlite.synchronous
                )
            },
        )?;
        self.database_target()?;
        self.redis.address()?;
        positive("redis.timeout_ms", self.redis.timeout_ms)?;
        positive("redis.pool_size", self.redis.pool_size as u64)?;
        positive("redis.retry_interval_ms", self.redis.retry_interval_ms)?;
        positive("redis.fill_batch", u64::from(self.redis.fill_batch))?;
        positive("redis.follow_interval_ms", self.redis.follow_interval_ms)?;
        if self.redis.fill_batch > 10_000 {
            bail!("redis.fill_batch must be at most 10000");
        }
        if self.redis.pool_size > 256 {
            bail!("redis.pool_size must be at most 256");
        }
        for (name, format) in [
            ("redis.key_format", &self.redis.key_format),
            ("redis.view_key_format", &self.redis.view_key_format),
        ] {
            if !format.contains("{product_id}") {
                bail!("{name} must contain {{product_id}}, not {format:?}");
            }
        }
        if self.redis.key_format == self.redis.view_key_format {
            bail!("redis.key_format and redis.view_key_format must differ");
        }
        let interval = parse_duration(&self.inventory.health_check.interval)
            .context("inventory.health_check.interval")?;
        if interval < std::time::Duration::from_secs(1) {
            bail!("inventory.health_check.interval must be at least 1s");
        }
        let health = &self.inventory.health_check;
        if health.tolerance < 0 || health.alert_threshold < 0 {
            bail!("inventory.health_check.tolerance and alert_threshold must not be negative");
        }
        if let Some(url) = &self.nats.url {
            stock_http::nats::address(url).context("nats.url")?;
        }
        positive("nats.timeout_ms", self.nats.timeout_ms)?;
        positive("nats.retry_interval_ms", self.nats.retry_interval_ms)?;
        let token = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !token(&self.nats.stream) {
            bail!(
                "nats.stream must be letters, digits, - and _, not {:?}",
                self.nats.stream
            );
        }
        if !self.nats.subject_prefix.split('.').all(token) {
            bail!(
                "nats.subject_prefix must be dot-separated tokens of letters, digits, - and _, not {:?}",
                self.nats.subject_prefix
            );
        }
        suppliers::check(&self.regions, &self.suppliers)?;
        positive("admin.session_ttl_s", self.admin.session_ttl_s)?;
        if self.admin.session_ttl_s > 7 * 24 * 3600 {
            bail!("admin.session_ttl_s must be at most 604800 (7 days)");
        }
        for (name, per_min) in [
            (
                "admin.sign_in_failures_per_user_per_min",
                self.admin.sign_in_failures_per_user_per_min,
            ),
            (
                "admin.sign_in_failures_per_address_per_min",
                self.admin.sign_in_failures_per_address_per_min,
            ),
        ] {
            if per_min > 10_000 {
                bail!("{name} must be at most 10000 (0 turns it off)");
            }
        }
        positive("channels.push_timeout_ms", self.channels.push_timeout_ms)?;
        positive(
            "channels.push_concurrency",
            self.channels.push_concurrency as u64,
        )?;
        positive("channels.listings_max", self.channels.listings_max as u64)?;
        if self.channels.push_concurrency > 64 {
            bail!("channels.push_concurrency must be at most 64");
        }
        if self.channels.listings_max > 100_000 {
            bail!("channels.listings_max must be at most 100000");
        }
        if self.inventory.compensation.max_fix_amount < 0 {
            bail!("inventory.compensation.max_fix_amount must not be negative");
        }
        Ok(())
    }

    /// The configured suppliers, ready to call.
    pub fn build_suppliers(&self) -> anyhow::Result<stock_http::suppliers::Suppliers> {
        suppliers::suppliers(&self.regions, &self.suppliers)
    }

    /// The database to open, from `database.url` or `database.driver`.
    pub fn database_target(&self) -> anyhow::Result<DatabaseTarget> {
        match &self.database.url {
            Some(url) => parse_database_url(url),
            None => match self.database.driver.as_str() {
                "sqlite" => Ok(DatabaseTarget::Sqlite(self.database.sqlite.path.clone())),
                "postgres" | "postgresql" => match &self.database.postgres {
                    Some(postgres) => Ok(DatabaseTarget::Postgres(postgres.url())),
                    None => bail!("database.driver is postgres but there is no database.postgres section (or database.url)"),
                },
                other => bail!("database.driver must be sqlite or postgres, not {other:?}"),
            },
        }
    }

    /// Options that were read but that this version does not act on.
    pub fn unused_options(&self) -> Vec<&'static str> {
        let mut unused = Vec::new();
        if self.server.grpc_port.is_some() {
            unused.push("server.grpc_port");
        }
        unused
    }
}

impl PostgresConfig {
    fn url(&self) -> String {
        let password = if self.password.is_empty() {
            String::new()
        } else {
            format!(":{}", escape(&self.password))
        };
        format!(
            "postgres://{}{password}@{}:{}/{}",
            escape(&self.user),
            self.host,
            self.port,
            escape(&self.dbname)
        )
    }
}

/// Percent-encodes what may not stand as it is in a URL's user, password or path.
fn escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn parse_database_url(url: &str) -> anyhow::Result<DatabaseTarget> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            bail!("the database URL {url:?} names no file; use sqlite://PATH");
        }
        return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseTarget::Postgres(url.to_owned()));
    }
    bail!(
        "unsupported database URL {url:?}; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
    )
}

/// Reads the config file: the one named, else `./config.yaml` if present.
pub fn read_file(named: Option<&Path>) -> anyhow::Result<Option<(PathBuf, String)>> {
    let path = match named {
        Some(path) => path.to_path_buf(),
        None => {
            let local = PathBuf::from("config.yaml");
            if !local.exists() {
                return Ok(None);
            }
            local
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some((path, text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SEED_001: &str = r#"
server:
  port: 8083
  grpc_port: 9083
database:
  driver: sqlite
  sqlite:
    path: /var/lib/stockd/inventory.db
redis:
  host: redis
  port: 6379
  db: 2
inventory:
  default_stock: 1000
  low_stock_threshold: 100
  health_check:
    enable: true
    interval: 300s
"#;

    #[test]
    fn redis_is_on_with_a_url_and_durations_read_as_people_write_them() {
        let config = resolve(
            None,
            &env(&[
                ("STOCKD_REDIS_URL", "redis://:pw@cache:6380/3"),
                ("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "2m"),
                ("STOCKD_INVENTORY__COMPENSATION__AUTO_FIX", "true"),
            ]),
            &Flags::default(),
        )
        .unwrap();
        let redis = config.redis.address().unwrap().unwrap();
        assert_eq!(
            (redis.port, redis.db, redis.password.as_deref()),
            (6380, 3, Some("pw"))
        );
        assert!(config.inventory.compensation.auto_fix);
        assert_eq!(
            parse_duration(&config.inventory.health_check.interval).unwrap(),
            std::time::Duration::from_secs(120)
        );
        assert_eq!(parse_duration("750ms").unwrap().as_millis(), 750);
        assert_eq!(parse_duration("2").unwrap().as_secs(), 2);
        let file = "inventory:\n  health_check:\n    interval: 60\n";
        let config = resolve(Some(file), &[], &Flags::default()).unwrap();
        assert_eq!(config.inventory.health_check.interval, "60s");
        let config = resolve(None, &[], &Flags::default()).unwrap();
        assert!(
            config.redis.address().unwrap().is_none(),
            "no Redis unless asked"
        );
    }

    #[test]
    fn defaults_need_no_file() {
        let config = resolve(None, &[], &Flags::default()).unwrap();
        assert_eq!(config.server.port, 8083);
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("stockd.db".into())
        );
        assert_eq!(config.database.sqlite.synchronous, "full");
    }

    #[test]
    fn the_seed_001_shape_is_read() {
        let config = resolve(Some(SEED_001), &[], &Flags::default()).unwrap();
        assert_eq!(config.inventory.low_stock_threshold, 100);
        assert_eq!(config.inventory.default_stock, 1000);
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("/var/lib/stockd/inventory.db".into())
        );
        assert_eq!(config.unused_options(), ["server.grpc_port"]);
        let redis = config.redis.address().unwrap().unwrap();
        assert_eq!(
            (redis.host.as_str(), redis.port, redis.db),
            ("redis", 6379, 2)
        );
        assert!(config.inventory.health_check.enable);
        assert_eq!(
            parse_duration(&config.inventory.health_check.interval).unwrap(),
            std::time::Duration::from_secs(300)
        );
        assert_eq!(config.redis.key_format, "seckill:stock:{product_id}");
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let file = "server:\n  port: 9000\ninventory:\n  low_stock_threshold: 7\n";
        let config = resolve(Some(file), &[], &Flags::default()).unwrap();
        assert_eq!(config.server.port, 9000);
        let vars = env(&[
            ("STOCKD_PORT", "9100"),
            ("STOCKD_INVENTORY__LOW_STOCK_THRESHOLD", "3"),
        ]);
        let config = resolve(Some(file), &vars, &Flags::default()).unwrap();
        assert_eq!(config.server.port, 9100);
        assert_eq!(config.inventory.low_stock_threshold, 3);
        let flags = Flags {
            port: Some(9200),
            database: Some("sqlite://flag.db".into()),
            redis: Some("redis://flag:6379".into()),
        };
        let vars = env(&[
            ("STOCKD_PORT", "9100"),
            ("STOCKD_DATABASE_URL", "sqlite://env.db"),
        ]);
        let config = resolve(Some(file), &vars, &flags).unwrap();
        assert_eq!(config.server.port, 9200);
        assert_eq!(config.redis.address().unwrap().unwrap().host, "flag");
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("flag.db".into())
        );
        let config = resolve(Some(file), &vars, &Flags::default()).unwrap();
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("env.db".into())
        );
    }

    #[test]
    fn the_admin_key_comes_from_the_environment() {
        let config = resolve(
            None,
            &env(&[("STOCKD_ADMIN_KEY", "12345678901234567890")]),
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(
            config.auth.admin_key.as_deref(),
            Some("12345678901234567890")
        );
    }

    #[test]
    fn postgres_is_named_by_url_or_by_section() {
        let url = "postgres://postgres@127.0.0.1/stockd";
        let flags = Flags {
            database: Some(url.into()),
            ..Flags::default()
        };
        let config = resolve(None, &[], &flags).unwrap();
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Postgres(url.into())
        );
        let file = "database:\n  driver: postgres\n  postgres:\n    host: db\n    user: shop\n    password: p@ss/word\n    dbname: inventory_db\n";
        let config = resolve(Some(file), &[], &Flags::default()).unwrap();
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Postgres("postgres://shop:p%40ss%2Fword@db:5432/inventory_db".into())
        );
        let file = "database:\n  driver: postgres\n";
        assert!(
            resolve(Some(file), &[], &Flags::default()).is_err(),
            "a driver without a section"
        );
    }

    #[test]
    fn mistakes_are_refused() {
        let check = |file: &str, vars: &[(&str, &str)]| {
            assert!(
                resolve(Some(file), &env(vars), &Flags::default()).is_err(),
                "{file} {vars:?}"
            );
        };
        check("server:\n  prot: 1\n", &[]);
        check("server:\n  port: not-a-port\n", &[]);
        check("", &[("STOCKD_PORT", "70000")]);
        check("", &[("STOCKD_SERVER__REQUEST_TIMEOUT_S", "0")]);
        check("", &[("STOCKD_IDEMPOTENCY__RETENTION_H", "1")]);
        check("", &[("STOCKD_DATABASE_URL", "mysql://x")]);
        check("", &[("STOCKD_LOG_FORMAT", "xml")]);
        check("", &[("STOCKD_REDIS_URL", "http://cache")]);
        check("", &[("STOCKD_NATS_URL", "nats://u:p@bus")]);
        check("", &[("STOCKD_NATS__SUBJECT_PREFIX", "stock.>")]);
        check("", &[("STOCKD_REDIS__KEY_FORMAT", "stock")]);
        check(
            "",
            &[("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "5 parsecs")],
        );
        check("", &[("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "0s")]);
        check(
            "",
            &[("STOCKD_INVENTORY__COMPENSATION__MAX_FIX_AMOUNT", "-1")],
        );
        check("- a list", &[]);
    }

    const SUPPLIER: &str = "suppliers:
  haier:
    base_url: https://openplat.example/
    token_url: https://openplat.example/oauth2/auth
    client_id: shop-1
    client_secret: s3cret-value
    customer_code: C100
    sync: {enable: true, interval: 30m, county_code: \"440305\"}
";

    #[test]
    fn a_supplier_is_read_from_the_file_and_the_environment() {
        let config = resolve(
            Some(SUPPLIER),
            &env(&[
                // All digits, as secrets and codes often are: still text.
                ("STOCKD_SUPPLIERS__HAIER__CLIENT_SECRET", "12345678"),
                ("STOCKD_SUPPLIERS__HAIER__TIMEOUT_MS", "1500"),
                ("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "5"),
                (
                    "STOCKD_SUPPLIERS__HAIER__PATHS__STOCK",
                    "/openapi/v2/stock/query",
                ),
                ("STOCKD_REGIONS__DEFAULT_COUNTY_CODE", "310101"),
            ]),
            &Flags::default(),
        )
        .unwrap();
        let haier = &config.suppliers["haier"];
        assert_eq!(haier.client_secret.0, "12345678");
        assert_eq!((haier.timeout_ms, haier.retry.attempts_max), (1500, 5));
        assert_eq!(haier.source, "JSH-B", "a default");
        assert_eq!(haier.paths.stock, "/openapi/v2/stock/query");
        assert_eq!(haier.paths.products, "/api/products/list", "a default");
        assert_eq!(config.regions.default_county_code, "310101");
        assert!(
            !format!("{config:?}").contains("12345678"),
            "secrets are not printed"
        );
        let suppliers = config.build_suppliers().unwrap();
        let entry = suppliers.get("haier").unwrap();
        assert_eq!(entry.location.as_str(), "supplier-haier");
        assert_eq!(
            entry.sync.interval,
            Some(std::time::Duration::from_secs(1800))
        );
        assert_eq!(entry.sync.county_code, "440305");
        assert!(!format!("{entry:?}").contains("12345678"));
        // Without a file, no supplier at all.
        let bare = resolve(None, &[], &Flags::default()).unwrap();
        assert!(bare.build_suppliers().unwrap().is_empty());
    }

    #[test]
    fn supplier_mistakes_are_refused() {
        let check = |vars: &[(&str, &str)]| {
            let result = resolve(Some(SUPPLIER), &env(vars), &Flags::default());
            assert!(result.is_err(), "{vars:?}");
        };
        check(&[("STOCKD_SUPPLIERS__HAIER__KIND", "acme")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__BASE_URL", "ftp://x")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__CLIENT_SECRET", "")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__TIMEOUT_MS", "0")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "0")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "11")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__BREAKER__FAILURES_MAX", "0")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__INTERVAL", "0s")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__COUNTY_CODE", "4403")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__CONCURRENCY", "0")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__LOCATION", "no spaces please")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__CLIENT", "typo")]);
        check(&[("STOCKD_REGIONS__DEFAULT_COUNTY_CODE", "beijing")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__PRODUCTS_PAGE_SIZE", "1000")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__PATHS__STOCK", "api/stock")]);
        check(&[("STOCKD_SUPPLIERS__HAIER__PATHS__STOCK", "/api/stock?x=1")]);
        let bad_name = resolve(
            Some(&SUPPLIER.replace("haier:", "Haier Co:")),
            &[],
            &Flags::default(),
        );
        assert!(bad_name.is_err());
    }
}
