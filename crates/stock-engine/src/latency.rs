//! A window of recent latencies and their percentiles.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How many recent samples the percentiles are computed over.
pub const LATENCY_SAMPLES_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencySummary {
    /// Samples recorded since start.
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default)]
pub struct LatencyRecorder {
    inner: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    count: u64,
    samples_us: VecDeque<u64>,
}

impl LatencyRecorder {
    pub fn new() -> LatencyRecorder {
        LatencyRecorder::default()
    }

    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut window = self.inner.lock().expect("latency lock");
        window.count += 1;
        if window.samples_us.len() == LATENCY_SAMPLES_MAX {
            window.samples_us.pop_front();
        }
        window.samples_us.push_back(micros);
    }

    pub fn summary(&self) -> LatencySummary {
        let (count, mut samples) = {
            let window = self.inner.lock().expect("latency lock");
            (
                window.count,
                window.samples_us.iter().copied().collect::<Vec<_>>(),
            )
        };
        if samples.is_empty() {
            return LatencySummary {
                count,
                ..LatencySummary::default()
            };
        }
        samples.sort_unstable();
        let at = |quantile: f64| {
            let index =
                ((samples.len() as f64 * quantile).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index] as f64 / 1000.0
        };
        LatencySummary {
            count,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_a_known_set() {
        let recorder = LatencyRecorder::new();
        for ms in 1..=100 {
            recorder.record(Duration::from_millis(ms));
        }
        let summary = recorder.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p90_ms, 90.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
    }

    #[test]
    fn the_window_is_bounded() {
        let recorder = LatencyRecorder::new();
        for _ in 0..LATENCY_SAMPLES_MAX {
            recorder.record(Duration::from_millis(500));
        }
        for _ in 0..LATENCY_SAMPLES_MAX {
            recorder.record(Duration::from_millis(1));
        }
        let summary = recorder.summary();
        assert_eq!(summary.count, 2 * LATENCY_SAMPLES_MAX as u64);
        assert_eq!(summary.max_ms, 1.0);
    }
}
