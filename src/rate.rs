//! Requests per second per caller: each internal client certificate and each
//! partner province has a bucket of tokens, refilled at its rate up to twice
//! that (a second's burst on top of the steady rate). A request takes one; with
//! none left it is refused at once, 429 `RATE_LIMITED`, told when to try again.
//! A rate of zero is no limit.
//!
//! This is not what keeps a gateway standing under load (`turn` sheds what it
//! cannot queue): it keeps one caller from taking everyone's share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::Caller;
use crate::server::identity::Identity;

/// Buckets kept before full ones, which are as good as none, are dropped.
const BUCKETS: usize = 10_000;

/// The buckets of a gateway.
pub struct Rates {
    /// Per internal certificate, per second.
    internal: f64,
    /// Per partner province, per second.
    partner: f64,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Partner(crate::domain::ProvinceCode),
    Certificate(String),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Rates {
    /// Buckets refilled at `internal` requests per second for each of our
    /// certificates and `partner` for each partner province; zero is no limit.
    pub fn new(internal: u32, partner: u32) -> Self {
        Self {
            internal: f64::from(internal),
            partner: f64::from(partner),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `identity`'s request; `Err` says how long until one
    /// is there.
    pub fn admit(&self, identity: &Identity) -> Result<(), Duration> {
        let (key, rate) = match identity.caller {
            Caller::Partner(province) => (Key::Partner(province), self.partner),
            Caller::Internal(_) => (
                Key::Certificate(identity.fingerprint.clone()),
                self.internal,
            ),
        };
        if rate <= 0.0 {
            return Ok(());
        }
        self.take(key, rate, Instant::now())
    }

    fn take(&self, key: Key, rate: f64, now: Instant) -> Result<(), Duration> {
        let burst = 2.0 * rate;
        let mut buckets = self
            .buckets
            .lock()
            .expect("the rate buckets are never poisoned");
        if buckets.len() >= BUCKETS && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rates = Rates::new(10, 0);
        let key = || Key::Certificate("a".to_owned());
        let start = Instant::now();
        for _ in 0..20 {
            assert_eq!(rates.take(key(), 10.0, start), Ok(()));
        }
        let wait = rates.take(key(), 10.0, start).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // A tenth of a second later, one more.
        let later = start + Duration::from_millis(100);
        assert_eq!(rates.take(key(), 10.0, later), Ok(()));
        assert!(rates.take(key(), 10.0, later).is_err());
        // Another key has its own bucket.
        assert_eq!(
            rates.take(Key::Certificate("b".to_owned()), 10.0, later),
            Ok(())
        );
    }

    #[test]
    fn zero_is_no_limit() {
        let rates = Rates::new(0, 0);
        let identity = Identity::local(
            crate::domain::ProvinceCode::parse("19").unwrap(),
            crate::domain::Role::Dashboard,
        );
        for _ in 0..10_000 {
            assert_eq!(rates.admit(&identity), Ok(()));
        }
    }
}
