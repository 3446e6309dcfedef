//! The fast lanes: where plain jobs (no rate key, delay, deadline or rerun) wait while the
//! pool needs no scheduler. Producers push and workers pop without the pool lock.
//!
//! While every job is NORMAL, they go through one lock-free queue. The first job at another
//! priority switches the pool, for good, to a second lock-free queue that carries each job's
//! priority and admission order. Producers never take a lock; workers take a lock of their
//! own (`sorted`), move what producers pushed into the same lanes the scheduler uses
//! (`ready.rs`), and take the next job there by the same rules: highest level first, FIFO
//! within a level, aging. Every job still in a queue was pushed after every job in the lanes,
//! so the lanes' order is the order of admission. Jobs still in the first queue are NORMAL
//! and older than any in the lanes, and [`ReadyQueue::choose`] weighs them that way.

use crossbeam_queue::SegQueue;
use std::sync::atomic::Ordering;

use super::ready::{Queued, ReadyQueue};
use super::{FastEntry, Work};
use crate::job::Priority;
use crate::sync::{AtomicBool, AtomicUsize, Mutex};

/// A job in the priority lanes.
pub(crate) struct LaneEntry {
    entry: FastEntry,
    seq: u64,
    priority: Priority,
}

impl Queued for LaneEntry {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn priority(&self) -> Priority {
        self.priority
    }
}

/// Plain jobs waiting for a worker; see the module docs.
pub(crate) struct FastLanes {
    /// NORMAL jobs queued before the first job at another priority.
    plain: SegQueue<FastEntry>,
    /// Set by the first job at another priority; from then on every job goes to `incoming`.
    prioritized: AtomicBool,
    /// Jobs at any priority, in the order producers pushed them.
    incoming: SegQueue<LaneEntry>,
    /// Jobs moved out of `incoming` by workers, in lanes by priority.
    sorted: Mutex<ReadyQueue<LaneEntry>>,
    /// Jobs in `sorted`, for looks without its lock; written only under it.
    in_sorted: AtomicUsize,
}

impl FastLanes {
    pub(crate) fn new() -> Self {
        Self {
            plain: SegQueue::new(),
            prioritized: AtomicBool::new(false),
            incoming: SegQueue::new(),
            sorted: Mutex::new(ReadyQueue::default()),
            in_sorted: AtomicUsize::new(0),
        }
    }

    /// Queues a job with admission order `seq`.
    pub(crate) fn push(&self, entry: FastEntry, seq: u64, priority: Priority) {
        if priority != Priority::NORMAL && !self.prioritized.load(Ordering::Acquire) {
            self.prioritized.store(true, Ordering::SeqCst);
        }
        if !self.prioritized.load(Ordering::Acquire) {
            self.plain.push(entry);
            return;
        }
        // Made visible before the producer's wake-up fence, so a worker's last look before it
        // parks sees the job.
        self.incoming.push(LaneEntry {
            entry,
            seq,
            priority,
        });
    }

    /// `true` if the lanes hold jobs. Only loads: producers never write what workers poll.
    fn lanes_busy(&self) -> bool {
        !self.incoming.is_empty() || self.in_sorted.load(Ordering::SeqCst) > 0
    }

    /// Moves every job pushed so far from `incoming` into `sorted`.
    fn gather(&self, sorted: &mut ReadyQueue<LaneEntry>) {
        while let Some(entry) = self.incoming.pop() {
            sorted.push(entry);
        }
    }

    /// Records how many jobs `sorted` holds, before its lock is released.
    fn count_sorted(&self, sorted: &ReadyQueue<LaneEntry>) {
        self.in_sorted.store(sorted.len(), Ordering::SeqCst);
    }

    /// Takes the next job: the lanes' choice, weighed against the older lock-free queue.
    pub(crate) fn pop(&self) -> Option<FastEntry> {
        if !self.lanes_busy() {
            return self.plain.pop();
        }
        let mut sorted = self.sorted.lock();
        self.gather(&mut sorted);
        loop {
            let plain_top = (!self.plain.is_empty()).then_some(Priority::NORMAL);
            match sorted.choose(plain_top) {
                Err(()) => {
                    self.count_sorted(&sorted);
                    return None;
                }
                Ok(Some(lane_entry)) => {
                    self.count_sorted(&sorted);
                    return Some(lane_entry.entry);
                }
                Ok(None) => {
                    if let Some(entry) = self.plain.pop() {
                        self.count_sorted(&sorted);
                        return Some(entry);
                    }
                    // Another worker emptied the first queue meanwhile: look again.
                    if sorted.is_empty() {
                        self.count_sorted(&sorted);
                        return None;
                    }
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.plain.is_empty() && !self.lanes_busy()
    }

    /// The highest priority queued here.
    pub(crate) fn top(&self) -> Option<Priority> {
        let plain = (!self.plain.is_empty()).then_some(Priority::NORMAL);
        let lanes = match self.lanes_busy() {
            false => None,
            true => {
                let mut sorted = self.sorted.lock();
                self.gather(&mut sorted);
                self.count_sorted(&sorted);
                sorted.top()
            }
        };
        plain.max(lanes)
    }

    /// Takes every queued job.
    pub(crate) fn drain(&self) -> Vec<Work> {
        let mut all = Vec::new();
        while let Some(entry) = self.plain.pop() {
            all.push(entry.work);
        }
        let taken = {
            let mut sorted = self.sorted.lock();
            self.gather(&mut sorted);
            let taken = sorted.drain();
            self.count_sorted(&sorted);
            taken
        };
        all.extend(taken.into_iter().map(|e| e.entry.work));
        all
    }

    /// Queued jobs per priority, highest first.
    pub(crate) fn by_priority(&self) -> Vec<(Priority, usize)> {
        let mut levels = {
            let mut sorted = self.sorted.lock();
            self.gather(&mut sorted);
            self.count_sorted(&sorted);
            sorted.by_priority()
        };
        let plain = self.plain.len();
        if plain > 0 {
            match levels.iter_mut().find(|(p, _)| *p == Priority::NORMAL) {
                Some((_, n)) => *n += plain,
                None => {
                    levels.push((Priority::NORMAL, plain));
                    levels.sort_by_key(|&(p, _)| std::cmp::Reverse(p));
                }
            }
        }
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u64) -> FastEntry {
        FastEntry {
            work: Work::Light(Box::new(|| ())),
            enqueued: n,
        }
    }

    fn order(lanes: &FastLanes) -> Vec<u64> {
        std::iter::from_fn(|| lanes.pop())
            .map(|e| e.enqueued)
            .collect()
    }

    #[test]
    fn normal_jobs_stay_fifo_and_older_ones_outrank_later_normal_ones() {
        let lanes = FastLanes::new();
        lanes.push(job(0), 0, Priority::NORMAL);
        lanes.push(job(1), 1, Priority::NORMAL);
        lanes.push(job(2), 2, Priority::LOW);
        lanes.push(job(3), 3, Priority::HIGH);
        lanes.push(job(4), 4, Priority::NORMAL);
        assert_eq!(
            lanes.by_priority(),
            [
                (Priority::HIGH, 1),
                (Priority::NORMAL, 3),
                (Priority::LOW, 1)
            ]
        );
        assert_eq!(lanes.top(), Some(Priority::HIGH));
        assert_eq!(order(&lanes), [3, 0, 1, 4, 2]);
        assert!(lanes.is_empty());
    }

    #[test]
    fn a_flood_of_high_jobs_lets_the_oldest_through_within_the_aging_bound() {
        let lanes = FastLanes::new();
        lanes.push(job(0), 0, Priority::LOW);
        let mut dispatches = 0;
        for seq in 1.. {
            lanes.push(job(seq), seq, Priority::HIGH);
            dispatches += 1;
            if lanes.pop().expect("a job is queued").enqueued == 0 {
                break;
            }
        }
        assert!(dispatches <= super::super::AGING_EVERY, "{dispatches}");
    }

    #[test]
    fn drain_takes_both_queues() {
        let lanes = FastLanes::new();
        lanes.push(job(0), 0, Priority::NORMAL);
        lanes.push(job(1), 1, Priority::LOW);
        assert_eq!(lanes.drain().len(), 2);
        assert!(lanes.is_empty() && lanes.top().is_none() && lanes.pop().is_none());
    }
}
