//! The ready queue: one FIFO lane per priority level, highest first, with aging. The
//! scheduler keeps one for jobs that need it, and the fast lanes one for prioritized plain
//! jobs (see `fast.rs`).
//!
//! Strict priority would let a steady stream of high-priority jobs starve a low one forever.
//! Every [`AGING_EVERY`]-th dispatch instead takes the oldest job in the whole queue,
//! whatever its priority. So a job that is the oldest queued job starts within
//! `AGING_EVERY` dispatches, and a job with `n` jobs queued ahead of it in admission order
//! starts within `AGING_EVERY × (n + 1)` dispatches.

use std::collections::VecDeque;

use super::Entry;
use crate::priority::Priority;

/// Priority aging: one dispatch in this many takes the oldest queued job, whatever its
/// priority. A job that is the oldest in the queue starts within this many dispatches.
pub const AGING_EVERY: u64 = 8;

/// What the ready queue needs to know about a queued job.
pub(crate) trait Queued {
    /// Admission order: lower is older.
    fn seq(&self) -> u64;
    fn priority(&self) -> Priority;
}

impl Queued for Entry {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn priority(&self) -> Priority {
        self.priority
    }
}

/// Lanes are indexed by level, and a bitmap says which hold jobs, so that finding the top
/// lane is a few bit scans and a lane that empties and refills costs no allocation.
pub(crate) struct ReadyQueue<E = Entry> {
    /// One FIFO per level, 256 of them, made on the first push.
    lanes: Vec<VecDeque<E>>,
    /// Bit `l` is set while lane `l` holds jobs.
    occupied: [u64; 4],
    len: usize,
    dispatches: u64,
}

impl<E> Default for ReadyQueue<E> {
    fn default() -> Self {
        Self {
            lanes: Vec::new(),
            occupied: [0; 4],
            len: 0,
            dispatches: 0,
        }
    }
}

impl<E: Queued> ReadyQueue<E> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a job at the back of its lane.
    pub(crate) fn push(&mut self, entry: E) {
        if self.lanes.is_empty() {
            self.lanes.resize_with(256, VecDeque::new);
        }
        let level = entry.priority().level();
        self.lanes[usize::from(level)].push_back(entry);
        self.occupied[usize::from(level / 64)] |= 1 << (level % 64);
        self.len += 1;
    }

    /// The highest priority with a job queued.
    pub(crate) fn top(&self) -> Option<Priority> {
        let word = (0..4u8)
            .rev()
            .find(|&w| self.occupied[usize::from(w)] != 0)?;
        let bits = self.occupied[usize::from(word)];
        Some(Priority::new(word * 64 + (63 - bits.leading_zeros() as u8)))
    }

    /// The levels holding jobs, highest first.
    fn levels(&self) -> impl Iterator<Item = Priority> + '_ {
        (0..4u8).rev().flat_map(move |word| {
            let mut bits = self.occupied[usize::from(word)];
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = 63 - bits.leading_zeros() as u8;
                bits &= !(1 << bit);
                Some(Priority::new(word * 64 + bit))
            })
        })
    }

    /// Chooses between a source of older jobs (the pool's fast lanes, whose best job has
    /// priority `older`) and these lanes, counting the dispatch for aging. `Ok(None)` means
    /// "take from the older source"; `Ok(Some(entry))` is a job from here; `Err(())` means
    /// both are empty. Ties go to the older source, and so does every aging turn, since its
    /// front is older than anything here.
    pub(crate) fn choose(&mut self, older: Option<Priority>) -> Result<Option<E>, ()> {
        let Some(older) = older else {
            return self.pop().map(Some).ok_or(());
        };
        if self.len == 0 {
            return Ok(None);
        }
        self.dispatches = self.dispatches.wrapping_add(1);
        if self.dispatches.is_multiple_of(AGING_EVERY) {
            return Ok(None);
        }
        match self.top() {
            Some(top) if top > older => {
                // Undo this count: `pop` counts the dispatch itself.
                self.dispatches = self.dispatches.wrapping_sub(1);
                self.pop().map(Some).ok_or(())
            }
            _ => Ok(None),
        }
    }

    /// Takes the next job: the front of the highest lane, or on every `AGING_EVERY`-th
    /// dispatch the oldest job of all.
    pub(crate) fn pop(&mut self) -> Option<E> {
        let top = self.top()?;
        let single = self.occupied.iter().map(|w| w.count_ones()).sum::<u32>() == 1;
        let level = if single {
            // One level only: its front is the oldest job, so aging has nothing to do.
            top
        } else {
            self.dispatches = self.dispatches.wrapping_add(1);
            if self.dispatches.is_multiple_of(AGING_EVERY) {
                self.levels()
                    .filter_map(|p| self.lanes[usize::from(p.level())].front())
                    .min_by_key(|e| e.seq())
                    .map(Queued::priority)?
            } else {
                top
            }
        };
        self.take(level)
    }

    /// Takes the front of one level's lane.
    fn take(&mut self, level: Priority) -> Option<E> {
        let l = level.level();
        let lane = &mut self.lanes[usize::from(l)];
        let entry = lane.pop_front()?;
        if lane.is_empty() {
            self.occupied[usize::from(l / 64)] &= !(1 << (l % 64));
        }
        self.len -= 1;
        Some(entry)
    }

    /// Removes every job that `keep` rejects, returning them.
    pub(crate) fn extract(&mut self, mut keep: impl FnMut(&E) -> bool) -> Vec<E> {
        let mut out = Vec::new();
        for level in self.levels().collect::<Vec<_>>() {
            let l = level.level();
            let lane = &mut self.lanes[usize::from(l)];
            let (kept, taken): (VecDeque<E>, VecDeque<E>) = lane.drain(..).partition(|e| keep(e));
            *lane = kept;
            out.extend(taken);
            if lane.is_empty() {
                self.occupied[usize::from(l / 64)] &= !(1 << (l % 64));
            }
        }
        self.len -= out.len();
        out
    }

    /// Takes every queued job.
    pub(crate) fn drain(&mut self) -> Vec<E> {
        let mut all = Vec::with_capacity(self.len);
        for level in self.levels().collect::<Vec<_>>() {
            all.extend(self.lanes[usize::from(level.level())].drain(..));
        }
        self.occupied = [0; 4];
        self.len = 0;
        all
    }

    /// Queued jobs per priority, highest first.
    pub(crate) fn by_priority(&self) -> Vec<(Priority, usize)> {
        self.levels()
            .map(|p| (p, self.lanes[usize::from(p.level())].len()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
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
