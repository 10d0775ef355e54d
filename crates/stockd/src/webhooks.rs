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

use stock_http::signing::{signature, SIGNATURE_HEADER};
use stock_http::stats::ServiceStats;
use stock_store::{now_ms, AlertStatus, Delivery, DeliveryOutcome, EventBody, Store, Webhook};

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

pub fn spawn(
    store: Arc<dyn Store>,
    mut commits: tokio::sync::watch::Receiver<u64>,
    stats: Arc<ServiceStats>,
    delivering: Delivering,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(delivering.attempt_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let owner = format!("{}-{}", std::process::id(), stock_http::auth::random_id(6));
    Ok(tokio::spawn(async move {
        loop {
            let lease_ms = i64::try_from(delivering.lease.as_millis()).unwrap_or(i64::MAX);
            match store.lease_webhooks(&owner, now_ms() + lease_ms).await {
                Ok(hooks) => {
                    for hook in hooks {
                        if let Err(error) =
                            deliver(&*store, &client, &owner, &hook, &delivering, &stats).await
                        {
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
                _ = tokio::time::sleep(delivering.poll_interval) => {}
            }
        }
    }))
}

fn backoff(delivering: &Delivering, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    delivering
        .retry_base
        .saturating_mul(factor)
        .min(delivering.retry_max)
}

/// Sends what is due for one webhook, in order, until an attempt fails.
async fn deliver(
    store: &dyn Store,
    client: &reqwest::Client,
    owner: &str,
    hook: &Webhook,
    delivering: &Delivering,
    stats: &ServiceStats,
) -> anyhow::Result<()> {
    if now_ms() < hook.next_try_at_ms {
        return Ok(());
    }
    let events = store
        .events(hook.cursor, &hook.kinds, delivering.batch_max)
        .await?;
    let mut attempts_before = hook.attempts;
    for event in events {
        let (kind, data) = stock_http::event_payload(&event);
        let body = serde_json::to_vec(&serde_json::json!({
            "id": event.id,
            "type": kind,
            "created_at": stock_http::wire::timestamp(event.created_at_ms),
            "data": data,
        }))?;
        let attempt = attempts_before + 1;
        let started = Instant::now();
        let sent_at = now_ms() / 1000;
        let result = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&hook.secret, sent_at, &body))
            .header("Stockd-Event-Id", event.id.to_string())
            .header("Stockd-Event-Type", kind)
            .body(body)
            .send()
            .await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error) = match result {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), None)
            }
            Ok(response) => (
                Some(response.status().as_u16()),
                Some(format!("answered {}", response.status())),
            ),
            Err(error) => (None, Some(format!("{error:#}"))),
        };
        let outcome = match (&error, attempt >= delivering.attempts_max) {
            (None, _) => DeliveryOutcome::Delivered,
            (Some(_), false) => DeliveryOutcome::Retrying,
            (Some(_), true) => DeliveryOutcome::Failed,
        };
        let next_try_at = match outcome {
            DeliveryOutcome::Retrying => {
                now_ms()
                    + i64::try_from(backoff(delivering, attempt).as_millis()).unwrap_or(i64::MAX)
            }
            _ => 0,
        };
        let record = Delivery {
            id: 0,
            webhook_id: hook.id.clone(),
            event_id: event.id,
            attempt,
            outcome,
            status_code,
            error: error.map(|e| e.chars().take(ERROR_LENGTH_MAX).collect()),
            duration_ms,
            created_at_ms: now_ms(),
        };
        if !store.record_delivery(owner, &record, next_try_at).await? {
            // Another process took the webhook over, or it was deleted.
            return Ok(());
        }
        stats.record_delivery(outcome);
        if let (DeliveryOutcome::Delivered, EventBody::Alert { alert, status }) =
            (outcome, &event.body)
        {
            if *status == AlertStatus::Pending {
                store.mark_alert_sent(alert.id).await?;
            }
        }
        if outcome == DeliveryOutcome::Retrying {
            return Ok(());
        }
        attempts_before = 0;
    }
    Ok(())
}
