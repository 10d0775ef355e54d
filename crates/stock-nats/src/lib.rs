//! stockd's NATS connector: the event outbox published to JetStream, behind
//! `stock_jobs::event_sink::EventSink`, through `async-nats`.
//!
//! Each event goes to `<subject_prefix>.<type>` (`stockd.stock`,
//! `stockd.alert`, …) with its id as `Nats-Msg-Id`, so JetStream drops a
//! resend after a crash as a duplicate (within the stream's duplicate
//! window). The stream is created when missing.

use std::time::Duration;

use anyhow::{bail, Context};
use async_nats::jetstream;
use stock_jobs::event_sink::EventSink;
use stock_jobs::EncodedEvent;
use tokio::sync::Mutex;

/// How long JetStream remembers a message id to drop a resend of it.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// `nats://host[:port]` → `host:port`.
pub fn address(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("nats://")
        .with_context(|| format!("a NATS URL starts with nats://, not {url:?}"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        bail!("a NATS URL is nats://host[:port] (no path, no credentials), not {url:?}");
    }
    Ok(if rest.contains(':') {
        rest.to_owned()
    } else {
        format!("{rest}:4222")
    })
}

#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// `host:port`.
    pub address: String,
    /// The stream, created when missing, holding `<subject_prefix>.>`.
    pub stream: String,
    pub subject_prefix: String,
    /// Connecting, and each request (a publish's acknowledgement included).
    pub timeout: Duration,
}

pub struct JetStreamSink {
    config: JetStreamConfig,
    /// Connected, with the stream known to exist; dropped after a failure.
    context: Mutex<Option<jetstream::Context>>,
}

impl JetStreamSink {
    pub fn new(config: JetStreamConfig) -> JetStreamSink {
        JetStreamSink {
            config,
            context: Mutex::new(None),
        }
    }

    async fn connect(&self) -> anyhow::Result<jetstream::Context> {
        let client = async_nats::ConnectOptions::new()
            .name("stockd")
            .connection_timeout(self.config.timeout)
            .request_timeout(Some(self.config.timeout))
            .connect(&self.config.address)
            .await
            .with_context(|| format!("connecting to NATS at {}", self.config.address))?;
        let context = jetstream::new(client);
        context
            .get_or_create_stream(jetstream::stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![format!("{}.>", self.config.subject_prefix)],
                storage: jetstream::stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .with_context(|| {
                format!(
                    "finding or creating the JetStream stream {} (is JetStream enabled?)",
                    self.config.stream
                )
            })?;
        Ok(context)
    }

    async fn publish_on(
        &self,
        context: &jetstream::Context,
        id: i64,
        event: &EncodedEvent,
    ) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.to_string().as_str());
        let subject = format!("{}.{}", self.config.subject_prefix, event.kind);
        let ack = context
            .publish_with_headers(subject, headers, event.body.clone().into())
            .await
            .context("publishing to JetStream")?;
        ack.await.context("JetStream did not take the event")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventSink for JetStreamSink {
    fn cursor_name(&self) -> String {
        format!("nats:{}", self.config.stream)
    }

    fn address(&self) -> String {
        format!("nats://{}", self.config.address)
    }

    async fn publish(&self, id: i64, event: &EncodedEvent) -> anyhow::Result<()> {
        let mut context = self.context.lock().await;
        if context.is_none() {
            *context = Some(self.connect().await?);
        }
        let result = self
            .publish_on(context.as_ref().expect("connected above"), id, event)
            .await;
        if result.is_err() {
            // Connect again (and look for the stream again) next time.
            *context = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_name_host_and_port() {
        assert_eq!(
            super::address("nats://127.0.0.1:4223").unwrap(),
            "127.0.0.1:4223"
        );
        assert_eq!(super::address("nats://bus").unwrap(), "bus:4222");
        assert!(super::address("http://bus").is_err());
        assert!(super::address("nats://user:pw@bus").is_err());
    }
}
