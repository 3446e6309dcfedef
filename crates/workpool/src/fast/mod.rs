//! The fast path: plain jobs go from producer to worker without the pool lock, and the
//! park/wake handshake keeps either side from sleeping while the other has something for it.
//!
//! [`FastPath`] owns everything that path shares: the lanes (`queue/fast.rs`), the intake
//! gate ([`intake`]), and the flags and counters producers and workers read without the lock.
//! Why no worker sleeps while a job waits, and no producer sleeps while there is room, is
//! argued once, in `PROTOCOL.md` beside this file; each sequentially consistent access or
//! fence in the code names the paragraph (P1 to P8) it implements.

pub(crate) mod intake;

use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::queue::FastLanes;
use crate::sync::{AtomicBool, AtomicU64, Condvar};
use intake::Intake;

// In the loom build (`--cfg workpool_loom`), the fast path's `usize` atomics (the park/wake
// counters among them) and its fence are loom's, for the models in `loom_model`.
#[cfg(workpool_loom)]
use crate::sync::loom::{fence, AtomicUsize};
#[cfg(not(workpool_loom))]
use crate::sync::{fence, AtomicUsize};

#[cfg(all(test, workpool_loom))]
mod loom_model;

/// A count of threads waiting for something another thread brings about without the pool
/// lock. The other thread takes the lock to wake them only if it sees a waiter (P3, P4).
#[derive(Debug, Default)]
pub(crate) struct Waiters(AtomicUsize);

impl Waiters {
    /// Counts the caller in, before its first look at what it waits for.
    pub(crate) fn enter(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts the caller out, once it stopped waiting.
    pub(crate) fn leave(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }

    /// `true` if anyone waits: the look a thread makes after it changed what they wait for.
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }

    /// How many wait, for the stats (no ordering: a snapshot).
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// What producers and workers share on the fast path.
pub(crate) struct FastPath {
    /// The lanes: plain jobs pushed without the pool lock. Every job in them is older than
    /// any job in the scheduler's ready lanes (see `plain_only`). Workers pop from them
    /// without the pool lock while `plain_only` holds, and under it (where they are weighed
    /// against the ready lanes) once it does not.
    pub(crate) lanes: FastLanes,
    /// Producers pushing to the lanes count themselves in here (see [`intake`]).
    pub(crate) intake: Intake,
    /// `true` while every job so far was plain, on a fixed-size pool with no rate limit.
    /// The first job that needs the scheduler (or a resize) clears it for good, so fast-lane
    /// jobs are always older than scheduled ones.
    pub(crate) plain_only: AtomicBool,
    /// Set once a shutdown hands back the queue, so workers stop taking fast-lane jobs (P6).
    pub(crate) stopped: AtomicBool,
    /// Set while the pool is paused (`pause.rs`), so workers take no job (P8). Written only
    /// under the pool lock; workers read it without the lock before and after each take.
    pub(crate) paused: AtomicBool,
    /// A worker that took a job just as the pool paused waits here, under the pool lock,
    /// with the job unstarted, until a resume or a shutdown (P8).
    pub(crate) gate: Condvar,
    /// Bumped whenever a job enters the scheduler's ready lanes, so spinning workers notice
    /// without the lock (they watch the fast lanes themselves).
    pub(crate) readied: CachePadded<AtomicUsize>,
    /// Jobs being run, plus workers between fast-lane jobs (they count themselves once per
    /// run of jobs taken without the lock, before the first pop) (P4).
    pub(crate) running: CachePadded<AtomicUsize>,
    /// Workers parked on the pool's `work_cv`: a mirror of the worker set's `idle` that
    /// producers read without the lock (P1, P2).
    pub(crate) sleepers: Waiters,
    /// `wait_idle` callers waiting for `running` to reach zero (P4).
    pub(crate) idle_waiters: Waiters,
    /// Producers waiting for room (P3).
    pub(crate) space_waiters: Waiters,
    /// The next job id.
    pub(crate) next_seq: CachePadded<AtomicU64>,
    /// Ids given to jobs the lanes then refused: `next_seq` less this (plus the jobs the
    /// gate admitted without an id) is the count of jobs accepted (P5).
    pub(crate) unadmitted: AtomicU64,
}

impl FastPath {
    /// The fast path of a pool whose queue holds `capacity` jobs; `plain_only` says whether
    /// the pool may use it at all (fixed size, no pool-wide rate limit).
    pub(crate) fn new(capacity: usize, plain_only: bool) -> Self {
        Self {
            lanes: FastLanes::new(capacity),
            intake: Intake::new(),
            plain_only: AtomicBool::new(plain_only),
            stopped: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            gate: Condvar::new(),
            readied: CachePadded::new(AtomicUsize::new(0)),
            running: CachePadded::new(AtomicUsize::new(0)),
            sleepers: Waiters::default(),
            idle_waiters: Waiters::default(),
            space_waiters: Waiters::default(),
            next_seq: CachePadded::new(AtomicU64::new(0)),
            unadmitted: AtomicU64::new(0),
        }
    }

    /// The worker's half of P1 (fast/PROTOCOL.md), for a worker about to park on `work_cv`
    /// while holding the pool lock: counts it among the sleepers, then makes the exact look
    /// at the lanes. `true` if it may park: the lanes are empty, and a producer that queues
    /// a job from now on sees the sleeper and takes the lock to wake it. The caller waits
    /// without releasing the lock first, and calls `sleepers.leave()` once it no longer waits
    /// (at once, if this returns `false`).
    pub(crate) fn may_park(&self) -> bool {
        self.sleepers.enter();
        // P1: with this fence between the count and the look, the look's own loads need no
        // ordering of their own (they are sequentially consistent anyway). P7: the caller's
        // look at the work-stealing deques after this returns rests on this fence.
        fence(Ordering::SeqCst);
        self.lanes.is_empty()
    }

    /// The worker's half of P3, after it took a fast-lane job: `true` if producers wait for
    /// room and the lanes have drained to `low_water`, so the caller wakes one. The take was
    /// a sequentially consistent update of the queue, so a producer that counted itself a
    /// waiter after it sees the room in its own look.
    pub(crate) fn should_wake_producer(&self, low_water: usize) -> bool {
        self.space_waiters.any() && self.lanes.len() <= low_water
    }

    /// `true` while workers may take jobs from the lanes without the pool lock: every job so
    /// far was plain, no shutdown has handed back the queue, and the pool is not paused.
    pub(crate) fn takes_jobs(&self) -> bool {
        self.plain_only.load(Ordering::Acquire)
            && !self.stopped.load(Ordering::Acquire)
            && !self.is_paused()
    }

    /// `true` while the pool is paused. Exact under the pool lock, which every write holds;
    /// without it, a worker that took a job reads it afterwards (P8).
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Jobs accepted so far. Exact once the intake gate is sealed; before, a look may catch
    /// an id counted unadmitted before its draw shows, so it never goes below zero (P5).
    pub(crate) fn accepted(&self) -> u64 {
        (self.next_seq.load(Ordering::Relaxed) + self.intake.admitted_without_id())
            .saturating_sub(self.unadmitted.load(Ordering::Relaxed))
    }
}
