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
//!
//! The lanes keep the queue's bound themselves. The first queue is a ring with one place per
//! job the queue may hold (up to [`RING_MAX`]), so a full ring refuses a push with no counter
//! that producers and workers would both write. The other queues count their jobs.
//!
//! Two kinds of look ask whether a job waits. [`FastLanes::has_ready`] is for a worker
//! watching the lanes: it reads only what a pop reads, so watching costs the producer
//! nothing, but it can miss a job that a push is still writing. [`FastLanes::is_empty`] is
//! exact and reads the queues' tails, which every push writes; a worker makes it before it
//! parks.

use concurrent_queue::ConcurrentQueue;
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::raw::ring::Ring;
use super::ready::{Queued, ReadyQueue};
use super::{FastEntry, Work};
use crate::priority::Priority;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, OnceLock};

/// The largest queue capacity for which the first queue is a ring allocated when the pool is
/// built (about 48 bytes a place, so at most 3 MiB). A larger queue grows and shrinks with
/// its contents instead, and counts its jobs to keep within its bound.
pub(crate) const RING_MAX: usize = 1 << 16;

/// The job a push gave back: the lanes hold as many jobs as the queue's capacity.
pub(crate) struct Full(pub(crate) FastEntry);

/// One of the lanes' lock-free queues: a [`Ring`] of the queue's capacity, or above
/// [`RING_MAX`] an unbounded queue whose jobs the lanes count.
enum Lane<T> {
    Ring(Ring<T>),
    Unbounded(ConcurrentQueue<T>),
}

impl<T> Lane<T> {
    fn new(capacity: usize) -> Self {
        match capacity <= RING_MAX {
            true => Lane::Ring(Ring::new(capacity)),
            false => Lane::Unbounded(ConcurrentQueue::unbounded()),
        }
    }

    fn is_ring(&self) -> bool {
        matches!(self, Lane::Ring(_))
    }

    /// Gives the job back if a ring is full (the unbounded queue is never closed).
    fn push(&self, job: T) -> Result<(), T> {
        match self {
            Lane::Ring(ring) => ring.push(job),
            Lane::Unbounded(queue) => queue.push(job).map_err(|e| e.into_inner()),
        }
    }

    /// `None` if the queue is empty, or (a ring) if the job at the head is still being
    /// written.
    fn pop(&self) -> Option<T> {
        match self {
            Lane::Ring(ring) => ring.pop(),
            Lane::Unbounded(queue) => queue.pop().ok(),
        }
    }

    /// A hint that a job is ready: see [`Ring::has_ready`].
    fn has_ready(&self) -> bool {
        match self {
            Lane::Ring(ring) => ring.has_ready(),
            Lane::Unbounded(queue) => !queue.is_empty(),
        }
    }

    /// Exact, reading the tail with a sequentially consistent load.
    fn is_empty(&self) -> bool {
        match self {
            Lane::Ring(ring) => ring.is_empty(),
            Lane::Unbounded(queue) => queue.is_empty(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Lane::Ring(ring) => ring.len(),
            Lane::Unbounded(queue) => queue.len(),
        }
    }
}

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
    /// NORMAL jobs queued before the first job at another priority. A ring of `capacity`
    /// places bounds itself; an unbounded queue's jobs are counted in `counted`.
    plain: Lane<FastEntry>,
    capacity: usize,
    /// Set by the first job at another priority; from then on every job goes to `incoming`.
    prioritized: AtomicBool,
    /// Jobs at any priority, in the order producers pushed them. Made by the first job at
    /// another priority: a ring of `capacity` places like `plain` (it never holds more than
    /// `counted` jobs), or unbounded above [`RING_MAX`].
    incoming: OnceLock<Lane<LaneEntry>>,
    /// Jobs moved out of `incoming` by workers, in lanes by priority.
    sorted: Mutex<ReadyQueue<LaneEntry>>,
    /// Jobs in `sorted`, for looks without its lock; written only under it.
    in_sorted: AtomicUsize,
    /// Places taken in the queues the ring does not bound (`incoming` and `sorted`, and
    /// `plain` when it is not a ring): their jobs plus producers about to push one.
    counted: CachePadded<AtomicUsize>,
}

impl FastLanes {
    /// Lanes for a queue of `capacity` jobs.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            plain: Lane::new(capacity),
            capacity,
            prioritized: AtomicBool::new(false),
            incoming: OnceLock::new(),
            sorted: Mutex::new(ReadyQueue::default()),
            in_sorted: AtomicUsize::new(0),
            counted: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Queues a job, if there is room. `seq` gives its admission order; it is called only
    /// if the priority lanes need it, so a job in the first queue draws no id.
    ///
    /// The push is a sequentially consistent read-modify-write of the queue's tail (the
    /// [`Ring`] makes it one, and so does `concurrent-queue`'s unbounded queue), so the job
    /// is visible to every later sequentially consistent look, [`is_empty`](Self::is_empty)
    /// and [`len`](Self::len) among them (fast/PROTOCOL.md, P1).
    pub(crate) fn push(
        &self,
        entry: FastEntry,
        seq: impl FnOnce() -> u64,
        priority: Priority,
    ) -> Result<(), Full> {
        // Sequentially consistent, like the look in `lanes_busy`: a push to `incoming` comes
        // after a look that saw the flag, and the flag is set only once `incoming` is made.
        if priority != Priority::NORMAL && !self.prioritized.load(Ordering::SeqCst) {
            self.incoming();
            self.prioritized.store(true, Ordering::SeqCst);
        }
        if !self.prioritized.load(Ordering::SeqCst) {
            if self.plain.is_ring() {
                return self.plain.push(entry).map_err(Full);
            }
            if !self.reserve(0) {
                return Err(Full(entry));
            }
            return self.plain.push(entry).map_err(|e| {
                self.counted.fetch_sub(1, Ordering::SeqCst);
                Full(e)
            });
        }
        // Jobs still in a ring count against the bound too; that queue only shrinks now.
        let older = match self.plain.is_ring() {
            true => self.plain.len(),
            false => 0,
        };
        if !self.reserve(older) {
            return Err(Full(entry));
        }
        let lane_entry = LaneEntry {
            entry,
            seq: seq(),
            priority,
        };
        self.incoming().push(lane_entry).map_err(|e| {
            self.counted.fetch_sub(1, Ordering::SeqCst);
            Full(e.entry)
        })
    }

    /// Takes a place in the counted queues if fewer than `capacity` jobs, `older` others
    /// among them, are queued.
    fn reserve(&self, older: usize) -> bool {
        let taken = self.counted.fetch_add(1, Ordering::SeqCst);
        if taken + older >= self.capacity {
            self.counted.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Jobs queued.
    pub(crate) fn len(&self) -> usize {
        let ring = match self.plain.is_ring() {
            true => self.plain.len(),
            false => 0,
        };
        self.counted.load(Ordering::SeqCst) + ring
    }

    /// `true` if the priority lanes hold jobs: exact, or with `hint` the look of
    /// [`has_ready`](Self::has_ready). Only loads: producers never write what workers poll.
    fn lanes_busy(&self, hint: bool) -> bool {
        let incoming = match self.incoming.get() {
            Some(incoming) => incoming,
            // A worker about to park must see a job pushed to `incoming` even if it has not
            // yet seen `incoming` made: the flag is a sequentially consistent look that does
            // see the push's switch, and `incoming()` then reads the made queue.
            None if self.prioritized.load(Ordering::SeqCst) => self.incoming(),
            None => return false,
        };
        let waiting = match hint {
            true => incoming.has_ready(),
            false => !incoming.is_empty(),
        };
        waiting || self.in_sorted.load(Ordering::SeqCst) > 0
    }

    /// The queue prioritized jobs are pushed to, made on first use.
    fn incoming(&self) -> &Lane<LaneEntry> {
        self.incoming.get_or_init(|| Lane::new(self.capacity))
    }

    /// Moves the jobs pushed before this call from `incoming` into `sorted`. Only those: a
    /// worker that kept taking what a busy producer pushes meanwhile would hold the lanes'
    /// lock for as long as the producer kept up, and wait on each job's write.
    fn gather(&self, sorted: &mut ReadyQueue<LaneEntry>) {
        let Some(incoming) = self.incoming.get() else {
            return;
        };
        for _ in 0..incoming.len() {
            let Some(entry) = incoming.pop() else {
                break;
            };
            sorted.push(entry);
        }
    }

    /// Records how many jobs `sorted` holds, before its lock is released.
    fn count_sorted(&self, sorted: &ReadyQueue<LaneEntry>) {
        self.in_sorted.store(sorted.len(), Ordering::SeqCst);
    }

    /// Takes a job from the first queue.
    fn pop_plain(&self) -> Option<FastEntry> {
        let entry = self.plain.pop()?;
        if !self.plain.is_ring() {
            self.counted.fetch_sub(1, Ordering::SeqCst);
        }
        Some(entry)
    }

    /// Takes the next job: the lanes' choice, weighed against the older lock-free queue.
    pub(crate) fn pop(&self) -> Option<FastEntry> {
        if !self.lanes_busy(true) {
            return self.pop_plain();
        }
        let mut sorted = self.sorted.lock();
        self.gather(&mut sorted);
        let taken = self.take_sorted(&mut sorted);
        self.count_sorted(&sorted);
        drop(sorted);
        let (entry, from_lanes) = taken?;
        if from_lanes {
            self.counted.fetch_sub(1, Ordering::SeqCst);
        }
        Some(entry)
    }

    /// Takes up to `max` jobs into `out`, in the order [`pop`](Self::pop) would take them
    /// one at a time, under one lock of the lanes. Fewer if fewer are queued.
    pub(crate) fn pop_up_to(&self, max: usize, out: &mut VecDeque<FastEntry>) {
        if max <= 1 || !self.lanes_busy(true) {
            out.extend(self.pop());
            return;
        }
        let mut sorted = self.sorted.lock();
        self.gather(&mut sorted);
        let mut from_lanes = 0;
        while out.len() < max {
            let Some((entry, lanes)) = self.take_sorted(&mut sorted) else {
                break;
            };
            from_lanes += usize::from(lanes);
            out.push_back(entry);
        }
        self.count_sorted(&sorted);
        drop(sorted);
        if from_lanes > 0 {
            self.counted.fetch_sub(from_lanes, Ordering::SeqCst);
        }
    }

    /// With the lanes locked: the next job, and whether it came from the lanes (`true`) or
    /// the first queue. The caller gives back the lanes' places it took.
    fn take_sorted(&self, sorted: &mut ReadyQueue<LaneEntry>) -> Option<(FastEntry, bool)> {
        let plain_top = self.plain.has_ready().then_some(Priority::NORMAL);
        match sorted.choose(plain_top) {
            Err(()) => None,
            Ok(Some(lane_entry)) => Some((lane_entry.entry, true)),
            Ok(None) => match self.pop_plain() {
                Some(entry) => Some((entry, false)),
                // Another worker emptied the first queue meanwhile: the lanes' turn.
                None => sorted.choose(None).ok().flatten().map(|l| (l.entry, true)),
            },
        }
    }

    /// `true` once a job at a priority other than NORMAL has been queued.
    pub(crate) fn is_prioritized(&self) -> bool {
        self.prioritized.load(Ordering::Relaxed)
    }

    /// `true` if no job is queued, counting any a push is still writing: the look a worker
    /// makes before it parks. It reads the queues' tails, which every push writes.
    pub(crate) fn is_empty(&self) -> bool {
        self.plain.is_empty() && !self.lanes_busy(false)
    }

    /// A hint that a job is ready to take, for a worker watching the lanes: it reads only
    /// what a pop reads, never a tail, so it costs producers nothing. It can miss a job that
    /// is being pushed, or was just queued; only [`is_empty`](Self::is_empty) is exact.
    pub(crate) fn has_ready(&self) -> bool {
        self.plain.has_ready() || self.lanes_busy(true)
    }

    /// The highest priority ready here.
    pub(crate) fn top(&self) -> Option<Priority> {
        let plain = self.plain.has_ready().then_some(Priority::NORMAL);
        let lanes = match self.lanes_busy(true) {
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
        let mut all: Vec<Work> = std::iter::from_fn(|| self.pop_plain())
            .map(|entry| entry.work)
            .collect();
        let taken = {
            let mut sorted = self.sorted.lock();
            // Every job, including any a producer is still pushing.
            while self.incoming.get().is_some_and(|q| !q.is_empty()) {
                self.gather(&mut sorted);
            }
            let taken = sorted.drain();
            self.count_sorted(&sorted);
            taken
        };
        self.counted.fetch_sub(taken.len(), Ordering::SeqCst);
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
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use crate::queue::LightJob;
    const LOW: Priority = Priority::LOW;
    const NORMAL: Priority = Priority::NORMAL;
    const HIGH: Priority = Priority::HIGH;

    fn job(n: u64) -> FastEntry {
        FastEntry {
            work: Work::Light(LightJob::new(|| ())),
            enqueued: n,
        }
    }

    fn push(lanes: &FastLanes, seq: u64, priority: Priority) {
        assert!(
            lanes.push(job(seq), || seq, priority).is_ok(),
            "job {seq} refused"
        );
    }

    fn refusal(lanes: &FastLanes, seq: u64, priority: Priority) -> &'static str {
        match lanes.push(job(seq), || seq, priority) {
            Ok(()) => "taken",
            Err(Full(e)) => {
                assert_eq!(e.enqueued, seq, "the refused job comes back");
                "full"
            }
        }
    }

    fn order(lanes: &FastLanes) -> Vec<u64> {
        std::iter::from_fn(|| lanes.pop())
            .map(|e| e.enqueued)
            .collect()
    }

    #[test]
    fn normal_jobs_stay_fifo_and_older_ones_outrank_later_normal_ones() {
        let lanes = FastLanes::new(16);
        for (seq, level) in [(0, NORMAL), (1, NORMAL), (2, LOW), (3, HIGH), (4, NORMAL)] {
            push(&lanes, seq, level);
        }
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
        let lanes = FastLanes::new(16);
        push(&lanes, 0, LOW);
        let mut dispatches = 0;
        for seq in 1.. {
            push(&lanes, seq, HIGH);
            dispatches += 1;
            if lanes.pop().expect("a job is queued").enqueued == 0 {
                break;
            }
        }
        assert!(dispatches <= super::super::AGING_EVERY, "{dispatches}");
    }

    #[test]
    fn drain_takes_both_queues() {
        let lanes = FastLanes::new(16);
        push(&lanes, 0, NORMAL);
        push(&lanes, 1, LOW);
        assert_eq!(lanes.drain().len(), 2);
        assert!(lanes.is_empty() && lanes.top().is_none() && lanes.pop().is_none());
    }

    /// Both kinds of first queue, and the counted lanes after the switch, hold exactly
    /// `capacity` jobs, free a place per job taken, and count every job in `len`.
    #[test]
    fn the_bound_holds_for_the_ring_the_unbounded_queue_and_the_priority_lanes() {
        let cases = [
            (4, NORMAL),
            (RING_MAX + 1, NORMAL),
            (4, HIGH),
            (RING_MAX + 1, HIGH),
        ];
        for (capacity, level) in cases {
            let lanes = FastLanes::new(capacity);
            let n = u64::try_from(capacity).unwrap();
            for seq in 0..n {
                push(&lanes, seq, level);
            }
            assert_eq!(lanes.len(), capacity);
            assert_eq!(refusal(&lanes, n, level), "full", "{capacity} {level:?}");
            assert_eq!(lanes.pop().map(|e| e.enqueued), Some(0));
            assert_eq!(lanes.len(), capacity - 1);
            push(&lanes, n, level);
            assert_eq!(refusal(&lanes, n + 1, level), "full");
            assert_eq!(order(&lanes), (1..=n).collect::<Vec<_>>());
            assert_eq!(lanes.len(), 0);
        }
    }

    #[test]
    fn jobs_left_in_the_ring_count_against_the_bound_after_the_switch() {
        let lanes = FastLanes::new(4);
        push(&lanes, 0, NORMAL);
        push(&lanes, 1, NORMAL);
        push(&lanes, 2, HIGH);
        push(&lanes, 3, LOW);
        assert_eq!(lanes.len(), 4);
        assert_eq!(refusal(&lanes, 4, HIGH), "full");
        assert_eq!(refusal(&lanes, 4, NORMAL), "full");
        assert_eq!(order(&lanes), [2, 0, 1, 3]);
    }

    #[test]
    fn a_queued_job_takes_40_bytes_and_56_in_the_priority_ring() {
        // A 16-byte inline closure and its vtable, or a handle's cell, and the queue time.
        assert_eq!(std::mem::size_of::<FastEntry>(), 40);
        // The prioritized ring's place: this and an 8-byte stamp, one cache line.
        assert_eq!(std::mem::size_of::<LaneEntry>(), 56);
    }
}
