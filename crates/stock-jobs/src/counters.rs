//! What the jobs have done since start, for `/api/v1/stats/service` and `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use stock_store::DeliveryOutcome;

use crate::channel_sync::SyncReport;

#[derive(Debug, Default)]
pub struct JobCounters {
    /// Webhook delivery attempts by outcome: delivered, retrying, failed.
    deliveries: [AtomicU64; 3],
    /// Channel listings by sync outcome: synced, skipped, failed.
    channel_listings: [AtomicU64; 3],
}

impl JobCounters {
    /// Counts one webhook delivery attempt.
    pub fn record_delivery(&self, outcome: DeliveryOutcome) {
        let slot = match outcome {
            DeliveryOutcome::Delivered => 0,
            DeliveryOutcome::Retrying => 1,
            DeliveryOutcome::Failed => 2,
        };
        self.deliveries[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Webhook delivery attempts delivered, retrying and failed since start.
    pub fn deliveries(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.deliveries[i].load(Ordering::Relaxed))
    }

    /// Counts what one channel sync did.
    pub fn record_channel_sync(&self, report: &SyncReport) {
        self.channel_listings[0].fetch_add(report.synced, Ordering::Relaxed);
        self.channel_listings[1].fetch_add(report.skipped, Ordering::Relaxed);
        self.channel_listings[2].fetch_add(report.failures.len() as u64, Ordering::Relaxed);
    }

    /// Channel listings synced, skipped and failed since start.
    pub fn channel_listings(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.channel_listings[i].load(Ordering::Relaxed))
    }
}
