//! A circuit breaker per supplier: after `failures_max` failures in a row
//! the circuit opens and calls fail at once for `open_for`; then one trial
//! call is let through (half-open): its success closes the circuit, its
//! failure opens it again. Each call holds a [`Permit`]; the trial's gives
//! the slot back when it is dropped unanswered, so a caller that stops
//! waiting never leaves the circuit shut for good.

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
    Trial {
        /// When it was let through: the open time was over by then.
        admitted_at: Instant,
    },
}

/// A call refused: the circuit is open for this much longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
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

    /// Leave for one call, or a refusal. The first call after the open time
    /// is the trial: its [`Permit`] holds the half-open slot until it is
    /// told how the call ended or is dropped.
    pub fn admit(&self, now: Instant) -> Result<Permit<'_>, Refused> {
        let mut phase = self.phase();
        let trial = match *phase {
            Phase::Closed { .. } => false,
            Phase::Open { until } if now >= until => {
                *phase = Phase::Trial { admitted_at: now };
                true
            }
            Phase::Open { until } => {
                return Err(Refused {
                    retry_after: until - now,
                })
            }
            // The trial's answer decides; until then, wait as if open.
            Phase::Trial { .. } => {
                return Err(Refused {
                    retry_after: self.policy.open_for,
                })
            }
        };
        Ok(Permit {
            breaker: self,
            trial,
        })
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match *self.phase() {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { until } if now >= until => CircuitState::HalfOpen,
            Phase::Open { .. } => CircuitState::Open,
            Phase::Trial { .. } => CircuitState::HalfOpen,
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().expect("breaker lock")
    }

    fn succeeded(&self) {
        *self.phase() = Phase::Closed { failures: 0 };
    }

    fn failed(&self, now: Instant) {
        let mut phase = self.phase();
        let failures = match *phase {
            Phase::Closed { failures } => failures + 1,
            Phase::Trial { .. } | Phase::Open { .. } => self.policy.failures_max,
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

    /// A trial that ended without a verdict gives its slot back: the circuit
    /// is half-open again, and the next call is the trial.
    fn give_back_trial(&self) {
        let mut phase = self.phase();
        if let Phase::Trial { admitted_at } = *phase {
            *phase = Phase::Open { until: admitted_at };
        }
    }
}

/// Leave to make one call, told how the call ended.
///
/// A trial's permit dropped before it is told (its caller stopped waiting:
/// a request whose time ran out, a client gone) counts as no trial at all,
/// like [`Permit::neutral`]: that the caller gave up says nothing of the
/// supplier, and the next call is the trial. A supplier that hangs still
/// fails its trial by the call's own timeout (`suppliers.<name>.timeout_ms`)
/// when a caller waits that long, and meanwhile only one call at a time
/// waits on it.
#[derive(Debug)]
#[must_use = "a permit is told how its call ended"]
pub struct Permit<'breaker> {
    breaker: &'breaker Breaker,
    /// Whether this call holds the half-open slot; cleared once it is told.
    trial: bool,
}

impl Permit<'_> {
    /// The supplier answered: the circuit closes and the count starts again.
    pub fn succeeded(mut self) {
        self.trial = false;
        self.breaker.succeeded();
    }

    /// A failure that says the supplier is unwell; a trial's failure opens
    /// the circuit again.
    pub fn failed(mut self, now: Instant) {
        self.trial = false;
        self.breaker.failed(now);
    }

    /// A call that ended without saying anything about the supplier's
    /// health (refused credentials, say): the circuit stays as it was, and a
    /// trial's slot is given back, so the next call is the trial.
    pub fn neutral(self) {
        // Dropping the permit gives the slot back.
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial {
            self.breaker.give_back_trial();
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

    fn fail(breaker: &Breaker, now: Instant) {
        breaker.admit(now).expect("let through").failed(now);
    }

    fn is_refused(admission: Result<Permit<'_>, Refused>) -> bool {
        admission.is_err()
    }

    /// Three failures at `start`: open until `start` plus 10 s.
    fn opened(start: Instant) -> Breaker {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker, start));
        assert_eq!(breaker.state(start), CircuitState::Open);
        breaker
    }

    #[test]
    fn opens_after_failures_in_a_row_and_refuses_until_its_time() {
        let breaker = breaker();
        let start = Instant::now();
        fail(&breaker, start);
        fail(&breaker, start);
        assert!(breaker.admit(start).is_ok());
        assert_eq!(breaker.state(start), CircuitState::Closed);
        fail(&breaker, start);
        assert_eq!(breaker.state(start), CircuitState::Open);
        let refused = breaker.admit(start + Duration::from_secs(4));
        let expected = Refused {
            retry_after: Duration::from_secs(6),
        };
        assert_eq!(refused.err(), Some(expected));
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let breaker = breaker();
        let now = Instant::now();
        fail(&breaker, now);
        fail(&breaker, now);
        breaker.admit(now).expect("closed").succeeded();
        fail(&breaker, now);
        fail(&breaker, now);
        assert_eq!(breaker.state(now), CircuitState::Closed);
    }

    #[test]
    fn one_trial_after_the_wait_closes_or_reopens() {
        let start = Instant::now();
        let breaker = opened(start);
        let later = start + Duration::from_secs(10);
        let trial = breaker.admit(later).expect("the trial call");
        assert!(is_refused(breaker.admit(later)), "only one trial at a time");
        trial.failed(later);
        assert_eq!(
            breaker.state(later),
            CircuitState::Open,
            "a failed trial reopens"
        );

        let after = later + Duration::from_secs(10);
        breaker.admit(after).expect("the next trial").succeeded();
        assert_eq!(breaker.state(after), CircuitState::Closed);
        assert!(breaker.admit(after).is_ok());
        assert!(breaker.admit(after).is_ok(), "closed: no one waits");
    }

    /// A trial that `end` ends without a verdict gives its slot to the
    /// next call.
    fn check_slot_given_back(end: impl Fn(Permit<'_>)) {
        let start = Instant::now();
        let breaker = opened(start);
        let later = start + Duration::from_secs(11);
        let trial = breaker.admit(later).expect("the trial");
        assert!(is_refused(breaker.admit(later)), "the slot is taken");
        end(trial);
        assert_eq!(breaker.state(later), CircuitState::HalfOpen, "as it was");

        let next = later + Duration::from_secs(1);
        let trial = breaker.admit(next).expect("the next call is the trial");
        assert!(is_refused(breaker.admit(next)), "one trial at a time");
        trial.succeeded();
        assert_eq!(breaker.state(next), CircuitState::Closed);
    }

    #[test]
    fn a_trial_that_says_nothing_about_health_frees_the_slot() {
        check_slot_given_back(|trial| trial.neutral());
    }

    #[test]
    fn a_dropped_trial_is_no_trial_and_the_next_call_tries() {
        check_slot_given_back(|trial| drop(trial));
    }

    #[test]
    fn a_dropped_call_of_a_closed_circuit_changes_nothing() {
        let breaker = breaker();
        let now = Instant::now();
        fail(&breaker, now);
        fail(&breaker, now);
        drop(breaker.admit(now).expect("closed"));
        assert_eq!(breaker.state(now), CircuitState::Closed);
        fail(&breaker, now);
        assert_eq!(breaker.state(now), CircuitState::Open, "still counted");
    }

    #[test]
    fn a_trial_dropped_after_another_call_decided_leaves_that_verdict() {
        let start = Instant::now();
        let breaker = breaker();
        // A call let through while the circuit was closed, still out.
        let slow = breaker.admit(start).expect("closed");
        (0..3).for_each(|_| fail(&breaker, start));
        let later = start + Duration::from_secs(10);
        let trial = breaker.admit(later).expect("the trial");
        slow.succeeded();
        drop(trial);
        assert_eq!(breaker.state(later), CircuitState::Closed);
    }
}
