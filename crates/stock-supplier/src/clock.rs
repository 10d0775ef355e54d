//! Where the supplier code reads the time. A token's renewal and the
//! breaker's open time are reckoned on a [`Clock`], so that a test can move
//! time on instead of waiting for it (`stock-supplier-mock` has one that
//! moves only when told).

use std::time::Instant;

/// The time now, as the adapter and the breaker reckon with it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
}

/// The machine's monotonic clock: the one every supplier runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
