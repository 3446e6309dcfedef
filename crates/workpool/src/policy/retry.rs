//! Retry policies: how many runs a job gets and how long it waits between them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Decides which errors are retried.
type Predicate<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

#[derive(Clone)]
enum Schedule {
    Exponential(Duration),
    Constant(Duration),
    List(Arc<[Duration]>),
}

/// When and how often a job that returns `Err` (or, if enabled, panics) runs again.
///
/// `attempts` counts every run, the first included: `Retry::exponential(5, base)` runs a job
/// at most five times. Between runs the job waits in the pool's delay queue; no worker sleeps.
///
/// Defaults: no cap on the delay, no jitter, every error retried, panics not retried.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workpool::Retry;
///
/// let policy: Retry<String> = Retry::exponential(5, Duration::from_millis(100))
///     .max_delay(Duration::from_secs(10))
///     .jitter(0.2)
///     .retry_if(|e: &String| !e.starts_with("fatal"));
/// assert_eq!(policy.attempts(), 5);
/// // Delays before runs 2, 3, 4 and 5, before jitter:
/// let delays: Vec<_> = (1..5).map(|run| policy.base_delay(run)).collect();
/// assert_eq!(delays, [100, 200, 400, 800].map(Duration::from_millis));
/// ```
pub struct Retry<E> {
    attempts: u32,
    schedule: Schedule,
    max_delay: Option<Duration>,
    jitter: f64,
    retry_if: Option<Predicate<E>>,
    panics: bool,
}

impl<E> Retry<E> {
    fn with(attempts: u32, schedule: Schedule) -> Self {
        Self {
            attempts,
            schedule,
            max_delay: None,
            jitter: 0.0,
            retry_if: None,
            panics: false,
        }
    }

    /// At most `attempts` runs in all, waiting `base`, `2 × base`, `4 × base` … between them.
    ///
    /// # Panics
    ///
    /// If `attempts` is 0.
    #[track_caller]
    pub fn exponential(attempts: u32, base: Duration) -> Self {
        assert!(
            attempts > 0,
            "Retry: attempts counts the first run, so it must be at least 1"
        );
        Self::with(attempts, Schedule::Exponential(base))
    }

    /// At most `attempts` runs in all, waiting `delay` between them.
    ///
    /// # Panics
    ///
    /// If `attempts` is 0.
    #[track_caller]
    pub fn constant(attempts: u32, delay: Duration) -> Self {
        assert!(
            attempts > 0,
            "Retry: attempts counts the first run, so it must be at least 1"
        );
        Self::with(attempts, Schedule::Constant(delay))
    }

    /// One run, then one more after each delay of `delays`, in order.
    pub fn delays(delays: impl IntoIterator<Item = Duration>) -> Self {
        let list: Arc<[Duration]> = delays.into_iter().collect();
        let attempts = u32::try_from(list.len()).unwrap_or(u32::MAX - 1) + 1;
        Self::with(attempts, Schedule::List(list))
    }

    /// Caps every delay (after jitter). Default: no cap.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// Spreads each delay uniformly within `± fraction` of itself, so that jobs failing
    /// together do not retry together. Default: 0 (no jitter).
    ///
    /// # Panics
    ///
    /// If `fraction` is not within `0.0..=1.0`.
    #[track_caller]
    pub fn jitter(mut self, fraction: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&fraction),
            "Retry::jitter: the fraction must be within 0.0..=1.0, got {fraction}"
        );
        self.jitter = fraction;
        self
    }

    /// Retries only the errors for which `predicate` returns `true`; others end the job at
    /// once. Default: every error is retried. A predicate that panics counts as `false`: the
    /// job ends with the error it was judging, not as a panic of its own.
    pub fn retry_if(mut self, predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Arc::new(predicate));
        self
    }

    /// Also retries runs that panic. Default: `false` (a panic ends the job).
    pub fn retry_panics(mut self, yes: bool) -> Self {
        self.panics = yes;
        self
    }

    /// The most runs a job gets, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay after run number `run` (1-based) fails, before jitter and cap.
    pub fn base_delay(&self, run: u32) -> Duration {
        match &self.schedule {
            Schedule::Exponential(base) => match run.saturating_sub(1) {
                doublings @ 0..=31 => base.checked_mul(1 << doublings).unwrap_or(Duration::MAX),
                _ => Duration::MAX,
            },
            Schedule::Constant(delay) => *delay,
            Schedule::List(list) => list
                .get(run.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(Duration::ZERO),
        }
    }

    /// The delay after run `run` fails, with jitter drawn from `seed` and the cap applied.
    pub(crate) fn delay_after(&self, run: u32, seed: u64) -> Duration {
        let base = self.base_delay(run);
        let jittered = if self.jitter > 0.0 {
            let u = fastrand::Rng::with_seed(seed).f64() * 2.0 - 1.0;
            // Saturating: an exponential schedule reaches Duration::MAX after 32 doublings,
            // and jitter must not overflow it before the cap applies.
            let factor = (1.0 + self.jitter * u).max(0.0);
            Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX)
        } else {
            base
        };
        match self.max_delay {
            Some(cap) => jittered.min(cap),
            None => jittered,
        }
    }

    /// Whether a job that failed with `error` on run `run` gets another run.
    pub(crate) fn retries_error(&self, run: u32, error: &E) -> bool {
        run < self.attempts && self.retry_if.as_ref().is_none_or(|p| p(error))
    }

    /// Whether a job that panicked on run `run` gets another run.
    pub(crate) fn retries_panic(&self, run: u32) -> bool {
        self.panics && run < self.attempts
    }
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Self {
            attempts: self.attempts,
            schedule: self.schedule.clone(),
            max_delay: self.max_delay,
            jitter: self.jitter,
            retry_if: self.retry_if.clone(),
            panics: self.panics,
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schedule = match &self.schedule {
            Schedule::Exponential(base) => format!("exponential from {base:?}"),
            Schedule::Constant(delay) => format!("constant {delay:?}"),
            Schedule::List(list) => format!("delays {list:?}"),
        };
        f.debug_struct("Retry")
            .field("attempts", &self.attempts)
            .field("schedule", &schedule)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("retry_if", &self.retry_if.is_some())
            .field("retry_panics", &self.panics)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_doubles_and_is_capped() {
        let r: Retry<()> = Retry::exponential(6, 100 * MS).max_delay(500 * MS);
        let delays: Vec<_> = (1..6).map(|run| r.delay_after(run, 0)).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let r: Retry<()> = Retry::exponential(3, 100 * MS).jitter(0.2);
        let mut seen_low = false;
        let mut seen_high = false;
        for seed in 0..2_000 {
            let d = r.delay_after(2, seed);
            assert!(d >= 160 * MS && d <= 240 * MS, "{d:?}");
            seen_low |= d < 180 * MS;
            seen_high |= d > 220 * MS;
        }
        assert!(
            seen_low && seen_high,
            "jitter should spread over the whole band"
        );
    }

    #[test]
    fn attempts_count_the_first_run() {
        let r: Retry<()> = Retry::constant(3, MS);
        assert!(r.retries_error(1, &()));
        assert!(r.retries_error(2, &()));
        assert!(!r.retries_error(3, &()));
    }

    #[test]
    fn retry_if_filters_errors_and_panics_are_opt_in() {
        let r = Retry::constant(5, MS).retry_if(|e: &i32| *e > 0);
        assert!(r.retries_error(1, &1));
        assert!(!r.retries_error(1, &-1));
        assert!(!r.retries_panic(1));
        assert!(r.retry_panics(true).retries_panic(1));
    }

    #[test]
    fn a_list_of_delays_is_followed_in_order() {
        let r: Retry<()> = Retry::delays([5 * MS, 50 * MS]);
        assert_eq!(r.attempts(), 3);
        assert_eq!(r.delay_after(1, 0), 5 * MS);
        assert_eq!(r.delay_after(2, 0), 50 * MS);
    }

    #[test]
    fn huge_exponents_saturate_instead_of_overflowing() {
        let r: Retry<()> =
            Retry::exponential(100, Duration::from_secs(1)).max_delay(Duration::from_secs(60));
        assert_eq!(r.delay_after(90, 0), Duration::from_secs(60));
    }

    #[test]
    fn jitter_on_a_saturated_delay_is_capped_instead_of_overflowing() {
        let r: Retry<()> = Retry::exponential(40, MS).jitter(0.2).max_delay(2 * MS);
        for run in 30..40 {
            for seed in 0..50 {
                assert!(r.delay_after(run, seed) <= 2 * MS);
            }
        }
        let uncapped: Retry<()> = Retry::exponential(40, MS).jitter(1.0);
        assert!(uncapped.delay_after(39, 7) > Duration::from_secs(3600));
    }
}
