//! A circuit breaker per supplier: after `failures_max` failures in a row
//! the circuit opens and calls fail at once for `open_for`; then one trial
//! call is let through (half-open): its success closes the circuit, its
//! failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `suppliers.<name>.breaker.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failed calls in a row (each after its retries) that open the circuit.
    pub failures_max: u32,
    /// How long an open circuit refuses calls before it lets one try.
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failures_max: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; everyone else is refused until it ends.
    Trial,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Refused: the circuit is open for this much longer.
    Refused {
        retry_after: Duration,
    },
}

#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    phase: Mutex<Phase>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Breaker {
        Breaker {
            policy,
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut phase = self.phase.lock().expect("breaker lock");
        match *phase {
            Phase::Closed { .. } => Admission::Go,
            Phase::Open { until } if now >= until => {
                *phase = Phase::Trial;
                Admission::Go
            }
            Phase::Open { until } => Admission::Refused {
                retry_after: until - now,
            },
            // The trial's answer decides; until then, wait as if open.
            Phase::Trial => Admission::Refused {
                retry_after: self.policy.open_for,
            },
        }
    }

    pub fn succeeded(&self) {
        *self.phase.lock().expect("breaker lock") = Phase::Closed { failures: 0 };
    }

    /// A failure that says the supplier is unwell.
    pub fn failed(&self, now: Instant) {
        let mut phase = self.phase.lock().expect("breaker lock");
        let failures = match *phase {
            Phase::Closed { failures } => failures + 1,
            Phase::Trial | Phase::Open { .. } => self.policy.failures_max,
        };
        *phase = if failures >= self.policy.failures_max {
            tracing::warn!(
                failures,
                open_for_ms = self.policy.open_for.as_millis() as u64,
                "supplier circuit opened"
            );
            Phase::Open {
                until: now + self.policy.open_for,
            }
        } else {
            Phase::Closed { failures }
        };
    }

    /// A call that ended without saying anything about the supplier's health
    /// (refused credentials, say): a trial call's slot is given back, so the
    /// next call is the trial, and the circuit stays as it was.
    pub fn neutral(&self, now: Instant) {
        let mut phase = self.phase.lock().expect("breaker lock");
        if matches!(*phase, Phase::Trial) {
            *phase = Phase::Open { until: now };
        }
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match *self.phase.lock().expect("breaker lock") {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { until } if now >= until => CircuitState::HalfOpen,
            Phase::Open { .. } => CircuitState::Open,
            Phase::Trial => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerPolicy {
            failures_max: 3,
            open_for: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_failures_in_a_row_and_refuses_until_its_time() {
        let breaker = breaker();
        let start = Instant::now();
        breaker.failed(start);
        breaker.failed(start);
        assert_eq!(breaker.admit(start), Admission::Go);
        assert_eq!(breaker.state(start), CircuitState::Closed);
        breaker.failed(start);
        assert_eq!(breaker.state(start), CircuitState::Open);
        assert_eq!(
            breaker.admit(start + Duration::from_secs(4)),
            Admission::Refused {
                retry_after: Duration::from_secs(6)
            }
        );
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let breaker = breaker();
        let now = Instant::now();
        breaker.failed(now);
        breaker.failed(now);
        breaker.succeeded();
        breaker.failed(now);
        breaker.failed(now);
        assert_eq!(breaker.state(now), CircuitState::Closed);
    }

    #[test]
    fn one_trial_after_the_wait_closes_or_reopens() {
        let breaker = breaker();
        let start = Instant::now();
        (0..3).for_each(|_| breaker.failed(start));
        let later = start + Duration::from_secs(10);
        assert_eq!(breaker.admit(later), Admission::Go, "the trial call");
        assert!(
            matches!(breaker.admit(later), Admission::Refused { .. }),
            "only one trial at a time"
        );
        breaker.failed(later);
        assert_eq!(
            breaker.state(later),
            CircuitState::Open,
            "a failed trial reopens"
        );

        let after = later + Duration::from_secs(10);
        assert_eq!(breaker.admit(after), Admission::Go);
        breaker.succeeded();
        assert_eq!(breaker.state(after), CircuitState::Closed);
        assert_eq!(breaker.admit(after), Admission::Go);
    }

    #[test]
    fn a_trial_that_says_nothing_about_health_frees_the_slot() {
        let breaker = breaker();
        let start = Instant::now();
        (0..3).for_each(|_| breaker.failed(start));
        let later = start + Duration::from_secs(10);
        assert_eq!(breaker.admit(later), Admission::Go);
        breaker.neutral(later);
        assert_eq!(
            breaker.state(later),
            CircuitState::HalfOpen,
            "not closed by it"
        );
        assert_eq!(
            breaker.admit(later),
            Admission::Go,
            "the next call is the trial"
        );
        assert!(matches!(breaker.admit(later), Admission::Refused { .. }));
    }
}
