//! The sections of the configuration and their defaults: what each key
//! means, what it is when nothing sets it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::duration::duration_text;
use super::suppliers::{RegionsConfig, SupplierConfig};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// The Redis read cache: on when `url` or `host` is set.
    pub redis: RedisConfig,
    /// Reads served from memory, when there is no Redis cache.
    pub reads: ReadsConfig,
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
    /// How long a client may take to send a request's line and headers,
    /// from its first byte (from the connection's start for the first
    /// request); a slower connection is closed.
    pub header_read_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout_s: u64,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub connections_max: usize,
    /// Header fields a request may have; more are refused with 431.
    pub headers_max: usize,
    /// The longest request line and headers, together; longer are refused with 431.
    pub header_bytes_max: usize,
    pub rate_limit: RateLimitConfig,
}

/// Requests let through per API key and, without a valid key, per client
/// address: `per_s` a second on average and `burst` at once; a `per_s` of
/// 0 turns that limit off.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub per_key_per_s: u32,
    pub per_key_burst: u32,
    pub per_address_per_s: u32,
    pub per_address_burst: u32,
    /// Keys, and addresses, whose use is remembered at once; while that
    /// many are, any other shares one budget.
    pub tracked_max: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_key_per_s: 100_000,
            per_key_burst: 10_000,
            per_address_per_s: 1_000,
            per_address_burst: 2_000,
            tracked_max: 100_000,
        }
    }
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
            header_read_timeout_ms: 10_000,
            idle_timeout_s: 75,
            connections_max: 1_000,
            headers_max: 100,
            header_bytes_max: 32 * 1024,
            rate_limit: RateLimitConfig::default(),
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
    /// PostgreSQL: the longest a write waits for a row another transaction
    /// holds locked before it steps aside and is tried again later
    /// (`engine.busy_wait_ms`), so that the rest of its batch commits.
    pub lock_timeout_ms: u64,
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
            lock_timeout_ms: 20,
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
    /// The write connection's page cache, in MiB (1 to 4096).
    pub cache_mb: u32,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            path: PathBuf::from("stockd.db"),
            synchronous: "full".into(),
            busy_timeout_ms: 5000,
            cache_mb: 64,
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
pub struct ReadsConfig {
    /// Serve reads of items from a read model in this process, filled at
    /// start and written through after every commit (not with Redis).
    pub memory: bool,
    /// How often the read model also follows other replicas' commits.
    pub follow_interval_ms: u64,
    /// Items read from the database per statement while the model fills.
    pub fill_batch: u32,
}

impl Default for ReadsConfig {
    fn default() -> Self {
        ReadsConfig {
            memory: false,
            follow_interval_ms: 1000,
            fill_batch: 500,
        }
    }
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
    /// How long a write that met a row another database transaction holds
    /// locked is tried again before it answers 503 `ROW_BUSY`, in ms.
    pub busy_wait_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let defaults = stock_engine::EngineConfig::default();
        EngineConfig {
            queue_depth_max: defaults.queue_depth_max,
            batch_ops_max: defaults.batch_ops_max,
            batch_wait_us: u64::try_from(defaults.batch_wait.as_micros()).unwrap_or(u64::MAX),
            busy_wait_ms: u64::try_from(defaults.busy_wait_max.as_millis()).unwrap_or(u64::MAX),
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
