//! Delivering events to webhooks.
//!
//! One task per process. It leases every webhook no other replica holds (so
//! one process delivers for a webhook at a time), and for each one sends the
//! events after its cursor, in order, one POST per event, signed. A 2xx moves
//! the cursor on; anything else is logged and tried again after a backoff
//! that doubles up to a cap, until the attempts run out: then the event is
//! logged as failed and delivery moves on, so one bad event cannot stop a
//! webhook for good. Every attempt is in the delivery log. An alert whose
//! event was delivered becomes `sent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stock_push::{Push, PushOutcome, Pusher};
use stock_store::{now_ms, AlertStatus, Delivery, DeliveryOutcome, EventBody, Store, Webhook};

use crate::counters::JobCounters;
use crate::event_encoding::EventEncoder;

#[derive(Debug, Clone)]
pub struct Delivering {
    /// How often webhooks are looked at when nothing wakes the task.
    pub poll_interval: Duration,
    /// How long a lease on a webhook lasts; renewed on every round.
    pub lease: Duration,
    /// How long one POST may take.
    pub attempt_timeout: Duration,
    /// Attempts per event before it is given up on.
    pub attempts_max: u32,
    /// The wait after the first failed attempt; it doubles each time.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// Events read per webhook per round.
    pub batch_max: u32,
}

/// The longest error text kept in the delivery log.
const ERROR_LENGTH_MAX: usize = 500;

/// What one delivery task works with.
struct Deliverer {
    store: Arc<dyn Store>,
    pusher: Pusher,
    encoder: Arc<dyn EventEncoder>,
    counters: Arc<JobCounters>,
    settings: Delivering,
    /// This process's name on the leases it takes.
    owner: String,
}

/// Starts the one delivery task of this process; `commits` wakes it.
pub fn spawn_webhook_delivery(
    store: Arc<dyn Store>,
    pusher: Pusher,
    encoder: Arc<dyn EventEncoder>,
    counters: Arc<JobCounters>,
    mut commits: tokio::sync::watch::Receiver<u64>,
    delivering: Delivering,
) -> tokio::task::JoinHandle<()> {
    let deliverer = Deliverer {
        store,
        pusher,
        encoder,
        counters,
        owner: lease_owner(),
        settings: delivering,
    };
    tokio::spawn(async move { deliverer.run(&mut commits).await })
}

/// A name for this process on the leases it takes: its id and its start
/// time, so two processes (on one machine or two) never share one.
fn lease_owner() -> String {
    let started_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{}-{started_ns:x}", std::process::id())
}

impl Deliverer {
    async fn run(&self, commits: &mut tokio::sync::watch::Receiver<u64>) {
        let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX);
        loop {
            match self
                .store
                .lease_webhooks(&self.owner, now_ms() + lease_ms)
                .await
            {
                Ok(hooks) => {
                    for hook in hooks {
                        if let Err(error) = self.deliver(&hook).await {
                            tracing::warn!(
                                webhook = hook.id,
                                error = format!("{error:#}"),
                                "delivering events failed"
                            );
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "leasing webhooks failed")
                }
            }
            tokio::select! {
                _ = commits.changed() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Sends what is due for one webhook, in order, until an attempt fails.
    async fn deliver(&self, hook: &Webhook) -> anyhow::Result<()> {
        if now_ms() < hook.next_try_at_ms {
            return Ok(());
        }
        let events = self
            .store
            .events(hook.cursor, &hook.kinds, self.settings.batch_max)
            .await?;
        let mut attempts_before = hook.attempts;
        for event in events {
            let attempt = attempts_before + 1;
            let started = Instant::now();
            let encoded = self.encoder.encode(&event);
            let headers = [
                ("Stockd-Event-Id", event.id.to_string()),
                ("Stockd-Event-Type", encoded.kind.to_owned()),
            ];
            let outcome = self
                .pusher
                .send(Push {
                    url: &hook.url,
                    body: encoded.body,
                    secret: Some(&hook.secret),
                    headers: &headers,
                    timeout: self.settings.attempt_timeout,
                    sent_at_s: now_ms() / 1000,
                })
                .await;
            let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let error = match &outcome {
                PushOutcome::Accepted { .. } => None,
                PushOutcome::Refused { reason, .. } => Some(format!("answered {reason}")),
                PushOutcome::TimedOut { timeout_ms } => {
                    Some(format!("did not answer within {timeout_ms} ms"))
                }
                PushOutcome::Unreachable { error } => Some(error.clone()),
            };
            let result = match (&error, attempt >= self.settings.attempts_max) {
                (None, _) => DeliveryOutcome::Delivered,
                (Some(_), false) => DeliveryOutcome::Retrying,
                (Some(_), true) => DeliveryOutcome::Failed,
            };
            let next_try_at = match result {
                DeliveryOutcome::Retrying => {
                    now_ms()
                        + i64::try_from(backoff(&self.settings, attempt).as_millis())
                            .unwrap_or(i64::MAX)
                }
                _ => 0,
            };
            let record = Delivery {
                id: 0,
                webhook_id: hook.id.clone(),
                event_id: event.id,
                attempt,
                outcome: result,
                status_code: outcome.status(),
                error: error.map(|e| e.chars().take(ERROR_LENGTH_MAX).collect()),
                duration_ms,
                created_at_ms: now_ms(),
            };
            if !self
                .store
                .record_delivery(&self.owner, &record, next_try_at)
                .await?
            {
                // Another process took the webhook over, or it was deleted.
                return Ok(());
            }
            self.counters.record_delivery(result);
            if let (DeliveryOutcome::Delivered, EventBody::Alert { alert, status }) =
                (result, &event.body)
            {
                if *status == AlertStatus::Pending {
                    self.store.mark_alert_sent(alert.id).await?;
                }
            }
            if result == DeliveryOutcome::Retrying {
                return Ok(());
            }
            attempts_before = 0;
        }
        Ok(())
    }
}

fn backoff(delivering: &Delivering, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    delivering
        .retry_base
        .saturating_mul(factor)
        .min(delivering.retry_max)
}
