//! The pool's source of time: the system clock, or a manual clock that tests move by hand.
//!
//! Every time-based decision in the pool (keep-alive, `submit_timeout`, `wait_timeout`,
//! `shutdown_timeout`) reads [`Clock::now`] and waits through the clock. With a
//! [`ManualClock`], time stands still until [`ManualClock::advance`] moves it, so a test can
//! drive a keep-alive expiry or a shutdown deadline without sleeping and without a
//! wall-clock threshold.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, Condvar, MutexGuard};

/// How long a wait on a manual clock blocks before it looks at the clock again.
///
/// A manual clock cannot notify every condition variable in the process when it moves, so
/// waiters re-read it at this real-time interval. It only bounds how soon a waiter notices
/// that time moved; it never decides an outcome.
const MANUAL_RECHECK: Duration = Duration::from_millis(1);

/// A source of time for a pool.
///
/// The default is [`Clock::system`]. Pass a [`ManualClock`] to
/// [`Builder::clock`](crate::Builder::clock) to control time in tests.
///
/// # Examples
///
/// ```
/// use workpool::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let manual = ManualClock::new();
/// let clock = Clock::from(manual.clone());
/// let before = clock.now();
/// manual.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - before, Duration::from_secs(5));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<ManualClock>,
}

impl Clock {
    /// The operating system's monotonic clock ([`Instant::now`]).
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// The current instant on this clock.
    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(manual) => manual.now(),
        }
    }

    /// The instant `d` after now on this clock; see [`later`].
    pub(crate) fn after(&self, d: Duration) -> Instant {
        later(self.now(), d)
    }

    /// Returns `true` if this clock is a [`ManualClock`].
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Blocks on `cv` until notified, woken spuriously, or `deadline` passes on this clock.
    ///
    /// Callers re-check their condition (and the clock) in a loop, as with any condvar.
    pub(crate) fn wait_until<T>(
        &self,
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) {
        match &self.manual {
            None => {
                let now = Instant::now();
                if deadline > now {
                    cv.wait_for(guard, deadline - now);
                }
            }
            Some(manual) => {
                if deadline > manual.now() {
                    cv.wait_for(guard, MANUAL_RECHECK);
                }
            }
        }
    }
}

/// How far ahead "never" lies: a wait this long outlives any process.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `at + d`, saturating: a duration too large for an [`Instant`] (such as `Duration::MAX`)
/// means "never", and is taken as about a century, so every user duration is safe to add.
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    let mut d = d.min(NEVER);
    loop {
        if let Some(t) = at.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::System"),
            Some(manual) => write!(f, "Clock::Manual({:?})", manual.elapsed()),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Self {
            manual: Some(manual),
        }
    }
}

/// A clock that moves only when told to: time for tests.
///
/// Clones share the same time. It starts at the real instant it was created and moves
/// forward by [`advance`](ManualClock::advance); it never moves back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workpool::{ManualClock, Pool};
///
/// let clock = ManualClock::new();
/// let pool = Pool::builder()
///     .min_workers(0)
///     .max_workers(2)
///     .keep_alive(Duration::from_secs(10))
///     .clock(clock.clone())
///     .build()?;
/// pool.submit(|| 1)?.wait()?;
/// clock.advance(Duration::from_secs(10)); // idle workers may now retire
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    base: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// Creates a manual clock that reads the current real instant until it is advanced.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                offset_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// The current instant on this clock.
    pub fn now(&self) -> Instant {
        self.inner.base + self.elapsed()
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_nanos.load(Ordering::Acquire))
    }

    /// Moves the clock forward by `by`. Waiters on this clock notice within about a
    /// millisecond of real time.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Saturating, so that a huge step stops time at its far end instead of wrapping it
        // back to the start.
        let _ = self
            .inner
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(old.saturating_add(nanos))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// Cheap timestamps for the latency histograms, read twice per job.
///
/// A tiny job reads the time twice (when it is queued and when it ends), and with
/// `Instant::now` timing was a large share of such a job's cost (`benches/RESULTS.md`,
/// "Design measurements"). With the system clock, ticks come from quanta's reading of
/// the CPU's time-stamp counter, calibrated against the monotonic clock once
/// per process (under a millisecond); where quanta finds no reliable counter it reads the
/// monotonic clock itself. With a [`ManualClock`], ticks are its nanoseconds, so tests see
/// the durations they set.
#[derive(Clone)]
pub(crate) enum Ticks {
    Counter(quanta::Clock),
    Manual(ManualClock),
}

impl Ticks {
    pub(crate) fn new(clock: &Clock) -> Self {
        match &clock.manual {
            None => Self::Counter(quanta::Clock::new()),
            Some(manual) => Self::Manual(manual.clone()),
        }
    }

    /// Now, in ticks; only differences between two readings mean anything.
    pub(crate) fn now(&self) -> u64 {
        match self {
            Self::Counter(clock) => clock.raw(),
            Self::Manual(manual) => u64::try_from(manual.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Nanoseconds from `start` to `end`; 0 if `end` is not later.
    pub(crate) fn nanos_between(&self, start: u64, end: u64) -> u64 {
        match self {
            Self::Counter(clock) => clock.delta_as_nanos(start, end),
            Self::Manual(_) => end.saturating_sub(start),
        }
    }
}
