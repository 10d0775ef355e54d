//! The read cache: storefront reads served from a cache server (Redis),
//! written through after every durable commit and never ahead of one.
//!
//! What the server holds per item, and how a write refuses to go back in
//! time, is the backend's (`stock-redis`): every write carries the item's
//! stamp (the sum of its level versions, then its update time), and a write
//! with an older stamp than the one stored is dropped, so replicas and a
//! refill racing a commit can only move the cache forward.
//!
//! The cache is `down` until it is known to hold what the database holds:
//! at start, and after any failure. While down, reads and writes go on from
//! the database alone; the healer retries every `retry_interval`, then
//! rewrites every item (`warming`, while commits are written through again)
//! and only then serves reads from it (`up`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stock_core::ItemId;
use stock_engine::AfterCommit;
use stock_store::{ItemView, Store};
use tokio::sync::Mutex;

/// What the cache needs from the server that holds it.
#[async_trait::async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    /// Where the server is, for logs and status pages; never with a password.
    fn address(&self) -> String;
    /// How the number key is named (`{product_id}` stands for the item), for status pages.
    fn key_format(&self) -> &str;
    async fn ping(&self) -> anyhow::Result<()>;
    /// The items as last written, in `ids` order; `None` for a miss (and for
    /// anything that does not read back as an item).
    async fn read(&self, ids: &[ItemId]) -> anyhow::Result<Vec<Option<ItemView>>>;
    /// Writes the items; each is skipped where the server holds a newer
    /// stamp than [`stamp`] gives, unless `force`.
    async fn write(&self, views: &[ItemView], force: bool) -> anyhow::Result<()>;
    /// The number keys' values and the stamps written with them, in `ids` order.
    async fn entries(&self, ids: &[ItemId]) -> anyhow::Result<Vec<CachedEntry>>;
}

/// What the server holds for one item, as the health checker reads it.
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

/// How the cache behaves, whatever holds it.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Every call to the server; a slower one counts as a failure.
    pub timeout: Duration,
    /// How often a down cache tries the server again.
    pub retry_interval: Duration,
    /// Items written per call when the cache is filled, and compared per
    /// call by the health checker.
    pub fill_batch: u32,
    /// How often an up cache also follows the outbox on its own, for
    /// commits whose replica could not write them through.
    pub follow_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            timeout: Duration::from_millis(200),
            retry_interval: Duration::from_secs(1),
            fill_batch: 500,
            follow_interval: Duration::from_secs(1),
        }
    }
}

/// Whether reads may trust the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// The server failed or was never reached: everything goes to the database.
    Down,
    /// The server is back and being rewritten; commits are written through,
    /// reads still go to the database.
    Warming,
    /// Reads are served from the cache.
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
    /// Calls to the server that failed (each takes the cache down).
    pub errors: u64,
    /// Items written to the server.
    pub writes: u64,
    /// Times the cache was rewritten whole after the server came back.
    pub fills: u64,
}

/// Outbox events read per statement when following commits.
const EVENTS_PER_READ: u32 = 1000;

pub struct Cache {
    store: Arc<dyn Store>,
    backend: Arc<dyn CacheBackend>,
    settings: CacheSettings,
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
    pub fn new(
        store: Arc<dyn Store>,
        backend: Arc<dyn CacheBackend>,
        settings: CacheSettings,
    ) -> Arc<Cache> {
        assert!(settings.fill_batch > 0);
        Arc::new(Cache {
            store,
            backend,
            settings,
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

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Where the server is (no password).
    pub fn address(&self) -> String {
        self.backend.address()
    }

    pub fn key_format(&self) -> &str {
        self.backend.key_format()
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

    /// One call to the server within the timeout; a failure takes the cache down.
    async fn call<T>(&self, call: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        let result = tokio::time::timeout(self.settings.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the cache did not answer within {} ms",
                    self.settings.timeout.as_millis()
                ))
            });
        if let Err(error) = &result {
            self.failed(error);
        }
        result
    }

    fn failed(&self, error: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let was = self.state();
        self.set_state(CacheState::Down);
        if was != CacheState::Down {
            tracing::warn!(cache = %self.backend.address(), error = %format!("{error:#}"),
                "the cache is down: reads and writes go to the database until it is back");
            self.wake.notify_one();
        }
    }

    /// Items as reads return them: from the cache when it is up, the rest
    /// (and everything when it is not) from the database. In `ids` order;
    /// unknown items are left out.
    pub async fn items(&self, ids: &[ItemId]) -> anyhow::Result<Vec<ItemView>> {
        if self.state() != CacheState::Up {
            return self.store.items(ids).await;
        }
        let Ok(mut found) = self.call(self.backend.read(ids)).await else {
            return self.store.items(ids).await;
        };
        anyhow::ensure!(
            found.len() == ids.len(),
            "the cache answered {} items for {}",
            found.len(),
            ids.len()
        );
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

    /// Writes items, `fill_batch` per call; an older stamp than the server
    /// holds is skipped unless `force`.
    pub async fn write(&self, views: &[ItemView], force: bool) -> anyhow::Result<()> {
        for chunk in views.chunks(self.settings.fill_batch as usize) {
            self.call(self.backend.write(chunk, force)).await?;
            self.writes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The number keys' values and the stamps written with them, in `ids` order.
    pub async fn entries(&self, ids: &[ItemId]) -> anyhow::Result<Vec<CachedEntry>> {
        let entries = self.call(self.backend.entries(ids)).await?;
        anyhow::ensure!(
            entries.len() == ids.len(),
            "the cache answered {} entries for {}",
            entries.len(),
            ids.len()
        );
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
        self.call(self.backend.ping()).await?;
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
                .item_ids_after(after.as_ref(), self.settings.fill_batch)
                .await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            let views = self.store.items(&ids).await?;
            self.write(&views, false).await?;
            if self.state() != CacheState::Warming {
                anyhow::bail!("the cache failed during the fill");
            }
            written += views.len() as u64;
            after = Some(last);
        }
        // Commits made during the fill were written through; catch up once
        // more so nothing committed before `up` is missed.
        self.follow(Vec::new()).await?;
        Ok(written)
    }

    /// Keeps the cache healthy: fills it when the server is reachable, again
    /// after every failure. Runs until the process ends.
    pub fn spawn_healer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if cache.state() == CacheState::Up {
                    tokio::select! {
                        () = cache.wake.notified() => {}
                        () = tokio::time::sleep(cache.settings.follow_interval) => {
                            cache.follow_or_fail(Vec::new()).await;
                        }
                    }
                    continue;
                }
                match cache.fill().await {
                    Ok(written) if cache.state() == CacheState::Warming => {
                        cache.set_state(CacheState::Up);
                        cache.fills.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(cache = %cache.backend.address(), items = written,
                            "the cache is up");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if cache.state() != CacheState::Down {
                            cache.failed(&error);
                        }
                        tracing::debug!(error = %format!("{error:#}"), "the cache is still down");
                        tokio::time::sleep(cache.settings.retry_interval).await;
                    }
                }
            }
        })
    }

    /// Follows commits; a failure (the database's too) takes the cache down.
    async fn follow_or_fail(&self, named: Vec<ItemId>) {
        if let Err(error) = self.follow(named).await {
            if self.state() != CacheState::Down {
                self.failed(&error);
            }
        }
    }
}

#[async_trait::async_trait]
impl AfterCommit for Cache {
    async fn committed(&self, named: Vec<ItemId>) {
        if self.state() == CacheState::Down {
            return;
        }
        self.follow_or_fail(named).await;
    }
}
