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

    /// Takes up to `max` jobs, in order, stopping at one still being written; a ring takes
    /// them with one update of its head. How many it took.
    fn pop_up_to(&self, max: usize, mut out: impl FnMut(T)) -> usize {
        match self {
            Lane::Ring(ring) => ring.pop_up_to(max, out),
            Lane::Unbounded(queue) => {
                let mut taken = 0;
                while taken < max {
                    let Ok(job) = queue.pop() else {
                        break;
                    };
                    out(job);
                    taken += 1;
                }
                taken
            }
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

/// A job as a producer queues it after the switch to priorities.
pub(crate) struct Pushed {
    entry: FastEntry,
    priority: Priority,
}

/// A job in the priority lanes, numbered in the order it was queued.
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
    /// places bounds itself; an unbounded queue's jobs are counted in `places`.
    plain: Lane<FastEntry>,
    capacity: usize,
    /// Set by the first job at another priority; from then on every job goes to `incoming`.
    prioritized: AtomicBool,
    /// Jobs at any priority, in the order producers pushed them. Made by the first job at
    /// another priority: a ring of `capacity` places like `plain` (it never holds more than
    /// `capacity` jobs), or unbounded above [`RING_MAX`].
    incoming: OnceLock<Lane<Pushed>>,
    /// Jobs moved out of `incoming` by workers, in lanes by priority. Workers write it on
    /// every take, so it has a cache line of its own, away from what producers read.
    sorted: CachePadded<Sorted>,
    /// The places of the queues the ring does not bound (`incoming` and `sorted`, and
    /// `plain` when it is not a ring).
    places: Places,
}

/// The priority lanes and how many jobs they hold.
struct Sorted {
    lanes: Mutex<Gathered>,
    /// Jobs in `lanes`, for looks without its lock; written only under it.
    len: AtomicUsize,
}

/// The priority lanes, and the number the next job moved into them gets. Jobs leave
/// `incoming` in the order they were queued, so numbering them as they arrive here gives
/// their admission order without a counter that every push would write.
#[derive(Default)]
struct Gathered {
    lanes: ReadyQueue<LaneEntry>,
    next_seq: u64,
}

/// The bound of the counted queues, kept by two counters on cache lines of their own:
/// producers write `producers.taken` and workers `released`, so that a job's push and its
/// take do not both write one line, which would move it between cores twice a job. The
/// queues hold `taken - released` jobs, counting producers about to push one.
struct Places {
    producers: CachePadded<Reserved>,
    /// Places given back by workers, one per job taken. It only grows.
    released: CachePadded<AtomicUsize>,
}

struct Reserved {
    /// Places taken by producers, less those whose push failed.
    taken: AtomicUsize,
    /// A value `released` had: a producer checks the bound against it and reads `released`
    /// itself only when that check fails, about once per `capacity` jobs.
    seen: AtomicUsize,
}

impl Places {
    fn new() -> Self {
        Self {
            producers: CachePadded::new(Reserved {
                taken: AtomicUsize::new(0),
                seen: AtomicUsize::new(0),
            }),
            released: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Takes a place if fewer than `capacity` jobs, `older` others among them, are queued.
    ///
    /// Every place taken but not yet released counts, those of producers still checking
    /// included, so each admission is checked against every job admitted before it that is
    /// still queued. The first check reads `seen`, before the place is taken: `released` was
    /// at least `seen` then and only grows, so the check can only see the queue fuller than
    /// it was when the place was taken. Only when it fails does the producer read `released`
    /// (then `taken`, so that whatever it reads, the count is at least what was queued when
    /// it read `taken`).
    fn reserve(&self, capacity: usize, older: usize) -> bool {
        let seen = self.producers.seen.load(Ordering::SeqCst);
        let before = self.producers.taken.fetch_add(1, Ordering::SeqCst);
        if (before + 1).saturating_sub(seen) + older <= capacity {
            return true;
        }
        let released = self.released.load(Ordering::SeqCst);
        self.producers.seen.fetch_max(released, Ordering::SeqCst);
        let taken = self.producers.taken.load(Ordering::SeqCst);
        if taken.saturating_sub(released) + older <= capacity {
            return true;
        }
        self.unreserve();
        false
    }

    /// Gives back a place whose push failed.
    fn unreserve(&self) {
        self.producers.taken.fetch_sub(1, Ordering::SeqCst);
    }

    /// Gives back the places of `n` jobs taken from the queues.
    fn release(&self, n: usize) {
        self.released.fetch_add(n, Ordering::SeqCst);
    }

    /// Places taken: jobs queued, and producers about to push one.
    fn len(&self) -> usize {
        // `released` first: every place it counts was taken before, so the difference is
        // never below zero.
        let released = self.released.load(Ordering::SeqCst);
        self.producers
            .taken
            .load(Ordering::SeqCst)
            .saturating_sub(released)
    }
}

impl FastLanes {
    /// Lanes for a queue of `capacity` jobs.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            plain: Lane::new(capacity),
            capacity,
            prioritized: AtomicBool::new(false),
            incoming: OnceLock::new(),
            sorted: CachePadded::new(Sorted {
                lanes: Mutex::new(Gathered::default()),
                len: AtomicUsize::new(0),
            }),
            places: Places::new(),
        }
    }

    /// Queues a job, if there is room.
    ///
    /// The push is a sequentially consistent read-modify-write of the queue's tail (the
    /// [`Ring`] makes it one, and so does `concurrent-queue`'s unbounded queue), so the job
    /// is visible to every later sequentially consistent look, [`is_empty`](Self::is_empty)
    /// and [`len`](Self::len) among them (fast/PROTOCOL.md, P1).
    pub(crate) fn push(&self, entry: FastEntry, priority: Priority) -> Result<(), Full> {
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
            if !self.places.reserve(self.capacity, 0) {
                return Err(Full(entry));
            }
            return self.plain.push(entry).map_err(|e| {
                self.places.unreserve();
                Full(e)
            });
        }
        // Jobs still in a ring count against the bound too; that queue only shrinks now.
        let older = match self.plain.is_ring() {
            true => self.plain.len(),
            false => 0,
        };
        if !self.places.reserve(self.capacity, older) {
            return Err(Full(entry));
        }
        self.incoming()
            .push(Pushed { entry, priority })
            .map_err(|e| {
                self.places.unreserve();
                Full(e.entry)
            })
    }

    /// Jobs queued.
    pub(crate) fn len(&self) -> usize {
        let ring = match self.plain.is_ring() {
            true => self.plain.len(),
            false => 0,
        };
        self.places.len() + ring
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
        waiting || self.sorted.len.load(Ordering::SeqCst) > 0
    }

    /// The queue prioritized jobs are pushed to, made on first use.
    fn incoming(&self) -> &Lane<Pushed> {
        self.incoming.get_or_init(|| Lane::new(self.capacity))
    }

    /// Moves the jobs pushed before this call from `incoming` into `sorted`. Only those: a
    /// worker that kept taking what a busy producer pushes meanwhile would hold the lanes'
    /// lock for as long as the producer kept up, and wait on each job's write.
    fn gather(&self, sorted: &mut Gathered) {
        let Some(incoming) = self.incoming.get() else {
            return;
        };
        incoming.pop_up_to(incoming.len(), |Pushed { entry, priority }| {
            let seq = sorted.next_seq;
            sorted.next_seq += 1;
            sorted.lanes.push(LaneEntry {
                entry,
                seq,
                priority,
            });
        });
    }

    /// Records how many jobs `sorted` holds, before its lock is released.
    fn count_sorted(&self, sorted: &Gathered) {
        self.sorted.len.store(sorted.lanes.len(), Ordering::SeqCst);
    }

    /// Takes a job from the first queue.
    fn pop_plain(&self) -> Option<FastEntry> {
        let entry = self.plain.pop()?;
        if !self.plain.is_ring() {
            self.places.release(1);
        }
        Some(entry)
    }

    /// Takes up to `max` jobs from the first queue: from a ring with one update of its head.
    fn pop_plain_up_to(&self, max: usize, out: &mut VecDeque<FastEntry>) {
        let taken = self.plain.pop_up_to(max, |entry| out.push_back(entry));
        if !self.plain.is_ring() && taken > 0 {
            self.places.release(taken);
        }
    }

    /// Takes the next job: the lanes' choice, weighed against the older lock-free queue.
    pub(crate) fn pop(&self) -> Option<FastEntry> {
        if !self.lanes_busy(true) {
            return self.pop_plain();
        }
        let mut sorted = self.sorted.lanes.lock();
        self.gather(&mut sorted);
        let taken = self.take_sorted(&mut sorted.lanes);
        self.count_sorted(&sorted);
        drop(sorted);
        let (entry, from_lanes) = taken?;
        if from_lanes {
            self.places.release(1);
        }
        Some(entry)
    }

    /// Takes up to `max` jobs into `out`, in the order [`pop`](Self::pop) would take them
    /// one at a time, under one lock of the lanes (or, while they hold none, with one update
    /// of the first queue's head). Fewer if fewer are queued.
    pub(crate) fn pop_up_to(&self, max: usize, out: &mut VecDeque<FastEntry>) {
        if max <= 1 {
            out.extend(self.pop());
            return;
        }
        if !self.lanes_busy(true) {
            self.pop_plain_up_to(max, out);
            return;
        }
        let mut sorted = self.sorted.lanes.lock();
        self.gather(&mut sorted);
        let mut from_lanes = 0;
        while out.len() < max {
            let Some((entry, lanes)) = self.take_sorted(&mut sorted.lanes) else {
                break;
            };
            from_lanes += usize::from(lanes);
            out.push_back(entry);
        }
        self.count_sorted(&sorted);
        drop(sorted);
        if from_lanes > 0 {
            self.places.release(from_lanes);
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
                let mut sorted = self.sorted.lanes.lock();
                self.gather(&mut sorted);
                self.count_sorted(&sorted);
                sorted.lanes.top()
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
            let mut sorted = self.sorted.lanes.lock();
            // Every job, including any a producer is still pushing.
            while self.incoming.get().is_some_and(|q| !q.is_empty()) {
                self.gather(&mut sorted);
            }
            let taken = sorted.lanes.drain();
            self.count_sorted(&sorted);
            taken
        };
        self.places.release(taken.len());
        all.extend(taken.into_iter().map(|e| e.entry.work));
        all
    }

    /// Queued jobs per priority, highest first.
    pub(crate) fn by_priority(&self) -> Vec<(Priority, usize)> {
        let mut levels = {
            let mut sorted = self.sorted.lanes.lock();
            self.gather(&mut sorted);
            self.count_sorted(&sorted);
            sorted.lanes.by_priority()
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
        assert!(lanes.push(job(seq), priority).is_ok(), "job {seq} refused");
    }

    fn refusal(lanes: &FastLanes, seq: u64, priority: Priority) -> &'static str {
        match lanes.push(job(seq), priority) {
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

    /// A take of several jobs gives back as many places, in every kind of queue, and takes
    /// them in the order single takes would.
    #[test]
    fn a_take_of_several_frees_as_many_places() {
        for (capacity, level) in [(16, NORMAL), (RING_MAX + 1, NORMAL), (16, LOW)] {
            let lanes = FastLanes::new(capacity);
            let n = u64::try_from(capacity).unwrap();
            for seq in 0..n {
                push(&lanes, seq, level);
            }
            assert_eq!(refusal(&lanes, n, level), "full");
            let mut out = VecDeque::new();
            lanes.pop_up_to(8, &mut out);
            let taken: Vec<u64> = out.iter().map(|e| e.enqueued).collect();
            assert_eq!(taken, (0..8).collect::<Vec<_>>(), "{capacity} {level:?}");
            assert_eq!(lanes.len(), capacity - 8);
            for seq in n..n + 8 {
                push(&lanes, seq, level);
            }
            assert_eq!(
                refusal(&lanes, n + 8, level),
                "full",
                "{capacity} {level:?}"
            );
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
    fn a_queued_job_takes_40_bytes_and_48_in_the_priority_ring() {
        // A 16-byte inline closure and its vtable, or a handle's cell, and the queue time.
        assert_eq!(std::mem::size_of::<FastEntry>(), 40);
        // The prioritized ring's job: the same and its level, with no number yet.
        assert_eq!(std::mem::size_of::<Pushed>(), 48);
    }
}

/// A shuttle model of the bound of the counted queues: producers race to fill the
/// priority lanes while a worker takes a job. Producers check the bound against an old
/// count of the places workers gave back and read the new one only when that check fails,
/// so a producer that reads it late must still not admit a job beyond the bound. When the
/// producers are done, at most `capacity` jobs are queued, `len` counts them, and each job
/// pushed is taken once.
#[cfg(all(test, workpool_shuttle))]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod shuttle_model {
    use super::*;
    use crate::queue::LightJob;
    use std::sync::Arc;

    fn job(n: u64) -> FastEntry {
        FastEntry {
            work: Work::Light(LightJob::new(|| ())),
            enqueued: n,
        }
    }

    #[test]
    fn producers_racing_a_worker_never_queue_more_than_the_bound() {
        const CAPACITY: usize = 2;
        shuttle::check_random(
            || {
                let lanes = Arc::new(FastLanes::new(CAPACITY));
                // The switch to priorities, and one job the worker can take.
                assert!(lanes.push(job(0), Priority::HIGH).is_ok());
                let producers: Vec<_> = (1..=2u64)
                    .map(|p| {
                        let lanes = Arc::clone(&lanes);
                        shuttle::thread::spawn(move || {
                            let levels = [Priority::LOW, Priority::NORMAL, Priority::HIGH];
                            let mut pushed = Vec::new();
                            for (i, level) in levels.into_iter().enumerate() {
                                let n = p * 10 + i as u64;
                                if lanes.push(job(n), level).is_ok() {
                                    pushed.push(n);
                                }
                            }
                            pushed
                        })
                    })
                    .collect();
                let worker = {
                    let lanes = Arc::clone(&lanes);
                    shuttle::thread::spawn(move || loop {
                        if let Some(entry) = lanes.pop() {
                            return entry.enqueued;
                        }
                        shuttle::thread::yield_now();
                    })
                };
                let mut pushed = vec![0];
                for producer in producers {
                    pushed.extend(producer.join().unwrap());
                }
                let mut taken = vec![worker.join().unwrap()];
                assert!(
                    pushed.len() - 1 <= CAPACITY,
                    "{} jobs queued in lanes of {CAPACITY}",
                    pushed.len() - 1
                );
                assert_eq!(lanes.len(), pushed.len() - 1);
                taken.extend(std::iter::from_fn(|| lanes.pop()).map(|e| e.enqueued));
                taken.sort_unstable();
                pushed.sort_unstable();
                assert_eq!(taken, pushed, "every job pushed is taken once");
                assert_eq!(lanes.len(), 0);
            },
            3000,
        );
    }
}
