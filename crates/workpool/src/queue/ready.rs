//! The ready queue: one FIFO lane per priority level, highest first, with aging.
//!
//! Strict priority would let a steady stream of high-priority jobs starve a low one forever.
//! Every [`AGING_EVERY`]-th dispatch instead takes the oldest job in the whole queue,
//! whatever its priority. So a job that is the oldest queued job starts within
//! `AGING_EVERY` dispatches, and a job with `n` jobs queued ahead of it in admission order
//! starts within `AGING_EVERY × (n + 1)` dispatches.

use std::collections::{BTreeMap, VecDeque};

use super::Entry;
use crate::job::Priority;

/// Priority aging: one dispatch in this many takes the oldest queued job, whatever its
/// priority. A job that is the oldest in the queue starts within this many dispatches.
pub const AGING_EVERY: u64 = 8;

/// NORMAL jobs (every plain submission) have a lane of their own, so the common case pays no
/// map lookup; other levels live in a map, highest last.
#[derive(Default)]
pub(crate) struct ReadyQueue {
    normal: VecDeque<Entry>,
    lanes: BTreeMap<Priority, VecDeque<Entry>>,
    len: usize,
    dispatches: u64,
}

impl ReadyQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a job at the back of its lane.
    pub(crate) fn push(&mut self, entry: Entry) {
        if entry.priority == Priority::NORMAL {
            self.normal.push_back(entry);
        } else {
            self.lanes
                .entry(entry.priority)
                .or_default()
                .push_back(entry);
        }
        self.len += 1;
    }

    /// Chooses between the pool's fast lane (plain NORMAL jobs, all older than any job
    /// here) and these lanes, counting the dispatch for aging. `None` means "take from the
    /// fast lane"; `Some(entry)` is a job from here. Returns `Some(None)`-like `Err(())` when
    /// both are empty.
    pub(crate) fn choose(&mut self, fast_ready: bool) -> Result<Option<Entry>, ()> {
        if self.len == 0 {
            return if fast_ready { Ok(None) } else { Err(()) };
        }
        if !fast_ready {
            return self.pop().map(Some).ok_or(());
        }
        self.dispatches = self.dispatches.wrapping_add(1);
        if self.dispatches.is_multiple_of(AGING_EVERY) {
            // The fast lane's front is the oldest job of all.
            return Ok(None);
        }
        match self.lanes.keys().next_back() {
            Some(&top) if top > Priority::NORMAL => {
                // Undo this count: `pop` counts the dispatch itself.
                self.dispatches = self.dispatches.wrapping_sub(1);
                self.pop().map(Some).ok_or(())
            }
            _ => Ok(None),
        }
    }

    /// Takes the next job: the front of the highest lane, or on every `AGING_EVERY`-th
    /// dispatch the oldest job of all.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        if self.lanes.is_empty() {
            // Only NORMAL jobs: plain FIFO, no aging needed.
            self.len -= 1;
            return self.normal.pop_front();
        }
        self.dispatches = self.dispatches.wrapping_add(1);
        let normal_front = self.normal.front().map(|e| (e.seq, Priority::NORMAL));
        let priority = if self.dispatches.is_multiple_of(AGING_EVERY) {
            self.lanes
                .iter()
                .filter_map(|(p, lane)| lane.front().map(|e| (e.seq, *p)))
                .chain(normal_front)
                .min()
                .map(|(_, p)| p)
        } else {
            let top = self.lanes.keys().next_back().copied();
            match (top, normal_front) {
                (Some(p), Some(_)) if p < Priority::NORMAL => Some(Priority::NORMAL),
                (Some(p), _) => Some(p),
                (None, _) => Some(Priority::NORMAL),
            }
        }?;
        self.len -= 1;
        if priority == Priority::NORMAL {
            return self.normal.pop_front();
        }
        let lane = self.lanes.get_mut(&priority)?;
        let entry = lane.pop_front();
        if lane.is_empty() {
            self.lanes.remove(&priority);
        }
        entry
    }

    /// Removes every job that `keep` rejects, returning them.
    pub(crate) fn extract(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> Vec<Entry> {
        let mut out = Vec::new();
        for lane in self.lanes.values_mut().chain([&mut self.normal]) {
            let (kept, taken): (VecDeque<Entry>, VecDeque<Entry>) =
                lane.drain(..).partition(|e| keep(e));
            *lane = kept;
            out.extend(taken);
        }
        self.lanes.retain(|_, lane| !lane.is_empty());
        self.len -= out.len();
        out
    }

    /// Takes every queued job.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        self.len = 0;
        let mut all: Vec<Entry> = self.normal.drain(..).collect();
        all.extend(std::mem::take(&mut self.lanes).into_values().flatten());
        all
    }

    /// Queued jobs per priority, highest first.
    pub(crate) fn by_priority(&self) -> Vec<(Priority, usize)> {
        let normal = (!self.normal.is_empty()).then_some((Priority::NORMAL, self.normal.len()));
        let mut out: Vec<(Priority, usize)> = self
            .lanes
            .iter()
            .map(|(p, lane)| (*p, lane.len()))
            .chain(normal)
            .collect();
        out.sort_by_key(|&(p, _)| std::cmp::Reverse(p));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Cell, Once, Runnable};
    use std::sync::Arc;
    use std::time::Instant;

    fn entry(seq: u64, priority: Priority) -> Entry {
        let job: Arc<dyn Runnable> = Arc::new(Cell::<_, ()>::new(Once::new(|| ()), None));
        Entry {
            job,
            enqueued: Instant::now(),
            seq,
            priority,
            rate_key: None,
        }
    }

    #[test]
    fn drain_and_counts_include_the_normal_lane() {
        let mut q = ReadyQueue::default();
        q.push(entry(0, Priority::NORMAL));
        q.push(entry(1, Priority::LOW));
        q.push(entry(2, Priority::NORMAL));
        assert_eq!(q.by_priority(), [(Priority::NORMAL, 2), (Priority::LOW, 1)]);
        let mut seqs: Vec<u64> = q.drain().into_iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [0, 1, 2]);
        assert!(q.is_empty() && q.pop().is_none());
    }

    #[test]
    fn higher_priority_first_and_fifo_within_a_level() {
        let mut q = ReadyQueue::default();
        for (seq, p) in [
            (0, Priority::LOW),
            (1, Priority::HIGH),
            (2, Priority::NORMAL),
            (3, Priority::HIGH),
        ] {
            q.push(entry(seq, p));
        }
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|e| e.seq).collect();
        assert_eq!(order, [1, 3, 2, 0]);
    }

    #[test]
    fn the_oldest_job_starts_within_the_aging_bound_under_a_flood() {
        let mut q = ReadyQueue::default();
        q.push(entry(0, Priority::LOW));
        let mut seq = 1;
        let mut dispatches = 0;
        loop {
            // Keep the high lane full: a new high-priority job arrives before every dispatch.
            q.push(entry(seq, Priority::HIGH));
            seq += 1;
            dispatches += 1;
            if q.pop().unwrap().seq == 0 {
                break;
            }
        }
        assert!(
            dispatches <= AGING_EVERY,
            "the low job waited {dispatches} dispatches"
        );
    }
}
