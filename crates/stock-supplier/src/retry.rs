//! Retries with exponential backoff and full jitter.
//!
//! Only failures that say the supplier is unwell are retried: a broken
//! connection, a timeout, a 5xx. A 4xx says the request was wrong and would
//! be wrong again, so it is answered at once.

use std::time::Duration;

/// `suppliers.<name>.retry.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included (1: no retry).
    pub attempts_max: u32,
    /// The wait before the first retry, doubled before each further one.
    pub base_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts_max: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1 = the first call): a random
    /// time up to the doubled base, capped ("full jitter"), so that many
    /// callers failing together do not come back together.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        // Half fixed, half random: a retry never comes back at once.
        let half = ceiling_ms / 2;
        Duration::from_millis(half + random % (ceiling_ms - half + 1))
    }

    /// The longest wait after attempt `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// A random number for jitter; the quality of a fresh `getrandom` call is
/// more than jitter needs, and it keeps the crate free of a RNG dependency.
pub fn jitter_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts_max: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        }
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let policy = policy();
        let ceilings: Vec<u128> = (1..=6).map(|a| policy.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_between_half_and_the_ceiling() {
        let policy = policy();
        for attempt in 1..=6 {
            let ceiling = policy.ceiling(attempt);
            for random in [0, 1, 7, 499, 12_345, u64::MAX] {
                let delay = policy.delay(attempt, random);
                assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
                assert!(delay >= ceiling / 2, "{delay:?} below half of {ceiling:?}");
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|random| policy.delay(3, random)).collect();
        assert!(spread.len() > 10, "jitter spreads the waits: {spread:?}");
    }

    #[test]
    fn a_zero_base_never_waits() {
        let policy = RetryPolicy {
            base_delay: Duration::ZERO,
            ..policy()
        };
        assert_eq!(policy.delay(3, 99), Duration::ZERO);
    }
}
