//! Running a job every so often.

use std::future::Future;
use std::time::Duration;

/// When a scheduled job runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstRound {
    /// At once: work left over from while the service was down is done soon after it starts.
    Now,
    /// After one interval: a start is not slowed by it.
    AfterInterval,
}

/// Runs `round` every `interval` for as long as the runtime runs. A round
/// that overruns delays the next one rather than piling rounds up.
pub(crate) fn every<F, Fut>(
    interval: Duration,
    first: FirstRound,
    mut round: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    assert!(!interval.is_zero(), "a schedule needs an interval");
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if first == FirstRound::AfterInterval {
            // The first tick is at once.
            ticks.tick().await;
        }
        loop {
            ticks.tick().await;
            round().await;
        }
    })
}
