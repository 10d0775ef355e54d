//! The stockd write path.
//!
//! Every change to stock goes through [`Engine::submit`]. The engine keeps one
//! bounded queue in front of the store and one writer task that takes what is
//! queued (up to `batch_ops_max` commands) and hands it to the store as one
//! batch: one transaction, one fsync, each command in its own savepoint. An
//! idle engine passes a lone command on at once; it never waits to fill a batch.

mod latency;

pub use latency::{LatencyRecorder, LatencySummary};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stock_core::ItemId;
use stock_store::{Command, Reply, Store, WriteError, WriteJob, WriteMeta};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Commands that may wait for the writer before `submit` itself waits.
    pub queue_depth_max: usize,
    /// The most commands the writer puts in one transaction.
    pub batch_ops_max: usize,
    /// How long the writer may wait for more commands to join a batch, when
    /// the previous batch showed there is load. Zero: take what is queued.
    /// A lone command on an idle service never waits.
    pub batch_wait: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            queue_depth_max: 4096,
            batch_ops_max: 1024,
            batch_wait: Duration::ZERO,
        }
    }
}

/// Runs after every durable batch and before its answers go out: what a
/// write-through cache needs to be never behind an answered write.
#[async_trait::async_trait]
pub trait AfterCommit: Send + Sync + 'static {
    /// `named` are the items the batches' commands named whose change may
    /// leave no ledger row (an item's details); every change of stock is in
    /// the outbox. When batches commit faster than this runs, one call
    /// covers several. It must bound its own time: answers wait for it.
    async fn committed(&self, named: Vec<ItemId>);
}

/// A committed batch whose answers wait for [`AfterCommit`].
struct Committed {
    named: Vec<ItemId>,
    replies: Vec<Reply>,
    answers: Vec<oneshot::Sender<Reply>>,
}

/// The items a command names whose change may write no ledger row.
fn named_items(command: &Command) -> Option<ItemId> {
    match command {
        Command::CreateItem { item, .. } | Command::ImportItem { item, .. } => {
            Some(item.id.clone())
        }
        Command::UpdateItem { id, .. } => Some(id.clone()),
        _ => None,
    }
}

struct Pending {
    job: WriteJob,
    reply: oneshot::Sender<Reply>,
}

/// A handle on the write path; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    sender: mpsc::Sender<Pending>,
    /// Counts committed batches, for whoever waits for new events.
    commits: tokio::sync::watch::Receiver<u64>,
    latency: Arc<LatencyRecorder>,
    counters: Arc<StoreCounters>,
}

/// Upper bounds of the batch-size histogram: 1, 2, 4, … 8192.
pub const BATCH_SIZE_BUCKETS: [u64; 14] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
];

/// What the writer has handed to the store since start.
#[derive(Debug, Default)]
struct StoreCounters {
    batches: AtomicU64,
    writes: AtomicU64,
    busy_ns: AtomicU64,
    /// Batches by size: `sizes[i]` counts batches of at most
    /// `BATCH_SIZE_BUCKETS[i]` writes and more than the bucket before.
    sizes: [AtomicU64; BATCH_SIZE_BUCKETS.len()],
}

/// The write path's work so far: batches, writes, and the time the store
/// spent on them (the rest of a write's latency is queueing and HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreActivity {
    pub batches: u64,
    pub writes: u64,
    pub busy: Duration,
    /// Batches by size, per bucket of [`BATCH_SIZE_BUCKETS`] (not cumulative).
    pub batch_sizes: [u64; BATCH_SIZE_BUCKETS.len()],
}

impl Engine {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: EngineConfig) -> Engine {
        Engine::start_with(store, config, None)
    }

    /// Starts the writer; with `after_commit`, every batch's answers wait
    /// until it has seen the batch.
    pub fn start_with(
        store: Arc<dyn Store>,
        config: EngineConfig,
        after_commit: Option<Arc<dyn AfterCommit>>,
    ) -> Engine {
        assert!(config.queue_depth_max > 0);
        assert!(config.batch_ops_max > 0);
        let (sender, receiver) = mpsc::channel(config.queue_depth_max);
        let counters = Arc::new(StoreCounters::default());
        let (committed, commits) = tokio::sync::watch::channel(0);
        let publisher = after_commit.map(|hook| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(publish_loop(hook, receiver));
            sender
        });
        tokio::spawn(write_loop(
            store,
            receiver,
            config,
            Arc::clone(&counters),
            committed,
            publisher,
        ));
        Engine {
            sender,
            commits,
            latency: Arc::new(LatencyRecorder::new()),
            counters,
        }
    }

    /// Runs one command and returns once its outcome is durable.
    pub async fn submit(&self, command: Command, meta: WriteMeta) -> Reply {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            job: WriteJob { command, meta },
            reply,
        };
        if self.sender.send(pending).await.is_err() {
            return stopped();
        }
        let reply = answer.await.unwrap_or_else(|_| stopped());
        self.latency.record(started.elapsed());
        reply
    }

    /// Percentiles of recent write latencies, queueing included.
    pub fn write_latency(&self) -> LatencySummary {
        self.latency.summary()
    }

    /// Changes after every batch the writer hands to the store: wakes
    /// readers of the event outbox without polling.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.clone()
    }

    pub fn store_activity(&self) -> StoreActivity {
        StoreActivity {
            batches: self.counters.batches.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.counters.busy_ns.load(Ordering::Relaxed)),
            batch_sizes: std::array::from_fn(|i| self.counters.sizes[i].load(Ordering::Relaxed)),
        }
    }
}

/// Waits up to `wait` for more commands, until the batch is full.
async fn fill_batch(
    receiver: &mut mpsc::Receiver<Pending>,
    pending: &mut Vec<Pending>,
    batch_ops_max: usize,
    wait: Duration,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while pending.len() < batch_ops_max {
        let room = batch_ops_max - pending.len();
        match tokio::time::timeout_at(deadline, receiver.recv_many(pending, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn panicked() -> Reply {
    Reply::Fresh(Err(WriteError::Internal(anyhow::anyhow!(
        "the write batch failed unexpectedly"
    ))))
}

fn stopped() -> Reply {
    Reply::Fresh(Err(WriteError::Internal(anyhow::anyhow!(
        "the write path has stopped"
    ))))
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<Pending>,
    config: EngineConfig,
    counters: Arc<StoreCounters>,
    committed: tokio::sync::watch::Sender<u64>,
    publisher: Option<mpsc::UnboundedSender<Committed>>,
) {
    let batch_ops_max = config.batch_ops_max;
    let mut pending = Vec::with_capacity(batch_ops_max);
    let mut previous_batch = 0;
    while receiver.recv_many(&mut pending, batch_ops_max).await > 0 {
        if previous_batch > 1 && !config.batch_wait.is_zero() {
            fill_batch(
                &mut receiver,
                &mut pending,
                batch_ops_max,
                config.batch_wait,
            )
            .await;
        }
        previous_batch = pending.len();
        let (jobs, answers): (Vec<_>, Vec<_>) = pending.drain(..).map(|p| (p.job, p.reply)).unzip();
        let named: Vec<ItemId> = match publisher {
            Some(_) => jobs
                .iter()
                .filter_map(|job| named_items(&job.command))
                .collect(),
            None => Vec::new(),
        };
        // The batch runs as a task of its own, so that a panic in it fails
        // this batch's writes and not the write path.
        let batch_store = Arc::clone(&store);
        let started = Instant::now();
        let replies = match tokio::spawn(async move { batch_store.execute(jobs).await }).await {
            Ok(replies) => replies,
            Err(error) => {
                tracing::error!(error = %error, writes = answers.len(), "a write batch panicked");
                answers.iter().map(|_| panicked()).collect()
            }
        };
        assert_eq!(
            replies.len(),
            answers.len(),
            "the store answers every command"
        );
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|bound| answers.len() as u64 <= *bound)
            .unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        counters.sizes[bucket].fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
        let busy_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counters.busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        committed.send_modify(|batches| *batches += 1);
        match &publisher {
            Some(publisher) => {
                let batch = Committed {
                    named,
                    replies,
                    answers,
                };
                if let Err(unsent) = publisher.send(batch) {
                    answer_all(vec![unsent.0]);
                }
            }
            None => answer(replies, answers),
        }
    }
    tracing::info!("the write path stopped: every engine handle was dropped");
}

fn answer(replies: Vec<Reply>, answers: Vec<oneshot::Sender<Reply>>) {
    for (reply, answer) in replies.into_iter().zip(answers) {
        // A caller that gave up (timeout, closed connection) no longer listens.
        let _ = answer.send(reply);
    }
}

fn answer_all(batches: Vec<Committed>) {
    for batch in batches {
        answer(batch.replies, batch.answers);
    }
}

/// Batches committed while the hook ran are seen together, in one call.
const PUBLISH_BATCHES_MAX: usize = 256;

async fn publish_loop(
    hook: Arc<dyn AfterCommit>,
    mut receiver: mpsc::UnboundedReceiver<Committed>,
) {
    let mut batches = Vec::with_capacity(PUBLISH_BATCHES_MAX);
    while receiver.recv_many(&mut batches, PUBLISH_BATCHES_MAX).await > 0 {
        let mut named: Vec<ItemId> = batches
            .iter()
            .flat_map(|b| b.named.iter().cloned())
            .collect();
        named.sort();
        named.dedup();
        hook.committed(named).await;
        answer_all(std::mem::take(&mut batches));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stock_core::{Item, ItemId, ItemStatus, LocationId};
    use stock_store::{SqliteOptions, SqliteStore};

    async fn engine(config: EngineConfig) -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("e.db")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, Engine::start(Arc::new(store), config))
    }

    fn create(n: usize) -> Command {
        let item = Item {
            id: ItemId::parse(&format!("i{n}")).unwrap(),
            name: format!("Item {n}"),
            status: ItemStatus::Active,
            min_stock: None,
            max_stock: None,
            allow_backorder: false,
        };
        Command::CreateItem {
            item,
            location: LocationId::default_location(),
            opening_stock: 1,
        }
    }

    fn meta() -> WriteMeta {
        WriteMeta {
            operator: "test".into(),
            trace_id: None,
            idempotency: None,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_write_on_an_idle_engine_does_not_wait_for_company() {
        let (_dir, engine) = engine(EngineConfig {
            batch_wait: Duration::from_secs(3600),
            ..EngineConfig::default()
        })
        .await;
        let answered =
            tokio::time::timeout(Duration::from_secs(30), engine.submit(create(0), meta())).await;
        assert!(matches!(answered, Ok(Reply::Fresh(Ok(_)))));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_writes_share_transactions() {
        let (_dir, engine) = engine(EngineConfig::default()).await;
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..64 {
            let engine = engine.clone();
            writes.spawn(async move { engine.submit(create(n), meta()).await });
        }
        while let Some(reply) = writes.join_next().await {
            assert!(matches!(reply.unwrap(), Reply::Fresh(Ok(_))));
        }
        let activity = engine.store_activity();
        assert_eq!(activity.writes, 64);
        assert!(activity.batches < 64, "{activity:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_never_exceeds_its_limit() {
        let config = EngineConfig {
            batch_ops_max: 4,
            batch_wait: Duration::from_millis(50),
            ..EngineConfig::default()
        };
        let (_dir, engine) = engine(config).await;
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..40 {
            let engine = engine.clone();
            writes.spawn(async move { engine.submit(create(n), meta()).await });
        }
        while let Some(reply) = writes.join_next().await {
            assert!(matches!(reply.unwrap(), Reply::Fresh(Ok(_))));
        }
        let activity = engine.store_activity();
        assert_eq!(activity.writes, 40);
        assert!(activity.batches >= 10, "batches of at most 4: {activity:?}");
    }
}
