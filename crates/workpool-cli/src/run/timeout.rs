//! `--timeout`: a fixed limit per run, or GNU parallel's `--timeout P%`, a limit that follows
//! the median run time of the jobs that succeeded so far.
//!
//! With a percentage, no run is limited until a job has succeeded (GNU parallel does the
//! same: before that it has no median to take a share of). The limit of a running job is
//! looked at again at every poll, so it follows the median as more jobs succeed. The median
//! is the lower one of an even count, as GNU parallel takes it, but of every success rather
//! than GNU parallel's remedian estimate, and compared as numbers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The limit on each run.
#[derive(Debug, Clone)]
pub enum Timeout {
    /// This long (never zero: zero means no timeout and is no `Timeout`).
    Fixed(Duration),
    /// This percentage of the median run time of the successful jobs.
    Percent {
        /// The percentage, above 0.
        percent: f64,
        /// The run times seen so far.
        median: Arc<Median>,
    },
}

impl Timeout {
    /// A percentage timeout, with no success seen yet.
    pub fn percent(percent: f64) -> Self {
        Timeout::Percent {
            percent,
            median: Arc::new(Median::default()),
        }
    }

    /// The limit now; `None` while a percentage has no median to take a share of.
    pub fn limit(&self) -> Option<Duration> {
        match self {
            Timeout::Fixed(d) => Some(*d),
            Timeout::Percent { percent, median } => {
                let median = median.get()?;
                // A limit too long to represent is no limit.
                Duration::try_from_secs_f64(median.as_secs_f64() * percent / 100.0).ok()
            }
        }
    }

    /// Notes the run time of a successful run (only a percentage needs it).
    pub fn succeeded(&self, runtime: Duration) {
        if let Timeout::Percent { median, .. } = self {
            median.add(runtime);
        }
    }
}

/// A running median: the lower half in a max-heap, the upper half in a min-heap, and the
/// current median where the supervising workers read it without a lock.
#[derive(Debug, Default)]
pub struct Median {
    halves: Mutex<(BinaryHeap<u64>, BinaryHeap<Reverse<u64>>)>,
    /// The median in nanoseconds plus 1; 0 while there is none.
    current: AtomicU64,
}

impl Median {
    /// Adds a value.
    pub fn add(&self, value: Duration) {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX - 1);
        let mut halves = self.halves.lock().unwrap_or_else(PoisonError::into_inner);
        let (lower, upper) = &mut *halves;
        if lower.peek().is_none_or(|&top| nanos <= top) {
            lower.push(nanos);
        } else {
            upper.push(Reverse(nanos));
        }
        // The lower half holds the median: as many as the upper half, or one more.
        if lower.len() > upper.len() + 1 {
            if let Some(top) = lower.pop() {
                upper.push(Reverse(top));
            }
        } else if upper.len() > lower.len() {
            if let Some(Reverse(least)) = upper.pop() {
                lower.push(least);
            }
        }
        if let Some(&median) = lower.peek() {
            self.current
                .store(median.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// The lower median of the values so far, if any.
    pub fn get(&self) -> Option<Duration> {
        match self.current.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_lower_middle_of_the_values() {
        let median = Median::default();
        assert_eq!(median.get(), None);
        let ms = Duration::from_millis;
        for (value, expected) in [(50, 50), (10, 10), (30, 30), (20, 20), (40, 30), (60, 30)] {
            median.add(ms(value));
            assert_eq!(median.get(), Some(ms(expected)), "after {value}");
        }
    }

    #[test]
    fn a_percentage_has_no_limit_until_a_job_succeeds() {
        let timeout = Timeout::percent(250.0);
        assert_eq!(timeout.limit(), None);
        timeout.succeeded(Duration::from_secs(2));
        assert_eq!(timeout.limit(), Some(Duration::from_secs(5)));
        assert_eq!(
            Timeout::Fixed(Duration::from_secs(3)).limit(),
            Some(Duration::from_secs(3))
        );
    }
}
