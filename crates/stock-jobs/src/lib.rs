//! stockd's background and scheduled work, in one place: expiring holds and
//! purging old rows (`upkeep`), the read cache's write-through and healing
//! (`cache`), the health checker (`health_check`), channel syncs
//! (`channel_sync`), supplier syncs and the check before orders
//! (`supplier_sync`, `order_check`), webhook delivery (`webhook_delivery`)
//! and further event sinks (`event_sink`).
//!
//! Jobs take the store and the engine and answer in their own words
//! ([`JobError`]); they know no HTTP. What they reach outside stockd comes
//! through connectors: a [`CacheBackend`](cache::CacheBackend) (Redis), an
//! [`EventSink`](event_sink::EventSink) (NATS), a supplier
//! (`stock-supplier`), pushes (`stock-push`).

pub mod cache;
pub mod channel_sync;
mod counters;
mod error;
pub mod event_encoding;
pub mod event_sink;
pub mod health_check;
pub mod memory_cache;
pub mod order_check;
mod schedule;
pub mod supplier_registry;
pub mod supplier_sync;
pub mod upkeep;
pub mod webhook_delivery;

use std::sync::Arc;

use stock_engine::Engine;
use stock_push::Pusher;
use stock_store::{Command, Outcome, Reply, Store, WriteMeta};

pub use cache::{Cache, CacheState};
pub use channel_sync::ChannelSettings;
pub use counters::JobCounters;
pub use error::{JobError, JobResult};
pub use event_encoding::{EncodedEvent, EventEncoder};
pub use health_check::HealthSettings;
pub use supplier_registry::{SupplierEntry, Suppliers};

/// How the jobs that answer callers behave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSettings {
    pub health: HealthSettings,
    pub channels: ChannelSettings,
}

/// A handle on the jobs: what they work with. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    /// The read cache, when one is configured.
    pub cache: Option<Arc<Cache>>,
    /// The configured suppliers (none by default).
    pub suppliers: Suppliers,
    /// For pushes to channels and webhooks.
    pub pusher: Pusher,
    pub settings: Arc<JobSettings>,
    pub counters: Arc<JobCounters>,
}

/// The schedules of the jobs that run on their own.
pub struct Schedules {
    pub hold_expiry: upkeep::HoldExpiry,
    pub purge: upkeep::Purge,
    pub webhooks: webhook_delivery::Delivering,
    /// A further sink of events, when one is configured.
    pub sink: Option<(Arc<dyn event_sink::EventSink>, event_sink::SinkSettings)>,
}

impl Jobs {
    pub fn new(store: Arc<dyn Store>, engine: Engine, settings: JobSettings) -> Jobs {
        Jobs {
            store,
            engine,
            cache: None,
            suppliers: Suppliers::default(),
            pusher: Pusher::new(),
            settings: Arc::new(settings),
            counters: Arc::new(JobCounters::default()),
        }
    }

    pub fn with_cache(mut self, cache: Arc<Cache>) -> Jobs {
        self.cache = Some(cache);
        self
    }

    pub fn with_suppliers(mut self, suppliers: Suppliers) -> Jobs {
        self.suppliers = suppliers;
        self
    }

    /// Starts every job that runs on its own: hold expiry and purges, the
    /// cache's healer, the health checker, channel and supplier syncs,
    /// webhook delivery and the sink. They run until the process ends.
    pub fn spawn(&self, schedules: Schedules, encoder: Arc<dyn EventEncoder>) {
        upkeep::spawn_hold_expiry(
            Arc::clone(&self.store),
            self.engine.clone(),
            schedules.hold_expiry,
        );
        upkeep::spawn_purge(Arc::clone(&self.store), schedules.purge);
        if let Some(cache) = &self.cache {
            cache.spawn_healer();
        }
        self.spawn_health_checker();
        self.spawn_channel_sync();
        self.spawn_supplier_syncs();
        webhook_delivery::spawn_webhook_delivery(
            Arc::clone(&self.store),
            self.pusher.clone(),
            Arc::clone(&encoder),
            Arc::clone(&self.counters),
            self.engine.commits(),
            schedules.webhooks,
        );
        if let Some((sink, settings)) = schedules.sink {
            event_sink::spawn_event_sink(
                Arc::clone(&self.store),
                sink,
                encoder,
                self.engine.commits(),
                settings,
            );
        }
    }
}

/// Runs a job's command through the write path, as `operator`; a refusal
/// is the job's error.
pub(crate) async fn submit(
    engine: &Engine,
    command: Command,
    operator: &str,
) -> JobResult<Outcome> {
    let meta = WriteMeta {
        operator: operator.to_owned(),
        trace_id: None,
        idempotency: None,
    };
    match engine.submit(command, meta).await {
        Reply::Fresh(Ok(outcome)) => Ok(outcome),
        Reply::Fresh(Err(error)) => Err(JobError::Write(error)),
        replayed @ Reply::Replayed { .. } => Err(JobError::unexpected(
            "a job's command (it carries no idempotency key)",
            &replayed,
        )),
    }
}
