//! The one completion signal every subject uses: a countdown latch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long [`Latch::wait`] spins before it parks. Short, so that a waiter on a 2-core
/// machine does not steal a core from the workers for long, yet long enough that a job
/// finishing "right away" is seen without a futex round trip.
const SPIN: Duration = Duration::from_micros(10);

/// A countdown latch: each job calls [`count_down`](Latch::count_down) once; the waiter
/// returns from [`wait`](Latch::wait) when the count reaches zero.
///
/// The hot path is one atomic `fetch_sub`; only the job that brings the count to zero
/// touches the mutex, to wake a parked waiter. Jobs capture it as `&'static Latch` (see
/// [`Latch::leak`]), so submitting a job clones no `Arc` and the closure is one pointer.
///
/// ```
/// let latch = workpool_benches::Latch::leak(2);
/// let t = std::thread::spawn(move || latch.count_down());
/// latch.count_down();
/// latch.wait();
/// t.join().unwrap();
/// ```
#[derive(Debug)]
pub struct Latch {
    count: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

impl Latch {
    /// A latch that opens after `count` calls to [`count_down`](Latch::count_down).
    pub const fn new(count: usize) -> Self {
        Self {
            count: AtomicUsize::new(count),
            lock: Mutex::new(()),
            zero: Condvar::new(),
        }
    }

    /// A latch that lives for the rest of the process, so jobs can capture a plain
    /// `&'static` reference. The benchmark suite leaks one per measured subject: a few
    /// dozen small allocations for the whole run.
    pub fn leak(count: usize) -> &'static Latch {
        Box::leak(Box::new(Latch::new(count)))
    }

    /// Re-arms the latch for the next batch.
    ///
    /// Call it only when the previous batch is over (after [`wait`](Latch::wait)
    /// returned), never while jobs of an earlier batch can still count down.
    pub fn reset(&self, count: usize) {
        self.count.store(count, Ordering::Release);
    }

    /// The count still to go.
    pub fn remaining(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Counts one job done; the last one wakes the waiter.
    ///
    /// # Panics
    ///
    /// If called more often than the count (a bug in the benchmark).
    #[inline]
    pub fn count_down(&self) {
        let before = self.count.fetch_sub(1, Ordering::AcqRel);
        assert!(before != 0, "latch counted down below zero");
        if before == 1 {
            // Taking the lock orders this wake-up after a waiter's check-then-park, so
            // the notification cannot fall between the two.
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.zero.notify_all();
        }
    }

    /// Blocks until the count is zero: spins for a few microseconds, then parks.
    pub fn wait(&self) {
        let start = Instant::now();
        let mut spins = 0u32;
        while self.remaining() != 0 {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() >= SPIN {
                let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
                while self.remaining() != 0 {
                    guard = self
                        .zero
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_count_downs_from_many_threads() {
        let latch = Latch::leak(4_000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        latch.count_down();
                    }
                })
            })
            .collect();
        latch.wait();
        assert_eq!(latch.remaining(), 0);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn wakes_a_parked_waiter_and_can_be_reused() {
        let latch = Latch::leak(1);
        for _ in 0..3 {
            latch.reset(1);
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5)); // let the waiter park
                latch.count_down();
            });
            latch.wait();
            t.join().unwrap();
        }
    }

    #[test]
    #[should_panic(expected = "below zero")]
    fn counting_below_zero_is_a_bug() {
        Latch::new(0).count_down();
    }
}
