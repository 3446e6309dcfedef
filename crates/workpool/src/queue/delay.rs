//! The delay queue: jobs that may not run before a given instant (delayed, scheduled,
//! waiting for a retry, a rate-limit token, or their next periodic run).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::Entry;

struct Delayed {
    due: Instant,
    entry: Entry,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Delayed {}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Delayed {
    // Reversed, so the max-heap yields the earliest due first, and FIFO among equals.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.entry.seq).cmp(&(self.due, self.entry.seq))
    }
}

#[derive(Default)]
pub(crate) struct DelayQueue {
    heap: BinaryHeap<Delayed>,
}

impl DelayQueue {
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn push(&mut self, due: Instant, entry: Entry) {
        self.heap.push(Delayed { due, entry });
    }

    /// When the earliest job is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|d| d.due)
    }

    /// Takes the earliest job if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.due <= now {
            self.heap.pop().map(|d| d.entry)
        } else {
            None
        }
    }

    /// Removes every job that `keep` rejects, returning them.
    pub(crate) fn extract(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> Vec<Entry> {
        let (kept, taken): (Vec<Delayed>, Vec<Delayed>) = std::mem::take(&mut self.heap)
            .into_iter()
            .partition(|d| keep(&d.entry));
        self.heap = kept.into();
        taken.into_iter().map(|d| d.entry).collect()
    }

    /// Takes every job.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.heap)
            .into_iter()
            .map(|d| d.entry)
            .collect()
    }
}
