//! The Redis read cache: storefront reads served from Redis, written
//! through after every durable commit and never ahead of one.
//!
//! Each item has two keys. The number key (`seckill:stock:{product_id}` by
//! default, seed 001's format) holds its available stock over all locations,
//! so an order service that keeps flash-sale stock there can be reconciled
//! with it. The view key (`stockd:item:{product_id}`) is a hash holding the
//! whole item as reads return it and the stamp it was read at (the sum of
//! its level versions, then its update time): a write carrying an older stamp
//! than the one stored is dropped, so replicas and a refill racing a commit
//! can only move the cache forward.
//!
//! The cache is `down` until it is known to hold what the database holds:
//! at start, and after any Redis failure. While down, reads and writes go on
//! from the database alone; a task retries Redis every `retry_interval`, then
//! rewrites every item (`warming`, while commits are written through again)
//! and only then serves reads from it (`up`).

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use stock_core::{Item, ItemId, ItemStatus, Level, LocationId};
use stock_engine::AfterCommit;
use stock_store::{ItemView, LocationLevel, Store};
use tokio::sync::Mutex;

use crate::resp::{Connection, RedisAddress, Value};

/// Where the cache is and how it behaves.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub address: RedisAddress,
    /// The number key; `{product_id}` is replaced by the item's id.
    pub key_format: String,
    /// The view key; `{product_id}` is replaced by the item's id.
    pub view_key_format: String,
    /// Every call to Redis, connecting included; a slower one counts as a failure.
    pub timeout: Duration,
    /// Connections to Redis.
    pub pool_size: usize,
    /// How often a down cache tries Redis again.
    pub retry_interval: Duration,
    /// Items written per pipeline when the cache is filled.
    pub fill_batch: u32,
    /// How often an up cache also follows the outbox on its own, for
    /// commits whose replica could not write them through.
    pub follow_interval: Duration,
}

impl CacheConfig {
    pub fn new(address: RedisAddress) -> CacheConfig {
        CacheConfig {
            address,
            key_format: "seckill:stock:{product_id}".to_owned(),
            view_key_format: "stockd:item:{product_id}".to_owned(),
            timeout: Duration::from_millis(200),
            pool_size: 8,
            retry_interval: Duration::from_secs(1),
            fill_batch: 500,
            follow_interval: Duration::from_secs(1),
        }
    }
}

/// Whether reads may trust the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Redis failed or was never reached: everything goes to the database.
    Down,
    /// Redis is back and being rewritten; commits are written through, reads
    /// still go to the database.
    Warming,
    /// Reads are served from Redis.
    Up,
}

impl CacheState {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Down => "down",
            CacheState::Warming => "warming",
            CacheState::Up => "up",
        }
    }
}

/// What the cache has done since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    /// Calls to Redis that failed (each takes the cache down).
    pub errors: u64,
    /// Items written to Redis.
    pub writes: u64,
    /// Times the cache was rewritten whole after Redis came back.
    pub fills: u64,
}

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

/// Outbox events read per statement when following commits.
const EVENTS_PER_READ: u32 = 1000;

pub struct Cache {
    store: Arc<dyn Store>,
    config: CacheConfig,
    slots: Vec<Mutex<Option<Connection>>>,
    next_slot: AtomicUsize,
    state: AtomicU8,
    /// The newest outbox event written through; held while following commits.
    cursor: Mutex<i64>,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    writes: AtomicU64,
    fills: AtomicU64,
    /// Wakes the healer when the cache goes down.
    wake: tokio::sync::Notify,
}

impl Cache {
    pub fn new(store: Arc<dyn Store>, config: CacheConfig) -> Arc<Cache> {
        assert!(config.pool_size > 0);
        Arc::new(Cache {
            store,
            slots: (0..config.pool_size).map(|_| Mutex::new(None)).collect(),
            config,
            next_slot: AtomicUsize::new(0),
            state: AtomicU8::new(CacheState::Down as u8),
            cursor: Mutex::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            fills: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn state(&self) -> CacheState {
        match self.state.load(Ordering::Acquire) {
            2 => CacheState::Up,
            1 => CacheState::Warming,
            _ => CacheState::Down,
        }
    }

    fn set_state(&self, state: CacheState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn counters(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            fills: self.fills.load(Ordering::Relaxed),
        }
    }

    pub fn number_key(&self, id: &ItemId) -> String {
        self.config.key_format.replace("{product_id}", id.as_str())
    }

    pub fn view_key(&self, id: &ItemId) -> String {
        self.config
            .view_key_format
            .replace("{product_id}", id.as_str())
    }

    /// Runs commands on one pooled connection within the timeout. A failure
    /// drops the connection and takes the cache down.
    pub async fn run(&self, commands: Vec<Vec<String>>) -> anyhow::Result<Vec<Value>> {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        // Waiting for a busy connection is not Redis being slow: only the
        // call itself is timed (each holder is bounded by the timeout).
        let mut connection = self.slots[slot].lock().await;
        let result = tokio::time::timeout(self.config.timeout, async {
            if connection.is_none() {
                *connection = Some(Connection::open(&self.config.address).await?);
            }
            connection
                .as_mut()
                .expect("connected above")
                .pipeline(&commands)
                .await
        })
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "Redis did not answer within {} ms",
                self.config.timeout.as_millis()
            ))
        });
        if result.is_err() {
            // Out of step (a reply may still be on its way): never reused.
            *connection = None;
        }
        drop(connection);
        if let Err(error) = &result {
            // A connection that timed out mid-reply is out of step: failed()
            // drops it with the other idle ones.
            self.failed(error);
        }
        result
    }

    fn failed(&self, error: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let was = self.state();
        self.set_state(CacheState::Down);
        // A Redis that failed one connection has usually lost them all (a
        // restart): drop every idle one; those in use fail on their own.
        for slot in &self.slots {
            if let Ok(mut connection) = slot.try_lock() {
                *connection = None;
            }
        }
        if was != CacheState::Down {
            tracing::warn!(redis = %self.config.address.shown(), error = %format!("{error:#}"),
                "the Redis cache is down: reads and writes go to the database until it is back");
            self.wake.notify_one();
        }
    }

    /// Items as reads return them: from Redis when the cache is up, the
    /// rest (and everything when it is not) from the database. In `ids` order;
    /// unknown items are left out.
    pub async fn items(&self, ids: &[ItemId]) -> anyhow::Result<Vec<ItemView>> {
        if self.state() != CacheState::Up {
            return self.store.items(ids).await;
        }
        let commands = ids
            .iter()
            .map(|id| vec!["HGET".to_owned(), self.view_key(id), "view".to_owned()])
            .collect();
        let Ok(replies) = self.run(commands).await else {
            return self.store.items(ids).await;
        };
        let mut found: Vec<Option<ItemView>> = replies
            .into_iter()
            .map(|reply| match reply {
                Value::Text(json) => serde_json::from_str::<CachedItem>(&json)
                    .ok()
                    .and_then(|cached| cached.into_view()),
                _ => None,
            })
            .collect();
        let missing: Vec<ItemId> = ids
            .iter()
            .zip(&found)
            .filter(|(_, view)| view.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        self.hits
            .fetch_add((ids.len() - missing.len()) as u64, Ordering::Relaxed);
        if !missing.is_empty() {
            self.misses
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            let read = self.store.items(&missing).await?;
            // A miss is filled from what the database said; the stamp keeps
            // it from overwriting a newer commit that got there first.
            let _ = self.write(&read, false).await;
            for view in read {
                if let Some(at) = ids.iter().position(|id| *id == view.item.id) {
                    found[at] = Some(view);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// Writes items to both keys; an older stamp than Redis holds is skipped
    /// unless `force`.
    pub async fn write(&self, views: &[ItemView], force: bool) -> anyhow::Result<()> {
        for chunk in views.chunks(self.config.fill_batch.max(1) as usize) {
            let commands = chunk
                .iter()
                .map(|view| {
                    let (versions, updated_at) = stamp(view);
                    vec![
                        "EVAL".to_owned(),
                        WRITE_SCRIPT.to_owned(),
                        "2".to_owned(),
                        self.number_key(&view.item.id),
                        self.view_key(&view.item.id),
                        versions.to_string(),
                        updated_at.to_string(),
                        view.available().to_string(),
                        serde_json::to_string(&CachedItem::from(view)).expect("items serialize"),
                        if force { "1" } else { "0" }.to_owned(),
                    ]
                })
                .collect();
            let replies = self.run(commands).await?;
            if let Some(Value::Error(message)) =
                replies.iter().find(|r| matches!(r, Value::Error(_)))
            {
                let error = anyhow::anyhow!("Redis refused a cache write: {message}");
                self.failed(&error);
                return Err(error);
            }
            self.writes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The number keys' values and the stamps of the views written with
    /// them, in `ids` order.
    pub async fn entries(&self, ids: &[ItemId]) -> anyhow::Result<Vec<CachedEntry>> {
        let mut commands = Vec::with_capacity(ids.len() * 2);
        for id in ids {
            commands.push(vec!["GET".to_owned(), self.number_key(id)]);
            commands.push(vec![
                "HMGET".to_owned(),
                self.view_key(id),
                "versions".to_owned(),
                "updated_at".to_owned(),
            ]);
        }
        let mut replies = self.run(commands).await?.into_iter();
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            let (Some(number), Some(stamp)) = (replies.next(), replies.next()) else {
                anyhow::bail!("Redis sent fewer replies than commands");
            };
            let value = match number {
                Value::Null => None,
                Value::Text(text) => Some(text.trim().parse().with_context(|| {
                    format!("the cache's value for {id} is not a number: {text:?}")
                })?),
                other => anyhow::bail!("unexpected reply for {id}: {other:?}"),
            };
            let stamp = match stamp {
                Value::Array(fields) => match fields.as_slice() {
                    [Value::Text(versions), Value::Text(updated_at)] => {
                        versions.parse().ok().zip(updated_at.parse().ok())
                    }
                    _ => None,
                },
                _ => None,
            };
            entries.push(CachedEntry { value, stamp });
        }
        Ok(entries)
    }

    /// Writes the items of commits made since the cursor (any replica's).
    async fn follow(&self, named: Vec<ItemId>) -> anyhow::Result<()> {
        let mut cursor = self.cursor.lock().await;
        let mut items = named;
        loop {
            let changed = self
                .store
                .changed_items_after(*cursor, EVENTS_PER_READ)
                .await?;
            items.extend(changed.items);
            items.sort();
            items.dedup();
            if !items.is_empty() {
                let views = self.store.items(&items).await?;
                self.write(&views, false).await?;
                items.clear();
            }
            *cursor = changed.newest_event_id;
            if changed.complete {
                return Ok(());
            }
        }
    }

    /// Rewrites every item, a page at a time, following commits as it goes.
    async fn fill(&self) -> anyhow::Result<u64> {
        self.run(vec![vec!["PING".to_owned()]]).await?;
        {
            let mut cursor = self.cursor.lock().await;
            *cursor = self.store.last_event_id().await?;
        }
        self.set_state(CacheState::Warming);
        let mut after: Option<ItemId> = None;
        let mut written = 0;
        loop {
            let ids = self
                .store
                .item_ids_after(after.as_ref(), self.config.fill_batch)
                .await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            let views = self.store.items(&ids).await?;
            self.write(&views, false).await?;
            if self.state() != CacheState::Warming {
                anyhow::bail!("Redis failed during the fill");
            }
            written += views.len() as u64;
            after = Some(last);
        }
        // Commits made during the fill were written through; catch up once
        // more so nothing committed before `up` is missed.
        self.follow(Vec::new()).await?;
        Ok(written)
    }

    /// Keeps the cache healthy: fills it when Redis is reachable, again
    /// after every failure. Runs until the process ends.
    pub fn spawn_healer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if cache.state() == CacheState::Up {
                    tokio::select! {
                        () = cache.wake.notified() => {}
                        () = tokio::time::sleep(cache.config.follow_interval) => {
                            if let Err(error) = cache.follow(Vec::new()).await {
                                if cache.state() != CacheState::Down {
                                    cache.failed(&error);
                                }
                            }
                        }
                    }
                    continue;
                }
                match cache.fill().await {
                    Ok(written) if cache.state() == CacheState::Warming => {
                        cache.set_state(CacheState::Up);
                        cache.fills.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(redis = %cache.config.address.shown(), items = written,
                            "the Redis cache is up");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if cache.state() != CacheState::Down {
                            cache.failed(&error);
                        }
                        tracing::debug!(error = %format!("{error:#}"), "the Redis cache is still down");
                        tokio::time::sleep(cache.config.retry_interval).await;
                    }
                }
            }
        })
    }
}

#[async_trait::async_trait]
impl AfterCommit for Cache {
    async fn committed(&self, named: Vec<ItemId>) {
        if self.state() == CacheState::Down {
            return;
        }
        if let Err(error) = self.follow(named).await {
            if self.state() != CacheState::Down {
                self.failed(&error);
            }
        }
    }
}

/// What Redis holds for one item, as the health checker reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedEntry {
    /// The number key; `None` when there is none.
    pub value: Option<i64>,
    /// The stamp of the view last written with it (versions, updated at).
    pub stamp: Option<(i64, i64)>,
}

/// An item's stamp: the sum of its levels' versions, then its update time.
/// A later commit never has a smaller one.
pub fn stamp(view: &ItemView) -> (i64, i64) {
    (
        view.levels.iter().map(|l| l.level.version).sum(),
        view.updated_at_ms,
    )
}

/// An item as the view key holds it.
#[derive(Debug, Serialize, Deserialize)]
struct CachedItem {
    id: String,
    name: String,
    status: String,
    min_stock: Option<i64>,
    max_stock: Option<i64>,
    allow_backorder: bool,
    levels: Vec<CachedLevel>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedLevel {
    location: String,
    on_hand: i64,
    reserved: i64,
    version: i64,
    updated_at: i64,
}

impl From<&ItemView> for CachedItem {
    fn from(view: &ItemView) -> Self {
        CachedItem {
            id: view.item.id.to_string(),
            name: view.item.name.clone(),
            status: view.item.status.as_str().to_owned(),
            min_stock: view.item.min_stock,
            max_stock: view.item.max_stock,
            allow_backorder: view.item.allow_backorder,
            levels: view
                .levels
                .iter()
                .map(|l| CachedLevel {
                    location: l.location.to_string(),
                    on_hand: l.level.on_hand,
                    reserved: l.level.reserved,
                    version: l.level.version,
                    updated_at: l.updated_at_ms,
                })
                .collect(),
            created_at: view.created_at_ms,
            updated_at: view.updated_at_ms,
        }
    }
}

impl CachedItem {
    /// `None` for anything that does not parse: it is read as a miss.
    fn into_view(self) -> Option<ItemView> {
        let mut levels = Vec::with_capacity(self.levels.len());
        for level in self.levels {
            levels.push(LocationLevel {
                location: LocationId::parse(&level.location).ok()?,
                level: Level {
                    on_hand: level.on_hand,
                    reserved: level.reserved,
                    version: level.version,
                },
                updated_at_ms: level.updated_at,
            });
        }
        Some(ItemView {
            item: Item {
                id: ItemId::parse(&self.id).ok()?,
                name: self.name,
                status: ItemStatus::parse(&self.status)?,
                min_stock: self.min_stock,
                max_stock: self.max_stock,
                allow_backorder: self.allow_backorder,
            },
            levels,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}
