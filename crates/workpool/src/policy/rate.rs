//! Rate limits: a token bucket, decided before a worker takes a job.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::later;

/// A token-bucket rate limit: on average `rate` job starts per period, with up to `burst`
/// starts at once after a quiet spell.
///
/// The decision is made before a worker takes a job: a job over the limit stays queued (or,
/// for a per-key limit, waits in the delay queue) and no worker sleeps holding it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workpool::RateLimit;
///
/// let api = RateLimit::per_second(100).burst(10);   // 100/s, bursts of 10
/// let slow = RateLimit::per(3, Duration::from_secs(60)); // 3 a minute, burst 1
/// assert_eq!(api.interval(), Duration::from_millis(10));
/// assert_eq!(slow.burst_size(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
}

impl RateLimit {
    /// `n` starts per second, burst 1.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    #[track_caller]
    pub fn per_second(n: u32) -> Self {
        Self::per(n, Duration::from_secs(1))
    }

    /// `n` starts per `period`, burst 1.
    ///
    /// # Panics
    ///
    /// If `n` is 0 or `period` is zero.
    #[track_caller]
    pub fn per(n: u32, period: Duration) -> Self {
        assert!(
            n > 0,
            "RateLimit: the number of starts per period must be at least 1"
        );
        assert!(
            !period.is_zero(),
            "RateLimit: the period must be longer than zero"
        );
        Self {
            interval: period / n,
            burst: 1,
        }
    }

    /// A limit that never holds a job back. A pool built with it pays nothing for it: it
    /// runs as a pool with no limit.
    ///
    /// ```
    /// use workpool::RateLimit;
    /// assert!(RateLimit::unlimited().is_unlimited());
    /// assert!(!RateLimit::per_second(1_000).is_unlimited());
    /// ```
    pub fn unlimited() -> Self {
        Self {
            interval: Duration::ZERO,
            burst: 1,
        }
    }

    /// `true` for [`RateLimit::unlimited`].
    pub fn is_unlimited(&self) -> bool {
        self.interval.is_zero()
    }

    /// Allows up to `n` starts at once after a quiet spell. Default: 1.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    #[track_caller]
    pub fn burst(mut self, n: u32) -> Self {
        assert!(n > 0, "RateLimit::burst: the burst must be at least 1");
        self.burst = n;
        self
    }

    /// The steady-state time between two starts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The most starts allowed at once.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RateLimit(one per {:?}, burst {})",
            self.interval, self.burst
        )
    }
}

/// The running state of a [`RateLimit`], kept as a theoretical arrival time (the GCRA form
/// of a token bucket): exact, and one `Instant` of state.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    limit: RateLimit,
    /// When the bucket will be full again if nothing more is taken.
    tat: Option<Instant>,
    /// The last token instant promised to a job sent to wait for one (see `reserve`).
    promised: Option<Instant>,
}

impl Bucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tat: None,
            promised: None,
        }
    }

    fn tolerance(&self) -> Duration {
        self.limit
            .interval
            .saturating_mul(self.limit.burst.saturating_sub(1))
    }

    /// `Ok` if a token is available at `now`, else the instant when one will be.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Instant> {
        match self.tat {
            None => Ok(()),
            // Written as `now + tolerance` so that no instant is ever moved back past the
            // clock's origin.
            Some(tat) if later(now, self.tolerance()) >= tat => Ok(()),
            Some(tat) => Err(tat - self.tolerance()),
        }
    }

    /// `true` if every token is back at `now`: the bucket then behaves as a new one.
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        self.tat.is_none_or(|tat| tat <= now)
    }

    /// Takes a token; call only after [`check`](Self::check) said yes at `now`.
    ///
    /// A start that comes less than an interval after its token was due keeps to the grid:
    /// the next token is an interval after this one was due, not after now. Without that, a
    /// worker that woke a little late lost that much of every interval for good (what that
    /// cost is in `benches/RESULTS.md`, "Design measurements"). The price: the start after a
    /// late one may follow it by less than an interval, so any one interval holds at most
    /// `burst + 1` starts, while the long-run rate is the configured one. After a longer
    /// quiet spell the bucket simply refills to its burst.
    pub(crate) fn take(&mut self, now: Instant) {
        let base = match self.tat {
            Some(tat) if later(tat, self.limit.interval) > now => tat,
            _ => now,
        };
        self.tat = Some(later(base, self.limit.interval));
    }

    /// Promises a token instant to a job that was refused one at `at`: the first instant
    /// not promised to a job refused before it. Jobs sent to wait then come due one token
    /// apart instead of all at `at`, where all but one would be refused again: with a
    /// thousand of them queued for one key, every start re-examined the whole line.
    pub(crate) fn reserve(&mut self, at: Instant) -> Instant {
        let slot = match self.promised {
            Some(last) if later(last, self.limit.interval) > at => later(last, self.limit.interval),
            _ => at,
        };
        self.promised = Some(slot);
        slot
    }
}

/// Rate-limit settings, fixed at build.
#[derive(Default)]
pub(crate) struct RateConfig {
    pub(crate) per_key: Option<RateLimit>,
    pub(crate) keys: HashMap<String, RateLimit>,
}

/// The rate limits' live state, guarded by the pool lock.
pub(crate) struct RateState {
    /// The pool-wide bucket, if the pool has a limit.
    pub(crate) pool: Option<Bucket>,
    /// Per-key buckets, made on a key's first use.
    keys: HashMap<Arc<str>, Bucket>,
    /// The keyed buckets' count after they were last cleaned (see [`RateState::key_bucket`]).
    keys_floor: usize,
    /// The token instant the pool-wide limit last made workers wait for, so each wait is
    /// counted once however many workers see it.
    pub(crate) throttled_until: Option<Instant>,
}

impl RateState {
    pub(crate) fn new(pool: Option<RateLimit>) -> Self {
        Self {
            pool: pool.map(Bucket::new),
            keys: HashMap::new(),
            keys_floor: 0,
            throttled_until: None,
        }
    }

    /// The bucket for `key`, made on first use from the configured limits; `None` if no
    /// limit applies to it.
    pub(crate) fn key_bucket(
        &mut self,
        config: &RateConfig,
        key: &Arc<str>,
        now: Instant,
    ) -> Option<&mut Bucket> {
        if !self.keys.contains_key(key) {
            // A bucket whose tokens are all back is the same as no bucket: once the map has
            // doubled since it was last cleaned, those go, so a stream of distinct keys does
            // not grow it for ever. Amortized O(1) per new key.
            if self.keys.len() >= self.keys_floor.saturating_mul(2).max(64) {
                self.keys.retain(|_, bucket| !bucket.is_full(now));
                self.keys_floor = self.keys.len();
            }
            let limit = config.keys.get(&**key).copied().or(config.per_key)?;
            self.keys.insert(Arc::clone(key), Bucket::new(limit));
        }
        self.keys.get_mut(key)
    }

    /// Keyed buckets held (for the tests that bound them).
    #[cfg(test)]
    pub(crate) fn key_buckets(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;

    /// Starts as many jobs as the bucket allows at each 10 ms step, and lists the step at
    /// which each start happened.
    fn schedule(limit: RateLimit, starts: usize) -> Vec<u64> {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(limit);
        let mut at = Vec::new();
        let mut ms = 0;
        while at.len() < starts {
            let now = t0 + Duration::from_millis(ms);
            while at.len() < starts && bucket.check(now).is_ok() {
                bucket.take(now);
                at.push(ms);
            }
            ms += 10;
        }
        at
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_one_per_interval() {
        // 10/s with burst 3: three at once, then one every 100 ms.
        let at = schedule(RateLimit::per_second(10).burst(3), 6);
        assert_eq!(at, [0, 0, 0, 100, 200, 300]);
    }

    #[test]
    fn burst_one_spaces_every_start() {
        let at = schedule(RateLimit::per(4, Duration::from_secs(1)), 4);
        assert_eq!(at, [0, 250, 500, 750]);
    }

    #[test]
    fn check_names_the_instant_the_next_token_arrives() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(RateLimit::per_second(2));
        bucket.take(t0);
        assert_eq!(bucket.check(t0), Err(t0 + Duration::from_millis(500)));
        assert_eq!(bucket.check(t0 + Duration::from_millis(500)), Ok(()));
    }

    #[test]
    fn a_quiet_spell_refills_no_more_than_the_burst() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(RateLimit::per_second(10).burst(2));
        let later = t0 + Duration::from_secs(60);
        let mut n = 0;
        while bucket.check(later).is_ok() {
            bucket.take(later);
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn a_late_start_keeps_the_schedule_so_the_rate_holds() {
        // One per 100 ms, each start 30 ms late: the tokens stay on the 100 ms grid.
        let t0 = Instant::now();
        let mut bucket = Bucket::new(RateLimit::per_second(10));
        let ms = |n| t0 + Duration::from_millis(n);
        bucket.take(ms(0));
        for n in 1..=50u64 {
            let due = match bucket.check(ms(n * 100 - 1)) {
                Err(due) => due,
                Ok(()) => panic!("token {n} came early"),
            };
            assert_eq!(due, ms(n * 100), "token {n} drifted");
            bucket.take(due + Duration::from_millis(30));
        }
    }

    #[test]
    fn jobs_sent_to_wait_are_promised_tokens_one_interval_apart() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(RateLimit::per_second(10));
        let ms = |n| t0 + Duration::from_millis(n);
        let slots: Vec<_> = (0..4).map(|_| bucket.reserve(ms(100))).collect();
        assert_eq!(slots, [ms(100), ms(200), ms(300), ms(400)]);
        // Once the promises are in the past, a refusal waits only for its own token.
        assert_eq!(bucket.reserve(ms(1_000)), ms(1_000));
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_rate_is_refused() {
        let _ = RateLimit::per_second(0);
    }
}
