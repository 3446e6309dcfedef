//! Pausing: [`Pool::pause`] and [`Pool::resume`], and the checks that keep workers from
//! starting jobs meanwhile.
//!
//! The flag (`FastPath::paused`) is written only under the pool lock, so whatever decides
//! under the lock (the scheduler's path in `worker/`, `wake_or_start_worker`, a worker about
//! to park) sees it exactly. Workers on the fast path read it without the lock before each
//! take, and again after it: a job pushed after `pause` returned is taken only after that
//! push, so the second look sees the pause, and the worker holds the job, unstarted, at the
//! gate until a resume or a shutdown (`fast/PROTOCOL.md`, P8).
//!
//! A shutdown ends a pause: a graceful or timed one as it begins, so that its drain runs
//! every accepted job; `shutdown_now` when it hands back the queue, so that nothing starts
//! in between.

use std::sync::atomic::Ordering;

use crate::lifecycle::Phase;
use crate::pool::Pool;
use crate::shared::{Inner, Shared};

impl Pool {
    /// Pauses the pool: workers finish the jobs they are running and start no new one until
    /// [`resume`](Pool::resume).
    ///
    /// Admission goes on up to the queue's capacity: [`submit`](Pool::submit) blocks once
    /// the queue is full, [`try_submit`](Pool::try_submit) returns `Full`. Delayed, retried
    /// and periodic jobs that come due while paused wait in the queue; deadlines still pass
    /// (a queued job whose deadline passes resolves as timed out). [`Stats::paused`] says
    /// the pool is paused, and [`wait_idle`](Pool::wait_idle) waits for queued jobs to run,
    /// so it returns only after a resume (use
    /// [`wait_idle_timeout`](Pool::wait_idle_timeout) to bound it).
    ///
    /// A job submitted after `pause` returns does not start before `resume`. A worker that
    /// took a job in the instant the pause began holds it, unstarted (counted busy in the
    /// stats), until then; a worker that had taken several short jobs together
    /// (see [priorities](Pool#priorities)) runs them. A running job that waits on its own
    /// pool ([`Task::wait`](crate::Task::wait), [`join`](Pool::join), [`scope`](Pool::scope))
    /// has its worker run nothing while paused: neither the job it waits for nor another
    /// worker's; the halves of its own `join` and scope run, as part of the job.
    ///
    /// Pausing a paused pool does nothing; pausing a pool that has begun shutting down does
    /// nothing either. A shutdown ends the pause: [`shutdown`](Pool::shutdown) and
    /// [`shutdown_timeout`](Pool::shutdown_timeout) resume the pool so that their drain runs
    /// every accepted job; [`shutdown_now`](Pool::shutdown_now) hands back every job that
    /// has not started.
    ///
    /// [`Stats::paused`]: crate::Stats::paused
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(2);
    /// pool.pause();
    /// let task = pool.submit(|| "ran after resume")?; // queued, not started
    /// assert!(pool.stats().paused);
    /// pool.resume();
    /// assert_eq!(task.wait()?, "ran after resume");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pause(&self) {
        let shared = self.shared();
        let inner = shared.inner.lock();
        if inner.life.phase == Phase::Open {
            shared.fast.paused.store(true, Ordering::SeqCst);
        }
    }

    /// Resumes a paused pool: its workers take queued jobs again. On a pool that is not
    /// paused it does nothing.
    ///
    /// Workers that retired while the pool was paused are started again, up to the maximum,
    /// for the jobs that queued up meanwhile.
    pub fn resume(&self) {
        let shared = self.shared();
        let mut inner = shared.inner.lock();
        if !shared.fast.is_paused() {
            return;
        }
        shared.fast.paused.store(false, Ordering::SeqCst);
        if inner.life.phase == Phase::Open {
            // Submissions while paused woke and started no worker (`wake_or_start_worker`):
            // the backlog gets its workers now.
            shared.start_for_backlog(&mut inner, 0);
        }
        wake_all(shared, &inner);
    }

    /// `true` while the pool is paused; see [`pause`](Pool::pause).
    pub fn is_paused(&self) -> bool {
        // Written only under the pool lock, and read with acquire: a caller ordered after a
        // `pause` or `resume` sees it without taking the lock.
        self.shared().fast.is_paused()
    }
}

/// Ends a pause as a shutdown requires (see the module's docs). With the lock held.
pub(crate) fn end(shared: &Shared, inner: &Inner) {
    if shared.fast.is_paused() {
        shared.fast.paused.store(false, Ordering::SeqCst);
        wake_all(shared, inner);
    }
}

/// Wakes every parked worker and every worker held at the gate; with the lock held, so that
/// none is between its look at the flag and its wait (P8).
fn wake_all(shared: &Shared, _locked: &Inner) {
    // Spinning workers watch this, not the flag.
    shared.fast.readied.fetch_add(1, Ordering::Release);
    shared.work_cv.notify_all();
    shared.fast.gate.notify_all();
}

/// Called by a worker right after it took a job from the fast lanes without the lock: if
/// the pool paused meanwhile, waits at the gate, the job unstarted in its hands, until a
/// resume or a shutdown ends the pause (P8). The job then runs, or, after `shutdown_now`,
/// is handed back like any job taken as the queue was.
pub(crate) fn hold(shared: &Shared) {
    if !shared.fast.is_paused() {
        return;
    }
    let mut inner = shared.inner.lock();
    while shared.fast.is_paused() {
        shared.fast.gate.wait(&mut inner);
    }
}
