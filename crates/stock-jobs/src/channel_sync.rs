//! Channel sync: publishing each linked listing's sellable quantity (the
//! item's available stock minus the listing's buffer, never the raw on-hand)
//! and nothing else, to the channel's endpoint or for the channel to read.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use stock_core::{ItemId, ItemStatus};
use stock_push::{Push, PushOutcome};
use stock_store::{Channel, ItemView, Listing, PublishOutcome};

use crate::schedule::{every, FirstRound};
use crate::{JobResult, Jobs};

/// `channels.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSettings {
    /// One push to a channel's endpoint.
    pub push_timeout: Duration,
    /// Pushes to one channel in flight at once.
    pub push_concurrency: usize,
    /// Listings one channel may have.
    pub listings_max: usize,
    /// How often every channel is synced; `None`: only on request.
    pub sync_interval: Option<Duration>,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            push_timeout: Duration::from_secs(5),
            push_concurrency: 8,
            listings_max: 10_000,
            sync_interval: Some(Duration::from_secs(300)),
        }
    }
}

/// What a listing may be offered: available (at its location, or over all)
/// minus its buffer, never below zero; nothing for an item not on sale.
pub fn sellable(listing: &Listing, view: &ItemView) -> i64 {
    if view.item.status != ItemStatus::Active {
        return 0;
    }
    let available = match &listing.location {
        Some(location) => view.level_at(location).map_or(0, |l| l.level.available()),
        None => view.available(),
    };
    available.saturating_sub(listing.buffer).max(0)
}

/// The body of a push: the listing and its quantity, nothing more, so the
/// channel has nothing else to overwrite.
#[derive(Debug, Serialize)]
struct PushBody<'a> {
    channel: &'a str,
    listing_id: &'a str,
    product_id: &'a str,
    quantity: i64,
}

/// One listing a sync could not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailure {
    pub listing_id: String,
    pub product_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Published now.
    pub synced: u64,
    /// Already showing their sellable quantity: nothing sent.
    pub skipped: u64,
    pub failures: Vec<SyncFailure>,
}

impl Jobs {
    /// Publishes a channel's listings (only those of `items`, when given).
    pub async fn sync_channel(
        &self,
        channel: &Channel,
        items: Option<&[ItemId]>,
    ) -> JobResult<SyncReport> {
        let listings = self.store.listings(&channel.id, items).await?;
        let mut ids: Vec<ItemId> = listings.iter().map(|l| l.item.clone()).collect();
        ids.sort();
        ids.dedup();
        let views = self.store.items(&ids).await?;
        let mut report = SyncReport::default();
        let mut pending = Vec::new();
        for listing in listings {
            let Some(view) = views.iter().find(|v| v.item.id == listing.item) else {
                continue;
            };
            let quantity = sellable(&listing, view);
            if listing.published_quantity == Some(quantity) && listing.last_error.is_none() {
                report.skipped += 1;
            } else {
                pending.push((listing, quantity));
            }
        }
        let outcomes: Vec<(Listing, PublishOutcome)> = stream::iter(pending)
            .map(|(listing, quantity)| async move {
                let outcome = self.publish(channel, &listing, quantity).await;
                (listing, outcome)
            })
            .buffer_unordered(self.settings.channels.push_concurrency.max(1))
            .collect()
            .await;
        for (listing, outcome) in outcomes {
            self.store
                .record_publish(&channel.id, &listing.listing_id, &outcome)
                .await?;
            match outcome {
                PublishOutcome::Published(_) => report.synced += 1,
                PublishOutcome::Failed(reason) => report.failures.push(SyncFailure {
                    listing_id: listing.listing_id,
                    product_id: listing.item.to_string(),
                    reason,
                }),
            }
        }
        report
            .failures
            .sort_by(|a, b| a.listing_id.cmp(&b.listing_id));
        self.counters.record_channel_sync(&report);
        Ok(report)
    }

    async fn publish(&self, channel: &Channel, listing: &Listing, quantity: i64) -> PublishOutcome {
        let Some(endpoint) = &channel.endpoint else {
            // The channel reads what is published through the API.
            return PublishOutcome::Published(quantity);
        };
        let body = serde_json::to_vec(&PushBody {
            channel: &channel.id,
            listing_id: &listing.listing_id,
            product_id: listing.item.as_str(),
            quantity,
        })
        .expect("push bodies serialize");
        let push = Push {
            url: endpoint,
            body,
            secret: channel.secret.as_deref(),
            headers: &[],
            timeout: self.settings.channels.push_timeout,
            sent_at_s: stock_store::now_ms() / 1000,
        };
        match self.pusher.send(push).await {
            PushOutcome::Accepted { .. } => PublishOutcome::Published(quantity),
            PushOutcome::Refused { status, .. } => {
                PublishOutcome::Failed(format!("the channel answered {status}"))
            }
            PushOutcome::TimedOut { timeout_ms } => {
                PublishOutcome::Failed(format!("the channel did not answer within {timeout_ms} ms"))
            }
            PushOutcome::Unreachable { error } => {
                PublishOutcome::Failed(format!("the channel could not be reached: {error}"))
            }
        }
    }

    /// Syncs every channel every `channels.sync_interval`, the first time
    /// one interval after start.
    pub(crate) fn spawn_channel_sync(&self) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self.settings.channels.sync_interval?;
        let jobs = self.clone();
        Some(every(interval, FirstRound::AfterInterval, move || {
            let jobs = jobs.clone();
            async move { jobs.sync_every_channel().await }
        }))
    }

    async fn sync_every_channel(&self) {
        let channels = match self.store.channels().await {
            Ok(channels) => channels,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "listing channels for the scheduled sync failed");
                return;
            }
        };
        for id in channels {
            let Ok(Some(channel)) = self.store.channel(&id).await else {
                continue;
            };
            match self.sync_channel(&channel, None).await {
                Ok(report) if !report.failures.is_empty() => {
                    tracing::warn!(channel = %id, synced = report.synced, failed = report.failures.len(),
                        "the scheduled channel sync could not publish every listing");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(channel = %id, error = %error, "the scheduled channel sync failed");
                }
            }
        }
    }
}
