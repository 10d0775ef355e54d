//! Further sinks of the event outbox (NATS JetStream): one task per process
//! follows the outbox from a cursor kept in the database (`sink_cursors`)
//! and hands each event to the sink, in order; the cursor moves only past
//! events the sink took. A crash or a restart therefore resends at most
//! what was not taken, and the sink drops those resends as duplicates (it
//! is told each event's id); several replicas do the same.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stock_store::Store;

use crate::event_encoding::{EncodedEvent, EventEncoder};

/// Where events go besides webhooks.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Its cursor's name in `sink_cursors`.
    fn cursor_name(&self) -> String;
    /// Where it is, for logs (never with credentials).
    fn address(&self) -> String;
    /// Publishes one event and returns once the sink has taken it for good.
    /// `id` is the event's id, for the sink to drop duplicates by.
    async fn publish(&self, id: i64, event: &EncodedEvent) -> anyhow::Result<()>;
}

#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Every call to the sink (connecting included); slower counts as a failure.
    pub timeout: Duration,
    /// How often the outbox is looked at when no write wakes the task.
    pub poll_interval: Duration,
    /// The wait after a failure before trying again.
    pub retry_interval: Duration,
    /// Events read from the outbox at a time.
    pub batch_max: u32,
}

struct Follower {
    store: Arc<dyn Store>,
    sink: Arc<dyn EventSink>,
    encoder: Arc<dyn EventEncoder>,
    settings: SinkSettings,
}

/// Starts following the outbox into `sink`; `commits` wakes it.
pub fn spawn_event_sink(
    store: Arc<dyn Store>,
    sink: Arc<dyn EventSink>,
    encoder: Arc<dyn EventEncoder>,
    mut commits: tokio::sync::watch::Receiver<u64>,
    settings: SinkSettings,
) -> tokio::task::JoinHandle<()> {
    assert!(settings.batch_max > 0);
    let follower = Follower {
        store,
        sink,
        encoder,
        settings,
    };
    tokio::spawn(async move {
        // Read from the database at start and after a failure; kept in
        // memory between rounds, so an idle round writes nothing.
        let mut cursor: Option<i64> = None;
        loop {
            match follower.round(&mut cursor).await {
                Ok(true) => continue, // a full batch: there may be more
                Ok(false) => {
                    tokio::select! {
                        _ = commits.changed() => {}
                        _ = tokio::time::sleep(follower.settings.poll_interval) => {}
                    }
                }
                Err(error) => {
                    cursor = None;
                    tracing::warn!(sink = %follower.sink.address(), error = %format!("{error:#}"),
                        "publishing events to the sink failed; trying again");
                    tokio::time::sleep(follower.settings.retry_interval).await;
                }
            }
        }
    })
}

impl Follower {
    /// Publishes one batch; `true` when the batch was full.
    async fn round(&self, kept: &mut Option<i64>) -> anyhow::Result<bool> {
        let name = self.sink.cursor_name();
        let cursor = match *kept {
            Some(cursor) => cursor,
            None => {
                let initial = self.store.last_event_id().await?;
                let cursor = self.store.sink_cursor(&name, initial).await?;
                *kept = Some(cursor);
                cursor
            }
        };
        let events = self
            .store
            .events(cursor, &[], self.settings.batch_max)
            .await?;
        if events.is_empty() {
            return Ok(false);
        }
        let mut published = cursor;
        for event in &events {
            let encoded = self.encoder.encode(event);
            let taken =
                tokio::time::timeout(self.settings.timeout, self.sink.publish(event.id, &encoded))
                    .await
                    .context("the sink did not take the event in time")
                    .and_then(|result| result);
            if let Err(error) = taken {
                // What was taken before stays taken.
                self.store.advance_sink_cursor(&name, published).await?;
                return Err(error.context(format!("event {}", event.id)));
            }
            published = event.id;
        }
        self.store.advance_sink_cursor(&name, published).await?;
        *kept = Some(published);
        Ok(events.len() as u32 >= self.settings.batch_max)
    }
}
