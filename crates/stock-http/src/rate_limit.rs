//! Rate limits: per API key, and per client address for requests without a
//! valid key. A request over its limit is answered 429 `RATE_LIMITED` with
//! `Retry-After` and changes nothing.
//!
//! Each limit is a token bucket (governor's GCRA): `per_s` requests a
//! second on average, up to `burst` at once. What each key or address has
//! used is remembered only while it matters (entries back at a full bucket
//! are dropped every [`SWEEP_INTERVAL`]), and at most `tracked_max` of each
//! are remembered: while that many are, any other shares one budget.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;

use crate::error::ApiError;

/// How often remembered keys and addresses back at a full bucket are dropped.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// A rate: `per_s` requests a second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_s: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// A rate, or no limit at all when `per_s` is 0.
    pub fn new(per_s: u32, burst: u32) -> Option<Rate> {
        let per_s = NonZeroU32::new(per_s)?;
        Some(Rate {
            per_s,
            burst: NonZeroU32::new(burst).unwrap_or(per_s),
        })
    }
}

/// The rate limits of the HTTP surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests of one API key; `None`: not limited.
    pub per_key: Option<Rate>,
    /// Requests without a valid key from one client address (IPv6: one
    /// /64); `None`: not limited.
    pub per_address: Option<Rate>,
    /// Keys, and addresses, remembered at once.
    pub tracked_max: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_key: Rate::new(100_000, 10_000),
            per_address: Rate::new(1_000, 2_000),
            tracked_max: 100_000,
        }
    }
}

/// Which limit a request went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Key,
    Address,
}

/// A request over its limit, answered 429.
#[derive(Debug)]
pub struct Limited {
    pub scope: Scope,
    pub rate: Rate,
    /// How long until a request would be let through.
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds, rounded up and at least 1, as `Retry-After` gives them.
    pub fn retry_after_s(&self) -> u64 {
        let whole = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        whole.max(1)
    }
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let retry_after_s = self.retry_after_s();
        let (who, scope) = match self.scope {
            Scope::Key => ("this API key", "key"),
            Scope::Address => ("this address without a valid API key", "address"),
        };
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!(
                "too many requests from {who} (at most {} a second, {} at once); retry after {retry_after_s} s",
                self.rate.per_s, self.rate.burst
            ),
        )
        .with_details(json!({
            "scope": scope,
            "per_s": self.rate.per_s.get(),
            "burst": self.rate.burst.get(),
            "retry_after_s": retry_after_s,
        }));
        let mut response = error.into_response();
        response.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from_str(&retry_after_s.to_string()).expect("digits are a header value"),
        );
        response
    }
}

/// The limiters of one service: what each key and address has used.
pub struct Limiters {
    keys: Option<Keyed<String>>,
    addresses: Option<Keyed<IpAddr>>,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Limiters {
        Limiters {
            keys: limits
                .per_key
                .map(|rate| Keyed::new(rate, limits.tracked_max, String::new())),
            addresses: limits.per_address.map(|rate| {
                Keyed::new(
                    rate,
                    limits.tracked_max,
                    IpAddr::from(Ipv6Addr::UNSPECIFIED),
                )
            }),
        }
    }

    /// Counts a request of the API key `key_id`.
    pub fn check_key(&self, key_id: &str) -> Result<(), Limited> {
        match &self.keys {
            Some(keys) => keys.check(key_id.to_owned(), Scope::Key),
            None => Ok(()),
        }
    }

    /// Counts a request without a valid key against its client's address.
    /// A request whose address is not known (the router served without a
    /// listener that records it) is not counted.
    pub fn check_address(&self, request: &Request) -> Result<(), Limited> {
        let (Some(addresses), Some(ConnectInfo(peer))) = (
            &self.addresses,
            request.extensions().get::<ConnectInfo<SocketAddr>>(),
        ) else {
            return Ok(());
        };
        addresses.check(client(peer.ip()), Scope::Address)
    }
}

/// What an address is counted as: IPv4 as it is (also when mapped into
/// IPv6), IPv6 by its /64, the block one subscriber is usually given. The
/// console's sign-in limits count addresses the same way.
pub(crate) fn client(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Limits requests that need no key (health, metrics, documentation, the
/// console, unknown routes) per client address.
pub async fn by_address(
    State(limiters): State<Arc<Limiters>>,
    request: Request,
    next: Next,
) -> Response {
    match limiters.check_address(&request) {
        Ok(()) => next.run(request).await,
        Err(limited) => limited.into_response(),
    }
}

/// One limiter keyed by `K`, with its memory bounded.
struct Keyed<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    rate: Rate,
    tracked_max: usize,
    /// The key every other one is counted as while `tracked_max` are remembered.
    shared: K,
    started: Instant,
    /// When remembered entries were last swept, in ms after `started`.
    swept_ms: AtomicU64,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(rate: Rate, tracked_max: usize, shared: K) -> Keyed<K> {
        Keyed::with_clock(rate, tracked_max, shared, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Keyed<K, C> {
    fn with_clock(rate: Rate, tracked_max: usize, shared: K, clock: C) -> Keyed<K, C> {
        Keyed {
            limiter: RateLimiter::new(
                Quota::per_second(rate.per_s).allow_burst(rate.burst),
                DefaultKeyedStateStore::default(),
                clock,
            ),
            rate,
            tracked_max,
            shared,
            started: Instant::now(),
            swept_ms: AtomicU64::new(0),
        }
    }

    fn check(&self, key: K, scope: Scope) -> Result<(), Limited> {
        self.sweep_when_due();
        let key = if self.limiter.len() >= self.tracked_max {
            &self.shared
        } else {
            &key
        };
        self.limiter.check_key(key).map_err(|not_until| Limited {
            scope,
            rate: self.rate,
            retry_after: not_until.wait_time_from(self.limiter.clock().now()),
        })
    }

    /// Drops entries back at a full bucket, once per [`SWEEP_INTERVAL`]
    /// (whichever request finds it due does it).
    fn sweep_when_due(&self) {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let swept_ms = self.swept_ms.load(Ordering::Relaxed);
        let interval_ms = SWEEP_INTERVAL.as_millis() as u64;
        if now_ms.saturating_sub(swept_ms) < interval_ms {
            return;
        }
        if self
            .swept_ms
            .compare_exchange(swept_ms, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use governor::clock::FakeRelativeClock;

    /// A limiter on a clock that moves only when told.
    fn paused(
        rate: Rate,
        tracked_max: usize,
    ) -> (Keyed<String, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            Keyed::with_clock(rate, tracked_max, String::new(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn a_burst_is_let_through_and_then_refused_with_a_wait() {
        let (keyed, clock) = paused(Rate::new(2, 3).unwrap(), 10);
        for _ in 0..3 {
            assert!(keyed.check("k".into(), Scope::Key).is_ok());
        }
        let limited = keyed.check("k".into(), Scope::Key).unwrap_err();
        assert_eq!(limited.scope, Scope::Key);
        assert_eq!(limited.retry_after, Duration::from_millis(500));
        assert_eq!(limited.retry_after_s(), 1);
        assert!(
            keyed.check("other".into(), Scope::Key).is_ok(),
            "keys have budgets of their own"
        );
        clock.advance(Duration::from_millis(499));
        assert!(keyed.check("k".into(), Scope::Key).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(
            keyed.check("k".into(), Scope::Key).is_ok(),
            "one more every 500 ms"
        );
        assert!(keyed.check("k".into(), Scope::Key).is_err());
    }

    #[test]
    fn past_the_tracked_maximum_new_keys_share_one_budget() {
        let (keyed, _clock) = paused(Rate::new(1, 1).unwrap(), 2);
        assert!(keyed.check("a".into(), Scope::Key).is_ok());
        assert!(keyed.check("b".into(), Scope::Key).is_ok());
        assert!(
            keyed.check("c".into(), Scope::Key).is_ok(),
            "the shared budget"
        );
        assert!(keyed.check("d".into(), Scope::Key).is_err(), "spent by c");
        assert!(keyed.limiter.len() <= 3);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let limited = |retry_after| Limited {
            scope: Scope::Address,
            rate: Rate::new(1, 1).unwrap(),
            retry_after,
        };
        assert_eq!(limited(Duration::ZERO).retry_after_s(), 1);
        assert_eq!(limited(Duration::from_millis(1)).retry_after_s(), 1);
        assert_eq!(limited(Duration::from_millis(1001)).retry_after_s(), 2);
        assert_eq!(limited(Duration::from_secs(3)).retry_after_s(), 3);
    }

    #[test]
    fn addresses_are_counted_by_ipv4_or_ipv6_slash_64() {
        let parse = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(client(parse("192.0.2.7")), parse("192.0.2.7"));
        assert_eq!(client(parse("::ffff:192.0.2.7")), parse("192.0.2.7"));
        assert_eq!(
            client(parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            parse("2001:db8:1:2::")
        );
        assert_ne!(
            client(parse("2001:db8:1:2::1")),
            client(parse("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        assert_eq!(Rate::new(0, 10), None);
        let limiters = Limiters::new(&RateLimits {
            per_key: None,
            per_address: None,
            tracked_max: 1,
        });
        for _ in 0..100 {
            assert!(limiters.check_key("k").is_ok());
        }
    }
}
