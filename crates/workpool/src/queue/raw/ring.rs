//! A bounded lock-free ring for many producers and many consumers: the fast lanes' queue.
//!
//! It is the array queue with a stamp on each place, after Dmitry Vyukov's bounded MPMC
//! queue. The crate owns one because of what a worker does when the ring is empty. A worker
//! that outpaces its producer looks at an empty ring many times a job. In the bounded queues
//! of `concurrent-queue`, `crossbeam-queue` and `thingbuf`, a pop that finds no job, and
//! `is_empty`, read the ring's tail: the word every push writes. Each such look took that
//! word's cache line from the producer, and the producer waited for it back on its next
//! push. That made tiny jobs from one producer markedly slower with latency metrics off than
//! on, and this ring about twice as fast again (the figures are in `benches/RESULTS.md`,
//! "Design measurements").
//!
//! Here a pop that finds no job, and [`Ring::has_ready`], read only the head and the place
//! the next job will be written to, which the consumer has to read anyway to take that job.
//! The exact look, [`Ring::is_empty`], reads the tail; a worker makes it only before it
//! parks, and that is what keeps a parking worker from missing a job (see
//! `Shared::wake_for_fast`).
//!
//! This module is the crate's only hand-written unsafe code: a place's job is written and
//! read through an `UnsafeCell`, by the one thread whose compare-and-swap of the tail or
//! head claimed that place.
//!
//! A loom model (`loom_model` below, built with `--cfg workpool_loom`) explores every
//! interleaving of pushes and pops under loom's weak memory model, where the places' stamps
//! must order each job's write before its read: `scripts/test.sh` runs it.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

#[cfg(workpool_loom)]
use crate::sync::loom::AtomicUsize;
#[cfg(not(workpool_loom))]
use crate::sync::AtomicUsize;
use crate::sync::UnsafeCell;

/// A pause in a retry loop; under loom, a yield, so that the model lets the thread being
/// waited for run.
fn spin() {
    #[cfg(workpool_loom)]
    loom::thread::yield_now();
    #[cfg(not(workpool_loom))]
    std::hint::spin_loop();
}

/// One place of the ring. Its stamp says whose turn it is, in positions (see [`Ring`]):
/// equal to position `p`, the place is free for the push at `p`; equal to `p + 1`, it holds
/// the job pushed at `p`, for the pop at `p`. The pop sets it to `p + one_lap`, freeing it
/// for the push one lap later.
struct Place<T> {
    stamp: AtomicUsize,
    job: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded queue of `capacity` places.
///
/// The head and tail are positions: a lap (a multiple of `one_lap`, the smallest power of
/// two above the capacity) plus an index below the capacity. Positions only move forward,
/// wrapping around `usize`.
pub(crate) struct Ring<T> {
    /// The position of the next pop. Written by consumers only.
    head: CachePadded<AtomicUsize>,
    /// The position of the next push. Written by producers only.
    tail: CachePadded<AtomicUsize>,
    places: Box<[Place<T>]>,
    one_lap: usize,
}

// SAFETY: the ring moves each job from the thread that pushed it to the one that pops it,
// which `T: Send` allows. No job is ever reached by two threads at once: a place's job is
// written only by the push that claimed the place and read only by the pop that claimed
// it, and the stamp orders the two (see `push` and `pop`). The ring hands out no
// references to its jobs, so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `capacity` places, all free.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0; the pool's builder refuses such a queue before it gets here.
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a ring needs at least one place");
        let places = (0..capacity)
            .map(|index| Place {
                stamp: AtomicUsize::new(index),
                job: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            places,
            one_lap: (capacity + 1).next_power_of_two(),
        }
    }

    fn place(&self, position: usize) -> &Place<T> {
        &self.places[position & (self.one_lap - 1)]
    }

    /// The position after `position`: the next index, or the next lap's first.
    fn after(&self, position: usize) -> usize {
        let index = position & (self.one_lap - 1);
        if index + 1 < self.places.len() {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Queues `job` at the tail, or gives it back if every place holds a job.
    ///
    /// A push that queues its job makes a sequentially consistent read-modify-write of the
    /// tail, which [`is_empty`](Self::is_empty) reads; the wake-up protocol relies on it.
    pub(crate) fn push(&self, job: T) -> Result<(), T> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let place = self.place(tail);
            let stamp = place.stamp.load(Ordering::Acquire);
            if stamp == tail {
                let claimed = self.tail.compare_exchange_weak(
                    tail,
                    self.after(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                );
                match claimed {
                    Ok(_) => {
                        // SAFETY: the stamp said the place is free for the push at `tail`,
                        // and this thread moved the tail past `tail`, so no other push
                        // writes here and no pop reads here until the stamp below. The
                        // acquire load of the stamp saw the pop that emptied it finish.
                        place.job.with_mut(|slot| unsafe { (*slot).write(job) });
                        place.stamp.store(tail + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => tail = now,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The place still holds the job pushed a lap ago: full, unless a pop has
                // moved the head past it and is reading it now.
                let head = self.head.load(Ordering::SeqCst);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(job);
                }
                spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another push took this position; try the next.
                spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the job at the head, or `None` if its push has not finished writing it: the
    /// ring is empty, or a push is under way. The pop does not read the tail to tell which;
    /// a caller that must know asks [`is_empty`](Self::is_empty).
    pub(crate) fn pop(&self) -> Option<T> {
        let mut job = None;
        self.pop_up_to(1, |taken| job = Some(taken));
        job
    }

    /// Takes up to `max` jobs from the head, in order, with one update of the head: the
    /// jobs whose pushes have finished writing them, up to the first that has not. `0` if
    /// the job at the head is not ready (as for [`pop`](Self::pop)).
    ///
    /// Consumers that take one job at a time each move the head's line to their core on
    /// every job; a consumer that takes several moves it once for all of them.
    pub(crate) fn pop_up_to(&self, max: usize, mut out: impl FnMut(T)) -> usize {
        if max == 0 {
            // Nothing to take: the loop below would wait for ever on a ready head.
            return 0;
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let mut ready = 0;
            let mut end = head;
            while ready < max && self.place(end).stamp.load(Ordering::Acquire) == end + 1 {
                ready += 1;
                end = self.after(end);
            }
            if ready == 0 {
                let stamp = self.place(head).stamp.load(Ordering::Acquire);
                if stamp == head {
                    return 0;
                }
                // Another pop took the head's job (or the head moved since it was loaded):
                // look at the new head.
                spin();
                head = self.head.load(Ordering::Relaxed);
                continue;
            }
            let claimed =
                self.head
                    .compare_exchange_weak(head, end, Ordering::SeqCst, Ordering::Relaxed);
            match claimed {
                Ok(_) => {
                    let mut position = head;
                    for _ in 0..ready {
                        let place = self.place(position);
                        // SAFETY: for each of these places, its stamp said it holds the
                        // job pushed at `position`, and the acquire load saw that
                        // push's write; this thread moved the head past all of them, so no
                        // other pop reads here, and no push writes here until the stamp
                        // below frees the place.
                        let job = place
                            .job
                            .with_mut(|slot| unsafe { (*slot).assume_init_read() });
                        place
                            .stamp
                            .store(position.wrapping_add(self.one_lap), Ordering::Release);
                        out(job);
                        position = self.after(position);
                    }
                    return ready;
                }
                Err(now) => head = now,
            }
        }
    }

    /// `true` if the job at the head is ready to take. A hint for a consumer watching the
    /// ring: it reads only what a pop would, never the tail, and it may miss a job that is
    /// ready as it looks.
    pub(crate) fn has_ready(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        self.place(head).stamp.load(Ordering::Relaxed) == head + 1
    }

    /// `true` if no push has taken a place that no pop has taken since. Exact: a push whose
    /// read-modify-write of the tail precedes this look in the single total order of
    /// sequentially consistent operations is seen, even if it is still writing its job
    /// (fast/PROTOCOL.md, P1).
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        head == tail
    }

    /// Jobs queued, counting any still being pushed.
    pub(crate) fn len(&self) -> usize {
        let mask = self.one_lap - 1;
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            // Both read at one moment: the tail did not move meanwhile.
            if self.tail.load(Ordering::SeqCst) != tail {
                continue;
            }
            let (head_index, tail_index) = (head & mask, tail & mask);
            return match head_index.cmp(&tail_index) {
                std::cmp::Ordering::Less => tail_index - head_index,
                std::cmp::Ordering::Greater => self.places.len() - head_index + tail_index,
                std::cmp::Ordering::Equal if head == tail => 0,
                std::cmp::Ordering::Equal => self.places.len(),
            };
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // No push is under way (it would hold a borrow), so `pop` finds every job.
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Arc;

    use proptest::prelude::*;

    #[test]
    fn holds_exactly_its_capacity_in_fifo_order_across_laps() {
        for capacity in [1, 2, 3, 4, 5, 7, 8, 1000] {
            let ring = Ring::new(capacity);
            let mut next = 0;
            let mut expected = 0;
            // Enough rounds to go around every ring several times.
            for _ in 0..4 {
                while ring.push(next).is_ok() {
                    next += 1;
                }
                assert_eq!(ring.len(), capacity, "full at {capacity}");
                assert!(ring.has_ready() && !ring.is_empty());
                assert_eq!(ring.push(next), Err(next), "the refused job comes back");
                for _ in 0..capacity {
                    assert_eq!(ring.pop(), Some(expected));
                    expected += 1;
                }
                assert_eq!(ring.len(), 0);
                assert!(!ring.has_ready() && ring.is_empty());
                assert_eq!(ring.pop(), None);
            }
        }
    }

    /// A take of none returns at once and leaves the ring as it was, whether or not a job
    /// is ready (it used to spin for ever on a ready one).
    #[test]
    fn a_take_of_no_jobs_takes_none() {
        let ring = Ring::new(2);
        assert_eq!(ring.pop_up_to(0, |_: u32| unreachable!()), 0);
        ring.push(7).unwrap();
        assert_eq!(ring.pop_up_to(0, |_| unreachable!()), 0);
        assert_eq!(ring.pop(), Some(7));
    }

    #[test]
    fn dropping_the_ring_drops_the_jobs_left_in_it() {
        let job = Arc::new(());
        let ring = Ring::new(4);
        for _ in 0..3 {
            assert!(ring.push(Arc::clone(&job)).is_ok());
        }
        drop(ring.pop());
        drop(ring);
        assert_eq!(Arc::strong_count(&job), 1);
    }

    /// Every job pushed by several threads is popped exactly once, by several others (one
    /// popping a job at a time, the others several), and each consumer sees each
    /// producer's jobs in the order they were pushed. Run under ThreadSanitizer by
    /// `scripts/sanitize.sh`.
    #[test]
    fn producers_and_consumers_on_threads_move_every_job_exactly_once() {
        const PRODUCERS: usize = 3;
        const CONSUMERS: usize = 3;
        const JOBS: usize = 20_000;
        let ring = Ring::new(8);
        let taken = std::sync::atomic::AtomicUsize::new(0);
        let per_consumer: Vec<Vec<(usize, usize)>> = std::thread::scope(|s| {
            for producer in 0..PRODUCERS {
                let ring = &ring;
                s.spawn(move || {
                    for n in 0..JOBS {
                        let mut job = (producer, n);
                        while let Err(back) = ring.push(job) {
                            job = back;
                            spin();
                        }
                    }
                });
            }
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|consumer| {
                    let (ring, taken) = (&ring, &taken);
                    s.spawn(move || {
                        let mut got = Vec::new();
                        while taken.load(Ordering::SeqCst) < PRODUCERS * JOBS {
                            let n = match consumer {
                                0 => ring.pop().map(|job| got.push(job)).map_or(0, |()| 1),
                                _ => ring.pop_up_to(consumer * 2, |job| got.push(job)),
                            };
                            match n {
                                0 => std::hint::spin_loop(),
                                n => {
                                    taken.fetch_add(n, Ordering::SeqCst);
                                }
                            }
                        }
                        got
                    })
                })
                .collect();
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        for got in &per_consumer {
            for producer in 0..PRODUCERS {
                let mine: Vec<usize> = got
                    .iter()
                    .filter(|(p, _)| *p == producer)
                    .map(|&(_, n)| n)
                    .collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "out of order");
            }
        }
        let mut all: Vec<(usize, usize)> = per_consumer.into_iter().flatten().collect();
        all.sort_unstable();
        let expected: Vec<(usize, usize)> = (0..PRODUCERS)
            .flat_map(|p| (0..JOBS).map(move |n| (p, n)))
            .collect();
        assert_eq!(all, expected);
        assert!(ring.is_empty() && ring.pop().is_none());
    }

    proptest! {
        /// Any sequence of pushes, pops and pops of several jobs matches a `VecDeque`
        /// bounded to the capacity.
        #[test]
        fn behaves_like_a_bounded_fifo(capacity in 1usize..6, ops in prop::collection::vec((0u8..3, 1usize..8), 0..200)) {
            let ring = Ring::new(capacity);
            let mut model = VecDeque::new();
            for (n, (op, max)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let fits = model.len() < capacity;
                        prop_assert_eq!(ring.push(n).is_ok(), fits);
                        if fits {
                            model.push_back(n);
                        }
                    }
                    1 => prop_assert_eq!(ring.pop(), model.pop_front()),
                    _ => {
                        let mut got = Vec::new();
                        let count = ring.pop_up_to(max, |job| got.push(job));
                        let expected: Vec<usize> = model.drain(..max.min(model.len())).collect();
                        prop_assert_eq!(count, got.len());
                        prop_assert_eq!(got, expected);
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.is_empty(), model.is_empty());
                prop_assert_eq!(ring.has_ready(), !model.is_empty());
            }
        }
    }
}

/// The loom model: two producers and a consumer on a ring of two places, every interleaving
/// (up to loom's preemption bound) under its weak memory model. Each job is taken exactly
/// once, each producer's jobs in order, and no job is read before its write is visible,
/// whether the consumer takes one job at a time or several. Weakening the stamp's release
/// in `push` to `Relaxed` makes loom report the read of an unwritten place.
#[cfg(all(test, workpool_loom))]
mod loom_model {
    use super::Ring;
    use loom::sync::Arc;
    use loom::thread;

    /// Producers pushing `jobs` (one list each) and a consumer taking them, up to `take` at
    /// a time (one: `pop`), on a ring of `places` places.
    fn model(places: usize, take: usize, jobs: &'static [&'static [i32]]) {
        let total: usize = jobs.iter().map(|mine| mine.len()).sum();
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(2);
        model.check(move || {
            let ring = Arc::new(Ring::new(places));
            let producers: Vec<_> = jobs
                .iter()
                .map(|&mine| {
                    let ring = Arc::clone(&ring);
                    thread::spawn(move || {
                        for &job in mine {
                            let mut job = job;
                            while let Err(back) = ring.push(job) {
                                job = back;
                                thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let mut taken = Vec::new();
            while taken.len() < total {
                let got = match take {
                    1 => ring.pop().map(|job| taken.push(job)).is_some(),
                    _ => ring.pop_up_to(take, |job| taken.push(job)) > 0,
                };
                if !got {
                    thread::yield_now();
                }
            }
            for producer in producers {
                producer.join().unwrap();
            }
            assert!(ring.is_empty());
            for &mine in jobs {
                let seen: Vec<i32> = taken.iter().copied().filter(|j| mine.contains(j)).collect();
                assert_eq!(seen, mine, "{taken:?}");
            }
        });
    }

    #[test]
    fn a_job_is_read_only_after_its_write_even_on_a_full_ring_that_wraps() {
        model(1, 1, &[&[1, 2]]);
    }

    #[test]
    fn two_producers_never_take_the_same_place() {
        model(2, 1, &[&[1], &[10]]);
    }

    #[test]
    fn a_take_of_several_reads_each_job_only_after_its_write() {
        model(2, 2, &[&[1, 2, 3]]);
        model(2, 2, &[&[1], &[10]]);
    }
}
