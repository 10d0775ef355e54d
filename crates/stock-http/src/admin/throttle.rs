//! Limits on failed sign-ins to the console, per user name and per client
//! address, kept by governor's keyed rate limiters (GCRA). Each failure
//! takes one cell of its user name's and of its address's; a key holds
//! `failures_per_…_per_min` cells and gets one back every `60 s / that`.
//! While either key of a sign-in has no cell left, the sign-in is refused
//! before its password is checked. A successful sign-in takes no cell.
//!
//! governor checks and takes a cell in one step, so each limit has two
//! limiters over one state: one that takes a cell for each failure, and one
//! that only asks whether a failure would find one (and writes nothing).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

/// Failed sign-ins allowed per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Per user name, whether or not a user of that name exists.
    pub failures_per_user_per_min: u32,
    /// Per client address (an IPv6 address by its /64 network).
    pub failures_per_address_per_min: u32,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            failures_per_user_per_min: 5,
            failures_per_address_per_min: 20,
        }
    }
}

/// Failures between two sweeps of the keys whose cells are all back: what
/// bounds the memory the limits hold to the keys of the last minute.
const SWEEP_EVERY_FAILURES: u64 = 1024;
/// The longest user name kept as a key (longer ones are cut; no valid name
/// is longer).
const USER_KEY_LENGTH_MAX: usize = 64;

/// Failed sign-ins by user name and by address.
pub struct SignInThrottle<C: Clock = DefaultClock> {
    users: Option<Limit<String, C>>,
    addresses: Option<Limit<IpAddr, C>>,
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> SignInThrottle {
        SignInThrottle::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> SignInThrottle<C> {
    pub fn with_clock(limits: SignInLimits, clock: C) -> SignInThrottle<C> {
        SignInThrottle {
            users: Limit::new(limits.failures_per_user_per_min, &clock),
            addresses: Limit::new(limits.failures_per_address_per_min, &clock),
        }
    }

    /// How long until a sign-in as `user` (none for an admin key) from
    /// `address` may be tried, while either has no failure left; `None`
    /// when it may be tried now.
    pub fn refused(&self, user: Option<&str>, address: IpAddr) -> Option<Duration> {
        let by_user = match (&self.users, user) {
            (Some(users), Some(user)) => users.wait(&user_key(user)),
            _ => None,
        };
        let by_address = match &self.addresses {
            Some(addresses) => addresses.wait(&crate::rate_limit::client(address)),
            None => None,
        };
        by_user.max(by_address)
    }

    /// Counts a failed sign-in against `user` and `address`.
    pub fn failed(&self, user: Option<&str>, address: IpAddr) {
        if let (Some(users), Some(user)) = (&self.users, user) {
            users.fail(&user_key(user));
        }
        if let Some(addresses) = &self.addresses {
            addresses.fail(&crate::rate_limit::client(address));
        }
    }
}

fn user_key(user: &str) -> String {
    user.chars().take(USER_KEY_LENGTH_MAX).collect()
}

/// One limit: its keys' cells, and the two limiters over them.
struct Limit<K: Hash + Eq + Clone, C: Clock> {
    takes: RateLimiter<K, Takes<K>, C, NoOpMiddleware<C::Instant>>,
    asks: RateLimiter<K, Asks<K>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    failures: AtomicU64,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Limit<K, C> {
    fn new(per_min: u32, clock: &C) -> Option<Limit<K, C>> {
        let quota = Quota::per_minute(NonZeroU32::new(per_min)?);
        let cells: Cells<K> = Arc::default();
        Some(Limit {
            takes: RateLimiter::new(quota, Takes(Arc::clone(&cells)), clock.clone()),
            asks: RateLimiter::new(quota, Asks(cells), clock.clone()),
            clock: clock.clone(),
            failures: AtomicU64::new(0),
        })
    }

    fn wait(&self, key: &K) -> Option<Duration> {
        let not_until = self.asks.check_key(key).err()?;
        // Whole seconds, rounded up, at least one: what Retry-After can say.
        let wait = not_until.wait_time_from(self.clock.now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Duration::from_secs(seconds.max(1)))
    }

    fn fail(&self, key: &K) {
        // A failure that finds no cell (one that raced past `wait`) changes nothing.
        let _ = self.takes.check_key(key);
        if self.failures.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY_FAILURES
            == SWEEP_EVERY_FAILURES - 1
        {
            self.takes.retain_recent();
        }
    }
}

/// governor's keyed state, shared by a limit's two limiters.
type Cells<K> = Arc<DashMapStateStore<K>>;

/// The state as governor keeps it: a check that finds a cell takes it.
struct Takes<K: Hash + Eq + Clone>(Cells<K>);

impl<K: Hash + Eq + Clone> StateStore for Takes<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Takes<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

/// The same state, asked: a check decides as governor would and writes
/// back what it found (nothing at all for a key never seen).
struct Asks<K: Hash + Eq + Clone>(Cells<K>);

impl<K: Hash + Eq + Clone> StateStore for Asks<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if !self.0.contains_key(key) {
            return f(None).map(|(decision, _)| decision);
        }
        self.0.measure_and_replace(key, |found| {
            f(found).map(|(decision, _)| (decision, found.unwrap_or(Nanos::from(0))))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use governor::clock::FakeRelativeClock;

    use super::*;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    fn throttle(
        per_user: u32,
        per_address: u32,
    ) -> (SignInThrottle<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limits = SignInLimits {
            failures_per_user_per_min: per_user,
            failures_per_address_per_min: per_address,
        };
        (SignInThrottle::with_clock(limits, clock.clone()), clock)
    }

    #[test]
    fn a_user_name_is_refused_after_its_failures_and_asking_takes_nothing() {
        let (throttle, clock) = throttle(3, 0);
        for _ in 0..3 {
            // Asked many times: a refusal is decided on failures only.
            for _ in 0..10 {
                assert_eq!(throttle.refused(Some("ana"), HOME), None);
            }
            throttle.failed(Some("ana"), HOME);
        }
        assert_eq!(
            throttle.refused(Some("ana"), HOME),
            Some(Duration::from_secs(20)),
            "a cell comes back every 60 s / 3"
        );
        assert!(
            throttle.refused(Some("ana"), AWAY).is_some(),
            "from anywhere"
        );
        assert_eq!(
            throttle.refused(Some("bob"), HOME),
            None,
            "other names are not"
        );
        assert_eq!(throttle.refused(None, HOME), None, "nor admin keys");
        clock.advance(Duration::from_secs(19));
        assert_eq!(
            throttle.refused(Some("ana"), HOME),
            Some(Duration::from_secs(1))
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(throttle.refused(Some("ana"), HOME), None, "one cell back");
        throttle.failed(Some("ana"), HOME);
        assert!(throttle.refused(Some("ana"), HOME).is_some(), "and spent");
    }

    #[test]
    fn an_address_is_refused_after_its_failures_whatever_the_names() {
        let (throttle, _clock) = throttle(0, 2);
        throttle.failed(Some("ana"), HOME);
        throttle.failed(None, HOME);
        assert!(throttle.refused(Some("carl"), HOME).is_some());
        assert!(throttle.refused(None, HOME).is_some());
        assert_eq!(throttle.refused(Some("carl"), AWAY), None);
        // One IPv6 client's /64 is one address.
        let first = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        let second = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0xffff, 0, 0, 9));
        throttle.failed(None, first);
        throttle.failed(None, first);
        assert!(throttle.refused(None, second).is_some());
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert!(
            throttle.refused(None, mapped).is_some(),
            "::ffff:192.0.2.1 is 192.0.2.1"
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let (throttle, _clock) = throttle(0, 0);
        for _ in 0..1000 {
            throttle.failed(Some("ana"), HOME);
        }
        assert_eq!(throttle.refused(Some("ana"), HOME), None);
    }

    #[test]
    fn keys_whose_cells_are_all_back_are_swept() {
        let (throttle, clock) = throttle(5, 0);
        let users = throttle.users.as_ref().unwrap();
        for n in 0..SWEEP_EVERY_FAILURES - 1 {
            throttle.failed(Some(&format!("user{n}")), HOME);
        }
        assert_eq!(users.takes.len() as u64, SWEEP_EVERY_FAILURES - 1);
        clock.advance(Duration::from_secs(60));
        throttle.failed(Some("last"), HOME);
        assert_eq!(users.takes.len(), 1, "only the newest key is kept");
        // Asking about names never seen keeps nothing either.
        for n in 0..100 {
            assert_eq!(throttle.refused(Some(&format!("stranger{n}")), HOME), None);
        }
        assert_eq!(users.takes.len(), 1);
    }
}
