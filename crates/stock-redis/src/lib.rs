//! stockd's Redis connector: what the read cache keeps in Redis and how it
//! is written, behind `stock_jobs::cache::CacheBackend`, through the
//! `redis` crate (its `ConnectionManager`: multiplexed, so a caller that
//! gives up mid-call leaves no reply behind for the next one, and
//! reconnecting on its own after Redis comes back).
//!
//! Each item has two keys. The number key (`seckill:stock:{product_id}` by
//! default, seed 001's format) holds its available stock over all
//! locations, so an order service that keeps flash-sale stock there can be
//! reconciled with it. The view key (`stockd:item:{product_id}`) is a hash
//! holding the whole item as reads return it and the stamp it was read at;
//! a Lua script writes both and refuses a stamp older than the one stored.

mod address;
mod item;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use stock_core::ItemId;
use stock_jobs::cache::{stamp, CacheBackend, CachedEntry};
use stock_store::ItemView;

pub use address::RedisAddress;
use item::CachedItem;

/// Writes an item unless Redis holds a newer stamp of it (or `force`).
/// KEYS: number key, view key. ARGV: versions, updated at, available, view, force.
const WRITE_SCRIPT: &str = r#"
local v = redis.call('HMGET', KEYS[2], 'versions', 'updated_at')
local newer = ARGV[5] == '1' or not v[1]
if not newer then
  local cv, cu = tonumber(v[1]), tonumber(v[2])
  local nv, nu = tonumber(ARGV[1]), tonumber(ARGV[2])
  newer = nv > cv or (nv == cv and nu >= cu)
end
if newer then
  redis.call('HSET', KEYS[2], 'versions', ARGV[1], 'updated_at', ARGV[2], 'available', ARGV[3], 'view', ARGV[4])
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0
"#;

/// The default number key: seed 001's.
pub const KEY_FORMAT_DEFAULT: &str = "seckill:stock:{product_id}";
/// The default view key.
pub const VIEW_KEY_FORMAT_DEFAULT: &str = "stockd:item:{product_id}";

/// Where the cache is and how it talks to Redis.
#[derive(Debug, Clone)]
pub struct RedisCacheConfig {
    pub address: RedisAddress,
    /// The number key; `{product_id}` is replaced by the item's id.
    pub key_format: String,
    /// The view key; `{product_id}` is replaced by the item's id.
    pub view_key_format: String,
    /// Connecting, and each reply; the cache above bounds every call too.
    pub timeout: Duration,
    /// Connections to Redis (each multiplexed); calls take them in turn.
    pub pool_size: usize,
}

impl RedisCacheConfig {
    pub fn new(address: RedisAddress) -> RedisCacheConfig {
        RedisCacheConfig {
            address,
            key_format: KEY_FORMAT_DEFAULT.to_owned(),
            view_key_format: VIEW_KEY_FORMAT_DEFAULT.to_owned(),
            timeout: Duration::from_millis(200),
            pool_size: 8,
        }
    }
}

pub struct RedisCache {
    config: RedisCacheConfig,
    connections: Vec<ConnectionManager>,
    next: AtomicUsize,
    script: redis::Script,
}

impl RedisCache {
    /// Connects lazily: nothing is sent until the first call, so a Redis
    /// that is down at start is only a cache that is down.
    pub fn new(config: RedisCacheConfig) -> anyhow::Result<RedisCache> {
        assert!(config.pool_size > 0);
        let client = redis::Client::open(config.address.connection_info().clone())
            .context("the Redis address")?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            // Reconnecting is retried by the cache's healer, at its own pace.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(config.timeout);
        let connections = (0..config.pool_size)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), manager.clone()))
            .collect::<Result<_, _>>()
            .context("setting up connections to Redis")?;
        Ok(RedisCache {
            config,
            connections,
            next: AtomicUsize::new(0),
            script: redis::Script::new(WRITE_SCRIPT),
        })
    }

    fn connection(&self) -> ConnectionManager {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[slot].clone()
    }

    pub fn number_key(&self, id: &ItemId) -> String {
        self.config.key_format.replace("{product_id}", id.as_str())
    }

    pub fn view_key(&self, id: &ItemId) -> String {
        self.config
            .view_key_format
            .replace("{product_id}", id.as_str())
    }

    fn write_pipeline(&self, views: &[ItemView], force: bool) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        for view in views {
            let (versions, updated_at) = stamp(view);
            pipe.cmd("EVALSHA")
                .arg(self.script.get_hash())
                .arg(2)
                .arg(self.number_key(&view.item.id))
                .arg(self.view_key(&view.item.id))
                .arg(versions)
                .arg(updated_at)
                .arg(view.available())
                .arg(serde_json::to_string(&CachedItem::from(view)).expect("items serialize"))
                .arg(if force { "1" } else { "0" });
        }
        pipe
    }
}

#[async_trait::async_trait]
impl CacheBackend for RedisCache {
    fn address(&self) -> String {
        self.config.address.shown()
    }

    fn key_format(&self) -> &str {
        &self.config.key_format
    }

    /// Every connection answers: after Redis came back, one that has not
    /// been used since still holds its broken socket, and is only mended by
    /// a call; the fill starts only once all of them are mended.
    async fn ping(&self) -> anyhow::Result<()> {
        let pings = self.connections.iter().map(|connection| async move {
            let pong: redis::RedisResult<String> = redis::cmd("PING")
                .query_async(&mut connection.clone())
                .await;
            pong
        });
        for pong in futures_util::future::join_all(pings).await {
            pong.context("PING")?;
        }
        Ok(())
    }

    async fn read(&self, ids: &[ItemId]) -> anyhow::Result<Vec<Option<ItemView>>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.view_key(id), "view");
        }
        let views: Vec<Option<String>> = pipe
            .query_async(&mut self.connection())
            .await
            .context("reading items")?;
        Ok(views
            .into_iter()
            .map(|json| {
                json.and_then(|json| serde_json::from_str::<CachedItem>(&json).ok())
                    .and_then(CachedItem::into_view)
            })
            .collect())
    }

    async fn write(&self, views: &[ItemView], force: bool) -> anyhow::Result<()> {
        let pipe = self.write_pipeline(views, force);
        let mut connection = self.connection();
        let written: redis::RedisResult<Vec<i64>> = pipe.query_async(&mut connection).await;
        match written {
            Ok(_) => Ok(()),
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                // A restarted Redis has forgotten the script: load it once, then write.
                self.script
                    .prepare_invoke()
                    .load_async(&mut connection)
                    .await
                    .context("loading the cache's write script")?;
                let _: Vec<i64> = pipe
                    .query_async(&mut connection)
                    .await
                    .context("writing items")?;
                Ok(())
            }
            Err(error) => Err(anyhow::Error::new(error).context("writing items")),
        }
    }

    async fn entries(&self, ids: &[ItemId]) -> anyhow::Result<Vec<CachedEntry>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.get(self.number_key(id));
            pipe.cmd("HMGET")
                .arg(self.view_key(id))
                .arg("versions")
                .arg("updated_at");
        }
        let replies: Vec<redis::Value> = pipe
            .query_async(&mut self.connection())
            .await
            .context("reading entries")?;
        anyhow::ensure!(
            replies.len() == ids.len() * 2,
            "Redis sent {} replies for {} commands",
            replies.len(),
            ids.len() * 2
        );
        let mut replies = replies.into_iter();
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            let (number, stamp) = (replies.next(), replies.next());
            let number: Option<String> = redis::from_redis_value(number.expect("counted above"))
                .with_context(|| format!("the cache's value for {id}"))?;
            let value = match number {
                None => None,
                Some(text) => Some(text.trim().parse().with_context(|| {
                    format!("the cache's value for {id} is not a number: {text:?}")
                })?),
            };
            let stamp: (Option<String>, Option<String>) =
                redis::from_redis_value(stamp.expect("counted above"))
                    .with_context(|| format!("the cache's stamp for {id}"))?;
            let stamp = match stamp {
                (Some(versions), Some(updated_at)) => {
                    versions.parse().ok().zip(updated_at.parse().ok())
                }
                _ => None,
            };
            entries.push(CachedEntry { value, stamp });
        }
        Ok(entries)
    }
}
