//! What the pool lock guards for jobs that take the scheduler's path: the ready lanes (by
//! priority, with aging), the delay queue (delayed jobs, retries waiting out their back-off,
//! periodic series between runs, keyed jobs waiting for a token) and the deadlines the timer
//! enforces. Plain jobs on a fixed-size pool skip it: see `queue/fast.rs`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Weak;
use std::time::Instant;

use crate::queue::{DelayQueue, ReadyQueue};
use crate::task::Runnable;

/// A job's deadline, in the timer's heap. Ordered by instant, then admission order.
struct Deadline {
    at: Instant,
    seq: u64,
    job: Weak<dyn Runnable>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The scheduler's queues, guarded by the pool lock.
#[derive(Default)]
pub(crate) struct Scheduler {
    /// Jobs ready to run, in lanes by priority.
    pub(crate) ready: ReadyQueue,
    /// Jobs not due yet.
    pub(crate) delayed: DelayQueue,
    /// Deadlines of accepted jobs, earliest first. Holds only weak references: a finished
    /// job's memory goes with its last handle.
    deadlines: BinaryHeap<Reverse<Deadline>>,
    /// The heap's length after it was last cleaned (see [`add_deadline`](Self::add_deadline)).
    deadlines_floor: usize,
}

impl Scheduler {
    /// Jobs waiting, ready or delayed: what the queue's bound counts on this path.
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.delayed.len()
    }

    /// Files the deadline `at` of job `seq`.
    ///
    /// Drops the deadlines of jobs nobody holds any more, once the heap has doubled since it
    /// was last cleaned: without this, every finished job with a timeout kept its entry (and
    /// its cell's memory) until the deadline, however long. Amortized O(1) per push.
    pub(crate) fn add_deadline(&mut self, at: Instant, seq: u64, job: Weak<dyn Runnable>) {
        if self.deadlines.len() >= self.deadlines_floor.saturating_mul(2).max(64) {
            // A strong count of zero means the job ended and its handle is gone; a job whose
            // `Task` is still held keeps its entry, and the holder keeps its memory anyway.
            // Nothing is upgraded here, so no job can be let go of under the lock.
            self.deadlines.retain(|d| d.0.job.strong_count() > 0);
            self.deadlines_floor = self.deadlines.len();
        }
        self.deadlines.push(Reverse(Deadline { at, seq, job }));
    }

    /// Takes the jobs whose deadline is at or before `now` and that still exist.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<std::sync::Arc<dyn Runnable>> {
        let mut expired = Vec::new();
        while self.deadlines.peek().is_some_and(|d| d.0.at <= now) {
            if let Some(d) = self.deadlines.pop() {
                expired.extend(d.0.job.upgrade());
            }
        }
        expired
    }

    /// When the timer must next look: the earliest due time or deadline.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let deadline = self.deadlines.peek().map(|d| d.0.at);
        match (self.delayed.next_due(), deadline) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// Deadlines held (for the tests that bound them).
    #[cfg(test)]
    pub(crate) fn deadlines_held(&self) -> usize {
        self.deadlines.len()
    }
}
