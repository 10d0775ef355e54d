//! A clock for tests that stands still until it is told to move.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use stock_supplier::clock::Clock;

/// Shared by a mock ([`crate::MockOptions::clock`]) and a client
/// (`HaierSupplier::with_clock`), it lets a test see a token age or a
/// circuit's open time pass without waiting for it. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            elapsed: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves the time on by `by`, for every clone.
    pub fn advance(&self, by: Duration) {
        *self.elapsed() += by;
    }

    fn elapsed(&self) -> std::sync::MutexGuard<'_, Duration> {
        // A duration is whole whatever panicked while it was held.
        self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed()
    }
}
