//! Loom models of the park/wake handshake (PROTOCOL.md, P1 and P3), built with
//! `RUSTFLAGS="--cfg workpool_loom"` and run by `scripts/test.sh`.
//!
//! Producers and workers share the real [`FastPath`]: its lanes (the ring, on loom's
//! atomics), its `sleepers` and `space_waiters` counters, and the worker's halves of the
//! handshake ([`FastPath::may_park`], [`FastPath::should_wake_producer`]). What the pool does
//! around them is cut down to the handshake: a producer is `Shared::push_fast` without the
//! intake gate and ids, then `wake_for_fast`, or `wait_for_room` when the lanes are full; a
//! worker is the fast-lane part of `worker_main`'s loop and `drain_fast`. The pool lock and
//! its condition variables are loom's, so a thread left waiting with nobody to wake it ends
//! in a deadlock, which loom reports: a worker parked on a queued job leaves the jobs
//! untaken, and the main thread waits for them for good.
//!
//! Loom can be exact here about the `SeqCst` accesses the handshake rests on, which it does
//! not model in general, because every store to their locations is `SeqCst` (their initial
//! values included, see `sync::loom`): PROTOCOL.md, "Checking P1 and P3 with loom", argues
//! it and lists what the models leave out. There is one worker: two workers spinning on a
//! job still being written can take turns for ever in loom's search.

// std's `Arc`, not loom's: loom's panics in its destructor while a failed model unwinds,
// which aborts the run and hides which model failed.
use std::sync::Arc;

use loom::sync::{Condvar, Mutex, MutexGuard};
use loom::thread;

use super::FastPath;
use crate::priority::Priority;
use crate::queue::{FastEntry, Full, LightJob, Work};

/// What the pool lock guards in the model: how many jobs the workers took, and whether the
/// model is over (the pool's shutdown).
#[derive(Default)]
struct State {
    taken: usize,
    closed: bool,
}

/// What producers and workers share: the fast path, and the pool lock with the condition
/// variables waited on under it.
struct Pool {
    fast: FastPath,
    capacity: usize,
    jobs: usize,
    lock: Mutex<State>,
    work_cv: Condvar,
    space_cv: Condvar,
    /// Where the main thread waits for every job to be taken.
    done_cv: Condvar,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.lock.lock().unwrap()
    }

    /// `Shared::low_water`.
    fn low_water(&self) -> usize {
        self.capacity - (self.capacity / 8).max(1)
    }

    /// Queues `jobs` jobs, each as `Shared::push_fast` does: a push, then `wake_for_fast`,
    /// or `wait_for_room` and another try if the lanes are full.
    fn produce(&self, jobs: usize) {
        for _ in 0..jobs {
            while self.push().is_err() {
                self.wait_for_room();
            }
        }
    }

    /// A fast-lane push, then `wake_for_fast`: a producer that sees a sleeper takes the lock
    /// and wakes one.
    fn push(&self) -> Result<(), Full> {
        let job = FastEntry {
            work: Work::Light(LightJob::new(|| ())),
            enqueued: 0,
        };
        self.fast.lanes.push(job, Priority::NORMAL)?;
        if self.fast.sleepers.any() {
            let _state = self.lock();
            self.work_cv.notify_one();
        }
        Ok(())
    }

    /// `wait_for_room`: with the lock held, the producer counts itself a waiter, then looks
    /// at the queue's length, and waits while the queue is full.
    fn wait_for_room(&self) {
        let mut state = self.lock();
        self.fast.space_waiters.enter();
        while self.fast.lanes.len() >= self.capacity {
            state = self.space_cv.wait(state).unwrap();
        }
        self.fast.space_waiters.leave();
    }

    /// A worker: it takes what the lanes hold without the lock, waking a producer waiting
    /// for room once they drain (`drain_fast`); then, under the lock, it parks on `work_cv`
    /// if `may_park` lets it (the end of `worker_main`'s loop), until the model closes.
    fn work(&self) {
        loop {
            let mut took = 0;
            while self.fast.lanes.pop().is_some() {
                took += 1;
                if self.fast.should_wake_producer(self.low_water()) {
                    let _state = self.lock();
                    self.space_cv.notify_one();
                }
            }
            let mut state = self.lock();
            state.taken += took;
            if took > 0 && state.taken == self.jobs {
                self.done_cv.notify_one();
            }
            if state.closed {
                return;
            }
            let parks = self.fast.may_park();
            if parks {
                state = self.work_cv.wait(state).unwrap();
            }
            self.fast.sleepers.leave();
            drop(state);
            if !parks {
                // A job is queued but not yet written: look again once its producer ran.
                thread::yield_now();
            }
        }
    }
}

/// Producers queue the jobs in `jobs` (a count each; the main thread is the first) on lanes
/// of `capacity` places, while a worker takes them. Once every job is taken, the main thread
/// closes the model and wakes the worker. Loom reports a deadlock if a thread is left
/// waiting for good: the worker parked while a job waits, or a producer waiting for room in
/// drained lanes.
fn model(capacity: usize, jobs: &'static [usize]) {
    let mut model = loom::model::Builder::new();
    // Three preemptions take a few seconds in release; `LOOM_MAX_PREEMPTIONS` sets another
    // bound.
    if model.preemption_bound.is_none() {
        model.preemption_bound = Some(3);
    }
    model.check(move || {
        let pool = Arc::new(Pool {
            fast: FastPath::new(capacity, true),
            capacity,
            jobs: jobs.iter().sum(),
            lock: Mutex::new(State::default()),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            done_cv: Condvar::new(),
        });
        let worker = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.work())
        };
        let producers: Vec<_> = jobs[1..]
            .iter()
            .map(|&mine| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || pool.produce(mine))
            })
            .collect();
        pool.produce(jobs[0]);
        for producer in producers {
            producer.join().unwrap();
        }
        let mut state = pool.lock();
        while state.taken < pool.jobs {
            state = pool.done_cv.wait(state).unwrap();
        }
        state.closed = true;
        pool.work_cv.notify_all();
        drop(state);
        worker.join().unwrap();
        assert!(pool.fast.lanes.is_empty());
    });
}

/// P1: a worker never parks while a job waits, whichever of its look and the producer's
/// push comes first; the second job finds it parked, or about to park, after the first.
#[test]
fn a_worker_never_parks_while_a_job_waits() {
    model(2, &[2]);
}

/// P1 with two producers, each of which may be the one to see the sleeper.
#[test]
fn a_worker_never_parks_while_either_of_two_producers_queues_a_job() {
    model(2, &[1, 1]);
}

/// P3 (and P1) on a ring of one place: the producer waits for room while the worker takes
/// a job, and is woken once the lanes drain; the worker parks between jobs.
#[test]
fn a_producer_waiting_for_room_is_woken_once_the_lanes_drain() {
    model(1, &[3]);
}
