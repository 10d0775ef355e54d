//! NATS JetStream as a further sink of the event outbox.
//!
//! One task per process follows the outbox from a cursor kept in the
//! database (`sink_cursors`) and publishes each event to JetStream, on
//! `<subject_prefix>.<type>` (`stockd.stock`, `stockd.alert`, …), with the
//! event id as `Nats-Msg-Id`; the cursor moves only past events JetStream
//! acknowledged. A crash or a restart therefore resends at most what was not
//! acknowledged, and JetStream drops those resends as duplicates (within the
//! stream's duplicate window); several replicas do the same.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use stock_http::nats::Connection;
use stock_store::Store;

#[derive(Debug, Clone)]
pub struct NatsSink {
    /// `host:port`.
    pub address: String,
    /// The stream, created when missing, holding `<subject_prefix>.>`.
    pub stream: String,
    pub subject_prefix: String,
    /// Every call to NATS; slower counts as a failure.
    pub timeout: Duration,
    /// How often the outbox is looked at when no write wakes the task.
    pub poll_interval: Duration,
    /// The wait after a failure before trying again.
    pub retry_interval: Duration,
    /// Events read from the outbox at a time.
    pub batch_max: u32,
}

/// The cursor's name in `sink_cursors`.
fn cursor_name(sink: &NatsSink) -> String {
    format!("nats:{}", sink.stream)
}

pub fn spawn(
    store: Arc<dyn Store>,
    mut commits: tokio::sync::watch::Receiver<u64>,
    sink: NatsSink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connection: Option<Connection> = None;
        // Read from the database at start and after a failure; kept in
        // memory between rounds, so an idle round writes nothing.
        let mut cursor: Option<i64> = None;
        loop {
            match round(&*store, &mut connection, &mut cursor, &sink).await {
                Ok(true) => continue, // a full batch: there may be more
                Ok(false) => {
                    tokio::select! {
                        _ = commits.changed() => {}
                        _ = tokio::time::sleep(sink.poll_interval) => {}
                    }
                }
                Err(error) => {
                    connection = None;
                    cursor = None;
                    tracing::warn!(nats = %sink.address, error = %format!("{error:#}"),
                        "publishing events to NATS failed; trying again");
                    tokio::time::sleep(sink.retry_interval).await;
                }
            }
        }
    })
}

async fn connect(sink: &NatsSink) -> anyhow::Result<Connection> {
    let mut connection = Connection::connect(&sink.address).await?;
    let info = connection
        .jetstream(&format!("STREAM.INFO.{}", sink.stream), &json!({}))
        .await?;
    if info.get("error").is_some() {
        let created = connection
            .jetstream(
                &format!("STREAM.CREATE.{}", sink.stream),
                &json!({
                    "name": sink.stream,
                    "subjects": [format!("{}.>", sink.subject_prefix)],
                    "storage": "file",
                    "duplicate_window": 120_000_000_000u64,
                }),
            )
            .await?;
        if let Some(error) = created.get("error") {
            bail!("creating the JetStream stream {}: {error}", sink.stream);
        }
        tracing::info!(stream = %sink.stream, "created the JetStream stream for events");
    }
    Ok(connection)
}

/// Publishes one batch; `true` when the batch was full.
async fn round(
    store: &dyn Store,
    connection: &mut Option<Connection>,
    kept: &mut Option<i64>,
    sink: &NatsSink,
) -> anyhow::Result<bool> {
    let name = cursor_name(sink);
    let cursor = match *kept {
        Some(cursor) => cursor,
        None => {
            let initial = store.last_event_id().await?;
            let cursor = store.sink_cursor(&name, initial).await?;
            *kept = Some(cursor);
            cursor
        }
    };
    let events = store.events(cursor, &[], sink.batch_max).await?;
    if events.is_empty() {
        return Ok(false);
    }
    if connection.is_none() {
        *connection = Some(
            tokio::time::timeout(sink.timeout, connect(sink))
                .await
                .context("NATS did not answer in time")??,
        );
    }
    let nats = connection.as_mut().expect("connected above");
    let mut published = cursor;
    for event in &events {
        let (kind, data) = stock_http::event_payload(event);
        let body = json!({
            "id": event.id,
            "type": kind,
            "data": data,
            "created_at": stock_http::wire::timestamp(event.created_at_ms),
        })
        .to_string();
        let id = event.id.to_string();
        let subject = format!("{}.{kind}", sink.subject_prefix);
        let reply = tokio::time::timeout(
            sink.timeout,
            nats.request(&subject, &[("Nats-Msg-Id", &id)], body.as_bytes()),
        )
        .await
        .context("NATS did not acknowledge in time")??;
        if let Some(status) = reply.status {
            store.advance_sink_cursor(&name, published).await?;
            bail!("JetStream did not take event {id}: {status}");
        }
        let ack: serde_json::Value =
            serde_json::from_slice(&reply.payload).context("JetStream's acknowledgement")?;
        if let Some(error) = ack.get("error") {
            store.advance_sink_cursor(&name, published).await?;
            bail!("JetStream refused event {id}: {error}");
        }
        published = event.id;
    }
    store.advance_sink_cursor(&name, published).await?;
    *kept = Some(published);
    Ok(events.len() as u32 >= sink.batch_max)
}
