//! `/metrics`: what this process has counted and what the database holds
//! now, read once per scrape and written by `prometheus-client` in the
//! Prometheus text format (0.0.4).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use stock_engine::{LatencySummary, StoreActivity, BATCH_SIZE_BUCKETS};
use stock_jobs::cache::CacheCounters;
use stock_jobs::CacheState;
use stock_store::{AlertKind, Gauges};

use crate::stats::{RouteCounters, DURATION_BUCKETS_S};
use crate::AppState;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything one scrape reports, read before any of it is written.
#[derive(Debug)]
pub struct Scrape {
    routes: Vec<((String, String), RouteCounters)>,
    durations: ([u64; DURATION_BUCKETS_S.len() + 1], f64),
    latency: LatencySummary,
    activity: StoreActivity,
    deliveries: [u64; 3],
    channel_listings: [u64; 3],
    event_streams: usize,
    cache: Option<(CacheState, CacheCounters)>,
    /// `None` when the database did not answer.
    gauges: Option<Gauges>,
}

impl Scrape {
    pub async fn take(state: &AppState) -> Scrape {
        let gauges = match state.store.gauges().await {
            Ok(gauges) => Some(gauges),
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reading gauges for /metrics failed"
                );
                None
            }
        };
        Scrape {
            routes: state.stats.routes(),
            durations: state.stats.durations(),
            latency: state.engine.write_latency(),
            activity: state.engine.store_activity(),
            deliveries: state.jobs.counters.deliveries(),
            channel_listings: state.jobs.counters.channel_listings(),
            event_streams: state.streams.load(std::sync::atomic::Ordering::Relaxed),
            cache: state
                .jobs
                .cache
                .as_ref()
                .map(|cache| (cache.state(), cache.counters())),
            gauges,
        }
    }

    /// The scrape as Prometheus text.
    pub fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String does not fail");
        out
    }

    fn http(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        let mut requests = Vec::with_capacity(self.routes.len() * 3);
        for ((method, route), counters) in &self.routes {
            let ok = counters.requests - counters.client_errors - counters.server_errors;
            for (class, count) in [
                ("2xx", ok),
                ("4xx", counters.client_errors),
                ("5xx", counters.server_errors),
            ] {
                let labels = [("method", method.as_str()), ("route", route.as_str())];
                requests.push(((labels, [("class", class)]), count));
            }
        }
        counters(
            out,
            "stockd_http_requests",
            "Requests answered, by route and status class.",
            &requests,
        )?;
        let (per_bucket, sum) = self.durations;
        let bounds = DURATION_BUCKETS_S.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(per_bucket).collect();
        histogram(
            out,
            "stockd_http_request_duration_seconds",
            "Time to answer a request.",
            sum,
            &buckets,
        )
    }

    fn writes(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        let quantiles = [
            ([("quantile", "0.5")], self.latency.p50_ms / 1000.0),
            ([("quantile", "0.9")], self.latency.p90_ms / 1000.0),
            ([("quantile", "0.99")], self.latency.p99_ms / 1000.0),
        ];
        gauges(
            out,
            "stockd_write_latency_seconds",
            "Time from submitting a write to its durable answer, recent writes, by quantile.",
            &quantiles,
        )?;
        gauge(
            out,
            "stockd_write_latency_seconds_count",
            "Writes the latency quantiles are taken over.",
            self.latency.count,
        )?;
        let activity = &self.activity;
        counter(
            out,
            "stockd_write_batches",
            "Write batches (one transaction each).",
            activity.batches,
        )?;
        counter(
            out,
            "stockd_writes",
            "Writes committed in batches.",
            activity.writes,
        )?;
        counter(
            out,
            "stockd_store_busy_seconds",
            "Time the store spent running batches.",
            activity.busy.as_secs_f64(),
        )?;
        counter(
            out,
            "stockd_write_busy_retries",
            "Writes that met a row another database transaction held locked and ran again in a later batch.",
            activity.busy_retries,
        )?;
        let buckets: Vec<(f64, u64)> = BATCH_SIZE_BUCKETS
            .iter()
            .map(|bound| *bound as f64)
            .zip(activity.batch_sizes)
            .collect();
        let mut encoder = out.encode_descriptor(
            "stockd_write_batch_size",
            "Writes per batch.",
            None,
            MetricType::Histogram,
        )?;
        encoder.encode_histogram::<NoLabelSet>(
            activity.writes as f64,
            activity.batches,
            &buckets,
            None,
        )
    }

    fn jobs(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        let by_outcome = |names: [&'static str; 3], counts: [u64; 3]| {
            names
                .into_iter()
                .zip(counts)
                .map(|(outcome, count)| ([("outcome", outcome)], count))
                .collect::<Vec<_>>()
        };
        counters(
            out,
            "stockd_webhook_deliveries",
            "Webhook delivery attempts by this process, by outcome.",
            &by_outcome(["delivered", "retrying", "failed"], self.deliveries),
        )?;
        counters(
            out,
            "stockd_channel_listings",
            "Channel listings handled by syncs on this process, by outcome.",
            &by_outcome(["synced", "skipped", "failed"], self.channel_listings),
        )?;
        gauge(
            out,
            "stockd_event_streams",
            "Live event streams open on this process.",
            self.event_streams,
        )
    }

    fn cache(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        let Some((state, counted)) = self.cache else {
            return Ok(());
        };
        gauge(
            out,
            "stockd_cache_up",
            "Whether storefront reads are served from Redis (0 while it is down or filling).",
            u8::from(state == CacheState::Up) as u32,
        )?;
        for (name, help, value) in [
            ("stockd_cache_hits", "Items read from Redis.", counted.hits),
            (
                "stockd_cache_misses",
                "Items Redis did not hold, read from the database.",
                counted.misses,
            ),
            (
                "stockd_cache_errors",
                "Calls to Redis that failed.",
                counted.errors,
            ),
            (
                "stockd_cache_writes",
                "Items written to Redis.",
                counted.writes,
            ),
        ] {
            counter(out, name, help, value)?;
        }
        Ok(())
    }

    fn database(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        if let Some(gauges_now) = &self.gauges {
            gauge(
                out,
                "stockd_holds_active",
                "Holds (reservations) active now.",
                gauges_now.active_holds,
            )?;
            let open: Vec<([(&str, &str); 1], u64)> = AlertKind::ALL
                .iter()
                .map(|kind| {
                    let count = gauges_now
                        .open_alerts
                        .iter()
                        .find(|(k, _)| k == kind)
                        .map_or(0, |(_, c)| *c);
                    ([("type", kind.as_str())], count)
                })
                .collect();
            gauges(
                out,
                "stockd_alerts_open",
                "Open (pending or sent) alerts, by type.",
                &open,
            )?;
            gauge(
                out,
                "stockd_diffs_pending",
                "Cache-vs-database diffs found by the health checker and not yet fixed.",
                gauges_now.pending_diffs,
            )?;
            gauge(
                out,
                "stockd_webhooks",
                "Webhooks registered.",
                gauges_now.webhooks,
            )?;
            gauge(
                out,
                "stockd_events_last_id",
                "The id of the last event in the outbox that readers may read yet.",
                gauges_now.last_event_id,
            )?;
        }
        gauge(
            out,
            "stockd_database_up",
            "Whether the database answered this scrape.",
            u32::from(self.gauges.is_some()),
        )
    }
}

impl Collector for Scrape {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        self.http(&mut out)?;
        self.writes(&mut out)?;
        self.jobs(&mut out)?;
        self.cache(&mut out)?;
        self.database(&mut out)
    }
}

/// A counter; its name is written with `_total`.
fn counter(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> fmt::Result {
    out.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A counter with one series per label set.
fn counters<L: EncodeLabelSet>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(L, u64)],
) -> fmt::Result {
    let mut encoder = out.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        encoder
            .encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(value, None)?;
    }
    Ok(())
}

fn gauge(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    out.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// A gauge with one series per label set.
fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(L, V)],
) -> fmt::Result {
    let mut encoder = out.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        encoder.encode_family(labels)?.encode_gauge(value)?;
    }
    Ok(())
}

/// A histogram from counts per bucket (not cumulative) and their sum.
fn histogram(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    sum: f64,
    buckets: &[(f64, u64)],
) -> fmt::Result {
    let count = buckets.iter().map(|(_, n)| n).sum();
    out.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(sum, count, buckets, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> Scrape {
        let mut durations = [0; DURATION_BUCKETS_S.len() + 1];
        durations[0] = 2;
        durations[DURATION_BUCKETS_S.len()] = 1;
        Scrape {
            routes: vec![(
                ("POST".into(), "/api/v1/sync-stock".into()),
                RouteCounters {
                    requests: 5,
                    client_errors: 2,
                    server_errors: 1,
                },
            )],
            durations: (durations, 11.5),
            latency: LatencySummary::default(),
            activity: StoreActivity::default(),
            deliveries: [3, 0, 1],
            channel_listings: [0; 3],
            event_streams: 2,
            cache: None,
            gauges: None,
        }
    }

    #[test]
    fn the_text_keeps_the_names_and_counts_buckets_cumulatively() {
        let text = scrape().render();
        for line in [
            "# TYPE stockd_http_requests_total counter",
            r#"stockd_http_requests_total{method="POST",route="/api/v1/sync-stock",class="2xx"} 2"#,
            r#"stockd_http_requests_total{method="POST",route="/api/v1/sync-stock",class="5xx"} 1"#,
            r#"stockd_http_request_duration_seconds_bucket{le="0.001"} 2"#,
            r#"stockd_http_request_duration_seconds_bucket{le="10"} 2"#,
            r#"stockd_http_request_duration_seconds_bucket{le="+Inf"} 3"#,
            "stockd_http_request_duration_seconds_sum 11.5",
            "stockd_http_request_duration_seconds_count 3",
            r#"stockd_webhook_deliveries_total{outcome="failed"} 1"#,
            "stockd_event_streams 2",
            "stockd_database_up 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} is not in:\n{text}");
        }
        assert!(
            !text.contains("stockd_cache_up"),
            "no cache, no cache metrics"
        );
        assert!(
            !text.contains("stockd_holds_active"),
            "no database, no gauges"
        );
    }
}
