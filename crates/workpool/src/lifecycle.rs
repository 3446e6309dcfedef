//! The pool's life: its phases, how it shuts down, and what a shutdown reports.
//!
//! A shutdown closes intake, seals the fast lanes' gate (so the count of accepted jobs is
//! final), ends periodic series, then drains or hands back the queue as its [`Mode`] says and
//! joins the workers. Handles are resolved, and user destructors run, with the pool lock
//! released.

use std::mem;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::queue::Entry;
use crate::shared::{Inner, Shared};
use crate::sync::MutexGuard;
use crate::task::Runnable;
use crate::unwind;

/// Where the pool is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting jobs.
    Open,
    /// Intake stopped; workers drain the queue, then exit.
    Draining,
    /// Intake stopped, queue handed back; workers exit after their current job.
    Stopped,
}

/// How to shut down.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Graceful,
    Timeout(std::time::Duration),
    Now,
}

/// The lifecycle's state, guarded by the pool lock.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    pub(crate) phase: Phase,
    /// Set once a shutdown has waited out every producer that was pushing to the fast lane:
    /// from then on the fast lane only shrinks, and workers may exit when it is empty.
    pub(crate) sealed: bool,
    /// Moves each time the pool is seen idle while `wait_idle` callers wait.
    pub(crate) idle_epoch: u64,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Self {
            phase: Phase::Open,
            sealed: false,
            idle_epoch: 0,
        }
    }
}

/// What a shutdown did, counted over the pool's whole life.
///
/// Every accepted job is in exactly one of `completed`, `failed`, `cancelled`, `timed_out`,
/// `never_started`, `still_running` or `still_queued` (`failed` includes `panicked`):
///
/// ```text
/// submitted = completed + failed + cancelled + timed_out + never_started
///           + still_running + still_queued
/// ```
///
/// The last two are zero after a shutdown that waited for every worker. They are not after
/// [`Pool::shutdown_timeout`](crate::Pool::shutdown_timeout) ran out of time, or after a shutdown called from one of the
/// pool's own threads, which cannot wait for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs accepted over the pool's life.
    pub submitted: u64,
    /// Jobs that ran and returned a value.
    pub completed: u64,
    /// Jobs that ran and failed, panics included.
    pub failed: u64,
    /// Jobs that panicked (a subset of `failed`).
    pub panicked: u64,
    /// Jobs cancelled before or while running (periodic series ended by a shutdown too).
    pub cancelled: u64,
    /// Jobs whose deadline passed.
    pub timed_out: u64,
    /// Jobs that never started because of the shutdown; their handles resolve as not run.
    pub never_started: u64,
    /// Jobs in a worker's hands when the report was made: running (a timed-out shutdown has
    /// cancelled them already), or taken by a worker along with the job it runs, to be
    /// reported as never started when that job returns.
    pub still_running: usize,
    /// Jobs still queued when the report was made: only after a shutdown called from one of
    /// the pool's own threads, which leaves the workers to drain the queue in the background.
    pub still_queued: usize,
    /// Worker threads this call joined (the pool's timer thread, if any, is not counted).
    pub workers_joined: usize,
    /// `true` if `shutdown_timeout` ran out of time.
    pub timeout_hit: bool,
}

/// Stops intake and, per `mode`, drains or hands back the queue, then joins the workers.
pub(crate) fn shutdown(shared: &Arc<Shared>, mode: Mode) -> ShutdownReport {
    let deadline = match mode {
        Mode::Timeout(d) => Some(shared.clock.after(d)),
        _ => None,
    };
    let mut timeout_hit = false;

    let mut inner = shared.inner.lock();
    let on_worker = shared.on_own_thread(&inner);
    if inner.life.phase == Phase::Open {
        inner.life.phase = Phase::Draining;
        if !matches!(mode, Mode::Now) {
            // A drain runs every accepted job, so it resumes a paused pool; `shutdown_now`
            // keeps the pause until it hands back the queue, so that nothing starts first.
            crate::pause::end(shared, &inner);
        }
        shared.work_cv.notify_all();
        shared.space_cv.notify_all();
        shared.timer_cv.notify_all();
    }
    if !inner.life.sealed {
        drop(inner);
        shared.fast.intake.seal();
        inner = shared.inner.lock();
        inner.life.sealed = true;
        shared.work_cv.notify_all();
    }
    if inner.life.phase == Phase::Draining {
        inner = end_series(shared, inner);
    }
    let mut stop_now = matches!(mode, Mode::Now);
    if inner.life.phase == Phase::Draining
        && shared.ready_len(&inner) > 0
        && inner.workers.alive == 0
    {
        // The queue needs a worker to drain it; if none can start, it is handed back.
        stop_now |= crate::worker::spawn(shared, &mut inner).is_err();
    }
    if stop_now {
        inner = stop(shared, inner);
    }
    // A job shutting down its own pool cannot wait for itself: it closes intake and
    // leaves the workers to finish in the background.
    if !on_worker {
        while inner.workers.alive > 0 || inner.timer.running {
            match deadline {
                Some(at) if shared.clock.now() >= at => {
                    timeout_hit = true;
                    inner = stop(shared, inner);
                    break;
                }
                Some(at) => shared.clock.wait_until(&shared.event_cv, &mut inner, at),
                None => shared.event_cv.wait(&mut inner),
            }
        }
    }
    let handles = mem::take(&mut inner.workers.exited);
    let timer = match on_worker || inner.timer.running {
        true => None,
        false => inner.timer.handle.take(),
    };
    drop(inner);

    let mut workers_joined = 0;
    for handle in handles {
        // Workers catch every panic of a job, so none ends in one.
        let _ = handle.join();
        workers_joined += 1;
    }
    if let Some(timer) = timer {
        let _ = timer.join();
    }
    // Intake is sealed, so `submitted` is final; every job the counts do not cover yet
    // is still queued (only when the pool could not wait for its own threads) or in a
    // worker's hands: running, or taken along with the job it runs and yet to be
    // reported as never started.
    let queued = {
        let inner = shared.inner.lock();
        inner.sched.len() + shared.fast.lanes.len()
    };
    let c = shared.metrics.snapshot();
    let submitted = shared.fast.accepted();
    let counted = c.completed + c.failed + c.cancelled + c.timed_out + c.never_started;
    let unfinished = usize::try_from(submitted.saturating_sub(counted)).unwrap_or(usize::MAX);
    let still_queued = queued.min(unfinished);
    ShutdownReport {
        submitted,
        completed: c.completed,
        failed: c.failed,
        panicked: c.panicked,
        cancelled: c.cancelled,
        timed_out: c.timed_out,
        never_started: c.never_started,
        still_running: unfinished - still_queued,
        still_queued,
        workers_joined,
        timeout_hit,
    }
}

/// While draining: ends periodic series (their handles resolve as cancelled) and counts
/// the tombstones of jobs resolved while they waited, so that neither keeps the drain
/// waiting for a due time. Takes and returns the lock; resolves with it released.
pub(crate) fn end_series<'a>(
    shared: &'a Shared,
    mut inner: MutexGuard<'a, Inner>,
) -> MutexGuard<'a, Inner> {
    let finished = |e: &Entry| e.job.is_live() && !e.job.is_periodic();
    let mut ended = inner.sched.delayed.extract(finished);
    ended.extend(inner.sched.ready.extract(finished));
    if ended.is_empty() {
        return inner;
    }
    drop(inner);
    for entry in ended {
        entry.job.abandon(&shared.metrics.counters);
    }
    let inner = shared.inner.lock();
    shared.event_cv.notify_all();
    shared.work_cv.notify_all();
    inner
}

/// Takes jobs resolved while they waited (cancelled, or past their deadline) out of the
/// delay queue, so that they give back their place in the queue's bound and are counted
/// now rather than when they would have come due. They are counted and let go of with the
/// lock released.
pub(crate) fn purge_delayed(shared: &Shared) {
    let mut inner = shared.inner.lock();
    let gone = inner.sched.delayed.extract(|e| e.job.is_live());
    drop(inner);
    if gone.is_empty() {
        return;
    }
    for entry in gone {
        entry.job.abandon(&shared.metrics.counters);
        unwind::drop_quietly(entry);
    }
    let _inner = shared.inner.lock();
    shared.space_cv.notify_all();
    shared.event_cv.notify_all();
    shared.timer_cv.notify_all();
    // An emptied delay queue may end a drain.
    shared.work_cv.notify_all();
}

/// Moves to `Stopped`: hands back the queue and the delay queue (their handles resolve as
/// not run, or with their last error if they were waiting for a retry) and cancels the
/// running jobs. Handles are resolved with the lock released, so that their waiters and
/// the jobs' destructors never run under it; the lock is taken again to return.
fn stop<'a>(shared: &'a Shared, mut inner: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
    if inner.life.phase == Phase::Stopped {
        return inner;
    }
    inner.life.phase = Phase::Stopped;
    // fast/PROTOCOL.md, P6: workers check this after filling their slot and before running
    // a fast-lane job: either they see it and give the job up, or the look at the slots
    // below sees it.
    shared.fast.stopped.store(true, Ordering::SeqCst);
    // A paused pool's workers go on only now, so that a worker that sees the pause over
    // also sees `stopped`, and hands back the job it holds or takes (P8).
    crate::pause::end(shared, &inner);
    let mut unstarted = inner.sched.ready.drain();
    unstarted.extend(inner.sched.delayed.drain());
    let unstarted_fast = shared.fast.lanes.drain();
    let running: Vec<Arc<dyn Runnable>> = inner
        .workers
        .threads
        .values()
        .flat_map(|w| {
            let mut jobs: Vec<_> = w.current.iter().filter_map(Weak::upgrade).collect();
            jobs.extend(w.slot.lock().iter().cloned());
            jobs
        })
        .collect();
    shared.work_cv.notify_all();
    shared.space_cv.notify_all();
    shared.timer_cv.notify_all();
    drop(inner);

    for entry in unstarted {
        entry.job.abandon(&shared.metrics.counters);
    }
    for work in unstarted_fast {
        shared.abandon_fast(work);
    }
    for job in running {
        job.cancel_running();
    }
    let mut inner = shared.inner.lock();
    // The queue is empty now: wake `wait_idle` callers to re-check.
    shared.note_if_idle(&mut inner);
    shared.event_cv.notify_all();
    inner
}
