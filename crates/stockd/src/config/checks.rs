//! The checks a configuration passes before stockd uses it: every limit
//! above zero and below its ceiling, names and formats that parse.

use anyhow::{bail, Context};

use super::duration::parse_duration;
use super::schema::Config;
use super::suppliers;

/// The largest write batch accepted: one transaction, one commit.
const ENGINE_BATCH_OPS_LIMIT: usize = 8192;
/// The longest a found API key may be trusted without reading it again.
const KEY_CACHE_MS_LIMIT: u64 = 60_000;
/// The largest page cache the SQLite writer may be given, in MiB.
const SQLITE_CACHE_MB_LIMIT: u32 = 4096;

/// The longest a client may take over a request's head.
const HEADER_READ_TIMEOUT_MS_LIMIT: u64 = 300_000;
/// The longest a kept-alive connection may wait.
const IDLE_TIMEOUT_S_LIMIT: u64 = 3600;
const CONNECTIONS_LIMIT: u64 = 1_000_000;
const HEADERS_LIMIT: u64 = 1000;
/// A request head's size limit: hyper reads heads into a buffer of at
/// least 8 KiB and about 400 KiB at most.
const HEADER_BYTES_MIN: u64 = 1024;
const HEADER_BYTES_LIMIT: u64 = 256 * 1024;
/// The most keys, and addresses, a rate limit may remember.
const TRACKED_LIMIT: u64 = 10_000_000;

impl Config {
    pub(super) fn check(&self) -> anyhow::Result<()> {
        let positive = |name: &str, value: u64| {
            if value == 0 {
                bail!("{name} must be above 0");
            }
            Ok(())
        };
        positive("server.request_timeout_s", self.server.request_timeout_s)?;
        self.check_connections()?;
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
        positive(
            "database.sqlite.cache_mb",
            u64::from(self.database.sqlite.cache_mb),
        )?;
        if self.database.sqlite.cache_mb > SQLITE_CACHE_MB_LIMIT {
            bail!("database.sqlite.cache_mb must be at most {SQLITE_CACHE_MB_LIMIT} (4 GiB): it is memory the writer may fill");
        }
        positive("database.lock_timeout_ms", self.database.lock_timeout_ms)?;
        if self.database.lock_timeout_ms > 1_000 {
            bail!("database.lock_timeout_ms must be at most 1000 (1 s): the whole write batch waits up to it for one locked row");
        }
        positive("engine.busy_wait_ms", self.engine.busy_wait_ms)?;
        if self.reads.memory {
            if self.redis.address()?.is_some() {
                bail!("reads.memory and a Redis cache (redis.url or redis.host) exclude each other: reads are served from one of them");
            }
            positive("reads.follow_interval_ms", self.reads.follow_interval_ms)?;
            positive("reads.fill_batch", u64::from(self.reads.fill_batch))?;
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
            stock_nats::address(url).context("nats.url")?;
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

    /// The listener's limits and the rate limits.
    fn check_connections(&self) -> anyhow::Result<()> {
        let server = &self.server;
        let within = |name: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if !range.contains(&value) {
                bail!(
                    "server.{name} must be from {} to {}, not {value}",
                    range.start(),
                    range.end()
                );
            }
            Ok(())
        };
        within(
            "header_read_timeout_ms",
            server.header_read_timeout_ms,
            1..=HEADER_READ_TIMEOUT_MS_LIMIT,
        )?;
        within(
            "idle_timeout_s",
            server.idle_timeout_s,
            1..=IDLE_TIMEOUT_S_LIMIT,
        )?;
        within(
            "connections_max",
            server.connections_max as u64,
            1..=CONNECTIONS_LIMIT,
        )?;
        within("headers_max", server.headers_max as u64, 1..=HEADERS_LIMIT)?;
        within(
            "header_bytes_max",
            server.header_bytes_max as u64,
            HEADER_BYTES_MIN..=HEADER_BYTES_LIMIT,
        )?;
        let limits = &server.rate_limit;
        for (name, per_s, burst) in [
            ("per_key", limits.per_key_per_s, limits.per_key_burst),
            (
                "per_address",
                limits.per_address_per_s,
                limits.per_address_burst,
            ),
        ] {
            if per_s > 0 && burst == 0 {
                bail!("server.rate_limit.{name}_burst must be above 0 while server.rate_limit.{name}_per_s is (0 per second turns the limit off)");
            }
        }
        within(
            "rate_limit.tracked_max",
            limits.tracked_max as u64,
            1..=TRACKED_LIMIT,
        )
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
