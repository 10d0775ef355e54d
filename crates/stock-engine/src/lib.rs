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
    /// How long a command that met a row another database transaction holds
    /// locked ([`WriteError::Busy`]) is run again, in later batches, before
    /// its caller is told. The rest of its batch never waits for it.
    pub busy_wait_max: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            queue_depth_max: 4096,
            batch_ops_max: 1024,
            batch_wait: Duration::ZERO,
            busy_wait_max: Duration::from_secs(10),
        }
    }
}

/// The first pause before a busy command runs again; each further one
/// doubles, up to [`BUSY_RETRY_MAX`]. Short, because a command in a run
/// costs the writer nothing while it waits: the sale of a row that was
/// locked answers about this long after the lock goes.
const BUSY_RETRY_FIRST: Duration = Duration::from_millis(1);
/// The longest pause between two tries of a busy command. A command run
/// one by one waits up to the store's lock timeout on each try, so tries
/// this far apart keep that to a small share of the writer's time.
const BUSY_RETRY_MAX: Duration = Duration::from_millis(50);

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
    /// When the command first met a busy row, and how often it has since.
    busy: Option<(Instant, u32)>,
}

/// Busy commands waiting to run again, each with when it may.
#[derive(Default)]
struct Waiting {
    commands: Vec<(tokio::time::Instant, Pending)>,
}

impl Waiting {
    fn next(&self) -> Option<tokio::time::Instant> {
        self.commands.iter().map(|(at, _)| *at).min()
    }

    /// Moves the commands whose time has come into `pending`, oldest first,
    /// while there is room.
    fn take_due(&mut self, pending: &mut Vec<Pending>, batch_ops_max: usize) {
        if self.commands.is_empty() || pending.len() >= batch_ops_max {
            return;
        }
        let now = tokio::time::Instant::now();
        self.commands.sort_by_key(|(at, _)| *at);
        let due = self
            .commands
            .iter()
            .take_while(|(at, _)| *at <= now)
            .count();
        let room = batch_ops_max - pending.len();
        let taken = due.min(room);
        pending.extend(self.commands.drain(..taken).map(|(_, waiting)| waiting));
    }

    /// Keeps a command that met a busy row for another try, unless its
    /// caller has gone or it has waited long enough; then it is answered.
    fn keep(&mut self, mut pending: Pending, busy_wait_max: Duration, counters: &StoreCounters) {
        let now = Instant::now();
        let (since, tries) = pending.busy.unwrap_or((now, 0));
        if pending.reply.is_closed() {
            return;
        }
        if now.duration_since(since) >= busy_wait_max {
            let _ = pending.reply.send(Reply::Fresh(Err(WriteError::Busy)));
            return;
        }
        counters.busy_retries.fetch_add(1, Ordering::Relaxed);
        pending.busy = Some((since, tries + 1));
        let pause = BUSY_RETRY_FIRST
            .saturating_mul(1 << tries.min(16))
            .min(BUSY_RETRY_MAX);
        self.commands
            .push((tokio::time::Instant::now() + pause, pending));
    }
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
    /// Commands that met a row another transaction held and ran again.
    busy_retries: AtomicU64,
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
    /// Commands that met a row another database transaction held locked,
    /// and were run again in a later batch.
    pub busy_retries: u64,
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
            busy: None,
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
            busy_retries: self.counters.busy_retries.load(Ordering::Relaxed),
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
    let mut waiting = Waiting::default();
    let mut open = true;
    let mut previous_batch = 0;
    loop {
        if pending.is_empty() {
            let next = waiting.next();
            match (open, next) {
                (false, None) => break,
                (true, None) => {
                    open = receiver.recv_many(&mut pending, batch_ops_max).await > 0;
                }
                (true, Some(at)) => {
                    tokio::select! {
                        received = receiver.recv_many(&mut pending, batch_ops_max) => {
                            open = received > 0;
                        }
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                (false, Some(at)) => tokio::time::sleep_until(at).await,
            }
        }
        if open && previous_batch > 1 && !config.batch_wait.is_zero() {
            fill_batch(
                &mut receiver,
                &mut pending,
                batch_ops_max,
                config.batch_wait,
            )
            .await;
        }
        waiting.take_due(&mut pending, batch_ops_max);
        if pending.is_empty() {
            continue;
        }
        previous_batch = pending.len();
        let count = pending.len();
        // The jobs go to the store and come back with its replies, so that
        // those that met a busy row can be kept for another try.
        let (jobs, waiters): (Vec<WriteJob>, Vec<_>) = pending
            .drain(..)
            .map(|p| (p.job, (p.reply, p.busy)))
            .unzip();
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
        let ran = tokio::spawn(async move {
            let replies = batch_store.execute(&jobs).await;
            (jobs, replies)
        });
        let (jobs, replies) = match ran.await {
            Ok(ran) => ran,
            Err(error) => {
                tracing::error!(error = %error, writes = count, "a write batch panicked");
                (Vec::new(), (0..count).map(|_| panicked()).collect())
            }
        };
        assert_eq!(replies.len(), count, "the store answers every command");
        counters.batches.fetch_add(1, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|bound| count as u64 <= *bound)
            .unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        counters.sizes[bucket].fetch_add(1, Ordering::Relaxed);
        counters.writes.fetch_add(count as u64, Ordering::Relaxed);
        let busy_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counters.busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        committed.send_modify(|batches| *batches += 1);
        // Commands that met a row another transaction holds did nothing:
        // they run again in a later batch, and are not answered now.
        let mut answered = Vec::with_capacity(count);
        let mut answers = Vec::with_capacity(count);
        // After a panic the jobs are gone, and no reply is `Busy`.
        let mut jobs = jobs.into_iter();
        for (reply, (answer, busy)) in replies.into_iter().zip(waiters) {
            match (reply, jobs.next()) {
                (Reply::Fresh(Err(WriteError::Busy)), Some(job)) => {
                    let waiter = Pending {
                        job,
                        reply: answer,
                        busy,
                    };
                    waiting.keep(waiter, config.busy_wait_max, &counters);
                }
                (reply, _) => {
                    answered.push(reply);
                    answers.push(answer);
                }
            }
        }
        match &publisher {
            Some(publisher) => {
                let batch = Committed {
                    named,
                    replies: answered,
                    answers,
                };
                if let Err(unsent) = publisher.send(batch) {
                    answer_all(vec![unsent.0]);
                }
            }
            None => answer(answered, answers),
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
